//! Client → upstream: each command filtered, rewritten, answered by the
//! proxy or relayed; the end of a message; the AUTH exchange (RFC 4954).
//!
//! After a client `AUTH` line and a `334` from the upstream, the client's
//! next line is a SASL response, not a command. It carries a credential, so
//! it is recorded as `<redacted>` on both legs, and it is relayed untouched
//! (no verb filter, rewrite or fault reads it as a command). An `AUTH` line
//! keeps only its mechanism. What is recorded is decided here, never in the
//! framing.

use super::{Action, Answers, MAX_LINE, Policy, Slot};
use crate::protocol::codec::{DataBody, LineEnding};
use crate::protocol::sasl::{self, REDACTED};
use crate::protocol::{Command, Reply, Verb};
use crate::proxy::compile::{StarttlsAction, Trigger};
use crate::proxy::fault::ArmedClose;
use crate::proxy::model::{Direction, FilterAction};
use crate::proxy::rewrite::{mask_verb, rewrite_address};
use crate::transcript::{EventKind, Leg, Wire};
use bytes::{Bytes, BytesMut};

/// A command line as it goes upstream.
struct Outgoing {
    /// As sent, masked or rewritten.
    line: Bytes,
    /// The verb the upstream sees (a masked verb is `XXXX`).
    verb: Verb,
    /// The verb was masked.
    masked: bool,
}

impl Policy {
    /// One command line from the client: filter, rewrite, relay or answer.
    pub(crate) fn command(&mut self, line: Bytes, ending: LineEnding) -> Vec<Action> {
        let bare_lf = ending == LineEnding::Lf;
        if self.sasl_due() {
            self.sasl_response(&line, bare_lf);
            return self.done();
        }
        // An AUTH line is recorded without its initial response, on both legs.
        let redacted = sasl::redact_auth(&line, false);
        // A copy, not a slice: a slice would pin the whole 64 KiB read
        // buffer for as long as the transcript keeps this session (1,000
        // sessions pinned 170 MiB in the soak; docs/PERFORMANCE.md).
        let shown = redacted
            .clone()
            .unwrap_or_else(|| Bytes::copy_from_slice(&line));
        self.record(EventKind::Command {
            leg: Leg::Client,
            line: Wire(shown),
            bare_lf,
        });
        let cmd = Command::parse(&line);
        let verb = cmd.verb.as_str().to_string();
        self.quit |= cmd.verb == Verb::Quit;
        // Only a well-formed `BDAT size [LAST]` announces a chunk (RFC 3030,
        // as the session reads it): a looser parse took the next command
        // lines of a malformed BDAT for chunk octets, and the replies the
        // upstream gave them came out of order with the proxy's own.
        let chunk_len = cmd.bdat_chunk().map(|(size, _)| size);
        let hijack = match self.faults.take_close(&Trigger::Verb(verb.clone())) {
            Some(close) if close.direction == Direction::Upstream => {
                self.note(format!("fault {}: {verb} not relayed", close.name));
                let reply = close.reply.render(&self.vars);
                self.answer(reply, format!("fault {}", close.name), true, chunk_len);
                return self.done();
            }
            hijack => hijack,
        };
        if let Some((reply, rule)) = self.own_answer(&cmd, &verb) {
            self.answer(reply, rule.into(), false, chunk_len);
            return self.done();
        }
        let out = self.outgoing(&cmd, &verb, line);
        self.relay(out, redacted, verb, hijack, bare_lf, chunk_len);
        self.done()
    }

    /// The proxy's own answer to a command it does not relay: a stripped
    /// STARTTLS or a verb the filter answers; and the rule.
    fn own_answer(&self, cmd: &Command, verb: &str) -> Option<(Reply, &'static str)> {
        if cmd.verb == Verb::Starttls
            && let StarttlsAction::Strip(reply) = &self.rules.starttls
        {
            return Some((reply.render(&self.vars), "starttls-strip"));
        }
        let filter = self.rules.verbs.as_ref()?;
        (filter.action == FilterAction::Answer && filter.filtered.matches(verb))
            .then(|| (filter.reply.render(&self.vars), "verb-filter"))
    }

    /// The line the upstream gets: its verb masked (`verbs: {action:
    /// mask}`), its address rewritten (`addresses:`), or as sent.
    fn outgoing(&mut self, cmd: &Command, verb: &str, line: Bytes) -> Outgoing {
        if let Some(filter) = &self.rules.verbs
            && filter.action == FilterAction::Mask
            && filter.filtered.matches(verb)
        {
            let masked = mask_verb(&line);
            let word_len = masked.iter().take_while(|&&b| b == b'X').count();
            self.note(format!("verb-filter: {verb} masked before relaying"));
            return Outgoing {
                line: Bytes::from(masked),
                verb: Verb::Other("X".repeat(word_len)),
                masked: true,
            };
        }
        let map = &self.rules.addresses;
        let keyword = match cmd.verb {
            Verb::Mail if map.mail_from => Some("FROM"),
            Verb::Rcpt if map.rcpt_to => Some("TO"),
            _ => None,
        };
        let rewritten = keyword.and_then(|k| rewrite_address(&line, k, map));
        let line = match rewritten {
            Some(new) => {
                self.note(format!("address-rewrite: {verb} address rewritten"));
                Bytes::from(new)
            }
            None => line,
        };
        Outgoing {
            line,
            verb: cmd.verb.clone(),
            masked: false,
        }
    }

    /// Relay a command: recorded on the upstream leg (an AUTH line
    /// redacted), its reply owed before its first octet leaves.
    fn relay(
        &mut self,
        out: Outgoing,
        redacted: Option<Bytes>,
        verb: String,
        hijack: Option<ArmedClose>,
        bare_lf: bool,
        chunk_len: Option<usize>,
    ) {
        let shown = match redacted {
            Some(r) if out.masked => Bytes::from(mask_verb(&r)),
            Some(r) => r,
            None => Bytes::copy_from_slice(&out.line),
        };
        self.record(EventKind::Command {
            leg: Leg::Upstream,
            line: Wire(shown),
            bare_lf,
        });
        // The SASL state must already count this line as waiting when
        // replies to earlier commands come in during its write.
        let answers = if !out.masked && sasl::is_auth(&out.line) {
            self.sasl.auth(&out.line);
            Answers::Auth
        } else {
            Answers::Command(out.verb.clone())
        };
        self.queue.push_back(Slot::Upstream {
            answers,
            verb,
            hijack,
        });
        self.out
            .push(Action::ToUpstream(with_ending(&out.line, bare_lf)));
        if out.verb == Verb::Bdat
            && let Some(size) = chunk_len.filter(|n| *n > 0)
        {
            self.out.push(Action::ReadChunk { size, relay: true });
        }
        self.drain();
    }

    /// A command line over the proxy's limit: answered here, not relayed.
    pub(crate) fn line_too_long(&mut self, len: usize, head: Bytes) -> Vec<Action> {
        // A SASL response too long to relay: cancel the exchange upstream
        // instead, so neither side gets out of step.
        if self.sasl_due() {
            self.sasl_cancel(len);
            return self.done();
        }
        let shown = self.shown_head(&head);
        self.record(EventKind::Command {
            leg: Leg::Client,
            line: Wire(shown),
            bare_lf: false,
        });
        self.note(format!(
            "command line of {len} octets exceeds the proxy's {MAX_LINE}; not relayed"
        ));
        self.answer(
            Reply::new(500, "5.5.2 Line too long"),
            "line-limit".into(),
            false,
            None,
        );
        self.done()
    }

    /// The end of a relayed message: its last octets (`raw`, `.CRLF`
    /// included) go upstream, unless a fault withholds the end.
    pub(crate) fn data_end(&mut self, body: DataBody, mut raw: Bytes) -> Vec<Action> {
        self.record(EventKind::data(Leg::Client, &body));
        match self.faults.take_close(&Trigger::EndOfData) {
            Some(close) if close.direction == Direction::Upstream => {
                // Everything but the final ".\r\n": the upstream waits for an
                // end that never comes (PIX's lost end-of-data, KB 295725).
                raw.truncate(raw.len().saturating_sub(3));
                self.out.push(Action::ToUpstream(raw));
                self.note(format!("fault {}: end of data not relayed", close.name));
                let reply = close.reply.render(&self.vars);
                self.answer(reply, format!("fault {}", close.name), true, None);
            }
            hijack => {
                self.queue.push_back(Slot::Upstream {
                    answers: Answers::EndOfData,
                    verb: ".".into(),
                    hijack,
                });
                self.out.push(Action::ToUpstream(raw));
                self.record(EventKind::data(Leg::Upstream, &body));
                self.drain();
            }
        }
        self.done()
    }

    /// Relay a SASL response as it is, recorded redacted; its reply says
    /// whether the exchange goes on.
    fn sasl_response(&mut self, line: &[u8], bare_lf: bool) {
        self.sasl.response();
        for leg in [Leg::Client, Leg::Upstream] {
            self.record(EventKind::Command {
                leg,
                line: Wire(Bytes::from_static(REDACTED.as_bytes())),
                bare_lf,
            });
        }
        self.relay_exchange_line(with_ending(line, bare_lf));
    }

    /// A SASL response too long to relay: the exchange is cancelled with `*`
    /// in its place (RFC 4954 4), so the upstream answers (`501`) and is back
    /// in command state, and that answer is the client's reply. Relaying
    /// nothing would leave the upstream waiting for a response and take the
    /// client's next command as one.
    fn sasl_cancel(&mut self, len: usize) {
        self.sasl.response();
        self.record(EventKind::Command {
            leg: Leg::Client,
            line: Wire(Bytes::from_static(REDACTED.as_bytes())),
            bare_lf: false,
        });
        self.note(format!(
            "SASL response of {len} octets exceeds the proxy's {MAX_LINE}; the exchange is cancelled with \"*\""
        ));
        self.record(EventKind::Command {
            leg: Leg::Upstream,
            line: Wire(Bytes::from_static(b"*")),
            bare_lf: false,
        });
        self.relay_exchange_line(Bytes::from_static(b"*\r\n"));
    }

    fn relay_exchange_line(&mut self, wire: Bytes) {
        self.queue.push_back(Slot::Upstream {
            answers: Answers::Auth,
            verb: "AUTH".into(),
            hijack: None,
        });
        self.out.push(Action::ToUpstream(wire));
        self.drain();
    }
}

/// A client line as it goes upstream: with the ending the client used.
fn with_ending(line: &[u8], bare_lf: bool) -> Bytes {
    let mut wire = BytesMut::with_capacity(line.len() + 2);
    wire.extend_from_slice(line);
    wire.extend_from_slice(if bare_lf { b"\n" } else { b"\r\n" });
    wire.freeze()
}
