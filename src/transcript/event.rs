//! What happened in a session, one event at a time.
//!
//! One model serves the fake server and the proxy: every event says which
//! *leg* it happened on (`client`: between the client and us; `upstream`:
//! between the proxy and the real server), and replies say who produced them.

use bytes::Bytes;
use serde::{Serialize, Serializer};
use std::net::SocketAddr;

/// Which connection an event belongs to.
///
/// # Example
///
/// ```
/// use smtp_harness::{Leg, MockProxy, MockServer, Profile, Scenario};
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
/// let proxy = MockProxy::start_blocking(server.addr(), Profile::bundled("pix-mailguard")?)?;
/// talk(proxy.addr(), &["EHLO c", "HELO c", "QUIT"])?;
/// let t = proxy.wait_for_sessions_blocking(1)?;
/// let session = &t.sessions[0];
/// assert!(session.reply_codes_on(Leg::Client).contains(&500)); // the proxy's answer to EHLO
/// assert!(!session.reply_codes_on(Leg::Upstream).contains(&500)); // the server never saw it
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Leg {
    /// The client's connection to the harness.
    Client,
    /// The proxy's connection to the upstream server.
    Upstream,
}

/// Who ended a session.
///
/// # Example
///
/// ```
/// use smtp_harness::{Closer, MockServer, Scenario};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = MockServer::start_blocking(Scenario::default())?;
/// let mut sock = std::net::TcpStream::connect(server.addr())?;
/// sock.shutdown(std::net::Shutdown::Write)?; // the client hangs up first
/// std::io::Read::read_to_end(&mut sock, &mut Vec::new())?;
/// let t = server.wait_for_sessions_blocking(1)?;
/// assert_eq!(t.sessions[0].closed_by(), Some(Closer::Client));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Closer {
    /// The client closed or vanished.
    Client,
    /// The server (or proxy) closed, by scenario or after QUIT.
    Server,
    /// The upstream server closed (proxy).
    Upstream,
    /// A timeout expired: the client was idle, sent a line too slowly or
    /// read nothing; for the proxy, also the upstream's dial, banner or reply.
    Timeout,
    /// The harness is shutting down.
    Shutdown,
    /// A socket error.
    Error,
}

/// A byte string shown as text; kept exact in memory.
///
/// # Example
///
/// ```
/// use smtp_harness::{EventKind, MockServer, Scenario, Wire};
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
/// talk(server.addr(), &["NOOP caf\u{e9}", "QUIT"])?;
/// let t = server.wait_for_sessions_blocking(1)?;
/// let line: Option<&Wire> = t.sessions[0].events.iter().find_map(|e| match &e.kind {
///     EventKind::Command { line, .. } => Some(line),
///     _ => None,
/// });
/// let line = line.expect("a command");
/// assert_eq!(&line.0[..], "NOOP caf\u{e9}".as_bytes()); // exact octets
/// assert_eq!(line.text(), "NOOP caf\u{e9}");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wire(pub Bytes);

impl Wire {
    /// Lossy UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }
}

impl Serialize for Wire {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&String::from_utf8_lossy(&self.0))
    }
}

/// A bare CR or LF in a message.
///
/// # Example
///
/// ```
/// use smtp_harness::{EventKind, MockServer, Scenario};
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
/// talk(server.addr(), &[
///     "EHLO client.example",
///     "MAIL FROM:<alice@example.com>",
///     "RCPT TO:<bob@example.net>",
///     "DATA",
///     "Subject: hello\r\n\r\nHi\nBob.\r\n.",
///     "QUIT",
/// ])?;
/// let t = server.wait_for_sessions_blocking(1)?;
/// let marks = t.sessions[0].events.iter().find_map(|e| match &e.kind {
///     EventKind::Data { bare_newlines, .. } => Some(bare_newlines.clone()),
///     _ => None,
/// });
/// let marks = marks.expect("a message");
/// assert_eq!((marks[0].at, marks[0].kind), (20, "lf")); // after "Hi"
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BareMark {
    /// Its offset in the unstuffed message.
    pub at: usize,
    /// `lf` or `cr`.
    pub kind: &'static str,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// What happened.
///
/// # Example
///
/// ```
/// use smtp_harness::{EventKind, Leg, MockServer, Scenario};
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
/// talk(server.addr(), &["NOOP", "QUIT"])?;
/// let t = server.wait_for_sessions_blocking(1)?;
/// // The query helpers cover most needs; the events are there for the rest.
/// let noop = t.sessions[0].events.iter().find_map(|e| match &e.kind {
///     EventKind::Command { leg: Leg::Client, line, .. } => Some(line.text()),
///     _ => None,
/// });
/// assert_eq!(noop.as_deref(), Some("NOOP"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A client connected.
    Connect {
        /// Client address.
        peer: SocketAddr,
        /// Our address.
        local: SocketAddr,
        /// Wall-clock start, Unix milliseconds.
        unix_ms: u64,
    },
    /// A command line (client → server direction on `leg`).
    Command {
        /// Where.
        leg: Leg,
        /// The line without its ending, exactly as sent.
        line: Wire,
        /// The line ended in a bare LF instead of CRLF.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        bare_lf: bool,
    },
    /// A reply (server → client direction on `leg`).
    Reply {
        /// Where.
        leg: Leg,
        /// The reply code.
        code: u16,
        /// The wire lines without CRLF (`250-SIZE 100`, `250 OK`).
        lines: Vec<String>,
        /// The scenario rule that produced it.
        #[serde(skip_serializing_if = "Option::is_none")]
        rule: Option<String>,
        /// What the upstream sent before the proxy changed it.
        #[serde(skip_serializing_if = "Option::is_none")]
        original: Option<Vec<String>>,
    },
    /// Message content ended (with `.CRLF`, or as `end_of_data` says).
    Data {
        /// Where.
        leg: Leg,
        /// Unstuffed size in octets.
        size: usize,
        /// Some line ended in a bare LF.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        bare_lf: bool,
        /// The sequence that ended it when it was not `<CRLF>.<CRLF>`
        /// (`<LF>.<CRLF>`): what followed was read as commands; or
        /// `bare <LF> refused` when it held a bare newline the scenario
        /// refuses (it then ended at `<CRLF>.<CRLF>`, and was refused).
        #[serde(skip_serializing_if = "Option::is_none")]
        end_of_data: Option<String>,
        /// Where its bare CRs and LFs were (the first 100).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        bare_newlines: Vec<BareMark>,
        /// How many bare CRs and LFs it held in all.
        #[serde(skip_serializing_if = "is_zero")]
        bare_count: usize,
    },
    /// A message was accepted and stored.
    Message {
        /// Its id.
        queue_id: String,
        /// Reverse path.
        from: String,
        /// Recipients.
        to: Vec<String>,
        /// Size in octets.
        size: usize,
    },
    /// Something worth knowing that is not on the wire (a limit hit, a delay).
    Note {
        /// What.
        text: String,
    },
    /// A TLS handshake completed; what follows on this leg is encrypted.
    Tls {
        /// Protocol version (`TLSv1_3`).
        version: String,
        /// Cipher suite.
        cipher: String,
        /// The server name the client asked for.
        #[serde(skip_serializing_if = "Option::is_none")]
        sni: Option<String>,
    },
    /// The client strayed from a replayed capture.
    Divergence {
        /// The captured step (1-based) that was expected.
        step: usize,
        /// What the captured client did there.
        expected: String,
        /// What this client did.
        got: String,
    },
    /// Someone changed the harness at runtime (the control API, a test):
    /// recorded with session 0 in [`Transcript::control`](super::Transcript::control),
    /// or in a session when a one-shot fault fires there.
    Control {
        /// What was done: `scenario`, `rule-added`, `rule-removed`, `fault-armed`,
        /// `fault-fired`, `reset`, `profile`.
        action: String,
        /// Details for people.
        detail: String,
    },
    /// The session ended normally.
    Close {
        /// Who ended it.
        by: Closer,
    },
    /// The session ended in the middle of something: nothing received is lost.
    Abort {
        /// Who ended it.
        by: Closer,
        /// What was in progress: `line` or `data`.
        during: String,
        /// What had arrived of it.
        partial: Wire,
        /// How many octets had arrived (more than `partial` for discarded lines).
        received: usize,
    },
}

/// One event with its place in time.
///
/// # Example
///
/// ```
/// use smtp_harness::{EventKind, MockServer, Scenario};
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
/// let first = &t.sessions[0].events[0];
/// assert_eq!(first.session, 1);
/// assert!(matches!(first.kind, EventKind::Connect { .. }));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Session id.
    pub session: u64,
    /// Microseconds since the server started (monotonic).
    pub at_us: u64,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

impl EventKind {
    /// The end of a message on `leg`, with what the framer saw of it.
    pub(crate) fn data(leg: Leg, body: &crate::protocol::codec::DataBody) -> EventKind {
        use crate::protocol::eod::Seq;
        let end_of_data = match body.refused {
            Some(kind) => Some(format!("bare {} refused", kind.wire())),
            None if body.ended_by != Seq::STANDARD => Some(body.ended_by.wire()),
            None => None,
        };
        EventKind::Data {
            leg,
            size: body.size,
            bare_lf: body.bare_lf,
            end_of_data,
            bare_newlines: body
                .bare
                .iter()
                .map(|b| BareMark {
                    at: b.at,
                    kind: b.kind.name(),
                })
                .collect(),
            bare_count: body.bare_count,
        }
    }

    /// The end of a BDAT chunk, or of a message the proxy only counted.
    pub fn data_plain(leg: Leg, size: usize) -> EventKind {
        EventKind::Data {
            leg,
            size,
            bare_lf: false,
            end_of_data: None,
            bare_newlines: Vec::new(),
            bare_count: 0,
        }
    }
}
