//! The `cargo test` API: [`MockServer`] (a fake SMTP server) and
//! [`MockProxy`] (an interfering middlebox), thin views over one running
//! core (`core`: recorder, expectations, listener, stop, control API).
//!
//! Expectations belong here, not to the server or proxy: the core wires the
//! recorder to the [`ExpectationSet`](crate::expect::ExpectationSet) that
//! counts, and hands both to the control API when a test starts it.

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
