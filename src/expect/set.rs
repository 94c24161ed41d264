//! What is mounted on one server or proxy, and the counting.

use super::Expect;
use super::report::{ExpectationResult, MatchedLine, VerificationReport};
use crate::transcript::{Event, EventKind, Recorder, Sink, Transcript};
use serde::Serialize;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Matched lines kept per expectation for its report (the count itself is
/// exact): a client sending a million matching commands must not grow it.
const MATCHES_KEPT: usize = 100;

/// Where an expectation came from.
///
/// # Example
///
/// ```
/// use smtp_harness::{ExpectationSource, MockServer, Scenario};
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
/// let scenario = Scenario::from_yaml("expect:\n  - verb: QUIT\n    times: 1\n")?;
/// let server = MockServer::start_blocking(scenario)?;
/// talk(server.addr(), &["QUIT"])?;
/// server.wait_for_sessions_blocking(1)?;
/// let report = server.expectation_report();
/// assert_eq!(report.results[0].source, ExpectationSource::Scenario);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectationSource {
    /// [`Expect::mount`].
    Mounted,
    /// [`Expect::mount_as_scoped`]; checked when its guard drops.
    Scoped,
    /// The scenario's `expect:` key.
    Scenario,
}

#[derive(Debug, Clone)]
struct Mounted {
    id: u64,
    expect: Expect,
    /// Only commands recorded at or after this (recorder clock, µs) count.
    since_us: u64,
    source: ExpectationSource,
    /// Matching commands seen so far, counted as they were recorded.
    count: u64,
    /// The first [`MATCHES_KEPT`] of them, for the report.
    matched: Vec<MatchedLine>,
    /// The test line that mounted it, for the report.
    at: Option<&'static Location<'static>>,
}

impl Mounted {
    fn count(&mut self, line: MatchedLine) {
        self.count += 1;
        if self.matched.len() < MATCHES_KEPT {
            self.matched.push(line);
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    mounted: Vec<Mounted>,
}

impl Inner {
    /// Mount `expect` under the next id (1-based, mount order); returns it.
    fn add(
        &mut self,
        expect: Expect,
        since_us: u64,
        source: ExpectationSource,
        at: Option<&'static Location<'static>>,
    ) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.mounted.push(Mounted {
            id,
            expect,
            since_us,
            source,
            count: 0,
            matched: Vec::new(),
            at,
        });
        id
    }
}

/// The expectations of one server or proxy. They are counted as commands
/// are recorded (a watcher on its `Recorder`), not over the kept
/// transcript: that drops the middle of long sessions and forgets old ones
/// (`limits.session_events`, `limits.total_events`), and a count must not.
/// Clones share the same expectations.
#[derive(Debug, Default, Clone)]
pub struct ExpectationSet {
    inner: Arc<Mutex<Inner>>,
    /// Anything mounted: lets every recorded event skip the lock otherwise.
    any: Arc<AtomicBool>,
}

/// Counts recorded commands into an [`ExpectationSet`]; given to the
/// recorder with [`Recorder::watch`].
struct Counter {
    inner: Arc<Mutex<Inner>>,
    any: Arc<AtomicBool>,
}

impl Sink for Counter {
    fn event(&self, event: &Event) {
        if !self.any.load(Ordering::Relaxed) {
            return;
        }
        let session = event.session;
        let mut inner = lock(&self.inner);
        let counting = inner
            .mounted
            .iter_mut()
            .filter(|m| event.at_us >= m.since_us);
        match &event.kind {
            EventKind::Command { leg, line, .. } => {
                let text = line.text();
                for m in counting.filter(|m| m.expect.matches(*leg, session, &text)) {
                    m.count(MatchedLine::new(session, *leg, text.clone()));
                }
            }
            EventKind::Reply {
                leg, lines, rule, ..
            } => {
                let by = rule.as_deref();
                for m in counting.filter(|m| m.expect.matches_reply(*leg, session, by)) {
                    let first = lines.first().cloned().unwrap_or_default();
                    m.count(MatchedLine::reply(session, *leg, first));
                }
            }
            _ => {}
        }
    }
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

impl ExpectationSet {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    fn changed(&self, inner: &Inner) {
        self.any.store(!inner.mounted.is_empty(), Ordering::Relaxed);
    }

    /// An empty set counting every command `recorder` records from now on
    /// (what a proxy's expectations are wired to).
    pub fn watching(recorder: &Recorder) -> ExpectationSet {
        let set = ExpectationSet::default();
        recorder.watch(Arc::new(Counter {
            inner: Arc::clone(&set.inner),
            any: Arc::clone(&set.any),
        }));
        set
    }

    /// A set counting what `server` records, holding its scenario's
    /// `expect:` list and following every scenario swapped in later.
    pub fn for_server(server: &crate::server::Shared) -> ExpectationSet {
        let set = ExpectationSet::watching(&server.recorder);
        set.set_scenario(&super::from_scenario(&server.scenario()), 0);
        let (follower, recorder) = (set.clone(), server.recorder.clone());
        server.on_swap(Arc::new(move |scenario| {
            follower.set_scenario(&super::from_scenario(scenario), recorder.now_us());
        }));
        set
    }

    /// Add one, mounted by the test line `at`; returns its id (1-based,
    /// mount order).
    pub fn mount(
        &self,
        expect: Expect,
        since_us: u64,
        source: ExpectationSource,
        at: Option<&'static Location<'static>>,
    ) -> u64 {
        let mut inner = self.lock();
        let id = inner.add(expect, since_us, source, at);
        self.changed(&inner);
        id
    }

    /// Remove one by id; returns it with its result so far.
    pub(crate) fn unmount(&self, id: u64) -> Option<ExpectationResult> {
        let mut inner = self.lock();
        let i = inner.mounted.iter().position(|m| m.id == id)?;
        let m = inner.mounted.remove(i);
        self.changed(&inner);
        Some(result(&m, ExpectationSource::Scoped))
    }

    /// Install a scenario's `expect:` list, replacing the previous
    /// scenario's. An identical list keeps counting from where it started
    /// (a rule added at runtime does not restart them).
    pub fn set_scenario(&self, list: &[Expect], since_us: u64) {
        let mut inner = self.lock();
        let current: Vec<&Expect> = inner
            .mounted
            .iter()
            .filter(|m| m.source == ExpectationSource::Scenario)
            .map(|m| &m.expect)
            .collect();
        if current.len() == list.len() && current.iter().zip(list).all(|(a, b)| *a == b) {
            return;
        }
        inner.mounted.retain(|m| m.source != ExpectationSource::Scenario);
        for expect in list {
            inner.add(expect.clone(), since_us, ExpectationSource::Scenario, None);
        }
        self.changed(&inner);
    }

    /// Forget every expectation (mounted, scoped and the scenario's).
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.mounted.clear();
        self.changed(&inner);
    }

    /// Make every expectation count from `since_us` (after a reset).
    pub fn restart(&self, since_us: u64) {
        for m in &mut self.lock().mounted {
            m.since_us = since_us;
            m.count = 0;
            m.matched.clear();
        }
    }

    /// How many are mounted.
    pub fn len(&self) -> usize {
        self.lock().mounted.len()
    }

    /// Nothing mounted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every expectation's result: its count so far; `transcript` adds
    /// what the report shows around them.
    pub fn evaluate(&self, transcript: &Transcript) -> VerificationReport {
        let results = self
            .lock()
            .mounted
            .iter()
            .map(|m| result(m, m.source))
            .collect();
        VerificationReport::new(results, transcript)
    }

    /// One expectation's result, if it is still mounted.
    fn evaluate_id(&self, id: u64, transcript: &Transcript) -> Option<VerificationReport> {
        let result = self
            .lock()
            .mounted
            .iter()
            .find(|m| m.id == id)
            .map(|m| result(m, ExpectationSource::Scoped))?;
        Some(VerificationReport::new(vec![result], transcript))
    }
}

fn result(m: &Mounted, source: ExpectationSource) -> ExpectationResult {
    let expect = &m.expect;
    ExpectationResult {
        id: m.id,
        name: expect
            .name()
            .map_or_else(|| format!("expectation #{}", m.id), str::to_string),
        what: expect.to_string(),
        source,
        expected: expect.required(),
        actual: m.count,
        met: expect.required().contains(m.count),
        matched: m.matched.clone(),
        instead: Vec::new(),
        mounted_at: m.at.map(|at| at.to_string()),
        leg: expect.leg,
        session: expect.session,
        since_us: m.since_us,
    }
}

/// What an [`Expect`](crate::Expect) can be mounted on:
/// [`MockServer`](crate::MockServer) and [`MockProxy`](crate::MockProxy).
/// Sealed: the crate implements it, a test only names it.
///
/// # Example
///
/// ```
/// use smtp_harness::{Expect, ExpectationTarget, MockServer, Scenario};
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
/// /// One helper for servers and proxies alike.
/// fn greets_once(target: &impl ExpectationTarget) {
///     Expect::verb("EHLO").expect(1).mount(target);
/// }
/// let server = MockServer::start_blocking(Scenario::default())?;
/// greets_once(&server);
/// talk(server.addr(), &["EHLO c", "QUIT"])?;
/// server.wait_for_sessions_blocking(1)?;
/// server.verify();
/// # Ok(()) }
/// ```
pub trait ExpectationTarget: sealed::Parts {}

pub(crate) mod sealed {
    use super::{ExpectationSet, Recorder};

    /// Where expectations live and where commands are recorded.
    pub trait Parts {
        fn expectation_parts(&self) -> Mount<'_>;
    }

    /// Opaque outside the crate: its fields are what mounting needs.
    pub struct Mount<'a> {
        pub(crate) set: &'a ExpectationSet,
        pub(crate) recorder: &'a Recorder,
    }
}

/// A scoped expectation: checked alone, and removed, when this is dropped.
/// Panics with a report when unmet, unless the thread is already panicking
/// (then the report goes to stderr).
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
/// {
///     let guard = Expect::verb("NOOP").expect(2).mount_as_scoped(&server);
///     talk(server.addr(), &["NOOP", "NOOP", "QUIT"])?;
///     server.wait_for_sessions_blocking(1)?;
///     assert!(guard.report().is_met());
/// } // checked (and removed) here
/// talk(server.addr(), &["NOOP", "QUIT"])?; // no longer counted
/// # Ok(()) }
/// ```
#[must_use = "a scoped expectation is checked when its guard is dropped"]
#[derive(Debug)]
pub struct ExpectGuard<'a> {
    set: &'a ExpectationSet,
    recorder: &'a Recorder,
    id: u64,
}

impl<'a> ExpectGuard<'a> {
    pub(crate) fn new(set: &'a ExpectationSet, recorder: &'a Recorder, id: u64) -> Self {
        ExpectGuard { set, recorder, id }
    }

    /// This expectation alone, counted so far.
    pub fn report(&self) -> VerificationReport {
        self.set
            .evaluate_id(self.id, &self.recorder.transcript())
            .unwrap_or_default()
    }

    /// Check now, without removing it: panics at the caller's line with
    /// the report when unmet.
    #[track_caller]
    pub fn verify(&self) {
        self.report().check("scoped expectation");
    }
}

impl Drop for ExpectGuard<'_> {
    fn drop(&mut self) {
        let Some(result) = self.set.unmount(self.id) else {
            return;
        };
        VerificationReport::new(vec![result], &self.recorder.transcript())
            .check("scoped expectation");
    }
}
