//! Every wait is bounded, over real sockets: a client that dribbles a line
//! or never reads, an upstream that never speaks, answers or reads, and
//! timeouts that would cut every session are refused when the file loads.
//!
//! Sleeps here only *pace* a misbehaving peer (that pace is the behaviour
//! under test); readiness is always awaited.

mod common;

use common::{RawClient, STEP, read_until_closed};
use smtp_harness::transcript::{Leg, SessionRecord, Transcript};
use smtp_harness::{Closer, MockProxy, MockServer, Profile, Scenario};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn server(yaml: &str) -> MockServer {
    MockServer::start(Scenario::from_yaml(yaml).unwrap())
        .await
        .unwrap()
}

fn profile(yaml: &str) -> Profile {
    Profile::from_yaml(yaml).unwrap_or_else(|e| panic!("{e}"))
}

fn has_note(s: &SessionRecord, part: &str) -> bool {
    s.notes().iter().any(|n| n.contains(part))
}

/// Send `bytes` one octet every `pace` until the peer stops taking them
/// (or `bytes` runs out).
async fn dribble(mut w: tokio::net::tcp::OwnedWriteHalf, bytes: Vec<u8>, pace: Duration) {
    for b in bytes {
        if w.write_all(&[b]).await.is_err() {
            return;
        }
        tokio::time::sleep(pace).await;
    }
}

// ---------------------------------------------------------------- server

#[tokio::test]
async fn a_client_dribbling_a_command_is_cut_at_the_line_deadline() {
    let server = server("limits: {line_deadline: 300ms, idle_timeout: 10s}").await;
    let mut c = RawClient::connect(server.addr()).await;
    assert_eq!(c.code().await, 220);
    // Slow but whole lines are not cut: each of these takes 150 ms, five
    // of them far more than the deadline.
    for _ in 0..5 {
        c.send(b"NO").await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        c.send(b"OP\r\n").await;
        assert_eq!(c.code().await, 250);
    }
    // One octet every 50 ms: every read restarts the idle timer, only the
    // deadline on the whole line can end this.
    let RawClient { mut reader, writer } = c;
    let started = Instant::now();
    let dribbler = tokio::spawn(dribble(
        writer,
        b"MAIL FROM:<slow@example.com>".repeat(10),
        Duration::from_millis(50),
    ));
    let got = read_until_closed(&mut reader).await;
    let took = started.elapsed();
    eprintln!("dribbling client cut after {took:?}");
    assert_eq!(got, "421 4.4.2 mx.example.test Error: timeout exceeded\r\n");
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    dribbler.abort();
    let t = server.wait_for_sessions(1).await.unwrap();
    let s = &t.sessions[0];
    assert_eq!(s.closed_by(), Some(Closer::Timeout));
    assert!(
        has_note(
            s,
            "no complete line within 300ms of its first octet (limits.line_deadline)"
        ),
        "{:?}",
        s.notes()
    );
    let abort = s.abort().expect("aborted");
    assert_eq!(abort.during, "line");
    assert!(abort.partial.starts_with(b"MAIL"), "{:?}", abort.partial);
}

/// A client that goes on sending after the server hung up still reads the
/// 421 and then a clean end: the server drains it for a moment instead of
/// answering its octets with RST, which would fail the client's read (and
/// over a slow link throw away a 421 not yet sent).
#[tokio::test]
async fn a_cut_client_still_sending_reads_the_421_and_a_clean_end() {
    let server = server("limits: {line_deadline: 300ms, idle_timeout: 10s}").await;
    let mut c = RawClient::connect(server.addr()).await;
    assert_eq!(c.code().await, 220);
    c.send(b"NOOP and then nothing for a while").await;
    let cut = c.reply().await;
    assert!(cut[0].starts_with("421 4.4.2 "), "{cut:?}");
    // The server has closed; these octets arrive after its close.
    c.send(&[b'x'; 1024]).await;
    c.send(b"\r\nQUIT\r\n").await;
    let mut rest = Vec::new();
    let read = tokio::time::timeout(STEP, c.reader.read_to_end(&mut rest))
        .await
        .expect("the server never closed");
    assert!(read.is_ok(), "the client's read failed: {read:?}");
    assert!(rest.is_empty(), "{rest:?}");
}

#[tokio::test]
async fn a_client_dribbling_message_text_is_cut_at_the_line_deadline() {
    let server = server("limits: {line_deadline: 300ms, idle_timeout: 10s}").await;
    let mut c = RawClient::connect(server.addr()).await;
    assert_eq!(c.code().await, 220);
    for l in ["HELO x", "MAIL FROM:<a@b>", "RCPT TO:<c@d>"] {
        assert_eq!(c.cmd(l).await, 250);
    }
    assert_eq!(c.cmd("DATA").await, 354);
    let RawClient { mut reader, writer } = c;
    let dribbler = tokio::spawn(dribble(
        writer,
        b"Subject: a line that never ends".repeat(10),
        Duration::from_millis(50),
    ));
    let got = read_until_closed(&mut reader).await;
    assert!(got.starts_with("421 4.4.2 "), "{got:?}");
    dribbler.abort();
    let t = server.wait_for_sessions(1).await.unwrap();
    let s = &t.sessions[0];
    assert_eq!(s.closed_by(), Some(Closer::Timeout));
    assert!(s.aborted);
    assert!(server.messages().is_empty());
}

/// Megabytes of pipelined EHLO, never a reply read: once both directions'
/// socket buffers are full the server's write stalls, and the idle timeout
/// bounds that wait too.
#[tokio::test]
async fn a_client_that_never_reads_is_cut_at_the_idle_timeout() {
    let server = server("limits: {idle_timeout: 400ms}").await;
    let stream = TcpStream::connect(server.addr()).await.unwrap();
    // The client's half that would read stays open and unread.
    let (_unread, mut w) = stream.into_split();
    let batch = b"EHLO client.example\r\n".repeat(4096);
    let started = Instant::now();
    let mut sent = 0usize;
    let writing = async {
        // Until the server gives up (the write fails) or 256 MiB.
        while sent < 256 << 20 {
            if w.write_all(&batch).await.is_err() {
                return;
            }
            sent += batch.len();
        }
    };
    tokio::time::timeout(Duration::from_secs(20), writing)
        .await
        .expect("the server kept a client that never reads");
    let t = server
        .wait_for_sessions_within(1, Duration::from_secs(5))
        .await
        .unwrap();
    let took = started.elapsed();
    let s = &t.sessions[0];
    assert_eq!(s.closed_by(), Some(Closer::Timeout), "{:?}", s.notes());
    assert!(
        has_note(s, "the client read nothing for 400ms (limits.idle_timeout)"),
        "{:?}",
        s.notes()
    );
    eprintln!("client that never reads: {sent} octets of EHLO sent, session over after {took:?}");
    assert!(sent >= 1 << 20, "only {sent} octets were sent");
    assert!(took < Duration::from_secs(15), "{took:?}");
}

// ---------------------------------------------------------------- proxy

/// An upstream that accepts and then does nothing at all; the accepted
/// sockets are kept open (dropped with the task).
async fn silent_upstream(
    banner: Option<&'static [u8]>,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut s, _)) = l.accept().await {
            if let Some(b) = banner {
                let _ = s.write_all(b).await;
            }
            held.push(s);
        }
    });
    (addr, task)
}

/// A listener whose accept queue is full: Linux drops further SYNs (with
/// `tcp_abort_on_overflow` off, the default), so a dial to it hangs.
/// `None` when this kernel refuses at once instead.
async fn full_backlog() -> Option<(tokio::net::TcpListener, Vec<TcpStream>)> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut queued = Vec::new();
    for _ in 0..64 {
        match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
            Ok(Ok(s)) => queued.push(s),
            Ok(Err(_)) => return None,
            // A dial hangs now: the queue is full.
            Err(_) => return Some((listener, queued)),
        }
    }
    None
}

/// A proxy to `up` with this profile.
async fn proxy(up: std::net::SocketAddr, yaml: &str) -> MockProxy {
    MockProxy::start(up, profile(yaml)).await.unwrap()
}

/// The next reply `c` reads is the proxy's 421 `reply`, at least `at_least`
/// and under 3 s after the call, and then the proxy closes; its record of
/// the session says a timeout ended it, with a note containing `note`. The
/// transcript, for the test's own checks.
async fn cut_with_421(
    c: &mut RawClient,
    px: &MockProxy,
    reply: &str,
    at_least: Duration,
    note: &str,
) -> Transcript {
    let started = Instant::now();
    let got = c.reply().await;
    let took = started.elapsed();
    assert_eq!(got, [reply]);
    assert!(took >= at_least, "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(c.closed().await);
    let t = px.wait_for_sessions(1).await.unwrap();
    let s = &t.sessions[0];
    assert_eq!(s.closed_by(), Some(Closer::Timeout));
    assert!(has_note(s, note), "{:?}", s.notes());
    t
}

#[tokio::test]
async fn an_upstream_that_never_accepts_gets_the_client_421() {
    let Some((upstream, _queued)) = full_backlog().await else {
        eprintln!(
            "SKIPPED an_upstream_that_never_accepts_gets_the_client_421: this kernel refuses \
             connections to a full backlog at once, so no dial can time out on loopback"
        );
        return;
    };
    let up = upstream.local_addr().unwrap();
    let px = proxy(up, "timeouts: {connect: 200ms}").await;
    let mut c = RawClient::connect(px.addr()).await;
    cut_with_421(
        &mut c,
        &px,
        &format!("421 4.4.2 upstream {up} timed out: no connection within 200ms"),
        Duration::ZERO,
        "upstream leg: no connection within 200ms (timeouts.connect)",
    )
    .await;
}

#[tokio::test]
async fn an_upstream_that_never_greets_gets_the_client_421() {
    let (up, _task) = silent_upstream(None).await;
    let px = proxy(up, "timeouts: {banner: 200ms}").await;
    let mut c = RawClient::connect(px.addr()).await;
    let t = cut_with_421(
        &mut c,
        &px,
        &format!("421 4.4.2 upstream {up} timed out: no banner within 200ms"),
        Duration::from_millis(200),
        "upstream leg: no banner within 200ms (timeouts.banner)",
    )
    .await;
    let s = &t.sessions[0];
    assert_eq!(s.reply_codes_on(Leg::Client), [421]);
    assert!(s.reply_codes_on(Leg::Upstream).is_empty());
}

#[tokio::test]
async fn an_upstream_that_never_answers_a_command_gets_the_client_421() {
    let (up, _task) = silent_upstream(Some(b"220 up.example ESMTP\r\n")).await;
    let px = proxy(up, "timeouts: {reply: 200ms}").await;
    let mut c = RawClient::connect(px.addr()).await;
    assert_eq!(c.reply().await, ["220 up.example ESMTP"]);
    // The banner is answered: its clock has stopped, however long this takes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.send(b"EHLO client.example\r\n").await;
    let t = cut_with_421(
        &mut c,
        &px,
        &format!("421 4.4.2 upstream {up} timed out: no reply to EHLO within 200ms"),
        Duration::from_millis(200),
        "upstream leg: no reply to EHLO within 200ms (timeouts.reply)",
    )
    .await;
    assert!(t.upstream_received("EHLO"));
}

/// The message's end is the wait that matters most (the upstream decides
/// then): a slow queue behind the proxy gets the client 421 too, and the
/// message data before it was not held against the clock.
#[tokio::test]
async fn an_upstream_that_never_answers_the_end_of_data_gets_the_client_421() {
    let up = server("data: {delay: 30s}").await;
    let px = proxy(up.addr(), "timeouts: {reply: 300ms}").await;
    let mut c = RawClient::connect(px.addr()).await;
    assert_eq!(c.code().await, 220);
    for l in ["HELO x", "MAIL FROM:<a@b>", "RCPT TO:<c@d>"] {
        assert_eq!(c.cmd(l).await, 250);
    }
    assert_eq!(c.cmd("DATA").await, 354);
    // Sent slowly, longer than the reply timeout: nothing is owed meanwhile.
    for _ in 0..4 {
        c.send(b"a line of text\r\n").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.send(b".\r\n").await;
    assert_eq!(
        c.reply().await,
        [format!(
            "421 4.4.2 upstream {} timed out: no reply to the end of data within 300ms",
            up.addr()
        )]
    );
    let t = px.wait_for_sessions(1).await.unwrap();
    assert_eq!(t.sessions[0].closed_by(), Some(Closer::Timeout));
}

/// A slow upstream that does answer within the timeout is relayed as
/// usual: the clock runs per reply, not per session.
#[tokio::test]
async fn an_upstream_slower_in_total_than_the_reply_timeout_is_not_cut() {
    let up = server("rules:\n  - verb: NOOP\n    delay: 150ms\n    reply: '250 2.0.0 Ok'\n").await;
    let px = proxy(up.addr(), "timeouts: {reply: 400ms}").await;
    let mut c = RawClient::connect(px.addr()).await;
    assert_eq!(c.code().await, 220);
    // Pipelined: the upstream owes four replies for 600 ms in all, each
    // one within 150 ms of the one before.
    c.send(b"NOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\n").await;
    for _ in 0..4 {
        assert_eq!(c.code().await, 250);
    }
    assert_eq!(c.cmd("QUIT").await, 221);
}

#[tokio::test]
async fn an_upstream_that_never_reads_gets_the_client_421() {
    let (up, _task) = silent_upstream(Some(b"220 up.example ESMTP\r\n")).await;
    let px = proxy(up, "timeouts: {write: 300ms, reply: 1m}").await;
    let stream = TcpStream::connect(px.addr()).await.unwrap();
    let (r, mut w) = stream.into_split();
    let mut r = tokio::io::BufReader::new(r);
    let mut banner = String::new();
    r.read_line(&mut banner).await.unwrap();
    assert_eq!(banner, "220 up.example ESMTP\r\n");
    // Pipelined commands the upstream never reads, until the proxy gives up.
    let batch = b"NOOP\r\n".repeat(8192);
    let writing = async {
        for _ in 0..4096 {
            if w.write_all(&batch).await.is_err() {
                return;
            }
        }
    };
    let reading = async {
        let mut line = String::new();
        let _ = r.read_line(&mut line).await;
        line
    };
    let (_, reply) = tokio::time::timeout(Duration::from_secs(20), async {
        tokio::join!(
            tokio::time::timeout(Duration::from_secs(15), writing),
            reading
        )
    })
    .await
    .expect("the proxy kept writing to an upstream that never reads");
    assert_eq!(
        reply,
        format!(
            "421 4.4.2 upstream {up} timed out: read nothing for 300ms while the proxy wrote\r\n"
        )
    );
    let t = px.wait_for_sessions(1).await.unwrap();
    let s = &t.sessions[0];
    assert_eq!(s.closed_by(), Some(Closer::Timeout));
    assert!(has_note(s, "(timeouts.write)"), "{:?}", s.notes());
}

#[tokio::test]
async fn a_client_that_never_reads_is_dropped_by_the_proxy() {
    // 30 KB of reply per NOOP: a few commands fill every buffer on the way
    // back while the proxy has nothing left to write to the upstream.
    let lines: String = (0..300)
        .map(|_| format!("      - '250 {}'\n", "x".repeat(100)))
        .collect();
    let up = server(&format!("rules:\n  - verb: NOOP\n    reply:\n{lines}")).await;
    let px = proxy(up.addr(), "timeouts: {write: 300ms}").await;
    let stream = TcpStream::connect(px.addr()).await.unwrap();
    let (_unread, mut w) = stream.into_split();
    let started = Instant::now();
    w.write_all(&b"NOOP\r\n".repeat(2000)).await.unwrap();
    let t = px
        .wait_for_sessions_within(1, Duration::from_secs(10))
        .await
        .expect("the proxy kept a client that never reads");
    let took = started.elapsed();
    let s = &t.sessions[0];
    assert_eq!(s.closed_by(), Some(Closer::Timeout), "{:?}", s.notes());
    assert!(
        has_note(s, "client leg: the client read nothing for 300ms"),
        "{:?}",
        s.notes()
    );
    assert!(took >= Duration::from_millis(300), "{took:?}");
}

/// A client that goes quiet between commands holds both legs no longer than
/// `timeouts.idle`: it gets the 421, and the idle upstream a clean QUIT.
#[tokio::test]
async fn a_client_that_goes_quiet_is_cut_at_the_proxy_idle_timeout() {
    let up = server("limits: {idle_timeout: 1h}").await;
    let px = proxy(up.addr(), "timeouts: {idle: 300ms}").await;
    let mut c = RawClient::connect(px.addr()).await;
    assert_eq!(c.code().await, 220);
    assert_eq!(c.cmd("EHLO client.example").await, 250);
    let t = cut_with_421(
        &mut c,
        &px,
        "421 4.4.2 Proxy Error: timeout exceeded",
        Duration::from_millis(250),
        "client leg: nothing from the client within 300ms (timeouts.idle)",
    )
    .await;
    let s = &t.sessions[0];
    assert_eq!(s.reply_codes_on(Leg::Client), [220, 250, 421]);
    assert!(
        t.upstream_received("QUIT"),
        "the idle upstream is told QUIT"
    );
    assert_eq!(s.reply_codes_on(Leg::Upstream), [220, 250, 221]);
}

/// The idle clock restarts with every command: a slow but steady client is
/// never cut, however long the session lasts.
#[tokio::test]
async fn a_client_sending_a_command_every_100ms_is_not_cut_by_the_idle_timeout() {
    let up = server("limits: {idle_timeout: 1h}").await;
    let px = proxy(up.addr(), "timeouts: {idle: 300ms}").await;
    let mut c = RawClient::connect(px.addr()).await;
    assert_eq!(c.code().await, 220);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        assert_eq!(c.cmd("NOOP").await, 250);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(c.cmd("QUIT").await, 221);
    let t = px.wait_for_sessions(1).await.unwrap();
    assert_eq!(t.sessions[0].closed_by(), Some(Closer::Upstream));
}

/// An upstream for one connection: it greets, answers the client's first
/// line (its STARTTLS) with 220, then leaves the connection to `then`.
async fn starttls_upstream<F, Fut>(then: F) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>)
where
    F: FnOnce(tokio::io::BufReader<TcpStream>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let mut s = tokio::io::BufReader::new(s);
        s.get_mut()
            .write_all(b"220 up.example ESMTP\r\n")
            .await
            .unwrap();
        let mut line = String::new();
        s.read_line(&mut line).await.unwrap();
        s.get_mut().write_all(b"220 2.0.0 Ready\r\n").await.unwrap();
        then(s).await;
    });
    (up, task)
}

/// A client through `px` past the banner and a passed-through STARTTLS.
async fn past_starttls(px: &MockProxy) -> RawClient {
    let mut c = RawClient::connect(px.addr()).await;
    assert_eq!(c.code().await, 220);
    assert_eq!(c.cmd("STARTTLS").await, 220);
    c
}

/// After a passed-through STARTTLS the bytes are opaque, and the write
/// timeout still holds: an upstream that stops reading ends the relay.
#[tokio::test]
async fn an_upstream_that_stops_reading_after_starttls_ends_the_opaque_relay() {
    let (up, _upstream) = starttls_upstream(|s| async move {
        // Holds the connection (moved in: dropping it would close it) and
        // never reads again.
        let _held = s;
        std::future::pending::<()>().await;
    })
    .await;
    let px = proxy(up, "timeouts: {write: 300ms}").await;
    let mut c = past_starttls(&px).await;
    let batch = vec![0x17u8; 64 * 1024];
    let writing = async {
        for _ in 0..4096 {
            if c.writer.write_all(&batch).await.is_err() {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), writing)
        .await
        .expect("the opaque relay kept writing to an upstream that never reads");
    let t = px
        .wait_for_sessions_within(1, Duration::from_secs(5))
        .await
        .unwrap();
    let s = &t.sessions[0];
    assert_eq!(s.closed_by(), Some(Closer::Timeout), "{:?}", s.notes());
    assert!(has_note(s, "opaque relay ended"), "{:?}", s.notes());
}

/// After a passed-through STARTTLS the proxy cannot see commands, but a
/// session silent both ways for `timeouts.idle` is idle all the same.
#[tokio::test]
async fn an_opaque_relay_silent_both_ways_ends_at_the_idle_timeout() {
    let (up, _upstream) = starttls_upstream(|mut s| async move {
        // Echoes what comes (a TLS peer answering), until the end.
        let mut buf = [0u8; 1024];
        while let Ok(n @ 1..) = s.read(&mut buf).await {
            let _ = s.get_mut().write_all(&buf[..n]).await;
        }
    })
    .await;
    let px = proxy(up, "timeouts: {idle: 300ms}").await;
    let mut c = past_starttls(&px).await;
    // Traffic every 100 ms for 600 ms, twice the limit: not cut.
    let mut echo = [0u8; 3];
    for _ in 0..6 {
        c.send(&[0x17, 0x03, 0x03]).await;
        c.reader.read_exact(&mut echo).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let started = Instant::now();
    assert!(c.closed().await, "the quiet relay was closed");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "{took:?}");
    let t = px.wait_for_sessions(1).await.unwrap();
    let s = &t.sessions[0];
    assert_eq!(s.closed_by(), Some(Closer::Timeout), "{:?}", s.notes());
    assert!(
        has_note(
            s,
            "opaque relay: no octet either way within 300ms (timeouts.idle)"
        ),
        "{:?}",
        s.notes()
    );
}

// ---------------------------------------------------------------- files

fn validate(dir: &Path, name: &str, yaml: &str) -> (i32, String) {
    let f = dir.join(name);
    std::fs::write(&f, yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_smtp-harness"))
        .arg("validate")
        .arg(&f)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (
        out.status.code().unwrap_or(-1),
        text.replace(&format!("{}/", dir.display()), ""),
    )
}

#[test]
fn validate_refuses_zero_timeouts_with_their_location() {
    let dir = tempfile::tempdir().unwrap();
    for (name, yaml, expected) in [
        (
            "idle.yaml",
            "hostname: mx.example.test\nlimits:\n  idle_timeout: 0s\n",
            "idle.yaml:3:17: `idle_timeout` must be above 0s",
        ),
        (
            "line.yaml",
            "limits: {line_deadline: 0ms}\n",
            "line.yaml:1:25: `line_deadline` must be above 0s",
        ),
        (
            "fw.yaml",
            "timeouts:\n  banner: 0\n",
            "fw.yaml:2:11: `banner` must be above 0s",
        ),
        (
            "idle-fw.yaml",
            "timeouts: {reply: 1s, idle: 0s}\n",
            "idle-fw.yaml:1:29: `idle` must be above 0s",
        ),
    ] {
        let (code, out) = validate(dir.path(), name, yaml);
        assert_eq!(code, 1, "{name}: {out}");
        assert!(
            out.contains(expected),
            "{name}: expected {expected:?} in\n{out}"
        );
    }
    // Loading refuses it too, not just `validate`.
    let err = Scenario::from_yaml("limits: {idle_timeout: 0s}").unwrap_err();
    assert!(
        err.to_string().contains("`idle_timeout` must be above 0s"),
        "{err}"
    );
}

/// The proxy's hang-up lingers too: a client still sending after the
/// proxy's 421 reads it and then a clean end, not a reset.
#[tokio::test]
async fn a_client_still_sending_after_the_proxy_hung_up_reads_a_clean_end() {
    let up = server("{}").await;
    let px = proxy(
        up.addr(),
        "faults: [{reply_then_close: '421 4.3.2 going away', on: NOOP}]",
    )
    .await;
    let mut c = RawClient::connect(px.addr()).await;
    assert_eq!(c.code().await, 220);
    let bye = c.reply_to("NOOP").await;
    assert_eq!(bye, ["421 4.3.2 going away"]);
    // The proxy has closed; these octets arrive after its close.
    c.send(&[b'x'; 1024]).await;
    c.send(b"\r\nQUIT\r\n").await;
    let mut rest = Vec::new();
    let read = tokio::time::timeout(STEP, c.reader.read_to_end(&mut rest))
        .await
        .expect("the proxy never closed");
    assert!(read.is_ok(), "the client's read failed: {read:?}");
    assert!(rest.is_empty(), "{rest:?}");
}
