//! `GET /events`: every event as it is recorded, as Server-Sent Events
//! (`event:` the event type, `data:` its JSON). A comment every 15 s keeps
//! idle connections alive; the stream ends at shutdown.
//!
//! Event streams have their own cap ([`MAX_EVENT_STREAMS`]), so they never
//! take the slots other requests need, and a subscriber is let go as soon
//! as it leaves (its socket reads end-of-file), falls behind by the
//! recorder's whole live backlog (4096 events: it does not read, or not
//! fast enough), or leaves a write waiting
//! [`WRITE_TIMEOUT`](super::http::WRITE_TIMEOUT) for it to read.

use super::State;
use super::http;
use super::stream::CHUNK;
use crate::transcript::{Event, LIVE_BACKLOG, Recorder};
use serde_json::Value;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

/// How many event streams may be open at once.
pub const MAX_EVENT_STREAMS: usize = 16;
/// A comment is sent after this long without events.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How often a write that waits looks at how far behind its subscriber is.
const LAG_CHECK: Duration = Duration::from_millis(100);

/// Serve the stream until the client leaves, lags or stops reading, or
/// the API shuts down.
pub(crate) async fn stream(stream: &mut TcpStream, state: &State, recorder: &Recorder) {
    let mut rx = recorder.subscribe();
    let mut stop = state.stop.clone();
    let head = http::head(200, "text/event-stream", &[], http::Framing::Close);
    let first = format!("{head}: smtp-harness events\n\n");
    if http::write_all(stream, first.as_bytes()).await.is_err() {
        return;
    }
    let mut seq: u64 = 0;
    let mut out = String::new();
    let mut scratch = [0u8; 512];
    loop {
        out.clear();
        let mut lagged = None;
        tokio::select! {
            _ = stop.changed() => break,
            // Nothing is expected from the client: reading is how its
            // leaving is noticed at once, not at the next write.
            got = stream.read(&mut scratch) => match got {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            },
            _ = tokio::time::sleep(KEEP_ALIVE) => out.push_str(": keep-alive\n\n"),
            got = rx.recv() => match got {
                Ok(event) => {
                    push(&mut out, &mut seq, &event);
                    // Whatever else is ready goes in the same write.
                    while out.len() < CHUNK {
                        match rx.try_recv() {
                            Ok(event) => push(&mut out, &mut seq, &event),
                            Err(TryRecvError::Lagged(n)) => {
                                lagged = Some(n);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                }
                Err(RecvError::Lagged(n)) => lagged = Some(n),
                Err(RecvError::Closed) => break,
            },
        }
        if let Some(n) = lagged {
            // Best effort: its socket may well be full.
            out.push_str(&format!(
                ": dropped: this subscriber fell {n} events behind\n\n"
            ));
            let _ = stream.try_write(out.as_bytes());
            break;
        }
        if !written(stream, out.as_bytes(), &rx).await {
            break;
        }
    }
}

/// Write, unless the subscriber falls a whole backlog behind meanwhile (it
/// does not read: its socket is full) or the write times out.
async fn written(stream: &mut TcpStream, bytes: &[u8], rx: &Receiver<Event>) -> bool {
    let write = http::write_all(stream, bytes);
    tokio::pin!(write);
    let mut check = tokio::time::interval(LAG_CHECK);
    loop {
        tokio::select! {
            done = &mut write => return done.is_ok(),
            _ = check.tick() => if rx.len() >= LIVE_BACKLOG {
                return false;
            },
        }
    }
}

fn push(out: &mut String, seq: &mut u64, event: &Event) {
    *seq += 1;
    let data = serde_json::to_value(event).unwrap_or(Value::Null);
    let kind = data.get("type").and_then(Value::as_str).unwrap_or("event");
    out.push_str(&format!("id: {seq}\nevent: {kind}\ndata: {data}\n\n"));
}
