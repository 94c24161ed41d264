//! Builds a [`CapturedSession`] from lines and replies in wire order, and
//! keeps the little SMTP state every importer needs: which step each reply
//! answers (recorded in the reply, [`Answers`], for everything after to
//! read), when message data starts (`354` to `DATA`) and when TLS starts
//! (`220` to `STARTTLS`).

use super::model::{Answers, CapturedSession, End, Item, ItemKind, is_continuation, reply_code};
use std::collections::VecDeque;
use std::time::Duration;

/// What a sent command waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Greeting,
    Data,
    StartTls,
    DataEnd,
    Other,
}

/// Where the client side stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Client lines are commands.
    Command,
    /// `DATA` was sent; its reply decides whether content follows.
    AwaitDataReply,
    /// The client is sending message content.
    Data,
    /// `STARTTLS` was sent; its reply decides whether TLS starts.
    AwaitTlsReply,
    /// TLS started.
    Tls,
}

/// Incremental session builder.
#[derive(Debug)]
pub struct SessionBuilder {
    session: CapturedSession,
    /// What the sent commands wait for, in order, and which step each is.
    pending: VecDeque<(Pending, Answers)>,
    /// Steps so far ([`ItemKind::is_step`]).
    steps: usize,
    reply: Vec<Vec<u8>>,
    mode: Mode,
    last_reply_code: Option<u16>,
    /// Line-based content (swaks): lines collected after `354`.
    data_lines: Vec<u8>,
    data_size: usize,
    data_at: Option<Duration>,
    tls_shows_lines: bool,
}

/// `BDAT <n> [LAST]`, strictly: returns the chunk size.
pub fn bdat_size(line: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(line).ok()?;
    let mut words = text.split(' ');
    if !words.next()?.eq_ignore_ascii_case("BDAT") {
        return None;
    }
    let n = words.next()?;
    if n.is_empty() || n.len() > 15 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match words.next() {
        None => {}
        Some(w) if w.eq_ignore_ascii_case("LAST") => {}
        Some(_) => return None,
    }
    if words.next().is_some() {
        return None;
    }
    n.parse().ok()
}

fn verb(line: &[u8]) -> &[u8] {
    let end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    &line[..end]
}

impl SessionBuilder {
    /// A new session. `begin_missing`: the capture starts after the greeting.
    /// `tls_shows_lines`: the format shows decrypted lines after STARTTLS.
    pub fn new(session: CapturedSession, tls_shows_lines: bool) -> SessionBuilder {
        let mut pending = VecDeque::new();
        if !session.begin_missing {
            pending.push_back((Pending::Greeting, Answers::Greeting));
        }
        let steps = session.items.iter().filter(|i| i.kind.is_step()).count();
        SessionBuilder {
            session,
            pending,
            steps,
            reply: Vec::new(),
            mode: Mode::Command,
            last_reply_code: None,
            data_lines: Vec::new(),
            data_size: 0,
            data_at: None,
            tls_shows_lines,
        }
    }

    /// Where the client side stands.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The session so far.
    pub fn session(&self) -> &CapturedSession {
        &self.session
    }

    /// Mutable access to the session header fields.
    pub fn session_mut(&mut self) -> &mut CapturedSession {
        &mut self.session
    }

    fn push(&mut self, at: Option<Duration>, kind: ItemKind) {
        if kind.is_step() {
            self.steps += 1;
        }
        self.session.items.push(Item { at, kind });
    }

    /// The step just pushed waits for a reply of this kind.
    fn awaits(&mut self, kind: Pending) {
        let step = Answers::Step(self.steps.saturating_sub(1));
        self.pending.push_back((kind, step));
    }

    /// The next reply: what it answers, and what that was waiting for.
    fn answered(&mut self) -> (Answers, Option<Pending>) {
        match self.pending.pop_front() {
            Some((pending, answers)) => (answers, Some(pending)),
            None => (Answers::Unasked, None),
        }
    }

    /// A client command line (without line ending). In [`Mode::Data`] the
    /// line is message content (line-based formats).
    pub fn client_line(&mut self, line: &[u8], at: Option<Duration>) {
        if self.mode == Mode::Data {
            if self.data_at.is_none() {
                self.data_at = at;
            }
            self.data_lines.extend_from_slice(line);
            self.data_lines.extend_from_slice(b"\r\n");
            if line == b"." {
                let raw = std::mem::take(&mut self.data_lines);
                let size = self.data_size;
                self.data_size = 0;
                let at = self.data_at.take();
                self.data_end(Some(size), Some(raw), at);
            } else {
                self.data_size += line.len() - usize::from(line.first() == Some(&b'.')) + 2;
            }
            return;
        }
        self.command(line, at);
    }

    /// A client command line, whatever the mode.
    pub fn command(&mut self, line: &[u8], at: Option<Duration>) {
        self.push(at, ItemKind::Command(line.to_vec()));
        let v = verb(line);
        let kind = if v.eq_ignore_ascii_case(b"DATA") {
            self.mode = Mode::AwaitDataReply;
            Pending::Data
        } else if v.eq_ignore_ascii_case(b"STARTTLS") && !self.session_has_tls() {
            self.mode = Mode::AwaitTlsReply;
            Pending::StartTls
        } else {
            Pending::Other
        };
        self.awaits(kind);
    }

    /// The client sent a line the capture leaves out.
    pub fn hidden_command(&mut self, at: Option<Duration>) {
        self.push(at, ItemKind::HiddenCommand);
        self.awaits(Pending::Other);
    }

    /// Complete message content (DATA) was sent.
    pub fn data_end(&mut self, size: Option<usize>, raw: Option<Vec<u8>>, at: Option<Duration>) {
        self.push(
            at,
            ItemKind::Data {
                size,
                raw,
                bdat: false,
            },
        );
        self.awaits(Pending::DataEnd);
        if self.mode == Mode::Data {
            self.mode = Mode::Command;
        }
    }

    /// A BDAT chunk was sent (its command is already recorded).
    pub fn bdat_chunk(&mut self, raw: Option<Vec<u8>>, size: usize, at: Option<Duration>) {
        self.push(
            at,
            ItemKind::Data {
                size: Some(size),
                raw,
                bdat: true,
            },
        );
    }

    /// One server line; multi-line replies are collected until the last line.
    pub fn server_line(&mut self, line: &[u8], at: Option<Duration>) {
        self.reply.push(line.to_vec());
        if !is_continuation(line) {
            let lines = std::mem::take(&mut self.reply);
            self.server_reply(lines, at);
        }
    }

    /// A reply line is still open (a `250-` without its last line).
    pub fn reply_open(&self) -> bool {
        !self.reply.is_empty()
    }

    /// A complete reply.
    pub fn server_reply(&mut self, lines: Vec<Vec<u8>>, at: Option<Duration>) {
        if self.mode == Mode::Data {
            // The content was sent but the capture does not show it.
            let size =
                (self.data_size > 0 || !self.data_lines.is_empty()).then_some(self.data_size);
            let raw = (!self.data_lines.is_empty()).then(|| std::mem::take(&mut self.data_lines));
            let data_at = self.data_at.take().or(at);
            self.data_size = 0;
            self.data_end(size, raw, data_at);
        }
        let code = lines.first().and_then(|l| reply_code(l));
        if self.pending.is_empty() && self.last_reply_code == Some(334) {
            // An AUTH exchange the capture leaves out: the client answered.
            self.hidden_command(at);
        }
        let (answers, answered) = self.answered();
        self.push(
            at,
            ItemKind::Reply {
                code,
                lines,
                answers,
            },
        );
        self.last_reply_code = code;
        match answered {
            Some(Pending::Data) => {
                self.mode = if code == Some(354) {
                    Mode::Data
                } else {
                    Mode::Command
                };
            }
            Some(Pending::StartTls) => {
                if code == Some(220) {
                    // After the handshake the session restarts at the
                    // greeting state; no new greeting is sent.
                    self.push(at, ItemKind::TlsStarted);
                    self.pending.clear();
                    self.mode = if self.tls_shows_lines {
                        Mode::Command
                    } else {
                        Mode::Tls
                    };
                } else {
                    self.mode = Mode::Command;
                }
            }
            _ => {}
        }
    }

    fn session_has_tls(&self) -> bool {
        self.session.tls_started()
    }

    /// Close the session.
    pub fn finish(mut self, end: End, at: Option<Duration>) -> CapturedSession {
        if !self.reply.is_empty() {
            let lines = std::mem::take(&mut self.reply);
            let code = lines.first().and_then(|l| reply_code(l));
            let (answers, _) = self.answered();
            self.push(
                at,
                ItemKind::Reply {
                    code,
                    lines,
                    answers,
                },
            );
        }
        if self.mode == Mode::Data && !self.data_lines.is_empty() {
            let raw = std::mem::take(&mut self.data_lines);
            let data_at = self.data_at.take();
            self.push(
                data_at,
                ItemKind::Data {
                    size: Some(self.data_size),
                    raw: Some(raw),
                    bdat: false,
                },
            );
        }
        self.push(at, ItemKind::End(end));
        self.session
    }

    /// The last client command was `QUIT` and it got a reply.
    pub fn quit_answered(&self) -> bool {
        let mut saw_reply = false;
        for item in self.session.items.iter().rev() {
            match &item.kind {
                ItemKind::Reply { .. } => saw_reply = true,
                ItemKind::Command(l) => return saw_reply && verb(l).eq_ignore_ascii_case(b"QUIT"),
                _ => {}
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bdat_parsing_is_strict() {
        assert_eq!(bdat_size(b"BDAT 12 LAST"), Some(12));
        assert_eq!(bdat_size(b"bdat 0"), Some(0));
        assert_eq!(bdat_size(b"BDAT"), None);
        assert_eq!(bdat_size(b"BDAT 1234 SCRAMBLE"), None);
        assert_eq!(bdat_size(b"BDAT SCRAMBLE"), None);
    }

    #[test]
    fn pairs_data_and_tls() {
        let mut b = SessionBuilder::new(CapturedSession::default(), true);
        b.server_line(b"220 hi", None);
        b.command(b"DATA", None);
        assert_eq!(b.mode(), Mode::AwaitDataReply);
        b.server_line(b"354 go", None);
        assert_eq!(b.mode(), Mode::Data);
        b.client_line(b"..x", None);
        b.client_line(b".", None);
        assert_eq!(b.mode(), Mode::Command);
        b.server_line(b"250 ok", None);
        b.command(b"STARTTLS", None);
        b.server_line(b"220 go", None);
        assert_eq!(b.mode(), Mode::Command);
        let s = b.finish(End::CutOff, None);
        assert!(s.tls_started());
        assert_eq!(s.data(), vec![(Some(4), Some(8))]);
    }
}
