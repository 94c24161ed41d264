//! `auth:`: SMTP AUTH (RFC 4954), NTLM's disclosed names, the end-of-exchange replies.

use super::*;

/// `auth:` — SMTP AUTH (RFC 4954).
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthSpec {
    /// Mechanisms offered, in order (default PLAIN, LOGIN, CRAM-MD5).
    #[schemars(with = "Option<Vec<String>>")]
    pub mechanisms: Option<Vec<Spanned<String>>>,
    /// Accepted user names and passwords.
    pub users: Option<std::collections::BTreeMap<String, String>>,
    /// Accept any credentials.
    pub accept_any: Option<bool>,
    /// Refuse MAIL before AUTH: `530 5.7.0 Authentication required`.
    pub require: Option<bool>,
    /// Offer AUTH only after STARTTLS.
    pub after_tls: Option<bool>,
    /// Show credentials in transcripts instead of `<redacted>`.
    pub show_secrets: Option<bool>,
    /// Mechanisms offered once STARTTLS is done (default: `mechanisms`);
    /// Exchange 2013+ offers LOGIN (basic authentication) only over TLS.
    #[schemars(with = "Option<Vec<String>>")]
    pub mechanisms_after_tls: Option<Vec<Spanned<String>>>,
    /// What the NTLM challenge (type 2 message) says about the server.
    pub ntlm: Option<NtlmSpec>,
    /// Texts of the AUTH outcomes.
    pub replies: Option<AuthRepliesSpec>,
}

/// `auth.ntlm:` — the names and version a CHALLENGE_MESSAGE discloses
/// ([MS-NLMP] 2.2.1.2), which nmap's `smtp-ntlm-info` prints. Defaults are
/// derived from `hostname` (`mail.adatum.com`: computer `MAIL`, domain
/// `adatum.com`, NetBIOS domain `ADATUM`).
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NtlmSpec {
    /// TargetName (default: the NetBIOS domain name).
    #[schemars(with = "Option<String>")]
    pub target_name: Option<Spanned<String>>,
    /// MsvAvNbComputerName: the NetBIOS computer name (1–15 characters).
    #[schemars(with = "Option<String>")]
    pub netbios_computer: Option<Spanned<String>>,
    /// MsvAvNbDomainName: the NetBIOS domain name (1–15 characters).
    #[schemars(with = "Option<String>")]
    pub netbios_domain: Option<Spanned<String>>,
    /// MsvAvDnsComputerName: the computer's DNS name.
    #[schemars(with = "Option<String>")]
    pub dns_computer: Option<Spanned<String>>,
    /// MsvAvDnsDomainName: the domain's DNS name.
    #[schemars(with = "Option<String>")]
    pub dns_domain: Option<Spanned<String>>,
    /// MsvAvDnsTreeName: the forest's DNS name (default: `dns_domain`).
    #[schemars(with = "Option<String>")]
    pub dns_tree: Option<Spanned<String>>,
    /// The Windows version in the Version field, `major.minor.build`
    /// (`5.2.3790` is Windows Server 2003; default `10.0.17763`, Server 2019).
    #[schemars(with = "Option<String>")]
    pub version: Option<Spanned<String>>,
    /// A fixed ServerChallenge, 16 hex digits (default: a new random one
    /// per exchange).
    #[schemars(with = "Option<String>")]
    pub challenge: Option<Spanned<String>>,
}

/// `auth.replies:` — what the server answers at the end of an exchange.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthRepliesSpec {
    /// Credentials accepted (default `235 2.7.0 Authentication successful`).
    #[schemars(with = "Option<ReplyText>")]
    pub success: Option<Spanned<ReplyText>>,
    /// Credentials refused (default `535 5.7.8 Authentication credentials
    /// invalid`; Exchange: `535 5.7.3 Authentication unsuccessful`).
    #[schemars(with = "Option<ReplyText>")]
    pub failure: Option<Spanned<ReplyText>>,
    /// A mechanism not offered (default `504 5.5.4 Unrecognized
    /// authentication type`; Exchange: `504 5.7.4 …`).
    #[schemars(with = "Option<ReplyText>")]
    pub unrecognized: Option<Spanned<ReplyText>>,
}
