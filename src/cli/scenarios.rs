//! `smtp-harness scenarios`: one line per bundled scenario.

use crate::Scenario;
use crate::scenario::bundled;
use std::process::ExitCode;

pub fn run() -> anyhow::Result<ExitCode> {
    let names = bundled::names();
    let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
    for name in names {
        let scenario = Scenario::bundled(name)?;
        outln!("{name:width$}  {}", scenario.plan().description)?;
    }
    Ok(ExitCode::SUCCESS)
}
