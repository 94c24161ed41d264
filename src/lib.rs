//! smtp-harness: a scriptable fake SMTP server and an interfering SMTP proxy
//! for end-to-end tests of mail software.
//!
//! Start a [`MockServer`] running a [`Scenario`] (a bundled product, a YAML
//! file, or built in Rust), point the code under test at
//! [`MockServer::addr`], then assert on the [`Transcript`] and the
//! [`Message`]s it received. Put a [`MockProxy`] running a [`Profile`] in
//! front of any SMTP server to test what a middlebox does to your client.
//! A [`Rule`] both answers and counts, an [`Expect`] only counts; both are
//! checked when the server is dropped.
//!
//! ```
//! use smtp_harness::{MockServer, Rule, Scenario};
//! use std::io::{BufRead, BufReader, Write};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = MockServer::start_blocking(Scenario::bundled("postfix-default")?)?;
//! Rule::verb("MAIL").reply("451 4.3.0 try again later").expect(1).mount(&server);
//!
//! // The code under test; a raw socket keeps the example short.
//! let mut sock = std::net::TcpStream::connect(server.addr())?;
//! let mut replies = BufReader::new(sock.try_clone()?);
//! sock.write_all(b"HELO client.example\r\nMAIL FROM:<a@example.com>\r\nQUIT\r\n")?;
//! let mut lines = Vec::new();
//! for _ in 0..4 {
//!     let mut line = String::new();
//!     replies.read_line(&mut line)?;
//!     lines.push(line);
//! }
//! assert!(lines[2].starts_with("451 4.3.0"));
//!
//! let transcript = server.wait_for_sessions_blocking(1)?;
//! assert!(transcript.client_sent("QUIT"));
//! # Ok(()) }
//! ```
//!
//! The crate's inside (the framer, the sans-I/O session and proxy policy,
//! the I/O drivers, the recorder, the control API) is private; how it is
//! laid out is in `docs/architecture.md`. The `cli` feature (on by
//! default) adds the command line, [`cli::main`]; a test suite turns it off
//! (`default-features = false`).

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
    server, session, transcript, view,
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
pub use proxy::Profile;
pub use routing::NdrMode;
pub use scenario::model::{StateName, Then};
pub use scenario::{Problem, Rule, Scenario, ScenarioBuilder, ScenarioError, Times};
pub use server::tls::TlsSetupError;
pub use session::Divergence;
pub use transcript::{
    Aborted, BareMark, Closer, DataEnd, Event, EventKind, Handshake, Leg, RecordedReply,
    SessionRecord, Transcript, Wire,
};
