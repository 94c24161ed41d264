//! A small SMTP client: what the demo and the probe use to talk to servers.
//!
//! It shares the reply parser with the proxy and times out every step, so a
//! silent or garbage-speaking peer produces an error, never a hang.

use crate::protocol::Reply;
use crate::protocol::reply::ReplyAssembler;
use bytes::BytesMut;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
}

/// One SMTP connection.
#[derive(Debug)]
pub struct SmtpClient {
    stream: TcpStream,
    buf: BytesMut,
    timeout: Duration,
}

/// Longest reply line we accept from a server (RFC 5321 says 512; be generous).
const MAX_REPLY_LINE: usize = 4096;

impl SmtpClient {
    /// Connect, with `timeout` for the connection and each later step.
    pub async fn connect(addr: SocketAddr, timeout: Duration) -> Result<SmtpClient, ClientError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::Timeout(timeout))??;
        let _ = stream.set_nodelay(true);
        Ok(SmtpClient {
            stream,
            buf: BytesMut::with_capacity(1024),
            timeout,
        })
    }

    /// Read one complete reply.
    pub async fn read_reply(&mut self) -> Result<Reply, ClientError> {
        let mut assembler = ReplyAssembler::default();
        loop {
            while let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let line = self.buf.split_to(pos + 1);
                if let Some(reply) = assembler.push(&line).map_err(ClientError::Garbage)? {
                    return Ok(reply);
                }
            }
            if self.buf.len() > MAX_REPLY_LINE {
                return Err(ClientError::Garbage(format!(
                    "a reply line longer than {MAX_REPLY_LINE} octets"
                )));
            }
            self.buf.reserve(1024);
            let n = tokio::time::timeout(self.timeout, self.stream.read_buf(&mut self.buf))
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
        tokio::time::timeout(self.timeout, self.stream.write_all(bytes))
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

    /// Close the connection (without QUIT).
    pub async fn close(mut self) {
        let _ = self.stream.shutdown().await;
    }
}
