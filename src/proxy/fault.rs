//! The faults one relayed connection got, decided once when it starts by
//! the one fault model ([`crate::scenario::faults::decide`]), in the terms
//! the relay acts on: a shape per direction and the reply-then-close faults
//! waiting for their moment.

use super::compile::{Rules, Trigger};
use super::model::Direction;
use crate::dice::Dice;
use crate::scenario::compile::ReplyTemplate;
use crate::scenario::faults::{LinkShape, decide as roll};

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
#[derive(Debug, Clone)]
pub struct ConnFaults {
    /// Client → upstream.
    pub upstream: LinkShape,
    /// Upstream → client.
    pub downstream: LinkShape,
    /// Reply-then-close faults, in profile order; each fires at most once.
    pub closes: Vec<ArmedClose>,
    /// One line per fault for the transcript: which fired and which did not.
    pub notes: Vec<String>,
    /// The session's dice, for the links' jitter.
    pub dice: Dice,
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
    let decided = roll(&rules.faults, rules.seed, session);
    let notes = rules
        .faults
        .iter()
        .zip(&decided.active)
        .map(|(fault, hit)| {
            let dir = match fault.direction {
                Direction::Upstream => "client→upstream",
                Direction::Downstream => "upstream→client",
            };
            format!(
                "fault {} ({dir}, p={}): {}",
                fault.name,
                fault.probability,
                if *hit { "active" } else { "not this time" }
            )
        })
        .collect();
    // A profile's answering faults all have a reply (`reply_then_close`);
    // tarpit and flaky are refused when it is checked.
    let closes = decided
        .answers
        .into_iter()
        .filter_map(|a| {
            Some(ArmedClose {
                reply: a.reply?,
                name: a.name,
                direction: a.direction,
                on: a.on,
            })
        })
        .collect();
    ConnFaults {
        upstream: decided.upstream,
        downstream: decided.downstream,
        closes,
        notes,
        dice: decided.dice,
    }
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
        let run = || -> Vec<bool> {
            (1..=64)
                .map(|s| decide(&rules, s).downstream.latency.is_some())
                .collect()
        };
        let a = run();
        assert_eq!(a, run(), "same seed, same decisions");
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
    fn notes_say_which_faults_fired() {
        let rules = profile("faults:\n  - name: cut\n    close_after: 10\n    probability: 0.0\n");
        assert_eq!(
            decide(&rules, 1).notes,
            ["fault cut (upstream→client, p=0): not this time"]
        );
    }
}
