//! The `cargo test` API: start a fake server on `127.0.0.1:0`, point the code
//! under test at it, then assert on what happened.
//!
//! ```
//! use smtp_harness::{MockServer, Scenario};
//! use std::io::{BufRead, BufReader, Write};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Arrange
//! let server = MockServer::start_blocking(Scenario::bundled("pix-mailguard")?)?;
//! // Act: any SMTP client would do; a raw socket keeps the example short.
//! let mut sock = std::net::TcpStream::connect(server.addr())?;
//! let mut reader = BufReader::new(sock.try_clone()?);
//! let mut banner = String::new();
//! reader.read_line(&mut banner)?;
//! sock.write_all(b"EHLO client.example\r\nQUIT\r\n")?;
//! let mut ehlo = String::new();
//! reader.read_line(&mut ehlo)?;
//! // Assert
//! assert!(banner.starts_with("220 ***"));
//! assert!(ehlo.starts_with("500 5.5.1"));
//! let transcript = server.wait_for_sessions_blocking(1)?;
//! assert!(transcript.client_sent("EHLO"));
//! # Ok(()) }
//! ```

pub(crate) mod running;

use crate::expect::{ExpectationSet, ExpectationTarget, VerificationReport};
use crate::message::Message;
use crate::scenario::Scenario;
use crate::server::{self, Shared};
use crate::transcript::{Recorder, Retention, Transcript};
pub(crate) use running::Running;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How long `wait_for_sessions` waits before giving up.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// Errors of the test API.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The listener could not be bound or the runtime not started.
    #[error("cannot start the mock server: {0}")]
    Io(#[from] std::io::Error),
    /// The scenario's TLS material could not be set up.
    #[error(transparent)]
    Tls(#[from] crate::server::tls::TlsSetupError),
    /// Fewer sessions ended than awaited.
    #[error(
        "waited {waited:?} for {wanted} session(s) to end, {ended} did; transcript so far:\n{transcript}"
    )]
    Timeout {
        /// Sessions awaited.
        wanted: u64,
        /// Sessions that had ended.
        ended: u64,
        /// How long we waited.
        waited: Duration,
        /// The transcript as text.
        transcript: String,
    },
}

/// A fake SMTP server for one test. Dropping it checks its expectations
/// (panicking with a report when one is unmet, unless the test is already
/// panicking) and shuts it down: sessions still running get `421` and are
/// closed.
pub struct MockServer {
    shared: Arc<Shared>,
    running: Running,
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("addr", &self.running.addr)
            .finish()
    }
}

impl MockServer {
    /// Start on `127.0.0.1:0` inside the current tokio runtime.
    pub async fn start(scenario: Scenario) -> Result<MockServer, HarnessError> {
        Self::spawn(running::loopback()?, scenario, None)
    }

    /// Start on a listener the test bound itself (another loopback address, a
    /// fixed port).
    pub async fn start_on(
        listener: TcpListener,
        scenario: Scenario,
    ) -> Result<MockServer, HarnessError> {
        Self::spawn(listener, scenario, None)
    }

    /// Start on `127.0.0.1:0` with a runtime of its own, for synchronous tests.
    pub fn start_blocking(scenario: Scenario) -> Result<MockServer, HarnessError> {
        let (runtime, listener) = running::own_runtime()?;
        Self::spawn(listener, scenario, Some(runtime))
    }

    fn spawn(
        listener: TcpListener,
        scenario: Scenario,
        runtime: Option<tokio::runtime::Runtime>,
    ) -> Result<MockServer, HarnessError> {
        let recorder = Recorder::new(Retention::All, Vec::new());
        let shared = Arc::new(Shared::new(scenario, recorder, None)?);
        let serving = Arc::clone(&shared);
        let running = Running::spawn(listener, runtime, move |listener, stopped| {
            server::run(listener, serving, stopped)
        })?;
        Ok(MockServer { shared, running })
    }

    /// Where to connect.
    pub fn addr(&self) -> SocketAddr {
        self.running.addr
    }

    /// Check every expectation now (mounted, scoped and the scenario's
    /// `expect:`): `Err` holds the report. Dropping the server checks again.
    pub fn verify(&self) -> Result<(), VerificationReport> {
        self.expectation_report().into_result()
    }

    /// Every expectation, counted, met or not.
    pub fn expectation_report(&self) -> VerificationReport {
        self.evaluate_expectations()
    }

    /// Forget recorded sessions, messages and every expectation, and count
    /// sessions from 1 again.
    pub fn reset(&self) {
        self.reset_recording();
    }

    /// Serve the HTTP control API (`docs/control.md`) on `127.0.0.1:0`;
    /// returns its address. It stops when the server is dropped.
    pub async fn start_control(&mut self) -> Result<SocketAddr, HarnessError> {
        let target = crate::control::Target::Server(Arc::clone(&self.shared));
        Ok(self.running.start_control(target).await?)
    }

    /// The state shared with every connection (scenario, recorder, faults),
    /// for wiring extra front ends.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Every session so far, running ones included.
    pub fn transcript(&self) -> Transcript {
        self.shared.recorder.transcript()
    }

    /// Every accepted message, in order.
    pub fn messages(&self) -> Vec<Message> {
        self.shared.recorder.messages()
    }

    /// Where clients strayed from the replayed capture (empty for scenarios
    /// without `replay:`): `(session id, divergence)`.
    pub fn divergences(&self) -> Vec<(u64, crate::session::Divergence)> {
        self.transcript().divergences()
    }

    /// Replace the scenario for sessions that start from now on.
    pub fn set_scenario(&self, scenario: Scenario) -> Result<(), HarnessError> {
        Ok(self.shared.set_scenario(scenario)?)
    }

    /// The certificate (PEM) a client must trust to complete STARTTLS with
    /// this server; `None` when the scenario has no `tls:`.
    pub fn tls_certificate_pem(&self) -> Option<String> {
        self.shared.tls_certificate_pem()
    }

    /// Wait until `n` sessions have ended (at most [`DEFAULT_WAIT`]) and
    /// return the transcript.
    pub async fn wait_for_sessions(&self, n: u64) -> Result<Transcript, HarnessError> {
        self.wait_for_sessions_within(n, DEFAULT_WAIT).await
    }

    /// Wait until `n` sessions have ended, at most `timeout`.
    pub async fn wait_for_sessions_within(
        &self,
        n: u64,
        timeout: Duration,
    ) -> Result<Transcript, HarnessError> {
        wait_for(&self.shared.recorder, n, timeout).await
    }

    /// [`wait_for_sessions`](Self::wait_for_sessions) for synchronous tests.
    pub fn wait_for_sessions_blocking(&self, n: u64) -> Result<Transcript, HarnessError> {
        wait_for_blocking(&self.shared.recorder, n, self.running.runtime.as_ref())
    }
}

/// Wait until `n` sessions recorded by `recorder` have ended, at most
/// `timeout`; the error carries the transcript so far.
pub(crate) async fn wait_for(
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

/// [`wait_for`] from synchronous code, on the harness's own runtime when it
/// has one.
pub(crate) fn wait_for_blocking(
    recorder: &Recorder,
    n: u64,
    runtime: Option<&tokio::runtime::Runtime>,
) -> Result<Transcript, HarnessError> {
    let recorder = recorder.clone();
    let wait = async move { wait_for(&recorder, n, DEFAULT_WAIT).await };
    match runtime {
        Some(rt) => rt.block_on(wait),
        None => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(wait),
    }
}

impl ExpectationTarget for MockServer {
    fn expectation_parts(&self) -> (&ExpectationSet, &Recorder) {
        (&self.shared.expectations, &self.shared.recorder)
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        let report = self.expectation_report();
        self.running.shut_down();
        if !report.is_met() {
            report.fail("MockServer expectations");
        }
    }
}
