//! RSA signing in pure Rust (RustCrypto's `rsa`) for the weak certificates
//! ring cannot make or use: ring refuses RSA private keys under 2048 bits
//! (`RsaKeyPair::from_pkcs8`: "modulus is 2048 to … bits") and has no SHA-1
//! signing algorithm. So a `key: rsa1024` certificate is signed here and its
//! TLS handshakes are signed here (a rustls [`SigningKey`] of our own), and
//! a `signature: sha1` certificate is re-signed here with
//! sha1WithRSAEncryption ([`resign_sha1`]).
//!
//! `rsa`'s private-key operation is not constant-time (RUSTSEC-2023-0071,
//! the Marvin attack). That matters for secret keys; these keys are public
//! test keys bundled with the crate (`tls_keys/`), so it does not here.

use rand_core::OsRng;
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, Pss, RsaPrivateKey};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::{SignatureAlgorithm, SignatureScheme};
use sha2::Digest;
use std::sync::Arc;

/// Why a bundled RSA key could not be read or a certificate re-signed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct RsaError(String);

/// An RSA key of any size, usable by rcgen (to sign certificates) and by
/// rustls (to sign handshakes).
#[derive(Clone)]
pub(crate) struct RsaKey {
    key: Arc<RsaPrivateKey>,
    /// PKCS#1 RSAPublicKey, DER: what rcgen puts in the SubjectPublicKeyInfo.
    public_der: Vec<u8>,
    /// The private key as read (PKCS#8, DER), for the OpenSSL engine.
    pkcs8: Arc<[u8]>,
}

impl std::fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaKey({} bits)", self.key.as_ref().size() * 8)
    }
}

impl RsaKey {
    /// The key in a PKCS#8 PEM (`openssl genpkey` writes that).
    pub(crate) fn from_pkcs8_pem(pem: &str) -> Result<RsaKey, RsaError> {
        let bad = |e: &dyn std::fmt::Display| RsaError(format!("bundled RSA key: {e}"));
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| bad(&e))?;
        let key = RsaPrivateKey::from_pkcs8_der(der.secret_pkcs8_der()).map_err(|e| bad(&e))?;
        let public_der = key
            .to_public_key()
            .to_pkcs1_der()
            .map_err(|e| bad(&e))?
            .into_vec();
        Ok(RsaKey {
            key: Arc::new(key),
            public_der,
            pkcs8: Arc::from(der.secret_pkcs8_der()),
        })
    }

    /// The private key, PKCS#8 DER.
    pub(crate) fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// PKCS#1 v1.5 over SHA-1 of `msg` (sha1WithRSAEncryption).
    fn sign_sha1(&self, msg: &[u8]) -> Result<Vec<u8>, RsaError> {
        let digest = sha1::Sha1::digest(msg);
        self.key
            .sign(Pkcs1v15Sign::new::<sha1::Sha1>(), &digest)
            .map_err(|e| RsaError(format!("SHA-1 signing failed: {e}")))
    }

    /// Whether the modulus is long enough for `scheme`: PSS needs the hash
    /// twice (digest and salt) plus two bytes, so RSA 1024 (128 bytes) has
    /// no room for PSS with SHA-512 (130), as OpenSSL also finds.
    fn fits(&self, scheme: SignatureScheme) -> bool {
        let hash_len = match scheme {
            SignatureScheme::RSA_PSS_SHA512 => 64,
            SignatureScheme::RSA_PSS_SHA384 => 48,
            SignatureScheme::RSA_PSS_SHA256 => 32,
            _ => return true,
        };
        self.key.size() >= 2 * hash_len + 2
    }

    /// `msg` signed with `scheme` (one of [`SCHEMES`]).
    fn sign_scheme(&self, scheme: SignatureScheme, msg: &[u8]) -> rsa::Result<Vec<u8>> {
        use sha2::{Sha256, Sha384, Sha512};
        let key = self.key.as_ref();
        match scheme {
            SignatureScheme::RSA_PSS_SHA512 => {
                key.sign_with_rng(&mut OsRng, Pss::new::<Sha512>(), &Sha512::digest(msg))
            }
            SignatureScheme::RSA_PSS_SHA384 => {
                key.sign_with_rng(&mut OsRng, Pss::new::<Sha384>(), &Sha384::digest(msg))
            }
            SignatureScheme::RSA_PSS_SHA256 => {
                key.sign_with_rng(&mut OsRng, Pss::new::<Sha256>(), &Sha256::digest(msg))
            }
            SignatureScheme::RSA_PKCS1_SHA512 => {
                key.sign(Pkcs1v15Sign::new::<Sha512>(), &Sha512::digest(msg))
            }
            SignatureScheme::RSA_PKCS1_SHA384 => {
                key.sign(Pkcs1v15Sign::new::<Sha384>(), &Sha384::digest(msg))
            }
            _ => key.sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(msg)),
        }
    }
}

impl rcgen::PublicKeyData for RsaKey {
    fn der_bytes(&self) -> &[u8] {
        &self.public_der
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_RSA_SHA256
    }
}

impl rcgen::SigningKey for RsaKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.sign_scheme(SignatureScheme::RSA_PKCS1_SHA256, msg)
            .map_err(|_| rcgen::Error::RingUnspecified)
    }
}

/// The schemes a handshake may use, in rustls' own order of preference
/// (PSS first; TLS 1.3 allows only PSS).
const SCHEMES: [SignatureScheme; 6] = [
    SignatureScheme::RSA_PSS_SHA512,
    SignatureScheme::RSA_PSS_SHA384,
    SignatureScheme::RSA_PSS_SHA256,
    SignatureScheme::RSA_PKCS1_SHA512,
    SignatureScheme::RSA_PKCS1_SHA384,
    SignatureScheme::RSA_PKCS1_SHA256,
];

impl rustls::sign::SigningKey for RsaKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn rustls::sign::Signer>> {
        let scheme = SCHEMES
            .into_iter()
            .find(|s| offered.contains(s) && self.fits(*s))?;
        Some(Box::new(RsaSigner {
            key: self.clone(),
            scheme,
        }))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::RSA
    }
}

/// One handshake's signer.
#[derive(Debug)]
struct RsaSigner {
    key: RsaKey,
    scheme: SignatureScheme,
}

impl rustls::sign::Signer for RsaSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        self.key
            .sign_scheme(self.scheme, message)
            .map_err(|e| rustls::Error::General(format!("RSA signing failed: {e}")))
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
}

/// The DER of an AlgorithmIdentifier for sha256WithRSAEncryption
/// (1.2.840.113549.1.1.11, NULL parameters), as rcgen writes it.
const SHA256_RSA: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00,
];

/// `cert` (DER, signed by rcgen with sha256WithRSAEncryption) turned into
/// the same certificate signed by `signer` with sha1WithRSAEncryption
/// (1.2.840.113549.1.1.5). The two AlgorithmIdentifiers (in the
/// TBSCertificate and after it) differ in the OID's last byte only, and an
/// RSA signature's length is the modulus', so every DER length stays as it
/// is: the TBSCertificate is patched in place, signed again, and the new
/// signature replaces the old one, byte for byte.
pub(crate) fn resign_sha1(cert: &[u8], signer: &RsaKey) -> Result<Vec<u8>, RsaError> {
    let bad = |what: &str| RsaError(format!("cannot re-sign with SHA-1: {what}"));
    let (outer_start, outer_len) = der_header(cert, 0).ok_or_else(|| bad("not a SEQUENCE"))?;
    let (tbs_body, tbs_len) = der_header(cert, outer_start).ok_or_else(|| bad("no TBSCertificate"))?;
    let tbs_end = tbs_body + tbs_len;
    let mut out = cert.to_vec();
    let mut patched = 0;
    for at in [outer_start..tbs_end, tbs_end..cert.len()] {
        let Some(found) = memchr::memmem::find(&out[at.clone()], &SHA256_RSA) else {
            continue;
        };
        // The OID's last arc: 11 (sha256WithRSAEncryption) → 5 (sha1…).
        out[at.start + found + 12] = 0x05;
        patched += 1;
    }
    if patched != 2 {
        return Err(bad("not signed with sha256WithRSAEncryption"));
    }
    let signature = signer.sign_sha1(&out[outer_start..tbs_end])?;
    // The BIT STRING closing the certificate: its content is one byte of
    // unused bits (0), then the signature.
    if outer_start + outer_len != cert.len() || signature.len() + 1 > cert.len() - tbs_end {
        return Err(bad("unexpected layout"));
    }
    let sig_at = cert.len() - signature.len();
    if out[sig_at - 1] != 0 {
        return Err(bad("unexpected signature BIT STRING"));
    }
    out[sig_at..].copy_from_slice(&signature);
    Ok(out)
}

/// The start of the content and its length of the DER element at `at`
/// (definite lengths only, as DER has).
fn der_header(der: &[u8], at: usize) -> Option<(usize, usize)> {
    let first = *der.get(at + 1)?;
    if first < 0x80 {
        return Some((at + 2, first as usize));
    }
    let count = (first & 0x7f) as usize;
    if count == 0 || count > 4 {
        return None;
    }
    let bytes = der.get(at + 2..at + 2 + count)?;
    let len = bytes.iter().fold(0usize, |n, b| (n << 8) | *b as usize);
    Some((at + 2 + count, len))
}

