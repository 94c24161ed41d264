//! `smtp-harness proxy --config proxies.yaml`: several named proxies in one
//! process and one runtime, each its own accept loop over the one proxy
//! stack ([`proxy::run`]), its own recorder and expectations, all behind
//! one control API (`/proxies/{name}/…`).

use super::args::ProxyArgs;
use super::proxy::KEEP_SESSIONS;
use super::serve::live_sinks;
use crate::control::{Kind, Target, Targets};
use crate::expect::ExpectationSet;
use crate::proxy::config::Configured;
use crate::proxy::{self, Shared};
use crate::transcript::{Labelled, Recorder, Retention, Sink};
use anyhow::Context;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::sync::watch;

/// One configured proxy, ready to serve.
struct Running {
    name: String,
    shared: Arc<Shared>,
    expectations: ExpectationSet,
}

pub fn run(config: &Path, args: &ProxyArgs) -> anyhow::Result<ExitCode> {
    let configured = match proxy::config::load(config) {
        Ok(c) => c,
        Err(e) => {
            errln!("{e}");
            return Ok(ExitCode::from(1));
        }
    };
    let live = live_sinks(args.quiet, args.color, args.transcript.as_deref())?;
    let proxies: Vec<Running> = configured
        .iter()
        .map(|c| start(c, &live.sinks, args))
        .collect();
    let files = super::control::files_dir(args.control.files.as_deref())?;
    let runtime = super::serve::runtime(args.threads)?;
    runtime.block_on(serve(&configured, &proxies, files, args))?;
    let mut met = true;
    for p in &proxies {
        met &= super::control::report(&p.expectations, &p.shared.recorder.transcript());
    }
    live.finish()?;
    Ok(if met {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A proxy's state: its own recorder, whose events reach the live sinks
/// labelled with its name.
fn start(c: &Configured, sinks: &[Arc<dyn Sink>], args: &ProxyArgs) -> Running {
    let sinks = sinks
        .iter()
        .map(|s| Arc::new(Labelled::new(c.name.clone(), Arc::clone(s))) as Arc<dyn Sink>)
        .collect();
    let recorder = Recorder::new(Retention::Last(KEEP_SESSIONS), sinks);
    recorder.pin(args.keep.keep());
    let expectations = ExpectationSet::watching(&recorder);
    Running {
        name: c.name.clone(),
        shared: Arc::new(Shared::new(c.profile.clone(), c.upstream.clone(), recorder)),
        expectations,
    }
}

/// Bind every proxy (printing `proxy NAME listening on ADDR` for each),
/// then the control API, and relay until a signal.
async fn serve(
    configured: &[Configured],
    proxies: &[Running],
    files: Option<std::path::PathBuf>,
    args: &ProxyArgs,
) -> anyhow::Result<()> {
    let signal = super::control::shutdown_signal()?;
    let mut listeners = Vec::new();
    let mut targets = Vec::new();
    for (c, p) in configured.iter().zip(proxies) {
        let listener = crate::server::bind(c.listen)
            .with_context(|| format!("proxy {}: cannot listen on {}", c.name, c.listen))?;
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() {
            errln!(
                "smtp-harness: warning: proxy {} listens on {addr}, which is reachable from other hosts",
                c.name
            );
        }
        outln!("proxy {} listening on {addr}", c.name)?;
        if !args.quiet {
            errln!(
                "=== proxy {}: {addr} -> {} with profile {}",
                c.name,
                c.upstream,
                c.profile.name()
            );
        }
        let mut target = Target::new(Kind::Proxy(Arc::clone(&p.shared)), p.expectations.clone());
        target.files = files.clone();
        target.listen = Some(addr);
        targets.push((p.name.clone(), target));
        listeners.push((listener, Arc::clone(&p.shared)));
    }
    let control = super::control::bind(&args.control).await?;
    if !args.quiet {
        errln!("=== {} proxies running (Ctrl-C to stop)", listeners.len());
    }
    super::control::until_signal(
        control,
        Targets::proxies(targets),
        signal,
        None,
        |stopped| run_all(listeners, stopped),
    )
    .await;
    Ok(())
}

/// Every proxy's accept loop, on this runtime, until `stopped`.
async fn run_all(
    listeners: Vec<(tokio::net::TcpListener, Arc<Shared>)>,
    stopped: super::control::Stopped,
) {
    let (stop, stopping) = watch::channel(false);
    let mut loops = tokio::task::JoinSet::new();
    for (listener, shared) in listeners {
        let mut stopping = stopping.clone();
        loops.spawn(proxy::run(listener, shared, async move {
            let _ = stopping.wait_for(|s| *s).await;
        }));
    }
    stopped.await;
    let _ = stop.send(true);
    while loops.join_next().await.is_some() {}
}
