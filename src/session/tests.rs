//! The state machine without sockets: feed lines, check replies and state.

use super::*;
use crate::protocol::codec::DataBody;
use crate::scenario::Scenario;
use bytes::Bytes;
use rstest::rstest;

pub(super) fn session(yaml: &str) -> Session {
    let scenario = Scenario::from_yaml(yaml).unwrap_or_else(|e| panic!("{e}"));
    let addr: SocketAddr = "127.0.0.1:2525".parse().unwrap();
    let info = SessionInfo {
        id: 1,
        peer: "127.0.0.1:40000".parse().unwrap(),
        local: addr,
    };
    let mut s = Session::new(scenario.plan_arc(), info);
    let greeting = s.greeting();
    assert!(greeting.reply.is_some());
    s
}

pub(super) fn code(s: &mut Session, line: &str) -> u16 {
    s.command(line.as_bytes()).reply.map_or(0, |r| r.code)
}

fn body(text: &str) -> DataBody {
    DataBody::plain(Bytes::from(text.to_string()))
}

#[rstest]
#[case(&["MAIL FROM:<a@b>"], 503)]
#[case(&["EHLO x", "RCPT TO:<a@b>"], 503)]
#[case(&["EHLO x", "DATA"], 503)]
// Postfix's wording: a transaction without recipients is 554.
#[case(&["EHLO x", "MAIL FROM:<a@b>", "DATA"], 554)]
#[case(&["EHLO x", "MAIL FROM:<a@b>", "MAIL FROM:<a@b>"], 503)]
#[case(&["EHLO"], 501)]
#[case(&["EHLO x", "MAIL FROM a@b"], 501)]
#[case(&["EHLO x", "MAIL FROM:<a@b>", "RCPT TO:<>"], 501)]
#[case(&["EHLO x", "MAIL FROM:<a@b> SIZE=99999999999"], 552)]
#[case(&["EHLO x", "DATA extra"], 503)]
#[case(&["EHLO x", "MAIL FROM:<a@b>", "RCPT TO:<c@d>", "DATA extra"], 501)]
#[case(&["EHLO x", "RSET now"], 501)]
#[case(&["VRFY"], 501)]
#[case(&["VRFY postmaster"], 252)]
#[case(&["EXPN list"], 502)]
#[case(&["X-UNKNOWN"], 500)]
#[case(&[""], 500)]
#[case(&["HELP"], 214)]
#[case(&["NOOP"], 250)]
#[case(&["QUIT"], 221)]
fn builtin_sequencing(#[case] lines: &[&str], #[case] last: u16) {
    let mut s = session("{}");
    let codes: Vec<u16> = lines.iter().map(|l| code(&mut s, l)).collect();
    assert_eq!(*codes.last().unwrap(), last, "{lines:?} -> {codes:?}");
}

#[test]
fn full_transaction_and_reset() {
    let mut s = session("{}");
    assert_eq!(code(&mut s, "EHLO client"), 250);
    assert_eq!(code(&mut s, "MAIL FROM:<a@example.com>"), 250);
    assert_eq!(code(&mut s, "RCPT TO:<b@example.com>"), 250);
    let data = s.command(b"DATA");
    assert_eq!(data.next, Next::Data);
    let done = s.data_done(body("Subject: t\r\n\r\nhi\r\n"));
    let msg = done.message.expect("stored");
    assert_eq!(msg.mail_from, "a@example.com");
    assert_eq!(msg.rcpt_to(), ["b@example.com"]);
    assert!(done.reply.unwrap().lines[0].contains(&msg.queue_id));
    assert_eq!(s.state(), StateName::Greeted);
    assert_eq!(code(&mut s, "MAIL FROM:<c@example.com>"), 250);
    assert_eq!(code(&mut s, "RSET"), 250);
    assert_eq!(s.state(), StateName::Greeted);
    assert_eq!(s.command(b"QUIT").next, Next::Close);
}

#[test]
fn too_many_recipients_gets_452() {
    let mut s = session("limits: {recipients: 2}");
    code(&mut s, "HELO x");
    code(&mut s, "MAIL FROM:<a@b>");
    assert_eq!(code(&mut s, "RCPT TO:<1@b>"), 250);
    assert_eq!(code(&mut s, "RCPT TO:<2@b>"), 250);
    assert_eq!(code(&mut s, "RCPT TO:<3@b>"), 452);
}

#[test]
fn oversized_and_long_line_messages_are_refused_not_stored() {
    let mut s = session("{}");
    for l in ["HELO x", "MAIL FROM:<a@b>", "RCPT TO:<c@d>", "DATA"] {
        code(&mut s, l);
    }
    let out = s.data_done(DataBody {
        too_big: true,
        ..body("x")
    });
    assert_eq!(out.reply.unwrap().code, 552);
    assert!(out.message.is_none());
}

#[test]
fn rules_match_by_verb_args_state_and_count() {
    let mut s = session(
        r#"
rules:
  - verb: RCPT
    args: "(?i)<nobody@"
    reply: "550 5.1.1 User unknown"
  - verb: MAIL
    nth: 2
    reply: "451 4.3.0 try again"
  - verb: NOOP
    state: connected
    reply: "250 early noop"
  - verb: VRFY
    times: 1
    reply: "550 first only"
"#,
    );
    assert_eq!(s.command(b"NOOP").reply.unwrap().lines[0], "early noop");
    assert_eq!(code(&mut s, "VRFY x"), 550);
    assert_eq!(code(&mut s, "VRFY x"), 252);
    code(&mut s, "EHLO x");
    assert_eq!(s.command(b"NOOP").reply.unwrap().lines[0], "2.0.0 Ok");
    assert_eq!(code(&mut s, "MAIL FROM:<a@b>"), 250);
    let out = s.command(b"RCPT TO:<Nobody@example.com>");
    assert_eq!(out.reply.unwrap().code, 550);
    assert_eq!(out.rule.as_deref(), Some("rule 1"));
    // The rejected RCPT left no recipient: Postfix's 554 "no valid recipients".
    assert_eq!(code(&mut s, "DATA"), 554);
    code(&mut s, "RSET");
    assert_eq!(code(&mut s, "MAIL FROM:<a@b>"), 451);
    assert_eq!(
        s.state(),
        StateName::Greeted,
        "a 4xx to MAIL starts no transaction"
    );
}

#[test]
fn reply_code_decides_the_effect_of_a_rule() {
    let mut s = session(
        r#"
rules:
  - verb: MAIL
    reply: "250 2.1.0 anything goes"
  - verb: QUIT
    reply: "221 2.0.0 later"
  - verb: RSET
    reply: "250 ok"
    then: close
"#,
    );
    // The rule's 250 starts a transaction even before HELO.
    assert_eq!(code(&mut s, "MAIL FROM:broken"), 250);
    assert_eq!(s.state(), StateName::Mail);
    assert_eq!(code(&mut s, "RCPT TO:<x@y>"), 250);
    assert_eq!(s.command(b"RSET").next, Next::Close);
}

#[test]
fn refused_banner_answers_503_until_quit() {
    let scenario =
        Scenario::from_yaml("banner: {reply: '554 5.3.2 No SMTP service here'}").unwrap();
    let info = SessionInfo {
        id: 1,
        peer: "127.0.0.1:1".parse().unwrap(),
        local: "127.0.0.1:2".parse().unwrap(),
    };
    let mut s = Session::new(scenario.plan_arc(), info);
    assert_eq!(s.greeting().reply.unwrap().code, 554);
    assert_eq!(code(&mut s, "EHLO x"), 503);
    assert_eq!(s.command(b"QUIT").next, Next::Close);
}

#[test]
fn session_rule_only_in_that_session() {
    let yaml = "rules: [{verb: HELO, session: 2, reply: '421 4.7.0 go away'}]";
    let mut first = session(yaml);
    assert_eq!(code(&mut first, "HELO x"), 250);
    let scenario = Scenario::from_yaml(yaml).unwrap();
    let info = SessionInfo {
        id: 2,
        peer: "127.0.0.1:1".parse().unwrap(),
        local: "127.0.0.1:2".parse().unwrap(),
    };
    let mut second = Session::new(scenario.plan_arc(), info);
    second.greeting();
    let out = second.command(b"HELO x");
    assert_eq!((out.reply.unwrap().code, out.next), (421, Next::Close));
}

#[test]
fn ehlo_renders_keywords_and_placeholders() {
    let mut s = session("hostname: mx.test\nlimits: {message_size: 1000}");
    let reply = s.command(b"EHLO client").reply.unwrap();
    assert_eq!(reply.lines[0], "mx.test");
    assert!(reply.lines.contains(&"SIZE 1000".to_string()), "{reply:?}");
    assert!(reply.lines.contains(&"PIPELINING".to_string()));
}

#[test]
fn garbage_lines_get_500_and_do_not_change_state() {
    let mut s = session("{}");
    code(&mut s, "HELO x");
    assert_eq!(code(&mut s, "MAIL\0 FROM:<a@b>"), 500);
    assert_eq!(s.command(&[0xff, 0xfe, b'x']).reply.unwrap().code, 500);
    assert_eq!(s.state(), StateName::Greeted);
}

fn run(s: &mut Session, lines: &[&str]) -> Vec<u16> {
    lines.iter().map(|l| code(s, l)).collect()
}

#[test]
fn routing_records_the_rerouted_mailbox() {
    let mut s = session("extends: exchange55-multi-domain-reroute");
    run(&mut s, &["EHLO x", "MAIL FROM:<someone@example.org>"]);
    assert_eq!(code(&mut s, "RCPT TO:<administrator@cpandl.net>"), 250);
    assert_eq!(code(&mut s, "RCPT TO:<nobody@cpandl.net>"), 550);
    assert_eq!(code(&mut s, "RCPT TO:<user@example.com>"), 550);
    code(&mut s, "DATA");
    let done = s.data_done(body("Subject: t\r\n\r\nhi\r\n"));
    let msg = done.message.expect("stored");
    assert_eq!(msg.recipients.len(), 1);
    assert_eq!(msg.recipients[0].original, "administrator@cpandl.net");
    assert_eq!(msg.recipients[0].delivered_to, "administrator@adatum.com");
    assert!(done.reports.is_empty());
}

#[test]
fn bounced_recipients_produce_one_report_to_the_sender() {
    let mut s = session("extends: exchange55-ims-smtp-only");
    run(&mut s, &["EHLO x", "MAIL FROM:<administrator@domain.com>"]);
    assert_eq!(
        code(&mut s, "RCPT TO:<[SMTPOUT:user@internal.domain.com]>"),
        250
    );
    code(&mut s, "DATA");
    let done = s.data_done(body("Subject: Test Subject\r\n\r\nhi\r\n"));
    assert!(done.message.is_none(), "the only recipient bounced");
    let [ndr] = &done.reports[..] else {
        panic!("{:?}", done.reports)
    };
    assert_eq!(ndr.mail_from, "");
    assert_eq!(ndr.recipients[0].delivered_to, "administrator@domain.com");
    assert!(
        ndr.text()
            .unwrap()
            .contains("(000D06B5) No proxy for Recipient")
    );
}

#[test]
fn xclient_sets_the_client_and_restarts() {
    let mut s = session("extends: exchange55-relay-restricted");
    // The IMS's EHLO list stays the product's: XCLIENT works unadvertised.
    let ehlo = s.command(b"EHLO x").reply.unwrap();
    assert!(!ehlo.lines.iter().any(|l| l.starts_with("XCLIENT")), "{ehlo:?}");
    run(&mut s, &["MAIL FROM:<a@adatum.com>"]);
    assert_eq!(code(&mut s, "RCPT TO:<user@example.com>"), 550);
    assert_eq!(code(&mut s, "XCLIENT ADDR=192.168.0.1"), 503);
    code(&mut s, "RSET");
    assert_eq!(code(&mut s, "XCLIENT FOO=1"), 501);
    assert_eq!(
        code(&mut s, "XCLIENT ADDR=192.168.0.1 NAME=client.adatum.com"),
        220
    );
    assert_eq!(s.state(), StateName::Connected);
    assert_eq!(s.client_ip().to_string(), "192.168.0.1");
    run(&mut s, &["EHLO x", "MAIL FROM:<a@adatum.com>"]);
    assert_eq!(code(&mut s, "RCPT TO:<user@example.com>"), 250);
}

#[test]
fn xclient_needs_the_scenario_and_an_allowed_client() {
    let mut s = session("{}");
    assert_eq!(code(&mut s, "XCLIENT ADDR=192.168.0.1"), 502);
    let ehlo = s.command(b"EHLO x").reply.unwrap();
    assert!(!ehlo.lines.iter().any(|l| l.starts_with("XCLIENT")));
    let mut s = session("xclient: {hosts: [10.0.0.0/8]}");
    assert_eq!(code(&mut s, "XCLIENT ADDR=192.168.0.1"), 550);
}

#[test]
fn xclient_is_advertised_unless_told_not_to() {
    let mut s = session("xclient: {}");
    let ehlo = s.command(b"EHLO x").reply.unwrap();
    assert_eq!(ehlo.lines.last().unwrap(), "XCLIENT ADDR NAME");
    let mut s = session("xclient: {advertise: false}");
    let ehlo = s.command(b"EHLO x").reply.unwrap();
    assert!(!ehlo.lines.iter().any(|l| l.starts_with("XCLIENT")), "{ehlo:?}");
    assert_eq!(code(&mut s, "XCLIENT ADDR=192.168.0.1"), 220);
}

#[test]
fn a_message_that_could_not_be_stored_gets_451_and_its_queue_id_is_reused() {
    let mut s = session("{}");
    run(
        &mut s,
        &["EHLO x", "MAIL FROM:<a@b.c>", "RCPT TO:<d@e.f>", "DATA"],
    );
    let first = s.data_done(body("Subject: 1\r\n\r\nx\r\n"));
    let lost = first.message.expect("accepted").queue_id;
    let reply = s.store_failed();
    assert_eq!(reply.code, 451);
    assert!(reply.lines[0].starts_with("4.3.0 "), "{reply:?}");
    // The transaction is over either way (the client starts again with MAIL).
    assert_eq!(s.state(), StateName::Greeted);
    run(&mut s, &["MAIL FROM:<a@b.c>", "RCPT TO:<d@e.f>", "DATA"]);
    let second = s.data_done(body("Subject: 2\r\n\r\nx\r\n"));
    assert_eq!(second.message.expect("accepted").queue_id, lost);
}

#[test]
fn a_rule_answering_bdat_waits_for_its_chunk() {
    let mut s = session(
        "ehlo: {keywords: [CHUNKING]}\nrules:\n  - verb: BDAT\n    args: LAST\n    reply: \"554 5.7.1 no\"\n",
    );
    for line in ["EHLO x", "MAIL FROM:<a@b>", "RCPT TO:<c@d>"] {
        assert_eq!(code(&mut s, line), 250);
    }
    let out = s.command(b"BDAT 4 LAST");
    assert!(out.reply.is_none(), "answered only after the chunk");
    assert_eq!(
        out.next,
        Next::Chunk {
            size: 4,
            last: true
        }
    );
    assert_eq!(s.chunk_kept(), 0, "the answer is decided: nothing to keep");
    let out = s.chunk_done(Bytes::from_static(b"NOOP"), 4, true);
    assert_eq!(out.reply.map(|r| r.code), Some(554));
    assert_eq!(out.next, Next::Command);
    assert_eq!(s.chunk_kept(), s.plan().limits.message_size);
    // CHUNKING not offered (not advertised, or no EHLO answered yet; a
    // PIX that refuses EHLO): BDAT is a line like any other.
    let mut plain = session("rules:\n  - verb: BDAT\n    reply: \"554 5.7.1 no\"\n");
    assert_eq!(code(&mut plain, "EHLO x"), 250);
    assert_eq!(code(&mut plain, "BDAT 4 LAST"), 554);
    let mut helo = session(
        "ehlo: {keywords: [CHUNKING]}\nrules:\n  - verb: BDAT\n    reply: \"554 5.7.1 no\"\n",
    );
    assert_eq!(code(&mut helo, "BDAT 4 LAST"), 554, "before EHLO");
    assert_eq!(code(&mut helo, "HELO x"), 250);
    assert_eq!(code(&mut helo, "BDAT 4 LAST"), 554, "after HELO");
}

/// `dialect: postfix` (each reply checked against a real Postfix 3.7 by
/// tests/fidelity_postfix.rs; here without one, so they run everywhere).
#[rstest]
#[case(&["MAIL FROM:<a@b>"], "250 2.1.0 Ok")]
#[case(&["EHLO x", "ETRN"], "500 Syntax: ETRN domain")]
#[case(&["EHLO x", "ETRN x"], "459 <x>: service unavailable")]
#[case(&["EHLO x", "ETRN @example.com"], "459 <example.com>: service unavailable")]
#[case(&["EHLO x", "ETRN 10.0.0.1"], "501 Error: invalid parameter syntax")]
#[case(&["EHLO x", "MAIL FROM:<a@b>", "ETRN x"], "503 Error: MAIL transaction in progress")]
#[case(&["EHLO x", "VRFY <b@example.com>"], "252 2.0.0 <b@example.com>")]
#[case(&["EHLO x", "VRFY a b"], "501 5.5.4 Syntax: VRFY address [SMTPUTF8]")]
#[case(&["EHLO x", "AUTH PLAIN"], "503 5.5.1 Error: authentication not enabled")]
#[case(&["EHLO x", "XCLIENT ADDR=192.0.2.1"], "550 5.7.0 Error: insufficient authorization")]
#[case(&["EHLO x", "XFORWARD ADDR=192.0.2.1"], "550 5.7.0 Error: insufficient authorization")]
#[case(&["EHLO x", "MAIL\tFROM:<a@b>"], "250 2.1.0 Ok")]
#[case(&["EHLO x", "NOOP\u{0}x"], "250 2.0.0 Ok")]
#[case(&["EHLO x", "NOOP\u{1}"], "500 5.5.2 Error: command not recognized")]
#[case(&["EHLO x", "MAIL FROM:<a@b> AUTH=<>"], "250 2.1.0 Ok")]
fn postfix_dialect(#[case] lines: &[&str], #[case] last: &str) {
    let mut s = session("dialect: postfix\nreplies: {unknown: '500 5.5.2 Error: command not recognized'}");
    let mut reply = None;
    for l in lines {
        reply = s.command(l.as_bytes()).reply;
    }
    let reply = reply.expect("a reply");
    assert_eq!(format!("{} {}", reply.code, reply.lines[0]), last, "{lines:?}");
}

#[test]
fn postfix_dialect_refuses_invalid_utf8_and_accepts_long_addresses() {
    let mut s = session("dialect: postfix");
    let bad = s.command(b"\xe9HLO x").reply.expect("a reply");
    assert_eq!(bad.lines[0], "5.5.2 Error: bad UTF-8 syntax");
    code(&mut s, "EHLO x");
    let long = format!("MAIL FROM:<{}@example.org>", "a".repeat(300));
    assert_eq!(code(&mut s, &long), 250);
    let mut rfc = session("{}");
    code(&mut rfc, "EHLO x");
    assert_eq!(code(&mut rfc, &long), 501);
}

/// The TLS and AUTH state refusals take the scenario's words (an Exchange
/// scenario sets them), Postfix's when unset.
#[test]
fn state_refusals_are_worded_by_the_scenario() {
    let text = |s: &mut Session, line: &str| {
        s.command(line.as_bytes())
            .reply
            .map(|r| format!("{} {}", r.code, r.lines.join(" ")))
            .unwrap_or_default()
    };
    let mut plain = session("tls: {}\n");
    text(&mut plain, "EHLO x");
    assert!(text(&mut plain, "STARTTLS").starts_with("220"));
    plain.tls_started();
    assert_eq!(text(&mut plain, "STARTTLS"), "554 5.5.1 Error: TLS already active");
    let mut worded = session("tls: {}\nreplies: {tls_active: '503 5.5.2 Already in TLS mode'}\n");
    text(&mut worded, "EHLO x");
    text(&mut worded, "STARTTLS");
    worded.tls_started();
    assert_eq!(text(&mut worded, "STARTTLS"), "503 5.5.2 Already in TLS mode");
}
