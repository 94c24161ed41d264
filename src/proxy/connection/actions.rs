//! Feeding the policy and carrying out its actions: client input framed
//! into commands, message content and chunks; upstream input framed into
//! replies.

use super::*;
use crate::protocol::eod::EndOfData;
use crate::proxy::policy::Action;

impl Relay {
    /// Handle every complete command, data chunk or BDAT chunk buffered.
    pub(super) async fn client_input(&mut self) -> Option<End> {
        // A 220 to STARTTLS relayed during a write ends the command phase:
        // what follows is for the opaque relay.
        while !self.opaque
            && let Some(frame) = self.framer.next(&mut self.crbuf)
        {
            let actions = match frame {
                Frame::Line(line, ending) => self.policy.command(line, ending),
                Frame::TooLong { len, head } => self.policy.line_too_long(len, head),
                // Message content goes on as it arrives (bounded memory);
                // empty for a chunk that is swallowed.
                Frame::Content(raw) | Frame::ChunkEnd { raw, .. } => {
                    if !raw.is_empty()
                        && let Some(end) = self.send_upstream(&raw).await
                    {
                        return Some(end);
                    }
                    continue;
                }
                Frame::DataEnd { body, raw } => self.policy.data_end(body, raw),
            };
            if let Some(end) = self.apply(actions).await {
                return Some(end);
            }
        }
        None
    }

    /// Handle every complete reply buffered from the upstream.
    pub(super) async fn upstream_input(&mut self) -> Option<End> {
        while !self.opaque {
            let actions = match self.replies.next(&mut self.urbuf)? {
                Upstream::Reply { reply, raw } => self.policy.reply(reply, raw),
                Upstream::Garbage(raw) => self.policy.garbage(raw),
                Upstream::TooLong { len, head } => self.policy.reply_too_long(len, head.len()),
            };
            if let Some(end) = self.apply(actions).await {
                return Some(end);
            }
        }
        None
    }

    /// Carry out the policy's actions in order; `Some` when the session
    /// ends on the way.
    async fn apply(&mut self, mut actions: Vec<Action>) -> Option<End> {
        for action in actions.drain(..) {
            match action {
                Action::Record(kind) => self.log.push(kind),
                Action::ToUpstream(bytes) => {
                    if let Some(end) = self.send_upstream(&bytes).await {
                        return Some(end);
                    }
                }
                Action::ToClient(bytes) => {
                    if let Err(e) = self.to_client.send(&bytes).await {
                        return Some(self.link_failed(e, Leg::Client));
                    }
                }
                // Only flags are kept (keep 0): the content is relayed, not stored.
                Action::ReadData => {
                    // The proxy reads the client's message as RFC 5321
                    // does: a non-standard end is relayed as content, for
                    // the upstream to take as it will.
                    self.framer.expect_data(0, 1000, true, EndOfData::STRICT)
                },
                Action::ReadChunk { size, relay } => {
                    self.framer.expect_chunk(size, false, 0, relay)
                }
                Action::Opaque => self.opaque = true,
                Action::Close => return Some(self.ended_by_proxy()),
            }
        }
        self.policy.recycle(actions);
        None
    }
}
