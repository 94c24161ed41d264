//! The `smtp-harness` command line (cargo feature `cli`, on by default; a
//! test suite that only needs [`MockServer`](crate::MockServer) turns it
//! off). `args.rs` is only the flags; each subcommand file turns them into
//! library calls.

#[macro_use]
mod out;

mod args;
mod control;
mod demo;
mod import;
mod probe;
mod profiles;
mod proxies;
mod proxy;
mod replay;
mod scenarios;
mod schema;
mod serve;
mod validate;

use args::{Cli, Command};
use clap::Parser;
use std::process::ExitCode;
use std::sync::OnceLock;

/// Set once by [`main`]: what `serve` calls once a second.
static RELEASE_FREED_MEMORY: OnceLock<fn()> = OnceLock::new();

/// Run the command line on the process's arguments and return its exit
/// code (0: done; 1: bad input, unmet expectations or divergences; 2: an
/// error while running, such as I/O, or a flag clap refuses).
///
/// `release_freed_memory`, when given, is called once a second by `serve`
/// to hand memory freed by ended sessions back to the system: the binary
/// passes its allocator's (mimalloc's `mi_collect`); the library never
/// chooses an allocator for whoever links it.
pub fn main(release_freed_memory: Option<fn()>) -> ExitCode {
    if let Some(release) = release_freed_memory {
        let _ = RELEASE_FREED_MEMORY.set(release);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(a) => serve::run(a, Vec::new(), None),
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
