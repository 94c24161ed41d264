//! One relayed connection: dial the upstream, then relay line by line in the
//! command phase (so the profile can filter and rewrite) and chunk by chunk
//! in the DATA phase (so a message of any size passes in bounded memory).
//!
//! One task owns both sockets and `select!`s over the two reads; every write
//! is awaited, so a slow peer slows the reading of the other side
//! (backpressure) instead of filling a buffer. A write to the upstream still
//! reads and relays the upstream's replies while it waits (`duplex.rs`):
//! the proxy is the upstream's client, and a pipelining client that stops
//! reading its replies deadlocks against the server.
//!
//! Replies must reach the client in command order even when the proxy
//! answers some commands itself, so every command leaves a [`Slot`] in a
//! queue: either "the upstream will answer this" or "we answer this". Our own
//! answers go out only when every slot before them has been answered.

mod client;
mod duplex;
mod ending;
mod sasl;
mod timeouts;
mod upstream;

use super::Shared;
use super::compile::{BannerAction, Rules, StarttlsAction, Trigger};
use super::fault::{self, ArmedClose, ConnFaults};
use super::model::{Direction, FilterAction};
use super::opaque;
use super::replies::{ReplyReader, Upstream};
use super::rewrite::{mask_banner, mask_verb, rewrite_address, rewrite_ehlo, wire_lines};
use crate::link::{Link, LinkError, Shaper};
use crate::protocol::codec::{DataBody, LineEnding, ReadRoom};
use crate::protocol::framer::{Frame, Framer};
use crate::protocol::{Command, Reply, Verb};
use crate::scenario::template::{Var, Vars, rfc5322_date};
use crate::transcript::{Closer, EventKind, Leg, SessionLog, Wire};
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use timeouts::timeout_reply;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;

/// Longest command or reply line relayed. Far above RFC 5321's 512 so that
/// `transparent` relays long lines untouched, yet bounded; a longer command
/// is answered `500 5.5.2` by the proxy and not relayed.
pub const MAX_LINE: usize = 16 * 1024;

/// Room for each leg's first read (see `Relay::client_room`).
const RELAY_FIRST_READ: usize = 4096;

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
    /// A line of an AUTH exchange (the `AUTH` command or a SASL response):
    /// a 334 to it makes the client's next line a SASL response.
    Auth,
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
    /// `None` only while [`send_upstream`](Relay::send_upstream) has lent
    /// it to a pending write.
    to_upstream: Option<Link<OwnedWriteHalf>>,
    crbuf: BytesMut,
    urbuf: BytesMut,
    /// Read sizes per leg: 4 KiB first, up to 64 KiB (also the most message
    /// data held at once). Reserving 64 KiB for every read made an idle
    /// relayed connection cost 135 KiB with mimalloc, which commits what it
    /// hands out; 1 KiB split a small message into two reads and two
    /// upstream writes.
    client_room: ReadRoom,
    upstream_room: ReadRoom,
    /// Client input: commands, DATA relayed as it arrives, BDAT chunks.
    framer: Framer,
    replies: ReplyReader,
    queue: VecDeque<Slot>,
    faults: ConnFaults,
    stop: watch::Receiver<bool>,
    /// The upstream accepted STARTTLS: relay opaque bytes from here on.
    opaque: bool,
    /// Where an AUTH exchange stands: is the client's next line a SASL response?
    sasl: crate::protocol::sasl::Exchange,
    /// The upstream overran a timeout: why, for the client's 421 once the
    /// relay has stopped.
    timed_out: Option<String>,
    /// The upstream sent something while a write to it was pending: its
    /// reply clock restarts.
    upstream_spoke: bool,
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
    let mut faults = fault::decide(profile.rules(), log.id());
    for text in &faults.notes {
        log.push(EventKind::Note { text: text.clone() });
    }
    let timeouts = profile.rules().timeouts;
    let upstream = match dial(&shared.upstream, timeouts.connect).await {
        Ok(s) => s,
        Err(refusal) => return refuse(client, log, refusal).await,
    };
    let _ = upstream.set_nodelay(true);
    // The local port lets a support engineer match this session with the
    // upstream's own logs; the peer is the configured upstream (asking the
    // socket would be one more system call per session).
    if let Ok(l) = upstream.local_addr() {
        log.push(EventKind::Note {
            text: format!("upstream leg {l} -> {}", shared.upstream),
        });
    }
    let (client_r, client_w) = client.into_split();
    let (upstream_r, upstream_w) = upstream.into_split();
    // Jitter dice per direction, from the session's so seeded runs repeat.
    let shaper = |shape, dice| Shaper::new(shape, dice, timeouts.write);
    let to_client = shaper(faults.downstream, faults.dice.fork());
    let to_upstream = shaper(faults.upstream, faults.dice.fork());
    let mut relay = Relay {
        rules: profile.rules_arc(),
        vars,
        client_r,
        upstream_r,
        to_client: Link::new(client_w, to_client),
        to_upstream: Some(Link::new(upstream_w, to_upstream)),
        crbuf: BytesMut::new(),
        urbuf: BytesMut::new(),
        client_room: ReadRoom::new(RELAY_FIRST_READ),
        upstream_room: ReadRoom::new(RELAY_FIRST_READ),
        framer: Framer::new(MAX_LINE),
        replies: ReplyReader::new(MAX_LINE),
        queue: VecDeque::new(),
        faults,
        stop,
        opaque: false,
        sasl: Default::default(),
        timed_out: None,
        upstream_spoke: false,
        log,
    };
    let end = relay.run().await;
    relay.tell_timeout(&shared.upstream).await;
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
    if let Some(link) = to_upstream {
        drop(upstream_r.reunite(link.into_writer()));
    }
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

/// Why there is no upstream leg: the client's 421 and the transcript's words.
struct Refusal {
    reply: Reply,
    rule: &'static str,
    by: Closer,
    /// What timed out, when something did.
    note: Option<String>,
}

async fn dial(addr: &str, limit: Duration) -> Result<TcpStream, Refusal> {
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
    match tokio::time::timeout(limit, connect).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(Refusal {
            reply: Reply::new(421, format!("4.4.0 upstream {addr} unreachable: {e}")),
            rule: "upstream-unreachable",
            by: Closer::Upstream,
            note: None,
        }),
        Err(_) => Err(Refusal {
            reply: timeout_reply(addr, &format!("no connection within {limit:?}")),
            rule: "upstream-timeout",
            by: Closer::Timeout,
            note: Some(format!(
                "upstream leg: no connection within {limit:?} (timeouts.connect)"
            )),
        }),
    }
}

/// No upstream: tell the client why, as a transient failure, and hang up.
async fn refuse(mut client: TcpStream, log: SessionLog, refusal: Refusal) {
    if let Some(text) = refusal.note {
        log.push(EventKind::Note { text });
    }
    let bytes = record_own_reply(&log, &refusal.reply, refusal.rule.into());
    // A client that does not read must not keep this task alive.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let _ = client.write_all(&bytes).await;
        let _ = client.shutdown().await;
    })
    .await;
    log.close(EventKind::Close { by: refusal.by });
}

/// Record a reply of the proxy's own on the client leg, made by `rule`;
/// the bytes to send.
fn record_own_reply(log: &SessionLog, reply: &Reply, rule: String) -> BytesMut {
    let bytes = reply.to_bytes();
    log.push(EventKind::Reply {
        leg: Leg::Client,
        code: reply.code,
        lines: wire_lines(&bytes),
        rule: Some(rule),
        original: None,
    });
    bytes
}

/// A client line as it goes upstream: with the ending the client used.
fn with_ending(line: &[u8], bare_lf: bool) -> BytesMut {
    let mut wire = BytesMut::with_capacity(line.len() + 2);
    wire.extend_from_slice(line);
    wire.extend_from_slice(if bare_lf { b"\n" } else { b"\r\n" });
    wire
}

impl Relay {
    async fn run(&mut self) -> End {
        let hijack = self.faults.take_close(&Trigger::Banner);
        self.queue.push_back(Slot::Upstream {
            answers: Answers::Banner,
            verb: "BANNER".into(),
            hijack,
        });
        // One shutdown waiter and one timer for the whole session, not one
        // per read; the timer is moved only when it fires early or must
        // fire earlier (as the server's idle timer). It runs for the
        // upstream while it owes a reply, for the client otherwise.
        let mut stop = self.stop.clone();
        let stopped = stop.changed();
        tokio::pin!(stopped);
        let timeouts = self.rules.timeouts;
        let deadline = tokio::time::sleep(timeouts.banner);
        tokio::pin!(deadline);
        // Since when the upstream owes the reply at the head of the queue
        // without having sent anything.
        let mut owed_since = Some(tokio::time::Instant::now());
        // Since when the client owes the next command (or more message
        // text) without having sent anything.
        let mut idle_since = None;
        loop {
            if let Some(end) = self.client_input().await {
                return end;
            }
            if std::mem::take(&mut self.upstream_spoke) {
                owed_since = None;
            }
            if let Some(end) = self.upstream_input().await {
                return end;
            }
            if self.opaque {
                return self.opaque_relay().await;
            }
            let client_room = self.client_room.prepare(&mut self.crbuf);
            let upstream_room = self.upstream_room.prepare(&mut self.urbuf);
            let (due, client_owes) = match self.owed() {
                Some(limit) => {
                    idle_since = None;
                    let since = owed_since.get_or_insert_with(tokio::time::Instant::now);
                    (*since + limit, false)
                }
                None => {
                    owed_since = None;
                    let since = idle_since.get_or_insert_with(tokio::time::Instant::now);
                    (*since + timeouts.idle, true)
                }
            };
            if due < deadline.deadline() {
                deadline.as_mut().reset(due);
            }
            tokio::select! {
                r = self.client_r.read_buf(&mut self.crbuf) => match r {
                    Ok(0) | Err(_) => return self.client_closed().await,
                    Ok(n) => {
                        self.client_room.filled(n, client_room);
                        idle_since = None;
                    }
                },
                r = self.upstream_r.read_buf(&mut self.urbuf) => match r {
                    Ok(0) | Err(_) => return self.upstream_closed().await,
                    Ok(n) => {
                        self.upstream_room.filled(n, upstream_room);
                        owed_since = None;
                    }
                },
                _ = &mut stopped => return self.shutdown().await,
                _ = &mut deadline => {
                    if tokio::time::Instant::now() >= due {
                        return if client_owes {
                            self.client_idle().await
                        } else {
                            self.overdue()
                        };
                    }
                    deadline.as_mut().reset(due);
                }
            }
        }
    }

    fn note(&self, text: String) {
        self.log.push(EventKind::Note { text });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::{Recorder, Retention};

    /// Every relayed connection's task holds this future, so with many idle
    /// connections its size is most of the proxy's memory.
    #[tokio::test]
    async fn a_relay_task_stays_small() {
        let profile = crate::proxy::Profile::bundled("transparent").unwrap();
        let shared = Arc::new(Shared::new(
            profile,
            "127.0.0.1:9",
            Recorder::new(Retention::Last(1), vec![]),
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (_tx, rx) = watch::channel(false);
        let fut = serve(client, addr, addr, shared, rx);
        let size = std::mem::size_of_val(&fut);
        eprintln!("relay future: {size} bytes");
        assert!(size <= 8192, "relay future is {size} bytes");
    }
}
