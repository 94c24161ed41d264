//! The one fault model. Every fault the fake server, the proxy or the
//! control API injects is a [`Fault`]: `faults:` of a scenario and of a
//! proxy profile are both checked here (one YAML shape, [`FaultSpec`]), a
//! one-shot fault armed at runtime is a [`Fault::Answer`], and a rule's own
//! `bandwidth`/`slice` is a [`LinkShape`] like the one faults give a link.
//!
//! Which faults a session gets is decided once, when it starts (toxiproxy's
//! "toxicity"), by [`decide`]: each fault rolls dice from
//! [`session_dice`], so a seeded run is
//! repeatable session by session.

use super::compile::{Checker, ReplyTemplate, parse_reply};
use super::model::{Direction, FaultSpec, ReplyText};
use crate::dice::{Dice, session_dice};
use serde_saphyr::Spanned;
use std::time::Duration;

/// When an answering fault fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// Instead of the greeting.
    Banner,
    /// Right after the greeting (only a silent close is possible here).
    AfterBanner,
    /// At this verb (upper-case).
    Verb(String),
    /// At the next command, whatever its verb.
    AnyCommand,
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

    /// Does this fire at a command with `verb` (as sent: any case, bytes)?
    pub fn fires_at_command(&self, verb: &[u8]) -> bool {
        match self {
            Trigger::AnyCommand => true,
            Trigger::Verb(want) => want.as_bytes().eq_ignore_ascii_case(verb),
            _ => false,
        }
    }
}

/// What a fault does: every kind any part of the harness injects.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Wait before every reply (a proxy: before every chunk relayed).
    Latency {
        /// Always.
        delay: Duration,
        /// Up to this much more, at random.
        jitter: Duration,
    },
    /// Bytes per second.
    Bandwidth(u64),
    /// Written in pieces of this size.
    Slice(usize),
    /// Close after this many bytes written.
    CloseAfter(u64),
    /// Answer at `on` in the session's (or the upstream's) place. YAML's
    /// `reply_then_close` is one with a reply and `close`; a one-shot fault
    /// of the control API is any of them, fired once.
    Answer {
        /// When.
        on: Trigger,
        /// What is sent; `None`: nothing (a silent hang-up).
        reply: Option<ReplyTemplate>,
        /// Close the connection after the reply.
        close: bool,
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

impl Fault {
    /// The YAML key of this kind, the default name in transcripts.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Latency { .. } => "latency",
            Fault::Bandwidth(_) => "bandwidth",
            Fault::Slice(_) => "slice",
            Fault::CloseAfter(_) => "close_after",
            Fault::Answer { .. } => "reply_then_close",
            Fault::Tarpit(_) => "tarpit",
            Fault::Flaky { .. } => "flaky",
        }
    }
}

/// A checked entry of `faults:`.
#[derive(Debug, Clone)]
pub struct FaultEntry {
    /// For transcripts.
    pub name: String,
    /// Which way (always `downstream` for a fake server).
    pub direction: Direction,
    /// Chance a session gets it.
    pub probability: f64,
    /// Dice seed; `None`: the file's `seed`, else the clock.
    pub seed: Option<u64>,
    /// What it does.
    pub fault: Fault,
}

/// Who runs a file's faults: a proxy has two directions but no session to
/// count replies or answer commands in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    /// The fake server (a scenario).
    Server,
    /// The proxy (a profile).
    Proxy,
}

/// How one direction of a connection writes: what a link does to every
/// byte. Faults decide it per session; a rule's `bandwidth`/`slice` give
/// one for its reply alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkShape {
    /// Delay and jitter per write.
    pub latency: Option<(Duration, Duration)>,
    /// Bytes per second.
    pub bandwidth: Option<u64>,
    /// Write in pieces of this many bytes.
    pub slice: Option<usize>,
    /// Cut after this many bytes in all.
    pub close_after: Option<u64>,
}

impl LinkShape {
    /// Does this direction behave like a plain socket?
    pub fn is_clean(&self) -> bool {
        *self == LinkShape::default()
    }
}

/// A flaky fault a session got.
#[derive(Debug, Clone)]
pub struct Flaky {
    /// For transcripts.
    pub name: String,
    /// The failure reply.
    pub reply: ReplyTemplate,
    /// Chance per command.
    pub rate: f64,
    /// Only these verbs.
    pub verbs: Option<Vec<String>>,
}

/// An answering fault a session got, waiting for its moment.
#[derive(Debug, Clone)]
pub struct ArmedAnswer {
    /// For transcripts.
    pub name: String,
    /// Which way (a proxy: answer in place of the command or of its reply).
    pub direction: Direction,
    /// When.
    pub on: Trigger,
    /// What is sent, if anything.
    pub reply: Option<ReplyTemplate>,
    /// Close after.
    pub close: bool,
}

/// Everything the dice decided for one session.
#[derive(Debug, Clone)]
pub struct Decided {
    /// Client → upstream (a proxy's commands).
    pub upstream: LinkShape,
    /// Replies: the server's, or the upstream's relayed to the client.
    pub downstream: LinkShape,
    /// Answering faults, in file order.
    pub answers: Vec<ArmedAnswer>,
    /// A tarpit's step.
    pub tarpit: Option<Duration>,
    /// Flaky faults, in file order.
    pub flaky: Vec<Flaky>,
    /// Whether each entry fired, in file order.
    pub active: Vec<bool>,
    /// Dice for what stays random all session long (jitter, flaky): seeded
    /// when the faults are, so a seeded run repeats all the way down.
    pub dice: Dice,
}

/// Roll every entry's dice for session `session` (1-based); `seed` is the
/// file-wide seed an entry without its own uses.
pub fn decide(entries: &[FaultEntry], seed: Option<u64>, session: u64) -> Decided {
    let session_seed = entries.iter().find_map(|e| e.seed).or(seed);
    let mut out = Decided {
        upstream: LinkShape::default(),
        downstream: LinkShape::default(),
        answers: Vec::new(),
        tarpit: None,
        flaky: Vec::new(),
        active: Vec::with_capacity(entries.len()),
        dice: session_dice(session_seed, session, u64::MAX),
    };
    for (i, entry) in entries.iter().enumerate() {
        // One stream per entry: adding a fault does not change the rolls
        // of those before it.
        let mut dice = session_dice(entry.seed.or(seed), session, i as u64);
        let hit = dice.unit() < entry.probability;
        out.active.push(hit);
        if hit {
            out.apply(entry);
        }
    }
    out
}

impl Decided {
    fn apply(&mut self, entry: &FaultEntry) {
        let link = match entry.direction {
            Direction::Upstream => &mut self.upstream,
            Direction::Downstream => &mut self.downstream,
        };
        match &entry.fault {
            Fault::Latency { delay, jitter } => link.latency = Some((*delay, *jitter)),
            Fault::Bandwidth(rate) => link.bandwidth = Some(*rate),
            Fault::Slice(size) => link.slice = Some(*size),
            Fault::CloseAfter(n) => link.close_after = Some(*n),
            Fault::Answer { on, reply, close } => self.answers.push(ArmedAnswer {
                name: entry.name.clone(),
                direction: entry.direction,
                on: on.clone(),
                reply: reply.clone(),
                close: *close,
            }),
            Fault::Tarpit(step) => self.tarpit = Some(*step),
            Fault::Flaky { reply, rate, verbs } => self.flaky.push(Flaky {
                name: entry.name.clone(),
                reply: reply.clone(),
                rate: *rate,
                verbs: verbs.clone(),
            }),
        }
    }
}

/// The keys of a fault entry that name its kind, in the order of the
/// "exactly one of" message.
const KINDS: &str =
    "`latency`, `bandwidth`, `slice`, `close_after`, `reply_then_close`, `tarpit`, `flaky`";

impl Checker<'_> {
    /// Check every entry of `faults:` for `runner`.
    pub(crate) fn faults(
        &mut self,
        specs: &[Spanned<FaultSpec>],
        runner: Runner,
    ) -> Vec<FaultEntry> {
        specs.iter().filter_map(|s| self.fault(s, runner)).collect()
    }

    fn fault(&mut self, spec: &Spanned<FaultSpec>, runner: Runner) -> Option<FaultEntry> {
        let f = &spec.value;
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
            self.problem(
                &spec.referenced,
                format!("a fault takes exactly one of {KINDS}"),
            );
            return None;
        }
        self.qualifiers(f);
        let direction = match (&f.direction, runner) {
            (Some(d), Runner::Server) => {
                self.problem(
                    &d.referenced,
                    "`direction` is for proxy profiles; a server's faults act on its replies",
                );
                Direction::Downstream
            }
            (d, _) => d.as_ref().map_or(Direction::Downstream, |d| d.value),
        };
        let fault = self.fault_kind(f, runner)?;
        Some(FaultEntry {
            name: f.name.clone().unwrap_or_else(|| fault.kind().to_string()),
            direction,
            probability: self.chance(f.probability.as_ref(), 1.0, "probability"),
            seed: f.seed,
            fault,
        })
    }

    /// Keys that only qualify one kind must come with it.
    fn qualifiers(&mut self, f: &FaultSpec) {
        let lone = [
            (
                f.jitter.as_ref().map(|j| j.referenced),
                f.latency.is_none(),
                "`jitter` only goes with `latency`",
            ),
            (
                f.on.as_ref().map(|o| o.referenced),
                f.reply_then_close.is_none(),
                "`on` only goes with `reply_then_close`",
            ),
            (
                f.rate.as_ref().map(|r| r.referenced),
                f.flaky.is_none(),
                "`rate` only goes with `flaky`",
            ),
            (
                f.verbs.as_ref().map(|v| v.referenced),
                f.flaky.is_none(),
                "`verbs` only goes with `flaky`",
            ),
        ];
        for (at, alone, msg) in lone {
            if let (Some(at), true) = (at, alone) {
                self.problem(&at, msg);
            }
        }
    }

    fn fault_kind(&mut self, f: &FaultSpec, runner: Runner) -> Option<Fault> {
        let server_only = |this: &mut Self, at: &serde_saphyr::Location, key: &str| {
            if runner == Runner::Proxy {
                this.problem(
                    at,
                    format!("`{key}` is a fake server's fault: a proxy neither counts replies nor answers commands"),
                );
            }
        };
        if let Some(l) = &f.latency {
            let jitter = f.jitter.as_ref().map_or(Duration::ZERO, |j| j.value.0);
            return Some(Fault::Latency {
                delay: l.value.0,
                jitter,
            });
        }
        if let Some(b) = &f.bandwidth {
            if b.value == 0 {
                self.problem(
                    &b.referenced,
                    "`bandwidth` must be at least 1 byte per second",
                );
                return None;
            }
            return Some(Fault::Bandwidth(b.value));
        }
        if let Some(s) = &f.slice {
            if s.value == 0 {
                self.problem(&s.referenced, "`slice` must be at least 1 byte");
                return None;
            }
            return Some(Fault::Slice(s.value));
        }
        if let Some(c) = &f.close_after {
            return Some(Fault::CloseAfter(c.value));
        }
        if let Some(r) = &f.reply_then_close {
            let on = match &f.on {
                None => Trigger::Banner,
                Some(o) => match Trigger::parse(&o.value) {
                    Ok(t) => t,
                    Err(e) => {
                        self.problem(&o.referenced, e);
                        return None;
                    }
                },
            };
            let reply = Some(self.fault_reply(r)?);
            return Some(Fault::Answer {
                on,
                reply,
                close: true,
            });
        }
        if let Some(t) = &f.tarpit {
            server_only(self, &t.referenced, "tarpit");
            return Some(Fault::Tarpit(t.value.0));
        }
        let r = f.flaky.as_ref()?;
        server_only(self, &r.referenced, "flaky");
        let rate = self.chance(f.rate.as_ref(), 0.5, "rate");
        let verbs = f
            .verbs
            .as_ref()
            .map(|v| v.value.0.iter().map(|s| s.to_ascii_uppercase()).collect());
        Some(Fault::Flaky {
            reply: self.fault_reply(r)?,
            rate,
            verbs,
        })
    }

    fn fault_reply(&mut self, text: &Spanned<ReplyText>) -> Option<ReplyTemplate> {
        parse_reply(&text.value.0)
            .map_err(|e| self.problem(&text.referenced, e))
            .ok()
    }

    /// A chance from 0 to 1, or `default` (with a problem when out of range).
    fn chance(&mut self, v: Option<&Spanned<f64>>, default: f64, what: &str) -> f64 {
        match v {
            Some(p) if !(0.0..=1.0).contains(&p.value) => {
                self.problem(
                    &p.referenced,
                    format!("`{what}` is a chance from 0.0 to 1.0"),
                );
                default
            }
            Some(p) => p.value,
            None => default,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(yaml: &str, runner: Runner) -> Result<Vec<FaultEntry>, Vec<String>> {
        let specs: Vec<Spanned<FaultSpec>> = serde_saphyr::from_str(yaml).expect("YAML");
        let mut c = Checker {
            file: "<t>",
            problems: Vec::new(),
        };
        let out = c.faults(&specs, runner);
        if c.problems.is_empty() {
            Ok(out)
        } else {
            Err(c.problems.iter().map(|p| p.to_string()).collect())
        }
    }

    #[test]
    fn one_shape_for_server_and_proxy_with_each_ones_limits() {
        let both = "[{latency: 10ms, jitter: 5ms}, {bandwidth: 100}, {slice: 3}, {close_after: 9}, {reply_then_close: '421 bye', on: DATA}]";
        for runner in [Runner::Server, Runner::Proxy] {
            let e = entries(both, runner).expect("valid for both");
            let kinds: Vec<_> = e.iter().map(|e| e.name.as_str()).collect();
            assert_eq!(
                kinds,
                [
                    "latency",
                    "bandwidth",
                    "slice",
                    "close_after",
                    "reply_then_close"
                ]
            );
        }
        let err = entries("[{tarpit: 1s}]", Runner::Proxy).unwrap_err();
        assert!(
            err[0].contains("`tarpit` is a fake server's fault"),
            "{err:?}"
        );
        let err = entries("[{latency: 1s, direction: upstream}]", Runner::Server).unwrap_err();
        assert!(
            err[0].contains("`direction` is for proxy profiles"),
            "{err:?}"
        );
        let err = entries("[{bandwidth: 5, jitter: 1s}]", Runner::Server).unwrap_err();
        assert!(
            err[0].contains("`jitter` only goes with `latency`"),
            "{err:?}"
        );
        let err = entries("[{slice: 0}]", Runner::Server).unwrap_err();
        assert!(
            err[0].contains("`slice` must be at least 1 byte"),
            "{err:?}"
        );
    }

    #[test]
    fn seeded_decisions_repeat_per_session_and_vary_between_sessions() {
        let e = entries(
            "[{latency: 10ms, probability: 0.5, seed: 42}]",
            Runner::Server,
        )
        .unwrap();
        let run = || -> Vec<bool> { (1..=64).map(|s| decide(&e, None, s).active[0]).collect() };
        let a = run();
        assert_eq!(a, run(), "same seed, same decisions");
        let hits = a.iter().filter(|h| **h).count();
        assert!(
            (16..=48).contains(&hits),
            "p=0.5 over 64 sessions gave {hits}"
        );
        // The file-wide seed counts for an entry without its own.
        let e = entries("[{latency: 10ms, probability: 0.5}]", Runner::Proxy).unwrap();
        let with = |seed| {
            (1..=64)
                .map(|s| decide(&e, Some(seed), s).active[0])
                .collect::<Vec<_>>()
        };
        assert_eq!(with(7), with(7));
        assert_ne!(with(7), with(8));
    }

    #[test]
    fn decisions_land_in_the_right_direction() {
        let e = entries(
            "[{close_after: 10, direction: upstream}, {bandwidth: 5}, {close_after: 3, probability: 0.0}]",
            Runner::Proxy,
        )
        .unwrap();
        for s in 1..20 {
            let d = decide(&e, None, s);
            assert_eq!(d.upstream.close_after, Some(10));
            assert_eq!(
                d.downstream,
                LinkShape {
                    bandwidth: Some(5),
                    ..LinkShape::default()
                }
            );
            assert_eq!(d.active, [true, true, false]);
        }
    }

    #[test]
    fn triggers_match_commands_by_verb_in_any_case() {
        assert!(Trigger::AnyCommand.fires_at_command(b"noop"));
        assert!(Trigger::Verb("MAIL".into()).fires_at_command(b"mail"));
        assert!(!Trigger::Verb("MAIL".into()).fires_at_command(b"RCPT"));
        assert!(!Trigger::Banner.fires_at_command(b"MAIL"));
        assert_eq!(Trigger::parse("data"), Ok(Trigger::Verb("DATA".into())));
        assert!(Trigger::parse("two words").is_err());
    }
}
