//! `MAIL FROM:` / `RCPT TO:` argument parsing (RFC 5321 4.1.2), lenient about
//! the spaces real clients put after the colon and strict about the rest.

/// A parsed `FROM:<path> params` or `TO:<path> params` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathArg {
    /// The mailbox between the angle brackets (empty for the null path `<>`).
    pub mailbox: String,
    /// ESMTP parameters (`SIZE=123`, `BODY=8BITMIME`), keyword upper-cased.
    pub params: Vec<(String, Option<String>)>,
}

impl PathArg {
    /// `Some(value)` when a parameter is present (`Some(None)` without a value).
    pub fn param_present(&self, keyword: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(keyword))
            .map(|(_, v)| v.as_deref())
    }

    /// The value of a parameter, by case-insensitive keyword.
    pub fn param(&self, keyword: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(keyword))
            .and_then(|(_, v)| v.as_deref())
    }
}

/// Why an argument could not be parsed; the session turns this into 501.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// The `FROM:`/`TO:` keyword is missing.
    MissingKeyword,
    /// The path is not in angle brackets or is malformed.
    BadPath,
}

/// The longest mailbox RFC 5321 allows (its 256-octet path minus the angle
/// brackets); the session decides whether to enforce it (Postfix does not).
pub const MAX_MAILBOX: usize = 254;

/// Parse `args` of a MAIL (`keyword` = "FROM") or RCPT (`keyword` = "TO") command.
pub fn parse_path(args: &str, keyword: &str) -> Result<PathArg, PathError> {
    let head = args.get(..keyword.len()).ok_or(PathError::MissingKeyword)?;
    if !head.eq_ignore_ascii_case(keyword) {
        return Err(PathError::MissingKeyword);
    }
    let rest = args[keyword.len()..]
        .strip_prefix(':')
        .ok_or(PathError::MissingKeyword)?
        .trim_start();
    let (mailbox, rest) = if let Some(inner) = rest.strip_prefix('<') {
        let end = inner.find('>').ok_or(PathError::BadPath)?;
        (&inner[..end], &inner[end + 1..])
    } else {
        // Bare addresses are common from old clients; accept them as RFC 821
        // servers did, up to the first space.
        let end = rest.find(' ').unwrap_or(rest.len());
        if end == 0 {
            return Err(PathError::BadPath);
        }
        (&rest[..end], &rest[end..])
    };
    if mailbox.contains(['<', '>', ' ']) {
        return Err(PathError::BadPath);
    }
    // A source route (`@a,@b:user@c`) is obsolete; keep only the mailbox.
    let mailbox = match mailbox.rfind(':') {
        Some(i) if mailbox.starts_with('@') => &mailbox[i + 1..],
        _ => mailbox,
    };
    let params = rest
        .split_whitespace()
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_ascii_uppercase(), Some(v.to_string())),
            None => (p.to_ascii_uppercase(), None),
        })
        .collect();
    Ok(PathArg {
        mailbox: mailbox.to_string(),
        params,
    })
}

/// The domain of a mailbox (after the last `@`), lower-cased.
pub fn domain_of(mailbox: &str) -> Option<String> {
    mailbox
        .rsplit_once('@')
        .map(|(_, d)| d.trim_matches(['[', ']']).to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("FROM:<a@b.c>", "a@b.c")]
    #[case("from: <a@b.c> SIZE=10", "a@b.c")]
    #[case("FROM:<>", "")]
    #[case("FROM:a@b.c", "a@b.c")]
    #[case("FROM:<@relay.example:a@b.c>", "a@b.c")]
    fn parses_mailboxes(#[case] args: &str, #[case] mailbox: &str) {
        assert_eq!(parse_path(args, "FROM").unwrap().mailbox, mailbox);
    }

    #[rstest]
    #[case("TO <a@b>", PathError::MissingKeyword)]
    #[case("", PathError::MissingKeyword)]
    #[case("FROM:<a@b", PathError::BadPath)]
    #[case("FROM:", PathError::BadPath)]
    fn rejects(#[case] args: &str, #[case] err: PathError) {
        assert_eq!(parse_path(args, "FROM").unwrap_err(), err);
    }

    #[test]
    fn reads_params() {
        let p = parse_path("FROM:<a@b> size=123 BODY=8BITMIME", "FROM").unwrap();
        assert_eq!(p.param("SIZE"), Some("123"));
        assert_eq!(p.param("body"), Some("8BITMIME"));
        assert_eq!(domain_of("x@Example.COM").as_deref(), Some("example.com"));
    }
}
