//! `replay:` — a captured conversation served back step by step, so a
//! customer's server can be reproduced byte for byte and a client under test
//! compared with the customer's client.
//!
//! Written by `smtp-harness import`; readable and editable by hand.

use super::model::DurationSpec;
use super::problem::Problem;
use serde::{Deserialize, Serialize, Serializer};
use serde_saphyr::{Commented, FlowSeq, Location, Spanned};
use std::time::Duration;

/// `replay:` as written.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaySpec {
    /// Captured sessions; the server's Nth session plays entry N (wrapping).
    #[schemars(with = "Vec<ReplaySessionSpec>")]
    pub sessions: Vec<Spanned<ReplaySessionSpec>>,
}

/// One captured session.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaySessionSpec {
    /// The greeting, exact wire lines without CRLF.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "flow")]
    pub banner: Option<Vec<String>>,
    /// Wait before the greeting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<DurationSpec>,
    /// What happened, in order.
    #[serde(default)]
    #[schemars(with = "Vec<StepSpec>")]
    pub steps: Vec<Spanned<StepSpec>>,
    /// How the captured session ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<ReplayEnd>,
}

/// `null` and absent mean different things here (`client: null` is "some
/// line the capture does not show"), so keep them apart.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Reply lines on one line each, `[...]`, as a capture reads best.
fn flow<S: Serializer>(lines: &Option<Vec<String>>, s: S) -> Result<S::Ok, S::Error> {
    match lines {
        Some(lines) => FlowSeq(lines).serialize(s),
        None => s.serialize_none(),
    }
}

/// A present `null`, with the comment that says what it stands for.
fn noted<T: Serialize, S: Serializer>(
    value: &Option<Option<T>>,
    note: &str,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(Some(v)) => v.serialize(s),
        _ => Commented(None::<&T>, note.to_string()).serialize(s),
    }
}

fn client_noted<S: Serializer>(client: &Option<Option<String>>, s: S) -> Result<S::Ok, S::Error> {
    noted(client, "the client's line is not in the capture", s)
}

fn data_noted<S: Serializer>(data: &Option<Option<usize>>, s: S) -> Result<S::Ok, S::Error> {
    noted(data, "message content not in the capture", s)
}

/// One step: at most one of `client`, `data` or `starttls`; a step with
/// only `reply` is a reply the server sent on its own (a timeout notice).
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// The command the captured client sent (`null`: a line the capture
    /// does not show, such as AUTH data in Exchange logs).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none",
        serialize_with = "client_noted"
    )]
    pub client: Option<Option<String>>,
    /// The captured client sent a message of this many octets here (`null`:
    /// of unknown size).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none",
        serialize_with = "data_noted"
    )]
    pub data: Option<Option<usize>>,
    /// TLS started here (after the step before it got `220`): the replay
    /// does the handshake (the scenario needs `tls:`). The steps after it
    /// are what was said over TLS (swaks shows it); when it is the last
    /// step, the capture saw only ciphertext and the built-in server
    /// answers the rest of the session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starttls: Option<bool>,
    /// The captured reply: exact wire lines without CRLF.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "flow")]
    pub reply: Option<Vec<String>>,
    /// Wait before replying. On a step with only `reply` (sent unprompted):
    /// how long the client must stay quiet before it goes out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<DurationSpec>,
}

/// How a captured session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplayEnd {
    /// The server closed after its last reply.
    ServerClosed,
    /// The client closed.
    ClientClosed,
    /// The capture stops mid-session.
    CutOff,
}

/// What a step expects from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Captured {
    /// This command line (`None`: any line).
    Command(Option<String>),
    /// A message (after a 354), of the captured size if known.
    Message(Option<usize>),
    /// A TLS handshake.
    StartTls,
    /// Nothing: the server spoke on its own.
    Nothing,
}

/// A checked step.
#[derive(Debug, Clone)]
pub struct Step {
    /// What the captured client did.
    pub expect: Captured,
    /// The captured reply's code.
    pub code: u16,
    /// The captured reply, exact bytes with CRLFs (empty for no reply).
    pub wire: bytes::Bytes,
    /// Wait before replying.
    pub delay: Duration,
}

/// A checked captured session.
#[derive(Debug, Clone)]
pub struct ReplaySession {
    /// Greeting code and exact bytes.
    pub banner: Option<(u16, bytes::Bytes)>,
    /// Wait before the greeting.
    pub banner_delay: Duration,
    /// The steps.
    pub steps: Vec<Step>,
    /// How it ended.
    pub end: ReplayEnd,
}

fn wire(
    lines: &[String],
    file: &str,
    at: &Location,
    problems: &mut Vec<Problem>,
) -> (u16, bytes::Bytes) {
    let mut out = Vec::new();
    let mut code = 0;
    for (i, line) in lines.iter().enumerate() {
        match line.get(..3).and_then(|c| c.parse::<u16>().ok()) {
            Some(c) if i == 0 => code = c,
            Some(_) => {}
            None => problems.push(Problem::at(
                file,
                at,
                format!("captured reply line {line:?} does not start with a three-digit code"),
            )),
        }
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    (code, out.into())
}

/// Check `spec` and build the sessions.
pub fn compile(spec: &ReplaySpec, file: &str, problems: &mut Vec<Problem>) -> Vec<ReplaySession> {
    spec.sessions
        .iter()
        .map(|s| {
            let at = &s.referenced;
            let banner = s.value.banner.as_ref().map(|b| wire(b, file, at, problems));
            let steps = s
                .value
                .steps
                .iter()
                .filter_map(|st| {
                    let v = &st.value;
                    let expect = match (&v.client, v.data, v.starttls) {
                        (Some(c), None, None) => Captured::Command(c.clone()),
                        (None, Some(n), None) => Captured::Message(n),
                        (None, None, Some(true)) => Captured::StartTls,
                        (None, None, None) if v.reply.is_some() => Captured::Nothing,
                        _ => {
                            problems.push(Problem::at(file, &st.referenced, "a replay step takes one of `client`, `data` or `starttls: true` (or only `reply` for a reply the server sent on its own)"));
                            return None;
                        }
                    };
                    let (code, wire) = match &v.reply {
                        Some(lines) => wire(lines, file, &st.referenced, problems),
                        None => (0, bytes::Bytes::new()),
                    };
                    Some(Step { expect, code, wire, delay: v.delay.map_or(Duration::ZERO, |d| d.0) })
                })
                .collect();
            ReplaySession {
                banner,
                banner_delay: s.value.delay.map_or(Duration::ZERO, |d| d.0),
                steps,
                end: s.value.end.unwrap_or(ReplayEnd::CutOff),
            }
        })
        .collect()
}
