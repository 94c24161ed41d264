//! Checks a [`ProfileFile`] and turns it into [`Rules`]: replies parsed,
//! regexes compiled, defaults filled in. Like scenarios, every problem is
//! collected with its file:line:column so `validate` shows them all at once.

use super::model::*;
use crate::protocol::mask::BannerMask;
use crate::scenario::Problem;
use crate::scenario::compile::{Checker, ReplyTemplate, VerbMatch};
use crate::scenario::faults::{FaultEntry, Runner};
use crate::scenario::model::DurationSpec;
use regex::Regex;
use serde_saphyr::Spanned;
use std::time::Duration;

/// The reply for a filtered command when the profile names none (PIX wording).
pub const DEFAULT_FILTER_REPLY: &str = "500 5.5.1 Command unrecognized";
/// The answer to a stripped STARTTLS when the profile names none.
pub const DEFAULT_STARTTLS_REPLY: &str = "500 5.5.1 Command unrecognized";

/// What happens to the upstream's greeting.
#[derive(Debug, Clone)]
pub enum BannerAction {
    /// Relayed as sent.
    Pass,
    /// Replaced by this reply.
    Replace(ReplyTemplate),
    /// Overwritten in place.
    Mask(BannerMask),
}

/// A compiled `verbs:` section.
#[derive(Debug, Clone)]
pub struct VerbFilter {
    /// The verbs that are *filtered* (an allow-list becomes `Except`).
    pub filtered: VerbMatch,
    /// Answer or mask.
    pub action: FilterAction,
    /// The answer, for [`FilterAction::Answer`].
    pub reply: ReplyTemplate,
}

/// A compiled `ehlo:` section.
#[derive(Debug, Clone, Default)]
pub struct EhloRewrite {
    /// Keyword names to drop (upper-case).
    pub remove: Vec<String>,
    /// Keyword names left unmasked; `None`: no masking.
    pub mask_except: Option<Vec<String>>,
    /// Keywords appended.
    pub add: Vec<String>,
}

impl EhloRewrite {
    /// Does this change anything?
    #[cfg(any(test, feature = "internals"))]
    pub fn is_active(&self) -> bool {
        !self.remove.is_empty() || self.mask_except.is_some() || !self.add.is_empty()
    }
}

/// What happens to STARTTLS.
#[derive(Debug, Clone)]
pub enum StarttlsAction {
    /// Relayed; opaque after the upstream's 220.
    Pass,
    /// Keyword removed, verb answered with this reply.
    Strip(ReplyTemplate),
}

/// A compiled `addresses:` section.
#[derive(Debug, Clone, Default)]
pub struct AddressMap {
    /// `(from, to)` domain pairs, `from` lower-cased.
    pub domains: Vec<(String, String)>,
    /// Rewrite MAIL FROM.
    pub mail_from: bool,
    /// Rewrite RCPT TO.
    pub rcpt_to: bool,
}

impl AddressMap {
    /// The replacement domain for `domain`, if mapped.
    pub fn lookup(&self, domain: &str) -> Option<&str> {
        self.domains
            .iter()
            .find(|(from, _)| from.eq_ignore_ascii_case(domain))
            .map(|(_, to)| to.as_str())
    }
}

/// A compiled entry of `replies:`.
#[derive(Debug, Clone)]
pub struct ReplyRule {
    /// For transcripts.
    pub name: String,
    /// Codes it matches; empty: any.
    pub codes: Vec<u16>,
    /// Regex over the reply text.
    pub text: Option<Regex>,
    /// Verbs whose replies it matches (upper-case; `BANNER`, `.`); empty: any.
    pub verbs: Vec<String>,
    /// The replacement.
    pub reply: ReplyTemplate,
}

/// When a reply-then-close fault fires: the same vocabulary as the fake
/// server's faults.
pub use crate::scenario::faults::Trigger;

/// How long the proxy waits, each bound answered as its doc says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Dialing the upstream; then the client gets `421 4.4.2`.
    pub connect: Duration,
    /// The upstream's greeting; then the client gets `421 4.4.2`.
    pub banner: Duration,
    /// Each reply the upstream owes, from the command or the upstream's
    /// previous output; then the client gets `421 4.4.2`.
    pub reply: Duration,
    /// A peer that reads nothing while the proxy writes to it; then both
    /// legs close (the client first gets `421 4.4.2` when it is the upstream).
    pub write: Duration,
    /// A client that sends nothing while the upstream owes it nothing; then
    /// the client gets `421 4.4.2` and both legs close.
    pub idle: Duration,
}

impl Default for Timeouts {
    /// The dial bound suits a harness whose upstream is near; the others
    /// are RFC 5321 4.5.3.2's minimums for a client, so that the proxy never
    /// cuts a session a compliant client would still be waiting on: the
    /// client under test meets the upstream's slowness, not the proxy's.
    /// `idle` is 4.5.3.2.7's server timeout, what an upstream would allow.
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(10),
            banner: Duration::from_secs(300),
            reply: Duration::from_secs(300),
            write: Duration::from_secs(300),
            idle: Duration::from_secs(300),
        }
    }
}

/// A profile ready to run.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Profile-wide seed for the faults' dice.
    pub seed: Option<u64>,
    /// Greeting.
    pub banner: BannerAction,
    /// Verb filter.
    pub verbs: Option<VerbFilter>,
    /// EHLO keyword rewriting.
    pub ehlo: EhloRewrite,
    /// STARTTLS.
    pub starttls: StarttlsAction,
    /// Address rewriting.
    pub addresses: AddressMap,
    /// Reply rewriting, in order.
    pub replies: Vec<ReplyRule>,
    /// Faults, in order.
    pub faults: Vec<FaultEntry>,
    /// Bounds on every wait.
    pub timeouts: Timeouts,
}

impl Checker<'_> {
    fn banner(&mut self, spec: &BannerSpec) -> BannerAction {
        match (&spec.replace, &spec.mask) {
            (Some(_), Some(m)) => {
                self.problem(
                    &m.referenced,
                    "`banner` takes `replace` or `mask`, not both",
                );
                BannerAction::Pass
            }
            (Some(r), None) => BannerAction::Replace(self.reply(Some(r), "")),
            (None, Some(m)) => BannerAction::Mask(m.value),
            (None, None) => BannerAction::Pass,
        }
    }

    fn verb_filter(&mut self, spec: &VerbsSpec) -> Option<VerbFilter> {
        let filtered = match (&spec.allow, &spec.deny) {
            (Some(_), Some(d)) => {
                self.problem(&d.referenced, "`verbs` takes `allow` or `deny`, not both");
                return None;
            }
            (Some(a), None) => VerbMatch::Except(self.verbs(a)),
            (None, Some(d)) => VerbMatch::Only(self.verbs(d)),
            (None, None) => return None,
        };
        let action = spec.action.unwrap_or(FilterAction::Answer);
        if action == FilterAction::Mask
            && let Some(r) = &spec.reply
        {
            self.problem(
                &r.referenced,
                "`reply` is only used with `action: answer`; with `mask` the upstream answers",
            );
        }
        Some(VerbFilter {
            filtered,
            action,
            reply: self.reply(spec.reply.as_ref(), DEFAULT_FILTER_REPLY),
        })
    }

    /// Each bound given, checked as the scenario's timeouts are; the
    /// default for the others (and for one refused, with its problem).
    fn timeouts(&mut self, spec: &TimeoutsSpec) -> Timeouts {
        let default = Timeouts::default();
        let mut bound = |d: &Option<Spanned<DurationSpec>>, what, or| {
            self.timeout(d.as_ref(), what).unwrap_or(or)
        };
        Timeouts {
            connect: bound(&spec.connect, "`connect`", default.connect),
            banner: bound(&spec.banner, "`banner`", default.banner),
            reply: bound(&spec.reply, "`reply`", default.reply),
            write: bound(&spec.write, "`write`", default.write),
            idle: bound(&spec.idle, "`idle`", default.idle),
        }
    }

    fn addresses(&mut self, spec: &AddressSpec) -> AddressMap {
        let mut domains = Vec::new();
        if let Some(d) = &spec.domains {
            for (from, to) in &d.value {
                let bad = |s: &str| s.is_empty() || s.contains(['@', '<', '>', ' ']);
                if bad(from) || bad(to) {
                    self.problem(
                        &d.referenced,
                        format!("{from:?}: {to:?} is not a domain map entry; write `old.example: new.example`"),
                    );
                }
                domains.push((from.to_ascii_lowercase(), to.clone()));
            }
        }
        AddressMap {
            domains,
            mail_from: spec.mail_from.unwrap_or(true),
            rcpt_to: spec.rcpt_to.unwrap_or(true),
        }
    }

    fn reply_rule(&mut self, index: usize, spec: &Spanned<ReplyRuleSpec>) -> ReplyRule {
        let r = &spec.value;
        let codes = r.code.as_ref().map_or_else(Vec::new, |c| {
            c.value
                .0
                .iter()
                .filter_map(|code| match code.trim().parse::<u16>() {
                    Ok(n) if (100..=599).contains(&n) => Some(n),
                    _ => {
                        self.problem(
                            &c.referenced,
                            format!("{code:?} is not a reply code: expected a number such as 250"),
                        );
                        None
                    }
                })
                .collect()
        });
        let text = r.text.as_ref().and_then(|t| self.regex(t, "text"));
        let verbs = r.verb.as_ref().map_or_else(Vec::new, |v| self.verbs(v));
        if r.reply.is_none() {
            self.problem(
                &spec.referenced,
                "a reply rule needs a `reply` to send instead",
            );
        }
        ReplyRule {
            name: r
                .name
                .clone()
                .unwrap_or_else(|| format!("reply-rule-{}", index + 1)),
            codes,
            text,
            verbs,
            reply: self.reply(r.reply.as_ref(), DEFAULT_FILTER_REPLY),
        }
    }
}

/// Check `file` and build its [`Rules`], or list every problem.
pub fn compile(file: &ProfileFile, source: &str) -> Result<Rules, Vec<Problem>> {
    let mut c = Checker {
        file: source,
        problems: Vec::new(),
    };
    let banner = file
        .banner
        .as_ref()
        .map_or(BannerAction::Pass, |b| c.banner(b));
    let verbs = file.verbs.as_ref().and_then(|v| c.verb_filter(v));
    let ehlo = file.ehlo.as_ref().map_or_else(EhloRewrite::default, |e| {
        let upper = |v: &Option<Vec<String>>| {
            v.as_ref()
                .map(|v| v.iter().map(|k| k.to_ascii_uppercase()).collect::<Vec<_>>())
        };
        EhloRewrite {
            remove: upper(&e.remove).unwrap_or_default(),
            mask_except: upper(&e.mask_except),
            add: e.add.clone().unwrap_or_default(),
        }
    });
    let starttls = match &file.starttls {
        Some(s) if s.mode == Some(StarttlsMode::Strip) => {
            StarttlsAction::Strip(c.reply(s.reply.as_ref(), DEFAULT_STARTTLS_REPLY))
        }
        Some(s) => {
            if let Some(r) = &s.reply {
                c.problem(&r.referenced, "`reply` is only used with `mode: strip`");
            }
            StarttlsAction::Pass
        }
        None => StarttlsAction::Pass,
    };
    let addresses = file
        .addresses
        .as_ref()
        .map_or_else(AddressMap::default, |a| c.addresses(a));
    let replies = file
        .replies
        .iter()
        .enumerate()
        .map(|(i, r)| c.reply_rule(i, r))
        .collect();
    let faults = c.faults(&file.faults, Runner::Proxy);
    let timeouts = file
        .timeouts
        .as_ref()
        .map_or_else(Timeouts::default, |t| c.timeouts(t));
    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    Ok(Rules {
        name: file.name.clone().unwrap_or_else(|| source.to_string()),
        description: file.description.clone().unwrap_or_default(),
        seed: file.seed,
        banner,
        verbs,
        ehlo,
        starttls,
        addresses,
        replies,
        faults,
        timeouts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::compile::parse_reply;

    #[test]
    fn built_in_replies_parse() {
        for r in [DEFAULT_FILTER_REPLY, DEFAULT_STARTTLS_REPLY] {
            assert!(parse_reply(&[r.to_string()]).is_ok());
        }
    }
}
