//! The fake server's I/O: a listener that never stops accepting, and one task
//! per connection that feeds the session engine.
//!
//! Shutdown follows mini-redis: the caller passes a future; when it resolves
//! every connection is told through a `watch`, answers 421 and closes, and
//! `run` returns once they are all gone (or after a grace period).

mod connection;
pub mod maildir;

use crate::scenario::Scenario;
use crate::transcript::Recorder;
use maildir::Maildir;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Everything a connection needs, shared by all of them.
#[derive(Debug)]
pub struct Shared {
    scenario: RwLock<Scenario>,
    /// Where sessions and messages are recorded.
    pub recorder: Recorder,
    /// Where accepted mail is also written, if anywhere.
    pub maildir: Option<Maildir>,
}

impl Shared {
    /// Shared state for a server running `scenario`.
    pub fn new(scenario: Scenario, recorder: Recorder, maildir: Option<Maildir>) -> Shared {
        Shared {
            scenario: RwLock::new(scenario),
            recorder,
            maildir,
        }
    }

    /// The scenario new sessions get.
    pub fn scenario(&self) -> Scenario {
        self.scenario
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Swap the scenario; running sessions finish with the one they started with.
    pub fn set_scenario(&self, scenario: Scenario) {
        *self.scenario.write().unwrap_or_else(|e| e.into_inner()) = scenario;
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
