//! `smtp-harness proxy`: an interfering middlebox until Ctrl-C or SIGTERM.

use super::args::ProxyArgs;
use super::serve::{color_enabled, shutdown_signal};
use anyhow::Context;
use smtp_harness::Profile;
use smtp_harness::proxy::{self, Shared};
use smtp_harness::transcript::{JsonLinesSink, Recorder, Retention, Sink, TextSink};
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

/// A long-running proxy keeps this many recent sessions in memory.
const KEEP_SESSIONS: usize = 1000;

pub fn run(args: ProxyArgs) -> anyhow::Result<ExitCode> {
    let profile = match Profile::resolve(&args.profile) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(1));
        }
    };
    let mut sinks: Vec<Arc<dyn Sink>> = Vec::new();
    if !args.quiet {
        sinks.push(Arc::new(TextSink::new(
            Box::new(std::io::stderr()),
            color_enabled(args.color),
        )));
    }
    if let Some(path) = &args.transcript {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create transcript {}", path.display()))?;
        sinks.push(Arc::new(JsonLinesSink::new(Box::new(file))));
    }
    let recorder = Recorder::new(Retention::Last(KEEP_SESSIONS), sinks);
    let shared = Arc::new(Shared::new(
        profile.clone(),
        args.upstream.clone(),
        recorder,
    ));
    let runtime = super::serve::runtime(args.threads)?;
    runtime.block_on(async move {
        let listener = smtp_harness::server::bind(args.listen)
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() {
            eprintln!(
                "smtp-harness: warning: listening on {addr}, which is reachable from other hosts"
            );
        }
        println!("listening on {addr}");
        std::io::stdout().flush()?;
        if !args.quiet {
            eprintln!(
                "=== proxying {addr} -> {} with profile {} (Ctrl-C to stop)",
                args.upstream,
                profile.name()
            );
        }
        proxy::run(listener, shared, shutdown_signal()).await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
