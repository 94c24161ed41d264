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

use std::collections::BTreeMap;

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
        if end <= self.next_off {
            return; // entirely old: a retransmission
        }
        if start <= self.next_off {
            let fresh = &payload[(self.next_off - start) as usize..];
            self.advance(fresh.len());
            out(Chunk::Data(fresh));
            self.drain(out);
        } else {
            let slot = self.pending.entry(start).or_default();
            if payload.len() > slot.len() {
                self.pending_bytes += payload.len() - slot.len();
                slot.clear();
                slot.extend_from_slice(payload);
            }
            if self.pending_bytes > self.limit {
                self.skip_hole(out);
            }
        }
    }

    fn advance(&mut self, n: usize) {
        self.next_off += n as u64;
        if let Some(s) = self.next_seq.as_mut() {
            *s = s.wrapping_add(n as u32);
        }
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
                self.advance(fresh.len());
                out(Chunk::Data(fresh));
            }
        }
    }

    /// Give up on the hole before the first waiting segment.
    fn skip_hole(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        if let Some((&start, _)) = self.pending.first_key_value() {
            if start > self.next_off {
                let n = start - self.next_off;
                self.next_off = start;
                if let Some(s) = self.next_seq.as_mut() {
                    *s = s.wrapping_add(n as u32);
                }
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
