//! IMCEA encapsulation (MS-OXCMAIL 2.1.3.1.8): a non-SMTP or foreign address
//! carried inside an SMTP address of the encapsulating domain,
//! `IMCEA<type>-<encoded>@<domain>`.
//!
//! In the encoded part ALPHA, DIGIT, `-` and `=` stay as they are, `/`
//! becomes `_`, and every other octet becomes `+HH` (upper-case hex), so
//! `user@example.com` is `IMCEASMTP-user+40example+2Ecom@adatum.com`.
//! Decoding matches the prefix case-insensitively (Exchange 5.5's IMS
//! insisted on upper case, Q271575; later versions do not).

use std::fmt;

/// An IMCEA address taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encapsulated {
    /// The address type as written (`SMTP`, `EX`, `SMTPOUT` …).
    pub kind: String,
    /// The decoded inner address.
    pub address: String,
    /// The encapsulating domain (after the last `@`).
    pub domain: String,
}

/// Why an `IMCEA…` local part could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImceaError {
    /// Not of the form `IMCEA<type>-…@domain`.
    NotImcea,
    /// A `+` not followed by two hex digits, at this octet offset.
    BadEscape(usize),
    /// The decoded octets are not UTF-8.
    NotUtf8,
}

impl fmt::Display for ImceaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImceaError::NotImcea => f.write_str("not an IMCEA<type>-<encoded>@<domain> address"),
            ImceaError::BadEscape(at) => {
                write!(f, "`+` at offset {at} is not followed by two hex digits")
            }
            ImceaError::NotUtf8 => f.write_str("the decoded address is not UTF-8"),
        }
    }
}

impl std::error::Error for ImceaError {}

/// Encode the inner part: the MS-OXCMAIL alphabet.
///
/// ```
/// use smtp_harness::routing::imcea;
/// assert_eq!(imcea::encode_part("user@example.com"), "user+40example+2Ecom");
/// assert_eq!(imcea::encode_part("/o=Org/cn=x_y"), "_o=Org_cn=x+5Fy");
/// ```
#[cfg(any(test, feature = "internals"))]
pub fn encode_part(address: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(address.len() * 2);
    for &b in address.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'=' => out.push(char::from(b)),
            b'/' => out.push('_'),
            _ => {
                out.push('+');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xF)]));
            }
        }
    }
    out
}

/// Decode the inner part: `_` → `/`, `+HH` → octet, the rest as is.
pub fn decode_part(encoded: &str) -> Result<String, ImceaError> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'_' => out.push(b'/'),
            b'+' => {
                let hex = |j: usize| bytes.get(j).and_then(|c| char::from(*c).to_digit(16));
                match (hex(i + 1), hex(i + 2)) {
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => return Err(ImceaError::BadEscape(i)),
                }
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ImceaError::NotUtf8)
}

/// The whole address: `IMCEA<kind>-<encoded>@<domain>`.
///
/// ```
/// use smtp_harness::routing::imcea;
/// assert_eq!(
///     imcea::encode("SMTP", "user@example.com", "adatum.com"),
///     "IMCEASMTP-user+40example+2Ecom@adatum.com"
/// );
/// ```
#[cfg(any(test, feature = "internals"))]
pub fn encode(kind: &str, address: &str, domain: &str) -> String {
    format!("IMCEA{kind}-{}@{domain}", encode_part(address))
}

/// Take an `IMCEA<type>-<encoded>@<domain>` address apart; the prefix is
/// matched case-insensitively.
///
/// ```
/// use smtp_harness::routing::imcea;
/// let e = imcea::decode("imceasmtp-user+40example+2Ecom@adatum.com").unwrap();
/// assert_eq!((e.kind.as_str(), e.address.as_str()), ("smtp", "user@example.com"));
/// ```
pub fn decode(address: &str) -> Result<Encapsulated, ImceaError> {
    let (local, domain) = address.rsplit_once('@').ok_or(ImceaError::NotImcea)?;
    let head = local.get(..5).ok_or(ImceaError::NotImcea)?;
    if !head.eq_ignore_ascii_case("IMCEA") {
        return Err(ImceaError::NotImcea);
    }
    let (kind, encoded) = local[5..].split_once('-').ok_or(ImceaError::NotImcea)?;
    if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_alphanumeric()) || domain.is_empty() {
        return Err(ImceaError::NotImcea);
    }
    Ok(Encapsulated {
        kind: kind.to_string(),
        address: decode_part(encoded)?,
        domain: domain.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    #[rstest]
    #[case("user@example.com", "user+40example+2Ecom")]
    #[case("a-b=c", "a-b=c")]
    #[case(
        "/o=Adatum/ou=Site/cn=Recipients/cn=jdoe",
        "_o=Adatum_ou=Site_cn=Recipients_cn=jdoe"
    )]
    #[case("a b+c_d", "a+20b+2Bc+5Fd")]
    #[case("é", "+C3+A9")]
    fn encodes(#[case] plain: &str, #[case] encoded: &str) {
        assert_eq!(encode_part(plain), encoded);
        assert_eq!(decode_part(encoded).unwrap(), plain);
    }

    #[rstest]
    #[case(
        "IMCEASMTP-user+40example+2Ecom@adatum.com",
        "SMTP",
        "user@example.com"
    )]
    #[case(
        "ImceaSmtp-user+40example+2ecom@adatum.com",
        "Smtp",
        "user@example.com"
    )]
    #[case("IMCEAEX-_o=Adatum_cn=jdoe@adatum.com", "EX", "/o=Adatum/cn=jdoe")]
    #[case(
        "IMCEASMTPOUT-user+40internal+2Edomain+2Ecom@domain.com",
        "SMTPOUT",
        "user@internal.domain.com"
    )]
    fn decodes(#[case] addr: &str, #[case] kind: &str, #[case] inner: &str) {
        let e = decode(addr).unwrap();
        assert_eq!((e.kind.as_str(), e.address.as_str()), (kind, inner));
    }

    #[rstest]
    #[case("user@example.com", ImceaError::NotImcea)]
    #[case("IMCEA-x@y", ImceaError::NotImcea)]
    #[case("IMCEASMTP@y", ImceaError::NotImcea)]
    #[case("IMCEASMTP-a+4@y", ImceaError::BadEscape(1))]
    #[case("IMCEASMTP-a+zz@y", ImceaError::BadEscape(1))]
    #[case("IMCEASMTP-+FF@y", ImceaError::NotUtf8)]
    fn refuses(#[case] addr: &str, #[case] err: ImceaError) {
        assert_eq!(decode(addr).unwrap_err(), err);
    }

    proptest! {
        #[test]
        fn round_trips(s in any::<String>()) {
            prop_assert_eq!(decode_part(&encode_part(&s)).unwrap(), s.clone());
            let whole = encode("SMTP", &s, "adatum.com");
            let e = decode(&whole).unwrap();
            prop_assert_eq!(e.address, s);
            prop_assert_eq!(e.domain, "adatum.com");
        }

        #[test]
        fn encoded_form_uses_only_the_allowed_alphabet(s in any::<String>()) {
            let enc = encode_part(&s);
            prop_assert!(enc.bytes().all(|b| b.is_ascii_alphanumeric() || b"-=_+".contains(&b)), "{}", enc);
            // Every `+` starts an escape of two upper-case hex digits.
            let b = enc.as_bytes();
            for (i, _) in enc.match_indices('+') {
                prop_assert!(b.len() >= i + 3);
                prop_assert!(b[i + 1..i + 3].iter().all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c)));
            }
        }

        #[test]
        fn decoding_never_panics(s in "\\PC*") {
            let _ = decode(&s);
            let _ = decode_part(&s);
        }
    }
}
