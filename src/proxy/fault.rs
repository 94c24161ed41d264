//! Deciding, once per connection, which faults it gets (toxiproxy's
//! "toxicity"): each fault rolls its own dice, seeded from the profile (or
//! the fault's) `seed` and the session number, so a seeded run is repeatable
//! connection by connection and no `rand` dependency is needed.

use super::compile::{FaultKind, Rules, Trigger};
use super::model::Direction;
use crate::scenario::compile::ReplyTemplate;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use crate::dice::Dice;

/// The faults one direction of one connection got.
#[derive(Debug, Clone, Default)]
pub struct LinkFaults {
    /// Delay and jitter per chunk.
    pub latency: Option<(Duration, Duration)>,
    /// Bytes per second.
    pub bandwidth: Option<u64>,
    /// Cut after this many bytes.
    pub close_after: Option<u64>,
}

impl LinkFaults {
    /// Does this direction behave like a plain socket?
    pub fn is_clean(&self) -> bool {
        self.latency.is_none() && self.bandwidth.is_none() && self.close_after.is_none()
    }
}

/// A reply-then-close fault that fired its dice and waits for its moment.
#[derive(Debug, Clone)]
pub struct ArmedClose {
    /// For transcripts.
    pub name: String,
    /// `Upstream`: the command (or end of data) is held back and the proxy
    /// answers; `Downstream`: it is relayed and the upstream's answer is
    /// replaced.
    pub direction: Direction,
    /// When.
    pub on: Trigger,
    /// What the client gets.
    pub reply: ReplyTemplate,
}

/// Everything decided for one connection.
#[derive(Debug, Clone, Default)]
pub struct ConnFaults {
    /// Client → upstream.
    pub upstream: LinkFaults,
    /// Upstream → client.
    pub downstream: LinkFaults,
    /// Reply-then-close faults, in profile order; each fires at most once.
    pub closes: Vec<ArmedClose>,
    /// One line per fault for the transcript: which fired and which did not.
    pub notes: Vec<String>,
}

impl ConnFaults {
    /// Take the first armed close for `on` (any direction).
    pub fn take_close(&mut self, on: &Trigger) -> Option<ArmedClose> {
        let i = self.closes.iter().position(|c| &c.on == on)?;
        Some(self.closes.remove(i))
    }
}

/// Roll every fault of `rules` for session `session` (1-based).
pub fn decide(rules: &Rules, session: u64) -> ConnFaults {
    let mut out = ConnFaults::default();
    for (i, fault) in rules.faults.iter().enumerate() {
        let seed = fault.seed.or(rules.seed).unwrap_or_else(entropy);
        // Distinct streams per session and per fault, same seed → same run.
        let mut dice =
            Dice::new(seed ^ session.wrapping_mul(0xA24B_AED4_963E_E407) ^ ((i as u64) << 48));
        let roll = dice.unit();
        let hit = roll < fault.probability;
        let dir = match fault.direction {
            Direction::Upstream => "client→upstream",
            Direction::Downstream => "upstream→client",
        };
        out.notes.push(format!(
            "fault {} ({dir}, p={}): {}",
            fault.name,
            fault.probability,
            if hit { "active" } else { "not this time" }
        ));
        if !hit {
            continue;
        }
        let link = match fault.direction {
            Direction::Upstream => &mut out.upstream,
            Direction::Downstream => &mut out.downstream,
        };
        match &fault.kind {
            FaultKind::Latency { delay, jitter } => link.latency = Some((*delay, *jitter)),
            FaultKind::Bandwidth(rate) => link.bandwidth = Some(*rate),
            FaultKind::CloseAfter(n) => link.close_after = Some(*n),
            FaultKind::ReplyThenClose { reply, on } => out.closes.push(ArmedClose {
                name: fault.name.clone(),
                direction: fault.direction,
                on: on.clone(),
                reply: reply.clone(),
            }),
        }
    }
    out
}

/// A seed for unseeded faults: varies between runs, which is the point.
fn entropy() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    // Mix in a stack address so two connections in the same nanosecond differ.
    let local = 0u8;
    nanos ^ (&local as *const u8 as u64).rotate_left(32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::Profile;

    fn profile(yaml: &str) -> Rules {
        Profile::from_yaml(yaml).unwrap().rules().clone()
    }

    #[test]
    fn seeded_dice_repeat_and_vary_between_sessions() {
        let rules = profile("seed: 42\nfaults:\n  - latency: 10ms\n    probability: 0.5\n");
        let run = |_: ()| -> Vec<bool> {
            (1..=64)
                .map(|s| decide(&rules, s).downstream.latency.is_some())
                .collect()
        };
        let a = run(());
        assert_eq!(a, run(()), "same seed, same decisions");
        let hits = a.iter().filter(|h| **h).count();
        assert!(
            (16..=48).contains(&hits),
            "p=0.5 over 64 sessions gave {hits}"
        );
    }

    #[test]
    fn probability_bounds_are_exact() {
        let always = profile("faults:\n  - close_after: 10\n    direction: upstream\n");
        let never = profile("faults:\n  - close_after: 10\n    probability: 0.0\n");
        for s in 1..20 {
            assert_eq!(decide(&always, s).upstream.close_after, Some(10));
            assert!(decide(&never, s).downstream.is_clean());
        }
    }

    #[test]
    fn dice_are_uniform_enough() {
        let mut d = Dice::new(7);
        let mean = (0..10_000).map(|_| d.unit()).sum::<f64>() / 10_000.0;
        assert!((0.45..0.55).contains(&mean), "{mean}");
    }
}
