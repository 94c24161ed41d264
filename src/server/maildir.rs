//! Writes accepted mail to a real Maildir, one folder per final recipient,
//! the way Postfix's local delivery does: written to `tmp/`, synced, renamed
//! into `new/`, and the directory synced, so a reader never sees a partial
//! file and a crash after the client's 250 cannot lose it.
//!
//! A delivery is all or nothing: the connection answers the end of data only
//! after [`Maildir::deliver`] returns, with 250 if it succeeded and 451 if
//! not, and a 451'd message must not be left behind for some recipients
//! (the client will send it again).

use crate::message::{Message, Recipient};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::UNIX_EPOCH;

/// A Maildir root: `ROOT/<recipient>/{tmp,new,cur}`.
#[derive(Debug)]
pub struct Maildir {
    root: PathBuf,
    counter: AtomicU64,
    host: String,
}

impl Maildir {
    /// Use (and create) `root`.
    pub fn new(root: impl Into<PathBuf>) -> io::Result<Maildir> {
        let root = root.into();
        fs::create_dir_all(&root)?;
        Ok(Maildir {
            root,
            counter: AtomicU64::new(0),
            host: "smtp-harness".into(),
        })
    }

    /// The root folder.
    #[cfg(any(test, feature = "internals"))]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Deliver one copy per recipient of every message, durably, or none:
    /// on any error the files already written are removed and the error is
    /// returned. Returns the files written. Blocking file I/O: async callers
    /// run it on a blocking thread.
    pub fn deliver(&self, messages: &[Message]) -> io::Result<Vec<PathBuf>> {
        let mut staged = Staged::default();
        // (tmp/ file, its name in new/) for each copy written.
        let mut written = Vec::new();
        for message in messages {
            // Once per message, not per recipient: it may be in a file.
            let data = message.bytes()?;
            for rcpt in &message.recipients {
                let dir = self.folder(&rcpt.delivered_to)?;
                let name = self.unique_name(message);
                let tmp = dir.join("tmp").join(&name);
                write_synced(&tmp, message, &data, rcpt, &mut staged.tmp)?;
                written.push((tmp, dir.join("new").join(&name)));
            }
        }
        for (tmp, new) in written {
            fs::rename(&tmp, &new)?;
            staged.tmp.retain(|t| *t != tmp);
            staged.delivered.push(new);
        }
        // The rename is only durable once the directory entry is (the
        // Maildir protocol, and what Postfix's local(8) does).
        let mut synced: Vec<&Path> = Vec::new();
        for file in &staged.delivered {
            if let Some(dir) = file.parent()
                && !synced.contains(&dir)
            {
                sync_dir(dir)?;
                synced.push(dir);
            }
        }
        Ok(std::mem::take(&mut staged.delivered))
    }

    /// `ROOT/<recipient>` with its three subfolders; a folder made now is
    /// synced into its parent, so the first message's file is not orphaned
    /// by a crash.
    fn folder(&self, address: &str) -> io::Result<PathBuf> {
        let dir = self.root.join(folder_name(address));
        if dir.join("new").is_dir() && dir.join("tmp").is_dir() {
            return Ok(dir);
        }
        for sub in ["tmp", "new", "cur"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        sync_dir(&dir)?;
        sync_dir(&self.root)?;
        Ok(dir)
    }

    fn unique_name(&self, message: &Message) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let t = message
            .received_at
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        format!(
            "{}.M{}P{}Q{}.{}",
            t.as_secs(),
            t.subsec_micros(),
            std::process::id(),
            n,
            self.host
        )
    }
}

/// The files of a delivery under way; dropped before the delivery is
/// complete, it removes them all (a full disk must not leave partial files
/// in `tmp/`, nor a 451'd message in some recipients' `new/`).
#[derive(Default)]
struct Staged {
    tmp: Vec<PathBuf>,
    delivered: Vec<PathBuf>,
}

impl Drop for Staged {
    fn drop(&mut self) {
        for file in self.tmp.iter().chain(&self.delivered) {
            let _ = fs::remove_file(file);
        }
    }
}

/// Write one copy of `message` (its content: `data`) to `path` (a new file,
/// then in `created` to be cleaned up) and sync it.
fn write_synced(
    path: &Path,
    message: &Message,
    data: &[u8],
    rcpt: &Recipient,
    created: &mut Vec<PathBuf>,
) -> io::Result<()> {
    let mut f = fs::File::create_new(path)?;
    created.push(path.to_path_buf());
    write!(
        f,
        "Return-Path: <{}>\r\nX-Original-To: {}\r\nDelivered-To: {}\r\n",
        message.mail_from, rcpt.original, rcpt.delivered_to
    )?;
    f.write_all(data)?;
    f.sync_data()
}

/// fsync a directory, making the entries made in it durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()
    }
    // Windows cannot open a directory as a file; its renames are metadata
    // journalled by NTFS.
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// A recipient address as a single safe path component: a client must not
/// be able to write outside the Maildir root (`../../etc`).
fn folder_name(address: &str) -> String {
    let mut name: String = address
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if name.is_empty() || name.starts_with('.') {
        name.insert(0, '_');
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(to: &[&str]) -> Message {
        Message {
            session: 1,
            queue_id: "Q".into(),
            peer: "127.0.0.1:1".parse().unwrap(),
            helo: None,
            mail_from: "a@b.c".into(),
            end_of_data: None,
            bare_newlines: 0,
            recipients: to
                .iter()
                .map(|t| Recipient {
                    original: t.to_string(),
                    delivered_to: t.to_string(),
                })
                .collect(),
            data: bytes::Bytes::from_static(b"Subject: x\r\n\r\nx\r\n").into(),
            received_at: std::time::SystemTime::now(),
        }
    }

    fn count(dir: &Path) -> usize {
        fs::read_dir(dir).map_or(0, |d| d.count())
    }

    #[test]
    fn a_batch_is_delivered_to_every_folder_or_to_none() {
        let root = tempfile::tempdir().unwrap();
        let md = Maildir::new(root.path()).unwrap();
        let batch = [message(&["x@y.z", "u@v.w"]), message(&["x@y.z"])];
        assert_eq!(md.deliver(&batch).unwrap().len(), 3);
        assert_eq!(count(&root.path().join("x@y.z/new")), 2);
        assert_eq!(count(&root.path().join("x@y.z/tmp")), 0);
        // One folder that cannot take it: nobody gets this batch.
        fs::create_dir_all(root.path().join("bad@y.z/tmp")).unwrap();
        fs::write(root.path().join("bad@y.z/new"), "a file").unwrap();
        let batch = [message(&["x@y.z"]), message(&["u@v.w", "bad@y.z"])];
        assert!(md.deliver(&batch).is_err());
        assert_eq!(count(&root.path().join("x@y.z/new")), 2);
        assert_eq!(count(&root.path().join("x@y.z/tmp")), 0);
        assert_eq!(count(&root.path().join("u@v.w/new")), 1);
        assert_eq!(count(&root.path().join("u@v.w/tmp")), 0);
    }

    #[test]
    fn folder_names_cannot_escape() {
        assert_eq!(folder_name("../../etc/passwd"), "_.._.._etc_passwd");
        assert_eq!(folder_name("a@b.c"), "a@b.c");
        assert_eq!(folder_name(""), "_");
    }
}
