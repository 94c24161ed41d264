//! Just enough HTTP/1.1 for a small internal JSON API: one request per
//! connection (`Connection: close`), `Content-Length` request bodies only,
//! every read and write bounded in size and time.
//!
//! Hand-rolled rather than hyper: the API is a dozen routes used by test
//! suites on loopback; this file is the whole of the HTTP it needs, with no
//! dependency to keep current.

use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The request line and headers together may not exceed this.
pub const MAX_HEAD: usize = 16 * 1024;
/// Request bodies (scenarios, rules, faults) may not exceed this.
pub const MAX_BODY: usize = 1024 * 1024;
/// At most this many header fields.
pub const MAX_HEADERS: usize = 64;
/// How long a client has to send its whole request.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one write may wait for a client that does not read; then the
/// connection is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed request.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `GET`, `PUT`, …
    pub method: String,
    /// The path without the query.
    pub path: String,
    /// The query string, without `?`.
    pub query: String,
    /// An HTTP/1.0 request (its response cannot be chunked).
    pub http10: bool,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    /// The `Content-Length` it was sent with, if any.
    pub content_length: Option<usize>,
    /// The body (at most [`MAX_BODY`]).
    pub body: Vec<u8>,
}

impl Request {
    /// A header's value (name in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header (name in lower case).
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter's value.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

/// A response: status, content type and body; always closes.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        let mut body = serde_json::to_vec_pretty(value).unwrap_or_default();
        body.push(b'\n');
        Response {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body,
        }
    }

    /// `{"error": message}` with this status.
    pub fn error(status: u16, message: impl Into<String>) -> Response {
        Response::json(status, &serde_json::json!({ "error": message.into() }))
    }

    /// Plain bytes of some type.
    pub fn bytes(status: u16, content_type: &'static str, body: Vec<u8>) -> Response {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body,
        }
    }

    /// Write it out and close.
    pub async fn send<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        out: &mut S,
    ) -> std::io::Result<()> {
        self.write(out).await?;
        close(out).await
    }

    /// Write it out; the caller closes (see [`close`]).
    pub async fn write<W: AsyncWrite + Unpin>(&self, out: &mut W) -> std::io::Result<()> {
        let head = head(
            self.status,
            self.content_type,
            &self.headers,
            Framing::Length(self.body.len()),
        );
        write_all(out, head.as_bytes()).await?;
        write_all(out, &self.body).await
    }
}

/// How a response body's end is marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length`.
    Length(usize),
    /// `Transfer-Encoding: chunked` (HTTP/1.1 streamed responses).
    Chunked,
    /// The connection's close (HTTP/1.0 streamed responses).
    Close,
}

/// A response head. `nosniff` so a page cannot have a browser run JSON as
/// a script; no `Access-Control-Allow-*`, ever, so no page may read or
/// preflight its way to a write.
pub fn head(
    status: u16,
    content_type: &str,
    headers: &[(&'static str, String)],
    framing: Framing,
) -> String {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nConnection: close\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n",
        reason(status),
    );
    match framing {
        Framing::Length(n) => head.push_str(&format!("Content-Length: {n}\r\n")),
        Framing::Chunked => head.push_str("Transfer-Encoding: chunked\r\n"),
        Framing::Close => {}
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// Write within [`WRITE_TIMEOUT`], or fail: a client that stops reading
/// must not hold its connection slot forever.
pub async fn write_all<W: AsyncWrite + Unpin>(out: &mut W, bytes: &[u8]) -> std::io::Result<()> {
    match tokio::time::timeout(WRITE_TIMEOUT, out.write_all(bytes)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the client stopped reading",
        )),
    }
}

/// End a response: flush, send FIN, then read and drop what the client
/// still sends (a body we refused to read, a pipelined request) until it
/// closes, for at most a second. Closing with unread bytes would make the
/// kernel answer with a reset, and the client could lose the response.
pub async fn close<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) -> std::io::Result<()> {
    tokio::time::timeout(WRITE_TIMEOUT, stream.flush())
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    crate::link::linger::linger(stream, MAX_BODY).await;
    Ok(())
}

/// The reason phrase for the codes this API uses.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Read one request, or the error response to send instead. The whole
/// request must arrive within [`READ_TIMEOUT`] (however slowly it dribbles);
/// bytes after it (a pipelined second request) are not read.
pub async fn read_request<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
) -> Result<Request, Response> {
    match tokio::time::timeout(READ_TIMEOUT, read_inner(stream)).await {
        Ok(r) => r,
        Err(_) => Err(Response::error(408, "the request did not arrive in time")),
    }
}

async fn read_inner<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
) -> Result<Request, Response> {
    let mut buf = Vec::with_capacity(1024);
    let mut searched = 0;
    let head_end = loop {
        // Resume the search where the last one stopped (minus a partial "\r\n\r\n").
        if let Some(i) = find(&buf[searched..], b"\r\n\r\n") {
            break searched + i;
        }
        searched = buf.len().saturating_sub(3);
        if buf.len() > MAX_HEAD {
            return Err(head_too_large());
        }
        let mut chunk = [0u8; 4096];
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| Response::error(400, format!("read failed: {e}")))?;
        if n == 0 {
            return Err(Response::error(400, "the connection closed mid-request"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    if head_end > MAX_HEAD {
        return Err(head_too_large());
    }
    let mut request = parse_head(&buf[..head_end])?;
    let length = request.content_length.unwrap_or(0);
    if length > MAX_BODY {
        return Err(Response::error(
            413,
            format!("request bodies are limited to {MAX_BODY} octets"),
        ));
    }
    if length > 0
        && request
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await;
    }
    let mut body = buf.split_off(head_end + 4);
    body.truncate(length);
    while body.len() < length {
        let mut chunk = vec![0u8; (length - body.len()).min(64 * 1024)];
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| Response::error(400, format!("read failed: {e}")))?;
        if n == 0 {
            return Err(Response::error(400, "the connection closed mid-body"));
        }
        body.extend_from_slice(&chunk[..n]);
    }
    request.body = body;
    Ok(request)
}

fn head_too_large() -> Response {
    Response::error(431, format!("request head exceeds {MAX_HEAD} octets"))
}

/// Parse the request line and headers (without the final empty line).
/// Strict where leniency would let two readers of the same bytes disagree
/// (request smuggling): one `Content-Length` of digits only, no
/// `Transfer-Encoding`, no folded lines, no space before a header's colon.
pub fn parse_head(head: &[u8]) -> Result<Request, Response> {
    let head = std::str::from_utf8(head)
        .map_err(|_| Response::error(400, "the request head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let parts: Vec<&str> = request_line.split(' ').collect();
    let [method, target, version] = parts[..] else {
        return Err(Response::error(
            400,
            "malformed request line; expected `METHOD /path HTTP/1.1`",
        ));
    };
    if method.is_empty() || !method.bytes().all(is_token) {
        return Err(Response::error(400, format!("bad method {method:?}")));
    }
    if !target.starts_with('/') || target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(Response::error(
            400,
            format!("bad request target {target:?}; expected a path such as /sessions"),
        ));
    }
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => {
            return Err(Response::error(
                505,
                format!("{version:?} is not spoken here; use HTTP/1.1"),
            ));
        }
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = Vec::new();
    for line in lines {
        if headers.len() == MAX_HEADERS {
            return Err(Response::error(
                431,
                format!("more than {MAX_HEADERS} header fields"),
            ));
        }
        if line.starts_with([' ', '\t']) {
            return Err(Response::error(400, "folded header lines are not accepted"));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(Response::error(400, format!("malformed header {line:?}")));
        };
        if name.is_empty() || !name.bytes().all(is_token) {
            return Err(Response::error(400, format!("bad header name {name:?}")));
        }
        let value = value.trim_matches([' ', '\t']);
        if value.bytes().any(|b| (b < b' ' && b != b'\t') || b == 0x7f) {
            return Err(Response::error(
                400,
                format!("control characters in header {name:?}"),
            ));
        }
        headers.push((name.to_ascii_lowercase(), value.to_string()));
    }
    let mut request = Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        http10,
        headers,
        ..Request::default()
    };
    let lengths = request.header_values("content-length").count();
    if request.header("transfer-encoding").is_some() {
        return Err(if lengths > 0 {
            Response::error(400, "both Transfer-Encoding and Content-Length were sent")
        } else {
            Response::error(
                501,
                "chunked request bodies are not supported; send Content-Length",
            )
        });
    }
    if lengths > 1 {
        return Err(Response::error(
            400,
            "more than one Content-Length header; send exactly one",
        ));
    }
    if let Some(v) = request.header("content-length") {
        // `usize::from_str` would also take `+5`; HTTP says 1*DIGIT.
        let length = (!v.is_empty() && v.len() <= 19 && v.bytes().all(|b| b.is_ascii_digit()))
            .then(|| v.parse::<usize>().ok())
            .flatten()
            .ok_or_else(|| Response::error(400, format!("bad Content-Length {v:?}")))?;
        request.content_length = Some(length);
    }
    match request.header_values("host").count() {
        0 if !http10 => return Err(Response::error(400, "HTTP/1.1 requests need a Host header")),
        0 | 1 => {}
        _ => return Err(Response::error(400, "more than one Host header")),
    }
    Ok(request)
}

/// RFC 9110 `tchar`: what a method or header name may be made of.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    async fn parse(raw: &[u8]) -> Result<Request, Response> {
        let (mut client, mut server) = tokio::io::duplex(1 << 21);
        client.write_all(raw).await.expect("write");
        read_request(&mut server).await
    }

    #[tokio::test]
    async fn parses_a_request_with_a_body() {
        let r = parse(b"PUT /scenario?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
            .await
            .expect("parsed");
        assert_eq!((r.method.as_str(), r.path.as_str()), ("PUT", "/scenario"));
        assert_eq!(r.query_param("x"), Some("1"));
        assert_eq!(r.body, b"hello");
    }

    fn status(raw: &[u8]) -> u16 {
        parse_head(raw).map_or_else(|e| e.status, |_| 200)
    }

    #[tokio::test]
    async fn every_read_is_bounded() {
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
        big.extend_from_slice(b"\r\n\r\n");
        assert_eq!(parse(&big).await.map(|_| ()).unwrap_err().status, 431);
        let huge = format!(
            "PUT /scenario HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        assert_eq!(
            parse(huge.as_bytes()).await.map(|_| ()).unwrap_err().status,
            413
        );
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: y\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\nHost: a\r\n{many}");
        assert_eq!(status(many.as_bytes()), 431);
    }

    #[test]
    fn framing_is_unambiguous() {
        let ok = |extra: &str| {
            status(format!("PUT /scenario HTTP/1.1\r\nHost: a\r\n{extra}").as_bytes())
        };
        assert_eq!(ok("Content-Length: 5"), 200);
        assert_eq!(ok("Content-Length: 5\r\nContent-Length: 6"), 400);
        assert_eq!(ok("Content-Length: 5\r\nContent-Length: 5"), 400);
        assert_eq!(ok("Content-Length: 5, 5"), 400);
        assert_eq!(ok("Content-Length: +5"), 400);
        assert_eq!(ok("Content-Length: -1"), 400);
        assert_eq!(ok("Content-Length: 99999999999999999999999"), 400);
        assert_eq!(ok("Transfer-Encoding: chunked"), 501);
        assert_eq!(ok("Transfer-Encoding: chunked\r\nContent-Length: 5"), 400);
        assert_eq!(ok("Content-Length : 5"), 400, "space before the colon");
        assert_eq!(ok("X: a\r\n b"), 400, "folded line");
        assert_eq!(ok("X: a\x01b"), 400, "control character");
        assert_eq!(ok("Host: b"), 400, "two Hosts");
        let parsed = parse_head(b"PUT /s HTTP/1.1\r\nHost: a\r\nContent-Length: 7").expect("ok");
        assert_eq!(parsed.content_length, Some(7));
        let parsed = parse_head(b"PUT /s HTTP/1.1\r\nHost: a").expect("ok");
        assert_eq!(parsed.content_length, None);
    }

    #[test]
    fn the_request_line_is_exact() {
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a"), 200);
        assert_eq!(status(b"GET / HTTP/1.0"), 200, "HTTP/1.0 needs no Host");
        assert_eq!(status(b"GET / HTTP/1.1"), 400, "HTTP/1.1 needs a Host");
        assert_eq!(status(b"NONSENSE"), 400);
        assert_eq!(status(b"GET  / HTTP/1.1\r\nHost: a"), 400);
        assert_eq!(status(b"GET / HTTP/1.1 x\r\nHost: a"), 400);
        assert_eq!(status(b"GET http://a/ HTTP/1.1\r\nHost: a"), 400);
        assert_eq!(status(b"G(T / HTTP/1.1\r\nHost: a"), 400);
        assert_eq!(status(b"GET / HTTP/2.0\r\nHost: a"), 505);
        assert_eq!(status(b"GET / http/1.1\r\nHost: a"), 505);
    }

    #[tokio::test]
    async fn a_pipelined_request_is_not_taken_for_the_body() {
        let r = parse(
            b"PUT /scenario HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}GET /sessions HTTP/1.1\r\n\r\n",
        )
        .await
        .expect("parsed");
        assert_eq!(r.body, b"{}");
    }
}
