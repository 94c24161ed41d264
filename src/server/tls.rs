//! TLS material for a scenario: rustls with the ring provider (no OpenSSL),
//! and a self-signed certificate made at start when the scenario names none.
//! TLS 1.0 and 1.1, which rustls cannot speak, go through the system's
//! OpenSSL instead, in a build with the `legacy-tls` feature
//! (`tls_legacy`), behind the same [`Acceptor`] and [`ServerTls`].

use crate::scenario::Plan;
use crate::scenario::model::{Pem, TlsVersion};
use crate::scenario::security::TlsPlan;
use crate::transcript::EventKind;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// An acceptor and the certificate clients should trust.
#[derive(Clone)]
pub struct TlsMaterial {
    /// Performs server handshakes.
    pub acceptor: Acceptor,
    /// The leaf certificate, PEM, for tests that must trust it. Shared:
    /// every connection gets a copy of the material it starts with.
    pub cert_pem: Arc<str>,
    /// The test CA that signed it (`tls.certificate.issuer: test_ca`).
    pub ca_pem: Option<Arc<str>>,
}

/// The TLS engine a scenario's handshakes go through: rustls, or for TLS
/// 1.0 and 1.1 (which rustls cannot speak) the system's OpenSSL, in a build
/// with the `legacy-tls` feature. Both hand back a [`ServerTls`] stream, so
/// STARTTLS and implicit TLS take one path whichever it is.
#[derive(Clone)]
pub enum Acceptor {
    /// rustls on ring.
    Rustls(TlsAcceptor),
    /// OpenSSL (`tls.versions` names 1.0 or 1.1).
    #[cfg(feature = "legacy-tls")]
    OpenSsl(super::tls_legacy::OpenSslAcceptor),
}

impl Acceptor {
    /// The server side of a handshake over `stream`, and what the
    /// transcript keeps of it.
    pub(crate) async fn accept<S>(&self, stream: S) -> std::io::Result<(ServerTls<S>, EventKind)>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        match self {
            Acceptor::Rustls(acceptor) => {
                let stream = acceptor.accept(stream).await?;
                let event = negotiated(stream.get_ref().1);
                Ok((ServerTls::Rustls(Box::new(stream)), event))
            }
            #[cfg(feature = "legacy-tls")]
            Acceptor::OpenSsl(acceptor) => {
                let (stream, event) = acceptor.accept(stream).await?;
                Ok((ServerTls::OpenSsl(Box::new(stream)), event))
            }
        }
    }
}

/// What the transcript keeps of a finished rustls handshake.
fn negotiated(conn: &rustls::ServerConnection) -> EventKind {
    EventKind::Tls {
        version: conn
            .protocol_version()
            .map_or_else(|| "unknown".into(), |v| format!("{v:?}")),
        cipher: conn
            .negotiated_cipher_suite()
            .map_or_else(|| "unknown".into(), |c| format!("{:?}", c.suite())),
        sni: conn.server_name().map(str::to_string),
    }
}

/// A server-side TLS stream of either engine.
pub enum ServerTls<S> {
    /// rustls'.
    Rustls(Box<tokio_rustls::server::TlsStream<S>>),
    /// OpenSSL's.
    #[cfg(feature = "legacy-tls")]
    OpenSsl(Box<tokio_openssl::SslStream<S>>),
}

/// Forward a poll to whichever engine's stream this is.
macro_rules! either {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            ServerTls::Rustls($s) => {
                let $s = Pin::new($s.as_mut());
                $e
            }
            #[cfg(feature = "legacy-tls")]
            ServerTls::OpenSsl($s) => {
                let $s = Pin::new($s.as_mut());
                $e
            }
        }
    };
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for ServerTls<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        either!(self, s => s.poll_read(cx, buf))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for ServerTls<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        either!(self, s => s.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        either!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        either!(self, s => s.poll_shutdown(cx))
    }
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
        let cert = match &tls.cert_key {
            Some((cert, key)) => from_files(cert, key)?,
            None => {
                let made = super::tls_cert::make(&tls.certificate, &plan.hostname)
                    .map_err(|e| TlsSetupError::Tls(e.to_string()))?;
                ca_pem = made.ca_pem.map(Arc::from);
                Cert {
                    chain: made.chain,
                    signing: Some(made.key),
                    key_der: made.key_der,
                    pem: made.cert_pem,
                }
            }
        };
        let cert_pem = cert.pem.clone().into();
        let acceptor = if tls.legacy() {
            legacy_acceptor(tls, cert)?
        } else {
            Acceptor::Rustls(rustls_acceptor(tls, cert)?)
        };
        Ok(Some(TlsMaterial {
            acceptor,
            cert_pem,
            ca_pem,
        }))
    }
}

/// A certificate chain and its key, from files or made at start.
pub(crate) struct Cert {
    pub chain: Vec<CertificateDer<'static>>,
    /// The key for rustls when made at start (it may be one ring refuses);
    /// `None` for files, loaded through ring.
    pub signing: Option<Arc<dyn rustls::sign::SigningKey>>,
    pub key_der: PrivateKeyDer<'static>,
    pub pem: String,
}

/// `tls.cert` and `tls.key`, as read when the scenario was loaded.
fn from_files(cert: &Pem, key: &Pem) -> Result<Cert, TlsSetupError> {
    let file_err = |what: &str, e: &dyn std::fmt::Display| TlsSetupError::File {
        path: what.to_string(),
        message: e.to_string(),
    };
    let chain = CertificateDer::pem_slice_iter(&cert.0)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err("tls.cert", &e))?;
    if chain.is_empty() {
        return Err(file_err("tls.cert", &"no certificate in it"));
    }
    let key_der = PrivateKeyDer::from_pem_slice(&key.0).map_err(|e| file_err("tls.key", &e))?;
    Ok(Cert {
        chain,
        signing: None,
        key_der,
        pem: String::from_utf8_lossy(&cert.0).into_owned(),
    })
}

/// rustls (TLS 1.2 and 1.3) for `tls`.
fn rustls_acceptor(tls: &TlsPlan, cert: Cert) -> Result<TlsAcceptor, TlsSetupError> {
    let tls_err = |e: rustls::Error| TlsSetupError::Tls(e.to_string());
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(names) = &tls.cipher_suites {
        // Names were checked against this provider's when the scenario
        // was loaded.
        provider
            .cipher_suites
            .retain(|s| names.iter().any(|n| Some(n.as_str()) == s.suite().as_str()));
    }
    let certified = match cert.signing {
        // Made with a key rustls' provider may refuse (RSA 1024): signed
        // by the key itself, not loaded through ring.
        Some(key) => CertifiedKey::new(cert.chain, key),
        // Checks that ring takes the key and that it matches the
        // certificate, as `with_single_cert` did.
        None => CertifiedKey::from_der(cert.chain, cert.key_der, &provider).map_err(tls_err)?,
    };
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&versions(&tls.versions))
        .map_err(tls_err)?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// OpenSSL for a scenario offering TLS 1.0 or 1.1.
#[cfg(feature = "legacy-tls")]
fn legacy_acceptor(tls: &TlsPlan, cert: Cert) -> Result<Acceptor, TlsSetupError> {
    super::tls_legacy::OpenSslAcceptor::new(&tls.versions, &cert)
        .map(Acceptor::OpenSsl)
        .map_err(|e| TlsSetupError::Tls(format!("OpenSSL: {e}")))
}

/// Validation refuses TLS 1.0 and 1.1 in a build without the feature; a
/// plan made some other way still gets a sentence, not a panic.
#[cfg(not(feature = "legacy-tls"))]
fn legacy_acceptor(_: &TlsPlan, _: Cert) -> Result<Acceptor, TlsSetupError> {
    Err(TlsSetupError::Tls(
        "TLS 1.0 and 1.1 need a build with the `legacy-tls` feature".into(),
    ))
}

/// rustls' versions for the scenario's `versions` (1.0 and 1.1 go to
/// OpenSSL: `TlsPlan::legacy`).
fn versions(list: &[TlsVersion]) -> Vec<&'static rustls::SupportedProtocolVersion> {
    list.iter()
        .filter_map(|v| match v {
            TlsVersion::Tls12 => Some(&rustls::version::TLS12),
            TlsVersion::Tls13 => Some(&rustls::version::TLS13),
            TlsVersion::Tls10 | TlsVersion::Tls11 => None,
        })
        .collect()
}
