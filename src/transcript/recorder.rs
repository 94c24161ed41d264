//! Where events go: live sinks first, then the in-memory store.

use super::{Closer, Event, EventKind, SessionRecord, Sink, Transcript};
use crate::message::Message;
use crate::scenario::keep::{Bounds, Keep};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
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
    sessions: Mutex<VecDeque<Arc<Mutex<Kept>>>>,
    /// Events kept across the listed sessions (the sum of their lengths).
    kept_events: AtomicUsize,
    /// `bounds.total_events`, read on every event without a lock.
    total_events: AtomicUsize,
    bounds: Mutex<Settings>,
    messages: Mutex<Messages>,
    retention: Retention,
    sinks: Vec<Arc<dyn Sink>>,
    /// Sinks added after the recorder was made: the expectation counter of
    /// each server or proxy that records into it (usually one; a recorder
    /// shared by several counts into each). Written once per server, read
    /// (uncontended) per event.
    watchers: RwLock<Vec<Arc<dyn Sink>>>,
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
                kept_events: AtomicUsize::new(0),
                total_events: AtomicUsize::new(Keep::default().resolve().total_events),
                bounds: Mutex::new(Settings::default()),
                messages: Mutex::new(Messages::default()),
                retention,
                sinks,
                watchers: RwLock::new(Vec::new()),
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
        let record = Arc::new(Mutex::new(Kept {
            record: SessionRecord {
                id,
                events: Vec::with_capacity(4),
                ..SessionRecord::default()
            },
            cap: lock(&self.inner.bounds).bounds.session_events,
            dropped_at_us: 0,
            forgotten: false,
        }));
        let mut gone = Vec::new();
        {
            let mut sessions = lock(&self.inner.sessions);
            sessions.push_back(Arc::clone(&record));
            if let Retention::Last(n) = self.inner.retention {
                while sessions.len() > n {
                    gone.extend(sessions.pop_front());
                }
            }
        }
        for record in gone {
            self.inner.forget(&record);
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

    /// Bounds stated on the command line: each wins over the scenario's.
    pub fn pin(&self, keep: Keep) {
        let mut settings = lock(&self.inner.bounds);
        settings.pinned = keep;
        self.inner.apply(&mut settings);
    }

    /// The bounds of the scenario now served (its `limits:`); sessions
    /// already running keep the per-session bound they started with.
    pub fn follow(&self, scenario: Keep) {
        let mut settings = lock(&self.inner.bounds);
        settings.scenario = scenario;
        self.inner.apply(&mut settings);
    }

    /// Keep an accepted message: its body goes to a file when it is larger
    /// than `message_memory` or the bodies in memory would pass
    /// `messages_memory`. An error means it was not kept (its file could
    /// not be written, or it alone is larger than `messages_disk`).
    pub fn add_message(&self, mut message: Message) -> std::io::Result<()> {
        let bounds = lock(&self.inner.bounds).bounds;
        let mut m = lock(&self.inner.messages);
        let len = message.data.len();
        let in_memory = message.data.path().is_none();
        let to_disk = !in_memory
            || len > bounds.message_memory
            || m.memory.saturating_add(len) > bounds.messages_memory;
        // Refused before anything is written: a body alone over the disk
        // bound would only be written to be deleted.
        if to_disk && len as u64 > bounds.messages_disk {
            return Err(std::io::Error::other(format!(
                "its {len} octets are more than limits.messages_disk ({})",
                bounds.messages_disk
            )));
        }
        if to_disk && in_memory {
            let dir = match &m.dir {
                Some(dir) => Arc::clone(dir),
                None => {
                    let dir = Arc::new(
                        tempfile::Builder::new()
                            .prefix("smtp-harness-messages-")
                            .tempdir()?,
                    );
                    m.dir = Some(Arc::clone(&dir));
                    dir
                }
            };
            message.data = message.data.to_file(&dir)?;
        }
        m.add(message);
        let keep = match self.inner.retention {
            Retention::Last(n) => n,
            Retention::All => usize::MAX,
        };
        while m.list.len() > keep || m.disk > bounds.messages_disk {
            m.pop();
        }
        Ok(())
    }

    /// A snapshot of every kept session, running ones included.
    pub fn transcript(&self) -> Transcript {
        let sessions: Vec<_> = lock(&self.inner.sessions).iter().cloned().collect();
        Transcript {
            sessions: sessions
                .iter()
                .filter_map(|s| {
                    let kept = lock(s);
                    // Forgotten since the list was copied.
                    (!kept.forgotten).then(|| kept.view())
                })
                .collect(),
            control: lock(&self.inner.control).iter().cloned().collect(),
        }
    }

    /// The kept messages, in acceptance order.
    pub fn messages(&self) -> Vec<Message> {
        lock(&self.inner.messages).list.iter().cloned().collect()
    }

    /// Octets of message bodies kept in memory, and in files.
    #[cfg(any(test, feature = "internals"))]
    pub fn message_octets(&self) -> (usize, u64) {
        let m = lock(&self.inner.messages);
        (m.memory, m.disk)
    }

    /// How many sessions have started so far (since the last reset).
    pub fn started(&self) -> u64 {
        self.inner.next_id.load(Ordering::Relaxed).saturating_sub(1)
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
        let sessions: Vec<_> = lock(&self.inner.sessions).drain(..).collect();
        for record in sessions {
            self.inner.forget(&record);
        }
        let mut m = lock(&self.inner.messages);
        while !m.list.is_empty() {
            m.pop();
        }
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
        self.inner.publish(&event);
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

    /// Also give every event from now on to `sink` (what counts
    /// expectations: they must see every command, kept or not).
    pub(crate) fn watch(&self, sink: Arc<dyn Sink>) {
        self.inner
            .watchers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(sink);
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
    record: Arc<Mutex<Kept>>,
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
        self.inner.publish(&event);
        let grew = lock(&self.record).keep(event);
        if grew {
            self.inner.grew(1);
        }
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
        let grew = {
            let mut kept = lock(&self.record);
            let grew = kept.seal();
            kept.record.ended = true;
            kept.record.aborted = aborted;
            for sink in &self.inner.sinks {
                sink.session_end(&kept.record);
            }
            grew
        };
        if grew {
            self.inner.grew(1);
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
/// into it. Readers look at it under its lock a little at a time instead of
/// cloning every kept session: the control API streams sessions this way.
#[derive(Clone)]
pub(crate) struct SharedSession(Arc<Mutex<Kept>>);

impl SharedSession {
    /// Look at the session's record under its lock, for what does not
    /// depend on the order of its events (its id, first event, counts):
    /// while a running session is over `limits.session_events`, its kept
    /// tail is a ring. Keep `f` short: the connection recording into the
    /// session waits meanwhile.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&SessionRecord) -> R) -> R {
        f(&lock(&self.0).record)
    }

    /// The session in order, with the dropped-events marker: a copy of at
    /// most `limits.session_events` events.
    pub(crate) fn snapshot(&self) -> SessionRecord {
        lock(&self.0).view()
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

/// The recorder's bounds: the command line's, the scenario's, resolved.
#[derive(Default)]
struct Settings {
    pinned: Keep,
    scenario: Keep,
    bounds: Bounds,
}

impl Default for Bounds {
    fn default() -> Bounds {
        Keep::default().resolve()
    }
}

impl Inner {
    /// Give `event` to the live sinks, the watchers and live subscribers
    /// (the latter only while someone listens), before it is kept.
    fn publish(&self, event: &Event) {
        for sink in &self.sinks {
            sink.event(event);
        }
        for sink in self
            .watchers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            sink.event(event);
        }
        if self.live.receiver_count() > 0 {
            let _ = self.live.send(event.clone());
        }
    }

    fn apply(&self, settings: &mut Settings) {
        settings.bounds = settings.pinned.or(settings.scenario).resolve();
        self.total_events
            .store(settings.bounds.total_events, Ordering::Relaxed);
        self.shrink();
    }

    /// A listed session kept `n` more events.
    fn grew(&self, n: usize) {
        let kept = self.kept_events.fetch_add(n, Ordering::Relaxed) + n;
        if kept > self.total_events.load(Ordering::Relaxed) {
            self.shrink();
        }
    }

    /// Forget the oldest sessions, ended ones first, until the events kept
    /// are within `total_events` again.
    fn shrink(&self) {
        while self.kept_events.load(Ordering::Relaxed) > self.total_events.load(Ordering::Relaxed) {
            let victim = {
                let mut sessions = lock(&self.sessions);
                let at = sessions
                    .iter()
                    .position(|s| lock(s).record.ended)
                    .unwrap_or(0);
                sessions.remove(at)
            };
            match victim {
                Some(record) => self.forget(&record),
                None => break,
            }
        }
    }

    /// A session is no longer listed: free its events, and keep no more of
    /// them if it is still running.
    fn forget(&self, record: &Mutex<Kept>) {
        let mut kept = lock(record);
        if kept.forgotten {
            return;
        }
        kept.forgotten = true;
        self.kept_events
            .fetch_sub(kept.record.events.len(), Ordering::Relaxed);
        kept.record.events = Vec::new();
    }
}

/// One session as kept: its first half of `cap` events as they came, then
/// (once it has `cap`) a ring of its latest events, the middle counted.
struct Kept {
    record: SessionRecord,
    cap: usize,
    /// When the latest dropped event happened (the marker's time).
    dropped_at_us: u64,
    /// No longer listed (retention, `total_events`, `clear`).
    forgotten: bool,
}

impl Kept {
    fn head(&self) -> usize {
        self.cap / 2
    }

    /// Where the oldest event of the ring is, relative to its start: each
    /// dropped event moved it one slot on.
    fn ring(&self) -> usize {
        (self.record.dropped % (self.cap - self.head()) as u64) as usize
    }

    /// Keep `event`; true when the session now holds one more event.
    fn keep(&mut self, event: Event) -> bool {
        if self.forgotten {
            return false;
        }
        if self.record.events.len() < self.cap {
            self.record.events.push(event);
            return true;
        }
        let slot = self.head() + self.ring();
        let old = std::mem::replace(&mut self.record.events[slot], event);
        self.dropped_at_us = old.at_us;
        self.record.dropped += 1;
        false
    }

    fn marker(&self) -> Event {
        Event {
            session: self.record.id,
            at_us: self.dropped_at_us,
            kind: EventKind::Note {
                text: format!(
                    "{} events dropped (limits.session_events: {})",
                    self.record.dropped, self.cap
                ),
            },
        }
    }

    /// Put the ring back in order and the marker in the middle, once the
    /// session has ended; true when that added the marker.
    fn seal(&mut self) -> bool {
        if self.forgotten || self.record.dropped == 0 || self.record.ended {
            return false;
        }
        let head = self.head();
        let ring = self.ring();
        self.record.events[head..].rotate_left(ring);
        let marker = self.marker();
        self.record.events.insert(head, marker);
        true
    }

    /// The session in order, with the marker where events were dropped.
    fn view(&self) -> SessionRecord {
        if self.record.dropped == 0 || self.record.ended {
            return self.record.clone();
        }
        let head = self.head();
        let (first, ring) = self.record.events.split_at(head);
        // The slots before `self.ring()` were overwritten last.
        let (newest, oldest) = ring.split_at(self.ring());
        let mut events = Vec::with_capacity(self.record.events.len() + 1);
        events.extend_from_slice(first);
        events.push(self.marker());
        events.extend_from_slice(oldest);
        events.extend_from_slice(newest);
        SessionRecord {
            events,
            ..self.record.clone_summary()
        }
    }
}

/// The kept messages and what their bodies weigh.
#[derive(Default)]
struct Messages {
    list: VecDeque<Message>,
    /// Octets of bodies in memory.
    memory: usize,
    /// Octets of bodies in files.
    disk: u64,
    /// The private directory of those files, made when first needed.
    dir: Option<Arc<tempfile::TempDir>>,
}

impl Messages {
    fn add(&mut self, message: Message) {
        match message.data.path() {
            Some(_) => self.disk += message.data.len() as u64,
            None => self.memory += message.data.len(),
        }
        self.list.push_back(message);
    }

    fn pop(&mut self) {
        let Some(message) = self.list.pop_front() else {
            return;
        };
        match message.data.path() {
            Some(_) => self.disk -= message.data.len() as u64,
            None => self.memory -= message.data.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::Leg;
    use crate::transcript::Wire;

    fn addr() -> SocketAddr {
        "127.0.0.1:25".parse().unwrap()
    }

    fn noop(log: &SessionLog) {
        log.push(EventKind::Command {
            leg: Leg::Client,
            line: Wire(bytes::Bytes::from_static(b"NOOP")),
            bare_lf: false,
        });
    }

    fn recorder(keep: Keep) -> Recorder {
        let r = Recorder::new(Retention::All, vec![]);
        r.pin(keep);
        r
    }

    #[test]
    fn a_long_session_keeps_its_head_and_tail_and_counts_the_middle() {
        let r = recorder(Keep {
            session_events: Some(10),
            ..Keep::default()
        });
        let log = r.start_session(addr(), addr());
        for i in 0..1000 {
            log.push(EventKind::Command {
                leg: Leg::Client,
                line: Wire(bytes::Bytes::from(format!("NOOP {i}"))),
                bare_lf: false,
            });
        }
        let running = r.transcript();
        let expected: Vec<String> = (0..4)
            .chain(995..1000)
            .map(|i| format!("NOOP {i}"))
            .collect();
        assert_eq!(
            running.sessions[0].commands(),
            expected,
            "head, then tail in order"
        );
        assert_eq!(running.sessions[0].events.len(), 11);
        assert_eq!(running.sessions[0].dropped, 991);
        let times: Vec<u64> = running.sessions[0].events.iter().map(|e| e.at_us).collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "in order: {times:?}"
        );
        log.close(EventKind::Close { by: Closer::Client });
        let t = r.transcript();
        let s = &t.sessions[0];
        assert_eq!(s.events.len(), 11, "the cap plus the marker");
        assert!(matches!(s.events[0].kind, EventKind::Connect { .. }));
        assert_eq!(
            s.events[5].kind,
            EventKind::Note {
                text: "992 events dropped (limits.session_events: 10)".into()
            }
        );
        assert_eq!(s.closed_by(), Some(Closer::Client));
        assert!(matches!(s.events[10].kind, EventKind::Close { .. }));
        let expected: Vec<String> = (0..4)
            .chain(996..1000)
            .map(|i| format!("NOOP {i}"))
            .collect();
        assert_eq!(
            s.commands(),
            expected,
            "the close took the oldest tail slot"
        );
        let times: Vec<u64> = s.events.iter().map(|e| e.at_us).collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "in order: {times:?}"
        );
        assert_eq!(r.inner.kept_events.load(Ordering::Relaxed), 11);
    }

    #[test]
    fn the_total_bound_forgets_the_oldest_ended_sessions_first() {
        let r = recorder(Keep {
            session_events: Some(10),
            total_events: Some(20),
            ..Keep::default()
        });
        let running = r.start_session(addr(), addr());
        for _ in 0..3 {
            let log = r.start_session(addr(), addr());
            for _ in 0..20 {
                noop(&log);
            }
            log.close(EventKind::Close { by: Closer::Client });
        }
        let t = r.transcript();
        let ids: Vec<u64> = t.sessions.iter().map(|s| s.id).collect();
        assert_eq!(ids, [1, 4], "the running one stays, ended 2 and 3 go");
        assert!(r.inner.kept_events.load(Ordering::Relaxed) <= 20);
        drop(running);
    }

    #[test]
    fn a_forgotten_running_session_keeps_nothing_more() {
        let r = Recorder::new(Retention::Last(1), vec![]);
        let first = r.start_session(addr(), addr());
        let _second = r.start_session(addr(), addr());
        for _ in 0..100 {
            noop(&first);
        }
        assert_eq!(lock(&first.record).record.events.len(), 0);
        assert_eq!(r.inner.kept_events.load(Ordering::Relaxed), 1);
    }
}
