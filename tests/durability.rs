//! Nothing lost silently: a message is answered 250 only once the Maildir
//! has it, and the binary says when its transcript or live view fails.

mod common;

use common::RawClient;
use smtp_harness::Scenario;
use smtp_harness::server::{self, Shared, maildir::Maildir};
use smtp_harness::transcript::{EventKind, Recorder, Retention};
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

    let mut c = RawClient::connect(addr).await;
    assert_eq!(c.code().await, 220);
    assert_eq!(c.cmd("EHLO client").await, 250);
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
    assert!(messages[0].text().starts_with("Subject: retry"));
    // The transcript agrees with the wire: a 451, and one message event.
    let session = &shared.recorder.transcript().sessions[0];
    assert!(
        session
            .reply_codes_on(smtp_harness::transcript::Leg::Client)
            .contains(&451)
    );
    let stored = session
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Message { .. }))
        .count();
    assert_eq!(stored, 1);
}

#[tokio::test]
async fn a_last_bdat_chunk_the_maildir_cannot_take_gets_451_and_other_sessions_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mail");
    let (shared, addr, _stop) = with_maildir(CHUNKING, &root).await;
    break_mailbox(&root, "bob@example.org");

    let mut c = RawClient::connect(addr).await;
    assert_eq!(c.code().await, 220);
    assert_eq!(c.cmd("EHLO client").await, 250);
    transaction(&mut c, &["bob@example.org"]).await;
    let reply = c.reply_to("BDAT 9 LAST\r\nSubject: ").await;
    assert!(reply[0].starts_with("451 4.3.0 "), "{reply:?}");

    // Another connection, another mailbox: served and stored.
    let mut d = RawClient::connect(addr).await;
    assert_eq!(d.code().await, 220);
    assert_eq!(d.cmd("EHLO other").await, 250);
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
