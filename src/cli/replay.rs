//! `smtp-harness replay`: `serve` plus a divergence report per session.

use super::args::ReplayArgs;
use smtp_harness::transcript::{EventKind, SessionRecord, Sink};
use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

/// Prints each divergence as it happens, and a count when a session ends:
/// from the live events, not the kept transcript, whose middle may have
/// been dropped (`limits.session_events`).
struct DivergenceReport {
    json: bool,
    /// Divergences so far of each running session.
    counts: Mutex<HashMap<u64, usize>>,
}

impl Sink for DivergenceReport {
    fn event(&self, event: &smtp_harness::transcript::Event) {
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
        let mut out = std::io::stdout().lock();
        let _ = if self.json {
            let v = serde_json::json!({"session": session, "step": step, "expected": expected, "got": got});
            writeln!(out, "{v}")
        } else {
            writeln!(
                out,
                "session {session}: step {step}: expected {expected:?}, got {got:?}"
            )
        };
        let _ = out.flush();
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
        let mut out = std::io::stdout().lock();
        let _ = match count {
            0 => writeln!(
                out,
                "session {}: the client did what the captured client did",
                session.id
            ),
            n => writeln!(out, "session {}: {n} divergence(s)", session.id),
        };
        let _ = out.flush();
    }
}

pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let report: Arc<dyn Sink> = Arc::new(DivergenceReport {
        json: args.json,
        counts: Mutex::default(),
    });
    super::serve::run(args.serve, vec![report])
}
