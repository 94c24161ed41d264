use super::*;
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// [MS-NLMP] 4.2.4.1.1: NTOWFv2("Password", "User", "Domain").
#[test]
fn ntowf_v2_matches_ms_nlmp_4_2_4() {
    assert_eq!(
        ntowf_v2("Password", "User", "Domain").to_vec(),
        hex("0c868a403bfd7a93a3001ef22ef02e3f")
    );
}

/// [MS-NLMP] 4.2.4.2.2: the NTProofStr for server challenge 0123456789abcdef,
/// client challenge aa×8, time 0 and the AV pairs Domain/Server.
#[test]
fn ntlm_v2_response_matches_ms_nlmp_4_2_4() {
    let av = hex("02000c0044006f006d00610069006e0001000c005300650072007600650072000000000000000000");
    let mut blob = hex("0101000000000000");
    blob.extend_from_slice(&[0; 8]);
    blob.extend_from_slice(&[0xaa; 8]);
    blob.extend_from_slice(&[0; 4]);
    blob.extend_from_slice(&av[..av.len() - 4]);
    blob.extend_from_slice(&[0; 4]);
    let challenge: [u8; 8] = hex("0123456789abcdef").try_into().unwrap();
    let key = ntowf_v2("Password", "User", "Domain");
    let proof = hmac_md5(&key, &[&challenge, &blob]);
    assert_eq!(proof.to_vec(), hex("68cd0ab851e51c96aabc927bebef6a1c"));
    let mut nt_response = proof.to_vec();
    nt_response.extend_from_slice(&blob);
    let auth = Authenticate {
        user: "User".into(),
        domain: "Domain".into(),
        workstation: "COMPUTER".into(),
        nt_response,
    };
    assert!(verify_v2(&auth, "Password", &challenge));
    assert!(!verify_v2(&auth, "password", &challenge));
    assert!(!verify_v2(&auth, "Password", &[0; 8]));
}

fn target() -> Target {
    Target {
        target_name: "ADATUM".into(),
        nb_computer: "MAIL".into(),
        nb_domain: "ADATUM".into(),
        dns_computer: "mail.adatum.com".into(),
        dns_domain: "adatum.com".into(),
        dns_tree: "adatum.com".into(),
        version: (5, 2, 3790),
    }
}

/// The challenge read back field by field, as a scanner does.
#[test]
fn challenge_has_the_layout_of_ms_nlmp_2_2_1_2() {
    let m = challenge(&target(), 0xe208_8297, [1, 2, 3, 4, 5, 6, 7, 8], 42);
    assert_eq!(&m[..8], b"NTLMSSP\0");
    assert_eq!(u32_at(&m, 8), Some(2));
    assert_eq!(field(&m, 12), Some(&utf16("ADATUM")[..]));
    let f = u32_at(&m, 20).unwrap();
    assert_eq!(f & flags::UNICODE, flags::UNICODE);
    assert_eq!(f & flags::OEM, 0);
    assert_ne!(f & flags::TARGET_INFO, 0);
    assert_ne!(f & flags::VERSION, 0);
    assert_eq!(&m[24..32], &[1, 2, 3, 4, 5, 6, 7, 8]);
    // Version: 5.2 build 3790, revision 15.
    assert_eq!(&m[48..56], &[5, 2, 0xce, 0x0e, 0, 0, 0, 0x0f]);
    let info = field(&m, 40).unwrap();
    let mut pairs = Vec::new();
    let mut at = 0;
    loop {
        let id = u16_at(info, at).unwrap();
        let len = usize::from(u16_at(info, at + 2).unwrap());
        pairs.push((id, info[at + 4..at + 4 + len].to_vec()));
        at += 4 + len;
        if id == 0 {
            break;
        }
    }
    let ids: Vec<u16> = pairs.iter().map(|p| p.0).collect();
    assert_eq!(ids, [2, 1, 4, 3, 5, 7, 0]);
    assert_eq!(pairs[3].1, utf16("mail.adatum.com"));
    assert_eq!(pairs[5].1, 42u64.to_le_bytes());
}

#[test]
fn oem_only_clients_get_an_oem_target_name() {
    let m = challenge(&target(), flags::OEM, [0; 8], 0);
    assert_eq!(field(&m, 12), Some(&b"ADATUM"[..]));
}

#[test]
fn a_type_3_message_is_read_back() {
    // Layout of [MS-NLMP] 2.2.1.3, Unicode strings after a 64-octet header.
    let mut m = Vec::new();
    m.extend_from_slice(b"NTLMSSP\0");
    m.extend_from_slice(&3u32.to_le_bytes());
    let (domain, user, ws) = (utf16("ADATUM"), utf16("alice"), utf16("PC"));
    let nt = vec![7u8; 40];
    let mut payload = Vec::new();
    let mut fields = Vec::new();
    for part in [&b""[..], &nt, &domain, &user, &ws, &b""[..]] {
        fields.push((part.len(), 64 + payload.len()));
        payload.extend_from_slice(part);
    }
    for (len, offset) in fields {
        put_field(&mut m, len, offset);
    }
    m.extend_from_slice(&flags::UNICODE.to_le_bytes());
    m.extend_from_slice(&payload);
    let a = parse_authenticate(&m).unwrap();
    assert_eq!((a.user.as_str(), a.domain.as_str()), ("alice", "ADATUM"));
    assert_eq!(a.workstation, "PC");
    assert_eq!(a.nt_response, nt);
    // A field pointing past the end makes the message invalid.
    let mut bad = m.clone();
    bad[36..38].copy_from_slice(&0xffffu16.to_le_bytes());
    assert_eq!(parse_authenticate(&bad), None);
    assert_eq!(parse_negotiate(&m), None);
}

proptest! {
    /// Garbage from a peer is refused, never a panic, however the
    /// offsets and lengths lie.
    #[test]
    fn random_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..300), kind in 0u32..4) {
        if bytes.len() >= 12 && kind > 0 {
            bytes[..8].copy_from_slice(b"NTLMSSP\0");
            bytes[8..12].copy_from_slice(&kind.to_le_bytes());
        }
        let _ = parse_negotiate(&bytes);
        if let Some(a) = parse_authenticate(&bytes) {
            let _ = verify_v2(&a, "secret", &[0; 8]);
        }
    }
}
