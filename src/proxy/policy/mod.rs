//! The proxy's decisions without I/O, as `session` is for the server: a
//! client line or an upstream reply goes in, a list of [`Action`]s comes
//! out (send these octets upstream or to the client, record this event,
//! read message content next, relay opaque bytes, close). The async relay
//! in `connection/` frames bytes, feeds them here and carries the actions
//! out in order; every profile behaviour is tested here without sockets.
//!
//! Replies must reach the client in command order even when the proxy
//! answers some commands itself, so every command leaves a [`Slot`] in a
//! queue: either "the upstream will answer this" or "we answer this". Our
//! own answers go out only when every slot before them has been answered.
//! A slot is queued before the command's octets leave, so a reply that
//! arrives while they are being written finds it.

mod client;
mod upstream;

use super::compile::{Rules, Trigger};
use super::fault::{ArmedClose, ConnFaults};
use super::rewrite::wire_lines;
use crate::protocol::sasl::Exchange;
use crate::protocol::{Reply, Verb};
use crate::protocol::date::rfc5322_date;
use crate::scenario::template::{Var, Vars};
use crate::transcript::{EventKind, Leg};
use bytes::Bytes;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Longest command or reply line relayed. Far above RFC 5321's 512 so that
/// `transparent` relays long lines untouched, yet bounded; a longer command
/// is answered `500 5.5.2` by the proxy and not relayed.
pub const MAX_LINE: usize = 16 * 1024;

/// One thing the relay must do, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Record this event (commands and replies on both legs, notes).
    Record(EventKind),
    /// Send these octets to the upstream: a command as the client sent it
    /// or rewritten, a SASL response, the end of a message.
    ToUpstream(Bytes),
    /// Send these octets to the client: the upstream's reply as it came or
    /// rewritten, or an answer of the proxy's own.
    ToClient(Bytes),
    /// The client's next octets are message content, relayed up to `.CRLF`.
    ReadData,
    /// The client's next `size` octets are a BDAT chunk: relayed, or
    /// swallowed (the chunk of a BDAT the proxy refused).
    ReadChunk { size: usize, relay: bool },
    /// The upstream accepted STARTTLS: relay opaque bytes both ways from
    /// here on; the profile no longer applies.
    Opaque,
    /// The proxy ends the session (a fault): close both legs.
    Close,
}

/// What an expected upstream reply answers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answers {
    Banner,
    /// A relayed command, by the verb the upstream saw (masked verbs differ).
    Command(Verb),
    /// A line of an AUTH exchange (the `AUTH` command or a SASL response):
    /// a 334 to it makes the client's next line a SASL response.
    Auth,
    EndOfData,
}

/// One reply the client is owed, in order.
#[derive(Debug)]
enum Slot {
    Upstream {
        answers: Answers,
        /// The client's verb (`BANNER`, `.` for end of data), for reply rules.
        verb: String,
        /// A reply-then-close fault replacing this reply.
        hijack: Option<ArmedClose>,
    },
    Local {
        reply: Reply,
        rule: String,
        close: bool,
    },
}

/// Placeholder values for the profile's replies.
#[derive(Debug)]
struct ProxyVars {
    peer: SocketAddr,
    session: u64,
}

impl Vars for ProxyVars {
    fn write_var(&self, var: Var, out: &mut String) {
        let _ = match var {
            Var::Date => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                write!(out, "{}", rfc5322_date(now))
            }
            Var::ClientIp => write!(out, "{}", self.peer.ip()),
            Var::ClientPort => write!(out, "{}", self.peer.port()),
            Var::Session => write!(out, "{}", self.session),
            // The proxy has no host name, HELO or queue of its own.
            Var::Hostname => write!(out, "localhost"),
            Var::Helo | Var::QueueId | Var::MessageSize => Ok(()),
        };
    }
}

/// One relayed session's profile and where the conversation stands.
#[derive(Debug)]
pub(crate) struct Policy {
    rules: Arc<Rules>,
    vars: ProxyVars,
    queue: VecDeque<Slot>,
    /// Only the reply-then-close faults are read here; the link faults
    /// belong to the relay's links.
    faults: ConnFaults,
    /// Where an AUTH exchange stands: is the client's next line a SASL response?
    sasl: Exchange,
    /// The actions of the input being handled.
    out: Vec<Action>,
    /// The client sent QUIT: nothing follows it.
    quit: bool,
}

impl Policy {
    /// The policy of session `session` from `peer`, with the faults it got;
    /// the upstream owes the banner.
    pub(crate) fn new(
        rules: Arc<Rules>,
        mut faults: ConnFaults,
        peer: SocketAddr,
        session: u64,
    ) -> Policy {
        let hijack = faults.take_close(&Trigger::Banner);
        let mut queue = VecDeque::new();
        queue.push_back(Slot::Upstream {
            answers: Answers::Banner,
            verb: "BANNER".into(),
            hijack,
        });
        Policy {
            rules,
            vars: ProxyVars { peer, session },
            queue,
            faults,
            sasl: Exchange::default(),
            out: Vec::new(),
            quit: false,
        }
    }

    /// The client said QUIT, so a close now interrupts nothing it sends.
    pub(crate) fn client_quit(&self) -> bool {
        self.quit
    }

    /// Is the client's next line (or may it be) a SASL response? See
    /// [`Exchange`]. When in doubt a line is redacted: a secret must not
    /// be recorded on a guess.
    pub(crate) fn sasl_due(&self) -> bool {
        self.sasl.response_due()
    }

    /// What may be recorded of the start of a client line that never ended
    /// (overlong, or cut off by the connection's end).
    pub(crate) fn shown_head(&self, head: &[u8]) -> Bytes {
        crate::protocol::sasl::shown(head, true, self.sasl_due())
    }

    /// How long the upstream has for the reply it owes now, if it owes one
    /// (the relay's clock runs it).
    pub(crate) fn owed(&self) -> Option<Duration> {
        match self.queue.front()? {
            Slot::Upstream { answers, .. } => Some(self.reply_bound(answers).0),
            Slot::Local { .. } => None,
        }
    }

    /// What the upstream failed to send within [`owed`](Self::owed)
    /// (`no reply to MAIL within 5s`), and its key in `timeouts:`.
    pub(crate) fn overdue(&self) -> (String, &'static str) {
        let (what, (limit, key)) = match self.queue.front() {
            Some(Slot::Upstream { answers, verb, .. }) => {
                let what = match answers {
                    Answers::Banner => "no banner".to_string(),
                    Answers::EndOfData => "no reply to the end of data".to_string(),
                    _ => format!("no reply to {}", shown_verb(verb)),
                };
                (what, self.reply_bound(answers))
            }
            _ => ("nothing".to_string(), (self.rules.timeouts.reply, "reply")),
        };
        (format!("{what} within {limit:?}"), key)
    }

    /// Nothing is owed either way and no SASL response is due: the upstream
    /// would take a `QUIT` now as a command.
    pub(crate) fn between_commands(&self) -> bool {
        self.queue.is_empty() && !self.sasl_due()
    }

    /// The bound on the upstream's reply to `answers`, and its key in
    /// `timeouts:`.
    fn reply_bound(&self, answers: &Answers) -> (Duration, &'static str) {
        match answers {
            Answers::Banner => (self.rules.timeouts.banner, "banner"),
            _ => (self.rules.timeouts.reply, "reply"),
        }
    }

    /// Hand out the actions collected for the current input.
    fn done(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.out)
    }

    /// Take back a carried-out action list, so the next input reuses its
    /// allocation: one list per connection, not one per command and reply.
    pub(crate) fn recycle(&mut self, mut spent: Vec<Action>) {
        spent.clear();
        if self.out.capacity() == 0 {
            self.out = spent;
        }
    }

    fn record(&mut self, kind: EventKind) {
        self.out.push(Action::Record(kind));
    }

    fn note(&mut self, text: String) {
        self.record(EventKind::Note { text });
    }

    /// Queue a reply of our own for a command that is not relayed.
    fn answer(&mut self, reply: Reply, rule: String, close: bool, swallow_chunk: Option<usize>) {
        self.queue.push_back(Slot::Local { reply, rule, close });
        // A refused BDAT's chunk follows anyway; it must not be read as commands.
        if let Some(size) = swallow_chunk.filter(|n| *n > 0) {
            self.out.push(Action::ReadChunk { size, relay: false });
        }
        self.drain();
    }

    /// Send our own replies that are now at the head of the queue.
    fn drain(&mut self) {
        while let Some(Slot::Local { .. }) = self.queue.front() {
            let Some(Slot::Local { reply, rule, close }) = self.queue.pop_front() else {
                break;
            };
            let (event, bytes) = own_reply(&reply, rule);
            self.record(event);
            self.out.push(Action::ToClient(bytes));
            if close {
                self.out.push(Action::Close);
                return;
            }
        }
    }
}

/// A reply of the proxy's own on the client leg, made by `rule`: its
/// transcript event and its octets.
pub(crate) fn own_reply(reply: &Reply, rule: String) -> (EventKind, Bytes) {
    let bytes = reply.to_bytes().freeze();
    let event = EventKind::Reply {
        leg: Leg::Client,
        code: reply.code,
        lines: wire_lines(&bytes),
        rule: Some(rule),
        original: None,
    };
    (event, bytes)
}

/// The client's verb as a reply may quote it: the client chose those
/// octets, and a reply line has room for 512.
fn shown_verb(verb: &str) -> String {
    let shown: String = verb
        .chars()
        .take(32)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect();
    if shown.is_empty() {
        "an empty command".into()
    } else {
        shown
    }
}

#[cfg(test)]
mod tests;
