//! `smtp-harness proxy`: an interfering middlebox until Ctrl-C or SIGTERM.

use super::args::ProxyArgs;
use super::serve::{listen, live_sinks};
use crate::Profile;
use crate::control::{Kind, Target};
use crate::expect::ExpectationSet;
use crate::proxy::{self, Shared};
use crate::transcript::{Recorder, Retention};
use anyhow::Context;
use std::process::ExitCode;
use std::sync::Arc;

/// A long-running proxy keeps this many recent sessions in memory.
pub const KEEP_SESSIONS: usize = 1000;

pub fn run(args: ProxyArgs) -> anyhow::Result<ExitCode> {
    if let Some(config) = args.config.clone() {
        return super::proxies::run(&config, &args);
    }
    let Some(upstream) = args.upstream.clone() else {
        anyhow::bail!("--upstream HOST:PORT is required (or --config FILE for several proxies)");
    };
    let profile = match Profile::resolve(&args.profile) {
        Ok(p) => p,
        Err(e) => {
            errln!("{e}");
            return Ok(ExitCode::from(1));
        }
    };
    let live = live_sinks(args.quiet, args.color, args.transcript.as_deref())?;
    // Recording needs every session until shutdown.
    let retention = if args.record.is_some() {
        Retention::All
    } else {
        Retention::Last(KEEP_SESSIONS)
    };
    let recorder = Recorder::new(retention, live.sinks.clone());
    recorder.pin(args.keep.keep());
    let record = args.record.clone().map(|path| (path, recorder.clone()));
    let expectations = ExpectationSet::watching(&recorder);
    let shared = Arc::new(Shared::new(profile.clone(), upstream.clone(), recorder));
    let mut target = Target::new(Kind::Proxy(Arc::clone(&shared)), expectations.clone());
    target.files = super::control::files_dir(args.control.files.as_deref())?;
    let runtime = super::serve::runtime(args.threads)?;
    let served = Arc::clone(&shared);
    runtime.block_on(async move {
        let shared = served;
        let signal = super::control::shutdown_signal()?;
        let (listener, addr) = listen(args.listen)?;
        target.listen = Some(addr);
        let control = super::control::bind(&args.control).await?;
        if !args.quiet {
            errln!(
                "=== proxying {addr} -> {upstream} with profile {} (Ctrl-C to stop)",
                profile.name()
            );
        }
        super::control::until_signal(control, target, signal, None, |stopped| {
            proxy::run(listener, Arc::clone(&shared), stopped)
        })
        .await;
        anyhow::Ok(())
    })?;
    if let Some((path, recorder)) = record {
        let name = path.display().to_string();
        let (yaml, warnings) =
            crate::import::record::scenario_from_proxy(&recorder.transcript(), &name)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        std::fs::write(&path, yaml).with_context(|| format!("cannot write {name}"))?;
        for w in warnings {
            errln!("smtp-harness: {w}");
        }
        errln!(
            "=== recorded {} session(s) to {name}",
            recorder.transcript().sessions.len()
        );
    }
    let met = super::control::report(&expectations, &shared.recorder.transcript());
    live.finish()?;
    if !met {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
