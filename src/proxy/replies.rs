//! Reading the upstream's replies while keeping their exact bytes: the
//! proxy forwards what the upstream sent, byte for byte, unless a rule
//! changes it, so it needs both the parsed [`Reply`] and the raw lines.

use crate::protocol::codec::LineEnding;
use crate::protocol::framer::{Frame, Framer};
use crate::protocol::reply::{Reply, ReplyAssembler};
use bytes::{Bytes, BytesMut};

/// One thing the upstream said.
#[derive(Debug)]
pub enum Upstream {
    /// A complete reply.
    Reply {
        /// Parsed.
        reply: Reply,
        /// Exactly as received, every line with its ending.
        raw: Bytes,
    },
    /// A line that is not a reply line; relayed as is.
    Garbage(Bytes),
    /// A line over the limit; it was discarded but its head, which goes on
    /// as the line (the next item), so its reply still answers its command.
    TooLong {
        /// Its length.
        len: usize,
        /// Its first bytes.
        head: Bytes,
    },
}

/// Frames upstream bytes into replies.
#[derive(Debug)]
pub struct ReplyReader {
    lines: Framer,
    assembler: ReplyAssembler,
    raw: BytesMut,
    /// The head of an overlong line just reported, to be read as its line.
    cut: Option<Bytes>,
}

impl ReplyReader {
    /// Reply lines of at most `limit` octets.
    pub fn new(limit: usize) -> ReplyReader {
        ReplyReader {
            lines: Framer::new(limit),
            assembler: ReplyAssembler::default(),
            raw: BytesMut::new(),
            cut: None,
        }
    }

    /// The next complete item in `buf`, if any.
    pub fn next(&mut self, buf: &mut BytesMut) -> Option<Upstream> {
        loop {
            let (line, ending) = match self.cut.take() {
                Some(head) => (head, LineEnding::Crlf),
                None => match self.lines.next(buf)? {
                    Frame::Line(line, ending) => (line, ending),
                    Frame::TooLong { len, head } => {
                        self.cut = Some(head.clone());
                        return Some(Upstream::TooLong { len, head });
                    }
                    // Only lines are asked for.
                    _ => continue,
                },
            };
            let start = self.raw.len();
            self.raw.extend_from_slice(&line);
            self.raw.extend_from_slice(match ending {
                LineEnding::Crlf => b"\r\n",
                LineEnding::Lf => b"\n",
            });
            match self.assembler.push(&line) {
                Ok(None) => continue,
                Ok(Some(reply)) => {
                    let raw = self.raw.split().freeze();
                    return Some(Upstream::Reply { reply, raw });
                }
                Err(_) => {
                    // Only this line is garbage; lines of an unfinished
                    // reply before it stay pending.
                    let garbage = self.raw.split_off(start).freeze();
                    return Some(Upstream::Garbage(garbage));
                }
            }
        }
    }

    /// Bytes of an unfinished reply (lines already framed, then `buf`), for
    /// relaying when the upstream closes in the middle of one.
    pub fn unfinished(&mut self, buf: &mut BytesMut) -> Bytes {
        let mut out = self.raw.split();
        out.extend_from_slice(buf);
        buf.clear();
        out.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_raw_bytes_of_multiline_replies_split_anywhere() {
        let wire = b"250-mx\r\n250-SIZE 10\n250 OK\r\n220 next";
        let mut r = ReplyReader::new(512);
        let mut buf = BytesMut::new();
        let mut got = vec![];
        for &b in wire.iter() {
            buf.extend_from_slice(&[b]);
            while let Some(item) = r.next(&mut buf) {
                got.push(item);
            }
        }
        assert_eq!(got.len(), 1);
        let Upstream::Reply { reply, raw } = &got[0] else {
            panic!("{got:?}")
        };
        assert_eq!(reply.code, 250);
        assert_eq!(reply.lines, ["mx", "SIZE 10", "OK"]);
        assert_eq!(&raw[..], b"250-mx\r\n250-SIZE 10\n250 OK\r\n");
        assert_eq!(&r.unfinished(&mut buf)[..], b"220 next");
    }

    #[test]
    fn an_overlong_reply_line_still_ends_its_reply_cut_to_its_head() {
        let mut wire = b"250 ".to_vec();
        wire.resize(1000, b'x');
        wire.extend_from_slice(b"\r\n251 next\r\n");
        let mut r = ReplyReader::new(512);
        let mut buf = BytesMut::from(&wire[..]);
        assert!(matches!(
            r.next(&mut buf),
            Some(Upstream::TooLong { len: 1002, .. })
        ));
        let Some(Upstream::Reply { reply, raw }) = r.next(&mut buf) else {
            panic!("the cut line is a reply")
        };
        assert_eq!(reply.code, 250);
        assert_eq!(raw.len(), 64 + 2, "its head and CRLF");
        assert!(
            matches!(r.next(&mut buf), Some(Upstream::Reply { reply, .. }) if reply.code == 251)
        );
        assert!(r.next(&mut buf).is_none());
    }

    #[test]
    fn garbage_line_is_its_own_item() {
        let mut r = ReplyReader::new(512);
        let mut buf = BytesMut::from(&b"hello there\r\n250 ok\r\n"[..]);
        assert!(
            matches!(r.next(&mut buf), Some(Upstream::Garbage(g)) if &g[..] == b"hello there\r\n")
        );
        assert!(matches!(r.next(&mut buf), Some(Upstream::Reply { .. })));
    }
}
