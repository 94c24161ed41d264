//! A broken client gets a proper SMTP reply, the server keeps serving, and
//! nothing that arrived is lost from the transcript.

mod common;

use common::RawClient;
use smtp_harness::transcript::Leg;
use smtp_harness::{Closer, MockServer, Scenario};
use std::time::{Duration, Instant};

async fn server(yaml: &str) -> MockServer {
    MockServer::start(Scenario::from_yaml(yaml).unwrap())
        .await
        .unwrap()
}

async fn greeted(server: &MockServer) -> RawClient {
    let mut c = RawClient::connect(server.addr()).await;
    assert_eq!(c.code().await, 220);
    c
}

#[tokio::test]
async fn overlong_line_with_crlf_gets_500_and_session_goes_on() {
    let server = server("{}").await;
    let mut c = greeted(&server).await;
    let mut line = vec![b'A'; 100 * 1024];
    line.extend_from_slice(b"\r\n");
    c.send(&line).await;
    assert_eq!(c.reply().await, ["500 5.5.2 Error: line too long"]);
    assert_eq!(c.cmd("NOOP").await, 250);
    assert_eq!(c.cmd("QUIT").await, 221);
    let t = server.wait_for_sessions(1).await.unwrap();
    assert_eq!(
        t.notes().first().map(String::as_str),
        Some("command line of 102402 octets exceeds the limit; discarded")
    );
}

#[tokio::test]
async fn overlong_line_without_crlf_then_vanishing_is_recorded() {
    let server = server("{}").await;
    let mut c = greeted(&server).await;
    c.send(&vec![b'B'; 100 * 1024]).await;
    drop(c);
    let t = server.wait_for_sessions(1).await.unwrap();
    let s = &t.sessions[0];
    assert!(s.aborted);
    let abort = s.abort().expect("aborted");
    assert_eq!(
        (abort.by, abort.during.as_str(), abort.received),
        (Closer::Client, "line", 100 * 1024)
    );
    assert!(abort.partial.iter().all(|b| *b == b'B'));
    // And the server still serves.
    let mut again = greeted(&server).await;
    assert_eq!(again.cmd("NOOP").await, 250);
}

#[tokio::test]
async fn nul_bytes_invalid_utf8_and_junk_get_500() {
    let server = server("{}").await;
    let mut c = greeted(&server).await;
    assert_eq!(c.cmd("HELO x").await, 250);
    c.send(b"MAIL\0FROM:<a@b>\r\n").await;
    assert_eq!(c.code().await, 500);
    c.send(b"\xff\xfe\xfd garbage\r\n").await;
    assert_eq!(c.code().await, 500);
    c.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n")
        .await;
    assert_eq!(c.code().await, 500);
    assert_eq!(
        c.cmd("MAIL FROM:<a@b>").await,
        250,
        "state survived the junk"
    );
    c.cmd("QUIT").await;
    let t = server.wait_for_sessions(1).await.unwrap();
    let raw = t.sessions[0].raw_commands();
    assert_eq!(&raw[1][..], b"MAIL\0FROM:<a@b>", "recorded byte-exact");
    assert_eq!(&raw[2][..3], b"\xff\xfe\xfd");
}

#[tokio::test]
async fn bare_lf_is_accepted_and_marked() {
    let server = server("{}").await;
    let mut c = greeted(&server).await;
    c.send(b"HELO bare\n").await;
    assert_eq!(c.code().await, 250);
    c.cmd("QUIT").await;
    let t = server.wait_for_sessions(1).await.unwrap();
    assert_eq!(
        t.sessions[0].bare_lf_commands(),
        ["HELO bare"],
        "{}",
        t.to_text()
    );
}

#[tokio::test]
async fn client_vanishing_mid_data_is_kept_as_aborted() {
    let server = server("{}").await;
    let mut c = greeted(&server).await;
    for (l, code) in [
        ("HELO x", 250),
        ("MAIL FROM:<a@b>", 250),
        ("RCPT TO:<c@d>", 250),
        ("DATA", 354),
    ] {
        assert_eq!(c.cmd(l).await, code);
    }
    c.send(b"Subject: cut\r\n\r\nhalf a mess").await;
    drop(c);
    let t = server.wait_for_sessions(1).await.unwrap();
    assert_eq!(t.aborted().len(), 1);
    let abort = t.sessions[0].abort().expect("aborted");
    assert_eq!(abort.during, "data");
    assert_eq!(&abort.partial[..], b"Subject: cut\r\n\r\nhalf a mess");
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn idle_client_gets_421() {
    let server = server("limits: {idle_timeout: 150ms}").await;
    let mut c = greeted(&server).await;
    let started = Instant::now();
    let reply = c.reply().await;
    assert_eq!(reply, ["421 4.4.2 mx.example.test Error: timeout exceeded"]);
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert!(c.closed().await);
    let t = server.wait_for_sessions(1).await.unwrap();
    assert_eq!(t.sessions[0].closed_by(), Some(Closer::Timeout));
}

#[tokio::test]
async fn oversized_message_gets_552_without_being_buffered() {
    let server = server("limits: {message_size: 1000}").await;
    let mut c = greeted(&server).await;
    for l in ["HELO x", "MAIL FROM:<a@b>", "RCPT TO:<c@d>"] {
        c.cmd(l).await;
    }
    assert_eq!(
        c.cmd("MAIL FROM:<a@b> SIZE=5000").await,
        503,
        "nested MAIL is still a sequence error"
    );
    assert_eq!(c.cmd("DATA").await, 354);
    for _ in 0..100 {
        c.send(&[b"y".repeat(998), b"\r\n".to_vec()].concat()).await;
    }
    c.send(b".\r\n").await;
    assert_eq!(c.reply().await, ["552 5.3.4 Error: message file too big"]);
    assert_eq!(c.cmd("RSET").await, 250);
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn replies_are_recorded_on_the_client_leg() {
    let server = server("{}").await;
    let mut c = greeted(&server).await;
    c.cmd("QUIT").await;
    let t = server.wait_for_sessions(1).await.unwrap();
    assert_eq!(t.sessions[0].reply_codes_on(Leg::Client), [220, 221]);
    assert!(t.sessions[0].reply_codes_on(Leg::Upstream).is_empty());
}
