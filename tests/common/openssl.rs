//! A server with a `tls:` section, and Debian's `openssl s_client` against
//! it: what tests/tls_shapes.rs and tests/tls_legacy.rs share.

use smtp_harness::{MockServer, Scenario};
use std::process::{Command, Stdio};

/// A server for `tls` (the YAML under `tls:`), host name `mx.example.test`.
pub fn serve(tls: &str) -> MockServer {
    let yaml = format!("hostname: mx.example.test\ntls:\n{tls}");
    MockServer::start_blocking(Scenario::from_yaml(&yaml).unwrap()).unwrap()
}

/// `openssl s_client -starttls smtp -connect SERVER ARGS`: whether it
/// exited with success, and all it printed (stdout, then stderr). Its
/// input ends at once, so it says QUIT and leaves after the handshake.
pub fn s_client(server: &MockServer, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(["s_client", "-starttls", "smtp", "-connect"])
        .arg(server.addr().to_string())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
