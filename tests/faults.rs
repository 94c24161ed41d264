//! Scripted faults in the fake server, in the proxy's vocabulary: latency,
//! bandwidth, slices, close after N bytes, reply then close, tarpit, flaky
//! replies and a connection limit — seeded, so each run is the same.

mod common;

use common::RawClient;
use smtp_harness::{MockServer, Scenario};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

async fn server(yaml: &str) -> MockServer {
    MockServer::start(Scenario::from_yaml(yaml).unwrap_or_else(|e| panic!("{e}")))
        .await
        .unwrap()
}

#[tokio::test]
async fn latency_delays_every_reply() {
    let s = server("faults: [{latency: 120ms}]").await;
    let started = Instant::now();
    let mut c = RawClient::connect(s.addr()).await;
    c.reply().await;
    assert!(started.elapsed() >= Duration::from_millis(120));
    let t = Instant::now();
    assert_eq!(c.cmd("NOOP").await, 250);
    assert!(t.elapsed() >= Duration::from_millis(120));
}

#[tokio::test]
async fn tarpit_grows_with_each_reply() {
    let s = server("faults: [{tarpit: 40ms}]").await;
    let mut c = RawClient::connect(s.addr()).await;
    c.reply().await; // reply 1: 40ms
    c.cmd("NOOP").await; // reply 2: 80ms
    let t = Instant::now();
    c.cmd("NOOP").await; // reply 3: 120ms
    assert!(
        t.elapsed() >= Duration::from_millis(120),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn bandwidth_and_slices_dribble_the_reply() {
    let s = server("faults: [{bandwidth: 50}, {slice: 5}]").await;
    let mut sock = tokio::net::TcpStream::connect(s.addr()).await.unwrap();
    let started = Instant::now();
    let mut first = [0u8; 64];
    let n = sock.read(&mut first).await.unwrap();
    assert!(n <= 5, "the first read got {n} bytes, slices are 5");
    let mut rest = Vec::new();
    let mut buf = [0u8; 64];
    while !rest.ends_with(b"\r\n") {
        let m = tokio::time::timeout(Duration::from_secs(10), sock.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(m > 0);
        rest.extend_from_slice(&buf[..m]);
    }
    let banner = [&first[..n], &rest[..]].concat();
    assert_eq!(banner, b"220 mx.example.test ESMTP smtp-harness\r\n");
    // 40 bytes at 50 bytes/s.
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn close_after_cuts_the_connection_mid_reply() {
    let s = server("faults: [{close_after: 10}]").await;
    let mut sock = tokio::net::TcpStream::connect(s.addr()).await.unwrap();
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), sock.read_to_end(&mut all))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(all, b"220 mx.exa");
    let t = s.wait_for_sessions(1).await.unwrap();
    assert!(
        t.to_text()
            .contains("closed after 10 octets (close_after fault)"),
        "{}",
        t.to_text()
    );
}

#[tokio::test]
async fn reply_then_close_at_a_verb_and_at_end_of_data() {
    let s = server("faults: [{reply_then_close: '421 4.3.2 System going down', on: DATA}]").await;
    let mut c = RawClient::connect(s.addr()).await;
    c.reply().await;
    for l in ["HELO x", "MAIL FROM:<a@b>", "RCPT TO:<c@d>"] {
        assert_eq!(c.cmd(l).await, 250);
    }
    c.send(b"DATA\r\n").await;
    assert_eq!(c.reply().await, ["421 4.3.2 System going down"]);
    assert!(c.closed().await);

    let s = server("faults: [{reply_then_close: '451 4.3.0 Lost the message', on: '.'}]").await;
    let mut c = RawClient::connect(s.addr()).await;
    c.reply().await;
    for l in ["HELO x", "MAIL FROM:<a@b>", "RCPT TO:<c@d>"] {
        c.cmd(l).await;
    }
    assert_eq!(c.cmd("DATA").await, 354);
    c.send(b"Subject: x\r\n\r\ny\r\n.\r\n").await;
    assert_eq!(c.reply().await, ["451 4.3.0 Lost the message"]);
    assert!(c.closed().await);
    assert!(s.messages().is_empty(), "the message was not kept");
}

async fn flaky_codes(seed: u64) -> Vec<u16> {
    let s = server(&format!(
        "faults: [{{flaky: '451 4.3.0 Try again', rate: 0.5, verbs: [NOOP], seed: {seed}}}]"
    ))
    .await;
    let mut c = RawClient::connect(s.addr()).await;
    c.reply().await;
    let mut codes = Vec::new();
    for _ in 0..24 {
        codes.push(c.cmd("NOOP").await);
    }
    assert_eq!(c.cmd("HELO x").await, 250, "other verbs are not flaky");
    codes
}

#[tokio::test]
async fn flaky_replies_are_random_but_seeded() {
    let a = flaky_codes(7).await;
    let b = flaky_codes(7).await;
    assert_eq!(a, b, "same seed, same sequence");
    assert!(a.contains(&451) && a.contains(&250), "{a:?}");
    assert_ne!(a, flaky_codes(8).await, "another seed, another sequence");
}

#[tokio::test]
async fn probability_picks_sessions_repeatably() {
    let yaml = "faults: [{reply_then_close: '421 4.7.0 Unlucky', probability: 0.5, seed: 42}]";
    let mut runs = Vec::new();
    for _ in 0..2 {
        let s = server(yaml).await;
        let mut pattern = Vec::new();
        for _ in 0..16 {
            let mut c = RawClient::connect(s.addr()).await;
            pattern.push(c.code().await);
        }
        runs.push(pattern);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(
        runs[0].contains(&421) && runs[0].contains(&220),
        "{:?}",
        runs[0]
    );
}

#[tokio::test]
async fn too_many_connections_get_421() {
    let s = server("limits: {max_sessions: 2}").await;
    let mut a = RawClient::connect(s.addr()).await;
    let mut b = RawClient::connect(s.addr()).await;
    assert_eq!((a.code().await, b.code().await), (220, 220));
    let mut c = RawClient::connect(s.addr()).await;
    let refused = c.reply().await;
    assert!(
        refused[0].starts_with("421 4.3.2 mx.example.test Too many connections"),
        "{refused:?}"
    );
    assert!(c.closed().await);
    a.cmd("QUIT").await;
    s.wait_for_sessions(2).await.unwrap();
    let mut d = RawClient::connect(s.addr()).await;
    assert_eq!(d.code().await, 220, "a slot is free again");
}

#[test]
fn faults_are_checked() {
    for (yaml, expected) in [
        (
            "faults: [{latency: 1s, bandwidth: 3}]",
            "<inline>:1:10: a fault takes exactly one of",
        ),
        (
            "faults: [{flaky: '451 x', rate: 2}]",
            "`rate` is a chance from 0.0 to 1.0",
        ),
        (
            "faults: [{reply_then_close: '421 x', on: 'two words'}]",
            "`on` is `banner`, a verb or `.`",
        ),
        ("faults: [{bandwidth: 0}]", "`bandwidth` must be at least 1"),
    ] {
        let err = Scenario::from_yaml(yaml).unwrap_err().to_string();
        assert!(err.contains(expected), "{yaml}: {err}");
    }
}

#[tokio::test]
async fn a_rule_can_dribble_its_own_reply() {
    let s =
        server("rules: [{verb: NOOP, reply: '250 2.0.0 slow but sure', bandwidth: 10, slice: 5}]")
            .await;
    let mut c = RawClient::connect(s.addr()).await;
    let t = Instant::now();
    c.reply().await;
    // Paced at 10 bytes/s the banner would take seconds; the bounds are
    // far apart so a loaded machine cannot blur them.
    assert!(
        t.elapsed() < Duration::from_millis(1000),
        "the banner is not paced"
    );
    let t = Instant::now();
    c.send(b"NOOP\r\n").await;
    assert_eq!(c.reply().await, ["250 2.0.0 slow but sure"]);
    // 25 bytes at 10 bytes/s, in 5-byte pieces.
    assert!(
        t.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    let t = Instant::now();
    assert_eq!(c.cmd("RSET").await, 250);
    assert!(
        t.elapsed() < Duration::from_millis(1000),
        "other replies are not paced"
    );
}

/// Arm a one-shot fault as the control API does.
fn arm(s: &MockServer, json: &str) {
    let request = serde_json::from_str(json).expect("fault request");
    s.shared().faults.arm(request).expect("armed");
}

/// A one-shot fault is input to the session: the reply the client got is
/// the one the session acted on, so what follows on the wire, the stored
/// message and the transcript all agree with it. (When the I/O layer
/// answered in the session's place, the session stayed in `greeted` after
/// an armed 250 to MAIL and refused the RCPT with 503.)
#[tokio::test]
async fn an_armed_reply_moves_the_session_as_the_wire_says() {
    let s = server("{}").await;
    arm(
        &s,
        r#"{"verb":"MAIL","reply":"250 2.1.0 Sender ok (armed)"}"#,
    );
    let mut c = RawClient::connect(s.addr()).await;
    c.reply().await;
    assert_eq!(c.cmd("EHLO client.test").await, 250);
    c.send(b"MAIL FROM:<armed@example.test>\r\n").await;
    assert_eq!(c.reply().await, ["250 2.1.0 Sender ok (armed)"]);
    assert_eq!(c.cmd("RCPT TO:<to@example.test>").await, 250);
    assert_eq!(c.cmd("DATA").await, 354);
    c.send(b"Subject: x\r\n\r\nbody\r\n.\r\n").await;
    assert_eq!(c.code().await, 250);
    assert_eq!(c.cmd("QUIT").await, 221);
    let t = s.wait_for_sessions(1).await.unwrap();
    let messages = s.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].mail_from, "armed@example.test");
    // The session recorded the fault where it fired, and its reply as the
    // fault's.
    let text = t.to_text();
    let fired = "*** #1 control: fault-fired: #1 next MAIL: reply 250 2.1.0 Sender ok (armed)\n\
                 #1 <-  250 2.1.0 Sender ok (armed)\n\
                 #1     (by fault #1)\n";
    assert!(text.contains(fired), "{text}");
    assert!(s.shared().faults.armed().is_empty());
}

/// An armed greeting other than 220 refuses service as the scenario's own
/// would: the session answers 503 to everything but QUIT, as the client
/// was told (before, the session went on as if greeted with 220).
#[tokio::test]
async fn an_armed_refusal_greeting_refuses_the_session() {
    let s = server("{}").await;
    arm(&s, r#"{"on":"connect","reply":"554 5.3.2 not now"}"#);
    let mut c = RawClient::connect(s.addr()).await;
    assert_eq!(c.reply().await, ["554 5.3.2 not now"]);
    assert_eq!(c.cmd("EHLO client.test").await, 503);
    assert_eq!(c.cmd("MAIL FROM:<a@example.test>").await, 503);
    assert_eq!(c.cmd("QUIT").await, 221);
    assert!(c.closed().await);
    let t = s.wait_for_sessions(1).await.unwrap();
    assert!(t.to_text().contains("fault-fired"), "{}", t.to_text());
}
