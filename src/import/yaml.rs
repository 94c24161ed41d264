//! A [`Capture`] as a `replay:` scenario (see `docs/import.md`).
//!
//! Each session becomes a banner, a list of steps (what the client sent and
//! the exact reply lines the server answered with) and how it ended. Each
//! reply goes to the step the builder paired it with while reading the
//! capture, so pipelined commands get the replies that were sent for them.
//! The file is written by serialising the scenario's own replay types, so it
//! cannot drift from what the loader reads.

use super::detect::Format;
use super::model::{Answers, Capture, CapturedSession, End, Item, ItemKind};
use super::redact::{REDACTED_BASE64, Redactor};
use crate::protocol::sasl;
use crate::scenario::model::DurationSpec;
use crate::scenario::replay::{ReplayEnd, ReplaySessionSpec, ReplaySpec, StepSpec};
use serde::Serialize;
use serde_saphyr::{Location, Spanned};
use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How to write the scenario.
#[derive(Debug, Clone)]
pub struct ScenarioOptions {
    /// The capture's file name (for the header comment and the name).
    pub source: String,
    /// The format it was read as.
    pub format: Format,
    /// Emit `delay:` before each reply, as captured.
    pub keep_timing: bool,
    /// Replace addresses, host names, IPs and AUTH credentials.
    pub redact: bool,
    /// Write AUTH credentials as captured. Off by default: a scenario is
    /// a file people commit and share, and a replay matches redacted
    /// credentials against any the client sends.
    pub keep_credentials: bool,
    /// Also emit sessions whose start is not in the capture (with an empty
    /// banner); by default they are left out with a warning.
    pub include_partial: bool,
}

impl ScenarioOptions {
    /// Options with the given source name and format, everything else off.
    pub fn new(source: impl Into<String>, format: Format) -> ScenarioOptions {
        ScenarioOptions {
            source: source.into(),
            format,
            keep_timing: false,
            redact: false,
            keep_credentials: false,
            include_partial: false,
        }
    }
}

/// A captured wait, in whole milliseconds as captured; none when under one.
fn ms(d: Duration) -> Option<DurationSpec> {
    let n = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    (n > 0).then(|| DurationSpec(Duration::from_millis(n)))
}

/// UTC `yyyy-mm-ddThh:mm:ssZ`.
pub fn utc(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

struct Text<'a> {
    redactor: Option<&'a mut Redactor>,
    /// Credentials are written as captured (`keep_credentials`, no redactor).
    credentials_shown: bool,
    warnings: &'a mut Vec<String>,
    label: &'a str,
    lossy_warned: bool,
}

impl Text<'_> {
    fn utf8(&mut self, bytes: &[u8]) -> String {
        match std::str::from_utf8(bytes) {
            Ok(s) => s.to_string(),
            Err(_) => {
                if !self.lossy_warned {
                    self.lossy_warned = true;
                    self.warnings.push(format!(
                        "{}: some lines are not UTF-8; invalid bytes became U+FFFD in the scenario",
                        self.label
                    ));
                }
                String::from_utf8_lossy(bytes).into_owned()
            }
        }
    }

    fn plain(&mut self, bytes: &[u8]) -> String {
        let s = self.utf8(bytes);
        match self.redactor.as_deref_mut() {
            Some(r) => r.text(&s),
            None => s,
        }
    }

    /// A reply line whose first word after the code is a host name.
    fn host_reply(&mut self, bytes: &[u8]) -> String {
        let s = self.utf8(bytes);
        match self.redactor.as_deref_mut() {
            Some(r) if s.len() > 4 && s.is_char_boundary(4) => {
                format!("{}{}", &s[..4], r.text_with_host_word(&s[4..], 0))
            }
            Some(r) => r.text(&s),
            None => s,
        }
    }

    fn command(&mut self, bytes: &[u8], in_auth: bool) -> String {
        let s = self.utf8(bytes);
        if !self.credentials_shown {
            if in_auth {
                // A SASL response; `*` cancels the exchange and hides nothing.
                return if s == "*" {
                    s
                } else {
                    REDACTED_BASE64.to_string()
                };
            }
            if sasl::is_auth(bytes) {
                return auth_redacted(bytes, s);
            }
        }
        let Some(r) = self.redactor.as_deref_mut() else {
            return s;
        };
        let verb = s.split(' ').next().unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" | "HELO" | "LHLO" => r.text_with_host_word(&s, 1),
            _ => r.text(&s),
        }
    }
}

/// The AUTH line `bytes` (shown as `s`) with its credential written as
/// base64 of `redacted`. Any case, tabs, invalid UTF-8, a misplaced
/// credential: the same test the server's transcript uses. `AUTH PLAIN =`
/// (an empty initial response) hides nothing and stays as it is.
fn auth_redacted(bytes: &[u8], s: String) -> String {
    let mut words = bytes
        .split(|b| *b == b' ' || *b == b'\t')
        .filter(|w| !w.is_empty());
    if words.nth(2) == Some(b"=".as_slice()) && words.next().is_none() {
        return s;
    }
    match sasl::redact_auth(bytes, false) {
        Some(shown) => String::from_utf8_lossy(&shown).replace(sasl::REDACTED, REDACTED_BASE64),
        None => s,
    }
}

fn is_verb(line: &[u8], verb: &[u8]) -> bool {
    line.len() >= verb.len()
        && line[..verb.len()].eq_ignore_ascii_case(verb)
        && matches!(line.get(verb.len()), None | Some(b' '))
}

/// A step being assembled, with what later replies need to know about it.
struct Draft {
    spec: StepSpec,
    /// When the client acted (for the reply's delay).
    at: Option<Duration>,
    /// EHLO, HELO or LHLO: the reply's first word after the code is a host.
    hello: bool,
}

impl Draft {
    fn new(spec: StepSpec, at: Option<Duration>) -> Draft {
        Draft {
            spec,
            at,
            hello: false,
        }
    }
}

/// One session's replay entry, assembled from its items in wire order with
/// the pairing the builder recorded in each reply.
struct Assembly<'t, 'a> {
    text: &'t mut Text<'a>,
    keep_timing: bool,
    banner: Option<Vec<String>>,
    banner_delay: Option<DurationSpec>,
    steps: Vec<Draft>,
    /// Where the client's Nth step ([`ItemKind::is_step`]) is in `steps`.
    step_index: Vec<usize>,
    last_reply_at: Option<Duration>,
    /// An AUTH exchange is under way: client lines are SASL responses.
    in_auth: bool,
    end: End,
}

impl Assembly<'_, '_> {
    fn item(&mut self, item: &Item) {
        let spec = match &item.kind {
            ItemKind::Command(line) => return self.command(line, item.at),
            ItemKind::HiddenCommand => StepSpec {
                client: Some(None),
                ..StepSpec::default()
            },
            ItemKind::Data { bdat: true, .. } => return,
            ItemKind::Data { size, .. } => StepSpec {
                data: Some(*size),
                ..StepSpec::default()
            },
            ItemKind::TlsStarted => StepSpec {
                starttls: Some(true),
                ..StepSpec::default()
            },
            ItemKind::Reply {
                code,
                lines,
                answers,
            } => return self.reply(*code, lines, *answers, item.at),
            ItemKind::End(e) => {
                self.end = *e;
                return;
            }
        };
        self.step(Draft::new(spec, item.at));
    }

    fn step(&mut self, draft: Draft) {
        self.step_index.push(self.steps.len());
        self.steps.push(draft);
    }

    fn command(&mut self, line: &[u8], at: Option<Duration>) {
        let auth = sasl::is_auth(line);
        let client = self.text.command(line, self.in_auth && !auth);
        self.in_auth |= auth;
        let spec = StepSpec {
            client: Some(Some(client)),
            ..StepSpec::default()
        };
        self.step(Draft {
            hello: ["EHLO", "HELO", "LHLO"]
                .iter()
                .any(|v| is_verb(line, v.as_bytes())),
            ..Draft::new(spec, at)
        });
    }

    fn reply(
        &mut self,
        code: Option<u16>,
        lines: &[Vec<u8>],
        answers: Answers,
        at: Option<Duration>,
    ) {
        let target = match answers {
            Answers::Step(n) => self.step_index.get(n).copied(),
            Answers::Greeting | Answers::Unasked => None,
        };
        let greeting = answers == Answers::Greeting;
        let host_first = greeting || target.is_some_and(|i| self.steps[i].hello);
        let rendered: Vec<String> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                if i == 0 && host_first {
                    self.text.host_reply(l)
                } else {
                    self.text.plain(l)
                }
            })
            .collect();
        if code != Some(334) {
            self.in_auth = false;
        }
        if greeting {
            self.banner = Some(rendered);
            self.banner_delay = at.and_then(ms).filter(|_| self.keep_timing);
            self.last_reply_at = at;
            return;
        }
        let unasked = target.is_none();
        let target = target.unwrap_or_else(|| self.unasked(code));
        let step = &mut self.steps[target];
        let base = match (step.at, self.last_reply_at) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        // A reply the server sent on its own came after the client had been
        // quiet this long: the replay waits for the same quiet time, with
        // or without --keep-timing, or the client would read it as the
        // answer to its next command.
        if (self.keep_timing || unasked)
            && let (Some(t), Some(b)) = (at, base)
        {
            step.spec.delay = ms(t.saturating_sub(b));
        }
        step.spec.reply = Some(rendered);
        if at.is_some() {
            self.last_reply_at = at;
        }
    }

    /// A step for a reply that answers nothing the capture shows; its index.
    fn unasked(&mut self, code: Option<u16>) -> usize {
        // Servers do speak unasked when they give up on a client (421, or
        // Exchange's 451 timeout); any other reply with no command before
        // it is one the capture shows early, or whose command it lost.
        if !matches!(code, Some(421 | 451)) {
            let warning = format!(
                "{}: a {} reply answers no command the capture shows before it; replayed as sent unasked (if the capture put it before its command, every later reply is paired with the wrong command)",
                self.text.label,
                code.map_or_else(|| "code-less".to_string(), |c| c.to_string())
            );
            self.text.warnings.push(warning);
        }
        self.steps
            .push(Draft::new(StepSpec::default(), self.last_reply_at));
        self.steps.len() - 1
    }
}

fn replay_end(end: End) -> ReplayEnd {
    match end {
        End::ClientClosed => ReplayEnd::ClientClosed,
        End::ServerClosed => ReplayEnd::ServerClosed,
        End::CutOff => ReplayEnd::CutOff,
    }
}

/// One session as a replay entry, and a line saying where it came from.
fn session_spec(
    s: &CapturedSession,
    options: &ScenarioOptions,
    redactor: &mut Option<Redactor>,
    warnings: &mut Vec<String>,
) -> (ReplaySessionSpec, String) {
    let mut text = Text {
        credentials_shown: options.keep_credentials && redactor.is_none(),
        redactor: redactor.as_mut(),
        warnings,
        label: &s.label,
        lossy_warned: false,
    };
    let mut assembly = Assembly {
        text: &mut text,
        keep_timing: options.keep_timing,
        banner: None,
        banner_delay: None,
        steps: Vec::new(),
        step_index: Vec::new(),
        last_reply_at: None,
        in_auth: false,
        end: End::CutOff,
    };
    for item in &s.items {
        assembly.item(item);
    }
    let spec = ReplaySessionSpec {
        banner: Some(assembly.banner.unwrap_or_default()),
        delay: assembly.banner_delay,
        steps: assembly
            .steps
            .into_iter()
            .map(|d| spanned(d.spec))
            .collect(),
        end: Some(replay_end(assembly.end)),
    };
    (spec, about(s, &mut text))
}

/// Where a session came from: its label, addresses and start.
fn about(s: &CapturedSession, text: &mut Text<'_>) -> String {
    let mut about = s.label.clone();
    if let (Some(c), Some(sv)) = (s.client, s.server) {
        let (c, sv) = match text.redactor.as_deref_mut() {
            Some(r) => (r.text(&c.to_string()), r.text(&sv.to_string())),
            None => (c.to_string(), sv.to_string()),
        };
        let _ = write!(about, ": {c} -> {sv}");
    }
    if let Some(t) = s.started {
        let _ = write!(about, ", started {}", utc(t));
    }
    if s.begin_missing {
        about.push_str("; the start of this session is not in the capture: no banner");
    }
    about
}

fn spanned<T>(value: T) -> Spanned<T> {
    Spanned::new(value, Location::UNKNOWN, Location::UNKNOWN)
}

fn scenario_name(source: &str) -> String {
    let stem = std::path::Path::new(source)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut name = String::from("imported-");
    let mut dash = true;
    for c in stem.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
            dash = false;
        } else if !dash {
            name.push('-');
            dash = true;
        }
    }
    while name.ends_with('-') {
        name.pop();
    }
    name
}

/// What an imported file holds: a name, a description and the replay.
#[derive(Serialize)]
struct Imported {
    name: String,
    description: String,
    /// `tls: {}` when a captured session started TLS: the replay does the
    /// handshake there (with a self-signed certificate) and goes on;
    /// `tls: {implicit: true}` when it spoke TLS from the first byte.
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<TlsKeys>,
    replay: ReplaySpec,
}

/// The `tls:` an imported scenario needs.
#[derive(Serialize)]
struct TlsKeys {
    #[serde(skip_serializing_if = "Option::is_none")]
    implicit: Option<bool>,
}

/// The scenario text and what was left out or changed.
///
/// The document is the serialised [`ReplaySpec`]; what YAML has no field
/// for (the source, warnings, where each session came from) is a comment
/// block before it.
pub fn render(capture: &Capture, options: &ScenarioOptions) -> (String, Vec<String>) {
    let mut warnings = Vec::new();
    let mut redactor = options.redact.then(Redactor::new);
    let mut sessions = Vec::new();
    let mut origins = Vec::new();
    for s in &capture.sessions {
        if s.begin_missing && !options.include_partial {
            warnings.push(format!(
                "{}: left out of the scenario because its start is not in the capture",
                s.label
            ));
            continue;
        }
        let (spec, origin) = session_spec(s, options, &mut redactor, &mut warnings);
        origins.push(origin);
        sessions.push(spanned(spec));
    }
    let source = std::path::Path::new(&options.source)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| options.source.clone());
    let emitted = sessions.len();
    let skipped = capture.sessions.len() - emitted;
    let mut description = format!(
        "{emitted} session(s) replayed from {source} ({})",
        options.format
    );
    if skipped > 0 {
        let _ = write!(description, "; {skipped} partial session(s) left out");
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# imported from {source} ({}) by smtp-harness import",
        options.format
    );
    if options.redact {
        out.push_str("# redacted: addresses, host names, IPs and AUTH data are placeholders\n");
    }
    for w in capture.warnings.iter().chain(warnings.iter()) {
        let w = match redactor.as_mut() {
            Some(r) => r.text(w),
            None => w.clone(),
        };
        let _ = writeln!(out, "# warning: {}", one_line(&w));
    }
    if emitted > 0 {
        out.push_str(
            "# replay.sessions are served in order; connection N uses entry N (wrapping)\n",
        );
    }
    for (i, origin) in origins.iter().enumerate() {
        let _ = writeln!(out, "# sessions[{i}]: {}", one_line(origin));
    }
    let tls = tls_keys(capture, options, &mut out, &mut warnings);
    let doc = Imported {
        name: scenario_name(&source),
        description,
        tls,
        replay: ReplaySpec { sessions },
    };
    match serde_saphyr::to_string(&doc) {
        Ok(yaml) => out.push_str(&yaml),
        // Only a serialiser bug gets here; the loader check after
        // rendering then reports the file as not loading.
        Err(e) => warnings.push(format!("the scenario could not be written: {e}")),
    }
    (out, warnings)
}

/// The `tls:` section the emitted sessions need, with a comment saying why
/// (added to `out`, and to `warnings` for a mix): none without TLS, `{}` for STARTTLS, `{implicit:
/// true}` for TLS from the first byte. One scenario serves every session
/// the same way, so sessions that mix both are served with implicit TLS,
/// and the comment says so.
fn tls_keys(
    capture: &Capture,
    options: &ScenarioOptions,
    out: &mut String,
    warnings: &mut Vec<String>,
) -> Option<TlsKeys> {
    let emitted = || {
        capture
            .sessions
            .iter()
            .filter(|s| options.include_partial || !s.begin_missing)
    };
    let implicit = emitted().filter(|s| s.implicit_tls).count();
    if implicit > 0 {
        let _ = writeln!(
            out,
            "# tls: TLS from the first byte (swaks --tlsc), with a self-signed certificate"
        );
        if implicit < emitted().count() {
            let warning = format!(
                "only {implicit} of the sessions used TLS from the first byte; the replay serves all of them so"
            );
            let _ = writeln!(out, "# warning: {warning}");
            warnings.push(warning);
        }
        return Some(TlsKeys {
            implicit: Some(true),
        });
    }
    emitted().any(|s| s.tls_started()).then(|| {
        out.push_str("# tls: a captured session started TLS; the replay does the handshake with a self-signed certificate\n");
        TlsKeys { implicit: None }
    })
}

/// A comment holds printable characters only, and no line break: a label
/// or a warning quoting the capture can hold anything.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// The scenario text for a capture (warnings are in its comments).
#[cfg(any(test, feature = "internals"))]
pub fn to_scenario_yaml(capture: &Capture, options: &ScenarioOptions) -> String {
    render(capture, options).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats() {
        assert_eq!(
            utc(UNIX_EPOCH + Duration::from_secs(1_254_722_767)),
            "2009-10-05T06:06:07Z"
        );
        assert_eq!(
            scenario_name("dir/Zeek SMTP_x.pcap"),
            "imported-zeek-smtp-x"
        );
    }

    /// A reply with no command before it is said to be a guess, unless it
    /// is a server giving up (421, 451).
    #[test]
    fn a_reply_before_any_command_is_warned_about() {
        let item = |kind| crate::import::Item { at: None, kind };
        let reply = |text: &str, answers| {
            item(ItemKind::Reply {
                code: text.get(..3).and_then(|c| c.parse().ok()),
                lines: vec![text.as_bytes().to_vec()],
                answers,
            })
        };
        let session = CapturedSession {
            label: "session 0".into(),
            items: vec![
                reply("220 hi", Answers::Greeting),
                reply("250 2.1.0 Sender OK", Answers::Unasked),
                item(ItemKind::Command(b"MAIL FROM:<a@b>".to_vec())),
                reply(
                    "451 4.7.0 Timeout waiting for client input",
                    Answers::Step(0),
                ),
            ],
            ..CapturedSession::default()
        };
        let capture = Capture {
            sessions: vec![session],
            warnings: Vec::new(),
        };
        let (_, warnings) = render(&capture, &ScenarioOptions::new("x", Format::JsonLines));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("session 0: a 250 reply answers no command"),
            "{warnings:?}"
        );
    }

    /// What YAML could mistake for something else (a comment, an alias, a
    /// boolean, a flow separator, a key, edge spaces, escapes) reads back
    /// as exactly the captured line, and the captured waits and unknowns
    /// mean what they meant.
    #[test]
    fn serialised_replays_load_back_exactly() {
        use crate::import::builder::SessionBuilder;
        let odd = [
            "250 ok # not a comment",
            "250 *alias &anchor !tag %x @at `tick",
            "250 a, b: c [d] {e}",
            "yes",
            "null",
            "~",
            "1e3",
            "- dash",
            "? query",
            "#hash",
            "'single",
            "\"double",
            " leading",
            "trailing ",
            "tab\there",
            "bell\u{7}\u{7f}",
            "caf\u{e9} \u{feff}",
            "",
        ];
        let ms = |n| Some(Duration::from_millis(n));
        let label = CapturedSession {
            label: "odd\u{1b}\u{85}\u{2028}\u{feff}\r label".into(),
            ..CapturedSession::default()
        };
        let mut b = SessionBuilder::new(label, true);
        b.server_line(b"220 hi", ms(5));
        for (i, line) in odd.iter().enumerate() {
            b.command(line.as_bytes(), ms(10 + i as u64 * 10));
            b.server_line(format!("250 {line}").as_bytes(), ms(12 + i as u64 * 10));
        }
        b.hidden_command(ms(500));
        b.server_line(b"235 ok", ms(501));
        b.data_end(None, None, ms(600));
        b.server_line(b"250 queued", ms(1600));
        let capture = Capture {
            sessions: vec![b.finish(End::ServerClosed, ms(1700))],
            warnings: vec!["a warning\nover two lines".into()],
        };
        let mut options = ScenarioOptions::new("odd.jsonl", Format::JsonLines);
        options.keep_timing = true;
        options.keep_credentials = true;
        let (yaml, _) = render(&capture, &options);
        assert!(
            yaml.contains("# warning: a warning over two lines\n"),
            "{yaml}"
        );
        assert!(
            yaml.contains("client: null # the client's line is not in the capture"),
            "{yaml}"
        );
        assert!(
            yaml.contains("data: null # message content not in the capture"),
            "{yaml}"
        );
        let scenario = crate::Scenario::from_yaml(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        let replay = &scenario.plan().replay[0];
        assert_eq!(
            replay.banner.as_ref().map(|b| b.1.clone()),
            Some("220 hi\r\n".into())
        );
        assert_eq!(replay.banner_delay, Duration::from_millis(5));
        assert_eq!(replay.end, ReplayEnd::ServerClosed);
        let steps = &replay.steps;
        assert_eq!(steps.len(), odd.len() + 2, "{yaml}");
        for (step, line) in steps.iter().zip(odd) {
            let expect = format!("{:?}", step.expect);
            assert_eq!(expect, format!("Command(Some({line:?}))"), "{yaml}");
            assert_eq!(step.wire, format!("250 {line}\r\n").as_bytes(), "{yaml}");
            assert_eq!(step.delay, Duration::from_millis(2), "{yaml}");
        }
        assert_eq!(format!("{:?}", steps[odd.len()].expect), "Command(None)");
        assert_eq!(
            format!("{:?}", steps[odd.len() + 1].expect),
            "Message(None)"
        );
        assert_eq!(steps[odd.len() + 1].delay, Duration::from_millis(1000));
    }
}
