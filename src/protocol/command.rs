//! A lenient command tokenizer.
//!
//! A mock must accept whatever a client sends and record it exactly, so
//! nothing here fails: unknown verbs, vendor verbs (`X-LINK2STATE`, `XEXCH50`),
//! NUL bytes and invalid UTF-8 all become a [`Command`] whose verb says what it
//! is. Deciding whether that is an error is the session's job.

use std::fmt;

/// The verb of a command line, upper-cased. Known verbs get a variant so the
/// session can dispatch without string compares; anything else is kept as text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Verb {
    /// `HELO` (RFC 5321 4.1.1.1).
    Helo,
    /// `EHLO` (RFC 5321 4.1.1.1).
    Ehlo,
    /// `MAIL FROM:` (RFC 5321 4.1.1.2).
    Mail,
    /// `RCPT TO:` (RFC 5321 4.1.1.3).
    Rcpt,
    /// `DATA` (RFC 5321 4.1.1.4).
    Data,
    /// `BDAT` (RFC 3030).
    Bdat,
    /// `RSET`.
    Rset,
    /// `NOOP`.
    Noop,
    /// `QUIT`.
    Quit,
    /// `VRFY`.
    Vrfy,
    /// `EXPN`.
    Expn,
    /// `HELP`.
    Help,
    /// `STARTTLS` (RFC 3207).
    Starttls,
    /// `AUTH` (RFC 4954).
    Auth,
    /// `ETRN` (RFC 1985).
    Etrn,
    /// Postfix's `XCLIENT`.
    Xclient,
    /// An empty line: no verb at all.
    Empty,
    /// Anything else, upper-cased as sent (lossy UTF-8).
    Other(String),
}

impl Verb {
    /// Classify an upper- or mixed-case verb.
    pub fn parse(word: &[u8]) -> Verb {
        // Known verbs are short ASCII words; compare case-insensitively
        // without allocating on the hot path.
        let known = [
            (&b"HELO"[..], Verb::Helo),
            (b"EHLO", Verb::Ehlo),
            (b"MAIL", Verb::Mail),
            (b"RCPT", Verb::Rcpt),
            (b"DATA", Verb::Data),
            (b"BDAT", Verb::Bdat),
            (b"RSET", Verb::Rset),
            (b"NOOP", Verb::Noop),
            (b"QUIT", Verb::Quit),
            (b"VRFY", Verb::Vrfy),
            (b"EXPN", Verb::Expn),
            (b"HELP", Verb::Help),
            (b"STARTTLS", Verb::Starttls),
            (b"AUTH", Verb::Auth),
            (b"ETRN", Verb::Etrn),
            (b"XCLIENT", Verb::Xclient),
        ];
        if word.is_empty() {
            return Verb::Empty;
        }
        for (name, verb) in known {
            if word.eq_ignore_ascii_case(name) {
                return verb;
            }
        }
        Verb::Other(String::from_utf8_lossy(word).to_ascii_uppercase())
    }

    /// The verb as it appears on the wire, upper-cased.
    pub fn as_str(&self) -> &str {
        match self {
            Verb::Helo => "HELO",
            Verb::Ehlo => "EHLO",
            Verb::Mail => "MAIL",
            Verb::Rcpt => "RCPT",
            Verb::Data => "DATA",
            Verb::Bdat => "BDAT",
            Verb::Rset => "RSET",
            Verb::Noop => "NOOP",
            Verb::Quit => "QUIT",
            Verb::Vrfy => "VRFY",
            Verb::Expn => "EXPN",
            Verb::Help => "HELP",
            Verb::Starttls => "STARTTLS",
            Verb::Auth => "AUTH",
            Verb::Etrn => "ETRN",
            Verb::Xclient => "XCLIENT",
            Verb::Empty => "",
            Verb::Other(s) => s,
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One command line as the client sent it, without its line ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// What kind of command this is.
    pub verb: Verb,
    /// Everything after the verb and the spaces that follow it (lossy UTF-8).
    pub args: String,
}

impl Command {
    /// `BDAT <size> [LAST]` (RFC 3030): the chunk's size and whether it is
    /// the last; `None` for any other verb or malformed arguments.
    pub fn bdat_chunk(&self) -> Option<(usize, bool)> {
        if self.verb != Verb::Bdat {
            return None;
        }
        let mut words = self.args.split_ascii_whitespace();
        let size = words.next()?.parse().ok()?;
        let last = match words.next() {
            None => false,
            Some(w) if w.eq_ignore_ascii_case("LAST") => true,
            Some(_) => return None,
        };
        words.next().is_none().then_some((size, last))
    }

    /// Tokenize a command line (without CRLF). Never fails.
    pub fn parse(line: &[u8]) -> Command {
        let line = trim_trailing_space(line);
        let split = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
        let verb = Verb::parse(&line[..split]);
        let rest = &line[split..];
        let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
        let args = String::from_utf8_lossy(&rest[start..]).into_owned();
        Command { verb, args }
    }

    /// True when the line held bytes no SMTP command may contain (NUL, other
    /// control characters, invalid UTF-8): a correct server answers 500.
    pub fn is_garbage(line: &[u8]) -> bool {
        std::str::from_utf8(line).is_err()
            || line.iter().any(|&b| b == 0 || (b < 0x20 && b != b'\t'))
    }
}

fn trim_trailing_space(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t'] = line {
        line = rest;
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(b"EHLO client.example", Verb::Ehlo, "client.example")]
    #[case(b"ehlo   spaced", Verb::Ehlo, "spaced")]
    #[case(b"MAIL FROM:<a@b> SIZE=10", Verb::Mail, "FROM:<a@b> SIZE=10")]
    #[case(b"quit", Verb::Quit, "")]
    #[case(b"X-LINK2STATE FIRST CHUNK", Verb::Other("X-LINK2STATE".into()), "FIRST CHUNK")]
    #[case(b"", Verb::Empty, "")]
    #[case(b"NOOP  ", Verb::Noop, "")]
    fn tokenizes(#[case] line: &[u8], #[case] verb: Verb, #[case] args: &str) {
        let cmd = Command::parse(line);
        assert_eq!(cmd.verb, verb);
        assert_eq!(cmd.args, args);
    }

    #[test]
    fn garbage_is_flagged_not_rejected() {
        assert!(Command::is_garbage(b"HE\0LO x"));
        assert!(Command::is_garbage(&[0xff, 0xfe, b'A']));
        assert!(!Command::is_garbage(b"HELO x"));
        let cmd = Command::parse(&[0xff, b' ', b'a']);
        assert_eq!(cmd.verb, Verb::Other("\u{fffd}".into()));
    }

    #[rstest]
    #[case(b"BDAT 12", Some((12, false)))]
    #[case(b"bdat 0 last", Some((0, true)))]
    #[case(b"BDAT 5 LAST ", Some((5, true)))]
    #[case(b"BDAT", None)]
    #[case(b"BDAT x", None)]
    #[case(b"BDAT 5 FIRST", None)]
    #[case(b"BDAT 5 LAST more", None)]
    #[case(b"DATA 5", None)]
    fn bdat_chunk_sizes(#[case] line: &[u8], #[case] want: Option<(usize, bool)>) {
        assert_eq!(Command::parse(line).bdat_chunk(), want);
    }
}
