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
//! - `cli` (binary only): `serve`, `proxy`, `probe`, `demo`, `replay`, `import`, `validate`, `scenarios`, `profiles`.

#![warn(missing_docs)]

pub mod client;
pub mod control;
pub mod dice;
pub mod expect;
pub mod harness;
pub mod import;
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
pub use harness::MockProxy;
pub use harness::{HarnessError, MockServer, RuleGuard};
pub use message::{Message, Recipient};
pub use protocol::Reply;
pub use proxy::Profile;
pub use scenario::model::{StateName, Then};
pub use scenario::{Problem, Rule, Scenario, ScenarioError};
pub use transcript::{Closer, Leg, Transcript};
