//! `GET /events`: every event as it is recorded, as Server-Sent Events
//! (`event:` the event type, `data:` its JSON). A comment every 15 s keeps
//! idle connections alive; the stream ends at shutdown.
//!
//! Event streams have their own cap ([`MAX_EVENT_STREAMS`]), so they never
//! take the slots other requests need, and a subscriber is let go as soon
//! as it leaves (its socket reads end-of-file), falls behind by more than
//! the recorder's live backlog, or leaves a write waiting
//! [`WRITE_TIMEOUT`](super::http::WRITE_TIMEOUT) for it to read.

use super::State;
use super::http;
use super::stream::CHUNK;
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

/// How many event streams may be open at once.
pub const MAX_EVENT_STREAMS: usize = 16;
/// A comment is sent after this long without events.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Serve the stream until the client leaves, lags or stops reading, or
/// the API shuts down.
pub(crate) async fn stream(mut stream: TcpStream, state: &State) {
    let mut rx = state.target.recorder().subscribe();
    let mut stop = state.stop.clone();
    let head = http::head(200, "text/event-stream", &[], http::Framing::Close);
    let first = format!("{head}: smtp-harness events\n\n");
    if http::write_all(&mut stream, first.as_bytes())
        .await
        .is_err()
    {
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
        if http::write_all(&mut stream, out.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = stream.shutdown().await;
}

fn push(out: &mut String, seq: &mut u64, event: &crate::transcript::Event) {
    *seq += 1;
    let data = serde_json::to_value(event).unwrap_or(Value::Null);
    let kind = data.get("type").and_then(Value::as_str).unwrap_or("event");
    out.push_str(&format!("id: {seq}\nevent: {kind}\ndata: {data}\n\n"));
}
