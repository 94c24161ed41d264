//! Serving a captured conversation back: each command the client sends is
//! matched with the next captured step and answered with the captured bytes.
//! Where the client does something else, a [`Divergence`] says so and the
//! session carries on as sensibly as it can (skipping ahead to a step with
//! the same verb, or letting the built-in server answer).

use super::{Next, Outcome, Session};
use crate::protocol::{Command, Reply, sasl};
use crate::scenario::replay::{Captured, ReplayEnd, Step};
use serde::Serialize;
use std::time::Duration;

/// Where the client under test behaved differently from the captured one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Divergence {
    /// The captured step (1-based) that was expected.
    pub step: usize,
    /// What the captured client did.
    pub expected: String,
    /// What this client did.
    pub got: String,
}

/// Position in the captured session this connection plays.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cursor {
    pub index: usize,
    pub pos: usize,
}

fn describe(e: &Captured) -> String {
    match e {
        Captured::Command(Some(c)) => c.clone(),
        Captured::Command(None) => "<a line the capture does not show>".to_string(),
        Captured::Message(Some(n)) => format!("<message of {n} octets>"),
        Captured::Message(None) => "<message>".to_string(),
        Captured::StartTls => "<TLS handshake>".to_string(),
        Captured::Nothing => "<nothing: the server spoke next>".to_string(),
    }
}

fn verb(line: &str) -> String {
    line.split(' ')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase()
}

impl Session {
    fn steps(&self, cursor: Cursor) -> &[Step] {
        &self.plan.replay[cursor.index].steps
    }

    /// The outcome of playing step `at` (its reply, delay, and whether the
    /// captured server hung up after it).
    fn play(&mut self, cursor: Cursor, at: usize, cmd: Option<&Command>) -> Outcome {
        let steps = self.steps(cursor);
        let step = &steps[at];
        let (code, wire, delay) = (step.code, step.wire.clone(), step.delay);
        let last = at + 1 == steps.len();
        let server_closed = self.plan.replay[cursor.index].end == ReplayEnd::ServerClosed;
        self.replay = Some(Cursor {
            pos: at + 1,
            ..cursor
        });
        let reply = Reply::new(code, "");
        let mut next = match cmd {
            Some(cmd) if !wire.is_empty() => {
                let next = self.effect(cmd, &reply);
                if cmd.verb == crate::protocol::Verb::Ehlo && reply.class() == 2 {
                    self.captured_ehlo_reply(&wire);
                }
                next
            }
            _ if matches!(code, 421 | 521) => Next::Close,
            _ => Next::Command,
        };
        if last && server_closed {
            next = Next::Close;
        }
        Outcome {
            reply: (!wire.is_empty()).then_some(reply),
            wire: (!wire.is_empty()).then_some(wire),
            delay,
            next,
            ..Outcome::reply(Reply::new(0, ""))
        }
    }

    /// The captured greeting, if this session replays one.
    pub(super) fn replay_greeting(&mut self) -> Option<Outcome> {
        let cursor = self.replay?;
        let session = &self.plan.replay[cursor.index];
        let (code, wire) = session.banner.clone()?;
        self.refused = code != 220;
        Some(Outcome {
            delay: session.banner_delay,
            wire: Some(wire),
            ..Outcome::reply(Reply::new(code, ""))
        })
    }

    /// A reply the captured server sent on its own, due now (after the
    /// previous reply): the I/O layer asks after every outcome.
    /// A one-shot fault armed for right after the greeting comes first.
    pub fn unsolicited(&mut self) -> Option<Outcome> {
        if std::mem::take(&mut self.just_greeted)
            && let Some(out) = self.one_shot_after_greeting()
        {
            return Some(out);
        }
        if let Some(out) = self.error_limit() {
            return Some(out);
        }
        let cursor = self.replay?;
        match self.steps(cursor).get(cursor.pos)?.expect {
            Captured::Nothing => Some(self.play(cursor, cursor.pos, None)),
            _ => None,
        }
    }

    /// Answer `line` from the capture, or `None` to let the built-in server answer.
    pub(super) fn replay_command(&mut self, line: &[u8], cmd: &Command) -> Option<Outcome> {
        let cursor = self.replay?;
        let steps = self.steps(cursor);
        let got = String::from_utf8_lossy(line).into_owned();
        // A capture taken from a transcript holds credentials redacted: the
        // client's line matches it when its redacted form does. Divergences
        // are recorded, so they show only redacted forms too.
        // (`import --redact` writes `cmVkYWN0ZWQ=` where transcripts say
        // `<redacted>`.)
        let shown = String::from_utf8_lossy(&self.shown_line(line)).into_owned();
        let redacted = shown.contains(sasl::REDACTED);
        let same = |expected: &str| {
            expected == got
                || expected == shown
                || (redacted && expected == shown.replace(sasl::REDACTED, sasl::REDACTED_BASE64))
        };
        let current = steps.get(cursor.pos)?;
        let mut divergence = None;
        let target = match &current.expect {
            Captured::Command(None) => Some(cursor.pos),
            Captured::Command(Some(expected)) if same(expected) => Some(cursor.pos),
            expected => {
                divergence = Some(Divergence {
                    step: cursor.pos + 1,
                    expected: self.shown_expected(expected),
                    got: shown,
                });
                let wanted = verb(&got);
                steps[cursor.pos..]
                    .iter()
                    .position(
                        |s| matches!(&s.expect, Captured::Command(Some(c)) if verb(c) == wanted),
                    )
                    .map(|k| cursor.pos + k)
            }
        };
        let Some(at) = target else {
            // Nothing captured fits: the built-in server answers, and the
            // divergence is reported with its reply.
            let mut out = self.builtin_command(line, cmd);
            out.divergence = divergence;
            return Some(self.after_chunk(cmd, out));
        };
        let mut out = self.play(cursor, at, Some(cmd));
        out.divergence = divergence;
        // A BDAT's chunk follows it whatever the capture answered.
        Some(self.after_chunk(cmd, out))
    }

    /// What a divergence may record of the captured client's step: its
    /// AUTH line or SASL response redacted, like the client's own.
    fn shown_expected(&self, expected: &Captured) -> String {
        match expected {
            Captured::Command(Some(c)) => {
                String::from_utf8_lossy(&self.shown_line(c.as_bytes())).into_owned()
            }
            other => describe(other),
        }
    }

    /// The captured reply to a finished message, if the capture has one here.
    pub(super) fn replay_message(
        &mut self,
    ) -> Option<(u16, bytes::Bytes, Duration, Option<Divergence>)> {
        let cursor = self.replay?;
        let steps = self.steps(cursor);
        let step = steps.get(cursor.pos)?;
        match step.expect {
            Captured::Message(_) => {
                let captured = (step.code, step.wire.clone(), step.delay);
                self.replay = Some(Cursor {
                    pos: cursor.pos + 1,
                    ..cursor
                });
                Some((captured.0, captured.1, captured.2, None))
            }
            ref other => Some((
                0,
                bytes::Bytes::new(),
                Duration::ZERO,
                Some(Divergence {
                    step: cursor.pos + 1,
                    expected: describe(other),
                    got: "<message>".into(),
                }),
            )),
        }
    }
}
