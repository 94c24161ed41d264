//! testssl.sh (Debian's package, the `testssl` command) against one
//! STARTTLS SMTP port of 127.0.0.1, read from its JSON output.

use std::path::Path;
use std::process::Command;

/// `testssl --starttls smtp -p -S` (protocols, then the server's defaults
/// and certificate) with its JSON findings as `(id, finding)` pairs.
/// `--nodns none`: a loopback target has no DNS to ask (CAA, rDNS), and
/// asking would only add time-outs. The run is bounded by `timeout`.
pub fn run(testssl: &str, port: u16, dir: &Path) -> Vec<(String, String)> {
    let json = dir.join(format!("testssl-{port}.json"));
    let out = Command::new("timeout")
        .args(["300", testssl, "--starttls", "smtp", "-p", "-S", "--quiet"])
        .args(["--warnings", "off", "--color", "0", "--nodns", "none"])
        .arg("--jsonfile")
        .arg(&json)
        .arg(format!("127.0.0.1:{port}"))
        .output()
        .expect("testssl runs");
    let text = std::fs::read_to_string(&json).unwrap_or_else(|e| {
        panic!(
            "testssl wrote no JSON ({e}); it exited {}:\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let findings: Vec<serde_json::Value> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("testssl JSON: {e}\n{text}"));
    findings
        .iter()
        .filter_map(|f| {
            let id = f.get("id")?.as_str()?;
            let finding = f.get("finding")?.as_str()?;
            Some((id.to_string(), finding.to_string()))
        })
        .collect()
}

/// One line: the protocols offered, then the certificate's CN, key,
/// signature, trust and validity period, e.g. `TLS 1.2, TLS 1.3 · CN
/// mail.example.com · RSA 2048 bits · SHA256 with RSA · self signed · 3650
/// days`. Dates and serial numbers are left out: they change every run.
pub fn condense(findings: &[(String, String)]) -> String {
    let get = |id: &str| {
        findings
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, f)| f.trim().to_string())
    };
    let protocols: Vec<&str> = [
        ("SSLv2", "SSL 2"),
        ("SSLv3", "SSL 3"),
        ("TLS1", "TLS 1.0"),
        ("TLS1_1", "TLS 1.1"),
        ("TLS1_2", "TLS 1.2"),
        ("TLS1_3", "TLS 1.3"),
    ]
    .into_iter()
    .filter(|(id, _)| get(id).is_some_and(|f| f.starts_with("offered")))
    .map(|(_, name)| name)
    .collect();
    let mut parts = vec![if protocols.is_empty() {
        "no protocol offered".to_string()
    } else {
        protocols.join(", ")
    }];
    if let Some(cn) = get("cert_commonName") {
        parts.push(format!("CN {cn}"));
    }
    parts.extend(get("cert_keySize"));
    parts.extend(get("cert_signatureAlgorithm"));
    if let Some(trust) = get("cert_chain_of_trust") {
        parts.push(trust_word(&trust));
    }
    parts.extend(get("cert_validityPeriod"));
    parts.join(" · ")
}

/// `failed (self signed).` → `self signed`; `passed.` → `trusted`.
fn trust_word(finding: &str) -> String {
    let f = finding.trim_end_matches('.');
    if f.starts_with("passed") {
        return "trusted".into();
    }
    match (f.find('('), f.rfind(')')) {
        (Some(a), Some(b)) if a < b => f[a + 1..b].to_string(),
        _ => f.to_string(),
    }
}
