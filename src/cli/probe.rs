//! `smtp-harness probe HOST:PORT`: the reference detector, as text or JSON.
//! Exit status 0 no interference, 1 a finding, 2 could not probe.

use super::args::{ColorChoice, ProbeArgs};
use crate::probe::{self, ProbeOptions};
use std::io::IsTerminal;
use std::process::ExitCode;

pub fn run(args: ProbeArgs) -> anyhow::Result<ExitCode> {
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    let options = ProbeOptions {
        timeout: args.timeout,
        helo_name: args.helo,
        send_test: match (args.send_test, args.from, args.to) {
            (true, Some(from), Some(to)) => Some((from, to)),
            _ => None,
        },
        ..ProbeOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(probe::probe_target(&args.target, &options));
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        out!("{}", probe::render_text(&report, color, args.verbose))?;
    }
    Ok(ExitCode::from(report.verdict.exit_code))
}
