//! Clients nobody here wrote: lettre (Rust) and Python's smtplib, against
//! bundled scenarios over real TCP.

mod common;

use common::tools::python3;
use lettre::message::header::ContentType;
use lettre::{Message as Mail, SmtpTransport, Transport};
use smtp_harness::{MockServer, Scenario};

fn lettre_send(
    port: u16,
    body: &str,
) -> Result<lettre::transport::smtp::response::Response, lettre::transport::smtp::Error> {
    let mail = Mail::builder()
        .from("Alice <alice@example.org>".parse().unwrap())
        .to("Bob <bob@adatum.com>".parse().unwrap())
        .subject("harness test")
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_string())
        .unwrap();
    let transport = SmtpTransport::builder_dangerous("127.0.0.1")
        .port(port)
        .build();
    transport.send(&mail)
}

#[test]
fn lettre_delivers_to_exchange_2003() {
    let server = MockServer::start_blocking(Scenario::bundled("exchange-2003").unwrap()).unwrap();
    let body = "Hello from lettre.\n.leading dot survives dot-stuffing\n";
    let response = lettre_send(server.addr().port(), body).expect("lettre sends");
    assert_eq!(response.code().to_string(), "250");
    let msgs = server.messages();
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(m.mail_from, "alice@example.org");
    assert_eq!(m.rcpt_to(), ["bob@adatum.com"]);
    assert_eq!(
        m.header("Subject").unwrap().as_deref(),
        Some("harness test")
    );
    assert!(
        m.text()
            .unwrap()
            .contains("\r\n.leading dot survives dot-stuffing\r\n"),
        "{}",
        m.text().unwrap()
    );
    let t = server.wait_for_sessions_blocking(1).unwrap();
    assert!(t.client_sent("EHLO"));
    assert!(!t.client_sent("HELO"));
}

#[test]
fn lettre_sees_a_rejected_recipient() {
    let scenario = Scenario::from_yaml(
        "extends: exchange-2019\nrules:\n  - verb: RCPT\n    args: '(?i)bob@'\n    reply: '550 5.1.1 User unknown'\n",
    )
    .unwrap();
    let server = MockServer::start_blocking(scenario).unwrap();
    let err = lettre_send(server.addr().port(), "x").expect_err("recipient refused");
    assert!(err.is_permanent(), "{err}");
    assert!(err.to_string().contains("User unknown"), "{err}");
    assert!(server.messages().is_empty());
}

/// Python's smtplib is in every python3; it falls back to HELO when EHLO
/// is refused, which is what a PIX does to clients.
#[test]
fn smtplib_falls_back_to_helo_through_pix_mailguard() {
    let server = MockServer::start_blocking(Scenario::bundled("pix-mailguard").unwrap()).unwrap();
    let script = r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s.sendmail("alice@example.org", ["bob@adatum.com"], "Subject: via pix\r\n\r\nbody\r\n")
print("esmtp" if s.does_esmtp else "smtp")
s.quit()
"#;
    let out = python3(script, &[server.addr().port().to_string()]);
    assert_eq!(out.trim(), "smtp", "smtplib fell back to plain SMTP");
    let t = server.wait_for_sessions_blocking(1).unwrap();
    let cmds = t.sessions[0].commands();
    assert!(cmds[0].to_ascii_uppercase().starts_with("EHLO"), "{cmds:?}");
    assert!(cmds[1].to_ascii_uppercase().starts_with("HELO"), "{cmds:?}");
    assert_eq!(
        t.sessions[0].reply_codes_on(smtp_harness::Leg::Client)[..2],
        [220, 500]
    );
    assert_eq!(
        server.messages()[0].header("subject").unwrap().as_deref(),
        Some("via pix")
    );
}
