//! Postfix's `XCLIENT` (XCLIENT_README): a trusted client (a proxy, a test)
//! tells the server whom it speaks for — `XCLIENT ADDR=192.168.0.1 NAME=x` —
//! and the server answers with a new `220` greeting and treats the session
//! as coming from that client.
//!
//! Values are xtext (RFC 3461: `+HH` for special octets); `[UNAVAILABLE]`
//! and `[TEMPUNAVAIL]` say the value is not known. IPv6 addresses carry an
//! `IPV6:` prefix.

use std::net::{IpAddr, Ipv4Addr};

/// The attribute names Postfix accepts.
pub const ATTRIBUTES: &[&str] = &[
    "NAME",
    "REVERSE_NAME",
    "ADDR",
    "PORT",
    "PROTO",
    "HELO",
    "LOGIN",
    "DESTADDR",
    "DESTPORT",
];

/// What an XCLIENT command changes (attributes the harness does not use
/// are checked and ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Xclient {
    /// `ADDR=`: the client address for every later decision
    /// (`[UNAVAILABLE]` is `0.0.0.0`, which no relay list should hold).
    pub addr: Option<IpAddr>,
    /// `NAME=`: the client host name.
    pub name: Option<String>,
}

/// Decode xtext: `+HH` → octet.
fn xtext(value: &str) -> Option<String> {
    let b = value.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'+' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Parse the arguments of `XCLIENT`; the error is the reply text
/// (Postfix's wording) to send with 501.
pub fn parse(args: &str) -> Result<Xclient, String> {
    let mut out = Xclient::default();
    if args.trim().is_empty() {
        return Err("5.5.4 Syntax: XCLIENT attribute=value...".into());
    }
    for pair in args.split_whitespace() {
        let Some((name, raw)) = pair.split_once('=') else {
            return Err(format!("5.5.4 Bad XCLIENT attribute: {pair}"));
        };
        let name = name.to_ascii_uppercase();
        if !ATTRIBUTES.contains(&name.as_str()) {
            return Err(format!("5.5.4 Bad XCLIENT attribute name: {name}"));
        }
        let value = xtext(raw).ok_or_else(|| format!("5.5.4 Bad XCLIENT {name} syntax: {raw}"))?;
        let unknown = value.eq_ignore_ascii_case("[UNAVAILABLE]")
            || value.eq_ignore_ascii_case("[TEMPUNAVAIL]");
        match name.as_str() {
            "ADDR" if unknown => out.addr = Some(Ipv4Addr::UNSPECIFIED.into()),
            "ADDR" => {
                let text = match value.get(..5) {
                    Some(p) if p.eq_ignore_ascii_case("IPV6:") => &value[5..],
                    _ => value.as_str(),
                };
                let ip = text
                    .parse::<IpAddr>()
                    .map_err(|_| format!("5.5.4 Bad XCLIENT ADDR syntax: {value}"))?;
                out.addr = Some(ip);
            }
            "NAME" if !unknown => out.name = Some(value),
            "PORT" | "DESTPORT" if !unknown && value.parse::<u16>().is_err() => {
                return Err(format!("5.5.4 Bad XCLIENT {name} syntax: {value}"));
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_postfix_examples() {
        let x = parse("ADDR=192.168.0.1 NAME=spike.porcupine.org").unwrap();
        assert_eq!(x.addr, Some("192.168.0.1".parse().unwrap()));
        assert_eq!(x.name.as_deref(), Some("spike.porcupine.org"));
        let x = parse("addr=IPV6:2001:db8::1 PROTO=ESMTP HELO=x+2Ey PORT=4711").unwrap();
        assert_eq!(x.addr, Some("2001:db8::1".parse().unwrap()));
        assert_eq!(parse("NAME=[UNAVAILABLE]").unwrap().name, None);
        assert_eq!(
            parse("ADDR=[UNAVAILABLE]").unwrap().addr,
            Some("0.0.0.0".parse().unwrap())
        );
    }

    #[test]
    fn refuses_like_postfix() {
        assert!(parse("").unwrap_err().starts_with("5.5.4 Syntax"));
        assert_eq!(
            parse("FOO=1").unwrap_err(),
            "5.5.4 Bad XCLIENT attribute name: FOO"
        );
        assert_eq!(
            parse("ADDR=mail.example").unwrap_err(),
            "5.5.4 Bad XCLIENT ADDR syntax: mail.example"
        );
        assert!(parse("ADDR").is_err());
        assert!(parse("PORT=x").is_err());
        assert!(parse("NAME=a+4").is_err());
    }
}
