//! `--control`: where the HTTP control API listens, and the refusal to
//! expose it to other hosts by accident.

use anyhow::Context;
use std::io::Write;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// Bind the control listener, refusing non-loopback addresses unless
/// `allow_remote`; prints `control on http://ADDR` on stdout.
pub async fn bind(
    addr: Option<SocketAddr>,
    allow_remote: bool,
) -> anyhow::Result<Option<TcpListener>> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    if !smtp_harness::control::is_local(&addr) {
        if !allow_remote {
            anyhow::bail!(
                "refusing to serve the control API on {addr}: other hosts could change the scenario; \
                 use a loopback address such as 127.0.0.1:{}, or pass --control-allow-remote",
                addr.port()
            );
        }
        eprintln!(
            "smtp-harness: warning: the control API on {addr} lets anyone who reaches it change what the harness does"
        );
    }
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for the control API"))?;
    let bound = listener.local_addr()?;
    println!("control on http://{bound}");
    std::io::stdout().flush()?;
    Ok(Some(listener))
}

/// Print every expectation's result at shutdown; `false` when one is unmet.
pub fn report(
    expectations: &smtp_harness::expect::ExpectationSet,
    transcript: &smtp_harness::Transcript,
) -> bool {
    if expectations.is_empty() {
        return true;
    }
    let report = expectations.evaluate(transcript);
    // The verdict is the exit status, whether or not stdout takes the report.
    let _ = outln!("{report}");
    report.is_met()
}

/// What the SMTP side waits on to stop.
pub type Stopped = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Run the SMTP side (`smtp`, given a stop future) and, when asked for, the
/// control API, until Ctrl-C or SIGTERM; both stop together.
pub async fn until_signal<Fut>(
    control: Option<tokio::net::TcpListener>,
    target: smtp_harness::control::Target,
    smtp: impl FnOnce(Stopped) -> Fut,
) where
    Fut: std::future::Future<Output = ()>,
{
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| -> Stopped {
        Box::pin(async move {
            let _ = rx.wait_for(|s| *s).await;
        })
    };
    let api = control.map(|listener| {
        tokio::spawn(smtp_harness::control::serve(
            listener,
            target,
            stopped(stop_rx.clone()),
        ))
    });
    let signal = async {
        super::serve::shutdown_signal().await;
        let _ = stop_tx.send(true);
    };
    tokio::join!(smtp(stopped(stop_rx)), signal);
    if let Some(api) = api {
        let _ = api.await;
    }
}
