//! AUTH without sockets: what may be recorded of each line, how a line error
//! ends an exchange, and which PLAIN messages are refused.

use super::tests::{code, session};
use super::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rstest::rstest;

const AUTH: &str = "auth:\n  users: {alice: wonderland}\n";

/// A session of `AUTH`'s scenario that got its EHLO.
fn greeted() -> Session {
    let mut s = session(AUTH);
    code(&mut s, "EHLO x");
    s
}

fn shown(s: &Session, line: &[u8]) -> String {
    String::from_utf8_lossy(&s.shown_line(line)).into_owned()
}

#[rstest]
#[case(b"\0alice\0wonderland", 235)]
#[case(b"alice\0alice\0wonderland", 235)]
#[case(b"\0alice\0wonderland\0", 501)]
#[case(b"\0alice\0wonderland\0extra", 501)]
#[case(b"\0alice\0wonder\0land", 501)]
#[case(b"\0alice\0", 501)]
#[case(b"\0\0wonderland", 501)]
#[case(b"alice wonderland", 501)]
#[case(b"mallory\0alice\0wonderland", 535)]
fn plain_messages(#[case] message: &[u8], #[case] want: u16) {
    let mut s = greeted();
    let line = format!("AUTH PLAIN {}", B64.encode(message));
    assert_eq!(code(&mut s, &line), want, "{message:?}");
    // The same message as a continuation line.
    let mut s = greeted();
    assert_eq!(code(&mut s, "AUTH PLAIN"), 334);
    assert_eq!(code(&mut s, &B64.encode(message)), want);
}

#[rstest]
#[case("AUTH", 501)]
#[case("AUTH PLAIN =", 501)]
#[case("AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ= extra", 501)]
#[case("AUTH CRAM-MD5 dGltIGI5MTNhNjAy", 501)]
#[case("AUTH CRAM-MD5", 334)]
fn auth_command_syntax(#[case] line: &str, #[case] want: u16) {
    let mut s = greeted();
    assert_eq!(code(&mut s, line), want);
}

#[test]
fn every_line_of_an_exchange_is_redacted_before_it_is_answered() {
    let mut s = greeted();
    assert_eq!(shown(&s, b"auth\tlogin\tYWxpY2U="), "auth login <redacted>");
    assert_eq!(code(&mut s, "AUTH LOGIN"), 334);
    assert_eq!(shown(&s, b"YWxpY2U="), "<redacted>");
    assert_eq!(code(&mut s, "YWxpY2U="), 334);
    assert_eq!(shown(&s, b"d29uZGVybGFuZA=="), "<redacted>");
    assert_eq!(code(&mut s, "d29uZGVybGFuZA=="), 235);
    assert_eq!(shown(&s, b"MAIL FROM:<a@b>"), "MAIL FROM:<a@b>");
}

#[test]
fn secrets_are_redacted_without_auth_configured() {
    let s = session("{}");
    assert_eq!(
        shown(&s, b"AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ="),
        "AUTH PLAIN <redacted>"
    );
    let s = session("auth:\n  users: {alice: wonderland}\n  show_secrets: true\n");
    assert_eq!(
        shown(&s, b"AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ="),
        "AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ="
    );
}

/// A rule that answers AUTH with 334 starts an exchange as much as the
/// built-in AUTH does: the client's next line is a credential.
#[test]
fn a_rule_answering_334_starts_an_exchange() {
    let mut s = session("rules:\n  - verb: AUTH\n    reply: '334 VXNlcm5hbWU6'\n");
    code(&mut s, "EHLO x");
    assert_eq!(code(&mut s, "AUTH LOGIN"), 334);
    assert_eq!(shown(&s, b"YWxpY2U="), "<redacted>");
    assert_eq!(code(&mut s, "YWxpY2U="), 500);
    assert_eq!(shown(&s, b"NOOP"), "NOOP", "the 500 ended the exchange");
}

#[rstest]
#[case::builtin(AUTH)]
#[case::rule("rules:\n  - verb: AUTH\n    reply: '334 UGFzc3dvcmQ6'\n")]
fn an_overlong_response_ends_the_exchange(#[case] yaml: &str) {
    let mut s = session(yaml);
    code(&mut s, "EHLO x");
    assert_eq!(code(&mut s, "AUTH LOGIN YWxpY2U="), 334);
    let (recorded, out) = s.line_too_long(b"AGFsaWNlAFMzY3JldFBhc3N3MHJk");
    assert_eq!(&recorded[..], b"<redacted>");
    let reply = out.reply.expect("a reply");
    assert_eq!(reply.code, 500);
    assert!(reply.lines[0].starts_with("5.5.6"), "{reply:?}");
    assert_eq!(out.next, Next::Command);
    assert_eq!(shown(&s, b"MAIL FROM:<a@b>"), "MAIL FROM:<a@b>");
    assert_ne!(code(&mut s, "MAIL FROM:<a@b>"), 501, "read as a command");
}

#[test]
fn an_overlong_auth_line_is_recorded_without_its_argument() {
    let mut s = greeted();
    let (recorded, out) = s.line_too_long(b"AUTH PLAIN AGFsaWNlAFMzY3JldFBhc3N3MHJk");
    assert_eq!(&recorded[..], b"AUTH PLAIN <redacted>");
    assert_eq!(out.reply.map(|r| r.code), Some(500));
    let (recorded, _) = s.line_too_long(b"NOOP NOOP NOOP");
    assert_eq!(&recorded[..], b"NOOP NOOP NOOP");
    assert_eq!(&s.shown_head(b"AUTH PLAIN")[..], b"AUTH <redacted>");
}
