//! `tls.certificate` and `tls.versions`: what Debian's `openssl s_client`
//! (a client nobody here wrote) reports against what the scenario says —
//! subject and SAN, validity, key size, protocol version, verification
//! result — for the product shapes and each weakness.

mod common;

use common::openssl::{self, serve};
use common::tools::{OPENSSL, require};
use smtp_harness::{MockServer, Scenario};
use std::io::Write;
use std::process::{Command, Stdio};

/// `openssl s_client -starttls smtp -showcerts` against `server` with `args`.
fn s_client(server: &MockServer, args: &[&str]) -> (bool, String) {
    openssl::s_client(server, &[&["-showcerts"], args].concat())
}

/// `openssl x509 ARGS` on the first certificate in `pem`: its output and
/// exit status (`-checkend` answers with the status).
fn x509(pem: &str, args: &[&str]) -> (bool, String) {
    let mut child = Command::new("openssl")
        .arg("x509")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(pem.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A file holding `pem`, for `-CAfile`.
fn pem_file(pem: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(pem.as_bytes()).unwrap();
    f
}

/// The verification line, e.g. `Verify return code: 18 (self-signed certificate)`.
fn verify_code(out: &str) -> &str {
    out.lines()
        .map(str::trim)
        .find(|l| l.starts_with("Verify return code:"))
        .unwrap_or_else(|| panic!("no verify result in:\n{out}"))
}

const DAY: u64 = 86_400;

/// The certificate lives `days` from about now: still valid a day short of
/// it, expired a day after it.
fn assert_lifetime(pem: &str, days: u64) {
    let (valid, _) = x509(
        pem,
        &["-noout", "-checkend", &((days - 1) * DAY).to_string()],
    );
    assert!(valid, "expires before {days} days");
    let (valid, _) = x509(
        pem,
        &["-noout", "-checkend", &((days + 1) * DAY).to_string()],
    );
    assert!(!valid, "still valid after {days} days");
}

#[rstest::rstest]
#[case::exchange("exchange", "CN = mx", 5 * 365, false)]
#[case::postfix("postfix", "CN = mx.example.test", 3650, true)]
fn product_shapes_look_like_the_product(
    #[case] shape: &str,
    #[case] cn: &str,
    #[case] days: u64,
    #[case] ca_false: bool,
) {
    let Some(_) = require(&OPENSSL, "product_shapes_look_like_the_product") else {
        return;
    };
    let server = serve(&format!("  certificate: {{ shape: {shape} }}\n"));
    let pem = server.tls_certificate_pem().unwrap();
    let cafile = pem_file(&pem);
    let (ok, out) = s_client(
        &server,
        &[
            "-CAfile",
            cafile.path().to_str().unwrap(),
            "-verify_hostname",
            "mx.example.test",
        ],
    );
    assert!(ok, "{out}");
    assert!(out.contains(&format!("subject={cn}\n")), "{out}");
    assert!(
        out.contains(&format!("issuer={cn}\n")),
        "self-signed: {out}"
    );
    assert!(out.contains("Server public key is 2048 bit"), "{out}");
    assert!(out.contains("New, TLSv1.3, Cipher is"), "{out}");
    assert_eq!(verify_code(&out), "Verify return code: 0 (ok)");
    let (_, text) = x509(&pem, &["-noout", "-text"]);
    assert!(text.contains("sha256WithRSAEncryption"), "{text}");
    assert!(text.contains("DNS:mx.example.test"), "{text}");
    assert!(
        !text.contains("127.0.0.1") && !text.contains("localhost"),
        "{text}"
    );
    assert_eq!(text.contains("CA:FALSE"), ca_false, "{text}");
    assert_lifetime(&pem, days);
}

#[test]
fn without_a_shape_the_rcgen_certificate_stays() {
    let Some(_) = require(&OPENSSL, "without_a_shape_the_rcgen_certificate_stays") else {
        return;
    };
    let server = serve("  starttls: true\n");
    let (_, out) = s_client(&server, &[]);
    assert!(out.contains("subject=CN = rcgen self signed cert"), "{out}");
    assert!(
        out.contains("Server public key is 256 bit"),
        "ECDSA P-256: {out}"
    );
}

#[rstest::rstest]
#[case::expired("validity: expired", "10 (certificate has expired)")]
#[case::not_yet_valid("validity: not_yet_valid", "9 (certificate is not yet valid)")]
#[case::wrong_host("name: other.example.net", "62 (hostname mismatch)")]
fn each_weakness_is_what_openssl_reports(#[case] weakness: &str, #[case] code: &str) {
    let Some(_) = require(&OPENSSL, "each_weakness_is_what_openssl_reports") else {
        return;
    };
    let server = serve(&format!(
        "  certificate: {{ shape: postfix, {weakness} }}\n"
    ));
    let pem = server.tls_certificate_pem().unwrap();
    let cafile = pem_file(&pem);
    // The certificate itself trusted: what is left is the weakness.
    let (_, out) = s_client(
        &server,
        &[
            "-CAfile",
            cafile.path().to_str().unwrap(),
            "-verify_hostname",
            "mx.example.test",
        ],
    );
    assert_eq!(
        verify_code(&out),
        format!("Verify return code: {code}"),
        "{out}"
    );
}

#[test]
fn self_signed_is_reported_as_such_when_not_trusted() {
    let Some(_) = require(&OPENSSL, "self_signed_is_reported_as_such_when_not_trusted") else {
        return;
    };
    let server = serve("  certificate: { shape: exchange, issuer: self }\n");
    assert_eq!(server.tls_ca_certificate_pem(), None);
    // Only the system's CAs trusted.
    let (_, out) = s_client(&server, &[]);
    assert_eq!(
        verify_code(&out),
        "Verify return code: 18 (self-signed certificate)",
        "{out}"
    );
}

#[test]
fn a_client_trusting_the_test_ca_completes_the_handshake() {
    let Some(_) = require(
        &OPENSSL,
        "a_client_trusting_the_test_ca_completes_the_handshake",
    ) else {
        return;
    };
    let server = serve("  certificate: { shape: exchange, issuer: test_ca }\n");
    let ca = server.tls_ca_certificate_pem().expect("issuer: test_ca");
    let cafile = pem_file(&ca);
    let (ok, out) = s_client(
        &server,
        &[
            "-CAfile",
            cafile.path().to_str().unwrap(),
            "-verify_hostname",
            "mx.example.test",
            "-verify_return_error",
        ],
    );
    assert!(ok, "{out}");
    assert!(out.contains("issuer=CN = smtp-harness test CA"), "{out}");
    assert_eq!(verify_code(&out), "Verify return code: 0 (ok)");
    // Without the CA the chain ends nowhere.
    let (ok, out) = s_client(&server, &["-verify_return_error"]);
    assert!(!ok, "{out}");
    // And smtplib, trusting only the CA, sends a message over it.
    let sent = common::tools::python3(SMTPLIB_WITH_CA, &[&server.addr().port().to_string(), &ca]);
    assert!(sent.contains("TLSv1.3"), "{sent}");
    server.wait_for_sessions_blocking(1).unwrap();
    assert_eq!(server.messages().len(), 1);
}

const SMTPLIB_WITH_CA: &str = r#"
import smtplib, ssl, sys
ctx = ssl.create_default_context(cadata=sys.argv[2])
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s._host = "mx.example.test"  # the name the certificate is for
s.starttls(context=ctx)
print(s.sock.version())
s.sendmail("alice@example.org", ["bob@example.org"], "Subject: ca\r\n\r\nhi\r\n")
s.quit()
"#;

#[test]
fn tls_1_2_only_refuses_1_3() {
    let Some(_) = require(&OPENSSL, "tls_1_2_only_refuses_1_3") else {
        return;
    };
    let server = serve("  versions: [\"1.2\"]\n  certificate: { shape: postfix }\n");
    let (ok, out) = s_client(&server, &[]);
    assert!(ok, "{out}");
    assert!(out.contains("New, TLSv1.2, Cipher is"), "{out}");
    let (ok, out) = s_client(&server, &["-tls1_3"]);
    assert!(!ok, "1.3 was accepted: {out}");
    assert!(out.contains("alert protocol version"), "{out}");
}

#[test]
fn certificate_with_files_and_empty_versions_are_refused_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.pem"), "cert").unwrap();
    std::fs::write(dir.path().join("a.key"), "key").unwrap();
    let yaml =
        "tls:\n  cert: a.pem\n  key: a.key\n  certificate: { shape: exchange }\n  versions: []\n";
    let err = Scenario::from_yaml_with_files(yaml, Some(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("<inline>:4:16: `certificate` shapes the certificate made at start; leave it out when `cert` and `key`"),
        "{err}"
    );
    assert!(
        err.contains("<inline>:5:13: `versions` needs at least one"),
        "{err}"
    );
}

/// Without the `legacy-tls` feature, TLS 1.0 and 1.1 are refused at load
/// with a sentence saying why (tests/tls_legacy.rs has the build with it).
#[cfg(not(feature = "legacy-tls"))]
#[test]
fn tls_1_0_without_the_feature_says_so_with_its_position() {
    let err = Scenario::from_yaml("tls:\n  versions: [\"1.0\", \"1.2\"]\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("<inline>:2:13: TLS 1.0 and 1.1 need the OpenSSL engine, and this smtp-harness was built without it: rebuild with `--features legacy-tls`"),
        "{err}"
    );
}

/// The bundled products present their product's default certificate, and
/// Exchange 2019 only TLS 1.2, as it does on Windows Server 2019.
#[rstest::rstest]
#[case::exchange_2019(
    "exchange-2019",
    "subject=CN = mail1\n",
    "New, TLSv1.2, Cipher is ECDHE-RSA-AES256-GCM-SHA384"
)]
#[case::postfix(
    "postfix-default",
    "subject=CN = mail.example.com\n",
    "New, TLSv1.3, Cipher is"
)]
fn bundled_products_present_their_default_certificate(
    #[case] name: &str,
    #[case] subject: &str,
    #[case] protocol: &str,
) {
    let Some(_) = require(
        &OPENSSL,
        "bundled_products_present_their_default_certificate",
    ) else {
        return;
    };
    let server = MockServer::start_blocking(Scenario::bundled(name).unwrap()).unwrap();
    let (ok, out) = s_client(&server, &[]);
    assert!(ok, "{out}");
    assert!(out.contains(subject), "{out}");
    assert!(out.contains("Server public key is 2048 bit"), "{out}");
    assert!(out.contains(protocol), "{out}");
}

#[test]
fn cipher_suites_limit_what_is_negotiated() {
    let Some(_) = require(&OPENSSL, "cipher_suites_limit_what_is_negotiated") else {
        return;
    };
    let server = serve(
        "  certificate: { shape: postfix }\n  versions: [\"1.2\"]\n  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n",
    );
    let (ok, out) = s_client(&server, &[]);
    assert!(ok, "{out}");
    assert!(
        out.contains("New, TLSv1.2, Cipher is ECDHE-RSA-AES128-GCM-SHA256"),
        "{out}"
    );
    // A client offering only another suite gets no handshake.
    let (ok, out) = s_client(&server, &["-cipher", "ECDHE-RSA-AES256-GCM-SHA384"]);
    assert!(!ok, "{out}");
}

#[test]
fn cipher_suites_are_checked_with_positions() {
    let err = Scenario::from_yaml("tls:\n  cipher_suites: [TLS_RSA_WITH_RC4_128_MD5]\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("<inline>:2:19: unknown cipher suite \"TLS_RSA_WITH_RC4_128_MD5\""),
        "{err}"
    );
    let err = Scenario::from_yaml(
        "tls:\n  versions: [\"1.2\"]\n  cipher_suites: [TLS13_AES_128_GCM_SHA256]\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("no cipher suite for TLS 1.2"), "{err}");
}

/// `key: rsa1024`: a 1024-bit RSA key (ring refuses such keys; signed in
/// pure Rust), over TLS 1.3 and 1.2, which a client at OpenSSL's default
/// security level refuses as too weak.
#[rstest::rstest]
#[case::tls13("1.3", "New, TLSv1.3, Cipher is")]
#[case::tls12("1.2", "New, TLSv1.2, Cipher is ECDHE-RSA-")]
fn rsa1024_key_is_what_openssl_reports(#[case] version: &str, #[case] protocol: &str) {
    let Some(_) = require(&OPENSSL, "rsa1024_key_is_what_openssl_reports") else {
        return;
    };
    let server = serve(&format!(
        "  certificate: {{ shape: postfix, key: rsa1024 }}\n  versions: [\"{version}\"]\n"
    ));
    let pem = server.tls_certificate_pem().unwrap();
    let cafile = pem_file(&pem);
    let trusted = ["-CAfile", cafile.path().to_str().unwrap()];
    let (ok, out) = s_client(&server, &trusted);
    assert!(ok, "{out}");
    assert!(out.contains("Server public key is 1024 bit"), "{out}");
    assert!(out.contains(protocol), "{out}");
    assert_eq!(
        verify_code(&out),
        "Verify return code: 66 (EE certificate key too weak)",
        "{out}"
    );
    // Allowed the weak key, the same client verifies everything else: the
    // handshake was signed by the certificate's key.
    let (ok, out) = s_client(&server, &[&trusted[..], &["-auth_level", "0"]].concat());
    assert!(ok, "{out}");
    assert_eq!(verify_code(&out), "Verify return code: 0 (ok)", "{out}");
    let (_, text) = x509(&pem, &["-noout", "-text"]);
    assert!(text.contains("Public-Key: (1024 bit)"), "{text}");
    assert!(text.contains("sha256WithRSAEncryption"), "{text}");
    assert!(text.contains("DNS:mx.example.test"), "{text}");
}

/// `signature: sha1`: sha1WithRSAEncryption, with the scenario's names; a
/// client trusting the test CA refuses the SHA-1 signature, and
/// one that allows SHA-1 finds it valid.
#[test]
fn sha1_signature_is_what_openssl_reports() {
    let Some(_) = require(&OPENSSL, "sha1_signature_is_what_openssl_reports") else {
        return;
    };
    let server = serve("  certificate: { shape: exchange, signature: sha1, issuer: test_ca }\n");
    let pem = server.tls_certificate_pem().unwrap();
    let (_, text) = x509(&pem, &["-noout", "-text"]);
    assert!(
        text.contains("Signature Algorithm: sha1WithRSAEncryption"),
        "{text}"
    );
    assert!(text.contains("DNS:mx, DNS:mx.example.test"), "{text}");
    assert!(text.contains("Public-Key: (2048 bit)"), "{text}");
    let ca = pem_file(&server.tls_ca_certificate_pem().expect("issuer: test_ca"));
    let trusted = [
        "-CAfile",
        ca.path().to_str().unwrap(),
        "-verify_hostname",
        "mx.example.test",
    ];
    let (_, out) = s_client(&server, &trusted);
    assert_eq!(
        verify_code(&out),
        "Verify return code: 68 (CA signature digest algorithm too weak)",
        "{out}"
    );
    // SHA-1 allowed, the signature checks out against the CA's key.
    let (ok, out) = s_client(&server, &[&trusted[..], &["-auth_level", "0"]].concat());
    assert!(ok, "{out}");
    assert_eq!(verify_code(&out), "Verify return code: 0 (ok)", "{out}");
}

/// Self-signed, RSA 1024 and SHA-1 at once: the certificate's own
/// signature is valid (`openssl verify -check_ss_sig`).
#[test]
fn self_signed_sha1_rsa1024_signature_is_valid() {
    let Some(_) = require(&OPENSSL, "self_signed_sha1_rsa1024_signature_is_valid") else {
        return;
    };
    let server = serve("  certificate: { key: rsa1024, signature: sha1 }\n");
    let pem = server.tls_certificate_pem().unwrap();
    let (_, text) = x509(&pem, &["-noout", "-text"]);
    assert!(text.contains("sha1WithRSAEncryption"), "{text}");
    assert!(text.contains("Public-Key: (1024 bit)"), "{text}");
    assert!(text.contains("CN = rcgen self signed cert"), "{text}");
    let file = pem_file(&pem);
    let path = file.path().to_str().unwrap();
    let out = Command::new("openssl")
        .args([
            "verify",
            "-auth_level",
            "0",
            "-check_ss_sig",
            "-CAfile",
            path,
            path,
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && said.contains(": OK"), "{said}");
    let (ok, out) = s_client(&server, &["-auth_level", "0", "-CAfile", path]);
    assert!(ok, "{out}");
    assert!(out.contains("Server public key is 1024 bit"), "{out}");
}

#[test]
fn sha1_needs_an_rsa_key_and_keys_are_checked_with_positions() {
    let err = Scenario::from_yaml("tls:\n  certificate: { signature: sha1 }\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("<inline>:2:29: `signature: sha1` needs an RSA key"),
        "{err}"
    );
    let err = Scenario::from_yaml("tls:\n  certificate: { key: rsa512 }\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("rsa512"), "{err}");
    assert!(err.contains("rsa1024"), "lists the keys: {err}");
    assert!(
        Scenario::from_yaml(
            "tls:\n  certificate: { shape: postfix, key: ecdsa_p256, signature: sha256 }\n"
        )
        .is_ok()
    );
}
