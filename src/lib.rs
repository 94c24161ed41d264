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
// Without the CLI, a few helpers only it calls (live terminal view, JSON
// Lines sink, the busy-poll thread…) are unused; the default build, which
// has it, still reports dead code.
#![cfg_attr(not(feature = "cli"), allow(dead_code, unused_imports))]

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
    control, dice, expect, harness, link, message, protocol, proxy, routing, scenario, schema,
    server, session, transcript,
);

/// What only the command line uses (capture import, the probe and its
/// client): not compiled for a test suite that turns
/// the `cli` feature off, so it builds neither these nor their parsers.
macro_rules! cli_only {
    ($($name:ident),* $(,)?) => {$(
        #[cfg(feature = "internals")]
        #[doc(hidden)]
        pub mod $name;
        #[cfg(all(feature = "cli", not(feature = "internals")))]
        mod $name;
    )*};
}

cli_only!(client, import, probe);

// The test API: everything a test suite names. Nothing else is public.
pub use expect::{
    Expect, ExpectGuard, ExpectationResult, ExpectationSource, ExpectationTarget, MatchedLine,
    VerificationReport,
};
pub use harness::{HarnessError, MockProxy, MockServer, RuleGuard};
pub use message::{Body, Message, Recipient};
pub use protocol::Reply;
pub use proxy::Profile;
pub use routing::NdrMode;
pub use scenario::model::{StateName, Then};
pub use scenario::{Problem, Rule, Scenario, ScenarioBuilder, ScenarioError, Times};
pub use server::tls::TlsSetupError;
pub use session::Divergence;
pub use transcript::{
    Aborted, Closer, Event, EventKind, Handshake, Leg, RecordedReply, SessionRecord, Transcript,
    Wire,
};
