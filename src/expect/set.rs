//! What is mounted on one server or proxy, and the counting.

use super::Expect;
use super::report::{ExpectationResult, MatchedLine, VerificationReport};
use crate::transcript::{EventKind, Recorder, Transcript};
use serde::Serialize;
use std::sync::{Mutex, MutexGuard};

/// Where an expectation came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
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
    source: Source,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    mounted: Vec<Mounted>,
}

/// The expectations of one server or proxy. Cheap to evaluate: it walks a
/// transcript snapshot once per expectation.
#[derive(Debug, Default)]
pub struct ExpectationSet {
    inner: Mutex<Inner>,
}

impl ExpectationSet {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Add one; returns its id (1-based, mount order).
    pub fn mount(&self, expect: Expect, since_us: u64, source: Source) -> u64 {
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = inner.next_id;
        inner.mounted.push(Mounted {
            id,
            expect,
            since_us,
            source,
        });
        id
    }

    /// Remove one by id; returns it with the time it counts from.
    pub fn unmount(&self, id: u64) -> Option<(Expect, u64)> {
        let mut inner = self.lock();
        let i = inner.mounted.iter().position(|m| m.id == id)?;
        let m = inner.mounted.remove(i);
        Some((m.expect, m.since_us))
    }

    /// Install a scenario's `expect:` list, replacing the previous
    /// scenario's. An identical list keeps counting from where it started
    /// (a rule added at runtime does not restart them).
    pub fn set_scenario(&self, list: &[Expect], since_us: u64) {
        let mut inner = self.lock();
        let current: Vec<&Expect> = inner
            .mounted
            .iter()
            .filter(|m| m.source == Source::Scenario)
            .map(|m| &m.expect)
            .collect();
        if current.len() == list.len() && current.iter().zip(list).all(|(a, b)| *a == b) {
            return;
        }
        inner.mounted.retain(|m| m.source != Source::Scenario);
        for expect in list {
            inner.next_id += 1;
            let id = inner.next_id;
            inner.mounted.push(Mounted {
                id,
                expect: expect.clone(),
                since_us,
                source: Source::Scenario,
            });
        }
    }

    /// Forget every expectation (mounted, scoped and the scenario's).
    pub fn clear(&self) {
        self.lock().mounted.clear();
    }

    /// Make every expectation count from `since_us` (after a reset).
    pub fn restart(&self, since_us: u64) {
        for m in &mut self.lock().mounted {
            m.since_us = since_us;
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

    /// Count every expectation against `transcript`.
    pub fn evaluate(&self, transcript: &Transcript) -> VerificationReport {
        let mounted = self.lock().mounted.clone();
        let results = mounted
            .iter()
            .map(|m| evaluate_one(m.id, &m.expect, m.since_us, m.source, transcript))
            .collect();
        VerificationReport::new(results, transcript)
    }

    /// Count one expectation (a scoped guard's).
    pub fn evaluate_one(
        id: u64,
        expect: &Expect,
        since_us: u64,
        transcript: &Transcript,
    ) -> VerificationReport {
        let result = evaluate_one(id, expect, since_us, Source::Scoped, transcript);
        VerificationReport::new(vec![result], transcript)
    }
}

fn evaluate_one(
    id: u64,
    expect: &Expect,
    since_us: u64,
    source: Source,
    transcript: &Transcript,
) -> ExpectationResult {
    let matched: Vec<MatchedLine> = transcript
        .events()
        .filter(|e| e.at_us >= since_us)
        .filter_map(|e| match &e.kind {
            EventKind::Command { leg, line, .. } => {
                let text = line.text();
                expect
                    .matches(*leg, e.session, &text)
                    .then(|| MatchedLine::new(e.session, *leg, text))
            }
            _ => None,
        })
        .collect();
    let actual = matched.len() as u64;
    ExpectationResult {
        id,
        name: expect
            .name()
            .map_or_else(|| format!("expectation #{id}"), str::to_string),
        what: expect.to_string(),
        source,
        expected: expect.required(),
        actual,
        met: expect.required().contains(actual),
        matched,
        instead: Vec::new(),
        leg: expect.leg,
        session: expect.session,
        since_us,
    }
}

/// A server or proxy expectations can be mounted on.
pub trait ExpectationTarget {
    /// Where expectations live and where commands are recorded.
    fn expectation_parts(&self) -> (&ExpectationSet, &Recorder);

    /// Every expectation, counted against the transcript so far.
    fn evaluate_expectations(&self) -> VerificationReport {
        let (set, recorder) = self.expectation_parts();
        set.evaluate(&recorder.transcript())
    }

    /// Forget recorded sessions and every expectation, and log that it happened.
    fn reset_recording(&self) {
        let (set, recorder) = self.expectation_parts();
        recorder.reset();
        set.clear();
        recorder.control("reset", "by the test");
    }
}

/// A scoped expectation: checked alone, and removed, when this is dropped.
/// Panics with a report when unmet, unless the thread is already panicking
/// (then the report goes to stderr).
#[must_use = "a scoped expectation is checked when its guard is dropped"]
#[derive(Debug)]
pub struct ExpectGuard<'a> {
    set: &'a ExpectationSet,
    recorder: &'a Recorder,
    id: u64,
}

impl<'a> ExpectGuard<'a> {
    pub(super) fn new(set: &'a ExpectationSet, recorder: &'a Recorder, id: u64) -> Self {
        ExpectGuard { set, recorder, id }
    }

    /// Check now, without removing it.
    pub fn verify(&self) -> Result<(), VerificationReport> {
        let found = self
            .set
            .lock()
            .mounted
            .iter()
            .find(|m| m.id == self.id)
            .cloned();
        match found {
            Some(m) => ExpectationSet::evaluate_one(
                m.id,
                &m.expect,
                m.since_us,
                &self.recorder.transcript(),
            )
            .into_result(),
            None => Ok(()),
        }
    }
}

impl Drop for ExpectGuard<'_> {
    fn drop(&mut self) {
        let Some((expect, since)) = self.set.unmount(self.id) else {
            return;
        };
        let report =
            ExpectationSet::evaluate_one(self.id, &expect, since, &self.recorder.transcript());
        if !report.is_met() {
            report.fail("scoped expectation");
        }
    }
}
