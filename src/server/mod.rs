//! The fake server's I/O: a listener that never stops accepting, and one task
//! per connection that feeds the session engine.
//!
//! Shutdown follows mini-redis: the caller passes a future; when it resolves
//! every connection is told through a `watch`, answers 421 and closes, and
//! `run` returns once they are all gone (or after a grace period).

pub mod busy_poll;
mod connection;
pub mod listener;
pub mod maildir;
pub mod tls;

use crate::expect::ExpectationSet;
use crate::scenario::Scenario;
use crate::session::armed::OneShotFaults;
use crate::transcript::Recorder;
use maildir::Maildir;
use std::future::Future;
use std::sync::{Arc, RwLock};
use tls::{TlsMaterial, TlsSetupError};
use tokio::net::TcpListener;

/// The scenario new sessions get, with its TLS material.
#[derive(Debug, Clone)]
pub(crate) struct Current {
    pub scenario: Scenario,
    pub tls: Option<TlsMaterial>,
}

/// Everything a connection needs, shared by all of them.
#[derive(Debug)]
pub struct Shared {
    current: RwLock<Current>,
    /// Where sessions and messages are recorded.
    pub recorder: Recorder,
    /// Where accepted mail is also written, if anywhere.
    pub maildir: Option<Maildir>,
    /// Expectations mounted by tests and the scenario's `expect:` list.
    pub expectations: ExpectationSet,
    /// One-shot faults armed at runtime (the control API), handed to every
    /// session, which takes them as input.
    pub faults: Arc<OneShotFaults>,
    /// The only directory scenarios sent to the control API may name files
    /// in (`--control-files`); `None`: they may name none.
    pub control_files: Option<std::path::PathBuf>,
}

impl Shared {
    /// Shared state for a server running `scenario` (its TLS material is
    /// made here: a self-signed certificate, or the scenario's files).
    pub fn new(
        scenario: Scenario,
        recorder: Recorder,
        maildir: Option<Maildir>,
    ) -> Result<Shared, TlsSetupError> {
        let tls = TlsMaterial::for_plan(scenario.plan())?;
        recorder.follow(scenario.plan().limits.keep);
        let expectations = ExpectationSet::default();
        expectations.set_scenario(scenario.expectations(), 0);
        recorder.watch(expectations.counter());
        Ok(Shared {
            current: RwLock::new(Current { scenario, tls }),
            recorder,
            maildir,
            expectations,
            faults: Arc::default(),
            control_files: None,
        })
    }

    pub(crate) fn current(&self) -> Current {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The scenario new sessions get.
    pub fn scenario(&self) -> Scenario {
        self.current().scenario
    }

    /// The certificate (PEM) clients must trust for STARTTLS, if the scenario has TLS.
    pub fn tls_certificate_pem(&self) -> Option<String> {
        self.current().tls.map(|t| t.cert_pem.to_string())
    }

    /// Swap the scenario; running sessions finish with the one they started
    /// with. The new scenario's `expect:` list replaces the old one's and
    /// counts from now (an identical list keeps counting).
    pub fn set_scenario(&self, scenario: Scenario) -> Result<(), TlsSetupError> {
        let tls = TlsMaterial::for_plan(scenario.plan())?;
        self.follow(&scenario);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Current { scenario, tls };
        Ok(())
    }

    /// Swap the scenario only if it is still `expected` (compared by
    /// identity), for read-modify-write changes such as adding a rule;
    /// `Ok(false)` when someone else swapped it in between.
    pub fn replace_scenario(
        &self,
        expected: &Scenario,
        scenario: Scenario,
    ) -> Result<bool, TlsSetupError> {
        let tls = TlsMaterial::for_plan(scenario.plan())?;
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if !current.scenario.same_as(expected) {
            return Ok(false);
        }
        self.follow(&scenario);
        *current = Current { scenario, tls };
        Ok(true)
    }

    /// What a swapped-in scenario changes besides the sessions it starts:
    /// its `expect:` list counts from now, its `limits.keep` bounds the
    /// recorder.
    fn follow(&self, scenario: &Scenario) {
        self.expectations
            .set_scenario(scenario.expectations(), self.recorder.now_us());
        self.recorder.follow(scenario.plan().limits.keep);
    }
}

/// The listen backlog. mio's default of 128 overflows under a load
/// generator opening hundreds of connections at once; each overflow costs
/// the client a SYN retry of a second or more (see docs/PERFORMANCE.md).
pub const LISTEN_BACKLOG: u32 = 4096;

/// Bind a listener with [`LISTEN_BACKLOG`] (and address reuse, so a
/// restarted server gets its port back at once).
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serve until `shutdown` resolves.
pub async fn run(listener: TcpListener, shared: Arc<Shared>, shutdown: impl Future) {
    let serving = Arc::clone(&shared);
    listener::accept_loop(listener, shutdown, move |c| {
        connection::serve(
            c.stream,
            c.peer,
            c.local,
            c.running,
            Arc::clone(&serving),
            c.stop,
        )
    })
    .await;
    shared.recorder.flush();
}
