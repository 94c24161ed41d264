//! Where events go: live sinks first, then the in-memory store.

use super::{Closer, Event, EventKind, SessionRecord, Sink, Transcript};
use crate::message::Message;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, watch};

/// How many events a slow live subscriber may fall behind before it is told
/// it lagged (the control API's `/events` stream).
pub(crate) const LIVE_BACKLOG: usize = 4096;

/// How many finished sessions and messages the recorder keeps in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Everything (the test API: a test's sessions are few).
    All,
    /// The most recent N (a long-running `serve`).
    Last(usize),
}

struct Inner {
    epoch: Instant,
    next_id: AtomicU64,
    sessions: Mutex<VecDeque<Arc<Mutex<SessionRecord>>>>,
    messages: Mutex<VecDeque<Message>>,
    retention: Retention,
    sinks: Vec<Arc<dyn Sink>>,
    ended: watch::Sender<u64>,
    /// Every event, for live subscribers (sent only while someone listens).
    live: broadcast::Sender<Event>,
    /// Runtime changes (session 0), in order.
    control: Mutex<VecDeque<Event>>,
}

/// Records sessions; cheap to clone, shared by the server and the test API.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("retention", &self.inner.retention)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a Vec half-updated in a
    // way that matters to a transcript; keep serving.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Recorder {
    /// A recorder with these live sinks.
    pub fn new(retention: Retention, sinks: Vec<Arc<dyn Sink>>) -> Recorder {
        Recorder {
            inner: Arc::new(Inner {
                epoch: Instant::now(),
                next_id: AtomicU64::new(1),
                sessions: Mutex::new(VecDeque::new()),
                messages: Mutex::new(VecDeque::new()),
                retention,
                sinks,
                ended: watch::channel(0).0,
                live: broadcast::channel(LIVE_BACKLOG).0,
                control: Mutex::new(VecDeque::new()),
            }),
        }
    }

    /// Begin a session: assigns its id and records the connect event.
    pub fn start_session(&self, peer: SocketAddr, local: SocketAddr) -> SessionLog {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        // Room for the connect event, the greeting and a few more; it grows
        // by doubling. Not the ~20 of a whole session: a connection that
        // sits idle after the greeting would hold ~3 KiB of unused event
        // slots, a third of what 10,000 idle connections cost
        // (docs/PERFORMANCE.md).
        let record = Arc::new(Mutex::new(SessionRecord {
            id,
            events: Vec::with_capacity(4),
            ..SessionRecord::default()
        }));
        {
            let mut sessions = lock(&self.inner.sessions);
            sessions.push_back(Arc::clone(&record));
            if let Retention::Last(n) = self.inner.retention {
                while sessions.len() > n {
                    sessions.pop_front();
                }
            }
        }
        let log = SessionLog {
            id,
            record,
            inner: Arc::clone(&self.inner),
            finished: false,
        };
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        log.push(EventKind::Connect {
            peer,
            local,
            unix_ms,
        });
        log
    }

    /// Store an accepted message.
    pub fn add_message(&self, message: Message) {
        let mut messages = lock(&self.inner.messages);
        messages.push_back(message);
        if let Retention::Last(n) = self.inner.retention {
            while messages.len() > n {
                messages.pop_front();
            }
        }
    }

    /// A snapshot of every kept session, running ones included.
    pub fn transcript(&self) -> Transcript {
        let sessions: Vec<_> = lock(&self.inner.sessions).iter().cloned().collect();
        Transcript {
            sessions: sessions.iter().map(|s| lock(s).clone()).collect(),
            control: lock(&self.inner.control).iter().cloned().collect(),
        }
    }

    /// The kept messages, in acceptance order.
    pub fn messages(&self) -> Vec<Message> {
        lock(&self.inner.messages).iter().cloned().collect()
    }

    /// How many sessions have ended so far.
    pub fn ended(&self) -> u64 {
        *self.inner.ended.borrow()
    }

    /// Wait until at least `n` sessions have ended.
    pub async fn wait_ended(&self, n: u64) {
        let mut rx = self.inner.ended.subscribe();
        let _ = rx.wait_for(|count| *count >= n).await;
    }

    /// Forget all kept sessions and messages.
    pub fn clear(&self) {
        lock(&self.inner.sessions).clear();
        lock(&self.inner.messages).clear();
    }

    /// Start over: forget sessions, messages and the control log, and count
    /// sessions from 1 again (so `session: 1` rules fire again). Sessions
    /// still running finish unrecorded.
    pub fn reset(&self) {
        self.clear();
        lock(&self.inner.control).clear();
        self.inner.next_id.store(1, Ordering::Relaxed);
        self.inner.ended.send_replace(0);
    }

    /// Microseconds since the recorder started: the clock of `Event::at_us`.
    pub fn now_us(&self) -> u64 {
        self.inner.epoch.elapsed().as_micros() as u64
    }

    /// Every event from now on, as it is recorded (a lagging receiver gets
    /// `RecvError::Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.live.subscribe()
    }

    /// Record a runtime change (`action`: a short kebab-case word) in the
    /// control log, so a test can see when it happened relative to sessions.
    pub fn control(&self, action: &str, detail: impl Into<String>) {
        let event = Event {
            session: 0,
            at_us: self.now_us(),
            kind: EventKind::Control {
                action: action.to_string(),
                detail: detail.into(),
            },
        };
        for sink in &self.inner.sinks {
            sink.event(&event);
        }
        if self.inner.live.receiver_count() > 0 {
            let _ = self.inner.live.send(event.clone());
        }
        let mut log = lock(&self.inner.control);
        log.push_back(event);
        if let Retention::Last(n) = self.inner.retention {
            while log.len() > n {
                log.pop_front();
            }
        }
    }

    /// The control log: every runtime change still kept, in order.
    pub fn control_events(&self) -> Vec<Event> {
        lock(&self.inner.control).iter().cloned().collect()
    }

    /// Flush the live sinks.
    pub fn flush(&self) {
        for sink in &self.inner.sinks {
            sink.flush();
        }
    }
}

/// The handle one connection records through. Dropping it without
/// [`SessionLog::close`] records an error close, so no session is left open.
pub struct SessionLog {
    id: u64,
    record: Arc<Mutex<SessionRecord>>,
    inner: Arc<Inner>,
    finished: bool,
}

impl SessionLog {
    /// The session id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Record one event.
    pub fn push(&self, kind: EventKind) {
        let event = Event {
            session: self.id,
            at_us: self.inner.epoch.elapsed().as_micros() as u64,
            kind,
        };
        for sink in &self.inner.sinks {
            sink.event(&event);
        }
        if self.inner.live.receiver_count() > 0 {
            let _ = self.inner.live.send(event.clone());
        }
        lock(&self.record).events.push(event);
    }

    /// Record the end of the session.
    pub fn close(mut self, kind: EventKind) {
        self.finish(kind);
    }

    fn finish(&mut self, kind: EventKind) {
        if self.finished {
            return;
        }
        self.finished = true;
        let aborted = matches!(kind, EventKind::Abort { .. });
        self.push(kind);
        {
            let mut rec = lock(&self.record);
            rec.ended = true;
            rec.aborted = aborted;
            for sink in &self.inner.sinks {
                sink.session_end(&rec);
            }
        }
        self.inner.ended.send_modify(|n| *n += 1);
    }
}

impl Drop for SessionLog {
    fn drop(&mut self) {
        self.finish(EventKind::Close { by: Closer::Error });
    }
}

/// A kept session, shared with the connection that may still be recording
/// into it. Readers look at it a slice at a time instead of cloning it
/// whole: the control API streams a session of a million events this way.
#[derive(Clone)]
pub(crate) struct SharedSession(Arc<Mutex<SessionRecord>>);

impl SharedSession {
    /// Look at the session under its lock. Keep `f` short: the connection
    /// recording into the session waits meanwhile.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&SessionRecord) -> R) -> R {
        f(&lock(&self.0))
    }
}

impl Recorder {
    /// Handles on the kept sessions, oldest first (running ones included).
    pub(crate) fn shared_sessions(&self) -> Vec<SharedSession> {
        lock(&self.inner.sessions)
            .iter()
            .cloned()
            .map(SharedSession)
            .collect()
    }
}
