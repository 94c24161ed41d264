//! Framing: splitting the byte stream into command lines and message data,
//! with every read bounded.
//!
//! Both readers work on a caller-owned [`BytesMut`] and never hold more than
//! their limit: an overlong command line is discarded as it arrives (only its
//! head is kept for the transcript), and message data over the size limit is
//! counted but not stored. `Incomplete` is kept apart from real outcomes so
//! the I/O layer knows to read more. The server, the proxy and the session
//! fuzz target use them through [`super::framer::Framer`] (the protocol
//! fuzz target drives them directly).

use super::eod::{Break, EndOfData, Seq};
use bytes::{Buf, Bytes, BytesMut};

/// How a line was terminated. Bare LF is accepted (as Postfix does for
/// commands) but recorded, because detectors and gateways care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnding {
    /// `\r\n`, as RFC 5321 requires.
    Crlf,
    /// A bare `\n`.
    Lf,
}

/// What [`LineReader::next_line`] found in the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadLine {
    /// A complete line, without its ending.
    Line(Bytes, LineEnding),
    /// A line longer than the limit ended; it was discarded.
    TooLong {
        /// Its total length including the line ending.
        len: usize,
        /// The first bytes of it, for the transcript.
        head: Bytes,
    },
    /// No complete line yet: read more.
    Incomplete,
}

/// How many bytes of a discarded line the transcript keeps.
const HEAD_KEPT: usize = 64;

/// Splits command lines out of a buffer, bounded by `limit` octets
/// (including the line ending).
#[derive(Debug)]
pub struct LineReader {
    limit: usize,
    discarding: Option<(usize, Bytes)>,
}

impl LineReader {
    /// A reader for lines of at most `limit` octets including CRLF.
    pub fn new(limit: usize) -> LineReader {
        LineReader {
            limit: limit.max(3),
            discarding: None,
        }
    }

    /// Read the next lines with another limit (a SASL response may be
    /// longer than a command).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.max(3);
    }

    /// True while the reader is throwing away the rest of an overlong line.
    #[cfg(any(test, feature = "internals"))]
    pub fn is_discarding(&self) -> bool {
        self.discarding.is_some()
    }

    /// Bytes of the unfinished overlong line seen so far (for the transcript
    /// of a connection that ends mid-line).
    pub fn discarded(&self) -> Option<(usize, &Bytes)> {
        self.discarding.as_ref().map(|(n, head)| (*n, head))
    }

    /// Take the next line out of `buf`.
    pub fn next_line(&mut self, buf: &mut BytesMut) -> ReadLine {
        if let Some((seen, head)) = self.discarding.as_mut() {
            return match memchr::memchr(b'\n', buf) {
                Some(pos) => {
                    let len = *seen + pos + 1;
                    let head = std::mem::take(head);
                    buf.advance(pos + 1);
                    self.discarding = None;
                    ReadLine::TooLong { len, head }
                }
                None => {
                    *seen += buf.len();
                    buf.clear();
                    ReadLine::Incomplete
                }
            };
        }
        // The whole buffer is searched, not just the first `limit` octets:
        // an overlong line ends at its own newline wherever that lies, and
        // whatever follows it (pipelined commands) is the next line's.
        match memchr::memchr(b'\n', buf) {
            Some(pos) if pos < self.limit => {
                let mut line = buf.split_to(pos + 1).freeze();
                line.truncate(pos);
                let ending = if line.last() == Some(&b'\r') {
                    line.truncate(pos - 1);
                    LineEnding::Crlf
                } else {
                    LineEnding::Lf
                };
                ReadLine::Line(line, ending)
            }
            Some(pos) => {
                let end = pos - usize::from(pos > 0 && buf[pos - 1] == b'\r');
                let head = Bytes::copy_from_slice(&buf[..HEAD_KEPT.min(end)]);
                buf.advance(pos + 1);
                ReadLine::TooLong { len: pos + 1, head }
            }
            // No newline in the buffer, so nothing after the line is in it
            // yet: all of it can go, which keeps the discard bounded.
            None if buf.len() >= self.limit => {
                let head = Bytes::copy_from_slice(&buf[..HEAD_KEPT.min(buf.len())]);
                self.discarding = Some((buf.len(), head));
                buf.clear();
                ReadLine::Incomplete
            }
            None => ReadLine::Incomplete,
        }
    }
}

/// Progress of a [`DataReader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataStatus {
    /// The end-of-data line has not arrived yet.
    Incomplete,
    /// An end-of-data sequence arrived; call [`DataReader::finish`].
    Done,
}

/// How many bare newlines a message keeps the place of.
pub const BARE_KEPT: usize = 100;

/// A bare CR or LF in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bare {
    /// Its offset in the (unstuffed) message.
    pub at: usize,
    /// [`Break::Lf`] or [`Break::Cr`].
    pub kind: Break,
}

/// The message a [`DataReader`] collected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataBody {
    /// The unstuffed message, or its first `max_size` bytes if it was too big.
    pub bytes: Bytes,
    /// The unstuffed size of the whole message, stored or not.
    pub size: usize,
    /// The message was larger than the limit and was not stored whole.
    pub too_big: bool,
    /// Some text line was longer than the text-line limit.
    pub line_too_long: bool,
    /// Some line ended in a bare LF.
    pub bare_lf: bool,
    /// The sequence that ended it ([`Seq::STANDARD`] unless the reader
    /// was told to take others).
    pub ended_by: Seq,
    /// The first [`BARE_KEPT`] bare CRs and LFs, in order.
    pub bare: Vec<Bare>,
    /// How many bare CRs and LFs it held in all.
    pub bare_count: usize,
    /// The first refused bare newline it held: the session refuses the
    /// message.
    pub refused: Option<Break>,
}

impl DataBody {
    /// A message of `bytes`, ended by `<CRLF>.<CRLF>`, with no flags.
    pub fn plain(bytes: Bytes) -> DataBody {
        DataBody {
            size: bytes.len(),
            bytes,
            too_big: false,
            line_too_long: false,
            bare_lf: false,
            ended_by: Seq::STANDARD,
            bare: Vec::new(),
            bare_count: 0,
            refused: None,
        }
    }
}

/// How much room the next socket read gets. It starts small, because an
/// idle connection holds its buffer while it waits (10,000 idle connections
/// must fit in 100 MiB, docs/PERFORMANCE.md), and doubles up to a maximum
/// while reads fill it (DATA), which also bounds what one read can bring in.
#[derive(Debug, Clone, Copy)]
pub struct ReadRoom {
    next: usize,
    max: usize,
}

impl ReadRoom {
    /// `first` octets for the first read, growing to 64 KiB.
    pub const fn new(first: usize) -> ReadRoom {
        ReadRoom {
            next: first,
            max: 64 << 10,
        }
    }

    /// Make room in `buf` for the next read; returns how much there is.
    pub fn prepare(&self, buf: &mut BytesMut) -> usize {
        buf.reserve(self.next);
        buf.capacity() - buf.len()
    }

    /// A read of `n` octets into `room` octets of space completed.
    pub fn filled(&mut self, n: usize, room: usize) {
        if n >= room {
            self.next = (self.next * 2).min(self.max);
        }
    }
}

impl Default for ReadRoom {
    /// 1 KiB first: a command line or a small pipelined batch.
    fn default() -> ReadRoom {
        ReadRoom::new(1024)
    }
}

/// Reads DATA content up to an end-of-data sequence (`<CRLF>.<CRLF>`, and
/// whichever others its [`EndOfData`] takes), undoing dot-stuffing (RFC 5321
/// 4.5.2) and enforcing the size and text-line limits.
///
/// Text lines end at LF (CRLF or bare); a dot opening one is stuffing unless
/// it is an end. A bare CR ends no line, but may come before or after the
/// dot of a non-standard end (`<CR>.<CR>`). A CR is consumed only once the
/// octet after it is known, so a CRLF split between reads is still one.
#[derive(Debug)]
pub struct DataReader {
    body: BytesMut,
    max_size: usize,
    text_line_limit: usize,
    eod: EndOfData,
    size: usize,
    line_len: usize,
    /// The break just read, if the next octet opens a line (the message
    /// start counts as a CRLF).
    start: Option<Break>,
    line_too_long: bool,
    bare: Vec<Bare>,
    bare_count: usize,
    bare_lf: bool,
    ended_by: Seq,
    refused: Option<Break>,
}

/// What follows a dot that opens a line.
enum AfterDot {
    NeedMore,
    Break(Break, usize),
    Text,
}

fn after_dot(rest: &[u8]) -> AfterDot {
    match (rest.first(), rest.get(1)) {
        (None, _) | (Some(b'\r'), None) => AfterDot::NeedMore,
        (Some(b'\r'), Some(b'\n')) => AfterDot::Break(Break::Crlf, 2),
        (Some(b'\r'), Some(_)) => AfterDot::Break(Break::Cr, 1),
        (Some(b'\n'), _) => AfterDot::Break(Break::Lf, 1),
        _ => AfterDot::Text,
    }
}

/// The next run of `rest` up to and including a line break: its length and
/// the break, or `None` at the end of the input (a CR last in it is left
/// for the next read, as it may be half a CRLF).
fn next_run(rest: &[u8]) -> (usize, Option<Break>) {
    match memchr::memchr2(b'\r', b'\n', rest) {
        None => (rest.len(), None),
        Some(i) if rest[i] == b'\n' => (i + 1, Some(Break::Lf)),
        Some(i) => match rest.get(i + 1) {
            None => (i, None),
            Some(b'\n') => (i + 2, Some(Break::Crlf)),
            Some(_) => (i + 1, Some(Break::Cr)),
        },
    }
}

impl DataReader {
    /// A reader storing at most `max_size` bytes; lines over
    /// `text_line_limit` octets (with CRLF) are flagged; it ends at
    /// `<CRLF>.<CRLF>` only.
    #[cfg(any(test, feature = "internals"))]
    pub fn new(max_size: usize, text_line_limit: usize) -> DataReader {
        DataReader::with_end(max_size, text_line_limit, EndOfData::STRICT)
    }

    /// The same, ending where `eod` says.
    pub fn with_end(max_size: usize, text_line_limit: usize, eod: EndOfData) -> DataReader {
        DataReader {
            body: BytesMut::new(),
            max_size,
            text_line_limit,
            eod,
            size: 0,
            line_len: 0,
            start: Some(Break::Crlf),
            line_too_long: false,
            bare: Vec::new(),
            bare_count: 0,
            bare_lf: false,
            ended_by: Seq::STANDARD,
            refused: None,
        }
    }

    /// Bytes received so far (unstuffed), for the transcript of an aborted session.
    pub fn received(&self) -> &[u8] {
        &self.body
    }

    /// Consume what `buf` holds of the message.
    #[cfg(any(test, feature = "internals"))]
    pub fn feed(&mut self, buf: &mut BytesMut) -> DataStatus {
        let (n, status) = self.scan(buf);
        buf.advance(n);
        status
    }

    /// Read the message from the front of `input`; returns how many octets
    /// of it belong to the message (all of them up to the end sequence when
    /// `Done`) and were consumed. The rest must be offered again, with more.
    pub fn scan(&mut self, input: &[u8]) -> (usize, DataStatus) {
        // Walk the input by index and let the caller advance once:
        // splitting a line off at a time turned the read buffer into a
        // shared one (an allocation, then another when the next read
        // reserved room).
        if self.body.capacity() == 0 && !input.is_empty() {
            // Room for what has arrived in one go, not a doubling series of
            // reallocations as lines are appended.
            self.body.reserve(input.len().min(self.max_size).max(256));
        }
        let mut pos = 0;
        loop {
            let rest = &input[pos..];
            if rest.is_empty() {
                return (pos, DataStatus::Incomplete);
            }
            let mut skip = 0;
            if let Some(before) = self.start
                && rest[0] == b'.'
            {
                match after_dot(&rest[1..]) {
                    AfterDot::NeedMore => return (pos, DataStatus::Incomplete),
                    // A refused bare newline is never part of an end: the
                    // message goes on to a standard one (Postfix's
                    // `reject` requires `<CRLF>.<CRLF>`).
                    AfterDot::Break(after, len)
                        if !self.eod.refuses(before)
                            && !self.eod.refuses(after)
                            && self.eod.ends_at(Seq { before, after }) =>
                    {
                        self.ended_by = Seq { before, after };
                        return (pos + 1 + len, DataStatus::Done);
                    }
                    // After a bare CR the dot does not open a text line.
                    _ if before == Break::Cr => {}
                    _ => {
                        skip = 1;
                        self.line_len = 1;
                    }
                }
            }
            let rest = &rest[skip..];
            let (take, brk) = next_run(rest);
            self.take(&rest[..take], brk);
            pos += skip + take;
            if brk.is_none() && pos < input.len() {
                // A CR held back until the octet after it arrives.
                return (pos, DataStatus::Incomplete);
            }
        }
    }

    /// Keep `run` (ending in `brk`, if any) and account for it.
    fn take(&mut self, run: &[u8], brk: Option<Break>) {
        self.line_len += run.len();
        if let Some(kind @ (Break::Lf | Break::Cr)) = brk {
            let at = self.size + run.len() - 1;
            if self.bare.len() < BARE_KEPT {
                self.bare.push(Bare { at, kind });
            }
            self.bare_count += 1;
            if self.eod.refuses(kind) && self.refused.is_none() {
                self.refused = Some(kind);
            }
        }
        match brk {
            Some(b @ (Break::Crlf | Break::Lf)) => {
                self.bare_lf |= b == Break::Lf;
                if self.line_len > self.text_line_limit {
                    self.line_too_long = true;
                }
                self.line_len = 0;
                self.start = Some(b);
            }
            Some(Break::Cr) => self.start = Some(Break::Cr),
            None if !run.is_empty() => self.start = None,
            None => {}
        }
        self.size += run.len();
        let room = self.max_size.saturating_sub(self.body.len());
        self.body.extend_from_slice(&run[..run.len().min(room)]);
    }

    /// The collected message; the reader is spent.
    pub fn finish(self) -> DataBody {
        DataBody {
            too_big: self.size > self.max_size,
            size: self.size,
            bytes: self.body.freeze(),
            line_too_long: self.line_too_long,
            bare_lf: self.bare_lf,
            ended_by: self.ended_by,
            bare: self.bare,
            bare_count: self.bare_count,
            refused: self.refused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(limit: usize, input: &[u8]) -> Vec<ReadLine> {
        let mut r = LineReader::new(limit);
        let mut buf = BytesMut::new();
        let mut out = vec![];
        // Feed byte by byte: framing must not depend on how TCP splits it.
        for &b in input {
            buf.extend_from_slice(&[b]);
            loop {
                match r.next_line(&mut buf) {
                    ReadLine::Incomplete => break,
                    other => out.push(other),
                }
            }
        }
        out
    }

    #[test]
    fn splits_crlf_and_bare_lf() {
        let got = lines(512, b"HELO a\r\nNOOP\nQUIT\r\n");
        assert_eq!(
            got,
            vec![
                ReadLine::Line(Bytes::from_static(b"HELO a"), LineEnding::Crlf),
                ReadLine::Line(Bytes::from_static(b"NOOP"), LineEnding::Lf),
                ReadLine::Line(Bytes::from_static(b"QUIT"), LineEnding::Crlf),
            ]
        );
    }

    #[test]
    fn limit_includes_crlf() {
        let ok = [vec![b'a'; 10], b"\r\n".to_vec()].concat();
        assert!(matches!(lines(12, &ok)[0], ReadLine::Line(..)));
        let long = [vec![b'a'; 11], b"\r\n".to_vec()].concat();
        assert!(matches!(
            lines(12, &long)[0],
            ReadLine::TooLong { len: 13, .. }
        ));
    }

    #[test]
    fn overlong_line_is_discarded_without_buffering() {
        let mut r = LineReader::new(512);
        let mut buf = BytesMut::new();
        for _ in 0..200 {
            buf.extend_from_slice(&[b'x'; 512]);
            assert_eq!(r.next_line(&mut buf), ReadLine::Incomplete);
            assert!(buf.len() < 512);
        }
        buf.extend_from_slice(b"yy\r\nNOOP\r\n");
        match r.next_line(&mut buf) {
            ReadLine::TooLong { len, head } => {
                assert_eq!(len, 200 * 512 + 4);
                assert_eq!(head.len(), HEAD_KEPT);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(r.next_line(&mut buf), ReadLine::Line(..)));
    }

    fn data(max: usize, input: &[u8]) -> (DataStatus, DataBody, BytesMut) {
        let mut r = DataReader::new(max, 1000);
        let mut buf = BytesMut::new();
        let mut status = DataStatus::Incomplete;
        for &b in input {
            buf.extend_from_slice(&[b]);
            status = r.feed(&mut buf);
            if status == DataStatus::Done {
                break;
            }
        }
        (status, r.finish(), buf)
    }

    #[test]
    fn unstuffs_and_stops_at_dot() {
        let (status, body, _) = data(1 << 20, b"Subject: x\r\n\r\n..leading dot\r\n.\r\n");
        assert_eq!(status, DataStatus::Done);
        assert_eq!(&body.bytes[..], b"Subject: x\r\n\r\n.leading dot\r\n");
        assert!(!body.bare_lf);
    }

    #[test]
    fn read_room_starts_small_and_doubles_only_while_reads_fill_it() {
        let mut room = ReadRoom::new(1024);
        let mut buf = BytesMut::new();
        let first = room.prepare(&mut buf);
        assert!((1024..2048).contains(&first), "{first}");
        room.filled(10, first);
        assert_eq!(
            room.prepare(&mut buf),
            first,
            "a short read does not grow it"
        );
        for _ in 0..10 {
            let r = room.prepare(&mut buf);
            room.filled(r, r);
        }
        let mut fresh = BytesMut::new();
        assert_eq!(room.prepare(&mut fresh), 64 << 10, "capped at 64 KiB");
    }

    #[test]
    fn empty_message() {
        let (status, body, _) = data(100, b".\r\n");
        assert_eq!(status, DataStatus::Done);
        assert_eq!(body.size, 0);
    }

    #[test]
    fn dot_not_at_line_start_is_data() {
        let (status, body, _) = data(100, b"a.\r\nb\r\n.x\r\n.\r\n");
        assert_eq!(status, DataStatus::Done);
        assert_eq!(&body.bytes[..], b"a.\r\nb\r\nx\r\n");
    }

    #[test]
    fn too_big_is_counted_not_stored() {
        let msg = [vec![b'z'; 5000], b"\r\n.\r\n".to_vec()].concat();
        let (status, body, _) = data(100, &msg);
        assert_eq!(status, DataStatus::Done);
        assert!(body.too_big);
        assert_eq!(body.bytes.len(), 100);
        assert_eq!(body.size, 5002);
        assert!(body.line_too_long);
    }

    #[test]
    fn bare_lf_is_noticed_and_bare_lf_dot_does_not_end() {
        let (status, body, _) = data(100, b"a\n.\nb\r\n.\r\n");
        assert_eq!(status, DataStatus::Done);
        assert!(body.bare_lf);
        assert_eq!(&body.bytes[..], b"a\n\nb\r\n");
    }
}
