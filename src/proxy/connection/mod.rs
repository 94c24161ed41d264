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
//! What to do with each command and reply is the sans-I/O
//! [`Policy`](super::policy::Policy)'s to say; this module frames the bytes,
//! feeds them to it and carries out its actions (`actions.rs`).

mod actions;
mod duplex;
mod ending;
mod timeouts;

use super::Shared;
use super::compile::Timeouts;
use super::fault::{self, ConnFaults};
use super::opaque;
use super::policy::{self, MAX_LINE, Policy};
use super::replies::{ReplyReader, Upstream};
use super::rewrite::wire_lines;
use crate::link::linger::{self, SMTP_LINGER_OCTETS};
use crate::protocol::Reply;
use crate::protocol::codec::ReadRoom;
use crate::link::{Link, LinkError, Shaper};
use crate::protocol::framer::{Frame, Framer};
use crate::transcript::{Closer, End, EventKind, Leg, SessionLog, Wire};
use bytes::{Bytes, BytesMut};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use timeouts::timeout_reply;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;
use tokio::time::Instant;

/// Room for each leg's first read (see `Relay::client_room`).
const RELAY_FIRST_READ: usize = 4096;

struct Relay {
    log: SessionLog,
    /// What to do with each command and reply.
    policy: Policy,
    timeouts: Timeouts,
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
    stop: watch::Receiver<bool>,
    /// The upstream accepted STARTTLS: relay opaque bytes from here on.
    opaque: bool,
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
    let mut relay = Relay::new(client, upstream, log, &profile, faults, peer, stop);
    let end = match relay.run().await {
        End::StartTls => relay.opaque_relay().await,
        end => end,
    };
    relay.tell_timeout(&shared.upstream).await;
    relay.close(end).await;
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
fn record_own_reply(log: &SessionLog, reply: &Reply, rule: String) -> Bytes {
    let (event, bytes) = policy::own_reply(reply, rule);
    log.push(event);
    bytes
}

/// Since when each side owes the other something without having sent
/// anything: the upstream the reply at the head of the queue, or the client
/// the next command (or more message text).
struct Clocks {
    owed_since: Option<Instant>,
    idle_since: Option<Instant>,
}

impl Clocks {
    /// When the side that owes now runs out of time (the upstream has
    /// `owed`, if it owes a reply; else the client has `idle`), and whether
    /// that side is the client.
    fn due(&mut self, owed: Option<Duration>, idle: Duration) -> (Instant, bool) {
        match owed {
            Some(limit) => {
                self.idle_since = None;
                (
                    *self.owed_since.get_or_insert_with(Instant::now) + limit,
                    false,
                )
            }
            None => {
                self.owed_since = None;
                (
                    *self.idle_since.get_or_insert_with(Instant::now) + idle,
                    true,
                )
            }
        }
    }
}

impl Relay {
    fn new(
        client: TcpStream,
        upstream: TcpStream,
        log: SessionLog,
        profile: &super::Profile,
        mut faults: ConnFaults,
        peer: SocketAddr,
        stop: watch::Receiver<bool>,
    ) -> Relay {
        let timeouts = profile.rules().timeouts;
        let (client_r, client_w) = client.into_split();
        let (upstream_r, upstream_w) = upstream.into_split();
        // Jitter dice per direction, from the session's so seeded runs repeat.
        let shaper = |shape, dice| Shaper::new(shape, dice, timeouts.write);
        let to_client = Link::new(client_w, shaper(faults.downstream, faults.dice.fork()));
        let to_upstream = Link::new(upstream_w, shaper(faults.upstream, faults.dice.fork()));
        Relay {
            policy: Policy::new(profile.rules_arc(), faults, peer, log.id()),
            timeouts,
            client_r,
            upstream_r,
            to_client,
            to_upstream: Some(to_upstream),
            crbuf: BytesMut::new(),
            urbuf: BytesMut::new(),
            client_room: ReadRoom::new(RELAY_FIRST_READ),
            upstream_room: ReadRoom::new(RELAY_FIRST_READ),
            framer: Framer::new(MAX_LINE),
            replies: ReplyReader::new(MAX_LINE),
            stop,
            opaque: false,
            timed_out: None,
            upstream_spoke: false,
            log,
        }
    }

    /// Relay until the session ends, or until the upstream accepts STARTTLS
    /// ([`End::StartTls`]: the opaque relay goes on).
    async fn run(&mut self) -> End {
        // One shutdown waiter and one timer for the whole session, not one
        // per read; the timer is moved only when it fires early or must
        // fire earlier (as the server's idle timer). It runs for the
        // upstream while it owes a reply, for the client otherwise.
        let mut stop = self.stop.clone();
        let stopped = stop.changed();
        tokio::pin!(stopped);
        let deadline = tokio::time::sleep(self.timeouts.banner);
        tokio::pin!(deadline);
        let mut clocks = Clocks {
            owed_since: Some(Instant::now()),
            idle_since: None,
        };
        loop {
            if let Some(end) = self.client_input().await {
                return end;
            }
            if std::mem::take(&mut self.upstream_spoke) {
                clocks.owed_since = None;
            }
            if let Some(end) = self.upstream_input().await {
                return end;
            }
            if self.opaque {
                return End::StartTls;
            }
            let client_room = self.client_room.prepare(&mut self.crbuf);
            let upstream_room = self.upstream_room.prepare(&mut self.urbuf);
            let (due, client_owes) = clocks.due(self.owed(), self.timeouts.idle);
            if due < deadline.deadline() {
                deadline.as_mut().reset(due);
            }
            tokio::select! {
                r = self.client_r.read_buf(&mut self.crbuf) => match r {
                    Ok(0) | Err(_) => return self.client_closed().await,
                    Ok(n) => {
                        self.client_room.filled(n, client_room);
                        clocks.idle_since = None;
                    }
                },
                r = self.upstream_r.read_buf(&mut self.urbuf) => match r {
                    Ok(0) | Err(_) => return self.upstream_closed().await,
                    Ok(n) => {
                        self.upstream_room.filled(n, upstream_room);
                        clocks.owed_since = None;
                    }
                },
                _ = &mut stopped => return self.shutdown().await,
                _ = &mut deadline => {
                    if Instant::now() >= due {
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

    /// Close both legs whatever happened, and record how the session
    /// ended: a peer must never be left talking to a half-open relay. Each
    /// socket is put back together and closed: dropping a write half would
    /// call shutdown(2) first, one more system call per leg for the FIN
    /// that close(2) sends anyway. When the proxy (or the upstream) hung
    /// up on a client that may still be sending, the client's close
    /// lingers, after the end is recorded (`link::linger`).
    async fn close(self, end: End) {
        let Relay {
            log,
            client_r,
            upstream_r,
            to_client,
            to_upstream,
            policy,
            opaque,
            ..
        } = self;
        let client = client_r.reunite(to_client.into_writer());
        if let Some(link) = to_upstream {
            drop(upstream_r.reunite(link.into_writer()));
        }
        // After a passed-through STARTTLS the relay's grace has drained the
        // client already, and its QUIT was not readable.
        let lingers = !opaque && end.hung_up_on_client(policy.client_quit());
        log.close(end.event());
        if lingers && let Ok(mut client) = client {
            Box::pin(linger::linger(&mut client, SMTP_LINGER_OCTETS)).await;
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
