//! The accept loop shared by the fake server and the proxy: never stop
//! accepting (a test server that stops listening fails every test after
//! it), and on shutdown tell every connection through a `watch`, then wait
//! for them to finish — mini-redis's pattern.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};

/// How long in-flight sessions get to finish after shutdown is signalled.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A connection the accept loop hands over.
pub struct Accepted {
    /// The socket.
    pub stream: TcpStream,
    /// The client's address.
    pub peer: SocketAddr,
    /// Our address.
    pub local: SocketAddr,
    /// Turns true when shutdown begins.
    pub stop: watch::Receiver<bool>,
    /// Connections running now, this one included (`limits.max_sessions`).
    pub running: usize,
}

/// Accept until `shutdown` resolves, running `serve` for each connection.
pub async fn accept_loop<F, Fut>(listener: TcpListener, shutdown: impl Future, mut serve: F)
where
    F: FnMut(Accepted) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (stop_tx, stop_rx) = watch::channel(false);
    let running = Arc::new(Running::default());
    // Bound to one address, every connection's local address is that one:
    // no getsockname per connection.
    let fixed_local = listener
        .local_addr()
        .ok()
        .filter(|a| !a.ip().is_unspecified());
    let mut backoff = Duration::from_millis(5);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    super::busy_poll::activity();
                    backoff = Duration::from_millis(5);
                    let _ = stream.set_nodelay(true);
                    let local = fixed_local.unwrap_or_else(|| stream.local_addr().unwrap_or(peer));
                    // Boxed once here: the session future is a few KiB, and
                    // moved by value it was copied three times on its way
                    // into the task (memcpy was 3 % of a session's CPU).
                    let (counted, now) = Counted::new(&running);
                    let session = Box::pin(serve(Accepted {
                        stream,
                        peer,
                        local,
                        stop: stop_rx.clone(),
                        running: now,
                    }));
                    tokio::spawn(async move {
                        let _counted = counted;
                        session.await;
                    });
                }
                Err(e) => {
                    // EMFILE and friends: back off and keep accepting.
                    // Not eprintln!: a closed stderr must not panic the server.
                    let _ = writeln!(
                        std::io::stderr(),
                        "smtp-harness: accept failed: {e}; retrying in {backoff:?}"
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            },
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Sessions still running after the grace period are left to end on
    // their own: each has been told to stop and is bounded by its idle
    // timeout, and the runtime's end drops whatever remains.
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, running.all_ended()).await;
}

/// How many connections are running, and a wake-up for when none is: the
/// count `limits.max_sessions` is checked against, and what shutdown waits
/// on. A plain counter rather than a `JoinSet`: the set's bookkeeping woke
/// the accept loop once per finished session to reap it, which cost as
/// much as a tenth of a short session's instructions (docs/PERFORMANCE.md).
#[derive(Default)]
struct Running {
    count: AtomicUsize,
    none_left: Notify,
}

impl Running {
    async fn all_ended(&self) {
        loop {
            let none_left = self.none_left.notified();
            tokio::pin!(none_left);
            none_left.as_mut().enable();
            if self.count.load(Ordering::Acquire) == 0 {
                return;
            }
            none_left.await;
        }
    }
}

/// One running connection, counted out when its task ends or is dropped.
struct Counted(Arc<Running>);

impl Counted {
    /// Count one in; also returns how many run now, this one included.
    fn new(running: &Arc<Running>) -> (Counted, usize) {
        let now = running.count.fetch_add(1, Ordering::AcqRel) + 1;
        (Counted(Arc::clone(running)), now)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.none_left.notify_waiters();
        }
    }
}

/// An address to listen on: an IP address and a port. A port alone or a
/// host name is refused with the form expected, rather than guessed.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse() {
        return Ok(addr);
    }
    let hint = if s.parse::<u16>().is_ok() {
        format!("a port alone is not enough: give the address too, e.g. 127.0.0.1:{s}")
    } else if let Some((host, port)) = s.rsplit_once(':')
        && port.parse::<u16>().is_ok()
        && !host.contains(':')
    {
        format!(
            "{host:?} is a host name, which is not looked up here: give an IP address, e.g. 127.0.0.1:{port} or [::1]:{port}"
        )
    } else {
        "expected IP:PORT, e.g. 127.0.0.1:2525 or [::1]:2525 (port 0 picks a free port)".to_string()
    };
    Err(hint)
}
