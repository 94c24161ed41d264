//! One reply per command line, whatever the framing (issue 13, point 1):
//! overlong lines pipelined with other commands, split across reads at
//! any point, after DATA grew the read buffer, in an AUTH dialogue, on
//! the server and through the proxy (both legs).
//!
//! Each regression test writes everything in one `write`, so the server
//! or proxy sees the overlong line and what follows it in one read; then
//! `QUIT` must get the very next reply, which proves nothing extra or
//! missing is queued behind the expected ones.

mod common;
mod support;

use common::RawClient;
use smtp_harness::{MockProxy, MockServer, Profile, Scenario};
use support::{accept, hand_upstream};

async fn server(yaml: &str) -> MockServer {
    MockServer::start(Scenario::from_yaml(yaml).expect("scenario"))
        .await
        .expect("server")
}

async fn transparent(upstream: &MockServer) -> MockProxy {
    MockProxy::start(
        upstream.addr(),
        Profile::bundled("transparent").expect("profile"),
    )
    .await
    .expect("proxy")
}

/// A line of exactly `len` octets with its CRLF, starting with `prefix`.
fn line_of(prefix: &str, len: usize) -> Vec<u8> {
    let mut line = prefix.as_bytes().to_vec();
    line.resize(len - 2, b'x');
    line.extend_from_slice(b"\r\n");
    line
}

/// The codes of the next `n` replies.
async fn codes(c: &mut RawClient, n: usize) -> Vec<u16> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(c.code().await);
    }
    out
}

/// `QUIT` is answered next, then the connection closes: no reply was
/// left over or missing before it.
async fn quit_is_next(c: &mut RawClient) {
    assert_eq!(c.cmd("QUIT").await, 221, "a stray reply came before QUIT's");
    assert!(c.closed().await);
}

/// A line of `len` octets starting with `prefix`, then `rest`, in one write.
async fn send_overlong(c: &mut RawClient, prefix: &str, len: usize, rest: &[u8]) {
    let mut wire = line_of(prefix, len);
    wire.extend_from_slice(rest);
    c.send(&wire).await;
}

async fn greeted_ehlo(addr: std::net::SocketAddr) -> RawClient {
    let mut c = RawClient::connect(addr).await;
    assert_eq!(c.code().await, 220);
    c.send(b"EHLO client.example\r\n").await;
    assert_eq!(c.code().await, 250);
    c
}

#[tokio::test]
async fn overlong_noop_and_noop_in_one_write_get_two_replies_in_order() {
    let server = server("{}").await;
    let mut c = greeted_ehlo(server.addr()).await;
    send_overlong(&mut c, "NOOP ", 600, b"NOOP\r\n").await;
    assert_eq!(c.reply().await, ["500 5.5.2 Error: line too long"]);
    assert_eq!(c.code().await, 250);
    quit_is_next(&mut c).await;
}

#[tokio::test]
async fn overlong_line_then_mail_rcpt_noop_in_one_write_get_four_replies() {
    let server = server("{}").await;
    let mut c = greeted_ehlo(server.addr()).await;
    send_overlong(
        &mut c,
        "MAIL FROM:<a@example.com> ",
        700,
        b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nNOOP\r\n",
    )
    .await;
    assert_eq!(codes(&mut c, 4).await, [500, 250, 250, 250]);
    quit_is_next(&mut c).await;
    let t = server.wait_for_sessions(1).await.expect("transcript");
    assert_eq!(
        t.notes().first().map(String::as_str),
        Some("command line of 700 octets exceeds the limit; discarded"),
        "the discarded line ends at its own CRLF"
    );
}

#[tokio::test]
async fn through_the_proxy_above_its_limit_four_replies() {
    let up = server("{}").await;
    let px = transparent(&up).await;
    let mut c = greeted_ehlo(px.addr()).await;
    send_overlong(
        &mut c,
        "NOOP ",
        20 * 1024,
        b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nNOOP\r\n",
    )
    .await;
    assert_eq!(
        c.reply().await,
        ["500 5.5.2 Line too long"],
        "the proxy's own"
    );
    assert_eq!(codes(&mut c, 3).await, [250, 250, 250]);
    quit_is_next(&mut c).await;
}

#[tokio::test]
async fn through_the_proxy_below_its_limit_the_upstream_answers_each_line() {
    let up = server("{}").await;
    let px = transparent(&up).await;
    let mut c = greeted_ehlo(px.addr()).await;
    send_overlong(&mut c, "NOOP ", 600, b"NOOP\r\n").await;
    assert_eq!(c.reply().await, ["500 5.5.2 Error: line too long"]);
    assert_eq!(c.code().await, 250);
    quit_is_next(&mut c).await;
}

/// After a big message the read buffer has grown to 64 KiB, so a line
/// over the limit and the next command arrive in one read.
async fn overlong_after_data(addr: std::net::SocketAddr) {
    let mut c = greeted_ehlo(addr).await;
    assert_eq!(c.cmd("MAIL FROM:<a@example.com>").await, 250);
    assert_eq!(c.cmd("RCPT TO:<b@example.com>").await, 250);
    assert_eq!(c.cmd("DATA").await, 354);
    let mut body = Vec::new();
    while body.len() < 512 * 1024 {
        body.extend_from_slice(&line_of("body ", 900));
    }
    body.extend_from_slice(b".\r\n");
    c.send(&body).await;
    assert_eq!(c.code().await, 250);
    send_overlong(&mut c, "NOOP ", 5000, b"NOOP\r\nRSET\r\n").await;
    assert_eq!(codes(&mut c, 3).await, [500, 250, 250]);
    quit_is_next(&mut c).await;
}

#[tokio::test]
async fn overlong_line_after_a_data_transaction() {
    let server = server("{}").await;
    overlong_after_data(server.addr()).await;
}

#[tokio::test]
async fn overlong_line_after_a_data_transaction_through_the_proxy() {
    let up = server("{}").await;
    let px = transparent(&up).await;
    overlong_after_data(px.addr()).await;
}

/// Only the count is asserted: what the session answers to an overlong
/// SASL response (and what it records) is the AUTH code's business.
#[tokio::test]
async fn overlong_auth_continuation_line_gets_one_reply() {
    let server = server("auth: {users: {alice: wonderland}}").await;
    let mut c = greeted_ehlo(server.addr()).await;
    assert_eq!(c.cmd("AUTH PLAIN").await, 334);
    send_overlong(&mut c, "AGFsaWNlAHdvbmRlcmxhbmQ", 600, b"NOOP\r\n").await;
    let first = c.code().await;
    assert_eq!(first / 100, 5, "the overlong response is refused");
    c.code().await;
    quit_is_next(&mut c).await;
}

/// The upstream leg: a reply line over the proxy's limit still answers
/// its command (cut to its head), so later replies keep their commands.
#[tokio::test]
async fn overlong_upstream_reply_line_still_answers_its_command() {
    let (l, addr) = hand_upstream().await;
    let px = MockProxy::start(addr, Profile::bundled("transparent").expect("profile"))
        .await
        .expect("proxy");
    let mut c = RawClient::connect(px.addr()).await;
    let mut u = accept(&l).await;
    u.send(b"220 upstream ready\r\n").await;
    assert_eq!(c.code().await, 220);
    c.send(b"NOOP\r\nNOOP\r\n").await;
    assert_eq!(u.raw_line().await, b"NOOP\r\n");
    assert_eq!(u.raw_line().await, b"NOOP\r\n");
    send_overlong(&mut u, "250 first ", 20 * 1024, b"251 second\r\n").await;
    let first = c.reply().await;
    assert!(first[0].starts_with("250 first xxx"), "{first:?}");
    assert!(first[0].len() < 100, "cut to its head: {}", first[0].len());
    assert_eq!(c.reply().await, ["251 second"]);
    c.send(b"QUIT\r\n").await;
    assert_eq!(u.raw_line().await, b"QUIT\r\n");
    u.send(b"221 bye\r\n").await;
    assert_eq!(c.code().await, 221);
    drop(u);
    assert!(c.closed().await);
    let t = px.wait_for_sessions(1).await.expect("transcript");
    let noted = t.notes().iter().any(|n| n.contains("20480 octets"));
    assert!(noted, "{}", t.to_text());
}

/// Through the proxy, an overlong `BDAT 10 …` is not a BDAT command (the
/// upstream answers 500 and reads no chunk): the proxy must not take the
/// next octets for a chunk, or its own replies come out of order.
#[tokio::test]
async fn through_the_proxy_a_malformed_bdat_announces_no_chunk() {
    let up = server("ehlo: {keywords: [PIPELINING, CHUNKING]}").await;
    let px = transparent(&up).await;
    let mut c = greeted_ehlo(px.addr()).await;
    let mut wire = line_of("BDAT 10 ", 600);
    wire.extend_from_slice(b"NOOP\r\n");
    wire.extend_from_slice(&line_of("NOOP ", 20 * 1024));
    wire.extend_from_slice(b"NOOP\r\n");
    c.send(&wire).await;
    assert_eq!(
        c.reply().await,
        ["500 5.5.2 Error: line too long"],
        "the upstream's"
    );
    assert_eq!(c.code().await, 250);
    assert_eq!(
        c.reply().await,
        ["500 5.5.2 Line too long"],
        "the proxy's own"
    );
    assert_eq!(c.code().await, 250);
    quit_is_next(&mut c).await;
}

/// A rule answering BDAT (CHUNKING advertised) answers it once its chunk
/// has been read: the chunk's octets are never read as commands.
#[tokio::test]
async fn a_rule_answering_bdat_still_reads_its_chunk() {
    let yaml = "ehlo: {keywords: [PIPELINING, CHUNKING]}\n\
                rules:\n  - verb: BDAT\n    reply: \"452 4.3.1 rule says no\"\n";
    let server = server(yaml).await;
    let mut c = greeted_ehlo(server.addr()).await;
    c.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 6 LAST\r\nNOOP\r\nRSET\r\n")
        .await;
    assert_eq!(codes(&mut c, 2).await, [250, 250]);
    assert_eq!(c.reply().await, ["452 4.3.1 rule says no"]);
    assert_eq!(c.code().await, 250, "RSET's, not the chunk's");
    quit_is_next(&mut c).await;
}
