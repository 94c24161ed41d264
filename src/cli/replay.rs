//! `smtp-harness replay`: `serve` plus a divergence report per session.

use super::args::ReplayArgs;
use smtp_harness::transcript::{EventKind, LiveWriter, SessionRecord, Sink};
use std::fmt::Write;
use std::process::ExitCode;
use std::sync::Arc;

/// Prints, when a session ends, where its client strayed from the capture:
/// on stdout through a bounded queue, since this runs on the event loop and
/// stdout may be a pipe nobody reads.
struct DivergenceReport {
    json: bool,
    out: LiveWriter,
}

impl Sink for DivergenceReport {
    fn event(&self, _event: &smtp_harness::transcript::Event) {}

    fn session_end(&self, session: &SessionRecord) {
        let mut out = String::new();
        let mut count = 0;
        for e in &session.events {
            let EventKind::Divergence {
                step,
                expected,
                got,
            } = &e.kind
            else {
                continue;
            };
            count += 1;
            let _ = if self.json {
                let v = serde_json::json!({"session": session.id, "step": step, "expected": expected, "got": got});
                writeln!(out, "{v}")
            } else {
                writeln!(
                    out,
                    "session {}: step {step}: expected {expected:?}, got {got:?}",
                    session.id
                )
            };
        }
        if !self.json {
            let _ = match count {
                0 => writeln!(
                    out,
                    "session {}: the client did what the captured client did",
                    session.id
                ),
                n => writeln!(out, "session {}: {n} divergence(s)", session.id),
            };
        }
        if !out.is_empty() {
            self.out.write(out);
        }
    }

    fn flush(&self) {
        self.out.flush();
    }
}

pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let out = LiveWriter::spawn(Box::new(std::io::stdout()), "stdout")?;
    let report: Arc<dyn Sink> = Arc::new(DivergenceReport {
        json: args.json,
        out,
    });
    super::serve::run(args.serve, vec![report])
}
