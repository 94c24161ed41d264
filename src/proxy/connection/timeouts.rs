//! The waits of the relay (`timeouts:` in the profile): which reply the
//! upstream owes and for how long, and how an overrun is told: a note on
//! the upstream leg, then `421 4.4.2` to the client once the relay stops.
//! When the upstream owes nothing the client owes the next command, and
//! `timeouts.idle` bounds that wait. The clock itself is `Relay::run`'s one
//! timer.

use super::*;

impl Relay {
    /// How long the upstream has for what it owes now, if it owes anything.
    pub(super) fn owed(&self) -> Option<Duration> {
        // While a BDAT chunk is still coming from the client the upstream
        // cannot answer it yet: its clock starts at the chunk's end.
        if self.framer.relaying_chunk() {
            return None;
        }
        self.policy.owed()
    }

    /// The upstream overran what [`owed`](Self::owed) gave it.
    pub(super) fn overdue(&mut self) -> End {
        let (what, key) = self.policy.overdue();
        self.upstream_timed_out(what, key)
    }

    /// The upstream overran `timeouts.<key>`: recorded now, told to the
    /// client by [`tell_timeout`](Self::tell_timeout) once the relay stops.
    pub(super) fn upstream_timed_out(&mut self, what: String, key: &str) -> End {
        self.note(format!(
            "upstream leg: {what} (timeouts.{key}); closing both legs"
        ));
        self.timed_out = Some(what);
        self.end(Closer::Timeout)
    }

    /// Answer the client `421 4.4.2` if the upstream timed out.
    pub(super) async fn tell_timeout(&mut self, upstream: &str) {
        let Some(what) = self.timed_out.take() else {
            return;
        };
        self.last_reply(timeout_reply(upstream, &what), "upstream-timeout")
            .await;
    }

    /// The client sent nothing for `timeouts.idle` while the upstream owed
    /// it nothing: `421 4.4.2` to the client, and a clean `QUIT` to an
    /// upstream that is between commands (mid-message it is only closed, so
    /// that it cannot take the QUIT for message text and deliver a half).
    pub(super) async fn client_idle(&mut self) -> End {
        let limit = self.timeouts.idle;
        self.note(format!(
            "client leg: nothing from the client within {limit:?} (timeouts.idle); closing both legs"
        ));
        let end = self.end(Closer::Timeout);
        self.last_reply(
            Reply::new(421, "4.4.2 Proxy Error: timeout exceeded"),
            "client-idle",
        )
        .await;
        if self.policy.between_commands() && self.framer.reading_lines() {
            self.quit_upstream().await;
        }
        end
    }

    /// Say `QUIT` to an idle upstream and record its answer, within a
    /// second: an upstream that takes longer is just closed.
    async fn quit_upstream(&mut self) {
        self.log.push(EventKind::Command {
            leg: Leg::Upstream,
            line: Wire(Bytes::from_static(b"QUIT")),
            bare_lf: false,
        });
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            let Some(link) = self.to_upstream.as_mut() else {
                return;
            };
            if link.send(b"QUIT\r\n").await.is_err() {
                return;
            }
            loop {
                while let Some(item) = self.replies.next(&mut self.urbuf) {
                    if let Upstream::Reply { reply, raw } = item {
                        self.log.push(EventKind::Reply {
                            leg: Leg::Upstream,
                            code: reply.code,
                            lines: wire_lines(&raw),
                            rule: None,
                            original: None,
                        });
                        return;
                    }
                }
                match self.upstream_r.read_buf(&mut self.urbuf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
    }
}

/// The client's answer when the upstream overran a timeout (RFC 3463
/// X.4.2; the words follow the proxy's `unreachable` 421).
pub(super) fn timeout_reply(addr: &str, what: &str) -> Reply {
    Reply::new(421, format!("4.4.2 upstream {addr} timed out: {what}"))
}
