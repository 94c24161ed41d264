//! The end of a connection the server (or proxy) hangs up: FIN after the
//! last reply, then what the peer still sends is read and dropped for a
//! moment. A socket closed with octets unread, or that receives some after
//! its close, answers with RST, which throws away what the kernel had not
//! sent yet of the last reply (the 421 of a timeout, say) and makes the
//! peer's next read fail instead of seeing the end.

use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How long a lingering close waits for the peer to stop sending.
const LINGER: Duration = Duration::from_secs(1);
/// How much an SMTP peer may still send before the close gives up on it.
pub(crate) const SMTP_LINGER_OCTETS: usize = 256 * 1024;

/// Shut our side, then drain the peer for at most [`LINGER`] and
/// `max_octets` (the server, the proxy and the control API's answers).
pub(crate) async fn linger<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, max_octets: usize) {
    let drain = async {
        if stream.shutdown().await.is_err() {
            return;
        }
        // On the heap: every connection's task holds this future's room.
        let mut sink = vec![0u8; 4096];
        let mut left = max_octets;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}
