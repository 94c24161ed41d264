//! Writing scenarios in Rust, for tests that want one inline. The builder
//! fills the same plain-data model as YAML and goes through the same checks,
//! so a builder scenario and its YAML twin behave identically.

use super::expect::{ExpectSpec, TimesSpec};
use super::model::*;
use super::{Scenario, ScenarioError, Times};
use serde_saphyr::{Location, Spanned};
use std::time::Duration;

fn sp<T>(value: T) -> Spanned<T> {
    Spanned::new(value, Location::UNKNOWN, Location::UNKNOWN)
}

fn reply(text: &str) -> Spanned<ReplyText> {
    sp(ReplyText(text.lines().map(str::to_string).collect()))
}

/// Builds a [`Scenario`] in code.
///
/// ```
/// use smtp_harness::{Rule, Scenario};
/// let scenario = Scenario::builder()
///     .extends("postfix-default")
///     .banner("220 mx.example ESMTP ready")
///     .rule(Rule::verb("RCPT").args("(?i)<nobody@").reply("550 5.1.1 User unknown"))
///     .build()
///     .unwrap();
/// assert_eq!(scenario.plan().rules.len(), 1);
///
/// // The Q307628 reroute table, in code.
/// let q307628 = Scenario::builder()
///     .mailbox("administrator@adatum.com", &[])
///     .reroute("adatum.com", "inbound")
///     .reroute("cpandl.net", "adatum.com")
///     .relay_allow("192.168.0.1")
///     .build()
///     .unwrap();
/// assert!(q307628.plan().routing.is_some());
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a ScenarioBuilder does nothing until .build()"]
pub struct ScenarioBuilder {
    file: ScenarioFile,
}

impl ScenarioBuilder {
    /// Start from a bundled scenario.
    pub fn extends(mut self, bundled: &str) -> Self {
        self.file.extends = Some(sp(bundled.to_string()));
        self
    }

    /// The scenario's name.
    pub fn name(mut self, name: &str) -> Self {
        self.file.name = Some(name.to_string());
        self
    }

    /// The host name behind `{hostname}`.
    pub fn hostname(mut self, host: &str) -> Self {
        self.file.hostname = Some(host.to_string());
        self
    }

    /// The greeting, e.g. `"220 {hostname} ESMTP"`; lines separated by `\n`.
    pub fn banner(mut self, text: &str) -> Self {
        self.file.banner.get_or_insert_with(Default::default).reply = Some(reply(text));
        self
    }

    /// Wait before greeting.
    pub fn banner_delay(mut self, delay: Duration) -> Self {
        self.file.banner.get_or_insert_with(Default::default).delay = Some(sp(DurationSpec(delay)));
        self
    }

    /// The EHLO keywords, in order.
    pub fn ehlo_keywords<I, S>(mut self, keywords: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.file.ehlo.get_or_insert_with(Default::default).keywords =
            Some(keywords.into_iter().map(|k| sp(k.into())).collect());
        self
    }

    /// The reply after end of DATA.
    pub fn data_reply(mut self, text: &str) -> Self {
        self.file.data.get_or_insert_with(Default::default).reply = Some(reply(text));
        self
    }

    /// `limits.message_size`.
    pub fn message_size(mut self, octets: usize) -> Self {
        self.file
            .limits
            .get_or_insert_with(Default::default)
            .message_size = Some(sp(octets));
        self
    }

    /// `limits.recipients`.
    pub fn max_recipients(mut self, n: usize) -> Self {
        self.file
            .limits
            .get_or_insert_with(Default::default)
            .recipients = Some(sp(n));
        self
    }

    /// `limits.idle_timeout`.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.file
            .limits
            .get_or_insert_with(Default::default)
            .idle_timeout = Some(sp(DurationSpec(timeout)));
        self
    }

    /// A mailbox: its primary SMTP address and proxy addresses.
    pub fn mailbox(mut self, primary: &str, proxies: &[&str]) -> Self {
        let d = self.file.directory.get_or_insert_with(Default::default);
        d.mailboxes
            .get_or_insert_with(Vec::new)
            .push(sp(MailboxSpec {
                primary: Some(sp(primary.to_string())),
                proxies: Some(proxies.iter().map(|p| sp(p.to_string())).collect()),
            }));
        self
    }

    /// A local domain (`directory.domains`).
    pub fn local_domain(mut self, domain: &str) -> Self {
        let d = self.file.directory.get_or_insert_with(Default::default);
        d.domains
            .get_or_insert_with(Vec::new)
            .push(sp(domain.to_string()));
        self
    }

    /// A reroute entry: `sent_to` → `route_to` (`"inbound"` or a domain).
    pub fn reroute(mut self, sent_to: &str, route_to: &str) -> Self {
        self.file
            .reroute
            .get_or_insert_with(Vec::new)
            .push(sp(RerouteSpec {
                sent_to: Some(sp(OneOrMany(vec![sent_to.to_string()]))),
                route_to: Some(sp(route_to.to_string())),
            }));
        self
    }

    /// Let a client address or subnet relay (`relay.allow`).
    pub fn relay_allow(mut self, cidr: &str) -> Self {
        let r = self.file.relay.get_or_insert_with(Default::default);
        r.allow
            .get_or_insert_with(Vec::new)
            .push(sp(cidr.to_string()));
        self
    }

    /// `relay.reroute_incoming` (`false`: "Do not reroute incoming SMTP mail").
    pub fn reroute_incoming(mut self, on: bool) -> Self {
        self.file
            .relay
            .get_or_insert_with(Default::default)
            .reroute_incoming = Some(on);
        self
    }

    /// Route this address type as SMTP (`override_proxy_out`).
    pub fn override_proxy_out(mut self, kind: &str) -> Self {
        let list = self
            .file
            .override_proxy_out
            .get_or_insert_with(|| sp(OneOrMany(Vec::new())));
        list.value.0.push(kind.to_string());
        self
    }

    /// `quirks.pre_sp3_imcea`.
    pub fn pre_sp3_imcea(mut self, on: bool) -> Self {
        self.file
            .quirks
            .get_or_insert_with(Default::default)
            .pre_sp3_imcea = Some(on);
        self
    }

    /// `ndr.mode`: reject at RCPT or accept and bounce.
    pub fn ndr_mode(mut self, mode: crate::routing::NdrMode) -> Self {
        self.file.ndr.get_or_insert_with(Default::default).mode = Some(mode);
        self
    }

    /// Accept XCLIENT from these clients (addresses or subnets).
    pub fn xclient<'a>(mut self, hosts: impl IntoIterator<Item = &'a str>) -> Self {
        self.file.xclient.get_or_insert_with(Default::default).hosts =
            Some(hosts.into_iter().map(|h| sp(h.to_string())).collect());
        self
    }

    /// Add a rule after the ones already added; a rule with
    /// [`expect`](Rule::expect) also adds an entry to the scenario's
    /// `expect:` list counting its replies.
    pub fn rule(mut self, rule: Rule) -> Self {
        let (spec, expect) = rule.into_parts();
        self.file.rules.push(sp(spec));
        if let Some((expect, _)) = expect {
            self.file.expect.push(sp(expect));
        }
        self
    }

    /// Check and build.
    pub fn build(self) -> Result<Scenario, ScenarioError> {
        Scenario::from_file_model(self.file, "<builder>")
    }
}

/// One rule, written in code: what the server answers, and — like a
/// wiremock-rs `Mock` — optionally how often it must answer.
///
/// Add it to a scenario being built ([`ScenarioBuilder::rule`]) or mount it
/// on a running server (`Rule::mount`, see [`MockServer`](crate::MockServer)):
///
/// ```
/// use smtp_harness::{MockServer, Rule, Scenario};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = MockServer::start_blocking(Scenario::default())?;
/// Rule::verb("MAIL")
///     .in_session(1)
///     .reply("451 4.3.0 try later")
///     .expect(0) // no client connects here, so it must never answer
///     .mount(&server);
/// # Ok(()) }
/// ```
///
/// Words shared with [`Expect`](crate::Expect): `named`, `in_session`,
/// `expect` (how often it must match, checked on `verify()` and drop).
/// `up_to(n)` is YAML's `times:`: it answers only the first `n` matches of
/// each session.
///
/// # Example
///
/// ```
/// use smtp_harness::{MockServer, Rule, Scenario};
/// # use std::io::{BufRead, BufReader, Write};
/// # fn talk(addr: std::net::SocketAddr, lines: &[&str]) -> std::io::Result<Vec<String>> {
/// #     let mut sock = std::net::TcpStream::connect(addr)?;
/// #     let mut from = BufReader::new(sock.try_clone()?);
/// #     let mut reply = || -> std::io::Result<String> {
/// #         let mut all = String::new();
/// #         loop {
/// #             let mut line = String::new();
/// #             if from.read_line(&mut line)? == 0 || line.as_bytes().get(3) != Some(&b'-') {
/// #                 all.push_str(&line);
/// #                 return Ok(all);
/// #             }
/// #             all.push_str(&line);
/// #         }
/// #     };
/// #     let mut replies = vec![reply()?];
/// #     for line in lines {
/// #         sock.write_all(format!("{line}\r\n").as_bytes())?;
/// #         replies.push(reply()?);
/// #     }
/// #     Ok(replies)
/// # }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = MockServer::start_blocking(Scenario::default())?;
/// // Answer the first MAIL with a temporary failure; it must happen once.
/// Rule::verb("MAIL").up_to(1).reply("451 4.3.0 try later").expect(1).mount(&server);
/// let replies = talk(server.addr(), &["EHLO c", "MAIL FROM:<a@example.com>", "MAIL FROM:<a@example.com>", "QUIT"])?;
/// assert!(replies[2].starts_with("451"));
/// assert!(replies[3].starts_with("250"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a Rule does nothing until it is mounted or added to a scenario"]
pub struct Rule {
    spec: RuleSpec,
    /// How often it must answer, and where the test said so.
    expect: Option<(Times, &'static std::panic::Location<'static>)>,
}

impl Rule {
    /// A rule for one verb (`"MAIL"`, `"X-LINK2STATE"` …).
    pub fn verb(verb: &str) -> Rule {
        Self::verbs([verb])
    }

    /// A rule for several verbs.
    pub fn verbs<'a>(verbs: impl IntoIterator<Item = &'a str>) -> Rule {
        let spec = RuleSpec {
            verb: Some(sp(OneOrMany(
                verbs.into_iter().map(str::to_string).collect(),
            ))),
            ..RuleSpec::default()
        };
        Rule { spec, expect: None }
    }

    /// A rule for every verb except these (an allow-list filter).
    pub fn except<'a>(verbs: impl IntoIterator<Item = &'a str>) -> Rule {
        let spec = RuleSpec {
            except: Some(sp(OneOrMany(
                verbs.into_iter().map(str::to_string).collect(),
            ))),
            ..RuleSpec::default()
        };
        Rule { spec, expect: None }
    }

    /// A rule for any command.
    pub fn any() -> Rule {
        Rule::default()
    }

    /// Name it, for transcripts and reports.
    pub fn named(mut self, name: &str) -> Rule {
        self.spec.name = Some(name.to_string());
        self
    }

    /// A regex the arguments must match.
    ///
    /// # Panics
    /// When the regex does not compile (a mistake in the test), naming the
    /// test's line, as [`Expect::args`](crate::Expect::args) does.
    #[track_caller]
    pub fn args(mut self, regex: &str) -> Rule {
        if let Err(e) = regex::Regex::new(regex) {
            panic!("bad regex {regex:?} in a rule: {e}");
        }
        self.spec.args = Some(sp(regex.to_string()));
        self
    }

    /// Only in these states.
    pub fn state(mut self, states: impl IntoIterator<Item = StateName>) -> Rule {
        self.spec.state = Some(sp(OneOrMany(states.into_iter().collect())));
        self
    }

    /// Only the Nth match in a session.
    pub fn nth(mut self, n: u32) -> Rule {
        self.spec.nth = Some(sp(n));
        self
    }

    /// Only the first `n` matches in each session (YAML's `times:`); later
    /// ones fall through to the next rule.
    pub fn up_to(mut self, n: u32) -> Rule {
        self.spec.times = Some(sp(n));
        self
    }

    /// Only in the Nth session (1-based; YAML's `session:`).
    pub fn in_session(mut self, n: u64) -> Rule {
        self.spec.session = Some(sp(n));
        self
    }

    /// How many times it must answer: `1`, `0`, `1..`, `..=3`, `2..=4`
    /// (as [`Expect::expect`](crate::Expect::expect)). Checked by `verify()`
    /// and when the server drops, whose report names this line. An unnamed
    /// rule is named after this line, so its replies can be told apart.
    #[track_caller]
    pub fn expect(mut self, times: impl Into<Times>) -> Rule {
        self.expect = Some((times.into(), std::panic::Location::caller()));
        self
    }

    /// The reply (`"550 5.7.1 No"`; lines separated by `\n`).
    pub fn reply(mut self, text: &str) -> Rule {
        self.spec.reply = Some(reply(text));
        self
    }

    /// Wait before replying.
    pub fn delay(mut self, delay: Duration) -> Rule {
        self.spec.delay = Some(sp(DurationSpec(delay)));
        self
    }

    /// What to do after the reply.
    pub fn then(mut self, then: Then) -> Rule {
        self.spec.then = Some(then);
        self
    }

    /// The rule as YAML's model, named when it counts (after the test line
    /// that set `expect`, or `at`, unless it has a name), and the
    /// expectation on its replies as an `expect:` entry.
    pub(crate) fn into_parts(
        mut self,
    ) -> (
        RuleSpec,
        Option<(ExpectSpec, &'static std::panic::Location<'static>)>,
    ) {
        let Some((times, said)) = self.expect else {
            return (self.spec, None);
        };
        let name = self
            .spec
            .name
            .get_or_insert_with(|| format!("rule at {said}"))
            .clone();
        let expect = ExpectSpec {
            name: Some(name.clone()),
            rule: Some(sp(name)),
            times: Some(sp(TimesSpec(times))),
            ..ExpectSpec::default()
        };
        (self.spec, Some((expect, said)))
    }
}
