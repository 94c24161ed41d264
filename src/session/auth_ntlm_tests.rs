//! AUTH NTLM and GSSAPI without sockets: both NTLM forms, garbage at each
//! step, and what the transcript may keep.

use super::tests::{code, session};
use super::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// nmap's NEGOTIATE message (smtp-ntlm-info).
const TYPE1: &str = "TlRMTVNTUAABAAAAB4IIoAAAAAAAAAAAAAAAAAAAAAA=";

fn greeted(yaml: &str) -> Session {
    let mut s = session(yaml);
    code(&mut s, "EHLO x");
    s
}

fn reply_text(s: &mut Session, line: &str) -> (u16, String) {
    let out = s.command(line.as_bytes());
    let r = out.reply.expect("a reply");
    (r.code, r.lines.join("\n"))
}

/// A type 3 message for `user` with an NTLMv2-sized but wrong response.
fn type3(user: &str) -> String {
    let user: Vec<u8> = user.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let nt = [9u8; 48];
    let mut m = b"NTLMSSP\0".to_vec();
    m.extend_from_slice(&3u32.to_le_bytes());
    let mut payload = Vec::new();
    for part in [&[][..], &nt, &[], &user, &[], &[]] {
        let len = part.len() as u16;
        m.extend_from_slice(&len.to_le_bytes());
        m.extend_from_slice(&len.to_le_bytes());
        m.extend_from_slice(&(64 + payload.len() as u32).to_le_bytes());
        payload.extend_from_slice(part);
    }
    m.extend_from_slice(&1u32.to_le_bytes());
    m.extend_from_slice(&payload);
    B64.encode(m)
}

#[test]
fn both_forms_get_a_challenge_and_the_exchange_ends_as_scripted() {
    let yaml = "hostname: mail.adatum.com\nauth:\n  mechanisms: [NTLM]\n  users: {alice: pw}\n";
    for inline in [false, true] {
        let mut s = greeted(yaml);
        let (c, challenge) = if inline {
            reply_text(&mut s, &format!("AUTH NTLM {TYPE1}"))
        } else {
            assert_eq!(reply_text(&mut s, "AUTH NTLM"), (334, "NTLM supported".into()));
            reply_text(&mut s, TYPE1)
        };
        assert_eq!(c, 334);
        let raw = B64.decode(challenge).unwrap();
        assert_eq!(&raw[..12], b"NTLMSSP\0\x02\0\0\0");
        // The client's answer is a secret, recorded redacted.
        assert_eq!(&s.shown_line(type3("alice").as_bytes())[..], b"<redacted>");
        // A wrong NTLMv2 proof fails; so does an anonymous message.
        assert_eq!(code(&mut s, &type3("alice")), 535);
        assert_eq!(s.authenticated(), None);
    }
    let mut s = greeted(&format!("{yaml}  accept_any: true\n"));
    code(&mut s, &format!("AUTH NTLM {TYPE1}"));
    assert_eq!(code(&mut s, &type3("")), 535, "anonymous");
    code(&mut s, &format!("AUTH NTLM {TYPE1}"));
    assert_eq!(code(&mut s, &type3("bob")), 235);
    assert_eq!(s.authenticated(), Some("bob"));
}

#[test]
fn garbage_at_each_step_ends_the_exchange() {
    let yaml = "auth:\n  mechanisms: [NTLM]\n  accept_any: true\n";
    let mut s = greeted(yaml);
    assert_eq!(code(&mut s, "AUTH NTLM !!!"), 501);
    assert_eq!(code(&mut s, &format!("AUTH NTLM {}", B64.encode("hello"))), 535);
    assert_eq!(code(&mut s, "AUTH NTLM"), 334);
    assert_eq!(code(&mut s, &B64.encode([0u8; 7])), 535);
    assert_eq!(code(&mut s, "AUTH NTLM"), 334);
    assert_eq!(code(&mut s, TYPE1), 334);
    assert_eq!(code(&mut s, TYPE1), 535, "a type 1 where a type 3 is due");
    assert_eq!(code(&mut s, "NOOP"), 250, "back in command state");
}

#[test]
fn gssapi_fails_without_kerberos_and_mechanisms_follow_tls() {
    let yaml = "tls: {}\nauth:\n  mechanisms: [GSSAPI]\n  mechanisms_after_tls: [LOGIN]\n  accept_any: true\n  replies:\n    failure: 535 5.7.3 Authentication unsuccessful\n    unrecognized: 504 5.7.4 Unrecognized authentication type\n";
    let mut s = greeted(yaml);
    assert_eq!(reply_text(&mut s, "AUTH GSSAPI"), (334, String::new()));
    assert_eq!(
        reply_text(&mut s, "YIIBhwYJKoZIhvcSAQIC"),
        (535, "5.7.3 Authentication unsuccessful".into())
    );
    assert_eq!(
        reply_text(&mut s, "AUTH LOGIN"),
        (504, "5.7.4 Unrecognized authentication type".into())
    );
    s.tls_started();
    code(&mut s, "EHLO x");
    assert_eq!(code(&mut s, "AUTH GSSAPI"), 504);
    assert_eq!(reply_text(&mut s, "AUTH LOGIN"), (334, "VXNlcm5hbWU6".into()));
}
