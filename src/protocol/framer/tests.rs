use super::*;

/// Feed `input` in pieces of `piece` octets, calling `on_frame` for each
/// frame (which may switch the framer's mode, as a session would).
fn run(
    framer: &mut Framer,
    input: &[u8],
    piece: usize,
    mut on_frame: impl FnMut(&mut Framer, &Frame),
) -> Vec<Frame> {
    let mut buf = BytesMut::new();
    let mut out = vec![];
    for part in input.chunks(piece.max(1)) {
        buf.extend_from_slice(part);
        while let Some(frame) = framer.next(&mut buf) {
            on_frame(framer, &frame);
            out.push(frame);
        }
    }
    out
}

fn line(text: &'static [u8]) -> Frame {
    Frame::Line(Bytes::from_static(text), LineEnding::Crlf)
}

#[test]
fn overlong_line_ends_at_its_own_newline_and_keeps_what_follows() {
    let mut wire = vec![b'x'; 600];
    wire.extend_from_slice(b"\r\nNOOP\r\nRSET\n");
    for piece in [1, 7, 512, 600, 601, 602, 4096] {
        let got = run(&mut Framer::new(512), &wire, piece, |_, _| {});
        assert_eq!(got.len(), 3, "piece {piece}: {got:?}");
        assert!(
            matches!(&got[0], Frame::TooLong { len: 602, head } if head.len() == 64),
            "piece {piece}: {:?}",
            got[0]
        );
        assert_eq!(got[1], line(b"NOOP"));
        assert_eq!(
            got[2],
            Frame::Line(Bytes::from_static(b"RSET"), LineEnding::Lf)
        );
    }
}

#[test]
fn a_line_of_exactly_the_limit_is_a_line() {
    let mut wire = vec![b'a'; 510];
    wire.extend_from_slice(b"\r\n");
    let got = run(&mut Framer::new(512), &wire, 4096, |_, _| {});
    assert!(matches!(&got[..], [Frame::Line(l, LineEnding::Crlf)] if l.len() == 510));
    wire.insert(0, b'a');
    let got = run(&mut Framer::new(512), &wire, 4096, |_, _| {});
    assert!(
        matches!(&got[..], [Frame::TooLong { len: 513, .. }]),
        "{got:?}"
    );
}

#[test]
fn a_megabyte_line_is_discarded_in_bounded_memory() {
    let mut framer = Framer::new(512);
    let mut buf = BytesMut::new();
    for _ in 0..16 {
        buf.extend_from_slice(&[b'z'; 64 << 10]);
        assert_eq!(framer.next(&mut buf), None);
        assert!(buf.is_empty(), "nothing of the line is held");
        assert!(matches!(
            framer.pending(),
            Pending::Lines {
                discarded: Some(..)
            }
        ));
    }
    buf.extend_from_slice(b"zz\r\nQUIT\r\n");
    assert!(matches!(
        framer.next(&mut buf),
        Some(Frame::TooLong { len, .. }) if len == (16 << 16) + 4
    ));
    assert_eq!(framer.next(&mut buf), Some(line(b"QUIT")));
}

/// What a session would do: 354 after DATA, a chunk after BDAT.
fn as_session(framer: &mut Framer, frame: &Frame) {
    if let Frame::Line(l, _) = frame {
        if &l[..] == b"DATA" {
            framer.expect_data(1 << 20, 1000, false, EndOfData::STRICT);
        } else if let Some(n) = l.strip_prefix(b"BDAT ") {
            let size = std::str::from_utf8(n).ok().and_then(|n| n.parse().ok());
            framer.expect_chunk(size.unwrap_or(0), false, 1 << 20, false);
        }
    }
}

#[test]
fn data_and_chunks_are_not_lines_whatever_the_reads() {
    let wire = b"DATA\r\nNOOP\r\n..dot\r\n.\r\nBDAT 11\r\n.\r\nNOOP\r\n\r\nBDAT 0\r\nQUIT\r\n";
    for piece in 1..=wire.len() {
        let got = run(&mut Framer::new(512), wire, piece, as_session);
        let kinds: Vec<_> = got
            .iter()
            .map(|f| match f {
                Frame::Line(l, _) => String::from_utf8_lossy(l).into_owned(),
                Frame::DataEnd { body, .. } => {
                    format!("data {:?}", String::from_utf8_lossy(&body.bytes))
                }
                Frame::ChunkEnd { data, size, .. } => {
                    format!("chunk {size} {:?}", String::from_utf8_lossy(data))
                }
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "DATA",
                "data \"NOOP\\r\\n.dot\\r\\n\"",
                "BDAT 11",
                "chunk 11 \".\\r\\nNOOP\\r\\n\\r\\n\"",
                "BDAT 0",
                "chunk 0 \"\"",
                "QUIT",
            ],
            "piece {piece}"
        );
    }
}

#[test]
fn relayed_content_is_handed_out_byte_exact() {
    let message = b"a\r\n..b\nc\r".to_vec();
    let wire = [
        b"DATA\r\n".to_vec(),
        message.clone(),
        b"\n.\r\nNOOP\r\n".to_vec(),
    ]
    .concat();
    for piece in 1..=wire.len() {
        let mut relayed = Vec::new();
        let mut ends = 0;
        let got = run(
            &mut Framer::new(512),
            &wire,
            piece,
            |f, frame| match frame {
                Frame::Line(l, _) if &l[..] == b"DATA" => f.expect_data(0, 1000, true, EndOfData::STRICT),
                Frame::Content(raw) => relayed.extend_from_slice(raw),
                Frame::DataEnd { raw, body } => {
                    relayed.extend_from_slice(raw);
                    assert!(body.bytes.is_empty(), "keep 0 keeps nothing");
                    assert!(body.bare_lf);
                    ends += 1;
                }
                _ => {}
            },
        );
        assert_eq!(ends, 1);
        assert_eq!(relayed, [message.clone(), b"\n.\r\n".to_vec()].concat());
        assert_eq!(got.last(), Some(&line(b"NOOP")), "piece {piece}");
    }
}

#[test]
fn a_chunk_keeps_at_most_what_it_is_told_and_relays_all() {
    let mut f = Framer::new(512);
    f.expect_chunk(10, true, 4, true);
    let mut buf = BytesMut::from(&b"0123456"[..]);
    assert_eq!(
        f.next(&mut buf),
        Some(Frame::Content(Bytes::from_static(b"0123456")))
    );
    assert!(matches!(
        f.pending(),
        Pending::Chunk {
            kept: b"0123",
            size: 10,
            remaining: 3
        }
    ));
    assert_eq!(f.next(&mut buf), None);
    buf.extend_from_slice(b"789NOOP\r\n");
    assert_eq!(
        f.next(&mut buf),
        Some(Frame::ChunkEnd {
            data: Bytes::from_static(b"0123"),
            size: 10,
            last: true,
            raw: Bytes::from_static(b"789"),
        })
    );
    assert!(f.reading_lines());
    assert_eq!(f.next(&mut buf), Some(line(b"NOOP")));
}

#[test]
fn pending_data_counts_what_was_consumed() {
    let mut f = Framer::new(512);
    f.expect_data(100, 1000, false, EndOfData::STRICT);
    let mut buf = BytesMut::from(&b"Subject: x\r\n\r\nhal"[..]);
    assert_eq!(f.next(&mut buf), None);
    assert!(buf.is_empty());
    match f.pending() {
        Pending::Data { kept, consumed } => {
            assert_eq!(kept, b"Subject: x\r\n\r\nhal");
            assert_eq!(consumed, 17);
        }
        other => panic!("{other:?}"),
    }
}
