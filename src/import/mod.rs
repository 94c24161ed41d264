//! Capture importers: turn what a customer captured (swaks output, an
//! Exchange protocol log, a pcap/pcapng file, or a harness transcript) into a
//! `replay:` scenario that answers like the captured server, byte for byte.
//!
//! Data flows one way:
//!
//! - [`detect`](mod@detect): which format a file is, from its content.
//! - importers, each producing the format-neutral [`Capture`] ([`model`]):
//!   `swaks`, `exchange` (with `csv`), `jsonl`, and `pcap` → `flows`
//!   (connections) → `tcp` (reassembly) → `stream` (SMTP framing), all
//!   sharing `builder` (which command a reply answers, DATA, STARTTLS).
//! - [`yaml`]: a [`Capture`] as scenario text, with `redact` for `--redact`.
//!
//! Importers never panic on input. A problem that stops reading is an
//! [`ImportError`] naming the file, which still carries the sessions read
//! before it; problems that only skip something are warnings.

mod builder;
mod csv;
pub mod detect;
mod exchange;
mod fit;
mod flows;
mod jsonl;
pub mod model;
mod pcap;
pub mod record;
pub mod redact;
mod stream;
mod swaks;
#[cfg(any(test, feature = "internals"))]
pub mod synth;
pub mod tcp;
pub mod yaml;

#[cfg(test)]
mod tests;

pub use detect::{Format, detect};
pub use model::Capture;
#[cfg(any(test, feature = "internals"))]
pub use model::{Answers, CapturedSession, End, Item, ItemKind};
pub use yaml::{ScenarioOptions, render};
#[cfg(any(test, feature = "internals"))]
pub use yaml::to_scenario_yaml;

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Reading a capture failed. Whatever could be read is in `partial`.
#[derive(Debug)]
pub struct ImportError {
    /// The capture file.
    pub file: PathBuf,
    /// The format it was read as, when known.
    pub format: Option<Format>,
    /// What was wrong, as a sentence.
    pub problem: String,
    /// The sessions (and warnings) read before the problem, if any.
    pub partial: Option<Box<Capture>>,
    /// Those sessions as a scenario (set by [`run_import`]).
    pub partial_scenario: Option<String>,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.problem)?;
        if let Some(p) = &self.partial
            && !p.sessions.is_empty() {
                write!(
                    f,
                    " ({} session(s) before the problem could be read)",
                    p.sessions.len()
                )?;
            }
        Ok(())
    }
}

impl std::error::Error for ImportError {}

/// What to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Read as this format instead of detecting it.
    pub format: Option<Format>,
    /// Keep only this session: the TCP stream number for pcap/pcapng
    /// (numbered like Wireshark's `tcp.stream`), the session's position
    /// (from 0) for the other formats.
    pub stream: Option<usize>,
}

type Parsed = Result<Capture, (String, Capture)>;

fn error(file: &Path, problem: impl Into<String>, partial: Option<Capture>) -> ImportError {
    ImportError {
        file: file.to_path_buf(),
        format: None,
        problem: problem.into(),
        partial: partial.map(Box::new),
        partial_scenario: None,
    }
}

fn finish(
    file: &Path,
    format: Format,
    parsed: Parsed,
    options: &ImportOptions,
) -> Result<Capture, ImportError> {
    let mut capture = match parsed {
        Ok(c) => c,
        Err((problem, partial)) => {
            let mut e = error(file, format!("{problem} (read as {format})"), Some(partial));
            e.format = Some(format);
            return Err(e);
        }
    };
    if let (Some(n), false) = (
        options.stream,
        matches!(format, Format::Pcap | Format::Pcapng),
    ) {
        if n >= capture.sessions.len() {
            let problem = format!(
                "there is no session {n}: the capture has {} (numbered from 0)",
                capture.sessions.len()
            );
            return Err(error(file, problem, Some(capture)));
        }
        let chosen = capture.sessions.swap_remove(n);
        capture.sessions = vec![chosen];
    }
    if capture.sessions.is_empty() {
        // A scenario without sessions would replay as a default server:
        // a test against it would pass for reasons the capture never showed.
        let why = if capture.warnings.is_empty() {
            String::new()
        } else {
            format!(
                " ({} warning(s) say what was skipped)",
                capture.warnings.len()
            )
        };
        let mut e = error(
            file,
            format!("no SMTP session could be imported (read as {format}){why}"),
            Some(capture),
        );
        e.format = Some(format);
        return Err(e);
    }
    Ok(capture)
}

/// Import a capture held in memory; `name` is used in messages.
pub fn import_bytes(
    bytes: &[u8],
    name: &Path,
    options: &ImportOptions,
) -> Result<(Format, Capture), ImportError> {
    if bytes.is_empty() {
        return Err(error(name, "the file is empty", None));
    }
    let format = match options
        .format
        .or_else(|| detect(&bytes[..bytes.len().min(16 << 10)]))
    {
        Some(f) => f,
        None => {
            return Err(error(
                name,
                format!(
                    "cannot tell the capture format (not pcap, pcapng, swaks, an Exchange protocol log or a JSON Lines transcript); first bytes: {}; use --format",
                    preview(bytes)
                ),
                None,
            ));
        }
    };
    let parsed = match format {
        Format::Swaks => swaks::parse(bytes),
        Format::Exchange => exchange::parse(bytes),
        Format::JsonLines => jsonl::parse(bytes),
        Format::Pcap | Format::Pcapng => pcap::parse(bytes, options.stream),
    };
    finish(name, format, parsed, options).map(|c| (format, c))
}

/// Import a capture file. pcap and pcapng files are streamed, never read
/// whole into memory.
pub fn import_file(path: &Path, options: &ImportOptions) -> Result<(Format, Capture), ImportError> {
    let mut file =
        std::fs::File::open(path).map_err(|e| error(path, format!("cannot open: {e}"), None))?;
    let mut head = Vec::with_capacity(16 << 10);
    (&mut file)
        .take(16 << 10)
        .read_to_end(&mut head)
        .map_err(|e| error(path, format!("cannot read: {e}"), None))?;
    if head.is_empty() {
        return Err(error(path, "the file is empty", None));
    }
    let format = options.format.or_else(|| detect(&head));
    if let Some(f @ (Format::Pcap | Format::Pcapng)) = format {
        let reader =
            std::io::Cursor::new(head).chain(std::io::BufReader::with_capacity(1 << 20, file));
        let parsed = pcap::parse(reader, options.stream);
        return finish(path, f, parsed, options).map(|c| (f, c));
    }
    let mut bytes = head;
    file.read_to_end(&mut bytes)
        .map_err(|e| error(path, format!("cannot read: {e}"), None))?;
    import_bytes(&bytes, path, options)
}

fn preview(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(16)];
    head.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `smtp-harness import` command: read `input`, return the scenario
/// text and the warnings (what was skipped or looks wrong). On error the
/// [`ImportError`] carries the scenario for whatever could be read in
/// `partial_scenario`.
pub fn run_import(
    input: &Path,
    format: Option<Format>,
    stream: Option<usize>,
    keep_timing: bool,
    redact: bool,
    keep_credentials: bool,
) -> Result<(String, Vec<String>), ImportError> {
    let options = ImportOptions { format, stream };
    let scenario = |capture: &Capture, format: Format| {
        let mut o = ScenarioOptions::new(input.to_string_lossy(), format);
        o.keep_timing = keep_timing;
        o.redact = redact;
        o.keep_credentials = keep_credentials;
        render(capture, &o)
    };
    match import_file(input, &options) {
        Ok((format, capture)) => {
            let (text, mut extra) =
                fit::loadable(&capture, &|c| scenario(c, format)).map_err(|problem| {
                    // The warnings say what was skipped; no session is kept.
                    let skipped = Capture {
                        sessions: Vec::new(),
                        warnings: capture.warnings.clone(),
                    };
                    let mut e = error(input, problem, Some(skipped));
                    e.format = Some(format);
                    e
                })?;
            let mut warnings = capture.warnings;
            warnings.append(&mut extra);
            Ok((text, warnings))
        }
        Err(mut e) => {
            if let Some(p) = e.partial.as_deref()
                && !p.sessions.is_empty() {
                    let format = e.format.or(format).unwrap_or(Format::Pcap);
                    let text = scenario(p, format).0;
                    e.partial_scenario = Some(format!(
                        "# PARTIAL: {}\n{text}",
                        e.problem.replace('\n', " ")
                    ));
                }
            Err(e)
        }
    }
}
