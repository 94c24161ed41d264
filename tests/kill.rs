//! Clients killed at random points under concurrent load (issue 8): mid-line,
//! mid-DATA, mid-TLS-handshake, before the greeting, with FIN or with RST.
//! The server must keep serving, and every session must be in the transcript,
//! ended, with the cut ones marked `aborted` and an `Abort` event saying where.

use smtp_harness::{MockServer, Scenario};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Every step bounded: a hang is a failure.
const STEP: Duration = Duration::from_secs(20);
const SESSIONS: usize = 400;
const CONCURRENCY: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kill {
    /// A whole session with QUIT: not aborted.
    Complete,
    /// Connect and vanish before reading the greeting.
    BeforeGreeting,
    /// Half a command line, then FIN.
    MidLine,
    /// After 354, part of the body, then FIN or RST.
    MidData { rst: bool },
    /// STARTTLS, 220, a truncated ClientHello, then FIN or RST.
    MidTls { rst: bool },
}

impl Kill {
    /// The `during` the server must record, if the session is an abort.
    fn during(self) -> Option<&'static str> {
        match self {
            Kill::Complete | Kill::BeforeGreeting => None,
            Kill::MidLine => Some("line"),
            Kill::MidData { .. } => Some("data"),
            Kill::MidTls { .. } => Some("tls"),
        }
    }
}

/// A small deterministic generator (no dependency, reproducible by seed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn pick(rng: &mut Lcg) -> Kill {
    match rng.next() % 7 {
        0 => Kill::Complete,
        1 => Kill::BeforeGreeting,
        2 => Kill::MidLine,
        3 => Kill::MidData { rst: false },
        4 => Kill::MidData { rst: true },
        5 => Kill::MidTls { rst: false },
        _ => Kill::MidTls { rst: true },
    }
}

struct Client {
    r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: tokio::net::tcp::OwnedWriteHalf,
}

impl Client {
    async fn reply(&mut self) -> u16 {
        let mut code = 0;
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(STEP, self.r.read_line(&mut line))
                .await
                .expect("reply timed out")
                .expect("read");
            assert!(n > 0, "server closed the connection early");
            code = line[..3].parse().unwrap_or(code);
            if line.as_bytes().get(3) != Some(&b'-') {
                return code;
            }
        }
    }

    async fn cmd(&mut self, line: &str) -> u16 {
        self.w
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
        self.reply().await
    }

    fn kill(self, rst: bool) {
        let stream = self.r.into_inner().reunite(self.w).unwrap();
        if rst {
            // SO_LINGER 0: close() sends RST instead of FIN.
            stream.set_zero_linger().unwrap();
        }
        drop(stream);
    }
}

/// Runs one client; returns its local address (the server's `peer`).
async fn run_client(addr: SocketAddr, kill: Kill, n: usize) -> SocketAddr {
    let stream = tokio::time::timeout(STEP, TcpStream::connect(addr))
        .await
        .expect("connect timed out")
        .expect("connect");
    let local = stream.local_addr().unwrap();
    if kill == Kill::BeforeGreeting {
        drop(stream);
        return local;
    }
    let (r, w) = stream.into_split();
    let mut c = Client {
        r: BufReader::new(r),
        w,
    };
    assert_eq!(c.reply().await, 220);
    assert_eq!(c.cmd("EHLO killer.example").await, 250);
    match kill {
        Kill::Complete | Kill::BeforeGreeting => {
            assert_eq!(c.cmd("MAIL FROM:<a@example.org>").await, 250);
            assert_eq!(c.cmd("RCPT TO:<b@example.com>").await, 250);
            assert_eq!(c.cmd("DATA").await, 354);
            c.w.write_all(format!("Subject: {n}\r\n\r\nbody\r\n.\r\n").as_bytes())
                .await
                .unwrap();
            assert_eq!(c.reply().await, 250);
            assert_eq!(c.cmd("QUIT").await, 221);
            let mut rest = Vec::new();
            let _ = tokio::time::timeout(STEP, c.r.read_to_end(&mut rest)).await;
        }
        Kill::MidLine => {
            c.w.write_all(b"MAIL FROM:<half-a-li").await.unwrap();
            c.kill(false);
        }
        Kill::MidData { rst } => {
            assert_eq!(c.cmd("MAIL FROM:<a@example.org>").await, 250);
            assert_eq!(c.cmd("RCPT TO:<b@example.com>").await, 250);
            assert_eq!(c.cmd("DATA").await, 354);
            let body = "x".repeat(n % 3000);
            c.w.write_all(format!("Subject: cut {n}\r\n\r\n{body}").as_bytes())
                .await
                .unwrap();
            c.kill(rst);
        }
        Kill::MidTls { rst } => {
            assert_eq!(c.cmd("STARTTLS").await, 220);
            // A TLS record header announcing a 512-octet ClientHello, and
            // only the start of it.
            let mut hello = vec![
                0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
            ];
            hello.extend(std::iter::repeat_n(0x5a, n % 200));
            c.w.write_all(&hello).await.unwrap();
            c.kill(rst);
        }
    }
    local
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_clients_are_recorded_and_the_server_keeps_serving() {
    let server = MockServer::start(Scenario::from_yaml("tls: {}").unwrap())
        .await
        .unwrap();
    let addr = server.addr();
    let seed = std::env::var("KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_u64);
    let mut rng = Lcg(seed);
    let plan: Vec<Kill> = (0..SESSIONS).map(|_| pick(&mut rng)).collect();
    let sem = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    for (n, kill) in plan.iter().copied().enumerate() {
        let permit = Arc::clone(&sem).acquire_owned().await.unwrap();
        tasks.spawn(async move {
            let local = run_client(addr, kill, n).await;
            drop(permit);
            (local, kill)
        });
    }
    let mut expected: HashMap<SocketAddr, Kill> = HashMap::new();
    while let Some(done) = tasks.join_next().await {
        let (local, kill) = done.expect("a client task failed");
        expected.insert(local, kill);
    }
    assert_eq!(expected.len(), SESSIONS, "client ports must be distinct");

    // Still serving: one more full session after the storm.
    let last = run_client(addr, Kill::Complete, 0).await;
    expected.insert(last, Kill::Complete);

    let t = server
        .wait_for_sessions_within(expected.len() as u64, Duration::from_secs(60))
        .await
        .expect("every session must end");
    assert_eq!(t.sessions.len(), expected.len());
    let mut seen = HashMap::new();
    for s in &t.sessions {
        assert!(s.ended, "session {} not ended", s.id);
        let peer = s.peer().expect("every session starts with a connect event");
        let kill = *expected
            .get(&peer)
            .unwrap_or_else(|| panic!("session {} from an unknown peer {peer}", s.id));
        *seen.entry(format!("{kill:?}")).or_insert(0) += 1;
        let abort = s.abort().map(|a| a.during);
        assert_eq!(
            s.aborted,
            abort.is_some(),
            "session {}: `aborted` and the Abort event disagree",
            s.id
        );
        match kill.during() {
            Some(during) => {
                assert!(s.aborted, "session {} ({kill:?}) not marked aborted", s.id);
                assert_eq!(
                    abort.as_deref(),
                    Some(during),
                    "session {} ({kill:?})",
                    s.id
                );
            }
            None => assert!(!s.aborted, "session {} ({kill:?}) marked aborted", s.id),
        }
    }
    // Every kind happened (the seed covers them all).
    assert_eq!(seen.len(), 7, "{seen:?}");
    let complete = plan.iter().filter(|k| **k == Kill::Complete).count() + 1;
    assert_eq!(server.messages().len(), complete);
}
