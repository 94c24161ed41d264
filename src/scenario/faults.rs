//! `faults:` of a scenario, checked: the server-side twin of the proxy's
//! toxics, with the same names (`latency`, `bandwidth`, `close_after`,
//! `reply_then_close` + `on`, `probability`, `seed`) plus what only a server
//! can do (`slice`, `tarpit`, `flaky`).

use super::compile::{ReplyTemplate, parse_reply};
use super::model::ServerFaultSpec;
use super::problem::Problem;
use serde_saphyr::Spanned;
use std::time::Duration;

/// When a `reply_then_close` fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// Instead of the greeting.
    Banner,
    /// At this verb (upper-case).
    Verb(String),
    /// At the end of message data (the message is not stored).
    EndOfData,
}

impl Trigger {
    /// Parse `on:` — `banner`, `.`, or one verb — or say what was expected.
    pub fn parse(text: &str) -> Result<Trigger, String> {
        match text.trim() {
            v if v.eq_ignore_ascii_case("banner") => Ok(Trigger::Banner),
            "." => Ok(Trigger::EndOfData),
            v if !v.is_empty() && !v.contains(char::is_whitespace) => {
                Ok(Trigger::Verb(v.to_ascii_uppercase()))
            }
            v => Err(format!("`on` is `banner`, a verb or `.`; found {v:?}")),
        }
    }
}

/// What a fault does.
#[derive(Debug, Clone)]
pub enum FaultKind {
    /// Wait before every reply.
    Latency {
        /// Always.
        base: Duration,
        /// Up to this much more.
        jitter: Duration,
    },
    /// Bytes per second for replies.
    Bandwidth(u64),
    /// Replies written in pieces of this size.
    Slice(usize),
    /// Close after this many bytes written.
    CloseAfter(u64),
    /// A reply, then close.
    ReplyThenClose {
        /// The reply.
        reply: ReplyTemplate,
        /// When.
        on: Trigger,
    },
    /// Wait N × this before the Nth reply.
    Tarpit(Duration),
    /// Random failures per command.
    Flaky {
        /// The failure reply.
        reply: ReplyTemplate,
        /// Chance per command.
        rate: f64,
        /// Only these verbs.
        verbs: Option<Vec<String>>,
    },
}

/// A checked fault.
#[derive(Debug, Clone)]
pub struct ServerFault {
    /// For transcripts.
    pub name: String,
    /// Chance a session gets it.
    pub probability: f64,
    /// Dice seed; `None` for the clock.
    pub seed: Option<u64>,
    /// What it does.
    pub kind: FaultKind,
}

fn chance(
    v: &Option<Spanned<f64>>,
    default: f64,
    what: &str,
    file: &str,
    problems: &mut Vec<Problem>,
) -> f64 {
    match v {
        Some(p) if !(0.0..=1.0).contains(&p.value) => {
            problems.push(Problem::at(
                file,
                &p.referenced,
                format!("`{what}` is a chance from 0.0 to 1.0"),
            ));
            default
        }
        Some(p) => p.value,
        None => default,
    }
}

/// Check every entry of `faults:`.
pub fn compile(
    specs: &[Spanned<ServerFaultSpec>],
    file: &str,
    problems: &mut Vec<Problem>,
) -> Vec<ServerFault> {
    specs
        .iter()
        .filter_map(|spec| {
            let f = &spec.value;
            let reply = |text: &Spanned<super::model::ReplyText>, problems: &mut Vec<Problem>| {
                parse_reply(&text.value.0).map_err(|e| problems.push(Problem::at(file, &text.referenced, e))).ok()
            };
            let kinds = [
                f.latency.is_some(),
                f.bandwidth.is_some(),
                f.slice.is_some(),
                f.close_after.is_some(),
                f.reply_then_close.is_some(),
                f.tarpit.is_some(),
                f.flaky.is_some(),
            ];
            if kinds.iter().filter(|k| **k).count() != 1 {
                problems.push(Problem::at(
                    file,
                    &spec.referenced,
                    "a fault takes exactly one of `latency`, `bandwidth`, `slice`, `close_after`, `reply_then_close`, `tarpit`, `flaky`",
                ));
                return None;
            }
            let (name, kind) = if let Some(l) = &f.latency {
                let jitter = f.jitter.as_ref().map_or(Duration::ZERO, |j| j.value.0);
                ("latency", FaultKind::Latency { base: l.value.0, jitter })
            } else if let Some(b) = &f.bandwidth {
                if b.value == 0 {
                    problems.push(Problem::at(file, &b.referenced, "`bandwidth` must be at least 1 byte per second"));
                    return None;
                }
                ("bandwidth", FaultKind::Bandwidth(b.value))
            } else if let Some(s) = &f.slice {
                if s.value == 0 {
                    problems.push(Problem::at(file, &s.referenced, "`slice` must be at least 1 byte"));
                    return None;
                }
                ("slice", FaultKind::Slice(s.value))
            } else if let Some(c) = &f.close_after {
                ("close_after", FaultKind::CloseAfter(c.value))
            } else if let Some(r) = &f.reply_then_close {
                let on = match &f.on {
                    None => Trigger::Banner,
                    Some(o) => match Trigger::parse(&o.value) {
                        Ok(t) => t,
                        Err(e) => {
                            problems.push(Problem::at(file, &o.referenced, e));
                            return None;
                        }
                    },
                };
                ("reply_then_close", FaultKind::ReplyThenClose { reply: reply(r, problems)?, on })
            } else if let Some(t) = &f.tarpit {
                ("tarpit", FaultKind::Tarpit(t.value.0))
            } else if let Some(r) = &f.flaky {
                let rate = chance(&f.rate, 0.5, "rate", file, problems);
                let verbs = f.verbs.as_ref().map(|v| v.value.0.iter().map(|s| s.to_ascii_uppercase()).collect());
                ("flaky", FaultKind::Flaky { reply: reply(r, problems)?, rate, verbs })
            } else {
                return None;
            };
            Some(ServerFault {
                name: f.name.clone().unwrap_or_else(|| name.to_string()),
                probability: chance(&f.probability, 1.0, "probability", file, problems),
                seed: f.seed,
                kind,
            })
        })
        .collect()
}
