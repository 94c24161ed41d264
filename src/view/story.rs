//! The story of one session as exchanges: what the client sent, what the
//! server received, what the server answered, what the client saw. Built
//! from a transcript: the proxy's (both legs) or the fake server's (one leg,
//! where client and server views are the same by construction). `demo` and
//! the control API's web UI tell sessions from the same story.

use crate::transcript::{EventKind, Leg, SessionRecord};

/// One step of a session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exchange {
    /// The client's line (`None` for the banner).
    pub client_sent: Option<String>,
    /// What reached the server (`None`: the proxy kept it).
    pub server_received: Option<String>,
    /// The server's reply lines (`250-SIZE`, `250 OK`).
    pub server_answered: Option<Vec<String>>,
    /// The reply lines the client got.
    pub client_saw: Option<Vec<String>>,
    /// The proxy rule that answered or changed the reply.
    pub rule: Option<String>,
    /// Something not on the wire (TLS started, a masked verb).
    pub notes: Vec<String>,
    /// Where a replayed session strayed from its capture, in words.
    pub diverged: Option<String>,
}

impl Exchange {
    /// The client's line differs from what the server got.
    pub fn command_changed(&self) -> bool {
        self.client_sent.is_some() && self.client_sent != self.server_received
    }

    /// The client saw something other than what the server answered.
    pub fn reply_changed(&self) -> bool {
        self.client_saw.is_some() && self.client_saw != self.server_answered
    }

    /// Anything changed.
    pub fn changed(&self) -> bool {
        self.command_changed() || self.reply_changed()
    }

    /// The verb, or `banner`, or `message`.
    pub fn label(&self) -> String {
        match &self.client_sent {
            None => "banner".to_string(),
            Some(s) if s.starts_with("<message") => "message".to_string(),
            Some(s) => s
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase(),
        }
    }

    /// The code the client saw.
    pub fn client_code(&self) -> Option<&str> {
        self.client_saw
            .as_ref()
            .and_then(|l| l.last())
            .and_then(|l| l.get(..3))
    }

    /// When the proxy changed a few words of a reply (an EHLO keyword
    /// removed or added) rather than the whole of it: the words the client
    /// lost and the words it got instead, so a view can mark those words
    /// and not the whole reply. `None` for a reply replaced or masked
    /// throughout (then the whole reply is the change).
    pub fn word_change(&self) -> Option<WordChange> {
        if !self.reply_changed() {
            return None;
        }
        let words = |lines: &Vec<String>| -> Vec<String> {
            lines
                .iter()
                .flat_map(|l| l.get(4..).unwrap_or("").split_whitespace())
                .map(str::to_string)
                .collect()
        };
        let (server, client) = (
            words(self.server_answered.as_ref()?),
            words(self.client_saw.as_ref()?),
        );
        let code = |lines: &Vec<String>| lines.last().and_then(|l| l.get(..3)).map(str::to_string);
        if code(self.server_answered.as_ref()?) != code(self.client_saw.as_ref()?) {
            return None;
        }
        let lost: Vec<String> = server
            .iter()
            .filter(|w| !client.contains(w))
            .cloned()
            .collect();
        let got: Vec<String> = client
            .iter()
            .filter(|w| !server.contains(w))
            .cloned()
            .collect();
        let changed = lost.len() + got.len();
        // A few words out of many: beyond a third it is a new reply.
        if changed == 0 || changed * 3 > server.len().max(client.len()) {
            return None;
        }
        Some(WordChange { lost, got })
    }

    /// What the proxy did here, in words, when it did something.
    pub fn explain(&self) -> Option<String> {
        if !self.changed() {
            return None;
        }
        let by = self
            .rule
            .as_ref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        let label = self.label();
        Some(match (&self.server_received, self.reply_changed()) {
            (None, _) if self.client_sent.is_some() => {
                format!("the proxy kept {label} from the server and answered itself{by}")
            }
            (Some(_), _) if self.command_changed() => {
                let mut s = format!("the proxy rewrote {label} on the way{by}");
                if self.reply_changed() {
                    s.push_str(" and changed the reply");
                }
                s
            }
            _ if label == "banner" => format!("the proxy changed the banner{by}"),
            _ => match self.word_change() {
                Some(w) => {
                    let (lost, got) = (w.lost.join(", "), w.got.join(", "));
                    let what = match (lost.is_empty(), got.is_empty()) {
                        (false, true) => format!("removed {lost} from"),
                        (true, false) => format!("added {got} to"),
                        _ => format!("replaced {lost} with {got} in"),
                    };
                    format!("the proxy {what} the reply to {label}{by}")
                }
                None => format!("the proxy changed the reply to {label}{by}"),
            },
        })
    }
}

/// The words of a reply the proxy changed ([`Exchange::word_change`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordChange {
    /// In the server's reply, not in what the client saw.
    pub lost: Vec<String>,
    /// In what the client saw, not in the server's reply.
    pub got: Vec<String>,
}

fn open(out: &mut Vec<Exchange>, sent: Option<String>) {
    out.push(Exchange {
        client_sent: sent,
        ..Exchange::default()
    });
}

/// Exchanges from a proxy session (both legs).
pub fn from_proxy(s: &SessionRecord) -> Vec<Exchange> {
    let mut out: Vec<Exchange> = Vec::new();
    for e in &s.events {
        match &e.kind {
            EventKind::Command {
                leg: Leg::Client,
                line,
                ..
            } => open(&mut out, Some(line.text())),
            EventKind::Data {
                leg: Leg::Client,
                size,
                ..
            } => open(&mut out, Some(format!("<message: {size} octets>"))),
            EventKind::Command {
                leg: Leg::Upstream,
                line,
                ..
            } => attach_received(&mut out, line.text()),
            EventKind::Data {
                leg: Leg::Upstream,
                size,
                ..
            } => attach_received(&mut out, format!("<message: {size} octets>")),
            EventKind::Reply {
                leg: Leg::Upstream,
                lines,
                ..
            } => match out.iter_mut().rev().find(|x| x.server_answered.is_none()) {
                Some(x) if x.client_saw.is_none() => x.server_answered = Some(lines.clone()),
                _ => {
                    open(&mut out, None);
                    if let Some(x) = out.last_mut() {
                        x.server_answered = Some(lines.clone());
                    }
                }
            },
            EventKind::Reply {
                leg: Leg::Client,
                lines,
                rule,
                ..
            } => {
                if out.last().is_none_or(|x| x.client_saw.is_some()) {
                    open(&mut out, None);
                }
                if let Some(x) = out.last_mut() {
                    x.client_saw = Some(lines.clone());
                    x.rule = rule.clone();
                }
            }
            EventKind::Tls { version, .. } => note(&mut out, format!("TLS started ({version})")),
            EventKind::Note { text } if !is_bookkeeping(text) => note(&mut out, text.clone()),
            _ => {}
        }
    }
    out
}

/// Exchanges from a fake server's session: the client saw what the server
/// answered.
pub fn from_server(s: &SessionRecord) -> Vec<Exchange> {
    let mut out: Vec<Exchange> = Vec::new();
    for e in &s.events {
        match &e.kind {
            EventKind::Command { line, .. } => {
                open(&mut out, Some(line.text()));
                if let Some(x) = out.last_mut() {
                    x.server_received = x.client_sent.clone();
                }
            }
            EventKind::Data { size, .. } => {
                let m = format!("<message: {size} octets>");
                open(&mut out, Some(m.clone()));
                if let Some(x) = out.last_mut() {
                    x.server_received = Some(m);
                }
            }
            EventKind::Reply { lines, rule, .. } => {
                if out.last().is_none_or(|x| x.client_saw.is_some()) {
                    open(&mut out, None);
                }
                if let Some(x) = out.last_mut() {
                    x.client_saw = Some(lines.clone());
                    x.server_answered = Some(lines.clone());
                    x.rule = rule.clone();
                }
            }
            EventKind::Tls { version, .. } => note(&mut out, format!("TLS started ({version})")),
            EventKind::Divergence {
                step,
                expected,
                got,
            } => {
                if let Some(x) = out.last_mut() {
                    x.diverged = Some(format!(
                        "diverged from captured step {step}: the captured client sent {expected:?}, this one {got:?}"
                    ));
                }
            }
            _ => {}
        }
    }
    out
}

fn attach_received(out: &mut [Exchange], line: String) {
    if let Some(x) = out
        .iter_mut()
        .rev()
        .find(|x| x.client_sent.is_some() && x.server_received.is_none())
    {
        x.server_received = Some(line);
    }
}

fn note(out: &mut [Exchange], text: String) {
    if let Some(x) = out.last_mut() {
        x.notes.push(text);
    }
}

fn is_bookkeeping(text: &str) -> bool {
    text.starts_with("proxy: ") || text.starts_with("upstream leg ")
}
