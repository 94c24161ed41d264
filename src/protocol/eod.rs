//! Which octet sequences end a DATA message, and which bare newlines in it
//! a receiver refuses.
//!
//! RFC 5321's only end of data is `<CR><LF>.<CR><LF>`. Real receivers
//! differ: one that also takes `<LF>.<CR><LF>` (or `<LF>.<LF>`,
//! `<CR>.<CR>` …) behind an outbound server that passes such a sequence
//! through ends the message early and reads what follows as commands: a
//! second, "smuggled" message (SMTP smuggling, CVE-2023-51764/51765/51766).
//! The harness plays either kind, so a gateway can be tested against both.

use std::fmt;

/// A line break as received in message content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Break {
    /// `<CR><LF>`.
    Crlf,
    /// A bare `<LF>` (no CR before it).
    Lf,
    /// A bare `<CR>` (no LF after it).
    Cr,
}

impl Break {
    const ALL: [Break; 3] = [Break::Crlf, Break::Lf, Break::Cr];

    fn index(self) -> usize {
        match self {
            Break::Crlf => 0,
            Break::Lf => 1,
            Break::Cr => 2,
        }
    }

    /// `crlf`, `lf` or `cr`.
    pub fn name(self) -> &'static str {
        match self {
            Break::Crlf => "crlf",
            Break::Lf => "lf",
            Break::Cr => "cr",
        }
    }

    /// `<CRLF>`, `<LF>` or `<CR>`, as write-ups spell them.
    pub fn wire(self) -> &'static str {
        match self {
            Break::Crlf => "<CRLF>",
            Break::Lf => "<LF>",
            Break::Cr => "<CR>",
        }
    }

    fn parse(s: &str) -> Option<Break> {
        Break::ALL.into_iter().find(|b| b.name() == s)
    }
}

/// An end-of-data sequence: the break before the dot and the one after it.
/// The start of the message counts as a `<CRLF>` (the one ending `DATA`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Seq {
    /// Before the dot.
    pub before: Break,
    /// After the dot.
    pub after: Break,
}

impl Seq {
    /// `<CRLF>.<CRLF>`, RFC 5321's.
    pub const STANDARD: Seq = Seq {
        before: Break::Crlf,
        after: Break::Crlf,
    };

    /// Every combination, standard first.
    pub fn all() -> impl Iterator<Item = Seq> {
        Break::ALL.into_iter().flat_map(|before| {
            Break::ALL
                .into_iter()
                .map(move |after| Seq { before, after })
        })
    }

    fn bit(self) -> u16 {
        1 << (self.before.index() * 3 + self.after.index())
    }

    /// The name scenarios use: `lf.crlf`.
    #[cfg(test)]
    pub fn name(self) -> String {
        format!("{}.{}", self.before.name(), self.after.name())
    }

    /// As write-ups spell it: `<LF>.<CRLF>`.
    pub fn wire(self) -> String {
        format!("{}.{}", self.before.wire(), self.after.wire())
    }

    /// `lf.crlf`, case-insensitive; `<LF>.<CR><LF>` and `<LF>.<CRLF>` too.
    pub fn parse(s: &str) -> Option<Seq> {
        let plain: String = s
            .chars()
            .filter(|c| !matches!(c, '<' | '>' | ' '))
            .collect::<String>()
            .to_ascii_lowercase();
        let (before, after) = plain.split_once('.')?;
        Some(Seq {
            before: Break::parse(before)?,
            after: Break::parse(after)?,
        })
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.wire())
    }
}

/// What ends a message and which bare newlines are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndOfData {
    ends: u16,
    /// A message holding a bare LF is refused at its end, which must be
    /// `<CRLF>.<CRLF>` (no sequence with a bare LF ends it), as Postfix's
    /// `smtpd_forbid_bare_newline = reject`.
    pub refuse_bare_lf: bool,
    /// Same for a bare CR (as sendmail 8.18's `srv_features` option `u`).
    pub refuse_bare_cr: bool,
}

impl EndOfData {
    /// RFC 5321: `<CRLF>.<CRLF>` only, no bare newline refused.
    pub const STRICT: EndOfData = EndOfData {
        ends: 1,
        refuse_bare_lf: false,
        refuse_bare_cr: false,
    };

    /// The named presets a scenario may use, with their sequences.
    pub const PRESETS: &'static [(&'static str, &'static [&'static str])] = &[
        ("strict", &["crlf.crlf"]),
        // Postfix before 3.9 reads lines ending in LF, CR optional, so a
        // "." line ended by either after a line ended by either ends it.
        ("postfix", &["crlf.crlf", "lf.lf", "lf.crlf", "crlf.lf"]),
        ("exchange", &["crlf.crlf", "lf.crlf"]),
        (
            "lenient",
            &[
                "crlf.crlf",
                "crlf.lf",
                "crlf.cr",
                "lf.crlf",
                "lf.lf",
                "lf.cr",
                "cr.crlf",
                "cr.lf",
                "cr.cr",
            ],
        ),
    ];

    /// The preset called `name`.
    pub fn preset(name: &str) -> Option<EndOfData> {
        let (_, seqs) = Self::PRESETS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))?;
        let mut eod = Self::STRICT;
        for s in seqs.iter() {
            eod = eod.with(Seq::parse(s)?);
        }
        Some(eod)
    }

    /// Also end at `seq` (`<CRLF>.<CRLF>` always ends a message).
    pub fn with(mut self, seq: Seq) -> EndOfData {
        self.ends |= seq.bit();
        self
    }

    /// Does `seq` end a message?
    pub fn ends_at(&self, seq: Seq) -> bool {
        self.ends & seq.bit() != 0
    }

    /// Is a bare `kind` refused?
    pub fn refuses(&self, kind: Break) -> bool {
        match kind {
            Break::Lf => self.refuse_bare_lf,
            Break::Cr => self.refuse_bare_cr,
            Break::Crlf => false,
        }
    }

    /// The sequences that end a message, standard first.
    pub fn sequences(&self) -> Vec<Seq> {
        Seq::all().filter(|s| self.ends_at(*s)).collect()
    }
}

impl Default for EndOfData {
    fn default() -> EndOfData {
        EndOfData::STRICT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_write_up_spellings_parse() {
        for seq in Seq::all() {
            assert_eq!(Seq::parse(&seq.name()), Some(seq));
            assert_eq!(Seq::parse(&seq.wire()), Some(seq));
        }
        assert_eq!(
            Seq::parse("<LF>.<CR><LF>"),
            Some(Seq {
                before: Break::Lf,
                after: Break::Crlf
            })
        );
        assert_eq!(Seq::parse("lf"), None);
        assert_eq!(Seq::parse("lf.xx"), None);
    }

    #[test]
    fn presets_hold_what_they_say() {
        assert_eq!(EndOfData::preset("strict"), Some(EndOfData::STRICT));
        let lenient = EndOfData::preset("lenient").unwrap();
        assert_eq!(lenient.sequences().len(), 9);
        let exchange = EndOfData::preset("Exchange").unwrap();
        assert_eq!(
            exchange
                .sequences()
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>(),
            ["crlf.crlf", "lf.crlf"]
        );
        assert_eq!(EndOfData::preset("postfix").unwrap().sequences().len(), 4);
        assert!(EndOfData::preset("qmail").is_none());
    }
}
