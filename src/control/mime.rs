//! The parsed view of an accepted message for `/messages`: header fields
//! decoded (RFC 2047 words, address lists, dates), the MIME tree, the text
//! and HTML bodies and the attachments, read with `mail-parser`. The raw
//! `.eml` stays the authority; this is a view of it and never fails: what
//! the parser cannot make sense of is shown as it was received.

use super::http::Request;
use crate::message::Message;
use mail_parser::{Address, HeaderValue, MessageParser, MessagePart, MimeHeaders, PartType};
use serde_json::{Value, json};

/// How much of a message the list reads for its header fields: the header
/// section of any real message fits, and a message kept in a file is not
/// read whole to be listed.
pub(crate) const HEAD_BYTES: usize = 64 * 1024;
/// The most of one text or HTML body `GET /messages/{n}` inlines; the whole
/// part is at its `href`, the whole message at `.eml`.
pub(crate) const INLINE_TEXT: usize = 1 << 20;

/// The header fields of a message that the list shows and searches.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    pub subject: Option<String>,
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub date: Option<String>,
    pub message_id: Option<String>,
}

/// The list's view of `m`, from its first [`HEAD_BYTES`] (blocking: the
/// body may be in a file).
pub(crate) fn summary(m: &Message) -> Summary {
    let Ok(head) = m.data.head(HEAD_BYTES) else {
        return Summary::default();
    };
    let Some(parsed) = MessageParser::new().parse_headers(&head[..]) else {
        return Summary::default();
    };
    Summary::of(&parsed)
}

/// Message `n` (1-based) as both `/messages` and `/messages/{n}` start it:
/// the envelope, its size and where its source is.
pub(crate) fn envelope(n: usize, m: &Message, size: usize) -> Value {
    json!({
        "n": n,
        "session": m.session,
        "queue_id": m.queue_id,
        "peer": m.peer.to_string(),
        "helo": m.helo,
        "mail_from": m.mail_from,
        "recipients": m.recipients,
        "size": size,
        "eml": format!("/messages/{n}.eml"),
    })
}

impl Summary {
    fn of(parsed: &mail_parser::Message<'_>) -> Summary {
        Summary {
            subject: parsed.subject().map(str::to_string),
            from: addresses(parsed.from()),
            to: addresses(parsed.to()),
            cc: addresses(parsed.cc()),
            date: parsed.date().map(|d| d.to_rfc3339()),
            message_id: parsed.message_id().map(str::to_string),
        }
    }

    /// The fields as JSON, added to the list's envelope fields.
    pub(crate) fn json(&self) -> Value {
        json!({
            "subject": self.subject,
            "from": self.from,
            "to": self.to,
            "cc": self.cc,
            "date": self.date,
            "message_id": self.message_id,
        })
    }
}

/// `?sender=&recipient=&subject=`: case-insensitive substrings, all of
/// which must match. `sender` looks at MAIL FROM and `From:`, `recipient`
/// at the RCPT TO addresses (as sent and as delivered) and `To:`/`Cc:`.
#[derive(Debug, Default, Clone)]
pub(crate) struct Search {
    sender: Option<String>,
    recipient: Option<String>,
    subject: Option<String>,
}

impl Search {
    pub(crate) fn from_request(req: &Request) -> Search {
        let param = |name| {
            req.query_param(name)
                .map(|v| percent_decode(v).to_lowercase())
                .filter(|v| !v.is_empty())
        };
        Search {
            sender: param("sender"),
            recipient: param("recipient"),
            subject: param("subject"),
        }
    }

    pub(crate) fn matches(&self, m: &Message, s: &Summary) -> bool {
        let has = |wanted: &Option<String>, mut fields: Vec<&str>| match wanted {
            None => true,
            Some(w) => fields.drain(..).any(|f| f.to_lowercase().contains(w)),
        };
        let senders: Vec<&str> = std::iter::once(m.mail_from.as_str())
            .chain(s.from.iter().map(String::as_str))
            .collect();
        let recipients: Vec<&str> = m
            .recipients
            .iter()
            .flat_map(|r| [r.original.as_str(), r.delivered_to.as_str()])
            .chain(s.to.iter().chain(&s.cc).map(String::as_str))
            .collect();
        has(&self.sender, senders)
            && has(&self.recipient, recipients)
            && has(&self.subject, s.subject.iter().map(String::as_str).collect())
    }
}

/// `%XX` escapes and `+` for space, as browsers send a query; an escape
/// that is not one is kept as written.
pub(super) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `Name <address>` for each address of a field (groups flattened).
fn addresses(field: Option<&Address<'_>>) -> Vec<String> {
    let Some(field) = field else {
        return Vec::new();
    };
    field
        .iter()
        .map(|a| match (a.name(), a.address()) {
            (Some(n), Some(addr)) => format!("{n} <{addr}>"),
            (None, Some(addr)) => addr.to_string(),
            (Some(n), None) => n.to_string(),
            (None, None) => String::new(),
        })
        .collect()
}

/// `GET /messages/{n}`: the envelope, every header field, the MIME tree,
/// the text and HTML bodies (each up to [`INLINE_TEXT`]) and the
/// attachments with links to their decoded content.
pub(crate) fn detail(n: usize, m: &Message, raw: &[u8]) -> Value {
    let mut out = envelope(n, m, raw.len());
    let Some(parsed) = MessageParser::new().parse(raw) else {
        // No header section at all: the raw text is all there is.
        out["parsed"] = Value::Bool(false);
        return out;
    };
    out["parsed"] = Value::Bool(true);
    out["headers"] = headers(&parsed.root_part().headers, raw);
    let summary = Summary::of(&parsed);
    if let (Value::Object(o), Value::Object(s)) = (&mut out, summary.json()) {
        o.extend(s);
    }
    let href = |id: u32| format!("/messages/{n}/parts/{id}");
    out["parts"] = parsed
        .parts
        .iter()
        .enumerate()
        .map(|(id, p)| part_json(id as u32, p, &href(id as u32)))
        .collect();
    out["text"] = bodies(&parsed, &parsed.text_body, &href);
    out["html"] = bodies(&parsed, &parsed.html_body, &href);
    out["attachments"] = parsed
        .attachments
        .iter()
        .filter_map(|&id| parsed.part(id).map(|p| (id, p)))
        .map(|(id, p)| {
            json!({
                "part": id,
                "filename": p.attachment_name(),
                "content_type": content_type(p),
                "size": p.body.len(),
                "href": href(id),
            })
        })
        .collect();
    out
}

/// Each header field: its name, its value decoded, and as received.
fn headers(fields: &[mail_parser::Header<'_>], raw: &[u8]) -> Value {
    fields
        .iter()
        .map(|h| {
            let received = raw
                .get(h.offset_start as usize..h.offset_end as usize)
                .map(|b| unfold(&String::from_utf8_lossy(b)))
                .unwrap_or_default();
            let value = match &h.value {
                HeaderValue::Address(a) => addresses(Some(a)).join(", "),
                HeaderValue::Text(t) => t.to_string(),
                HeaderValue::TextList(l) => l.join(", "),
                HeaderValue::DateTime(d) => d.to_rfc3339(),
                _ => received.clone(),
            };
            json!({"name": h.name.as_str(), "value": value, "raw": received})
        })
        .collect()
}

/// A folded header value on one line.
fn unfold(v: &str) -> String {
    v.split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `type/subtype`, or what MIME says a part without one is.
fn content_type(p: &MessagePart<'_>) -> String {
    match p.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{sub}", ct.ctype()).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
        None => match p.body {
            PartType::Message(_) => "message/rfc822".to_string(),
            PartType::Multipart(_) => "multipart/mixed".to_string(),
            _ => "text/plain".to_string(),
        },
    }
}

/// One node of the MIME tree; `children` are part numbers.
fn part_json(id: u32, p: &MessagePart<'_>, href: &str) -> Value {
    let children = match &p.body {
        PartType::Multipart(ids) => ids.clone(),
        _ => Vec::new(),
    };
    json!({
        "part": id,
        "content_type": content_type(p),
        "disposition": p.content_disposition().map(|d| d.ctype().to_ascii_lowercase()),
        "filename": p.attachment_name(),
        "content_id": p.content_id(),
        "transfer_encoding": p.content_transfer_encoding(),
        "size": p.body.len(),
        "encoding_problem": p.is_encoding_problem,
        "children": children,
        "href": href,
    })
}

/// The text (or HTML) bodies, each cut at [`INLINE_TEXT`] on a character
/// boundary, with the link to the whole part.
fn bodies(parsed: &mail_parser::Message<'_>, ids: &[u32], href: &dyn Fn(u32) -> String) -> Value {
    ids.iter()
        .filter_map(|&id| match &parsed.part(id)?.body {
            PartType::Text(t) | PartType::Html(t) => Some((id, t)),
            _ => None,
        })
        .map(|(id, t)| {
            let mut end = t.len().min(INLINE_TEXT);
            while !t.is_char_boundary(end) {
                end -= 1;
            }
            json!({
                "part": id,
                "content": &t[..end],
                "size": t.len(),
                "truncated": end < t.len(),
                "href": href(id),
            })
        })
        .collect()
}

/// `GET /messages/{n}/parts/{p}`: a part's content, transfer encoding
/// undone; `Err` is the 4xx answer's text.
pub(crate) fn part_content(raw: &[u8], id: &str) -> Result<(String, Option<String>, Vec<u8>), String> {
    let parsed = MessageParser::new()
        .parse(raw)
        .ok_or_else(|| "the message has no header section, so no parts".to_string())?;
    let count = parsed.parts.len();
    let part = id
        .parse::<u32>()
        .ok()
        .and_then(|i| parsed.part(i))
        .ok_or_else(|| format!("no part {id:?}; this message has parts 0 to {}", count.saturating_sub(1)))?;
    let bytes = match &part.body {
        PartType::Text(t) | PartType::Html(t) => t.as_bytes().to_vec(),
        PartType::Binary(b) | PartType::InlineBinary(b) => b.to_vec(),
        PartType::Message(m) => m.raw_message().to_vec(),
        PartType::Multipart(children) => {
            return Err(format!(
                "part {id} is a multipart container; its parts are {children:?}"
            ));
        }
    };
    Ok((content_type(part), part.attachment_name().map(str::to_string), bytes))
}
