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
