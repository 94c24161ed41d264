//! Which importer reads a file: decided from its first bytes, never from
//! its name.

use std::fmt;
use std::str::FromStr;

/// A capture format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// swaks output.
    Swaks,
    /// Exchange SMTP Receive/Send protocol log.
    Exchange,
    /// pcap (libpcap) capture.
    Pcap,
    /// pcapng capture.
    Pcapng,
    /// The harness's own JSON Lines transcript.
    JsonLines,
}

impl Format {
    /// Every format, for help texts.
    #[cfg(any(test, feature = "internals"))]
    pub const ALL: [Format; 5] = [
        Format::Swaks,
        Format::Exchange,
        Format::Pcap,
        Format::Pcapng,
        Format::JsonLines,
    ];

    /// The name used by `--format`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Swaks => "swaks",
            Format::Exchange => "exchange",
            Format::Pcap => "pcap",
            Format::Pcapng => "pcapng",
            Format::JsonLines => "jsonl",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s.to_ascii_lowercase().as_str() {
            "swaks" => Ok(Format::Swaks),
            "exchange" | "exchange-log" => Ok(Format::Exchange),
            "pcap" => Ok(Format::Pcap),
            "pcapng" => Ok(Format::Pcapng),
            "jsonl" | "json" | "json-lines" | "transcript" => Ok(Format::JsonLines),
            other => Err(format!(
                "unknown capture format {other:?}; use one of swaks, exchange, pcap, pcapng, jsonl"
            )),
        }
    }
}

/// Guess the format from the first bytes of a file (a few KiB are enough).
/// `None` when nothing fits.
pub fn detect(head: &[u8]) -> Option<Format> {
    if let Some(magic) = head.get(..4) {
        match magic {
            [0xd4, 0xc3, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0xc3, 0xd4]
            | [0x4d, 0x3c, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0x3c, 0x4d] => return Some(Format::Pcap),
            [0x0a, 0x0d, 0x0d, 0x0a] => return Some(Format::Pcapng),
            _ => {}
        }
    }
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let mut swaks = 0;
    let mut lines = 0;
    for raw in head.split(|&b| b == b'\n').take(200) {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.is_empty() {
            continue;
        }
        lines += 1;
        if line.starts_with(b"#Software: Microsoft Exchange")
            || line.starts_with(b"#Log-type: SMTP")
            || line.starts_with(b"#Fields: date-time,")
        {
            return Some(Format::Exchange);
        }
        if lines == 1
            && line.starts_with(b"{")
            && memchr::memmem::find(line, b"\"session\"").is_some()
            && memchr::memmem::find(line, b"\"type\"").is_some()
        {
            return Some(Format::JsonLines);
        }
        if [
            &b"=== "[..],
            b" -> ",
            b"<-  ",
            b" ~> ",
            b"<~  ",
            b"<** ",
            b"**> ",
        ]
        .iter()
        .any(|p| line.starts_with(p))
        {
            swaks += 1;
        }
    }
    if swaks > 0 && swaks * 2 >= lines.min(20) {
        return Some(Format::Swaks);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects() {
        assert_eq!(detect(b"\xd4\xc3\xb2\xa1rest"), Some(Format::Pcap));
        assert_eq!(detect(b"\x0a\x0d\x0d\x0a"), Some(Format::Pcapng));
        assert_eq!(
            detect(b"#Software: Microsoft Exchange Server\n"),
            Some(Format::Exchange)
        );
        assert_eq!(
            detect(b"{\"session\":1,\"at_us\":0,\"type\":\"connect\"}\n"),
            Some(Format::JsonLines)
        );
        assert_eq!(
            detect(b"=== Trying x:25...\n<-  220 hi\n"),
            Some(Format::Swaks)
        );
        assert_eq!(detect(b""), None);
        assert_eq!(detect(b"\x00\x01\x02 random"), None);
        assert_eq!("PCAP".parse::<Format>(), Ok(Format::Pcap));
    }
}
