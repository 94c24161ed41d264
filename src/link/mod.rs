//! One direction of a connection with the faults it got: toxiproxy's link
//! and its toxics (latency + jitter, bandwidth, slicer, limit_data). The
//! server's replies and both directions of the proxy are written through a
//! [`Shaper`]; every write is awaited, so a slow reader slows the writer
//! (backpressure without buffering), and a peer that reads nothing fails the
//! write after the link's timeout (`stall`).

pub(crate) mod linger;
pub(crate) mod stall;

use crate::dice::Dice;
use crate::scenario::faults::LinkShape;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// Why a send did not complete.
#[derive(Debug)]
pub(crate) enum LinkError {
    /// The peer is gone, or read nothing for the link's write timeout
    /// ([`ErrorKind::TimedOut`](std::io::ErrorKind::TimedOut)).
    Io(std::io::Error),
    /// A `close_after` fault cut the connection after this many bytes.
    Cut(u64),
}

/// One direction's bytes sent and faults, without the writer: the
/// server's stream is also what it reads from.
#[derive(Debug)]
pub(crate) struct Shaper {
    /// `None` for a plain socket: most connections, whose tasks stay small.
    faults: Option<Box<Faults>>,
    sent: u64,
    write_timeout: Duration,
}

/// The faults of one direction and what they remember between writes.
#[derive(Debug)]
struct Faults {
    shape: LinkShape,
    dice: Dice,
    /// When the bandwidth lets the next byte out.
    free_at: Option<Instant>,
}

impl Shaper {
    /// A direction shaped as `shape`; `dice` draw the jitter; a peer that
    /// reads nothing for `write_timeout` fails the write.
    pub(crate) fn new(shape: LinkShape, dice: Dice, write_timeout: Duration) -> Shaper {
        Shaper {
            faults: (!shape.is_clean()).then(|| {
                Box::new(Faults {
                    shape,
                    dice,
                    free_at: None,
                })
            }),
            sent: 0,
            write_timeout,
        }
    }

    /// How long a peer may read nothing while we write.
    pub(crate) fn write_timeout(&self) -> Duration {
        self.write_timeout
    }

    /// Write `data` to `w` with this direction's faults.
    pub(crate) async fn send<W: AsyncWrite + Unpin>(
        &mut self,
        w: &mut W,
        data: &[u8],
    ) -> Result<(), LinkError> {
        self.send_as(w, data, None).await
    }

    /// Write `data` with `rule`'s latency, bandwidth and slices (a rule's,
    /// for its reply alone) if given, else this direction's; within this
    /// direction's byte budget either way.
    pub(crate) async fn send_as<W: AsyncWrite + Unpin>(
        &mut self,
        w: &mut W,
        data: &[u8],
        rule: Option<&LinkShape>,
    ) -> Result<(), LinkError> {
        if data.is_empty() {
            return Ok(());
        }
        if self.faults.is_none() && rule.is_none_or(LinkShape::is_clean) {
            // The common case, kept small: every server connection's task
            // holds this future (`a_connection_task_stays_small`), and the
            // sleeps of the shaped path would double it.
            stall::write_all(w, data, self.write_timeout)
                .await
                .map_err(LinkError::Io)?;
            self.sent += data.len() as u64;
            return Ok(());
        }
        Box::pin(self.shaped(w, data, rule.copied())).await
    }

    async fn shaped<W: AsyncWrite + Unpin>(
        &mut self,
        w: &mut W,
        data: &[u8],
        rule: Option<LinkShape>,
    ) -> Result<(), LinkError> {
        let faults = self.faults.get_or_insert_with(|| {
            Box::new(Faults {
                shape: LinkShape::default(),
                dice: Dice::new(0),
                free_at: None,
            })
        });
        let shape = rule.unwrap_or(faults.shape);
        if let Some((delay, jitter)) = shape.latency {
            tokio::time::sleep(delay + faults.dice.up_to(jitter)).await;
        }
        let (data, cut) = match faults.shape.close_after {
            Some(limit) if self.sent + data.len() as u64 >= limit => {
                let room = limit.saturating_sub(self.sent) as usize;
                (&data[..room.min(data.len())], true)
            }
            _ => (data, false),
        };
        // At a bandwidth, about ten writes a second.
        let piece = shape
            .bandwidth
            .map_or(usize::MAX, |rate| (rate / 10).max(1) as usize)
            .min(shape.slice.unwrap_or(usize::MAX))
            .max(1);
        for part in data.chunks(piece) {
            if let Some(rate) = shape.bandwidth {
                faults.pace(part.len(), rate).await;
            }
            stall::write_all(w, part, self.write_timeout)
                .await
                .map_err(LinkError::Io)?;
            self.sent += part.len() as u64;
        }
        if cut {
            let _ = w.flush().await;
            return Err(LinkError::Cut(self.sent));
        }
        Ok(())
    }
}

impl Faults {
    /// Wait until the rate lets `len` more bytes out, and book them.
    async fn pace(&mut self, len: usize, rate: u64) {
        let now = Instant::now();
        let at = self.free_at.map_or(now, |t| t.max(now));
        tokio::time::sleep_until(at).await;
        self.free_at = Some(at + Duration::from_secs_f64(len as f64 / rate as f64));
    }
}

/// A writer and its [`Shaper`]: one direction of a relayed connection.
#[derive(Debug)]
pub(crate) struct Link<W> {
    writer: W,
    shaper: Shaper,
}

impl<W: AsyncWrite + Unpin> Link<W> {
    /// A link writing to `writer`.
    pub(crate) fn new(writer: W, shaper: Shaper) -> Link<W> {
        Link { writer, shaper }
    }

    /// The writer, for the opaque (TLS) relay.
    pub(crate) fn writer_mut(&mut self) -> &mut W {
        &mut self.writer
    }

    /// The writer back, to close the connection.
    pub(crate) fn into_writer(self) -> W {
        self.writer
    }

    /// Forward `data`, applying this direction's faults.
    pub(crate) async fn send(&mut self, data: &[u8]) -> Result<(), LinkError> {
        self.shaper.send(&mut self.writer, data).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(shape: LinkShape) -> Link<Vec<u8>> {
        Link::new(
            Vec::new(),
            Shaper::new(shape, Dice::new(1), Duration::from_secs(5)),
        )
    }

    #[tokio::test]
    async fn clean_link_writes_everything() {
        let mut l = link(LinkShape::default());
        l.send(b"hello").await.unwrap();
        assert_eq!(l.writer, b"hello");
        assert_eq!(l.shaper.sent, 5);
    }

    #[tokio::test]
    async fn close_after_writes_exactly_n_bytes_then_cuts() {
        let mut l = link(LinkShape {
            close_after: Some(7),
            ..LinkShape::default()
        });
        l.send(b"abcd").await.unwrap();
        assert!(matches!(l.send(b"efghij").await, Err(LinkError::Cut(7))));
        assert_eq!(l.writer, b"abcdefg");
    }

    /// A writer that records the size of every write it gets.
    #[derive(Default)]
    struct Writes(Vec<usize>);

    impl AsyncWrite for Writes {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            self.0.push(buf.len());
            std::task::Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn slices_are_separate_writes_and_a_rule_shape_keeps_the_budget() {
        let mut s = Shaper::new(
            LinkShape {
                slice: Some(4),
                close_after: Some(12),
                ..LinkShape::default()
            },
            Dice::new(1),
            Duration::from_secs(5),
        );
        let mut w = Writes::default();
        s.send(&mut w, b"0123456789").await.unwrap();
        assert_eq!(w.0, [4, 4, 2]);
        let rule = LinkShape {
            slice: Some(1),
            ..LinkShape::default()
        };
        assert!(matches!(
            s.send_as(&mut w, b"abc", Some(&rule)).await,
            Err(LinkError::Cut(12))
        ));
        assert_eq!(w.0, [4, 4, 2, 1, 1]);
    }

    // Real time, kept short; only lower bounds are asserted because a busy
    // machine can only make things slower.
    #[tokio::test]
    async fn bandwidth_paces_the_bytes() {
        let mut l = link(LinkShape {
            bandwidth: Some(10_000),
            ..LinkShape::default()
        });
        let start = Instant::now();
        l.send(&[b'x'; 3000]).await.unwrap();
        // 3000 bytes at 10 kB/s in 1000-byte slices: the last leaves at 0.2 s.
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(200), "{took:?}");
        assert_eq!(l.writer.len(), 3000);
    }

    #[tokio::test]
    async fn a_peer_that_never_reads_times_out() {
        let (writer, _unread) = tokio::io::duplex(16);
        let shaper = Shaper::new(
            LinkShape::default(),
            Dice::new(1),
            Duration::from_millis(100),
        );
        let mut l = Link::new(writer, shaper);
        match l.send(&[b'x'; 100]).await {
            Err(LinkError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::TimedOut),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn latency_delays_each_write() {
        let mut l = link(LinkShape {
            latency: Some((Duration::from_millis(50), Duration::ZERO)),
            ..LinkShape::default()
        });
        let start = Instant::now();
        l.send(b"a").await.unwrap();
        l.send(b"b").await.unwrap();
        assert!(start.elapsed() >= Duration::from_millis(100));
        assert_eq!(l.writer, b"ab");
    }
}
