//! How much the transcript recorder keeps in memory, whatever clients send
//! (plain data: `limits:` of a scenario and the command line state it).
//!
//! The live sinks (stderr view, JSON Lines file) see every event as it
//! happens; these bounds are only about what is *kept* for the test API and
//! the control API, so that a client pipelining a million commands or
//! sending large messages cannot grow the process without end.

/// Bounds on what a [`Recorder`](crate::transcript::Recorder) keeps, as a scenario's
/// `limits:` or the command line states them; `None` means "not stated"
/// (the default applies, see [`Keep::DEFAULTS`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Keep {
    /// Events kept per session: its first half and its last half; the
    /// middle is counted and shown as one "N events dropped" note.
    pub session_events: Option<usize>,
    /// Events kept across all sessions; the oldest sessions (ended ones
    /// first) are forgotten beyond it.
    pub total_events: Option<usize>,
    /// A message body larger than this many octets is kept in a file, not
    /// in memory.
    pub message_memory: Option<usize>,
    /// Octets of message bodies kept in memory in all; bodies beyond it go
    /// to files too.
    pub messages_memory: Option<usize>,
    /// Octets of message bodies kept in files in all; the oldest messages
    /// are forgotten beyond it.
    pub messages_disk: Option<u64>,
}

/// [`Keep`] with every bound resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounds {
    pub(crate) session_events: usize,
    pub(crate) total_events: usize,
    pub(crate) message_memory: usize,
    pub(crate) messages_memory: usize,
    pub(crate) messages_disk: u64,
}

impl Keep {
    /// The defaults: with them a long-running `serve` keeps well under
    /// 64 MiB of transcript and message bodies (docs/PERFORMANCE.md).
    /// An event costs about 130 octets kept (a NOOP and its reply), and at
    /// most ~650 (a 512-octet command line), so 50,000 events are 6–32 MiB.
    pub const DEFAULTS: Keep = Keep {
        session_events: Some(10_000),
        total_events: Some(50_000),
        message_memory: Some(64 * 1024),
        messages_memory: Some(8 * 1024 * 1024),
        messages_disk: Some(1024 * 1024 * 1024),
    };

    /// The smallest `session_events`: the first event (connect) and the
    /// last (close or abort) are always kept.
    pub const MIN_SESSION_EVENTS: usize = 2;

    /// Each bound stated here, else the one stated in `other`.
    pub fn or(self, other: Keep) -> Keep {
        Keep {
            session_events: self.session_events.or(other.session_events),
            total_events: self.total_events.or(other.total_events),
            message_memory: self.message_memory.or(other.message_memory),
            messages_memory: self.messages_memory.or(other.messages_memory),
            messages_disk: self.messages_disk.or(other.messages_disk),
        }
    }

    pub(crate) fn resolve(self) -> Bounds {
        let k = self.or(Keep::DEFAULTS);
        let d = |v: Option<usize>| v.unwrap_or_default();
        let total_events = d(k.total_events).max(Keep::MIN_SESSION_EVENTS);
        Bounds {
            // One session never holds more than the whole budget.
            session_events: d(k.session_events).clamp(Keep::MIN_SESSION_EVENTS, total_events),
            total_events,
            message_memory: d(k.message_memory),
            messages_memory: d(k.messages_memory),
            messages_disk: k.messages_disk.unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stated_bounds_win_over_defaults_and_the_first_over_the_second() {
        let cli = Keep {
            session_events: Some(100),
            ..Keep::default()
        };
        let scenario = Keep {
            session_events: Some(50),
            total_events: Some(1000),
            ..Keep::default()
        };
        let b = cli.or(scenario).resolve();
        assert_eq!(b.session_events, 100);
        assert_eq!(b.total_events, 1000);
        assert_eq!(b.message_memory, 64 * 1024);
    }

    #[test]
    fn a_session_never_keeps_more_than_the_total_nor_less_than_two() {
        let b = Keep {
            session_events: Some(500),
            total_events: Some(200),
            ..Keep::default()
        }
        .resolve();
        assert_eq!(b.session_events, 200);
        let b = Keep {
            session_events: Some(0),
            ..Keep::default()
        }
        .resolve();
        assert_eq!(b.session_events, 2);
    }
}
