//! What goes back to the client: replies queued for the batch, written
//! at once or paced as a fault says, and each recorded as it is queued.

use super::Conn;
use crate::protocol::Reply;
use crate::server::stall;
use crate::session::Pace;
use crate::transcript::{Closer, EventKind, Leg};
use std::io::ErrorKind;
use std::time::Duration;
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
        let pace = self.session.pace();
        self.flush_paced(pace).await
    }

    /// Write what is queued, paced as a fault or rule says.
    pub(super) async fn flush_paced(&mut self, pace: Pace) -> std::io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let mut out = self.wbuf.split();
        // RFC 5321 bounds only the server's wait for commands; a client that
        // never reads would otherwise hold the session (and the replies of
        // its whole pipelined batch) for ever.
        let limit = self.session.plan().limits.idle_timeout;
        if pace == Pace::default() {
            let written = stall::write_all(&mut self.stream, &out, limit).await;
            self.note_stall(&written, limit, out.len());
            return written;
        }
        // A faulty server: a byte budget, pieces, a slow line.
        let mut cut = false;
        if let Some(budget) = pace.close_after {
            let left = budget.saturating_sub(self.written) as usize;
            if out.len() > left {
                out.truncate(left);
                cut = true;
            }
        }
        let piece = pace.slice.unwrap_or(out.len().max(1));
        // At a bandwidth, write about ten pieces a second.
        let piece = pace
            .bandwidth
            .map_or(piece, |bw| piece.min((bw as usize / 10).max(1)));
        for chunk in out.chunks(piece) {
            let written = stall::write_all(&mut self.stream, chunk, limit).await;
            self.note_stall(&written, limit, chunk.len());
            written?;
            self.written += chunk.len() as u64;
            if let Some(bw) = pace.bandwidth {
                tokio::time::sleep(std::time::Duration::from_secs_f64(
                    chunk.len() as f64 / bw as f64,
                ))
                .await;
            }
        }
        if cut {
            self.cut = Some(Closer::Server);
            self.log.push(EventKind::Note {
                text: format!("closed after {} octets (close_after fault)", self.written),
            });
            return Err(std::io::Error::other("close_after fault"));
        }
        Ok(())
    }

    /// A write that failed because the client read none of it for `limit`
    /// ends the session as timed out, and the transcript says why.
    fn note_stall(&mut self, result: &std::io::Result<()>, limit: Duration, len: usize) {
        if let Err(e) = result
            && e.kind() == ErrorKind::TimedOut
        {
            self.cut = Some(Closer::Timeout);
            self.log.push(EventKind::Note {
                text: format!(
                    "the client read nothing for {limit:?} (limits.idle_timeout) of a {len}-octet write of replies; closing"
                ),
            });
        }
    }
}
