//! How a connection's read loop ended and what was half-received then: one
//! answer for the fake server and the proxy's client leg, so "aborted during
//! what, after how many octets" means the same in both transcripts.

use super::{Closer, EventKind, Wire};
use crate::protocol::framer::{Framer, Pending};
use bytes::Bytes;

/// Why a connection's read loop stopped.
#[derive(Debug)]
pub(crate) enum End {
    /// Nothing was half-received.
    Closed(Closer),
    /// The client's STARTTLS was accepted: the server goes on over TLS, the
    /// proxy relays opaque bytes. Recorded as closed by the server if the
    /// session ends right there.
    StartTls,
    /// Cut in the middle of a line or a message.
    Aborted {
        by: Closer,
        during: &'static str,
        partial: Bytes,
        received: usize,
    },
}

impl End {
    /// Did we hang up on a client that may still be sending, so that the
    /// close should linger (`crate::link::linger`)? Not when it left first,
    /// not after its QUIT (`quit`), not at shutdown, which must not wait on
    /// peers.
    pub(crate) fn hung_up_on_client(&self, quit: bool) -> bool {
        let by = match self {
            End::Closed(by) | End::Aborted { by, .. } => *by,
            End::StartTls => Closer::Server,
        };
        !quit && matches!(by, Closer::Server | Closer::Timeout | Closer::Upstream)
    }
}

/// What was half-received when a connection ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct InProgress {
    /// `line` or `data` (DATA content or a BDAT chunk).
    pub during: &'static str,
    /// What may be kept of it.
    pub partial: Bytes,
    /// Octets of it that came off the wire.
    pub received: usize,
}

impl End {
    /// Ended by `by`, in the middle of `pending` if anything was.
    pub(crate) fn after(by: Closer, pending: Option<InProgress>) -> End {
        match pending {
            Some(InProgress {
                during,
                partial,
                received,
            }) => End::Aborted {
                by,
                during,
                partial,
                received,
            },
            None => End::Closed(by),
        }
    }

    /// The session's last event in the transcript.
    pub(crate) fn event(self) -> EventKind {
        match self {
            End::Closed(by) => EventKind::Close { by },
            End::StartTls => EventKind::Close { by: Closer::Server },
            End::Aborted {
                by,
                during,
                partial,
                received,
            } => EventKind::Abort {
                by,
                during: during.to_string(),
                partial: Wire(partial),
                received,
            },
        }
    }
}

/// What `framer` was in the middle of, given `buf`, the octets read but not
/// framed yet. Message content is kept in `partial` only when
/// `keeps_content` (the proxy relays it and keeps nothing: bounded memory).
/// A line cut short may be a credential: `shown_head` says what of it the
/// transcript may keep.
pub(crate) fn in_progress(
    framer: &Framer,
    buf: &[u8],
    keeps_content: bool,
    shown_head: impl FnOnce(&[u8]) -> Bytes,
) -> Option<InProgress> {
    let (kept, received) = match framer.pending() {
        Pending::Data { kept, consumed } => (kept, consumed + buf.len()),
        Pending::Chunk {
            kept,
            size,
            remaining,
        } => (kept, size - remaining + buf.len()),
        Pending::Lines { discarded } => {
            return match discarded {
                Some((seen, head)) => Some(InProgress {
                    during: "line",
                    partial: shown_head(head),
                    received: seen + buf.len(),
                }),
                None => (!buf.is_empty()).then(|| InProgress {
                    during: "line",
                    partial: shown_head(buf),
                    received: buf.len(),
                }),
            };
        }
    };
    let partial = match keeps_content {
        true => Bytes::from([kept, buf].concat()),
        false => Bytes::new(),
    };
    Some(InProgress {
        during: "data",
        partial,
        received,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use rstest::rstest;

    fn shown(head: &[u8]) -> Bytes {
        Bytes::copy_from_slice(head)
    }

    /// Feed `wire` to a framer set up by `setup`, leave `rest` unframed.
    fn pending(
        setup: fn(&mut Framer),
        wire: &[u8],
        rest: &[u8],
        keeps: bool,
    ) -> Option<InProgress> {
        let mut framer = Framer::new(16);
        setup(&mut framer);
        let mut buf = BytesMut::from(wire);
        while framer.next(&mut buf).is_some() {}
        buf.extend_from_slice(rest);
        in_progress(&framer, &buf, keeps, shown)
    }

    use crate::protocol::eod::EndOfData;

    fn lines(_: &mut Framer) {}
    fn data(f: &mut Framer) {
        f.expect_data(1000, 1000, false, EndOfData::STRICT);
    }
    fn relayed_data(f: &mut Framer) {
        f.expect_data(0, 1000, true, EndOfData::STRICT);
    }
    fn chunk(f: &mut Framer) {
        f.expect_chunk(10, false, 10, false);
    }
    fn relayed_chunk(f: &mut Framer) {
        f.expect_chunk(10, false, 0, true);
    }

    #[rstest]
    #[case::nothing(lines, b"", b"", true, None)]
    #[case::half_a_line(lines, b"", b"NOO", true, Some(("line", &b"NOO"[..], 3)))]
    #[case::overlong_line(lines, b"0123456789abcdefghij", b"kl", true, Some(("line", &b"0123456789abcdefghij"[..], 22)))]
    #[case::kept_data(data, b"Subject: x\r\n..dot", b"", true, Some(("data", &b"Subject: x\r\n.dot"[..], 17)))]
    #[case::relayed_data(relayed_data, b"Subject: x\r\n", b"", false, Some(("data", &b""[..], 12)))]
    #[case::kept_chunk(chunk, b"abcd", b"", true, Some(("data", &b"abcd"[..], 4)))]
    #[case::relayed_chunk(relayed_chunk, b"abcd", b"", false, Some(("data", &b""[..], 4)))]
    fn what_was_in_progress(
        #[case] setup: fn(&mut Framer),
        #[case] wire: &[u8],
        #[case] rest: &[u8],
        #[case] keeps: bool,
        #[case] want: Option<(&str, &[u8], usize)>,
    ) {
        let got = pending(setup, wire, rest, keeps);
        let got = got.as_ref().map(|p| (p.during, &p.partial[..], p.received));
        assert_eq!(got, want);
    }

    #[test]
    fn an_end_becomes_the_last_event() {
        let end = End::after(Closer::Client, None);
        assert_eq!(end.event(), EventKind::Close { by: Closer::Client });
        let pending = InProgress {
            during: "line",
            partial: Bytes::from_static(b"MA"),
            received: 2,
        };
        assert!(matches!(
            End::after(Closer::Timeout, Some(pending)).event(),
            EventKind::Abort { by: Closer::Timeout, during, received: 2, .. } if during == "line"
        ));
        assert_eq!(
            End::StartTls.event(),
            EventKind::Close { by: Closer::Server }
        );
    }
}
