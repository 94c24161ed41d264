//! End to end through the proxy with software nobody here wrote: lettre and
//! Python's smtplib as clients, `MockServer` and a real aiosmtpd as
//! upstreams; and the `smtp-harness proxy` binary itself.

mod common;

use common::Launched;
use common::tools::python3;
use lettre::message::header::ContentType;
use lettre::{Message as Mail, SmtpTransport, Transport};
use regex::Regex;
use smtp_harness::{Leg, MockProxy, MockServer, Profile, Scenario};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A message with what breaks careless relays: 8-bit bytes, a leading dot
/// (dot-stuffed on the wire), two leading dots.
const MESSAGE: &[u8] = b"From: alice@example.org\r\nTo: bob@adatum.com\r\nSubject: through the PIX\r\n\r\n.leading dot\r\ncaf\xc3\xa9 8-bit \xff\r\n..two dots\r\nend\r\n";

struct SmtplibRun {
    banner: String,
    esmtp: bool,
    ehlo: String,
    helo: String,
}

/// Send [`MESSAGE`] with smtplib's own EHLO → HELO fallback.
fn smtplib_send(addr: SocketAddr, dir: &Path) -> SmtplibRun {
    let msg = dir.join("message.eml");
    std::fs::write(&msg, MESSAGE).unwrap();
    let script = r#"
import smtplib, sys
s = smtplib.SMTP(timeout=10)
code, banner = s.connect("127.0.0.1", int(sys.argv[1]))
s.sendmail("alice@example.org", ["bob@adatum.com"], open(sys.argv[2], "rb").read())
print(banner.decode("latin-1"))
print("esmtp" if s.does_esmtp else "smtp")
print((s.ehlo_resp or b"").decode("latin-1"))
print((s.helo_resp or b"").decode("latin-1"))
s.quit()
"#;
    let port = addr.port().to_string();
    let stdout = python3(script, &[std::ffi::OsStr::new(&port), msg.as_os_str()]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    SmtplibRun {
        banner: lines[0].to_string(),
        esmtp: lines[1] == "esmtp",
        ehlo: lines[2].to_string(),
        helo: lines[3].to_string(),
    }
}

/// What a client sees through pix-mailguard, whatever the server.
fn assert_pix_view(run: &SmtplibRun) {
    assert!(
        Regex::new(r"^[\*\d ]{2,300}$")
            .unwrap()
            .is_match(&run.banner),
        "masked banner: {:?}",
        run.banner
    );
    assert!(!run.esmtp, "smtplib fell back to plain SMTP");
    assert_eq!(run.ehlo, "5.5.1 Command unrecognized");
    assert!(!run.helo.is_empty(), "HELO was answered");
}

fn assert_proxy_refused_ehlo(proxy: &MockProxy) {
    let t = proxy.wait_for_sessions_blocking(1).unwrap();
    let cmds = t.sessions[0].commands();
    assert!(cmds[0].to_ascii_uppercase().starts_with("EHLO"), "{cmds:?}");
    assert!(cmds[1].to_ascii_uppercase().starts_with("HELO"), "{cmds:?}");
    assert!(!t.upstream_received("EHLO"), "{}", t.to_text());
    assert!(t.upstream_received("HELO"));
    assert_eq!(t.sessions[0].reply_codes_on(Leg::Client)[..2], [220, 500]);
}

#[test]
fn smtplib_through_pix_mailguard_to_mock_exchange() {
    let server = MockServer::start_blocking(Scenario::bundled("exchange-2003").unwrap()).unwrap();
    let proxy =
        MockProxy::start_blocking(server.addr(), Profile::bundled("pix-mailguard").unwrap())
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = smtplib_send(proxy.addr(), dir.path());
    assert_pix_view(&run);
    assert!(
        run.helo.starts_with("mail.adatum.com Hello"),
        "{}",
        run.helo
    );
    assert_proxy_refused_ehlo(&proxy);
    let msgs = server.messages();
    assert_eq!(msgs.len(), 1);
    assert!(
        msgs[0].bytes().unwrap()[..] == MESSAGE[..],
        "{:?}",
        msgs[0].text()
    );
    assert!(msgs[0].helo.is_some(), "the server was greeted with HELO");
}

// ---- aiosmtpd ---------------------------------------------------------------

/// A real aiosmtpd (`python3 -m aiosmtpd`) whose handler writes the raw
/// message to a file. Killed on drop.
struct Aiosmtpd {
    child: Child,
    addr: SocketAddr,
    captured: std::path::PathBuf,
}

impl Aiosmtpd {
    /// `None` when aiosmtpd is missing outside CI (see `common::tools`).
    fn start(dir: &Path, test: &str) -> Option<Aiosmtpd> {
        let python = common::tools::require(&common::tools::AIOSMTPD, test)?;
        std::fs::write(
            dir.join("capture.py"),
            "class Capture:\n    def __init__(self, path):\n        self.path = path\n    @classmethod\n    def from_cli(cls, parser, *args):\n        return cls(args[0])\n    async def handle_DATA(self, server, session, envelope):\n        with open(self.path, 'wb') as f:\n            f.write(envelope.original_content)\n        return '250 OK captured'\n",
        )
        .unwrap();
        let captured = dir.join("captured.eml");
        // A free port: bind, read, release; aiosmtpd takes it right after.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l", &addr.to_string()])
            .args(["-c", "capture.Capture"])
            .arg(&captured)
            .env("PYTHONPATH", dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start aiosmtpd");
        // Ready when it accepts: retry the connection, never sleep blindly.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect(addr).is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
                panic!("aiosmtpd exited ({status}) before accepting: {err}");
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not accept within 20 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Aiosmtpd {
            child,
            addr,
            captured,
        })
    }
}

impl Drop for Aiosmtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn smtplib_through_pix_mailguard_to_real_aiosmtpd() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) =
        Aiosmtpd::start(dir.path(), "smtplib_through_pix_mailguard_to_real_aiosmtpd")
    else {
        return;
    };
    let proxy =
        MockProxy::start_blocking(server.addr, Profile::bundled("pix-mailguard").unwrap()).unwrap();
    let run = smtplib_send(proxy.addr(), dir.path());
    assert_pix_view(&run);
    assert_proxy_refused_ehlo(&proxy);
    let t = proxy.wait_for_sessions_blocking(1).unwrap();
    assert!(
        t.to_text().contains("Python SMTP"),
        "the upstream leg shows aiosmtpd's own banner: {}",
        t.to_text()
    );
    let captured = std::fs::read(&server.captured).expect("aiosmtpd captured the message");
    assert!(
        captured == MESSAGE,
        "byte-exact at the real server: {:?}",
        String::from_utf8_lossy(&captured)
    );
}

// ---- heavy pipelining ---------------------------------------------------------

/// Pipeline `n` copies of `command` in one write (a writer thread) while
/// this thread reads the replies, as RFC 2920 asks of a client; then QUIT.
/// Panics on any reply that is not the next `code`, or when they stop
/// coming for `within`.
fn pipeline(addr: SocketAddr, command: &str, code: &str, n: usize, within: Duration) {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(within)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("220"), "{line:?}");
    let mut w = stream.try_clone().unwrap();
    let batch = format!("{command}\r\n").repeat(n);
    let writer = std::thread::spawn(move || w.write_all(batch.as_bytes()));
    let started = Instant::now();
    let mut octets = 0;
    for i in 0..n {
        // A multi-line reply: `250-` lines, then `250 `.
        loop {
            line.clear();
            let read = reader.read_line(&mut line);
            assert!(
                matches!(read, Ok(1..)) && line.starts_with(code),
                "reply {i} of {n} after {:?}: {read:?} {line:?}",
                started.elapsed()
            );
            octets += line.len();
            if line.as_bytes().get(3) == Some(&b' ') {
                break;
            }
        }
    }
    writer.join().unwrap().expect("every command written");
    (&stream).write_all(b"QUIT\r\n").unwrap();
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("221"), "{line:?}");
    eprintln!(
        "{n} pipelined {} answered ({octets} octets of replies) in {:?}",
        &command[..4],
        started.elapsed()
    );
}

/// RFC 2920 pipelining at volume: 200,000 NOOPs, 1.2 MB of commands in
/// one write, all answered in order through the proxy.
#[test]
fn heavy_pipelining_through_the_proxy_to_mock_server() {
    let server = MockServer::start_blocking(Scenario::default()).unwrap();
    let proxy =
        MockProxy::start_blocking(server.addr(), Profile::bundled("transparent").unwrap()).unwrap();
    pipeline(
        proxy.addr(),
        "NOOP",
        "250",
        200_000,
        Duration::from_secs(60),
    );
}

/// The proxy keeps reading the upstream's replies while it writes the
/// client's commands. Long commands with longer replies (10 MB of commands,
/// each answered with 10 KB) are more than the kernel buffers on either leg
/// hold: the upstream, its replies unread, stops reading, and a proxy that
/// reads the upstream only between writes waits forever on its write (a
/// deadlock, cut after `timeouts.write` with a 421).
#[test]
fn heavy_pipelining_of_long_commands_through_the_proxy() {
    let scenario = format!(
        "limits: {{command_line: 2048}}\n{}",
        big_noop_replies(10, 1000)
    );
    let server = MockServer::start_blocking(Scenario::from_yaml(&scenario).unwrap()).unwrap();
    let proxy =
        MockProxy::start_blocking(server.addr(), Profile::bundled("transparent").unwrap()).unwrap();
    let command = format!("NOOP {}", "x".repeat(1000));
    pipeline(
        proxy.addr(),
        &command,
        "250",
        10_000,
        Duration::from_secs(60),
    );
}

/// A scenario answering NOOP with `lines` lines of `width` octets.
fn big_noop_replies(lines: usize, width: usize) -> String {
    let body: String = (1..lines)
        .map(|_| format!("      - '250-{}'\n", "x".repeat(width)))
        .collect();
    format!("rules:\n  - verb: NOOP\n    reply:\n{body}      - '250 ok'\n")
}

/// The same with a server nobody here wrote: aiosmtpd, which stops reading
/// while its replies are not read (asyncio's `drain`). Its replies are
/// short (EHLO's is five times the command), so the buffers on loopback
/// hold them all and this passes without the fix too: a guard that the
/// proxy keeps relaying in order at this volume with a real server.
#[test]
fn heavy_pipelining_through_the_proxy_to_real_aiosmtpd() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = Aiosmtpd::start(
        dir.path(),
        "heavy_pipelining_through_the_proxy_to_real_aiosmtpd",
    ) else {
        return;
    };
    let proxy =
        MockProxy::start_blocking(server.addr, Profile::bundled("transparent").unwrap()).unwrap();
    pipeline(
        proxy.addr(),
        "EHLO x",
        "250",
        200_000,
        Duration::from_secs(60),
    );
}

// ---- lettre -----------------------------------------------------------------

fn lettre_mail(to: &str) -> Mail {
    Mail::builder()
        .from("Kim <kim@cpandl.net>".parse().unwrap())
        .to(to.parse().unwrap())
        .subject("through the proxy")
        .header(ContentType::TEXT_PLAIN)
        .body(".leading dot\nsecond line\n".to_string())
        .unwrap()
}

fn lettre_send(port: u16, mail: &Mail) -> Result<(), lettre::transport::smtp::Error> {
    SmtpTransport::builder_dangerous("127.0.0.1")
        .port(port)
        .timeout(Some(Duration::from_secs(10)))
        .build()
        .send(mail)
        .map(|_| ())
}

/// lettre sends EHLO and does not fall back to HELO: through a PIX it
/// fails, as clients without a fallback do in Microsoft KB 320027.
#[test]
fn lettre_through_pix_mailguard_fails_at_ehlo() {
    let server = MockServer::start_blocking(Scenario::bundled("exchange-2003").unwrap()).unwrap();
    let proxy =
        MockProxy::start_blocking(server.addr(), Profile::bundled("pix-mailguard").unwrap())
            .unwrap();
    let err = lettre_send(proxy.addr().port(), &lettre_mail("bob@adatum.com"))
        .expect_err("EHLO is refused");
    assert!(err.is_permanent(), "{err}");
    assert!(err.to_string().contains("Command unrecognized"), "{err}");
    let t = proxy.wait_for_sessions_blocking(1).unwrap();
    assert!(t.client_sent("EHLO"));
    assert!(!t.client_sent("HELO"));
    assert!(!t.upstream_received("EHLO"));
    assert!(server.messages().is_empty());
}

/// The same lettre message sent directly and through `transparent` arrives
/// identical (lettre's own framing included).
#[test]
fn lettre_through_transparent_is_delivered_byte_exact() {
    let server = MockServer::start_blocking(Scenario::bundled("exchange-2003").unwrap()).unwrap();
    let proxy =
        MockProxy::start_blocking(server.addr(), Profile::bundled("transparent").unwrap()).unwrap();
    let mail = lettre_mail("bob@adatum.com");
    lettre_send(server.addr().port(), &mail).expect("delivered directly");
    lettre_send(proxy.addr().port(), &mail).expect("delivered through the proxy");
    let msgs = server.messages();
    assert_eq!(msgs.len(), 2);
    assert!(msgs[0].bytes().unwrap().starts_with(&mail.formatted()));
    assert_eq!(msgs[1].text().unwrap(), msgs[0].text().unwrap());
    let t = proxy.wait_for_sessions_blocking(1).unwrap();
    assert!(t.upstream_received("EHLO"), "transparent relays EHLO");
}

#[test]
fn lettre_through_exchange_reroute_has_its_envelope_rewritten() {
    // The profile rewrites to adatum.com: an accepted domain upstream.
    let scenario =
        Scenario::from_yaml("extends: exchange-2019\ndirectory: {domains: [adatum.com]}\n");
    let server = MockServer::start_blocking(scenario.unwrap()).unwrap();
    let proxy =
        MockProxy::start_blocking(server.addr(), Profile::bundled("exchange-reroute").unwrap())
            .unwrap();
    lettre_send(proxy.addr().port(), &lettre_mail("Bob <bob@cpandl.org>")).expect("delivered");
    let m = &server.messages()[0];
    assert_eq!(m.mail_from, "kim@adatum.com");
    assert_eq!(m.rcpt_to(), ["bob@adatum.com"]);
    assert_eq!(
        m.header("To").unwrap().as_deref(),
        Some("Bob <bob@cpandl.org>")
    );
}

// ---- the binary -------------------------------------------------------------

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_smtp-harness"))
}

#[test]
fn cli_proxy_prints_its_address_and_records_both_legs() {
    let server = MockServer::start_blocking(Scenario::bundled("exchange-2003").unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("t.jsonl");
    let mut cmd = Launched::command(&["proxy", "--upstream", &server.addr().to_string()]);
    cmd.args([
        "--profile",
        "pix-mailguard",
        "--listen",
        "127.0.0.1:0",
        "--color",
        "never",
    ])
    .arg("--transcript")
    .arg(&jsonl);
    let mut proxy = Launched::spawn(cmd);
    let (tx, live) = std::sync::mpsc::channel();
    let stderr = proxy.child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let addr = proxy.smtp();

    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(sock.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("220 ***"), "{line:?}");
    sock.write_all(b"EHLO me\r\nQUIT\r\n").unwrap();
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert_eq!(rest.lines().next(), Some("500 5.5.1 Command unrecognized"));

    // The JSON Lines file is flushed when the session ends.
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(&jsonl).unwrap_or_default();
        if text.contains("\"type\":\"close\"") {
            break text;
        }
        assert!(Instant::now() < deadline, "no close event in {text}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(text.contains("\"leg\":\"upstream\""), "{text}");
    assert!(text.contains("\"rule\":\"verb-filter\""), "{text}");
    assert!(
        text.contains("\"original\":"),
        "the masked banner keeps the upstream's: {text}"
    );

    // The live view is written from its own queue, after the transcript
    // file on a busy machine: wait for its last line before the kill.
    let mut stderr = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !stderr.contains("<=  221") {
        let left = deadline.saturating_duration_since(Instant::now());
        match live.recv_timeout(left) {
            Ok(line) => stderr.push_str(&(line + "\n")),
            Err(_) => break,
        }
    }
    drop(proxy);
    assert!(stderr.contains("=== proxying"), "{stderr}");
    assert!(stderr.contains(" -> EHLO me"), "client leg: {stderr}");
    assert!(stderr.contains("<=  221"), "upstream leg: {stderr}");
    assert!(stderr.contains("(by verb-filter)"), "{stderr}");
}

#[test]
fn cli_lists_profiles_and_validates_profile_files() {
    let out = bin().arg("profiles").output().unwrap();
    assert!(out.status.success());
    let list = String::from_utf8_lossy(&out.stdout);
    for name in [
        "transparent",
        "pix-mailguard",
        "asa-inspect-esmtp",
        "starttls-strip",
        "exchange-reroute",
    ] {
        assert!(list.contains(name), "{list}");
    }

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("firewall.yaml");
    std::fs::write(
        &bad,
        "extends: pix-mailguard\nfaults:\n  - latency: 1s\n    probability: 2\n",
    )
    .unwrap();
    let out = bin().arg("validate").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with(&format!("{}:4:18: `probability`", bad.display())),
        "{stdout}"
    );

    let good = dir.path().join("ok.yaml");
    std::fs::write(&good, "extends: pix-mailguard\nverbs: {action: mask}\n").unwrap();
    let out = bin()
        .args(["validate", "--kind", "profile"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ok (profile pix-mailguard; as --kind says)")
    );

    // Scenarios are still scenarios.
    let scenario = dir.path().join("s.yaml");
    std::fs::write(&scenario, "extends: pix-mailguard\nhostname: x.example\n").unwrap();
    let out = bin().arg("validate").arg(&scenario).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("profile"));
}
