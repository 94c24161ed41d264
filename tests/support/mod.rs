//! Helpers for the proxy tests: a hand-driven upstream for byte-exact
//! checks (the raw client is `tests/common`'s).
#![allow(dead_code)]

use crate::common::{RawClient, STEP};
use std::net::SocketAddr;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// A listener the test drives by hand as the "real server".
pub async fn hand_upstream() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let addr = l.local_addr().expect("addr");
    (l, addr)
}

pub async fn accept(l: &TcpListener) -> RawClient {
    let (s, _) = tokio::time::timeout(STEP, l.accept())
        .await
        .expect("the proxy never dialed the upstream")
        .expect("accept");
    RawClient::from_stream(s)
}

/// Read exactly `n` bytes.
pub async fn read_exact(c: &mut RawClient, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    tokio::time::timeout(STEP, c.reader.read_exact(&mut buf))
        .await
        .expect("read_exact timed out")
        .expect("read_exact");
    buf
}

/// A port nothing listens on (bound, then released).
pub fn dead_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}
