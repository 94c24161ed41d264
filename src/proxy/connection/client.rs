//! Client → upstream: commands (filtered, rewritten, answered by the
//! proxy or relayed), DATA chunk by chunk, BDAT chunks raw.

use super::*;

impl Relay {
    /// Handle every complete command, data chunk or BDAT chunk buffered.
    pub(super) async fn client_input(&mut self) -> Option<End> {
        loop {
            match &mut self.mode {
                Mode::Command => match self.commands.next_line(&mut self.crbuf) {
                    ReadLine::Incomplete => return None,
                    ReadLine::Line(line, ending) => {
                        if let Some(end) = self.command(line, ending).await {
                            return Some(end);
                        }
                    }
                    ReadLine::TooLong { len, head } => {
                        if self.sasl_due() {
                            if let Some(end) = self.sasl_cancel(len).await {
                                return Some(end);
                            }
                            continue;
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
                        if let Some(end) = self.drain().await {
                            return Some(end);
                        }
                    }
                },
                Mode::Data { .. } => match self.data().await {
                    Ok(true) => {}
                    Ok(false) => return None,
                    Err(end) => return Some(end),
                },
                Mode::Chunk { left, forward } => {
                    let n = (*left).min(self.crbuf.len());
                    if n == 0 {
                        return None;
                    }
                    let (left_now, forward) = (*left - n, *forward);
                    *left = left_now;
                    let chunk = self.crbuf.split_to(n);
                    if forward && let Err(e) = self.to_upstream.send(&chunk).await {
                        return Some(self.link_failed(e, Leg::Upstream));
                    }
                    if left_now == 0 {
                        self.mode = Mode::Command;
                    }
                }
            }
        }
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
        let chunk_len = (cmd.verb == Verb::Bdat)
            .then(|| cmd.args.split_whitespace().next()?.parse::<usize>().ok())
            .flatten();

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
        let mut wire = BytesMut::with_capacity(sent.len() + 2);
        wire.extend_from_slice(&sent);
        wire.extend_from_slice(if bare_lf { b"\n" } else { b"\r\n" });
        if let Err(e) = self.to_upstream.send(&wire).await {
            return Some(self.link_failed(e, Leg::Upstream));
        }
        let relayed_bdat = seen_verb == Verb::Bdat;
        // A 334 to an AUTH line (its verb not masked) opens an exchange.
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
        if relayed_bdat && let Some(left) = chunk_len.filter(|n| *n > 0) {
            self.mode = Mode::Chunk {
                left,
                forward: true,
            };
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
            self.mode = Mode::Chunk {
                left,
                forward: false,
            };
        }
        self.drain().await
    }

    /// Relay buffered message data. `Ok(true)`: the message ended, go on
    /// with commands; `Ok(false)`: need more bytes.
    pub(super) async fn data(&mut self) -> Result<bool, End> {
        let Mode::Data { reader, forwarded } = &mut self.mode else {
            return Ok(false);
        };
        if self.crbuf.is_empty() {
            return Ok(false);
        }
        // The reader consumes what it frames; relay exactly those bytes.
        let all = self.crbuf.split().freeze();
        let mut rest = BytesMut::from(&all[..]);
        let status = reader.feed(&mut rest);
        let consumed = all.len() - rest.len();
        self.crbuf = rest;
        *forwarded += consumed;
        let mut raw = all.slice(..consumed);
        if status == DataStatus::Incomplete {
            if let Err(e) = self.to_upstream.send(&raw).await {
                return Err(self.link_failed(e, Leg::Upstream));
            }
            return Ok(false);
        }
        let Mode::Data { reader, .. } = std::mem::replace(&mut self.mode, Mode::Command) else {
            return Ok(false);
        };
        let body = reader.finish();
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
        if let Err(e) = self.to_upstream.send(&raw).await {
            return Err(self.link_failed(e, Leg::Upstream));
        }
        if let Some(close) = close {
            if withhold {
                self.note(format!("fault {}: end of data not relayed", close.name));
                let reply = close.reply.render(&self.vars);
                return match self
                    .answer(reply, format!("fault {}", close.name), true, None)
                    .await
                {
                    Some(end) => Err(end),
                    None => Ok(true),
                };
            }
            self.push_data_upstream(body.size, body.bare_lf);
            self.queue.push_back(Slot::Upstream {
                answers: Answers::EndOfData,
                verb: ".".into(),
                hijack: Some(close),
            });
        } else {
            self.push_data_upstream(body.size, body.bare_lf);
            self.queue.push_back(Slot::Upstream {
                answers: Answers::EndOfData,
                verb: ".".into(),
                hijack: None,
            });
        }
        match self.drain().await {
            Some(end) => Err(end),
            None => Ok(true),
        }
    }

    pub(super) fn push_data_upstream(&self, size: usize, bare_lf: bool) {
        self.log.push(EventKind::Data {
            leg: Leg::Upstream,
            size,
            bare_lf,
        });
    }
}
