//! How middleboxes deface SMTP in place, shared by the scenarios that show
//! the result and the proxy that does it live.
//!
//! Both Cisco PIX Mailguard and ASA `inspect esmtp` never change lengths:
//! they overwrite bytes. That is what fingerprinting tools key on, so the
//! exact rules live here and nowhere else.

use serde::{Deserialize, Serialize};

/// How a greeting is masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BannerMask {
    /// PIX 5.1 and later, ASA `mask-banner`: every character but the digits
    /// `2` and `0` becomes `*`.
    Pix,
    /// PIX 4.4: every character becomes `*`.
    All,
}

/// Mask the text of one banner line (the part after `220 ` / `220-`),
/// keeping its length. The result matches nmap's "Cisco PIX sanitized smtpd"
/// signature `^220 [\*\d\ ]{2,300}\r\n`.
pub fn mask_banner_text(text: &str, mode: BannerMask) -> String {
    text.chars()
        .map(|c| match (mode, c) {
            (BannerMask::Pix, '2' | '0') => c,
            _ => '*',
        })
        .collect()
}

/// The keyword's name: the part before the first space or `=`, upper-cased
/// (`AUTH=LOGIN` and `AUTH LOGIN` are both `AUTH`).
pub fn keyword_name(keyword: &str) -> String {
    keyword
        .split([' ', '='])
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase()
}

/// Overwrite an EHLO keyword in place the way ASA does: `X`s of the same
/// length, the last character a letter counting the masked keywords
/// (`STARTTLS` → `XXXXXXXA`, the next one → `…B`), as seen in captures.
pub fn mask_keyword(keyword: &str, ordinal: usize) -> String {
    let len = keyword.chars().count();
    if len == 0 {
        return String::new();
    }
    let mut out = "X".repeat(len - 1);
    out.push((b'A' + (ordinal % 26) as u8) as char);
    out
}

/// Mask every keyword whose name is not in `allowed`, numbering the masked
/// ones in order.
pub fn mask_keywords(keywords: &[String], allowed: &[String]) -> Vec<String> {
    let mut ordinal = 0;
    keywords
        .iter()
        .map(|k| {
            let name = keyword_name(k);
            if allowed.iter().any(|a| a.eq_ignore_ascii_case(&name)) {
                k.clone()
            } else {
                ordinal += 1;
                mask_keyword(k, ordinal - 1)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pix_keeps_only_two_and_zero() {
        let masked = mask_banner_text("mx Version: 6.0.3790 at 20:02", BannerMask::Pix);
        assert_eq!(masked.len(), "mx Version: 6.0.3790 at 20:02".len());
        assert!(masked.chars().all(|c| matches!(c, '*' | '2' | '0')));
        assert_eq!(mask_banner_text("a20b", BannerMask::Pix), "*20*");
        assert_eq!(mask_banner_text("a20b", BannerMask::All), "****");
    }

    #[test]
    fn asa_keyword_masking_matches_captures() {
        let kws: Vec<String> = ["PIPELINING", "STARTTLS", "TURN"].map(String::from).into();
        let allowed = vec!["PIPELINING".to_string()];
        assert_eq!(
            mask_keywords(&kws, &allowed),
            ["PIPELINING", "XXXXXXXA", "XXXB"]
        );
        assert_eq!(keyword_name("AUTH=LOGIN"), "AUTH");
        assert_eq!(keyword_name("size 100"), "SIZE");
    }
}
