//! Writing to the upstream without deafness to it. A pipelining client can
//! have the proxy write many commands upstream in a row; an upstream whose
//! replies are not read stops reading (its own writes block), and a proxy
//! that only reads the upstream once its write is done would then wait
//! forever: the proxy is the upstream's client, and RFC 2920 3.1 asks a
//! client to keep reading while it writes. So while a write to the upstream
//! is pending, its replies are read and relayed to the client as usual.
//! Memory stays bounded: the upstream is read one read room at a time, and
//! only once what was read has been relayed (a client that does not read
//! its replies slows the upstream, which slows this write: backpressure).

use super::*;

impl Relay {
    /// Send `data` to the upstream, relaying its replies meanwhile; `Some`
    /// when the session ends instead.
    pub(super) async fn send_upstream(&mut self, data: &[u8]) -> Option<End> {
        // The link is lent to the write while `self` relays replies; it is
        // back in place on every way out of this function.
        let Some(mut link) = self.to_upstream.take() else {
            // Only a send nested in another could find the link lent out,
            // and relaying replies never sends upstream.
            self.note("internal: the upstream link was lent out twice".into());
            return Some(self.end(Closer::Error));
        };
        let outcome = self.send_while_reading(&mut link, data).await;
        self.to_upstream = Some(link);
        match outcome {
            Outcome::Sent => None,
            Outcome::Failed(e) => Some(self.link_failed(e, Leg::Upstream)),
            Outcome::Ended(end) => Some(end),
            Outcome::UpstreamClosed => Some(self.upstream_closed().await),
        }
    }

    async fn send_while_reading(
        &mut self,
        link: &mut Link<OwnedWriteHalf>,
        data: &[u8],
    ) -> Outcome {
        let send = link.send(data);
        tokio::pin!(send);
        loop {
            // After a passed-through STARTTLS the upstream speaks TLS: the
            // opaque relay reads it, not the reply reader.
            let listening = !self.opaque;
            let room = self.upstream_room.prepare(&mut self.urbuf);
            tokio::select! {
                biased;
                r = &mut send => return match r {
                    Ok(()) => Outcome::Sent,
                    Err(e) => Outcome::Failed(e),
                },
                r = self.upstream_r.read_buf(&mut self.urbuf), if listening => match r {
                    Ok(0) | Err(_) => return Outcome::UpstreamClosed,
                    Ok(n) => {
                        self.upstream_room.filled(n, room);
                        self.upstream_spoke = true;
                        // Boxed: this path is rare (only a write that waits
                        // while replies come), and inline it would double
                        // the size of every relayed connection's task.
                        if let Some(end) = Box::pin(self.upstream_input()).await {
                            return Outcome::Ended(end);
                        }
                    }
                },
            }
        }
    }
}

/// How a send with the upstream still heard ended.
enum Outcome {
    Sent,
    Failed(LinkError),
    Ended(End),
    UpstreamClosed,
}
