//! Postfix's error penalties (`dialect: postfix`), with its stock settings:
//! once a session has made `smtpd_soft_error_limit` (10) errors, every
//! reply waits `smtpd_error_sleep_time` (1 s) — a tarpit for scanners —
//! and at `smtpd_hard_error_limit` (20) errors the server says
//! `421 4.7.0 HOST Error: too many errors` on its own and hangs up.
//! An error is a 4xx or 5xx answer to a command line.

use super::{Next, Outcome, Session};
use crate::protocol::Reply;
use crate::scenario::model::Dialect;
use std::time::Duration;

const SOFT_LIMIT: u32 = 10;
const HARD_LIMIT: u32 = 20;
const SLEEP: Duration = Duration::from_secs(1);

impl Session {
    /// Count `outcome` (the answer to one command line) and slow it down
    /// when the session has made too many errors already.
    pub(super) fn penalise(&mut self, outcome: &mut Outcome) {
        if self.plan.dialect != Dialect::Postfix {
            return;
        }
        // Postfix sleeps before any reply, counting the errors made so far.
        if self.errors >= SOFT_LIMIT {
            outcome.delay = outcome.delay.max(SLEEP);
        }
        if outcome.reply.as_ref().is_some_and(|r| r.code >= 400) {
            self.errors += 1;
        }
    }

    /// The `421` due right after the reply that reached the hard limit,
    /// without waiting for another command (asked for after every outcome).
    pub(super) fn error_limit(&mut self) -> Option<Outcome> {
        if self.plan.dialect != Dialect::Postfix || self.errors < HARD_LIMIT || self.hung_up {
            return None;
        }
        self.hung_up = true;
        let text = format!("4.7.0 {} Error: too many errors", self.plan.hostname);
        Some(Outcome {
            delay: SLEEP,
            next: Next::Close,
            ..Outcome::reply(Reply::new(421, text))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::session;

    #[test]
    fn twenty_errors_end_the_session_with_421() {
        let mut s = session("dialect: postfix\nhostname: mx.example");
        for i in 1..=20 {
            let out = s.command(b"FOO");
            assert_eq!(out.reply.map(|r| r.code), Some(500));
            // The 11th error on waits; the errors before did not.
            assert_eq!(out.delay.as_secs(), u64::from(i > 10), "error {i}");
            if i < 20 {
                assert!(s.unsolicited().is_none(), "error {i}");
            }
        }
        let out = s.unsolicited().expect("the 421");
        let reply = out.reply.expect("a reply");
        assert_eq!(reply.code, 421);
        assert_eq!(reply.lines[0], "4.7.0 mx.example Error: too many errors");
        assert_eq!(out.next, super::Next::Close);
    }

    #[test]
    fn the_rfc_dialect_has_no_penalty() {
        let mut s = session("{}");
        for _ in 0..25 {
            assert!(s.command(b"FOO").delay.is_zero());
        }
        assert!(s.unsolicited().is_none());
    }
}
