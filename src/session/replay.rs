//! Serving a captured conversation back: each command the client sends is
//! matched with the next captured step and answered with the captured bytes.
//! Where the client does something else, a [`Divergence`] says so and the
//! session carries on as sensibly as it can (skipping ahead to a step with
//! the same verb, or letting the built-in server answer).
//!
//! Lines are compared as SMTP reads them (RFC 5321 2.4): the verb, the
//! `FROM:`/`TO:` of MAIL and RCPT and the names of their parameters in any
//! case, everything else (addresses, parameter values, host names, spacing)
//! exactly. A message of another size than the captured one, a client that
//! leaves before the capture's end, or one that goes on after the captured
//! client had left, are divergences too. A reply the captured server sent
//! on its own after the client had been quiet for a while is due only after
//! the same quiet time ([`Session::idle_reply`]).

use super::{Next, Outcome, Session};
use crate::protocol::{Command, Reply, sasl};
use crate::scenario::replay::{Captured, ReplayEnd, Step};
use serde::Serialize;
use std::time::Duration;

/// Where the client under test behaved differently from the captured one.
///
/// # Example
///
/// ```
/// use smtp_harness::{MockServer, Scenario};
/// # use std::io::{BufRead, BufReader, Write};
/// # fn talk(addr: std::net::SocketAddr, lines: &[&str]) -> std::io::Result<Vec<String>> {
/// #     let mut sock = std::net::TcpStream::connect(addr)?;
/// #     let mut from = BufReader::new(sock.try_clone()?);
/// #     let mut reply = || -> std::io::Result<String> {
/// #         let mut all = String::new();
/// #         loop {
/// #             let mut line = String::new();
/// #             if from.read_line(&mut line)? == 0 || line.as_bytes().get(3) != Some(&b'-') {
/// #                 all.push_str(&line);
/// #                 return Ok(all);
/// #             }
/// #             all.push_str(&line);
/// #         }
/// #     };
/// #     let mut replies = vec![reply()?];
/// #     for line in lines {
/// #         sock.write_all(format!("{line}\r\n").as_bytes())?;
/// #         replies.push(reply()?);
/// #     }
/// #     Ok(replies)
/// # }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let capture = r#"
/// replay:
///   sessions:
///   - banner: ["220 mx.example ESMTP"]
///     steps:
///     - client: EHLO captured.example
///       reply: ["250 mx.example"]
///     - client: QUIT
///       reply: ["221 bye"]
/// "#;
/// let server = MockServer::start_blocking(Scenario::from_yaml(capture)?)?;
/// talk(server.addr(), &["HELO other.example", "QUIT"])?;
/// server.wait_for_sessions_blocking(1)?;
/// let (session, d) = &server.divergences()[0];
/// assert_eq!((*session, d.step), (1, 1));
/// assert_eq!((d.expected.as_str(), d.got.as_str()), ("EHLO captured.example", "HELO other.example"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Divergence {
    /// The captured step (1-based) that was expected.
    pub step: usize,
    /// What the captured client did.
    pub expected: String,
    /// What this client did.
    pub got: String,
}

/// Position in the captured session this connection plays.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cursor {
    pub index: usize,
    pub pos: usize,
}

/// What a divergence says the client did when it left.
const LEFT: &str = "<end of session>";

fn describe(e: &Captured) -> String {
    match e {
        Captured::Command(Some(c)) => c.clone(),
        Captured::Command(None) => "<a line the capture does not show>".to_string(),
        Captured::Message(Some(n)) => format!("<message of {n} octets>"),
        Captured::Message(None) => "<message>".to_string(),
        Captured::StartTls => "<TLS handshake>".to_string(),
        Captured::Nothing => "<nothing: the server spoke next>".to_string(),
    }
}

fn verb(line: &str) -> String {
    line.split(' ')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase()
}

/// `line` as SMTP compares it: the verb upper-cased, and for MAIL and RCPT
/// the `FROM:`/`TO:` keyword and each parameter's name (`size=` is
/// `SIZE=`); the path, the values and the spacing stay as they are.
fn canonical(line: &str) -> String {
    let (head, rest) = line.split_once(' ').unwrap_or((line, ""));
    let head = head.to_ascii_uppercase();
    let keyword = match head.as_str() {
        "MAIL" => "FROM:",
        "RCPT" => "TO:",
        _ if line.contains(' ') => return format!("{head} {rest}"),
        _ => return head,
    };
    let Some(after) = rest
        .get(..keyword.len())
        .filter(|k| k.eq_ignore_ascii_case(keyword))
        .map(|_| &rest[keyword.len()..])
    else {
        return format!("{head} {rest}");
    };
    // The path is compared exactly; after it come `NAME[=value]` words.
    let (path, params) = match after.find('>') {
        Some(end) => after.split_at(end + 1),
        None => (after, ""),
    };
    let params: Vec<String> = params
        .split(' ')
        .map(|word| match word.split_once('=') {
            Some((name, value)) => format!("{}={value}", name.to_ascii_uppercase()),
            None => word.to_ascii_uppercase(),
        })
        .collect();
    format!("{head} {keyword}{path}{}", params.join(" "))
}

impl Session {
    fn steps(&self, cursor: Cursor) -> &[Step] {
        &self.plan.replay[cursor.index].steps
    }

    fn captured_end(&self, cursor: Cursor) -> ReplayEnd {
        self.plan.replay[cursor.index].end
    }

    /// The outcome of playing step `at` (its reply, delay, and whether the
    /// captured server hung up after it).
    fn play(&mut self, cursor: Cursor, at: usize, cmd: Option<&Command>) -> Outcome {
        let steps = self.steps(cursor);
        let step = &steps[at];
        let (code, wire, delay) = (step.code, step.wire.clone(), step.delay);
        let last = at + 1 == steps.len();
        let server_closed = self.captured_end(cursor) == ReplayEnd::ServerClosed;
        self.replay = Some(Cursor {
            pos: at + 1,
            ..cursor
        });
        let reply = Reply::new(code, "");
        let mut next = match cmd {
            Some(cmd) if !wire.is_empty() => {
                let next = self.effect(cmd, &reply);
                if cmd.verb == crate::protocol::Verb::Ehlo && reply.class() == 2 {
                    self.captured_ehlo_reply(&wire);
                }
                next
            }
            _ if matches!(code, 421 | 521) => Next::Close,
            _ => Next::Command,
        };
        if last && server_closed {
            next = Next::Close;
        }
        if next == Next::Close {
            // The captured server hung up here: the client owes nothing
            // more (a QUIT the capture shows after it was never read).
            self.replay = None;
        }
        Outcome {
            reply: (!wire.is_empty()).then_some(reply),
            wire: (!wire.is_empty()).then_some(wire),
            delay,
            next,
            ..Outcome::reply(Reply::new(0, ""))
        }
    }

    /// The captured greeting, if this session replays one.
    pub(super) fn replay_greeting(&mut self) -> Option<Outcome> {
        let cursor = self.replay?;
        let session = &self.plan.replay[cursor.index];
        let (code, wire) = session.banner.clone()?;
        self.refused = code != 220;
        Some(Outcome {
            delay: session.banner_delay,
            wire: Some(wire),
            ..Outcome::reply(Reply::new(code, ""))
        })
    }

    /// The captured step due now without the client doing anything: a reply
    /// the captured server sent on its own with no quiet time before it.
    fn unprompted_now(&self) -> Option<Cursor> {
        let cursor = self.replay?;
        let step = self.steps(cursor).get(cursor.pos)?;
        (step.expect == Captured::Nothing && step.delay.is_zero()).then_some(cursor)
    }

    /// A reply the server sends on its own, due now (after the previous
    /// reply): the I/O layer asks after every outcome. Three sources, in
    /// this order: a one-shot fault armed for right after the greeting,
    /// Postfix's error limit (`penalty.rs`), and a reply the captured
    /// server sent unprompted (replay).
    pub fn unsolicited(&mut self) -> Option<Outcome> {
        if std::mem::take(&mut self.just_greeted)
            && let Some(out) = self.one_shot_after_greeting()
        {
            return Some(out);
        }
        if let Some(out) = self.error_limit() {
            return Some(out);
        }
        let cursor = self.unprompted_now()?;
        Some(self.play(cursor, cursor.pos, None))
    }

    /// How long the client may stay quiet before the captured server speaks
    /// on its own (Exchange's `451 4.7.0 Timeout waiting for client input`
    /// after a minute): the captured quiet time of the next step, when that
    /// step is such a reply. The I/O layer waits for it while it reads, and
    /// calls [`Session::idle_elapsed`] if nothing came; a line that comes
    /// first is answered as usual (and diverges: the captured client was
    /// quiet).
    pub fn idle_reply(&self) -> Option<Duration> {
        let cursor = self.replay?;
        let step = self.steps(cursor).get(cursor.pos)?;
        (step.expect == Captured::Nothing && !step.delay.is_zero()).then_some(step.delay)
    }

    /// The client stayed quiet for [`Session::idle_reply`]: the captured
    /// reply, at once (the wait is over).
    pub fn idle_elapsed(&mut self) -> Option<Outcome> {
        self.idle_reply()?;
        let cursor = self.replay?;
        let mut out = self.play(cursor, cursor.pos, None);
        out.delay = Duration::ZERO;
        Some(out)
    }

    /// The TLS handshake after the captured `220` to STARTTLS is done: the
    /// capture's `starttls` step is played. When the capture shows nothing
    /// after it (a pcap sees only ciphertext), the replay ends here and the
    /// built-in server answers the rest; the returned note says so for the
    /// transcript.
    pub(super) fn replay_tls_started(&mut self) -> Option<String> {
        let cursor = self.replay?;
        let steps = self.steps(cursor);
        if steps.get(cursor.pos)?.expect != Captured::StartTls {
            return None;
        }
        let pos = cursor.pos + 1;
        if pos < steps.len() {
            self.replay = Some(Cursor { pos, ..cursor });
            return None;
        }
        self.replay = None;
        Some(format!(
            "replay: the capture shows nothing after step {pos} (STARTTLS; what followed was encrypted): the built-in server answers from here, unchecked"
        ))
    }

    /// The client left (or the session ended) before the captured client
    /// had done all it did: the first step it did not do. Replies the
    /// captured server sent on its own are not owed by the client.
    pub fn replay_unfinished(&self) -> Option<Divergence> {
        let cursor = self.replay?;
        let steps = self.steps(cursor);
        let (k, step) = steps
            .iter()
            .enumerate()
            .skip(cursor.pos)
            .find(|(_, s)| s.expect != Captured::Nothing)?;
        Some(Divergence {
            step: k + 1,
            expected: self.shown_expected(&step.expect),
            got: LEFT.into(),
        })
    }

    /// Answer `line` from the capture, or `None` to let the built-in server answer.
    pub(super) fn replay_command(&mut self, line: &[u8], cmd: &Command) -> Option<Outcome> {
        let cursor = self.replay?;
        let steps = self.steps(cursor);
        let got = String::from_utf8_lossy(line).into_owned();
        // A capture taken from a transcript holds credentials redacted: the
        // client's line matches it when its redacted form does. Divergences
        // are recorded, so they show only redacted forms too.
        // (`import --redact` writes `cmVkYWN0ZWQ=` where transcripts say
        // `<redacted>`.)
        let shown = String::from_utf8_lossy(&self.shown_line(line)).into_owned();
        let redacted = shown.contains(sasl::REDACTED);
        let forms = [
            canonical(&got),
            canonical(&shown),
            canonical(&shown.replace(sasl::REDACTED, sasl::REDACTED_BASE64)),
        ];
        let same = |expected: &str| {
            let expected = canonical(expected);
            expected == forms[0] || expected == forms[1] || (redacted && expected == forms[2])
        };
        let Some(current) = steps.get(cursor.pos) else {
            return self.past_the_end(cursor, line, cmd, shown);
        };
        let mut divergence = None;
        let target = match &current.expect {
            Captured::Command(None) => Some(cursor.pos),
            Captured::Command(Some(expected)) if same(expected) => Some(cursor.pos),
            expected => {
                divergence = Some(Divergence {
                    step: cursor.pos + 1,
                    expected: self.shown_expected(expected),
                    got: shown,
                });
                let wanted = verb(&got);
                steps[cursor.pos..]
                    .iter()
                    .position(
                        |s| matches!(&s.expect, Captured::Command(Some(c)) if verb(c) == wanted),
                    )
                    .map(|k| cursor.pos + k)
            }
        };
        let Some(at) = target else {
            // Nothing captured fits: the built-in server answers, and the
            // divergence is reported with its reply.
            let mut out = self.builtin_command(line, cmd);
            out.divergence = divergence;
            return Some(self.after_chunk(cmd, out));
        };
        let mut out = self.play(cursor, at, Some(cmd));
        out.divergence = divergence;
        // A BDAT's chunk follows it whatever the capture answered.
        Some(self.after_chunk(cmd, out))
    }

    /// A line after the last captured step: the built-in server answers.
    /// Where the capture saw the session end, the line is a divergence; a
    /// capture that was cut off does not say what came next.
    fn past_the_end(
        &mut self,
        cursor: Cursor,
        line: &[u8],
        cmd: &Command,
        shown: String,
    ) -> Option<Outcome> {
        let expected = match self.captured_end(cursor) {
            ReplayEnd::CutOff => return None,
            ReplayEnd::ClientClosed => "<end of session: the captured client closed>",
            ReplayEnd::ServerClosed => "<end of session: the captured server closed>",
        };
        let mut out = self.builtin_command(line, cmd);
        out.divergence = Some(Divergence {
            step: self.steps(cursor).len() + 1,
            expected: expected.into(),
            got: shown,
        });
        Some(self.after_chunk(cmd, out))
    }

    /// What a divergence may record of the captured client's step: its
    /// AUTH line or SASL response redacted, like the client's own.
    fn shown_expected(&self, expected: &Captured) -> String {
        match expected {
            Captured::Command(Some(c)) => {
                String::from_utf8_lossy(&self.shown_line(c.as_bytes())).into_owned()
            }
            other => describe(other),
        }
    }

    /// The captured answer to a finished message of `size` octets, if the
    /// capture has a message here: its reply (none when the capture shows
    /// none) and a divergence when the capture expected something else or
    /// a message of another size (the captured reply is still played).
    pub(super) fn replay_message(&mut self, size: usize) -> Option<CapturedAnswer> {
        let cursor = self.replay?;
        let steps = self.steps(cursor);
        let step = steps.get(cursor.pos)?;
        let Captured::Message(captured) = step.expect else {
            return Some(CapturedAnswer {
                reply: None,
                divergence: Some(Divergence {
                    step: cursor.pos + 1,
                    expected: describe(&step.expect),
                    got: format!("<message of {size} octets>"),
                }),
            });
        };
        let reply = (step.code != 0).then(|| (step.code, step.wire.clone(), step.delay));
        let divergence = captured.filter(|&n| n != size).map(|n| Divergence {
            step: cursor.pos + 1,
            expected: format!("<message of {n} octets>"),
            got: format!("<message of {size} octets>"),
        });
        self.replay = Some(Cursor {
            pos: cursor.pos + 1,
            ..cursor
        });
        Some(CapturedAnswer { reply, divergence })
    }
}

/// What the capture answers to a finished message.
pub(super) struct CapturedAnswer {
    /// The captured reply's code, bytes and delay (none: the built-in
    /// server answers).
    pub reply: Option<(u16, bytes::Bytes, Duration)>,
    /// Where the client strayed.
    pub divergence: Option<Divergence>,
}

#[cfg(test)]
mod tests {
    use super::canonical;
    use crate::session::Next;
    use crate::session::tests::session;
    use std::time::Duration;

    const TLS_THEN_OPAQUE: &str = "tls: {}\nreplay:\n  sessions:\n    - banner: [\"220 mx\"]\n      steps:\n        - client: STARTTLS\n          reply: [\"220 go\"]\n        - starttls: true\n      end: server_closed\n";

    /// After the captured STARTTLS the handshake is the next step; with
    /// nothing captured after it the built-in server answers, unchecked.
    #[test]
    fn an_encrypted_rest_hands_over_to_the_built_in_server() {
        let mut s = session(TLS_THEN_OPAQUE);
        assert_eq!(s.command(b"STARTTLS").next, Next::StartTls);
        let note = s.tls_started().expect("a note says the replay ends");
        assert!(note.contains("nothing after step 2"), "{note}");
        let ehlo = s.command(b"EHLO x");
        assert_eq!(ehlo.reply.map(|r| r.code), Some(250));
        assert!(ehlo.divergence.is_none() && ehlo.wire.is_none());
        assert!(s.replay_unfinished().is_none());
    }

    /// A reply sent unprompted after a quiet time is not due at once: the
    /// I/O layer waits for the quiet time, then asks for it.
    #[test]
    fn an_unprompted_reply_waits_for_the_quiet_time() {
        let mut s = session(
            "replay:\n  sessions:\n    - banner: [\"220 mx\"]\n      steps:\n        - client: NOOP\n          reply: [\"250 ok\"]\n        - reply: [\"451 4.7.0 Timeout\"]\n          delay: 2s\n      end: server_closed\n",
        );
        s.command(b"NOOP");
        assert!(s.unsolicited().is_none(), "not at once");
        assert_eq!(s.idle_reply(), Some(Duration::from_secs(2)));
        let out = s.idle_elapsed().expect("due after the quiet time");
        assert_eq!(out.wire.as_deref(), Some(&b"451 4.7.0 Timeout\r\n"[..]));
        assert_eq!((out.delay, out.next), (Duration::ZERO, Next::Close));
        assert!(s.idle_reply().is_none() && s.replay_unfinished().is_none());
    }

    /// SMTP's own rule (RFC 5321 2.4): verbs, `FROM:`/`TO:` and parameter
    /// names in any case; paths and values exactly.
    #[test]
    fn lines_compare_as_smtp_reads_them() {
        let same = |a: &str, b: &str| canonical(a) == canonical(b);
        assert!(same("RCPT To:<a@b>", "rcpt TO:<a@b>"));
        assert!(same("mail from:<a@b> size=695", "MAIL From:<a@b> SIZE=695"));
        assert!(same("ehlo x.example", "EHLO x.example"));
        assert!(same("QUIT", "quit"));
        assert!(!same("RCPT TO:<A@b>", "RCPT TO:<a@b>"), "local part exact");
        assert!(!same("MAIL FROM: <a@b>", "MAIL FROM:<a@b>"), "spacing exact");
        assert!(!same("MAIL FROM:<a@b> SIZE=695", "MAIL FROM:<a@b> SIZE=694"));
        assert!(!same("EHLO X.example", "EHLO x.example"), "arguments exact");
        assert!(!same("MAILX FROM:<a@b>", "MAIL FROM:<a@b>"));
    }
}
