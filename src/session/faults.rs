//! The faults a session got, decided once when it starts (toxiproxy's
//! "toxicity"), then consulted at each reply.

use super::{Next, Outcome, Session};
use crate::dice::{Dice, clock_seed, session_seed};
use crate::protocol::Reply;
use crate::scenario::Plan;
use crate::scenario::compile::ReplyTemplate;
use crate::scenario::faults::{FaultKind, Trigger};
use std::time::Duration;

/// How the I/O layer must write this session's replies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pace {
    /// Bytes per second.
    pub bandwidth: Option<u64>,
    /// Write in pieces of this many bytes.
    pub slice: Option<usize>,
    /// Close after this many bytes in all.
    pub close_after: Option<u64>,
}

#[derive(Debug, Clone)]
struct Flaky {
    name: String,
    reply: ReplyTemplate,
    rate: f64,
    verbs: Option<Vec<String>>,
}

/// The faults of one session.
#[derive(Debug, Clone)]
pub(super) struct Active {
    dice: Dice,
    latency: Option<(Duration, Duration)>,
    tarpit: Option<Duration>,
    replies: u32,
    closes: Vec<(Trigger, ReplyTemplate, String)>,
    flaky: Vec<Flaky>,
    pace: Pace,
}

impl Active {
    /// Roll every fault's dice for session `id`.
    pub(super) fn decide(plan: &Plan, id: u64) -> Option<Active> {
        if plan.faults.is_empty() {
            return None;
        }
        let mut active = Active {
            dice: Dice::new(session_seed(clock_seed(), id)),
            latency: None,
            tarpit: None,
            replies: 0,
            closes: Vec::new(),
            flaky: Vec::new(),
            pace: Pace::default(),
        };
        for (i, fault) in plan.faults.iter().enumerate() {
            let seed = fault.seed.unwrap_or_else(clock_seed).wrapping_add(i as u64);
            let mut dice = Dice::new(session_seed(seed, id));
            if dice.unit() >= fault.probability {
                continue;
            }
            if fault.seed.is_some() {
                // Seeded runs stay repeatable all the way down (jitter, flaky).
                active.dice = dice.clone();
            }
            match &fault.kind {
                FaultKind::Latency { base, jitter } => active.latency = Some((*base, *jitter)),
                FaultKind::Bandwidth(b) => active.pace.bandwidth = Some(*b),
                FaultKind::Slice(s) => active.pace.slice = Some(*s),
                FaultKind::CloseAfter(n) => active.pace.close_after = Some(*n),
                FaultKind::ReplyThenClose { reply, on } => {
                    active
                        .closes
                        .push((on.clone(), reply.clone(), fault.name.clone()))
                }
                FaultKind::Tarpit(step) => active.tarpit = Some(*step),
                FaultKind::Flaky { reply, rate, verbs } => active.flaky.push(Flaky {
                    name: fault.name.clone(),
                    reply: reply.clone(),
                    rate: *rate,
                    verbs: verbs.clone(),
                }),
            }
        }
        Some(active)
    }
}

impl Session {
    /// How replies must be written (bandwidth, slices, a byte budget).
    pub fn pace(&self) -> Pace {
        self.faults.as_ref().map(|f| f.pace).unwrap_or_default()
    }

    /// Extra wait before the next reply: latency, jitter, tarpit.
    pub fn reply_delay(&mut self) -> Duration {
        let Some(f) = self.faults.as_mut() else {
            return Duration::ZERO;
        };
        f.replies += 1;
        let mut wait = Duration::ZERO;
        if let Some((base, jitter)) = f.latency {
            wait += base + f.dice.up_to(jitter);
        }
        if let Some(step) = f.tarpit {
            wait += step * f.replies;
        }
        wait
    }

    /// The first `reply_then_close` whose trigger `fires`, as an outcome.
    /// A predicate rather than a `Trigger` to compare with, so a command
    /// needs no `Trigger::Verb(String)` built for it.
    pub(super) fn fault_close(&mut self, fires: impl Fn(&Trigger) -> bool) -> Option<Outcome> {
        let f = self.faults.as_ref()?;
        let (_, reply, name) = f.closes.iter().find(|(t, _, _)| fires(t))?.clone();
        Some(Outcome {
            next: Next::Close,
            rule: Some(name),
            ..Outcome::reply(self.render(&reply))
        })
    }

    /// A flaky failure for `verb`, if the dice say so.
    pub(super) fn fault_flaky(&mut self, verb: &str) -> Option<(Reply, String)> {
        let f = self.faults.as_mut()?;
        for flaky in &f.flaky {
            if flaky
                .verbs
                .as_ref()
                .is_some_and(|v| !v.iter().any(|x| x == verb))
            {
                continue;
            }
            if f.dice.unit() < flaky.rate {
                let (reply, name) = (flaky.reply.clone(), flaky.name.clone());
                return Some((self.render(&reply), name));
            }
        }
        None
    }
}
