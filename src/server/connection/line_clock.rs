//! `limits.line_deadline`, Postfix's `smtpd_per_record_deadline`: a line
//! must arrive whole within the deadline of its first octet. The idle timer
//! restarts on every read, so without this a client sending one octet every
//! few seconds would hold a session for ever.
//!
//! It looks at raw octets, not at the framing: whatever the mode, a line is
//! what ends in LF, so a command, an AUTH response and a line of message
//! text are all timed alike. BDAT chunks are binary and are not timed.

use std::time::Duration;
use tokio::time::Instant;

/// The clock of the line in progress.
#[derive(Debug, Clone, Copy)]
pub(super) struct LineClock {
    limit: Option<Duration>,
    /// When the first octet of the line still incomplete arrived.
    since: Option<Instant>,
}

impl LineClock {
    /// A clock for `limit`; `None`: lines are not timed.
    pub(super) fn new(limit: Option<Duration>) -> LineClock {
        LineClock { limit, since: None }
    }

    /// The deadline.
    pub(super) fn limit(&self) -> Option<Duration> {
        self.limit
    }

    /// When the line in progress must be complete, if one is.
    pub(super) fn due(&self) -> Option<Instant> {
        Some(self.since? + self.limit?)
    }

    /// No line is in progress (a BDAT chunk is being read).
    pub(super) fn stop(&mut self) {
        self.since = None;
    }

    /// After a read of `fresh` octets: the line in progress goes on, one
    /// begins now, or there is none (the read ended on a line's end).
    pub(super) fn read(&mut self, fresh: &[u8]) {
        if self.limit.is_none() {
            return;
        }
        self.since = match memchr::memrchr(b'\n', fresh) {
            Some(i) if i + 1 == fresh.len() => None,
            Some(_) => Some(Instant::now()),
            None => self.since.or_else(|| Some(Instant::now())),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_timed_from_its_first_octet_to_its_lf() {
        let limit = Duration::from_secs(1);
        let mut clock = LineClock::new(Some(limit));
        assert_eq!(clock.due(), None);
        clock.read(b"NO");
        let first = clock.due().unwrap();
        // More of the same line: the clock goes on.
        clock.read(b"O");
        assert_eq!(clock.due(), Some(first));
        // The line ends and nothing follows: no clock.
        clock.read(b"P\r\n");
        assert_eq!(clock.due(), None);
        // One ends and another begins in the same read: the new one's clock.
        clock.read(b"NOOP");
        let before = clock.due().unwrap();
        clock.read(b"\r\nMA");
        assert!(clock.due().unwrap() >= before);
        clock.stop();
        assert_eq!(clock.due(), None);
    }

    #[test]
    fn without_a_limit_nothing_is_timed() {
        let mut clock = LineClock::new(None);
        clock.read(b"NO");
        assert_eq!(clock.due(), None);
    }
}
