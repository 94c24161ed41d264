//! The relay after a passed-through STARTTLS: the bytes are TLS, the proxy
//! cannot read them, so it copies both ways until both sides are done.
//!
//! Two copies rather than `copy_bidirectional`, because the transcript must
//! say which side ended the session: the first copy to finish is the side
//! that closed (or, when its writes stalled, a timeout). Each finished direction is half-closed
//! so TLS's close_notify exchange completes.

use crate::server::stall;
use crate::transcript::Closer;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

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
}

/// Copy both ways until both directions end (or shutdown, or the grace
/// period after the first end).
pub async fn relay<CR, CW, UR, UW>(
    client_r: &mut CR,
    client_w: &mut CW,
    upstream_r: &mut UR,
    upstream_w: &mut UW,
    stop: &mut watch::Receiver<bool>,
    write_limit: Duration,
) -> Outcome
where
    CR: AsyncRead + Unpin,
    CW: AsyncWrite + Unpin,
    UR: AsyncRead + Unpin,
    UW: AsyncWrite + Unpin,
{
    let up = async {
        let (n, stalled) = copy(client_r, upstream_w, write_limit).await;
        if !stalled {
            let _ = tokio::time::timeout(write_limit, upstream_w.shutdown()).await;
        }
        (n, stalled)
    };
    let down = async {
        let (n, stalled) = copy(upstream_r, client_w, write_limit).await;
        if !stalled {
            let _ = tokio::time::timeout(write_limit, client_w.shutdown()).await;
        }
        (n, stalled)
    };
    tokio::pin!(up, down);
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
    };
    Outcome {
        closed_by,
        to_upstream,
        to_client,
    }
}

/// `tokio::io::copy`, but a reader on the far side that takes nothing for
/// `limit` ends it (`true`): TLS records are opaque, not exempt from the
/// proxy's write timeout.
async fn copy<R, W>(r: &mut R, w: &mut W, limit: Duration) -> (u64, bool)
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
        match stall::write_all(w, &buf[..n], limit).await {
            Ok(()) => copied += n as u64,
            Err(e) => return (copied, e.kind() == std::io::ErrorKind::TimedOut),
        }
    }
}
