//! Mail the fake server accepted: envelope plus the exact bytes received.

use bytes::Bytes;
use serde::Serialize;
use std::net::SocketAddr;
use std::time::SystemTime;

/// One recipient of an accepted message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recipient {
    /// The address the client gave in RCPT TO.
    pub original: String,
    /// The mailbox the message was delivered to (differs after rerouting).
    pub delivered_to: String,
}

/// An accepted message.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    /// The session that delivered it.
    pub session: u64,
    /// The id in the server's 250 reply.
    pub queue_id: String,
    /// The client's address.
    pub peer: SocketAddr,
    /// What the client said in HELO/EHLO.
    pub helo: Option<String>,
    /// The reverse path (empty for `<>`).
    pub mail_from: String,
    /// The recipients, in RCPT order.
    pub recipients: Vec<Recipient>,
    /// The message content, dot-unstuffed, exactly as received.
    #[serde(serialize_with = "lossy")]
    pub data: Bytes,
    /// When the end of DATA arrived.
    pub received_at: SystemTime,
}

impl Message {
    /// The message content as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }

    /// The value of the first header `name` (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let text = self.text();
        let head = text.split("\r\n\r\n").next().unwrap_or_default();
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(v) = value.as_mut() {
                if line.starts_with([' ', '\t']) {
                    v.push_str(line);
                    continue;
                }
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case(name)
            {
                value = Some(v.trim().to_string());
            }
        }
        value
    }

    /// The recipients' original addresses.
    pub fn rcpt_to(&self) -> Vec<&str> {
        self.recipients
            .iter()
            .map(|r| r.original.as_str())
            .collect()
    }
}

fn lossy<S: serde::Serializer>(data: &Bytes, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(data))
}
