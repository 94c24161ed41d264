//! Busy polling for the single-threaded event loop (`serve --busy-poll`).
//!
//! An idle event loop sleeps in `epoll_wait`, and the client's next write
//! then has to wake it: on a virtual machine that wake-up (an IPI to a
//! halted vCPU) is charged to the *client's* system time and delays the
//! answer. Measured under `smtp-source -s 20`, the server slept 0.7 times per
//! session, and smtp-source, the bottleneck, spent about 5 µs more per
//! session than against Postfix's smtp-sink, which is busier and so sleeps
//! less (docs/PERFORMANCE.md).
//!
//! With busy polling, the loop keeps polling the kernel (`epoll_wait` with
//! no timeout) for a window after the last read instead of sleeping. The
//! window adapts like Linux's guest halt-polling: when a sleep turns out to
//! have been shorter than the maximum window, the window doubles; when it
//! was longer, it halves, so a latency-bound client (one session at a time,
//! long gaps) does not make the server spin for nothing. It costs CPU while
//! traffic flows, which is why it is off unless asked for: on a small
//! machine the software under test may need that core.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Set once a poller runs, so connections elsewhere pay one load per read.
static ENABLED: AtomicBool = AtomicBool::new(false);
static WAKE: Notify = Notify::const_new();
/// The smallest window tried after a short sleep.
const FIRST_WINDOW: Duration = Duration::from_micros(4);

thread_local! {
    static STATE: Cell<State> = const { Cell::new(State::OFF) };
}

#[derive(Clone, Copy)]
struct State {
    /// When the last read (or accept) completed.
    last: Option<Instant>,
    /// The poller is waiting for activity instead of polling.
    sleeping: bool,
    window: Duration,
    max: Duration,
}

impl State {
    const OFF: State = State {
        last: None,
        sleeping: false,
        window: Duration::ZERO,
        max: Duration::ZERO,
    };
}

/// A read or accept completed on this thread: restart the window, and
/// wake the poller if it was asleep.
pub fn activity() {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let now = Instant::now();
    let mut state = STATE.get();
    if state.sleeping {
        state.sleeping = false;
        let idle = state.last.map_or(Duration::MAX, |t| now.duration_since(t));
        state.window = next_window(state.window, idle, state.max);
        WAKE.notify_one();
    }
    state.last = Some(now);
    STATE.set(state);
}

/// The window after a sleep of `idle`: polling `max` would have caught
/// it, so poll longer next time; or it was longer than that, so poll less.
fn next_window(window: Duration, idle: Duration, max: Duration) -> Duration {
    if idle <= max {
        (window * 2).clamp(FIRST_WINDOW.min(max), max)
    } else {
        window / 2
    }
}

/// Poll for up to `max` after each read; run it as a task on the
/// current-thread runtime that serves the connections.
pub async fn poller(max: Duration) {
    ENABLED.store(true, Ordering::Relaxed);
    STATE.set(State {
        window: FIRST_WINDOW.min(max),
        max,
        ..State::OFF
    });
    loop {
        let state = STATE.get();
        let polling = state.last.is_some_and(|t| t.elapsed() < state.window);
        if polling {
            // Yielding makes the runtime poll its I/O driver without
            // blocking before it runs this task again.
            tokio::task::yield_now().await;
        } else {
            STATE.set(State {
                sleeping: true,
                ..state
            });
            WAKE.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: Duration = Duration::from_micros(50);

    #[test]
    fn short_sleeps_grow_the_window_up_to_the_maximum() {
        let mut w = Duration::ZERO;
        let mut seen = vec![];
        for _ in 0..6 {
            w = next_window(w, Duration::from_micros(30), MAX);
            seen.push(w.as_micros());
        }
        assert_eq!(seen, [4, 8, 16, 32, 50, 50]);
    }

    #[test]
    fn long_sleeps_shrink_it_to_nothing() {
        let mut w = MAX;
        for _ in 0..10 {
            w = next_window(w, Duration::from_millis(2), MAX);
        }
        assert!(w < Duration::from_micros(1), "{w:?}");
        // One short sleep later it polls again.
        assert_eq!(next_window(w, Duration::from_micros(10), MAX), FIRST_WINDOW);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_poller_sleeps_when_nothing_happens_and_wakes_on_activity() {
        let poller = tokio::spawn(poller(MAX));
        tokio::task::yield_now().await;
        assert!(STATE.get().sleeping, "no activity yet: asleep");
        activity();
        assert!(!STATE.get().sleeping);
        // After the window passes without activity it sleeps again.
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(STATE.get().sleeping);
        poller.abort();
    }
}
