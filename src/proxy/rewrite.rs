//! The proxy's in-place edits, as pure functions over bytes: banner masking,
//! verb masking, EHLO keyword rewriting and envelope address rewriting.
//!
//! Each returns `None` when it changes nothing, so the caller can forward the
//! peer's original bytes and the transcript only marks real changes.

use super::compile::{AddressMap, EhloRewrite};
use crate::protocol::Reply;
use crate::protocol::address::{domain_of, parse_path};
use crate::protocol::command::Command;
use crate::protocol::mask::{BannerMask, keyword_name, mask_banner_text, mask_keywords};

/// Mask every line of a greeting in place: code, separator and line ending
/// are kept, every other byte goes through [`mask_banner_text`], so the
/// length on the wire does not change (what PIX and ASA do).
pub fn mask_banner(raw: &[u8], mode: BannerMask) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    for line in raw.split_inclusive(|&b| b == b'\n') {
        let body_end = line
            .iter()
            .rposition(|&b| b != b'\r' && b != b'\n')
            .map_or(0, |i| i + 1);
        let (body, ending) = line.split_at(body_end);
        // `220 ` / `220-` stay; a line too short to have a code stays too.
        let keep = if body.len() >= 4 { 4 } else { body.len() };
        out.extend_from_slice(&body[..keep]);
        // Byte by byte, so an 8-bit banner keeps its length too.
        let text: String = body[keep..].iter().map(|&b| b as char).collect();
        let masked = mask_banner_text(&text, mode);
        out.extend(masked.chars().map(|c| c as u8));
        out.extend_from_slice(ending);
    }
    out
}

/// Overwrite the verb of a command line with `X`s of the same length, keep
/// the rest byte for byte (PIX Mailguard, ASA `inspect esmtp`).
pub fn mask_verb(line: &[u8]) -> Vec<u8> {
    let verb_len = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let mut out = line.to_vec();
    for b in &mut out[..verb_len] {
        // Leave a trailing CR/LF alone when the line is only a verb.
        if *b != b'\r' && *b != b'\n' {
            *b = b'X';
        }
    }
    out
}

/// Rewrite an EHLO reply: remove keywords by name (and STARTTLS when
/// `strip_starttls`), mask the ones not in `mask_except`, append `add`.
pub fn rewrite_ehlo(reply: &Reply, rules: &EhloRewrite, strip_starttls: bool) -> Option<Reply> {
    if reply.code != 250 || reply.lines.is_empty() {
        return None;
    }
    let greeting = reply.lines[0].clone();
    let original: Vec<String> = reply.lines[1..].to_vec();
    let mut keywords: Vec<String> = original
        .iter()
        .filter(|k| {
            let name = keyword_name(k);
            !(rules.remove.contains(&name) || strip_starttls && name == "STARTTLS")
        })
        .cloned()
        .collect();
    if let Some(allowed) = &rules.mask_except {
        keywords = mask_keywords(&keywords, allowed);
    }
    keywords.extend(rules.add.iter().cloned());
    if keywords == original {
        return None;
    }
    let mut lines = vec![greeting];
    lines.extend(keywords);
    Some(Reply::multi(250, lines))
}

/// Rewrite the mailbox's domain in a `MAIL FROM:` (`keyword` = "FROM") or
/// `RCPT TO:` (`keyword` = "TO") line, keeping everything else. `None` when
/// the domain is not mapped or the line does not parse (it is then relayed
/// as sent: the upstream decides what a malformed command deserves).
pub fn rewrite_address(line: &[u8], keyword: &str, map: &AddressMap) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(line).ok()?;
    let cmd = Command::parse(line);
    let path = parse_path(&cmd.args, keyword).ok()?;
    let domain = domain_of(&path.mailbox)?;
    let new_domain = map.lookup(&domain)?;
    let at = path.mailbox.rfind('@')?;
    let new_mailbox = format!("{}@{new_domain}", &path.mailbox[..at]);
    // The mailbox sits after the colon; search there so a verb or keyword
    // that happens to contain it cannot be hit.
    let colon = text.find(':')?;
    let pos = text[colon..].find(&path.mailbox)? + colon;
    let mut out = String::with_capacity(text.len() + new_domain.len());
    out.push_str(&text[..pos]);
    out.push_str(&new_mailbox);
    out.push_str(&text[pos + path.mailbox.len()..]);
    Some(out.into_bytes())
}

/// The wire lines of `raw` without their endings, for the transcript.
pub fn wire_lines(raw: &[u8]) -> Vec<String> {
    raw.split_inclusive(|&b| b == b'\n')
        .map(|l| {
            let l = l.strip_suffix(b"\n").unwrap_or(l);
            let l = l.strip_suffix(b"\r").unwrap_or(l);
            String::from_utf8_lossy(l).into_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn banner_mask_keeps_length_code_and_crlf() {
        let raw =
            b"220-mail.adatum.com Microsoft ESMTP 6.0.3790 ready at 2026\r\n220 second line\r\n";
        let out = mask_banner(raw, BannerMask::Pix);
        assert_eq!(out.len(), raw.len());
        let text = String::from_utf8(out).unwrap();
        let re = regex::Regex::new(r"^220-[\*\d ]{2,300}\r\n220 [\*\d ]{2,300}\r\n$").unwrap();
        assert!(re.is_match(&text), "{text:?}");
        assert!(text.contains("0"), "digits 2 and 0 survive: {text:?}");
        assert!(!text.contains('3'), "{text:?}");
    }

    #[test]
    fn banner_mask_handles_8bit_bytes_without_changing_length() {
        let raw = b"220 caf\xc3\xa9 \xff\r\n";
        let out = mask_banner(raw, BannerMask::All);
        assert_eq!(out, b"220 *******\r\n");
    }

    #[rstest]
    #[case(b"EHLO client.example", b"XXXX client.example")]
    #[case(b"STARTTLS", b"XXXXXXXX")]
    #[case(b"X-LINK2STATE FIRST CHUNK", b"XXXXXXXXXXXX FIRST CHUNK")]
    fn verb_mask_keeps_length(#[case] line: &[u8], #[case] want: &[u8]) {
        assert_eq!(mask_verb(line), want);
    }

    fn ehlo(lines: &[&str]) -> Reply {
        Reply::multi(250, lines.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn ehlo_remove_mask_add_in_that_order() {
        let r = ehlo(&[
            "mx Hello",
            "PIPELINING",
            "CHUNKING",
            "STARTTLS",
            "TURN",
            "AUTH=LOGIN",
        ]);
        let rules = EhloRewrite {
            remove: vec!["CHUNKING".into()],
            mask_except: Some(vec!["PIPELINING".into(), "AUTH".into()]),
            add: vec!["XFOO".into()],
        };
        let out = rewrite_ehlo(&r, &rules, false).unwrap();
        assert_eq!(
            out.lines,
            [
                "mx Hello",
                "PIPELINING",
                "XXXXXXXA",
                "XXXB",
                "AUTH=LOGIN",
                "XFOO"
            ]
        );
    }

    #[test]
    fn ehlo_strip_starttls_and_no_change_is_none() {
        let r = ehlo(&["mx", "SIZE 10", "STARTTLS"]);
        let out = rewrite_ehlo(&r, &EhloRewrite::default(), true).unwrap();
        assert_eq!(out.lines, ["mx", "SIZE 10"]);
        assert!(rewrite_ehlo(&out, &EhloRewrite::default(), true).is_none());
        assert!(rewrite_ehlo(&Reply::new(500, "no"), &EhloRewrite::default(), true).is_none());
    }

    fn map() -> AddressMap {
        AddressMap {
            domains: vec![("cpandl.net".into(), "adatum.com".into())],
            mail_from: true,
            rcpt_to: true,
        }
    }

    #[rstest]
    #[case(
        "MAIL FROM:<kim@cpandl.net> SIZE=100",
        "FROM",
        Some("MAIL FROM:<kim@adatum.com> SIZE=100")
    )]
    #[case("rcpt to: <Kim@CPANDL.NET>", "TO", Some("rcpt to: <Kim@adatum.com>"))]
    #[case("RCPT TO:<kim@other.net>", "TO", None)]
    #[case("MAIL FROM:<>", "FROM", None)]
    #[case("MAIL FROM:<broken", "FROM", None)]
    fn address_rewriting(#[case] line: &str, #[case] kw: &str, #[case] want: Option<&str>) {
        let got = rewrite_address(line.as_bytes(), kw, &map());
        assert_eq!(got.as_deref(), want.map(str::as_bytes));
    }
}
