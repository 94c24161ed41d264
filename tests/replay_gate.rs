//! `replay` as a CI gate, with clients nobody here wrote: captures imported
//! by the binary (a swaks STARTTLS transcript, Zeek's pcaps of Gmail and
//! Exchange), served by `replay --sessions N` (its exit status and `--json`
//! report) or by `MockServer` (the Rust API), and driven by swaks, smtplib
//! and lettre.

mod common;

use common::launch::Launched;
use common::tools::{self, SWAKS};
use smtp_harness::{MockServer, Scenario};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// A directory of this test's own.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("replay-gate-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// `smtp-harness import FIXTURE -o DIR/NAME.yaml`, as a user runs it.
fn import(fixture: &str, dir: &Path) -> PathBuf {
    let out = dir.join(format!("{fixture}.yaml"));
    let status = Command::new(env!("CARGO_BIN_EXE_smtp-harness"))
        .arg("import")
        .arg(Path::new(FIXTURES).join(fixture))
        .arg("-o")
        .arg(&out)
        .output()
        .expect("run import");
    assert!(
        status.status.success(),
        "import {fixture}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    out
}

/// `replay FILE --listen 127.0.0.1:0 --sessions 1 ARGS`.
fn replay(file: &Path, args: &[&str]) -> Launched {
    let file = file.to_str().expect("UTF-8 path");
    let mut all = vec![
        "replay",
        file,
        "--listen",
        "127.0.0.1:0",
        "--color",
        "never",
        "--sessions",
        "1",
    ];
    all.extend_from_slice(args);
    Launched::start(&all)
}

/// Its exit, which `--sessions 1` makes come by itself; bounded, so a
/// replay that never stops fails instead of hanging the suite.
fn exit_of(replay: &mut Launched) -> ExitStatus {
    let deadline = Instant::now() + common::STEP;
    loop {
        if let Some(status) = replay.child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "replay --sessions 1 did not exit after its session"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What it printed on stdout after the `listening on` line.
fn rest_of_stdout(replay: &mut Launched) -> String {
    let mut text = String::new();
    replay.stdout.read_to_string(&mut text).expect("stdout");
    text
}

/// The `--json` report's objects.
fn report(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

/// swaks against `addr` with `args`; its transcript.
fn swaks(swaks: &str, addr: &str, args: &[&str]) -> String {
    let out = Command::new(swaks)
        .args(["--server", addr, "--timeout", "10"])
        .args(args)
        .output()
        .expect("run swaks");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "swaks failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The message the recorded swaks sent (its ` ~> ` lines between the 354
/// and the `.`), as a file for `swaks --data`, which adds the `CRLF.CRLF`.
fn captured_message(dir: &Path, fixture: &str) -> PathBuf {
    let transcript = std::fs::read_to_string(Path::new(FIXTURES).join(fixture)).unwrap();
    let lines: Vec<&str> = transcript
        .lines()
        .skip_while(|l| !l.starts_with("<~  354"))
        .skip(1)
        .take_while(|l| *l != " ~> .")
        .map(|l| l.strip_prefix(" ~> ").unwrap_or(l))
        .collect();
    let path = dir.join("message.eml");
    std::fs::write(&path, lines.join("\r\n")).unwrap();
    path
}

/// swaks 20201014.0 over STARTTLS against aiosmtpd 1.4.6 (tests/fixtures/README.md).
const SWAKS_TLS: &str = "aiosmtpd-swaks-starttls.txt";

/// The same, over TLS from the first byte (`swaks --tlsc`, port 465 style).
const SWAKS_SMTPS: &str = "aiosmtpd-swaks-smtps.txt";

/// The recorded client's own command line, replayed over real TLS.
fn swaks_as_recorded(data: &str) -> Vec<&str> {
    vec![
        "--tls",
        "--from",
        "alice@example.org",
        "--to",
        "bob@example.com",
        "--helo",
        "client.example",
        "--data",
        data,
    ]
}

#[test]
fn a_swaks_starttls_transcript_replays_completely_and_the_gate_passes() {
    let Some(swaks_bin) = tools::require(&SWAKS, "swaks_starttls_gate_passes") else {
        return;
    };
    let dir = scratch("tls-pass");
    let scenario = import(SWAKS_TLS, &dir);
    let data = captured_message(&dir, SWAKS_TLS);
    let mut server = replay(&scenario, &["--json", "--quiet"]);
    let out = swaks(
        swaks_bin,
        &server.addr,
        &swaks_as_recorded(data.to_str().unwrap()),
    );
    // The replay did the handshake and answered the encrypted part from
    // the capture: the post-TLS EHLO reply is aiosmtpd's, not ours.
    assert!(out.contains("=== TLS started"), "{out}");
    assert!(out.contains("<~  250-AUTH LOGIN PLAIN"), "{out}");
    assert!(out.contains("<~  221 Bye"), "{out}");
    let status = exit_of(&mut server);
    let lines = report(&rest_of_stdout(&mut server));
    assert_eq!(status.code(), Some(0), "{lines:?}");
    assert_eq!(
        lines,
        [
            serde_json::json!({"event": "session", "session": 1, "capture": 0, "divergences": 0, "matched": true}),
            serde_json::json!({"event": "summary", "sessions": 1, "wanted": 1, "diverged": 0, "matched": true}),
        ]
    );
}

#[test]
fn a_swaks_implicit_tls_transcript_replays_over_implicit_tls() {
    let Some(swaks_bin) = tools::require(&SWAKS, "swaks_implicit_tls_gate_passes") else {
        return;
    };
    let dir = scratch("smtps");
    let scenario = import(SWAKS_SMTPS, &dir);
    let yaml = std::fs::read_to_string(&scenario).unwrap();
    assert!(yaml.contains("\ntls:\n  implicit: true\n"), "{yaml}");
    let data = captured_message(&dir, SWAKS_SMTPS);
    let mut server = replay(&scenario, &["--json", "--quiet"]);
    let mut args = swaks_as_recorded(data.to_str().unwrap());
    args[0] = "--tlsc";
    let out = swaks(swaks_bin, &server.addr, &args);
    assert!(
        out.contains("=== TLS started") && out.contains("<~  220 localhost Python SMTP 1.4.6"),
        "{out}"
    );
    let status = exit_of(&mut server);
    let lines = report(&rest_of_stdout(&mut server));
    assert_eq!(status.code(), Some(0), "{lines:?}");
    assert_eq!(lines.last().unwrap()["matched"], true, "{lines:?}");
}

#[test]
fn a_message_of_another_size_fails_the_gate() {
    let Some(swaks_bin) = tools::require(&SWAKS, "another_size_fails_the_gate") else {
        return;
    };
    let dir = scratch("tls-size");
    let scenario = import(SWAKS_TLS, &dir);
    let mut server = replay(&scenario, &["--json", "--quiet"]);
    let mut args = swaks_as_recorded("");
    args.truncate(args.len() - 2);
    args.extend(["--body", "not the captured body"]);
    swaks(swaks_bin, &server.addr, &args);
    let status = exit_of(&mut server);
    let lines = report(&rest_of_stdout(&mut server));
    assert_eq!(status.code(), Some(1), "{lines:?}");
    let divergence = &lines[0];
    assert_eq!(divergence["event"], "divergence", "{lines:?}");
    assert_eq!(
        divergence["step"], 8,
        "the message is the 8th step: {lines:?}"
    );
    assert_eq!(divergence["expected"], "<message of 261 octets>");
    assert_ne!(divergence["got"], divergence["expected"]);
    assert_eq!(lines.last().unwrap()["matched"], false);
}

/// Zeek's Gmail capture shows EHLO, STARTTLS, `220`, then only
/// ciphertext: the replay answers the plaintext part from the capture, does
/// the handshake, and the built-in server answers the rest, with a note
/// and no divergence.
#[test]
fn an_opaque_starttls_pcap_hands_over_to_the_built_in_server() {
    let Some(swaks_bin) = tools::require(&SWAKS, "opaque_starttls_pcap") else {
        return;
    };
    let dir = scratch("gmail");
    let scenario = import("zeek-smtp-gmail-starttls.pcap", &dir);
    let yaml = std::fs::read_to_string(&scenario).unwrap();
    assert!(yaml.contains("\ntls: {}\n"), "{yaml}");
    let mut server = replay(&scenario, &["--json"]);
    let out = swaks(
        swaks_bin,
        &server.addr,
        &[
            "--tls",
            "--helo",
            "openssl.client.net",
            "--from",
            "alice@example.org",
            "--to",
            "bob@example.com",
        ],
    );
    assert!(
        out.contains("<-  250-mx.google.com at your service"),
        "{out}"
    );
    assert!(out.contains("<-  220 2.0.0 Ready to start TLS"), "{out}");
    assert!(out.contains("<~  250 2.0.0 Ok: queued"), "{out}");
    let status = exit_of(&mut server);
    let lines = report(&rest_of_stdout(&mut server));
    assert_eq!(status.code(), Some(0), "{lines:?}");
    assert_eq!(lines.last().unwrap()["diverged"], 0, "{lines:?}");
    let stderr = server.stderr();
    assert!(
        stderr.contains("the capture shows nothing after step 3"),
        "{stderr}"
    );
}

/// 684 octets as the captured Exchange client sent (unstuffed, without
/// the final `.CRLF`).
fn exchange_message() -> Vec<u8> {
    let mut m = b"Subject: replay\r\n\r\n".to_vec();
    while m.len() + 50 <= 684 {
        m.extend_from_slice(&[b'x'; 48]);
        m.extend_from_slice(b"\r\n");
    }
    m.extend(std::iter::repeat_n(b'y', 684 - m.len() - 2));
    m.extend_from_slice(b"\r\n");
    assert_eq!(m.len(), 684);
    m
}

/// smtplib speaks lower case (`mail FROM:`, `rcpt TO:`) where the captured
/// Exchange client wrote `MAIL From:` and `RCPT To:`: the same commands in
/// SMTP. After the message the captured server said `451 4.7.0 Timeout`
/// on its own a minute later; smtplib sends QUIT at once and must get an
/// answer to it, not that notice.
const SMTPLIB_AS_CAPTURED: &str = r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="gras-os-desk.cern.ch", timeout=10)
s.ehlo()
print("mail", s.mail("root@gras-os-desk.cern.ch", ["SIZE=695"])[0])
print("rcpt", s.rcpt("jan.grashofer@cern.ch")[0])
print("data", s.data(sys.stdin.buffer.read())[0])
print("quit", s.quit()[0])
"#;

#[test]
fn smtplib_matches_the_exchange_capture_and_quit_is_not_answered_by_the_idle_notice() {
    let dir = scratch("exchange");
    let scenario = import("zeek-smtp-exchange-pipelining.pcap", &dir);
    let server = MockServer::start_blocking(Scenario::from_file(&scenario).unwrap()).unwrap();
    let mut python = Command::new("python3")
        .arg("-c")
        .arg(SMTPLIB_AS_CAPTURED)
        .arg(server.addr().port().to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (the CI installs it)");
    {
        use std::io::Write;
        let mut stdin = python.stdin.take().unwrap();
        stdin.write_all(&exchange_message()).unwrap();
    }
    let out = python.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text, "mail 250\nrcpt 250\ndata 250\nquit 221\n");
    let t = server.wait_for_sessions_blocking(1).unwrap();
    let d: Vec<_> = t
        .divergences()
        .into_iter()
        .map(|(_, d)| (d.step, d.expected, d.got))
        .collect();
    // The one difference: the captured client stayed quiet until the
    // server's notice; this one said QUIT.
    assert_eq!(
        d,
        [(
            6,
            "<nothing: the server spoke next>".to_string(),
            "quit".to_string()
        )]
    );
}

/// The captured server's own reply comes once the client has been quiet
/// as long as the captured one: a command sent before is answered first
/// (and diverges: the captured client was quiet), and the wait starts over.
#[tokio::test]
async fn an_unprompted_reply_comes_after_the_captured_quiet_time() {
    let scenario = Scenario::from_yaml(
        r#"
replay:
  sessions:
    - banner: ["220 mx ready"]
      steps:
        - client: "EHLO x"
          reply: ["250 mx"]
        - reply: ["451 4.7.0 Timeout waiting for client input"]
          delay: 300ms
      end: server_closed
"#,
    )
    .unwrap();
    let server = MockServer::start(scenario).await.unwrap();
    let mut c = common::RawClient::connect(server.addr()).await;
    c.reply().await;
    c.send(b"EHLO x\r\n").await;
    assert_eq!(c.reply().await, ["250 mx"]);
    assert_eq!(c.cmd("NOOP").await, 250, "NOOP's answer, not the notice");
    let quiet = Instant::now();
    assert_eq!(
        c.reply().await,
        ["451 4.7.0 Timeout waiting for client input"]
    );
    assert!(quiet.elapsed() >= Duration::from_millis(300));
    assert!(c.closed().await);
    let t = server.wait_for_sessions(1).await.unwrap();
    let d: Vec<_> = t
        .divergences()
        .into_iter()
        .map(|(_, d)| (d.step, d.expected, d.got))
        .collect();
    assert_eq!(
        d,
        [(
            2,
            "<nothing: the server spoke next>".to_string(),
            "NOOP".to_string()
        )]
    );
}

/// lettre over STARTTLS, trusting the replay's certificate, sends what the
/// recorded swaks sent: the encrypted half is answered from the capture.
#[test]
fn lettre_over_starttls_matches_the_swaks_capture() {
    use lettre::address::Envelope;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::transport::smtp::extension::ClientId;
    use lettre::{SmtpTransport, Transport};
    let dir = scratch("lettre");
    let scenario = import(SWAKS_TLS, &dir);
    let message = std::fs::read(captured_message(&dir, SWAKS_TLS)).unwrap();
    let server = MockServer::start_blocking(Scenario::from_file(&scenario).unwrap()).unwrap();
    let pem = server.tls_certificate_pem().expect("the import wrote tls:");
    let params = TlsParameters::builder("localhost".into())
        .add_root_certificate(Certificate::from_pem(pem.as_bytes()).unwrap())
        .build_rustls()
        .unwrap();
    let transport = SmtpTransport::builder_dangerous("127.0.0.1")
        .port(server.addr().port())
        .hello_name(ClientId::Domain("client.example".into()))
        .tls(Tls::Required(params))
        .build();
    let envelope = Envelope::new(
        Some("alice@example.org".parse().unwrap()),
        vec!["bob@example.com".parse().unwrap()],
    )
    .unwrap();
    // lettre, like swaks, ends the text with `CRLF.CRLF` itself.
    let response = transport.send_raw(&envelope, &message).expect("sent");
    assert_eq!(response.message().collect::<Vec<_>>(), ["OK"]);
    let t = server.wait_for_sessions_blocking(1).unwrap();
    assert_eq!(t.handshakes().len(), 1);
    assert_eq!(t.divergences(), []);
}

/// A gate that was stopped before the sessions it waited for fails, even
/// when the ones that came matched: the client came too few times.
#[test]
fn stopped_before_its_sessions_the_gate_fails() {
    let dir = scratch("short");
    let scenario = dir.join("quit.yaml");
    std::fs::write(
        &scenario,
        "replay:\n  sessions:\n    - banner: [\"220 mx\"]\n      steps:\n        - client: QUIT\n          reply: [\"221 bye\"]\n      end: server_closed\n",
    )
    .unwrap();
    let mut server = Launched::start(&[
        "replay",
        scenario.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--sessions",
        "2",
        "--json",
        "--quiet",
    ]);
    let one = common::launch::session(&server.addr, "QUIT\r\n");
    assert_eq!(one, "220 mx\r\n221 bye\r\n");
    // The session was served, so the signal handlers are in place.
    let status = server.stop("TERM");
    let lines = report(&rest_of_stdout(&mut server));
    assert_eq!(status.code(), Some(1), "{lines:?}");
    assert_eq!(
        lines,
        [
            serde_json::json!({"event": "session", "session": 1, "capture": 0, "divergences": 0, "matched": true}),
            serde_json::json!({"event": "summary", "sessions": 1, "wanted": 2, "diverged": 0, "matched": false}),
        ]
    );
}

/// `--sessions 1` judges the first session: a second connection, cut short
/// by the stop that follows it, is reported but does not fail the gate.
#[test]
fn a_connection_after_the_sessions_asked_for_is_not_counted() {
    use std::io::{BufRead, BufReader, Write};
    let dir = scratch("extra");
    let scenario = dir.join("quit.yaml");
    std::fs::write(
        &scenario,
        "replay:\n  sessions:\n    - banner: [\"220 mx\"]\n      steps:\n        - client: QUIT\n          reply: [\"221 bye\"]\n      end: server_closed\n",
    )
    .unwrap();
    let mut server = replay(&scenario, &["--json", "--quiet"]);
    let connect = || {
        let s = std::net::TcpStream::connect(&server.addr).unwrap();
        s.set_read_timeout(Some(common::STEP)).unwrap();
        let mut r = BufReader::new(s);
        let mut banner = String::new();
        r.read_line(&mut banner).unwrap();
        assert_eq!(banner, "220 mx\r\n");
        r
    };
    let mut first = connect();
    let mut second = connect();
    first.get_mut().write_all(b"QUIT\r\n").unwrap();
    let mut rest = String::new();
    first.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "221 bye\r\n");
    // The stop after the first session ends the second one.
    let mut cut = String::new();
    let _ = second.read_to_string(&mut cut);
    let status = exit_of(&mut server);
    let lines = report(&rest_of_stdout(&mut server));
    assert_eq!(status.code(), Some(0), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "session" && l["session"] == 2 && l["matched"] == false),
        "the cut session is reported: {lines:?}"
    );
    assert_eq!(
        lines.last().unwrap(),
        &serde_json::json!({"event": "summary", "sessions": 1, "wanted": 1, "diverged": 0, "matched": true})
    );
}
