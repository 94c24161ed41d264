//! The transcript: every session, every event, in order.
//!
//! The I/O layers record through a [`SessionLog`]; live [`Sink`]s (the
//! swaks-style terminal view, JSON Lines) see each event as it happens, and
//! the [`Recorder`] keeps finished and running sessions for the test API,
//! and `query` answers a test's questions about them.

mod end;
mod event;
mod live;
mod query;
mod recorder;
mod render;
mod sink;

pub use crate::scenario::keep::Keep;
pub(crate) use end::{End, InProgress, in_progress};
pub use event::{BareMark, Closer, Event, EventKind, Leg, Wire};
pub use query::{Aborted, DataEnd, Handshake, RecordedReply};
pub(crate) use recorder::{LIVE_BACKLOG, SharedSession};
pub use recorder::{Recorder, Retention, SessionLog};
pub use render::{render_event, render_session};
pub use sink::{JsonLinesSink, Labelled, Sink, TextSink};

use serde::Serialize;

pub use live::LiveWriter;

/// One session's events.
///
/// # Example
///
/// ```
/// use smtp_harness::{Closer, MockServer, Scenario};
/// # use std::io::{BufRead, BufReader, Write};
/// # fn talk(addr: std::net::SocketAddr, lines: &[&str]) -> std::io::Result<Vec<String>> {
/// #     let mut sock = std::net::TcpStream::connect(addr)?;
/// #     let mut from = BufReader::new(sock.try_clone()?);
/// #     let mut reply = || -> std::io::Result<String> {
/// #         let mut all = String::new();
/// #         loop {
/// #             let mut line = String::new();
/// #             if from.read_line(&mut line)? == 0 || line.as_bytes().get(3) != Some(&b'-') {
/// #                 all.push_str(&line);
/// #                 return Ok(all);
/// #             }
/// #             all.push_str(&line);
/// #         }
/// #     };
/// #     let mut replies = vec![reply()?];
/// #     for line in lines {
/// #         sock.write_all(format!("{line}\r\n").as_bytes())?;
/// #         replies.push(reply()?);
/// #     }
/// #     Ok(replies)
/// # }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = MockServer::start_blocking(Scenario::default())?;
/// talk(server.addr(), &["EHLO c", "QUIT"])?;
/// let t = server.wait_for_sessions_blocking(1)?;
/// let session = &t.sessions[0];
/// assert_eq!(session.id, 1);
/// assert!(session.ended && !session.aborted);
/// assert_eq!(session.closed_by(), Some(Closer::Server)); // after QUIT
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, Serialize)]
pub struct SessionRecord {
    /// Session id (1-based, accept order).
    pub id: u64,
    /// Its events, in order. When it had more than `limits.session_events`,
    /// the first and last ones, with an "N events dropped" note between.
    pub events: Vec<Event>,
    /// How many events were dropped from the middle of the session.
    #[serde(skip_serializing_if = "is_zero")]
    pub dropped: u64,
    /// It has ended.
    pub ended: bool,
    /// It ended in the middle of a line or a message.
    pub aborted: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl SessionRecord {
    /// Everything but the events.
    pub(crate) fn clone_summary(&self) -> SessionRecord {
        SessionRecord {
            id: self.id,
            events: Vec::new(),
            dropped: self.dropped,
            ended: self.ended,
            aborted: self.aborted,
        }
    }

    /// The command lines the client sent on the client leg, as text.
    pub fn commands(&self) -> Vec<String> {
        self.lines_on(Leg::Client)
    }

    /// The command lines sent on `leg`.
    pub fn lines_on(&self, leg: Leg) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Command { leg: l, line, .. } if *l == leg => Some(line.text()),
                _ => None,
            })
            .collect()
    }

    /// The reply codes sent on `leg`, in order.
    pub fn reply_codes_on(&self, leg: Leg) -> Vec<u16> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Reply { leg: l, code, .. } if *l == leg => Some(*code),
                _ => None,
            })
            .collect()
    }

    /// The replies sent to the client, each as its wire lines.
    pub fn replies(&self) -> Vec<Vec<String>> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Reply {
                    leg: Leg::Client,
                    lines,
                    ..
                } => Some(lines.clone()),
                _ => None,
            })
            .collect()
    }

    /// How the session ended, if it has.
    pub fn closed_by(&self) -> Option<Closer> {
        self.events.iter().rev().find_map(|e| match &e.kind {
            EventKind::Close { by } | EventKind::Abort { by, .. } => Some(*by),
            _ => None,
        })
    }
}

/// A snapshot of all recorded sessions.
///
/// # Example
///
/// ```
/// use smtp_harness::{Leg, MockServer, Scenario};
/// # use std::io::{BufRead, BufReader, Write};
/// # fn talk(addr: std::net::SocketAddr, lines: &[&str]) -> std::io::Result<Vec<String>> {
/// #     let mut sock = std::net::TcpStream::connect(addr)?;
/// #     let mut from = BufReader::new(sock.try_clone()?);
/// #     let mut reply = || -> std::io::Result<String> {
/// #         let mut all = String::new();
/// #         loop {
/// #             let mut line = String::new();
/// #             if from.read_line(&mut line)? == 0 || line.as_bytes().get(3) != Some(&b'-') {
/// #                 all.push_str(&line);
/// #                 return Ok(all);
/// #             }
/// #             all.push_str(&line);
/// #         }
/// #     };
/// #     let mut replies = vec![reply()?];
/// #     for line in lines {
/// #         sock.write_all(format!("{line}\r\n").as_bytes())?;
/// #         replies.push(reply()?);
/// #     }
/// #     Ok(replies)
/// # }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = MockServer::start_blocking(Scenario::default())?;
/// talk(server.addr(), &["EHLO client.example", "NOOP", "QUIT"])?;
/// let t = server.wait_for_sessions_blocking(1)?;
/// assert!(t.client_sent("NOOP"));
/// assert_eq!(t.sessions[0].commands(), ["EHLO client.example", "NOOP", "QUIT"]);
/// assert_eq!(t.sessions[0].reply_codes_on(Leg::Client), [220, 250, 250, 221]);
/// println!("{}", t.to_text()); // the swaks-style view
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, Serialize)]
pub struct Transcript {
    /// Sessions in id order.
    pub sessions: Vec<SessionRecord>,
    /// Runtime changes (scenario swapped, rule added, fault armed, reset),
    /// each an [`EventKind::Control`] with session 0, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub control: Vec<Event>,
}

impl Transcript {
    /// Did any client send a command starting with `prefix` (case-insensitive)?
    /// `client_sent("EHLO")`, `client_sent("MAIL FROM:<a@b>")`.
    pub fn client_sent(&self, prefix: &str) -> bool {
        self.count_client_sent(prefix) > 0
    }

    /// How many client commands start with `prefix` (case-insensitive).
    pub fn count_client_sent(&self, prefix: &str) -> usize {
        self.sessions
            .iter()
            .flat_map(|s| s.commands())
            .filter(|c| starts_with_ignore_case(c, prefix))
            .count()
    }

    /// Did the upstream (proxy mode) receive a command starting with `prefix`?
    pub fn upstream_received(&self, prefix: &str) -> bool {
        self.sessions
            .iter()
            .flat_map(|s| s.lines_on(Leg::Upstream))
            .any(|c| starts_with_ignore_case(&c, prefix))
    }

    /// Did the client get a reply with this code?
    pub fn client_got(&self, code: u16) -> bool {
        self.sessions
            .iter()
            .any(|s| s.reply_codes_on(Leg::Client).contains(&code))
    }

    /// All events of all sessions, in session order.
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.sessions.iter().flat_map(|s| s.events.iter())
    }

    /// Where clients strayed from a replayed capture, in session order.
    pub fn divergences(&self) -> Vec<(u64, crate::session::Divergence)> {
        self.events()
            .filter_map(|e| match &e.kind {
                EventKind::Divergence {
                    step,
                    expected,
                    got,
                } => Some((
                    e.session,
                    crate::session::Divergence {
                        step: *step,
                        expected: expected.clone(),
                        got: got.clone(),
                    },
                )),
                _ => None,
            })
            .collect()
    }

    /// Sessions that ended in the middle of a line or message.
    pub fn aborted(&self) -> Vec<&SessionRecord> {
        self.sessions.iter().filter(|s| s.aborted).collect()
    }

    /// The whole transcript as swaks-style text (no colour).
    pub fn to_text(&self) -> String {
        self.sessions
            .iter()
            .map(|s| render_session(s, false))
            .collect()
    }

    /// The whole transcript as JSON Lines, one event per line.
    pub fn to_json_lines(&self) -> String {
        let mut out = String::new();
        for e in self.events() {
            if let Ok(line) = serde_json::to_string(e) {
                out.push_str(&line);
                out.push('\n');
            }
        }
        out
    }
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text.is_char_boundary(prefix.len())
        && text[..prefix.len()].eq_ignore_ascii_case(prefix)
}
