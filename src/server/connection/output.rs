//! What goes back to the client: replies queued for the batch, written
//! through the connection's link (at once, or shaped as a fault or rule
//! says), and each recorded as it is queued.

use super::Conn;
use crate::link::LinkError;
use crate::protocol::Reply;
use crate::scenario::faults::LinkShape;
use crate::transcript::{Closer, EventKind, Leg};
use std::io::ErrorKind;
use tokio::io::{AsyncRead, AsyncWrite};

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub(super) fn queue(&mut self, reply: &Reply, rule: Option<String>) {
        reply.write_to(&mut self.wbuf);
        // The transcript's lines are the wire lines, assembled by hand:
        // `format!` per line was 10 % of a session's instructions, and
        // cutting them back out of the buffer meant searching and UTF-8
        // validation for text that is already a `String`.
        let code = reply.code.min(999);
        let digits = [code / 100, code / 10 % 10, code % 10].map(|d| char::from(b'0' + d as u8));
        let last = reply.lines.len().saturating_sub(1);
        let lines = reply
            .lines
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let mut line = String::with_capacity(text.len() + 4);
                line.extend(digits);
                match (i < last, text.is_empty()) {
                    (true, _) => line.push('-'),
                    (false, true) => {}
                    (false, false) => line.push(' '),
                }
                line.push_str(text);
                line
            })
            .collect();
        self.log.push(EventKind::Reply {
            leg: Leg::Client,
            code: reply.code,
            lines,
            rule,
            original: None,
        });
    }

    /// Exact captured bytes, sent as they are.
    pub(super) fn queue_wire(&mut self, wire: &[u8], code: u16, rule: Option<String>) {
        let start = self.wbuf.len();
        self.wbuf.extend_from_slice(wire);
        self.log_reply(start, code, rule);
    }

    pub(super) fn log_reply(&mut self, start: usize, code: u16, rule: Option<String>) {
        let lines = String::from_utf8_lossy(&self.wbuf[start..])
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        self.log.push(EventKind::Reply {
            leg: Leg::Client,
            code,
            lines,
            rule,
            original: None,
        });
    }

    pub(super) async fn flush(&mut self) -> std::io::Result<()> {
        self.flush_as(None).await
    }

    /// Write what is queued, shaped as the session's faults or a rule's
    /// `bandwidth`/`slice` say (within the session's byte budget either way).
    pub(super) async fn flush_as(&mut self, rule: Option<&LinkShape>) -> std::io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let out = self.wbuf.split();
        let Err(e) = self.out.send_as(&mut self.stream, &out, rule).await else {
            return Ok(());
        };
        match e {
            LinkError::Cut(n) => {
                self.cut = Some(Closer::Server);
                self.log.push(EventKind::Note {
                    text: format!("closed after {n} octets (close_after fault)"),
                });
                Err(std::io::Error::other("close_after fault"))
            }
            // RFC 5321 bounds only the server's wait for commands; a client
            // that never reads would otherwise hold the session (and the
            // replies of its whole pipelined batch) for ever.
            LinkError::Io(e) if e.kind() == ErrorKind::TimedOut => {
                self.cut = Some(Closer::Timeout);
                let limit = self.out.write_timeout();
                self.log.push(EventKind::Note {
                    text: format!(
                        "the client read nothing for {limit:?} (limits.idle_timeout) of a {}-octet write of replies; closing",
                        out.len()
                    ),
                });
                Err(e)
            }
            LinkError::Io(e) => Err(e),
        }
    }
}
