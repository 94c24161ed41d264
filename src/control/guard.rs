//! Who may drive the API. It listens on loopback, but every page open in
//! the user's browser can reach loopback too: a cross-origin form or
//! `fetch` can send a "simple" request (POST with `text/plain`), and a
//! DNS-rebinding page can even read answers under a name of its own. So a
//! request is refused unless
//!
//! - its `Host` names this listener (the bound address, or `localhost`,
//!   with the bound port): a rebinding page's `Host` is its own name;
//! - it has no `Origin`, or this API's own, and no `Sec-Fetch-Site` saying
//!   another site sent it: pages elsewhere are refused outright;
//! - with a token configured, it carries `Authorization: Bearer TOKEN`;
//! - when it writes (any method but GET, HEAD, OPTIONS), it says its body
//!   is JSON or YAML: a page cannot send those types cross-origin without
//!   a CORS preflight, and no response here ever grants one.
//!
//! Sans-I/O: [`Policy::check`] looks at a parsed request only.

use super::http::{Request, Response};
use std::net::{IpAddr, SocketAddr};

/// Content types a write may carry: none is CORS-safelisted.
pub(crate) const WRITE_TYPES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/x-yaml",
    "text/yaml",
];

/// The rules for one listener.
#[derive(Clone)]
pub(crate) struct Policy {
    bound: SocketAddr,
    token: Option<String>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token itself: debug output ends up in logs.
        f.debug_struct("Policy")
            .field("bound", &self.bound)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl Policy {
    /// The rules for a listener bound to `bound`, requiring `token` if set.
    pub(crate) fn new(bound: SocketAddr, token: Option<String>) -> Policy {
        Policy { bound, token }
    }

    /// `Ok` when the request may go on to the routes; else the refusal.
    pub(crate) fn check(&self, req: &Request) -> Result<(), Response> {
        if let Some(host) = req.header("host")
            && !self.names_us(host)
        {
            return Err(Response::error(
                403,
                format!(
                    "Host {host:?} is not this control API; use http://{} or http://localhost:{}",
                    self.bound,
                    self.bound.port()
                ),
            ));
        }
        for origin in req.header_values("origin") {
            let ours = origin
                .strip_prefix("http://")
                .is_some_and(|authority| self.names_us(authority));
            if !ours {
                return Err(Response::error(
                    403,
                    format!("requests from pages at {origin:?} are refused"),
                ));
            }
        }
        if let Some(site) = req.header("sec-fetch-site")
            && !matches!(site, "same-origin" | "none")
        {
            return Err(Response::error(
                403,
                format!("requests from other sites are refused (Sec-Fetch-Site: {site})"),
            ));
        }
        if let Some(token) = &self.token {
            let given = req.header("authorization").and_then(bearer);
            if !given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
                let mut refusal = Response::error(
                    401,
                    "this control API needs `Authorization: Bearer TOKEN` (the --control-token)",
                );
                refusal
                    .headers
                    .push(("WWW-Authenticate", "Bearer realm=\"smtp-harness\"".into()));
                return Err(refusal);
            }
        }
        if !matches!(req.method.as_str(), "GET" | "HEAD" | "OPTIONS") {
            let media = req
                .header("content-type")
                .map(|v| v.split(';').next().unwrap_or_default().trim())
                .unwrap_or_default();
            if !WRITE_TYPES.iter().any(|t| t.eq_ignore_ascii_case(media)) {
                return Err(Response::error(
                    415,
                    format!(
                        "{} needs Content-Type: {} (got {:?}), e.g. curl -H 'Content-Type: application/json'",
                        req.method,
                        WRITE_TYPES.join(", "),
                        req.header("content-type").unwrap_or("none"),
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Does `authority` (`host[:port]`) name this listener? IP literals
    /// must be the bound address (any, when bound to all interfaces: a
    /// rebinding page needs a name, never an IP); the only name is
    /// `localhost`.
    fn names_us(&self, authority: &str) -> bool {
        let Some((host, port)) = split_authority(authority) else {
            return false;
        };
        if port.unwrap_or(80) != self.bound.port() {
            return false;
        }
        if host.eq_ignore_ascii_case("localhost") {
            return true;
        }
        match host.parse::<IpAddr>() {
            Ok(ip) => ip == self.bound.ip() || self.bound.ip().is_unspecified(),
            Err(_) => false,
        }
    }
}

/// `host[:port]` or `[v6][:port]`; the host without brackets.
fn split_authority(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, rest) = v6.split_once(']')?;
            host.parse::<std::net::Ipv6Addr>().ok()?;
            let port = match rest {
                "" => None,
                _ => Some(rest.strip_prefix(':')?),
            };
            (host, port)
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => Some(p.parse().ok()?),
        Some(_) => return None,
    };
    Some((host, port))
}

/// The token of `Bearer TOKEN` (the scheme in any case).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Equal, in a time that does not depend on where they differ (only on
/// their lengths), so the token cannot be guessed a byte at a time.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, headers: &[(&str, &str)]) -> Request {
        Request {
            method: method.into(),
            path: "/rules".into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Request::default()
        }
    }

    fn status(policy: &Policy, r: &Request) -> u16 {
        policy.check(r).map_or_else(|e| e.status, |()| 200)
    }

    fn local() -> Policy {
        Policy::new("127.0.0.1:8025".parse().expect("addr"), None)
    }

    #[test]
    fn host_must_name_the_listener() {
        let p = local();
        for ok in ["127.0.0.1:8025", "localhost:8025", "LocalHost:8025"] {
            assert_eq!(status(&p, &req("GET", &[("host", ok)])), 200, "{ok}");
        }
        for bad in [
            "evil.example:8025",
            "127.0.0.1:8026",
            "127.0.0.2:8025",
            "localhost",
            "[::1]:8025",
            "127.0.0.1:",
            "127.0.0.1:8025:1",
            "localhost.:8025",
            "",
        ] {
            assert_eq!(status(&p, &req("GET", &[("host", bad)])), 403, "{bad:?}");
        }
        let v6 = Policy::new("[::1]:9000".parse().expect("addr"), None);
        assert_eq!(status(&v6, &req("GET", &[("host", "[::1]:9000")])), 200);
        assert_eq!(status(&v6, &req("GET", &[("host", "localhost:9000")])), 200);
        assert_eq!(status(&v6, &req("GET", &[("host", "127.0.0.1:9000")])), 403);
        // Bound to every interface (--control-allow-remote): any IP literal,
        // still never a name but localhost.
        let all = Policy::new("0.0.0.0:8025".parse().expect("addr"), None);
        assert_eq!(status(&all, &req("GET", &[("host", "10.1.2.3:8025")])), 200);
        assert_eq!(status(&all, &req("GET", &[("host", "box.lan:8025")])), 403);
        let port80 = Policy::new("127.0.0.1:80".parse().expect("addr"), None);
        assert_eq!(status(&port80, &req("GET", &[("host", "localhost")])), 200);
    }

    #[test]
    fn only_our_own_origin() {
        let p = local();
        let with = |o: &str| req("GET", &[("host", "127.0.0.1:8025"), ("origin", o)]);
        assert_eq!(status(&p, &with("http://127.0.0.1:8025")), 200);
        assert_eq!(status(&p, &with("http://localhost:8025")), 200);
        for bad in [
            "http://evil.example",
            "null",
            "https://127.0.0.1:8025",
            "http://localhost:3000",
        ] {
            assert_eq!(status(&p, &with(bad)), 403, "{bad}");
        }
        let site = |s: &str| req("GET", &[("sec-fetch-site", s)]);
        assert_eq!(status(&p, &site("none")), 200);
        assert_eq!(status(&p, &site("same-origin")), 200);
        assert_eq!(status(&p, &site("cross-site")), 403);
        assert_eq!(status(&p, &site("same-site")), 403);
    }

    #[test]
    fn writes_need_a_type_no_page_can_send_unpreflighted() {
        let p = local();
        for ok in [
            "application/json",
            "application/yaml; charset=utf-8",
            "Application/JSON",
            "text/yaml",
            "application/x-yaml",
        ] {
            assert_eq!(status(&p, &req("POST", &[("content-type", ok)])), 200);
        }
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "",
        ] {
            assert_eq!(status(&p, &req("PUT", &[("content-type", bad)])), 415);
        }
        assert_eq!(status(&p, &req("POST", &[])), 415);
        assert_eq!(status(&p, &req("DELETE", &[])), 415);
        assert_eq!(status(&p, &req("GET", &[])), 200);
    }

    #[test]
    fn a_token_is_required_when_set() {
        let p = Policy::new(
            "127.0.0.1:8025".parse().expect("addr"),
            Some("s3cret".into()),
        );
        assert_eq!(status(&p, &req("GET", &[])), 401);
        assert_eq!(
            status(&p, &req("GET", &[("authorization", "Bearer wrong")])),
            401
        );
        assert_eq!(
            status(&p, &req("GET", &[("authorization", "Basic s3cret")])),
            401
        );
        assert_eq!(
            status(&p, &req("GET", &[("authorization", "Bearer s3cret")])),
            200
        );
        assert_eq!(
            status(&p, &req("GET", &[("authorization", "bearer s3cret")])),
            200
        );
        assert!(!format!("{p:?}").contains("s3cret"));
    }

    #[test]
    fn comparison_is_exact() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
        assert!(same(b"", b""));
    }
}
