//! What the integration tests share. Here: a tiny raw SMTP client for
//! tests that need what real clients won't do (pipelining, malformed lines,
//! vanishing mid-DATA, byte-exact reads). In the submodules: the binary
//! launched as a user runs it (`launch`), a client for the control API
//! (`control_api`), the outside tools some tests drive (`tools`), chromium
//! over the DevTools protocol (`browser`), nmap and its NSE scripts
//! (`nmap`), `openssl s_client` (`openssl`) and a real Postfix (`postfix`).
#![allow(dead_code)]

pub mod browser;
pub mod control_api;
pub mod launch;
pub mod nmap;
pub mod openssl;
pub mod postfix;
pub mod testssl;
pub mod tools;

// Not every test binary launches the binary.
#[allow(unused_imports)]
pub use launch::Launched;

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Every read in a test is bounded: a hang is a failure, not a stuck CI.
pub const STEP: Duration = Duration::from_secs(10);

pub struct RawClient {
    pub reader: BufReader<OwnedReadHalf>,
    pub writer: OwnedWriteHalf,
}

impl RawClient {
    pub async fn connect(addr: SocketAddr) -> RawClient {
        let stream = tokio::time::timeout(STEP, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect");
        RawClient::from_stream(stream)
    }

    pub fn from_stream(stream: TcpStream) -> RawClient {
        let (r, w) = stream.into_split();
        RawClient {
            reader: BufReader::new(r),
            writer: w,
        }
    }

    /// One raw line, with its ending; empty at EOF.
    pub async fn raw_line(&mut self) -> Vec<u8> {
        let mut line = Vec::new();
        tokio::time::timeout(STEP, self.reader.read_until(b'\n', &mut line))
            .await
            .expect("line timed out")
            .expect("read");
        line
    }

    /// One whole (possibly multi-line) reply; lines without CRLF.
    pub async fn reply(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let raw = self.raw_line().await;
            assert!(
                !raw.is_empty(),
                "connection closed while waiting for a reply; got so far: {lines:?}"
            );
            let line = String::from_utf8_lossy(&raw)
                .trim_end_matches(['\r', '\n'])
                .to_string();
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return lines;
            }
        }
    }

    pub async fn code(&mut self) -> u16 {
        let r = self.reply().await;
        r[0][..3]
            .parse()
            .unwrap_or_else(|_| panic!("not a reply: {r:?}"))
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("write");
    }

    /// Send a line and return the reply code.
    pub async fn cmd(&mut self, line: &str) -> u16 {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.code().await
    }

    /// Read until EOF (bounded); what arrived before it.
    pub async fn until_eof(&mut self) -> Vec<u8> {
        let mut rest = Vec::new();
        tokio::time::timeout(STEP, self.reader.read_to_end(&mut rest))
            .await
            .expect("the peer did not close")
            .expect("read");
        rest
    }

    /// True once the server has closed the connection (reads EOF).
    pub async fn closed(&mut self) -> bool {
        let mut rest = String::new();
        matches!(
            tokio::time::timeout(STEP, self.reader.read_line(&mut rest)).await,
            Ok(Ok(0))
        )
    }

    /// Send a line and return the whole reply.
    pub async fn reply_to(&mut self, line: &str) -> Vec<String> {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }
}

/// Everything the peer sends until it closes, within [`STEP`]. A reset
/// counts as the close: a server that hangs up on a client still writing
/// (a dribbler, a pipeliner) answers the next octets with RST, which may
/// overtake the FIN; what it wrote before is still read first.
pub async fn read_until_closed(reader: &mut (impl tokio::io::AsyncRead + Unpin)) -> String {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let read_all = async {
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
                Err(e) => panic!("read: {e}"),
            }
        }
    };
    tokio::time::timeout(STEP, read_all)
        .await
        .expect("the peer did not close");
    String::from_utf8_lossy(&got).into_owned()
}

/// Send `mail` with lettre (a client nobody here wrote) to `smtp`, in
/// plain text, as a test's code under test would.
pub async fn lettre_send(smtp: SocketAddr, mail: lettre::Message) {
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(smtp.port())
        .build()
        .send(mail)
        .await
        .expect("sent");
}
