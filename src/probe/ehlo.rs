//! EHLO keywords: which are advertised, which were overwritten with X's.

use crate::protocol::mask::keyword_name;

/// Is this keyword an ASA-style overwrite: X's of the keyword's length, the
/// last one possibly a letter counting the masked keywords (`XXXXXXXA`,
/// `XXXB`)? Real keywords never look like that (XEXCH50 and XRDST do not).
pub fn is_masked_keyword(keyword: &str) -> bool {
    let k = keyword.trim();
    let Some((last, head)) = k.as_bytes().split_last() else {
        return false;
    };
    head.len() >= 2 && head.iter().all(|&b| b == b'X') && last.is_ascii_uppercase()
}

/// Keywords from an EHLO reply's lines (the first line is the greeting).
pub fn keywords(lines: &[String]) -> Vec<String> {
    lines.iter().skip(1).map(|l| l.trim().to_string()).collect()
}

/// Is the keyword `name` (case-insensitive, `AUTH` matches `AUTH=LOGIN`) advertised?
pub fn advertises(keywords: &[String], name: &str) -> bool {
    keywords
        .iter()
        .any(|k| keyword_name(k).eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("XXXXXXXA", true)]
    #[case("XXXB", true)]
    #[case("XXXXXXXXXXXXXXXXXXXXXXXD", true)]
    #[case("XEXCH50", false)]
    #[case("XRDST", false)]
    #[case("X-LINK2STATE", false)]
    #[case("XA", false)]
    #[case("", false)]
    fn masked(#[case] k: &str, #[case] want: bool) {
        assert_eq!(is_masked_keyword(k), want, "{k}");
    }

    #[test]
    fn advertised_by_name() {
        let k = keywords(&["mx Hello".into(), "AUTH=LOGIN".into(), "8bitmime".into()]);
        assert!(advertises(&k, "AUTH"));
        assert!(advertises(&k, "8BITMIME"));
        assert!(!advertises(&k, "STARTTLS"));
    }
}
