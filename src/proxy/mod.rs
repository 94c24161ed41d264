//! Proxy mode: an interfering SMTP middlebox between any client and any
//! real server, applying a [`Profile`] the way PIX Mailguard, ASA
//! `inspect esmtp` or a STARTTLS-stripping ISP do.
//!
//! - `model`, `compile`, `profile`, `bundled`: the profile language (YAML,
//!   the scenarios' sibling) and the profiles shipped in the binary.
//! - `policy`: what to do with each command and reply, without I/O;
//!   `rewrite` holds its in-place edits.
//! - `connection`: one relayed connection, carrying the policy's actions
//!   out; `replies` frames the upstream's replies keeping their bytes.
//! - `fault` decides a connection's faults once (the one fault model of
//!   `scenario::faults`); `crate::link` applies them to one
//!   direction; `opaque` relays after a passed-through STARTTLS.
//!
//! Words: the *client leg* is between the client and the proxy, the
//! *upstream leg* between the proxy and the real server. Direction
//! `upstream` is client → server, `downstream` server → client (toxiproxy's).
//!
//! Shutdown works like the server's: the caller's future resolves, every
//! connection is told through a `watch`, answers `421` and closes both legs.

pub mod bundled;
pub mod compile;
pub mod config;
mod connection;
pub mod edit;
pub mod fault;
pub mod model;
mod opaque;
mod policy;
mod profile;
pub mod replies;
pub mod rewrite;

pub use profile::Profile;

use crate::transcript::Recorder;
use std::future::Future;
use std::sync::{Arc, RwLock};
use tokio::net::TcpListener;

/// Everything a relayed connection needs, shared by all of them.
#[derive(Debug)]
pub struct Shared {
    profile: RwLock<Profile>,
    /// `HOST:PORT` of the real server; always this, never an address a
    /// client names (the proxy must not become an open relay).
    pub upstream: String,
    /// Where sessions (both legs) are recorded.
    pub recorder: Recorder,
}

impl Shared {
    /// Shared state for a proxy to `upstream` applying `profile`.
    pub fn new(profile: Profile, upstream: impl Into<String>, recorder: Recorder) -> Shared {
        Shared {
            profile: RwLock::new(profile),
            upstream: upstream.into(),
            recorder,
        }
    }

    /// The profile new connections get.
    pub fn profile(&self) -> Profile {
        self.profile
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Swap the profile; running connections keep the one they started with.
    pub fn set_profile(&self, profile: Profile) {
        *self.profile.write().unwrap_or_else(|e| e.into_inner()) = profile;
    }
}

/// Relay connections until `shutdown` resolves.
pub async fn run(listener: TcpListener, shared: Arc<Shared>, shutdown: impl Future) {
    let serving = Arc::clone(&shared);
    crate::server::listener::accept_loop(listener, shutdown, move |c| {
        connection::serve(c.stream, c.peer, c.local, Arc::clone(&serving), c.stop)
    })
    .await;
    shared.recorder.flush();
}
