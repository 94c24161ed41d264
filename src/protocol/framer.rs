//! The one framer of SMTP input: what the server, both legs of the proxy
//! and the session fuzz target read with, so that "what is a line, where
//! does a message end, how long is a chunk" has one answer.
//!
//! It is sans-I/O: the caller reads into a [`BytesMut`] and asks
//! [`Framer::next`] for frames until it returns `None` (read more). What
//! comes next on the wire is the caller's to say, from the answer to the
//! last frame: command lines by default, message content after a `354`
//! ([`Framer::expect_data`]), or an exact number of octets after `BDAT`
//! ([`Framer::expect_chunk`]). Each frame is taken out of the buffer
//! before the next is looked for, so one frame gets one answer, in order,
//! whatever the reads' sizes.
//!
//! A line longer than the limit is one [`Frame::TooLong`], ending at its
//! own newline however far that is; its rest is discarded as it arrives,
//! so memory does not grow with it.

use super::codec::{DataBody, DataReader, DataStatus, LineEnding, LineReader, ReadLine};
use super::eod::EndOfData;
use bytes::{Buf, Bytes, BytesMut};

/// One unit of input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A command (or reply, or SASL response) line, without its ending.
    Line(Bytes, LineEnding),
    /// A line longer than the limit ended; it was discarded.
    TooLong {
        /// Its length including the line ending.
        len: usize,
        /// Its first bytes (up to 64), without the ending.
        head: Bytes,
    },
    /// Message content consumed, exactly as received (DATA still stuffed);
    /// only when the content is relayed, and only while it goes on.
    Content(Bytes),
    /// The end-of-data line of a DATA message arrived.
    DataEnd {
        /// The message (what the size limit let it keep), its flags and
        /// the sequence that ended it.
        body: DataBody,
        /// The last octets of it as received, the end sequence included
        /// (relayed content only; empty otherwise).
        raw: Bytes,
    },
    /// The last octet of a BDAT chunk arrived.
    ChunkEnd {
        /// The chunk, or as much of it as was to be kept.
        data: Bytes,
        /// Its size, as announced.
        size: usize,
        /// `BDAT … LAST`.
        last: bool,
        /// Its last octets as received (relayed content only).
        raw: Bytes,
    },
}

/// What the framer is in the middle of, for the record of a connection
/// that ends there.
#[derive(Debug)]
pub enum Pending<'a> {
    /// Command lines; `discarded` is an overlong line being thrown away:
    /// octets seen so far and its head.
    Lines {
        /// See above.
        discarded: Option<(usize, &'a Bytes)>,
    },
    /// DATA content.
    Data {
        /// What was kept of it (unstuffed).
        kept: &'a [u8],
        /// Octets of it consumed from the wire.
        consumed: usize,
    },
    /// A BDAT chunk.
    Chunk {
        /// What was kept of it.
        kept: &'a [u8],
        /// Its announced size.
        size: usize,
        /// Octets still to come.
        remaining: usize,
    },
}

#[derive(Debug)]
enum Mode {
    Lines,
    Data {
        // Boxed, as is a chunk's state: the framer lives in every
        // connection's task, idle ones included (see
        // `a_connection_task_stays_small`).
        reader: Box<DataReader>,
        relay: bool,
        consumed: usize,
    },
    Chunk(Box<Chunk>),
}

#[derive(Debug)]
struct Chunk {
    remaining: usize,
    size: usize,
    last: bool,
    keep: usize,
    got: BytesMut,
    relay: bool,
}

/// Frames a byte stream into lines, DATA messages and BDAT chunks.
#[derive(Debug)]
pub struct Framer {
    lines: LineReader,
    mode: Mode,
}

impl Framer {
    /// A framer reading command lines of at most `line_limit` octets
    /// (ending included).
    pub fn new(line_limit: usize) -> Framer {
        Framer {
            lines: LineReader::new(line_limit),
            mode: Mode::Lines,
        }
    }

    /// Read the next lines with at most `line_limit` octets each.
    pub fn set_line_limit(&mut self, line_limit: usize) {
        self.lines.set_limit(line_limit);
    }

    /// Read DATA content next, up to an end-of-data sequence `eod` takes
    /// (flagging the bare newlines it refuses): keep at most `keep` octets of it,
    /// flag lines over `text_line` octets, and hand out the raw octets as
    /// [`Frame::Content`] if `relay`. What follows the end is read as
    /// command lines, whichever sequence ended it.
    pub fn expect_data(&mut self, keep: usize, text_line: usize, relay: bool, eod: EndOfData) {
        self.mode = Mode::Data {
            reader: Box::new(DataReader::with_end(keep, text_line, eod)),
            relay,
            consumed: 0,
        };
    }

    /// Read exactly `size` octets of BDAT content next, keeping at most
    /// `keep` of them; hand them out as [`Frame::Content`] if `relay`.
    pub fn expect_chunk(&mut self, size: usize, last: bool, keep: usize, relay: bool) {
        self.mode = Mode::Chunk(Box::new(Chunk {
            remaining: size,
            size,
            last,
            keep,
            got: BytesMut::new(),
            relay,
        }));
    }

    /// Reading command lines (not inside a message or chunk)?
    pub fn reading_lines(&self) -> bool {
        matches!(self.mode, Mode::Lines)
    }

    /// Inside a BDAT chunk?
    pub fn in_chunk(&self) -> bool {
        matches!(self.mode, Mode::Chunk(_))
    }

    /// Inside a BDAT chunk that is relayed as it arrives (the proxy's)?
    pub fn relaying_chunk(&self) -> bool {
        matches!(&self.mode, Mode::Chunk(c) if c.relay)
    }

    /// What is half-read, for the transcript of a connection that ends.
    pub fn pending(&self) -> Pending<'_> {
        match &self.mode {
            Mode::Lines => Pending::Lines {
                discarded: self.lines.discarded(),
            },
            Mode::Data {
                reader, consumed, ..
            } => Pending::Data {
                kept: reader.received(),
                consumed: *consumed,
            },
            Mode::Chunk(c) => Pending::Chunk {
                kept: &c.got,
                size: c.size,
                remaining: c.remaining,
            },
        }
    }

    /// The next frame in `buf`, taken out of it; `None` when more input is
    /// needed. After a `DataEnd` or `ChunkEnd` the framer reads lines again.
    pub fn next(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        match &mut self.mode {
            Mode::Lines => match self.lines.next_line(buf) {
                ReadLine::Incomplete => None,
                ReadLine::Line(line, ending) => Some(Frame::Line(line, ending)),
                ReadLine::TooLong { len, head } => Some(Frame::TooLong { len, head }),
            },
            Mode::Data {
                reader,
                relay,
                consumed,
            } => {
                if buf.is_empty() {
                    return None;
                }
                let (n, status) = reader.scan(buf);
                *consumed += n;
                let raw = take(buf, n, *relay);
                match status {
                    DataStatus::Incomplete => (!raw.is_empty()).then_some(Frame::Content(raw)),
                    DataStatus::Done => {
                        let Mode::Data { reader, .. } =
                            std::mem::replace(&mut self.mode, Mode::Lines)
                        else {
                            return None;
                        };
                        Some(Frame::DataEnd {
                            body: reader.finish(),
                            raw,
                        })
                    }
                }
            }
            Mode::Chunk(c) => {
                let n = c.remaining.min(buf.len());
                let room = c.keep.saturating_sub(c.got.len());
                c.got.extend_from_slice(&buf[..n.min(room)]);
                c.remaining -= n;
                let raw = take(buf, n, c.relay);
                if c.remaining > 0 {
                    return (!raw.is_empty()).then_some(Frame::Content(raw));
                }
                let Mode::Chunk(c) = std::mem::replace(&mut self.mode, Mode::Lines) else {
                    return None;
                };
                let Chunk {
                    size, last, got, ..
                } = *c;
                Some(Frame::ChunkEnd {
                    data: got.freeze(),
                    size,
                    last,
                    raw,
                })
            }
        }
    }
}

/// Take `n` octets off the front of `buf`: handed out if `relay`, else
/// just dropped (no split, so the read buffer stays unshared).
fn take(buf: &mut BytesMut, n: usize, relay: bool) -> Bytes {
    if relay {
        buf.split_to(n).freeze()
    } else {
        buf.advance(n);
        Bytes::new()
    }
}

#[cfg(test)]
mod eod_tests;
#[cfg(test)]
mod tests;
