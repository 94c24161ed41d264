//! Property tests: exactly one reply per command, in order, for random
//! command streams (NOOP/RSET/HELO/EHLO/MAIL/RCPT, DATA with bodies, BDAT
//! with chunks, lines of 0 octets to a megabyte, bare LFs, pipelined) cut
//! into reads at random points, compared with a model (`model.rs`).
//!
//! - sans I/O: the crate's framer and `Session`, the way the server drives
//!   them; `PROPTEST_CASES` cases (default 256);
//! - over real sockets: against a running `MockServer`, and through a
//!   `MockProxy` in front of one, writes cut at random points;
//!   `PROPTEST_CASES / 8` cases each (default 32).
//!
//! The sockets' client waits for the 354 before a message body (RFC 2920);
//! the sans-I/O driver pipelines everything.

#[path = "../common/mod.rs"]
mod common;
mod model;

use bytes::BytesMut;
use common::RawClient;
use model::{Cuts, Ends, Segment};
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use smtp_harness::protocol::framer::{Frame, Framer};
use smtp_harness::session::{Next, Session, SessionInfo};
use smtp_harness::{MockProxy, MockServer, Profile, Scenario};
use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

fn cases(divisor: u32, default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .map_or(default, |n| (n / divisor).max(1))
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        // A failing socket case waits for a reply that never comes:
        // bound the time spent shrinking.
        max_shrink_time: 120_000,
        failure_persistence: None,
        ..Config::default()
    })
}

fn scenario() -> Scenario {
    Scenario::from_yaml(model::SCENARIO).expect("scenario")
}

fn scenario_for(ends: Ends) -> Scenario {
    match ends {
        Ends::Strict => scenario(),
        Ends::LfToo => Scenario::from_yaml(model::SCENARIO_LF_END).expect("scenario"),
    }
}

fn expected(segs: &[Segment]) -> Vec<u16> {
    segs.iter().flat_map(|s| s.codes.iter().copied()).collect()
}

/// The reply codes a session gives to a stream read in `pieces`, framed
/// by the framer the server uses.
fn sans_io(pieces: &[&[u8]], ends: Ends) -> Vec<u16> {
    let info = SessionInfo {
        id: 1,
        peer: "127.0.0.1:40000".parse().expect("addr"),
        local: "127.0.0.1:25".parse().expect("addr"),
    };
    let mut session = Session::new(Arc::new(scenario_for(ends).plan().clone()), info);
    let limits = session.plan().limits;
    assert_eq!(limits.command_line, model::LIMIT);
    let mut framer = Framer::new(limits.command_line);
    assert_eq!(session.greeting().reply.map(|r| r.code), Some(220));
    let mut codes = Vec::new();
    let mut buf = BytesMut::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        while let Some(frame) = framer.next(&mut buf) {
            let outcome = match frame {
                Frame::Line(line, _) => session.command(&line),
                Frame::TooLong { head, .. } => session.line_too_long(&head).1,
                Frame::DataEnd { body, .. } => session.data_done(body),
                Frame::ChunkEnd {
                    data, size, last, ..
                } => session.chunk_done(data, size, last),
                Frame::Content(_) => panic!("content is only handed out when relayed"),
            };
            codes.extend(outcome.reply.map(|r| r.code));
            match outcome.next {
                Next::Data => framer.expect_data(
                    limits.message_size,
                    limits.text_line,
                    false,
                    session.plan().end_of_data,
                ),
                Next::Chunk { size, last } => {
                    framer.expect_chunk(size, last, limits.message_size, false)
                }
                Next::Close => return codes,
                Next::Command | Next::StartTls => {}
            }
        }
    }
    codes
}

#[test]
fn sans_io_one_reply_per_command_in_order() {
    sans_io_property(Ends::Strict);
}

/// The same with a receiver that also ends a message at `<LF>.<CRLF>`: the
/// dot after a bare-LF line ends it, whatever the reads' split.
#[test]
fn sans_io_one_reply_per_command_with_lf_dot_crlf_ends() {
    sans_io_property(Ends::LfToo);
}

fn sans_io_property(ends: Ends) {
    let cases = cases(1, 256);
    let mut runner = runner(cases);
    let (ran, octets) = (Cell::new(0u32), Cell::new(0usize));
    let result = runner.run(&(model::ops(), model::cuts()), |(ops, cuts)| {
        let segs = model::script(&ops, ends);
        ran.set(ran.get() + 1);
        octets.set(octets.get() + segs.iter().map(|s| s.bytes.len()).sum::<usize>());
        let stream: Vec<u8> = segs.iter().flat_map(|s| s.bytes.iter().copied()).collect();
        let got = sans_io(&model::pieces(&stream, &cuts), ends);
        let want = expected(&segs);
        if got != want {
            return Err(TestCaseError::fail(format!(
                "replies {got:?}, model {want:?}"
            )));
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let (ran, octets) = (ran.get(), octets.get());
    eprintln!("{ran} streams, {octets} octets");
    assert!(ran >= cases, "every case ran");
}

/// A shorter wait than `common::STEP`: a missing reply fails the case
/// sooner, and shrinking goes on with the next one.
const REPLY_WAIT: Duration = Duration::from_secs(3);

/// Send each segment in pieces, then read the replies it must get.
async fn converse(addr: SocketAddr, segs: &[Segment], cuts: &Cuts) -> Result<(), String> {
    let mut c = RawClient::connect(addr).await;
    let greeting = c.code().await;
    if greeting != 220 {
        return Err(format!("greeting {greeting}"));
    }
    let _ = c.writer.as_ref().set_nodelay(true);
    let mut got = Vec::new();
    for seg in segs {
        for piece in model::pieces(&seg.bytes, cuts) {
            c.writer
                .write_all(piece)
                .await
                .map_err(|e| format!("write: {e}"))?;
        }
        for _ in &seg.codes {
            match tokio::time::timeout(REPLY_WAIT, c.reply()).await {
                Ok(reply) => got.push(reply[0][..3].parse::<u16>().unwrap_or(0)),
                Err(_) => {
                    return Err(format!(
                        "no reply after {got:?}; model {:?}",
                        expected(segs)
                    ));
                }
            }
        }
    }
    let want = expected(segs);
    if got != want {
        return Err(format!("replies {got:?}, model {want:?}"));
    }
    c.send(b"QUIT\r\n").await;
    match tokio::time::timeout(REPLY_WAIT, c.reply()).await {
        Ok(r) if r[0].starts_with("221") => Ok(()),
        Ok(r) => Err(format!("a stray reply {r:?} before QUIT's")),
        Err(_) => Err("no reply to QUIT".into()),
    }
}

fn over_sockets(addr: SocketAddr, rt: &tokio::runtime::Runtime) {
    let cases = cases(8, 32);
    let mut runner = runner(cases);
    let (ran, octets, replies) = (Cell::new(0u32), Cell::new(0usize), Cell::new(0usize));
    let result = runner.run(&(model::ops(), model::cuts()), |(ops, cuts)| {
        let segs = model::script(&ops, Ends::Strict);
        ran.set(ran.get() + 1);
        octets.set(octets.get() + segs.iter().map(|s| s.bytes.len()).sum::<usize>());
        replies.set(replies.get() + segs.iter().map(|s| s.codes.len()).sum::<usize>());
        rt.block_on(converse(addr, &segs, &cuts))
            .map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let (ran, octets, replies) = (ran.get(), octets.get(), replies.get());
    eprintln!("{ran} conversations, {octets} octets, {replies} replies checked");
    assert!(ran >= cases, "every case ran");
}

#[test]
fn server_one_reply_per_command_over_sockets() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(MockServer::start(scenario())).expect("server");
    over_sockets(server.addr(), &rt);
}

#[test]
fn proxy_one_reply_per_command_over_sockets() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(MockServer::start(scenario())).expect("server");
    let proxy = rt
        .block_on(MockProxy::start(
            server.addr(),
            Profile::bundled("transparent").expect("profile"),
        ))
        .expect("proxy");
    over_sockets(proxy.addr(), &rt);
}
