//! A [`Capture`] as a `replay:` scenario (see `docs/import.md`).
//!
//! Each session becomes a banner, a list of steps (what the client sent and
//! the exact reply lines the server answered with) and how it ended.
//! Commands are paired with replies in order, so pipelined commands get the
//! replies that were sent for them. Every string is a YAML double-quoted
//! scalar written by `serde_json` (a JSON string is a valid YAML
//! double-quoted scalar), so any byte sequence that is UTF-8 round-trips.

use super::detect::Format;
use super::model::{Capture, CapturedSession, End, ItemKind};
use super::redact::{REDACTED_BASE64, Redactor};
use crate::protocol::sasl;
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

/// Who sent what in a step.
enum Client {
    Line(String),
    Hidden,
    Data(Option<usize>),
    StartTls,
    Nothing,
}

struct Step {
    client: Client,
    at: Option<Duration>,
    reply: Option<Vec<String>>,
    delay: Option<Duration>,
}

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

fn list(lines: &[String]) -> String {
    let items: Vec<String> = lines.iter().map(|l| q(l)).collect();
    format!("[{}]", items.join(", "))
}

fn ms(d: Duration) -> Option<String> {
    let n = d.as_millis();
    (n > 0).then(|| format!("{n}ms"))
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

/// Render one session; `None` when it is left out.
fn session_yaml(
    s: &CapturedSession,
    options: &ScenarioOptions,
    redactor: &mut Option<Redactor>,
    warnings: &mut Vec<String>,
    out: &mut String,
) {
    let mut text = Text {
        credentials_shown: options.keep_credentials && redactor.is_none(),
        redactor: redactor.as_mut(),
        warnings,
        label: &s.label,
        lossy_warned: false,
    };
    let mut banner: Option<(Vec<String>, Option<Duration>)> = None;
    let mut steps: Vec<Step> = Vec::new();
    let mut awaiting: std::collections::VecDeque<usize> = Default::default();
    let mut last_reply_at: Option<Duration> = None;
    let mut end = End::CutOff;
    let mut in_auth = false;
    let mut last_ehlo = false;
    // The first reply is the greeting even when an impatient client sent
    // commands before it arrived (they then wait in `awaiting`).
    let mut replies_seen = 0usize;
    for item in &s.items {
        match &item.kind {
            ItemKind::Command(line) => {
                let auth_data = in_auth && !sasl::is_auth(line);
                let client = Client::Line(text.command(line, auth_data));
                if sasl::is_auth(line) {
                    in_auth = true;
                }
                last_ehlo =
                    is_verb(line, b"EHLO") || is_verb(line, b"HELO") || is_verb(line, b"LHLO");
                awaiting.push_back(steps.len());
                steps.push(Step {
                    client,
                    at: item.at,
                    reply: None,
                    delay: None,
                });
            }
            ItemKind::HiddenCommand => {
                awaiting.push_back(steps.len());
                steps.push(Step {
                    client: Client::Hidden,
                    at: item.at,
                    reply: None,
                    delay: None,
                });
            }
            ItemKind::Data { bdat: true, .. } => {}
            ItemKind::Data { size, .. } => {
                awaiting.push_back(steps.len());
                steps.push(Step {
                    client: Client::Data(*size),
                    at: item.at,
                    reply: None,
                    delay: None,
                });
            }
            ItemKind::TlsStarted => {
                awaiting.clear();
                steps.push(Step {
                    client: Client::StartTls,
                    at: item.at,
                    reply: None,
                    delay: None,
                });
            }
            ItemKind::Reply { code, lines } => {
                let greeting = banner.is_none() && replies_seen == 0 && !s.begin_missing;
                replies_seen += 1;
                let host_first = greeting || (last_ehlo && awaiting.len() == 1);
                let rendered: Vec<String> = lines
                    .iter()
                    .enumerate()
                    .map(|(i, l)| {
                        if i == 0 && host_first {
                            text.host_reply(l)
                        } else {
                            text.plain(l)
                        }
                    })
                    .collect();
                if *code != Some(334) {
                    in_auth = false;
                }
                if greeting {
                    banner = Some((rendered, item.at));
                    last_reply_at = item.at;
                    continue;
                }
                let target = match awaiting.pop_front() {
                    Some(i) => i,
                    None => {
                        // Servers do speak unasked when they give up on a
                        // client (421, or Exchange's 451 timeout); any
                        // other reply with no command before it is one the
                        // capture shows early, or whose command it lost.
                        if !matches!(code, Some(421 | 451)) {
                            text.warnings.push(format!(
                                "{}: a {} reply answers no command the capture shows before it; replayed as sent unasked (if the capture put it before its command, every later reply is paired with the wrong command)",
                                s.label,
                                code.map_or_else(|| "code-less".to_string(), |c| c.to_string())
                            ));
                        }
                        steps.push(Step {
                            client: Client::Nothing,
                            at: last_reply_at,
                            reply: None,
                            delay: None,
                        });
                        steps.len() - 1
                    }
                };
                if awaiting.is_empty() {
                    last_ehlo = false;
                }
                let step = &mut steps[target];
                let base = match (step.at, last_reply_at) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                step.delay = match (item.at, base) {
                    (Some(t), Some(b)) => Some(t.saturating_sub(b)),
                    _ => None,
                };
                step.reply = Some(rendered);
                if item.at.is_some() {
                    last_reply_at = item.at;
                }
            }
            ItemKind::End(e) => end = *e,
        }
    }

    // Header comment.
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
    let _ = writeln!(out, "    # {about}");
    if s.begin_missing {
        let _ = writeln!(
            out,
            "    # the start of this session is not in the capture: no banner"
        );
    }
    let (banner_lines, banner_at) = banner.unwrap_or_default();
    let _ = writeln!(out, "    - banner: {}", list(&banner_lines));
    if options.keep_timing {
        if let Some(d) = banner_at.and_then(ms) {
            let _ = writeln!(out, "      delay: {d}");
        }
    }
    if steps.is_empty() {
        let _ = writeln!(out, "      steps: []");
    } else {
        let _ = writeln!(out, "      steps:");
    }
    for step in &steps {
        let mut keys: Vec<String> = Vec::new();
        match &step.client {
            Client::Line(l) => keys.push(format!("client: {}", q(l))),
            Client::Hidden => {
                keys.push("client: null  # the client's line is not in the capture".into())
            }
            Client::Data(Some(n)) => keys.push(format!("data: {n}")),
            Client::Data(None) => {
                keys.push("data: null  # message content not in the capture".into())
            }
            Client::StartTls => keys.push("starttls: true".into()),
            Client::Nothing => {}
        }
        if let Some(reply) = &step.reply {
            let note = if matches!(step.client, Client::Nothing) {
                "  # sent without a command"
            } else {
                ""
            };
            keys.push(format!("reply: {}{note}", list(reply)));
            if options.keep_timing {
                if let Some(d) = step.delay.and_then(ms) {
                    keys.push(format!("delay: {d}"));
                }
            }
        }
        for (i, k) in keys.iter().enumerate() {
            let lead = if i == 0 { "        - " } else { "          " };
            let _ = writeln!(out, "{lead}{k}");
        }
    }
    let _ = writeln!(out, "      end: {}", end.as_str());
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

/// The scenario text and what was left out or changed.
pub fn render(capture: &Capture, options: &ScenarioOptions) -> (String, Vec<String>) {
    let mut warnings = Vec::new();
    let mut redactor = options.redact.then(Redactor::new);
    let mut body = String::new();
    let mut emitted = 0;
    for s in &capture.sessions {
        if s.begin_missing && !options.include_partial {
            warnings.push(format!(
                "{}: left out of the scenario because its start is not in the capture",
                s.label
            ));
            continue;
        }
        session_yaml(s, options, &mut redactor, &mut warnings, &mut body);
        emitted += 1;
    }
    let source = std::path::Path::new(&options.source)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| options.source.clone());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# imported from {source} ({}) by smtp-harness import",
        options.format
    );
    if options.redact {
        let _ = writeln!(
            out,
            "# redacted: addresses, host names, IPs and AUTH data are placeholders"
        );
    }
    for w in capture.warnings.iter().chain(warnings.iter()) {
        let w = match redactor.as_mut() {
            Some(r) => r.text(w),
            None => w.clone(),
        };
        let _ = writeln!(out, "# warning: {}", w.replace('\n', " "));
    }
    let _ = writeln!(out, "name: {}", q(&scenario_name(&source)));
    let skipped = capture.sessions.len() - emitted;
    let mut description = format!(
        "{emitted} session(s) replayed from {source} ({})",
        options.format
    );
    if skipped > 0 {
        let _ = write!(description, "; {skipped} partial session(s) left out");
    }
    let _ = writeln!(out, "description: {}", q(&description));
    let _ = writeln!(out, "replay:");
    if emitted == 0 {
        let _ = writeln!(out, "  sessions: []");
    } else {
        let _ = writeln!(
            out,
            "  sessions:            # served in order; connection N uses entry N (wrapping)"
        );
    }
    out.push_str(&body);
    (out, warnings)
}

/// The scenario text for a capture (warnings are in its comments).
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
        let reply = |text: &str| {
            item(ItemKind::Reply {
                code: text.get(..3).and_then(|c| c.parse().ok()),
                lines: vec![text.as_bytes().to_vec()],
            })
        };
        let session = CapturedSession {
            label: "session 0".into(),
            items: vec![
                reply("220 hi"),
                reply("250 2.1.0 Sender OK"),
                item(ItemKind::Command(b"MAIL FROM:<a@b>".to_vec())),
                reply("451 4.7.0 Timeout waiting for client input"),
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
}
