//! Memory that does not grow with what clients send: transcript bounds and
//! message bodies in files, over real sockets (issue 13, point 3).

mod common;

use common::control_api::get;
use common::{Launched, RawClient, STEP};
use smtp_harness::transcript::{Leg, render_event};
use smtp_harness::{MockServer, Scenario};
use std::net::SocketAddr;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

fn scenario(limits: &str) -> Scenario {
    Scenario::from_yaml(&format!("limits: {{{limits}}}")).expect("scenario")
}

/// The code of the next reply (multi-line replies read to their end).
async fn code(reader: &mut tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>) -> u16 {
    loop {
        let mut line = Vec::new();
        tokio::time::timeout(STEP, reader.read_until(b'\n', &mut line))
            .await
            .expect("reply in time")
            .expect("read");
        assert!(line.len() >= 4, "short reply line {line:?}");
        if line[3] == b' ' {
            return String::from_utf8_lossy(&line[..3]).parse().expect("code");
        }
    }
}

/// Send `lines` pipelined in one write while reading every reply (a
/// client that does not read would stall the server's writes); returns
/// the replies' codes.
/// `EHLO <ehlo>`, `n` NOOPs and QUIT, for `pipeline`.
fn noop_session(ehlo: &str, n: usize) -> Vec<String> {
    let mut lines = vec![format!("EHLO {ehlo}")];
    lines.extend(std::iter::repeat_n("NOOP".to_string(), n));
    lines.push("QUIT".into());
    lines
}

async fn pipeline(addr: SocketAddr, lines: &[String]) -> Vec<u16> {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (r, mut w) = stream.into_split();
    let mut reader = tokio::io::BufReader::new(r);
    assert_eq!(code(&mut reader).await, 220);
    let payload: Vec<u8> = lines
        .iter()
        .flat_map(|l| format!("{l}\r\n").into_bytes())
        .collect();
    let write = tokio::spawn(async move {
        w.write_all(&payload).await.expect("write");
        w
    });
    let mut codes = Vec::with_capacity(lines.len());
    for _ in lines {
        codes.push(code(&mut reader).await);
    }
    drop(write.await.expect("writer"));
    codes
}

#[tokio::test]
async fn a_flood_of_pipelined_noops_keeps_the_cap_the_marker_and_the_close() {
    let mut server = MockServer::start(scenario("session_events: 100"))
        .await
        .expect("start");
    let lines = noop_session("flood.example", 10_000);
    let codes = pipeline(server.addr(), &lines).await;
    assert_eq!(codes.len(), 10_002, "one reply per command");
    assert_eq!(codes.last(), Some(&221));

    let t = server.wait_for_sessions(1).await.expect("session ended");
    let s = &t.sessions[0];
    // connect, banner, 10,002 commands and replies, close.
    let all = 1 + 1 + 2 * 10_002 + 1;
    assert_eq!(s.events.len(), 101, "the cap plus the marker");
    assert_eq!(s.dropped, (all - 100) as u64);
    assert!(s.peer().is_some(), "the connect is kept");
    assert_eq!(s.commands()[0], "EHLO flood.example", "the head is kept");
    let marker = format!("{} events dropped (limits.session_events: 100)", all - 100);
    assert_eq!(s.notes(), std::slice::from_ref(&marker));
    assert!(
        render_event(&s.events[50], false).contains(&marker),
        "the marker sits between head and tail"
    );
    assert_eq!(s.commands().last().map(String::as_str), Some("QUIT"));
    assert!(s.closed_by().is_some() && !s.aborted, "the close is kept");
    assert_eq!(s.reply_codes_on(Leg::Client).last(), Some(&221));

    // The control API shows the same, marker and count included.
    let control = server.start_control().await.expect("control");
    let (status, body) = get(control, "/sessions/1").await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(v["dropped"].as_u64(), Some((all - 100) as u64));
    let events = v["events"].as_array().expect("events");
    assert_eq!(events.len(), 101);
    assert_eq!(
        events[50]["text"].as_str(),
        Some(format!("{} events dropped (limits.session_events: 100)", all - 100).as_str())
    );
    assert_eq!(events[100]["type"].as_str(), Some("close"));
}

#[tokio::test]
async fn the_total_bound_forgets_the_oldest_sessions() {
    let server = MockServer::start(scenario("session_events: 20, total_events: 50"))
        .await
        .expect("start");
    let lines = noop_session("x", 30);
    for _ in 0..5 {
        pipeline(server.addr(), &lines).await;
    }
    let t = server.wait_for_sessions(5).await.expect("sessions ended");
    let kept: usize = t.sessions.iter().map(|s| s.events.len()).sum();
    assert!(kept <= 50, "{kept} events kept");
    let ids: Vec<u64> = t.sessions.iter().map(|s| s.id).collect();
    // 21 events each (the cap plus the marker): the last two fit.
    assert_eq!(ids, [4, 5]);
    let all = 1 + 1 + 2 * 32 + 1;
    assert!(t.sessions.iter().all(|s| s.dropped == all - 20));
}

/// A message of `size` octets of varied text lines, none starting with a
/// dot (so what is stored is exactly what was sent).
fn body(size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 80);
    let mut n = 0u64;
    while out.len() < size {
        n = n
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let line = format!("line {n:020} {}\r\n", "x".repeat((n % 60) as usize));
        out.extend_from_slice(line.as_bytes());
    }
    out
}

async fn send_message(addr: SocketAddr, content: &[u8]) {
    let mut c = RawClient::connect(addr).await;
    assert_eq!(c.code().await, 220);
    assert_eq!(c.cmd("EHLO x").await, 250);
    assert_eq!(c.cmd("MAIL FROM:<a@example.org>").await, 250);
    assert_eq!(c.cmd("RCPT TO:<b@example.org>").await, 250);
    assert_eq!(c.cmd("DATA").await, 354);
    c.send(content).await;
    assert_eq!(c.cmd(".").await, 250);
    assert_eq!(c.cmd("QUIT").await, 221);
}

#[tokio::test]
async fn a_large_message_is_kept_in_a_file_and_reads_back_exactly() {
    let mut server = MockServer::start(scenario("message_memory: 65536"))
        .await
        .expect("start");
    let small = body(1_000);
    let large = body(300_000);
    send_message(server.addr(), &small).await;
    send_message(server.addr(), &large).await;
    server.wait_for_sessions(2).await.expect("sessions ended");

    let messages = server.messages();
    assert_eq!(messages.len(), 2);
    assert!(
        messages[0].data.path().is_none(),
        "a small body stays in memory"
    );
    let path = messages[1]
        .data
        .path()
        .expect("a large body is in a file")
        .to_path_buf();
    assert_eq!(
        std::fs::metadata(&path).expect("the file").len(),
        large.len() as u64
    );
    let (memory, disk) = server.shared().recorder.message_octets();
    assert_eq!(memory, small.len(), "only the small body is in memory");
    assert_eq!(disk, large.len() as u64);
    assert!(messages[1].bytes().expect("read") == large[..]);
    assert!(messages[0].bytes().expect("read") == small[..]);

    let control = server.start_control().await.expect("control");
    let (status, eml) = get(control, "/messages/2.eml").await;
    assert_eq!(status, 200);
    assert!(eml == large, "the .eml is byte-exact");
    let (status, list) = get(control, "/messages").await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&list).expect("JSON");
    assert_eq!(v["messages"][1]["size"].as_u64(), Some(large.len() as u64));

    // Forgotten and no longer held: the file goes.
    drop(messages);
    server.reset();
    assert!(!path.exists(), "{} left behind", path.display());
}

#[tokio::test]
async fn bodies_past_the_memory_total_go_to_files_and_the_disk_total_forgets_the_oldest() {
    let server = MockServer::start(scenario(
        "message_memory: 65536, messages_memory: 3000, messages_disk: 5000",
    ))
    .await
    .expect("start");
    for _ in 0..6 {
        send_message(server.addr(), &body(2_000)).await;
    }
    server.wait_for_sessions(6).await.expect("sessions ended");
    let messages = server.messages();
    let in_memory = messages.iter().filter(|m| m.data.path().is_none()).count();
    assert_eq!(in_memory, 1, "3000 octets hold one 2000-octet body");
    let (memory, disk) = server.shared().recorder.message_octets();
    assert!(
        memory <= 3000 && disk <= 5000,
        "{memory} in memory, {disk} on disk"
    );
    assert_eq!(messages.len(), 3, "the oldest files were forgotten");
    assert_eq!(messages.last().map(|m| m.session), Some(6));
}

#[test]
fn validate_refuses_a_session_bound_under_two_and_a_total_under_it() {
    let err = Scenario::from_yaml("limits: {session_events: 1}").unwrap_err();
    assert!(
        err.to_string()
            .contains("`session_events` must be at least 2"),
        "{err}"
    );
    let err = Scenario::from_yaml("limits: {session_events: 500, total_events: 100}").unwrap_err();
    assert!(
        err.to_string()
            .contains("`total_events` (100) is less than `session_events` (500)"),
        "{err}"
    );
}

/// `serve --control … --quiet ARGS`: its SMTP and control addresses.
fn serve(args: &[&str]) -> Launched {
    let mut cmd = Launched::command(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--control",
        "127.0.0.1:0",
        "--quiet",
    ]);
    cmd.args(args).stderr(std::process::Stdio::null());
    Launched::spawn(cmd)
}

#[tokio::test]
async fn the_command_line_bound_wins_over_the_scenario() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("s.yaml");
    std::fs::write(&file, "limits: {session_events: 1000}\n").expect("write");
    let served = serve(&[file.to_str().expect("path"), "--session-events", "50"]);
    let lines = noop_session("x", 600);
    let codes = pipeline(served.smtp(), &lines).await;
    assert_eq!(codes.last(), Some(&221));
    // The session's end is recorded right after the 221 is written; the
    // control API answers from the same recorder.
    let deadline = std::time::Instant::now() + STEP;
    let v = loop {
        let (status, body) = get(served.control(), "/sessions/1").await;
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        if v["ended"].as_bool() == Some(true) || std::time::Instant::now() > deadline {
            break v;
        }
        tokio::task::yield_now().await;
    };
    assert_eq!(v["ended"].as_bool(), Some(true));
    assert_eq!(v["events"].as_array().map(Vec::len), Some(51));
    let all = 1 + 1 + 2 * 602 + 1;
    assert_eq!(v["dropped"].as_u64(), Some(all - 50));
}

#[tokio::test]
async fn expectations_count_every_command_even_those_the_transcript_dropped() {
    use smtp_harness::Expect;
    let server = MockServer::start(scenario("session_events: 10"))
        .await
        .expect("start");
    Expect::verb("NOOP").expect(50).mount(&server);
    let lines = noop_session("x", 50);
    pipeline(server.addr(), &lines).await;
    server.wait_for_sessions(1).await.expect("ended");
    let report = server.expectation_report();
    // The transcript kept 10 events; the count saw all 50 NOOPs.
    assert!(report.is_met(), "{report}");
    assert_eq!(report.results[0].actual, 50);
    assert_eq!(report.dropped_events, 1 + 1 + 2 * 52 + 1 - 10);
    let text = report.to_string();
    assert!(text.contains("the counts include their commands"), "{text}");
}

#[tokio::test]
async fn expectations_count_the_commands_of_sessions_the_recorder_forgot() {
    use smtp_harness::Expect;
    let server = MockServer::start(scenario("session_events: 10, total_events: 20"))
        .await
        .expect("start");
    Expect::verb("NOOP").expect(15).mount(&server);
    let lines: Vec<String> = ["EHLO x", "NOOP", "NOOP", "NOOP", "QUIT"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for _ in 0..5 {
        pipeline(server.addr(), &lines).await;
    }
    server.wait_for_sessions(5).await.expect("ended");
    assert!(
        server.transcript().sessions.len() < 5,
        "the total bound forgot some sessions"
    );
    let report = server.expectation_report();
    assert!(report.is_met(), "{report}");
    assert_eq!(report.results[0].actual, 15);
}
