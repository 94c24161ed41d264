//! The `smtp-harness` command line: the library's `cli` module, with the
//! allocator the binary (and only the binary) chooses.

// The server allocates a few dozen small objects per session and frees them
// when it ends; mimalloc's per-thread free lists do that for about half of
// glibc malloc's instructions (docs/PERFORMANCE.md). The library leaves the
// choice to whoever links it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

unsafe extern "C" {
    /// mimalloc's own: hand freed memory back to the system now.
    fn mi_collect(force: bool);
}

/// Hand memory freed since the last call back to the system. mimalloc
/// keeps freed pages for reuse and returns them on its own only as later
/// allocations come by: after a 9 MiB message is received (its buffer
/// doubles up to 16 MiB) and moved to a file, a server serving small
/// sessions kept the whole doubling chain, 31 MiB, for good; without
/// forcing, `mi_collect` returned it in some runs and not in others
/// (docs/PERFORMANCE.md, "Memory"). Once a second, the cost is re-faulting
/// what was freed in that second, if it is needed again.
fn release_freed_memory() {
    // SAFETY: mi_collect takes no pointers and may be called at any time
    // from any thread; it is part of the allocator this binary links.
    unsafe { mi_collect(true) }
}

fn main() -> std::process::ExitCode {
    smtp_harness::cli::main(Some(release_freed_memory))
}
