//! One-shot faults armed at runtime ("the next MAIL gets 451", "drop the
//! next connection after the banner"): a queue each connection consults at
//! three points — accept, after the banner, each command — taking the first
//! matching fault out under the lock, so each fires exactly once even with
//! many sessions racing for it.
//!
//! The session engine never sees a fault: the connection answers for it, so
//! the session's state does not move (as if the command had been refused).
//! Use a scenario rule for a reply that should change the state.

use crate::protocol::Reply;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many faults may be armed at once.
pub const MAX_ARMED: usize = 1000;

/// Where a fault fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultPoint {
    /// When a client connects, before the banner.
    Connect,
    /// Right after the banner was sent.
    Banner,
    /// At the next command (of `verb`, when given).
    Command,
}

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultAction {
    /// Send `reply` instead of what the scenario would (at `connect`: instead of the banner).
    Reply,
    /// Close the connection without a word (after `reply`, if one is given).
    Close,
}

/// A fault as the control API takes it:
/// `{"verb":"MAIL","reply":"451 4.3.0 try later"}`,
/// `{"on":"banner","action":"close"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRequest {
    /// Where (default `command`).
    #[serde(default)]
    pub on: Option<FaultPoint>,
    /// With `on: command`: only a command with this verb (any when absent).
    #[serde(default)]
    pub verb: Option<String>,
    /// The reply to send (a code and text; multi-line as a list).
    #[serde(default)]
    pub reply: Option<ReplyInput>,
    /// `reply` (the default when `reply` is given) or `close`.
    #[serde(default)]
    pub action: Option<FaultAction>,
}

/// A reply as JSON: `"451 4.3.0 try later"` or `["250-first", "250 last"]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ReplyInput {
    /// One line (or several separated by `\n`).
    One(String),
    /// One entry per line.
    Many(Vec<String>),
}

impl ReplyInput {
    /// Parse into a reply: every line starts with the same code, 200–599.
    pub fn to_reply(&self) -> Result<Reply, String> {
        let lines: Vec<&str> = match self {
            ReplyInput::One(s) => s.lines().collect(),
            ReplyInput::Many(v) => v.iter().flat_map(|s| s.lines()).collect(),
        };
        let mut code = None;
        let mut texts = Vec::new();
        for line in &lines {
            let Some((c, _, text)) = Reply::parse_line(line.as_bytes()) else {
                return Err(format!("{line:?} does not start with a reply code"));
            };
            if !(200..=599).contains(&c) {
                return Err(format!("reply code {c} is outside 200-599"));
            }
            if code.is_some_and(|first| first != c) {
                return Err(format!("every line needs the same code ({line:?})"));
            }
            code = Some(c);
            texts.push(String::from_utf8_lossy(text).into_owned());
        }
        match code {
            Some(c) => Ok(Reply::multi(c, texts)),
            None => Err("the reply is empty".into()),
        }
    }
}

/// A checked, armed fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fault {
    /// 1-based, in arming order.
    pub id: u64,
    /// Where it fires.
    pub on: FaultPoint,
    /// Only this verb (upper case), for `command`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verb: Option<String>,
    /// What is sent, if anything.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "reply_lines"
    )]
    pub reply: Option<Reply>,
    /// Close after (or instead of) the reply.
    pub close: bool,
}

fn reply_lines<S: serde::Serializer>(r: &Option<Reply>, s: S) -> Result<S::Ok, S::Error> {
    match r {
        Some(r) => s.serialize_some(&r.to_string()),
        None => s.serialize_none(),
    }
}

impl Fault {
    /// One line for transcripts: `#1 next MAIL → 451 4.3.0 try later`.
    pub fn describe(&self) -> String {
        let at = match (self.on, &self.verb) {
            (FaultPoint::Connect, _) => "next connection, before the banner".to_string(),
            (FaultPoint::Banner, _) => "next connection, after the banner".to_string(),
            (FaultPoint::Command, Some(v)) => format!("next {v}"),
            (FaultPoint::Command, None) => "next command".to_string(),
        };
        let what = match (&self.reply, self.close) {
            (Some(r), false) => format!("reply {}", r.to_string().trim_end()),
            (Some(r), true) => format!("reply {} and close", r.to_string().trim_end()),
            (None, _) => "close".to_string(),
        };
        format!("#{} {at}: {what}", self.id)
    }
}

impl FaultRequest {
    /// Check a request: a reply must parse; something must happen.
    pub fn check(self, id: u64) -> Result<Fault, String> {
        let on = self.on.unwrap_or(FaultPoint::Command);
        let reply =
            match &self.reply {
                Some(text) => Some(text.to_reply().map_err(|e| {
                    format!("bad `reply`: {e}; expected e.g. \"451 4.3.0 try later\"")
                })?),
                None => None,
            };
        let close = match (self.action, &reply) {
            (Some(FaultAction::Close), _) => true,
            (Some(FaultAction::Reply) | None, Some(r)) => r.code == 421,
            (Some(FaultAction::Reply), None) => {
                return Err("`action: reply` needs a `reply`".into());
            }
            (None, None) => {
                return Err(
                    "a fault needs a `reply` or `action: close`; e.g. {\"verb\":\"MAIL\",\"reply\":\"451 4.3.0 try later\"}"
                        .into(),
                );
            }
        };
        if self.verb.is_some() && on != FaultPoint::Command {
            return Err("`verb` only goes with `on: command`".into());
        }
        if on == FaultPoint::Banner && reply.is_some() {
            return Err(
                "`on: banner` fires after the banner; use `on: connect` with a `reply` to replace the banner"
                    .into(),
            );
        }
        let verb = self
            .verb
            .map(|v| v.trim().to_ascii_uppercase())
            .filter(|v| !v.is_empty());
        Ok(Fault {
            id,
            on,
            verb,
            reply,
            close,
        })
    }
}

/// The armed faults of one server.
#[derive(Debug, Default)]
pub struct OneShotFaults {
    /// Lets every session skip the lock while nothing is armed.
    armed: AtomicUsize,
    queue: Mutex<(u64, VecDeque<Fault>)>,
}

impl OneShotFaults {
    /// Arm one; returns it with its id.
    pub fn arm(&self, request: FaultRequest) -> Result<Fault, String> {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if q.1.len() >= MAX_ARMED {
            return Err(format!("{MAX_ARMED} faults are already armed"));
        }
        let fault = request.check(q.0 + 1)?;
        q.0 += 1;
        q.1.push_back(fault.clone());
        self.armed.store(q.1.len(), Ordering::Release);
        Ok(fault)
    }

    /// The faults not yet fired, in order.
    pub fn armed(&self) -> Vec<Fault> {
        let q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.1.iter().cloned().collect()
    }

    /// Disarm all; returns how many there were.
    pub fn clear(&self) -> usize {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let n = q.1.len();
        q.1.clear();
        self.armed.store(0, Ordering::Release);
        n
    }

    /// Take the first fault for this point (and verb): it will not fire again.
    /// `verb` is the command's first word as sent (bytes: a command line
    /// need not be UTF-8, and this runs for every command).
    pub fn take(&self, on: FaultPoint, verb: Option<&[u8]>) -> Option<Fault> {
        if self.armed.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let i = q.1.iter().position(|f| {
            f.on == on
                && match (&f.verb, verb) {
                    (None, _) => true,
                    (Some(want), Some(got)) => want.as_bytes().eq_ignore_ascii_case(got),
                    (Some(_), None) => false,
                }
        })?;
        let fault = q.1.remove(i);
        self.armed.store(q.1.len(), Ordering::Release);
        fault
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(json: &str) -> FaultRequest {
        serde_json::from_str(json).expect("valid request")
    }

    #[test]
    fn each_fault_fires_once_for_its_point_and_verb() {
        let faults = OneShotFaults::default();
        let f = faults
            .arm(req(r#"{"verb":"mail","reply":"451 4.3.0 try later"}"#))
            .expect("armed");
        assert_eq!(f.describe(), "#1 next MAIL: reply 451 4.3.0 try later");
        faults
            .arm(req(r#"{"on":"banner","action":"close"}"#))
            .expect("armed");
        assert!(
            faults
                .take(FaultPoint::Command, Some(b"RCPT".as_slice()))
                .is_none()
        );
        assert!(faults.take(FaultPoint::Connect, None).is_none());
        assert_eq!(
            faults
                .take(FaultPoint::Command, Some(b"MAIL".as_slice()))
                .map(|f| f.id),
            Some(1)
        );
        assert!(
            faults
                .take(FaultPoint::Command, Some(b"MAIL".as_slice()))
                .is_none()
        );
        let f = faults.take(FaultPoint::Banner, None).expect("banner fault");
        assert!(f.close && f.reply.is_none());
        assert!(faults.armed().is_empty());
    }

    #[test]
    fn bad_requests_say_what_to_write() {
        let faults = OneShotFaults::default();
        assert!(faults.arm(req(r#"{"verb":"MAIL"}"#)).is_err());
        assert!(
            faults
                .arm(req(r#"{"verb":"MAIL","reply":"45x oops"}"#))
                .is_err()
        );
        assert!(
            faults
                .arm(req(r#"{"on":"banner","verb":"MAIL","action":"close"}"#))
                .is_err()
        );
        assert!(serde_json::from_str::<FaultRequest>(r#"{"verbb":"MAIL"}"#).is_err());
        let f = faults
            .arm(req(r#"{"reply":"421 4.3.2 bye"}"#))
            .expect("armed");
        assert!(f.close, "421 closes, as the session would");
    }
}
