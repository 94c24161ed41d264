//! The probe: a reference detector for SMTP interference, in the spirit of
//! the Exchange Server Analyzer's "Possible SMTP proxy detected" check and
//! nmap's SMTP fingerprints.
//!
//! One connection, only harmless commands (see [`verbs`]), every step
//! bounded by [`ProbeOptions::timeout`]; mail is sent only when
//! [`ProbeOptions::send_test`] says so. The result is a [`Report`]: what was
//! seen, the evidence, and a [`Verdict`] (`no interference`, `possible SMTP
//! proxy (masked banner, EHLO refused)`, or `could not probe: …`).
//!
//! ```
//! use smtp_harness::probe::{probe, ProbeOptions, Status};
//! use smtp_harness::{MockProxy, MockServer, Profile, Scenario};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Arrange: Exchange 2003 behind a PIX.
//! let server = MockServer::start(Scenario::bundled("exchange-2003")?).await?;
//! let pix = MockProxy::start(server.addr(), Profile::bundled("pix-mailguard")?).await?;
//! // Act
//! let direct = probe(server.addr(), &ProbeOptions::default()).await;
//! let through = probe(pix.addr(), &ProbeOptions::default()).await;
//! // Assert
//! assert_eq!(direct.verdict.summary, "no interference");
//! assert_eq!(through.verdict.status, Status::Finding);
//! assert!(through.verdict.summary.starts_with("possible SMTP proxy (masked banner, EHLO refused"));
//! # Ok(()) }
//! ```
//!
//! Files: `banner` (classification), `ehlo` (keywords, masked ones),
//! `verbs` (the harmless probes and how to read replies), `run` (the
//! session), `verdict` (evidence and conclusion), `report` (the data and the
//! JSON schema), `render` (human text).

pub mod banner;
pub mod ehlo;
mod render;
pub mod report;
mod run;
pub mod verbs;
mod verdict;

pub use render::render_text;
pub use report::{Report, Status};

use std::net::SocketAddr;
use std::time::Duration;

/// How to probe.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// Bound on each step: connecting, each reply, the TLS handshake.
    pub timeout: Duration,
    /// The name given in EHLO / HELO.
    pub helo_name: String,
    /// The name for the TLS handshake (SNI when it is a DNS name).
    pub server_name: String,
    /// Send one test message from / to these addresses (never by default).
    pub send_test: Option<(String, String)>,
}

impl Default for ProbeOptions {
    fn default() -> ProbeOptions {
        ProbeOptions {
            timeout: Duration::from_secs(5),
            helo_name: "probe.smtp-harness.invalid".to_string(),
            server_name: "localhost".to_string(),
            send_test: None,
        }
    }
}

/// Probe the SMTP service at `addr`. Never fails: a peer that cannot be
/// probed gets a report with [`Status::CouldNotProbe`].
pub async fn probe(addr: SocketAddr, options: &ProbeOptions) -> Report {
    let seen = run::observe(addr, options).await;
    verdict::report(addr.to_string(), seen)
}

/// Probe `HOST:PORT`, resolving the host name first (within the timeout).
/// The host name, when it is one, is used for SNI unless
/// [`ProbeOptions::server_name`] was changed from its default.
pub async fn probe_target(target: &str, options: &ProbeOptions) -> Report {
    let resolved = tokio::time::timeout(options.timeout, tokio::net::lookup_host(target)).await;
    let addr = match resolved {
        Ok(Ok(mut addrs)) => addrs.next(),
        _ => None,
    };
    let Some(addr) = addr else {
        let seen = run::Observed {
            fatal: Some(format!("cannot resolve {target:?} (expected HOST:PORT)")),
            ..run::Observed::default()
        };
        return verdict::report(target.to_string(), seen);
    };
    let mut options = options.clone();
    if let Some((host, _)) = target.rsplit_once(':')
        && options.server_name == ProbeOptions::default().server_name
    {
        options.server_name = host.trim_matches(['[', ']']).to_string();
    }
    let seen = run::observe(addr, &options).await;
    verdict::report(target.to_string(), seen)
}
