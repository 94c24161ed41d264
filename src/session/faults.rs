//! The faults a session got, decided once when it starts by the one fault
//! model ([`crate::scenario::faults::decide`]), then consulted at each reply.

use super::{Next, Outcome, Session};
use crate::dice::Dice;
use crate::protocol::Reply;
use crate::scenario::Plan;
use crate::scenario::faults::{self, ArmedAnswer, Flaky, LinkShape, Trigger};
use std::time::Duration;

/// The faults of one session.
#[derive(Debug, Clone)]
pub(super) struct Active {
    dice: Dice,
    latency: Option<(Duration, Duration)>,
    tarpit: Option<Duration>,
    replies: u32,
    answers: Vec<ArmedAnswer>,
    flaky: Vec<Flaky>,
    /// How replies are written; latency is not the link's here but a wait
    /// before each reply (with the tarpit's), so the transcript shows it.
    shape: LinkShape,
}

impl Active {
    /// Roll every fault's dice for session `id`.
    pub(super) fn decide(plan: &Plan, id: u64) -> Option<Active> {
        if plan.faults.is_empty() {
            return None;
        }
        let mut d = faults::decide(&plan.faults, None, id);
        let latency = d.downstream.latency.take();
        Some(Active {
            dice: d.dice,
            latency,
            tarpit: d.tarpit,
            replies: 0,
            answers: d.answers,
            flaky: d.flaky,
            shape: d.downstream,
        })
    }
}

impl Session {
    /// How replies must be written (bandwidth, slices, a byte budget).
    pub fn link_shape(&self) -> LinkShape {
        self.faults.as_ref().map(|f| f.shape).unwrap_or_default()
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
        let answer = f.answers.iter().find(|a| fires(&a.on))?;
        let (reply, close, name) = (answer.reply.clone(), answer.close, answer.name.clone());
        let reply = reply.map(|r| self.render(&r));
        Some(Outcome {
            next: if close || reply.is_none() {
                Next::Close
            } else {
                Next::Command
            },
            rule: Some(name),
            reply,
            ..Outcome::reply(Reply::new(0, ""))
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
