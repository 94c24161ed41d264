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
//! - [`harness`]: [`MockServer`] for `cargo test`.
//! - [`expect`]: [`Expect`]ations checked against the transcript, wiremock-style.
//! - [`control`]: the HTTP control API (`--control`), for suites in any language.
//! - [`schema`]: JSON Schemas of scenario and profile files.
//! - [`proxy`]: the interfering middlebox, its [`Profile`]s and [`MockProxy`].
//! - [`import`]: captures (swaks, Exchange logs, pcap/pcapng, transcripts) → `replay:` scenarios.
//! - [`probe`]: a reference detector for SMTP interference (`smtp-harness probe`).
//! - `cli` (binary only): `serve`, `proxy`, `probe`, `demo`, `replay`, `import`, `validate`, `scenarios`, `profiles`.

#![warn(missing_docs)]

pub mod client;
pub mod control;
pub mod dice;
pub mod expect;
pub mod harness;
pub mod import;
pub(crate) mod link;
pub mod message;
pub mod probe;
pub mod protocol;
pub mod proxy;
pub mod routing;
pub mod scenario;
pub mod schema;
pub mod server;
pub mod session;
pub mod transcript;

pub use expect::{Expect, Times, VerificationReport};
pub use harness::{HarnessError, MockServer};
pub use message::{Message, Recipient};
pub use protocol::Reply;
pub use proxy::{MockProxy, Profile};
pub use scenario::model::{StateName, Then};
pub use scenario::{Problem, Rule, Scenario, ScenarioError};
pub use transcript::{Closer, Leg, Transcript};
