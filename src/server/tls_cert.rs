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

use crate::scenario::model::{CertIssuer, CertShape, CertValidity};
use crate::scenario::security::CertPlan;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    SerialNumber,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

/// The bundled RSA 2048 key of the `exchange` and `postfix` shapes.
const RSA2048_PEM: &str = include_str!("tls_keys/rsa2048.pem");

/// A certificate made at start, with its key and, when chained, its CA.
pub(crate) struct Made {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub cert_pem: String,
    pub ca_pem: Option<String>,
}

/// Make the certificate `plan` describes for `hostname`.
pub(crate) fn make(plan: &CertPlan, hostname: &str) -> Result<Made, rcgen::Error> {
    let name = plan.name.as_deref().unwrap_or(hostname);
    let (mut params, key) = match plan.shape {
        CertShape::Rcgen => {
            let names = vec![
                name.to_string(),
                "localhost".to_string(),
                "127.0.0.1".to_string(),
            ];
            (CertificateParams::new(names)?, KeyPair::generate()?)
        }
        CertShape::Exchange | CertShape::Postfix => {
            let key = KeyPair::from_pkcs8_pem_and_sign_algo(RSA2048_PEM, &rcgen::PKCS_RSA_SHA256)?;
            (product_params(plan.shape, name)?, key)
        }
    };
    set_validity(&mut params, plan);
    let leaf_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let (cert, ca_pem) = match plan.issuer {
        CertIssuer::SelfSigned => (params.self_signed(&key)?, None),
        CertIssuer::TestCa => {
            let (ca_params, ca_key) = test_ca()?;
            let ca_cert = ca_params.self_signed(&ca_key)?;
            let issuer = Issuer::new(ca_params, ca_key);
            (params.signed_by(&key, &issuer)?, Some(ca_cert.pem()))
        }
    };
    Ok(Made {
        chain: vec![cert.der().clone()],
        key: leaf_der,
        cert_pem: cert.pem(),
        ca_pem,
    })
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

/// A CA made at start for `issuer: test_ca` (ECDSA P-256: ring generates it
/// at once).
fn test_ca() -> Result<(CertificateParams, KeyPair), rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "smtp-harness test CA");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.serial_number = Some(SerialNumber::from_slice(&random_serial()));
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(3650);
    Ok((params, KeyPair::generate()?))
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
