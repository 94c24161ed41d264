//! The `cargo test` API: [`MockServer`] (a fake SMTP server) and
//! [`MockProxy`] (an interfering middlebox), thin views over one running
//! core (`core`: recorder, expectations, listener, stop, control API).
//!
//! Expectations belong here, not to the server or proxy: the core wires the
//! recorder to the [`ExpectationSet`](crate::expect::ExpectationSet) that
//! counts, and hands both to the control API when a test starts it.

/// The methods `MockServer` and `MockProxy` share, each a call into their
/// [`Core`](self::core::Core): written once, so the two views cannot drift.
macro_rules! core_view {
    ($what:literal) => {
        /// Where the client under test should connect.
        pub fn addr(&self) -> std::net::SocketAddr {
            self.core.addr()
        }

        #[doc = concat!("Check every expectation of the ", $what, " now: panics at the caller's")]
        /// line with the report when one is unmet (use
        /// [`expectation_report`](Self::expectation_report) to inspect
        /// instead). Dropping it checks again.
        #[track_caller]
        pub fn verify(&self) {
            self.core.verify();
        }

        /// Every expectation, counted, met or not.
        pub fn expectation_report(&self) -> crate::expect::VerificationReport {
            self.core.expectation_report()
        }

        /// Forget recorded sessions, messages and every expectation, and
        /// count sessions from 1 again.
        pub fn reset(&self) {
            self.core.reset();
        }

        /// Every session so far, running ones included.
        pub fn transcript(&self) -> crate::transcript::Transcript {
            self.core.transcript()
        }

        /// Wait until `n` sessions have ended (at most 10 seconds) and
        /// return the transcript.
        pub async fn wait_for_sessions(
            &self,
            n: u64,
        ) -> Result<crate::transcript::Transcript, HarnessError> {
            self.core
                .wait_for_sessions_within(n, super::DEFAULT_WAIT)
                .await
        }

        /// Wait until `n` sessions have ended, at most `timeout`.
        pub async fn wait_for_sessions_within(
            &self,
            n: u64,
            timeout: std::time::Duration,
        ) -> Result<crate::transcript::Transcript, HarnessError> {
            self.core.wait_for_sessions_within(n, timeout).await
        }

        /// [`wait_for_sessions`](Self::wait_for_sessions) for synchronous tests.
        pub fn wait_for_sessions_blocking(
            &self,
            n: u64,
        ) -> Result<crate::transcript::Transcript, HarnessError> {
            self.core.wait_for_sessions_blocking(n)
        }
    };
}

mod core;
mod mount;
mod proxy;
pub(crate) mod running;
mod server;

pub use self::core::DEFAULT_WAIT;
pub use mount::RuleGuard;
pub use proxy::MockProxy;
pub use server::MockServer;

use std::time::Duration;

/// Errors of the test API. Its `Debug` is its text, so a test returning
/// `Result` prints a sentence.
///
/// # Example
///
/// ```
/// use smtp_harness::{HarnessError, MockServer, Scenario};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = MockServer::start_blocking(Scenario::default())?;
/// // Nobody connects: waiting for a session gives up with what happened so far.
/// let rt = tokio::runtime::Runtime::new()?;
/// let waited = rt.block_on(server.wait_for_sessions_within(1, std::time::Duration::from_millis(50)));
/// match waited {
///     Err(HarnessError::Timeout { wanted, ended, .. }) => assert_eq!((wanted, ended), (1, 0)),
///     other => panic!("expected a timeout, got {other:?}"),
/// }
/// # Ok(()) }
/// ```
#[derive(thiserror::Error)]
pub enum HarnessError {
    /// The listener could not be bound or the runtime not started.
    #[error("cannot start the mock server: {0}")]
    Io(#[from] std::io::Error),
    /// The scenario's TLS material could not be set up.
    #[error(transparent)]
    Tls(#[from] crate::server::tls::TlsSetupError),
    /// A rule mounted from Rust does not fit the scenario swapped in.
    #[error(transparent)]
    Scenario(#[from] crate::ScenarioError),
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

impl std::fmt::Debug for HarnessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}
