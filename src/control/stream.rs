//! Responses written as they are produced, a chunk at a time
//! (`Transfer-Encoding: chunked`; to HTTP/1.0 clients, until the close).
//! A session of a million events is never one buffer: its lock is held for
//! one slice of events at a time, a chunk is sent once [`CHUNK`] octets are
//! ready, and the event loop gets control back between slices, so SMTP
//! sessions keep being served while it is read. Memory per response is
//! about one chunk, whatever the session's size.

use super::routes::Scope;
use super::http::{self, Framing, Request, Response};
use crate::transcript::{EventKind, Leg, SessionRecord, SharedSession};
use serde_json::{Value, json};
use std::io;
use tokio::io::{AsyncRead, AsyncWrite};

/// A chunk is sent once this much is buffered.
pub(crate) const CHUNK: usize = 64 * 1024;
/// Events looked at per hold of a session's lock.
const SLICE: usize = 256;

/// What is answered away from the route table's synchronous handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Job {
    /// `GET /sessions`.
    Sessions,
    /// `GET /sessions/{id}`, as JSON or (`text`) the swaks-style view.
    Session { id: u64, text: bool },
    /// `GET /messages`.
    Messages,
    /// `GET /messages/{n}` (parsed) or, with a part, its content: on a
    /// blocking thread, since the message may be read from a file and is
    /// parsed whole.
    Message { n: usize, part: Option<String> },
    /// `GET /sessions/{id}/diagram`: the session drawn (HTML with an SVG),
    /// on a blocking thread, since it reads every kept event.
    Diagram { id: u64 },
    /// `GET /expectations`: on a blocking thread, since its report copies
    /// every kept event (what was sent instead of an unmet expectation).
    Expectations,
}

/// Answer `job`; the caller closes the connection.
pub(crate) async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    job: Job,
    out: &mut S,
    scope: &Scope,
    req: &Request,
) -> io::Result<()> {
    match job {
        Job::Sessions => sessions(out, scope, req).await,
        Job::Session { id, text } => session(out, &scope.target, req, id, text).await,
        Job::Messages => messages(out, &scope.target, req).await,
        Job::Message { n, part } => {
            let Some(shared) = super::routes::server(&scope.target) else {
                return super::routes::not_here().write(out).await;
            };
            let kept = shared.recorder.messages();
            let response = tokio::task::spawn_blocking(move || {
                super::messages::parsed_message(&kept, n, part.as_deref())
            })
            .await
            .unwrap_or_else(|_| Response::error(500, "parsing the message failed"));
            response.write(out).await
        }
        Job::Diagram { id } => diagram(out, &scope.target, id).await,
        Job::Expectations => {
            let target = scope.target.clone();
            let response =
                tokio::task::spawn_blocking(move || super::routes::expectations(&target))
                    .await
                    .unwrap_or_else(|_| Response::error(500, "counting expectations failed"));
            response.write(out).await
        }
    }
}

/// The web UI's view of one session: [`crate::view::session_fragment`].
async fn diagram<S: AsyncWrite + Unpin>(
    out: &mut S,
    target: &super::Target,
    id: u64,
) -> io::Result<()> {
    use crate::view::diagram::Lanes;
    let Some(s) = find(target, id) else {
        return Response::error(404, format!("no session {id} (kept: the most recent ones)"))
            .write(out)
            .await;
    };
    let lanes = match &target.kind {
        super::Kind::Server(shared) => Lanes::Server {
            server: shared.scenario().name().to_string(),
        },
        super::Kind::Proxy(shared) => Lanes::Proxy {
            profile: shared.profile().name().to_string(),
            server: shared.upstream.clone(),
        },
    };
    let record = s.snapshot();
    let response = tokio::task::spawn_blocking(move || {
        let html = crate::view::session_fragment(&record, &lanes);
        super::ui::html(html.into_bytes())
    })
    .await
    .unwrap_or_else(|_| Response::error(500, "drawing the session failed"));
    response.write(out).await
}

/// A kept session by id.
fn find(target: &super::Target, id: u64) -> Option<SharedSession> {
    target
        .recorder()
        .shared_sessions()
        .into_iter()
        .find(|s| s.read(|r| r.id) == id)
}

/// A response body on its way out.
struct Body<'a, S> {
    out: &'a mut S,
    framing: Framing,
    buf: Vec<u8>,
}

impl<'a, S: AsyncRead + AsyncWrite + Unpin> Body<'a, S> {
    /// Send the head of a 200 response.
    async fn start(out: &'a mut S, req: &Request, content_type: &str) -> io::Result<Body<'a, S>> {
        let framing = if req.http10 {
            Framing::Close
        } else {
            Framing::Chunked
        };
        http::write_all(out, http::head(200, content_type, &[], framing).as_bytes()).await?;
        Ok(Body {
            out,
            framing,
            buf: Vec::with_capacity(CHUNK + CHUNK / 4),
        })
    }

    /// Send what is buffered once it makes a chunk; in any case let the
    /// other tasks run (loopback writes rarely wait, so the write alone
    /// would not give the event loop back).
    async fn pace(&mut self) -> io::Result<()> {
        if self.buf.len() >= CHUNK {
            self.send().await?;
        }
        tokio::task::yield_now().await;
        Ok(())
    }

    async fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        if self.framing == Framing::Chunked {
            let size = format!("{:x}\r\n", self.buf.len());
            http::write_all(self.out, size.as_bytes()).await?;
            self.buf.extend_from_slice(b"\r\n");
        }
        http::write_all(self.out, &self.buf).await?;
        self.buf.clear();
        Ok(())
    }

    async fn finish(mut self) -> io::Result<()> {
        self.send().await?;
        if self.framing == Framing::Chunked {
            http::write_all(self.out, b"0\r\n\r\n").await?;
        }
        Ok(())
    }
}

/// Append `value` as compact JSON, on a line of its own after a comma
/// unless it is the first of its list.
fn element(buf: &mut Vec<u8>, first: bool, value: &impl serde::Serialize) {
    buf.extend_from_slice(if first { b"\n" } else { b",\n" });
    let start = buf.len();
    if serde_json::to_writer(&mut *buf, value).is_err() {
        // Never half a value: the body must stay valid JSON.
        buf.truncate(start);
        buf.extend_from_slice(b"null");
    }
}

/// What a session summary says of its commands and replies, for the web
/// UI's filter: the client's verbs and the reply codes it saw (distinct, in
/// order), and the start of its text (commands and first reply lines).
#[derive(Default)]
struct Seen {
    commands: usize,
    verbs: Vec<String>,
    codes: Vec<u16>,
    text: String,
}

impl Seen {
    /// The summary's text stops growing here (the UI's `TEXT_MAX` is the same).
    /// (1 KiB: a list of the 1000 sessions `serve` keeps stays about a
    /// megabyte.)
    const TEXT: usize = 1024;
    /// At most this many distinct verbs and codes.
    const DISTINCT: usize = 32;

    fn add(&mut self, kind: &EventKind) {
        match kind {
            EventKind::Command {
                leg: Leg::Client,
                line,
                ..
            } => {
                self.commands += 1;
                // Read in place: this runs for every command of up to 1000
                // sessions, under each session's lock; copies only for what
                // is kept.
                let verb = line
                    .0
                    .split(|b| b.is_ascii_whitespace())
                    .find(|w| !w.is_empty())
                    .unwrap_or_default();
                let known = self
                    .verbs
                    .iter()
                    .any(|v| v.as_bytes().eq_ignore_ascii_case(verb));
                if !known && self.verbs.len() < Self::DISTINCT {
                    self.verbs
                        .push(String::from_utf8_lossy(verb).to_ascii_uppercase());
                }
                if self.text.len() < Self::TEXT {
                    self.push_text(&line.text());
                }
            }
            EventKind::Reply {
                leg: Leg::Client,
                code,
                lines,
                ..
            } => {
                if !self.codes.contains(code) && self.codes.len() < Self::DISTINCT {
                    self.codes.push(*code);
                }
                if let Some(first) = lines.first() {
                    self.push_text(first);
                }
            }
            _ => {}
        }
    }

    fn push_text(&mut self, line: &str) {
        if self.text.len() >= Self::TEXT {
            return;
        }
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        let room = Self::TEXT - self.text.len();
        let mut cut = line.len().min(room);
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        self.text.push_str(&line[..cut]);
    }
}

/// One line per kept session, as of now, without copying its events:
/// its commands are counted a few thousand events per hold of its lock.
async fn summary(s: &SharedSession, prefix: &str) -> Value {
    const COUNT_SLICE: usize = 16 * SLICE;
    let (id, peer, unix_ms, end, ended, aborted) = s.read(|r| {
        let (peer, unix_ms) = match r.events.first().map(|e| &e.kind) {
            Some(EventKind::Connect { peer, unix_ms, .. }) => (peer.to_string(), *unix_ms),
            _ => (String::new(), 0),
        };
        // What `/sessions/{id}` shows: a running session that dropped
        // events gets its marker only in a snapshot.
        let shown = r.events.len() + usize::from(r.dropped > 0 && !r.ended);
        (r.id, peer, unix_ms, shown, r.ended, r.aborted)
    });
    let mut seen = Seen::default();
    let mut at = 0;
    while at < end {
        let upto = (at + COUNT_SLICE).min(end);
        s.read(|r| {
            for e in r.events.iter().skip(at).take(upto - at) {
                seen.add(&e.kind);
            }
        });
        at = upto;
        tokio::task::yield_now().await;
    }
    json!({
        "id": id,
        "peer": peer,
        "started_unix_ms": unix_ms,
        "ended": ended,
        "aborted": aborted,
        "commands": seen.commands,
        "events": end,
        "verbs": seen.verbs,
        "codes": seen.codes,
        "text": seen.text,
        "href": format!("{prefix}/sessions/{id}"),
    })
}

async fn sessions<S: AsyncRead + AsyncWrite + Unpin>(
    out: &mut S,
    scope: &Scope,
    req: &Request,
) -> io::Result<()> {
    let recorder = scope.target.recorder();
    let kept = recorder.shared_sessions();
    let mut body = Body::start(out, req, "application/json").await?;
    body.buf.extend_from_slice(b"{\"sessions\": [");
    for (i, s) in kept.iter().enumerate() {
        let line = summary(s, &scope.prefix).await;
        element(&mut body.buf, i == 0, &line);
        body.pace().await?;
    }
    body.buf.extend_from_slice(b"\n],\n\"control\": [");
    for (i, e) in recorder.control_events().iter().enumerate() {
        element(&mut body.buf, i == 0, e);
        body.pace().await?;
    }
    body.buf.extend_from_slice(b"\n]}\n");
    body.finish().await
}

async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    out: &mut S,
    target: &super::Target,
    req: &Request,
    id: u64,
    text: bool,
) -> io::Result<()> {
    let Some(s) = find(target, id) else {
        return Response::error(404, format!("no session {id} (kept: the most recent ones)"))
            .write(out)
            .await;
    };
    // The events up to now, and the state that goes with them: a session
    // still running does not keep the response growing. A copy of at most
    // `limits.session_events` events, in order (a running session's kept
    // tail is a ring), so the lock is held only for the copy.
    let record = s.snapshot();
    let end = record.events.len();
    let content_type = if text {
        "text/plain; charset=utf-8"
    } else {
        "application/json"
    };
    let mut body = Body::start(out, req, content_type).await?;
    if !text {
        body.buf.extend_from_slice(&fields_then_events(&record));
    }
    let mut at = 0;
    while at < end {
        let upto = (at + SLICE).min(end);
        let buf = &mut body.buf;
        for (i, e) in record.events.iter().enumerate().skip(at).take(upto - at) {
            if text {
                buf.extend_from_slice(crate::transcript::render_event(e, false).as_bytes());
            } else {
                element(buf, i == 0, e);
            }
        }
        at = upto;
        body.pace().await?;
    }
    if !text {
        body.buf.extend_from_slice(b"\n]}\n");
    }
    body.finish().await
}

/// The start of a session's JSON up to its events' `[`: every other field
/// as [`SessionRecord`] serializes it (so `dropped` only when something
/// was), taken from the snapshot the events come from.
fn fields_then_events(record: &SessionRecord) -> Vec<u8> {
    let mut head = b"{".to_vec();
    if let Ok(Value::Object(fields)) = serde_json::to_value(record.clone_summary()) {
        for (key, value) in fields.iter().filter(|(key, _)| *key != "events") {
            head.extend_from_slice(format!("{}: {value}, ", Value::from(key.as_str())).as_bytes());
        }
    }
    // The events go last: they are streamed.
    head.extend_from_slice(b"\"events\": [");
    head
}

async fn messages<S: AsyncRead + AsyncWrite + Unpin>(
    out: &mut S,
    target: &super::Target,
    req: &Request,
) -> io::Result<()> {
    let Some(shared) = super::routes::server(target) else {
        return super::routes::not_here().write(out).await;
    };
    let kept = shared.recorder.messages();
    let search = super::mime::Search::from_request(req);
    let mut body = Body::start(out, req, "application/json").await?;
    body.buf.extend_from_slice(b"{\"messages\": [");
    let mut first = true;
    for (i, m) in kept.iter().enumerate() {
        // The header fields are read from the first 64 KiB of the message,
        // which may be a file: off the event loop.
        let owned = m.clone();
        let summary = tokio::task::spawn_blocking(move || super::mime::summary(&owned))
            .await
            .unwrap_or_default();
        if !search.matches(m, &summary) {
            body.pace().await?;
            continue;
        }
        let mut line = super::mime::envelope(i + 1, m, m.data.len());
        line["href"] = Value::String(format!("/messages/{}", i + 1));
        if let (Value::Object(o), Value::Object(s)) = (&mut line, summary.json()) {
            o.extend(s);
        }
        element(&mut body.buf, first, &line);
        first = false;
        body.pace().await?;
    }
    body.buf.extend_from_slice(b"\n]}\n");
    body.finish().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::Wire;
    use tokio::io::AsyncReadExt;

    #[test]
    fn a_summary_names_verbs_and_codes_once_and_bounds_its_text() {
        let mut seen = Seen::default();
        let command = |line: &str| EventKind::Command {
            leg: Leg::Client,
            line: Wire(bytes::Bytes::from(line.to_string())),
            bare_lf: false,
        };
        let reply = |code: u16, line: &str| EventKind::Reply {
            leg: Leg::Client,
            code,
            lines: vec![line.to_string()],
            rule: None,
            original: None,
        };
        seen.add(&command("ehlo a"));
        seen.add(&reply(250, "250 ok"));
        seen.add(&command("EHLO b"));
        seen.add(&reply(250, "250 ok"));
        // The upstream leg is not what the client did.
        seen.add(&EventKind::Command {
            leg: Leg::Upstream,
            line: Wire(bytes::Bytes::from_static(b"NOOP")),
            bare_lf: false,
        });
        assert_eq!(seen.commands, 2);
        assert_eq!(seen.verbs, ["EHLO"]);
        assert_eq!(seen.codes, [250]);
        assert_eq!(seen.text, "ehlo a\n250 ok\nEHLO b\n250 ok");
        // Cut at the bound, on a character boundary.
        seen.add(&command(&"é".repeat(Seen::TEXT)));
        assert!(seen.text.len() <= Seen::TEXT, "{}", seen.text.len());
        assert!(seen.text.ends_with('é'));
        let full = seen.text.clone();
        seen.add(&command("MAIL FROM:<a@b>"));
        assert_eq!(seen.text, full, "no more text once full");
        assert_eq!(seen.verbs.last().map(String::as_str), Some("MAIL"));
    }

    #[tokio::test]
    async fn chunks_are_framed_and_the_body_ends() {
        let (mut server, mut client) = tokio::io::duplex(1 << 20);
        let req = Request::default();
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            client.read_to_end(&mut all).await.expect("read");
            all
        });
        let mut body = Body::start(&mut server, &req, "text/plain")
            .await
            .expect("head");
        body.buf.extend(std::iter::repeat_n(b'a', CHUNK + 1));
        body.pace().await.expect("chunk");
        body.buf.extend_from_slice(b"end");
        body.finish().await.expect("finish");
        http::close(&mut server).await.expect("close");
        let all = reader.await.expect("joined");
        let text = String::from_utf8(all).expect("utf-8");
        let (head, rest) = text.split_once("\r\n\r\n").expect("head");
        assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
        assert!(!head.contains("Content-Length"), "{head}");
        let first = format!("{:x}\r\n", CHUNK + 1);
        assert!(rest.starts_with(&first), "{}", &rest[..20]);
        assert!(rest.ends_with("\r\n3\r\nend\r\n0\r\n\r\n"));
    }

    #[test]
    fn a_session_streams_as_it_serializes() {
        for dropped in [0, 7] {
            let record = SessionRecord {
                id: 3,
                dropped,
                ended: true,
                ..SessionRecord::default()
            };
            let mut body = fields_then_events(&record);
            body.extend_from_slice(b"\n]}\n");
            let streamed: Value = serde_json::from_slice(&body).expect("JSON");
            assert_eq!(streamed, serde_json::to_value(&record).expect("value"));
        }
    }

    #[tokio::test]
    async fn http10_clients_get_the_body_until_the_close() {
        let (mut server, mut client) = tokio::io::duplex(1 << 16);
        let reader = tokio::spawn(async move {
            let mut all = String::new();
            client.read_to_string(&mut all).await.expect("read");
            all
        });
        let req = Request {
            http10: true,
            ..Request::default()
        };
        let mut body = Body::start(&mut server, &req, "text/plain")
            .await
            .expect("head");
        body.buf.extend_from_slice(b"all of it");
        body.finish().await.expect("finish");
        http::close(&mut server).await.expect("close");
        let all = reader.await.expect("joined");
        assert!(all.ends_with("\r\n\r\nall of it"), "{all}");
        assert!(!all.contains("chunked"));
    }
}
