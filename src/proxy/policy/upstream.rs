//! Upstream → client: each reply recorded, rewritten as the profile says
//! and relayed in command order, and what it means acted on (`354`, `220`
//! to STARTTLS, `334`).

use super::{Action, Answers, MAX_LINE, Policy, Slot};
use crate::protocol::{Reply, Verb};
use crate::proxy::compile::{BannerAction, StarttlsAction};
use crate::proxy::fault::ArmedClose;
use crate::proxy::rewrite::{mask_banner, rewrite_ehlo, wire_lines};
use crate::transcript::{EventKind, Leg};
use bytes::Bytes;

impl Policy {
    /// One complete upstream reply (`raw`: its octets as received).
    pub(crate) fn reply(&mut self, reply: Reply, raw: Bytes) -> Vec<Action> {
        let upstream_lines = wire_lines(&raw);
        self.record(EventKind::Reply {
            leg: Leg::Upstream,
            code: reply.code,
            lines: upstream_lines.clone(),
            rule: None,
            original: None,
        });
        let (answers, verb, hijack) = self.answered();
        let changed = self.rewrite(&reply, &raw, answers.as_ref(), &verb, hijack.as_ref());
        let (bytes, rule, original) = match changed {
            Some((bytes, rule)) => (Bytes::from(bytes), Some(rule), Some(upstream_lines)),
            None => (raw, None, None),
        };
        let code = Reply::parse_line(&bytes).map_or(reply.code, |(c, _, _)| c);
        self.record(EventKind::Reply {
            leg: Leg::Client,
            code,
            lines: wire_lines(&bytes),
            rule,
            original,
        });
        self.out.push(Action::ToClient(bytes));
        if let Some(h) = hijack {
            self.note(format!("fault {}: closing after the reply", h.name));
            self.out.push(Action::Close);
            return self.done();
        }
        match answers {
            Some(Answers::Auth) => {
                // Empty queue: no later client line waits, this 334 is current.
                self.sasl.reply(reply.code, self.queue.is_empty());
            }
            Some(Answers::Command(Verb::Data)) if reply.code == 354 => {
                self.out.push(Action::ReadData);
            }
            Some(Answers::Command(Verb::Starttls))
                if reply.code == 220 && matches!(self.rules.starttls, StarttlsAction::Pass) =>
            {
                self.out.push(Action::Opaque);
                return self.done();
            }
            _ => {}
        }
        self.drain();
        self.done()
    }

    /// What the reply at hand answers, by the slot at the head of the
    /// queue: `None` for a reply nobody asked for.
    fn answered(&mut self) -> (Option<Answers>, String, Option<ArmedClose>) {
        match self.queue.pop_front() {
            Some(Slot::Upstream {
                answers,
                verb,
                hijack,
            }) => (Some(answers), verb, hijack),
            other => {
                // Our own answers never wait at the head of the queue, so
                // this is a reply nobody asked for (a 421 before closing).
                if let Some(slot) = other {
                    self.queue.push_front(slot);
                }
                self.note("unsolicited reply from upstream, relayed".into());
                (None, String::new(), None)
            }
        }
    }

    /// The bytes the client gets instead of the upstream's, and the rule
    /// that decided it; `None` relays the upstream's bytes unchanged.
    fn rewrite(
        &self,
        reply: &Reply,
        raw: &[u8],
        answers: Option<&Answers>,
        verb: &str,
        hijack: Option<&ArmedClose>,
    ) -> Option<(Vec<u8>, String)> {
        if let Some(h) = hijack {
            let bytes = h.reply.render(&self.vars).to_bytes();
            return Some((bytes.to_vec(), format!("fault {}", h.name)));
        }
        let text = reply.lines.join("\n");
        let rule = self.rules.replies.iter().find(|r| {
            (r.codes.is_empty() || r.codes.contains(&reply.code))
                && (r.verbs.is_empty() || r.verbs.iter().any(|v| v == verb))
                && r.text.as_ref().is_none_or(|re| re.is_match(&text))
        });
        if let Some(rule) = rule {
            let bytes = rule.reply.render(&self.vars).to_bytes();
            return Some((bytes.to_vec(), rule.name.clone()));
        }
        match answers? {
            Answers::Banner => match &self.rules.banner {
                BannerAction::Pass => None,
                BannerAction::Replace(t) => Some((
                    t.render(&self.vars).to_bytes().to_vec(),
                    "banner-replace".into(),
                )),
                BannerAction::Mask(mode) => Some((mask_banner(raw, *mode), "banner-mask".into())),
            },
            Answers::Command(Verb::Ehlo) => {
                let strip = matches!(self.rules.starttls, StarttlsAction::Strip(_));
                rewrite_ehlo(reply, &self.rules.ehlo, strip)
                    .map(|r| (r.to_bytes().to_vec(), "ehlo-rewrite".into()))
            }
            _ => None,
        }
    }

    /// A line from the upstream that is not a reply line: relayed as is.
    pub(crate) fn garbage(&mut self, raw: Bytes) -> Vec<Action> {
        self.note(format!(
            "upstream sent a line that is not a reply, relayed as is: {:?}",
            String::from_utf8_lossy(&raw).trim_end()
        ));
        self.out.push(Action::ToClient(raw));
        self.done()
    }

    /// A reply line over the limit: it goes on cut to its `head` octets.
    pub(crate) fn reply_too_long(&mut self, len: usize, head: usize) -> Vec<Action> {
        self.note(format!(
            "upstream reply line of {len} octets exceeds the proxy's {MAX_LINE}; relayed cut to its first {head} octets"
        ));
        self.done()
    }
}
