//! `smtp-harness demo`: one command, no set-up. A fake Exchange server, an
//! interfering proxy in front of it (a profile, default `pix-mailguard`),
//! and a mail client that sends the same message twice — straight to the
//! server and through the proxy. Printed side by side: what the client sent
//! and saw vs what the server received and answered (the proxy's upstream
//! leg), every change marked, and the probe's verdict on each path.
//! `--html FILE` writes the same story as a sequence diagram; `--serve`
//! then keeps the server and proxy running and prints the web UI's address.
//!
//! Files: `session` (the client), `text` (the terminal view), `html` (the
//! page); the story (transcripts → exchanges) and the sequence diagram are
//! `crate::view`'s, shared with the control API's web UI.

mod html;
mod session;
mod text;

use super::args::{ColorChoice, DemoArgs};
use crate::probe::{self, ProbeOptions, Report};
use crate::{MockProxy, MockServer, Profile, Scenario};
use anyhow::Context;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use crate::view::story;
pub use crate::view::story::Exchange;

/// Every step of the demo's client and probes is bounded by this.
const STEP: Duration = Duration::from_secs(5);

/// Everything the views need.
#[derive(Debug)]
pub struct Demo {
    /// The profile's name.
    pub profile: String,
    /// The upstream scenario's name and a description for people.
    pub server: (String, String),
    /// The session straight to the server.
    pub direct: Vec<Exchange>,
    /// Where the direct client stopped, if it did.
    pub direct_error: Option<String>,
    /// The session through the proxy.
    pub through: Vec<Exchange>,
    /// Where the proxied client stopped, if it did.
    pub through_error: Option<String>,
    /// The probe straight to the server.
    pub probe_direct: Report,
    /// The probe through the proxy.
    pub probe_through: Report,
}

/// The upstream that tells the profile's story best: Exchange 2019 (real
/// STARTTLS) when the profile is about TLS, else Exchange 2003, the server
/// Microsoft's PIX/ASA articles are about.
fn upstream_for(profile: &str) -> (&'static str, &'static str) {
    if profile.to_ascii_lowercase().contains("tls") {
        ("exchange-2019", "Exchange 2019")
    } else {
        ("exchange-2003", "Exchange 2003")
    }
}

/// The demo's server and proxy, kept for `--serve`: the proxied path's
/// server and the proxy in front of it.
struct Kept {
    server: MockServer,
    proxy: MockProxy,
}

async fn play(profile_arg: &str, profile: Profile) -> anyhow::Result<(Demo, Kept)> {
    let (scenario, label) = upstream_for(profile_arg);
    let direct_server = MockServer::start(Scenario::bundled(scenario)?).await?;
    let server = MockServer::start(Scenario::bundled(scenario)?).await?;
    let proxy = MockProxy::start(server.addr(), profile.clone()).await?;

    let (direct_result, through_result) = tokio::join!(
        session::run(direct_server.addr(), STEP),
        session::run(proxy.addr(), STEP)
    );
    let direct_t = direct_server
        .wait_for_sessions_within(1, STEP)
        .await
        .context("the direct session did not end")?;
    let through_t = proxy
        .wait_for_sessions_within(1, STEP)
        .await
        .context("the proxied session did not end")?;
    let direct = direct_t
        .sessions
        .first()
        .map(story::from_server)
        .unwrap_or_default();
    let through = through_t
        .sessions
        .first()
        .map(story::from_proxy)
        .unwrap_or_default();

    let options = ProbeOptions {
        timeout: STEP,
        ..ProbeOptions::default()
    };
    let (probe_direct, probe_through) = tokio::join!(
        probe::probe(direct_server.addr(), &options),
        probe::probe(proxy.addr(), &options)
    );
    let demo = Demo {
        profile: profile.name().to_string(),
        server: (
            scenario.to_string(),
            format!("{label} ({})", host_of(&direct)),
        ),
        direct,
        direct_error: direct_result.err(),
        through,
        through_error: through_result.err(),
        probe_direct,
        probe_through,
    };
    Ok((demo, Kept { server, proxy }))
}

/// `--serve`: the web UI of the proxy and of the server behind it, until
/// Ctrl-C. The demo's sessions (and the probes') are already there.
async fn serve(mut kept: Kept) -> anyhow::Result<()> {
    // Listening for Ctrl-C (and SIGTERM) before the addresses are printed:
    // whoever reads them may stop the demo at once.
    let signal = super::control::shutdown_signal()?;
    let proxy_ui = kept.proxy.start_control().await?;
    let server_ui = kept.server.start_control().await?;
    outln!("\nwatch live: http://{proxy_ui}/ (the proxy: every session through it, both legs)")?;
    outln!("            http://{server_ui}/ (the server behind it: its sessions and messages)")?;
    outln!(
        "send mail through the proxy at {} (e.g. swaks --server {} --to you@example.com); Ctrl-C ends",
        kept.proxy.addr(),
        kept.proxy.addr()
    )?;
    signal.await;
    Ok(())
}

/// The host name the server greets with.
fn host_of(story: &[Exchange]) -> String {
    story
        .first()
        .and_then(|x| x.server_answered.as_ref())
        .and_then(|l| l.first())
        .and_then(|l| l.get(4..))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or("mail")
        .to_string()
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    let profile = match Profile::resolve(&args.profile) {
        Ok(p) => p,
        Err(e) => {
            errln!("{e}");
            return Ok(ExitCode::from(1));
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (demo, kept) = runtime.block_on(play(&args.profile, profile))?;
    out!("{}", text::render(&demo, color))?;
    if let Some(path) = &args.html {
        std::fs::write(path, html::render(&demo))
            .with_context(|| format!("cannot write {}", path.display()))?;
        outln!("\nwrote {}", path.display())?;
    }
    if args.serve {
        runtime.block_on(serve(kept))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// EHLO keywords the client saw (empty when EHLO was refused).
pub(crate) fn keywords(story: &[Exchange]) -> Vec<String> {
    story
        .iter()
        .filter(|x| x.label() == "EHLO")
        .filter_map(|x| x.client_saw.as_ref())
        .find(|l| l.first().is_some_and(|f| f.starts_with("250")))
        .map(|l| {
            l.iter()
                .skip(1)
                .map(|k| k.get(4..).unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}
