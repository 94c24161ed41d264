//! Text for a reader that may not keep up (a terminal, a pipe nobody
//! reads): written by a thread of its own from a bounded queue, so serving
//! never waits for it.
//!
//! A write to a pipe blocks once its buffer (64 KiB on Linux) is full; done
//! on the event loop, that froze every session. Here the event loop only
//! queues text; when the queue is full the text is dropped and counted, and
//! the reader later sees how many lines it missed, where they were missed.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How much text may wait for a slow reader (a few thousand transcript
/// lines); more is dropped.
const LIVE_QUEUE_BYTES: usize = 256 * 1024;

/// How long [`LiveWriter::flush`] waits for the reader to take what is
/// queued: at shutdown a reader that stopped reading must not hold the
/// process.
const FLUSH_PATIENCE: Duration = Duration::from_secs(2);

enum Item {
    Text(String),
    /// This many lines were dropped here.
    Dropped(u64),
}

#[derive(Default)]
struct State {
    queue: VecDeque<Item>,
    bytes: usize,
    /// Lines dropped since the last note.
    dropped: u64,
    /// The writer thread holds items it has not finished writing.
    writing: bool,
    /// The output failed (closed pipe): nothing more is queued.
    broken: bool,
    /// The writer is no longer wanted: it ends once the queue is empty.
    closed: bool,
}

struct Queue {
    state: Mutex<State>,
    /// Something to write, or closed.
    ready: Condvar,
    /// The queue was emptied and written.
    drained: Condvar,
    capacity: usize,
    /// The reader's name in the drop note (`stderr`).
    reader: &'static str,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves at worst a half-written
        // line; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A bounded queue of text in front of a blocking writer, drained by its own
/// thread. [`LiveWriter::write`] never blocks on the output.
pub struct LiveWriter {
    queue: Arc<Queue>,
}

impl LiveWriter {
    /// Write to `out` from a new thread; at most 256 KiB wait. `reader`
    /// names the output in the drop note (`stderr`, `stdout`).
    pub fn spawn(out: Box<dyn Write + Send>, reader: &'static str) -> std::io::Result<LiveWriter> {
        Self::with_capacity(out, LIVE_QUEUE_BYTES, reader)
    }

    fn with_capacity(
        out: Box<dyn Write + Send>,
        capacity: usize,
        reader: &'static str,
    ) -> std::io::Result<LiveWriter> {
        let queue = Arc::new(Queue {
            state: Mutex::new(State::default()),
            ready: Condvar::new(),
            drained: Condvar::new(),
            capacity,
            reader,
        });
        let drained = Arc::clone(&queue);
        std::thread::Builder::new()
            .name(format!("smtp-harness {reader}"))
            .spawn(move || drain(&drained, out))?;
        Ok(LiveWriter { queue })
    }

    /// Queue `text` (whole lines), or drop and count it if the reader is
    /// too far behind.
    pub fn write(&self, text: String) {
        let mut st = self.queue.lock();
        if st.broken {
            return;
        }
        if st.bytes + text.len() > self.queue.capacity {
            st.dropped += count_lines(&text);
            return;
        }
        if st.dropped > 0 {
            let n = std::mem::take(&mut st.dropped);
            st.queue.push_back(Item::Dropped(n));
        }
        st.bytes += text.len();
        st.queue.push_back(Item::Text(text));
        drop(st);
        self.queue.ready.notify_one();
    }

    /// Wait (a short while at most) until everything queued is written.
    pub fn flush(&self) {
        let deadline = Instant::now() + FLUSH_PATIENCE;
        let mut st = self.queue.lock();
        while !st.broken && (st.writing || !st.queue.is_empty() || st.dropped > 0) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            st = match self.queue.drained.wait_timeout(st, left) {
                Ok((st, _)) => st,
                Err(e) => e.into_inner().0,
            };
        }
    }

    /// Lines dropped and not yet noted (for tests).
    #[cfg(test)]
    fn pending_drops(&self) -> u64 {
        self.queue.lock().dropped
    }
}

impl Drop for LiveWriter {
    fn drop(&mut self) {
        self.queue.lock().closed = true;
        self.queue.ready.notify_one();
    }
}

fn count_lines(text: &str) -> u64 {
    text.lines().count().max(1) as u64
}

/// The writer thread: take everything queued, write it without the lock,
/// repeat. A failed write (the reader closed the pipe) ends it: nobody is
/// there to read the rest.
fn drain(queue: &Queue, mut out: Box<dyn Write + Send>) {
    loop {
        let batch = {
            let mut st = queue.lock();
            st.writing = false;
            loop {
                if !st.queue.is_empty() {
                    break;
                }
                // Caught up after dropping lines: say so now rather than
                // when (if ever) the next line comes.
                if st.dropped > 0 {
                    let n = std::mem::take(&mut st.dropped);
                    st.queue.push_back(Item::Dropped(n));
                    break;
                }
                queue.drained.notify_all();
                if st.closed {
                    return;
                }
                st = match queue.ready.wait(st) {
                    Ok(st) => st,
                    Err(e) => e.into_inner(),
                };
            }
            st.bytes = 0;
            st.writing = true;
            std::mem::take(&mut st.queue)
        };
        let mut text = String::new();
        for item in batch {
            match item {
                Item::Text(t) => text.push_str(&t),
                Item::Dropped(n) => text.push_str(&format!(
                    "… {n} transcript lines dropped: {} is not being read\n",
                    queue.reader
                )),
            }
        }
        if out
            .write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            let mut st = queue.lock();
            st.broken = true;
            st.writing = false;
            st.queue.clear();
            st.bytes = 0;
            drop(st);
            queue.drained.notify_all();
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// An output that blocks until the test lets each write through.
    struct Gate {
        open: mpsc::Receiver<()>,
        /// Told each time a write starts waiting.
        waiting: mpsc::Sender<()>,
        seen: Arc<Mutex<String>>,
    }

    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let _ = self.waiting.send(());
            self.open
                .recv()
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
            self.seen
                .lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(buf));
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_reader_costs_dropped_lines_not_a_blocked_writer() {
        // A rendezvous channel: each write waits for one `send`.
        let (open, gate) = mpsc::sync_channel(0);
        let (waiting, writing) = mpsc::channel();
        let seen = Arc::new(Mutex::new(String::new()));
        let out = Gate {
            open: gate,
            waiting,
            seen: Arc::clone(&seen),
        };
        let live = LiveWriter::with_capacity(Box::new(out), 100, "stderr").unwrap();
        // The thread takes what is queued and blocks writing it; then 100
        // bytes fit in the queue and the rest is dropped. None of this waits.
        // (Waiting for the thread to be stuck in its write first makes the
        // count exact: had it woken late, it would have taken a second batch.)
        live.write("first\n".into());
        writing.recv().unwrap();
        for i in 0..1000 {
            live.write(format!("line {i:05}\n"));
        }
        // Nine 11-byte lines fit in 100 bytes.
        assert_eq!(live.pending_drops(), 991);
        // The reader catches up: every write goes through from now on.
        std::thread::spawn(move || while open.send(()).is_ok() {});
        live.flush();
        live.write("last\n".into());
        live.flush();
        let text = seen.lock().unwrap().clone();
        assert!(text.starts_with("first\nline 00000\n"), "{text}");
        let note = text
            .lines()
            .find(|l| l.contains("transcript lines dropped: stderr is not being read"))
            .unwrap_or_else(|| panic!("{text}"));
        let n: u64 = note
            .trim_start_matches("… ")
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{note}"));
        let kept = text.lines().filter(|l| l.starts_with("line ")).count() as u64;
        assert_eq!(kept + n, 1000, "every line is written or counted: {text}");
        assert!(text.ends_with("last\n"), "{text}");
    }

    #[test]
    fn a_closed_reader_stops_the_writer_and_writes_are_ignored() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let live = LiveWriter::with_capacity(Box::new(Closed), 100, "stderr").unwrap();
        live.write("x\n".into());
        live.flush();
        for _ in 0..1000 {
            live.write("more\n".into());
        }
        live.flush();
    }
}
