//! The verification report: every expectation, met or not; each unmet one
//! beside the transcript lines that explain it.

use super::{ExpectationSource, Times};
use crate::transcript::{EventKind, Leg, Transcript};
use serde::Serialize;
use std::fmt::{self, Write};

/// How many transcript lines the report shows per expectation.
const SHOWN_LINES: usize = 20;

/// A command line that counted (or, for an unmet expectation nothing
/// matched, one the client sent instead).
///
/// # Example
///
/// ```
/// use smtp_harness::{Expect, Leg, MockServer, Scenario};
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
/// Expect::verb("HELO").expect(1).mount(&server);
/// talk(server.addr(), &["EHLO client.example", "QUIT"])?;
/// server.wait_for_sessions_blocking(1)?;
/// let report = server.expectation_report();
/// // Nothing matched: the report shows what the client sent instead.
/// let instead = &report.results[0].instead[0];
/// assert_eq!((instead.session, instead.leg), (1, Leg::Client));
/// assert_eq!(instead.to_string(), "#1  -> EHLO client.example");
/// server.reset(); // forget it, so dropping the server does not fail the test
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchedLine {
    /// Session id.
    pub session: u64,
    /// Which leg.
    pub leg: Leg,
    /// The command line (or a reply's first line) as text.
    pub line: String,
    /// A reply (of a rule) rather than a command.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reply: bool,
}

impl MatchedLine {
    pub(super) fn new(session: u64, leg: Leg, line: String) -> MatchedLine {
        MatchedLine {
            session,
            leg,
            line,
            reply: false,
        }
    }

    pub(super) fn reply(session: u64, leg: Leg, line: String) -> MatchedLine {
        MatchedLine {
            reply: true,
            ..MatchedLine::new(session, leg, line)
        }
    }
}

impl fmt::Display for MatchedLine {
    /// The transcript's own form: `#1  -> EHLO a.example` (` =>` upstream,
    /// `<-` and `<=` for replies).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let arrow = match (self.leg, self.reply) {
            (Leg::Client, false) => " ->",
            (Leg::Upstream, false) => " =>",
            (Leg::Client, true) => " <-",
            (Leg::Upstream, true) => " <=",
        };
        write!(f, "#{} {arrow} {}", self.session, self.line)
    }
}

/// One expectation, counted.
///
/// # Example
///
/// ```
/// use smtp_harness::{Expect, ExpectationSource, MockServer, Scenario};
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
/// Expect::verb("RCPT").expect(1..).named("a recipient").mount(&server);
/// talk(server.addr(), &["EHLO c", "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.net>", "QUIT"])?;
/// server.wait_for_sessions_blocking(1)?;
/// let report = server.expectation_report();
/// let result = &report.results[0];
/// assert_eq!(result.name, "a recipient");
/// assert_eq!(result.source, ExpectationSource::Mounted);
/// assert_eq!((result.actual, result.met), (1, true));
/// assert_eq!(result.matched[0].line, "RCPT TO:<b@example.net>");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct ExpectationResult {
    /// Mount order, 1-based.
    pub id: u64,
    /// Its name (`expectation #N` when unnamed).
    pub name: String,
    /// What it counts: `verb RCPT, args /x@y/ in session 3`.
    pub what: String,
    /// Where it came from.
    pub source: ExpectationSource,
    /// How many matches were required.
    pub expected: Times,
    /// How many there were.
    pub actual: u64,
    /// `expected` contains `actual`.
    pub met: bool,
    /// The matching command lines.
    pub matched: Vec<MatchedLine>,
    /// For an unmet expectation nothing matched: what was sent instead.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub instead: Vec<MatchedLine>,
    /// The test line that mounted it (`tests/mail.rs:12:5`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mounted_at: Option<String>,
    #[serde(skip)]
    pub(super) leg: Leg,
    #[serde(skip)]
    pub(super) session: Option<u64>,
    #[serde(skip)]
    pub(super) since_us: u64,
}

/// Every expectation of a server or proxy, counted. Its `Display` (and
/// `Debug`) is the text a failing test prints.
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
/// Expect::verb("STARTTLS").expect(1).named("upgrades to TLS").mount(&server);
/// talk(server.addr(), &["EHLO c", "QUIT"])?;
/// server.wait_for_sessions_blocking(1)?;
/// let report = server.expectation_report();
/// assert!(!report.is_met());
/// assert!(report.to_string().contains("upgrades to TLS"));
/// server.reset(); // forget it, so dropping the server does not fail the test
/// # Ok(()) }
/// ```
#[derive(Clone, Default, Serialize)]
pub struct VerificationReport {
    /// In mount order.
    pub results: Vec<ExpectationResult>,
    /// Events dropped from the middle of long sessions
    /// (`limits.session_events`). Counts include their commands (they are
    /// counted as recorded); only the lines a report shows may miss them.
    #[serde(skip_serializing_if = "is_zero")]
    pub dropped_events: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl VerificationReport {
    pub(super) fn new(mut results: Vec<ExpectationResult>, t: &Transcript) -> Self {
        for r in results
            .iter_mut()
            .filter(|r| !r.met && r.matched.is_empty())
        {
            r.instead = t
                .events()
                .filter(|e| e.at_us >= r.since_us && r.session.is_none_or(|s| s == e.session))
                .filter_map(|e| match &e.kind {
                    EventKind::Command { leg, line, .. } if *leg == r.leg => {
                        Some(MatchedLine::new(e.session, *leg, line.text()))
                    }
                    _ => None,
                })
                .collect();
        }
        VerificationReport {
            results,
            dropped_events: t.sessions.iter().map(|s| s.dropped).sum(),
        }
    }

    /// Every expectation is met (also when there are none).
    pub fn is_met(&self) -> bool {
        self.results.iter().all(|r| r.met)
    }

    /// The unmet ones.
    pub fn unmet(&self) -> impl Iterator<Item = &ExpectationResult> {
        self.results.iter().filter(|r| !r.met)
    }

    /// `Ok` when met, the report otherwise.
    pub fn into_result(self) -> Result<(), VerificationReport> {
        if self.is_met() { Ok(()) } else { Err(self) }
    }

    /// Fail the test when unmet: panic (at the caller's line) with the
    /// report, or, when the thread is already panicking (a failed assertion
    /// earlier in the test), print it instead of panicking twice (which
    /// would abort and hide the first message).
    #[track_caller]
    pub fn check(&self, what: &str) {
        if self.is_met() {
            return;
        }
        if std::thread::panicking() {
            eprintln!("smtp-harness: {what}: {self}");
        } else {
            panic!("{what}: {self}");
        }
    }
}

fn lines(out: &mut String, lines: &[MatchedLine]) {
    for l in lines.iter().take(SHOWN_LINES) {
        let _ = writeln!(out, "        {l}");
    }
    if lines.len() > SHOWN_LINES {
        let _ = writeln!(out, "        … and {} more", lines.len() - SHOWN_LINES);
    }
}

impl fmt::Display for VerificationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unmet = self.unmet().count();
        let total = self.results.len();
        let mut out = String::new();
        if unmet == 0 {
            let _ = writeln!(out, "all {total} expectation(s) met");
        } else {
            let _ = writeln!(out, "{unmet} of {total} expectation(s) unmet");
        }
        for r in &self.results {
            let mark = if r.met { "met  " } else { "UNMET" };
            let _ = write!(
                out,
                "  {mark} {:?}: expected {} ({}), got {}",
                r.name, r.expected, r.what, r.actual
            );
            if r.met {
                out.push('\n');
                continue;
            }
            if let Some(at) = &r.mounted_at {
                let _ = write!(out, " (mounted at {at})");
            }
            if r.matched.is_empty() {
                if r.instead.is_empty() {
                    out.push_str("; no commands were sent\n");
                } else {
                    out.push_str("; the commands sent were:\n");
                    lines(&mut out, &r.instead);
                }
            } else {
                out.push_str(":\n");
                lines(&mut out, &r.matched);
            }
        }
        if self.dropped_events > 0 {
            let _ = writeln!(
                out,
                "  note: {} events were dropped from the middle of long sessions \
                 (limits.session_events); the counts include their commands, the \
                 lines shown here may not",
                self.dropped_events
            );
        }
        f.write_str(out.trim_end_matches('\n'))
    }
}

impl fmt::Debug for VerificationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for VerificationReport {}
