//! NTLMSSP messages as SMTP carries them ([MS-SMTPNTLM], [MS-NLMP] 2.2.1):
//! the client's NEGOTIATE (type 1) and AUTHENTICATE (type 3) messages are
//! read, the server's CHALLENGE (type 2) is written, and an NTLMv2 response
//! is checked against a password.
//!
//! Everything a peer sends is read with bounds checks only: a field whose
//! offset or length points outside the message makes the message invalid,
//! never a panic (a property test feeds random bytes).

use hmac::{Hmac, Mac};
use md4::{Digest, Md4};

const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

/// NegotiateFlags bits ([MS-NLMP] 2.2.2.5) the server looks at or sets.
pub mod flags {
    /// Strings in UTF-16LE.
    pub const UNICODE: u32 = 0x0000_0001;
    /// Strings in the OEM code page.
    pub const OEM: u32 = 0x0000_0002;
    /// The client asks for the TargetName.
    pub const REQUEST_TARGET: u32 = 0x0000_0004;
    /// Message signing.
    pub const SIGN: u32 = 0x0000_0010;
    /// Message confidentiality.
    pub const SEAL: u32 = 0x0000_0020;
    /// NTLM v1 session security.
    pub const NTLM: u32 = 0x0000_0200;
    /// A dummy signature is always sent.
    pub const ALWAYS_SIGN: u32 = 0x0000_8000;
    /// TargetName is a domain name.
    pub const TARGET_TYPE_DOMAIN: u32 = 0x0001_0000;
    /// NTLM2 (extended) session security.
    pub const EXTENDED_SESSION_SECURITY: u32 = 0x0008_0000;
    /// TargetInfo is present.
    pub const TARGET_INFO: u32 = 0x0080_0000;
    /// The Version field is present.
    pub const VERSION: u32 = 0x0200_0000;
    /// 128-bit session keys.
    pub const KEY_128: u32 = 0x2000_0000;
    /// Key exchange.
    pub const KEY_EXCH: u32 = 0x4000_0000;
    /// 56-bit session keys.
    pub const KEY_56: u32 = 0x8000_0000;
}

/// What the server's CHALLENGE_MESSAGE says about itself: the names that
/// scanners (nmap's `smtp-ntlm-info`, Nessus 13926) read from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// TargetName (the NetBIOS domain name for a domain member).
    pub target_name: String,
    /// MsvAvNbComputerName.
    pub nb_computer: String,
    /// MsvAvNbDomainName.
    pub nb_domain: String,
    /// MsvAvDnsComputerName.
    pub dns_computer: String,
    /// MsvAvDnsDomainName.
    pub dns_domain: String,
    /// MsvAvDnsTreeName (the forest).
    pub dns_tree: String,
    /// Windows major, minor and build number (the Version field).
    pub version: (u8, u8, u16),
}

/// Reads a little-endian u16 at `at`, if the message is that long.
fn u16_at(msg: &[u8], at: usize) -> Option<u16> {
    let b = msg.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(msg: &[u8], at: usize) -> Option<u32> {
    let b = msg.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The payload a security-buffer field (length, max length, offset) at
/// `at` points to, or `None` when it points outside the message.
fn field(msg: &[u8], at: usize) -> Option<&[u8]> {
    let len = usize::from(u16_at(msg, at)?);
    let offset = usize::try_from(u32_at(msg, at.checked_add(4)?)?).ok()?;
    msg.get(offset..offset.checked_add(len)?)
}

/// The message type of an NTLMSSP message, if `msg` is one.
fn message_type(msg: &[u8]) -> Option<u32> {
    if msg.get(..8)? != SIGNATURE {
        return None;
    }
    u32_at(msg, 8)
}

/// A NEGOTIATE_MESSAGE's flags, or `None` if `msg` is not one.
pub fn parse_negotiate(msg: &[u8]) -> Option<u32> {
    if message_type(msg)? != 1 {
        return None;
    }
    u32_at(msg, 12)
}

/// The fields of an AUTHENTICATE_MESSAGE the server checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticate {
    /// UserName.
    pub user: String,
    /// DomainName.
    pub domain: String,
    /// Workstation.
    pub workstation: String,
    /// NtChallengeResponse (24 octets for NTLMv1, more for NTLMv2).
    pub nt_response: Vec<u8>,
}

/// An AUTHENTICATE_MESSAGE, or `None` if `msg` is not a well-formed one.
pub fn parse_authenticate(msg: &[u8]) -> Option<Authenticate> {
    if message_type(msg)? != 3 {
        return None;
    }
    let nt_response = field(msg, 20)?.to_vec();
    let flags = u32_at(msg, 60).unwrap_or(flags::UNICODE);
    let text = |at| field(msg, at).map(|b| decode(b, flags & flags::UNICODE != 0));
    Some(Authenticate {
        domain: text(28)?,
        user: text(36)?,
        workstation: text(44)?,
        nt_response,
    })
}

/// A string field: UTF-16LE when Unicode was negotiated, else the OEM code
/// page (read as Latin-1, which keeps every octet).
fn decode(bytes: &[u8], unicode: bool) -> String {
    if unicode {
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        bytes.iter().map(|&b| char::from(b)).collect()
    }
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// The CHALLENGE_MESSAGE ([MS-NLMP] 2.2.1.2) answering a NEGOTIATE with
/// `client_flags`: `challenge` is the 8-octet ServerChallenge, `filetime`
/// the MsvAvTimestamp (100 ns units since 1601).
pub fn challenge(target: &Target, client_flags: u32, challenge: [u8; 8], filetime: u64) -> Vec<u8> {
    // Windows answers with what it always sets plus what the client asked
    // for and it supports; Unicode wins over OEM when both are offered.
    let echoed = client_flags
        & (flags::SIGN
            | flags::SEAL
            | flags::EXTENDED_SESSION_SECURITY
            | flags::KEY_128
            | flags::KEY_EXCH
            | flags::KEY_56);
    let charset = if client_flags & flags::UNICODE != 0 || client_flags & flags::OEM == 0 {
        flags::UNICODE
    } else {
        flags::OEM
    };
    let negotiated = charset
        | echoed
        | flags::REQUEST_TARGET
        | flags::NTLM
        | flags::ALWAYS_SIGN
        | flags::TARGET_TYPE_DOMAIN
        | flags::TARGET_INFO
        | flags::VERSION;
    let name = if charset == flags::UNICODE {
        utf16(&target.target_name)
    } else {
        target.target_name.bytes().collect()
    };
    let info = target_info(target, filetime);
    const HEADER: usize = 56;
    let mut m = Vec::with_capacity(HEADER + name.len() + info.len());
    m.extend_from_slice(SIGNATURE);
    m.extend_from_slice(&2u32.to_le_bytes());
    put_field(&mut m, name.len(), HEADER);
    m.extend_from_slice(&negotiated.to_le_bytes());
    m.extend_from_slice(&challenge);
    m.extend_from_slice(&[0; 8]);
    put_field(&mut m, info.len(), HEADER + name.len());
    let (major, minor, build) = target.version;
    m.extend_from_slice(&[major, minor]);
    m.extend_from_slice(&build.to_le_bytes());
    // Reserved, then NTLMRevisionCurrent = NTLMSSP_REVISION_W2K3 (15).
    m.extend_from_slice(&[0, 0, 0, 0x0F]);
    m.extend_from_slice(&name);
    m.extend_from_slice(&info);
    m
}

/// A security buffer: length and max length (u16, saturated: the names
/// are validated short), then the offset.
fn put_field(m: &mut Vec<u8>, len: usize, offset: usize) {
    let len = u16::try_from(len).unwrap_or(u16::MAX).to_le_bytes();
    m.extend_from_slice(&len);
    m.extend_from_slice(&len);
    m.extend_from_slice(&u32::try_from(offset).unwrap_or(u32::MAX).to_le_bytes());
}

/// TargetInfo: the AV_PAIR list, in the order Windows writes it.
fn target_info(t: &Target, filetime: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut pair = |id: u16, value: &[u8]| {
        out.extend_from_slice(&id.to_le_bytes());
        let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&value[..usize::from(len)]);
    };
    pair(2, &utf16(&t.nb_domain));
    pair(1, &utf16(&t.nb_computer));
    pair(4, &utf16(&t.dns_domain));
    pair(3, &utf16(&t.dns_computer));
    pair(5, &utf16(&t.dns_tree));
    pair(7, &filetime.to_le_bytes());
    pair(0, &[]);
    out
}

/// FILETIME for a Unix time in seconds.
pub fn filetime(unix_secs: u64) -> u64 {
    unix_secs.saturating_add(11_644_473_600).saturating_mul(10_000_000)
}

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let Ok(mut mac) = Hmac::<md5::Md5>::new_from_slice(key) else {
        return [0; 16];
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// NTOWFv2 ([MS-NLMP] 3.3.2): HMAC-MD5 keyed with MD4(UTF-16LE(password))
/// over UTF-16LE(upper-case user, then domain).
fn ntowf_v2(password: &str, user: &str, domain: &str) -> [u8; 16] {
    let nt_hash: [u8; 16] = Md4::digest(utf16(password)).into();
    let who = utf16(&format!("{}{domain}", user.to_uppercase()));
    hmac_md5(&nt_hash, &[&who])
}

/// Does `auth`'s NTLMv2 response prove knowledge of `password` for the
/// `challenge` the server sent? An NTLMv1 response (24 octets) is never
/// accepted: checking it needs DES, which this harness does not carry.
pub fn verify_v2(auth: &Authenticate, password: &str, challenge: &[u8; 8]) -> bool {
    if auth.nt_response.len() <= 24 {
        return false;
    }
    let (proof, blob) = auth.nt_response.split_at(16);
    let key = ntowf_v2(password, &auth.user, &auth.domain);
    hmac_md5(&key, &[challenge, blob]) == proof
}

#[cfg(test)]
mod tests;
