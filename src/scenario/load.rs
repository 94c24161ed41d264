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
pub(crate) const MAX_EXTENDS_DEPTH: usize = 16;

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
    /// Read the files this document names (none by default): confined to
    /// `files`, regular, under a size cap, read once.
    fn read_files(&mut self, _files: Option<&Files>, _name: &str) -> Result<(), Vec<Problem>> {
        Ok(())
    }
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
        let kind = DocKind::check(self.kind.as_ref(), DocKind::Scenario, source);
        let plan = compile::compile(self, source, false).map(|_| ());
        let expect = super::expect::check(&self.expect, source);
        let mut problems: Vec<Problem> = kind.into_iter().collect();
        problems.extend(plan.err().unwrap_or_default());
        problems.extend(expect.err().unwrap_or_default());
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
    fn merge(child: Self, parent: Self) -> Self {
        merge(child, parent)
    }
    fn read_files(&mut self, files: Option<&Files>, name: &str) -> Result<(), Vec<Problem>> {
        read_tls_files(self, files, name)
    }
}

/// How a [`Problem`] from [`parse`] for a document over [`budget`] starts.
pub(crate) const BUDGET_BREACHED: &str = "budget breached";

/// The limits every scenario and profile document is parsed under.
pub(crate) fn budget() -> serde_saphyr::Budget {
    let mut b = serde_saphyr::Budget::default();
    b.max_depth = 64;
    b.max_aliases = 1_000;
    b.max_anchors = 1_000;
    b.max_events = 1_000_000;
    b.max_total_scalar_bytes = 16 << 20;
    b
}

/// Parse one document, without following `extends:`; every problem that
/// can be found at once.
///
/// The budget is checked over the whole text first, then again while
/// deserializing (where alias replays count too). The first pass exists
/// because deserializing streams: without it, a nest or flood that starts
/// under an unknown or mistyped key would be reported as that type error,
/// and whether a document is refused for its size would depend on where
/// its first mistake is.
///
/// Deserializing stops at the first mistake, so after one the block it is
/// in (its list item, or its top-level entry) is set aside and the rest
/// read again, up to [`MAX_PROBLEMS`] times: a file with a bad rule and a
/// bad limit gets both reported. A problem on the key whose block was set
/// aside is the setting aside's doing, and ends the search.
pub fn parse<T: DeserializeOwned>(text: &str, origin: &Origin) -> Result<T, ScenarioError> {
    let name = origin.display();
    syntax_and_budget(text, &name)?;
    let first = match deserialize::<T>(text, &name) {
        Ok(v) => return Ok(v),
        Err(p) => p,
    };
    let mut problems = vec![first.clone()];
    if !worth_reading_on(text, &first) {
        return Err(first.into());
    }
    let mut rest = text.to_string();
    let mut parents = Vec::new();
    let mut at = first.line;
    // Each round blanks at least one line, so this ends; the count only
    // bounds the work on a long file full of mistakes.
    for _ in 0..MAX_PROBLEMS * 4 {
        if problems.len() >= MAX_PROBLEMS || at == 0 {
            break;
        }
        let Some((next, parent)) = super::humane::set_aside(&rest, at) else {
            break;
        };
        parents.push(parent as u64);
        rest = next;
        match deserialize::<T>(&rest, &name) {
            Ok(_) => break,
            // An emptied list or mapping under a key whose entry was set
            // aside: that key's block goes too, unreported.
            Err(p) if parents.contains(&p.line) => at = p.line,
            Err(p) if p.line == 0 || problems.contains(&p) || !worth_reading_on(&rest, &p) => break,
            Err(p) => {
                at = p.line;
                problems.push(p);
            }
        }
    }
    problems.sort_by_key(|p| (p.line, p.column));
    Err(ScenarioError { problems })
}

/// The most problems one document's reading reports.
const MAX_PROBLEMS: usize = 20;
/// Past this size a document is read again for more problems no more: such
/// files are written by `import`, not by hand, and each reading costs the
/// whole text.
const READ_ON_BYTES: usize = 256 * 1024;

/// Whether the rest of `text` is read again after `problem`: not for a
/// large file, nor after a limit (reading again would cost as much again)
/// or an anchor problem (setting a block aside can orphan an alias, which
/// would then be reported as a problem of its own).
fn worth_reading_on(text: &str, problem: &Problem) -> bool {
    let m = problem.message.to_ascii_lowercase();
    text.len() <= READ_ON_BYTES
        && !["alias", "anchor", "budget", "limit exceeded", "recursion"]
            .iter()
            .any(|w| m.contains(w))
}

/// The YAML itself (before any type is asked of it) and the budget.
fn syntax_and_budget(text: &str, name: &str) -> Result<(), Problem> {
    match serde_saphyr::budget::check_yaml_budget(
        text,
        budget(),
        serde_saphyr::budget::EnforcingPolicy::AllContent,
    ) {
        Ok(report) => {
            if let Some(breach) = report.breached {
                let b = budget();
                return Err(Problem::file(
                    name,
                    format!(
                        "{BUDGET_BREACHED}: {breach:?}; a scenario or profile document may hold at most \
                         {} levels of nesting, {} anchors, {} aliases, {} YAML events, {} nodes and \
                         {} MiB of text values: make it smaller, or split it into files joined by `extends:`",
                        b.max_depth,
                        b.max_anchors,
                        b.max_aliases,
                        b.max_events,
                        b.max_nodes,
                        b.max_total_scalar_bytes >> 20,
                    ),
                ));
            }
            Ok(())
        }
        Err(e) => Err(Problem {
            file: name.to_string(),
            line: e.marker().line() as u64,
            column: e.marker().col() as u64 + 1,
            message: e.info(),
        }),
    }
}

/// One deserializing pass; its first problem in plain words.
fn deserialize<T: DeserializeOwned>(text: &str, name: &str) -> Result<T, Problem> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        budget: Some(budget()),
        alias_limits: serde_saphyr::alias_limits! {
            // No scenario needs more: this is what stops an alias bomb
            // built from valid pieces (the budget above counts the text).
            max_total_replayed_events: ALIAS_REPLAY_EVENTS,
        },
    };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let message = strip_location(&e.without_snippet().to_string());
        match e.location() {
            Some(loc) if loc.line() > 0 => {
                let message = super::humane::explain(&message, text, loc.line(), loc.column());
                Problem::at(name, &loc, message)
            }
            _ => Problem::file(name, message),
        }
    })
}

/// How many events alias replays may add to one document.
const ALIAS_REPLAY_EVENTS: usize = 100_000;

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
/// `root` is the directory every file it names must be in (`None`: it may
/// name none).
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
    let files = root.map(|root| Files::new(root, &origin));
    file.read_files(files.as_ref(), &name)
        .map_err(|problems| ScenarioError { problems })?;
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
        let names = T::bundled_names().join(", ");
        let (path, bytes) = read_named(files.as_ref(), parent_name, MAX_DOCUMENT_BYTES)
            .map_err(|e| {
                let message = if files.is_some() {
                    format!(
                        "{e}; `extends:` takes a bundled {} ({names}) or a path relative to this file",
                        T::KIND
                    )
                } else {
                    let unknown =
                        super::problem::unknown_name(T::KIND, parent_name, &T::bundled_names());
                    format!("{unknown}; {e}")
                };
                Problem::at(&name, &parent_ref.referenced, message)
            })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            Problem::at(
                &name,
                &parent_ref.referenced,
                format!("{} is not UTF-8 text: {e}", path.display()),
            )
        })?;
        (text, Origin::File(path))
    };
    let parent = load_inner(&parent_text, parent_origin, root, seen)?;
    Ok(T::merge(file, parent))
}

/// The most a scenario or profile file may hold; far above any written by
/// hand, and above what an import writes (`import` splits longer captures).
pub const MAX_DOCUMENT_BYTES: u64 = 64 << 20;
/// The most a PEM certificate chain or key file may hold.
pub(crate) const MAX_PEM_BYTES: u64 = 1 << 20;

/// Where the files a document names are looked up, and the directory none
/// of them may leave.
#[derive(Debug, Clone)]
pub struct Files {
    /// Relative names start here: the naming file's directory, or `root`
    /// for text that came with no file.
    base: PathBuf,
    /// Every file must be in here, symbolic links resolved.
    root: PathBuf,
}

impl Files {
    fn new(root: &Path, origin: &Origin) -> Files {
        let root = absolute(root);
        let base = match origin {
            Origin::File(p) => absolute(p.parent().unwrap_or(Path::new("."))),
            Origin::Bundled(_) | Origin::Inline => root.clone(),
        };
        Files { base, root }
    }
}

/// `p` made absolute and with `.` and `..` taken out by name, touching no
/// file: so a path can be judged inside or outside a directory without
/// asking the file system whether anything exists there.
fn absolute(p: &Path) -> PathBuf {
    let p = if p.as_os_str().is_empty() {
        Path::new(".")
    } else {
        p
    };
    let joined = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut out = PathBuf::new();
    for part in joined.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Read the file a document names as `named`: resolved against
/// `files.base`, inside `files.root` (by name and with links resolved), a
/// regular file of at most `cap` bytes. Refusals of a name outside the root
/// never depend on whether something exists there, so they tell nothing
/// about the rest of the file system.
pub(crate) fn read_named(
    files: Option<&Files>,
    named: &str,
    cap: u64,
) -> Result<(PathBuf, Vec<u8>), String> {
    let Some(files) = files else {
        return Err(format!(
            "{named} is a file name, and files cannot be named here: load the document from a file \
             (or, in Rust, with `from_yaml_with_files`), or give the control API `--control-files DIR` \
             and name files relative to DIR"
        ));
    };
    let outside = || {
        format!(
            "{named} is outside {}; files may only be named from inside it",
            files.root.display()
        )
    };
    let by_name = absolute(&files.base.join(named));
    if !by_name.starts_with(&files.root) {
        return Err(outside());
    }
    // Inside by name; a link may still lead out. The root exists unless it
    // was removed under us, which says nothing about other files.
    let root = files.root.canonicalize().map_err(|_| outside())?;
    let real = by_name
        .canonicalize()
        .map_err(|e| format!("cannot read {}: {e}", by_name.display()))?;
    if !real.starts_with(&root) {
        return Err(outside());
    }
    let bytes = read_bounded(&real, cap)?;
    Ok((real, bytes))
}

/// The text of the scenario or profile file at `path`, read as
/// [`read_bounded`] reads (at most [`MAX_DOCUMENT_BYTES`]), as UTF-8.
pub(crate) fn read_document(path: &Path) -> Result<String, Problem> {
    let shown = path.display().to_string();
    let bytes = read_bounded(path, MAX_DOCUMENT_BYTES).map_err(|e| Problem::file(&shown, e))?;
    String::from_utf8(bytes).map_err(|e| Problem::file(&shown, format!("not UTF-8 text: {e}")))
}

/// Read `path` if it is a regular file of at most `cap` bytes: a device
/// (`/dev/zero`), a FIFO or a directory is refused before it is opened, so
/// nothing blocks or reads without end; the opened file is checked again
/// (it may have been swapped since), and the read stops after `cap + 1`
/// bytes whatever the file does meanwhile.
pub fn read_bounded(path: &Path, cap: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let shown = path.display();
    let check = |meta: &std::fs::Metadata| {
        if !meta.is_file() {
            return Err(format!("{shown} is not a regular file"));
        }
        if meta.len() > cap {
            return Err(format!(
                "{shown} is {} bytes, over the {cap}-byte limit",
                meta.len()
            ));
        }
        Ok(())
    };
    check(&std::fs::metadata(path).map_err(|e| format!("cannot read {shown}: {e}"))?)?;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    check(
        &file
            .metadata()
            .map_err(|e| format!("cannot read {shown}: {e}"))?,
    )?;
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if bytes.len() as u64 > cap {
        return Err(format!("{shown} grew over the {cap}-byte limit while read"));
    }
    Ok(bytes)
}

/// Read `tls.cert` and `tls.key` (relative to the file naming them) once,
/// now, so the server never opens a path again.
fn read_tls_files(
    file: &mut ScenarioFile,
    files: Option<&Files>,
    name: &str,
) -> Result<(), Vec<Problem>> {
    let Some(tls) = file.tls.as_mut() else {
        return Ok(());
    };
    let mut problems = Vec::new();
    for (named, pem) in [
        (&mut tls.cert, &mut tls.cert_pem),
        (&mut tls.key, &mut tls.key_pem),
    ] {
        let Some(named) = named.as_mut() else {
            continue;
        };
        match read_named(files, &named.value, MAX_PEM_BYTES) {
            Ok((path, bytes)) => {
                named.value = path.display().to_string();
                *pem = Some(Pem(bytes.into()));
            }
            Err(e) => problems.push(Problem::at(name, &named.referenced, e)),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Child fields win; rules of the child are tried before the parent's.
pub fn merge(child: ScenarioFile, parent: ScenarioFile) -> ScenarioFile {
    // The child is taken apart exhaustively: a key added to a section
    // fails to compile here until it is merged too (a missing one was
    // silently dropped from every child that had a parent).
    macro_rules! over {
        ($c:expr, $p:expr; $ty:ident { $($f:ident),* $(,)? }) => {{
            match ($c, $p) {
                (Some(c), Some(p)) => Some({
                    let $ty { $($f),* } = c;
                    let mut m = p;
                    $( if $f.is_some() { m.$f = $f; } )*
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
        kind: None,
        name: child.name.or(parent.name),
        description: child.description.or(parent.description),
        extends: None,
        hostname: child.hostname.or(parent.hostname),
        banner: over!(child.banner, parent.banner; BannerSpec { reply, delay, then, mask}),
        ehlo: over!(child.ehlo, parent.ehlo; EhloSpec { greeting, keywords, mask_except}),
        helo: over!(child.helo, parent.helo; ReplyOnly { reply}),
        replies: over!(child.replies, parent.replies; RepliesSpec {
            mail_ok, rcpt_ok, data_start, rset, noop, vrfy, help, quit, starttls, unknown, not_implemented, timeout, shutdown,
            bad_syntax, helo_syntax, need_helo, nested_mail, need_mail, need_rcpt, no_recipients, mail_syntax,
            rcpt_syntax, bad_sender, bad_recipient, unsupported_param, bad_size, too_big, too_many_recipients,
            rset_syntax, data_syntax, vrfy_syntax, starttls_syntax, auth_syntax, line_too_long,
            tls_active, tls_required, auth_required, already_authenticated, auth_in_transaction,
            utf8_address, bdat_syntax, data_after_bdat}),
        dialect: child.dialect.or(parent.dialect),
        data: over!(child.data, parent.data; DataSpec { reply, delay, end_of_data, bare_newline}),
        limits: over!(child.limits, parent.limits; LimitsSpec { command_line, text_line, recipients, message_size, idle_timeout, line_deadline, max_sessions,
            session_events, total_events, message_memory, messages_memory, messages_disk}),
        rules,
        replay: child.replay.or(parent.replay),
        tls: over!(child.tls, parent.tls; TlsSpec { starttls, implicit, cert, key, cert_pem, key_pem, require, keywords_after, fail, certificate, versions, cipher_suites}),
        auth: over!(child.auth, parent.auth; AuthSpec { mechanisms, users, accept_any, require, after_tls, show_secrets,
            mechanisms_after_tls, ntlm, replies}),
        directory: over!(child.directory, parent.directory; DirectorySpec { domains, mailboxes, alternate_rhs, accept_all}),
        reroute: child.reroute.or(parent.reroute),
        relay: over!(child.relay, parent.relay; RelaySpec { allow, reroute_incoming, authenticated, refusal}),
        override_proxy_out: child.override_proxy_out.or(parent.override_proxy_out),
        quirks: over!(child.quirks, parent.quirks; QuirksSpec { pre_sp3_imcea}),
        ndr: over!(child.ndr, parent.ndr; NdrSpec { mode, style, organization, site, server}),
        xclient: over!(child.xclient, parent.xclient; XclientSpec { hosts, advertise}),
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

    /// Every key a child sets survives the merge, beside every key only the
    /// parent sets (`line_deadline` used to be dropped from a child).
    #[test]
    fn a_child_keeps_each_limit_it_sets_and_inherits_the_rest() {
        let file = |text: &str| parse::<ScenarioFile>(text, &Origin::Inline).unwrap();
        let parent = file("limits: {idle_timeout: 9s, command_line: 600}");
        let child = file("limits: {line_deadline: 2s, command_line: 700}");
        let limits = merge(child, parent).limits.unwrap();
        let deadline = limits.line_deadline.map(|d| d.value.0);
        assert_eq!(deadline, Some(std::time::Duration::from_secs(2)));
        assert_eq!(limits.command_line.map(|n| n.value), Some(700));
        assert!(limits.idle_timeout.is_some(), "inherited from the parent");
    }

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
