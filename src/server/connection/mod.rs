//! One client connection: read, frame, ask the session, write, record.
//!
//! Replies to a pipelined batch are collected and written together once the
//! batch is consumed (RFC 2920), which is also what makes the server cheap
//! under load: one write per batch, not per reply.

mod ending;
mod line_clock;
mod output;
mod tls;

use super::Shared;
use crate::link::linger::{self, SMTP_LINGER_OCTETS};
use crate::link::Shaper;
use crate::protocol::codec::{DataBody, LineEnding, ReadRoom};
use crate::protocol::framer::{Frame, Framer};
use crate::session::{Next, Outcome, Session, SessionInfo};
use crate::transcript::{Closer, End, EventKind, Leg, SessionLog, Wire};
use bytes::{Bytes, BytesMut};
use line_clock::LineClock;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

struct Conn<S> {
    stream: S,
    session: Session,
    log: SessionLog,
    shared: Arc<Shared>,
    rbuf: BytesMut,
    read_room: ReadRoom,
    wbuf: BytesMut,
    framer: Framer,
    stop: watch::Receiver<bool>,
    greeted: bool,
    /// How replies are written: the session's faults (bandwidth, slices, a
    /// byte budget) and the bound on a client that reads nothing.
    out: Shaper,
    /// The server cut the session while writing: `Server` for a
    /// `close_after` fault, `Timeout` for a client that stopped reading.
    cut: Option<Closer>,
}

/// Serve one connection to the end and record it.
pub(super) async fn serve<S>(
    stream: S,
    peer: SocketAddr,
    local: SocketAddr,
    running: usize,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let current = shared.current();
    let log = shared.recorder.start_session(peer, local);
    if let Some(max) = current.scenario.plan().limits.max_sessions
        && running > max
    {
        ending::refuse_busy(stream, log, &current.scenario.plan().hostname, max).await;
        return;
    }
    let info = SessionInfo {
        id: log.id(),
        peer,
        local,
    };
    let session =
        Session::new(current.scenario.plan_arc(), info).with_one_shots(Arc::clone(&shared.faults));
    // The session's latency is its own wait before a reply, so the link's
    // dice draw nothing.
    let out = Shaper::new(
        session.link_shape(),
        crate::dice::Dice::new(0),
        session.plan().limits.idle_timeout,
    );
    let limit = session.plan().limits.command_line;
    let implicit = session.plan().tls.as_ref().is_some_and(|t| t.implicit);
    let tls = current.tls;
    let conn = Conn {
        stream,
        session,
        log,
        shared,
        rbuf: BytesMut::new(),
        read_room: ReadRoom::default(),
        wbuf: BytesMut::with_capacity(1024),
        framer: Framer::new(limit),
        stop,
        greeted: false,
        out,
        cut: None,
    };
    // The TLS part is boxed: its future holds a `Conn<ServerTls<S>>` and a
    // rustls connection, and inline it would make every connection's task
    // that big, TLS or not (14 KiB a task before; see docs/PERFORMANCE.md).
    if implicit {
        Box::pin(conn.secure(tls)).await
    } else {
        let mut conn = conn;
        match conn.run().await {
            End::StartTls => Box::pin(conn.secure(tls)).await,
            end => conn.close(end).await,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// Record how the session ended, then end the connection: TLS with a
    /// close_notify alert; plain TCP by its drop's FIN, or by a lingering
    /// close when the client may still be sending. The end is recorded
    /// first, so nobody waits on the linger for the transcript.
    async fn close(self, end: End) {
        record_unfinished(&self.session, &self.log);
        let tls = self.session.tls_active();
        let lingers = !tls && end.hung_up_on_client(self.session.quit());
        let Conn {
            mut stream, log, ..
        } = self;
        log.close(end.event());
        if tls {
            // The alert is a write too: a client that reads nothing must not
            // hold the task here after every other wait was bounded.
            let _ = tokio::time::timeout(Duration::from_secs(1), stream.shutdown()).await;
        } else if lingers {
            Box::pin(linger::linger(&mut stream, SMTP_LINGER_OCTETS)).await;
        }
    }

    async fn run(&mut self) -> End {
        // After STARTTLS the session goes on without a new greeting (RFC 3207).
        if !self.greeted {
            self.greeted = true;
            let greeting = self.session.greeting();
            if let Some(end) = self.apply(greeting).await {
                return end;
            }
            if let Some(end) = self.apply_unsolicited().await {
                return end;
            }
        }
        // One idle timer and one shutdown waiter for the whole session:
        // arming a fresh timeout and `changed()` around every read cost a
        // timer-wheel insert and removal plus a waiter-list lock per read
        // (docs/PERFORMANCE.md). The deadline is only moved when it fires
        // early or a line's deadline (`limits.line_deadline`) comes sooner,
        // so a read costs a clock read instead.
        let idle = self.session.plan().limits.idle_timeout;
        let mut line = LineClock::new(self.session.plan().limits.line_deadline);
        let mut stop = self.stop.clone();
        let stopped = stop.changed();
        tokio::pin!(stopped);
        let deadline = tokio::time::sleep(idle);
        tokio::pin!(deadline);
        loop {
            if let Some(end) = self.process_buffer().await {
                return end;
            }
            if !self.wbuf.is_empty() && self.flush().await.is_err() {
                return self.vanished(Closer::Error);
            }
            let room = self.read_room.prepare(&mut self.rbuf);
            let waiting_since = tokio::time::Instant::now();
            if self.framer.in_chunk() {
                line.stop();
            }
            if let Some(due) = line.due()
                && due < deadline.deadline()
            {
                deadline.as_mut().reset(due);
            }
            // A replayed server's own reply after the client's captured
            // quiet time; boxed, as only replays have one.
            let mut quiet = self
                .session
                .idle_reply()
                .map(|d| Box::pin(tokio::time::sleep(d)));
            let read = loop {
                tokio::select! {
                    biased;
                    r = self.stream.read_buf(&mut self.rbuf) => break Some(r),
                    _ = &mut stopped => return self.say_goodbye(Closer::Shutdown).await,
                    _ = until(&mut quiet) => break None,
                    _ = &mut deadline => match self.next_deadline(&line, waiting_since + idle) {
                        Some(next) => deadline.as_mut().reset(next),
                        None => return self.say_goodbye(Closer::Timeout).await,
                    },
                }
            };
            super::busy_poll::activity();
            let Some(read) = read else {
                // Quiet long enough: the replayed reply goes out, then the
                // loop flushes it and reads on.
                if let Some(end) = self.quiet_elapsed().await {
                    return end;
                }
                continue;
            };
            match read {
                Ok(0) => return self.vanished(Closer::Client),
                Ok(n) => {
                    self.read_room.filled(n, room);
                    line.read(&self.rbuf[self.rbuf.len() - n..]);
                }
                Err(_) => return self.vanished(Closer::Error),
            }
        }
    }

    /// The read deadline fired: `None` when the client took too long (for a
    /// whole line, or idle until `idle_due`), else when to wake next (the
    /// timer fires early when the deadline it was armed for moved later).
    fn next_deadline(
        &mut self,
        line: &LineClock,
        idle_due: tokio::time::Instant,
    ) -> Option<tokio::time::Instant> {
        let now = tokio::time::Instant::now();
        if let (Some(due), Some(d)) = (line.due(), line.limit())
            && now >= due
        {
            self.log.push(EventKind::Note {
                text: format!(
                    "no complete line within {d:?} of its first octet (limits.line_deadline)"
                ),
            });
            return None;
        }
        if now >= idle_due {
            return None;
        }
        Some(line.due().map_or(idle_due, |l| l.min(idle_due)))
    }

    /// Handle every complete line or message in the buffer.
    async fn process_buffer(&mut self) -> Option<End> {
        loop {
            // The frame is matched in place, not bound across the awaits
            // below, so it takes no room in the connection's future.
            let outcome = match self.framer.next(&mut self.rbuf) {
                None => return None,
                Some(Frame::Line(line, ending)) => self.command(line, ending),
                Some(Frame::TooLong { len, head }) => self.line_too_long(len, head),
                Some(Frame::DataEnd { body, .. }) => self.data_end(body),
                Some(Frame::ChunkEnd {
                    data, size, last, ..
                }) => self.chunk_end(data, size, last),
                // Content is only handed out when relayed, which the
                // server never asks for.
                Some(Frame::Content(_)) => continue,
            };
            self.framer.set_line_limit(self.session.line_limit());
            if let Some(end) = self.apply(outcome).await {
                return Some(end);
            }
            if let Some(end) = self.apply_unsolicited().await {
                return Some(end);
            }
        }
    }

    /// A DATA message ended: recorded, then answered by the session.
    fn data_end(&mut self, body: DataBody) -> Outcome {
        self.log.push(EventKind::data(Leg::Client, &body));
        self.session.data_done(body)
    }

    /// A BDAT chunk ended: recorded, then answered by the session.
    fn chunk_end(&mut self, data: Bytes, size: usize, last: bool) -> Outcome {
        self.log.push(EventKind::data_plain(Leg::Client, size));
        self.session.chunk_done(data, size, last)
    }

    /// A command line: recorded, then answered by the session.
    fn command(&mut self, line: Bytes, ending: LineEnding) -> Outcome {
        // A copy, not a slice of the read buffer: the transcript keeps
        // 1,000 sessions, and a slice pins the buffer it came from (up to
        // 64 KiB after DATA).
        let shown = self.session.shown_line(&line);
        self.log.push(EventKind::Command {
            leg: Leg::Client,
            line: Wire(shown),
            bare_lf: ending == LineEnding::Lf,
        });
        if ending == LineEnding::Lf
            && let Some(refused) = self.session.bare_lf_command()
        {
            return refused;
        }
        self.session.command(&line)
    }

    /// A command line longer than the limit ended (its rest discarded).
    fn line_too_long(&mut self, len: usize, head: Bytes) -> Outcome {
        // The head may be a credential: the session says what of it is kept.
        let (shown, outcome) = self.session.line_too_long(&head);
        self.log.push(EventKind::Command {
            leg: Leg::Client,
            line: Wire(shown),
            bare_lf: false,
        });
        self.log.push(EventKind::Note {
            text: format!("command line of {len} octets exceeds the limit; discarded"),
        });
        outcome
    }

    /// The session answered with a one-shot fault armed at runtime: the
    /// session and the control log both record it.
    fn record_fired(&mut self, detail: String) {
        self.shared.recorder.control(
            "fault-fired",
            format!("{detail} (session {})", self.log.id()),
        );
        self.log.push(EventKind::Control {
            action: "fault-fired".into(),
            detail,
        });
    }

    /// The client stayed quiet as long as the captured one before the
    /// captured server spoke on its own: that reply now, and any due after it.
    async fn quiet_elapsed(&mut self) -> Option<End> {
        let outcome = self.session.idle_elapsed()?;
        if let Some(end) = self.apply(outcome).await {
            return Some(end);
        }
        self.apply_unsolicited().await
    }

    /// Replies the session sends on its own ([`Session::unsolicited`]: a
    /// fault after the greeting, an error limit's 421, a captured timeout
    /// notice), due after the reply just queued.
    async fn apply_unsolicited(&mut self) -> Option<End> {
        while let Some(outcome) = self.session.unsolicited() {
            if let Some(end) = self.apply(outcome).await {
                return Some(end);
            }
        }
        None
    }

    /// Carry out an outcome: wait, queue the reply, switch mode or close.
    async fn apply(&mut self, mut outcome: Outcome) -> Option<End> {
        if let Some(detail) = self.session.take_fired() {
            self.record_fired(detail);
        }
        if outcome.reply.is_some() || outcome.wire.is_some() {
            outcome.delay += self.session.reply_delay();
        }
        if !outcome.delay.is_zero() {
            if self.flush().await.is_err() {
                return Some(self.vanished(Closer::Error));
            }
            self.log.push(EventKind::Note {
                text: format!("waiting {:?}", outcome.delay),
            });
            tokio::select! {
                _ = tokio::time::sleep(outcome.delay) => {}
                _ = self.stop.changed() => return Some(self.say_goodbye(Closer::Shutdown).await),
            }
        }
        if outcome.message.is_some() || !outcome.reports.is_empty() {
            self.store(&mut outcome).await;
        }
        if let Some(d) = outcome.divergence {
            self.log.push(EventKind::Divergence {
                step: d.step,
                expected: d.expected,
                got: d.got,
            });
        }
        if let Some(pace) = outcome.pace.take() {
            // Earlier replies of the batch go out at the session's pace,
            // this one at the rule's.
            if self.flush().await.is_err() {
                return Some(self.vanished(Closer::Error));
            }
            if let Some(reply) = &outcome.reply {
                self.queue(reply, outcome.rule.clone());
            }
            if self.flush_as(Some(&pace)).await.is_err() {
                return Some(self.vanished(Closer::Error));
            }
        } else {
            match (&outcome.wire, &outcome.reply) {
                (Some(wire), reply) => {
                    self.queue_wire(wire, reply.as_ref().map_or(0, |r| r.code), outcome.rule)
                }
                (None, Some(reply)) => self.queue(reply, outcome.rule),
                (None, None) => {}
            }
        }
        match outcome.next {
            Next::Command => None,
            Next::Data => {
                let plan = self.session.plan();
                let limits = plan.limits;
                self.framer.expect_data(
                    limits.message_size,
                    limits.text_line,
                    false,
                    plan.end_of_data,
                );
                None
            }
            Next::Close => {
                let _ = self.flush().await;
                Some(End::Closed(Closer::Server))
            }
            Next::Chunk { size, last } => {
                let keep = self.session.chunk_kept();
                self.framer.expect_chunk(size, last, keep, false);
                None
            }
            Next::StartTls => {
                // The 220 must be on the wire before the handshake starts.
                if self.flush().await.is_err() {
                    return Some(self.vanished(Closer::Error));
                }
                Some(End::StartTls)
            }
        }
    }

    /// Store what `outcome` accepted before its reply goes out: the 250
    /// promises the message is safe (RFC 5321 4.2.5), so a Maildir that
    /// cannot take it turns the reply into the session's 451, and the
    /// message is neither recorded nor kept. The file I/O runs on a
    /// blocking thread: other sessions go on meanwhile.
    async fn store(&mut self, outcome: &mut Outcome) {
        let accepted = outcome.message.is_some();
        let batch: Vec<_> = outcome
            .message
            .take()
            .into_iter()
            .chain(std::mem::take(&mut outcome.reports))
            .collect();
        let in_maildir = self.shared.maildir.is_some();
        let (batch, failure) = if in_maildir {
            let shared = Arc::clone(&self.shared);
            let delivered = tokio::task::spawn_blocking(move || {
                let result = shared.maildir.as_ref().map(|m| m.deliver(&batch));
                (batch, result)
            })
            .await;
            match delivered {
                Ok((batch, Some(Err(e)))) => (batch, Some(e.to_string())),
                Ok((batch, _)) => (batch, None),
                Err(e) => (Vec::new(), Some(format!("the delivery thread failed: {e}"))),
            }
        } else {
            (batch, None)
        };
        if let Some(e) = failure {
            self.log.push(EventKind::Note {
                text: format!("maildir delivery failed: {e}; answering 451, nothing kept"),
            });
            outcome.reply = Some(self.session.store_failed());
            outcome.wire = None;
            return;
        }
        for (i, message) in batch.into_iter().enumerate() {
            let event = EventKind::Message {
                queue_id: message.queue_id.clone(),
                from: message.mail_from.clone(),
                to: message
                    .recipients
                    .iter()
                    .map(|r| r.delivered_to.clone())
                    .collect(),
                size: message.data.len(),
            };
            let queue_id = message.queue_id.clone();
            match self.shared.recorder.add_message(message) {
                Ok(()) => self.log.push(event),
                // Without a Maildir the recorder is the message's only
                // store: a 250 would promise what is already lost. Its
                // reports go too, as the client will send it again.
                Err(e) if i == 0 && accepted && !in_maildir => {
                    self.log.push(EventKind::Note {
                        text: format!(
                            "message {queue_id} could not be kept in memory or a temporary file: {e}; answering 451"
                        ),
                    });
                    outcome.reply = Some(self.session.store_failed());
                    outcome.wire = None;
                    return;
                }
                Err(e) => {
                    self.log.push(event);
                    self.log.push(EventKind::Note {
                        text: format!(
                            "message {queue_id} not kept in memory or a temporary file: {e}"
                        ),
                    });
                }
            }
        }
    }
}

/// Wait for `sleep`, or forever when there is none.
async fn until(sleep: &mut Option<std::pin::Pin<Box<tokio::time::Sleep>>>) {
    match sleep {
        Some(sleep) => sleep.await,
        None => std::future::pending().await,
    }
}

/// A replayed session that ends before the captured client had done all it
/// did diverges there ([`Session::replay_unfinished`]).
pub(super) fn record_unfinished(session: &Session, log: &SessionLog) {
    if let Some(d) = session.replay_unfinished() {
        log.push(EventKind::Divergence {
            step: d.step,
            expected: d.expected,
            got: d.got,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::{Recorder, Retention};

    /// Every connection's task holds this future: with 10,000 idle
    /// connections its size is most of the server's memory (issue 8 target:
    /// < 100 MiB RSS). It was 14 KiB while the TLS path was inline.
    #[tokio::test]
    async fn a_connection_task_stays_small() {
        let scenario = crate::Scenario::bundled("postfix-default").unwrap();
        let shared = Arc::new(
            Shared::new(scenario, Recorder::new(Retention::Last(1), vec![]), None).unwrap(),
        );
        let (stream, _peer) = tokio::io::duplex(64);
        let addr: SocketAddr = "127.0.0.1:25".parse().unwrap();
        let (_tx, rx) = watch::channel(false);
        let fut = serve(stream, addr, addr, 1, shared, rx);
        let size = std::mem::size_of_val(&fut);
        eprintln!("connection future: {size} bytes");
        assert!(size <= 4096, "connection future is {size} bytes");
    }
}
