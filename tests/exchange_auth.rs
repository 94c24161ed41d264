//! Exchange AUTH as advertised (issue 14, point 2), checked with clients
//! nobody here wrote: nmap's `smtp-ntlm-info`, curl (NTLM, LOGIN) and
//! Python's smtplib (LOGIN).

mod common;

use common::nmap::script as nmap_script;
use common::tools::{self, CURL, NMAP};
use smtp_harness::{MockServer, Scenario};
use std::process::Command;

/// What `smtp-ntlm-info` should print for `scenario`, from its plan.
fn expected_ntlm_lines(scenario: &Scenario) -> Vec<String> {
    let t = &scenario.plan().auth.as_ref().expect("auth").ntlm.target;
    let (major, minor, build) = t.version;
    vec![
        format!("Target_Name: {}", t.target_name),
        format!("NetBIOS_Domain_Name: {}", t.nb_domain),
        format!("NetBIOS_Computer_Name: {}", t.nb_computer),
        format!("DNS_Domain_Name: {}", t.dns_domain),
        format!("DNS_Computer_Name: {}", t.dns_computer),
        format!("DNS_Tree_Name: {}", t.dns_tree),
        format!("Product_Version: {major}.{minor}.{build}"),
    ]
}

#[test]
fn nmap_smtp_ntlm_info_prints_the_exchange_2003_names() {
    let Some(nmap) = tools::require(&NMAP, "nmap_smtp_ntlm_info_prints_the_exchange_2003_names")
    else {
        return;
    };
    let scenario = Scenario::bundled("exchange-2003").unwrap();
    let want = expected_ntlm_lines(&scenario);
    assert!(want.contains(&"Product_Version: 5.2.3790".to_string()));
    assert!(want.contains(&"DNS_Computer_Name: mail.adatum.com".to_string()));
    let server = MockServer::start_blocking(scenario).unwrap();
    let out = nmap_script(nmap, server.addr().port(), "smtp-ntlm-info", &[]);
    for line in &want {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    // The exchange was a real AUTH NTLM, its responses redacted.
    let t = server.wait_for_sessions_blocking(1).unwrap();
    assert!(t.client_sent("AUTH NTLM"), "{}", t.to_text());
    assert!(t.to_text().contains("<redacted>"), "{}", t.to_text());
}

#[test]
fn nmap_smtp_ntlm_info_reads_exchange_2019_after_starttls() {
    let Some(nmap) = tools::require(
        &NMAP,
        "nmap_smtp_ntlm_info_reads_exchange_2019_after_starttls",
    ) else {
        return;
    };
    let scenario = Scenario::bundled("exchange-2019").unwrap();
    let want = expected_ntlm_lines(&scenario);
    let server = MockServer::start_blocking(scenario).unwrap();
    let out = nmap_script(nmap, server.addr().port(), "smtp-ntlm-info", &[]);
    for line in &want {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert!(out.contains("Product_Version: 10.0.17763"), "{out}");
}

/// `curl smtp://…` sending one message with AUTH: its exit status and what
/// it printed with `-v`.
fn curl_send(curl: &str, port: u16, extra: &[&str], user: &str) -> (bool, String) {
    let out = Command::new(curl)
        .args(["-sv", "--max-time", "20"])
        .arg(format!("smtp://127.0.0.1:{port}"))
        .args([
            "--mail-from",
            "alice@adatum.com",
            "--mail-rcpt",
            "bob@example.com",
        ])
        .args(["--user", user])
        .args(extra)
        .args(["-T", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(b"Subject: curl\r\n\r\nhello\r\n")?;
            }
            child.wait_with_output()
        })
        .expect("curl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const ALICE: &str = "auth:\n  users: {alice: Wonderland1}\n";

#[test]
fn curl_ntlm_succeeds_with_the_password_and_fails_without() {
    let Some(curl) = tools::require(
        &CURL,
        "curl_ntlm_succeeds_with_the_password_and_fails_without",
    ) else {
        return;
    };
    let yaml = format!("extends: exchange-2003\n{ALICE}");
    let server = MockServer::start_blocking(Scenario::from_yaml(&yaml).unwrap()).unwrap();
    let port = server.addr().port();
    let ntlm = ["--login-options", "AUTH=NTLM"];
    let (ok, log) = curl_send(curl, port, &ntlm, "alice:Wonderland1");
    assert!(ok, "curl failed:\n{log}");
    assert!(log.contains("< 334 NTLM supported"), "{log}");
    assert!(
        log.contains("< 235 2.7.0 Authentication successful"),
        "{log}"
    );
    // Authenticated, the relay to example.com is allowed, as Exchange does.
    assert_eq!(server.messages().len(), 1);
    let (ok, log) = curl_send(curl, port, &ntlm, "alice:wrong");
    assert!(!ok, "a wrong password must fail:\n{log}");
    assert!(
        log.contains("< 535 5.7.3 Authentication unsuccessful"),
        "{log}"
    );
    assert_eq!(server.messages().len(), 1);
    let t = server.wait_for_sessions_blocking(2).unwrap();
    let text = t.to_text();
    assert!(
        !text.contains("TlRMTVNTUAAD"),
        "type 3 must be redacted:\n{text}"
    );
}

#[test]
fn curl_login_on_exchange_2019_needs_starttls() {
    let Some(curl) = tools::require(&CURL, "curl_login_on_exchange_2019_needs_starttls") else {
        return;
    };
    let yaml = format!("extends: exchange-2019\n{ALICE}");
    let server = MockServer::start_blocking(Scenario::from_yaml(&yaml).unwrap()).unwrap();
    let port = server.addr().port();
    let login = ["--login-options", "AUTH=LOGIN"];
    // In the clear, LOGIN is not offered: curl finds no mechanism it may use.
    let (ok, log) = curl_send(curl, port, &login, "alice:Wonderland1");
    assert!(!ok, "{log}");
    assert!(
        log.contains("< 250-AUTH NTLM\r") || log.contains("< 250-AUTH NTLM\n"),
        "{log}"
    );
    // Over TLS: the 334 dialogue, then success.
    let tls = ["--login-options", "AUTH=LOGIN", "--ssl-reqd", "-k"];
    let (ok, log) = curl_send(curl, port, &tls, "alice:Wonderland1");
    assert!(ok, "curl failed:\n{log}");
    assert!(log.contains("< 334 VXNlcm5hbWU6"), "{log}");
    assert!(log.contains("< 334 UGFzc3dvcmQ6"), "{log}");
    assert!(
        log.contains("< 235 2.7.0 Authentication successful"),
        "{log}"
    );
    assert_eq!(server.messages().len(), 1);
    // NTLM in the clear: the 2019 challenge, the password proved.
    let ntlm = ["--login-options", "AUTH=NTLM"];
    let (ok, log) = curl_send(curl, port, &ntlm, "alice:Wonderland1");
    assert!(ok, "curl failed:\n{log}");
    assert!(
        log.contains("< 235 2.7.0 Authentication successful"),
        "{log}"
    );
    assert_eq!(server.messages().len(), 2);
}

#[test]
fn auth_login_before_starttls_is_unrecognized_on_exchange_2019() {
    let server = MockServer::start_blocking(Scenario::bundled("exchange-2019").unwrap()).unwrap();
    let script = r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s.ehlo("x")
print(s.docmd("AUTH LOGIN"))
print(s.docmd("AUTH GSSAPI"))
print(s.docmd("AUTH NTLM"))
s.close()
"#;
    let out = tools::python3(script, &[server.addr().port().to_string()]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "(504, b'5.7.4 Unrecognized authentication type')",
            "(504, b'5.7.4 Unrecognized authentication type')",
            "(334, b'NTLM supported')",
        ],
        "{out}"
    );
}

/// smtplib's `login()` picks LOGIN from `AUTH GSSAPI NTLM LOGIN`.
fn smtplib_login(port: u16, password: &str) -> String {
    let script = r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
try:
    print(s.login("alice", sys.argv[2]))
except smtplib.SMTPAuthenticationError as e:
    print(e.smtp_code, e.smtp_error.decode())
s.quit()
"#;
    tools::python3(script, &[port.to_string(), password.to_string()])
        .trim()
        .to_string()
}

#[test]
fn smtplib_login_against_exchange_2003_as_scripted() {
    let yaml = format!("extends: exchange-2003\n{ALICE}");
    let server = MockServer::start_blocking(Scenario::from_yaml(&yaml).unwrap()).unwrap();
    let port = server.addr().port();
    assert_eq!(
        smtplib_login(port, "Wonderland1"),
        "(235, b'2.7.0 Authentication successful')"
    );
    assert_eq!(
        smtplib_login(port, "nope"),
        "535 5.7.3 Authentication unsuccessful"
    );
    let t = server.wait_for_sessions_blocking(2).unwrap();
    assert!(!t.to_text().contains("V29uZGVybGFuZDE"), "{}", t.to_text());
    // The bundled scenario itself knows nobody: every login fails.
    let bundled = MockServer::start_blocking(Scenario::bundled("exchange-2003").unwrap()).unwrap();
    assert_eq!(
        smtplib_login(bundled.addr().port(), "Wonderland1"),
        "535 5.7.3 Authentication unsuccessful"
    );
}

/// GSSAPI without Kerberos: an empty 334, then the token fails.
#[test]
fn gssapi_on_exchange_2003_fails_without_kerberos() {
    let server = MockServer::start_blocking(Scenario::bundled("exchange-2003").unwrap()).unwrap();
    let script = r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s.ehlo("x")
print(s.docmd("AUTH GSSAPI"))
print(s.docmd("YIIBhwYJKoZIhvcSAQICAQBuggF2MIIBcqADAgEF"))
s.close()
"#;
    let out = tools::python3(script, &[server.addr().port().to_string()]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["(334, b'')", "(535, b'5.7.3 Authentication unsuccessful')"],
        "{out}"
    );
}

/// The bundled scenarios' AUTH failure texts are the ones real Exchange
/// receive logs show (tests/fixtures/README.md: DigitalRuby/IPBan, MIT).
#[test]
fn exchange_wording_comes_from_the_public_receive_logs() {
    let log = std::fs::read_to_string("tests/fixtures/ipban-exchange-recv-auth-unsuccessful.LOG")
        .expect("fixture");
    for name in ["exchange-2003", "exchange-2019"] {
        let scenario = Scenario::bundled(name).unwrap();
        let replies = &scenario.plan().auth.as_ref().expect("auth").replies;
        for reply in [&replies.failure, &replies.unrecognized] {
            let line = format!(">,{} {},", reply.code, reply.lines[0].source());
            assert!(log.contains(&line), "{name}: {line} is not in the log");
        }
    }
}

/// swaks (`--auth NTLM` through Debian's Authen::NTLM, `--auth LOGIN`):
/// its exit status, and its transcript.
fn swaks_auth(swaks: &str, port: u16, mechanism: &str, password: &str) -> (bool, String) {
    let out = Command::new(swaks)
        .args(["--server", "127.0.0.1", "--port", &port.to_string()])
        .args(["--from", "alice@adatum.com", "--to", "bob@adatum.com"])
        .args([
            "--auth",
            mechanism,
            "--auth-user",
            "alice",
            "--auth-password",
            password,
        ])
        .args(["--timeout", "20"])
        .output()
        .expect("swaks runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn swaks_runs_the_exchange_2003_dialogues() {
    let Some(swaks) = tools::require(&tools::SWAKS, "swaks_runs_the_exchange_2003_dialogues")
    else {
        return;
    };
    // Authen::NTLM is swaks' NTLM (libauthen-ntlm-perl, installed by .ci/setup).
    let ntlm_module = Command::new("perl")
        .args(["-MAuthen::NTLM", "-e", "1"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ntlm_module || std::env::var("CI").is_err(),
        "libauthen-ntlm-perl is missing"
    );
    let yaml = format!("extends: exchange-2003\n{ALICE}");
    let server = MockServer::start_blocking(Scenario::from_yaml(&yaml).unwrap()).unwrap();
    let port = server.addr().port();
    let (ok, out) = swaks_auth(swaks, port, "LOGIN", "Wonderland1");
    assert!(ok, "{out}");
    assert!(out.contains("<-  334 VXNlcm5hbWU6"), "{out}");
    assert!(
        out.contains("<-  235 2.7.0 Authentication successful"),
        "{out}"
    );
    let (ok, out) = swaks_auth(swaks, port, "LOGIN", "wrong");
    assert!(!ok, "{out}");
    assert!(
        out.contains("<** 535 5.7.3 Authentication unsuccessful"),
        "{out}"
    );
    if !ntlm_module {
        return;
    }
    // swaks' Authen::NTLM answers with an NTLMv1 response, which only
    // `accept_any` takes (checking one needs DES): it gets the challenge,
    // then the scripted outcome.
    let (ok, out) = swaks_auth(swaks, port, "NTLM", "Wonderland1");
    assert!(!ok, "{out}");
    assert!(out.contains("<-  334 NTLM supported"), "{out}");
    assert!(
        out.contains("<** 535 5.7.3 Authentication unsuccessful"),
        "{out}"
    );
    let yaml = "extends: exchange-2003\nauth: {accept_any: true}\n";
    let anyone = MockServer::start_blocking(Scenario::from_yaml(yaml).unwrap()).unwrap();
    let (ok, out) = swaks_auth(swaks, anyone.addr().port(), "NTLM", "x");
    assert!(ok, "{out}");
    assert!(
        out.contains("<-  235 2.7.0 Authentication successful"),
        "{out}"
    );
}
