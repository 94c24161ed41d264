//! The wire parsers: command lines, reply lines, the reply assembler, the
//! command line framer and the DATA reader, on arbitrary bytes.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use smtp_harness::protocol::Command;
use smtp_harness::protocol::Reply;
use smtp_harness::protocol::codec::{DataReader, DataStatus, LineReader, ReadLine};
use smtp_harness::protocol::eod::EndOfData;
use smtp_harness::protocol::reply::ReplyAssembler;

fuzz_target!(|data: &[u8]| {
    // Byte 0 picks the limits and how the input is cut into reads.
    let Some((&knob, input)) = data.split_first() else {
        return;
    };
    let limit = 8 + (knob as usize % 64) * 16;
    let step = 1 + (knob as usize >> 4);

    let _ = Command::parse(input);
    let _ = Command::is_garbage(input);
    let _ = Reply::parse_line(input);

    // Framing: feed the input in pieces; every line goes to the parsers.
    let mut lines = LineReader::new(limit);
    let mut assembler = ReplyAssembler::default();
    let mut buf = BytesMut::new();
    let mut framed = 0usize;
    for piece in input.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            match lines.next_line(&mut buf) {
                ReadLine::Incomplete => break,
                ReadLine::Line(line, _) => {
                    assert!(line.len() < limit, "a line over the limit came through");
                    framed += line.len();
                    let _ = Command::parse(&line);
                    if let Ok(Some(reply)) = assembler.push(&line) {
                        let _ = reply.to_bytes();
                    }
                }
                ReadLine::TooLong { len, head } => {
                    assert!(len >= limit && head.len() <= len);
                    framed += len;
                }
            }
        }
    }
    assert!(framed <= input.len());

    // DATA: the same input as a message body, with a small size limit.
    // Every end-of-data preset in turn, refusing bare newlines or not.
    let presets = ["strict", "postfix", "exchange", "lenient"];
    let mut eod = EndOfData::preset(presets[step % presets.len()]).expect("preset");
    eod.refuse_bare_lf = step % 3 == 0;
    eod.refuse_bare_cr = step % 5 == 0;
    let mut reader = DataReader::with_end(limit * 4, limit, eod);
    let mut buf = BytesMut::new();
    for piece in input.chunks(step) {
        buf.extend_from_slice(piece);
        if reader.feed(&mut buf) == DataStatus::Done {
            let body = reader.finish();
            assert!(body.bytes.len() <= limit * 4);
            assert!(body.bytes.len() <= body.size);
            assert!(body.bare.len() <= body.bare_count);
            // A refused bare newline is never part of the end.
            assert!(!eod.refuses(body.ended_by.before) && !eod.refuses(body.ended_by.after));
            return;
        }
    }
});
