//! Writes to a peer that may have stopped reading: the server's replies and
//! both directions of the proxy go through [`write_all`], which fails with
//! [`ErrorKind::TimedOut`] once the peer has accepted no byte for a whole
//! timeout.
//!
//! The limit is on the *stall*, not on the whole write: a slow reader that
//! keeps reading (or a `bandwidth` fault pacing the writes) is never cut,
//! a peer that reads nothing at all is. No timer is armed while the socket
//! takes the bytes at once, which is nearly always: a timer per write was a
//! timer-wheel insert and removal for every reply (docs/PERFORMANCE.md).

use std::future::Future;
use std::io::{self, ErrorKind};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::AsyncWrite;
use tokio::time::Sleep;

/// Write all of `buf` and flush, failing with [`ErrorKind::TimedOut`] when
/// the peer takes nothing for `limit`.
pub(crate) fn write_all<'a, W: AsyncWrite + Unpin>(
    w: &'a mut W,
    buf: &'a [u8],
    limit: Duration,
) -> WriteAll<'a, W> {
    WriteAll {
        w,
        buf,
        limit,
        stalled: None,
    }
}

/// The future of [`write_all`]: a plain struct rather than an `async fn`,
/// because every connection's task holds one and its size counts
/// (`a_connection_task_stays_small`).
pub(crate) struct WriteAll<'a, W> {
    w: &'a mut W,
    buf: &'a [u8],
    limit: Duration,
    /// Boxed and made only when a write would block: the fast path stays
    /// free of timers and allocations.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<W: AsyncWrite + Unpin> Future for WriteAll<'_, W> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        loop {
            let step = if me.buf.is_empty() {
                Pin::new(&mut *me.w).poll_flush(cx).map_ok(|()| 0)
            } else {
                Pin::new(&mut *me.w).poll_write(cx, me.buf)
            };
            match step {
                Poll::Ready(Ok(0)) if me.buf.is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    me.buf = &me.buf[n..];
                    me.stalled = None;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    let limit = me.limit;
                    let timer = me
                        .stalled
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                    return match timer.as_mut().poll(cx) {
                        Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                            ErrorKind::TimedOut,
                            format!("the peer read nothing for {limit:?}"),
                        ))),
                        Poll::Pending => Poll::Pending,
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn a_reader_gets_everything() {
        let (mut a, mut b) = tokio::io::duplex(16);
        let data = vec![7u8; 1000];
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            b.read_to_end(&mut got).await.map(|_| got)
        });
        write_all(&mut a, &data, Duration::from_secs(5))
            .await
            .unwrap();
        drop(a);
        assert_eq!(reader.await.unwrap().unwrap(), data);
    }

    #[tokio::test]
    async fn a_peer_that_never_reads_times_out() {
        let (mut a, _b) = tokio::io::duplex(16);
        let start = tokio::time::Instant::now();
        let err = write_all(&mut a, &[1u8; 100], Duration::from_millis(100))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(100));
    }

    /// A reader that takes a few bytes now and then is slow, not stalled:
    /// the whole write takes far longer than the limit and still succeeds.
    // Paused time: on a loaded machine a real 60 ms sleep can last past the
    // limit, and the test measured the machine, not the rule.
    #[tokio::test(start_paused = true)]
    async fn progress_restarts_the_limit() {
        let (mut a, mut b) = tokio::io::duplex(4);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut piece = [0u8; 4];
            loop {
                tokio::time::sleep(Duration::from_millis(60)).await;
                match b.read(&mut piece).await {
                    Ok(0) | Err(_) => return got,
                    Ok(n) => got.extend_from_slice(&piece[..n]),
                }
            }
        });
        let start = tokio::time::Instant::now();
        write_all(&mut a, &[9u8; 40], Duration::from_millis(200))
            .await
            .unwrap();
        assert!(start.elapsed() > Duration::from_millis(200));
        drop(a);
        assert_eq!(reader.await.unwrap(), vec![9u8; 40]);
    }
}
