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

use super::core::Core;
use crate::scenario::model::RuleSpec;
use serde_saphyr::Spanned;
use super::{HarnessError, running};
use crate::control::Kind;
use crate::expect::{ExpectationSet, ExpectationTarget};
use crate::message::Message;
use crate::scenario::Scenario;
use crate::server::{self, Shared};
use crate::transcript::{Recorder, Retention};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// A fake SMTP server for one test. Dropping it checks its expectations
/// (panicking with a report when one is unmet, unless the test is already
/// panicking) and shuts it down: sessions still running get `421` and are
/// closed.
///
/// # Example
///
/// ```
/// use smtp_harness::{MockServer, Scenario};
/// # use std::io::{BufRead, BufReader, Write};
/// # fn talk(addr: std::net::SocketAddr, lines: &[&str]) -> std::io::Result<Vec<String>> {
/// #     let mut sock = std::net::TcpStream::connect(addr)?;
/// #     let mut from = BufReader::new(sock.try_clone()?);
/// #     let mut reply = || -> std::io::Result<String> {
/// #         let mut all = String::new();
/// #         loop {
/// #             let mut line = String::new();
/// #             if from.read_line(&mut line)? == 0 || line.as_bytes().get(3) != Some(&b'-') {
/// #                 all.push_str(&line);
/// #                 return Ok(all);
/// #             }
/// #             all.push_str(&line);
/// #         }
/// #     };
/// #     let mut replies = vec![reply()?];
/// #     for line in lines {
/// #         sock.write_all(format!("{line}\r\n").as_bytes())?;
/// #         replies.push(reply()?);
/// #     }
/// #     Ok(replies)
/// # }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Arrange: a fake server behind a PIX (masked banner, EHLO refused).
/// let server = MockServer::start_blocking(Scenario::bundled("pix-mailguard")?)?;
/// // Act: any SMTP client would do.
/// let replies = talk(server.addr(), &["EHLO client.example", "HELO client.example", "QUIT"])?;
/// // Assert
/// assert!(replies[0].starts_with("220 ***"));
/// assert!(replies[1].starts_with("500"));
/// let transcript = server.wait_for_sessions_blocking(1)?;
/// assert!(transcript.client_sent("HELO"));
/// # Ok(()) }
/// ```
pub struct MockServer {
    shared: Arc<Shared>,
    core: Core,
    /// Rules mounted from Rust and still in force, newest first: they belong
    /// to the test, not to a scenario, so `set_scenario` keeps them.
    mounted: std::sync::Mutex<Vec<Spanned<RuleSpec>>>,
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("addr", &self.core.addr())
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
        let shared = Arc::new(Shared::new(scenario, recorder.clone(), None)?);
        let expectations = ExpectationSet::for_server(&shared);
        let serving = Arc::clone(&shared);
        let core = Core::spawn(
            "MockServer",
            listener,
            runtime,
            recorder,
            expectations,
            move |listener, stopped| server::run(listener, serving, stopped),
        )?;
        Ok(MockServer {
            shared,
            core,
            mounted: std::sync::Mutex::default(),
        })
    }

    core_view!("server");

    /// Serve the HTTP control API (`docs/control.md`) on `127.0.0.1:0`;
    /// returns its address. It stops when the server is dropped.
    pub async fn start_control(&mut self) -> Result<SocketAddr, HarnessError> {
        self.core
            .start_control(Kind::Server(Arc::clone(&self.shared)))
            .await
    }

    /// The state shared with every connection (scenario, recorder, faults),
    /// for wiring extra front ends.
    #[cfg(feature = "internals")]
    #[doc(hidden)]
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    #[cfg(not(feature = "internals"))]
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Every accepted message, in order.
    pub fn messages(&self) -> Vec<Message> {
        self.core.recorder().messages()
    }

    /// Where clients strayed from the replayed capture (empty for scenarios
    /// without `replay:`): `(session id, divergence)`.
    pub fn divergences(&self) -> Vec<(u64, crate::session::Divergence)> {
        self.transcript().divergences()
    }

    /// Replace the scenario for sessions that start from now on; its
    /// `expect:` list replaces the old one's and counts from now (an
    /// identical list keeps counting). Rules mounted with
    /// [`Rule::mount`](crate::Rule::mount) stay in force, ahead of the new
    /// scenario's own rules, until their guard or the server drops.
    pub fn set_scenario(&self, scenario: Scenario) -> Result<(), HarnessError> {
        // Held until the swap, so a rule mounted meanwhile is not lost.
        let mounted = self.mounted_rules();
        let scenario = if mounted.is_empty() {
            scenario
        } else {
            let mut model = scenario.model().clone();
            model.rules.splice(0..0, mounted.iter().cloned());
            Scenario::from_file_model(model, "<scenario with mounted rules>")?
        };
        self.shared.set_scenario(scenario)?;
        drop(mounted);
        Ok(())
    }

    /// The rules mounted from Rust, newest first.
    pub(crate) fn mounted_rules(&self) -> std::sync::MutexGuard<'_, Vec<Spanned<RuleSpec>>> {
        self.mounted.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The certificate (PEM) a client must trust to complete STARTTLS with
    /// this server; `None` when the scenario has no `tls:`.
    pub fn tls_certificate_pem(&self) -> Option<String> {
        self.shared.tls_certificate_pem()
    }

    /// The CA (PEM) that signed the server's certificate when the scenario
    /// says `tls.certificate.issuer: test_ca`: a client that trusts it
    /// completes the handshake, one that does not sees an unknown issuer.
    /// `None` for a self-signed certificate, one read from files, or no
    /// `tls:`. The CA is made when the scenario is set, so each
    /// `set_scenario` brings a new one.
    ///
    /// # Example
    ///
    /// ```
    /// use smtp_harness::{MockServer, Scenario};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let scenario = Scenario::from_yaml(
    ///     "hostname: mx.example.test\n\
    ///      tls:\n  certificate: { shape: postfix, issuer: test_ca }\n",
    /// )?;
    /// let server = MockServer::start_blocking(scenario)?;
    /// let ca = server.tls_ca_certificate_pem().expect("issuer: test_ca");
    /// assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
    /// // The leaf is another certificate, signed by this CA.
    /// assert_ne!(server.tls_certificate_pem(), Some(ca));
    /// # Ok(()) }
    /// ```
    pub fn tls_ca_certificate_pem(&self) -> Option<String> {
        self.shared.tls_ca_certificate_pem()
    }
}

impl ExpectationTarget for MockServer {}

impl crate::expect::sealed::Parts for MockServer {
    fn expectation_parts(&self) -> crate::expect::sealed::Mount<'_> {
        self.core.expectation_parts()
    }
}
