//! The binary as a user runs it: started with stdout read for the addresses
//! it prints (no sleeping for readiness), stopped with a signal, killed when
//! dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};

pub struct Launched {
    pub child: Child,
    /// Where it listens for SMTP: its first stdout line, `listening on ADDR`.
    pub addr: String,
    /// The control API's address, from the `control on http://ADDR` line
    /// that follows when it was started with `--control`.
    control: Option<SocketAddr>,
    /// Standard output after those lines.
    pub stdout: BufReader<ChildStdout>,
}

impl Drop for Launched {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Launched {
    /// `smtp-harness ARGS` with stdout and stderr piped.
    pub fn start(args: &[&str]) -> Launched {
        Launched::spawn(Launched::command(args))
    }

    /// `serve --listen 127.0.0.1:0 --color never ARGS`.
    pub fn serve(args: &[&str]) -> Launched {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0", "--color", "never"];
        all.extend_from_slice(args);
        Launched::start(&all)
    }

    /// The command `start` runs, for a test to add to (environment, stderr)
    /// before `spawn`.
    pub fn command(args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_smtp-harness"));
        command
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Spawn `command` (its stdout must be piped) and read the addresses it
    /// prints.
    pub fn spawn(mut command: Command) -> Launched {
        let with_control = command.get_args().any(|a| a == "--control");
        let mut child = command.spawn().expect("spawn smtp-harness");
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut launched = Launched {
            child,
            addr: String::new(),
            control: None,
            stdout,
        };
        let line = launched.next_line();
        launched.addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("not the listening line: {line:?}"))
            .to_string();
        if with_control {
            let line = launched.next_line();
            let control = line
                .trim()
                .strip_prefix("control on http://")
                .unwrap_or_else(|| panic!("not the control line: {line:?}"));
            launched.control = Some(control.parse().expect("control address"));
        }
        launched
    }

    /// `smtp-harness proxy --config FILE ARGS…` with `n` proxies: the
    /// launched process and each proxy's name and address, from its
    /// `proxy NAME listening on ADDR` line (the control API's line follows
    /// when ARGS has `--control`).
    pub fn proxies(
        config: &std::path::Path,
        n: usize,
        args: &[&str],
    ) -> (Launched, Vec<(String, SocketAddr)>) {
        let mut command = Launched::command(&["proxy", "--config"]);
        command.arg(config).args(["--color", "never"]).args(args);
        let with_control = args.contains(&"--control");
        let mut child = command.spawn().expect("spawn smtp-harness");
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut launched = Launched {
            child,
            addr: String::new(),
            control: None,
            stdout,
        };
        let mut proxies = Vec::new();
        for _ in 0..n {
            let line = launched.next_line();
            let (name, addr) = line
                .trim()
                .strip_prefix("proxy ")
                .and_then(|rest| rest.split_once(" listening on "))
                .unwrap_or_else(|| panic!("not a proxy's listening line: {line:?}"));
            proxies.push((name.to_string(), addr.parse().expect("address")));
        }
        if with_control {
            let line = launched.next_line();
            let control = line
                .trim()
                .strip_prefix("control on http://")
                .unwrap_or_else(|| panic!("not the control line: {line:?}"));
            launched.control = Some(control.parse().expect("control address"));
        }
        (launched, proxies)
    }

    /// The SMTP address, parsed.
    pub fn smtp(&self) -> SocketAddr {
        self.addr.parse().expect("SMTP address")
    }

    /// The control API's address.
    pub fn control(&self) -> SocketAddr {
        self.control.expect("started without --control")
    }

    /// The next line the binary prints on standard output.
    pub fn next_line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read stdout");
        line
    }

    /// Send `signal` (`TERM`, `INT`) and wait for the exit.
    pub fn stop(&mut self, signal: &str) -> ExitStatus {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} failed");
        self.child.wait().expect("wait")
    }

    /// Everything it wrote to stderr (read to the end: call it after `stop`).
    pub fn stderr(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            err.read_to_string(&mut text).expect("read stderr");
        }
        text
    }
}

/// A blocking client session: send `text`, read everything until the
/// server closes (bounded: a frozen server is a failure, not a hang).
pub fn session(addr: &str, text: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(crate::common::STEP))
        .expect("timeout");
    s.write_all(text.as_bytes()).expect("write");
    let mut all = String::new();
    s.read_to_string(&mut all)
        .unwrap_or_else(|e| panic!("the server stopped answering: {e}"));
    all
}
