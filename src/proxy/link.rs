//! One direction of a relayed connection: the writer plus the faults that
//! direction got (toxiproxy's link). Every byte the proxy forwards goes
//! through [`Link::send`], which awaits the write, so a slow reader slows the
//! proxy's reading of the other side: backpressure without buffering.

use super::compile::Timeouts;
use super::fault::{Dice, LinkFaults};
use crate::server::stall;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// Why a send did not complete.
#[derive(Debug)]
pub enum LinkError {
    /// The peer is gone, or read nothing for the link's write timeout
    /// ([`ErrorKind::TimedOut`](std::io::ErrorKind::TimedOut)).
    Io(std::io::Error),
    /// A `close_after` fault cut the connection after this many bytes.
    Cut(u64),
}

/// A writer with faults.
#[derive(Debug)]
pub struct Link<W> {
    writer: W,
    faults: LinkFaults,
    dice: Dice,
    sent: u64,
    /// When the bandwidth limit lets the next byte out.
    free_at: Option<Instant>,
    /// How long the peer may read nothing while we write.
    write_timeout: Duration,
}

impl<W: AsyncWrite + Unpin> Link<W> {
    /// A link writing to `writer`; `seed` drives the jitter.
    pub fn new(writer: W, faults: LinkFaults, seed: u64) -> Link<W> {
        Link {
            writer,
            faults,
            dice: Dice::new(seed),
            sent: 0,
            free_at: None,
            write_timeout: Timeouts::default().write,
        }
    }

    /// Give up on a peer that reads nothing for `limit` (default: the
    /// profile default, [`Timeouts::write`]).
    pub fn write_timeout(mut self, limit: Duration) -> Link<W> {
        self.write_timeout = limit;
        self
    }

    /// Bytes sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// The writer, for the opaque (TLS) relay and for shutdown.
    pub fn writer_mut(&mut self) -> &mut W {
        &mut self.writer
    }

    /// The writer back, to close the connection.
    pub fn into_writer(self) -> W {
        self.writer
    }

    /// Forward `data`, applying this direction's faults.
    pub async fn send(&mut self, data: &[u8]) -> Result<(), LinkError> {
        if data.is_empty() {
            return Ok(());
        }
        if let Some((delay, jitter)) = self.faults.latency {
            tokio::time::sleep(delay + self.dice.up_to(jitter)).await;
        }
        let (data, cut) = match self.faults.close_after {
            Some(limit) if self.sent + data.len() as u64 >= limit => {
                let room = limit.saturating_sub(self.sent) as usize;
                (&data[..room.min(data.len())], true)
            }
            _ => (data, false),
        };
        match self.faults.bandwidth {
            Some(rate) => self.paced(data, rate).await?,
            None => stall::write_all(&mut self.writer, data, self.write_timeout)
                .await
                .map_err(LinkError::Io)?,
        }
        self.sent += data.len() as u64;
        if cut {
            let _ = self.writer.flush().await;
            return Err(LinkError::Cut(self.sent));
        }
        Ok(())
    }

    /// Write in slices of a tenth of a second's worth, each no earlier than
    /// the rate allows.
    async fn paced(&mut self, data: &[u8], rate: u64) -> Result<(), LinkError> {
        let slice = (rate / 10).max(1) as usize;
        for part in data.chunks(slice) {
            let now = Instant::now();
            let at = self.free_at.map_or(now, |t| t.max(now));
            tokio::time::sleep_until(at).await;
            stall::write_all(&mut self.writer, part, self.write_timeout)
                .await
                .map_err(LinkError::Io)?;
            self.free_at = Some(at + Duration::from_secs_f64(part.len() as f64 / rate as f64));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(faults: LinkFaults) -> Link<Vec<u8>> {
        Link::new(Vec::new(), faults, 1)
    }

    #[tokio::test]
    async fn clean_link_writes_everything() {
        let mut l = link(LinkFaults::default());
        l.send(b"hello").await.unwrap();
        assert_eq!(l.writer, b"hello");
        assert_eq!(l.sent(), 5);
    }

    #[tokio::test]
    async fn close_after_writes_exactly_n_bytes_then_cuts() {
        let mut l = link(LinkFaults {
            close_after: Some(7),
            ..LinkFaults::default()
        });
        l.send(b"abcd").await.unwrap();
        assert!(matches!(l.send(b"efghij").await, Err(LinkError::Cut(7))));
        assert_eq!(l.writer, b"abcdefg");
    }

    // Real time, kept short; only lower bounds are asserted because a busy
    // machine can only make things slower.
    #[tokio::test]
    async fn bandwidth_paces_the_bytes() {
        let mut l = link(LinkFaults {
            bandwidth: Some(10_000),
            ..LinkFaults::default()
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
        let mut l =
            Link::new(writer, LinkFaults::default(), 1).write_timeout(Duration::from_millis(100));
        match l.send(&[b'x'; 100]).await {
            Err(LinkError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::TimedOut),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn latency_delays_each_chunk() {
        let mut l = link(LinkFaults {
            latency: Some((Duration::from_millis(50), Duration::ZERO)),
            ..LinkFaults::default()
        });
        let start = Instant::now();
        l.send(b"a").await.unwrap();
        l.send(b"b").await.unwrap();
        assert!(start.elapsed() >= Duration::from_millis(100));
        assert_eq!(l.writer, b"ab");
    }
}
