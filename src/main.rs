//! The `smtp-harness` command line.

mod cli;

// The server allocates a few dozen small objects per session and frees them
// when it ends; mimalloc's per-thread free lists do that for about half of
// glibc malloc's instructions (docs/PERFORMANCE.md). The library leaves the
// choice to whoever links it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
