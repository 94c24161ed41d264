//! The relay after a passed-through STARTTLS: the bytes are TLS, the proxy
//! cannot read them, so it copies both ways until both sides are done.
//!
//! Two `tokio::io::copy`s rather than `copy_bidirectional`, because the
//! transcript must say which side ended the session: the first copy to
//! finish is the side that closed. Each finished direction is half-closed
//! so TLS's close_notify exchange completes.

use crate::transcript::Closer;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
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
) -> Outcome
where
    CR: AsyncRead + Unpin,
    CW: AsyncWrite + Unpin,
    UR: AsyncRead + Unpin,
    UW: AsyncWrite + Unpin,
{
    let up = async {
        let n = tokio::io::copy(client_r, upstream_w).await.unwrap_or(0);
        let _ = upstream_w.shutdown().await;
        n
    };
    let down = async {
        let n = tokio::io::copy(upstream_r, client_w).await.unwrap_or(0);
        let _ = client_w.shutdown().await;
        n
    };
    tokio::pin!(up, down);
    let (closed_by, to_upstream, to_client) = tokio::select! {
        n = &mut up => {
            let m = tokio::time::timeout(GRACE, &mut down).await.unwrap_or(0);
            (Closer::Client, n, m)
        }
        m = &mut down => {
            let n = tokio::time::timeout(GRACE, &mut up).await.unwrap_or(0);
            (Closer::Upstream, n, m)
        }
        _ = stop.changed() => (Closer::Shutdown, 0, 0),
    };
    Outcome {
        closed_by,
        to_upstream,
        to_client,
    }
}
