//! swaks transcripts: `=== Trying host:port...` starts a session, ` -> `
//! and ` ~> ` are lines the client sent (in the clear / over TLS), `<- `
//! and `<~ ` lines it received, `<** `/`<~* ` error replies, `**> `
//! unexpected lines sent. swaks shows the decrypted lines after STARTTLS, so
//! they are imported like the others; `=== TLS started` before the greeting
//! is TLS from the first byte (`--tlsc`). swaks prints no times.

use super::builder::SessionBuilder;
use super::model::{Capture, CapturedSession, End};

enum Line<'a> {
    Info(&'a [u8]),
    Error(&'a [u8]),
    Sent(&'a [u8]),
    Received(&'a [u8]),
    Raw,
    Other,
}

fn classify(line: &[u8]) -> Line<'_> {
    let text = |n: usize| line.get(n..).unwrap_or(&[]);
    if line.starts_with(b"===") {
        return Line::Info(text(4));
    }
    if line.starts_with(b"***") {
        return Line::Error(text(4));
    }
    if line.len() >= 3 {
        match &line[..3] {
            b" ->" | b" ~>" | b"**>" => return Line::Sent(text(4)),
            b"<- " | b"<~ " | b"<**" | b"<~*" => return Line::Received(text(4)),
            b"  >" | b"<  " => return Line::Raw,
            _ => {}
        }
    }
    Line::Other
}

/// The `n`-th session of the transcript.
fn new_session(n: usize) -> SessionBuilder {
    SessionBuilder::new(
        CapturedSession {
            label: format!("session {n}"),
            ..CapturedSession::default()
        },
        true,
    )
}

/// A transcript being read: the sessions so far and what did not fit.
#[derive(Default)]
struct Reader {
    capture: Capture,
    current: Option<SessionBuilder>,
    recognised: usize,
    skipped: Vec<usize>,
    raw_chunks: usize,
}

impl Reader {
    /// One line (numbered from 1) of the transcript.
    fn line(&mut self, line_no: usize, line: &[u8]) {
        match classify(line) {
            Line::Info(text) => {
                self.recognised += 1;
                if text.starts_with(b"Trying ") {
                    self.close(None);
                    self.current = Some(self.new_session());
                } else if text.starts_with(b"TLS started") && self.session().session().items.is_empty() {
                    // Before the greeting: TLS from the first byte (`--tlsc`).
                    self.session().session_mut().implicit_tls = true;
                } else if text.starts_with(b"Connection closed") {
                    let quit_answered = self.current.as_ref().is_some_and(|b| b.quit_answered());
                    self.close(Some(if quit_answered {
                        End::ServerClosed
                    } else {
                        End::ClientClosed
                    }));
                }
            }
            Line::Error(text) => {
                self.recognised += 1;
                if text.starts_with(b"Remote host closed connection") {
                    self.close(Some(End::ServerClosed));
                }
            }
            Line::Sent(text) => {
                self.recognised += 1;
                self.session().client_line(text, None);
            }
            Line::Received(text) => {
                self.recognised += 1;
                self.session().server_line(text, None);
            }
            Line::Raw => self.raw_chunks += 1,
            Line::Other => self.skipped.push(line_no),
        }
    }

    fn new_session(&self) -> SessionBuilder {
        new_session(self.capture.sessions.len() + 1)
    }

    /// The open session, opened if a line comes before any `Trying`.
    fn session(&mut self) -> &mut SessionBuilder {
        let n = self.capture.sessions.len() + 1;
        self.current.get_or_insert_with(|| new_session(n))
    }

    /// End the open session, if any; `end: None` when the transcript does
    /// not say how (then an answered QUIT means the server closed).
    fn close(&mut self, end: Option<End>) {
        let Some(b) = self.current.take() else {
            return;
        };
        let end = end.unwrap_or(if b.quit_answered() {
            End::ServerClosed
        } else {
            End::CutOff
        });
        let s = b.finish(end, None);
        if !s.items.is_empty() {
            self.capture.sessions.push(s);
        }
    }

    fn finish(mut self) -> Result<Capture, (String, Capture)> {
        self.close(None);
        let mut capture = self.capture;
        if self.raw_chunks > 0 {
            capture.warnings.push(format!(
                "{} raw-chunk line(s) (`  >`/`<  `) ignored; the text lines carry the same content",
                self.raw_chunks
            ));
        }
        if !self.skipped.is_empty() {
            let shown: Vec<String> = self.skipped.iter().take(10).map(usize::to_string).collect();
            let more = if self.skipped.len() > 10 { ", …" } else { "" };
            capture.warnings.push(format!(
                "{} line(s) are not swaks transcript lines and were skipped (line {}{more})",
                self.skipped.len(),
                shown.join(", ")
            ));
        }
        if self.recognised == 0 {
            return Err((
                "not a swaks transcript: no line starts with `===`, ` -> ` or `<- `".into(),
                capture,
            ));
        }
        if capture.sessions.is_empty() {
            return Err(("the swaks transcript holds no SMTP session".into(), capture));
        }
        Ok(capture)
    }
}

/// Parse a swaks transcript. Fails only when nothing in it looks like one.
pub fn parse(bytes: &[u8]) -> Result<Capture, (String, Capture)> {
    let mut reader = Reader::default();
    for (index, raw_line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = raw_line.strip_suffix(b"\r").unwrap_or(raw_line);
        if !line.is_empty() {
            reader.line(index + 1, line);
        }
    }
    reader.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_is_an_error_not_a_panic() {
        let junk: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
        assert!(parse(&junk).is_err());
        assert!(parse(b"").is_err());
    }

    #[test]
    fn tls_before_the_greeting_is_implicit_tls() {
        let t = b"=== Trying a:465...\n=== Connected to a.\n=== TLS started with cipher TLSv1.3\n<~  220 a\n ~> QUIT\n<~  221 bye\n";
        let c = parse(t).expect("parses");
        assert!(c.sessions[0].implicit_tls);
        let t = b"=== Trying a:25...\n<-  220 a\n -> STARTTLS\n<-  220 go\n=== TLS started\n ~> QUIT\n<~  221 bye\n";
        let c = parse(t).expect("parses");
        assert!(!c.sessions[0].implicit_tls && c.sessions[0].tls_started());
    }

    #[test]
    fn two_sessions_and_tls_lines() {
        let t = b"=== Trying a:25...\n<-  220 a\n -> EHLO x\n<-  250 a\n -> STARTTLS\n<-  220 go\n=== TLS started\n ~> EHLO x\n<~  250-a\n<~  250 AUTH\n ~> QUIT\n<~  221 bye\n=== Connection closed with remote host.\n=== Trying b:25...\n<** 554 no\n";
        let c = parse(t).expect("parses");
        assert_eq!(c.sessions.len(), 2);
        let s = &c.sessions[0];
        assert!(s.tls_started());
        assert_eq!(s.commands(), ["EHLO x", "STARTTLS", "EHLO x", "QUIT"]);
        assert_eq!(s.replies()[3], ["250-a", "250 AUTH"]);
        assert_eq!(s.end(), Some(End::ServerClosed));
        assert_eq!(c.sessions[1].replies(), [["554 no"]]);
        assert_eq!(c.sessions[1].end(), Some(End::CutOff));
    }
}
