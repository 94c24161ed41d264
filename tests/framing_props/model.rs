//! Random SMTP command streams and a model of the replies they must get,
//! in order, from the scenario below.
//!
//! The model is a tiny SMTP state machine written from RFC 5321/3030 and
//! the scenario's limits, independent of the crate: it only needs to know
//! which code answers each command, so a reply lost, duplicated or moved
//! shows up as a different sequence of codes.

use proptest::prelude::*;

/// Command line limit (octets, ending included): the scenario's default.
pub const LIMIT: usize = 512;
/// Text line limit in DATA (octets, ending included).
const TEXT_LINE: usize = 1000;
/// The message size limit.
const MESSAGE_SIZE: usize = 100_000;
/// Recipients per message (the default).
const RECIPIENTS: usize = 100;

/// CHUNKING so BDAT is read as chunks; a message size low enough to reach.
pub const SCENARIO: &str =
    "ehlo: {keywords: [PIPELINING, CHUNKING, 8BITMIME]}\nlimits: {message_size: 100000}";

/// The same, ending a message at `<LF>.<CRLF>` too.
pub const SCENARIO_LF_END: &str = "ehlo: {keywords: [PIPELINING, CHUNKING, 8BITMIME]}\n\
     limits: {message_size: 100000}\ndata: {end_of_data: [crlf.crlf, lf.crlf]}";

/// Which end-of-data sequences the receiver takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ends {
    /// `<CRLF>.<CRLF>` only (RFC 5321).
    Strict,
    /// `<LF>.<CRLF>` too.
    LfToo,
}

/// A command with its natural text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Rset,
    Helo,
    Ehlo,
    Mail,
    Rcpt,
    /// An empty line.
    Empty,
}

impl Kind {
    fn text(self) -> &'static str {
        match self {
            Kind::Rset => "RSET",
            Kind::Helo => "HELO client.example",
            Kind::Ehlo => "EHLO client.example",
            Kind::Mail => "MAIL FROM:<a@example.com>",
            Kind::Rcpt => "RCPT TO:<b@example.com>",
            Kind::Empty => "",
        }
    }
}

/// One line of a message body.
#[derive(Debug, Clone)]
pub struct BodyLine {
    /// Octets after the word (the line's own text, unstuffed).
    pad: usize,
    /// Starts with a dot (so goes stuffed on the wire).
    dot: bool,
    /// A word that would be a command if the body were misread as lines.
    word: &'static str,
    bare_lf: bool,
}

/// One step of a client's conversation.
#[derive(Debug, Clone)]
pub enum Op {
    Cmd(Kind, bool),
    /// `NOOP` padded with `pad` octets of argument: over the limit or not.
    Noop {
        pad: usize,
        bare_lf: bool,
    },
    /// A line of `len` octets (ending included), over the limit, starting
    /// like a command.
    Long {
        prefix: &'static str,
        len: usize,
        bare_lf: bool,
    },
    /// `DATA`, then (if it gets 354) this body and the end-of-data line.
    Data(Vec<BodyLine>),
    /// `BDAT size [LAST]` and its chunk.
    Bdat {
        size: usize,
        last: bool,
    },
}

/// Bytes to send, and the codes of the replies they must get. A segment
/// ends after a `DATA` that gets 354: a client waits for that before the
/// body (RFC 2920).
#[derive(Debug, Default, Clone)]
pub struct Segment {
    pub bytes: Vec<u8>,
    pub codes: Vec<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Connected,
    Greeted,
    Mail,
    Rcpt,
}

struct Model {
    helo: bool,
    state: State,
    rcpts: usize,
    /// BDAT chunks so far in this transaction: size, and the failure that
    /// refuses the rest until the transaction ends.
    bdat: Option<(usize, Option<u16>)>,
}

impl Model {
    fn reset(&mut self) {
        self.bdat = None;
        self.rcpts = 0;
        self.state = if self.helo {
            State::Greeted
        } else {
            State::Connected
        };
    }

    fn command(&mut self, kind: Kind) -> u16 {
        match kind {
            Kind::Empty => 500,
            Kind::Rset => {
                self.reset();
                250
            }
            Kind::Helo | Kind::Ehlo => {
                self.helo = true;
                self.reset();
                250
            }
            Kind::Mail if self.state == State::Greeted => {
                self.state = State::Mail;
                self.rcpts = 0;
                250
            }
            Kind::Mail => 503,
            Kind::Rcpt if matches!(self.state, State::Mail | State::Rcpt) => {
                if self.rcpts >= RECIPIENTS {
                    return 452;
                }
                self.rcpts += 1;
                self.state = State::Rcpt;
                250
            }
            Kind::Rcpt => 503,
        }
    }

    fn chunk(&mut self, size: usize, last: bool) -> u16 {
        let state = self.state;
        let (total, failed) = self.bdat.get_or_insert((0, None));
        if failed.is_none() && state != State::Rcpt {
            *failed = Some(503);
        }
        *total += size;
        if failed.is_none() && *total > MESSAGE_SIZE {
            *failed = Some(552);
        }
        if let Some(code) = *failed {
            if last {
                self.reset();
            }
            return code;
        }
        if last {
            self.reset();
        }
        250
    }
}

fn push_line(seg: &mut Segment, text: &[u8], bare_lf: bool) {
    seg.bytes.extend_from_slice(text);
    seg.bytes
        .extend_from_slice(if bare_lf { b"\n" } else { b"\r\n" });
}

fn ending_len(bare_lf: bool) -> usize {
    if bare_lf { 1 } else { 2 }
}

/// The conversation as segments of bytes, each with the codes it must get.
pub fn script(ops: &[Op], ends: Ends) -> Vec<Segment> {
    let mut m = Model {
        helo: false,
        state: State::Connected,
        rcpts: 0,
        bdat: None,
    };
    let mut segs = vec![Segment::default()];
    for op in ops {
        let seg = segs.last_mut().expect("never empty");
        match op {
            Op::Cmd(kind, bare_lf) => {
                push_line(seg, kind.text().as_bytes(), *bare_lf);
                let code = m.command(*kind);
                seg.codes.push(code);
            }
            Op::Noop { pad, bare_lf } => {
                let mut line = b"NOOP ".to_vec();
                line.resize(5 + pad, b'x');
                push_line(seg, &line, *bare_lf);
                let too_long = line.len() + ending_len(*bare_lf) > LIMIT;
                seg.codes.push(if too_long { 500 } else { 250 });
            }
            Op::Long {
                prefix,
                len,
                bare_lf,
            } => {
                let mut line = prefix.as_bytes().to_vec();
                line.push(b' ');
                line.resize(len - ending_len(*bare_lf), b'x');
                push_line(seg, &line, *bare_lf);
                seg.codes.push(500);
            }
            Op::Data(body) => {
                push_line(seg, b"DATA", false);
                // Postfix's order: recipients first (554 inside a
                // transaction without any), then a BDAT message in progress.
                if m.state != State::Rcpt || m.bdat.is_some() {
                    seg.codes
                        .push(if m.state == State::Mail { 554 } else { 503 });
                    continue;
                }
                seg.codes.push(354);
                let mut next = Segment::default();
                let (mut size, mut long_line) = (0, false);
                for l in body {
                    let mut text = Vec::new();
                    if l.dot {
                        text.push(b'.');
                    }
                    text.extend_from_slice(l.word.as_bytes());
                    text.resize(text.len() + l.pad, b'b');
                    size += text.len() + ending_len(l.bare_lf);
                    if text.first() == Some(&b'.') {
                        text.insert(0, b'.');
                    }
                    long_line |= text.len() + ending_len(l.bare_lf) > TEXT_LINE;
                    push_line(&mut next, &text, l.bare_lf);
                }
                // After a line ended by a bare LF, `.<CRLF>` ends the
                // message only for a receiver that takes `<LF>.<CRLF>`; to
                // a strict one it is a stuffed dot and a CRLF.
                if ends == Ends::Strict && body.last().is_some_and(|l| l.bare_lf) {
                    next.bytes.extend_from_slice(b".\r\n");
                    size += 2;
                }
                next.bytes.extend_from_slice(b".\r\n");
                next.codes.push(if size > MESSAGE_SIZE {
                    552
                } else if long_line {
                    500
                } else {
                    250
                });
                m.reset();
                segs.push(next);
            }
            Op::Bdat { size, last } => {
                let cmd = format!("BDAT {size}{}", if *last { " LAST" } else { "" });
                push_line(seg, cmd.as_bytes(), false);
                // Chunk content that would read as commands if misframed.
                let pattern = b"NOOP\r\n.\r\nQUIT\n";
                seg.bytes
                    .extend(pattern.iter().cycle().take(*size).copied());
                let code = m.chunk(*size, *last);
                seg.codes.push(code);
            }
        }
    }
    segs
}

fn bare_lf() -> impl Strategy<Value = bool> {
    prop::bool::weighted(0.2)
}

/// Lengths of an overlong line: just over the limit, tens of KiB (over the
/// proxy's 16 KiB too), up to a megabyte.
fn long_len() -> impl Strategy<Value = usize> {
    prop_oneof![
        6 => (LIMIT + 1)..(LIMIT + 700),
        3 => 1_000usize..70_000,
        1 => 70_000usize..1_100_000,
    ]
}

fn body_line() -> impl Strategy<Value = BodyLine> {
    (
        prop_oneof![8 => 0usize..80, 1 => 900usize..1100, 1 => 0usize..40_000],
        prop::bool::weighted(0.2),
        prop::sample::select(vec!["", "NOOP", ".", "QUIT", "Subject: x"]),
        bare_lf(),
    )
        .prop_map(|(pad, dot, word, bare_lf)| BodyLine {
            pad,
            dot,
            word,
            bare_lf,
        })
}

fn op() -> impl Strategy<Value = Op> {
    let kind = prop::sample::select(vec![
        Kind::Rset,
        Kind::Helo,
        Kind::Ehlo,
        Kind::Ehlo,
        Kind::Mail,
        Kind::Mail,
        Kind::Rcpt,
        Kind::Rcpt,
        Kind::Empty,
    ]);
    let prefix = prop::sample::select(vec![
        "NOOP",
        "MAIL FROM:<a@example.com>",
        "RCPT TO:<b@example.com>",
        "DATA",
        "BDAT 10",
        "EHLO client.example",
    ]);
    prop_oneof![
        6 => (kind, bare_lf()).prop_map(|(k, lf)| Op::Cmd(k, lf)),
        3 => (prop_oneof![0usize..40, 480usize..540, 0usize..700], bare_lf())
            .prop_map(|(pad, bare_lf)| Op::Noop { pad, bare_lf }),
        2 => (prefix, long_len(), bare_lf())
            .prop_map(|(prefix, len, bare_lf)| Op::Long { prefix, len, bare_lf }),
        2 => prop::collection::vec(body_line(), 0..12).prop_map(Op::Data),
        2 => (prop_oneof![0usize..64, 0usize..5_000, 50_000usize..120_000], any::<bool>())
            .prop_map(|(size, last)| Op::Bdat { size, last }),
    ]
}

/// A conversation: mostly one that starts with EHLO, so that transactions
/// happen.
pub fn ops() -> impl Strategy<Value = Vec<Op>> {
    (any::<bool>(), prop::collection::vec(op(), 1..40)).prop_map(|(ehlo, mut ops)| {
        if ehlo {
            ops.insert(0, Op::Cmd(Kind::Ehlo, false));
        }
        ops
    })
}

/// Where the stream is cut into reads (or writes): positions as fractions
/// of its length, or every few octets.
#[derive(Debug, Clone)]
pub enum Cuts {
    At(Vec<u32>),
    Every(usize),
}

pub fn cuts() -> impl Strategy<Value = Cuts> {
    prop_oneof![
        4 => prop::collection::vec(any::<u32>(), 0..48).prop_map(Cuts::At),
        1 => (1usize..17).prop_map(Cuts::Every),
    ]
}

/// `bytes` in pieces as `cuts` says; cutting every few octets only for
/// streams small enough that it stays quick.
pub fn pieces<'a>(bytes: &'a [u8], cuts: &Cuts) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = match cuts {
        Cuts::Every(n) if bytes.len() <= 64 << 10 => (1..bytes.len()).step_by(*n).collect(),
        Cuts::Every(_) => Vec::new(),
        Cuts::At(fractions) => fractions
            .iter()
            .map(|&f| (f as u64 * bytes.len() as u64 / u32::MAX as u64) as usize)
            .collect(),
    };
    at.push(0);
    at.push(bytes.len());
    at.sort_unstable();
    at.dedup();
    at.windows(2).map(|w| &bytes[w[0]..w[1]]).collect()
}
