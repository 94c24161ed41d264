//! `smtp-harness import CAPTURE [-o FILE] [--format F] [--stream N] [--keep-timing] [--redact]`

use super::args::ImportArgs;
use crate::import::run_import;
use std::process::ExitCode;

fn write(output: &Option<std::path::PathBuf>, text: &str) -> anyhow::Result<()> {
    match output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display())),
        None => {
            out!("{text}")?;
            Ok(())
        }
    }
}

pub fn run(a: ImportArgs) -> anyhow::Result<ExitCode> {
    match run_import(
        &a.capture,
        a.format,
        a.stream,
        a.keep_timing,
        a.redact,
        a.keep_credentials,
    ) {
        Ok((scenario, warnings)) => {
            for w in &warnings {
                errln!("smtp-harness import: warning: {w}");
            }
            write(&a.output, &scenario)?;
            if let Some(path) = &a.output {
                errln!("smtp-harness import: wrote {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            errln!("smtp-harness import: {e}");
            if let Some(p) = e.partial.as_deref() {
                for w in &p.warnings {
                    errln!("smtp-harness import: warning: {w}");
                }
            }
            if let Some(partial) = &e.partial_scenario {
                write(&a.output, partial)?;
                if let Some(path) = &a.output {
                    errln!(
                        "smtp-harness import: wrote the sessions read before the problem to {}",
                        path.display()
                    );
                }
            }
            Ok(ExitCode::from(1))
        }
    }
}
