//! `auth.ntlm:` checked: the names and version an NTLM challenge discloses,
//! with defaults derived from the scenario's host name.

use super::compile::Checker;
use super::model::NtlmSpec;
use crate::protocol::ntlm::Target;
use serde_saphyr::Spanned;

/// Resolved `auth.ntlm`.
#[derive(Debug, Clone)]
pub struct NtlmPlan {
    /// What the CHALLENGE_MESSAGE says about the server.
    pub target: Target,
    /// A fixed ServerChallenge (`None`: a new random one each time).
    pub challenge: Option<[u8; 8]>,
}

/// Windows Server 2019.
const DEFAULT_VERSION: (u8, u8, u16) = (10, 0, 17763);

/// NetBIOS names: 1–15 characters, none of `\ / : * ? " < > |` or blanks
/// ([MS-NBTE]; Windows refuses longer names).
fn netbios_ok(name: &str) -> bool {
    (1..=15).contains(&name.chars().count())
        && !name.contains(['\\', '/', ':', '*', '?', '"', '<', '>', '|', ' ', '\t'])
}

/// A DNS name: 1–255 characters of labels separated by dots, no blanks.
fn dns_ok(name: &str) -> bool {
    (1..=255).contains(&name.len())
        && name
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && !l.contains(char::is_whitespace))
}

fn parse_version(v: &str) -> Option<(u8, u8, u16)> {
    let mut parts = v.trim().split('.');
    let out = (
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    );
    parts.next().is_none().then_some(out)
}

fn parse_challenge(v: &str) -> Option<[u8; 8]> {
    let v = v.trim();
    if v.len() != 16 || !v.is_ascii() {
        return None;
    }
    let mut out = [0u8; 8];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(v.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl Checker<'_> {
    /// A name field: checked with `ok`, else `default`.
    fn ntlm_name(
        &mut self,
        field: Option<&Spanned<String>>,
        default: String,
        ok: fn(&str) -> bool,
        what: &str,
    ) -> String {
        let Some(f) = field else { return default };
        if !ok(&f.value) {
            self.problem(&f.referenced, format!("{:?} is not {what}", f.value));
        }
        f.value.clone()
    }

    pub(super) fn ntlm(&mut self, spec: Option<&NtlmSpec>, hostname: &str) -> NtlmPlan {
        let spec = spec.cloned().unwrap_or_default();
        let (host, domain) = hostname.split_once('.').unwrap_or((hostname, hostname));
        let short = |s: &str| s.chars().take(15).collect::<String>().to_uppercase();
        let nb_domain_default = short(domain.split('.').next().unwrap_or(domain));
        let netbios = "a NetBIOS name (1–15 characters, no blanks or \\/:*?\"<>|)";
        let dns = "a DNS name such as adatum.com";
        let nb_computer =
            self.ntlm_name(spec.netbios_computer.as_ref(), short(host), netbios_ok, netbios);
        let nb_domain =
            self.ntlm_name(spec.netbios_domain.as_ref(), nb_domain_default, netbios_ok, netbios);
        let dns_computer =
            self.ntlm_name(spec.dns_computer.as_ref(), hostname.to_string(), dns_ok, dns);
        let dns_domain = self.ntlm_name(spec.dns_domain.as_ref(), domain.to_string(), dns_ok, dns);
        let dns_tree = self.ntlm_name(spec.dns_tree.as_ref(), dns_domain.clone(), dns_ok, dns);
        let target_name = self.ntlm_name(
            spec.target_name.as_ref(),
            nb_domain.clone(),
            |n| (1..=255).contains(&n.chars().count()),
            "a target name (1–255 characters)",
        );
        let version = match &spec.version {
            None => DEFAULT_VERSION,
            Some(v) => parse_version(&v.value).unwrap_or_else(|| {
                self.problem(
                    &v.referenced,
                    format!(
                        "{:?} is not a Windows version; expected major.minor.build such as 5.2.3790 (0–255, 0–255, 0–65535)",
                        v.value
                    ),
                );
                DEFAULT_VERSION
            }),
        };
        let challenge = spec.challenge.as_ref().and_then(|c| {
            let parsed = parse_challenge(&c.value);
            if parsed.is_none() {
                self.problem(
                    &c.referenced,
                    format!("{:?} is not a challenge; expected 16 hex digits", c.value),
                );
            }
            parsed
        });
        NtlmPlan {
            target: Target {
                target_name,
                nb_computer,
                nb_domain,
                dns_computer,
                dns_domain,
                dns_tree,
                version,
            },
            challenge,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Scenario;
    use rstest::rstest;

    #[rstest]
    #[case(
        "auth:\n  ntlm:\n    netbios_computer: THIS-NAME-IS-TOO-LONG\n",
        "<inline>:3:23: \"THIS-NAME-IS-TOO-LONG\" is not a NetBIOS name"
    )]
    #[case(
        "auth:\n  ntlm:\n    dns_domain: \"bad name.com\"\n",
        "<inline>:3:17: \"bad name.com\" is not a DNS name"
    )]
    #[case(
        "auth:\n  ntlm:\n    version: 5.2\n",
        "<inline>:3:14: \"5.2\" is not a Windows version"
    )]
    #[case(
        "auth:\n  ntlm:\n    challenge: 0123\n",
        "<inline>:3:16: \"0123\" is not a challenge"
    )]
    #[case(
        "auth:\n  mechanisms_after_tls: [NTLM, KERBEROS]\n",
        "<inline>:2:32: unknown mechanism \"KERBEROS\""
    )]
    fn problems_point_at_the_key(#[case] yaml: &str, #[case] want: &str) {
        let err = Scenario::from_yaml(yaml).unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
    }

    #[test]
    fn names_default_from_the_host_name() {
        let s = Scenario::from_yaml("hostname: mail.adatum.com\nauth: {mechanisms: [NTLM]}").unwrap();
        let t = &s.plan().auth.as_ref().unwrap().ntlm.target;
        assert_eq!(
            (t.nb_computer.as_str(), t.nb_domain.as_str(), t.target_name.as_str()),
            ("MAIL", "ADATUM", "ADATUM")
        );
        assert_eq!((t.dns_domain.as_str(), t.dns_tree.as_str()), ("adatum.com", "adatum.com"));
        assert_eq!(t.version, (10, 0, 17763));
    }
}
