//! SMTP smuggling end to end, with a real Postfix (Debian 12's 3.7) as the
//! gateway under test: a raw-socket client sends it a message whose text
//! holds a non-standard end of data and a second transaction; Postfix
//! relays what it accepted to a `MockServer` running the bundled
//! `smtp-smuggling-receiver`; the test counts what the harness received.
//!
//! What Postfix 3.7.11 does (measured here, and the reason for
//! `postfix-default`'s `end_of_data: postfix`):
//! - with its defaults it ends a message at `<LF>.<CRLF>` itself, so the
//!   smuggled transaction becomes a second message it relays;
//! - with `smtpd_forbid_bare_newline = normalize` (or `yes`) it ends only
//!   at `<CRLF>.<CRLF>`, turns bare LFs into CRLFs and drops the
//!   non-standard "." line: one message, the smuggled commands as text;
//! - with `smtpd_forbid_bare_newline = reject` it answers
//!   `550 5.5.2 <host> Error: bare <LF> received` at the end of the
//!   message and relays nothing (and to a command ending in a bare LF the
//!   same, then closes the connection);
//! - a bare CR it turns into a space, so `<CR>.<CR>` never reaches the
//!   receiver: one message, although the receiver would have split it.

mod common;

use common::postfix::PostfixBuilder;
use smtp_harness::{Leg, MockServer, Scenario};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Every read is bounded: a hang is a failure.
const STEP: Duration = Duration::from_secs(20);

const SPOOFED: &str = "admin@bank.example";

/// The text of a first message, ended by `end` (not a standard end), then
/// a whole second transaction, then the real end.
fn payload(end: &[u8]) -> Vec<u8> {
    [
        &b"Subject: first\r\n\r\nfirst message"[..],
        end,
        format!(
            "MAIL FROM:<{SPOOFED}>\r\nRCPT TO:<victim@dest.example>\r\nDATA\r\n\
             Subject: smuggled\r\n\r\nsmuggled message\r\n.\r\n"
        )
        .as_bytes(),
    ]
    .concat()
}

/// What a client saw: every reply's first line, in order.
struct Seen {
    replies: Vec<String>,
}

impl Seen {
    /// How many messages the server said it accepted.
    fn queued(&self) -> usize {
        self.replies
            .iter()
            .filter(|r| r.starts_with("250") && r.contains("queued"))
            .count()
    }
}

/// Send one message with `body` (raw, sent as is after the 354, its end
/// included), then QUIT; read every reply until the server's 221 or its close.
fn send(addr: SocketAddr, body: &[u8]) -> Seen {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(STEP)).expect("timeout");
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    let mut replies = Vec::new();
    let mut read = |replies: &mut Vec<String>| -> bool {
        let mut first = None;
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return false,
                Ok(_) => {}
            }
            first.get_or_insert_with(|| line.trim_end().to_string());
            if line.as_bytes().get(3) != Some(&b'-') {
                break;
            }
        }
        replies.extend(first);
        true
    };
    read(&mut replies);
    for cmd in [
        "EHLO client.example",
        "MAIL FROM:<user@client.example>",
        "RCPT TO:<victim@dest.example>",
        "DATA",
    ] {
        writer
            .write_all(format!("{cmd}\r\n").as_bytes())
            .expect("write");
        read(&mut replies);
    }
    // A server that refuses the message may close before all of it is
    // written: what it answered is what counts.
    let _ = writer.write_all(body);
    let _ = writer.write_all(b"QUIT\r\n");
    while read(&mut replies) {
        if replies.last().is_some_and(|r| r.starts_with("221")) {
            break;
        }
    }
    Seen { replies }
}

fn receiver() -> MockServer {
    let scenario = Scenario::bundled("smtp-smuggling-receiver").expect("bundled");
    MockServer::start_blocking(scenario).expect("server")
}

/// Wait until the harness has had one session per message Postfix
/// accepted (one message per connection: `smtp_connection_cache_on_demand
/// = no`), so every delivery is complete, and return what it received.
fn delivered(harness: &MockServer, accepted: usize) -> Vec<smtp_harness::Message> {
    harness
        .wait_for_sessions_blocking(accepted as u64)
        .expect("Postfix delivered what it accepted");
    harness.messages()
}

#[test]
fn postfix_defaults_split_lf_dot_crlf_into_two_messages() {
    let harness = receiver();
    let Some(pf) = PostfixBuilder::new("postfix_defaults_split_lf_dot_crlf_into_two_messages")
        .hostname("gateway.example.test")
        .relayhost(harness.addr())
        .start()
    else {
        return;
    };
    let seen = send(pf.addr(), &payload(b"\n.\r\n"));
    assert_eq!(seen.queued(), 2, "{:?}\n{}", seen.replies, pf.log());
    let got = delivered(&harness, 2);
    assert_eq!(got.len(), 2, "{:?}", seen.replies);
    let senders: Vec<&str> = got.iter().map(|m| m.mail_from.as_str()).collect();
    assert!(senders.contains(&SPOOFED), "{senders:?}");
}

#[test]
fn postfix_normalizing_bare_newlines_relays_one_message() {
    let harness = receiver();
    let Some(pf) = PostfixBuilder::new("postfix_normalizing_bare_newlines_relays_one_message")
        .hostname("gateway.example.test")
        .relayhost(harness.addr())
        .set("smtpd_forbid_bare_newline", "normalize")
        .set("smtpd_forbid_bare_newline_exclusions", "")
        .start()
    else {
        return;
    };
    let seen = send(pf.addr(), &payload(b"\n.\r\n"));
    assert_eq!(seen.queued(), 1, "{:?}\n{}", seen.replies, pf.log());
    let got = delivered(&harness, 1);
    assert_eq!(got.len(), 1, "the receiver, lenient as it is, gets one");
    let text = got[0].text().expect("text");
    // The bare LF became a CRLF and the non-standard "." line is gone
    // (measured: Postfix 3.7.11 drops it); the smuggled commands are text.
    assert!(
        text.contains("first message\r\nMAIL FROM:<admin@bank.example>\r\n"),
        "{text:?}"
    );
    assert_eq!(got[0].bare_newlines, 0);
}

#[test]
fn postfix_forbidding_bare_newlines_relays_nothing() {
    let harness = receiver();
    let Some(pf) = PostfixBuilder::new("postfix_forbidding_bare_newlines_relays_nothing")
        .hostname("gateway.example.test")
        .relayhost(harness.addr())
        .set("smtpd_forbid_bare_newline", "reject")
        // The default excludes $mynetworks, which holds our loopback client.
        .set("smtpd_forbid_bare_newline_exclusions", "")
        .start()
    else {
        return;
    };
    let seen = send(pf.addr(), &payload(b"\n.\r\n"));
    assert_eq!(seen.queued(), 0, "{:?}", seen.replies);
    let refusal = "550 5.5.2 gateway.example.test Error: bare <LF> received";
    assert!(
        seen.replies.iter().any(|r| r == refusal),
        "{:?}",
        seen.replies
    );
    // Our emulation of that setting answers with the same words.
    let ours = Scenario::from_yaml(
        "extends: postfix-default\nhostname: gateway.example.test\n\
         data: {bare_newline: {refuse: lf}}",
    );
    let ours = MockServer::start_blocking(ours.expect("scenario")).expect("server");
    let mock = send(ours.addr(), &payload(b"\n.\r\n"));
    // Same replies, in the same order (the 550 at the end of the message,
    // then QUIT answered), but for the greeting and EHLO list.
    assert_eq!(mock.replies[2..], seen.replies[2..], "{:?}", mock.replies);
    assert!(harness.messages().is_empty());

    // A command ending in a bare LF: refused and the connection closed,
    // by both.
    for addr in [pf.addr(), ours.addr()] {
        let (reply, closed) = bare_lf_noop(addr);
        assert_eq!(reply, refusal, "{addr}");
        assert!(closed, "{addr}: the connection stays open");
    }
}

/// `NOOP<LF>` after EHLO: the reply's first line, and whether the server
/// then closed the connection.
fn bare_lf_noop(addr: SocketAddr) -> (String, bool) {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(STEP)).expect("timeout");
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    let reply = |reader: &mut BufReader<TcpStream>| {
        let mut first = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return first;
            }
            if first.is_empty() {
                first = line.trim_end().to_string();
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return first;
            }
        }
    };
    reply(&mut reader);
    writer.write_all(b"EHLO client.example\r\n").expect("write");
    reply(&mut reader);
    writer.write_all(b"NOOP\n").expect("write");
    let refused = reply(&mut reader);
    let mut rest = String::new();
    let closed = matches!(reader.read_line(&mut rest), Ok(0));
    (refused, closed)
}

#[test]
fn postfix_turns_a_bare_cr_into_a_space_so_cr_dot_cr_arrives_as_one_message() {
    let harness = receiver();
    // Sent straight to the receiver, the payload is two messages …
    let direct = send(harness.addr(), &payload(b"\r.\r"));
    assert_eq!(direct.queued(), 2, "{:?}", direct.replies);
    let first = &harness.messages()[0];
    assert_eq!(first.end_of_data.as_deref(), Some("<CR>.<CR>"));
    harness
        .wait_for_sessions_blocking(1)
        .expect("direct session");
    // … through Postfix it is one, without its bare CRs.
    let Some(pf) = PostfixBuilder::new("postfix_turns_a_bare_cr_into_a_space")
        .hostname("gateway.example.test")
        .relayhost(harness.addr())
        .start()
    else {
        return;
    };
    let seen = send(pf.addr(), &payload(b"\r.\r"));
    assert_eq!(seen.queued(), 1, "{:?}", seen.replies);
    let got = delivered(&harness, 2);
    assert_eq!(got.len(), 3, "two direct, one through Postfix");
    let relayed = &got[2];
    assert!(!relayed.ended_non_standard());
    assert_eq!(relayed.bare_newlines, 0);
    let text = relayed.text().expect("text");
    assert!(
        text.contains("first message . MAIL FROM:<admin@bank.example>"),
        "{text}"
    );
    let ends = harness.transcript().data_ends(Leg::Client);
    assert!(ends[0].non_standard(), "{ends:?}");
}

/// The differential check of `postfix-default`'s `end_of_data: postfix`:
/// for every sequence, the real Postfix and the scenario accept the same
/// number of messages.
#[test]
fn postfix_default_ends_data_where_the_real_postfix_does() {
    let harness = receiver();
    let Some(pf) = PostfixBuilder::new("postfix_default_ends_data_where_the_real_postfix_does")
        .hostname("gateway.example.test")
        .relayhost(harness.addr())
        .start()
    else {
        return;
    };
    let ours = Scenario::bundled("postfix-default").expect("bundled");
    let ours = MockServer::start_blocking(ours).expect("server");
    let mut table = Vec::new();
    for before in ["\r\n", "\n", "\r"] {
        for after in ["\r\n", "\n", "\r"] {
            if (before, after) == ("\r\n", "\r\n") {
                continue;
            }
            let end = format!("{before}.{after}");
            let real = send(pf.addr(), &payload(end.as_bytes())).queued();
            let mock = send(ours.addr(), &payload(end.as_bytes())).queued();
            table.push((end.escape_debug().to_string(), real, mock));
        }
    }
    let differ: Vec<_> = table.iter().filter(|(_, r, m)| r != m).collect();
    assert!(differ.is_empty(), "sequence, real, ours: {table:?}");
    // The sequences Postfix 3.7 ends at: the `postfix` preset's.
    let split: Vec<&str> = table
        .iter()
        .filter(|(_, r, _)| *r == 2)
        .map(|(e, _, _)| e.as_str())
        .collect();
    assert_eq!(split, ["\\r\\n.\\n", "\\n.\\r\\n", "\\n.\\n"], "{table:?}");
}
