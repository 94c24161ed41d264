//! Subcommands. `args.rs` is only the flags; each subcommand file turns them
//! into library calls.

#[macro_use]
mod out;

mod args;
mod control;
mod demo;
mod import;
mod probe;
mod profiles;
mod proxy;
mod replay;
mod scenarios;
mod schema;
mod serve;
mod validate;

use args::{Cli, Command};
use clap::Parser;
use std::process::ExitCode;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(a) => serve::run(a, Vec::new()),
        Command::Replay(a) => replay::run(a),
        Command::Validate(a) => validate::run(a),
        Command::Scenarios => scenarios::run(),
        Command::Demo(a) => demo::run(a),
        Command::Probe(a) => probe::run(a),
        Command::Proxy(a) => proxy::run(a),
        Command::Profiles => profiles::run(),
        Command::Import(a) => import::run(a),
        Command::Schema(a) => schema::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            errln!("smtp-harness: {e:#}");
            ExitCode::from(2)
        }
    }
}
