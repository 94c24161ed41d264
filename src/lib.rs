//! smtp-harness: a scriptable fake SMTP server and an interfering SMTP proxy
//! for end-to-end tests of mail software.
//!
//! # Layout
//!
//! Data flows one way:
//!
//! - [`protocol`]: bytes ↔ commands and replies; framing with every read bounded.
//! - [`scenario`]: the YAML model, its checks, and the compiled [`scenario::Plan`].
//! - [`session`]: the sans-I/O state machine a scenario drives.
//! - [`routing`]: Exchange mail handling (directory, reroute, relay, IMCEA,
//!   NDRs) as one pure decision the session asks at RCPT.
//! - `link`: one direction of a connection with its faults (delay, slices,
//!   bandwidth, a byte budget), shared by the server's replies and both
//!   directions of the proxy.
//! - [`server`]: tokio I/O around sessions; never stops accepting.
//! - [`transcript`]: what happened, as events; text and JSON Lines views.
//! - [`proxy`]: the interfering middlebox and its [`Profile`]s.
//! - [`expect`]: [`Expect`]ations counted as the transcript is recorded, wiremock-style.
//! - [`control`]: the HTTP control API (`--control`), for suites in any language.
//! - [`harness`]: [`MockServer`] and [`MockProxy`] for `cargo test`, over one
//!   running core that owns the recorder, the expectations and the control API.
//! - [`schema`]: JSON Schemas of scenario and profile files.
//! - [`import`]: captures (swaks, Exchange logs, pcap/pcapng, transcripts) → `replay:` scenarios.
//! - [`probe`]: a reference detector for SMTP interference (`smtp-harness probe`).
//! - [`cli`] (feature `cli`): `serve`, `proxy`, `probe`, `demo`, `replay`, `import`, `validate`, `scenarios`, `profiles`.

#![warn(missing_docs)]

#[cfg(feature = "cli")]
pub mod cli;

/// Declares the crate's internal modules: crate-private, so rustc reports
/// what nothing uses, unless the hidden `internals` feature is on. Only
/// this crate's own tests (through a dev-dependency on itself) and the
/// fuzz targets turn it on; it is not part of the API and may change in
/// any release.
macro_rules! internal {
    ($($name:ident),* $(,)?) => {$(
        #[cfg(feature = "internals")]
        #[doc(hidden)]
        pub mod $name;
        #[cfg(not(feature = "internals"))]
        mod $name;
    )*};
}

internal!(
    client, control, dice, expect, harness, import, link, message, probe, protocol, proxy, routing,
    scenario, schema, server, session, transcript,
);

pub use expect::{Expect, Times, VerificationReport};
pub use harness::MockProxy;
pub use harness::{HarnessError, MockServer, RuleGuard};
pub use message::{Message, Recipient};
pub use protocol::Reply;
pub use proxy::Profile;
pub use scenario::model::{StateName, Then};
pub use scenario::{Problem, Rule, Scenario, ScenarioError};
pub use transcript::{Closer, Leg, Transcript};
