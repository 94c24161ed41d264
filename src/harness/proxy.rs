//! The `cargo test` API for proxy mode: put an interfering middlebox between
//! the code under test and any SMTP server, then assert on both legs.
//!
//! ```
//! use smtp_harness::{Leg, MockProxy, MockServer, Profile, Scenario};
//! use std::io::{BufRead, BufReader, Write};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Arrange: a fake Exchange 2003 behind a PIX.
//! let server = MockServer::start_blocking(Scenario::bundled("exchange-2003")?)?;
//! let proxy = MockProxy::start_blocking(server.addr(), Profile::bundled("pix-mailguard")?)?;
//! // Act
//! let mut sock = std::net::TcpStream::connect(proxy.addr())?;
//! let mut reader = BufReader::new(sock.try_clone()?);
//! let mut banner = String::new();
//! reader.read_line(&mut banner)?;
//! sock.write_all(b"EHLO client.example\r\n")?;
//! let mut ehlo = String::new();
//! reader.read_line(&mut ehlo)?;
//! sock.write_all(b"QUIT\r\n")?;
//! let mut bye = String::new();
//! reader.read_line(&mut bye)?;
//! // Assert: masked banner, EHLO refused by the proxy, never seen upstream.
//! assert!(banner.starts_with("220 ***"));
//! assert!(ehlo.starts_with("500 5.5.1"));
//! let t = proxy.wait_for_sessions_blocking(1)?;
//! assert!(t.client_sent("EHLO"));
//! assert!(!t.upstream_received("EHLO"));
//! assert!(t.sessions[0].reply_codes_on(Leg::Client).contains(&500));
//! # Ok(()) }
//! ```

use super::core::Core;
use super::{HarnessError, running};
use crate::control::Kind;
use crate::expect::{ExpectationSet, ExpectationTarget};
use crate::proxy::edit::{EditError, Section};
use crate::proxy::{self, Profile, Shared};
use crate::scenario::{Problem, ScenarioError};
use crate::transcript::{Recorder, Retention};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// An interfering proxy for one test. Dropping it checks its expectations
/// (as [`MockServer`](crate::MockServer) does) and shuts it down: running
/// sessions get `421` and both their legs are closed.
///
/// # Example
///
/// ```
/// use smtp_harness::{Leg, MockProxy, MockServer, Profile, Scenario};
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
/// // A fake Exchange 2003 behind a PIX.
/// let server = MockServer::start_blocking(Scenario::bundled("exchange-2003")?)?;
/// let proxy = MockProxy::start_blocking(server.addr(), Profile::bundled("pix-mailguard")?)?;
/// let replies = talk(proxy.addr(), &["EHLO client.example", "QUIT"])?;
/// assert!(replies[0].starts_with("220 ***"));
/// assert!(replies[1].starts_with("500 5.5.1"));
/// let t = proxy.wait_for_sessions_blocking(1)?;
/// assert!(t.client_sent("EHLO"));
/// assert!(!t.upstream_received("EHLO")); // refused by the proxy itself
/// assert!(t.sessions[0].reply_codes_on(Leg::Client).contains(&500));
/// # Ok(()) }
/// ```
pub struct MockProxy {
    shared: Arc<Shared>,
    core: Core,
}

impl std::fmt::Debug for MockProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockProxy")
            .field("addr", &self.core.addr())
            .field("upstream", &self.shared.upstream)
            .finish()
    }
}

impl MockProxy {
    /// Start on `127.0.0.1:0` inside the current tokio runtime, relaying to
    /// `upstream`.
    pub async fn start(upstream: SocketAddr, profile: Profile) -> Result<MockProxy, HarnessError> {
        Self::spawn(running::loopback()?, upstream.to_string(), profile, None)
    }

    /// Start on a listener the test bound itself, relaying to `upstream`
    /// (`HOST:PORT`; host names are resolved at each connection).
    pub async fn start_on(
        listener: TcpListener,
        upstream: impl Into<String>,
        profile: Profile,
    ) -> Result<MockProxy, HarnessError> {
        Self::spawn(listener, upstream.into(), profile, None)
    }

    /// Start on `127.0.0.1:0` with a runtime of its own, for synchronous tests.
    pub fn start_blocking(
        upstream: SocketAddr,
        profile: Profile,
    ) -> Result<MockProxy, HarnessError> {
        let (runtime, listener) = running::own_runtime()?;
        Self::spawn(listener, upstream.to_string(), profile, Some(runtime))
    }

    fn spawn(
        listener: TcpListener,
        upstream: String,
        profile: Profile,
        runtime: Option<tokio::runtime::Runtime>,
    ) -> Result<MockProxy, HarnessError> {
        let recorder = Recorder::new(Retention::All, Vec::new());
        let expectations = ExpectationSet::watching(&recorder);
        let shared = Arc::new(Shared::new(profile, upstream, recorder.clone()));
        let serving = Arc::clone(&shared);
        let core = Core::spawn(
            "MockProxy",
            listener,
            runtime,
            recorder,
            expectations,
            move |listener, stopped| proxy::run(listener, serving, stopped),
        )?;
        Ok(MockProxy { shared, core })
    }

    core_view!("proxy");

    /// Serve the HTTP control API on `127.0.0.1:0`; returns its address.
    /// It stops when the proxy is dropped.
    pub async fn start_control(&mut self) -> Result<SocketAddr, HarnessError> {
        self.core
            .start_control(Kind::Proxy(Arc::clone(&self.shared)))
            .await
    }

    /// Replace the profile for connections that start from now on.
    pub fn set_profile(&self, profile: Profile) {
        self.shared.set_profile(profile);
    }

    /// Add one fault (a `faults:` entry of the profile language, YAML or
    /// JSON) named `name`, for connections that start from now on; running
    /// ones keep the profile they started with. Refused, with the
    /// file:line:column of each problem, when it does not load or the name
    /// is taken.
    ///
    /// ```
    /// use smtp_harness::{MockProxy, MockServer, Profile, Scenario};
    /// use std::io::{BufRead, BufReader};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = MockServer::start_blocking(Scenario::default())?;
    /// let proxy = MockProxy::start_blocking(server.addr(), Profile::default())?;
    /// let banner = || -> std::io::Result<String> {
    ///     let mut line = String::new();
    ///     BufReader::new(std::net::TcpStream::connect(proxy.addr())?).read_line(&mut line)?;
    ///     Ok(line)
    /// };
    /// proxy.add_fault("refuse", "reply_then_close: 421 4.3.2 not now\non: banner")?;
    /// assert_eq!(proxy.faults(), ["refuse"]);
    /// assert!(banner()?.starts_with("421 4.3.2 not now"));
    /// proxy.remove_fault("refuse")?;
    /// assert!(banner()?.starts_with("220 "));
    /// // A typo is located.
    /// let err = proxy.add_fault("slow", "latncy: 1s").unwrap_err();
    /// assert!(err.to_string().starts_with("<inline>:1:1: unknown field `latncy`"), "{err}");
    /// # Ok(()) }
    /// ```
    pub fn add_fault(&self, name: &str, yaml: &str) -> Result<(), ScenarioError> {
        self.add(Section::Faults, name, yaml)
    }

    /// Remove the fault named `name` (one [`add_fault`](Self::add_fault)
    /// added, or one of the profile's own, as [`faults`](Self::faults)
    /// lists them) for connections that start from now on.
    ///
    /// ```
    /// # use smtp_harness::{MockProxy, MockServer, Profile, Scenario};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = MockServer::start_blocking(Scenario::default())?;
    /// let profile = Profile::from_yaml("faults:\n  - name: slow\n    latency: 50ms\n")?;
    /// let proxy = MockProxy::start_blocking(server.addr(), profile)?;
    /// proxy.remove_fault("slow")?;
    /// assert!(proxy.faults().is_empty());
    /// assert!(proxy.remove_fault("slow").is_err());
    /// # Ok(()) }
    /// ```
    pub fn remove_fault(&self, name: &str) -> Result<(), ScenarioError> {
        self.remove(Section::Faults, name)
    }

    /// The names of the faults new connections get, in order (an unnamed
    /// fault of the profile is named by its kind, e.g. `latency`).
    ///
    /// ```
    /// # use smtp_harness::{MockProxy, MockServer, Profile, Scenario};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = MockServer::start_blocking(Scenario::default())?;
    /// let profile = Profile::from_yaml("faults:\n  - latency: 50ms\n")?;
    /// let proxy = MockProxy::start_blocking(server.addr(), profile)?;
    /// proxy.add_fault("cut", "{close_after: 100, direction: upstream}")?;
    /// assert_eq!(proxy.faults(), ["latency", "cut"]);
    /// # Ok(()) }
    /// ```
    pub fn faults(&self) -> Vec<String> {
        self.shared.names(Section::Faults)
    }

    /// Add one reply rule (a `replies:` entry, YAML or JSON) named `name`,
    /// tried before the others, for connections that start from now on.
    ///
    /// ```
    /// use smtp_harness::{MockProxy, MockServer, Profile, Scenario};
    /// use std::io::{BufRead, BufReader};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = MockServer::start_blocking(Scenario::default())?;
    /// let proxy = MockProxy::start_blocking(server.addr(), Profile::default())?;
    /// proxy.add_reply_rule("hide", "verb: BANNER\nreply: 220 mail.example ESMTP")?;
    /// assert_eq!(proxy.reply_rules(), ["hide"]);
    /// let mut banner = String::new();
    /// BufReader::new(std::net::TcpStream::connect(proxy.addr())?).read_line(&mut banner)?;
    /// assert_eq!(banner, "220 mail.example ESMTP\r\n");
    /// # Ok(()) }
    /// ```
    pub fn add_reply_rule(&self, name: &str, yaml: &str) -> Result<(), ScenarioError> {
        self.add(Section::Replies, name, yaml)
    }

    /// Remove the reply rule named `name` for connections that start from now on.
    ///
    /// ```
    /// # use smtp_harness::{MockProxy, MockServer, Profile, Scenario};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = MockServer::start_blocking(Scenario::default())?;
    /// # let proxy = MockProxy::start_blocking(server.addr(), Profile::default())?;
    /// proxy.add_reply_rule("no-550", "{code: 550, reply: 450 4.7.1 later}")?;
    /// proxy.remove_reply_rule("no-550")?;
    /// assert!(proxy.reply_rules().is_empty());
    /// # Ok(()) }
    /// ```
    pub fn remove_reply_rule(&self, name: &str) -> Result<(), ScenarioError> {
        self.remove(Section::Replies, name)
    }

    /// The names of the reply rules new connections get, in the order they
    /// are tried.
    ///
    /// ```
    /// # use smtp_harness::{MockProxy, MockServer, Profile, Scenario};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = MockServer::start_blocking(Scenario::default())?;
    /// let proxy = MockProxy::start_blocking(server.addr(), Profile::bundled("transparent")?)?;
    /// assert!(proxy.reply_rules().is_empty());
    /// # Ok(()) }
    /// ```
    pub fn reply_rules(&self) -> Vec<String> {
        self.shared.names(Section::Replies)
    }

    fn add(&self, section: Section, name: &str, yaml: &str) -> Result<(), ScenarioError> {
        self.shared
            .add_entry(section, Some(name), yaml)
            .map(drop)
            .map_err(located)
    }

    fn remove(&self, section: Section, name: &str) -> Result<(), ScenarioError> {
        self.shared.remove_entry(section, name).map_err(located)
    }
}

/// A refused edit as the profile language's error: its own problems, or
/// one saying what was wrong with the name.
fn located(e: EditError) -> ScenarioError {
    match e {
        EditError::Unreadable(e) | EditError::Invalid(e) => e,
        other => Problem::file("<inline>", other.to_string()).into(),
    }
}

impl ExpectationTarget for MockProxy {}

impl crate::expect::sealed::Parts for MockProxy {
    fn expectation_parts(&self) -> crate::expect::sealed::Mount<'_> {
        self.core.expectation_parts()
    }
}
