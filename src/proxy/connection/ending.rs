//! How a relayed session ends: who closed, what was in flight, the 421 on
//! shutdown, and the opaque relay after a passed-through STARTTLS.

use super::*;
use crate::transcript::in_progress;

impl Relay {
    /// How the session ends when `by` ends it now: aborted if a line or a
    /// message was half-received (relayed content is counted, not kept).
    pub(super) fn end(&self, by: Closer) -> End {
        let pending = in_progress(&self.framer, &self.crbuf, false, |head| {
            self.policy.shown_head(head)
        });
        End::after(by, pending)
    }

    /// The proxy itself ended the session (a fault).
    pub(super) fn ended_by_proxy(&self) -> End {
        self.end(Closer::Server)
    }

    pub(super) fn link_failed(&mut self, e: LinkError, leg: Leg) -> End {
        match e {
            LinkError::Cut(n) => {
                let dir = match leg {
                    Leg::Client => "upstream→client",
                    Leg::Upstream => "client→upstream",
                };
                self.note(format!("fault close_after: cut after {n} octets {dir}"));
                self.ended_by_proxy()
            }
            LinkError::Io(err) if err.kind() == std::io::ErrorKind::TimedOut => {
                let limit = self.timeouts.write;
                match leg {
                    Leg::Upstream => self.upstream_timed_out(
                        format!("read nothing for {limit:?} while the proxy wrote"),
                        "write",
                    ),
                    Leg::Client => {
                        self.note(format!(
                            "client leg: the client read nothing for {limit:?} while the proxy wrote (timeouts.write); closing both legs"
                        ));
                        self.end(Closer::Timeout)
                    }
                }
            }
            LinkError::Io(err) => {
                let by = match leg {
                    Leg::Client => Closer::Client,
                    Leg::Upstream => Closer::Upstream,
                };
                self.note(format!("write to the {leg:?} leg failed: {err}"));
                self.end(by)
            }
        }
    }

    /// The client closed. A half-sent command is relayed as it is (the
    /// upstream sees exactly what the client sent); then both legs close.
    pub(super) async fn client_closed(&mut self) -> End {
        let end = self.end(Closer::Client);
        if self.framer.reading_lines() && !self.crbuf.is_empty() {
            let rest = self.crbuf.split();
            if let Some(link) = self.to_upstream.as_mut() {
                let _ = link.send(&rest).await;
            }
        }
        end
    }

    /// The upstream closed: relay whatever it sent last, then close the client.
    pub(super) async fn upstream_closed(&mut self) -> End {
        let rest = self.replies.unfinished(&mut self.urbuf);
        if !rest.is_empty() {
            self.note(format!(
                "upstream closed mid-reply; relayed its last {} octets as is",
                rest.len()
            ));
            let _ = self.to_client.send(&rest).await;
        }
        self.end(Closer::Upstream)
    }

    pub(super) async fn shutdown(&mut self) -> End {
        self.last_reply(Reply::new(421, "4.3.2 Proxy shutting down"), "shutdown")
            .await;
        self.end(Closer::Shutdown)
    }

    /// The proxy's own last word to the client as the relay stops (a 421),
    /// recorded under `rule`. A client that stopped reading gets a second,
    /// not more: it must not hold the task.
    pub(super) async fn last_reply(&mut self, reply: Reply, rule: &str) {
        let bytes = record_own_reply(&self.log, &reply, rule.into());
        let _ = tokio::time::timeout(Duration::from_secs(1), self.to_client.send(&bytes)).await;
    }

    /// After the upstream's 220 to STARTTLS: relay opaque bytes both ways.
    pub(super) async fn opaque_relay(&mut self) -> End {
        self.note("STARTTLS accepted by the upstream: relaying opaque (TLS) bytes both ways; the profile no longer applies".into());
        let to_upstream = self.crbuf.split();
        let to_client = self.replies.unfinished(&mut self.urbuf);
        let Some(upstream_w) = self.to_upstream.as_mut() else {
            return End::Closed(Closer::Error);
        };
        if upstream_w.send(&to_upstream).await.is_err()
            || self.to_client.send(&to_client).await.is_err()
        {
            return End::Closed(Closer::Error);
        }
        let outcome = opaque::relay(
            &mut self.client_r,
            self.to_client.writer_mut(),
            &mut self.upstream_r,
            upstream_w.writer_mut(),
            &mut self.stop,
            self.timeouts.write,
            self.timeouts.idle,
        )
        .await;
        if outcome.quiet {
            self.note(format!(
                "opaque relay: no octet either way within {:?} (timeouts.idle); closing both legs",
                self.timeouts.idle
            ));
        }
        self.note(format!(
            "opaque relay ended: {} octets client→upstream, {} octets upstream→client",
            outcome.to_upstream, outcome.to_client
        ));
        End::Closed(outcome.closed_by)
    }
}
