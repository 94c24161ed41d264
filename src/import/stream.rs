//! Turns the two reassembled byte streams of one TCP connection into a
//! [`CapturedSession`]: client bytes become command lines, message content
//! (after `354`, or a `BDAT` chunk) and nothing after TLS starts; server
//! bytes become replies.
//!
//! Both directions are fed in capture order. Client bytes that follow `DATA`
//! or `STARTTLS` wait until the server's answer says what they are (content,
//! more commands, or a TLS handshake).

use super::builder::{Mode, SessionBuilder, bdat_size};
use super::model::{CapturedSession, End};
use std::time::Duration;

/// Longest command or reply line accepted before the stream is declared
/// not to be SMTP any more.
const MAX_LINE: usize = 1 << 20;

/// Which side sent the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The SMTP client.
    Client,
    /// The SMTP server.
    Server,
}

/// The SMTP interpretation of one connection.
#[derive(Debug)]
pub struct SmtpStream {
    b: SessionBuilder,
    client_buf: Vec<u8>,
    server_buf: Vec<u8>,
    data_raw: Vec<u8>,
    data_size: usize,
    data_lossy: bool,
    bdat_left: usize,
    bdat_size: usize,
    /// Set when a gap outside message content stops interpretation.
    broken: bool,
    warnings: Vec<String>,
}

impl SmtpStream {
    /// Start interpreting a session.
    pub fn new(session: CapturedSession) -> SmtpStream {
        SmtpStream {
            b: SessionBuilder::new(session, false),
            client_buf: Vec::new(),
            server_buf: Vec::new(),
            data_raw: Vec::new(),
            data_size: 0,
            data_lossy: false,
            bdat_left: 0,
            bdat_size: 0,
            broken: false,
            warnings: Vec::new(),
        }
    }

    fn label(&self) -> &str {
        &self.b.session().label
    }

    /// Bytes from one side.
    pub fn bytes(&mut self, side: Side, bytes: &[u8], at: Option<Duration>) {
        if self.broken || self.b.mode() == Mode::Tls {
            return;
        }
        match side {
            Side::Client => {
                self.client_buf.extend_from_slice(bytes);
                self.process_client(at);
            }
            Side::Server => {
                self.server_buf.extend_from_slice(bytes);
                self.process_server(at);
            }
        }
    }

    /// `n` bytes from one side were never captured.
    pub fn gap(&mut self, side: Side, n: u64, at: Option<Duration>) {
        if self.broken || self.b.mode() == Mode::Tls {
            return;
        }
        if side == Side::Client && self.bdat_left > 0 {
            let k = (n as usize).min(self.bdat_left);
            self.bdat_left -= k;
            self.data_lossy = true;
            let rest = n - k as u64;
            self.warnings.push(format!(
                "{}: {n} byte(s) of a BDAT chunk were not captured",
                self.label()
            ));
            if self.bdat_left == 0 {
                self.end_bdat(at);
            }
            if rest == 0 {
                return;
            }
        } else if side == Side::Client && self.b.mode() == Mode::Data {
            self.data_size += n as usize;
            self.data_lossy = true;
            self.warnings.push(format!(
                "{}: {n} byte(s) of message content were not captured",
                self.label()
            ));
            return;
        }
        let who = if side == Side::Client {
            "client"
        } else {
            "server"
        };
        self.warnings.push(format!(
            "{}: {n} byte(s) from the {who} were not captured; the rest of the session is not imported",
            self.label()
        ));
        self.broken = true;
    }

    fn end_bdat(&mut self, at: Option<Duration>) {
        let raw = std::mem::take(&mut self.data_raw);
        let raw = (!self.data_lossy).then_some(raw);
        self.data_lossy = false;
        self.b.bdat_chunk(raw, self.bdat_size, at);
    }

    fn process_server(&mut self, at: Option<Duration>) {
        let mut pos = 0;
        while let Some(k) = memchr::memchr(b'\n', &self.server_buf[pos..]) {
            let raw = &self.server_buf[pos..pos + k];
            let line = raw.strip_suffix(b"\r").unwrap_or(raw);
            self.b.server_line(line, at);
            pos += k + 1;
            if self.b.mode() == Mode::Tls {
                self.server_buf.clear();
                self.client_buf.clear();
                return;
            }
            if !self.b.reply_open() && !self.client_buf.is_empty() {
                // The reply may have decided what waiting client bytes are.
                self.process_client(at);
            }
        }
        self.server_buf.drain(..pos);
        if self.server_buf.len() > MAX_LINE {
            self.warnings.push(format!(
                "{}: the server sent over {MAX_LINE} bytes without a line end; the rest of the session is not imported",
                self.label()
            ));
            self.broken = true;
        }
    }

    fn process_client(&mut self, at: Option<Duration>) {
        let mut pos = 0;
        loop {
            if self.bdat_left > 0 {
                let k = self.bdat_left.min(self.client_buf.len() - pos);
                if k == 0 {
                    break;
                }
                self.data_raw
                    .extend_from_slice(&self.client_buf[pos..pos + k]);
                pos += k;
                self.bdat_left -= k;
                if self.bdat_left == 0 {
                    self.end_bdat(at);
                }
                continue;
            }
            match self.b.mode() {
                Mode::Command => {
                    let Some(k) = memchr::memchr(b'\n', &self.client_buf[pos..]) else {
                        break;
                    };
                    let raw = &self.client_buf[pos..pos + k];
                    let line = raw.strip_suffix(b"\r").unwrap_or(raw);
                    let chunk = bdat_size(line);
                    self.b.command(line, at);
                    pos += k + 1;
                    if let Some(n) = chunk {
                        if n > 0 {
                            self.bdat_left = n;
                            self.bdat_size = n;
                            self.data_raw.clear();
                        } else {
                            self.b.bdat_chunk(Some(Vec::new()), 0, at);
                        }
                    }
                }
                Mode::Data => {
                    let Some(k) = memchr::memchr(b'\n', &self.client_buf[pos..]) else {
                        break;
                    };
                    let line = &self.client_buf[pos..=pos + k];
                    pos += k + 1;
                    self.data_raw.extend_from_slice(line);
                    if line == b".\r\n" || line == b".\n" {
                        let raw = std::mem::take(&mut self.data_raw);
                        let raw = (!self.data_lossy).then_some(raw);
                        self.data_lossy = false;
                        let size = std::mem::take(&mut self.data_size);
                        self.b.data_end(Some(size), raw, at);
                    } else {
                        self.data_size += line.len() - usize::from(line[0] == b'.');
                    }
                }
                Mode::AwaitDataReply | Mode::AwaitTlsReply => break,
                Mode::Tls => {
                    pos = self.client_buf.len();
                    break;
                }
            }
        }
        self.client_buf.drain(..pos);
        if self.client_buf.len() > MAX_LINE && self.b.mode() == Mode::Command {
            self.warnings.push(format!(
                "{}: the client sent over {MAX_LINE} bytes without a line end; the rest of the session is not imported",
                self.label()
            ));
            self.broken = true;
        }
    }

    /// The connection ended (or the capture did). Returns the session and
    /// what looked wrong.
    pub fn finish(mut self, end: End, at: Option<Duration>) -> (CapturedSession, Vec<String>) {
        if !self.broken && self.b.mode() != Mode::Tls {
            if !self.server_buf.is_empty() {
                let line = std::mem::take(&mut self.server_buf);
                self.warnings.push(format!(
                    "{}: the last server line has no line end",
                    self.label()
                ));
                self.b.server_line(&line, at);
            }
            if self.b.mode() == Mode::Command && !self.client_buf.is_empty() {
                let line = std::mem::take(&mut self.client_buf);
                self.warnings.push(format!(
                    "{}: the last client line has no line end",
                    self.label()
                ));
                self.b.command(&line, at);
            }
            if self.bdat_left > 0 || (self.b.mode() == Mode::Data && !self.data_raw.is_empty()) {
                self.warnings.push(format!(
                    "{}: the capture ends in the middle of message content",
                    self.label()
                ));
            }
        }
        let session = self.b.finish(end, at);
        (session, self.warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::model::ItemKind;

    fn run(parts: &[(Side, &[u8])]) -> CapturedSession {
        let mut s = SmtpStream::new(CapturedSession::default());
        for (side, b) in parts {
            s.bytes(*side, b, None);
        }
        s.finish(End::CutOff, None).0
    }

    #[test]
    fn pipelined_data_and_bdat() {
        use Side::*;
        let s = run(&[
            (Server, b"220 hi\r\n"),
            (Client, b"EHLO x\r\n"),
            (Server, b"250-a\r\n250 b\r\n"),
            (Client, b"RCPT TO:<a>\r\nDATA\r\n"),
            // Content arrives before the 354 in capture order: it waits.
            (Client, b"Subject: x\r\n..dot\r\n.\r\n"),
            (Server, b"250 ok\r\n354 go\r\n"),
            (Server, b"250 queued\r\n"),
            (Client, b"BDAT 5 LAST\r\nab\r\nc"),
            (Server, b"250 ok\r\n"),
            (Client, b"BDAT SCRAMBLE\r\nQUIT\r\n"),
        ]);
        assert_eq!(
            s.commands(),
            [
                "EHLO x",
                "RCPT TO:<a>",
                "DATA",
                "BDAT 5 LAST",
                "BDAT SCRAMBLE",
                "QUIT"
            ]
        );
        assert_eq!(s.data(), vec![(Some(18), Some(22)), (Some(5), Some(5))]);
        assert_eq!(s.replies()[1], ["250-a", "250 b"]);
    }

    #[test]
    fn tls_makes_the_rest_opaque() {
        use Side::*;
        let s = run(&[
            (Server, b"220 hi\r\n"),
            (Client, b"STARTTLS\r\n\x16\x03\x01junk\n"),
            (Server, b"220 go\r\n\x16\x03\x03more\n"),
            (Client, b"\x17\x03\x03\n"),
        ]);
        assert_eq!(s.commands(), ["STARTTLS"]);
        assert!(s.tls_started());
        assert!(matches!(
            s.items.last().map(|i| &i.kind),
            Some(ItemKind::End(End::CutOff))
        ));
    }
}
