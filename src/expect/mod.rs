//! Expectations: what the code under test must do, declared up front and
//! checked against the transcript, in the style of wiremock-rs.
//!
//! ```
//! use smtp_harness::{Expect, MockServer, Scenario};
//! use std::io::{BufRead, BufReader, Write};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Arrange
//! let server = MockServer::start_blocking(Scenario::default())?;
//! Expect::verb("EHLO").expect(1).named("EHLO exactly once").mount(&server);
//! Expect::verb("STARTTLS").expect(0).named("no STARTTLS").mount(&server);
//! Expect::verb("QUIT").in_session(1).mount(&server);
//! // Act
//! let mut sock = std::net::TcpStream::connect(server.addr())?;
//! let mut reader = BufReader::new(sock.try_clone()?);
//! sock.write_all(b"EHLO client.example\r\nQUIT\r\n")?;
//! let mut line = String::new();
//! while reader.read_line(&mut line)? > 0 {}
//! server.wait_for_sessions_blocking(1)?;
//! // Assert (dropping the server would check them too): panics here, with
//! // a report naming the lines that mounted what is unmet.
//! server.verify();
//! # Ok(()) }
//! ```
//!
//! An unmet expectation fails the test when the server is dropped, with a
//! report naming it, the count it wanted and the commands that were sent:
//!
//! ```should_panic
//! use smtp_harness::{Expect, MockServer, Scenario};
//!
//! let server = MockServer::start_blocking(Scenario::default()).unwrap();
//! Expect::verb("EHLO").named("the client greets").mount(&server);
//! drop(server);
//! // panics: MockServer expectations: 1 of 1 expectation(s) unmet
//! //   UNMET "the client greets": expected at least 1 (commands with verb EHLO), got 0
//! //   (mounted at <the test file>:4:44); no commands were sent
//! ```
//!
//! - [`Expect`] is what a test declares (a [`Rule`](crate::Rule) with
//!   `expect` mounts one counting its replies); [`Times`] how often.
//! - [`ExpectationSet`] holds what is mounted on a server or proxy and counts
//!   matches in a [`Transcript`](crate::Transcript) (only commands recorded after mounting).
//! - [`VerificationReport`] is the readable result: each unmet expectation
//!   beside the transcript lines that matter.
//! - [`from_scenario`] turns a scenario's `expect:` list (plain data,
//!   checked by the scenario) into expectations.

mod report;
mod set;

pub use crate::scenario::Times;
pub use report::{ExpectationResult, MatchedLine, VerificationReport};
pub(crate) use set::sealed;
pub use set::{ExpectGuard, ExpectationSet, ExpectationTarget, ExpectationSource};

use crate::scenario::Scenario;
use crate::scenario::expect::ExpectSpec;
use crate::transcript::Leg;
use regex::Regex;
use std::fmt;
use std::panic::Location;

/// One expectation: which client commands (or which rule's replies) count,
/// how many there must be, and a name for the report. It counts nothing
/// until it is mounted.
///
/// # Example
///
/// ```
/// use smtp_harness::{Expect, MockServer, Scenario};
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
/// // A spy: counts, answers nothing (the scenario answers).
/// Expect::verb("EHLO").expect(1).named("one EHLO").mount(&server);
/// talk(server.addr(), &["EHLO client.example", "QUIT"])?;
/// server.wait_for_sessions_blocking(1)?;
/// server.verify(); // panics here, naming the mount line, when unmet
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "an Expect counts nothing until it is mounted: call .mount(&server)"]
pub struct Expect {
    name: Option<String>,
    verb: Option<String>,
    args: Option<Regex>,
    line: Option<Regex>,
    /// Count the replies of the rule with this label instead of commands.
    rule: Option<String>,
    session: Option<u64>,
    leg: Leg,
    times: Times,
}

impl PartialEq for Expect {
    fn eq(&self, other: &Expect) -> bool {
        let re = |r: &Option<Regex>| r.as_ref().map(|r| r.as_str().to_string());
        self.name == other.name
            && self.verb == other.verb
            && re(&self.args) == re(&other.args)
            && re(&self.line) == re(&other.line)
            && self.rule == other.rule
            && self.session == other.session
            && self.leg == other.leg
            && self.times == other.times
    }
}

/// Compile a regex written by a test, or panic at the test's line saying
/// which one is wrong (a `Rule` does the same).
#[track_caller]
fn regex(pattern: &str) -> Regex {
    match Regex::new(pattern) {
        Ok(r) => r,
        Err(e) => panic!("bad regex {pattern:?} in an expectation: {e}"),
    }
}

impl Expect {
    fn new() -> Expect {
        Expect {
            name: None,
            verb: None,
            args: None,
            line: None,
            rule: None,
            session: None,
            leg: Leg::Client,
            times: Times::AT_LEAST_ONCE,
        }
    }

    /// Commands with this verb (case-insensitive): `Expect::verb("EHLO")`.
    pub fn verb(verb: &str) -> Expect {
        Expect {
            verb: Some(verb.trim().to_ascii_uppercase()),
            ..Expect::new()
        }
    }

    /// Command lines matching a regex (the whole line, verb included):
    /// `Expect::command_matching("(?i)^RCPT TO:<x@y>")`.
    ///
    /// # Panics
    /// When the regex does not compile (a mistake in the test), naming the
    /// test's line.
    #[track_caller]
    pub fn command_matching(pattern: &str) -> Expect {
        Expect {
            line: Some(regex(pattern)),
            ..Expect::new()
        }
    }

    /// The replies of the scenario rule labelled `name` (its `name:`), on
    /// the client leg: what [`Rule::expect`](crate::Rule::expect) mounts.
    pub fn replies_of_rule(name: &str) -> Expect {
        Expect {
            rule: Some(name.to_string()),
            ..Expect::new()
        }
    }

    /// Only commands whose arguments (after the verb and its spaces) match
    /// this regex, as a scenario rule's `args:`.
    ///
    /// # Panics
    /// When the regex does not compile, naming the test's line.
    #[track_caller]
    pub fn args(mut self, pattern: &str) -> Expect {
        self.args = Some(regex(pattern));
        self
    }

    /// How many matches there must be (default: at least one): `1`, `0`,
    /// `1..`, `..=3`, `2..=4`. The same word as [`Rule::expect`](crate::Rule::expect).
    pub fn expect(mut self, times: impl Into<Times>) -> Expect {
        self.times = times.into();
        self
    }

    /// A name for the report (default `expectation #N`, in mount order).
    pub fn named(mut self, name: impl Into<String>) -> Expect {
        self.name = Some(name.into());
        self
    }

    /// Only in the Nth session the server accepted (1-based), as
    /// [`Rule::in_session`](crate::Rule::in_session).
    pub fn in_session(mut self, n: u64) -> Expect {
        self.session = Some(n);
        self
    }

    /// Count commands on this leg: [`Leg::Client`] (the default) is what the
    /// client sent; [`Leg::Upstream`] is what a proxy forwarded to the real
    /// server (`Expect::verb("STARTTLS").on_leg(Leg::Upstream).expect(0)`).
    pub fn on_leg(mut self, leg: Leg) -> Expect {
        self.leg = leg;
        self
    }

    /// Register on a server or proxy; checked by `verify()` and when the
    /// server or proxy is dropped, whose report names this line. Counts
    /// what is recorded from now on. Synchronous: call it from async and
    /// blocking tests alike.
    #[track_caller]
    pub fn mount(self, target: &impl ExpectationTarget) {
        let sealed::Mount { set, recorder } = target.expectation_parts();
        set.mount(
            self,
            recorder.now_us(),
            ExpectationSource::Mounted,
            Some(Location::caller()),
        );
    }

    /// Register until the returned guard is dropped; the guard checks this
    /// expectation alone when it goes (for helper functions).
    #[track_caller]
    pub fn mount_as_scoped(self, target: &impl ExpectationTarget) -> ExpectGuard<'_> {
        let sealed::Mount { set, recorder } = target.expectation_parts();
        let id = set.mount(
            self,
            recorder.now_us(),
            ExpectationSource::Scoped,
            Some(Location::caller()),
        );
        ExpectGuard::new(set, recorder, id)
    }

    /// The name given with [`named`](Self::named).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// How many matches are required.
    pub fn required(&self) -> Times {
        self.times
    }

    /// Does this reply, produced by `rule` on `leg` in `session`, count?
    pub(crate) fn matches_reply(&self, leg: Leg, session: u64, rule: Option<&str>) -> bool {
        leg == self.leg
            && self.session.is_none_or(|s| s == session)
            && self.rule.is_some()
            && self.rule.as_deref() == rule
    }

    /// Does this command line, sent on `leg` in session `session`, count?
    pub fn matches(&self, leg: Leg, session: u64, line: &str) -> bool {
        if self.rule.is_some() || leg != self.leg || self.session.is_some_and(|s| s != session) {
            return false;
        }
        let (verb, args) = split_verb(line);
        if let Some(want) = &self.verb
            && !verb.eq_ignore_ascii_case(want)
        {
            return false;
        }
        if let Some(re) = &self.args
            && !re.is_match(args)
        {
            return false;
        }
        if let Some(re) = &self.line
            && !re.is_match(line)
        {
            return false;
        }
        true
    }
}

/// What the expectation counts, for reports: `commands with verb EHLO, args
/// /x@y/ in session 3`, `replies of rule "greylist"`.
impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(v) = &self.verb {
            parts.push(format!("verb {v}"));
        }
        if let Some(re) = &self.args {
            parts.push(format!("args /{}/", re.as_str()));
        }
        if let Some(re) = &self.line {
            parts.push(format!("line /{}/", re.as_str()));
        }
        match &self.rule {
            Some(rule) => write!(f, "replies of rule {rule:?}")?,
            None if parts.is_empty() => write!(f, "any command")?,
            None => write!(f, "commands with {}", parts.join(", "))?,
        }
        if let Some(s) = self.session {
            write!(f, " in session {s}")?;
        }
        if self.leg == Leg::Upstream {
            write!(f, " on the upstream leg")?;
        }
        Ok(())
    }
}

/// A scenario's `expect:` list as expectations. The scenario checked every
/// regex when it was built, so none fails here.
pub fn from_scenario(scenario: &Scenario) -> Vec<Expect> {
    scenario
        .expectations()
        .iter()
        .filter_map(|spec| from_spec(&spec.value).ok())
        .collect()
}

fn from_spec(s: &ExpectSpec) -> Result<Expect, regex::Error> {
    let compile = |f: &Option<serde_saphyr::Spanned<String>>| {
        f.as_ref().map(|f| Regex::new(&f.value)).transpose()
    };
    Ok(Expect {
        name: s.name.clone(),
        verb: s.verb.as_ref().map(|v| v.value.trim().to_ascii_uppercase()),
        args: compile(&s.args)?,
        line: compile(&s.command)?,
        rule: s.rule.as_ref().map(|r| r.value.clone()),
        session: s.session,
        times: s.times.as_ref().map_or(Times::AT_LEAST_ONCE, |t| t.value.0),
        ..Expect::new()
    })
}

/// `MAIL FROM:<a@b>` → (`MAIL`, `FROM:<a@b>`).
fn split_verb(line: &str) -> (&str, &str) {
    match line.find([' ', '\t']) {
        Some(i) => (&line[..i], line[i..].trim_start_matches([' ', '\t'])),
        None => (line, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_by_verb_args_line_session_and_leg() {
        let e = Expect::verb("rcpt").args("(?i)^TO:<x@y>");
        assert!(e.matches(Leg::Client, 1, "RCPT TO:<x@y>"));
        assert!(e.matches(Leg::Client, 1, "rcpt  to:<X@Y> NOTIFY=NEVER"));
        assert!(!e.matches(Leg::Client, 1, "RCPT TO:<z@y>"));
        assert!(!e.matches(Leg::Upstream, 1, "RCPT TO:<x@y>"));
        let e = Expect::command_matching("^QUIT$").in_session(3);
        assert!(e.matches(Leg::Client, 3, "QUIT"));
        assert!(!e.matches(Leg::Client, 2, "QUIT"));
        assert_eq!(
            Expect::verb("EHLO").in_session(2).to_string(),
            "commands with verb EHLO in session 2"
        );
        let e = Expect::replies_of_rule("greylist").in_session(1);
        assert!(e.matches_reply(Leg::Client, 1, Some("greylist")));
        assert!(!e.matches_reply(Leg::Client, 2, Some("greylist")));
        assert!(!e.matches_reply(Leg::Client, 1, Some("rule 1")));
        assert!(!e.matches(Leg::Client, 1, "MAIL FROM:<a@b>"));
        assert_eq!(e.to_string(), r#"replies of rule "greylist" in session 1"#);
    }
}
