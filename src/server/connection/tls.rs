//! The TLS part of a connection: the handshake after `220` to STARTTLS
//! (or at once for implicit TLS), and the rest of the session over it.

use super::{Conn, End};
use crate::scenario::model::TlsFailure;
use crate::server::tls::{ServerTls, TlsMaterial};
use crate::transcript::{Closer, EventKind};
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// A TLS alert (handshake_failure) sent instead of a ServerHello, for
/// scenarios that script a broken STARTTLS.
const HANDSHAKE_FAILURE_ALERT: &[u8] = &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28];

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// Hand the stream to the TLS engine and serve the rest of the session over it.
    pub(super) async fn secure(self, tls: Option<TlsMaterial>) {
        if let Ok(secure) = self.handshake(tls.as_ref()).await {
            secure.run_to_end().await;
        }
    }

    /// Serve until the end; a second STARTTLS cannot happen (the session
    /// refuses it once TLS is active), so it just ends the session.
    pub(super) async fn run_to_end(mut self) {
        let end = self.run().await;
        self.close(end).await;
    }

    /// Turn this connection into a TLS one (after `220` to STARTTLS, or at
    /// once for implicit TLS).
    pub(super) async fn handshake(
        mut self,
        tls: Option<&TlsMaterial>,
    ) -> Result<Conn<ServerTls<S>>, ()> {
        if !self.rbuf.is_empty() {
            // RFC 3207 5: anything pipelined after STARTTLS is plaintext an
            // attacker could have injected; it must not reach the TLS session.
            let n = self.rbuf.len();
            self.rbuf.clear();
            self.log.push(EventKind::Note {
                text: format!("discarded {n} octets sent after STARTTLS before the handshake"),
            });
        }
        let Some(tls) = tls else {
            self.log.push(EventKind::Note {
                text: "STARTTLS answered 220 but the scenario has no `tls:` section".into(),
            });
            self.close(End::Closed(Closer::Server)).await;
            return Err(());
        };
        let plan_tls = self.session.plan().tls.clone();
        if plan_tls.as_ref().and_then(|t| t.fail) == Some(TlsFailure::Break) {
            let _ = self.stream.write_all(HANDSHAKE_FAILURE_ALERT).await;
            self.log.push(EventKind::Note {
                text: "handshake broken on purpose (tls.fail: break)".into(),
            });
            self.close(End::Closed(Closer::Server)).await;
            return Err(());
        }
        let timeout = self.session.plan().limits.idle_timeout;
        let Conn {
            stream,
            mut session,
            log,
            shared,
            rbuf,
            read_room,
            wbuf,
            framer,
            stop,
            greeted,
            out,
            cut,
        } = self;
        match tokio::time::timeout(timeout, tls.acceptor.accept(stream)).await {
            Ok(Ok((stream, negotiated))) => {
                log.push(negotiated);
                if let Some(text) = session.tls_started() {
                    log.push(EventKind::Note { text });
                }
                Ok(Conn {
                    stream,
                    session,
                    log,
                    shared,
                    rbuf,
                    read_room,
                    wbuf,
                    framer,
                    stop,
                    greeted,
                    out,
                    cut,
                })
            }
            failed => {
                // The capture's TLS handshake (and all after it) never happened.
                super::record_unfinished(&session, &log);
                let (by, partial) = match failed {
                    Ok(Err(e)) => (Closer::Error, Bytes::from(e.to_string())),
                    _ => (Closer::Timeout, Bytes::new()),
                };
                let end = End::Aborted {
                    by,
                    during: "tls",
                    partial,
                    received: 0,
                };
                log.close(end.event());
                Err(())
            }
        }
    }
}
