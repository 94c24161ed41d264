//! `smtp-harness profiles`: one line per bundled proxy profile.

use crate::Profile;
use crate::proxy::bundled;
use std::process::ExitCode;

pub fn run() -> anyhow::Result<ExitCode> {
    let names = bundled::names();
    let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
    for name in names {
        let profile = Profile::bundled(name)?;
        outln!("{name:width$}  {}", profile.description())?;
    }
    Ok(ExitCode::SUCCESS)
}
