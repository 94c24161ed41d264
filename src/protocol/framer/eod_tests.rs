//! End-of-data sequences and bare newlines, each split across reads at
//! every octet.

use super::*;
use crate::protocol::codec::Bare;
use crate::protocol::eod::{Break, EndOfData, Seq};

fn bytes(b: Break) -> &'static [u8] {
    match b {
        Break::Crlf => b"\r\n",
        Break::Lf => b"\n",
        Break::Cr => b"\r",
    }
}

const HEAD: &[u8] = b"Subject: x\r\n\r\nhello";
const SMUGGLED: &[u8] = b"MAIL FROM:<a@b>\r\n";

/// `DATA`, a message whose text is followed by `seq`, a smuggled command,
/// then a standard end and `QUIT`.
fn wire(seq: Seq) -> Vec<u8> {
    [
        b"DATA\r\n",
        HEAD,
        bytes(seq.before),
        b".",
        bytes(seq.after),
        SMUGGLED,
        b"\r\n.\r\nQUIT\r\n",
    ]
    .concat()
}

/// Frame `wire` read as `reads` (cut positions), switching to DATA after
/// the `DATA` line as a session would.
fn frames(wire: &[u8], cuts: &[usize], eod: EndOfData) -> Vec<Frame> {
    let mut framer = Framer::new(512);
    let mut buf = BytesMut::new();
    let mut out = vec![];
    let mut at = 0;
    for &cut in cuts.iter().chain([&wire.len()]) {
        buf.extend_from_slice(&wire[at..cut]);
        at = cut;
        while let Some(frame) = framer.next(&mut buf) {
            if matches!(&frame, Frame::Line(l, _) if &l[..] == b"DATA") {
                framer.expect_data(1 << 20, 1000, false, eod);
            }
            out.push(frame);
        }
    }
    out
}

/// Every way to read `wire`: in one go, byte by byte, and cut in two at
/// every octet.
fn every_split(wire: &[u8]) -> Vec<Vec<usize>> {
    let mut all = vec![vec![], (1..wire.len()).collect()];
    all.extend((1..wire.len()).map(|c| vec![c]));
    all
}

fn data_end(frames: &[Frame]) -> &DataBody {
    frames
        .iter()
        .find_map(|f| match f {
            Frame::DataEnd { body, .. } => Some(body),
            _ => None,
        })
        .expect("a data end")
}

fn lines(frames: &[Frame]) -> Vec<&[u8]> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Line(l, _) => Some(&l[..]),
            _ => None,
        })
        .collect()
}

fn configs() -> Vec<EndOfData> {
    let mut all: Vec<EndOfData> = ["strict", "postfix", "exchange", "lenient"]
        .iter()
        .map(|p| EndOfData::preset(p).expect("preset"))
        .collect();
    all.extend(Seq::all().map(|s| EndOfData::STRICT.with(s)));
    all
}

#[test]
fn every_sequence_ends_where_the_config_says_however_the_reads_split() {
    for eod in configs() {
        for seq in Seq::all() {
            let wire = wire(seq);
            let ends = eod.ends_at(seq);
            for cuts in every_split(&wire) {
                let got = frames(&wire, &cuts, eod);
                let body = data_end(&got);
                let ctx = format!("{eod:?} {} cuts {cuts:?}", seq.name());
                if ends {
                    let want = [HEAD, bytes(seq.before)].concat();
                    assert_eq!(&body.bytes[..], &want[..], "{ctx}");
                    assert_eq!(body.ended_by, seq, "{ctx}");
                    // The smuggled command is a command, then the rest.
                    assert_eq!(
                        lines(&got),
                        [&b"DATA"[..], b"MAIL FROM:<a@b>", b"", b".", b"QUIT"],
                        "{ctx}"
                    );
                } else {
                    // A dot opening a line is stuffing; after a bare CR it
                    // opens none and is text.
                    let dot: &[u8] = if seq.before == Break::Cr { b"." } else { b"" };
                    let want = [
                        HEAD,
                        bytes(seq.before),
                        dot,
                        bytes(seq.after),
                        SMUGGLED,
                        b"\r\n",
                    ]
                    .concat();
                    assert_eq!(&body.bytes[..], &want[..], "{ctx}");
                    assert_eq!(body.ended_by, Seq::STANDARD, "{ctx}");
                    assert_eq!(lines(&got), [&b"DATA"[..], b"QUIT"], "{ctx}");
                }
                let bare = [seq.before, seq.after]
                    .into_iter()
                    .filter(|b| *b != Break::Crlf)
                    .count();
                let want_bare = if ends {
                    usize::from(seq.before != Break::Crlf)
                } else {
                    bare
                };
                assert_eq!(body.bare_count, want_bare, "{ctx}");
                assert_eq!(body.bare_lf, body.bare.iter().any(|b| b.kind == Break::Lf));
            }
        }
    }
}

#[test]
fn bare_newlines_are_kept_with_their_offsets() {
    let wire = b"DATA\r\na\rb\nc\r\n..d\re\r\n.\r\n";
    for cuts in every_split(wire) {
        let got = frames(wire, &cuts, EndOfData::STRICT);
        let body = data_end(&got);
        assert_eq!(&body.bytes[..], b"a\rb\nc\r\n.d\re\r\n");
        assert_eq!(
            body.bare,
            [
                Bare {
                    at: 1,
                    kind: Break::Cr
                },
                Bare {
                    at: 3,
                    kind: Break::Lf
                },
                Bare {
                    at: 9,
                    kind: Break::Cr
                },
            ],
            "cuts {cuts:?}"
        );
        assert_eq!(body.bare_count, 3);
    }
}

#[test]
fn a_refused_bare_newline_is_flagged_and_no_end_holds_one() {
    let mut refuse_lf = EndOfData::preset("postfix").expect("preset");
    refuse_lf.refuse_bare_lf = true;
    let mut refuse_cr = EndOfData::STRICT;
    refuse_cr.refuse_bare_cr = true;
    for (wire, eod, kind, kept) in [
        (
            &b"DATA\r\nab\ncd\r\n.\r\nNOOP\r\n"[..],
            refuse_lf,
            Break::Lf,
            &b"ab\ncd\r\n"[..],
        ),
        // `<CRLF>.<LF>` and `<LF>.<CRLF>` end a Postfix message, but not
        // one that refuses bare LFs: it goes on to `<CRLF>.<CRLF>`.
        (
            b"DATA\r\nab\r\n.\nx\n.\r\ny\r\n.\r\nNOOP\r\n",
            refuse_lf,
            Break::Lf,
            b"ab\r\n\nx\n\r\ny\r\n",
        ),
        (
            b"DATA\r\nab\r\r\n.\r\nNOOP\r\n",
            refuse_cr,
            Break::Cr,
            b"ab\r\r\n",
        ),
    ] {
        for cuts in every_split(wire) {
            let got = frames(wire, &cuts, eod);
            let body = data_end(&got);
            assert_eq!(body.refused, Some(kind), "{cuts:?}");
            assert_eq!(body.ended_by, Seq::STANDARD, "{cuts:?}");
            assert_eq!(&body.bytes[..], kept, "{cuts:?}");
            assert_eq!(lines(&got), [&b"DATA"[..], b"NOOP"], "{cuts:?}");
        }
    }
}

#[test]
fn a_cr_last_in_a_read_waits_for_the_octet_after_it() {
    let mut f = Framer::new(512);
    f.expect_data(100, 1000, false, EndOfData::preset("lenient").expect("preset"));
    let mut buf = BytesMut::from(&b"a\r"[..]);
    assert_eq!(f.next(&mut buf), None);
    assert_eq!(&buf[..], b"\r", "the CR is held, not consumed");
    buf.extend_from_slice(b".\r");
    assert_eq!(f.next(&mut buf), None, "`.<CR>` may yet be `.<CRLF>`");
    buf.extend_from_slice(b"\nNOOP\r\n");
    match f.next(&mut buf) {
        Some(Frame::DataEnd { body, .. }) => {
            assert_eq!(&body.bytes[..], b"a\r");
            assert_eq!(body.ended_by.name(), "cr.crlf");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        f.next(&mut buf),
        Some(Frame::Line(Bytes::from_static(b"NOOP"), LineEnding::Crlf))
    );
}
