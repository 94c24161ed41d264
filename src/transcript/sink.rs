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

    fn session_end(&self, _session: &SessionRecord) {
        self.flush();
    }

    fn flush(&self) {
        self.write(|out| out.flush());
    }
}
