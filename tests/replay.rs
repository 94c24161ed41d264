//! `replay:` scenarios serve captured bytes back and report where the client
//! under test differs from the captured one.

mod common;

use common::RawClient;
use smtp_harness::{MockServer, Scenario};

/// The Exim session of the Wireshark sample capture (shortened), as
/// `smtp-harness import` writes it; note the odd spacing kept byte for byte.
const EXIM: &str = r#"
name: imported-exim
replay:
  sessions:
    - banner:
        - "220-xc90.websitewelcome.com ESMTP Exim 4.69 #1 Mon, 05 Oct 2009 01:05:54 -0500 "
        - "220-We do not authorize the use of this system to transport unsolicited, "
        - "220 and/or bulk e-mail."
      steps:
        - client: "EHLO GP"
          reply: ["250-xc90.websitewelcome.com Hello GP [122.162.143.157]", "250-SIZE 52428800", "250-PIPELINING", "250-AUTH PLAIN LOGIN", "250-STARTTLS", "250 HELP"]
        - client: "MAIL FROM: <gurpartap@patriots.in>"
          reply: ["250 OK"]
        - client: "RCPT TO: <raj_deol2002in@yahoo.co.in>"
          reply: ["250 Accepted"]
        - client: "DATA"
          reply: ["354 Enter message, ending with \".\" on a line by itself"]
        - data: 20345
          reply: ["250 OK id=1Mugho-0003Dg-Un"]
        - client: "QUIT"
          reply: ["221 xc90.websitewelcome.com closing connection"]
      end: server_closed
"#;

#[tokio::test]
async fn the_same_client_gets_identical_bytes_and_no_divergence() {
    let server = MockServer::start(Scenario::from_yaml(EXIM).unwrap())
        .await
        .unwrap();
    let mut c = RawClient::connect(server.addr()).await;
    let banner = c.reply().await;
    assert_eq!(
        banner[0],
        "220-xc90.websitewelcome.com ESMTP Exim 4.69 #1 Mon, 05 Oct 2009 01:05:54 -0500 ",
        "trailing space kept"
    );
    assert_eq!(banner.len(), 3);
    c.send(b"EHLO GP\r\n").await;
    assert_eq!(c.reply().await.len(), 6);
    assert_eq!(c.cmd("MAIL FROM: <gurpartap@patriots.in>").await, 250);
    assert_eq!(c.cmd("RCPT TO: <raj_deol2002in@yahoo.co.in>").await, 250);
    assert_eq!(c.cmd("DATA").await, 354);
    c.send(&message_of(20345)).await;
    assert_eq!(c.reply().await, ["250 OK id=1Mugho-0003Dg-Un"]);
    c.send(b"QUIT\r\n").await;
    assert_eq!(
        c.reply().await,
        ["221 xc90.websitewelcome.com closing connection"]
    );
    assert!(c.closed().await, "the captured server closed after QUIT");
    server.wait_for_sessions(1).await.unwrap();
    assert!(
        server.divergences().is_empty(),
        "{:?}",
        server.divergences()
    );
    assert_eq!(server.messages().len(), 1);
}

/// A message of exactly `size` octets (unstuffed, without the final
/// `.CRLF`, as captures count them), with its end of data.
fn message_of(size: usize) -> Vec<u8> {
    let mut m = b"Subject: x\r\n\r\n".to_vec();
    while m.len() + 100 <= size {
        m.extend_from_slice(&[b'b'; 98]);
        m.extend_from_slice(b"\r\n");
    }
    let rest = size - m.len();
    assert!(rest >= 2, "sizes chosen to end in a whole line");
    m.extend(std::iter::repeat_n(b'c', rest - 2));
    m.extend_from_slice(b"\r\n.\r\n");
    m
}

/// The captured client sent 20,345 octets; one that sends another size,
/// and one that leaves before the capture's end, diverge (the captured
/// reply is still played).
#[tokio::test]
async fn another_message_size_and_an_early_end_diverge() {
    let server = MockServer::start(Scenario::from_yaml(EXIM).unwrap())
        .await
        .unwrap();
    let mut c = RawClient::connect(server.addr()).await;
    c.reply().await;
    c.send(b"EHLO GP\r\n").await;
    c.reply().await;
    assert_eq!(c.cmd("MAIL FROM: <gurpartap@patriots.in>").await, 250);
    assert_eq!(c.cmd("RCPT TO: <raj_deol2002in@yahoo.co.in>").await, 250);
    assert_eq!(c.cmd("DATA").await, 354);
    c.send(&message_of(20344)).await;
    assert_eq!(c.reply().await, ["250 OK id=1Mugho-0003Dg-Un"]);
    drop(c);
    let t = server.wait_for_sessions(1).await.unwrap();
    let d: Vec<_> = t
        .divergences()
        .into_iter()
        .map(|(_, d)| (d.step, d.expected, d.got))
        .collect();
    assert_eq!(
        d,
        [
            (
                5,
                "<message of 20345 octets>".to_string(),
                "<message of 20344 octets>".to_string()
            ),
            (6, "QUIT".to_string(), "<end of session>".to_string()),
        ]
    );
}

#[tokio::test]
async fn a_different_client_is_reported_with_line_expected_and_got() {
    let server = MockServer::start(Scenario::from_yaml(EXIM).unwrap())
        .await
        .unwrap();
    let mut c = RawClient::connect(server.addr()).await;
    c.reply().await;
    c.send(b"EHLO other.client\r\n").await;
    let ehlo = c.reply().await;
    assert_eq!(
        ehlo[0], "250-xc90.websitewelcome.com Hello GP [122.162.143.157]",
        "same verb: captured reply"
    );
    // This client skips MAIL and goes straight to RCPT: the replay follows it.
    assert_eq!(c.cmd("RCPT TO:<someone@else>").await, 250);
    assert_eq!(
        c.cmd("NOOP").await,
        250,
        "nothing captured: the built-in server answers"
    );
    c.send(b"QUIT\r\n").await;
    c.reply().await;
    let t = server.wait_for_sessions(1).await.unwrap();
    let d: Vec<_> = t
        .divergences()
        .into_iter()
        .map(|(_, d)| (d.step, d.expected, d.got))
        .collect();
    assert_eq!(
        d,
        [
            (1, "EHLO GP".to_string(), "EHLO other.client".to_string()),
            (
                2,
                "MAIL FROM: <gurpartap@patriots.in>".to_string(),
                "RCPT TO:<someone@else>".to_string()
            ),
            (4, "DATA".to_string(), "NOOP".to_string()),
            (4, "DATA".to_string(), "QUIT".to_string()),
        ]
    );
    assert!(t.to_text().contains("diverged at captured step 1"));
}

#[test]
fn replay_steps_are_checked() {
    let err = Scenario::from_yaml(
        "replay:\n  sessions:\n    - steps:\n        - client: EHLO\n          data: 3\n",
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("<inline>:4:11: a replay step takes one of"),
        "{err}"
    );
    let err = Scenario::from_yaml("replay:\n  sessions:\n    - banner: [\"hello\"]\n").unwrap_err();
    assert!(
        err.to_string()
            .contains("does not start with a three-digit code"),
        "{err}"
    );
}

/// A capture with a BDAT whose chunk reads like a command, as `import` writes
/// it from a JSON Lines transcript of `serve`.
const CHUNKED: &str = r#"
replay:
  sessions:
    - banner: ["220 mx.example.test ESMTP"]
      steps:
        - client: "EHLO x"
          reply: ["250-mx.example.test", "250-PIPELINING", "250 CHUNKING"]
        - client: "MAIL FROM:<a@b>"
          reply: ["250 2.1.0 Ok"]
        - client: "RCPT TO:<c@d>"
          reply: ["250 2.1.5 Ok"]
        - client: "BDAT 6 LAST"
          reply: ["250 2.0.0 Ok: queued as 0000010001"]
        - client: "QUIT"
          reply: ["221 2.0.0 Bye"]
      end: server_closed
"#;

#[tokio::test]
async fn a_replayed_bdat_reads_its_chunk_before_the_captured_answer() {
    let server = MockServer::start(Scenario::from_yaml(CHUNKED).unwrap())
        .await
        .unwrap();
    let mut c = RawClient::connect(server.addr()).await;
    assert_eq!(c.code().await, 220);
    c.send(b"EHLO x\r\n").await;
    assert_eq!(c.reply().await.len(), 3);
    assert_eq!(c.cmd("MAIL FROM:<a@b>").await, 250);
    assert_eq!(c.cmd("RCPT TO:<c@d>").await, 250);
    // The chunk's six octets are `NOOP\r\n`: read as a command they would
    // get a reply of their own and put the session one reply behind.
    c.send(b"BDAT 6 LAST\r\nNOOP\r\nQUIT\r\n").await;
    assert_eq!(c.reply().await, ["250 2.0.0 Ok: queued as 0000010001"]);
    assert_eq!(c.reply().await, ["221 2.0.0 Bye"]);
    assert!(c.closed().await);
    let t = server.wait_for_sessions(1).await.unwrap();
    assert_eq!(
        t.divergences(),
        [],
        "the client did what the captured one did"
    );
}
