//! What a `MockServer` and a `MockProxy` have in common once started: the
//! accept task and its stop signal, an optional control-API task, and —
//! for synchronous tests — a runtime of their own.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Resolves when the harness is dropped.
pub(crate) type Stopped = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A started harness.
pub(crate) struct Running {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    control: Option<JoinHandle<()>>,
    pub runtime: Option<Runtime>,
}

/// A listener on `127.0.0.1:0` (with the big backlog).
pub(crate) fn loopback() -> std::io::Result<TcpListener> {
    crate::server::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// A one-worker runtime for synchronous tests, and a loopback listener
/// registered with it.
pub(crate) fn own_runtime() -> std::io::Result<(Runtime, TcpListener)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let listener = {
        let _guard = runtime.enter();
        loopback()?
    };
    Ok((runtime, listener))
}

impl Running {
    /// Spawn `run(listener, stopped)` on `handle` (the runtime's, when the
    /// harness owns one).
    pub fn spawn<F, Fut>(
        listener: TcpListener,
        runtime: Option<Runtime>,
        run: F,
    ) -> std::io::Result<Running>
    where
        F: FnOnce(TcpListener, Stopped) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let addr = listener.local_addr()?;
        let handle = runtime
            .as_ref()
            .map_or_else(Handle::current, |rt| rt.handle().clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped: Stopped = Box::pin(async {
            let _ = stopped.await;
        });
        let task = handle.spawn(run(listener, stopped));
        Ok(Running {
            addr,
            stop: Some(stop),
            task: Some(task),
            control: None,
            runtime,
        })
    }

    /// Serve the HTTP control API for `target` on `127.0.0.1:0`.
    pub async fn start_control(
        &mut self,
        target: crate::control::Target,
    ) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        self.control = Some(tokio::spawn(crate::control::serve(
            listener,
            target,
            crate::control::Options::default(),
            std::future::pending::<()>(),
        )));
        Ok(addr)
    }

    /// Stop accepting; running sessions get `421`. With a runtime of our
    /// own, wait for them before the runtime goes.
    pub fn shut_down(&mut self) {
        if let Some(control) = self.control.take() {
            control.abort();
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let (Some(rt), Some(task)) = (self.runtime.take(), self.task.take()) {
            let _ = rt.block_on(async { tokio::time::timeout(Duration::from_secs(6), task).await });
            rt.shutdown_background();
        }
    }
}
