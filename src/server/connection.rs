//! One client connection: read, frame, ask the session, write, record.
//!
//! Replies to a pipelined batch are collected and written together once the
//! batch is consumed (RFC 2920), which is also what makes the server cheap
//! under load: one write per batch, not per reply.

use super::Shared;
use crate::protocol::Reply;
use crate::protocol::codec::{DataReader, DataStatus, LineEnding, LineReader, ReadLine};
use crate::session::{Next, Outcome, Session, SessionInfo};
use crate::transcript::{Closer, EventKind, Leg, SessionLog, Wire};
use bytes::{Bytes, BytesMut};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

enum Mode {
    Command,
    Data(DataReader),
}

/// Why the read loop stopped.
enum End {
    Closed(Closer),
    Aborted {
        by: Closer,
        during: &'static str,
        partial: Bytes,
        received: usize,
    },
}

struct Conn<S> {
    stream: S,
    session: Session,
    log: SessionLog,
    shared: Arc<Shared>,
    rbuf: BytesMut,
    wbuf: BytesMut,
    lines: LineReader,
    mode: Mode,
    stop: watch::Receiver<bool>,
}

/// Serve one connection to the end and record it.
pub(super) async fn serve<S>(
    stream: S,
    peer: SocketAddr,
    local: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let scenario = shared.scenario();
    let log = shared.recorder.start_session(peer, local);
    let info = SessionInfo {
        id: log.id(),
        peer,
        local,
    };
    let session = Session::new(scenario.plan_arc(), info);
    let limit = session.plan().limits.command_line;
    let mut conn = Conn {
        stream,
        session,
        log,
        shared,
        rbuf: BytesMut::with_capacity(4096),
        wbuf: BytesMut::with_capacity(1024),
        lines: LineReader::new(limit),
        mode: Mode::Command,
        stop,
    };
    let end = conn.run().await;
    let _ = conn.stream.shutdown().await;
    let Conn { log, .. } = conn;
    match end {
        End::Closed(by) => log.close(EventKind::Close { by }),
        End::Aborted {
            by,
            during,
            partial,
            received,
        } => log.close(EventKind::Abort {
            by,
            during: during.to_string(),
            partial: Wire(partial),
            received,
        }),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    async fn run(&mut self) -> End {
        let greeting = self.session.greeting();
        if let Some(end) = self.apply(greeting).await {
            return end;
        }
        loop {
            if let Some(end) = self.process_buffer().await {
                return end;
            }
            if !self.wbuf.is_empty() && self.flush().await.is_err() {
                return self.vanished(Closer::Error);
            }
            let idle = self.session.plan().limits.idle_timeout;
            self.rbuf.reserve(4096);
            let read = tokio::select! {
                r = tokio::time::timeout(idle, self.stream.read_buf(&mut self.rbuf)) => r,
                _ = self.stop.changed() => return self.say_goodbye(Closer::Shutdown).await,
            };
            match read {
                Ok(Ok(0)) => return self.vanished(Closer::Client),
                Ok(Ok(_)) => {}
                Ok(Err(_)) => return self.vanished(Closer::Error),
                Err(_) => return self.say_goodbye(Closer::Timeout).await,
            }
        }
    }

    /// Handle every complete line or message in the buffer.
    async fn process_buffer(&mut self) -> Option<End> {
        loop {
            let outcome = match &mut self.mode {
                Mode::Command => match self.lines.next_line(&mut self.rbuf) {
                    ReadLine::Incomplete => return None,
                    ReadLine::Line(line, ending) => {
                        self.log.push(EventKind::Command {
                            leg: Leg::Client,
                            line: Wire(line.clone()),
                            bare_lf: ending == LineEnding::Lf,
                        });
                        self.session.command(&line)
                    }
                    ReadLine::TooLong { len, head } => {
                        self.log.push(EventKind::Command {
                            leg: Leg::Client,
                            line: Wire(head),
                            bare_lf: false,
                        });
                        self.log.push(EventKind::Note {
                            text: format!(
                                "command line of {len} octets exceeds the limit; discarded"
                            ),
                        });
                        self.session.line_too_long()
                    }
                },
                Mode::Data(reader) => match reader.feed(&mut self.rbuf) {
                    DataStatus::Incomplete => return None,
                    DataStatus::Done => {
                        let Mode::Data(reader) = std::mem::replace(&mut self.mode, Mode::Command)
                        else {
                            return None;
                        };
                        let body = reader.finish();
                        self.log.push(EventKind::Data {
                            leg: Leg::Client,
                            size: body.size,
                            bare_lf: body.bare_lf,
                        });
                        self.session.data_done(body)
                    }
                },
            };
            if let Some(end) = self.apply(outcome).await {
                return Some(end);
            }
        }
    }

    /// Carry out an outcome: wait, queue the reply, switch mode or close.
    async fn apply(&mut self, outcome: Outcome) -> Option<End> {
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
        if let Some(message) = outcome.message {
            self.store(message);
        }
        for report in outcome.reports {
            self.store(report);
        }
        if let Some(d) = outcome.divergence {
            self.log.push(EventKind::Divergence {
                step: d.step,
                expected: d.expected,
                got: d.got,
            });
        }
        match (&outcome.wire, &outcome.reply) {
            (Some(wire), reply) => {
                self.queue_wire(wire, reply.as_ref().map_or(0, |r| r.code), outcome.rule)
            }
            (None, Some(reply)) => self.queue(reply, outcome.rule),
            (None, None) => {}
        }
        match outcome.next {
            Next::Command => None,
            Next::Data => {
                let limits = self.session.plan().limits;
                self.mode = Mode::Data(DataReader::new(limits.message_size, limits.text_line));
                None
            }
            Next::Close => {
                let _ = self.flush().await;
                Some(End::Closed(Closer::Server))
            }
        }
    }

    fn queue(&mut self, reply: &Reply, rule: Option<String>) {
        let start = self.wbuf.len();
        reply.write_to(&mut self.wbuf);
        self.log_reply(start, reply.code, rule);
    }

    /// Exact captured bytes, sent as they are.
    fn queue_wire(&mut self, wire: &[u8], code: u16, rule: Option<String>) {
        let start = self.wbuf.len();
        self.wbuf.extend_from_slice(wire);
        self.log_reply(start, code, rule);
    }

    fn log_reply(&mut self, start: usize, code: u16, rule: Option<String>) {
        let lines = String::from_utf8_lossy(&self.wbuf[start..])
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        self.log.push(EventKind::Reply {
            leg: Leg::Client,
            code,
            lines,
            rule,
            original: None,
        });
    }

    fn store(&mut self, message: crate::message::Message) {
        self.log.push(EventKind::Message {
            queue_id: message.queue_id.clone(),
            from: message.mail_from.clone(),
            to: message
                .recipients
                .iter()
                .map(|r| r.delivered_to.clone())
                .collect(),
            size: message.data.len(),
        });
        if let Some(maildir) = &self.shared.maildir
            && let Err(e) = maildir.deliver(&message)
        {
            self.log.push(EventKind::Note {
                text: format!("maildir delivery failed: {e}"),
            });
        }
        self.shared.recorder.add_message(message);
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let out = self.wbuf.split();
        self.stream.write_all(&out).await?;
        self.stream.flush().await
    }

    /// The server ends the session with a 421 (timeout or shutdown).
    async fn say_goodbye(&mut self, by: Closer) -> End {
        let reply = match by {
            Closer::Timeout => self.session.timeout_reply(),
            _ => self.session.shutdown_reply(),
        };
        self.queue(&reply, None);
        // A peer that stopped reading must not hold shutdown up.
        let _ = tokio::time::timeout(Duration::from_secs(1), self.flush()).await;
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

    /// The connection ended under us: whatever was half-received is kept.
    fn vanished(&mut self, by: Closer) -> End {
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

    fn in_progress(&self) -> Option<(&'static str, Bytes, usize)> {
        match &self.mode {
            Mode::Data(reader) => {
                let got = reader.received();
                let mut partial = got.to_vec();
                partial.extend_from_slice(&self.rbuf);
                let len = partial.len();
                Some(("data", Bytes::from(partial), len))
            }
            Mode::Command => {
                if let Some((seen, head)) = self.lines.discarded() {
                    return Some(("line", head.clone(), seen + self.rbuf.len()));
                }
                (!self.rbuf.is_empty())
                    .then(|| ("line", Bytes::copy_from_slice(&self.rbuf), self.rbuf.len()))
            }
        }
    }
}
