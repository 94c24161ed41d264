//! CHUNKING / BDAT (RFC 3030): message content in counted chunks, no
//! dot-stuffing, one reply per chunk, and the same storage path as DATA.

use super::{Next, Outcome, Session};
use crate::protocol::codec::DataBody;
use crate::protocol::{Command, Reply};
use crate::scenario::model::{Dialect, StateName};
use bytes::{Bytes, BytesMut};

/// A message arriving in chunks.
#[derive(Debug, Default)]
pub(super) struct Chunks {
    body: BytesMut,
    size: usize,
    /// A chunk failed (sequence, size): the rest is consumed and refused
    /// until RSET, as RFC 3030 leaves the state undefined.
    failed: Option<Reply>,
}

/// Does an EHLO reply's keyword lines (its text after the first line)
/// offer CHUNKING?
pub(super) fn offered<S: AsRef<str>>(mut keywords: impl Iterator<Item = S>) -> bool {
    keywords.any(|line| {
        line.as_ref()
            .split_whitespace()
            .next()
            .is_some_and(|k| k.eq_ignore_ascii_case("CHUNKING"))
    })
}

impl Session {
    /// CHUNKING is advertised, so `BDAT` is followed by a chunk to read.
    pub(super) fn reads_chunks(&self) -> bool {
        self.plan.advertised.iter().any(|k| k == "CHUNKING")
    }

    /// The chunk a command line announces (`BDAT n [LAST]` once CHUNKING
    /// was offered in a reply to EHLO): whatever answers the command, those
    /// octets follow it on the wire and must be read before the next
    /// command (RFC 3030).
    #[cfg(any(test, feature = "internals"))]
    pub fn announced_chunk(&self, line: &[u8]) -> Option<(usize, bool)> {
        self.chunk_of(&Command::parse(line))
    }

    /// How much of the chunk being read [`Session::chunk_done`] will use:
    /// none when an answer is already waiting for it, else up to the
    /// message size limit.
    pub fn chunk_kept(&self) -> usize {
        match self.chunk_answer {
            Some(_) => 0,
            None => self.plan.limits.message_size,
        }
    }

    fn chunk_of(&self, cmd: &Command) -> Option<(usize, bool)> {
        if !self.chunking_offered {
            return None;
        }
        cmd.bdat_chunk()
    }

    /// A replayed EHLO reply was sent as captured: did it offer CHUNKING?
    pub(super) fn captured_ehlo_reply(&mut self, wire: &[u8]) {
        let texts = wire
            .split(|b| *b == b'\n')
            .skip(1)
            .filter_map(|line| line.get(4..))
            .map(String::from_utf8_lossy);
        self.chunking_offered = offered(texts);
    }

    /// `BDAT <size> [LAST]`: no reply yet, read the chunk first.
    pub(super) fn bdat_command(&mut self, cmd: &Command) -> Outcome {
        match cmd.bdat_chunk() {
            Some((size, last)) => Outcome {
                reply: None,
                next: Next::Chunk { size, last },
                ..Outcome::reply(Reply::new(0, ""))
            },
            // We cannot know where the chunk ends: like Postfix, refuse and hang up.
            None => Outcome {
                next: Next::Close,
                ..Outcome::reply(self.render(&self.plan.replies.errors.bdat_syntax))
            },
        }
    }

    /// A rule or fault answered `cmd`: if that is a BDAT whose chunk
    /// follows (RFC 3030: whatever the answer), the chunk is read first and
    /// the answer given after it, so the chunk is never read as commands.
    pub(super) fn after_chunk(&mut self, cmd: &Command, outcome: Outcome) -> Outcome {
        if outcome.reply.is_none() || outcome.next != Next::Command {
            return outcome;
        }
        let Some((size, last)) = self.chunk_of(cmd) else {
            return outcome;
        };
        self.chunk_answer = Some(Box::new(outcome));
        Outcome::injected(None, Next::Chunk { size, last }, None)
    }

    /// A whole chunk arrived (`data` holds what fits the size limit).
    pub fn chunk_done(&mut self, data: Bytes, size: usize, last: bool) -> Outcome {
        if let Some(answer) = self.chunk_answer.take() {
            // A rule or fault answered the BDAT: the chunk is only consumed.
            return *answer;
        }
        let limit = self.plan.limits.message_size;
        let state = self.state;
        let chunks = self.bdat.get_or_insert_with(Chunks::default);
        let fresh = chunks.failed.is_none();
        chunks.size += size;
        let room = limit.saturating_sub(chunks.body.len());
        chunks.body.extend_from_slice(&data[..data.len().min(room)]);
        // The refusal is rendered only when a chunk first fails, not for
        // every chunk that passes.
        let failure = if !fresh {
            None
        } else if state != StateName::Rcpt {
            Some(&self.plan.replies.errors.need_rcpt)
        } else if chunks.size > limit {
            Some(&self.plan.replies.errors.too_big_data)
        } else {
            None
        };
        if let Some(template) = failure {
            let reply = self.render(template);
            if let Some(chunks) = self.bdat.as_mut() {
                chunks.failed = Some(reply);
            }
        }
        if let Some(reply) = self.bdat.as_ref().and_then(|c| c.failed.clone()) {
            if last {
                self.reset_transaction();
            }
            return Outcome::reply(reply);
        }
        if !last {
            return Outcome::reply(Reply::new(250, format!("2.0.0 Ok: {size} bytes")));
        }
        let chunks = self.bdat.take().unwrap_or_default();
        let stored = postfix_stored_size(&chunks.body, chunks.size);
        let mut outcome = self.data_done(DataBody {
            size: chunks.size,
            ..DataBody::plain(chunks.body.freeze())
        });
        // Postfix says how much it queued in the same reply.
        if self.plan.dialect == Dialect::Postfix
            && outcome.wire.is_none()
            && outcome.reply.as_ref().is_some_and(|r| r.code == 250)
        {
            outcome.reply = Some(Reply::new(
                250,
                format!("2.0.0 Ok: {stored} bytes queued as {}", self.queue_id),
            ));
        }
        outcome
    }
}

/// What Postfix counts for a message sent with BDAT: its octets, plus the
/// CRLF it adds to a last line that has none.
fn postfix_stored_size(body: &[u8], size: usize) -> usize {
    if size > 0 && body.last() != Some(&b'\n') {
        size + 2
    } else {
        size
    }
}
