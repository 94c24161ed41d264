//! How a session ends when it does not end with QUIT: refused as busy,
//! told goodbye (timeout, shutdown), or cut off, with whatever was half
//! received kept for the transcript.

use super::{Conn, End};
use crate::transcript::{Closer, EventKind, InProgress, Leg, SessionLog, in_progress};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// Over `limits.max_sessions`: say so and hang up, as a busy MTA does.
pub(super) async fn refuse_busy<S: AsyncWrite + Unpin>(
    mut stream: S,
    log: SessionLog,
    hostname: &str,
    max: usize,
) {
    let line = format!("421 4.3.2 {hostname} Too many connections, try again later");
    log.push(EventKind::Note {
        text: format!("more than {max} concurrent sessions"),
    });
    let _ = stream.write_all(format!("{line}\r\n").as_bytes()).await;
    let _ = stream.shutdown().await;
    log.push(EventKind::Reply {
        leg: Leg::Client,
        code: 421,
        lines: vec![line],
        rule: None,
        original: None,
    });
    log.close(EventKind::Close { by: Closer::Server });
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// The server ends the session with a 421 (timeout or shutdown).
    pub(super) async fn say_goodbye(&mut self, by: Closer) -> End {
        let reply = match by {
            Closer::Timeout => self.session.timeout_reply(),
            _ => self.session.shutdown_reply(),
        };
        self.queue(&reply, None);
        // A peer that stopped reading must not hold shutdown up.
        let _ = tokio::time::timeout(Duration::from_secs(1), self.flush()).await;
        End::after(by, self.in_progress())
    }

    /// The connection ended under us: whatever was half-received is kept.
    pub(super) fn vanished(&mut self, by: Closer) -> End {
        let by = self.cut.unwrap_or(by);
        End::after(by, self.in_progress())
    }

    fn in_progress(&self) -> Option<InProgress> {
        in_progress(&self.framer, &self.rbuf, true, |head| {
            self.session.shown_head(head)
        })
    }
}
