//! Live destinations for events: the terminal and JSON Lines files.

use super::{Event, SessionRecord, render_event};
use std::io::Write;
use std::sync::Mutex;

/// Receives every event as it is recorded. Implementations must be quick:
/// they run on the connection's task.
pub trait Sink: Send + Sync {
    /// One event.
    fn event(&self, event: &Event);
    /// A session ended (flush point).
    fn session_end(&self, _session: &SessionRecord) {}
    /// Flush buffered output.
    fn flush(&self) {}
}

/// Swaks-style text to a writer (stderr for `serve`).
pub struct TextSink {
    out: Mutex<Box<dyn Write + Send>>,
    color: bool,
}

impl TextSink {
    /// Text to `out`, coloured when `color`.
    pub fn new(out: Box<dyn Write + Send>, color: bool) -> TextSink {
        TextSink {
            out: Mutex::new(out),
            color,
        }
    }
}

impl Sink for TextSink {
    fn event(&self, event: &Event) {
        let text = render_event(event, self.color);
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.write_all(text.as_bytes());
    }

    fn flush(&self) {
        let _ = self.out.lock().unwrap_or_else(|e| e.into_inner()).flush();
    }
}

/// One JSON object per event per line.
pub struct JsonLinesSink {
    out: Mutex<std::io::BufWriter<Box<dyn Write + Send>>>,
}

impl JsonLinesSink {
    /// JSON Lines to `out` (buffered; flushed at every session end).
    pub fn new(out: Box<dyn Write + Send>) -> JsonLinesSink {
        JsonLinesSink {
            out: Mutex::new(std::io::BufWriter::new(out)),
        }
    }
}

impl Sink for JsonLinesSink {
    fn event(&self, event: &Event) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        if serde_json::to_writer(&mut *out, event).is_ok() {
            let _ = out.write_all(b"\n");
        }
    }

    fn session_end(&self, _session: &SessionRecord) {
        self.flush();
    }

    fn flush(&self) {
        let _ = self.out.lock().unwrap_or_else(|e| e.into_inner()).flush();
    }
}
