//! The capture importers (pcap, pcapng, Exchange CSV logs, swaks, JSON Lines)
//! on arbitrary bytes, each format forced in turn and auto-detected.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_harness::import::{Format, ImportOptions, import_bytes};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Some((&knob, input)) = data.split_first() else {
        return;
    };
    let format = match knob % 6 {
        0 => None,
        n => Some(Format::ALL[n as usize - 1]),
    };
    let options = ImportOptions {
        format,
        stream: (knob & 0x80 != 0).then_some((knob as usize >> 3) & 3),
    };
    if let Ok((_, capture)) = import_bytes(input, Path::new("fuzz"), &options) {
        let _ = capture.sessions.len();
    }
});
