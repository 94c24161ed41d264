//! TLS material for a scenario: rustls with the ring provider (no OpenSSL),
//! and a self-signed certificate made at start when the scenario names none.

use crate::scenario::model::TlsVersion;
use crate::scenario::Plan;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// An acceptor and the certificate clients should trust.
#[derive(Clone)]
pub struct TlsMaterial {
    /// Performs server handshakes.
    pub acceptor: TlsAcceptor,
    /// The leaf certificate, PEM, for tests that must trust it. Shared:
    /// every connection gets a copy of the material it starts with.
    pub cert_pem: Arc<str>,
    /// The test CA that signed it (`tls.certificate.issuer: test_ca`).
    pub ca_pem: Option<Arc<str>>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial").finish_non_exhaustive()
    }
}

/// Why TLS could not be set up.
///
/// # Example
///
/// ```
/// use smtp_harness::{HarnessError, MockServer, Scenario};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let scenario = Scenario::from_yaml("tls:\n  cert_pem: \"not a certificate\"\n  key_pem: \"nor a key\"\n");
/// // A scenario whose certificate cannot be used fails to load or to start,
/// // with a sentence saying which.
/// if let Ok(scenario) = scenario {
///     match MockServer::start_blocking(scenario) {
///         Err(HarnessError::Tls(e)) => assert!(!e.to_string().is_empty()),
///         other => panic!("expected a TLS error, got {other:?}"),
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// A certificate or key file could not be read.
    #[error("cannot read {path}: {message}")]
    File {
        /// Which file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// rustls or rcgen refused the material.
    #[error("TLS setup failed: {0}")]
    Tls(String),
}

impl TlsMaterial {
    /// Material for `plan`, or `None` when the scenario has no `tls:`.
    pub fn for_plan(plan: &Plan) -> Result<Option<TlsMaterial>, TlsSetupError> {
        let Some(tls) = &plan.tls else {
            return Ok(None);
        };
        let mut ca_pem = None;
        let mut provider = rustls::crypto::ring::default_provider();
        if let Some(names) = &tls.cipher_suites {
            // Names were checked against this provider's when the scenario
            // was loaded.
            provider
                .cipher_suites
                .retain(|s| names.iter().any(|n| Some(n.as_str()) == s.suite().as_str()));
        }
        let (certified, cert_pem) = match &tls.cert_key {
            Some((cert, key)) => {
                let file_err = |what: &str, e: &dyn std::fmt::Display| TlsSetupError::File {
                    path: what.to_string(),
                    message: e.to_string(),
                };
                let certs = CertificateDer::pem_slice_iter(&cert.0)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| file_err("tls.cert", &e))?;
                if certs.is_empty() {
                    return Err(file_err("tls.cert", &"no certificate in it"));
                }
                let key =
                    PrivateKeyDer::from_pem_slice(&key.0).map_err(|e| file_err("tls.key", &e))?;
                // Checks that the key is one ring uses and matches the
                // certificate, as `with_single_cert` did.
                let certified = CertifiedKey::from_der(certs, key, &provider)
                    .map_err(|e| TlsSetupError::Tls(e.to_string()))?;
                (certified, String::from_utf8_lossy(&cert.0).into_owned())
            }
            None => {
                let made = super::tls_cert::make(&tls.certificate, &plan.hostname)
                    .map_err(|e| TlsSetupError::Tls(e.to_string()))?;
                ca_pem = made.ca_pem.map(Arc::from);
                // Made with a key rustls' provider may refuse (RSA 1024):
                // signed by the key itself, not loaded through ring.
                (CertifiedKey::new(made.chain, made.key), made.cert_pem)
            }
        };
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&versions(&tls.versions))
            .map_err(|e| TlsSetupError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
        Ok(Some(TlsMaterial {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            cert_pem: cert_pem.into(),
            ca_pem,
        }))
    }
}

/// rustls' versions for the scenario's `versions`.
fn versions(list: &[TlsVersion]) -> Vec<&'static rustls::SupportedProtocolVersion> {
    list.iter()
        .map(|v| match v {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        })
        .collect()
}
