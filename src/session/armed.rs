//! One-shot faults armed at runtime ("the next MAIL gets 451", "drop the
//! next connection after the banner"): a queue the control API fills and
//! each session consults at three points — its greeting, right after it,
//! each command — taking the first matching fault out under the lock, so
//! each fires exactly once even with many sessions racing for it.
//!
//! An armed fault is input to the session, like a command: the session
//! answers with it and applies what the reply means (a 250 to MAIL starts
//! the transaction, a 354 to DATA reads the message, a 554 greeting refuses
//! service), so its state and the transcript agree with what the client got.

use super::{Next, Outcome, Session};
use crate::protocol::Command;
use crate::protocol::Reply;
use crate::scenario::compile::ReplyTemplate;
use crate::scenario::faults::{Fault, Trigger};
use crate::scenario::template::{Template, Var, Vars};
use serde::ser::SerializeMap;
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

/// A checked, armed fault: one of the fault model's answers, fired once.
#[derive(Debug, Clone)]
pub struct ArmedFault {
    /// 1-based, in arming order.
    pub id: u64,
    /// Always a [`Fault::Answer`]: where it fires, what is sent, whether
    /// the connection closes.
    pub fault: Fault,
}

/// Armed replies are sent as written: they hold no placeholders.
struct Literal;

impl Vars for Literal {
    fn write_var(&self, _: Var, _: &mut String) {}
}

impl ArmedFault {
    /// Where it fires, what is sent (if anything), and whether it closes.
    fn parts(&self) -> (&Trigger, Option<Reply>, bool) {
        match &self.fault {
            Fault::Answer { on, reply, close } => {
                (on, reply.as_ref().map(|r| r.render(&Literal)), *close)
            }
            // `check` builds nothing else; a fault that cannot answer closes.
            _ => (&Trigger::AnyCommand, None, true),
        }
    }

    /// One line for transcripts: `#1 next MAIL: reply 451 4.3.0 try later`.
    pub fn describe(&self) -> String {
        let (on, reply, close) = self.parts();
        let at = match on {
            Trigger::Banner => "next connection, before the banner".to_string(),
            Trigger::AfterBanner => "next connection, after the banner".to_string(),
            Trigger::Verb(v) => format!("next {v}"),
            Trigger::AnyCommand => "next command".to_string(),
            Trigger::EndOfData => "next end of data".to_string(),
        };
        let what = match (reply, close) {
            (Some(r), false) => format!("reply {}", r.to_string().trim_end()),
            (Some(r), true) => format!("reply {} and close", r.to_string().trim_end()),
            (None, _) => "close".to_string(),
        };
        format!("#{} {at}: {what}", self.id)
    }
}

/// As the control API lists it: `{"id":1,"on":"command","verb":"MAIL",
/// "reply":"451 4.3.0 try later\r\n","close":false}`.
impl Serialize for ArmedFault {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (on, reply, close) = self.parts();
        let (point, verb) = match on {
            Trigger::Banner => (FaultPoint::Connect, None),
            Trigger::AfterBanner => (FaultPoint::Banner, None),
            Trigger::Verb(v) => (FaultPoint::Command, Some(v)),
            Trigger::AnyCommand | Trigger::EndOfData => (FaultPoint::Command, None),
        };
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("on", &point)?;
        if let Some(v) = verb {
            map.serialize_entry("verb", v)?;
        }
        if let Some(r) = reply {
            map.serialize_entry("reply", &r.to_string())?;
        }
        map.serialize_entry("close", &close)?;
        map.end()
    }
}

impl FaultRequest {
    /// Check a request: a reply must parse; something must happen.
    pub fn check(self, id: u64) -> Result<ArmedFault, String> {
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
        let on = match (on, verb) {
            (FaultPoint::Connect, _) => Trigger::Banner,
            (FaultPoint::Banner, _) => Trigger::AfterBanner,
            (FaultPoint::Command, Some(v)) => Trigger::Verb(v),
            (FaultPoint::Command, None) => Trigger::AnyCommand,
        };
        let reply = reply.map(|r| ReplyTemplate {
            code: r.code,
            lines: r.lines.into_iter().map(Template::literal).collect(),
        });
        Ok(ArmedFault {
            id,
            fault: Fault::Answer { on, reply, close },
        })
    }
}

/// The armed faults of one server.
#[derive(Debug, Default)]
pub struct OneShotFaults {
    /// Lets every session skip the lock while nothing is armed.
    armed: AtomicUsize,
    queue: Mutex<(u64, VecDeque<ArmedFault>)>,
}

impl OneShotFaults {
    /// Arm one; returns it with its id.
    pub fn arm(&self, request: FaultRequest) -> Result<ArmedFault, String> {
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
    pub fn armed(&self) -> Vec<ArmedFault> {
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

    /// Take the first fault that `fires` here: it will not fire again.
    fn take(&self, fires: impl Fn(&Trigger) -> bool) -> Option<ArmedFault> {
        if self.armed.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let i = q.1.iter().position(|f| match &f.fault {
            Fault::Answer { on, .. } => fires(on),
            _ => false,
        })?;
        let fault = q.1.remove(i);
        self.armed.store(q.1.len(), Ordering::Release);
        fault
    }
}

impl Session {
    /// One-shot faults armed at runtime (the control API) are input to
    /// this session: it takes them from `faults` as it goes.
    pub fn with_one_shots(mut self, faults: std::sync::Arc<OneShotFaults>) -> Session {
        self.one_shots = Some(faults);
        self
    }

    fn one_shot(&self, fires: impl Fn(&Trigger) -> bool) -> Option<ArmedFault> {
        self.one_shots.as_ref()?.take(fires)
    }

    /// A fault armed for the next connection answers instead of the
    /// greeting; a code other than 220 refuses service, as a greeting's does.
    pub(super) fn one_shot_greeting(&mut self) -> Option<Outcome> {
        let armed = self.one_shot(|t| *t == Trigger::Banner)?;
        let (_, reply, close) = armed.parts();
        if let Some(r) = &reply {
            self.refused = r.code != 220;
        }
        let close = close || reply.is_none();
        Some(self.fired(armed, reply, close, Next::Command))
    }

    /// A fault armed for right after the greeting: a silent close.
    pub(super) fn one_shot_after_greeting(&mut self) -> Option<Outcome> {
        let armed = self.one_shot(|t| *t == Trigger::AfterBanner)?;
        let (_, reply, close) = armed.parts();
        Some(self.fired(armed, reply, close, Next::Close))
    }

    /// A fault armed for this command answers it, and its reply moves the
    /// session as any reply would. `line` is matched on its first word as
    /// sent (bytes: a command line need not be UTF-8).
    pub(super) fn one_shot_command(&mut self, line: &[u8]) -> Option<Outcome> {
        // The verb is only cut out once a fault is armed: this runs for
        // every command.
        let verb = || line.split(|b| *b == b' ').next().unwrap_or_default();
        let armed = self.one_shot(|t| t.fires_at_command(verb()))?;
        let (_, reply, close) = armed.parts();
        let cmd = Command::parse(line);
        let next = match &reply {
            Some(r) => {
                // The fault answered an AUTH exchange's line: the exchange
                // goes on only if it asked for more.
                if r.code != 334 {
                    self.dialog = None;
                }
                self.effect(&cmd, r)
            }
            None => Next::Close,
        };
        let outcome = self.fired(armed, reply, close, next);
        Some(self.after_chunk(&cmd, outcome))
    }

    /// The one-shot fault that fired since the last call, described for
    /// the transcript: the I/O layer asks before carrying out each outcome.
    pub fn take_fired(&mut self) -> Option<String> {
        self.fired.take()
    }

    /// The outcome of an armed fault: its reply, then `next` (or a close).
    fn fired(
        &mut self,
        armed: ArmedFault,
        reply: Option<Reply>,
        close: bool,
        next: Next,
    ) -> Outcome {
        self.fired = Some(armed.describe());
        Outcome::injected(
            reply,
            if close { Next::Close } else { next },
            Some(format!("fault #{}", armed.id)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::model::StateName;
    use crate::session::tests::code;
    use std::sync::Arc;

    /// A session whose one-shot faults are `armed`, before its greeting.
    fn armed(json: &[&str]) -> (Session, Arc<OneShotFaults>) {
        let faults = Arc::new(OneShotFaults::default());
        for j in json {
            faults.arm(req(j)).expect("armed");
        }
        let scenario = crate::Scenario::from_yaml("{}").expect("scenario");
        let info = crate::session::SessionInfo {
            id: 1,
            peer: "127.0.0.1:40000".parse().expect("addr"),
            local: "127.0.0.1:25".parse().expect("addr"),
        };
        let s = Session::new(scenario.plan_arc(), info).with_one_shots(Arc::clone(&faults));
        (s, faults)
    }

    #[test]
    fn an_armed_reply_moves_the_state_as_any_reply_would() {
        let (mut s, faults) = armed(&[r#"{"verb":"MAIL","reply":"250 2.1.0 armed"}"#]);
        assert_eq!(s.greeting().reply.map(|r| r.code), Some(220));
        assert!(s.unsolicited().is_none() && s.take_fired().is_none());
        assert_eq!(code(&mut s, "EHLO x"), 250);
        let out = s.command(b"mail FROM:<a@b>");
        assert_eq!(out.rule.as_deref(), Some("fault #1"));
        assert_eq!(s.state(), StateName::Mail);
        assert_eq!(
            s.take_fired().as_deref(),
            Some("#1 next MAIL: reply 250 2.1.0 armed")
        );
        assert_eq!(s.take_fired(), None, "recorded once");
        assert_eq!(code(&mut s, "RCPT TO:<c@d>"), 250);
        assert!(faults.armed().is_empty());
    }

    #[test]
    fn armed_greetings_refuse_or_close() {
        let (mut s, _) = armed(&[r#"{"on":"connect","reply":"554 5.3.2 no"}"#]);
        let out = s.greeting();
        assert_eq!(
            (out.reply.map(|r| r.code), out.next),
            (Some(554), Next::Command)
        );
        assert_eq!(
            code(&mut s, "EHLO x"),
            503,
            "refused, as the client was told"
        );

        let (mut s, _) = armed(&[r#"{"on":"banner","action":"close"}"#]);
        assert_eq!(s.greeting().next, Next::Command);
        let out = s.unsolicited().expect("the close after the banner");
        assert_eq!((out.reply, out.next), (None, Next::Close));
        assert!(s.unsolicited().is_none());
    }

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
        let at_command = |verb: &'static [u8]| move |t: &Trigger| t.fires_at_command(verb);
        assert!(faults.take(at_command(b"RCPT")).is_none());
        assert!(faults.take(|t| *t == Trigger::Banner).is_none());
        assert_eq!(faults.take(at_command(b"MAIL")).map(|f| f.id), Some(1));
        assert!(faults.take(at_command(b"MAIL")).is_none());
        let f = faults
            .take(|t| *t == Trigger::AfterBanner)
            .expect("banner fault");
        assert_eq!(f.describe(), "#2 next connection, after the banner: close");
        let listed = serde_json::to_value(&f).expect("JSON");
        assert_eq!(
            listed,
            serde_json::json!({"id": 2, "on": "banner", "close": true})
        );
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
        assert!(
            f.describe().ends_with("reply 421 4.3.2 bye and close"),
            "421 closes, as the session would"
        );
    }
}
