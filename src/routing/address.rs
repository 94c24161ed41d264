//! What a recipient names: a plain SMTP address, a `[TYPE:address]`
//! one-off, or an IMCEA-encapsulated address, and whether its type is
//! routable.
//!
//! The Exchange 5.5 IMS routes type SMTP only. Any other type (Q183801:
//! `[SMTPOUT:user@internal.domain.com]`) is returned with NDR code
//! `000D06B5` "No proxy for Recipient" unless the `OverrideProxyOut`
//! registry value names it, in which case its address is routed as SMTP.

use super::imcea::{self, Encapsulated};

/// A recipient taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `LHS@RHS`, or anything that is not one of the forms below.
    Smtp(String),
    /// `[TYPE:address]`.
    OneOff {
        /// The type, as written.
        kind: String,
        /// The address inside.
        address: String,
    },
    /// `IMCEA<type>-<encoded>@<domain>`, decoded.
    Imcea(Encapsulated),
}

/// Classify a RCPT mailbox.
///
/// ```
/// use smtp_harness::routing::address::{parse, Target};
/// assert_eq!(
///     parse("[SMTPOUT:user@internal.domain.com]"),
///     Target::OneOff { kind: "SMTPOUT".into(), address: "user@internal.domain.com".into() }
/// );
/// assert!(matches!(parse("IMCEASMTP-a+40b.c@adatum.com"), Target::Imcea(_)));
/// assert_eq!(parse("a@b.c"), Target::Smtp("a@b.c".into()));
/// ```
pub fn parse(recipient: &str) -> Target {
    if let Some(inner) = recipient
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        && let Some((kind, address)) = inner.split_once(':')
        && !kind.is_empty()
        && kind.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Target::OneOff {
            kind: kind.to_string(),
            address: address.to_string(),
        };
    }
    match imcea::decode(recipient) {
        Ok(e) => Target::Imcea(e),
        Err(_) => Target::Smtp(recipient.to_string()),
    }
}

/// Is an address of `kind` routable: SMTP, or a type `override_proxy_out`
/// names (case-insensitive)?
pub fn routable(kind: &str, override_proxy_out: &[String]) -> bool {
    kind.eq_ignore_ascii_case("SMTP")
        || override_proxy_out
            .iter()
            .any(|k| k.eq_ignore_ascii_case(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types() {
        assert!(routable("smtp", &[]));
        assert!(!routable("SMTPOUT", &[]));
        assert!(routable("smtpout", &["SMTPOUT".into()]));
        assert!(!routable("X400", &["SMTPOUT".into()]));
    }

    #[test]
    fn malformed_forms_are_plain_addresses() {
        for a in [
            "[no-colon]",
            "[:x@y]",
            "IMCEASMTP-a+4@adatum.com",
            "[SMTP:x@y",
        ] {
            assert_eq!(parse(a), Target::Smtp(a.into()), "{a}");
        }
    }
}
