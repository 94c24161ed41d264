//! Just enough HTTP/1.1 for a small internal JSON API: one request per
//! connection (`Connection: close`), `Content-Length` bodies only, every read
//! bounded in size and time.
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
/// How long a client has to send its whole request.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed request.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `GET`, `PUT`, …
    pub method: String,
    /// The path without the query.
    pub path: String,
    /// The query string, without `?`.
    pub query: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
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
    pub async fn send<W: AsyncWrite + Unpin>(&self, out: &mut W) -> std::io::Result<()> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        out.write_all(head.as_bytes()).await?;
        out.write_all(&self.body).await?;
        out.flush().await?;
        out.shutdown().await
    }
}

/// The reason phrase for the codes this API uses.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
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
        _ => "Unknown",
    }
}

/// Read one request, or the error response to send instead.
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
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err(Response::error(
                431,
                format!("request head exceeds {MAX_HEAD} octets"),
            ));
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
        return Err(Response::error(
            431,
            format!("request head exceeds {MAX_HEAD} octets"),
        ));
    }
    let head = std::str::from_utf8(&buf[..head_end])
        .map_err(|_| Response::error(400, "the request head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(Response::error(400, "malformed request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(Response::error(400, "only HTTP/1.x is spoken here"));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = Vec::new();
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            return Err(Response::error(400, format!("malformed header {line:?}")));
        };
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let mut request = Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body: Vec::new(),
    };
    if request.header("transfer-encoding").is_some() {
        return Err(Response::error(
            501,
            "chunked request bodies are not supported; send Content-Length",
        ));
    }
    let length = match request.header("content-length") {
        None => 0,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| Response::error(400, format!("bad Content-Length {v:?}")))?,
    };
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
    if body.len() > length {
        body.truncate(length);
    }
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

    #[tokio::test]
    async fn every_read_is_bounded() {
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
        big.extend_from_slice(b"\r\n\r\n");
        assert_eq!(parse(&big).await.map(|_| ()).unwrap_err().status, 431);
        let huge = format!(
            "PUT /scenario HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        assert_eq!(
            parse(huge.as_bytes()).await.map(|_| ()).unwrap_err().status,
            413
        );
        let chunked = b"PUT /scenario HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(parse(chunked).await.map(|_| ()).unwrap_err().status, 501);
        assert_eq!(
            parse(b"NONSENSE\r\n\r\n")
                .await
                .map(|_| ())
                .unwrap_err()
                .status,
            400
        );
    }
}
