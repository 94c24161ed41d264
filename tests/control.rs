//! The HTTP control API over real HTTP: Python's urllib and smtplib drive
//! it while SMTP sessions run; a scenario swap under load loses no session
//! and mixes no rules; the OpenAPI document matches the route table; the
//! docs' Python example runs as written against the CLI.

mod common;

use common::RawClient;
use smtp_harness::control::routes::ROUTES;
use smtp_harness::{MockProxy, MockServer, Profile, Scenario};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Run a Python script with these environment variables; its stdout.
fn python(script: &str, env: &[(&str, String)]) -> String {
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(script);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A minimal HTTP client (one request per connection, as the API speaks).
async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("response in time")
        .expect("read");
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
    (status, body.unwrap_or_default())
}

#[test]
fn openapi_document_matches_the_route_table() {
    let doc: serde_json::Value =
        serde_json::from_str(smtp_harness::control::routes::OPENAPI).expect("valid JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for method in ops.as_object().expect("operations").keys() {
            documented.insert((method.to_ascii_uppercase(), path.clone()));
        }
    }
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    assert_eq!(documented, routed, "docs vs router");
    // Every $ref resolves.
    let text = smtp_harness::control::routes::OPENAPI;
    for part in text.split("\"$ref\": \"#/").skip(1) {
        let pointer = format!("/{}", part.split('"').next().unwrap_or_default());
        assert!(doc.pointer(&pointer).is_some(), "dangling $ref {pointer}");
    }
}

const WALKTHROUGH: &str = r#"
import json, os, smtplib, socket, threading, urllib.error, urllib.request

control = os.environ["CONTROL"]
host, port = os.environ["SMTP"].rsplit(":", 1)
port = int(port)

def call(method, path, body=None, ctype="application/yaml"):
    data = body.encode() if body is not None else None
    req = urllib.request.Request(control + path, data=data, method=method, headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if r.headers["Content-Type"] == "application/json" else raw)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)

# Live events: a reader thread collects the stream.
seen = []
ready = threading.Event()
def follow():
    with urllib.request.urlopen(control + "/events", timeout=10) as r:
        ready.set()
        for raw in r:
            seen.append(raw.decode())
            if "ehlo live.example" in seen[-1].lower():
                return
t = threading.Thread(target=follow, daemon=True)
t.start()
assert ready.wait(10)

# 1. A session with a real client, then read it back.
with smtplib.SMTP(host, port, local_hostname="live.example", timeout=10) as s:
    s.sendmail("a@example.com", ["b@example.com"], "Subject: first\r\n\r\nhello\r\n")
t.join(10)
assert any(line.startswith("event: command") for line in seen), seen
status, body = call("GET", "/sessions")
assert status == 200 and len(body["sessions"]) == 1, body
sid = body["sessions"][0]["id"]
status, session = call("GET", "/sessions/%d" % sid)
assert any(e["type"] == "command" and e["line"].lower() == "ehlo live.example" for e in session["events"]), session
status, text = call("GET", "/sessions/%d?format=text" % sid)
assert b"-> mail FROM:<a@example.com>" in text, text
status, body = call("GET", "/messages")
assert body["messages"][0]["mail_from"] == "a@example.com", body
status, eml = call("GET", body["messages"][0]["eml"])
assert status == 200 and b"Subject: first" in eml, eml
assert call("GET", "/messages/9.eml")[0] == 404

# 2. A bad scenario is refused with locations; the old one keeps running.
status, body = call("PUT", "/scenario", "banner:\n  reply: '220 ok'\nrules:\n  - verb: MAIL\n    args: '(unclosed'\n")
assert status == 422, body
assert body["problems"][0]["text"].startswith("<inline>:5:11: bad regex in `args`"), body
assert call("GET", "/scenario")[1]["name"] == "postfix-default"

# 3. A good one applies to the next session.
status, body = call("PUT", "/scenario", "name: swapped\nbanner: {reply: '220 swapped.example ESMTP'}\n")
assert status == 200 and body["name"] == "swapped", body
s = smtplib.SMTP(timeout=10)
code, banner = s.connect(host, port)
assert (code, banner) == (220, b"swapped.example ESMTP"), (code, banner)
s.quit()

# 4. One-shot faults: the next MAIL gets 451, the one after is fine.
status, fault = call("POST", "/faults", json.dumps({"verb": "MAIL", "reply": "451 4.3.0 try later"}), "application/json")
assert status == 201 and fault["id"] == 1, fault
assert call("POST", "/faults", '{"verb": "MAIL"}', "application/json")[0] == 422
with smtplib.SMTP(host, port, timeout=10) as s:
    try:
        s.sendmail("a@example.com", ["b@example.com"], "Subject: x\r\n\r\nx\r\n")
        raise SystemExit("the fault did not fire")
    except smtplib.SMTPSenderRefused as e:
        assert e.smtp_code == 451, e
    s.rset()
    s.sendmail("a@example.com", ["b@example.com"], "Subject: y\r\n\r\ny\r\n")
assert call("GET", "/faults")[1]["armed"] == []

# ... and the next connection is dropped after the banner.
assert call("POST", "/faults", '{"on": "banner", "action": "close"}', "application/json")[0] == 201
sock = socket.create_connection((host, port), timeout=10)
got = b""
while True:
    chunk = sock.recv(4096)
    if not chunk:
        break
    got += chunk
assert got.startswith(b"220 swapped.example"), got
sock.close()

# 5. Rules at runtime: x@y refused, then allowed again.
status, body = call("POST", "/rules", "verb: RCPT\nargs: '(?i)<x@y>'\nreply: '550 5.1.1 no x here'\n")
assert status == 201 and body["rules"][0]["name"] == "control-rule-1", body
with smtplib.SMTP(host, port, timeout=10) as s:
    try:
        s.sendmail("a@example.com", ["x@y"], "Subject: z\r\n\r\nz\r\n")
        raise SystemExit("the rule did not apply")
    except smtplib.SMTPRecipientsRefused as e:
        assert e.recipients["x@y"][0] == 550, e
assert call("POST", "/rules", "verb: RCPT\nargs: '(bad'\n")[0] == 422
assert call("DELETE", "/rules/7")[0] == 404
status, body = call("DELETE", "/rules/0")
assert status == 200 and body["rules"] == [], body
with smtplib.SMTP(host, port, timeout=10) as s:
    s.sendmail("a@example.com", ["x@y"], "Subject: z\r\n\r\nz\r\n")

# 6. Expectations, the control log, errors, reset.
status, body = call("GET", "/expectations")
assert status == 200 and body["met"] is True and body["results"][0]["actual"] >= 1, body
actions = [e["action"] for e in call("GET", "/sessions")[1]["control"]]
for a in ["scenario", "fault-armed", "fault-fired", "rule-added", "rule-removed"]:
    assert a in actions, actions
assert call("GET", "/nowhere")[0] == 404
assert call("PUT", "/profile", "banner: {mask: pix}")[0] == 404
assert call("DELETE", "/sessions")[0] == 405
status, body = call("POST", "/reset")
assert status == 200
status, body = call("GET", "/sessions")
assert body["sessions"] == [] and [e["action"] for e in body["control"]] == ["reset"], body
print("walkthrough ok")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_drives_the_api_while_smtp_sessions_run() {
    let mut server = MockServer::start(Scenario::bundled("postfix-default").expect("bundled"))
        .await
        .expect("start");
    let control = server.start_control().await.expect("control");
    smtp_harness::Expect::verb("EHLO")
        .named("clients greet")
        .mount(&server);
    let env = [
        ("CONTROL", format!("http://{control}")),
        ("SMTP", server.addr().to_string()),
    ];
    let out = tokio::task::spawn_blocking(move || python(WALKTHROUGH, &env))
        .await
        .expect("joined");
    assert_eq!(out.trim(), "walkthrough ok");
    // After the reset, expectations count afresh: one more greeting meets
    // "clients greet" again before the server is dropped (and verified).
    assert!(server.verify().is_err(), "reset restarts counting");
    one_session(server.addr()).await;
    server.wait_for_sessions(1).await.expect("session");
    server.verify().expect("met again");
    let t = server.transcript();
    assert!(t.control.iter().any(|e| matches!(
        &e.kind,
        smtp_harness::transcript::EventKind::Control { action, .. } if action == "reset"
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_and_heads_are_bounded() {
    let mut server = MockServer::start(Scenario::default()).await.expect("start");
    let control = server.start_control().await.expect("control");
    let mut s = tokio::net::TcpStream::connect(control)
        .await
        .expect("connect");
    s.write_all(b"PUT /scenario HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n")
        .await
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
    let (status, body) = http(control, "GET", "/sessions/abc", "").await;
    assert_eq!(status, 400, "{body}");
}

fn scenario_named(tag: &str) -> String {
    format!(
        r#"
name: {tag}
banner: {{reply: "220 {tag}.example ESMTP"}}
ehlo: {{greeting: "{tag}.example"}}
replies:
  mail_ok: "250 2.1.0 {tag} sender ok"
  rcpt_ok: "250 2.1.5 {tag} recipient ok"
  data_start: "354 {tag} go ahead"
  quit: "221 2.0.0 {tag} bye"
data: {{reply: "250 2.0.0 {tag} queued"}}
rules:
  - verb: NOOP
    reply: "250 2.0.0 {tag} noop"
"#
    )
}

/// One session; every reply it got.
async fn one_session(addr: SocketAddr) -> Vec<String> {
    let mut c = RawClient::connect(addr).await;
    let mut all = c.reply().await;
    for line in [
        "EHLO load.example",
        "NOOP",
        "MAIL FROM:<a@example.com>",
        "RCPT TO:<b@example.com>",
        "DATA",
    ] {
        all.extend(c.reply_to(line).await);
    }
    all.extend(c.reply_to("Subject: load\r\n\r\nbody\r\n.").await);
    all.extend(c.reply_to("NOOP").await);
    all.extend(c.reply_to("QUIT").await);
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_swap_under_load_loses_no_session_and_mixes_no_rules() {
    const TASKS: usize = 8;
    const PER_TASK: usize = 25;
    let alpha = scenario_named("alpha");
    let beta = scenario_named("beta");
    let mut server = MockServer::start(Scenario::from_yaml(&alpha).expect("alpha"))
        .await
        .expect("start");
    let control = server.start_control().await.expect("control");
    let addr = server.addr();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut swaps = 0u32;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let body = if swaps % 2 == 0 { &beta } else { &alpha };
                let (status, text) = http(control, "PUT", "/scenario", body).await;
                assert_eq!(status, 200, "{text}");
                swaps += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            swaps
        })
    };
    let mut clients = Vec::new();
    for _ in 0..TASKS {
        clients.push(tokio::spawn(async move {
            let mut sessions = Vec::new();
            for _ in 0..PER_TASK {
                sessions.push(one_session(addr).await);
            }
            sessions
        }));
    }
    let mut by = std::collections::HashMap::new();
    for c in clients {
        for replies in c.await.expect("client task") {
            assert_eq!(replies.len(), 14, "a whole session: {replies:?}");
            let tag = if replies[0].contains("alpha") {
                "alpha"
            } else {
                "beta"
            };
            let other = if tag == "alpha" { "beta" } else { "alpha" };
            for r in &replies {
                assert!(
                    !r.contains(other),
                    "a {tag} session got a {other} reply: {replies:#?}"
                );
            }
            // Every non-EHLO-keyword line names its scenario.
            let tagged = replies.iter().filter(|r| r.contains(tag)).count();
            assert!(tagged >= 9, "{replies:#?}");
            *by.entry(tag).or_insert(0) += 1;
        }
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let swaps = swapper.await.expect("swapper");
    assert!(swaps >= 2, "the scenario was swapped {swaps} times");
    let t = server
        .wait_for_sessions((TASKS * PER_TASK) as u64)
        .await
        .expect("every session ended");
    assert_eq!(t.sessions.len(), TASKS * PER_TASK, "no session lost");
    assert!(t.aborted().is_empty());
    assert_eq!(server.messages().len(), TASKS * PER_TASK);
    assert_eq!(
        t.control.len(),
        swaps as usize,
        "every swap is in the control log"
    );
    eprintln!("sessions per scenario: {by:?}, swaps: {swaps}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_serves_sessions_expectations_and_profile() {
    let server = MockServer::start(Scenario::default())
        .await
        .expect("server");
    let mut proxy = MockProxy::start(server.addr(), Profile::bundled("transparent").expect("p"))
        .await
        .expect("proxy");
    let control = proxy.start_control().await.expect("control");
    let (status, body) = http(control, "PUT", "/profile", "banner: {mask: pixx}").await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("<inline>:1:16: unknown variant `pixx`"),
        "{body}"
    );
    let (status, body) = http(
        control,
        "PUT",
        "/profile",
        "name: masked\nbanner: {mask: all}",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mut c = RawClient::connect(proxy.addr()).await;
    let banner = c.reply().await;
    assert!(banner[0].starts_with("220 ***"), "{banner:?}");
    c.reply_to("QUIT").await;
    proxy.wait_for_sessions(1).await.expect("session");
    let (status, body) = http(control, "GET", "/sessions", "").await;
    assert_eq!(status, 200);
    assert!(body.contains("\"action\": \"profile\""), "{body}");
    let (status, body) = http(control, "GET", "/messages", "").await;
    assert_eq!(status, 404);
    assert!(body.contains("not by the proxy"), "{body}");
    let (status, body) = http(control, "GET", "/expectations", "").await;
    assert_eq!(
        (status, body.contains("\"met\": true")),
        (200, true),
        "{body}"
    );
}

struct Served {
    child: Child,
    smtp: String,
    control: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(args: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smtp-harness"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--control",
            "127.0.0.1:0",
            "--quiet",
        ])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("listening line");
    let smtp = line.trim().trim_start_matches("listening on ").to_string();
    line.clear();
    out.read_line(&mut line).expect("control line");
    let control = line.trim().trim_start_matches("control on ").to_string();
    assert!(control.starts_with("http://127.0.0.1:"), "{control}");
    child.stdout = Some(out.into_inner());
    Served {
        child,
        smtp,
        control,
    }
}

/// A fenced block of `docs/control.md` after `heading`, in `lang`.
fn doc_block(heading: &str, lang: &str, nth: usize) -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/control.md"))
        .expect("docs/control.md");
    let section = doc.split(heading).nth(1).expect("heading");
    let fence = format!("```{lang}\n");
    let block = section.split(&fence).nth(nth).expect("block");
    block
        .split("```")
        .next()
        .expect("closing fence")
        .to_string()
}

#[test]
fn the_docs_python_example_runs_as_written() {
    let served = serve(&[]);
    let script = doc_block("## From Python", "python", 1);
    let expected = doc_block("Output:", "", 1);
    let env = [
        ("CONTROL", served.control.clone()),
        ("SMTP", served.smtp.clone()),
    ];
    assert_eq!(python(&script, &env), expected);
}

#[test]
fn the_cli_refuses_a_control_api_other_hosts_could_reach() {
    let out = Command::new(env!("CARGO_BIN_EXE_smtp-harness"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--control",
            "0.0.0.0:0",
            "--quiet",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to serve the control API on 0.0.0.0:0")
            && stderr.contains("--control-allow-remote"),
        "{stderr}"
    );
}

#[test]
fn the_cli_prints_scenario_expectations_at_shutdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("expecting.yaml");
    std::fs::write(
        &file,
        "expect:\n  - name: a client greets\n    verb: EHLO\n  - name: nobody says HELO\n    verb: HELO\n    times: 0\n  - name: two sessions\n    verb: QUIT\n    times: 2\n",
    )
    .expect("write");
    let mut served = serve(&[file.to_str().expect("utf-8")]);
    let addr: SocketAddr = served.smtp.parse().expect("addr");
    let mut sock = std::net::TcpStream::connect(addr).expect("connect");
    use std::io::Write;
    sock.write_all(b"EHLO me\r\nQUIT\r\n").expect("write");
    let mut rest = Vec::new();
    sock.read_to_end(&mut rest).expect("read");
    Command::new("kill")
        .args(["-TERM", &served.child.id().to_string()])
        .status()
        .expect("kill");
    let status = served.child.wait().expect("wait");
    let mut stdout = String::new();
    served
        .child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .expect("read");
    assert_eq!(status.code(), Some(1), "unmet expectations fail the run");
    assert!(stdout.contains("1 of 3 expectation(s) unmet"), "{stdout}");
    assert!(
        stdout.contains(
            r#"UNMET "two sessions": expected exactly 2 (commands with verb QUIT), got 1:"#
        ),
        "{stdout}"
    );
    assert!(stdout.contains(r#"met   "a client greets""#), "{stdout}");
}
