//! The fake server's I/O: a listener that never stops accepting, and one task
//! per connection that feeds the session engine.
//!
//! Shutdown follows mini-redis: the caller passes a future; when it resolves
//! every connection is told through a `watch`, answers 421 and closes, and
//! `run` returns once they are all gone (or after a grace period).

mod connection;
pub mod faults;
pub mod maildir;
pub mod tls;

use crate::expect::ExpectationSet;
use crate::scenario::Scenario;
use crate::transcript::Recorder;
use faults::OneShotFaults;
use maildir::Maildir;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tls::{TlsMaterial, TlsSetupError};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

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
    /// One-shot faults armed at runtime (the control API).
    pub faults: OneShotFaults,
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
        let expectations = ExpectationSet::default();
        expectations.set_scenario(scenario.expectations(), 0);
        Ok(Shared {
            current: RwLock::new(Current { scenario, tls }),
            recorder,
            maildir,
            expectations,
            faults: OneShotFaults::default(),
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
        self.current().tls.map(|t| t.cert_pem)
    }

    /// Swap the scenario; running sessions finish with the one they started
    /// with. The new scenario's `expect:` list replaces the old one's and
    /// counts from now (an identical list keeps counting).
    pub fn set_scenario(&self, scenario: Scenario) -> Result<(), TlsSetupError> {
        let tls = TlsMaterial::for_plan(scenario.plan())?;
        self.expectations
            .set_scenario(scenario.expectations(), self.recorder.now_us());
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
        self.expectations
            .set_scenario(scenario.expectations(), self.recorder.now_us());
        *current = Current { scenario, tls };
        Ok(true)
    }
}

/// How long in-flight sessions get to finish after shutdown is signalled.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serve until `shutdown` resolves.
pub async fn run(listener: TcpListener, shared: Arc<Shared>, shutdown: impl Future) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut backoff = Duration::from_millis(5);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    backoff = Duration::from_millis(5);
                    let _ = stream.set_nodelay(true);
                    let local = stream.local_addr().unwrap_or(peer);
                    let shared = Arc::clone(&shared);
                    let stop = stop_rx.clone();
                    tasks.spawn(connection::serve(stream, peer, local, shared, stop));
                }
                Err(e) => {
                    // EMFILE and friends: back off and keep accepting;
                    // a test server that stops listening fails every test after it.
                    eprintln!("smtp-harness: accept failed: {e}; retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        tasks.abort_all();
    }
    shared.recorder.flush();
}
