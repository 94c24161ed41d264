//! The HTTP control API (`serve`/`proxy --control 127.0.0.1:PORT`): read
//! sessions, messages and expectation results; swap the scenario or profile,
//! add and remove rules, arm one-shot faults, reset — from a test suite in
//! any language. `docs/control.md` documents it; `/openapi.json` describes it.
//!
//! - `http`: the bounded HTTP/1.1 reader and writer.
//! - `guard`: who may drive it (Host, Origin, token, content types).
//! - `routes`: the route table (the OpenAPI test walks it) and the handlers.
//! - `stream`: large answers, written a chunk at a time.
//! - `events`: the Server-Sent Events stream.
//! - `ui`: the web UI at `/` (its files are compiled in, under `ui/`).
//!
//! Every change is recorded in the transcript's control log
//! ([`Transcript::control`](crate::Transcript::control)), so a test can see
//! when it happened relative to sessions.

mod events;
mod guard;
mod messages;
pub(crate) mod mime;
mod profile;
mod proxies;
pub mod http;
pub mod routes;
mod scenario_routes;
mod stream;
mod ui;

pub use events::MAX_EVENT_STREAMS;

use crate::expect::ExpectationSet;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

/// How many requests may be in progress at once (event streams apart:
/// [`MAX_EVENT_STREAMS`]).
pub const MAX_CONNECTIONS: usize = 64;

/// How the API is served.
#[derive(Clone, Default)]
pub struct Options {
    /// Require `Authorization: Bearer TOKEN` on every request (for shared
    /// machines, where other users can reach loopback too).
    pub token: Option<String>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// What the API controls: built by whoever starts it (the harness, the
/// CLI), which also wires the expectations to the recorder.
#[derive(Debug, Clone)]
pub struct Target {
    /// The server or the proxy.
    pub kind: Kind,
    /// What `GET /expectations` reports and `POST /reset` restarts.
    pub expectations: ExpectationSet,
    /// The only directory scenarios or profiles sent to the API may name
    /// files in (`--control-files`); `None`: they may name none.
    pub files: Option<PathBuf>,
    /// Where its SMTP side listens, for `GET /proxies` (`None`: not said).
    pub listen: Option<SocketAddr>,
}

/// What one control API serves: one server or proxy at the root
/// (`/sessions`, …), and the proxies by name under `/proxies/{name}/…`.
#[derive(Debug, Clone)]
pub struct Targets {
    /// Served at the root; `None` for several proxies (`proxy --config`),
    /// whose routes are only under their names.
    pub root: Option<Target>,
    /// The proxies, by name, in the order `GET /proxies` lists them.
    pub proxies: Vec<(String, Target)>,
}

/// The name `GET /proxies` gives a lone proxy (`proxy` without
/// `--config`, [`MockProxy`](crate::MockProxy)).
pub const LONE_PROXY: &str = "default";

impl From<Target> for Targets {
    /// One server or proxy at the root; a proxy is also `/proxies/default/…`.
    fn from(target: Target) -> Targets {
        let proxies = match target.kind {
            Kind::Proxy(_) => vec![(LONE_PROXY.to_string(), target.clone())],
            Kind::Server(_) => Vec::new(),
        };
        Targets {
            root: Some(target),
            proxies,
        }
    }
}

impl Targets {
    /// Several named proxies, none at the root.
    pub fn proxies(proxies: Vec<(String, Target)>) -> Targets {
        Targets {
            root: None,
            proxies,
        }
    }

    /// The proxy named `name`.
    pub(crate) fn proxy(&self, name: &str) -> Option<&Target> {
        self.proxies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t)
    }

    /// The names, for an answer that lists them.
    pub(crate) fn names(&self) -> Vec<&str> {
        self.proxies.iter().map(|(n, _)| n.as_str()).collect()
    }
}

/// The server or proxy state the API reads and changes.
#[derive(Debug, Clone)]
pub enum Kind {
    /// A fake server (`serve`, `replay`, [`MockServer`](crate::MockServer)).
    Server(Arc<crate::server::Shared>),
    /// A proxy (`proxy`, [`MockProxy`](crate::MockProxy)).
    Proxy(Arc<crate::proxy::Shared>),
}

impl Target {
    /// Control `kind`, reporting `expectations`; no files may be named.
    pub fn new(kind: Kind, expectations: ExpectationSet) -> Target {
        Target {
            kind,
            expectations,
            files: None,
            listen: None,
        }
    }

    /// The recorder of sessions and control events.
    pub fn recorder(&self) -> &crate::transcript::Recorder {
        match &self.kind {
            Kind::Server(s) => &s.recorder,
            Kind::Proxy(p) => &p.recorder,
        }
    }
}

/// State shared by the control connections.
#[derive(Debug)]
pub(crate) struct State {
    pub targets: Targets,
    /// Names rules added without one: `control-rule-N`.
    pub next_rule: AtomicU64,
    /// Event streams end when this turns true.
    pub stop: watch::Receiver<bool>,
    /// Who may drive the API.
    pub policy: guard::Policy,
    /// Slots for event streams.
    pub streams: Arc<Semaphore>,
}

/// Is this address safe to serve the API on without `--control-allow-remote`?
pub fn is_local(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// Serve the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    targets: impl Into<Targets>,
    options: Options,
    shutdown: impl Future,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let bound = match listener.local_addr() {
        Ok(a) => a,
        Err(_) => return,
    };
    let state = Arc::new(State {
        targets: targets.into(),
        next_rule: AtomicU64::new(1),
        stop: stop_rx,
        policy: guard::Policy::new(bound, options.token),
        streams: Arc::new(Semaphore::new(MAX_EVENT_STREAMS)),
    });
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let state = Arc::clone(&state);
                    match Arc::clone(&permits).try_acquire_owned() {
                        Ok(permit) => {
                            tasks.spawn(handle(stream, state, permit));
                        }
                        Err(_) => {
                            tasks.spawn(async move {
                                let mut stream = stream;
                                let _ = http::Response::error(503, "too many control connections")
                                    .send(&mut stream)
                                    .await;
                            });
                        }
                    }
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    let _ = stop_tx.send(true);
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(2), drain)
        .await
        .is_err()
    {
        tasks.abort_all();
    }
}

async fn handle(mut stream: TcpStream, state: Arc<State>, permit: OwnedSemaphorePermit) {
    let _ = answer(&mut stream, &state, permit).await;
    // No longer counted against MAX_CONNECTIONS: the answer is out, and
    // closing waits at most a second for the client (http::close).
    let _ = http::close(&mut stream).await;
}

/// Read, check and answer one request (or serve the event stream); the
/// request's slot is given back on return.
async fn answer(
    stream: &mut TcpStream,
    state: &Arc<State>,
    permit: OwnedSemaphorePermit,
) -> std::io::Result<()> {
    let request = match http::read_request(stream).await {
        Ok(r) => r,
        Err(response) => return response.write(stream).await,
    };
    if let Err(refusal) = state.policy.check(&request) {
        return refusal.write(stream).await;
    }
    match proxies::dispatch(state, &request) {
        routes::Outcome::Respond(response) => response.write(stream).await,
        routes::Outcome::Run(job, scope) => stream::run(job, stream, &scope, &request).await,
        routes::Outcome::EventStream(scope) => match Arc::clone(&state.streams).try_acquire_owned() {
            Ok(slot) => {
                // A stream holds its own slot, not one of the requests'.
                drop(permit);
                events::stream(stream, state, scope.target.recorder()).await;
                drop(slot);
                Ok(())
            }
            Err(_) => {
                http::Response::error(
                    503,
                    format!("too many event streams (at most {MAX_EVENT_STREAMS})"),
                )
                .write(stream)
                .await
            }
        },
    }
}
