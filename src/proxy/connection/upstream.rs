//! Upstream → client: each reply recorded, rewritten as the profile says,
//! and relayed in command order.

use super::*;

impl Relay {
    /// Handle every complete reply buffered from the upstream.
    pub(super) async fn upstream_input(&mut self) -> Option<End> {
        while !self.opaque {
            let item = self.replies.next(&mut self.urbuf)?;
            match item {
                Upstream::Reply { reply, raw } => {
                    if let Some(end) = self.reply(reply, raw).await {
                        return Some(end);
                    }
                }
                Upstream::Garbage(raw) => {
                    self.note(format!(
                        "upstream sent a line that is not a reply, relayed as is: {:?}",
                        String::from_utf8_lossy(&raw).trim_end()
                    ));
                    if let Err(e) = self.to_client.send(&raw).await {
                        return Some(self.link_failed(e, Leg::Client));
                    }
                }
                Upstream::TooLong { len, head } => self.note(format!(
                    "upstream reply line of {len} octets exceeds the proxy's {MAX_LINE}; relayed cut to its first {} octets",
                    head.len()
                )),
            }
        }
        None
    }

    /// One complete upstream reply: record it, rewrite it if a rule says so,
    /// relay it, and act on what it means (354, 220 to STARTTLS).
    pub(super) async fn reply(&mut self, reply: Reply, raw: Bytes) -> Option<End> {
        let upstream_lines = wire_lines(&raw);
        self.log.push(EventKind::Reply {
            leg: Leg::Upstream,
            code: reply.code,
            lines: upstream_lines.clone(),
            rule: None,
            original: None,
        });
        let (answers, verb, hijack) = match self.queue.pop_front() {
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
        };
        let changed = self.rewrite(&reply, &raw, answers.as_ref(), &verb, hijack.as_ref());
        let (bytes, rule, original) = match changed {
            Some((bytes, rule)) => (Bytes::from(bytes), Some(rule), Some(upstream_lines)),
            None => (raw, None, None),
        };
        let code = Reply::parse_line(&bytes).map_or(reply.code, |(c, _, _)| c);
        self.log.push(EventKind::Reply {
            leg: Leg::Client,
            code,
            lines: wire_lines(&bytes),
            rule,
            original,
        });
        if let Err(e) = self.to_client.send(&bytes).await {
            return Some(self.link_failed(e, Leg::Client));
        }
        if let Some(h) = hijack {
            self.note(format!("fault {}: closing after the reply", h.name));
            return Some(self.ended_by_proxy());
        }
        if answers == Some(Answers::Auth) {
            // Empty queue: no later client line waits, this 334 is current.
            self.sasl.reply(reply.code, self.queue.is_empty());
        }
        match answers {
            Some(Answers::Command(Verb::Data)) if reply.code == 354 => {
                // Only flags are kept (keep 0): the content is relayed, not stored.
                self.framer.expect_data(0, 1000, true);
            }
            Some(Answers::Command(Verb::Starttls))
                if reply.code == 220 && matches!(self.rules.starttls, StarttlsAction::Pass) =>
            {
                self.opaque = true;
                return None;
            }
            _ => {}
        }
        self.drain().await
    }

    /// The bytes the client gets instead of the upstream's, and the rule
    /// that decided it; `None` relays the upstream's bytes unchanged.
    pub(super) fn rewrite(
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

    /// Send our own replies that are now at the head of the queue.
    pub(super) async fn drain(&mut self) -> Option<End> {
        while matches!(self.queue.front(), Some(Slot::Local { .. })) {
            let Some(Slot::Local { reply, rule, close }) = self.queue.pop_front() else {
                break;
            };
            let bytes = record_own_reply(&self.log, &reply, rule);
            if let Err(e) = self.to_client.send(&bytes).await {
                return Some(self.link_failed(e, Leg::Client));
            }
            if close {
                return Some(self.ended_by_proxy());
            }
        }
        None
    }
}
