//! Server replies: one code, one or more lines of text.
//!
//! Replies are formatted here and nowhere else, so every reply the harness
//! writes has the RFC 5321 4.2 shape: `CODE-text` on every line but the last,
//! `CODE text` on the last, CRLF after each.

use bytes::{BufMut, BytesMut};
use std::fmt;

/// A complete SMTP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit reply code (200–599 for anything a server sends).
    pub code: u16,
    /// The text of each line, without code, separator or CRLF. Never empty.
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply. `text` may carry an enhanced status code
    /// (`"2.1.0 Sender OK"`); it is sent as written.
    pub fn new(code: u16, text: impl Into<String>) -> Reply {
        Reply {
            code,
            lines: vec![text.into()],
        }
    }

    /// A multi-line reply; an empty `lines` becomes one empty line.
    pub fn multi(code: u16, lines: Vec<String>) -> Reply {
        let lines = if lines.is_empty() {
            vec![String::new()]
        } else {
            lines
        };
        Reply { code, lines }
    }

    /// The class of the reply: 2 positive, 3 intermediate, 4 transient, 5 permanent.
    pub fn class(&self) -> u16 {
        self.code / 100
    }

    /// Append the wire form to `out`.
    pub fn write_to(&self, out: &mut BytesMut) {
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            out.reserve(line.len() + 6);
            write_code(out, self.code);
            if i < last {
                out.put_u8(b'-');
                out.put_slice(line.as_bytes());
            } else if !line.is_empty() {
                out.put_u8(b' ');
                out.put_slice(line.as_bytes());
            }
            out.put_slice(b"\r\n");
        }
    }

    /// The wire form as bytes.
    pub fn to_bytes(&self) -> BytesMut {
        let mut out = BytesMut::new();
        self.write_to(&mut out);
        out
    }

    /// Parse one reply line: `(code, is_last, text)`. `None` when the line
    /// does not start with three digits followed by space, dash or nothing.
    pub fn parse_line(line: &[u8]) -> Option<(u16, bool, &[u8])> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
            return None;
        }
        let code = line[..3]
            .iter()
            .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
        match line.get(3) {
            None => Some((code, true, &line[3..])),
            Some(b' ') => Some((code, true, &line[4..])),
            Some(b'-') => Some((code, false, &line[4..])),
            Some(_) => None,
        }
    }
}

fn write_code(out: &mut BytesMut, code: u16) {
    let code = code.min(999);
    out.put_u8(b'0' + (code / 100) as u8);
    out.put_u8(b'0' + (code / 10 % 10) as u8);
    out.put_u8(b'0' + (code % 10) as u8);
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.to_bytes();
        f.write_str(String::from_utf8_lossy(&bytes).trim_end())
    }
}

/// Accumulates reply lines read from a server until the reply is complete.
#[derive(Debug, Default)]
pub struct ReplyAssembler {
    code: Option<u16>,
    lines: Vec<String>,
}

impl ReplyAssembler {
    /// Feed one line (with or without its CRLF). Returns the finished reply
    /// after its last line, or an error for a line that is not a reply line.
    pub fn push(&mut self, line: &[u8]) -> Result<Option<Reply>, String> {
        let Some((code, last, text)) = Reply::parse_line(line) else {
            return Err(format!(
                "not an SMTP reply line: {:?}",
                String::from_utf8_lossy(line).trim_end()
            ));
        };
        self.code.get_or_insert(code);
        self.lines.push(String::from_utf8_lossy(text).into_owned());
        if last {
            let code = self.code.take().unwrap_or(code);
            return Ok(Some(Reply::multi(code, std::mem::take(&mut self.lines))));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn formats_multi_line() {
        let r = Reply::multi(
            250,
            vec!["mx Hello".into(), "SIZE 100".into(), "8BITMIME".into()],
        );
        assert_eq!(
            &r.to_bytes()[..],
            b"250-mx Hello\r\n250-SIZE 100\r\n250 8BITMIME\r\n"
        );
    }

    #[test]
    fn formats_bare_code() {
        assert_eq!(&Reply::new(250, "").to_bytes()[..], b"250\r\n");
    }

    #[rstest]
    #[case(b"250-PIPELINING\r\n", Some((250, false, &b"PIPELINING"[..])))]
    #[case(b"220 ready", Some((220, true, &b"ready"[..])))]
    #[case(b"250", Some((250, true, &b""[..])))]
    #[case(b"25x ok", None)]
    #[case(b"2500", None)]
    fn parses_lines(#[case] line: &[u8], #[case] want: Option<(u16, bool, &[u8])>) {
        assert_eq!(Reply::parse_line(line), want);
    }

    #[test]
    fn assembles() {
        let mut a = ReplyAssembler::default();
        assert_eq!(a.push(b"250-a\r\n"), Ok(None));
        let r = a.push(b"250 b\r\n").unwrap().unwrap();
        assert_eq!(r, Reply::multi(250, vec!["a".into(), "b".into()]));
        assert!(a.push(b"hello").is_err());
    }
}
