//! A tiny raw SMTP client for tests that need what real clients won't do:
//! pipelining, malformed lines, vanishing mid-DATA.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

pub struct RawClient {
    pub reader: BufReader<OwnedReadHalf>,
    pub writer: OwnedWriteHalf,
}

/// Every read in a test is bounded: a hang is a failure, not a stuck CI.
pub const STEP: Duration = Duration::from_secs(10);

impl RawClient {
    pub async fn connect(addr: SocketAddr) -> RawClient {
        let stream = tokio::time::timeout(STEP, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect");
        let (r, w) = stream.into_split();
        RawClient {
            reader: BufReader::new(r),
            writer: w,
        }
    }

    /// Read one whole (possibly multi-line) reply; lines without CRLF.
    pub async fn reply(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(STEP, self.reader.read_line(&mut line))
                .await
                .expect("reply timed out")
                .expect("read");
            assert!(
                n > 0,
                "connection closed while waiting for a reply; got so far: {lines:?}"
            );
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return lines;
            }
        }
    }

    /// The code of the next reply.
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

    /// True once the server has closed the connection (reads EOF).
    pub async fn closed(&mut self) -> bool {
        let mut rest = String::new();
        matches!(
            tokio::time::timeout(STEP, self.reader.read_line(&mut rest)).await,
            Ok(Ok(0))
        )
    }
}
