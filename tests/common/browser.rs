//! Debian's chromium, headless, driven over the DevTools protocol: just
//! enough of a client (a WebSocket speaker of about a hundred lines on std
//! and serde_json) to open a page, evaluate JavaScript in it, wait for the
//! DOM to say something, and take a screenshot. No crate: the CDP crates
//! (chromiumoxide, headless_chrome) pull in a WebSocket stack, an async
//! runtime or a browser downloader each, for the four calls these tests
//! make.
//!
//! Chromium listens on a port it picks (`--remote-debugging-port=0`, on
//! 127.0.0.1), which it writes to `DevToolsActivePort` in its own temporary
//! profile directory. Every wait has a deadline; the browser is killed on
//! drop.

#![allow(dead_code)]

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long chromium may take to start, and one call to answer.
const START: Duration = Duration::from_secs(30);
const CALL: Duration = Duration::from_secs(20);

/// One browser at a time per test binary: a loaded CI machine with two
/// cores should not start one chromium per test thread.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub struct Browser {
    // Fields drop in order: the socket, the browser, its profile, and
    // then the next test's turn.
    ws: TcpStream,
    next: u64,
    _child: Group,
    _profile: tempfile::TempDir,
    _turn: std::sync::MutexGuard<'static, ()>,
}

/// Chromium and every process it starts (zygote, renderers, GPU), in a
/// process group of their own: killed together, whenever this is dropped
/// (a test that panics half-way included), so no browser outlives a test.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Browser {
    /// Start `chromium` (the program [`super::tools::require`] found) with
    /// one blank page of 1280×800, and attach to that page.
    pub fn launch(chromium: &str) -> Browser {
        // A test that failed holding it poisoned it; the browser is gone.
        let turn = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let profile = tempfile::tempdir().expect("temp dir");
        let mut cmd = Command::new(chromium);
        cmd.args([
            "--headless",
            "--disable-gpu",
            // Containers give /dev/shm 64 MiB; chromium then crashes on big pages.
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            // No network beyond loopback here: nothing may try to reach out.
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "--window-size=1280,800",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
        // Chromium's own sandbox refuses to run as root (CI containers).
        if is_root() {
            cmd.arg("--no-sandbox");
        }
        // Owned at once: a panic below kills it.
        let mut child = Group(cmd.spawn().expect("start chromium"));
        let port = active_port(profile.path(), &mut child.0).unwrap_or_else(|e| panic!("{e}"));
        let page = page_socket(port);
        let ws = connect(port, &page);
        let mut b = Browser {
            ws,
            next: 0,
            _child: child,
            _profile: profile,
            _turn: turn,
        };
        // The viewport itself 1280×800 (the window's size includes its
        // frame).
        b.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": false }),
        );
        b.call("Page.enable", json!({}));
        b.call("Runtime.enable", json!({}));
        b
    }

    /// Navigate and wait until `document.readyState` is complete.
    pub fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url }));
        self.wait_for("document.readyState === 'complete'", CALL);
    }

    /// Evaluate `expression` in the page (promises awaited); its value.
    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{expression}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Poll `expression` until it is true; fail with `what` the page shows
    /// after `within`.
    pub fn wait_for(&mut self, expression: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if self.eval(expression) == Value::Bool(true) {
                return;
            }
            if Instant::now() > deadline {
                let body = self.eval("document.body ? document.body.innerText : ''");
                panic!("not true within {within:?}: {expression}\nthe page shows:\n{body}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A PNG of the viewport.
    pub fn screenshot(&mut self, path: &Path) {
        use base64::Engine;
        let r = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        let data = r["data"].as_str().expect("screenshot data");
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("base64 PNG");
        std::fs::write(path, png).expect("write screenshot");
    }

    /// Send a command; its result (events in between are skipped).
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let msg = json!({ "id": id, "method": method, "params": params }).to_string();
        send(&mut self.ws, msg.as_bytes());
        let deadline = Instant::now() + CALL;
        loop {
            assert!(
                Instant::now() < deadline,
                "{method}: no answer within {CALL:?}"
            );
            let text = receive(&mut self.ws);
            let v: Value = serde_json::from_str(&text).expect("CDP message is JSON");
            if v["id"].as_u64() == Some(id) {
                if let Some(e) = v.get("error") {
                    panic!("{method}: {e}");
                }
                return v["result"].clone();
            }
        }
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// The port chromium wrote to `DevToolsActivePort` once it listens.
fn active_port(profile: &Path, child: &mut Child) -> Result<u16, String> {
    let file: PathBuf = profile.join("DevToolsActivePort");
    let deadline = Instant::now() + START;
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(&file)
            && let Some(port) = text.lines().next().and_then(|l| l.trim().parse().ok())
        {
            return Ok(port);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("chromium exited at start: {status}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "chromium wrote no DevToolsActivePort within {START:?}"
    ))
}

/// The WebSocket path of the first page target (`/json/list`).
fn page_socket(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to DevTools");
    s.set_read_timeout(Some(CALL)).expect("timeout");
    write!(
        s,
        "GET /json/list HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .expect("ask for targets");
    // Chromium keeps the connection open: read the head, then as many
    // octets as it announces.
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let body = loop {
        let n = s.read(&mut buf).expect("read targets");
        assert!(n > 0, "DevTools closed before answering");
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .expect("Content-Length");
            if body.len() >= length {
                break body.to_string();
            }
        }
    };
    let targets: Value = serde_json::from_str(&body).expect("targets are JSON");
    let page = targets
        .as_array()
        .and_then(|a| a.iter().find(|t| t["type"] == "page"))
        .expect("a page target");
    let url = page["webSocketDebuggerUrl"].as_str().expect("its socket");
    let path = url.splitn(4, '/').nth(3).expect("a path");
    format!("/{path}")
}

/// Open the WebSocket (RFC 6455 client handshake).
fn connect(port: u16, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to DevTools");
    s.set_read_timeout(Some(CALL)).expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .expect("handshake");
    // The answer's head, a byte at a time so nothing after it is eaten.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).expect("handshake answer");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "no WebSocket: {head}");
    s
}

/// One masked text frame (clients must mask; the key need not be secret
/// on loopback).
fn send(s: &mut TcpStream, payload: &[u8]) {
    let key = [0x5a, 0x17, 0xc3, 0x8e];
    let mut frame = vec![0x81u8];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= 0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    s.write_all(&frame).expect("send to chromium");
}

/// One whole message (continuation frames joined; pings answered).
fn receive(s: &mut TcpStream) -> String {
    let mut message = Vec::new();
    loop {
        let mut h = [0u8; 2];
        s.read_exact(&mut h).expect("frame from chromium");
        let (fin, opcode) = (h[0] & 0x80 != 0, h[0] & 0x0f);
        let len = match h[1] & 0x7f {
            126 => {
                let mut b = [0u8; 2];
                s.read_exact(&mut b).expect("length");
                u16::from_be_bytes(b) as usize
            }
            127 => {
                let mut b = [0u8; 8];
                s.read_exact(&mut b).expect("length");
                u64::from_be_bytes(b) as usize
            }
            n => n as usize,
        };
        let mut payload = vec![0u8; len];
        s.read_exact(&mut payload).expect("payload");
        match opcode {
            0x8 => panic!("chromium closed the DevTools connection"),
            0x9 => {
                // Pong with the same payload (masked, as a client must).
                let mut pong = vec![0x8a, 0x80 | payload.len() as u8, 0, 0, 0, 0];
                pong.extend_from_slice(&payload);
                s.write_all(&pong).expect("pong");
            }
            0xa => {}
            _ => {
                message.extend_from_slice(&payload);
                if fin {
                    return String::from_utf8(message).expect("CDP text is UTF-8");
                }
            }
        }
    }
}
