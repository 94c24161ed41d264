//! `smtp-harness replay`: `serve` plus a divergence report per session.

use super::args::ReplayArgs;
use smtp_harness::transcript::{EventKind, LiveWriter, SessionRecord, Sink};
use std::fmt::Write;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

/// Prints, when a session ends, where its client strayed from the capture:
/// on stdout through a bounded queue, since this runs on the event loop and
/// stdout may be a pipe nobody reads.
struct DivergenceReport {
    json: bool,
}

/// The report's writer, started with the first report.
fn stdout() -> Option<&'static LiveWriter> {
    static STDOUT: OnceLock<Option<LiveWriter>> = OnceLock::new();
    STDOUT
        .get_or_init(|| LiveWriter::spawn(Box::new(std::io::stdout()), "stdout").ok())
        .as_ref()
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
        if let Some(stdout) = stdout().filter(|_| !out.is_empty()) {
            stdout.write(out);
        }
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
    match smtp_harness::Scenario::resolve(&args.serve.scenario) {
        Ok(s) if s.plan().replay.is_empty() => {
            eprintln!(
                "{}: no `replay:` sessions to replay (`smtp-harness import` a capture first; `serve` runs scenarios without one)",
                args.serve.scenario
            );
            return Ok(ExitCode::from(1));
        }
        // `serve` reports a scenario that does not load.
        _ => {}
    }
    let report: Arc<dyn Sink> = Arc::new(DivergenceReport { json: args.json });
    super::serve::run(args.serve, vec![report])
}
