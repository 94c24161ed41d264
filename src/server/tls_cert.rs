//! The certificate a scenario presents when it names none: shaped like a
//! product's default (`tls.certificate.shape`) and carrying the weaknesses
//! a STARTTLS check must catch (expired, not yet valid, wrong host name,
//! self-signed or chained to a test CA).
//!
//! RSA keys: ring (rustls' and rcgen's provider here) cannot generate RSA
//! keys, only use them; rcgen generates RSA only with aws-lc-rs, a C/cmake
//! build we keep out of the dependency tree. The RSA shapes therefore sign
//! with one fixed 2048-bit key made by `openssl genpkey` and bundled
//! (`tls_keys/rsa2048.pem`): a product install also keeps one key, and a
//! debug-build pure-Rust RSA generation would cost seconds per server. The
//! key is public, for tests only. The certificate itself (names, dates,
//! serial, issuer) is made fresh at every start.
//!
//! The weak keys and signatures ring refuses (`key: rsa1024`, `signature:
//! sha1`) are signed by pure-Rust RSA instead (`tls_rsa`): a second bundled
//! key, `tls_keys/rsa1024.pem`, and a SHA-1 re-signing of the certificate
//! rcgen made, so names and dates still follow the scenario.

use super::tls_rsa::{RsaError, RsaKey, resign_sha1};
use crate::scenario::model::{CertIssuer, CertKey, CertShape, CertSignature, CertValidity};
use crate::scenario::security::CertPlan;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    SerialNumber,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// The bundled RSA 2048 key of the `exchange` and `postfix` shapes.
const RSA2048_PEM: &str = include_str!("tls_keys/rsa2048.pem");
/// The bundled RSA 1024 key of `key: rsa1024` (tls_keys/README.md).
const RSA1024_PEM: &str = include_str!("tls_keys/rsa1024.pem");

/// Why the certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MakeError {
    #[error(transparent)]
    Rcgen(#[from] rcgen::Error),
    #[error(transparent)]
    Rsa(#[from] RsaError),
}

/// A certificate made at start, with its key and, when chained, its CA.
pub(crate) struct Made {
    pub chain: Vec<CertificateDer<'static>>,
    /// Signs the handshakes (ring's, or [`RsaKey`] for what ring refuses).
    pub key: Arc<dyn rustls::sign::SigningKey>,
    /// The same private key, PKCS#8, for the OpenSSL engine.
    pub key_der: PrivateKeyDer<'static>,
    pub cert_pem: String,
    pub ca_pem: Option<String>,
}

/// A key that signs certificates: ring's, or pure-Rust RSA for the sizes
/// ring refuses.
enum AnyKey {
    // Boxed: made once per server start, and clippy weighs the sizes.
    Ring(Box<KeyPair>),
    Rsa(RsaKey),
}

impl AnyKey {
    fn new(kind: CertKey) -> Result<AnyKey, MakeError> {
        Ok(match kind {
            CertKey::EcdsaP256 => AnyKey::Ring(Box::new(KeyPair::generate()?)),
            CertKey::Rsa2048 => AnyKey::Ring(Box::new(KeyPair::from_pkcs8_pem_and_sign_algo(
                RSA2048_PEM,
                &rcgen::PKCS_RSA_SHA256,
            )?)),
            CertKey::Rsa1024 => AnyKey::Rsa(RsaKey::from_pkcs8_pem(RSA1024_PEM)?),
        })
    }

    /// The private key, PKCS#8.
    fn pkcs8(&self) -> PrivateKeyDer<'static> {
        let der = match self {
            AnyKey::Ring(k) => k.serialize_der(),
            AnyKey::Rsa(k) => k.pkcs8_der().to_vec(),
        };
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der))
    }

    /// The same key for rustls' handshakes.
    fn for_tls(&self) -> Result<Arc<dyn rustls::sign::SigningKey>, rcgen::Error> {
        match self {
            AnyKey::Rsa(k) => Ok(Arc::new(k.clone())),
            AnyKey::Ring(_) => rustls::crypto::ring::sign::any_supported_type(&self.pkcs8())
                .map_err(|e| rcgen::Error::RingKeyRejected(e.to_string())),
        }
    }
}

impl rcgen::PublicKeyData for AnyKey {
    fn der_bytes(&self) -> &[u8] {
        match self {
            AnyKey::Ring(k) => k.der_bytes(),
            AnyKey::Rsa(k) => k.der_bytes(),
        }
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            AnyKey::Ring(k) => k.algorithm(),
            AnyKey::Rsa(k) => k.algorithm(),
        }
    }
}

impl rcgen::SigningKey for AnyKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        match self {
            AnyKey::Ring(k) => k.sign(msg),
            AnyKey::Rsa(k) => k.sign(msg),
        }
    }
}

/// The bundled RSA key `kind` names, for a SHA-1 signature (ring signs no
/// SHA-1).
fn rsa_signer(kind: CertKey) -> Result<RsaKey, RsaError> {
    match kind {
        CertKey::Rsa1024 => RsaKey::from_pkcs8_pem(RSA1024_PEM),
        // Validation refuses SHA-1 with an ECDSA key.
        CertKey::Rsa2048 | CertKey::EcdsaP256 => RsaKey::from_pkcs8_pem(RSA2048_PEM),
    }
}

/// Make the certificate `plan` describes for `hostname`.
pub(crate) fn make(plan: &CertPlan, hostname: &str) -> Result<Made, MakeError> {
    let name = plan.name.as_deref().unwrap_or(hostname);
    let mut params = match plan.shape {
        CertShape::Rcgen => CertificateParams::new(vec![
            name.to_string(),
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ])?,
        CertShape::Exchange | CertShape::Postfix => product_params(plan.shape, name)?,
    };
    let key = AnyKey::new(plan.key)?;
    set_validity(&mut params, plan);
    let sha1 = plan.signature == CertSignature::Sha1;
    let (cert, ca_pem, signer) = match plan.issuer {
        CertIssuer::SelfSigned => (params.self_signed(&key)?, None, plan.key),
        CertIssuer::TestCa => {
            // A SHA-1 signature needs an RSA CA; ECDSA otherwise, which
            // ring makes at once.
            let ca_kind = if sha1 { CertKey::Rsa2048 } else { CertKey::EcdsaP256 };
            let (ca_params, ca_key) = test_ca(ca_kind)?;
            let ca_cert = ca_params.self_signed(&ca_key)?;
            let issuer = Issuer::new(ca_params, ca_key);
            let cert = params.signed_by(&key, &issuer)?;
            (cert, Some(ca_cert.pem()), ca_kind)
        }
    };
    let (der, cert_pem) = if sha1 {
        let der = resign_sha1(cert.der(), &rsa_signer(signer)?)?;
        let pem = pem_certificate(&der);
        (CertificateDer::from(der), pem)
    } else {
        (cert.der().clone(), cert.pem())
    };
    Ok(Made {
        chain: vec![der],
        key: key.for_tls()?,
        key_der: key.pkcs8(),
        cert_pem,
        ca_pem,
    })
}

/// `der` as a PEM CERTIFICATE block, 64 columns, as rcgen writes one.
fn pem_certificate(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        // Base64 is ASCII.
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// The names, subject and extensions of a product's default certificate.
fn product_params(shape: CertShape, name: &str) -> Result<CertificateParams, rcgen::Error> {
    // Exchange names its default certificate after the server's NetBIOS
    // name (`CN=E15MB1`) and lists that name and the FQDN as SANs;
    // make-ssl-cert puts the FQDN in both.
    let short = name.split('.').next().unwrap_or(name);
    let (cn, sans) = match shape {
        CertShape::Exchange if short != name => (short, vec![short.to_string(), name.to_string()]),
        _ => (name, vec![name.to_string()]),
    };
    let mut params = CertificateParams::new(sans)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    // Both products write a random serial (openssl req -x509; Exchange's
    // New-ExchangeCertificate); rcgen's default is derived from the key,
    // the same at every start.
    params.serial_number = Some(SerialNumber::from_slice(&random_serial()));
    if shape == CertShape::Postfix {
        // ssleay.cnf's v3_req: `basicConstraints = CA:FALSE`.
        params.is_ca = IsCa::ExplicitNoCa;
    }
    Ok(params)
}

/// The shape's lifetime, shifted for the `validity` weakness.
fn set_validity(params: &mut CertificateParams, plan: &CertPlan) {
    let lifetime = match plan.shape {
        // rcgen's 1975–4096 is kept when valid; a year otherwise.
        CertShape::Rcgen if plan.validity == CertValidity::Current => return,
        CertShape::Rcgen => Duration::days(365),
        CertShape::Exchange => Duration::days(5 * 365),
        // make-ssl-cert's `-days 3650`.
        CertShape::Postfix => Duration::days(3650),
    };
    let now = OffsetDateTime::now_utc();
    let start = match plan.validity {
        // A few minutes back, so a client whose clock lags does not see a
        // certificate from the future.
        CertValidity::Current => now - Duration::minutes(5),
        CertValidity::Expired => now - Duration::days(30) - lifetime,
        CertValidity::NotYetValid => now + Duration::days(30),
    };
    params.not_before = start;
    params.not_after = start + lifetime;
}

/// A CA made at start for `issuer: test_ca`, with a key of `kind`.
fn test_ca(kind: CertKey) -> Result<(CertificateParams, AnyKey), MakeError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "smtp-harness test CA");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.serial_number = Some(SerialNumber::from_slice(&random_serial()));
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(3650);
    Ok((params, AnyKey::new(kind)?))
}

/// Sixteen random bytes, positive (high bit clear) as DER integers must be
/// for a serial.
fn random_serial() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    // ring's system random; should it fail, the serial is merely
    // predictable, which harms no test.
    let _ = rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut bytes);
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    bytes
}
