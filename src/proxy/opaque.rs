//! The relay after a passed-through STARTTLS: the bytes are TLS, the proxy
//! cannot read them, so it copies both ways until both sides are done.
//!
//! Two copies rather than `copy_bidirectional`, because the transcript must
//! say which side ended the session: the first copy to finish is the side
//! that closed (or, when its writes stalled, a timeout). Each finished direction is half-closed
//! so TLS's close_notify exchange completes.

use crate::link::stall;
use crate::transcript::Closer;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;

/// How long the other direction gets after the first one ends.
const GRACE: Duration = Duration::from_secs(5);

/// What the opaque relay did.
#[derive(Debug)]
pub struct Outcome {
    /// Who ended it.
    pub closed_by: Closer,
    /// Octets client → upstream.
    pub to_upstream: u64,
    /// Octets upstream → client.
    pub to_client: u64,
    /// Ended because no octet went either way for the idle limit.
    pub quiet: bool,
}

/// Copy both ways until both directions end (or shutdown, or the grace
/// period after the first end, or `idle` without an octet either way: the
/// bytes are opaque, but a session silent both ways for the proxy's idle
/// limit is as idle as one in plain text).
pub async fn relay<CR, CW, UR, UW>(
    client_r: &mut CR,
    client_w: &mut CW,
    upstream_r: &mut UR,
    upstream_w: &mut UW,
    stop: &mut watch::Receiver<bool>,
    write_limit: Duration,
    idle: Duration,
) -> Outcome
where
    CR: AsyncRead + Unpin,
    CW: AsyncWrite + Unpin,
    UR: AsyncRead + Unpin,
    UW: AsyncWrite + Unpin,
{
    // When an octet last came either way (the future must be `Send`, so an
    // atomic rather than a cell, though both copies run in this one task).
    let heard = Heard::new();
    let up = async {
        let (n, stalled) = copy(client_r, upstream_w, write_limit, &heard).await;
        if !stalled {
            let _ = tokio::time::timeout(write_limit, upstream_w.shutdown()).await;
        }
        (n, stalled)
    };
    let down = async {
        let (n, stalled) = copy(upstream_r, client_w, write_limit, &heard).await;
        if !stalled {
            let _ = tokio::time::timeout(write_limit, client_w.shutdown()).await;
        }
        (n, stalled)
    };
    let quiet = async {
        loop {
            let at = heard.last() + idle;
            if at <= Instant::now() {
                return;
            }
            tokio::time::sleep_until(at).await;
        }
    };
    tokio::pin!(up, down);
    let mut ended_quiet = false;
    // A stalled peer ends both directions at once: no grace for the other.
    let (closed_by, to_upstream, to_client) = tokio::select! {
        (n, stalled) = &mut up => match stalled {
            true => (Closer::Timeout, n, 0),
            false => {
                let m = tokio::time::timeout(GRACE, &mut down).await.map_or(0, |(m, _)| m);
                (Closer::Client, n, m)
            }
        },
        (m, stalled) = &mut down => match stalled {
            true => (Closer::Timeout, 0, m),
            false => {
                let n = tokio::time::timeout(GRACE, &mut up).await.map_or(0, |(n, _)| n);
                (Closer::Upstream, n, m)
            }
        },
        _ = stop.changed() => (Closer::Shutdown, 0, 0),
        _ = quiet => {
            ended_quiet = true;
            (Closer::Timeout, 0, 0)
        }
    };
    Outcome {
        closed_by,
        to_upstream,
        to_client,
        quiet: ended_quiet,
    }
}

/// `tokio::io::copy`, but a reader on the far side that takes nothing for
/// `limit` ends it (`true`): TLS records are opaque, not exempt from the
/// proxy's write timeout.
async fn copy<R, W>(r: &mut R, w: &mut W, limit: Duration, heard: &Heard) -> (u64, bool)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 8192];
    let mut copied = 0u64;
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => return (copied, false),
            Ok(n) => n,
        };
        heard.now();
        match stall::write_all(w, &buf[..n], limit).await {
            Ok(()) => copied += n as u64,
            Err(e) => return (copied, e.kind() == std::io::ErrorKind::TimedOut),
        }
    }
}

/// When an octet last came, in milliseconds since the relay started.
struct Heard {
    start: Instant,
    ms: AtomicU64,
}

impl Heard {
    fn new() -> Heard {
        Heard {
            start: Instant::now(),
            ms: AtomicU64::new(0),
        }
    }

    fn now(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.ms.load(Ordering::Relaxed))
    }
}
