//! The TCP connection table: numbers connections the way Wireshark's
//! `tcp.stream` does (0, 1, … in order of first packet, a new number when a
//! closed address pair is reused with a new SYN), reassembles both
//! directions, decides which side is the SMTP server and hands the bytes to
//! an [`SmtpStream`]. Finished connections are turned into sessions at once,
//! so memory holds only the connections still open.

use super::model::{CapturedSession, End};
use super::stream::{Side, SmtpStream};
use super::tcp::{Chunk, DEFAULT_PENDING_LIMIT, Reassembler};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

/// Ports SMTP servers listen on (for messages about skipped streams).
const SMTP_PORTS: [u16; 4] = [25, 587, 465, 2525];

/// One TCP segment as read from the capture.
#[derive(Debug)]
pub struct Segment<'a> {
    /// Capture time.
    pub time: SystemTime,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Sequence number.
    pub seq: u32,
    /// SYN flag.
    pub syn: bool,
    /// ACK flag.
    pub ack: bool,
    /// Acknowledgement number (meaningful with `ack`).
    pub ack_number: u32,
    /// FIN flag.
    pub fin: bool,
    /// RST flag.
    pub rst: bool,
    /// The captured payload.
    pub payload: &'a [u8],
}

enum State {
    /// No payload yet: which side is the server is not known.
    Undecided(Vec<(usize, Option<Duration>, Vec<u8>)>),
    Smtp {
        stream: Box<SmtpStream>,
        server_side: usize,
    },
    Ignored,
}

struct Flow {
    index: usize,
    addrs: [SocketAddr; 2],
    dirs: [Reassembler; 2],
    syn_from: Option<usize>,
    started: SystemTime,
    first_close: Option<(usize, Option<Duration>)>,
    rst: bool,
    state: State,
    /// Bytes of each side held back until the other side's bytes they
    /// acknowledge have been handed on (the capture showed them later).
    held: [VecDeque<Held>; 2],
    held_bytes: usize,
    /// Segments that came before the bytes they acknowledge.
    reordered: usize,
}

/// Bytes waiting for the other side's stream to reach `after`.
struct Held {
    after: u64,
    at: Option<Duration>,
    chunk: OwnedChunk,
}

enum OwnedChunk {
    Data(Vec<u8>),
    Gap(u64),
}

/// Hold `chunk` of one side until the other side's stream reaches `after`;
/// `held_bytes` counts the data held on both sides.
fn hold(
    held: &mut VecDeque<Held>,
    held_bytes: &mut usize,
    after: u64,
    at: Option<Duration>,
    chunk: Chunk<'_>,
) {
    let chunk = match chunk {
        Chunk::Data(d) => {
            *held_bytes += d.len();
            OwnedChunk::Data(d.to_vec())
        }
        Chunk::Gap(n) => OwnedChunk::Gap(n),
    };
    held.push_back(Held { after, at, chunk });
}

/// How far ahead of what the other side has shown an acknowledgement may
/// point and still be taken as a reordering in the capture rather than a
/// damaged or made-up number.
const HOLD_WINDOW: u64 = DEFAULT_PENDING_LIMIT as u64;

impl Flow {
    /// A connection whose first packet seen is `s`.
    fn new(index: usize, s: &Segment<'_>, state: State) -> Flow {
        Flow {
            index,
            addrs: [s.src, s.dst],
            dirs: [
                Reassembler::new(DEFAULT_PENDING_LIMIT),
                Reassembler::new(DEFAULT_PENDING_LIMIT),
            ],
            syn_from: None,
            started: s.time,
            first_close: None,
            rst: false,
            state,
            held: [VecDeque::new(), VecDeque::new()],
            held_bytes: 0,
            reordered: 0,
        }
    }

    /// Reassemble `s`, sent by `side`, and hand on what it completes (or
    /// hold it back when it acknowledges bytes the capture shows later).
    fn take(
        &mut self,
        s: &Segment<'_>,
        side: usize,
        at: Option<Duration>,
        missing: usize,
        notes: &mut Vec<String>,
    ) {
        let ctx = self.ctx();
        let other = 1 - side;
        // Bytes this segment acknowledges that the capture has not shown
        // yet: it was captured before them, and must be read after them.
        let after = (s.ack && !s.payload.is_empty() && !self.dirs[other].finished())
            .then(|| self.dirs[other].offset_of_ack(s.ack_number))
            .flatten()
            .filter(|&a| {
                let shown = self.dirs[other].delivered();
                a > shown && a - shown <= HOLD_WINDOW
            });
        if after.is_some() && self.held[side].is_empty() {
            self.reordered += 1;
        }
        let Flow {
            dirs,
            state,
            held,
            held_bytes,
            ..
        } = self;
        let mut hand = |chunk: Chunk<'_>, state: &mut State, notes: &mut Vec<String>| {
            if after.is_none() && held[side].is_empty() {
                deliver(state, &ctx, side, chunk, at, notes);
                return;
            }
            hold(&mut held[side], held_bytes, after.unwrap_or(0), at, chunk);
        };
        dirs[side].segment(s.seq, s.syn, s.fin, s.payload, &mut |c| {
            hand(c, state, notes);
        });
        if missing > 0 && dirs[side].pending_bytes() == 0 {
            // The frame was cut short by the capture's snap length: the
            // stream goes on after the bytes it lacks (else the next frame
            // would wait behind them as a hole, and be counted lost twice).
            dirs[side].skip_uncaptured(missing as u64);
            hand(Chunk::Gap(missing as u64), state, notes);
        }
        self.release(&ctx, notes, false);
    }

    fn ctx(&self) -> Ctx {
        Ctx {
            addrs: self.addrs,
            syn_from: self.syn_from,
            index: self.index,
            started: self.started,
        }
    }

    fn at(&self, t: SystemTime) -> Option<Duration> {
        Some(t.duration_since(self.started).unwrap_or_default())
    }

    /// Hand on held bytes whose acknowledged bytes have come; then, with
    /// `all` (the connection is over) or when too much is held, the rest,
    /// one side after the other.
    fn release(&mut self, ctx: &Ctx, notes: &mut Vec<String>, all: bool) {
        loop {
            let mut progress = false;
            for side in 0..2 {
                let other = &self.dirs[1 - side];
                let ready = self.held[side]
                    .front()
                    .is_some_and(|h| h.after <= other.delivered() || other.finished());
                if ready {
                    self.hand_held(side, ctx, notes);
                    progress = true;
                }
            }
            if !progress {
                break;
            }
        }
        if all || self.held_bytes > DEFAULT_PENDING_LIMIT {
            for side in 0..2 {
                while !self.held[side].is_empty() {
                    self.hand_held(side, ctx, notes);
                }
            }
        }
    }

    fn hand_held(&mut self, side: usize, ctx: &Ctx, notes: &mut Vec<String>) {
        let Some(h) = self.held[side].pop_front() else {
            return;
        };
        let chunk = match &h.chunk {
            OwnedChunk::Data(d) => {
                self.held_bytes = self.held_bytes.saturating_sub(d.len());
                Chunk::Data(d)
            }
            OwnedChunk::Gap(n) => Chunk::Gap(*n),
        };
        deliver(&mut self.state, ctx, side, chunk, h.at, notes);
    }
}

/// The connection table and what it has produced.
pub struct Flows {
    open: HashMap<(SocketAddr, SocketAddr), Flow>,
    /// Address pairs of finished connections (so stray packets after the
    /// close do not start a new stream).
    closed: HashMap<(SocketAddr, SocketAddr), usize>,
    next_index: usize,
    only: Option<usize>,
    sessions: Vec<(usize, CapturedSession)>,
    /// What looked wrong.
    pub warnings: Vec<String>,
    not_smtp: Vec<String>,
    selected_state: Option<&'static str>,
}

fn key(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b { (a, b) } else { (b, a) }
}

/// What the first bytes of a side say about it.
enum Looks {
    Reply,
    Command,
    Unknown,
    Other,
}

fn looks(bytes: &[u8]) -> Looks {
    if bytes.len() < 4 && !bytes.contains(&b'\n') {
        return Looks::Unknown;
    }
    let digits = bytes.len() >= 3 && bytes[..3].iter().all(u8::is_ascii_digit);
    if digits && matches!(bytes.get(3), None | Some(b' ' | b'-' | b'\r' | b'\n')) {
        return Looks::Reply;
    }
    let word_end = bytes
        .iter()
        .position(|b| !b.is_ascii_alphabetic())
        .unwrap_or(bytes.len());
    let word = &bytes[..word_end];
    const VERBS: [&[u8]; 12] = [
        b"EHLO",
        b"HELO",
        b"LHLO",
        b"MAIL",
        b"RCPT",
        b"DATA",
        b"QUIT",
        b"RSET",
        b"NOOP",
        b"STARTTLS",
        b"AUTH",
        b"BDAT",
    ];
    if VERBS.iter().any(|v| v.eq_ignore_ascii_case(word))
        && matches!(bytes.get(word_end), None | Some(b' ' | b'\r' | b'\n'))
    {
        return Looks::Command;
    }
    Looks::Other
}

fn preview(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(24)];
    if head.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("{:?}", String::from_utf8_lossy(head))
    } else {
        head.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Flows {
    /// A table; `only`: keep just this stream index.
    pub fn new(only: Option<usize>) -> Flows {
        Flows {
            open: HashMap::new(),
            closed: HashMap::new(),
            next_index: 0,
            only,
            sessions: Vec::new(),
            warnings: Vec::new(),
            not_smtp: Vec::new(),
            selected_state: None,
        }
    }

    /// One TCP segment.
    pub fn segment(&mut self, s: &Segment<'_>, missing: usize) {
        let k = key(s.src, s.dst);
        let opening = s.syn && !s.ack;
        if !self.track(k, s, opening) {
            return; // stray packet after the close
        }
        let Some(flow) = self.open.get_mut(&k) else {
            return;
        };
        let side = usize::from(flow.addrs[0] != s.src);
        if opening {
            flow.syn_from.get_or_insert(side);
        }
        let at = flow.at(s.time);
        if (s.fin || s.rst) && flow.first_close.is_none() {
            flow.first_close = Some((side, at));
        }
        if s.rst {
            flow.rst = true;
        }
        if matches!(flow.state, State::Ignored) {
            if s.rst {
                self.close_ignored(k);
            } else if s.fin && flow.first_close.is_some_and(|(w, _)| w != side) {
                // Both sides sent FIN; no reassembly for ignored streams.
                self.close_ignored(k);
            }
            return;
        }
        let mut notes: Vec<String> = Vec::new();
        flow.take(s, side, at, missing, &mut notes);
        self.not_smtp.extend(notes);
        let done = flow.rst || (flow.dirs[0].finished() && flow.dirs[1].finished());
        if done
            && let Some(flow) = self.open.remove(&k) {
                self.finish(flow);
            }
    }

    /// Have a flow open for the connection `k` that `s` belongs to: a new
    /// one when a SYN starts a new connection on the same addresses.
    /// `false` for a packet of a connection already closed.
    fn track(&mut self, k: (SocketAddr, SocketAddr), s: &Segment<'_>, opening: bool) -> bool {
        if let Some(flow) = self.open.get(&k) {
            let side = usize::from(flow.addrs[0] != s.src);
            let reused = opening
                && (flow.first_close.is_some()
                    || (flow.dirs[side].delivered() > 0 && flow.syn_from != Some(side)));
            if reused
                && let Some(flow) = self.open.remove(&k) {
                    self.finish(flow);
                }
        }
        if self.open.contains_key(&k) {
            return true;
        }
        if self.closed.contains_key(&k) && !opening {
            return false;
        }
        self.closed.remove(&k);
        let index = self.next_index;
        self.next_index += 1;
        let state = if self.only.is_some_and(|o| o != index) {
            State::Ignored
        } else {
            State::Undecided(Vec::new())
        };
        self.open.insert(k, Flow::new(index, s, state));
        true
    }

    /// Say where reading the capture took a guess.
    fn warn_guesses(&mut self, flow: &Flow, unresolved: bool) {
        let State::Smtp { server_side, .. } = &flow.state else {
            return;
        };
        let who = |side: usize| {
            if side == *server_side {
                "server"
            } else {
                "client"
            }
        };
        let label = format!("stream {}", flow.index);
        if flow.reordered > 0 {
            self.warnings.push(format!(
                "{label}: {} time(s) the capture shows bytes before the other side's bytes they acknowledge (the capture reordered them); read in acknowledgement order{}",
                flow.reordered,
                if unresolved {
                    ", though some acknowledged bytes never appear in the capture"
                } else {
                    ""
                }
            ));
        }
        for side in 0..2 {
            let n = flow.dirs[side].conflicting_bytes();
            if n > 0 {
                self.warnings.push(format!(
                    "{label}: {n} byte(s) from the {} were retransmitted with other values than the first copy; kept the first copy (as the receiving TCP does), so the commands or replies there may not be what the peer acted on",
                    who(side)
                ));
            }
        }
    }

    fn close_ignored(&mut self, k: (SocketAddr, SocketAddr)) {
        if let Some(flow) = self.open.remove(&k) {
            self.closed.insert(k, flow.index);
        }
    }

    fn finish(&mut self, mut flow: Flow) {
        let k = key(flow.addrs[0], flow.addrs[1]);
        self.closed.insert(k, flow.index);
        let ctx = flow.ctx();
        let mut notes = Vec::new();
        // What was held waits for the other side's flushed bytes too.
        let unresolved = flow.held.iter().any(|h| !h.is_empty());
        for side in 0..2 {
            let Flow {
                dirs,
                state,
                held,
                held_bytes,
                ..
            } = &mut flow;
            dirs[side].flush(&mut |c| {
                if held[side].is_empty() {
                    deliver(state, &ctx, side, c, None, &mut notes);
                } else {
                    hold(&mut held[side], held_bytes, 0, None, c);
                }
            });
        }
        flow.release(&ctx, &mut notes, true);
        self.not_smtp.extend(notes);
        if matches!(flow.state, State::Smtp { .. }) {
            self.warn_guesses(&flow, unresolved);
        }
        if self.only == Some(flow.index) {
            self.selected_state = Some(match flow.state {
                State::Smtp { .. } => "smtp",
                State::Undecided(_) => "empty",
                State::Ignored => "not-smtp",
            });
        }
        match flow.state {
            State::Smtp {
                stream,
                server_side,
            } => {
                let (end, at) = match flow.first_close {
                    Some((side, at)) if side == server_side => (End::ServerClosed, at),
                    Some((_, at)) => (End::ClientClosed, at),
                    None => (End::CutOff, None),
                };
                let (session, warnings) = stream.finish(end, at);
                self.warnings.extend(warnings);
                self.sessions.push((flow.index, session));
            }
            State::Undecided(buffered) => {
                if buffered.iter().any(|(_, _, b)| !b.is_empty()) {
                    let (_, _, b) = &buffered[0];
                    self.not_smtp.push(format!(
                        "stream {} ({} → {}): too little data to tell whether it is SMTP ({}); skipped",
                        flow.index,
                        flow.addrs[0],
                        flow.addrs[1],
                        preview(b)
                    ));
                }
            }
            State::Ignored => {}
        }
    }

    /// The capture ended: finish every open connection (cut off).
    pub fn finish_all(mut self) -> (Vec<CapturedSession>, Vec<String>, Result<(), String>) {
        let mut open: Vec<Flow> = self.open.drain().map(|(_, f)| f).collect();
        open.sort_by_key(|f| f.index);
        for f in open {
            self.finish(f);
        }
        self.sessions.sort_by_key(|(i, _)| *i);
        let mut warnings = std::mem::take(&mut self.not_smtp);
        warnings.append(&mut self.warnings);
        let selected = match self.only {
            None => Ok(()),
            Some(n) if n >= self.next_index => Err(format!(
                "there is no TCP stream {n}: the capture has {} (numbered from 0, as Wireshark's tcp.stream)",
                self.next_index
            )),
            Some(n) => match self.selected_state {
                Some("smtp") => Ok(()),
                Some("empty") => Err(format!("TCP stream {n} carries no data")),
                _ => Err(format!("TCP stream {n} is not SMTP")),
            },
        };
        (
            self.sessions.into_iter().map(|(_, s)| s).collect(),
            warnings,
            selected,
        )
    }
}

struct Ctx {
    addrs: [SocketAddr; 2],
    syn_from: Option<usize>,
    index: usize,
    started: SystemTime,
}

fn deliver(
    state: &mut State,
    ctx: &Ctx,
    side: usize,
    chunk: Chunk<'_>,
    at: Option<Duration>,
    notes: &mut Vec<String>,
) {
    match state {
        State::Smtp {
            stream,
            server_side,
        } => {
            let who = if side == *server_side {
                Side::Server
            } else {
                Side::Client
            };
            match chunk {
                Chunk::Data(d) => stream.bytes(who, d, at),
                Chunk::Gap(n) => stream.gap(who, n, at),
            }
        }
        State::Ignored => {}
        State::Undecided(buffered) => {
            match chunk {
                Chunk::Data(d) => {
                    if let Some(entry) = buffered.iter_mut().find(|(s, _, _)| *s == side) {
                        entry.2.extend_from_slice(d);
                    } else {
                        buffered.push((side, at, d.to_vec()));
                    }
                }
                Chunk::Gap(_) => {
                    notes.push(format!(
                        "stream {} ({} → {}): its start was not captured; skipped",
                        ctx.index, ctx.addrs[0], ctx.addrs[1]
                    ));
                    *state = State::Ignored;
                    return;
                }
            }
            decide(state, ctx, notes);
        }
    }
}

fn decide(state: &mut State, ctx: &Ctx, notes: &mut Vec<String>) {
    let State::Undecided(buffered) = state else {
        return;
    };
    let Some((first_side, _, first)) = buffered.first() else {
        return;
    };
    let first_side = *first_side;
    let server_side = match looks(first) {
        Looks::Unknown => return,
        Looks::Reply => first_side,
        Looks::Command => 1 - first_side,
        Looks::Other => {
            let port_hint = if ctx.addrs.iter().any(|a| a.port() == 465) {
                " (implicit TLS on port 465?)"
            } else if ctx.addrs.iter().any(|a| SMTP_PORTS.contains(&a.port())) {
                " (an SMTP port, but the capture may start in the middle of the session)"
            } else {
                ""
            };
            notes.push(format!(
                "stream {} ({} → {}): not SMTP{port_hint}, first bytes {}; skipped",
                ctx.index,
                ctx.addrs[0],
                ctx.addrs[1],
                preview(first)
            ));
            *state = State::Ignored;
            return;
        }
    };
    // The greeting is missing when the client spoke first, or when the
    // first reply is not a greeting and the handshake was not seen.
    let first_code_greeting =
        first.starts_with(b"220") || first.starts_with(b"421") || first.starts_with(b"554");
    let begin_missing =
        first_side != server_side || (ctx.syn_from.is_none() && !first_code_greeting);
    let client_side = 1 - server_side;
    let session = CapturedSession {
        label: format!("stream {}", ctx.index),
        client: Some(ctx.addrs[client_side]),
        server: Some(ctx.addrs[server_side]),
        started: Some(ctx.started),
        begin_missing,
        implicit_tls: false,
        items: Vec::new(),
    };
    let mut stream = Box::new(SmtpStream::new(session));
    for (side, at, bytes) in std::mem::take(buffered) {
        let who = if side == server_side {
            Side::Server
        } else {
            Side::Client
        };
        stream.bytes(who, &bytes, at);
    }
    *state = State::Smtp {
        stream,
        server_side,
    };
}
