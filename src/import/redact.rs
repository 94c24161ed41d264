//! `--redact`: mail addresses, host names and IP addresses become
//! placeholders, the same input always the same placeholder within one
//! import, so a scenario stays consistent (the EHLO name in the client's
//! line and in the server's `Hello` line stay equal) and can be shared.
//!
//! Placeholders: `user1@host1.example`, `host1.example`, `192.0.2.1` (IPv4,
//! documentation ranges), `2001:db8::1` (IPv6). AUTH credentials become
//! `cmVkYWN0ZWQ=` (base64 of `redacted`).

use regex::{Captures, Regex};
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

/// base64 of `redacted`, used for AUTH credentials.
pub const REDACTED_BASE64: &str = crate::protocol::sasl::REDACTED_BASE64;

fn pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let label = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
        let re = format!(
            r"(?P<mail>[A-Za-z0-9._%+=-]+@{label}(?:\.{label})*)|(?P<v4>\b\d{{1,3}}\.\d{{1,3}}\.\d{{1,3}}\.\d{{1,3}}\b)|(?P<v6>[0-9A-Fa-f]{{0,4}}(?::[0-9A-Fa-f]{{0,4}}){{2,7}})|(?P<host>\b{label}(?:\.{label})*\.[A-Za-z][A-Za-z0-9-]*[A-Za-z]\b)"
        );
        Regex::new(&re).unwrap_or_else(|e| panic!("redaction pattern: {e}"))
    })
}

/// Consistent replacements for one import.
#[derive(Debug, Default)]
pub struct Redactor {
    hosts: HashMap<String, String>,
    users: HashMap<String, String>,
    v4: HashMap<Ipv4Addr, String>,
    v6: HashMap<Ipv6Addr, String>,
}

impl Redactor {
    /// A fresh set of placeholders.
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// The placeholder for a host name (case-insensitive).
    pub fn host(&mut self, name: &str) -> String {
        if let Some(ip) = self.ip(name) {
            return ip;
        }
        if name.ends_with(".example") && name.starts_with("host") {
            return name.to_string();
        }
        let n = self.hosts.len() + 1;
        self.hosts
            .entry(name.to_ascii_lowercase())
            .or_insert_with(|| format!("host{n}.example"))
            .clone()
    }

    fn ip(&mut self, text: &str) -> Option<String> {
        if let Ok(v4) = text.parse::<Ipv4Addr>() {
            let n = self.v4.len();
            return Some(
                self.v4
                    .entry(v4)
                    .or_insert_with(|| {
                        let (net, host) =
                            ([[192, 0, 2], [198, 51, 100], [203, 0, 113]], n % 254 + 1);
                        let net = net[(n / 254) % 3];
                        Ipv4Addr::new(net[0], net[1], net[2], host as u8).to_string()
                    })
                    .clone(),
            );
        }
        if let Ok(v6) = text.parse::<Ipv6Addr>() {
            let n = self.v6.len() + 1;
            return Some(
                self.v6
                    .entry(v6)
                    .or_insert_with(|| format!("2001:db8::{n:x}"))
                    .clone(),
            );
        }
        None
    }

    fn mail(&mut self, addr: &str) -> String {
        let (local, domain) = addr.rsplit_once('@').unwrap_or((addr, ""));
        let n = self.users.len() + 1;
        let user = self
            .users
            .entry(local.to_string())
            .or_insert_with(|| format!("user{n}"))
            .clone();
        let domain = if domain.is_empty() {
            String::new()
        } else {
            self.host(domain)
        };
        format!("{user}@{domain}")
    }

    /// Replace every address, host name and IP in `text`, and every word
    /// that is a host name seen before (`GP` once `EHLO GP` was redacted).
    pub fn text(&mut self, text: &str) -> String {
        let replaced = self.patterns(text);
        if !self.hosts.keys().any(|k| !k.contains('.')) {
            return replaced;
        }
        replaced
            .split(' ')
            .map(|w| match self.hosts.get(&w.to_ascii_lowercase()) {
                Some(p) if !w.contains('.') && !w.is_empty() => p.clone(),
                _ => w.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn patterns(&mut self, text: &str) -> String {
        pattern()
            .replace_all(text, |c: &Captures<'_>| {
                if let Some(m) = c.name("mail") {
                    self.mail(m.as_str())
                } else if let Some(m) = c.name("v4") {
                    self.ip(m.as_str())
                        .unwrap_or_else(|| m.as_str().to_string())
                } else if let Some(m) = c.name("v6") {
                    self.ip(m.as_str())
                        .unwrap_or_else(|| m.as_str().to_string())
                } else if let Some(m) = c.name("host") {
                    self.host(m.as_str())
                } else {
                    c[0].to_string()
                }
            })
            .into_owned()
    }

    /// Replace the word at `index` (space-separated) with a host
    /// placeholder, and everything else as in [`Redactor::text`]. For
    /// positions known to hold a host name even without dots (`EHLO GP`,
    /// `220 uprise ESMTP`).
    pub fn text_with_host_word(&mut self, text: &str, index: usize) -> String {
        let mut words: Vec<String> = text.split(' ').map(str::to_string).collect();
        if let Some(w) = words.get_mut(index) {
            let literal = w.starts_with('[') && w.ends_with(']');
            if !w.is_empty() && !literal {
                *w = self.host(w);
            }
        }
        let mut out = Vec::with_capacity(words.len());
        for (i, w) in words.iter().enumerate() {
            if i == index {
                out.push(if w.starts_with('[') {
                    self.text(w)
                } else {
                    w.clone()
                });
            } else {
                out.push(self.text(w));
            }
        }
        out.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--redact` hides AUTH credentials however the line is written: any
    /// case, a tab after the verb or the mechanism, overlong, or a SASL
    /// response after an odd-case `AUTH`.
    #[test]
    fn auth_credentials_in_any_form() {
        use crate::import::yaml::{ScenarioOptions, render};
        use crate::import::{Format, ImportOptions, import_bytes};
        let secret = "AGFsaWNlAFMzY3JldFBhc3N3MHJk";
        let long = secret.repeat(30);
        let mut events = vec![(220, String::new())];
        for (line, code) in [
            (format!("auth\tplain\t{secret}"), 535),
            (format!("Auth Plain {long}"), 500),
            (format!("AUTH {secret}"), 504),
            ("auth\tlogin".to_string(), 334),
            (secret.to_string(), 334),
            (long.clone(), 235),
            ("AUTH PLAIN =".to_string(), 501),
        ] {
            events.push((code, line));
        }
        let mut jsonl = String::new();
        for (code, line) in &events {
            if !line.is_empty() {
                let e = serde_json::json!({"session": 1, "type": "command", "leg": "client", "line": line});
                jsonl.push_str(&format!("{e}\n"));
            }
            let e = serde_json::json!({"session": 1, "type": "reply", "leg": "client", "code": code, "lines": [format!("{code} x")]});
            jsonl.push_str(&format!("{e}\n"));
        }
        let options = ImportOptions {
            format: Some(Format::JsonLines),
            stream: None,
        };
        let (format, capture) =
            import_bytes(jsonl.as_bytes(), std::path::Path::new("t.jsonl"), &options)
                .unwrap_or_else(|e| panic!("{e}"));
        let mut o = ScenarioOptions::new("t", format);
        o.redact = true;
        let (yaml, _) = render(&capture, &o);
        assert!(!yaml.contains("AGFsaWNl"), "{yaml}");
        for kept in [
            "auth plain cmVkYWN0ZWQ=",
            "Auth Plain cmVkYWN0ZWQ=",
            "AUTH cmVkYWN0ZWQ=",
            "auth\\tlogin",
            "AUTH PLAIN =",
        ] {
            assert!(yaml.contains(kept), "{kept} in\n{yaml}");
        }
    }

    #[test]
    fn consistent_placeholders() {
        let mut r = Redactor::new();
        let a = r.text("MAIL FROM:<jj33@g3.jetmore.net> SIZE=100");
        assert_eq!(a, "MAIL FROM:<user1@host1.example> SIZE=100");
        assert_eq!(
            r.text("250 g3.JETMORE.net Hello [10.1.2.3]"),
            "250 host1.example Hello [192.0.2.1]"
        );
        assert_eq!(
            r.text("from 10.1.2.3 and fe80::1"),
            "from 192.0.2.1 and 2001:db8::1"
        );
        // Status codes, times and versions survive.
        assert_eq!(
            r.text("250 2.1.0 OK at 22:31:02 Exim 4.69"),
            "250 2.1.0 OK at 22:31:02 Exim 4.69"
        );
        assert_eq!(r.text_with_host_word("EHLO GP", 1), "EHLO host2.example");
        assert_eq!(r.text_with_host_word("gp Hello", 0), "host2.example Hello");
        assert_eq!(
            r.text_with_host_word("EHLO [10.1.2.3]", 1),
            "EHLO [192.0.2.1]"
        );
    }
}
