//! Live destinations for events: the terminal and JSON Lines files.

use super::live::LiveWriter;
use super::{Event, SessionRecord, render_event};
use std::io::Write;
use std::sync::Mutex;

/// Receives every event as it is recorded. Implementations must be quick
/// and must not wait for a reader: they run on the connection's task.
pub trait Sink: Send + Sync {
    /// One event.
    fn event(&self, event: &Event);
    /// One event of the named `source` (one proxy of several in a
    /// process, [`Labelled`]): the same as [`event`](Sink::event) unless the
    /// sink shows where events come from.
    fn event_of(&self, _source: &str, event: &Event) {
        self.event(event);
    }
    /// A session ended (flush point).
    fn session_end(&self, _session: &SessionRecord) {}
    /// Flush buffered output.
    fn flush(&self) {}
}

/// Swaks-style text to a writer (stderr for `serve`), written by a thread of
/// its own from a bounded queue: a reader that falls behind (a pipe nobody
/// reads) loses lines, counted in a note, and never holds up serving.
pub struct TextSink {
    live: LiveWriter,
    color: bool,
}

impl TextSink {
    /// Text to `out` (named `reader` in the drop note: `stderr`), coloured
    /// when `color`.
    pub fn new(
        out: Box<dyn Write + Send>,
        reader: &'static str,
        color: bool,
    ) -> std::io::Result<TextSink> {
        Ok(TextSink {
            live: LiveWriter::spawn(out, reader)?,
            color,
        })
    }
}

impl Sink for TextSink {
    fn event(&self, event: &Event) {
        self.live.write(render_event(event, self.color));
    }

    /// Every line begins `[source] `.
    fn event_of(&self, source: &str, event: &Event) {
        let text = render_event(event, self.color);
        let mut out = String::with_capacity(text.len() + 8);
        for line in text.split_inclusive('\n') {
            out.push('[');
            out.push_str(source);
            out.push_str("] ");
            out.push_str(line);
        }
        self.live.write(out);
    }

    fn flush(&self) {
        self.live.flush();
    }
}

/// One JSON object per event per line.
///
/// A record, so nothing is dropped: a write error (a full disk) is reported
/// on stderr at once, ends the writing (the file can only be trusted up to
/// there) and is kept for [`JsonLinesSink::error`], which the command line
/// turns into a non-zero exit.
pub struct JsonLinesSink {
    out: Mutex<JsonLines>,
    /// The file's name, for the error.
    name: String,
}

struct JsonLines {
    writer: std::io::BufWriter<Box<dyn Write + Send>>,
    error: Option<String>,
}

impl JsonLinesSink {
    /// JSON Lines to `out`, called `name` in errors (buffered; flushed at
    /// every session end).
    pub fn new(out: Box<dyn Write + Send>, name: impl Into<String>) -> JsonLinesSink {
        JsonLinesSink {
            out: Mutex::new(JsonLines {
                writer: std::io::BufWriter::new(out),
                error: None,
            }),
            name: name.into(),
        }
    }

    /// Why the transcript is incomplete, if it is.
    pub fn error(&self) -> Option<String> {
        self.lock().error.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, JsonLines> {
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write(
        &self,
        io: impl FnOnce(&mut std::io::BufWriter<Box<dyn Write + Send>>) -> std::io::Result<()>,
    ) {
        let mut out = self.lock();
        if out.error.is_some() {
            return;
        }
        if let Err(e) = io(&mut out.writer) {
            let error = format!("cannot write the transcript {}: {e}", self.name);
            out.error = Some(error.clone());
            // Said now, when it happens, from a thread of its own: this runs
            // on the event loop and stderr may be a pipe nobody reads.
            let _ = std::thread::Builder::new()
                .name("smtp-harness report".into())
                .spawn(move || {
                    let _ = writeln!(
                        std::io::stderr(),
                        "smtp-harness: {error}; it is incomplete from here on \
                         (serving goes on; the exit status will say so)"
                    );
                });
        }
    }
}

impl Sink for JsonLinesSink {
    fn event(&self, event: &Event) {
        self.write(|out| {
            serde_json::to_writer(&mut *out, event).map_err(std::io::Error::from)?;
            out.write_all(b"\n")
        });
    }

    /// The event's object with `"proxy": source` first.
    fn event_of(&self, source: &str, event: &Event) {
        #[derive(serde::Serialize)]
        struct Of<'a> {
            proxy: &'a str,
            #[serde(flatten)]
            event: &'a Event,
        }
        self.write(|out| {
            serde_json::to_writer(&mut *out, &Of { proxy: source, event })
                .map_err(std::io::Error::from)?;
            out.write_all(b"\n")
        });
    }

    fn session_end(&self, _session: &SessionRecord) {
        self.flush();
    }

    fn flush(&self) {
        self.write(|out| out.flush());
    }
}

/// Hands every event to `inner` as `source`'s
/// ([`Sink::event_of`]): the sinks of one of several proxies in a
/// process (`proxy --config`), so the terminal and the JSON Lines file say
/// which proxy each session belongs to.
pub struct Labelled {
    source: String,
    inner: std::sync::Arc<dyn Sink>,
}

impl Labelled {
    /// `inner`, labelling what it gets as `source`'s.
    pub fn new(source: impl Into<String>, inner: std::sync::Arc<dyn Sink>) -> Labelled {
        Labelled {
            source: source.into(),
            inner,
        }
    }
}

impl Sink for Labelled {
    fn event(&self, event: &Event) {
        self.inner.event_of(&self.source, event);
    }

    fn session_end(&self, session: &SessionRecord) {
        self.inner.session_end(session);
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::{EventKind, Leg, Wire};
    use std::sync::{Arc, Mutex};

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::ErrorKind::Other)?.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn command() -> Event {
        Event {
            session: 3,
            at_us: 7,
            kind: EventKind::Command {
                leg: Leg::Client,
                line: Wire(bytes::Bytes::from_static(b"EHLO c")),
                bare_lf: false,
            },
        }
    }

    #[test]
    fn labelled_json_lines_name_the_proxy() {
        let out = Shared::default();
        let file: Arc<dyn Sink> = Arc::new(JsonLinesSink::new(Box::new(out.clone()), "t"));
        Labelled::new("pix", Arc::clone(&file)).event(&command());
        file.event(&command());
        file.flush();
        let text = String::from_utf8(out.0.lock().expect("lock").clone()).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                r#"{"proxy":"pix","session":3,"at_us":7,"type":"command","leg":"client","line":"EHLO c"}"#,
                r#"{"session":3,"at_us":7,"type":"command","leg":"client","line":"EHLO c"}"#,
            ]
        );
    }

    #[test]
    fn labelled_text_lines_begin_with_the_proxy() {
        let out = Shared::default();
        let text = Arc::new(TextSink::new(Box::new(out.clone()), "test", false).expect("sink"));
        Labelled::new("pix", text.clone()).event(&command());
        text.flush();
        let got = String::from_utf8(out.0.lock().expect("lock").clone()).expect("utf-8");
        assert_eq!(got, "[pix] #3  -> EHLO c\n");
    }
}
