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
mod tls_cert;
#[cfg(feature = "legacy-tls")]
mod tls_legacy;
mod tls_rsa;

use crate::scenario::model::ScenarioFile;
use crate::scenario::{Scenario, ScenarioError};
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

/// Told about every scenario swapped in (the harness counts its `expect:`
/// list); called while the swap holds its lock, so hooks see swaps in order.
pub type SwapHook = Arc<dyn Fn(&Scenario) + Send + Sync>;

/// Everything a connection needs, shared by all of them.
pub struct Shared {
    current: RwLock<Current>,
    /// Where sessions and messages are recorded.
    pub recorder: Recorder,
    /// Where accepted mail is also written, if anywhere.
    pub maildir: Option<Maildir>,
    /// One-shot faults armed at runtime (the control API), handed to every
    /// session, which takes them as input.
    pub faults: Arc<OneShotFaults>,
    swap_hooks: RwLock<Vec<SwapHook>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("scenario", &self.scenario().name())
            .field("maildir", &self.maildir)
            .finish_non_exhaustive()
    }
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
        Ok(Shared {
            current: RwLock::new(Current { scenario, tls }),
            recorder,
            maildir,
            faults: Arc::default(),
            swap_hooks: RwLock::new(Vec::new()),
        })
    }

    /// Call `hook` with every scenario swapped in from now on.
    pub fn on_swap(&self, hook: SwapHook) {
        self.swap_hooks
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(hook);
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

    /// The test CA (PEM) that signed the certificate, when the scenario has
    /// `tls.certificate.issuer: test_ca`.
    pub fn tls_ca_certificate_pem(&self) -> Option<String> {
        self.current().tls.and_then(|t| t.ca_pem).map(|p| p.to_string())
    }

    /// Swap the scenario; running sessions finish with the one they started
    /// with. The swap hooks see it (the harness counts its `expect:` list
    /// from now; an identical list keeps counting).
    pub fn set_scenario(&self, scenario: Scenario) -> Result<(), TlsSetupError> {
        let tls = TlsMaterial::for_plan(scenario.plan())?;
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        self.follow(&scenario);
        *current = Current { scenario, tls };
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

    /// Read-modify-write of the scenario (adding or removing a rule): build
    /// a new one from the current model, swap it in only if nobody swapped
    /// in between (else retry a few times). `source` names the result in
    /// problems.
    pub fn edit_scenario<T, E>(
        &self,
        source: &str,
        edit: impl Fn(&mut ScenarioFile) -> Result<T, E>,
    ) -> Result<(Scenario, T), EditError<E>> {
        for _ in 0..8 {
            let current = self.scenario();
            let mut model = current.model().clone();
            let what = edit(&mut model).map_err(EditError::Edit)?;
            let next = Scenario::from_file_model(model, source).map_err(EditError::Invalid)?;
            match self.replace_scenario(&current, next.clone()) {
                Ok(true) => return Ok((next, what)),
                Ok(false) => continue,
                Err(e) => return Err(EditError::Tls(e)),
            }
        }
        Err(EditError::Busy)
    }

    /// What a swapped-in scenario changes besides the sessions it starts:
    /// the swap hooks hear of it, its `limits.keep` bounds the recorder.
    fn follow(&self, scenario: &Scenario) {
        for hook in self
            .swap_hooks
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            hook(scenario);
        }
        self.recorder.follow(scenario.plan().limits.keep);
    }
}

/// Why [`Shared::edit_scenario`] changed nothing.
#[derive(Debug)]
pub enum EditError<E> {
    /// The edit itself refused.
    Edit(E),
    /// The edited scenario does not compile.
    Invalid(ScenarioError),
    /// Its TLS material could not be set up.
    Tls(TlsSetupError),
    /// Others kept swapping the scenario in between.
    Busy,
}

impl<E: std::fmt::Display> std::fmt::Display for EditError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EditError::Edit(e) => e.fmt(f),
            EditError::Invalid(e) => e.fmt(f),
            EditError::Tls(e) => e.fmt(f),
            EditError::Busy => f.write_str("the scenario kept changing; try again"),
        }
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
