//! `smtp-harness validate FILE…`: scenarios and proxy profiles.
//!
//! The two languages share most keys (`banner`, `ehlo`, `extends` …), so a
//! file's kind is decided explicitly (`--kind`), by its directory
//! (`profiles/`), or by a key only profiles have; anything else is a
//! scenario, which keeps the old behaviour for every existing file.

use super::args::{FileKind, ValidateArgs};
use crate::scenario::load;
use crate::{Profile, Scenario};
use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;

/// Top-level keys a scenario cannot have.
const PROFILE_ONLY_KEYS: &[&str] = &[
    "verbs",
    "starttls",
    "addresses",
    "faults",
    "seed",
    "timeouts",
];

pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let mut failed = 0;
    for file in &args.files {
        let kind = match args.kind {
            FileKind::Auto => detect(file),
            k => k,
        };
        let result = match kind {
            FileKind::Profile => Profile::from_file(file).map(|p| format!("profile {}", p.name())),
            _ => Scenario::from_file(file).map(|s| s.name().to_string()),
        };
        match result {
            Ok(what) => outln!("{}: ok ({what})", file.display())?,
            Err(e) => {
                failed += 1;
                for p in &e.problems {
                    outln!("{p}")?;
                }
            }
        }
    }
    if failed > 0 {
        errln!("{failed} of {} file(s) have problems", args.files.len());
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn detect(path: &Path) -> FileKind {
    let in_profiles_dir = path
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|d| d == "profiles");
    if in_profiles_dir {
        return FileKind::Profile;
    }
    // Unreadable or broken YAML: let the scenario loader report it, as before.
    // Bounded and budgeted like the loaders: a device or a bomb named here
    // must not be read whole before the loader refuses it.
    let Ok(bytes) = load::read_bounded(path, load::MAX_DOCUMENT_BYTES) else {
        return FileKind::Scenario;
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return FileKind::Scenario;
    };
    let origin = load::Origin::File(path.to_path_buf());
    let keys: HashMap<String, serde::de::IgnoredAny> = match load::parse(&text, &origin) {
        Ok(k) => k,
        Err(_) => return FileKind::Scenario,
    };
    if keys.keys().any(|k| PROFILE_ONLY_KEYS.contains(&k.as_str())) {
        FileKind::Profile
    } else {
        FileKind::Scenario
    }
}
