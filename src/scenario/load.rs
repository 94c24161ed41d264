//! Reading scenario YAML: parse with serde-saphyr (budgeted against alias
//! bombs and deep nesting), follow `extends:` chains, merge child over parent.
//!
//! The parser and the `extends:` walk are generic ([`parse`], [`Layered`],
//! [`load_layered`]) so the proxy's profiles share one YAML dialect, one
//! budget and one error format with scenarios.

use super::bundled;
use super::compile;
use super::model::*;
use super::problem::{Problem, ScenarioError};
use serde::de::DeserializeOwned;
use serde_saphyr::Spanned;
use std::path::{Path, PathBuf};

/// How deep an `extends:` chain may go before we call it a loop.
const MAX_EXTENDS_DEPTH: usize = 16;

/// Where scenario text came from; decides how `extends:` paths resolve.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A bundled scenario.
    Bundled(String),
    /// A file on disk.
    File(PathBuf),
    /// Text with no file (tests, the control API): `extends:` may only name
    /// bundled scenarios.
    Inline,
}

impl Origin {
    /// The name used in error messages.
    pub fn display(&self) -> String {
        match self {
            Origin::Bundled(n) => format!("bundled:{n}"),
            Origin::File(p) => p.display().to_string(),
            Origin::Inline => "<inline>".to_string(),
        }
    }
}

/// A YAML document family that `extends:` can layer: scenarios, and the
/// proxy's profiles.
pub trait Layered: DeserializeOwned {
    /// What the files are called in messages (`scenario`, `profile`).
    const KIND: &'static str;
    /// The `extends:` value, with its place in the file.
    fn extends(&self) -> Option<&Spanned<String>>;
    /// The YAML of a bundled document by name.
    fn bundled_text(name: &str) -> Option<&'static str>;
    /// The names of the bundled documents, for suggestions.
    fn bundled_names() -> Vec<&'static str>;
    /// Check one file on its own, so problems name the file they are in.
    fn check(&self, source: &str) -> Result<(), Vec<Problem>>;
    /// Child fields win over the parent's.
    fn merge(child: Self, parent: Self) -> Self;
    /// Make paths named in the file relative to the file (none by default).
    fn resolve_paths(&mut self, _origin: &Origin) {}
}

impl Layered for ScenarioFile {
    const KIND: &'static str = "scenario";
    fn extends(&self) -> Option<&Spanned<String>> {
        self.extends.as_ref()
    }
    fn bundled_text(name: &str) -> Option<&'static str> {
        bundled::text(name)
    }
    fn bundled_names() -> Vec<&'static str> {
        bundled::names()
    }
    fn check(&self, source: &str) -> Result<(), Vec<Problem>> {
        let plan = compile::compile(self, source, false).map(|_| ());
        let expect = crate::expect::spec::compile(&self.expect, source).map(|_| ());
        match (plan, expect) {
            (Err(mut a), Err(b)) => {
                a.extend(b);
                Err(a)
            }
            (a, b) => a.and(b),
        }
    }
    fn merge(child: Self, parent: Self) -> Self {
        merge(child, parent)
    }
    fn resolve_paths(&mut self, origin: &Origin) {
        resolve_paths(self, origin);
    }
}

/// Parse one document, without following `extends:`.
pub fn parse<T: DeserializeOwned>(text: &str, origin: &Origin) -> Result<T, Problem> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        budget: serde_saphyr::budget! {
            max_depth: 64,
            max_aliases: 1_000,
            max_anchors: 1_000,
            max_events: 1_000_000,
            max_total_scalar_bytes: 16 << 20,
        },
    };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let name = origin.display();
        let message = strip_location(&e.without_snippet().to_string());
        match e.location() {
            Some(loc) if loc.line() > 0 => Problem::at(&name, &loc, message),
            _ => Problem::file(&name, message),
        }
    })
}

/// serde-saphyr appends " at line L, column C"; we print that as a prefix.
fn strip_location(message: &str) -> String {
    let message = message.strip_prefix("error: ").unwrap_or(message);
    let message = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    // Some messages carry the location as "line L column C: " up front.
    let message = match message.strip_prefix("line ") {
        Some(rest) => rest.split_once(": ").map_or(message, |(_, m)| m),
        None => message,
    };
    message.trim().to_string()
}

/// Load `text` and its `extends:` chain, checking every file on the way;
/// `root` bounds where relative `extends:` paths may point.
pub fn load_chain(
    text: &str,
    origin: Origin,
    root: Option<&Path>,
) -> Result<ScenarioFile, ScenarioError> {
    load_layered(text, origin, root)
}

/// [`load_chain`] for any [`Layered`] document family.
pub fn load_layered<T: Layered>(
    text: &str,
    origin: Origin,
    root: Option<&Path>,
) -> Result<T, ScenarioError> {
    load_inner(text, origin, root, &mut Vec::new())
}

fn load_inner<T: Layered>(
    text: &str,
    origin: Origin,
    root: Option<&Path>,
    seen: &mut Vec<String>,
) -> Result<T, ScenarioError> {
    let name = origin.display();
    if seen.contains(&name) || seen.len() >= MAX_EXTENDS_DEPTH {
        return Err(Problem::file(
            &name,
            format!("`extends:` loops: {} -> {name}", seen.join(" -> ")),
        )
        .into());
    }
    seen.push(name.clone());
    let mut file: T = parse(text, &origin)?;
    file.resolve_paths(&origin);
    // Check this file on its own, so problems name the file they are in.
    file.check(&name)
        .map_err(|problems| ScenarioError { problems })?;
    let Some(parent_ref) = file.extends().cloned() else {
        return Ok(file);
    };
    let parent_name = parent_ref.value.trim();
    let (parent_text, parent_origin) = if let Some(text) = T::bundled_text(parent_name) {
        (text.to_string(), Origin::Bundled(parent_name.to_string()))
    } else {
        let base = match &origin {
            Origin::File(p) => p.parent().map(Path::to_path_buf).unwrap_or_default(),
            _ => {
                return Err(Problem::at(
                    &name,
                    &parent_ref.referenced,
                    format!(
                        "unknown bundled {} {parent_name:?}; expected one of {}",
                        T::KIND,
                        T::bundled_names().join(", ")
                    ),
                )
                .into());
            }
        };
        let path = base.join(parent_name);
        let read = std::fs::read_to_string(&path).map_err(|e| {
            Problem::at(
                &name,
                &parent_ref.referenced,
                format!(
                    "cannot read {} ({e}); `extends:` takes a bundled {} ({}) or a path relative to this file",
                    path.display(),
                    T::KIND,
                    T::bundled_names().join(", ")
                ),
            )
        })?;
        if let Some(root) = root {
            let inside = path
                .canonicalize()
                .ok()
                .zip(root.canonicalize().ok())
                .is_some_and(|(p, r)| p.starts_with(r));
            if !inside {
                return Err(Problem::at(
                    &name,
                    &parent_ref.referenced,
                    format!(
                        "{} is outside {}; {}s may only extend files in their own directory",
                        path.display(),
                        root.display(),
                        T::KIND
                    ),
                )
                .into());
            }
        }
        (read, Origin::File(path))
    };
    let parent = load_inner(&parent_text, parent_origin, root, seen)?;
    Ok(T::merge(file, parent))
}

/// Certificate paths are relative to the file that names them.
fn resolve_paths(file: &mut ScenarioFile, origin: &Origin) {
    let (Some(tls), Origin::File(path)) = (file.tls.as_mut(), origin) else {
        return;
    };
    let base = path.parent().unwrap_or(Path::new("."));
    for p in [tls.cert.as_mut(), tls.key.as_mut()].into_iter().flatten() {
        if Path::new(&p.value).is_relative() {
            p.value = base.join(&p.value).display().to_string();
        }
    }
}

/// Child fields win; rules of the child are tried before the parent's.
pub fn merge(child: ScenarioFile, parent: ScenarioFile) -> ScenarioFile {
    macro_rules! over {
        ($c:expr, $p:expr; $($f:ident),*) => {{
            let (c, p) = ($c, $p);
            match (c, p) {
                (Some(c), Some(p)) => Some({
                    let mut m = p;
                    $( if c.$f.is_some() { m.$f = c.$f; } )*
                    m
                }),
                (c, p) => c.or(p),
            }
        }};
    }
    let mut rules = child.rules;
    rules.extend(parent.rules);
    let mut expect = child.expect;
    expect.extend(parent.expect);
    ScenarioFile {
        name: child.name.or(parent.name),
        description: child.description.or(parent.description),
        extends: None,
        hostname: child.hostname.or(parent.hostname),
        banner: over!(child.banner, parent.banner; reply, delay, then, mask),
        ehlo: over!(child.ehlo, parent.ehlo; greeting, keywords, mask_except),
        helo: over!(child.helo, parent.helo; reply),
        replies: over!(child.replies, parent.replies;
            mail_ok, rcpt_ok, data_start, rset, noop, vrfy, help, quit, starttls, unknown, not_implemented, timeout, shutdown),
        data: over!(child.data, parent.data; reply, delay),
        limits: over!(child.limits, parent.limits; command_line, text_line, recipients, message_size, idle_timeout, max_sessions,
            session_events, total_events, message_memory, messages_memory, messages_disk),
        rules,
        replay: child.replay.or(parent.replay),
        tls: over!(child.tls, parent.tls; starttls, implicit, cert, key, require, keywords_after, fail),
        auth: over!(child.auth, parent.auth; mechanisms, users, accept_any, require, after_tls, show_secrets),
        directory: over!(child.directory, parent.directory; domains, mailboxes, alternate_rhs, accept_all),
        reroute: child.reroute.or(parent.reroute),
        relay: over!(child.relay, parent.relay; allow, reroute_incoming),
        override_proxy_out: child.override_proxy_out.or(parent.override_proxy_out),
        quirks: over!(child.quirks, parent.quirks; pre_sp3_imcea),
        ndr: over!(child.ndr, parent.ndr; mode, style, organization, site, server),
        xclient: over!(child.xclient, parent.xclient; hosts),
        faults: if child.faults.is_empty() {
            parent.faults
        } else {
            child.faults
        },
        expect,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_saphyr_locations() {
        assert_eq!(
            strip_location("bad verb here at line 3, column 11"),
            "bad verb here"
        );
        assert_eq!(
            strip_location("error: line 4 column 5: unknown field `x`, expected one of a, b"),
            "unknown field `x`, expected one of a, b"
        );
    }
}
