//! The accept loop shared by the fake server and the proxy: never stop
//! accepting (a test server that stops listening fails every test after
//! it), and on shutdown tell every connection through a `watch`, then wait
//! for them to finish — mini-redis's pattern.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How long in-flight sessions get to finish after shutdown is signalled.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Accept until `shutdown` resolves, running `serve(stream, peer, local,
/// stop)` for each connection; `stop` turns true when shutdown begins.
pub async fn accept_loop<F, Fut>(listener: TcpListener, shutdown: impl Future, mut serve: F)
where
    F: FnMut(TcpStream, SocketAddr, SocketAddr, watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
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
                    backoff = Duration::from_millis(5);
                    let _ = stream.set_nodelay(true);
                    let local = fixed_local.unwrap_or_else(|| stream.local_addr().unwrap_or(peer));
                    tasks.spawn(serve(stream, peer, local, stop_rx.clone()));
                }
                Err(e) => {
                    // EMFILE and friends: back off and keep accepting.
                    eprintln!("smtp-harness: accept failed: {e}; retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        tasks.abort_all();
    }
}
