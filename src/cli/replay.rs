//! `smtp-harness replay`: `serve` plus a divergence report per session.

use super::args::ReplayArgs;
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
    /// Divergences so far of each running session.
    counts: Mutex<HashMap<u64, usize>>,
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
            let v = serde_json::json!({"session": session, "step": step, "expected": expected, "got": got});
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
        if self.json {
            return;
        }
        say(match count {
            0 => format!(
                "session {}: the client did what the captured client did\n",
                session.id
            ),
            n => format!("session {}: {n} divergence(s)\n", session.id),
        });
    }

    fn flush(&self) {
        if let Some(stdout) = stdout() {
            stdout.flush();
        }
    }
}

pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    // Without captured sessions a replay is a default server, and a test
    // against it would pass for reasons no capture showed.
    match crate::Scenario::resolve(&args.serve.scenario) {
        Ok(s) if s.plan().replay.is_empty() => {
            errln!(
                "{}: no `replay:` sessions to replay (`smtp-harness import` a capture first; `serve` runs scenarios without one)",
                args.serve.scenario
            );
            return Ok(ExitCode::from(1));
        }
        // `serve` reports a scenario that does not load.
        _ => {}
    }
    let report: Arc<dyn Sink> = Arc::new(DivergenceReport {
        json: args.json,
        counts: Mutex::default(),
    });
    super::serve::run(args.serve, vec![report])
}
