//! The AUTH exchange as the proxy sees it (RFC 4954): after a client `AUTH`
//! line and a `334` from the upstream, the client's next line is a SASL
//! response, not a command. It carries a credential, so it is recorded as
//! `<redacted>` on both legs, and it is relayed untouched (no verb filter,
//! rewrite or fault reads it as a command). An `AUTH` line keeps only its
//! mechanism. What is recorded is decided here, never in the framing.

use super::*;
use crate::protocol::sasl::REDACTED;

impl Relay {
    /// The client's next line is (or may be) a SASL response: see
    /// [`Exchange`](crate::protocol::sasl::Exchange). When in doubt a line is
    /// redacted: a secret must not be recorded on a guess.
    pub(super) fn sasl_due(&self) -> bool {
        self.sasl.response_due()
    }

    /// What may be recorded of the start of a client line that never ended
    /// (overlong, or cut off by the connection's end).
    pub(super) fn shown_head(&self, head: &[u8]) -> Bytes {
        crate::protocol::sasl::shown(head, true, self.sasl_due())
    }

    /// Relay a SASL response as it is, recorded redacted; its reply says
    /// whether the exchange goes on.
    pub(super) async fn sasl_response(&mut self, line: &[u8], ending: LineEnding) -> Option<End> {
        self.sasl.response();
        let bare_lf = ending == LineEnding::Lf;
        for leg in [Leg::Client, Leg::Upstream] {
            self.log.push(EventKind::Command {
                leg,
                line: Wire(Bytes::from_static(REDACTED.as_bytes())),
                bare_lf,
            });
        }
        self.relay_exchange_line(&with_ending(line, bare_lf)).await
    }

    /// A SASL response too long to relay: the exchange is cancelled with `*`
    /// in its place (RFC 4954 4), so the upstream answers (`501`) and is back
    /// in command state, and that answer is the client's reply. Relaying
    /// nothing would leave the upstream waiting for a response and take the
    /// client's next command as one.
    pub(super) async fn sasl_cancel(&mut self, len: usize) -> Option<End> {
        self.sasl.response();
        self.log.push(EventKind::Command {
            leg: Leg::Client,
            line: Wire(Bytes::from_static(REDACTED.as_bytes())),
            bare_lf: false,
        });
        self.note(format!(
            "SASL response of {len} octets exceeds the proxy's {MAX_LINE}; the exchange is cancelled with \"*\""
        ));
        self.log.push(EventKind::Command {
            leg: Leg::Upstream,
            line: Wire(Bytes::from_static(b"*")),
            bare_lf: false,
        });
        self.relay_exchange_line(b"*\r\n").await
    }

    async fn relay_exchange_line(&mut self, wire: &[u8]) -> Option<End> {
        self.queue.push_back(Slot::Upstream {
            answers: Answers::Auth,
            verb: "AUTH".into(),
            hijack: None,
        });
        if let Some(end) = self.send_upstream(wire).await {
            return Some(end);
        }
        self.drain().await
    }
}
