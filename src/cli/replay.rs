//! `smtp-harness replay`: `serve` plus a divergence report per session, and
//! an exit status a CI job can gate on (`--sessions N` stops after N).

use super::args::ReplayArgs;
use crate::session::replay_entry;
use crate::transcript::{EventKind, LiveWriter, SessionRecord, Sink};
use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, OnceLock};

/// Prints each divergence as it happens, and a count when a session ends:
/// from the live events, not the kept transcript, whose middle may have
/// been dropped (`limits.session_events`). On stdout through a bounded
/// queue, since this runs on the event loop and stdout may be a pipe nobody
/// reads.
struct DivergenceReport {
    json: bool,
    /// How many captured sessions the scenario holds (session N plays
    /// entry (N-1) mod this).
    captured: usize,
    /// Divergences so far of each running session.
    counts: Mutex<HashMap<u64, usize>>,
    /// Ended sessions: how many, how many diverged.
    tally: Mutex<Tally>,
    /// `--sessions N`: told once N sessions have ended.
    enough: Option<(u64, tokio::sync::watch::Sender<bool>)>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    ended: u64,
    diverged: u64,
}

/// The report's writer, started with the first report.
fn stdout() -> Option<&'static LiveWriter> {
    static STDOUT: OnceLock<Option<LiveWriter>> = OnceLock::new();
    STDOUT
        .get_or_init(|| LiveWriter::spawn(Box::new(std::io::stdout()), "stdout").ok())
        .as_ref()
}

fn say(text: String) {
    if let Some(stdout) = stdout() {
        stdout.write(text);
    }
}

impl Sink for DivergenceReport {
    fn event(&self, event: &crate::transcript::Event) {
        let EventKind::Divergence {
            step,
            expected,
            got,
        } = &event.kind
        else {
            return;
        };
        let session = event.session;
        *self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(session)
            .or_default() += 1;
        say(if self.json {
            let v = serde_json::json!({"event": "divergence", "session": session, "step": step, "expected": expected, "got": got});
            format!("{v}\n")
        } else {
            format!("session {session}: step {step}: expected {expected:?}, got {got:?}\n")
        });
    }

    fn session_end(&self, session: &SessionRecord) {
        let count = self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&session.id)
            .unwrap_or(0);
        // With `--sessions N` the verdict is the first N sessions (accept
        // order); one that began after them is cut short by the stop and
        // reported, not counted.
        let counted = self.enough.as_ref().is_none_or(|(n, _)| session.id <= *n);
        let tally = {
            let mut tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
            if counted {
                tally.ended += 1;
                tally.diverged += u64::from(count > 0);
            }
            *tally
        };
        let capture = replay_entry(session.id, self.captured);
        say(if self.json {
            let v = serde_json::json!({"event": "session", "session": session.id, "capture": capture, "divergences": count, "matched": count == 0});
            format!("{v}\n")
        } else {
            match count {
                0 => format!(
                    "session {}: the client did what the captured client did\n",
                    session.id
                ),
                n => format!("session {}: {n} divergence(s)\n", session.id),
            }
        });
        if let Some((wanted, done)) = &self.enough
            && tally.ended >= *wanted
        {
            let _ = done.send(true);
        }
    }

    fn flush(&self) {
        if let Some(stdout) = stdout() {
            stdout.flush();
        }
    }
}

impl DivergenceReport {
    /// The last lines: how many sessions ended and diverged. `true` when
    /// the replay passed (every session matched, and `--sessions N` ended).
    fn summary(&self) -> bool {
        let tally = *self.tally.lock().unwrap_or_else(|e| e.into_inner());
        let wanted = self.enough.as_ref().map(|(n, _)| *n);
        let short = wanted.is_some_and(|n| tally.ended < n);
        let passed = tally.diverged == 0 && !short;
        say(if self.json {
            let v = serde_json::json!({"event": "summary", "sessions": tally.ended, "wanted": wanted, "diverged": tally.diverged, "matched": passed});
            format!("{v}\n")
        } else {
            let mut text = format!(
                "replay: {} session(s) ended, {} diverged",
                tally.ended, tally.diverged
            );
            if let (true, Some(n)) = (short, wanted) {
                text.push_str(&format!("; stopped before the {n} session(s) asked for"));
            }
            text.push_str(if passed { ": passed\n" } else { ": FAILED\n" });
            text
        });
        self.flush();
        passed
    }
}

pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    // Without captured sessions a replay is a default server, and a test
    // against it would pass for reasons no capture showed.
    let captured = match crate::Scenario::resolve(&args.serve.scenario) {
        Ok(s) if s.plan().replay.is_empty() => {
            errln!(
                "{}: no `replay:` sessions to replay (`smtp-harness import` a capture first; `serve` runs scenarios without one)",
                args.serve.scenario
            );
            return Ok(ExitCode::from(1));
        }
        Ok(s) => s.plan().replay.len(),
        // `serve` reports a scenario that does not load.
        Err(_) => 0,
    };
    let (done, enough) = match args.sessions {
        Some(n) => {
            let (tx, mut rx) = tokio::sync::watch::channel(false);
            let done: super::control::Stopped = Box::pin(async move {
                let _ = rx.wait_for(|d| *d).await;
            });
            (Some(done), Some((n, tx)))
        }
        None => (None, None),
    };
    let report = Arc::new(DivergenceReport {
        json: args.json,
        captured,
        counts: Mutex::default(),
        tally: Mutex::default(),
        enough,
    });
    let sink: Arc<dyn Sink> = Arc::clone(&report) as Arc<dyn Sink>;
    let served = super::serve::run(args.serve, vec![sink], done)?;
    if captured == 0 {
        return Ok(served);
    }
    let passed = report.summary();
    // An unmet `expect:` entry or a transcript that could not be written
    // says so with its own status.
    if served != ExitCode::SUCCESS {
        return Ok(served);
    }
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
