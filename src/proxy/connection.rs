//! One relayed connection: dial the upstream, then relay line by line in the
//! command phase (so the profile can filter and rewrite) and chunk by chunk
//! in the DATA phase (so a message of any size passes in bounded memory).
//!
//! One task owns both sockets and `select!`s over the two reads; every write
//! is awaited, so a slow peer slows the reading of the other side
//! (backpressure) instead of filling a buffer.
//!
//! Replies must reach the client in command order even when the proxy
//! answers some commands itself, so every command leaves a [`Slot`] in a
//! queue: either "the upstream will answer this" or "we answer this". Our own
//! answers go out only when every slot before them has been answered.

use super::Shared;
use super::compile::{BannerAction, Rules, StarttlsAction, Trigger};
use super::fault::{self, ArmedClose, ConnFaults};
use super::link::{Link, LinkError};
use super::model::{Direction, FilterAction};
use super::opaque;
use super::replies::{ReplyReader, Upstream};
use super::rewrite::{mask_banner, mask_verb, rewrite_address, rewrite_ehlo, wire_lines};
use crate::protocol::codec::{DataReader, DataStatus, LineEnding, LineReader, ReadLine};
use crate::protocol::{Command, Reply, Verb};
use crate::scenario::template::{Var, Vars, rfc5322_date};
use crate::transcript::{Closer, EventKind, Leg, SessionLog, Wire};
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;

/// Longest command or reply line relayed. Far above RFC 5321's 512 so that
/// `transparent` relays long lines untouched, yet bounded; a longer command
/// is answered `500 5.5.2` by the proxy and not relayed.
pub const MAX_LINE: usize = 16 * 1024;

/// How much is read from a socket at a time; also the most message data
/// held at once.
const READ_CHUNK: usize = 64 * 1024;

/// How the session ended.
enum End {
    Closed(Closer),
    Aborted {
        by: Closer,
        during: &'static str,
        partial: Bytes,
        received: usize,
    },
}

/// What an expected upstream reply answers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answers {
    Banner,
    /// A relayed command, by the verb the upstream saw (masked verbs differ).
    Command(Verb),
    EndOfData,
}

/// One reply the client is owed, in order.
enum Slot {
    Upstream {
        answers: Answers,
        /// The client's verb (`BANNER`, `.` for end of data), for reply rules.
        verb: String,
        /// A reply-then-close fault replacing this reply.
        hijack: Option<ArmedClose>,
    },
    Local {
        reply: Reply,
        rule: String,
        close: bool,
    },
}

enum Mode {
    Command,
    /// Message content after the upstream's 354; relayed as it arrives.
    Data {
        reader: DataReader,
        forwarded: usize,
    },
    /// A BDAT chunk: `left` raw octets, relayed or swallowed.
    Chunk {
        left: usize,
        forward: bool,
    },
}

/// Placeholder values for the profile's replies.
struct ProxyVars {
    peer: SocketAddr,
    session: u64,
}

impl Vars for ProxyVars {
    fn write_var(&self, var: Var, out: &mut String) {
        let _ = match var {
            Var::Date => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                write!(out, "{}", rfc5322_date(now))
            }
            Var::ClientIp => write!(out, "{}", self.peer.ip()),
            Var::ClientPort => write!(out, "{}", self.peer.port()),
            Var::Session => write!(out, "{}", self.session),
            // The proxy has no host name, HELO or queue of its own.
            Var::Hostname => write!(out, "localhost"),
            Var::Helo | Var::QueueId | Var::MessageSize => Ok(()),
        };
    }
}

struct Relay {
    log: SessionLog,
    rules: Arc<Rules>,
    vars: ProxyVars,
    client_r: OwnedReadHalf,
    upstream_r: OwnedReadHalf,
    to_client: Link<OwnedWriteHalf>,
    to_upstream: Link<OwnedWriteHalf>,
    crbuf: BytesMut,
    urbuf: BytesMut,
    commands: LineReader,
    replies: ReplyReader,
    mode: Mode,
    queue: VecDeque<Slot>,
    faults: ConnFaults,
    stop: watch::Receiver<bool>,
    /// The upstream accepted STARTTLS: relay opaque bytes from here on.
    opaque: bool,
}

/// Relay one client connection to the end and record it.
pub(super) async fn serve(
    client: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) {
    let log = shared.recorder.start_session(peer, local);
    let profile = shared.profile();
    let vars = ProxyVars {
        peer,
        session: log.id(),
    };
    log.push(EventKind::Note {
        text: format!(
            "proxy: profile {}, upstream {}",
            profile.name(),
            shared.upstream
        ),
    });
    let faults = fault::decide(profile.rules(), log.id());
    for text in &faults.notes {
        log.push(EventKind::Note { text: text.clone() });
    }
    let (upstream, upstream_addr) = match dial(&shared).await {
        Ok(dialled) => dialled,
        Err(reason) => return refuse(client, log, &reason).await,
    };
    let _ = upstream.set_nodelay(true);
    // The local port lets a support engineer match this session with the
    // upstream's own logs; the peer is the address just dialled.
    if let Ok(l) = upstream.local_addr() {
        log.push(EventKind::Note {
            text: format!("upstream leg {l} -> {upstream_addr}"),
        });
    }
    let (client_r, client_w) = client.into_split();
    let (upstream_r, upstream_w) = upstream.into_split();
    // Jitter dice per direction, derived from the session so seeded runs repeat.
    let jitter_seed = profile.rules().seed.unwrap_or(0) ^ log.id();
    let mut relay = Relay {
        rules: profile.rules_arc(),
        vars,
        client_r,
        upstream_r,
        to_client: Link::new(client_w, faults.downstream.clone(), jitter_seed),
        to_upstream: Link::new(upstream_w, faults.upstream.clone(), !jitter_seed),
        crbuf: BytesMut::with_capacity(4096),
        urbuf: BytesMut::with_capacity(4096),
        commands: LineReader::new(MAX_LINE),
        replies: ReplyReader::new(MAX_LINE),
        mode: Mode::Command,
        queue: VecDeque::new(),
        faults,
        stop,
        opaque: false,
        log,
    };
    let end = relay.run().await;
    // Close both legs whatever happened: a peer must never be left talking
    // to a half-open relay. Each socket is put back together and closed:
    // dropping a write half would call shutdown(2) first, one more system
    // call per leg for the FIN that close(2) sends anyway.
    let Relay {
        log,
        client_r,
        upstream_r,
        to_client,
        to_upstream,
        ..
    } = relay;
    drop(client_r.reunite(to_client.into_writer()));
    drop(upstream_r.reunite(to_upstream.into_writer()));
    log.close(match end {
        End::Closed(by) => EventKind::Close { by },
        End::Aborted {
            by,
            during,
            partial,
            received,
        } => EventKind::Abort {
            by,
            during: during.to_string(),
            partial: Wire(partial),
            received,
        },
    });
}

async fn dial(shared: &Shared) -> Result<(TcpStream, String), String> {
    let addr = shared.upstream.as_str();
    // An IP:PORT needs no name lookup; `connect(&str)` would run
    // getaddrinfo on the blocking pool for every connection (a thread
    // hand-off and futex traffic that cost ~40 % of the proxy's CPU under
    // smtp-source; docs/PERFORMANCE.md).
    let connect = async {
        match addr.parse::<std::net::SocketAddr>() {
            Ok(ip) => TcpStream::connect(ip).await,
            Err(_) => TcpStream::connect(addr).await,
        }
    };
    match tokio::time::timeout(shared.connect_timeout, connect).await {
        Ok(Ok(s)) => Ok((s, addr.to_string())),
        Ok(Err(e)) => Err(format!("upstream {addr} unreachable: {e}")),
        Err(_) => Err(format!(
            "upstream {addr} unreachable: no answer within {:?}",
            shared.connect_timeout
        )),
    }
}

/// No upstream: tell the client why, as a transient failure, and hang up.
async fn refuse(mut client: TcpStream, log: SessionLog, reason: &str) {
    let reply = Reply::new(421, format!("4.4.0 {reason}"));
    let bytes = reply.to_bytes();
    log.push(EventKind::Reply {
        leg: Leg::Client,
        code: 421,
        lines: wire_lines(&bytes),
        rule: Some("upstream-unreachable".into()),
        original: None,
    });
    // A client that does not read must not keep this task alive.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let _ = client.write_all(&bytes).await;
        let _ = client.shutdown().await;
    })
    .await;
    log.close(EventKind::Close {
        by: Closer::Upstream,
    });
}

impl Relay {
    async fn run(&mut self) -> End {
        let hijack = self.faults.take_close(&Trigger::Banner);
        self.queue.push_back(Slot::Upstream {
            answers: Answers::Banner,
            verb: "BANNER".into(),
            hijack,
        });
        // One shutdown waiter for the whole session, not one per read.
        let mut stop = self.stop.clone();
        let stopped = stop.changed();
        tokio::pin!(stopped);
        loop {
            if let Some(end) = self.client_input().await {
                return end;
            }
            if let Some(end) = self.upstream_input().await {
                return end;
            }
            if self.opaque {
                return self.opaque_relay().await;
            }
            self.crbuf.reserve(READ_CHUNK);
            self.urbuf.reserve(READ_CHUNK);
            tokio::select! {
                r = self.client_r.read_buf(&mut self.crbuf) => match r {
                    Ok(0) | Err(_) => return self.client_closed().await,
                    Ok(_) => {}
                },
                r = self.upstream_r.read_buf(&mut self.urbuf) => match r {
                    Ok(0) | Err(_) => return self.upstream_closed().await,
                    Ok(_) => {}
                },
                _ = &mut stopped => return self.shutdown().await,
            }
        }
    }

    // ---- client → upstream -------------------------------------------

    /// Handle every complete command, data chunk or BDAT chunk buffered.
    async fn client_input(&mut self) -> Option<End> {
        loop {
            match &mut self.mode {
                Mode::Command => match self.commands.next_line(&mut self.crbuf) {
                    ReadLine::Incomplete => return None,
                    ReadLine::Line(line, ending) => {
                        if let Some(end) = self.command(line, ending).await {
                            return Some(end);
                        }
                    }
                    ReadLine::TooLong { len, head } => {
                        self.log.push(EventKind::Command {
                            leg: Leg::Client,
                            line: Wire(head),
                            bare_lf: false,
                        });
                        self.note(format!(
                            "command line of {len} octets exceeds the proxy's {MAX_LINE}; not relayed"
                        ));
                        self.queue.push_back(Slot::Local {
                            reply: Reply::new(500, "5.5.2 Line too long"),
                            rule: "line-limit".into(),
                            close: false,
                        });
                        if let Some(end) = self.drain().await {
                            return Some(end);
                        }
                    }
                },
                Mode::Data { .. } => match self.data().await {
                    Ok(true) => {}
                    Ok(false) => return None,
                    Err(end) => return Some(end),
                },
                Mode::Chunk { left, forward } => {
                    let n = (*left).min(self.crbuf.len());
                    if n == 0 {
                        return None;
                    }
                    let (left_now, forward) = (*left - n, *forward);
                    *left = left_now;
                    let chunk = self.crbuf.split_to(n);
                    if forward && let Err(e) = self.to_upstream.send(&chunk).await {
                        return Some(self.link_failed(e, Leg::Upstream));
                    }
                    if left_now == 0 {
                        self.mode = Mode::Command;
                    }
                }
            }
        }
    }

    /// One command line from the client: filter, rewrite, relay or answer.
    async fn command(&mut self, line: Bytes, ending: LineEnding) -> Option<End> {
        let bare_lf = ending == LineEnding::Lf;
        // A copy, not a slice: a slice would pin the whole 64 KiB read
        // buffer for as long as the transcript keeps this session (1,000
        // sessions pinned 170 MiB in the soak; docs/PERFORMANCE.md).
        self.log.push(EventKind::Command {
            leg: Leg::Client,
            line: Wire(Bytes::copy_from_slice(&line)),
            bare_lf,
        });
        let cmd = Command::parse(&line);
        let verb = cmd.verb.as_str().to_string();
        let chunk_len = (cmd.verb == Verb::Bdat)
            .then(|| cmd.args.split_whitespace().next()?.parse::<usize>().ok())
            .flatten();

        let mut hijack = None;
        if let Some(close) = self.faults.take_close(&Trigger::Verb(verb.clone())) {
            if close.direction == Direction::Upstream {
                self.note(format!("fault {}: {verb} not relayed", close.name));
                return self
                    .answer(
                        close.reply.render(&self.vars),
                        format!("fault {}", close.name),
                        true,
                        chunk_len,
                    )
                    .await;
            }
            hijack = Some(close);
        }
        if cmd.verb == Verb::Starttls
            && let StarttlsAction::Strip(reply) = &self.rules.starttls
        {
            let reply = reply.render(&self.vars);
            return self
                .answer(reply, "starttls-strip".into(), false, None)
                .await;
        }

        let mut out: Option<Vec<u8>> = None;
        let mut seen_verb = cmd.verb.clone();
        if let Some(filter) = &self.rules.verbs
            && filter.filtered.matches(&verb)
        {
            match filter.action {
                FilterAction::Answer => {
                    let reply = filter.reply.render(&self.vars);
                    return self
                        .answer(reply, "verb-filter".into(), false, chunk_len)
                        .await;
                }
                FilterAction::Mask => {
                    let masked = mask_verb(&line);
                    let word_len = masked.iter().take_while(|&&b| b == b'X').count();
                    seen_verb = Verb::Other("X".repeat(word_len));
                    self.note(format!("verb-filter: {verb} masked before relaying"));
                    out = Some(masked);
                }
            }
        }
        if out.is_none() {
            let map = &self.rules.addresses;
            let keyword = match cmd.verb {
                Verb::Mail if map.mail_from => Some("FROM"),
                Verb::Rcpt if map.rcpt_to => Some("TO"),
                _ => None,
            };
            if let Some(keyword) = keyword
                && let Some(new) = rewrite_address(&line, keyword, map)
            {
                self.note(format!("address-rewrite: {verb} address rewritten"));
                out = Some(new);
            }
        }

        let sent: Bytes = out.map_or(line, Bytes::from);
        self.log.push(EventKind::Command {
            leg: Leg::Upstream,
            line: Wire(Bytes::copy_from_slice(&sent)),
            bare_lf,
        });
        let mut wire = BytesMut::with_capacity(sent.len() + 2);
        wire.extend_from_slice(&sent);
        wire.extend_from_slice(if bare_lf { b"\n" } else { b"\r\n" });
        if let Err(e) = self.to_upstream.send(&wire).await {
            return Some(self.link_failed(e, Leg::Upstream));
        }
        let relayed_bdat = seen_verb == Verb::Bdat;
        self.queue.push_back(Slot::Upstream {
            answers: Answers::Command(seen_verb),
            verb,
            hijack,
        });
        if relayed_bdat && let Some(left) = chunk_len.filter(|n| *n > 0) {
            self.mode = Mode::Chunk {
                left,
                forward: true,
            };
        }
        self.drain().await
    }

    /// Queue a reply of our own for a command that is not relayed.
    async fn answer(
        &mut self,
        reply: Reply,
        rule: String,
        close: bool,
        swallow_chunk: Option<usize>,
    ) -> Option<End> {
        self.queue.push_back(Slot::Local { reply, rule, close });
        // A refused BDAT's chunk follows anyway; it must not be read as commands.
        if let Some(left) = swallow_chunk.filter(|n| *n > 0) {
            self.mode = Mode::Chunk {
                left,
                forward: false,
            };
        }
        self.drain().await
    }

    /// Relay buffered message data. `Ok(true)`: the message ended, go on
    /// with commands; `Ok(false)`: need more bytes.
    async fn data(&mut self) -> Result<bool, End> {
        let Mode::Data { reader, forwarded } = &mut self.mode else {
            return Ok(false);
        };
        if self.crbuf.is_empty() {
            return Ok(false);
        }
        // The reader consumes what it frames; relay exactly those bytes.
        let all = self.crbuf.split().freeze();
        let mut rest = BytesMut::from(&all[..]);
        let status = reader.feed(&mut rest);
        let consumed = all.len() - rest.len();
        self.crbuf = rest;
        *forwarded += consumed;
        let mut raw = all.slice(..consumed);
        if status == DataStatus::Incomplete {
            if let Err(e) = self.to_upstream.send(&raw).await {
                return Err(self.link_failed(e, Leg::Upstream));
            }
            return Ok(false);
        }
        let Mode::Data { reader, .. } = std::mem::replace(&mut self.mode, Mode::Command) else {
            return Ok(false);
        };
        let body = reader.finish();
        self.log.push(EventKind::Data {
            leg: Leg::Client,
            size: body.size,
            bare_lf: body.bare_lf,
        });
        let close = self.faults.take_close(&Trigger::EndOfData);
        let withhold = close
            .as_ref()
            .is_some_and(|c| c.direction == Direction::Upstream);
        if withhold {
            // Everything but the final ".\r\n": the upstream waits for an
            // end that never comes (PIX's lost end-of-data, KB 295725).
            raw.truncate(raw.len().saturating_sub(3));
        }
        if let Err(e) = self.to_upstream.send(&raw).await {
            return Err(self.link_failed(e, Leg::Upstream));
        }
        if let Some(close) = close {
            if withhold {
                self.note(format!("fault {}: end of data not relayed", close.name));
                let reply = close.reply.render(&self.vars);
                return match self
                    .answer(reply, format!("fault {}", close.name), true, None)
                    .await
                {
                    Some(end) => Err(end),
                    None => Ok(true),
                };
            }
            self.push_data_upstream(body.size, body.bare_lf);
            self.queue.push_back(Slot::Upstream {
                answers: Answers::EndOfData,
                verb: ".".into(),
                hijack: Some(close),
            });
        } else {
            self.push_data_upstream(body.size, body.bare_lf);
            self.queue.push_back(Slot::Upstream {
                answers: Answers::EndOfData,
                verb: ".".into(),
                hijack: None,
            });
        }
        match self.drain().await {
            Some(end) => Err(end),
            None => Ok(true),
        }
    }

    fn push_data_upstream(&self, size: usize, bare_lf: bool) {
        self.log.push(EventKind::Data {
            leg: Leg::Upstream,
            size,
            bare_lf,
        });
    }

    // ---- upstream → client -------------------------------------------

    /// Handle every complete reply buffered from the upstream.
    async fn upstream_input(&mut self) -> Option<End> {
        while !self.opaque {
            let item = self.replies.next(&mut self.urbuf)?;
            match item {
                Upstream::Reply { reply, raw } => {
                    if let Some(end) = self.reply(reply, raw).await {
                        return Some(end);
                    }
                }
                Upstream::Garbage(raw) => {
                    self.note(format!(
                        "upstream sent a line that is not a reply, relayed as is: {:?}",
                        String::from_utf8_lossy(&raw).trim_end()
                    ));
                    if let Err(e) = self.to_client.send(&raw).await {
                        return Some(self.link_failed(e, Leg::Client));
                    }
                }
                Upstream::TooLong { len, .. } => self.note(format!(
                    "upstream reply line of {len} octets exceeds the proxy's {MAX_LINE}; dropped"
                )),
            }
        }
        None
    }

    /// One complete upstream reply: record it, rewrite it if a rule says so,
    /// relay it, and act on what it means (354, 220 to STARTTLS).
    async fn reply(&mut self, reply: Reply, raw: Bytes) -> Option<End> {
        let upstream_lines = wire_lines(&raw);
        self.log.push(EventKind::Reply {
            leg: Leg::Upstream,
            code: reply.code,
            lines: upstream_lines.clone(),
            rule: None,
            original: None,
        });
        let (answers, verb, hijack) = match self.queue.pop_front() {
            Some(Slot::Upstream {
                answers,
                verb,
                hijack,
            }) => (Some(answers), verb, hijack),
            other => {
                // Our own answers never wait at the head of the queue, so
                // this is a reply nobody asked for (a 421 before closing).
                if let Some(slot) = other {
                    self.queue.push_front(slot);
                }
                self.note("unsolicited reply from upstream, relayed".into());
                (None, String::new(), None)
            }
        };
        let changed = self.rewrite(&reply, &raw, answers.as_ref(), &verb, hijack.as_ref());
        let (bytes, rule, original) = match changed {
            Some((bytes, rule)) => (Bytes::from(bytes), Some(rule), Some(upstream_lines)),
            None => (raw, None, None),
        };
        let code = Reply::parse_line(&bytes).map_or(reply.code, |(c, _, _)| c);
        self.log.push(EventKind::Reply {
            leg: Leg::Client,
            code,
            lines: wire_lines(&bytes),
            rule,
            original,
        });
        if let Err(e) = self.to_client.send(&bytes).await {
            return Some(self.link_failed(e, Leg::Client));
        }
        if let Some(h) = hijack {
            self.note(format!("fault {}: closing after the reply", h.name));
            return Some(self.ended_by_proxy());
        }
        match answers {
            Some(Answers::Command(Verb::Data)) if reply.code == 354 => {
                // Only flags are kept (max size 0): the content is relayed, not stored.
                self.mode = Mode::Data {
                    reader: DataReader::new(0, 1000),
                    forwarded: 0,
                };
            }
            Some(Answers::Command(Verb::Starttls))
                if reply.code == 220 && matches!(self.rules.starttls, StarttlsAction::Pass) =>
            {
                self.opaque = true;
                return None;
            }
            _ => {}
        }
        self.drain().await
    }

    /// The bytes the client gets instead of the upstream's, and the rule
    /// that decided it; `None` relays the upstream's bytes unchanged.
    fn rewrite(
        &self,
        reply: &Reply,
        raw: &[u8],
        answers: Option<&Answers>,
        verb: &str,
        hijack: Option<&ArmedClose>,
    ) -> Option<(Vec<u8>, String)> {
        if let Some(h) = hijack {
            let bytes = h.reply.render(&self.vars).to_bytes();
            return Some((bytes.to_vec(), format!("fault {}", h.name)));
        }
        let text = reply.lines.join("\n");
        let rule = self.rules.replies.iter().find(|r| {
            (r.codes.is_empty() || r.codes.contains(&reply.code))
                && (r.verbs.is_empty() || r.verbs.iter().any(|v| v == verb))
                && r.text.as_ref().is_none_or(|re| re.is_match(&text))
        });
        if let Some(rule) = rule {
            let bytes = rule.reply.render(&self.vars).to_bytes();
            return Some((bytes.to_vec(), rule.name.clone()));
        }
        match answers? {
            Answers::Banner => match &self.rules.banner {
                BannerAction::Pass => None,
                BannerAction::Replace(t) => Some((
                    t.render(&self.vars).to_bytes().to_vec(),
                    "banner-replace".into(),
                )),
                BannerAction::Mask(mode) => Some((mask_banner(raw, *mode), "banner-mask".into())),
            },
            Answers::Command(Verb::Ehlo) => {
                let strip = matches!(self.rules.starttls, StarttlsAction::Strip(_));
                rewrite_ehlo(reply, &self.rules.ehlo, strip)
                    .map(|r| (r.to_bytes().to_vec(), "ehlo-rewrite".into()))
            }
            _ => None,
        }
    }

    /// Send our own replies that are now at the head of the queue.
    async fn drain(&mut self) -> Option<End> {
        while matches!(self.queue.front(), Some(Slot::Local { .. })) {
            let Some(Slot::Local { reply, rule, close }) = self.queue.pop_front() else {
                break;
            };
            let bytes = reply.to_bytes();
            self.log.push(EventKind::Reply {
                leg: Leg::Client,
                code: reply.code,
                lines: wire_lines(&bytes),
                rule: Some(rule),
                original: None,
            });
            if let Err(e) = self.to_client.send(&bytes).await {
                return Some(self.link_failed(e, Leg::Client));
            }
            if close {
                return Some(self.ended_by_proxy());
            }
        }
        None
    }

    // ---- endings -------------------------------------------------------

    fn note(&self, text: String) {
        self.log.push(EventKind::Note { text });
    }

    /// What was in progress, for an Abort: `(during, partial, received)`.
    fn in_progress(&self) -> Option<(&'static str, Bytes, usize)> {
        match &self.mode {
            // Relayed content is not kept (bounded memory): count it only.
            Mode::Data { forwarded, .. } => {
                Some(("data", Bytes::new(), forwarded + self.crbuf.len()))
            }
            Mode::Chunk { left, .. } => Some(("bdat", Bytes::new(), *left)),
            Mode::Command => {
                if let Some((seen, head)) = self.commands.discarded() {
                    return Some(("line", head.clone(), seen + self.crbuf.len()));
                }
                (!self.crbuf.is_empty()).then(|| {
                    (
                        "line",
                        Bytes::copy_from_slice(&self.crbuf),
                        self.crbuf.len(),
                    )
                })
            }
        }
    }

    fn end(&self, by: Closer) -> End {
        match self.in_progress() {
            Some((during, partial, received)) => End::Aborted {
                by,
                during,
                partial,
                received,
            },
            None => End::Closed(by),
        }
    }

    /// The proxy itself ended the session (a fault).
    fn ended_by_proxy(&self) -> End {
        self.end(Closer::Server)
    }

    fn link_failed(&self, e: LinkError, leg: Leg) -> End {
        match e {
            LinkError::Cut(n) => {
                let dir = match leg {
                    Leg::Client => "upstream→client",
                    Leg::Upstream => "client→upstream",
                };
                self.note(format!("fault close_after: cut after {n} octets {dir}"));
                self.ended_by_proxy()
            }
            LinkError::Io(err) => {
                let by = match leg {
                    Leg::Client => Closer::Client,
                    Leg::Upstream => Closer::Upstream,
                };
                self.note(format!("write to the {leg:?} leg failed: {err}"));
                self.end(by)
            }
        }
    }

    /// The client closed. A half-sent command is relayed as it is (the
    /// upstream sees exactly what the client sent); then both legs close.
    async fn client_closed(&mut self) -> End {
        let end = self.end(Closer::Client);
        if matches!(self.mode, Mode::Command) && !self.crbuf.is_empty() {
            let rest = self.crbuf.split();
            let _ = self.to_upstream.send(&rest).await;
        }
        end
    }

    /// The upstream closed: relay whatever it sent last, then close the client.
    async fn upstream_closed(&mut self) -> End {
        let rest = self.replies.unfinished(&mut self.urbuf);
        if !rest.is_empty() {
            self.note(format!(
                "upstream closed mid-reply; relayed its last {} octets as is",
                rest.len()
            ));
            let _ = self.to_client.send(&rest).await;
        }
        self.end(Closer::Upstream)
    }

    async fn shutdown(&mut self) -> End {
        let reply = Reply::new(421, "4.3.2 Proxy shutting down");
        let bytes = reply.to_bytes();
        self.log.push(EventKind::Reply {
            leg: Leg::Client,
            code: 421,
            lines: wire_lines(&bytes),
            rule: Some("shutdown".into()),
            original: None,
        });
        // A client that stopped reading must not hold shutdown up.
        let _ = tokio::time::timeout(Duration::from_secs(1), self.to_client.send(&bytes)).await;
        self.end(Closer::Shutdown)
    }

    /// After the upstream's 220 to STARTTLS: relay opaque bytes both ways.
    async fn opaque_relay(&mut self) -> End {
        self.note("STARTTLS accepted by the upstream: relaying opaque (TLS) bytes both ways; the profile no longer applies".into());
        let to_upstream = self.crbuf.split();
        let to_client = self.replies.unfinished(&mut self.urbuf);
        if self.to_upstream.send(&to_upstream).await.is_err()
            || self.to_client.send(&to_client).await.is_err()
        {
            return End::Closed(Closer::Error);
        }
        let outcome = opaque::relay(
            &mut self.client_r,
            self.to_client.writer_mut(),
            &mut self.upstream_r,
            self.to_upstream.writer_mut(),
            &mut self.stop,
        )
        .await;
        self.note(format!(
            "opaque relay ended: {} octets client→upstream, {} octets upstream→client",
            outcome.to_upstream, outcome.to_client
        ));
        End::Closed(outcome.closed_by)
    }
}
