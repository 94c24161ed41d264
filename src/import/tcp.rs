//! TCP reassembly for one direction of one connection.
//!
//! Segments are placed by sequence number (32-bit, wrapping) relative to the
//! initial sequence number (from the SYN, or the first segment seen when the
//! capture starts mid-connection). In-order bytes are handed out at once and
//! without copying; segments from the future wait in a map until the hole
//! before them is filled; bytes already delivered (retransmissions, overlaps)
//! are trimmed. A FIN is honoured once every byte before it has arrived.
//!
//! Bytes that never arrive (lost by the capture) are reported as a gap when
//! the waiting data grows past a limit or at [`Reassembler::flush`].
//!
//! When copies of the same bytes differ (a retransmission that carries other
//! data than the first transmission), the first copy seen wins, as in the
//! receiving TCP, which drops data it already holds, and in Wireshark's
//! reassembly; [`Reassembler::conflicting_bytes`] counts the differing bytes
//! so the importer can say it chose. Delivered bytes are compared against the
//! last [`RECENT`] bytes of the stream; a retransmission of older bytes is
//! dropped unchecked.

use std::collections::{BTreeMap, VecDeque};

/// How many delivered bytes are kept to compare retransmissions with.
pub const RECENT: usize = 64 << 10;

/// What the reassembler hands out, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// The next bytes of the stream.
    Data(&'a [u8]),
    /// This many bytes of the stream were never captured.
    Gap(u64),
}

/// One direction of a TCP connection.
#[derive(Debug, Default)]
pub struct Reassembler {
    /// Sequence number of the next byte expected (`None` before any segment).
    next_seq: Option<u32>,
    /// Stream offset of `next_seq`.
    next_off: u64,
    /// Segments beyond `next_off`, by stream offset.
    pending: BTreeMap<u64, Vec<u8>>,
    pending_bytes: usize,
    /// Stream offset of the FIN, once seen.
    fin_off: Option<u64>,
    /// Limit for `pending_bytes` before a hole is declared lost.
    limit: usize,
    /// The last delivered bytes (at most [`RECENT`]), ending at `next_off`.
    recent: VecDeque<u8>,
    /// Bytes whose copies differed (the first copy was kept).
    conflicts: u64,
}

/// Default limit of out-of-order bytes held per direction.
pub const DEFAULT_PENDING_LIMIT: usize = 32 << 20;

impl Reassembler {
    /// A reassembler holding at most `limit` out-of-order bytes.
    pub fn new(limit: usize) -> Reassembler {
        Reassembler {
            limit,
            ..Reassembler::default()
        }
    }

    /// Bytes delivered so far (including gaps).
    pub fn delivered(&self) -> u64 {
        self.next_off
    }

    /// The FIN has been seen and every byte before it delivered.
    pub fn finished(&self) -> bool {
        self.fin_off.is_some_and(|f| self.next_off >= f)
    }

    /// Bytes waiting for a hole to be filled.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Bytes seen again with other values than their first copy.
    pub fn conflicting_bytes(&self) -> u64 {
        self.conflicts
    }

    /// The stream offset the peer acknowledges with `ack` (the offset of
    /// the next byte it expects from this direction), if it lies after the
    /// start of what this direction has seen.
    pub fn offset_of_ack(&self, ack: u32) -> Option<u64> {
        self.offset_of(ack)
    }

    fn offset_of(&self, seq: u32) -> Option<u64> {
        let next = self.next_seq?;
        let diff = i64::from(seq.wrapping_sub(next) as i32);
        let off = self.next_off as i64 + diff;
        (off >= 0).then_some(off as u64)
    }

    /// One segment. `out` receives the chunks that became in-order.
    pub fn segment(
        &mut self,
        seq: u32,
        syn: bool,
        fin: bool,
        payload: &[u8],
        out: &mut dyn FnMut(Chunk<'_>),
    ) {
        let data_seq = if syn { seq.wrapping_add(1) } else { seq };
        if self.next_seq.is_none() {
            if !syn && payload.is_empty() && !fin {
                return;
            }
            self.next_seq = Some(data_seq);
        } else if syn && self.next_off == 0 && self.pending.is_empty() {
            // A (re)transmitted SYN before any data: it fixes the start.
            self.next_seq = Some(data_seq);
        }
        let Some(start) = self.offset_of(data_seq) else {
            // Before the start of the stream (before the first segment seen).
            return;
        };
        let end = start + payload.len() as u64;
        if fin {
            self.fin_off.get_or_insert(end);
        }
        if start < self.next_off {
            // Some bytes were delivered already: a retransmission.
            let old = ((self.next_off - start) as usize).min(payload.len());
            self.compare_recent(start, &payload[..old]);
        }
        if end <= self.next_off {
            return;
        }
        let (start, payload) = if start < self.next_off {
            let cut = (self.next_off - start) as usize;
            (self.next_off, &payload[cut..])
        } else {
            (start, payload)
        };
        if start == self.next_off && self.pending.is_empty() {
            // The common case, in order with nothing waiting: no copy.
            self.advance(payload);
            out(Chunk::Data(payload));
            return;
        }
        self.insert_pending(start, payload);
        self.drain(out);
        if self.pending_bytes > self.limit {
            self.skip_hole(out);
        }
    }

    /// Count the bytes of `old` (at stream offset `start`, all before
    /// `next_off`) that differ from what was delivered.
    fn compare_recent(&mut self, start: u64, old: &[u8]) {
        let kept_from = self.next_off - self.recent.len() as u64;
        for (i, b) in old.iter().enumerate() {
            let off = start + i as u64;
            if off < kept_from {
                continue;
            }
            if self.recent.get((off - kept_from) as usize) != Some(b) {
                self.conflicts += 1;
            }
        }
    }

    /// Keep the parts of `payload` (at `start`) that no waiting segment
    /// holds yet: waiting segments never overlap, and the first copy of a
    /// byte is the one delivered.
    fn insert_pending(&mut self, start: u64, payload: &[u8]) {
        let end = start + payload.len() as u64;
        let mut overlapping: Vec<(u64, u64)> = self
            .pending
            .range(..end)
            .rev()
            .map(|(&s, d)| (s, s + d.len() as u64))
            .take_while(|&(_, e)| e > start)
            .collect();
        overlapping.reverse();
        let mut pos = start;
        for (s, e) in overlapping {
            if s > pos {
                self.put(pos, &payload[(pos - start) as usize..(s - start) as usize]);
            }
            let (from, to) = (s.max(start), e.min(end));
            if let Some(kept) = self.pending.get(&s) {
                let kept = &kept[(from - s) as usize..(to - s) as usize];
                let new = &payload[(from - start) as usize..(to - start) as usize];
                self.conflicts += kept.iter().zip(new).filter(|(a, b)| a != b).count() as u64;
            }
            pos = pos.max(e);
        }
        if pos < end {
            self.put(pos, &payload[(pos - start) as usize..]);
        }
    }

    fn put(&mut self, start: u64, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.pending_bytes += bytes.len();
        self.pending.insert(start, bytes.to_vec());
    }

    fn advance(&mut self, delivered: &[u8]) {
        let n = delivered.len();
        self.next_off += n as u64;
        if let Some(s) = self.next_seq.as_mut() {
            *s = s.wrapping_add(n as u32);
        }
        let tail = &delivered[n.saturating_sub(RECENT)..];
        let drop = (self.recent.len() + tail.len()).saturating_sub(RECENT);
        self.recent.drain(..drop);
        self.recent.extend(tail);
    }

    /// Skip `n` bytes that were never captured: a hole declared lost, or
    /// the end of a segment just delivered that the snap length cut (so the
    /// next segment is in order).
    pub fn skip_uncaptured(&mut self, n: u64) {
        self.next_off += n;
        if let Some(s) = self.next_seq.as_mut() {
            *s = s.wrapping_add(n as u32);
        }
        // Nothing to compare a retransmission of the hole with.
        self.recent.clear();
    }

    fn drain(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        while let Some(entry) = self.pending.first_entry() {
            let start = *entry.key();
            if start > self.next_off {
                break;
            }
            let data = entry.remove();
            self.pending_bytes -= data.len();
            let end = start + data.len() as u64;
            if end > self.next_off {
                let fresh = &data[(self.next_off - start) as usize..];
                self.advance(fresh);
                out(Chunk::Data(fresh));
            }
        }
    }

    /// Give up on the hole before the first waiting segment.
    fn skip_hole(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        if let Some((&start, _)) = self.pending.first_key_value() {
            if start > self.next_off {
                let n = start - self.next_off;
                self.skip_uncaptured(n);
                out(Chunk::Gap(n));
            }
            self.drain(out);
        }
    }

    /// The capture ended: hand out whatever waits, with gaps for the holes.
    pub fn flush(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        while !self.pending.is_empty() {
            self.skip_hole(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The stream, its gaps, whether it finished; identical copies never
    /// count as conflicting, whatever their boundaries.
    fn run(segs: &[(u32, bool, bool, Vec<u8>)], limit: usize) -> (Vec<u8>, u64, bool) {
        let mut r = Reassembler::new(limit);
        let mut out = Vec::new();
        let mut gaps = 0;
        for (seq, syn, fin, p) in segs {
            r.segment(*seq, *syn, *fin, p, &mut |c| match c {
                Chunk::Data(d) => out.extend_from_slice(d),
                Chunk::Gap(n) => gaps += n,
            });
        }
        let finished = r.finished();
        r.flush(&mut |c| match c {
            Chunk::Data(d) => out.extend_from_slice(d),
            Chunk::Gap(n) => gaps += n,
        });
        assert_eq!(r.conflicting_bytes(), 0);
        (out, gaps, finished)
    }

    #[test]
    fn in_order_retransmit_overlap_out_of_order() {
        let isn = u32::MAX - 3; // wraps
        let segs = vec![
            (isn, true, false, vec![]),
            (isn.wrapping_add(1), false, false, b"hello ".to_vec()),
            (isn.wrapping_add(12), false, true, b"!".to_vec()),
            (isn.wrapping_add(1), false, false, b"hello ".to_vec()),
            (isn.wrapping_add(4), false, false, b"lo world".to_vec()),
        ];
        let (out, gaps, fin) = run(&segs, 1 << 20);
        assert_eq!(out, b"hello world!");
        assert_eq!(gaps, 0);
        assert!(fin);
    }

    /// Copies that differ: the first one seen is kept, whether it was
    /// delivered already or still waits for a hole, and the differing
    /// bytes are counted.
    #[test]
    fn differing_copies_keep_the_first_and_are_counted() {
        let mut r = Reassembler::new(1 << 20);
        let mut out = Vec::new();
        let mut take = |r: &mut Reassembler, seq, p: &[u8]| {
            r.segment(seq, false, false, p, &mut |c| {
                if let Chunk::Data(d) = c {
                    out.extend_from_slice(d)
                }
            })
        };
        take(&mut r, 100, b"MAIL FROM:<a>\r\n");
        // Delivered already: a retransmission with two other bytes.
        take(&mut r, 100, b"MAXX");
        assert_eq!(r.conflicting_bytes(), 2);
        // Waiting behind a hole: the first copy of 130.. stays.
        take(&mut r, 130, b"QUIT\r\n");
        take(&mut r, 128, b"\r\nXXXT\r\n!");
        assert_eq!(r.conflicting_bytes(), 2 + 3);
        take(&mut r, 115, b"RCPT TO:<b>\r\n\r\n");
        assert_eq!(out, b"MAIL FROM:<a>\r\nRCPT TO:<b>\r\n\r\nQUIT\r\n!");
    }

    #[test]
    fn lost_segment_is_a_gap() {
        let segs = vec![
            (100, false, false, b"abc".to_vec()),
            (106, false, false, b"ghi".to_vec()),
        ];
        let (out, gaps, _) = run(&segs, 1 << 20);
        assert_eq!(out, b"abcghi");
        assert_eq!(gaps, 3);
        // With a tiny limit the gap is declared early.
        let (out, gaps, _) = run(&segs, 2);
        assert_eq!((out.as_slice(), gaps), (&b"abcghi"[..], 3));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Random segmentation, duplication (with other boundaries) and
        /// reordering give back the same byte stream.
        #[test]
        fn reassembles_any_delivery(
            data in proptest::collection::vec(any::<u8>(), 1..3000),
            isn in any::<u32>(),
            cuts in proptest::collection::vec(1usize..400, 1..40),
            extra in proptest::collection::vec((0usize..3000, 1usize..500), 0..20),
            order in proptest::collection::vec(any::<u32>(), 0..80),
        ) {
            // Segments covering the stream exactly…
            let mut segs: Vec<(usize, usize)> = Vec::new();
            let mut pos = 0;
            let mut ci = 0;
            while pos < data.len() {
                let n = cuts[ci % cuts.len()].min(data.len() - pos);
                segs.push((pos, pos + n));
                pos += n;
                ci += 1;
            }
            // …plus retransmissions with their own boundaries…
            for (s, n) in &extra {
                let s = s % data.len();
                segs.push((s, (s + n).min(data.len())));
            }
            // …shuffled.
            for (i, k) in order.iter().enumerate() {
                let len = segs.len();
                segs.swap(i % len, *k as usize % len);
            }
            let last = data.len();
            let mut packets = vec![(isn, true, false, Vec::new())];
            for (s, e) in segs {
                let seq = isn.wrapping_add(1).wrapping_add(s as u32);
                packets.push((seq, false, e == last, data[s..e].to_vec()));
            }
            let (out, gaps, fin) = run(&packets, usize::MAX);
            prop_assert_eq!(gaps, 0);
            prop_assert!(fin);
            prop_assert_eq!(out, data);
        }
    }
}
