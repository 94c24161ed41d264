//! `smtp-harness validate FILE…`

use super::args::ValidateArgs;
use smtp_harness::Scenario;
use std::process::ExitCode;

pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let mut failed = 0;
    for file in &args.files {
        match Scenario::from_file(file) {
            Ok(s) => println!("{}: ok ({})", file.display(), s.name()),
            Err(e) => {
                failed += 1;
                for p in &e.problems {
                    println!("{p}");
                }
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} file(s) have problems", args.files.len());
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
