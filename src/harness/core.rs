//! What a started `MockServer` and `MockProxy` share: the recorder, the
//! expectations counting what it records, the listener task with its stop
//! signal and runtime, and the control API.

use super::HarnessError;
use super::running::{Running, Stopped};
use crate::control::{Kind, Target};
use crate::expect::{ExpectationSet, VerificationReport};
use crate::transcript::{Recorder, Transcript};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;

/// How long `wait_for_sessions` waits before giving up.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// One running harness. Dropping it checks its expectations (panicking
/// with a report when one is unmet, unless the test is already panicking)
/// and stops it.
pub(crate) struct Core {
    recorder: Recorder,
    expectations: ExpectationSet,
    running: Running,
    /// `MockServer` or `MockProxy`, for the report.
    what: &'static str,
}

impl Core {
    /// Serve `run(listener, stopped)` on `runtime` (or the current one),
    /// counting `expectations` over what `recorder` records.
    pub fn spawn<F, Fut>(
        what: &'static str,
        listener: TcpListener,
        runtime: Option<tokio::runtime::Runtime>,
        recorder: Recorder,
        expectations: ExpectationSet,
        run: F,
    ) -> Result<Core, HarnessError>
    where
        F: FnOnce(TcpListener, Stopped) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let running = Running::spawn(listener, runtime, run)?;
        Ok(Core {
            recorder,
            expectations,
            running,
            what,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.running.addr
    }

    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    #[track_caller]
    pub fn verify(&self) {
        self.expectation_report()
            .check(&format!("{} expectations", self.what));
    }

    pub fn expectation_report(&self) -> VerificationReport {
        self.expectations.evaluate(&self.recorder.transcript())
    }

    /// Forget recorded sessions and every expectation, and log that it happened.
    pub fn reset(&self) {
        self.recorder.reset();
        self.expectations.clear();
        self.recorder.control("reset", "by the test");
    }

    /// Serve the control API over `kind` and these expectations.
    pub async fn start_control(&mut self, kind: Kind) -> Result<SocketAddr, HarnessError> {
        let mut target = Target::new(kind, self.expectations.clone());
        target.listen = Some(self.running.addr);
        Ok(self.running.start_control(target).await?)
    }

    pub fn transcript(&self) -> Transcript {
        self.recorder.transcript()
    }

    /// Wait until `n` sessions have ended, at most `timeout`; the error
    /// carries the transcript so far.
    pub async fn wait_for_sessions_within(
        &self,
        n: u64,
        timeout: Duration,
    ) -> Result<Transcript, HarnessError> {
        wait_for(&self.recorder, n, timeout).await
    }

    /// [`DEFAULT_WAIT`] from synchronous code, on the harness's own runtime
    /// when it has one.
    pub fn wait_for_sessions_blocking(&self, n: u64) -> Result<Transcript, HarnessError> {
        let recorder = self.recorder.clone();
        let wait = async move { wait_for(&recorder, n, DEFAULT_WAIT).await };
        match self.running.runtime.as_ref() {
            Some(rt) => rt.block_on(wait),
            None => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(wait),
        }
    }
}

async fn wait_for(
    recorder: &Recorder,
    n: u64,
    timeout: Duration,
) -> Result<Transcript, HarnessError> {
    match tokio::time::timeout(timeout, recorder.wait_ended(n)).await {
        Ok(()) => Ok(recorder.transcript()),
        Err(_) => Err(HarnessError::Timeout {
            wanted: n,
            ended: recorder.ended(),
            waited: timeout,
            transcript: recorder.transcript().to_text(),
        }),
    }
}

impl crate::expect::sealed::Parts for Core {
    fn expectation_parts(&self) -> crate::expect::sealed::Mount<'_> {
        crate::expect::sealed::Mount {
            set: &self.expectations,
            recorder: &self.recorder,
        }
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        let report = self.expectation_report();
        self.running.shut_down();
        // The panic points here; the report names the test lines that
        // mounted what is unmet.
        report.check(&format!("{} expectations", self.what));
    }
}
