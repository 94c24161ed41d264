//! Files a scenario or profile names are read only when they should be:
//! inside the directory they may come from, regular files under a size cap,
//! and over the control API only under `--control-files DIR`, with refusals
//! that do not tell whether a file exists outside it.

mod common;

use common::Launched;
use smtp_harness::{Profile, Scenario};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Run `f` on a thread; its result within 10 s, or a failed test (a read
/// that hangs on a FIFO or never ends on a device must not hang the suite).
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("{what}: no answer within 10 s"))
}

fn load_err(path: &Path) -> String {
    let path = path.to_path_buf();
    let shown = path.display().to_string();
    match within(&shown, move || Scenario::from_file(&path)) {
        Ok(_) => panic!("{shown} loaded"),
        Err(e) => e.to_string(),
    }
}

/// The error loading `yaml` as `s.yaml` in `dir`.
fn scenario_err(dir: &Path, yaml: &str) -> String {
    let file = dir.join("s.yaml");
    std::fs::write(&file, yaml).unwrap();
    load_err(&file)
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

#[test]
fn extends_dev_zero_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let err = scenario_err(dir.path(), "extends: /dev/zero\n");
    assert!(err.contains("/dev/zero is outside"), "{err}");
    // A link in the directory that leads to the device is no way round.
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.yaml")).unwrap();
    let err = scenario_err(dir.path(), "extends: zero.yaml\n");
    assert!(err.contains("zero.yaml is outside"), "{err}");
}

#[test]
fn a_device_named_as_the_scenario_is_refused_at_once() {
    let err = load_err(Path::new("/dev/zero"));
    assert!(err.contains("/dev/zero is not a regular file"), "{err}");
    // `validate` too: it sniffs the file's kind before loading it.
    let out = within("validate /dev/zero", || {
        Command::new(env!("CARGO_BIN_EXE_smtp-harness"))
            .args(["validate", "/dev/zero"])
            .output()
            .expect("run")
    });
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a regular file"), "{stderr}");
}

#[test]
fn extends_a_fifo_is_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    mkfifo(&dir.path().join("parent.yaml"));
    let err = scenario_err(dir.path(), "extends: parent.yaml\n");
    assert!(err.contains("parent.yaml is not a regular file"), "{err}");
    // The same for a profile.
    let path = dir.path().join("s.yaml");
    let err = within("profile", move || Profile::from_file(&path))
        .expect_err("a FIFO parent")
        .to_string();
    assert!(err.contains("parent.yaml is not a regular file"), "{err}");
}

#[test]
fn a_tls_key_that_is_a_fifo_is_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    mkfifo(&dir.path().join("key.pem"));
    std::fs::write(dir.path().join("cert.pem"), "not read either\n").unwrap();
    let err = scenario_err(dir.path(), "tls:\n  cert: cert.pem\n  key: key.pem\n");
    assert!(err.contains("key.pem is not a regular file"), "{err}");
}

#[test]
fn files_over_the_cap_are_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    // Sparse: the size is what counts, not the disk it takes.
    let parent = std::fs::File::create(dir.path().join("huge.yaml")).unwrap();
    parent.set_len(65 << 20).unwrap();
    let err = scenario_err(dir.path(), "extends: huge.yaml\n");
    assert!(err.contains("over the 67108864-byte limit"), "{err}");
    let key = std::fs::File::create(dir.path().join("key.pem")).unwrap();
    key.set_len(2 << 20).unwrap();
    std::fs::write(dir.path().join("cert.pem"), "x").unwrap();
    let err = scenario_err(dir.path(), "tls: {cert: cert.pem, key: key.pem}\n");
    assert!(err.contains("over the 1048576-byte limit"), "{err}");
}

#[test]
fn tls_files_outside_the_scenario_directory_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = scenario_err(dir.path(), "tls: {cert: /etc/passwd, key: ../key.pem}\n");
    assert!(err.contains("/etc/passwd is outside"), "{err}");
    assert!(err.contains("../key.pem is outside"), "{err}");
}

// ---- over the control API --------------------------------------------------

/// `smtp-harness <command> … --control 127.0.0.1:0 --quiet <extra>`.
fn start(command: &[&str], extra: &[&str]) -> Launched {
    let mut cmd = Launched::command(command);
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--control",
        "127.0.0.1:0",
        "--quiet",
    ])
    .args(extra)
    .stderr(Stdio::null());
    Launched::spawn(cmd)
}

/// `PUT path` with a YAML body; the status and body.
fn put(addr: SocketAddr, path: &str, yaml: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!(
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/yaml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{yaml}",
        yaml.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read");
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
    (status, body.unwrap_or_default())
}

/// The refusal for `yaml` with `name` in it, `name` blanked out: what a
/// client can learn beyond what it sent.
fn refusal(addr: SocketAddr, path: &str, yaml: &str, name: &str) -> String {
    let (status, body) = put(addr, path, &yaml.replace("NAME", name));
    assert_eq!(status, 422, "{body}");
    body.replace(name, "NAME")
}

const TLS: &str = "tls:\n  cert: NAME\n  key: NAME\n";

#[test]
fn without_control_files_the_api_names_no_file_and_tells_nothing() {
    let served = start(&["serve"], &[]);
    let existing = refusal(served.control(), "/scenario", TLS, "/etc/passwd");
    let missing = refusal(served.control(), "/scenario", TLS, "/no/such/file.pem");
    assert_eq!(existing, missing);
    assert!(
        existing.contains("files cannot be named here"),
        "{existing}"
    );
    let relative = refusal(served.control(), "/scenario", TLS, "cert.pem");
    assert!(
        relative.contains("files cannot be named here"),
        "{relative}"
    );
    let parent = "extends: NAME\n";
    assert_eq!(
        refusal(served.control(), "/scenario", parent, "/etc/passwd"),
        refusal(served.control(), "/scenario", parent, "/no/such/file.yaml"),
    );
}

#[test]
fn with_control_files_only_that_directory_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let allowed = dir.path().join("allowed");
    std::fs::create_dir(&allowed).unwrap();
    std::fs::write(dir.path().join("beside.pem"), "next to the directory\n").unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(allowed.join("cert.pem"), made.cert.pem()).unwrap();
    std::fs::write(allowed.join("key.pem"), made.signing_key.serialize_pem()).unwrap();
    std::fs::write(
        allowed.join("base.yaml"),
        "banner: {reply: \"220 from the allowed directory\"}\n",
    )
    .unwrap();
    let served = start(&["serve"], &["--control-files", allowed.to_str().unwrap()]);

    let (status, body) = put(
        served.control(),
        "/scenario",
        "extends: base.yaml\ntls:\n  cert: cert.pem\n  key: key.pem\n",
    );
    assert_eq!(status, 200, "{body}");

    let existing = refusal(served.control(), "/scenario", TLS, "/etc/passwd");
    let missing = refusal(served.control(), "/scenario", TLS, "/no/such/file.pem");
    assert_eq!(existing, missing);
    assert!(existing.contains("NAME is outside"), "{existing}");
    assert_eq!(
        refusal(served.control(), "/scenario", TLS, "../beside.pem"),
        refusal(served.control(), "/scenario", TLS, "../not-beside.pem"),
    );
}

#[test]
fn a_proxy_control_api_names_no_file_outside_its_directory() {
    // Nothing listens upstream; the profile swap does not dial it.
    let served = start(&["proxy", "--upstream", "127.0.0.1:9"], &[]);
    let parent = "extends: NAME\n";
    let existing = refusal(served.control(), "/profile", parent, "/etc/passwd");
    let missing = refusal(served.control(), "/profile", parent, "/no/such/file.yaml");
    assert_eq!(existing, missing);
    assert!(
        existing.contains("files cannot be named here"),
        "{existing}"
    );
}
