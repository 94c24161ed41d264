//! A whole server session, sans I/O: random client bytes framed the way the
//! server's connection driver frames them (command lines, DATA, BDAT chunks)
//! and fed to `Session`, for every bundled scenario plus TLS and AUTH ones.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use smtp_harness::Scenario;
use smtp_harness::protocol::codec::{DataReader, DataStatus, LineReader, ReadLine};
use smtp_harness::session::{Next, Session, SessionInfo};
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
        ] {
            all.push(Scenario::from_yaml(yaml).expect("fuzz scenarios load"));
        }
        all
    })
}

enum Mode {
    Command,
    Data(DataReader),
    Chunk {
        remaining: usize,
        size: usize,
        last: bool,
        got: BytesMut,
    },
}

fuzz_target!(|data: &[u8]| {
    let Some((&knob, input)) = data.split_first() else {
        return;
    };
    let all = scenarios();
    let scenario = &all[knob as usize % all.len()];
    let plan = Arc::new(scenario.plan().clone());
    let info = SessionInfo {
        id: 1,
        peer: "127.0.0.1:40000".parse().unwrap(),
        local: "127.0.0.1:25".parse().unwrap(),
    };
    let mut session = Session::new(plan, info);
    let limits = session.plan().limits;
    let mut lines = LineReader::new(limits.command_line);
    let mut mode = Mode::Command;
    let mut buf = BytesMut::from(input);
    let mut outcome = session.greeting();
    // Each round handles one outcome; bounded by the input (every round but
    // the first consumes at least one byte or ends).
    for _ in 0..=input.len() + 1 {
        match outcome.next {
            Next::Close => return,
            Next::Command => {}
            Next::Data => mode = Mode::Data(DataReader::new(limits.message_size, limits.text_line)),
            Next::Chunk { size, last } => {
                mode = Mode::Chunk {
                    remaining: size,
                    size,
                    last,
                    got: BytesMut::new(),
                }
            }
            // No handshake here: go on as if it had succeeded.
            Next::StartTls => session.tls_started(),
        }
        while let Some(extra) = session.unsolicited() {
            if extra.next == Next::Close {
                return;
            }
        }
        outcome = match &mut mode {
            Mode::Command => match lines.next_line(&mut buf) {
                ReadLine::Incomplete => return,
                ReadLine::Line(line, _) => {
                    let _ = session.shown_line(&line);
                    session.command(&line)
                }
                ReadLine::TooLong { head, .. } => session.line_too_long(&head).1,
            },
            Mode::Data(reader) => match reader.feed(&mut buf) {
                DataStatus::Incomplete => return,
                DataStatus::Done => {
                    let Mode::Data(reader) = std::mem::replace(&mut mode, Mode::Command) else {
                        return;
                    };
                    session.data_done(reader.finish())
                }
            },
            Mode::Chunk { remaining, got, .. } => {
                let take = (*remaining).min(buf.len());
                let part = buf.split_to(take);
                let room = limits.message_size.saturating_sub(got.len());
                got.extend_from_slice(&part[..take.min(room)]);
                *remaining -= take;
                if *remaining > 0 {
                    return;
                }
                let Mode::Chunk {
                    size, last, got, ..
                } = std::mem::replace(&mut mode, Mode::Command)
                else {
                    return;
                };
                let data: Bytes = got.freeze();
                session.chunk_done(data, size, last)
            }
        };
        if let Some(reply) = &outcome.reply {
            assert!(
                (200..600).contains(&reply.code),
                "reply code {}",
                reply.code
            );
        }
    }
});
