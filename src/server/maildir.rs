//! Writes accepted mail to a real Maildir, one folder per final recipient,
//! the way Postfix's local delivery does: written to `tmp/`, then renamed
//! into `new/`, so a reader never sees a partial file.

use crate::message::Message;
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
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Deliver one copy per recipient; returns the files written.
    pub fn deliver(&self, message: &Message) -> io::Result<Vec<PathBuf>> {
        let mut written = Vec::new();
        for rcpt in &message.recipients {
            let dir = self.root.join(folder_name(&rcpt.delivered_to));
            for sub in ["tmp", "new", "cur"] {
                fs::create_dir_all(dir.join(sub))?;
            }
            let n = self.counter.fetch_add(1, Ordering::Relaxed);
            let t = message
                .received_at
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let name = format!(
                "{}.M{}P{}Q{}.{}",
                t.as_secs(),
                t.subsec_micros(),
                std::process::id(),
                n,
                self.host
            );
            let tmp = dir.join("tmp").join(&name);
            let new = dir.join("new").join(&name);
            let write = || -> io::Result<()> {
                let mut f = fs::File::create(&tmp)?;
                write!(
                    f,
                    "Return-Path: <{}>\r\nX-Original-To: {}\r\nDelivered-To: {}\r\n",
                    message.mail_from, rcpt.original, rcpt.delivered_to
                )?;
                f.write_all(&message.bytes()?)?;
                f.sync_data()?;
                drop(f);
                fs::rename(&tmp, &new)
            };
            if let Err(e) = write() {
                // A full disk must not leave a partial file in tmp/.
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
            written.push(new);
        }
        Ok(written)
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

    #[test]
    fn folder_names_cannot_escape() {
        assert_eq!(folder_name("../../etc/passwd"), "_.._.._etc_passwd");
        assert_eq!(folder_name("a@b.c"), "a@b.c");
        assert_eq!(folder_name(""), "_");
    }
}
