//! The OpenSSL engine, for scenarios offering TLS 1.0 or 1.1 (which rustls
//! cannot speak), in a build with the `legacy-tls` feature. It serves the
//! same certificate and key as rustls would, and hands back a stream the
//! connection reads and writes like rustls' ([`super::tls::ServerTls`]).
//!
//! Debian's OpenSSL 3 refuses TLS 1.0 and 1.1 at its default security level
//! (their handshake signatures use SHA-1, which level 1 and above forbid):
//! the cipher list is `DEFAULT@SECLEVEL=0`, as it must be for the client
//! too (`openssl s_client -tls1 -cipher DEFAULT@SECLEVEL=0`).

use super::tls::Cert;
use crate::scenario::model::TlsVersion;
use crate::transcript::EventKind;
use openssl::pkey::PKey;
use openssl::ssl::{NameType, Ssl, SslContext, SslMethod, SslOptions, SslVersion};
use openssl::x509::X509;
use std::pin::Pin;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_openssl::SslStream;

/// An OpenSSL server context, shared by every connection of a server.
#[derive(Clone)]
pub struct OpenSslAcceptor {
    context: SslContext,
}

/// The versions in the order OpenSSL ranks them, with the option that
/// turns each one off.
const ALL: [(TlsVersion, SslVersion, SslOptions); 4] = [
    (TlsVersion::Tls10, SslVersion::TLS1, SslOptions::NO_TLSV1),
    (TlsVersion::Tls11, SslVersion::TLS1_1, SslOptions::NO_TLSV1_1),
    (TlsVersion::Tls12, SslVersion::TLS1_2, SslOptions::NO_TLSV1_2),
    (TlsVersion::Tls13, SslVersion::TLS1_3, SslOptions::NO_TLSV1_3),
];

impl OpenSslAcceptor {
    /// A context offering exactly `versions` with `cert`.
    pub(crate) fn new(
        versions: &[TlsVersion],
        cert: &Cert,
    ) -> Result<OpenSslAcceptor, openssl::error::ErrorStack> {
        let mut b = SslContext::builder(SslMethod::tls_server())?;
        // Level 0 first: the level also limits the key and certificate
        // accepted below (an RSA 1024 key, a SHA-1 signature).
        b.set_security_level(0);
        b.set_cipher_list("DEFAULT@SECLEVEL=0")?;
        let offered: Vec<_> = ALL.iter().filter(|(v, ..)| versions.contains(v)).collect();
        b.set_min_proto_version(offered.first().map(|(_, s, _)| *s))?;
        b.set_max_proto_version(offered.last().map(|(_, s, _)| *s))?;
        // A gap (say 1.0 and 1.2 without 1.1) is turned off on its own.
        for (version, _, off) in ALL {
            if !versions.contains(&version) {
                b.set_options(off);
            }
        }
        let mut chain = cert.chain.iter();
        if let Some(leaf) = chain.next() {
            let leaf = X509::from_der(leaf)?;
            b.set_certificate(&leaf)?;
        }
        for extra in chain {
            b.add_extra_chain_cert(X509::from_der(extra)?)?;
        }
        let key = PKey::private_key_from_der(cert.key_der.secret_der())?;
        b.set_private_key(&key)?;
        b.check_private_key()?;
        Ok(OpenSslAcceptor { context: b.build() })
    }

    /// The server side of a handshake over `stream`.
    pub(crate) async fn accept<S>(&self, stream: S) -> std::io::Result<(SslStream<S>, EventKind)>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let ssl = Ssl::new(&self.context).map_err(std::io::Error::other)?;
        let mut stream = SslStream::new(ssl, stream).map_err(std::io::Error::other)?;
        Pin::new(&mut stream)
            .accept()
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let ssl = stream.ssl();
        let event = EventKind::Tls {
            version: rustls_style(ssl.version_str()),
            // The IANA name, as rustls' events give it.
            cipher: ssl.current_cipher().map_or_else(
                || "unknown".into(),
                |c| c.standard_name().unwrap_or(c.name()).to_string(),
            ),
            sni: ssl.servername(NameType::HOST_NAME).map(str::to_string),
        };
        Ok((stream, event))
    }
}

/// OpenSSL's `TLSv1.1` as rustls' events spell versions (`TLSv1_1`), so a
/// transcript reads the same whichever engine served it.
fn rustls_style(version: &str) -> String {
    match version {
        "TLSv1" => "TLSv1_0".into(),
        other => other.replace('.', "_"),
    }
}
