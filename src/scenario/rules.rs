//! `rules:` checked and compiled: which verbs a rule answers, its
//! conditions, and the check that no rule is shadowed by an earlier one.

use super::compile::{Checker, ReplyTemplate};
use super::faults::LinkShape;
use super::model::{OneOrMany, RuleSpec, StateName, Then};
use regex::Regex;
use serde_saphyr::Spanned;
use std::time::Duration;

/// Which verbs a rule answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerbMatch {
    /// Any command.
    Any,
    /// Only these (upper-cased).
    Only(Vec<String>),
    /// Every verb but these.
    Except(Vec<String>),
}

impl VerbMatch {
    /// Does `verb` (upper-case) match?
    pub fn matches(&self, verb: &str) -> bool {
        match self {
            VerbMatch::Any => true,
            VerbMatch::Only(v) => v.iter().any(|x| x == verb),
            VerbMatch::Except(v) => !v.iter().any(|x| x == verb),
        }
    }

    /// Does every command this matches also match `other`?
    fn covered_by(&self, other: &VerbMatch) -> bool {
        match (self, other) {
            (_, VerbMatch::Any) => true,
            (VerbMatch::Only(mine), VerbMatch::Only(theirs)) => {
                mine.iter().all(|v| theirs.contains(v))
            }
            (VerbMatch::Only(mine), VerbMatch::Except(ex)) => mine.iter().all(|v| !ex.contains(v)),
            (VerbMatch::Except(mine), VerbMatch::Except(ex)) => ex.iter().all(|v| mine.contains(v)),
            _ => false,
        }
    }
}

/// A rule ready to match.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    /// Its name, or `rule N` (1-based).
    pub label: String,
    /// Verbs it answers.
    pub verbs: VerbMatch,
    /// Regex over the arguments.
    pub args: Option<Regex>,
    /// States it is limited to.
    pub states: Option<Vec<StateName>>,
    /// Only the Nth match in a session.
    pub nth: Option<u32>,
    /// Only the first N matches in a session.
    pub times: Option<u32>,
    /// Only in the Nth session.
    pub session: Option<u64>,
    /// The reply, if any.
    pub reply: Option<ReplyTemplate>,
    /// Delay before the reply.
    pub delay: Duration,
    /// What happens after.
    pub then: Then,
    /// Pacing for this reply (bandwidth, slices).
    pub pace: Option<LinkShape>,
}

impl Checker<'_> {
    /// One or more verbs, upper-cased; each must be one word.
    pub(crate) fn verbs(&mut self, spec: &Spanned<OneOrMany<String>>) -> Vec<String> {
        if spec.value.0.is_empty() {
            self.problem(&spec.referenced, "expected at least one verb");
        }
        spec.value
            .0
            .iter()
            .map(|v| {
                if v.is_empty() || v.contains(char::is_whitespace) {
                    self.problem(
                        &spec.referenced,
                        format!("{v:?} is not a verb: expected one word such as EHLO"),
                    );
                }
                v.to_ascii_uppercase()
            })
            .collect()
    }

    /// A regex, or a problem naming the key it came from and why it does
    /// not compile.
    pub(crate) fn regex(&mut self, spec: &Spanned<String>, what: &str) -> Option<Regex> {
        match Regex::new(&spec.value) {
            Ok(re) => Some(re),
            Err(e) => {
                // The regex crate's message ends with the reason on its last line.
                let first = e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                self.problem(&spec.referenced, format!("bad regex in `{what}`: {first}"));
                None
            }
        }
    }

    pub(super) fn rule(&mut self, index: usize, spec: &Spanned<RuleSpec>) -> CompiledRule {
        let r = &spec.value;
        let at = &spec.referenced;
        let verbs = match (&r.verb, &r.except) {
            (Some(_), Some(e)) => {
                self.problem(&e.referenced, "a rule takes `verb` or `except`, not both");
                VerbMatch::Any
            }
            (Some(v), None) => VerbMatch::Only(self.verbs(v)),
            (None, Some(e)) => VerbMatch::Except(self.verbs(e)),
            (None, None) => VerbMatch::Any,
        };
        let args = r.args.as_ref().and_then(|a| self.regex(a, "args"));
        for (field, value) in [("nth", &r.nth), ("times", &r.times)] {
            if let Some(v) = value
                && v.value == 0
            {
                self.problem(
                    &v.referenced,
                    format!("`{field}` counts from 1; 0 can never match"),
                );
            }
        }
        if let (Some(n), Some(_)) = (&r.nth, &r.times) {
            self.problem(&n.referenced, "a rule takes `nth` or `times`, not both");
        }
        if let Some(s) = &r.session
            && s.value == 0
        {
            self.problem(&s.referenced, "`session` counts from 1; 0 can never match");
        }
        if r.reply.is_none() && r.then != Some(Then::Close) {
            self.problem(
                at,
                "a rule needs a `reply` (or `then: close` to hang up without one)",
            );
        }
        let states = r.state.as_ref().map(|s| {
            if s.value.0.is_empty() {
                self.problem(
                    &s.referenced,
                    "expected at least one state: connected, greeted, mail or rcpt",
                );
            }
            s.value.0.clone()
        });
        CompiledRule {
            label: r
                .name
                .clone()
                .unwrap_or_else(|| format!("rule {}", index + 1)),
            verbs,
            args,
            states,
            nth: r.nth.as_ref().map(|n| n.value),
            times: r.times.as_ref().map(|n| n.value),
            session: r.session.as_ref().map(|n| n.value),
            reply: r
                .reply
                .as_ref()
                .map(|t| self.reply_text(&t.value, &t.referenced)),
            delay: Self::duration(r.delay.as_ref()),
            then: r.then.unwrap_or(Then::Continue),
            pace: self.rule_pace(r),
        }
    }

    fn rule_pace(&mut self, r: &RuleSpec) -> Option<LinkShape> {
        for (what, v) in [
            (
                "bandwidth",
                r.bandwidth.as_ref().map(|b| (b.value, b.referenced)),
            ),
            (
                "slice",
                r.slice.as_ref().map(|s| (s.value as u64, s.referenced)),
            ),
        ] {
            if let Some((0, at)) = v {
                self.problem(&at, format!("`{what}` must be at least 1"));
            }
        }
        (r.bandwidth.is_some() || r.slice.is_some()).then(|| LinkShape {
            bandwidth: r.bandwidth.as_ref().map(|b| b.value.max(1)),
            slice: r.slice.as_ref().map(|s| s.value.max(1)),
            ..LinkShape::default()
        })
    }

    pub(super) fn unreachable_rules(
        &mut self,
        rules: &[CompiledRule],
        specs: &[Spanned<RuleSpec>],
    ) {
        for (i, later) in rules.iter().enumerate() {
            let shadow = rules[..i].iter().zip(specs).find(|(earlier, spec)| {
                // A rule mounted from Rust has no place in a file and is put
                // first to override the scenario's own: that is its purpose.
                spec.referenced.line() != 0
                    && earlier.args.is_none()
                    && earlier.states.is_none()
                    && earlier.nth.is_none()
                    && earlier.times.is_none()
                    && earlier.session.is_none()
                    && later.verbs.covered_by(&earlier.verbs)
            });
            if let Some((earlier, spec)) = shadow {
                self.problem(
                    &specs[i].referenced,
                    format!(
                        "this rule can never match: {} (line {}) already answers every command it would",
                        earlier.label,
                        spec.referenced.line()
                    ),
                );
            }
        }
    }
}
