//! A whole server session, sans I/O: random client bytes, cut into reads
//! of a random size, framed by the server's own framer
//! (`protocol::framer`) and fed to `Session`, for every bundled scenario
//! plus TLS and AUTH ones.
//!
//! Oracles, besides "no panic":
//! - framing: the octets each frame consumed (tracked here from the input,
//!   not asked of the framer) hold exactly one newline, at their end, for
//!   a line, and none when no frame came out; a line is those octets
//!   without its ending; a discarded line is as long as the octets it took;
//! - one reply per command line: every line (a discarded one too, an AUTH
//!   continuation too) and every end of DATA gets exactly one reply, at
//!   once, or for a BDAT line once its chunk has been read;
//! - a well-formed BDAT (CHUNKING offered in a reply to EHLO, not a SASL
//!   response) is followed by its chunk whatever answers it, so the chunk
//!   is never read as command lines.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use smtp_harness::Scenario;
use smtp_harness::protocol::codec::LineEnding;
use smtp_harness::protocol::framer::{Frame, Framer};
use smtp_harness::session::{Next, Outcome, Session, SessionInfo};
use std::sync::{Arc, OnceLock};

fn scenarios() -> &'static Vec<Scenario> {
    static ALL: OnceLock<Vec<Scenario>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut all: Vec<Scenario> = smtp_harness::scenario::bundled::names()
            .into_iter()
            .map(|n| Scenario::bundled(n).expect("bundled scenarios load"))
            .collect();
        for yaml in [
            "tls: {}",
            "tls: {require: true}",
            "ehlo: {keywords: [PIPELINING, CHUNKING, BINARYMIME, SIZE 1000]}",
            "limits: {recipients: 2, message_size: 100, command_line: 64}",
            "auth: {users: {alice: wonderland}}\nlimits: {command_line: 64}",
            // A rule answering BDAT: its chunk must still be read.
            "ehlo: {keywords: [CHUNKING]}\nrules: [{verb: BDAT, args: LAST, reply: \"554 5.7.1 no\"}]",
        ] {
            all.push(Scenario::from_yaml(yaml).expect("fuzz scenarios load"));
        }
        all
    })
}

/// Set the framer up for what the session reads next; false when the
/// session is over.
fn follow(outcome: &Outcome, session: &mut Session, framer: &mut Framer) -> bool {
    let limits = session.plan().limits;
    match outcome.next {
        Next::Close => return false,
        Next::Command => {}
        Next::Data => framer.expect_data(
                    limits.message_size,
                    limits.text_line,
                    false,
                    session.plan().end_of_data,
                ),
        Next::Chunk { size, last } => framer.expect_chunk(size, last, session.chunk_kept(), false),
        // No handshake here: go on as if it had succeeded.
        Next::StartTls => {
            let _ = session.tls_started();
        }
    }
    if let Some(reply) = &outcome.reply {
        assert!(
            (200..600).contains(&reply.code),
            "reply code {}",
            reply.code
        );
    }
    true
}

fuzz_target!(|data: &[u8]| {
    // Byte 0 picks the scenario, byte 1 the size of each read (1 to 64 KiB).
    let [knob, split, input @ ..] = data else {
        return;
    };
    let all = scenarios();
    let scenario = &all[*knob as usize % all.len()];
    let read = 1usize << (split % 17);
    let info = SessionInfo {
        id: 1,
        peer: "127.0.0.1:40000".parse().unwrap(),
        local: "127.0.0.1:25".parse().unwrap(),
    };
    let mut session = Session::new(Arc::new(scenario.plan().clone()), info);
    let limit = session.plan().limits.command_line;
    let mut framer = Framer::new(limit);
    if !follow(&session.greeting(), &mut session, &mut framer) {
        return;
    }
    let mut buf = BytesMut::new();
    // Octets of the input fed so far, and where the line being read began.
    let mut fed = 0usize;
    let mut line_start = 0usize;
    // Replies owed to command lines and ends of DATA.
    let mut owed = 0usize;
    // The last reply was 334: the next line is a SASL response.
    let mut sasl = false;
    for piece in input.chunks(read) {
        buf.extend_from_slice(piece);
        fed += piece.len();
        loop {
            let lines = framer.reading_lines();
            let from = fed - buf.len();
            let frame = framer.next(&mut buf);
            let to = fed - buf.len();
            let consumed = &input[from..to];
            if lines {
                let newlines = consumed.iter().filter(|&&b| b == b'\n').count();
                let is_line = matches!(frame, Some(Frame::Line(..) | Frame::TooLong { .. }));
                assert_eq!(
                    newlines,
                    usize::from(is_line),
                    "{frame:?} took {} octets",
                    consumed.len()
                );
                assert!(!is_line || consumed.last() == Some(&b'\n'));
                match &frame {
                    Some(Frame::Line(line, ending)) => {
                        let end: &[u8] = match ending {
                            LineEnding::Crlf => b"\r\n",
                            LineEnding::Lf => b"\n",
                        };
                        assert_eq!([&line[..], end].concat(), consumed, "a line is its octets");
                        assert!(consumed.len() <= limit);
                    }
                    Some(Frame::TooLong { len, .. }) => {
                        assert_eq!(*len, to - line_start, "a discarded line's length");
                        assert!(*len > limit);
                    }
                    _ => {}
                }
            }
            if matches!(frame, Some(Frame::Line(..) | Frame::TooLong { .. })) || !lines {
                line_start = to;
            }
            let Some(frame) = frame else {
                break;
            };
            let outcome = match frame {
                Frame::Line(line, _) => {
                    owed += 1;
                    let _ = session.shown_line(&line);
                    // Outside a SASL exchange (after a 334), a well-formed
                    // BDAT is followed by its chunk whatever answers it.
                    let chunk = (!sasl).then(|| session.announced_chunk(&line)).flatten();
                    let outcome = session.command(&line);
                    if let Some((size, last)) = chunk
                        && outcome.next != Next::Close
                    {
                        assert_eq!(
                            outcome.next,
                            Next::Chunk { size, last },
                            "BDAT's chunk unread"
                        );
                    }
                    outcome
                }
                Frame::TooLong { head, .. } => {
                    owed += 1;
                    session.line_too_long(&head).1
                }
                Frame::DataEnd { body, .. } => {
                    owed += 1;
                    session.data_done(body)
                }
                Frame::ChunkEnd {
                    data, size, last, ..
                } => session.chunk_done(data, size, last),
                Frame::Content(_) => panic!("content is only handed out when relayed"),
            };
            if let Some(reply) = &outcome.reply {
                assert!(owed > 0, "a reply no line asked for");
                owed -= 1;
                sasl = reply.code == 334;
            }
            // A BDAT line is answered once its chunk is read; a silent
            // hang-up answers nothing and ends the session.
            match outcome.next {
                Next::Chunk { .. } if outcome.reply.is_none() => {
                    assert_eq!(owed, 1, "BDAT waits for its chunk")
                }
                Next::Close if outcome.reply.is_none() => return,
                _ => assert_eq!(owed, 0, "a line left unanswered: {outcome:?}"),
            }
            if !follow(&outcome, &mut session, &mut framer) {
                return;
            }
            while let Some(extra) = session.unsolicited() {
                if extra.next == Next::Close {
                    return;
                }
            }
        }
    }
});
