//! `tls:` and `auth:` checked: certificates, STARTTLS policy, post-TLS
//! keywords, SASL mechanisms and credentials.

use super::compile::{Checker, ReplyTemplate};
use super::model::{
    AuthSpec, CertIssuer, CertKey, CertShape, CertSignature, CertValidity, Pem, TlsFailure, TlsSpec, TlsVersion,
};
use super::template::Template;
use serde_saphyr::Spanned;

/// A SASL mechanism the fake server implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// RFC 4616.
    Plain,
    /// The de-facto LOGIN mechanism.
    Login,
    /// RFC 2195.
    CramMd5,
    /// [MS-SMTPNTLM]: NTLMSSP over SMTP.
    Ntlm,
    /// RFC 4752 (Kerberos); answered as a server without Kerberos answers.
    Gssapi,
}

impl Mechanism {
    /// The mechanism's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::CramMd5 => "CRAM-MD5",
            Mechanism::Ntlm => "NTLM",
            Mechanism::Gssapi => "GSSAPI",
        }
    }

    /// Parse a (case-insensitive) mechanism name.
    pub fn parse(name: &str) -> Option<Mechanism> {
        [
            Mechanism::Plain,
            Mechanism::Login,
            Mechanism::CramMd5,
            Mechanism::Ntlm,
            Mechanism::Gssapi,
        ]
        .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name))
    }
}

/// Resolved `auth:`.
#[derive(Debug, Clone)]
pub struct AuthPlan {
    /// Offered mechanisms.
    pub mechanisms: Vec<Mechanism>,
    /// Accepted credentials.
    pub users: std::collections::BTreeMap<String, String>,
    /// Accept anything.
    pub accept_any: bool,
    /// 530 to MAIL before AUTH.
    pub require: bool,
    /// Offer AUTH only after STARTTLS.
    pub after_tls: bool,
    /// Keep secrets in transcripts.
    pub show_secrets: bool,
    /// Offered once TLS is active.
    pub mechanisms_after_tls: Vec<Mechanism>,
    /// What an NTLM challenge discloses.
    pub ntlm: super::ntlm::NtlmPlan,
    /// Success, failure, unknown mechanism.
    pub replies: AuthReplies,
}

/// The texts of AUTH's outcomes.
#[derive(Debug, Clone)]
pub struct AuthReplies {
    /// 235.
    pub success: ReplyTemplate,
    /// 535.
    pub failure: ReplyTemplate,
    /// 504.
    pub unrecognized: ReplyTemplate,
}

impl AuthPlan {
    /// The mechanisms on offer, with or without TLS (none before TLS with
    /// `after_tls`).
    pub fn offered(&self, tls_active: bool) -> &[Mechanism] {
        match (tls_active, self.after_tls) {
            (true, _) => &self.mechanisms_after_tls,
            (false, true) => &[],
            (false, false) => &self.mechanisms,
        }
    }
}

/// Resolved `tls:`.
#[derive(Debug, Clone)]
pub struct TlsPlan {
    /// Advertise and accept STARTTLS.
    pub starttls: bool,
    /// TLS from the first byte.
    pub implicit: bool,
    /// Certificate chain and key (PEM, read when the scenario was loaded);
    /// `None` for a self-signed certificate.
    pub cert_key: Option<(Pem, Pem)>,
    /// 530 to MAIL before TLS.
    pub require: bool,
    /// EHLO keywords after the handshake.
    pub keywords_after: Vec<Template>,
    /// Scripted failure.
    pub fail: Option<TlsFailure>,
    /// The certificate to make when `cert_key` is `None`.
    pub certificate: CertPlan,
    /// Protocol versions offered, never empty.
    pub versions: Vec<TlsVersion>,
    /// Cipher suites offered, each a name from rustls' ring provider;
    /// `None` for all of them.
    pub cipher_suites: Option<Vec<String>>,
}

impl TlsPlan {
    /// Whether TLS 1.0 or 1.1 is offered: the OpenSSL engine's work.
    pub fn legacy(&self) -> bool {
        self.versions.iter().any(|v| v.is_legacy())
    }
}

/// Resolved `tls.certificate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPlan {
    /// Whose default it copies.
    pub shape: CertShape,
    /// Who signs it.
    pub issuer: CertIssuer,
    /// When it is valid.
    pub validity: CertValidity,
    /// CN and DNS name instead of the host name (a wrong-host certificate).
    pub name: Option<String>,
    /// The key (the shape's unless `key:` names one).
    pub key: CertKey,
    /// The signature's hash.
    pub signature: CertSignature,
}

impl CertShape {
    /// The key the product's default certificate has.
    pub fn default_key(self) -> CertKey {
        match self {
            CertShape::Rcgen => CertKey::EcdsaP256,
            CertShape::Exchange | CertShape::Postfix => CertKey::Rsa2048,
        }
    }
}

impl Checker<'_> {
    pub(super) fn tls(&mut self, t: &TlsSpec, keywords: &[Template]) -> TlsPlan {
        let cert_key = match (&t.cert, &t.key) {
            (Some(c), Some(_)) => match (&t.cert_pem, &t.key_pem) {
                (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
                // Only the loader reads files (confined, bounded); a model
                // built another way names paths nobody has checked.
                _ => {
                    self.problem(
                        &c.referenced,
                        "`cert` and `key` are read from files only when the scenario is loaded from a file or with a files directory",
                    );
                    None
                }
            },
            (Some(only), None) | (None, Some(only)) => {
                self.problem(
                    &only.referenced,
                    "`cert` and `key` go together; leave both out for a self-signed certificate",
                );
                None
            }
            (None, None) => None,
        };
        let keywords_after = match &t.keywords_after {
            Some(k) => k.iter().map(|kw| self.template(kw)).collect(),
            None => keywords
                .iter()
                .filter(|k| !k.source().eq_ignore_ascii_case("STARTTLS"))
                .cloned()
                .collect(),
        };
        let certificate = self.certificate(t);
        let versions = match &t.versions {
            Some(v) if v.value.is_empty() => {
                self.problem(
                    &v.referenced,
                    "`versions` needs at least one of \"1.2\" and \"1.3\"",
                );
                vec![TlsVersion::Tls12, TlsVersion::Tls13]
            }
            Some(v) => v.value.clone(),
            None => vec![TlsVersion::Tls12, TlsVersion::Tls13],
        };
        if let Some(v) = &t.versions {
            self.legacy_versions(v, t.cipher_suites.as_ref());
        }
        let cipher_suites = t.cipher_suites.as_ref().map(|list| self.suites(list, &versions));
        TlsPlan {
            certificate,
            versions,
            cipher_suites,
            starttls: t.starttls.unwrap_or(true),
            implicit: t.implicit.unwrap_or(false),
            cert_key,
            require: t.require.unwrap_or(false),
            keywords_after,
            fail: t.fail,
        }
    }

    /// `cipher_suites`: every name known to rustls' ring provider, and at
    /// least one suite for each version offered (rustls would refuse to
    /// start otherwise).
    fn suites(&mut self, list: &Spanned<Vec<Spanned<String>>>, versions: &[TlsVersion]) -> Vec<String> {
        let known = rustls::crypto::ring::ALL_CIPHER_SUITES;
        let name = |s: &rustls::SupportedCipherSuite| s.suite().as_str().unwrap_or("");
        let mut chosen = Vec::new();
        for wanted in &list.value {
            match known.iter().find(|s| name(s) == wanted.value) {
                Some(suite) => chosen.push(*suite),
                None => {
                    let names: Vec<&str> = known.iter().map(name).collect();
                    self.problem(
                        &wanted.referenced,
                        format!("unknown cipher suite {:?}; expected one of {}", wanted.value, names.join(", ")),
                    );
                }
            }
        }
        for v in versions {
            let version = match v {
                // Refused with `cipher_suites` (legacy_versions).
                TlsVersion::Tls10 | TlsVersion::Tls11 => continue,
                TlsVersion::Tls12 => rustls::ProtocolVersion::TLSv1_2,
                TlsVersion::Tls13 => rustls::ProtocolVersion::TLSv1_3,
            };
            if !chosen.iter().any(|s| s.version().version == version) {
                self.problem(
                    &list.referenced,
                    format!("no cipher suite for TLS {}: name one, or leave that version out of `versions`", v.name()),
                );
            }
        }
        chosen.iter().map(|s| name(s).to_string()).collect()
    }

    /// TLS 1.0 and 1.1 need the OpenSSL engine: a build with the
    /// `legacy-tls` feature, and OpenSSL's own suites (`cipher_suites` names
    /// rustls' suites).
    fn legacy_versions(
        &mut self,
        versions: &Spanned<Vec<TlsVersion>>,
        suites: Option<&Spanned<Vec<Spanned<String>>>>,
    ) {
        if !versions.value.iter().any(|v| v.is_legacy()) {
            return;
        }
        if !cfg!(feature = "legacy-tls") {
            self.problem(
                &versions.referenced,
                "TLS 1.0 and 1.1 need the OpenSSL engine, and this smtp-harness was built without it: rebuild with `--features legacy-tls` (needs libssl-dev), or offer only \"1.2\" and \"1.3\"",
            );
        }
        if let Some(list) = suites {
            self.problem(
                &list.referenced,
                "`cipher_suites` names rustls' suites; with TLS 1.0 or 1.1 the OpenSSL engine offers OpenSSL's DEFAULT@SECLEVEL=0: leave `cipher_suites` out",
            );
        }
    }

    fn certificate(&mut self, t: &TlsSpec) -> CertPlan {
        let Some(spec) = &t.certificate else {
            return CertPlan {
                shape: CertShape::Rcgen,
                issuer: CertIssuer::SelfSigned,
                validity: CertValidity::Current,
                name: None,
                key: CertKey::EcdsaP256,
                signature: CertSignature::Sha256,
            };
        };
        // A certificate from files is used as it is: shaping one nobody
        // will present would be a silent no-op.
        if t.cert.is_some() || t.key.is_some() {
            self.problem(
                &spec.referenced,
                "`certificate` shapes the certificate made at start; leave it out when `cert` and `key` name one",
            );
        }
        let c = &spec.value;
        if let Some(name) = &c.name
            && (name.value.trim().is_empty() || name.value.contains(char::is_whitespace)) {
                self.problem(&name.referenced, "`name` must be a host name, without spaces");
            }
        let shape = c.shape.unwrap_or_default();
        let key = c.key.as_ref().map_or(shape.default_key(), |k| k.value);
        let signature = c.signature.as_ref().map_or(CertSignature::Sha256, |s| s.value);
        if let Some(s) = &c.signature {
            // SHA-1 is signed with RSA only: ECDSA with SHA-1 is a weakness
            // of its own that nobody ships by default.
            if s.value == CertSignature::Sha1 && key == CertKey::EcdsaP256 {
                self.problem(
                    &s.referenced,
                    "`signature: sha1` needs an RSA key: add `key: rsa2048` or `key: rsa1024`, or a shape `exchange` or `postfix`",
                );
            }
        }
        CertPlan {
            shape,
            key,
            signature,
            issuer: c.issuer.unwrap_or_default(),
            validity: c.validity.unwrap_or_default(),
            name: c.name.as_ref().map(|n| n.value.clone()),
        }
    }

    fn mechanisms(&mut self, list: &[serde_saphyr::Spanned<String>]) -> Vec<Mechanism> {
        list.iter()
            .filter_map(|m| {
                let found = Mechanism::parse(&m.value);
                if found.is_none() {
                    self.problem(
                        &m.referenced,
                        format!(
                            "unknown mechanism {:?}; expected PLAIN, LOGIN, CRAM-MD5, NTLM or GSSAPI",
                            m.value
                        ),
                    );
                }
                found
            })
            .collect()
    }

    pub(super) fn auth(&mut self, a: &AuthSpec, hostname: &str) -> AuthPlan {
        let mechanisms = match &a.mechanisms {
            Some(list) => self.mechanisms(list),
            None => vec![Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5],
        };
        let mechanisms_after_tls = match &a.mechanisms_after_tls {
            Some(list) => self.mechanisms(list),
            None => mechanisms.clone(),
        };
        let r = a.replies.clone().unwrap_or_default();
        let replies = AuthReplies {
            success: self.reply(r.success.as_ref(), "235 2.7.0 Authentication successful"),
            failure: self.reply(
                r.failure.as_ref(),
                "535 5.7.8 Authentication credentials invalid",
            ),
            unrecognized: self.reply(
                r.unrecognized.as_ref(),
                "504 5.5.4 Unrecognized authentication type",
            ),
        };
        AuthPlan {
            ntlm: self.ntlm(a.ntlm.as_ref(), hostname),
            mechanisms_after_tls,
            replies,
            mechanisms,
            users: a.users.clone().unwrap_or_default(),
            accept_any: a.accept_any.unwrap_or(false),
            require: a.require.unwrap_or(false),
            after_tls: a.after_tls.unwrap_or(false),
            show_secrets: a.show_secrets.unwrap_or(false),
        }
    }
}
