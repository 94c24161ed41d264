//! What of an AUTH exchange (RFC 4954) may be written down.
//!
//! The `AUTH` line's initial response and every SASL response after a `334`
//! carry credentials (base64 of `\0user\0password`, a CRAM digest). The
//! server, the proxy and the importer all record client lines, so they share
//! this one definition of "an AUTH line" and of its redacted form. It is
//! deliberately wider than what a server accepts as `AUTH`: any case, a tab
//! after the verb, leading blanks, invalid UTF-8 in the arguments, a line cut
//! short because it was too long. What the client meant to send as a secret
//! is hidden even when the server would not take it as a command.

use bytes::Bytes;

/// What a SASL response (and an unreadable AUTH argument) is recorded as.
pub const REDACTED: &str = "<redacted>";

/// What `import --redact` writes instead (base64 of `redacted`, so the
/// scenario's lines stay valid base64).
pub const REDACTED_BASE64: &str = "cmVkYWN0ZWQ=";

fn blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// The words of `line` as (start, end) offsets, split on spaces and tabs.
fn words(line: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < line.len() && blank(line[at]) {
            at += 1;
        }
        if at == line.len() {
            return None;
        }
        let start = at;
        while at < line.len() && !blank(line[at]) {
            at += 1;
        }
        Some((start, at))
    })
}

/// The longest SASL response line a server must accept, CRLF included
/// (RFC 4954 4: "12288 octets is considered to be a sufficient line length
/// limit"; Postfix's `smtpd_sasl_response_limit` defaults to it). Longer
/// than a command line: a Kerberos ticket in base64 does not fit in 512.
pub const RESPONSE_LINE_LIMIT: usize = 12288;

/// Is this an `AUTH` command line, in any case and spacing?
pub fn is_auth(line: &[u8]) -> bool {
    words(line)
        .next()
        .is_some_and(|(s, e)| line[s..e].eq_ignore_ascii_case(b"AUTH"))
}

/// A SASL mechanism name (RFC 4422 3.1: 1 to 20 of `A-Z 0-9 - _`). Anything
/// else in that place may be a misplaced credential, so it is not shown.
fn mechanism_name(word: &[u8]) -> bool {
    (1..=20).contains(&word.len())
        && word
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
}

/// The form of an `AUTH` line that may be recorded, or `None` when `line` is
/// not an AUTH line or carries nothing secret (`AUTH PLAIN`).
///
/// `cut` says the line is only the start of what the client sent (the head
/// of an overlong line, a line the connection lost before its end): then a
/// secret may follow, so it is redacted even when none is visible yet.
pub fn redact_auth(line: &[u8], cut: bool) -> Option<Bytes> {
    let mut w = words(line);
    let (vs, ve) = w.next()?;
    let verb = &line[vs..ve];
    if !verb.eq_ignore_ascii_case(b"AUTH") {
        return None;
    }
    let verb = String::from_utf8_lossy(verb);
    let Some((ms, me)) = w.next() else {
        return cut.then(|| Bytes::from(format!("{verb} {REDACTED}")));
    };
    let mech = &line[ms..me];
    // The mechanism word runs to the end of a cut line: it may go on.
    let mech_whole = !(cut && me == line.len());
    if !mechanism_name(mech) || !mech_whole {
        return Some(Bytes::from(format!("{verb} {REDACTED}")));
    }
    if w.next().is_none() && !cut {
        return None;
    }
    Some(Bytes::from(format!(
        "{verb} {} {REDACTED}",
        String::from_utf8_lossy(mech)
    )))
}

/// What may be recorded of a client line (`cut`: only its start, see
/// [`redact_auth`]): `<redacted>` for a SASL `response`, an AUTH line
/// without its credentials, any other line as it is.
pub fn shown(line: &[u8], cut: bool, response: bool) -> Bytes {
    if response {
        return Bytes::from_static(REDACTED.as_bytes());
    }
    redact_auth(line, cut).unwrap_or_else(|| Bytes::copy_from_slice(line))
}

/// An AUTH exchange seen from outside (the proxy): which client lines are
/// SASL responses. A line is one when the reply to the line before it was
/// `334`, or when that reply has not come yet and the mechanism still owes
/// responses (a client that did not wait: `AUTH LOGIN` is followed by two,
/// `AUTH PLAIN` without an initial response by one, `AUTH PLAIN <initial>`
/// by none). Counting per mechanism keeps a pipelined `MAIL` or `DATA` after
/// the exchange a command.
#[derive(Debug, Default)]
pub struct Exchange {
    /// The reply to the latest client line was 334.
    open: bool,
    /// Responses the mechanism may still send before its replies arrive.
    owed: u8,
}

impl Exchange {
    /// Is the client's next line a SASL response?
    pub fn response_due(&self) -> bool {
        self.open || self.owed > 0
    }

    /// A SASL response was relayed.
    pub fn response(&mut self) {
        self.open = false;
        self.owed = self.owed.saturating_sub(1);
    }

    /// An `AUTH` line was relayed.
    pub fn auth(&mut self, line: &[u8]) {
        self.open = false;
        let mut w = words(line).skip(1);
        let mech = w.next().map(|(s, e)| &line[s..e]);
        let initial = w.next().is_some();
        let login = mech.is_some_and(|m| m.eq_ignore_ascii_case(b"LOGIN"));
        self.owed = match (login, initial) {
            (true, false) => 2,
            (_, false) => 1,
            (true, true) => 1,
            (false, true) => 0,
        };
    }

    /// The reply to an exchange line (the `AUTH` line or a response);
    /// `latest` when no later client line is still waiting for its reply.
    pub fn reply(&mut self, code: u16, latest: bool) {
        if code == 334 {
            self.open |= latest;
        } else {
            self.open = false;
            self.owed = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(
        b"AUTH PLAIN AGFsaWNlAHNlY3JldA==",
        false,
        Some("AUTH PLAIN <redacted>")
    )]
    #[case(
        b"auth plain AGFsaWNlAHNlY3JldA==",
        false,
        Some("auth plain <redacted>")
    )]
    #[case(
        b"AUTH\tPLAIN\tAGFsaWNlAHNlY3JldA==",
        false,
        Some("AUTH PLAIN <redacted>")
    )]
    #[case(b"  AUTH  LOGIN  YWxpY2U=  ", false, Some("AUTH LOGIN <redacted>"))]
    #[case(b"AUTH PLAIN \xff\xfe", false, Some("AUTH PLAIN <redacted>"))]
    #[case(
        b"AUTH AGFsaWNlAHNlY3JldEFuZE1vcmVBbmRNb3Jl",
        false,
        Some("AUTH <redacted>")
    )]
    #[case(b"AUTH PLAIN", false, None)]
    #[case(b"AUTH", false, None)]
    #[case(b"AUTHX PLAIN AGFsaWNl", false, None)]
    #[case(b"MAIL FROM:<a@b>", false, None)]
    // Heads of lines that went on.
    #[case(b"AUTH PLAIN", true, Some("AUTH <redacted>"))]
    #[case(b"AUTH PLAIN ", true, Some("AUTH PLAIN <redacted>"))]
    #[case(b"AUTH PLAIN AGFsaW", true, Some("AUTH PLAIN <redacted>"))]
    #[case(b"AUTH PLA", true, Some("AUTH <redacted>"))]
    #[case(b"AUTH ", true, Some("AUTH <redacted>"))]
    #[case(b"MAIL FROM:<a@b>", true, None)]
    fn auth_lines(#[case] line: &[u8], #[case] cut: bool, #[case] want: Option<&str>) {
        let got = redact_auth(line, cut);
        assert_eq!(got.as_deref(), want.map(str::as_bytes));
        if want.is_some() {
            assert!(is_auth(line));
        }
    }

    #[test]
    fn exchange_in_lockstep() {
        let mut x = Exchange::default();
        x.auth(b"AUTH LOGIN");
        x.reply(334, true);
        assert!(x.response_due());
        x.response();
        x.reply(334, true);
        assert!(x.response_due());
        x.response();
        x.reply(235, true);
        assert!(!x.response_due());
    }

    #[test]
    fn exchange_pipelined_by_an_impatient_client() {
        // AUTH LOGIN, user, password, MAIL in one write.
        let mut x = Exchange::default();
        x.auth(b"auth login");
        assert!(x.response_due());
        x.response();
        assert!(x.response_due());
        x.response();
        assert!(!x.response_due(), "the MAIL after them is a command");
        x.reply(334, false);
        x.reply(334, false);
        x.reply(235, false);
        assert!(!x.response_due());
        // AUTH PLAIN with its initial response owes nothing.
        x.auth(b"AUTH PLAIN AGFsaWNlAHg=");
        assert!(!x.response_due());
        // ... unless the server asks for more.
        x.reply(334, true);
        assert!(x.response_due());
    }

    #[test]
    fn a_refusal_ends_the_exchange() {
        let mut x = Exchange::default();
        x.auth(b"AUTH LOGIN");
        x.reply(504, true);
        assert!(!x.response_due());
    }
}
