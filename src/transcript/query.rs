//! Questions a test asks of a transcript, so no test has to match on
//! [`EventKind`]: notes, replies with the rule that made them, how a
//! session was cut short, the TLS handshake, the control log.

use super::{Closer, EventKind, Leg, SessionRecord, Transcript};
use bytes::Bytes;
use std::net::SocketAddr;

/// A reply as recorded on one leg.
///
/// # Example
///
/// ```
/// use smtp_harness::{Leg, MockServer, RecordedReply, Rule, Scenario};
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
/// let scenario = Scenario::builder()
///     .rule(Rule::verb("NOOP").named("slow noop").reply("250 2.0.0 eventually"))
///     .build()?;
/// let server = MockServer::start_blocking(scenario)?;
/// talk(server.addr(), &["NOOP", "QUIT"])?;
/// let t = server.wait_for_sessions_blocking(1)?;
/// let replies: Vec<RecordedReply> = t.sessions[0].replies_on(Leg::Client);
/// let noop = &replies[1];
/// assert_eq!((noop.code, noop.rule.as_deref()), (250, Some("slow noop")));
/// assert_eq!(noop.lines, ["250 2.0.0 eventually"]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedReply {
    /// Where it was sent.
    pub leg: Leg,
    /// Its code.
    pub code: u16,
    /// Its wire lines without CRLF (`250-SIZE 100`, `250 OK`).
    pub lines: Vec<String>,
    /// The scenario rule (or proxy profile step) that produced it.
    pub rule: Option<String>,
    /// What the upstream sent before the proxy changed it.
    pub original: Option<Vec<String>>,
}

/// How a session ended in the middle of something.
///
/// # Example
///
/// ```
/// use smtp_harness::{Aborted, Closer, MockServer, Scenario};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = MockServer::start_blocking(Scenario::default())?;
/// {
///     let mut sock = std::net::TcpStream::connect(server.addr())?;
///     std::io::Write::write_all(&mut sock, b"EHLO c\r\nMAIL FROM:<a@exam")?;
///     sock.shutdown(std::net::Shutdown::Write)?; // gone mid-line
///     std::io::Read::read_to_end(&mut sock, &mut Vec::new())?;
/// }
/// let t = server.wait_for_sessions_blocking(1)?;
/// let Aborted { by, during, partial, .. } = t.sessions[0].abort().expect("aborted");
/// assert_eq!((by, during.as_str()), (Closer::Client, "line"));
/// assert_eq!(&partial[..], b"MAIL FROM:<a@exam");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aborted {
    /// Who ended it.
    pub by: Closer,
    /// What was in progress: `line` or `data`.
    pub during: String,
    /// What had arrived of it, exact bytes.
    pub partial: Bytes,
    /// How many octets had arrived (more than `partial` for discarded lines).
    pub received: usize,
}

/// The end of a message as recorded: how it ended, and its bare newlines.
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
/// // exchange-2019 ends a message at <LF>.<CRLF>, as the real one does.
/// let server = MockServer::start_blocking(Scenario::bundled("exchange-2019")?)?;
/// talk(server.addr(), &[
///     "EHLO c",
///     "MAIL FROM:<alice@example.com>",
///     "RCPT TO:<bob@fabrikam.com>",
///     "DATA",
///     "Subject: hi\r\n\r\nfirst\n.",
///     "QUIT",
/// ])?;
/// let t = server.wait_for_sessions_blocking(1)?;
/// let ends = t.data_ends(Leg::Client);
/// assert!(ends[0].non_standard());
/// assert_eq!(ends[0].end_of_data.as_deref(), Some("<LF>.<CRLF>"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataEnd {
    /// Where.
    pub leg: Leg,
    /// Unstuffed size.
    pub size: usize,
    /// The non-standard sequence that ended it (`<LF>.<CRLF>`), or
    /// `bare <LF> refused`; `None` for `<CRLF>.<CRLF>`.
    pub end_of_data: Option<String>,
    /// Offsets and kinds (`lf`, `cr`) of its bare newlines, the first 100.
    pub bare_newlines: Vec<(usize, &'static str)>,
    /// How many bare newlines it held in all.
    pub bare_count: usize,
}

impl DataEnd {
    /// Ended by a sequence other than `<CRLF>.<CRLF>`: what followed was
    /// read as commands.
    pub fn non_standard(&self) -> bool {
        self.end_of_data
            .as_deref()
            .is_some_and(|e| !e.starts_with("bare "))
    }

    /// Refused at a bare newline (`data.bare_newline.refuse`).
    pub fn refused(&self) -> bool {
        self.end_of_data
            .as_deref()
            .is_some_and(|e| e.starts_with("bare "))
    }
}

/// A completed TLS handshake.
///
/// # Example
///
/// ```
/// use smtp_harness::{Handshake, MockServer, Scenario};
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
/// talk(server.addr(), &["QUIT"])?;
/// let t = server.wait_for_sessions_blocking(1)?;
/// // No STARTTLS here; after one, `tls()` says how it was negotiated.
/// let tls: Option<Handshake> = t.sessions[0].tls();
/// assert!(tls.is_none());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// Protocol version (`TLSv1_3`).
    pub version: String,
    /// Cipher suite.
    pub cipher: String,
    /// The server name the client asked for.
    pub sni: Option<String>,
}

impl SessionRecord {
    /// The client's address, from the session's connect event.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.events.iter().find_map(|e| match &e.kind {
            EventKind::Connect { peer, .. } => Some(*peer),
            _ => None,
        })
    }

    /// The notes (limits hit, delays, dropped events), in order.
    pub fn notes(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Note { text } => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    /// How the session was cut short, if it was.
    pub fn abort(&self) -> Option<Aborted> {
        self.events.iter().find_map(|e| match &e.kind {
            EventKind::Abort {
                by,
                during,
                partial,
                received,
            } => Some(Aborted {
                by: *by,
                during: during.clone(),
                partial: partial.0.clone(),
                received: *received,
            }),
            _ => None,
        })
    }

    /// The client's command lines, exact bytes (invalid UTF-8 kept).
    pub fn raw_commands(&self) -> Vec<Bytes> {
        self.command_events()
            .map(|(line, _)| line.clone())
            .collect()
    }

    /// The client's command lines that ended in a bare LF, as text.
    pub fn bare_lf_commands(&self) -> Vec<String> {
        self.command_events()
            .filter(|(_, bare_lf)| *bare_lf)
            .map(|(line, _)| String::from_utf8_lossy(line).into_owned())
            .collect()
    }

    fn command_events(&self) -> impl Iterator<Item = (&Bytes, bool)> {
        self.events.iter().filter_map(|e| match &e.kind {
            EventKind::Command {
                leg: Leg::Client,
                line,
                bare_lf,
            } => Some((&line.0, *bare_lf)),
            _ => None,
        })
    }

    /// The replies sent on `leg`, with the rule that made each.
    pub fn replies_on(&self, leg: Leg) -> Vec<RecordedReply> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Reply {
                    leg: l,
                    code,
                    lines,
                    rule,
                    original,
                } if *l == leg => Some(RecordedReply {
                    leg,
                    code: *code,
                    lines: lines.clone(),
                    rule: rule.clone(),
                    original: original.clone(),
                }),
                _ => None,
            })
            .collect()
    }

    /// How many replies to the client the rule labelled `rule` made.
    pub fn replies_by_rule(&self, rule: &str) -> usize {
        self.replies_on(Leg::Client)
            .iter()
            .filter(|r| r.rule.as_deref() == Some(rule))
            .count()
    }

    /// The TLS handshake, if one completed.
    pub fn tls(&self) -> Option<Handshake> {
        self.events.iter().find_map(|e| match &e.kind {
            EventKind::Tls {
                version,
                cipher,
                sni,
            } => Some(Handshake {
                version: version.clone(),
                cipher: cipher.clone(),
                sni: sni.clone(),
            }),
            _ => None,
        })
    }

    /// The queue ids of the messages stored in this session.
    pub fn stored(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Message { queue_id, .. } => Some(queue_id.clone()),
                _ => None,
            })
            .collect()
    }

    /// The ends of the messages on `leg`, in order.
    pub fn data_ends(&self, leg: Leg) -> Vec<DataEnd> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Data {
                    leg: l,
                    size,
                    end_of_data,
                    bare_newlines,
                    bare_count,
                    ..
                } if *l == leg => Some(DataEnd {
                    leg,
                    size: *size,
                    end_of_data: end_of_data.clone(),
                    bare_newlines: bare_newlines.iter().map(|b| (b.at, b.kind)).collect(),
                    bare_count: *bare_count,
                }),
                _ => None,
            })
            .collect()
    }

    /// Did a message on `leg` have a line ending in a bare LF?
    pub fn bare_lf_data(&self, leg: Leg) -> bool {
        self.events
            .iter()
            .any(|e| matches!(&e.kind, EventKind::Data { leg: l, bare_lf: true, .. } if *l == leg))
    }
}

impl Transcript {
    /// The notes of every session, in session order.
    pub fn notes(&self) -> Vec<String> {
        self.sessions.iter().flat_map(|s| s.notes()).collect()
    }

    /// The replies of every session on `leg`, in session order.
    pub fn replies_on(&self, leg: Leg) -> Vec<RecordedReply> {
        self.sessions
            .iter()
            .flat_map(|s| s.replies_on(leg))
            .collect()
    }

    /// The ends of every session's messages on `leg`, in session order.
    pub fn data_ends(&self, leg: Leg) -> Vec<DataEnd> {
        self.sessions
            .iter()
            .flat_map(|s| s.data_ends(leg))
            .collect()
    }

    /// The TLS handshakes, in session order.
    pub fn handshakes(&self) -> Vec<Handshake> {
        self.sessions.iter().filter_map(|s| s.tls()).collect()
    }

    /// The control log's actions (`scenario`, `rule-added`, `reset` …), in order.
    pub fn control_actions(&self) -> Vec<String> {
        self.control
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Control { action, .. } => Some(action.clone()),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Event, Wire};
    use super::*;

    fn event(kind: EventKind) -> Event {
        Event {
            session: 1,
            at_us: 0,
            kind,
        }
    }

    #[test]
    fn queries_read_the_events() {
        let s = SessionRecord {
            id: 1,
            events: vec![
                event(EventKind::Command {
                    leg: Leg::Client,
                    line: Wire(Bytes::from_static(b"HELO \xff")),
                    bare_lf: true,
                }),
                event(EventKind::Reply {
                    leg: Leg::Client,
                    code: 451,
                    lines: vec!["451 later".into()],
                    rule: Some("greylist".into()),
                    original: None,
                }),
                event(EventKind::Note {
                    text: "slow".into(),
                }),
                event(EventKind::Abort {
                    by: Closer::Client,
                    during: "data".into(),
                    partial: Wire(Bytes::from_static(b"Subj")),
                    received: 4,
                }),
            ],
            ..SessionRecord::default()
        };
        assert_eq!(s.raw_commands(), [Bytes::from_static(b"HELO \xff")]);
        assert_eq!(s.bare_lf_commands(), ["HELO \u{fffd}"]);
        assert_eq!(s.replies_by_rule("greylist"), 1);
        assert_eq!(s.replies_on(Leg::Upstream), []);
        assert_eq!(s.notes(), ["slow"]);
        let abort = s.abort().expect("aborted");
        assert_eq!(
            (abort.by, abort.during.as_str(), abort.received),
            (Closer::Client, "data", 4)
        );
        assert_eq!(s.peer(), None);
        assert_eq!(s.tls(), None);
    }
}
