//! `--control`: where the HTTP control API listens, the refusal to expose
//! it to other hosts by accident, and its token.

use super::args::ControlArgs;
use crate::control::Options;
use anyhow::Context;
use tokio::net::TcpListener;

/// Where the token comes from when `--control-token` is not given: an
/// environment variable is not shown to other users by `ps`.
pub const TOKEN_VAR: &str = "SMTP_HARNESS_CONTROL_TOKEN";

/// The control API, bound and ready to serve.
pub struct Api {
    listener: TcpListener,
    options: Options,
}

/// Bind the control listener (`--control`), refusing non-loopback
/// addresses unless `--control-allow-remote`; prints `control on
/// http://ADDR` on stdout. The token is `--control-token`, else the value
/// of [`TOKEN_VAR`].
pub async fn bind(args: &ControlArgs) -> anyhow::Result<Option<Api>> {
    let Some(addr) = args.addr else {
        return Ok(None);
    };
    let allow_remote = args.allow_remote;
    let token = args.token.clone().or_else(|| std::env::var(TOKEN_VAR).ok());
    if token.as_deref().is_some_and(|t| t.trim().is_empty()) {
        anyhow::bail!("the control token is empty; give one, or unset {TOKEN_VAR}");
    }
    if !crate::control::is_local(&addr) {
        if !allow_remote {
            anyhow::bail!(
                "refusing to serve the control API on {addr}: other hosts could change the scenario; \
                 use a loopback address such as 127.0.0.1:{}, or pass --control-allow-remote",
                addr.port()
            );
        }
        let advice = if token.is_none() {
            format!(" (set a token: --control-token or {TOKEN_VAR})")
        } else {
            String::new()
        };
        errln!(
            "smtp-harness: warning: the control API on {addr} lets anyone who reaches it change what the harness does{advice}"
        );
    }
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for the control API"))?;
    let bound = listener.local_addr()?;
    outln!("control on http://{bound}")?;
    Ok(Some(Api {
        listener,
        options: Options { token },
    }))
}

/// Print every expectation's result at shutdown; `false` when one is unmet.
pub fn report(
    expectations: &crate::expect::ExpectationSet,
    transcript: &crate::Transcript,
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

/// Ctrl-C or SIGTERM, caught from now on. Registered before `listening on`
/// is printed: a script that signals as soon as it reads that line must get
/// a clean shutdown, not the default action of the signal (death).
pub fn shutdown_signal() -> std::io::Result<Stopped> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(Box::pin(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = interrupt.recv() => {}
            }
        }))
    }
    #[cfg(not(unix))]
    {
        Ok(Box::pin(async {
            let _ = tokio::signal::ctrl_c().await;
        }))
    }
}

/// Run the SMTP side (`smtp`, given a stop future) and, when asked for, the
/// control API, until `signal` (Ctrl-C or SIGTERM: [`shutdown_signal`])
/// or `done`, when given (`replay --sessions N` after its Nth session); both
/// stop together.
pub async fn until_signal<Fut>(
    control: Option<Api>,
    target: impl Into<crate::control::Targets>,
    signal: Stopped,
    done: Option<Stopped>,
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
    let api = control.map(|api| {
        tokio::spawn(crate::control::serve(
            api.listener,
            target.into(),
            api.options,
            stopped(stop_rx.clone()),
        ))
    });
    let done = done.unwrap_or_else(|| Box::pin(std::future::pending()));
    let signal = async {
        tokio::select! {
            _ = signal => {}
            _ = done => {}
        }
        let _ = stop_tx.send(true);
    };
    tokio::join!(smtp(stopped(stop_rx)), signal);
    if let Some(api) = api {
        let _ = api.await;
    }
}

/// `--control-files DIR`: checked to be a directory at start, so a typo is
/// an error now rather than every later request's.
pub fn files_dir(dir: Option<&std::path::Path>) -> anyhow::Result<Option<std::path::PathBuf>> {
    let Some(dir) = dir else {
        return Ok(None);
    };
    if !dir.is_dir() {
        anyhow::bail!("--control-files {}: not a directory", dir.display());
    }
    Ok(Some(dir.to_path_buf()))
}
