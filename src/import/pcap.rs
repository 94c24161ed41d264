//! pcap and pcapng files: frames → IPv4/IPv6 → TCP segments for
//! [`Flows`](super::flows::Flows).
//!
//! Reading streams through a fixed buffer (pcap-parser), so a capture of any
//! size is read with constant memory apart from the open connections. Link
//! types: Ethernet (with VLAN tags), Linux cooked (SLL and SLL2), BSD
//! loopback (NULL and LOOP) and raw IP. pcapng files may mix interfaces of
//! different link types and time resolutions.

use super::flows::{Flows, Segment};
use super::model::Capture;
use etherparse::{EtherType, IpNumber, LaxNetSlice, LaxSlicedPacket, TransportSlice};
use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{Linktype, PcapBlockOwned, PcapError, create_reader};
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const BUFFER: usize = 1 << 20;
/// Largest block accepted (a corrupt length must not allocate gigabytes).
const MAX_BLOCK: usize = 64 << 20;

#[derive(Clone, Copy)]
struct Interface {
    linktype: Linktype,
    /// Timestamp units per second.
    resolution: u64,
    offset: i64,
}

#[derive(Default)]
struct Counters {
    frames: u64,
    fragments: u64,
    unsupported_link: Option<i32>,
    unsupported_frames: u64,
    undecodable: u64,
}

/// Read a pcap or pcapng capture. `only`: keep just this TCP stream.
pub fn parse<R: Read + Send>(input: R, only: Option<usize>) -> Result<Capture, (String, Capture)> {
    let mut reader = open(input).map_err(|problem| (problem, Capture::default()))?;
    let mut decoder = Decoder {
        flows: Flows::new(only),
        interfaces: Vec::new(),
        legacy: None,
        counters: Counters::default(),
        last_time: UNIX_EPOCH,
    };
    let mut stalls = 0;
    let fatal = loop {
        let trouble = match reader.next() {
            Ok((offset, block)) => {
                stalls = 0;
                decoder.block(block);
                reader.consume(offset);
                continue;
            }
            Err(e) => Trouble::from(e),
        };
        match recover(reader.as_mut(), trouble, &mut stalls) {
            Ok(true) => {}
            Ok(false) => break None,
            Err(problem) => break Some(problem),
        }
    };
    decoder.finish(fatal)
}

/// A reader past the file header, or why the file is no capture.
fn open<'r, R: Read + Send + 'r>(
    input: R,
) -> Result<Box<dyn PcapReaderIterator + Send + 'r>, String> {
    create_reader(BUFFER, input).map_err(|e| match e {
        PcapError::Eof => "the file is empty".into(),
        PcapError::Incomplete(_) | PcapError::UnexpectedEof => {
            "the file is too short to be a pcap or pcapng capture".into()
        }
        PcapError::HeaderNotRecognized => {
            "not a pcap or pcapng capture (unknown file header)".into()
        }
        e => format!("cannot read the capture header: {e:?}"),
    })
}

/// Why the reader gave no block, without its borrow of the reader.
enum Trouble {
    Eof,
    Incomplete,
    UnexpectedEof,
    BufferTooSmall,
    Damaged(String),
}

impl From<PcapError<&[u8]>> for Trouble {
    fn from(e: PcapError<&[u8]>) -> Trouble {
        match e {
            PcapError::Eof => Trouble::Eof,
            PcapError::Incomplete(_) => Trouble::Incomplete,
            PcapError::UnexpectedEof => Trouble::UnexpectedEof,
            PcapError::BufferTooSmall => Trouble::BufferTooSmall,
            PcapError::ReadError => Trouble::Damaged("read error".to_string()),
            PcapError::NomError(_, k) | PcapError::OwnedNomError(_, k) => {
                Trouble::Damaged(format!("malformed block ({k:?})"))
            }
            other => Trouble::Damaged(format!("{other:?}")),
        }
    }
}

/// Go on after `trouble` if reading more can help: `Ok(true)` to read on,
/// `Ok(false)` at the end of the file, `Err` for a damaged or truncated one.
fn recover(
    reader: &mut (dyn PcapReaderIterator + Send),
    trouble: Trouble,
    stalls: &mut u32,
) -> Result<bool, String> {
    match trouble {
        Trouble::Eof => return Ok(false),
        Trouble::Incomplete => {
            *stalls += 1;
            if *stalls > 3 {
                return Err(format!(
                    "the capture is truncated: the block at byte {} is incomplete",
                    reader.consumed()
                ));
            }
        }
        Trouble::UnexpectedEof => {
            return Err(format!(
                "the capture is truncated: the file ends inside the block at byte {}",
                reader.consumed()
            ));
        }
        Trouble::BufferTooSmall => {
            let size = reader.data().len().max(BUFFER) * 2;
            if size > MAX_BLOCK || !reader.grow(size) {
                return Err(format!(
                    "the block at byte {} claims to be larger than {} MiB; the file is damaged",
                    reader.consumed(),
                    MAX_BLOCK >> 20
                ));
            }
        }
        Trouble::Damaged(what) => {
            return Err(format!(
                "the capture is damaged at byte {}: {what}",
                reader.consumed()
            ));
        }
    }
    reader
        .refill()
        .map(|()| true)
        .map_err(|_| "read error".to_string())
}

/// What the blocks read so far say: interfaces, and the flows their
/// packets make.
struct Decoder {
    flows: Flows,
    /// pcapng interfaces of the current section.
    interfaces: Vec<Interface>,
    /// The one interface of a pcap file.
    legacy: Option<Interface>,
    counters: Counters,
    /// The last packet's time (a pcapng simple packet has none).
    last_time: SystemTime,
}

impl Decoder {
    fn block(&mut self, block: PcapBlockOwned<'_>) {
        match block {
            PcapBlockOwned::LegacyHeader(h) => {
                let resolution = if h.is_nanosecond_precision() {
                    1_000_000_000
                } else {
                    1_000_000
                };
                self.legacy = Some(Interface {
                    linktype: h.network,
                    resolution,
                    offset: 0,
                });
            }
            PcapBlockOwned::Legacy(b) => {
                if let Some(iface) = self.legacy {
                    let frac = u64::from(b.ts_usec) * 1_000_000_000 / iface.resolution;
                    let time = UNIX_EPOCH
                        + Duration::from_secs(u64::from(b.ts_sec))
                        + Duration::from_nanos(frac);
                    let missing = b.origlen.saturating_sub(b.caplen) as usize;
                    let data = &b.data[..(b.caplen as usize).min(b.data.len())];
                    self.packet(iface, data, Some(time), missing);
                }
            }
            PcapBlockOwned::NG(Block::SectionHeader(_)) => self.interfaces.clear(),
            PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                self.interfaces.push(Interface {
                    linktype: idb.linktype,
                    resolution: idb.ts_resolution().unwrap_or(1_000_000).max(1),
                    offset: idb.ts_offset(),
                });
            }
            PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                let Some(iface) = self.interfaces.get(epb.if_id as usize).copied() else {
                    self.counters.undecodable += 1;
                    return;
                };
                let ts = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                let secs = (ts / iface.resolution) as i64 + iface.offset;
                let frac = (u128::from(ts % iface.resolution) * 1_000_000_000
                    / u128::from(iface.resolution)) as u64;
                let time = UNIX_EPOCH
                    + Duration::from_secs(secs.max(0) as u64)
                    + Duration::from_nanos(frac);
                let caplen = (epb.caplen as usize).min(epb.data.len());
                let missing = epb.origlen.saturating_sub(epb.caplen) as usize;
                self.packet(iface, &epb.data[..caplen], Some(time), missing);
            }
            PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                if let Some(iface) = self.interfaces.first().copied() {
                    let n = (spb.origlen as usize).min(spb.data.len());
                    let missing = (spb.origlen as usize).saturating_sub(n);
                    self.packet(iface, &spb.data[..n], None, missing);
                }
            }
            PcapBlockOwned::NG(_) => {}
        }
    }

    /// One captured frame; `time: None` takes the last packet's.
    fn packet(&mut self, iface: Interface, data: &[u8], time: Option<SystemTime>, missing: usize) {
        if let Some(t) = time {
            self.last_time = t;
        }
        frame(
            &mut self.flows,
            &mut self.counters,
            iface.linktype,
            data,
            self.last_time,
            missing,
        );
    }

    /// The sessions, with what was skipped said in warnings; an error when
    /// reading stopped at `fatal` or found no session.
    fn finish(self, fatal: Option<String>) -> Result<Capture, (String, Capture)> {
        let counters = self.counters;
        let (sessions, mut warnings, selected) = self.flows.finish_all();
        if counters.fragments > 0 {
            warnings.push(format!(
                "{} IP fragment(s) ignored (fragmented TCP is not reassembled)",
                counters.fragments
            ));
        }
        if let Some(lt) = counters.unsupported_link {
            warnings.push(format!(
                "{} frame(s) of unsupported link type {lt} ignored",
                counters.unsupported_frames
            ));
        }
        if counters.undecodable > 0 {
            warnings.push(format!(
                "{} frame(s) could not be decoded and were ignored",
                counters.undecodable
            ));
        }
        let capture = Capture { sessions, warnings };
        if let Some(problem) = fatal {
            return Err((problem, capture));
        }
        if let Err(problem) = selected {
            return Err((problem, capture));
        }
        if capture.sessions.is_empty() {
            let problem = if counters.frames == 0 {
                "the capture holds no packets".to_string()
            } else {
                format!(
                    "no SMTP session in {} frame(s) (no TCP stream starts with an SMTP greeting or command)",
                    counters.frames
                )
            };
            return Err((problem, capture));
        }
        Ok(capture)
    }
}

/// The IP packet in a frame of this link type; `None` (counted) when the
/// frame is of a link type not read or cannot be decoded.
fn link<'a>(
    linktype: Linktype,
    data: &'a [u8],
    counters: &mut Counters,
) -> Option<LaxSlicedPacket<'a>> {
    let sliced = match linktype {
        Linktype::ETHERNET => LaxSlicedPacket::from_ethernet(data).ok(),
        Linktype::RAW | Linktype::IPV4 | Linktype::IPV6 | Linktype(12) | Linktype(14) => {
            LaxSlicedPacket::from_ip(data).ok()
        }
        Linktype::NULL | Linktype::LOOP => {
            // A 4-byte address family, host order for NULL, network order for LOOP.
            let Some(fam) = data.get(..4) else {
                counters.undecodable += 1;
                return None;
            };
            let le = u32::from_le_bytes([fam[0], fam[1], fam[2], fam[3]]);
            let be = u32::from_be_bytes([fam[0], fam[1], fam[2], fam[3]]);
            let family = if le < 256 { le } else { be };
            match family {
                2 | 24 | 28 | 30 => LaxSlicedPacket::from_ip(&data[4..]).ok(),
                _ => None,
            }
        }
        Linktype::LINUX_SLL => data.get(14..16).and_then(|p| {
            let proto = EtherType(u16::from_be_bytes([p[0], p[1]]));
            data.get(16..)
                .map(|rest| LaxSlicedPacket::from_ether_type(proto, rest))
        }),
        Linktype::LINUX_SLL2 => data.get(0..2).and_then(|p| {
            let proto = EtherType(u16::from_be_bytes([p[0], p[1]]));
            data.get(20..)
                .map(|rest| LaxSlicedPacket::from_ether_type(proto, rest))
        }),
        Linktype(other) => {
            counters.unsupported_link = Some(other);
            counters.unsupported_frames += 1;
            return None;
        }
    };
    if sliced.is_none() {
        counters.undecodable += 1;
    }
    sliced
}

fn frame(
    flows: &mut Flows,
    counters: &mut Counters,
    linktype: Linktype,
    data: &[u8],
    time: SystemTime,
    missing: usize,
) {
    counters.frames += 1;
    let Some(packet) = link(linktype, data, counters) else {
        return;
    };
    let (src_ip, dst_ip, payload) = match &packet.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                v4.payload(),
            )
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let h = v6.header();
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                v6.payload(),
            )
        }
        _ => return,
    };
    if payload.ip_number != IpNumber::TCP {
        return;
    }
    if payload.fragmented {
        counters.fragments += 1;
        return;
    }
    let Some(TransportSlice::Tcp(tcp)) = &packet.transport else {
        counters.undecodable += 1;
        return;
    };
    let segment = Segment {
        time,
        src: SocketAddr::new(src_ip, tcp.source_port()),
        dst: SocketAddr::new(dst_ip, tcp.destination_port()),
        seq: tcp.sequence_number(),
        syn: tcp.syn(),
        ack: tcp.ack(),
        ack_number: tcp.acknowledgment_number(),
        fin: tcp.fin(),
        rst: tcp.rst(),
        payload: tcp.payload(),
    };
    let missing = if payload.incomplete { missing } else { 0 };
    flows.segment(&segment, missing);
}
