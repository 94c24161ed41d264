//! The format-neutral model every importer produces: sessions made of what
//! went over the wire, in wire order.
//!
//! Bytes are kept exactly as captured (no CRLF); times are relative to the
//! start of the session when the capture has them.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

/// Everything read from one capture file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capture {
    /// The SMTP sessions found, in the order they started in the capture.
    pub sessions: Vec<CapturedSession>,
    /// What was skipped or looked wrong, one sentence each.
    pub warnings: Vec<String>,
}

/// One SMTP session (one TCP connection).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapturedSession {
    /// Where the session came from in the capture (`stream 2`,
    /// `session 08D7D4D2EFBC4CC6`, `session 1`), for messages.
    pub label: String,
    /// The client's address, when the capture says.
    pub client: Option<SocketAddr>,
    /// The server's address, when the capture says.
    pub server: Option<SocketAddr>,
    /// Wall-clock time the session started, when known.
    pub started: Option<SystemTime>,
    /// The capture does not hold the start of the session (no greeting), so
    /// it cannot be replayed from the beginning.
    pub begin_missing: bool,
    /// TLS from the first byte (SMTPS, port 465): swaks' `--tlsc`.
    pub implicit_tls: bool,
    /// What happened, in wire order.
    pub items: Vec<Item>,
}

/// One thing on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// When, relative to the session start, if the capture has times.
    pub at: Option<Duration>,
    /// What.
    pub kind: ItemKind,
}

/// What went over the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemKind {
    /// A complete server reply: every line exactly as sent, without CRLF.
    Reply {
        /// The reply code, when the first line starts with three digits.
        code: Option<u16>,
        /// The wire lines (`250-SIZE 100`, `250 OK`).
        lines: Vec<Vec<u8>>,
        /// What it answers, as the importer paired it while reading the
        /// capture.
        answers: Answers,
    },
    /// A client command line exactly as sent, without its line ending.
    Command(Vec<u8>),
    /// The client sent a line the capture does not show (Exchange logs leave
    /// out AUTH exchanges).
    HiddenCommand,
    /// Message content (after `354`, or a `BDAT` chunk).
    Data {
        /// Octets of the message: unstuffed and without the final `.CRLF`
        /// for DATA, the chunk size for BDAT. `None` when the capture does
        /// not say.
        size: Option<usize>,
        /// The exact wire bytes (for DATA including dot-stuffing and the
        /// final `.CRLF`), when the capture holds them.
        raw: Option<Vec<u8>>,
        /// It was a `BDAT` chunk (the size is in the preceding command).
        bdat: bool,
    },
    /// TLS started here (after `220` to `STARTTLS`). What follows is opaque
    /// unless the format shows decrypted lines.
    TlsStarted,
    /// The session ended.
    End(End),
}

/// What a reply answers: the pairing is made once, while the session is
/// built, and everything after reads it from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answers {
    /// It is the session's greeting.
    Greeting,
    /// The client's Nth step (counted from 0 in wire order over the items
    /// for which [`ItemKind::is_step`] holds).
    Step(usize),
    /// Nothing the capture shows: the server spoke on its own (a timeout
    /// notice), or the capture lost the command.
    Unasked,
}

impl ItemKind {
    /// Something the client did that a replay takes as one step: a command
    /// (shown or not), a message sent after `354`, or the start of TLS. A
    /// `BDAT` chunk is part of its command's step.
    pub fn is_step(&self) -> bool {
        match self {
            ItemKind::Command(_) | ItemKind::HiddenCommand | ItemKind::TlsStarted => true,
            ItemKind::Data { bdat, .. } => !bdat,
            ItemKind::Reply { .. } | ItemKind::End(_) => false,
        }
    }
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The client closed (or reset) the connection first.
    ClientClosed,
    /// The server closed (or reset) the connection first.
    ServerClosed,
    /// The capture stops before the connection was closed.
    CutOff,
}

impl End {
    /// The name used in scenario files.
    #[cfg(any(test, feature = "internals"))]
    pub fn as_str(self) -> &'static str {
        match self {
            End::ClientClosed => "client_closed",
            End::ServerClosed => "server_closed",
            End::CutOff => "cut_off",
        }
    }
}

impl CapturedSession {
    /// The client command lines, lossy UTF-8 (for tests and messages).
    #[cfg(any(test, feature = "internals"))]
    pub fn commands(&self) -> Vec<String> {
        self.items
            .iter()
            .filter_map(|i| match &i.kind {
                ItemKind::Command(l) => Some(String::from_utf8_lossy(l).into_owned()),
                _ => None,
            })
            .collect()
    }

    /// Every reply, each as its lines in lossy UTF-8.
    #[cfg(any(test, feature = "internals"))]
    pub fn replies(&self) -> Vec<Vec<String>> {
        self.items
            .iter()
            .filter_map(|i| match &i.kind {
                ItemKind::Reply { lines, .. } => Some(
                    lines
                        .iter()
                        .map(|l| String::from_utf8_lossy(l).into_owned())
                        .collect(),
                ),
                _ => None,
            })
            .collect()
    }

    /// How the session ended, if an `End` item is present.
    #[cfg(any(test, feature = "internals"))]
    pub fn end(&self) -> Option<End> {
        self.items.iter().rev().find_map(|i| match i.kind {
            ItemKind::End(e) => Some(e),
            _ => None,
        })
    }

    /// The number of TLS-started markers.
    pub fn tls_started(&self) -> bool {
        self.items.iter().any(|i| i.kind == ItemKind::TlsStarted)
    }

    /// Message data items: (size, raw length).
    #[cfg(any(test, feature = "internals"))]
    pub fn data(&self) -> Vec<(Option<usize>, Option<usize>)> {
        self.items
            .iter()
            .filter_map(|i| match &i.kind {
                ItemKind::Data { size, raw, .. } => Some((*size, raw.as_ref().map(Vec::len))),
                _ => None,
            })
            .collect()
    }
}

/// The reply code of a wire line: three ASCII digits at the start.
pub fn reply_code(line: &[u8]) -> Option<u16> {
    match line {
        [a, b, c, ..] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

/// A wire line continues a multi-line reply (`250-…`).
pub fn is_continuation(line: &[u8]) -> bool {
    reply_code(line).is_some() && line.get(3) == Some(&b'-')
}
