//! Nothing lost silently: a message is answered 250 only once the Maildir
//! has it, and the binary says when its transcript or live view fails.

mod common;

use common::RawClient;
use smtp_harness::Scenario;
use smtp_harness::server::{self, Shared, maildir::Maildir};
use smtp_harness::transcript::{Recorder, Retention};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

const CHUNKING: &str = "ehlo:\n  keywords: [PIPELINING, CHUNKING]\n";

/// A server writing to a Maildir at `root`; stops when the sender is dropped.
async fn with_maildir(
    yaml: &str,
    root: &Path,
) -> (Arc<Shared>, SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let scenario = Scenario::from_yaml(yaml).unwrap();
    let recorder = Recorder::new(Retention::All, Vec::new());
    let shared =
        Arc::new(Shared::new(scenario, recorder, Some(Maildir::new(root).unwrap())).unwrap());
    let listener = server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::run(listener, Arc::clone(&shared), stopped));
    (shared, addr, stop)
}

/// Files in `dir`, none if it does not exist.
fn files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

/// Breaks `rcpt`'s mailbox in a way that fails for root too (tests run as
/// root, which ignores permission bits, so a read-only directory would not
/// fail): its `new/` is a regular file, so nothing can be renamed into it.
fn break_mailbox(root: &Path, rcpt: &str) -> std::path::PathBuf {
    let folder = root.join(rcpt);
    std::fs::create_dir_all(folder.join("tmp")).unwrap();
    let new = folder.join("new");
    std::fs::write(&new, "not a directory").unwrap();
    new
}

/// A client at `addr` past the banner and `EHLO <name>`.
async fn greeted(addr: SocketAddr, name: &str) -> RawClient {
    let mut c = RawClient::connect(addr).await;
    assert_eq!(c.code().await, 220);
    assert_eq!(c.cmd(&format!("EHLO {name}")).await, 250);
    c
}

async fn transaction(c: &mut RawClient, rcpts: &[&str]) {
    assert_eq!(c.cmd("MAIL FROM:<sender@example.org>").await, 250);
    for r in rcpts {
        assert_eq!(c.cmd(&format!("RCPT TO:<{r}>")).await, 250);
    }
}

#[tokio::test]
async fn a_message_the_maildir_cannot_take_gets_451_and_is_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mail");
    let (shared, addr, _stop) = with_maildir("{}", &root).await;
    let broken = break_mailbox(&root, "bob@example.org");

    let mut c = greeted(addr, "client").await;
    transaction(&mut c, &["alice@example.org", "bob@example.org"]).await;
    assert_eq!(c.cmd("DATA").await, 354);
    let reply = c.reply_to("Subject: lost?\r\n\r\nbody\r\n.").await;
    assert!(
        reply[0].starts_with("451 4.3.0 "),
        "a message the Maildir refused must not get 250: {reply:?}"
    );
    // All or nothing: the client will send it again, so alice must not
    // have a copy already.
    let alice = root.join("alice@example.org");
    assert_eq!(files(&alice.join("new")), 0);
    assert_eq!(files(&alice.join("tmp")), 0);
    assert_eq!(files(&root.join("bob@example.org").join("tmp")), 0);
    assert!(shared.recorder.messages().is_empty());

    // The session goes on; once the fault is repaired the retry is stored.
    std::fs::remove_file(&broken).unwrap();
    transaction(&mut c, &["alice@example.org", "bob@example.org"]).await;
    assert_eq!(c.cmd("DATA").await, 354);
    let reply = c.reply_to("Subject: retry\r\n\r\nbody\r\n.").await;
    assert!(reply[0].starts_with("250 "), "{reply:?}");
    assert_eq!(files(&alice.join("new")), 1);
    assert_eq!(files(&root.join("bob@example.org").join("new")), 1);
    assert_eq!(c.cmd("QUIT").await, 221);
    shared.recorder.wait_ended(1).await;

    let messages = shared.recorder.messages();
    assert_eq!(messages.len(), 1, "only the stored message is kept");
    assert!(messages[0].text().unwrap().starts_with("Subject: retry"));
    // The transcript agrees with the wire: a 451, and one message event.
    let session = &shared.recorder.transcript().sessions[0];
    assert!(
        session
            .reply_codes_on(smtp_harness::transcript::Leg::Client)
            .contains(&451)
    );
    let stored = session.stored().len();
    assert_eq!(stored, 1);
}

/// A server keeping messages only in its recorder; stops when the sender is
/// dropped.
async fn without_maildir(
    yaml: &str,
) -> (Arc<Shared>, SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let scenario = Scenario::from_yaml(yaml).unwrap();
    let recorder = Recorder::new(Retention::All, Vec::new());
    let shared = Arc::new(Shared::new(scenario, recorder, None).unwrap());
    let listener = server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::run(listener, Arc::clone(&shared), stopped));
    (shared, addr, stop)
}

#[tokio::test]
async fn a_message_the_recorder_cannot_keep_gets_451_without_a_maildir() {
    // Without --maildir the recorder is the only copy; a body it cannot keep
    // (here: alone over `messages_disk`) must not be answered 250.
    let (shared, addr, _stop) =
        without_maildir("limits:\n  message_memory: 1024\n  messages_disk: 4096\n").await;
    let mut c = greeted(addr, "client").await;
    transaction(&mut c, &["alice@example.org"]).await;
    assert_eq!(c.cmd("DATA").await, 354);
    let body = format!(
        "Subject: big\r\n\r\n{}.",
        format!("{}\r\n", "x".repeat(78)).repeat(100)
    );
    let reply = c.reply_to(&body).await;
    assert!(
        reply[0].starts_with("451 4.3.0 "),
        "a message nothing kept must not get 250: {reply:?}"
    );
    // A message that fits is still taken on the same session.
    transaction(&mut c, &["alice@example.org"]).await;
    assert_eq!(c.cmd("DATA").await, 354);
    let reply = c.reply_to("Subject: small\r\n\r\nbody\r\n.").await;
    assert!(reply[0].starts_with("250 "), "{reply:?}");
    assert_eq!(c.cmd("QUIT").await, 221);
    shared.recorder.wait_ended(1).await;
    let messages = shared.recorder.messages();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].text().unwrap().starts_with("Subject: small"));
    let session = &shared.recorder.transcript().sessions[0];
    let stored = session.stored().len();
    assert_eq!(stored, 1, "the transcript agrees with the wire");
}

#[tokio::test]
async fn a_last_bdat_chunk_the_maildir_cannot_take_gets_451_and_other_sessions_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mail");
    let (shared, addr, _stop) = with_maildir(CHUNKING, &root).await;
    break_mailbox(&root, "bob@example.org");

    let mut c = greeted(addr, "client").await;
    transaction(&mut c, &["bob@example.org"]).await;
    let reply = c.reply_to("BDAT 9 LAST\r\nSubject: ").await;
    assert!(reply[0].starts_with("451 4.3.0 "), "{reply:?}");

    // Another connection, another mailbox: served and stored.
    let mut d = greeted(addr, "other").await;
    transaction(&mut d, &["carol@example.org"]).await;
    let reply = d.reply_to("BDAT 9 LAST\r\nSubject: ").await;
    assert!(reply[0].starts_with("250 "), "{reply:?}");
    assert_eq!(files(&root.join("carol@example.org").join("new")), 1);
    let kept: Vec<_> = shared
        .recorder
        .messages()
        .iter()
        .map(|m| m.rcpt_to().join(","))
        .collect();
    assert_eq!(kept, ["carol@example.org"]);
}

// The binary.

use common::Launched;
use common::launch::session;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

#[test]
fn a_transcript_write_error_is_reported_at_once_and_fails_the_exit_status() {
    let mut served = Launched::serve(&["postfix-default", "--quiet", "--transcript", "/dev/full"]);
    let wire = session(&served.addr, "EHLO me\r\nNOOP\r\nQUIT\r\n");
    assert!(wire.contains("221 "), "{wire}");
    // Reported while the server runs (the session's end flushed the file),
    // not only at exit.
    let mut stderr = BufReader::new(served.child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut line = String::new();
        let _ = stderr.read_line(&mut line);
        let _ = tx.send(line);
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
        rest
    });
    let line = rx
        .recv_timeout(common::STEP)
        .expect("the write error was not reported while serving");
    assert!(
        line.starts_with("smtp-harness: cannot write the transcript /dev/full: "),
        "{line}"
    );
    // And it still serves.
    let wire = session(&served.addr, "QUIT\r\n");
    assert!(wire.contains("221 "), "{wire}");
    let exit = served.stop("TERM");
    assert_eq!(
        exit.code(),
        Some(2),
        "an incomplete transcript is a failure"
    );
    let rest = reader.join().unwrap();
    assert!(rest.contains("/dev/full"), "{rest}");
}

#[test]
fn a_live_view_nobody_reads_never_stops_the_server() {
    let mut served = Launched::serve(&["postfix-default"]);
    // 40,000 pipelined NOOPs: about 1.6 MB of live transcript on a stderr
    // pipe nobody reads (it holds 64 KiB).
    let noops = "NOOP\r\n".repeat(40_000);
    let wire = session(&served.addr, &format!("EHLO me\r\n{noops}QUIT\r\n"));
    assert_eq!(wire.matches("250 2.0.0 Ok").count(), 40_000);
    assert!(
        wire.ends_with("221 2.0.0 Bye\r\n"),
        "{}",
        &wire[wire.len() - 100..]
    );
    // Other sessions too.
    let wire = session(&served.addr, "QUIT\r\n");
    assert!(wire.contains("221 "), "{wire}");
    // The reader comes back: it learns how many lines it missed.
    let mut stderr = served.child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        text
    });
    let exit = served.stop("TERM");
    assert!(exit.success(), "{exit:?}");
    let text = reader.join().unwrap();
    let dropped: u64 = text
        .lines()
        .filter_map(|l| l.strip_prefix("… "))
        .filter_map(|l| l.strip_suffix(" transcript lines dropped: stderr is not being read"))
        .map(|n| n.parse::<u64>().unwrap())
        .sum();
    assert!(
        dropped > 0,
        "no drop note in {} bytes of stderr",
        text.len()
    );
    let shown = text
        .lines()
        .filter(|l| l.starts_with("#1  -> NOOP"))
        .count() as u64;
    assert!(shown < 40_000, "{shown}");
}

/// Run `smtp-harness ARGS` with stdout and stderr connected to sockets whose
/// other end is already closed: every write fails with EPIPE, at once, with
/// no race against a reader.
fn with_closed_output(args: &[&str]) -> std::process::ExitStatus {
    use std::os::fd::OwnedFd;
    use std::os::unix::net::UnixStream;
    let closed = || {
        let (ours, theirs) = UnixStream::pair().unwrap();
        drop(ours);
        Stdio::from(OwnedFd::from(theirs))
    };
    Command::new(env!("CARGO_BIN_EXE_smtp-harness"))
        .args(args)
        .stdout(closed())
        .stderr(closed())
        .status()
        .unwrap()
}

#[test]
fn every_command_ends_quietly_when_its_reader_has_gone() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "banner:\n  replly: x\n").unwrap();
    let bad = bad.to_str().unwrap();
    // The exit status is the command's own, as if the output had been read
    // (a panic would be 101).
    for (args, code) in [
        (&["scenarios"][..], 0),
        (&["profiles"], 0),
        (&["schema"], 0),
        (&["schema", "profile"], 0),
        (&["validate", "scenarios/postfix-default.yaml"], 0),
        (&["validate", bad], 1),
        (&["demo"], 0),
        (&["demo", "--profile", "transparent"], 0),
        (&["import", "tests/fixtures/aiosmtpd-swaks.txt"], 0),
        (&["--help"], 0),
    ] {
        let status = with_closed_output(args);
        assert_eq!(status.code(), Some(code), "{args:?}: {status:?}");
    }
}

#[test]
fn a_full_stdout_is_an_error_not_silence() {
    let status = Command::new(env!("CARGO_BIN_EXE_smtp-harness"))
        .arg("scenarios")
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert!(stderr.contains("cannot write to stdout"), "{stderr}");
}
