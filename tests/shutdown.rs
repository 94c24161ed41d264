//! SIGTERM while `serve --maildir` is under load (issue 8): every message a
//! client saw accepted is complete in `new/`, nothing is left in `tmp/`, and
//! the clients still talking get `421 4.3.2`.

mod common;

use common::Launched;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CLIENTS: usize = 6;
/// Each client stops by itself after this many sessions.
const MAX_SESSIONS: usize = 400;

/// One SMTP client's loop; returns whether it was told 421 4.3.2.
fn client(addr: String, id: usize, stop: Arc<AtomicBool>, accepted: Arc<AtomicUsize>) -> bool {
    let body = format!(
        "Subject: load {id}\r\n\r\n{}END-OF-MESSAGE\r\n",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n".repeat(300)
    );
    for n in 0..MAX_SESSIONS {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let Ok(s) = TcpStream::connect(&addr) else {
            return false;
        };
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        let mut reply = || -> Option<String> {
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).ok()? == 0 {
                    return None;
                }
                if line.as_bytes().get(3) != Some(&b'-') {
                    return Some(line);
                }
            }
        };
        let mut steps = vec![
            "EHLO load.example\r\n".to_string(),
            format!("MAIL FROM:<c{id}@example.org>\r\n"),
            format!("RCPT TO:<box{}@example.com>\r\n", n % 3),
            "DATA\r\n".to_string(),
            format!("{body}.\r\n"),
            "QUIT\r\n".to_string(),
        ]
        .into_iter();
        let mut got = match reply() {
            Some(g) => g,
            None => return false,
        };
        loop {
            if got.starts_with("421") {
                assert!(got.starts_with("421 4.3.2"), "{got:?}");
                return true;
            }
            if got.starts_with("250 2.0.0 Ok: queued") {
                accepted.fetch_add(1, Ordering::SeqCst);
            }
            let Some(step) = steps.next() else { break };
            if w.write_all(step.as_bytes()).is_err() {
                break;
            }
            got = match reply() {
                Some(g) => g,
                None => break,
            };
        }
    }
    false
}

fn files_in(dir: &Path, sub: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for folder in std::fs::read_dir(dir).unwrap() {
        let folder = folder.unwrap().path();
        if let Ok(entries) = std::fs::read_dir(folder.join(sub)) {
            out.extend(entries.map(|e| e.unwrap().path()));
        }
    }
    out
}

#[test]
fn sigterm_under_load_leaves_only_whole_messages_in_the_maildir() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("mail");
    let mut cmd = Launched::command(&[
        "serve",
        "postfix-default",
        "--listen",
        "127.0.0.1:0",
        "--quiet",
    ]);
    cmd.arg("--maildir").arg(&maildir).stderr(Stdio::null());
    let mut served = Launched::spawn(cmd);
    let addr = served.addr.clone();

    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let (addr, stop, accepted) = (addr.clone(), stop.clone(), accepted.clone());
            std::thread::spawn(move || client(addr, id, stop, accepted))
        })
        .collect();
    // Under load: wait for some deliveries, then SIGTERM mid-stream.
    let t0 = Instant::now();
    while accepted.load(Ordering::SeqCst) < 30 && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        accepted.load(Ordering::SeqCst) >= 30,
        "no load reached the server"
    );
    // A session idle mid-transaction at the signal must be told 421 4.3.2.
    let idle = TcpStream::connect(&addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut idle_w = idle.try_clone().unwrap();
    let mut idle_r = BufReader::new(idle);
    let mut greeting = String::new();
    idle_r.read_line(&mut greeting).unwrap();
    idle_w
        .write_all(b"HELO idle.example\r\nMAIL FROM:<idle@example.org>\r\n")
        .unwrap();
    let mut answers = String::new();
    for _ in 0..2 {
        idle_r.read_line(&mut answers).unwrap();
    }
    assert!(answers.ends_with("250 2.1.0 Ok\r\n"), "{answers:?}");
    Command::new("kill")
        .args(["-TERM", &served.child.id().to_string()])
        .status()
        .unwrap();
    let t0 = Instant::now();
    let status = loop {
        if let Some(status) = served.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "serve did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    stop.store(true, Ordering::Relaxed);
    // Load clients may be cut while writing a body; when they do read a
    // 421 it must be 4.3.2 (asserted in `client`).
    for t in threads {
        t.join().unwrap();
    }
    assert!(status.success(), "{status:?}");
    let mut bye = String::new();
    idle_r.read_line(&mut bye).unwrap();
    assert!(bye.starts_with("421 4.3.2"), "{bye:?}");

    let tmp = files_in(&maildir, "tmp");
    assert!(tmp.is_empty(), "partial files left in tmp/: {tmp:?}");
    let new = files_in(&maildir, "new");
    let accepted = accepted.load(Ordering::SeqCst);
    // Every accepted message is on disk (250 is sent after the rename); a
    // message may be on disk without its 250 if the client was cut off.
    assert!(
        new.len() >= accepted && new.len() <= accepted + CLIENTS,
        "{} files for {accepted} accepted messages",
        new.len()
    );
    for f in &new {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(
            text.starts_with("Return-Path: <c") && text.ends_with("END-OF-MESSAGE\r\n"),
            "incomplete message {f:?}"
        );
    }
}
