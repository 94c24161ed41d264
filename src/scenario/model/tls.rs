//! `tls:`: STARTTLS or implicit TLS, the certificate made at start and its weaknesses, versions.

use super::*;

/// `tls:` — real TLS with rustls.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsSpec {
    /// Advertise and accept STARTTLS (default true).
    pub starttls: Option<bool>,
    /// TLS from the first byte, as on port 465 (default false).
    pub implicit: Option<bool>,
    /// Certificate chain (PEM), relative to the scenario file; without it a
    /// self-signed certificate for `hostname`, `localhost` and 127.0.0.1 is
    /// made at start.
    #[schemars(with = "Option<String>")]
    pub cert: Option<Spanned<String>>,
    /// Private key (PEM) for `cert`.
    #[schemars(with = "Option<String>")]
    pub key: Option<Spanned<String>>,
    /// What `cert` held when the file naming it was loaded (never YAML).
    #[serde(skip)]
    #[schemars(skip)]
    pub(crate) cert_pem: Option<Pem>,
    /// What `key` held when the file naming it was loaded (never YAML).
    #[serde(skip)]
    #[schemars(skip)]
    pub(crate) key_pem: Option<Pem>,
    /// Refuse MAIL before TLS: `530 5.7.0 Must issue a STARTTLS command first`.
    pub require: Option<bool>,
    /// EHLO keywords after the handshake (default: the same minus STARTTLS).
    #[schemars(with = "Option<Vec<String>>")]
    pub keywords_after: Option<Vec<Spanned<String>>>,
    /// Scripted failure: `refuse` (454 to STARTTLS) or `break` (220, then a
    /// broken handshake).
    pub fail: Option<TlsFailure>,
    /// The certificate made at start when `cert`/`key` are left out: whose
    /// default it copies and which weaknesses it carries.
    #[schemars(with = "Option<CertificateSpec>")]
    pub certificate: Option<Spanned<CertificateSpec>>,
    /// Protocol versions offered: `"1.2"`, `"1.3"` (default both); `"1.0"`
    /// and `"1.1"` only in a build with the `legacy-tls` feature (OpenSSL),
    /// since rustls cannot speak them (docs/scenarios.md).
    #[schemars(with = "Option<Vec<TlsVersion>>")]
    pub versions: Option<Spanned<Vec<TlsVersion>>>,
    /// Cipher suites offered, by their IANA names as rustls spells them
    /// (`TLS13_AES_256_GCM_SHA384`, `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`…);
    /// default: every suite rustls' ring provider has.
    #[schemars(with = "Option<Vec<String>>")]
    pub cipher_suites: Option<Spanned<Vec<Spanned<String>>>>,
}

/// `tls.certificate:` — the shape of the certificate made at start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificateSpec {
    /// Whose default certificate to copy (default `rcgen`).
    pub shape: Option<CertShape>,
    /// Who signs it (default `self`: self-signed, as every product default is).
    pub issuer: Option<CertIssuer>,
    /// When it is valid (default `current`).
    pub validity: Option<CertValidity>,
    /// Subject CN and DNS name instead of the scenario's `hostname`, to
    /// present a certificate for the wrong host.
    #[schemars(with = "Option<String>")]
    pub name: Option<Spanned<String>>,
    /// The key (default: the shape's; `rsa1024` for a weak key).
    #[schemars(with = "Option<CertKey>")]
    pub key: Option<Spanned<CertKey>>,
    /// The signature's hash (default `sha256`; `sha1` for a weak one, RSA
    /// keys only).
    #[schemars(with = "Option<CertSignature>")]
    pub signature: Option<Spanned<CertSignature>>,
}

/// The key of the certificate made at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CertKey {
    /// ECDSA on P-256, made at start (the `rcgen` shape's).
    EcdsaP256,
    /// RSA 2048, the bundled key (the `exchange` and `postfix` shapes').
    Rsa2048,
    /// RSA 1024, the bundled key: a key too short, which a check must flag.
    Rsa1024,
}

/// The hash the certificate made at start is signed with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CertSignature {
    /// SHA-256 (ecdsa-with-SHA256 or sha256WithRSAEncryption).
    #[default]
    Sha256,
    /// sha1WithRSAEncryption, which a check must flag (RSA keys only).
    Sha1,
}

/// Whose default certificate `tls.certificate.shape` copies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CertShape {
    /// rcgen's own: ECDSA P-256, `CN = rcgen self signed cert`, valid
    /// 1975–4096, names `hostname`, `localhost` and 127.0.0.1 (what every TLS
    /// scenario had before shapes existed).
    #[default]
    Rcgen,
    /// Exchange 2013–2019's self-signed default: RSA 2048, SHA-256, CN the
    /// host name's first label (the NetBIOS name), SANs that label and the
    /// host name, valid five years.
    Exchange,
    /// Debian's `ssl-cert-snakeoil` (make-ssl-cert), which Postfix uses:
    /// RSA 2048, SHA-256, CN and SAN the host name, `CA:FALSE`, ten years.
    Postfix,
}

/// Who signs the certificate made at start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CertIssuer {
    /// Self-signed, as a product's default certificate is.
    #[default]
    #[serde(rename = "self")]
    SelfSigned,
    /// A CA made at start that the test can trust
    /// (`MockServer::tls_ca_certificate_pem`).
    TestCa,
}

/// When the certificate made at start is valid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CertValidity {
    /// Valid now, for the shape's lifetime.
    #[default]
    Current,
    /// Expired 30 days ago.
    Expired,
    /// Valid from 30 days from now.
    NotYetValid,
}

/// A TLS protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
pub enum TlsVersion {
    /// TLS 1.0: the OpenSSL engine only (cargo feature `legacy-tls`).
    #[serde(rename = "1.0")]
    Tls10,
    /// TLS 1.1: the OpenSSL engine only (cargo feature `legacy-tls`).
    #[serde(rename = "1.1")]
    Tls11,
    /// TLS 1.2.
    #[serde(rename = "1.2")]
    Tls12,
    /// TLS 1.3.
    #[serde(rename = "1.3")]
    Tls13,
}

impl TlsVersion {
    /// As scenarios write it.
    pub fn name(self) -> &'static str {
        match self {
            TlsVersion::Tls10 => "1.0",
            TlsVersion::Tls11 => "1.1",
            TlsVersion::Tls12 => "1.2",
            TlsVersion::Tls13 => "1.3",
        }
    }

    /// TLS 1.0 or 1.1, which rustls cannot speak.
    pub fn is_legacy(self) -> bool {
        matches!(self, TlsVersion::Tls10 | TlsVersion::Tls11)
    }
}

/// The bytes of a PEM file, read once when the scenario is loaded so that
/// nothing later reads a path again; `Debug` shows only the length, since
/// a key is a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Pem(pub(crate) std::sync::Arc<[u8]>);

impl std::fmt::Debug for Pem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pem({} bytes)", self.0.len())
    }
}

/// How STARTTLS fails, for the cases detectors must flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TlsFailure {
    /// Advertise STARTTLS but answer `454 4.7.0 TLS not available due to temporary reason`.
    Refuse,
    /// Answer 220, then send a TLS alert instead of a handshake and close.
    Break,
}
