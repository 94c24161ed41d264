//! Outside tools some tests drive (swaks, chromium, aiosmtpd): one check,
//! so a missing tool never turns into a silent pass.

use std::io::Write;
use std::process::{Command, Stdio};

/// An outside program a test needs, and how to get it.
pub struct Tool {
    /// What the messages call it.
    pub name: &'static str,
    /// Commands that answer with success when the tool is usable; the
    /// first that does is the one to run (chromium has two names).
    pub probes: &'static [&'static [&'static str]],
    /// How to install it by hand.
    pub install: &'static str,
}

pub const SWAKS: Tool = Tool {
    name: "swaks",
    probes: &[&["swaks", "--version"]],
    install: "apt-get install -y swaks",
};

pub const NMAP: Tool = Tool {
    name: "nmap",
    probes: &[&["nmap", "--version"]],
    install: "apt-get install -y nmap",
};

pub const CURL: Tool = Tool {
    name: "curl",
    probes: &[&["curl", "--version"]],
    install: "apt-get install -y curl",
};

pub const OPENSSL: Tool = Tool {
    name: "openssl",
    probes: &[&["openssl", "version"]],
    install: "apt-get install -y openssl",
};

/// Debian's `testssl.sh` package installs the script as `testssl`.
pub const TESTSSL: Tool = Tool {
    name: "testssl.sh",
    probes: &[&["testssl", "--version"], &["testssl.sh", "--version"]],
    install: "apt-get install -y testssl.sh",
};

pub const CHROMIUM: Tool = Tool {
    name: "chromium",
    probes: &[
        &["chromium", "--version"],
        &["chromium-browser", "--version"],
    ],
    install: "apt-get install -y chromium",
};

pub const AIOSMTPD: Tool = Tool {
    name: "python3 with aiosmtpd",
    probes: &[&["python3", "-c", "import aiosmtpd"]],
    install: "apt-get install -y python3-aiosmtpd (or: python3 -m pip install aiosmtpd)",
};

/// The program to run for `tool`, or `None` after a loud SKIP line on
/// stderr, in which case the test must return without asserting anything.
/// Under `CI=true` a missing tool is a failure instead: CI runs `.ci/setup`,
/// which installs every one, so there a skip would hide a broken machine.
pub fn require(tool: &Tool, test: &str) -> Option<&'static str> {
    let found = tool.probes.iter().find(|probe| {
        Command::new(probe[0])
            .args(&probe[1..])
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if let Some(probe) = found {
        return Some(probe[0]);
    }
    let what = format!(
        "{} is not installed; install it with `{}` (`make setup` / `.ci/setup` installs it)",
        tool.name, tool.install
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: {what}");
    }
    // Straight to the stderr handle: the test harness captures `eprintln!`
    // of a passing test, which would hide the skip again.
    let _ = writeln!(std::io::stderr(), "\n*** SKIP {test}: {what} ***\n");
    None
}

/// `python3 -c SCRIPT ARGS…` (python3 is on every machine the tests run on;
/// `.ci/setup` installs it): its standard output, after asserting it exited
/// with success (its stderr is the failure message).
pub fn python3<S: AsRef<std::ffi::OsStr>>(script: &str, args: &[S]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 is needed for this test (the CI installs it)");
    assert!(
        out.status.success(),
        "python3 failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
