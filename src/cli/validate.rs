//! `smtp-harness validate FILE…`: scenarios, proxy profiles and `proxy
//! --config` files (those have a `proxies:` key, which neither language has).
//!
//! The two languages share some keys (`banner`, `ehlo`, `faults`,
//! `extends` …), so a file's kind is decided, in this order: by `--kind`;
//! by its own `kind:` key; by keys only one kind has (read from the two
//! JSON schemas, so the lists never drift from the models); by what its
//! `extends:` names; by its directory (`profiles/`); and otherwise it is a
//! scenario, as `serve` would run it. Every answer says which was assumed
//! and why.

use super::args::{FileKind, ValidateArgs};
use crate::scenario::load;
use crate::{Profile, Scenario};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let mut failed = 0;
    for file in &args.files {
        let (kind, why) = match args.kind {
            FileKind::Auto => decide(file, 0).unwrap_or_else(|| {
                (
                    FileKind::Scenario,
                    "by default: it has only keys both kinds have (add `kind: profile` to check it \
                     as a profile)"
                        .to_string(),
                )
            }),
            k => (k, "as --kind says".to_string()),
        };
        let result = match kind {
            FileKind::Profile => Profile::from_file(file).map(|p| format!("profile {}", p.name())),
            FileKind::Proxies => crate::proxy::config::load(file).map(|list| {
                let names: Vec<&str> = list.iter().map(|p| p.name.as_str()).collect();
                format!("proxies {}", names.join(", "))
            }),
            _ => Scenario::from_file(file).map(|s| format!("scenario {}", s.name())),
        };
        match result {
            Ok(what) => outln!("{}: ok ({what}; {why})", file.display())?,
            Err(e) => {
                failed += 1;
                for p in &e.problems {
                    outln!("{p}")?;
                }
                outln!("{}: checked as a {}, {why}", file.display(), name(kind))?;
            }
        }
    }
    if failed > 0 {
        errln!("{failed} of {} file(s) have problems", args.files.len());
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn name(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Profile => "profile",
        FileKind::Proxies => "`proxy --config` file",
        _ => "scenario",
    }
}

/// The top-level keys of a kind's files, from its JSON schema.
fn keys_of(schema: serde_json::Value) -> Vec<String> {
    schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// The kind `path` is checked as, and why (a phrase for the report), if
/// anything decides it. `depth` counts `extends:` files followed.
fn decide(path: &Path, depth: usize) -> Option<(FileKind, String)> {
    // Unreadable or broken YAML: let the scenario loader report it. Read
    // bounded and budgeted like the loaders: a device or a bomb named here
    // must not be read whole before the loader refuses it.
    let bytes = load::read_bounded(path, load::MAX_DOCUMENT_BYTES).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let origin = load::Origin::File(path.to_path_buf());
    let keys = load::parse::<BTreeMap<String, serde_json::Value>>(&text, &origin).ok()?;
    match keys.get("kind").and_then(|k| k.as_str()) {
        Some("profile") => return Some((FileKind::Profile, "as its `kind:` says".to_string())),
        Some("scenario") => return Some((FileKind::Scenario, "as its `kind:` says".to_string())),
        _ => {}
    }
    // Neither language has this key: a `proxy --config` file.
    if keys.contains_key("proxies") {
        return Some((
            FileKind::Proxies,
            "by its `proxies:` key: a `proxy --config` file".to_string(),
        ));
    }
    if let Some(by_keys) = by_keys(&keys) {
        return Some(by_keys);
    }
    if let Some(parent) = keys.get("extends").and_then(|e| e.as_str())
        && let Some(kind) = by_parent(path, parent.trim(), depth)
    {
        return Some(kind);
    }
    let in_profiles_dir = path
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|d| d == "profiles");
    in_profiles_dir.then(|| {
        (
            FileKind::Profile,
            "as it lies in a directory named `profiles`".to_string(),
        )
    })
}

/// The kind only some of `keys` belong to, if they say.
fn by_keys(keys: &BTreeMap<String, serde_json::Value>) -> Option<(FileKind, String)> {
    let scenario = keys_of(crate::schema::scenario());
    let profile = keys_of(crate::schema::profile());
    let only = |mine: &[String], theirs: &[String]| -> Vec<String> {
        keys.keys()
            .filter(|k| mine.contains(k) && !theirs.contains(k))
            .map(|k| format!("`{k}`"))
            .collect()
    };
    let (s, p) = (only(&scenario, &profile), only(&profile, &scenario));
    match (s.is_empty(), p.is_empty()) {
        (false, true) => Some((
            FileKind::Scenario,
            format!("by its keys only scenarios have: {}", s.join(", ")),
        )),
        (true, false) => Some((
            FileKind::Profile,
            format!("by its keys only profiles have: {}", p.join(", ")),
        )),
        (false, false) => Some((
            FileKind::Scenario,
            format!(
                "although it has keys of both kinds (scenario: {}; profile: {}): add `kind:` to say",
                s.join(", "),
                p.join(", ")
            ),
        )),
        (true, true) => None,
    }
}

/// The kind of what `extends:` names: a bundled name of one kind only, or
/// a file beside this one (followed a few levels, no more).
fn by_parent(path: &Path, parent: &str, depth: usize) -> Option<(FileKind, String)> {
    let scenario = crate::scenario::bundled::text(parent).is_some();
    let profile = crate::proxy::bundled::text(parent).is_some();
    match (scenario, profile) {
        (true, false) => {
            return Some((
                FileKind::Scenario,
                format!("as it extends the bundled scenario {parent}"),
            ));
        }
        (false, true) => {
            return Some((
                FileKind::Profile,
                format!("as it extends the bundled profile {parent}"),
            ));
        }
        (true, true) => return None,
        (false, false) => {}
    }
    if depth >= crate::scenario::load::MAX_EXTENDS_DEPTH {
        return None;
    }
    let file: PathBuf = path.parent().unwrap_or(Path::new(".")).join(parent);
    if !file.is_file() {
        return None;
    }
    let (kind, _) = decide(&file, depth + 1)?;
    Some((kind, format!("as it extends {parent}, a {}", name(kind))))
}
