//! SMTP AUTH against scripted credentials, with real clients.

mod common;

use common::RawClient;
use common::tools::python3;
use rstest::rstest;
use smtp_harness::{MockServer, Scenario};

const AUTH: &str = "auth:\n  users: {alice: wonderland}\n  require: true\n";

fn smtplib_login(port: u16, user: &str, password: &str, mechanism: &str) -> String {
    let script = r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s.ehlo("x")
s.user, s.password = sys.argv[2], sys.argv[3]
mech = sys.argv[4]
try:
    code, msg = s.auth(mech, getattr(s, "auth_" + mech.lower().replace("-", "_")))
    print(code)
    s.sendmail("alice@example.org", ["bob@example.com"], "Subject: authed\r\n\r\nx\r\n")
except smtplib.SMTPAuthenticationError as e:
    print(e.smtp_code)
s.quit()
"#;
    python3(script, &[&port.to_string(), user, password, mechanism])
        .trim()
        .to_string()
}

#[rstest]
#[case("PLAIN")]
#[case("LOGIN")]
#[case("CRAM-MD5")]
fn smtplib_authenticates_with_each_mechanism(#[case] mechanism: &str) {
    let server = MockServer::start_blocking(Scenario::from_yaml(AUTH).unwrap()).unwrap();
    assert_eq!(
        smtplib_login(server.addr().port(), "alice", "wonderland", mechanism),
        "235"
    );
    assert_eq!(server.messages().len(), 1);
    let t = server.wait_for_sessions_blocking(1).unwrap();
    let text = t.to_text();
    assert!(
        !text.contains("d29uZGVybGFuZA"),
        "password (base64) must not appear:\n{text}"
    );
    assert!(!text.contains("wonderland"), "{text}");
    if mechanism != "CRAM-MD5" {
        assert!(text.contains("<redacted>"), "{text}");
    }
}

#[rstest]
#[case("PLAIN")]
#[case("LOGIN")]
#[case("CRAM-MD5")]
fn wrong_password_gets_535(#[case] mechanism: &str) {
    let server = MockServer::start_blocking(Scenario::from_yaml(AUTH).unwrap()).unwrap();
    assert_eq!(
        smtplib_login(server.addr().port(), "alice", "looking-glass", mechanism),
        "535"
    );
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn auth_sequencing_and_requirements() {
    let server = MockServer::start(Scenario::from_yaml(AUTH).unwrap())
        .await
        .unwrap();
    let mut c = RawClient::connect(server.addr()).await;
    c.reply().await;
    assert_eq!(
        c.cmd("AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=").await,
        503,
        "AUTH before EHLO"
    );
    c.send(b"EHLO x\r\n").await;
    assert!(
        c.reply()
            .await
            .contains(&"250 AUTH PLAIN LOGIN CRAM-MD5".to_string())
    );
    assert_eq!(c.cmd("MAIL FROM:<a@b>").await, 530, "auth required");
    assert_eq!(c.cmd("AUTH GSSAPI").await, 504);
    assert_eq!(c.cmd("AUTH LOGIN").await, 334);
    assert_eq!(c.cmd("*").await, 501, "client cancels");
    assert_eq!(c.cmd("AUTH PLAIN !!!notbase64").await, 501);
    assert_eq!(c.cmd("AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=").await, 235);
    assert_eq!(
        c.cmd("AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=").await,
        503,
        "already authenticated"
    );
    assert_eq!(c.cmd("MAIL FROM:<a@b>").await, 250);
}

#[tokio::test]
async fn secrets_can_be_shown_on_request() {
    let yaml = "auth:\n  users: {alice: wonderland}\n  show_secrets: true\n";
    let server = MockServer::start(Scenario::from_yaml(yaml).unwrap())
        .await
        .unwrap();
    let mut c = RawClient::connect(server.addr()).await;
    c.reply().await;
    c.cmd("EHLO x").await;
    assert_eq!(c.cmd("AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=").await, 235);
    c.cmd("QUIT").await;
    let t = server.wait_for_sessions(1).await.unwrap();
    assert!(t.client_sent("AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ="));
}

#[test]
fn unknown_mechanism_is_a_validation_error() {
    let err = Scenario::from_yaml("auth:\n  mechanisms: [PLAIN, KERBEROS_V4]\n").unwrap_err();
    assert!(
        err.to_string()
            .contains("<inline>:2:23: unknown mechanism \"KERBEROS_V4\""),
        "{err}"
    );
}
