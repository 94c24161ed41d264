//! TLS 1.0 and 1.1 through the OpenSSL engine (cargo feature `legacy-tls`;
//! `make test` turns it on): what Debian's `openssl s_client` and Python's
//! smtplib (clients nobody here wrote) negotiate, over STARTTLS and implicit
//! TLS, against what the scenario says. Debian's OpenSSL 3 speaks TLS 1.0
//! and 1.1 only at security level 0, so every client here asks for it.
#![cfg(feature = "legacy-tls")]

mod common;

use common::openssl::{self, serve};
use common::tools::{OPENSSL, require};
use smtp_harness::{MockServer, Scenario};

/// `openssl s_client -starttls smtp` at security level 0 with `args`.
fn s_client(server: &MockServer, args: &[&str]) -> (bool, String) {
    openssl::s_client(server, &[&["-cipher", "DEFAULT@SECLEVEL=0"], args].concat())
}

/// The session's `Protocol  : TLSv1.1` line (s_client's `New, …` line
/// names the cipher's version, TLSv1.0 for both).
fn protocol(out: &str) -> &str {
    out.lines()
        .map(str::trim)
        .find(|l| l.starts_with("Protocol"))
        .unwrap_or_else(|| panic!("no protocol in:\n{out}"))
}

#[rstest::rstest]
#[case::tls10("1.0", "-tls1", "Protocol  : TLSv1", "TLSv1_0")]
#[case::tls11("1.1", "-tls1_1", "Protocol  : TLSv1.1", "TLSv1_1")]
fn legacy_versions_are_negotiated_over_starttls(
    #[case] version: &str,
    #[case] flag: &str,
    #[case] said: &str,
    #[case] recorded: &str,
) {
    let Some(_) = require(&OPENSSL, "legacy_versions_are_negotiated_over_starttls") else {
        return;
    };
    let server = serve(&format!(
        "  versions: [\"{version}\"]\n  certificate: {{ shape: postfix }}\n"
    ));
    let (ok, out) = s_client(&server, &[flag]);
    assert!(ok, "{out}");
    assert_eq!(protocol(&out), said, "{out}");
    assert!(out.contains("Server public key is 2048 bit"), "{out}");
    assert!(out.contains("subject=CN = mx.example.test"), "{out}");
    // The transcript spells it as rustls' handshakes are spelt.
    let t = server.wait_for_sessions_blocking(1).unwrap();
    let tls = t.handshakes().into_iter().next().expect("a handshake");
    assert_eq!(tls.version, recorded);
    assert!(
        tls.cipher.starts_with("TLS_ECDHE_RSA_WITH_"),
        "{}",
        tls.cipher
    );
    // Only what the scenario offers: TLS 1.2 gets no handshake.
    let (ok, out) = s_client(&server, &["-tls1_2"]);
    assert!(!ok, "TLS 1.2 was accepted: {out}");
}

/// `versions: ["1.0", "1.2"]`: the gap (1.1) is refused, both ends work.
#[test]
fn a_gap_in_the_versions_is_refused() {
    let Some(_) = require(&OPENSSL, "a_gap_in_the_versions_is_refused") else {
        return;
    };
    let server = serve("  versions: [\"1.0\", \"1.2\"]\n");
    let (ok, out) = s_client(&server, &["-tls1"]);
    assert!(ok, "{out}");
    assert_eq!(protocol(&out), "Protocol  : TLSv1");
    let (ok, out) = s_client(&server, &["-tls1_2"]);
    assert!(ok, "{out}");
    assert_eq!(protocol(&out), "Protocol  : TLSv1.2");
    let (ok, out) = s_client(&server, &["-tls1_1"]);
    assert!(!ok, "TLS 1.1 was accepted: {out}");
}

/// The weak certificates go through OpenSSL too (its level 0 takes them).
#[test]
fn weak_certificates_over_tls_1_0() {
    let Some(_) = require(&OPENSSL, "weak_certificates_over_tls_1_0") else {
        return;
    };
    let server = serve(
        "  versions: [\"1.0\"]\n  certificate: { shape: postfix, key: rsa1024, signature: sha1 }\n",
    );
    let (ok, out) = s_client(&server, &["-tls1"]);
    assert!(ok, "{out}");
    assert_eq!(protocol(&out), "Protocol  : TLSv1");
    assert!(out.contains("Server public key is 1024 bit"), "{out}");
}

/// A whole session, message included, with smtplib over STARTTLS and over
/// implicit TLS, each at TLS 1.0.
#[rstest::rstest]
#[case::starttls("  versions: [\"1.0\"]\n", "starttls")]
#[case::implicit("  versions: [\"1.0\"]\n  implicit: true\n", "implicit")]
fn smtplib_sends_a_message_over_tls_1_0(#[case] tls: &str, #[case] how: &str) {
    let server = serve(tls);
    let out = common::tools::python3(SMTPLIB_TLS10, &[&server.addr().port().to_string(), how]);
    assert!(out.contains("TLSv1\n"), "{out}");
    server.wait_for_sessions_blocking(1).unwrap();
    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].header("subject").unwrap().as_deref(),
        Some("legacy")
    );
}

const SMTPLIB_TLS10: &str = r#"
import smtplib, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.set_ciphers("DEFAULT@SECLEVEL=0")
ctx.minimum_version = ssl.TLSVersion.TLSv1
ctx.maximum_version = ssl.TLSVersion.TLSv1
port = int(sys.argv[1])
if sys.argv[2] == "implicit":
    s = smtplib.SMTP_SSL("127.0.0.1", port, context=ctx, timeout=10)
else:
    s = smtplib.SMTP("127.0.0.1", port, timeout=10)
    s.starttls(context=ctx)
print(s.sock.version())
s.sendmail("alice@example.org", ["bob@example.org"], "Subject: legacy\r\n\r\nhi\r\n")
s.quit()
"#;

#[test]
fn rustls_cipher_suites_with_legacy_versions_are_refused_with_positions() {
    let err = Scenario::from_yaml(
        "tls:\n  versions: [\"1.1\", \"1.2\"]\n  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("<inline>:3:18: `cipher_suites` names rustls' suites; with TLS 1.0 or 1.1"),
        "{err}"
    );
}
