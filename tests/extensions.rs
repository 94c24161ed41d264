//! CHUNKING/BDAT, 8BITMIME, SMTPUTF8 and SIZE, per their RFCs.

mod common;

use common::RawClient;
use rstest::rstest;
use smtp_harness::{MockServer, Scenario};

const CHUNKING: &str = "ehlo:\n  keywords: [PIPELINING, CHUNKING, BINARYMIME, 8BITMIME, \"SIZE {message_size}\"]\nlimits: {message_size: 100}\n";

async fn in_transaction(yaml: &str) -> (MockServer, RawClient) {
    let server = MockServer::start(Scenario::from_yaml(yaml).unwrap())
        .await
        .unwrap();
    let mut c = RawClient::connect(server.addr()).await;
    c.reply().await;
    c.cmd("EHLO x").await;
    assert_eq!(c.cmd("MAIL FROM:<a@example.org>").await, 250);
    assert_eq!(c.cmd("RCPT TO:<b@example.com>").await, 250);
    (server, c)
}

#[tokio::test]
async fn bdat_chunks_make_one_message() {
    let (server, mut c) = in_transaction(CHUNKING).await;
    c.send(b"BDAT 12\r\nSubject: x\r\n").await;
    assert_eq!(c.reply().await, ["250 2.0.0 Ok: 12 bytes"]);
    // A chunk that contains what would end DATA: BDAT does no dot handling.
    c.send(b"BDAT 9\r\n\r\n.\r\nhi\r\n").await;
    assert_eq!(c.code().await, 250);
    c.send(b"BDAT 0 LAST\r\n").await;
    let queued = c.reply().await;
    assert!(
        queued[0].starts_with("250 2.0.0 Ok: queued as"),
        "{queued:?}"
    );
    assert_eq!(
        &server.messages()[0].bytes().unwrap()[..],
        b"Subject: x\r\n\r\n.\r\nhi\r\n"
    );
    assert_eq!(c.cmd("NOOP").await, 250);
}

#[tokio::test]
async fn bdat_pipelined_with_the_next_command() {
    let (server, mut c) = in_transaction(CHUNKING).await;
    c.send(b"BDAT 5 LAST\r\nhelloQUIT\r\n").await;
    assert_eq!(c.code().await, 250);
    assert_eq!(c.code().await, 221);
    assert_eq!(&server.messages()[0].bytes().unwrap()[..], b"hello");
}

#[tokio::test]
async fn a_one_shot_fault_on_bdat_still_consumes_the_chunk() {
    let (server, mut c) = in_transaction(CHUNKING).await;
    let request = serde_json::from_str(r#"{"verb": "BDAT", "reply": "451 4.3.0 try later"}"#)
        .expect("fault request");
    server.shared().faults.arm(request).expect("armed");
    // The chunk's bytes look like a command: read as one, they would end
    // the session with 221.
    c.send(b"BDAT 6\r\nQUIT\r\n").await;
    assert_eq!(c.reply().await, ["451 4.3.0 try later"]);
    // The session never saw the faulted chunk; the next one is the first.
    c.send(b"BDAT 5 LAST\r\nhello").await;
    let queued = c.reply().await;
    assert!(
        queued[0].starts_with("250 2.0.0 Ok: queued as"),
        "{queued:?}"
    );
    assert_eq!(c.cmd("NOOP").await, 250);
    assert_eq!(&server.messages()[0].bytes().unwrap()[..], b"hello");
}

#[tokio::test]
async fn bdat_too_big_and_out_of_sequence() {
    let (server, mut c) = in_transaction(CHUNKING).await;
    c.send(format!("BDAT 150 LAST\r\n{}", "z".repeat(150)).as_bytes())
        .await;
    assert_eq!(c.reply().await, ["552 5.3.4 Error: message file too big"]);
    c.send(b"BDAT 3 LAST\r\nabc").await;
    assert_eq!(c.code().await, 503, "no transaction after the failed one");
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn bdat_syntax_error_is_521_and_close_like_postfix() {
    let (_server, mut c) = in_transaction(CHUNKING).await;
    c.send(b"BDAT 1234 SCRAMBLE\r\n").await;
    assert_eq!(c.reply().await, ["521 5.5.4 Syntax: BDAT count [LAST]"]);
    assert!(c.closed().await);
}

#[tokio::test]
async fn bdat_without_chunking_is_not_implemented() {
    let (_server, mut c) = in_transaction("{}").await;
    assert_eq!(c.cmd("BDAT 0 LAST").await, 502);
}

#[rstest]
#[case("{}", "MAIL FROM:<a@b> BODY=8BITMIME", 250)]
#[case("{}", "MAIL FROM:<a@b> BODY=7BIT", 250)]
#[case("ehlo: {keywords: [PIPELINING]}", "MAIL FROM:<a@b> BODY=8BITMIME", 555)]
#[case("ehlo: {keywords: [PIPELINING]}", "MAIL FROM:<a@b> BODY=7BIT", 250)]
#[case("{}", "MAIL FROM:<a@b> BODY=BINARYMIME", 555)]
#[case("{}", "MAIL FROM:<a@b> SMTPUTF8", 555)]
#[case("ehlo: {keywords: [SMTPUTF8]}", "MAIL FROM:<a@b> SMTPUTF8", 250)]
#[case("ehlo: {keywords: [SMTPUTF8]}", "MAIL FROM:<jöran@exämple.org>", 553)]
#[case(
    "ehlo: {keywords: [SMTPUTF8]}",
    "MAIL FROM:<jöran@exämple.org> SMTPUTF8",
    250
)]
#[case("{}", "MAIL FROM:<a@b> XYZZY=1", 555)]
#[case("{}", "MAIL FROM:<a@b> SIZE=10240001", 552)]
#[case("{}", "MAIL FROM:<a@b> SIZE=1000", 250)]
#[case("ehlo: {keywords: [PIPELINING]}", "MAIL FROM:<a@b> SIZE=1000", 555)]
#[case("{}", "MAIL FROM:<a@b> RET=HDRS", 555)]
#[case("ehlo: {keywords: [DSN]}", "MAIL FROM:<a@b> RET=HDRS ENVID=x", 250)]
#[tokio::test]
async fn mail_parameters_follow_what_was_advertised(
    #[case] yaml: &str,
    #[case] line: &str,
    #[case] code: u16,
) {
    let server = MockServer::start(Scenario::from_yaml(yaml).unwrap())
        .await
        .unwrap();
    let mut c = RawClient::connect(server.addr()).await;
    c.reply().await;
    c.cmd("EHLO x").await;
    assert_eq!(c.cmd(line).await, code, "{yaml} / {line}");
}

#[tokio::test]
async fn utf8_recipients_need_smtputf8_on_mail() {
    let server =
        MockServer::start(Scenario::from_yaml("ehlo: {keywords: [SMTPUTF8, DSN]}").unwrap())
            .await
            .unwrap();
    let mut c = RawClient::connect(server.addr()).await;
    c.reply().await;
    c.cmd("EHLO x").await;
    assert_eq!(c.cmd("MAIL FROM:<a@b>").await, 250);
    assert_eq!(c.cmd("RCPT TO:<ünï@exämple.org>").await, 553);
    assert_eq!(c.cmd("RCPT TO:<b@c> NOTIFY=NEVER").await, 250);
    assert_eq!(c.cmd("RSET").await, 250);
    assert_eq!(c.cmd("MAIL FROM:<a@b> SMTPUTF8").await, 250);
    assert_eq!(c.cmd("RCPT TO:<ünï@exämple.org>").await, 250);
}
