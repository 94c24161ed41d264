//! Real TLS: STARTTLS and implicit TLS with rustls, against Python's ssl and
//! lettre's rustls; scripted failures that detectors must flag.

mod common;

use common::RawClient;
use smtp_harness::{MockServer, Scenario};
use std::process::Command;

fn python(script: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 is needed for this test (the CI installs it)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const STARTTLS_SEND: &str = r#"
import smtplib, ssl, sys
ctx = ssl.create_default_context(cadata=sys.argv[2])
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s.ehlo("client.example")
print("before:", "starttls" in s.esmtp_features)
s._host = "mail1.fabrikam.com"  # the certificate names the host, as Exchange's does
s.starttls(context=ctx)
s.ehlo("client.example")
print("after:", "starttls" in s.esmtp_features)
print("cipher:", s.sock.version())
s.sendmail("alice@example.org", ["bob@fabrikam.com"], "Subject: over tls\r\n\r\nsecret\r\n")
s.quit()
"#;

#[test]
fn smtplib_starttls_completes_a_real_handshake() {
    let server = MockServer::start_blocking(Scenario::bundled("exchange-2019").unwrap()).unwrap();
    let pem = server.tls_certificate_pem().expect("exchange-2019 has TLS");
    let (ok, out, err) = python(STARTTLS_SEND, &[&server.addr().port().to_string(), &pem]);
    assert!(ok, "smtplib failed: {err}");
    assert!(out.contains("before: True"), "{out}");
    assert!(
        out.contains("after: False"),
        "STARTTLS is not offered again: {out}"
    );
    // Exchange 2019 speaks TLS 1.2 only (scenarios/exchange-2019.yaml).
    assert!(out.contains("cipher: TLSv1.2"), "{out}");
    let t = server.wait_for_sessions_blocking(1).unwrap();
    let tls = t
        .handshakes()
        .into_iter()
        .next()
        .map(|h| (h.version, h.sni));
    assert_eq!(
        tls,
        Some((
            "TLSv1_2".to_string(),
            Some("mail1.fabrikam.com".to_string())
        )),
        "smtplib sends the host name it verifies"
    );
    assert!(t.client_sent("STARTTLS"));
    assert!(
        t.sessions[0]
            .replies()
            .iter()
            .any(|r| r == &["220 2.0.0 SMTP server ready"])
    );
    assert_eq!(
        server.messages()[0].header("subject").unwrap().as_deref(),
        Some("over tls")
    );
}

#[test]
fn lettre_starttls_required_works() {
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{Message, SmtpTransport, Transport};
    let server = MockServer::start_blocking(Scenario::bundled("exchange-2019").unwrap()).unwrap();
    let pem = server.tls_certificate_pem().unwrap();
    let params = TlsParameters::builder("mail1.fabrikam.com".into())
        .add_root_certificate(Certificate::from_pem(pem.as_bytes()).unwrap())
        .build_rustls()
        .unwrap();
    let transport = SmtpTransport::builder_dangerous("127.0.0.1")
        .port(server.addr().port())
        .tls(Tls::Required(params))
        .build();
    let mail = Message::builder()
        .from("alice@example.org".parse().unwrap())
        .to("bob@fabrikam.com".parse().unwrap())
        .subject("lettre tls")
        .body("hello".to_string())
        .unwrap();
    transport.send(&mail).expect("sent over STARTTLS");
    let t = server.wait_for_sessions_blocking(1).unwrap();
    let sni = t.handshakes().into_iter().next().map(|h| h.sni);
    assert_eq!(sni, Some(Some("mail1.fabrikam.com".to_string())));
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn require_tls_refuses_mail_before_starttls() {
    let server = MockServer::start(Scenario::from_yaml("tls: {require: true}").unwrap())
        .await
        .unwrap();
    let mut c = RawClient::connect(server.addr()).await;
    c.reply().await;
    c.send(b"EHLO x\r\n").await;
    assert!(c.reply().await.contains(&"250 STARTTLS".to_string()));
    c.send(b"MAIL FROM:<a@b>\r\n").await;
    assert_eq!(
        c.reply().await,
        ["530 5.7.0 Must issue a STARTTLS command first"]
    );
}

#[tokio::test]
async fn refused_starttls_answers_454() {
    let server = MockServer::start(Scenario::from_yaml("tls: {fail: refuse}").unwrap())
        .await
        .unwrap();
    let mut c = RawClient::connect(server.addr()).await;
    c.reply().await;
    c.cmd("EHLO x").await;
    c.send(b"STARTTLS\r\n").await;
    assert_eq!(
        c.reply().await,
        ["454 4.7.0 TLS not available due to temporary reason"]
    );
    assert_eq!(
        c.cmd("MAIL FROM:<a@b>").await,
        250,
        "the session goes on in plaintext"
    );
}

#[test]
fn broken_handshake_is_seen_by_the_client() {
    let server =
        MockServer::start_blocking(Scenario::from_yaml("tls: {fail: break}").unwrap()).unwrap();
    let script = r#"
import smtplib, ssl, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s.ehlo("x")
try:
    s.starttls(context=ssl.create_default_context())
    print("handshake ok")
except (ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionError) as e:
    print("handshake failed:", type(e).__name__)
"#;
    let (ok, out, err) = python(script, &[&server.addr().port().to_string()]);
    assert!(ok, "{err}");
    assert!(out.starts_with("handshake failed"), "{out}");
    let t = server.wait_for_sessions_blocking(1).unwrap();
    assert!(
        t.to_text().contains("handshake broken on purpose"),
        "{}",
        t.to_text()
    );
}

#[test]
fn implicit_tls_like_port_465() {
    let server =
        MockServer::start_blocking(Scenario::from_yaml("tls: {implicit: true}").unwrap()).unwrap();
    let pem = server.tls_certificate_pem().unwrap();
    let script = r#"
import smtplib, ssl, sys
ctx = ssl.create_default_context(cadata=sys.argv[2])
s = smtplib.SMTP_SSL("127.0.0.1", int(sys.argv[1]), timeout=10, context=ctx)
s.ehlo("x")
print("starttls offered:", "starttls" in s.esmtp_features)
s.sendmail("a@example.org", ["b@example.com"], "Subject: 465\r\n\r\nx\r\n")
s.quit()
"#;
    let (ok, out, err) = python(script, &[&server.addr().port().to_string(), &pem]);
    assert!(ok, "{err}");
    assert!(out.contains("starttls offered: False"), "{out}");
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn plaintext_pipelined_after_starttls_is_discarded() {
    let server = MockServer::start(Scenario::from_yaml("tls: {}").unwrap())
        .await
        .unwrap();
    let mut c = RawClient::connect(server.addr()).await;
    c.reply().await;
    c.cmd("EHLO x").await;
    // An injection attempt (CVE-2011-0411 style): a command behind STARTTLS.
    c.send(b"STARTTLS\r\nMAIL FROM:<injected@evil>\r\n").await;
    assert_eq!(c.reply().await, ["220 2.0.0 Ready to start TLS"]);
    drop(c);
    let t = server.wait_for_sessions(1).await.unwrap();
    assert!(
        t.to_text()
            .contains("discarded 27 octets sent after STARTTLS"),
        "{}",
        t.to_text()
    );
    assert!(!t.client_sent("MAIL"));
}

/// Through a proxy: `transparent` passes STARTTLS through (the handshake is
/// end to end with the real server), `starttls-strip` makes smtplib see no
/// STARTTLS at all.
#[rstest::rstest]
#[case("transparent", true)]
#[case("starttls-strip", false)]
fn starttls_through_the_proxy(#[case] profile: &str, #[case] tls_works: bool) {
    use smtp_harness::{MockProxy, Profile};
    let server = MockServer::start_blocking(Scenario::bundled("exchange-2019").unwrap()).unwrap();
    let proxy =
        MockProxy::start_blocking(server.addr(), Profile::bundled(profile).unwrap()).unwrap();
    let pem = server.tls_certificate_pem().unwrap();
    let script = r#"
import smtplib, ssl, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s._host = "mail1.fabrikam.com"  # the name in the certificate
try:
    s.starttls(context=ssl.create_default_context(cadata=sys.argv[2]))
    print("tls:", s.sock.version())
except smtplib.SMTPNotSupportedError:
    print("STARTTLS not supported")
s.sendmail("a@example.org", ["b@fabrikam.com"], "Subject: via proxy\r\n\r\nx\r\n")
s.quit()
"#;
    let (ok, out, err) = python(script, &[&proxy.addr().port().to_string(), &pem]);
    assert!(ok, "{err}");
    if tls_works {
        assert!(out.contains("tls: TLSv1.2"), "{out}");
        let t = server.wait_for_sessions_blocking(1).unwrap();
        assert!(!t.handshakes().is_empty(), "the upstream did the handshake");
    } else {
        assert!(out.contains("STARTTLS not supported"), "{out}");
        assert!(
            !server.transcript().client_sent("STARTTLS"),
            "the upstream never saw STARTTLS"
        );
    }
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn a_refusal_wins_over_the_exchange_wording() {
    let s = MockServer::start(
        Scenario::from_yaml("extends: exchange-2019\ntls: {fail: refuse}").unwrap(),
    )
    .await
    .unwrap();
    let mut c = RawClient::connect(s.addr()).await;
    c.reply().await;
    c.cmd("EHLO x").await;
    c.send(b"STARTTLS\r\n").await;
    assert_eq!(
        c.reply().await,
        ["454 4.7.0 TLS not available due to temporary reason"]
    );
}
