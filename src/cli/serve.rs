//! `smtp-harness serve`: a fake server until Ctrl-C or SIGTERM.

use super::args::{ColorChoice, KeepArgs, ServeArgs};
use crate::Scenario;
use crate::control::{Kind, Target};
use crate::expect::ExpectationSet;
use crate::server::{self, Shared, maildir::Maildir};
use crate::transcript::{JsonLinesSink, Keep, Recorder, Retention, Sink, TextSink};
use anyhow::Context;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

/// A long-running server keeps this many recent sessions in memory.
const KEEP_SESSIONS: usize = 1000;

impl KeepArgs {
    pub fn keep(&self) -> Keep {
        Keep {
            session_events: self.session_events,
            total_events: self.total_events,
            message_memory: self.message_memory,
            messages_memory: self.messages_memory,
            messages_disk: self.messages_disk,
        }
    }
}

pub fn color_enabled(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    }
}

/// Serve until a signal (or `done`); `extra` sinks see every event too.
pub fn run(
    args: ServeArgs,
    extra: Vec<Arc<dyn Sink>>,
    done: Option<super::control::Stopped>,
) -> anyhow::Result<ExitCode> {
    if args.busy_poll > 0 && args.threads > 1 {
        anyhow::bail!("--busy-poll works with one event loop; drop --threads or --busy-poll");
    }
    let scenario = match Scenario::resolve(&args.scenario) {
        Ok(s) => s,
        Err(e) => {
            errln!("{e}");
            return Ok(ExitCode::from(1));
        }
    };
    let live = live_sinks(args.quiet, args.color, args.transcript.as_deref())?;
    let mut sinks = extra;
    sinks.extend(live.sinks.iter().cloned());
    let maildir = match &args.maildir {
        Some(dir) => Some(
            Maildir::new(dir).with_context(|| format!("cannot use maildir {}", dir.display()))?,
        ),
        None => None,
    };
    let recorder = Recorder::new(Retention::Last(KEEP_SESSIONS), sinks);
    recorder.pin(args.keep.keep());
    let shared = Arc::new(Shared::new(scenario.clone(), recorder, maildir)?);
    // The scenario's `expect:` list counts what is recorded; `--control` reports it.
    let expectations = ExpectationSet::for_server(&shared);
    let mut target = Target::new(Kind::Server(Arc::clone(&shared)), expectations.clone());
    target.files = super::control::files_dir(args.control.files.as_deref())?;
    let runtime = runtime(args.threads)?;
    let served = Arc::clone(&shared);
    runtime.block_on(async move {
        let shared = served;
        if args.busy_poll > 0 {
            let window = std::time::Duration::from_micros(u64::from(args.busy_poll));
            tokio::spawn(server::busy_poll::poller(window));
        }
        if let Some(release) = super::RELEASE_FREED_MEMORY.get().copied() {
            tokio::spawn(release_freed_memory(release));
        }
        let signal = super::control::shutdown_signal()?;
        let (listener, addr) = listen(args.listen)?;
        let control = super::control::bind(&args.control).await?;
        if !args.quiet {
            errln!(
                "=== serving scenario {} on {addr} (Ctrl-C to stop)",
                scenario.name()
            );
        }
        super::control::until_signal(control, target, signal, done, |stopped| {
            server::run(listener, Arc::clone(&shared), stopped)
        })
        .await;
        anyhow::Ok(())
    })?;
    // A scenario's `expect:` list is checked once everything has ended.
    let met = super::control::report(&expectations, &shared.recorder.transcript());
    live.finish()?;
    if !met {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Once a second, hand memory freed by the sessions back to the system.
async fn release_freed_memory(release: fn()) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        release();
    }
}

/// The runtime for a long-running server: a single-threaded event loop by
/// default, because on a small machine the work-stealing scheduler's
/// cross-thread wake-ups cost more per session than the sessions themselves
/// (see docs/PERFORMANCE.md).
pub fn runtime(threads: u16) -> anyhow::Result<tokio::runtime::Runtime> {
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(usize::from(threads))
            .enable_all()
            .build()
    };
    runtime.context("cannot start the runtime")
}

/// The live transcript on stderr (unless `quiet`) and a JSON Lines file.
pub fn live_sinks(
    quiet: bool,
    color: ColorChoice,
    transcript: Option<&std::path::Path>,
) -> anyhow::Result<LiveSinks> {
    let mut sinks: Vec<Arc<dyn Sink>> = Vec::new();
    if !quiet {
        let text = TextSink::new(Box::new(std::io::stderr()), "stderr", color_enabled(color))
            .context("cannot start the live transcript")?;
        sinks.push(Arc::new(text));
    }
    let file = match transcript {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("cannot create transcript {}", path.display()))?;
            let sink = Arc::new(JsonLinesSink::new(
                Box::new(file),
                path.display().to_string(),
            ));
            sinks.push(Arc::clone(&sink) as Arc<dyn Sink>);
            Some(sink)
        }
        None => None,
    };
    Ok(LiveSinks {
        sinks,
        transcript: file,
    })
}

/// The sinks of `serve` and `proxy`, and a hold on the transcript file's.
pub struct LiveSinks {
    pub sinks: Vec<Arc<dyn Sink>>,
    transcript: Option<Arc<JsonLinesSink>>,
}

impl LiveSinks {
    /// At exit: flush the transcript file, and fail if it is incomplete
    /// (its write error was reported on stderr when it happened; the
    /// process goes on serving, then exits non-zero).
    pub fn finish(&self) -> anyhow::Result<()> {
        if let Some(file) = &self.transcript {
            file.flush();
            if let Some(e) = file.error() {
                anyhow::bail!("{e}");
            }
        }
        Ok(())
    }
}

/// Bind, warn when reachable from other hosts, and print `listening on
/// ADDR` as the first line of stdout (scripts and tests read it).
pub fn listen(
    addr: std::net::SocketAddr,
) -> anyhow::Result<(tokio::net::TcpListener, std::net::SocketAddr)> {
    let listener = crate::server::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() {
        errln!("smtp-harness: warning: listening on {addr}, which is reachable from other hosts");
    }
    outln!("listening on {addr}")?;
    Ok((listener, addr))
}
