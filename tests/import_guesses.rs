//! Importers say when they guess: a reply captured before its command and a
//! retransmission with other bytes are warned about (and read the way the
//! receiving TCP read them), a capture with no session is an error, and
//! every imported file loads, however long the session.

mod common;

use common::RawClient;
use smtp_harness::import::synth::Talk;
use smtp_harness::{MockServer, Scenario};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `smtp-harness import CAPTURE -o OUT`.
fn import(capture: &Path, out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smtp-harness"))
        .arg("import")
        .arg(capture)
        .arg("-o")
        .arg(out)
        .output()
        .expect("run import")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Write `talk` as a pcap in `dir` and import it; the scenario file.
fn imported(dir: &Path, talk: &Talk) -> (Output, std::path::PathBuf) {
    let capture = dir.join("capture.pcap");
    std::fs::write(&capture, talk.pcap()).unwrap();
    let out = dir.join("imported.yaml");
    (import(&capture, &out), out)
}

/// `imported`, which must succeed and say `said` on stderr; the scenario
/// file.
fn imported_saying(dir: &Path, talk: &Talk, said: &str) -> std::path::PathBuf {
    let (out, file) = imported(dir, talk);
    let stderr = stderr(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains(said), "{stderr}");
    file
}

/// Serve `file` and play `dialogue` (command, the reply it must get)
/// against it over TCP, after the banner.
async fn replay(file: &Path, banner: &str, dialogue: &[(&str, &str)]) {
    let scenario = Scenario::from_file(file).unwrap_or_else(|e| panic!("{e}"));
    let server = MockServer::start(scenario).await.unwrap();
    let mut c = RawClient::connect(server.addr()).await;
    assert_eq!(c.reply().await, [banner]);
    for (command, reply) in dialogue {
        assert_eq!(c.reply_to(command).await, [*reply], "reply to {command}");
    }
}

/// The client's MAIL and RCPT with the server's answers to them.
fn mail_dialogue(t: &mut Talk) -> (usize, usize) {
    t.server(b"220 mx.example ESMTP\r\n");
    t.client(b"HELO client.example\r\n");
    t.server(b"250 mx.example\r\n");
    let mail = t.client(b"MAIL FROM:<a@example.org>\r\n");
    let sender_ok = t.server(b"250 2.1.0 Sender OK\r\n");
    t.client(b"RCPT TO:<b@example.com>\r\n");
    t.server(b"250 2.1.5 Recipient OK\r\n");
    t.client(b"QUIT\r\n");
    t.server(b"221 2.0.0 Bye\r\n");
    (mail, sender_ok)
}

const MAIL_REPLIES: [(&str, &str); 4] = [
    ("HELO client.example", "250 mx.example"),
    ("MAIL FROM:<a@example.org>", "250 2.1.0 Sender OK"),
    ("RCPT TO:<b@example.com>", "250 2.1.5 Recipient OK"),
    ("QUIT", "221 2.0.0 Bye"),
];

#[tokio::test]
async fn a_reply_captured_before_its_command_is_read_after_it_and_said() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = Talk::new();
    let (mail, sender_ok) = mail_dialogue(&mut t);
    t.close();
    // The capture shows the 250 before the MAIL it acknowledges.
    t.swap(mail, sender_ok);
    let file = imported_saying(
        dir.path(),
        &t,
        "warning: stream 0: 1 time(s) the capture shows bytes before the other side's bytes they acknowledge",
    );
    // Paired by acknowledgement: every command gets its own reply.
    replay(&file, "220 mx.example ESMTP", &MAIL_REPLIES).await;
}

#[tokio::test]
async fn a_retransmission_with_other_bytes_keeps_the_first_and_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = Talk::new();
    mail_dialogue(&mut t);
    // After the session, a copy of RCPT's bytes that says something else.
    let rcpt = b"RCPT TO:<b@example.com>\r\nQUIT\r\n".len() as u32;
    t.client_again(rcpt, b"RCPT TO:<z@example.com>\r\n");
    t.close();
    let file = imported_saying(
        dir.path(),
        &t,
        "warning: stream 0: 1 byte(s) from the client were retransmitted with other values than the first copy; kept the first copy",
    );
    replay(&file, "220 mx.example ESMTP", &MAIL_REPLIES).await;
}

#[test]
fn a_capture_without_a_session_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    // One SMTP session, but its greeting is not in the capture: it cannot
    // be replayed, so nothing can be imported.
    let mut t = Talk::new();
    t.client(b"HELO client.example\r\n");
    t.server(b"250 mx.example\r\n");
    t.close();
    let (out, file) = imported(dir.path(), &t);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no session could be imported"),
        "{}",
        stderr(&out)
    );
    assert!(!file.exists(), "nothing written");
    // `replay` refuses a scenario with nothing to replay, rather than
    // serving as a default server.
    let plain = dir.path().join("plain.yaml");
    std::fs::write(&plain, "banner: {reply: \"220 hi\"}\n").unwrap();
    // (Before, it served until killed: bounded here so that fails too.)
    let mut child = Command::new(env!("CARGO_BIN_EXE_smtp-harness"))
        .arg("replay")
        .arg(&plain)
        .args(["--listen", "127.0.0.1:0", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run replay");
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("replay of a scenario without sessions is still serving after 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("replay's output");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no `replay:` sessions"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn a_session_too_long_to_load_is_cut_to_what_loads_and_said() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = Talk::new();
    t.server(b"220 big.example ESMTP\r\n");
    // 60,000 pipelined NOOPs and their replies: about 300,000 YAML nodes
    // as one replay session, over the loader's 250,000.
    let n = 60_000;
    for c in b"NOOP\r\n".repeat(n).chunks(60_000) {
        t.client(c);
    }
    for r in b"250 2.0.0 Ok\r\n".repeat(n).chunks(60_000) {
        t.server(r);
    }
    t.close();
    let file = imported_saying(dir.path(), &t, &format!("of {n} commands are imported"));
    let validate = Command::new(env!("CARGO_BIN_EXE_smtp-harness"))
        .arg("validate")
        .arg(&file)
        .output()
        .expect("run validate");
    assert!(validate.status.success(), "{}", stderr(&validate));
    replay(
        &file,
        "220 big.example ESMTP",
        &[("NOOP", "250 2.0.0 Ok"), ("NOOP", "250 2.0.0 Ok")],
    )
    .await;
}

#[test]
fn a_capture_cut_by_its_snap_length_keeps_the_session_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = Talk::new();
    // 54 bytes of headers and 40 of payload per frame.
    t.snaplen(54 + 40);
    t.server(b"220 mx.example ESMTP\r\n");
    t.client(b"HELO client.example\r\n");
    t.server(b"250 mx.example\r\n");
    t.client(b"DATA\r\n");
    t.server(b"354 go ahead\r\n");
    let line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789\r\n";
    for _ in 0..3 {
        t.client(&line.repeat(2));
    }
    t.client(b".\r\n");
    t.server(b"250 2.0.0 queued\r\n");
    t.client(b"QUIT\r\n");
    t.server(b"221 2.0.0 Bye\r\n");
    t.close();
    let file = imported_saying(
        dir.path(),
        &t,
        "byte(s) of message content were not captured",
    );
    let scenario = Scenario::from_file(&file).unwrap_or_else(|e| panic!("{e}"));
    let steps: Vec<(String, String)> = scenario.plan().replay[0]
        .steps
        .iter()
        .map(|s| {
            (
                format!("{:?}", s.expect),
                String::from_utf8_lossy(&s.wire).into_owned(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            (
                "Command(Some(\"HELO client.example\"))".to_string(),
                "250 mx.example\r\n".to_string()
            ),
            (
                "Command(Some(\"DATA\"))".to_string(),
                "354 go ahead\r\n".to_string()
            ),
            (
                // Part of it was not captured: its size is not known.
                "Message(None)".to_string(),
                "250 2.0.0 queued\r\n".to_string()
            ),
            (
                "Command(Some(\"QUIT\"))".to_string(),
                "221 2.0.0 Bye\r\n".to_string()
            ),
        ],
        "every reply with its command"
    );
}
