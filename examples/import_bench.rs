//! Import throughput on a generated pcap (issue 8 target: ≥ 100 MiB/s on
//! 200 MiB). Run in release mode:
//!
//! ```text
//! cargo run --release --example import_bench -- [MiB, default 200]
//! ```

use smtp_harness::import::synth::{SynthOptions, write_pcap};
use smtp_harness::import::{ImportOptions, import_file};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mib: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(200);
    let dir = tempfile_dir()?;
    let path = dir.join("import-bench.pcap");
    let message_size = 100_000;
    let per_session = message_size as u64 * 1093 / 1000 + 1500; // frames + headers
    let o = SynthOptions {
        sessions: ((mib << 20) / per_session).max(1) as usize,
        message_size,
        concurrency: 16,
        mss: 1448,
    };
    let file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let written = write_pcap(file, &o)?;
    let start = Instant::now();
    let result = import_file(&path, &ImportOptions::default());
    let secs = start.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    let (_, capture) = result?;
    let size = written as f64 / 1048576.0;
    println!(
        "imported {size:.1} MiB, {} sessions, in {secs:.3} s: {:.1} MiB/s",
        capture.sessions.len(),
        size / secs
    );
    Ok(())
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("smtp-harness-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
