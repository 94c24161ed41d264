//! Mail the fake server accepted: envelope plus the exact bytes received.

use bytes::Bytes;
use serde::Serialize;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

/// One recipient of an accepted message.
///
/// # Example
///
/// ```
/// use smtp_harness::{MockServer, Recipient, Scenario};
/// # use std::io::{BufRead, BufReader, Write};
/// # fn talk(addr: std::net::SocketAddr, lines: &[&str]) -> std::io::Result<Vec<String>> {
/// #     let mut sock = std::net::TcpStream::connect(addr)?;
/// #     let mut from = BufReader::new(sock.try_clone()?);
/// #     let mut reply = || -> std::io::Result<String> {
/// #         let mut all = String::new();
/// #         loop {
/// #             let mut line = String::new();
/// #             if from.read_line(&mut line)? == 0 || line.as_bytes().get(3) != Some(&b'-') {
/// #                 all.push_str(&line);
/// #                 return Ok(all);
/// #             }
/// #             all.push_str(&line);
/// #         }
/// #     };
/// #     let mut replies = vec![reply()?];
/// #     for line in lines {
/// #         sock.write_all(format!("{line}\r\n").as_bytes())?;
/// #         replies.push(reply()?);
/// #     }
/// #     Ok(replies)
/// # }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = MockServer::start_blocking(Scenario::default())?;
/// talk(server.addr(), &[
///     "EHLO client.example",
///     "MAIL FROM:<alice@example.com>",
///     "RCPT TO:<bob@example.net>",
///     "DATA",
///     "Subject: hello\r\n\r\nHi Bob.\r\n.",
///     "QUIT",
/// ])?;
/// server.wait_for_sessions_blocking(1)?;
/// let Recipient { original, delivered_to } = server.messages()[0].recipients[0].clone();
/// assert_eq!((original.as_str(), delivered_to.as_str()), ("bob@example.net", "bob@example.net"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recipient {
    /// The address the client gave in RCPT TO.
    pub original: String,
    /// The mailbox the message was delivered to (differs after rerouting).
    pub delivered_to: String,
}

/// An accepted message.
///
/// # Example
///
/// ```
/// use smtp_harness::{MockServer, Scenario};
/// # use std::io::{BufRead, BufReader, Write};
/// # fn talk(addr: std::net::SocketAddr, lines: &[&str]) -> std::io::Result<Vec<String>> {
/// #     let mut sock = std::net::TcpStream::connect(addr)?;
/// #     let mut from = BufReader::new(sock.try_clone()?);
/// #     let mut reply = || -> std::io::Result<String> {
/// #         let mut all = String::new();
/// #         loop {
/// #             let mut line = String::new();
/// #             if from.read_line(&mut line)? == 0 || line.as_bytes().get(3) != Some(&b'-') {
/// #                 all.push_str(&line);
/// #                 return Ok(all);
/// #             }
/// #             all.push_str(&line);
/// #         }
/// #     };
/// #     let mut replies = vec![reply()?];
/// #     for line in lines {
/// #         sock.write_all(format!("{line}\r\n").as_bytes())?;
/// #         replies.push(reply()?);
/// #     }
/// #     Ok(replies)
/// # }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = MockServer::start_blocking(Scenario::default())?;
/// talk(server.addr(), &[
///     "EHLO client.example",
///     "MAIL FROM:<alice@example.com>",
///     "RCPT TO:<bob@example.net>",
///     "DATA",
///     "Subject: hello\r\n\r\nHi Bob.\r\n.",
///     "QUIT",
/// ])?;
/// server.wait_for_sessions_blocking(1)?;
/// let messages = server.messages();
/// let m = &messages[0];
/// assert_eq!(m.mail_from, "alice@example.com"); // fields
/// assert_eq!(m.rcpt_to(), ["bob@example.net"]); // methods
/// assert_eq!(m.header("Subject")?.as_deref(), Some("hello"));
/// assert!(m.text()?.ends_with("Hi Bob.\r\n"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    /// The session that delivered it.
    pub session: u64,
    /// The id in the server's 250 reply.
    pub queue_id: String,
    /// The client's address.
    pub peer: SocketAddr,
    /// What the client said in HELO/EHLO.
    pub helo: Option<String>,
    /// The reverse path (empty for `<>`).
    pub mail_from: String,
    /// The recipients, in RCPT order.
    pub recipients: Vec<Recipient>,
    /// The message content, dot-unstuffed, exactly as received: in memory,
    /// or in a file once the recorder keeps it (`limits.message_memory`).
    pub data: Body,
    /// When the end of DATA arrived.
    pub received_at: SystemTime,
    /// The non-standard sequence that ended it (`<LF>.<CRLF>`), when the
    /// scenario's `data.end_of_data` took one: what followed it in the
    /// client's stream was read as commands (SMTP smuggling).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_of_data: Option<String>,
    /// How many bare CRs and LFs it held (offsets in the transcript's
    /// `data` event).
    pub bare_newlines: usize,
}

impl Message {
    /// Did a sequence other than `<CRLF>.<CRLF>` end it?
    pub fn ended_non_standard(&self) -> bool {
        self.end_of_data.is_some()
    }

    /// The message content, exactly as received (read from its file when
    /// it is kept in one).
    pub fn bytes(&self) -> io::Result<Bytes> {
        self.data.read()
    }

    /// The message content as text (lossy UTF-8).
    pub fn text(&self) -> io::Result<String> {
        Ok(String::from_utf8_lossy(&self.bytes()?).into_owned())
    }

    /// The value of the first header `name` (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> io::Result<Option<String>> {
        let text = self.text()?;
        let head = text.split("\r\n\r\n").next().unwrap_or_default();
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(v) = value.as_mut() {
                if line.starts_with([' ', '\t']) {
                    v.push_str(line);
                    continue;
                }
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case(name)
            {
                value = Some(v.trim().to_string());
            }
        }
        Ok(value)
    }

    /// The recipients' original addresses.
    pub fn rcpt_to(&self) -> Vec<&str> {
        self.recipients
            .iter()
            .map(|r| r.original.as_str())
            .collect()
    }
}

/// A message's content: in memory, or in a file of the recorder's private
/// temporary directory, removed when the last copy of the message is
/// dropped (so when the recorder forgets it and no caller holds it).
///
/// # Example
///
/// ```
/// use smtp_harness::{MockServer, Scenario};
/// # use std::io::{BufRead, BufReader, Write};
/// # fn talk(addr: std::net::SocketAddr, lines: &[&str]) -> std::io::Result<Vec<String>> {
/// #     let mut sock = std::net::TcpStream::connect(addr)?;
/// #     let mut from = BufReader::new(sock.try_clone()?);
/// #     let mut reply = || -> std::io::Result<String> {
/// #         let mut all = String::new();
/// #         loop {
/// #             let mut line = String::new();
/// #             if from.read_line(&mut line)? == 0 || line.as_bytes().get(3) != Some(&b'-') {
/// #                 all.push_str(&line);
/// #                 return Ok(all);
/// #             }
/// #             all.push_str(&line);
/// #         }
/// #     };
/// #     let mut replies = vec![reply()?];
/// #     for line in lines {
/// #         sock.write_all(format!("{line}\r\n").as_bytes())?;
/// #         replies.push(reply()?);
/// #     }
/// #     Ok(replies)
/// # }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = MockServer::start_blocking(Scenario::default())?;
/// talk(server.addr(), &[
///     "EHLO client.example",
///     "MAIL FROM:<alice@example.com>",
///     "RCPT TO:<bob@example.net>",
///     "DATA",
///     "Subject: hello\r\n\r\nHi Bob.\r\n.",
///     "QUIT",
/// ])?;
/// server.wait_for_sessions_blocking(1)?;
/// let body = &server.messages()[0].data;
/// assert_eq!(body.len(), body.read()?.len());
/// assert!(body.path().is_none()); // small: kept in memory, not in a file
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Body(Stored);

#[derive(Clone)]
enum Stored {
    Memory(Bytes),
    File(Arc<BodyFile>),
}

struct BodyFile {
    /// Removes the file when dropped; declared before `_dir` so the file
    /// goes before its directory.
    path: tempfile::TempPath,
    len: usize,
    _dir: Arc<tempfile::TempDir>,
}

impl Body {
    /// Its size in octets.
    pub fn len(&self) -> usize {
        match &self.0 {
            Stored::Memory(b) => b.len(),
            Stored::File(f) => f.len,
        }
    }

    /// It has no octets.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The file it is kept in, if it is not in memory.
    pub fn path(&self) -> Option<&Path> {
        match &self.0 {
            Stored::Memory(_) => None,
            Stored::File(f) => Some(&f.path),
        }
    }

    /// The octets (read from the file when it is kept in one).
    pub fn read(&self) -> io::Result<Bytes> {
        match &self.0 {
            Stored::Memory(b) => Ok(b.clone()),
            Stored::File(f) => {
                let data = std::fs::read(&f.path)?;
                if data.len() != f.len {
                    return Err(io::Error::other(format!(
                        "{} holds {} octets, not the {} received",
                        f.path.display(),
                        data.len(),
                        f.len
                    )));
                }
                Ok(Bytes::from(data))
            }
        }
    }

    /// At most the first `cap` octets, reading no more of a file than that.
    pub fn head(&self, cap: usize) -> io::Result<Bytes> {
        use std::io::Read;
        match &self.0 {
            Stored::Memory(b) => Ok(b.slice(..b.len().min(cap))),
            Stored::File(f) => {
                let mut data = Vec::with_capacity(cap.min(f.len));
                std::fs::File::open(&f.path)?
                    .take(cap as u64)
                    .read_to_end(&mut data)?;
                Ok(Bytes::from(data))
            }
        }
    }

    /// The same content in a new file of `dir`; memory is freed once every
    /// copy of the in-memory body is dropped.
    pub(crate) fn to_file(&self, dir: &Arc<tempfile::TempDir>) -> io::Result<Body> {
        let Stored::Memory(bytes) = &self.0 else {
            return Ok(self.clone());
        };
        let mut file = tempfile::Builder::new()
            .prefix("message-")
            .suffix(".eml")
            .tempfile_in(dir.path())?;
        file.write_all(bytes)?;
        file.flush()?;
        // Closed now: a thousand kept messages must not hold a thousand
        // descriptors. The path still removes the file when dropped.
        let path = file.into_temp_path();
        Ok(Body(Stored::File(Arc::new(BodyFile {
            path,
            len: bytes.len(),
            _dir: Arc::clone(dir),
        }))))
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Body {
        Body(Stored::Memory(bytes))
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Body {
        Body(Stored::Memory(Bytes::from(bytes)))
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Stored::Memory(b) => write!(f, "Body({} octets in memory)", b.len()),
            Stored::File(file) => {
                write!(f, "Body({} octets in {})", file.len, file.path.display())
            }
        }
    }
}

impl Serialize for Body {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let bytes = self.read().map_err(serde::ser::Error::custom)?;
        s.serialize_str(&String::from_utf8_lossy(&bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_moved_to_a_file_reads_back_exactly_and_the_file_goes_with_it() {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let content: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
        let body = Body::from(content.clone()).to_file(&dir).unwrap();
        assert_eq!(body.len(), content.len());
        let path = body.path().expect("in a file").to_path_buf();
        assert!(path.starts_with(dir.path()));
        assert_eq!(&body.read().unwrap()[..], &content[..]);
        let copy = body.clone();
        drop(body);
        assert!(path.exists(), "a copy still holds it");
        drop(copy);
        assert!(!path.exists(), "the last copy removes the file");
    }

    #[test]
    fn a_file_changed_behind_our_back_is_an_error_not_a_wrong_body() {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let body = Body::from(b"hello".to_vec()).to_file(&dir).unwrap();
        std::fs::write(body.path().unwrap(), b"hi").unwrap();
        assert!(body.read().is_err());
    }
}
