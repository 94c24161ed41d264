//! Synthetic captures for tests and benchmarks: many SMTP sessions as
//! Ethernet/IPv4/TCP frames in a classic pcap file. Checksums are left zero
//! (importers do not check them).

use std::io::{self, Write};

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct SynthOptions {
    /// Number of SMTP sessions.
    pub sessions: usize,
    /// Message size in bytes (one message per session).
    pub message_size: usize,
    /// Sessions open at the same time (their frames interleave).
    pub concurrency: usize,
    /// TCP payload per segment.
    pub mss: usize,
}

impl Default for SynthOptions {
    fn default() -> SynthOptions {
        SynthOptions {
            sessions: 100,
            message_size: 20_000,
            concurrency: 4,
            mss: 1448,
        }
    }
}

/// The 3-line banner every synthetic session greets with.
pub const BANNER: &str = "220-synth.example ESMTP\r\n220-second line\r\n220 ready\r\n";

struct Conn {
    client: [u8; 4],
    cport: u16,
    cseq: u32,
    sseq: u32,
    script: std::vec::IntoIter<(bool, Vec<u8>, u8)>,
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;
const FIN: u8 = 0x01;

/// One direction of a connection: (source address, port), (destination address, port).
type Ends = (([u8; 4], u16), ([u8; 4], u16));

/// The pcap file header: microsecond timestamps, snap length 65535,
/// Ethernet.
fn file_header(out: &mut Vec<u8>) {
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
}

/// The first frame's time, in microseconds since the epoch (November 2023).
const START_US: u64 = 1_700_000_000_000_000;

/// One Ethernet/IPv4/TCP frame with its pcap record header.
fn frame(
    out: &mut Vec<u8>,
    ts: u64,
    ends: Ends,
    (seq, ack): (u32, u32),
    flags: u8,
    payload: &[u8],
) {
    let ((src, sport), (dst, dport)) = ends;
    let ip_len = 20 + 20 + payload.len();
    let frame_len = 14 + ip_len;
    out.extend_from_slice(&((ts / 1_000_000) as u32).to_le_bytes());
    out.extend_from_slice(&((ts % 1_000_000) as u32).to_le_bytes());
    out.extend_from_slice(&(frame_len as u32).to_le_bytes());
    out.extend_from_slice(&(frame_len as u32).to_le_bytes());
    out.extend_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]);
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&(ip_len as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
    out.extend_from_slice(&src);
    out.extend_from_slice(&dst);
    out.extend_from_slice(&sport.to_be_bytes());
    out.extend_from_slice(&dport.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&ack.to_be_bytes());
    out.extend_from_slice(&[0x50, flags]);
    out.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
    out.extend_from_slice(payload);
}

fn script(i: usize, o: &SynthOptions) -> Vec<(bool, Vec<u8>, u8)> {
    let mut s: Vec<(bool, Vec<u8>, u8)> = Vec::new();
    let mut send = |client: bool, b: &[u8]| {
        for chunk in b.chunks(o.mss.max(1)) {
            s.push((client, chunk.to_vec(), ACK | PSH));
        }
    };
    send(false, BANNER.as_bytes());
    send(true, b"EHLO client.example\r\n");
    send(
        false,
        b"250-synth.example\r\n250-PIPELINING\r\n250 SIZE 100000000\r\n",
    );
    send(
        true,
        format!("MAIL FROM:<a{i}@client.example>\r\n").as_bytes(),
    );
    send(false, b"250 2.1.0 Ok\r\n");
    send(true, b"RCPT TO:<b@synth.example>\r\n");
    send(false, b"250 2.1.5 Ok\r\n");
    send(true, b"DATA\r\n");
    send(false, b"354 End data with <CR><LF>.<CR><LF>\r\n");
    let mut body = Vec::with_capacity(o.message_size + 80);
    body.extend_from_slice(b"Subject: synthetic\r\n\r\n");
    let line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n";
    while body.len() + line.len() <= o.message_size {
        body.extend_from_slice(line);
    }
    body.extend_from_slice(b".\r\n");
    send(true, &body);
    send(
        false,
        format!("250 2.0.0 Ok: queued as Q{i:08X}\r\n").as_bytes(),
    );
    send(true, b"QUIT\r\n");
    send(false, b"221 2.0.0 Bye\r\n");
    s.push((false, Vec::new(), FIN | ACK));
    s.push((true, Vec::new(), FIN | ACK));
    s
}

/// The server every synthetic session connects to.
const SERVER: [u8; 4] = [192, 0, 2, 25];

impl Conn {
    /// Session `i`: its handshake written to `buf` at `ts`.
    fn open(i: usize, o: &SynthOptions, ts: u64, buf: &mut Vec<u8>) -> Conn {
        let client = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        let cport = 1024 + (i % 60000) as u16;
        let cseq = (i as u32).wrapping_mul(2_654_435_761);
        let sseq = cseq.rotate_left(13);
        let up = ((client, cport), (SERVER, 25));
        let down = ((SERVER, 25), (client, cport));
        frame(buf, ts, up, (cseq, 0), SYN, &[]);
        frame(buf, ts, down, (sseq, cseq.wrapping_add(1)), SYN | ACK, &[]);
        let (cseq, sseq) = (cseq.wrapping_add(1), sseq.wrapping_add(1));
        frame(buf, ts, up, (cseq, sseq), ACK, &[]);
        Conn {
            client,
            cport,
            cseq,
            sseq,
            script: script(i, o).into_iter(),
        }
    }

    /// Write the session's next packet at `ts`; `false` when it has none.
    fn next(&mut self, ts: u64, buf: &mut Vec<u8>) -> bool {
        let Some((from_client, payload, flags)) = self.script.next() else {
            return false;
        };
        let client = (self.client, self.cport);
        let sent = payload.len() as u32 + u32::from(flags & FIN != 0);
        if from_client {
            frame(
                buf,
                ts,
                (client, (SERVER, 25)),
                (self.cseq, self.sseq),
                flags,
                &payload,
            );
            self.cseq = self.cseq.wrapping_add(sent);
        } else {
            frame(
                buf,
                ts,
                ((SERVER, 25), client),
                (self.sseq, self.cseq),
                flags,
                &payload,
            );
            self.sseq = self.sseq.wrapping_add(sent);
        }
        true
    }
}

/// Write a pcap with `o.sessions` SMTP sessions to `w`; returns the bytes
/// written.
pub fn write_pcap<W: Write>(mut w: W, o: &SynthOptions) -> io::Result<u64> {
    let mut header = Vec::new();
    file_header(&mut header);
    w.write_all(&header)?;
    let mut written = header.len() as u64;
    let mut ts = START_US;
    let mut next = 0usize;
    let mut open: Vec<Conn> = Vec::new();
    let mut buf = Vec::with_capacity(1 << 16);
    loop {
        while open.len() < o.concurrency.max(1) && next < o.sessions {
            ts += 10;
            open.push(Conn::open(next, o, ts, &mut buf));
            next += 1;
        }
        if open.is_empty() {
            break;
        }
        // One packet from each open session in turn, so they interleave.
        let mut k = 0;
        while k < open.len() {
            if open[k].next(ts + 7, &mut buf) {
                ts += 7;
                k += 1;
            } else {
                open.swap_remove(k);
            }
        }
        if buf.len() > 1 << 20 {
            w.write_all(&buf)?;
            written += buf.len() as u64;
            buf.clear();
        }
    }
    w.write_all(&buf)?;
    written += buf.len() as u64;
    Ok(written)
}

/// A pcap in memory.
pub fn pcap(o: &SynthOptions) -> Vec<u8> {
    let mut v = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_pcap(&mut v, o);
    v
}

/// One hand-made TCP connection (10.0.0.1:40000 to 192.0.2.25:25) as a
/// pcap, with the faults real captures have: frames out of order, and
/// retransmissions that carry other bytes. Sequence and acknowledgement
/// numbers are what the two ends would send.
#[derive(Debug, Clone)]
pub struct Talk {
    /// (from the client, seq, ack, flags, payload), in capture order.
    frames: Vec<(bool, u32, u32, u8, Vec<u8>)>,
    cseq: u32,
    sseq: u32,
    /// Frames longer than this are cut, as by `tcpdump -s`.
    snaplen: Option<usize>,
}

impl Default for Talk {
    fn default() -> Talk {
        Talk::new()
    }
}

impl Talk {
    const CLIENT: ([u8; 4], u16) = ([10, 0, 0, 1], 40000);
    const SERVER: ([u8; 4], u16) = ([192, 0, 2, 25], 25);

    /// The three-way handshake.
    pub fn new() -> Talk {
        let (cseq, sseq) = (1_000, 5_000);
        Talk {
            frames: vec![
                (true, cseq, 0, SYN, Vec::new()),
                (false, sseq, cseq + 1, SYN | ACK, Vec::new()),
                (true, cseq + 1, sseq + 1, ACK, Vec::new()),
            ],
            cseq: cseq + 1,
            sseq: sseq + 1,
            snaplen: None,
        }
    }

    /// Keep at most `bytes` of each frame (Ethernet, IP and TCP headers
    /// are 54), as a capture with that snap length does.
    pub fn snaplen(&mut self, bytes: usize) {
        self.snaplen = Some(bytes);
    }

    /// The client sends `bytes`; the frame's index.
    pub fn client(&mut self, bytes: &[u8]) -> usize {
        self.frames
            .push((true, self.cseq, self.sseq, ACK | PSH, bytes.to_vec()));
        self.cseq = self.cseq.wrapping_add(bytes.len() as u32);
        self.frames.len() - 1
    }

    /// The server sends `bytes`; the frame's index.
    pub fn server(&mut self, bytes: &[u8]) -> usize {
        self.frames
            .push((false, self.sseq, self.cseq, ACK | PSH, bytes.to_vec()));
        self.sseq = self.sseq.wrapping_add(bytes.len() as u32);
        self.frames.len() - 1
    }

    /// The client sends `bytes` again, starting `back` bytes before its
    /// next byte (a retransmission, whatever it carries).
    pub fn client_again(&mut self, back: u32, bytes: &[u8]) -> usize {
        let seq = self.cseq.wrapping_sub(back);
        self.frames
            .push((true, seq, self.sseq, ACK | PSH, bytes.to_vec()));
        self.frames.len() - 1
    }

    /// Swap two frames in the capture.
    pub fn swap(&mut self, a: usize, b: usize) {
        self.frames.swap(a, b);
    }

    /// Both sides close (the server first).
    pub fn close(&mut self) {
        self.frames
            .push((false, self.sseq, self.cseq, FIN | ACK, Vec::new()));
        self.sseq = self.sseq.wrapping_add(1);
        self.frames
            .push((true, self.cseq, self.sseq, FIN | ACK, Vec::new()));
        self.cseq = self.cseq.wrapping_add(1);
    }

    /// The capture, frames 10 µs apart in capture order.
    pub fn pcap(&self) -> Vec<u8> {
        let mut out = Vec::new();
        file_header(&mut out);
        let mut ts = START_US;
        for (from_client, seq, ack, flags, payload) in &self.frames {
            ts += 10;
            let ends = if *from_client {
                (Self::CLIENT, Self::SERVER)
            } else {
                (Self::SERVER, Self::CLIENT)
            };
            let start = out.len();
            frame(&mut out, ts, ends, (*seq, *ack), *flags, payload);
            // The record header's captured length is at bytes 8..12.
            if let Some(snap) = self.snaplen.filter(|&n| out.len() - start - 16 > n) {
                out[start + 8..start + 12].copy_from_slice(&(snap as u32).to_le_bytes());
                out.truncate(start + 16 + snap);
            }
        }
        out
    }
}
