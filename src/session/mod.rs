//! The per-connection SMTP state machine, driven by a scenario.
//!
//! It is sans-I/O: the server (or a fuzz target, or a unit test) feeds it
//! command lines and finished messages and gets back an [`Outcome`] — what to
//! send, after how long, and what to read next. That keeps every protocol
//! decision here, testable without sockets, and lets TLS, faults and the
//! proxy plug in around it without touching it.
//!
//! Rules are tried first; the first match gives the reply. Otherwise the
//! built-in RFC 5321 behaviour answers. Either way the *reply code* decides
//! what happens to the session (a 250 to MAIL starts a transaction, a 354 to
//! DATA starts the message, a 421 closes), exactly as a client reads it.

pub mod armed;
mod auth;
mod auth_ntlm;
mod builtin;
mod chunking;
mod faults;
mod penalty;
mod postfix;
mod replay;
mod vars;

pub use replay::Divergence;

use crate::message::{Message, Recipient};
use crate::protocol::address::parse_path;
use crate::protocol::codec::DataBody;
use crate::protocol::eod::{Break, Seq};
use crate::protocol::{Command, Reply, Verb};
use crate::routing::{Decision, NdrReason, ndr};
use crate::scenario::Plan;
use crate::scenario::compile::CompiledRule;
use crate::scenario::faults::{LinkShape, Trigger};
use crate::scenario::model::{Dialect, StateName, Then};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use vars::SessionVars;

/// Who is on the other end.
#[derive(Debug, Clone, Copy)]
pub struct SessionInfo {
    /// 1-based, in accept order.
    pub id: u64,
    /// The client's address.
    pub peer: SocketAddr,
    /// Our address.
    pub local: SocketAddr,
}

/// What the I/O layer reads after sending the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Another command line.
    Command,
    /// Message content up to `.CRLF`.
    Data,
    /// Nothing: close the connection.
    Close,
    /// A TLS handshake (after `220` to STARTTLS), then commands again.
    StartTls,
    /// Exactly this many octets of message content (BDAT, RFC 3030), then
    /// [`Session::chunk_done`].
    Chunk {
        /// Octets to read.
        size: usize,
        /// The last chunk of the message.
        last: bool,
    },
}

/// The session's answer to one input.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Send this (nothing for a silent hang-up).
    pub reply: Option<Reply>,
    /// After waiting this long.
    pub delay: Duration,
    /// Then read this.
    pub next: Next,
    /// The rule that answered, if one did.
    pub rule: Option<String>,
    /// A message accepted by this step.
    pub message: Option<Message>,
    /// Non-delivery reports this step produced (for recipients the scenario's
    /// routing accepted and then bounced); stored like accepted messages.
    pub reports: Vec<Message>,
    /// Exact bytes to send instead of formatting `reply` (captured replies).
    pub wire: Option<bytes::Bytes>,
    /// The client strayed from the captured conversation here.
    pub divergence: Option<Divergence>,
    /// Write this reply with this pacing (a rule's `bandwidth`/`slice`);
    /// boxed, as every connection's task holds outcomes and few have one.
    pub pace: Option<Box<LinkShape>>,
}

impl Outcome {
    /// An answer the session gives without a rule or built-in reply of its
    /// own (a one-shot fault, the wait for a BDAT chunk).
    fn injected(reply: Option<Reply>, next: Next, rule: Option<String>) -> Outcome {
        let mut outcome = Outcome::reply(Reply::new(0, ""));
        outcome.reply = reply;
        outcome.next = next;
        outcome.rule = rule;
        outcome
    }

    fn reply(reply: Reply) -> Outcome {
        Outcome {
            reply: Some(reply),
            delay: Duration::ZERO,
            next: Next::Command,
            rule: None,
            message: None,
            reports: Vec::new(),
            wire: None,
            divergence: None,
            pace: None,
        }
    }
}

/// An accepted recipient.
#[derive(Debug, Clone)]
struct Rcpt {
    original: String,
    delivered_to: String,
    /// Accepted only to be returned with a report.
    bounce: Option<NdrReason>,
}

/// One SMTP session.
#[derive(Debug)]
pub struct Session {
    plan: Arc<Plan>,
    info: SessionInfo,
    state: StateName,
    refused: bool,
    helo: Option<String>,
    /// The positive EHLO reply the client last got offered CHUNKING,
    /// whoever wrote it (built in, a rule, a replayed capture), so a BDAT's
    /// chunk follows it on the wire; a HELO, STARTTLS or XCLIENT takes
    /// that back.
    chunking_offered: bool,
    mail_from: Option<String>,
    rcpts: Vec<Rcpt>,
    /// The client address decisions use: the peer's, or one XCLIENT set.
    client_ip: IpAddr,
    /// What routing decided for the RCPT being answered, for `effect`.
    pending_route: Option<Decision>,
    hits: Vec<u32>,
    accepted: u32,
    queue_id: String,
    replay: Option<replay::Cursor>,
    tls_active: bool,
    dialog: Option<auth::Dialog>,
    /// The last reply was a 334 in an AUTH exchange, whoever gave it (the
    /// built-in AUTH, a rule, a replayed capture): the client's next line
    /// is a SASL response, not a command, and carries a secret.
    sasl: bool,
    authenticated: Option<String>,
    /// The current transaction declared SMTPUTF8 (RFC 6531).
    smtputf8: bool,
    bdat: Option<chunking::Chunks>,
    /// A rule's or fault's answer to a BDAT, due once its chunk is read.
    chunk_answer: Option<Box<Outcome>>,
    faults: Option<faults::Active>,
    /// Faults armed at runtime, taken as they fire.
    one_shots: Option<Arc<armed::OneShotFaults>>,
    /// The greeting was just given: a fault armed for right after it is due.
    just_greeted: bool,
    /// The one-shot fault that gave the last answer, for the transcript
    /// ([`Session::take_fired`]); kept here, not in every [`Outcome`], which
    /// every connection's task holds.
    fired: Option<String>,
    /// 4xx/5xx answers so far, and whether the error limit ended the
    /// session (`penalty.rs`, `dialect: postfix`).
    errors: u32,
    hung_up: bool,
    /// QUIT was answered: the client is not expected to send more.
    quit: bool,
}

/// Which captured session session `id` (from 1) replays: they take turns.
pub fn replay_entry(id: u64, captured: usize) -> usize {
    ((id.max(1) - 1) % captured.max(1) as u64) as usize
}

impl Session {
    /// A session for a new connection.
    pub fn new(plan: Arc<Plan>, info: SessionInfo) -> Session {
        let hits = vec![0; plan.rules.len()];
        let replay = (!plan.replay.is_empty()).then(|| replay::Cursor {
            index: replay_entry(info.id, plan.replay.len()),
            pos: 0,
        });
        Session {
            tls_active: false,
            dialog: None,
            sasl: false,
            authenticated: None,
            smtputf8: false,
            bdat: None,
            chunk_answer: None,
            faults: faults::Active::decide(&plan, info.id),
            one_shots: None,
            just_greeted: false,
            errors: 0,
            hung_up: false,
            quit: false,
            fired: None,
            replay,
            plan,
            info,
            state: StateName::Connected,
            refused: false,
            helo: None,
            chunking_offered: false,
            mail_from: None,
            rcpts: Vec::new(),
            client_ip: info.peer.ip(),
            pending_route: None,
            hits,
            accepted: 0,
            queue_id: String::new(),
        }
    }

    /// The scenario this session runs.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The current state.
    pub fn state(&self) -> StateName {
        self.state
    }

    /// Is the connection encrypted?
    pub fn tls_active(&self) -> bool {
        self.tls_active
    }

    /// `tls.require` and no handshake yet: mail commands get `tls_required`.
    pub(super) fn tls_still_required(&self) -> bool {
        self.plan.tls.as_ref().is_some_and(|t| t.require) && !self.tls_active
    }

    /// The session ended at the client's QUIT, which nothing follows.
    pub fn quit(&self) -> bool {
        self.quit
    }

    /// The handshake completed: back to the state right after the greeting,
    /// the EHLO forgotten (RFC 3207 4.2). Returns a note for the transcript
    /// when a replayed capture ends here (it shows nothing after STARTTLS).
    pub fn tls_started(&mut self) -> Option<String> {
        let note = self.replay_tls_started();
        self.tls_active = true;
        self.helo = None;
        self.dialog = None;
        self.sasl = false;
        self.chunking_offered = false;
        self.authenticated = None;
        self.reset_transaction();
        note
    }

    /// The client address relay decisions use: the real peer's, or the one
    /// an allowed `XCLIENT ADDR=` claimed.
    pub fn client_ip(&self) -> IpAddr {
        self.client_ip
    }

    fn vars(&self) -> SessionVars<'_> {
        SessionVars {
            plan: &self.plan,
            info: &self.info,
            client_ip: self.client_ip,
            helo: self.helo.as_deref(),
            queue_id: &self.queue_id,
        }
    }

    fn render(&self, t: &crate::scenario::compile::ReplyTemplate) -> Reply {
        t.render(&self.vars())
    }

    /// The greeting. A code other than 220 refuses service: every command but
    /// QUIT then gets 503 (RFC 5321 3.1).
    pub fn greeting(&mut self) -> Outcome {
        self.just_greeted = true;
        if let Some(out) = self.one_shot_greeting() {
            return out;
        }
        if let Some(out) = self.fault_close(|t| *t == Trigger::Banner) {
            return out;
        }
        if let Some(out) = self.replay_greeting() {
            return out;
        }
        let mut reply = self.render(&self.plan.banner);
        if let Some(mask) = self.plan.banner_mask {
            for line in &mut reply.lines {
                *line = crate::protocol::mask::mask_banner_text(line, mask);
            }
        }
        self.refused = reply.code != 220;
        Outcome {
            delay: self.plan.banner_delay,
            next: if self.plan.banner_close || reply.code == 421 {
                Next::Close
            } else {
                Next::Command
            },
            ..Outcome::reply(reply)
        }
    }

    /// A command line ended in a bare LF: refused, and the connection
    /// closed, when the scenario refuses bare LFs (Postfix 3.7.11's
    /// `smtpd_forbid_bare_newline = reject` does so, measured in
    /// tests/smuggling_postfix.rs); `None` to answer it as usual.
    pub fn bare_lf_command(&mut self) -> Option<Outcome> {
        if !self.plan.end_of_data.refuse_bare_lf {
            return None;
        }
        let reply = self.render(&self.plan.bare_reply[0]);
        Some(Outcome {
            next: Next::Close,
            ..Outcome::reply(reply)
        })
    }

    /// Answer one command line (without its line ending).
    pub fn command(&mut self, line: &[u8]) -> Outcome {
        let exchange = self.sasl || crate::protocol::sasl::is_auth(line);
        let mut outcome = match self.one_shot_command(line) {
            Some(fired) => fired,
            None => self.answer(line),
        };
        self.penalise(&mut outcome);
        self.sasl = exchange
            && outcome.next == Next::Command
            && outcome.reply.as_ref().is_some_and(|r| r.code == 334);
        outcome
    }

    fn answer(&mut self, line: &[u8]) -> Outcome {
        if self.dialog.is_some() {
            return self.auth_continue(line);
        }
        let postfix_line;
        let line = if self.plan.dialect == Dialect::Postfix {
            postfix_line = postfix::command_line(line);
            &*postfix_line
        } else {
            line
        };
        let cmd = Command::parse(line);
        if let Some(out) =
            self.fault_close(|t| matches!(t, Trigger::Verb(v) if v == cmd.verb.as_str()))
        {
            return out;
        }
        if let Some((reply, name)) = self.fault_flaky(cmd.verb.as_str()) {
            let next = self.effect(&cmd, &reply);
            let outcome = Outcome {
                next,
                rule: Some(name),
                ..Outcome::reply(reply)
            };
            return self.after_chunk(&cmd, outcome);
        }
        if let Some(i) = self.match_rule(&cmd) {
            let outcome = self.apply_rule(i, &cmd);
            return self.after_chunk(&cmd, outcome);
        }
        if let Some(out) = self.replay_command(line, &cmd) {
            return out;
        }
        if self.plan.dialect == Dialect::Postfix
            && let Some(reply) = postfix::tls_first(self, &cmd) {
                let next = self.effect(&cmd, &reply);
                return Outcome {
                    next,
                    ..Outcome::reply(reply)
                };
            }
        if cmd.verb == Verb::Bdat && self.reads_chunks() {
            return self.bdat_command(&cmd);
        }
        self.builtin_command(line, &cmd)
    }

    fn builtin_command(&mut self, line: &[u8], cmd: &Command) -> Outcome {
        let reply = if self.refused {
            match cmd.verb {
                Verb::Quit => self.render(&self.plan.replies.quit),
                _ => Reply::new(503, "5.5.1 Error: no SMTP service here, only QUIT"),
            }
        } else if self.plan.dialect == Dialect::Postfix {
            // Postfix checks UTF-8 only; a control character is just part
            // of a verb it does not know.
            if std::str::from_utf8(line).is_err() {
                Reply::new(500, "5.5.2 Error: bad UTF-8 syntax")
            } else {
                builtin::reply(self, cmd)
            }
        } else if Command::is_garbage(line) {
            self.render(&self.plan.replies.errors.bad_syntax)
        } else {
            builtin::reply(self, cmd)
        };
        let next = self.effect(cmd, &reply);
        Outcome {
            next,
            ..Outcome::reply(reply)
        }
    }

    /// How long the client's next line may be: a command line, or in an
    /// AUTH exchange a SASL response, which RFC 4954 lets run to 12288
    /// octets.
    pub fn line_limit(&self) -> usize {
        let command = self.plan.limits.command_line;
        if self.sasl {
            command.max(crate::protocol::sasl::RESPONSE_LINE_LIMIT)
        } else {
            command
        }
    }

    /// A line longer than [`Session::line_limit`] was discarded;
    /// `head` is its start. Gives what the transcript may record of the head
    /// (see [`Session::shown_head`]) and the answer. In an AUTH exchange the
    /// line was a credential: the exchange fails and the session is back in
    /// command state (RFC 4954 6: `500 5.5.6`), so the client's next command
    /// is read as a command, not as a SASL response.
    pub fn line_too_long(&mut self, head: &[u8]) -> (bytes::Bytes, Outcome) {
        let shown = self.shown_head(head);
        let exchange = self.sasl || crate::protocol::sasl::is_auth(head);
        let reply = if exchange {
            self.sasl = false;
            self.dialog = None;
            Reply::new(500, "5.5.6 Authentication Exchange line is too long")
        } else if self.plan.dialect == Dialect::Postfix {
            // Postfix reads the first `line_length_limit` octets as the
            // command and skips the rest; the framer keeps a shorter head,
            // which gives the same answer unless what decides it lies
            // past that head (docs/fidelity.md).
            return (shown, self.command(head));
        } else {
            self.render(&self.plan.replies.errors.line_too_long)
        };
        (shown, Outcome::reply(reply))
    }

    /// The message ended (`.CRLF` arrived).
    pub fn data_done(&mut self, body: DataBody) -> Outcome {
        if let Some(kind) = body.refused {
            // Refused at its end, the session going on, as Postfix 3.7.11
            // does with `smtpd_forbid_bare_newline = reject` (measured:
            // tests/smuggling_postfix.rs).
            let reply = self.render(&self.plan.bare_reply[usize::from(kind == Break::Cr)]);
            self.reset_transaction();
            return Outcome::reply(reply);
        }
        if let Some(out) = self.fault_close(|t| *t == Trigger::EndOfData) {
            self.reset_transaction();
            return out;
        }
        let (wire, delay, divergence) = match self.replay_message(body.size) {
            Some(answer) => match answer.reply {
                Some((code, wire, delay)) => (Some((code, wire)), Some(delay), answer.divergence),
                None => (None, None, answer.divergence),
            },
            None => (None, None, None),
        };
        let reply = if let Some((code, _)) = &wire {
            self.accepted += 1;
            Reply::new(*code, "")
        } else if body.too_big {
            self.render(&self.plan.replies.errors.too_big_data)
        } else if body.line_too_long && self.plan.dialect != Dialect::Postfix {
            Reply::new(500, "5.5.2 Error: message line too long")
        } else {
            self.accepted += 1;
            self.queue_id = format!(
                "{:06X}{:04X}",
                self.info.id & 0xFF_FFFF,
                self.accepted & 0xFFFF
            );
            self.render(&self.plan.replies.data_ok)
        };
        let accepted = reply.class() == 2;
        let received_at = SystemTime::now();
        let reports = if accepted {
            self.reports(&body.bytes, received_at)
        } else {
            Vec::new()
        };
        let recipients: Vec<Recipient> = self
            .rcpts
            .iter()
            .filter(|r| r.bounce.is_none())
            .map(|r| Recipient {
                original: r.original.clone(),
                delivered_to: r.delivered_to.clone(),
            })
            .collect();
        // Every recipient bounced: nothing to store but the report.
        let message =
            (accepted && (!recipients.is_empty() || reports.is_empty())).then(|| Message {
                session: self.info.id,
                queue_id: self.queue_id.clone(),
                peer: self.info.peer,
                helo: self.helo.clone(),
                mail_from: self.mail_from.clone().unwrap_or_default(),
                end_of_data: (body.ended_by != Seq::STANDARD).then(|| body.ended_by.wire()),
                bare_newlines: body.bare_count,
                recipients,
                data: body.bytes.into(),
                received_at,
            });
        self.reset_transaction();
        Outcome {
            delay: delay.unwrap_or(self.plan.data_delay),
            message,
            reports,
            next: if reply.code == 421 {
                Next::Close
            } else {
                Next::Command
            },
            wire: wire.map(|(_, w)| w),
            divergence,
            ..Outcome::reply(reply)
        }
    }

    /// The I/O layer could not store what the last outcome accepted (its
    /// `message` and `reports`): a 2xx after the end of data means the
    /// server has taken responsibility for the message (RFC 5321 4.2.5), so
    /// the client gets this temporary failure instead and will retry, as
    /// Postfix answers a queue file write error. The message is not counted
    /// as accepted: the next one gets its queue id.
    pub fn store_failed(&mut self) -> Reply {
        self.accepted = self.accepted.saturating_sub(1);
        Reply::new(451, "4.3.0 Error: queue file write error")
    }

    /// The non-delivery report for the recipients routing bounced, addressed
    /// to the sender (none for the null sender `<>`: bounces never bounce).
    fn reports(&self, original: &[u8], received_at: SystemTime) -> Vec<Message> {
        let failed: Vec<ndr::Failed> = self
            .rcpts
            .iter()
            .filter_map(|r| {
                r.bounce.map(|reason| ndr::Failed {
                    recipient: r.original.clone(),
                    reason,
                })
            })
            .collect();
        let sender = self.mail_from.clone().unwrap_or_default();
        let Some(routing) = self.plan.routing.as_ref() else {
            return Vec::new();
        };
        if failed.is_empty() || sender.is_empty() {
            return Vec::new();
        }
        let now = SystemTime::now();
        let text = ndr::render(
            &routing.ndr,
            &ndr::Report {
                hostname: &self.plan.hostname,
                sender: &sender,
                failed: &failed,
                original,
                received_at,
                now,
                queue_id: &self.queue_id,
            },
        );
        vec![Message {
            session: self.info.id,
            queue_id: format!("{}-NDR", self.queue_id),
            peer: self.info.local,
            helo: None,
            mail_from: String::new(),
            end_of_data: None,
            bare_newlines: 0,
            recipients: vec![Recipient {
                delivered_to: routing
                    .local_mailbox(&sender)
                    .unwrap_or_else(|| sender.clone()),
                original: sender,
            }],
            data: bytes::Bytes::from(text).into(),
            received_at: now,
        }]
    }

    /// What to send when the client was idle too long (then close).
    pub fn timeout_reply(&self) -> Reply {
        self.render(&self.plan.replies.timeout)
    }

    /// What to send when the server shuts down (then close).
    pub fn shutdown_reply(&self) -> Reply {
        self.render(&self.plan.replies.shutdown)
    }

    fn match_rule(&mut self, cmd: &Command) -> Option<usize> {
        let verb = cmd.verb.as_str();
        for (i, rule) in self.plan.rules.iter().enumerate() {
            if !self.rule_applies(rule, verb, &cmd.args) {
                continue;
            }
            // Counted only when everything but the count matches, so
            // `nth: 2` means "the second such command".
            self.hits[i] += 1;
            let n = self.hits[i];
            if rule.nth.is_some_and(|nth| nth != n) || rule.times.is_some_and(|t| n > t) {
                continue;
            }
            return Some(i);
        }
        None
    }

    fn rule_applies(&self, rule: &CompiledRule, verb: &str, args: &str) -> bool {
        rule.verbs.matches(verb)
            && rule.session.is_none_or(|s| s == self.info.id)
            && rule.states.as_ref().is_none_or(|s| s.contains(&self.state))
            && rule.args.as_ref().is_none_or(|re| re.is_match(args))
    }

    fn apply_rule(&mut self, i: usize, cmd: &Command) -> Outcome {
        let rule = &self.plan.rules[i];
        let reply = rule.reply.as_ref().map(|t| self.render(t));
        let (delay, then, label, pace) = (rule.delay, rule.then, rule.label.clone(), rule.pace);
        let mut next = match &reply {
            Some(r) => self.effect(cmd, r),
            None => Next::Close,
        };
        match then {
            Then::Close => next = Next::Close,
            Then::Reset => {
                self.reset_transaction();
                next = Next::Command;
            }
            Then::Continue => {}
        }
        Outcome {
            reply,
            delay,
            next,
            rule: Some(label),
            pace: pace.map(Box::new),
            ..Outcome::reply(Reply::new(0, ""))
        }
    }

    /// Apply what `reply` means for `cmd` to the session state.
    fn effect(&mut self, cmd: &Command, reply: &Reply) -> Next {
        let routed = self.pending_route.take();
        if matches!(reply.code, 421 | 521) {
            return Next::Close;
        }
        let positive = reply.class() == 2;
        match cmd.verb {
            Verb::Helo | Verb::Ehlo if positive => {
                self.reset_transaction();
                self.helo = Some(cmd.args.clone());
                self.chunking_offered =
                    cmd.verb == Verb::Ehlo && chunking::offered(reply.lines.iter().skip(1));
                self.state = StateName::Greeted;
            }
            Verb::Mail if positive => {
                self.rcpts.clear();
                self.smtputf8 = parse_path(&cmd.args, "FROM")
                    .is_ok_and(|p| p.param_present("SMTPUTF8").is_some());
                self.mail_from = Some(mailbox_or_raw(&cmd.args, "FROM"));
                self.state = StateName::Mail;
            }
            Verb::Rcpt if positive => {
                let original = mailbox_or_raw(&cmd.args, "TO");
                let (delivered_to, bounce) = match routed {
                    Some(Decision::Bounce(reason)) => (original.clone(), Some(reason)),
                    Some(d) => (d.destination().unwrap_or(&original).to_string(), None),
                    None => (original.clone(), None),
                };
                self.rcpts.push(Rcpt {
                    original,
                    delivered_to,
                    bounce,
                });
                self.state = StateName::Rcpt;
            }
            // Postfix: after XCLIENT the session starts over, as if the
            // claimed client had just connected.
            Verb::Xclient if reply.code == 220 => {
                if let Ok(x) = crate::protocol::xclient::parse(&cmd.args)
                    && let Some(ip) = x.addr
                {
                    self.client_ip = ip;
                }
                self.helo = None;
                self.chunking_offered = false;
                self.reset_transaction();
            }
            Verb::Data if reply.class() == 3 => return Next::Data,
            Verb::Rset if positive => self.reset_transaction(),
            Verb::Quit if positive => {
                self.quit = true;
                return Next::Close;
            }
            Verb::Starttls if reply.code == 220 && !self.tls_active => return Next::StartTls,
            _ => {}
        }
        Next::Command
    }

    fn reset_transaction(&mut self) {
        self.smtputf8 = false;
        self.bdat = None;
        self.mail_from = None;
        self.rcpts.clear();
        self.state = if self.helo.is_some() {
            StateName::Greeted
        } else {
            StateName::Connected
        };
    }
}

/// A rule may accept a malformed MAIL/RCPT; record what was sent then.
fn mailbox_or_raw(args: &str, keyword: &str) -> String {
    parse_path(args, keyword).map_or_else(|_| args.to_string(), |p| p.mailbox)
}

#[cfg(test)]
mod auth_tests;
#[cfg(test)]
mod auth_ntlm_tests;
#[cfg(test)]
mod tests;
