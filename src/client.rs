//! A small SMTP client: what the demo and the probe use to talk to servers.
//!
//! It shares the reply parser with the proxy and bounds every step: a whole
//! reply must arrive within the timeout (not just each read), a reply may not
//! have more than [`MAX_REPLY_LINES`] lines, so a silent, dribbling or
//! garbage-speaking peer produces an error, never a hang.
//!
//! [`SmtpClient::starttls`] upgrades the connection with rustls. A probe
//! wants to know whether the handshake *works*, not whether the certificate
//! is trusted, so the verifier accepts any certificate and records what it
//! saw ([`TlsInfo`]).

use crate::protocol::Reply;
use crate::protocol::reply::ReplyAssembler;
use bytes::BytesMut;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// What went wrong talking to a server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Connecting or a socket operation failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The server did not answer in time.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
    /// The server sent something that is not an SMTP reply.
    #[error("{0}")]
    Garbage(String),
    /// The TLS handshake failed.
    #[error("TLS handshake failed: {0}")]
    Tls(String),
}

/// What a completed TLS handshake showed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TlsInfo {
    /// Protocol version (`TLSv1_3`).
    pub version: String,
    /// Negotiated cipher suite.
    pub cipher: String,
    /// How many certificates the server sent (leaf first).
    pub certificates: usize,
    /// Size of the leaf certificate in octets (0 if none was sent).
    pub leaf_certificate_octets: usize,
}

/// The socket, plain or upgraded.
enum Conn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// Only during an upgrade, or after a failed one.
    Gone,
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Conn::Gone => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Conn::Gone => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Conn::Gone => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Conn::Gone => Poll::Ready(Ok(())),
        }
    }
}

/// One SMTP connection.
pub struct SmtpClient {
    conn: Conn,
    buf: BytesMut,
    timeout: Duration,
}

impl std::fmt::Debug for SmtpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpClient")
            .field("tls", &matches!(self.conn, Conn::Tls(_)))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Longest reply line we accept from a server (RFC 5321 says 512; be generous).
const MAX_REPLY_LINE: usize = 4096;

/// Most lines one reply may have (an EHLO reply has a few dozen at most).
pub const MAX_REPLY_LINES: usize = 200;

impl SmtpClient {
    /// Connect, with `timeout` for the connection and each later step.
    pub async fn connect(addr: SocketAddr, timeout: Duration) -> Result<SmtpClient, ClientError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::Timeout(timeout))??;
        let _ = stream.set_nodelay(true);
        Ok(SmtpClient {
            conn: Conn::Plain(stream),
            buf: BytesMut::with_capacity(1024),
            timeout,
        })
    }

    /// Read one complete reply; the whole reply must arrive within the timeout.
    pub async fn read_reply(&mut self) -> Result<Reply, ClientError> {
        let deadline = Instant::now() + self.timeout;
        let mut assembler = ReplyAssembler::default();
        let mut lines = 0usize;
        loop {
            while let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let line = self.buf.split_to(pos + 1);
                lines += 1;
                if let Some(reply) = assembler.push(&line).map_err(ClientError::Garbage)? {
                    return Ok(reply);
                }
                if lines >= MAX_REPLY_LINES {
                    return Err(ClientError::Garbage(format!(
                        "a reply of more than {MAX_REPLY_LINES} lines"
                    )));
                }
            }
            if self.buf.len() > MAX_REPLY_LINE {
                return Err(ClientError::Garbage(format!(
                    "a reply line longer than {MAX_REPLY_LINE} octets"
                )));
            }
            self.buf.reserve(1024);
            let n = tokio::time::timeout_at(deadline, self.conn.read_buf(&mut self.buf))
                .await
                .map_err(|_| ClientError::Timeout(self.timeout))??;
            if n == 0 {
                return Err(ClientError::Closed);
            }
        }
    }

    /// Send one command line (CRLF added) and read the reply.
    pub async fn command(&mut self, line: &str) -> Result<Reply, ClientError> {
        self.send_raw(format!("{line}\r\n").as_bytes()).await?;
        self.read_reply().await
    }

    /// Send bytes as they are.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        tokio::time::timeout(self.timeout, async {
            self.conn.write_all(bytes).await?;
            self.conn.flush().await
        })
        .await
        .map_err(|_| ClientError::Timeout(self.timeout))??;
        Ok(())
    }

    /// Send a message body after a 354: dot-stuffed, CRLF-terminated, then
    /// `.CRLF`; returns the final reply.
    pub async fn send_message(&mut self, body: &[u8]) -> Result<Reply, ClientError> {
        let mut out = Vec::with_capacity(body.len() + 16);
        for line in body.split_inclusive(|&b| b == b'\n') {
            if line.first() == Some(&b'.') {
                out.push(b'.');
            }
            out.extend_from_slice(line);
        }
        if !out.ends_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
        self.send_raw(&out).await?;
        self.read_reply().await
    }

    /// The TLS handshake after the server's `220` to STARTTLS, within the
    /// timeout. Any certificate is accepted (and described in the result):
    /// this checks that TLS *works*, not whom to trust. Bytes read ahead
    /// of the handshake are discarded. After a failure the connection is
    /// unusable.
    pub async fn starttls(&mut self, server_name: &str) -> Result<TlsInfo, ClientError> {
        let Conn::Plain(stream) = std::mem::replace(&mut self.conn, Conn::Gone) else {
            return Err(ClientError::Tls("the connection is not plain TCP".into()));
        };
        self.buf.clear();
        let seen = Arc::new(AnyCertificate::default());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Tls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(seen.clone())
            .with_no_client_auth();
        let name = ServerName::try_from(server_name.to_string())
            .map_err(|e| ClientError::Tls(format!("bad server name {server_name:?}: {e}")))?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tls = tokio::time::timeout(self.timeout, connector.connect(name, stream))
            .await
            .map_err(|_| ClientError::Tls(format!("no handshake within {:?}", self.timeout)))?
            .map_err(|e| ClientError::Tls(e.to_string()))?;
        let (_, session) = tls.get_ref();
        let version = session
            .protocol_version()
            .map(|v| format!("{v:?}"))
            .unwrap_or_default();
        let cipher = session
            .negotiated_cipher_suite()
            .map(|c| format!("{:?}", c.suite()))
            .unwrap_or_default();
        let (certificates, leaf_certificate_octets) = seen.seen();
        self.conn = Conn::Tls(Box::new(tls));
        Ok(TlsInfo {
            version,
            cipher,
            certificates,
            leaf_certificate_octets,
        })
    }

    /// Close the connection (without QUIT).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(self.timeout, self.conn.shutdown()).await;
    }
}

/// A verifier that accepts any certificate and remembers what it saw.
/// Signatures are still checked, so the handshake is a real one.
#[derive(Debug, Default)]
struct AnyCertificate {
    seen: Mutex<(usize, usize)>,
}

impl AnyCertificate {
    fn seen(&self) -> (usize, usize) {
        *self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn provider() -> rustls::crypto::CryptoProvider {
        rustls::crypto::ring::default_provider()
    }
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) =
            (1 + intermediates.len(), end_entity.len());
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &Self::provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &Self::provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        Self::provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
