//! Client → upstream: commands (filtered, rewritten, answered by the
//! proxy or relayed), DATA chunk by chunk, BDAT chunks raw.

use super::*;

impl Relay {
    /// Handle every complete command, data chunk or BDAT chunk buffered.
    pub(super) async fn client_input(&mut self) -> Option<End> {
        // A 220 to STARTTLS relayed during a write ends the command phase:
        // what follows is for the opaque relay.
        while !self.opaque
            && let Some(frame) = self.framer.next(&mut self.crbuf)
        {
            let end = match frame {
                Frame::Line(line, ending) => self.command(line, ending).await,
                Frame::TooLong { len, head } => self.line_too_long(len, head).await,
                // Message content goes on as it arrives (bounded memory).
                Frame::Content(raw) | Frame::ChunkEnd { raw, .. } => self.relay_content(&raw).await,
                Frame::DataEnd { body, raw } => self.data_end(body, raw).await,
            };
            if end.is_some() {
                return end;
            }
        }
        None
    }

    /// A command line over the proxy's limit: answered here, not relayed.
    pub(super) async fn line_too_long(&mut self, len: usize, head: Bytes) -> Option<End> {
        // A SASL response too long to relay: cancel the exchange upstream
        // instead, so neither side gets out of step.
        if self.sasl_due() {
            return self.sasl_cancel(len).await;
        }
        self.log.push(EventKind::Command {
            leg: Leg::Client,
            line: Wire(self.shown_head(&head)),
            bare_lf: false,
        });
        self.note(format!(
            "command line of {len} octets exceeds the proxy's {MAX_LINE}; not relayed"
        ));
        self.queue.push_back(Slot::Local {
            reply: Reply::new(500, "5.5.2 Line too long"),
            rule: "line-limit".into(),
            close: false,
        });
        self.drain().await
    }

    /// Relay message content (empty for a chunk that is swallowed).
    async fn relay_content(&mut self, raw: &[u8]) -> Option<End> {
        if raw.is_empty() {
            return None;
        }
        self.send_upstream(raw).await
    }

    /// One command line from the client: filter, rewrite, relay or answer.
    pub(super) async fn command(&mut self, line: Bytes, ending: LineEnding) -> Option<End> {
        if self.sasl_due() {
            return self.sasl_response(&line, ending).await;
        }
        let bare_lf = ending == LineEnding::Lf;
        // An AUTH line is recorded without its initial response, on both legs.
        let redacted = crate::protocol::sasl::redact_auth(&line, false);
        // A copy, not a slice: a slice would pin the whole 64 KiB read
        // buffer for as long as the transcript keeps this session (1,000
        // sessions pinned 170 MiB in the soak; docs/PERFORMANCE.md).
        self.log.push(EventKind::Command {
            leg: Leg::Client,
            line: Wire(
                redacted
                    .clone()
                    .unwrap_or_else(|| Bytes::copy_from_slice(&line)),
            ),
            bare_lf,
        });
        let cmd = Command::parse(&line);
        let verb = cmd.verb.as_str().to_string();
        // Only a well-formed `BDAT size [LAST]` announces a chunk (RFC 3030,
        // as the session reads it): a looser parse took the next command
        // lines of a malformed BDAT for chunk octets, and the replies the
        // upstream gave them came out of order with the proxy's own.
        let chunk_len = cmd.bdat_chunk().map(|(size, _)| size);

        let mut hijack = None;
        if let Some(close) = self.faults.take_close(&Trigger::Verb(verb.clone())) {
            if close.direction == Direction::Upstream {
                self.note(format!("fault {}: {verb} not relayed", close.name));
                return self
                    .answer(
                        close.reply.render(&self.vars),
                        format!("fault {}", close.name),
                        true,
                        chunk_len,
                    )
                    .await;
            }
            hijack = Some(close);
        }
        if cmd.verb == Verb::Starttls
            && let StarttlsAction::Strip(reply) = &self.rules.starttls
        {
            let reply = reply.render(&self.vars);
            return self
                .answer(reply, "starttls-strip".into(), false, None)
                .await;
        }

        let mut out: Option<Vec<u8>> = None;
        let mut seen_verb = cmd.verb.clone();
        let mut masked = false;
        if let Some(filter) = &self.rules.verbs
            && filter.filtered.matches(&verb)
        {
            match filter.action {
                FilterAction::Answer => {
                    let reply = filter.reply.render(&self.vars);
                    return self
                        .answer(reply, "verb-filter".into(), false, chunk_len)
                        .await;
                }
                FilterAction::Mask => {
                    let masked_line = mask_verb(&line);
                    let word_len = masked_line.iter().take_while(|&&b| b == b'X').count();
                    seen_verb = Verb::Other("X".repeat(word_len));
                    self.note(format!("verb-filter: {verb} masked before relaying"));
                    out = Some(masked_line);
                    masked = true;
                }
            }
        }
        if out.is_none() {
            let map = &self.rules.addresses;
            let keyword = match cmd.verb {
                Verb::Mail if map.mail_from => Some("FROM"),
                Verb::Rcpt if map.rcpt_to => Some("TO"),
                _ => None,
            };
            if let Some(keyword) = keyword
                && let Some(new) = rewrite_address(&line, keyword, map)
            {
                self.note(format!("address-rewrite: {verb} address rewritten"));
                out = Some(new);
            }
        }

        let sent: Bytes = out.map_or(line, Bytes::from);
        let shown = match redacted {
            Some(r) if masked => Bytes::from(mask_verb(&r)),
            Some(r) => r,
            None => Bytes::copy_from_slice(&sent),
        };
        self.log.push(EventKind::Command {
            leg: Leg::Upstream,
            line: Wire(shown),
            bare_lf,
        });
        let relayed_bdat = seen_verb == Verb::Bdat;
        // Owed before the first octet leaves: replies to earlier commands
        // are relayed while this write is pending, and the SASL state must
        // already count this line as waiting.
        let answers = if !masked && crate::protocol::sasl::is_auth(&sent) {
            self.sasl.auth(&sent);
            Answers::Auth
        } else {
            Answers::Command(seen_verb)
        };
        self.queue.push_back(Slot::Upstream {
            answers,
            verb,
            hijack,
        });
        if let Some(end) = self.send_upstream(&with_ending(&sent, bare_lf)).await {
            return Some(end);
        }
        if relayed_bdat && let Some(left) = chunk_len.filter(|n| *n > 0) {
            self.framer.expect_chunk(left, false, 0, true);
        }
        self.drain().await
    }

    /// Queue a reply of our own for a command that is not relayed.
    pub(super) async fn answer(
        &mut self,
        reply: Reply,
        rule: String,
        close: bool,
        swallow_chunk: Option<usize>,
    ) -> Option<End> {
        self.queue.push_back(Slot::Local { reply, rule, close });
        // A refused BDAT's chunk follows anyway; it must not be read as commands.
        if let Some(left) = swallow_chunk.filter(|n| *n > 0) {
            self.framer.expect_chunk(left, false, 0, false);
        }
        self.drain().await
    }

    /// The end of a relayed message: its last octets (`raw`, `.CRLF`
    /// included) go upstream, unless a fault withholds the end.
    pub(super) async fn data_end(&mut self, body: DataBody, mut raw: Bytes) -> Option<End> {
        self.log.push(EventKind::Data {
            leg: Leg::Client,
            size: body.size,
            bare_lf: body.bare_lf,
        });
        let close = self.faults.take_close(&Trigger::EndOfData);
        let withhold = close
            .as_ref()
            .is_some_and(|c| c.direction == Direction::Upstream);
        if withhold {
            // Everything but the final ".\r\n": the upstream waits for an
            // end that never comes (PIX's lost end-of-data, KB 295725).
            raw.truncate(raw.len().saturating_sub(3));
        }
        if let Some(end) = self.send_upstream(&raw).await {
            return Some(end);
        }
        if let Some(close) = close.as_ref().filter(|_| withhold) {
            self.note(format!("fault {}: end of data not relayed", close.name));
            let reply = close.reply.render(&self.vars);
            return self
                .answer(reply, format!("fault {}", close.name), true, None)
                .await;
        }
        self.log.push(EventKind::Data {
            leg: Leg::Upstream,
            size: body.size,
            bare_lf: body.bare_lf,
        });
        self.queue.push_back(Slot::Upstream {
            answers: Answers::EndOfData,
            verb: ".".into(),
            hijack: close,
        });
        self.drain().await
    }
}
