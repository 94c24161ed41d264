//! The HTTP control API over real HTTP: Python's urllib and smtplib drive
//! it while SMTP sessions run; a scenario swap under load loses no session
//! and mixes no rules; the OpenAPI document matches the route table; the
//! docs' Python example runs as written against the CLI.

mod common;

use common::control_api::{http, raw};
use common::{Launched, RawClient};
use smtp_harness::{MockProxy, MockServer, Profile, Scenario};
use std::collections::BTreeSet;
use std::io::Read;
use std::net::SocketAddr;
use std::process::Command;
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
    let routed: BTreeSet<(String, String)> = smtp_harness::control::routes::all_paths()
        .into_iter()
        .map(|(method, path)| (method.to_string(), path))
        .collect();
    assert!(
        routed.contains(&("GET".to_string(), "/proxies/{proxy}/sessions".to_string())),
        "a named proxy's routes are in the table"
    );
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
    assert!(
        !server.expectation_report().is_met(),
        "reset restarts counting"
    );
    one_session(server.addr()).await;
    server.wait_for_sessions(1).await.expect("session");
    server.verify(); // met again
    let t = server.transcript();
    assert!(t.control_actions().iter().any(|a| a == "reset"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_and_heads_are_bounded() {
    let mut server = MockServer::start(Scenario::default()).await.expect("start");
    let control = server.start_control().await.expect("control");
    let mut s = tokio::net::TcpStream::connect(control)
        .await
        .expect("connect");
    s.write_all(b"PUT /scenario HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n")
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
                let body = if swaps.is_multiple_of(2) {
                    &beta
                } else {
                    &alpha
                };
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
    let parsed: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(parsed["control"][0]["action"], "profile", "{body}");
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

fn serve(args: &[&str]) -> Launched {
    cli(&["serve"], args, &[])
}

/// Run `smtp-harness COMMAND --listen 127.0.0.1:0 --control 127.0.0.1:0
/// --quiet ARGS` with these environment variables.
fn cli(command: &[&str], args: &[&str], env: &[(&str, &str)]) -> Launched {
    let mut cmd = Launched::command(command);
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--control",
        "127.0.0.1:0",
        "--quiet",
    ])
    .args(args)
    .envs(env.iter().copied());
    let launched = Launched::spawn(cmd);
    assert_eq!(
        launched.control().ip().to_string(),
        "127.0.0.1",
        "the control address"
    );
    launched
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
        ("CONTROL", format!("http://{}", served.control())),
        ("SMTP", served.addr.clone()),
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
    let addr = served.smtp();
    let mut sock = std::net::TcpStream::connect(addr).expect("connect");
    use std::io::Write;
    sock.write_all(b"EHLO me\r\nQUIT\r\n").expect("write");
    let mut rest = Vec::new();
    sock.read_to_end(&mut rest).expect("read");
    let status = served.stop("TERM");
    let mut stdout = String::new();
    served.stdout.read_to_string(&mut stdout).expect("read");
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

/// A server whose scenario is named `before`, with the API.
async fn guarded() -> (MockServer, SocketAddr) {
    let mut server = MockServer::start(Scenario::from_yaml("name: before\n").expect("scenario"))
        .await
        .expect("start");
    let control = server.start_control().await.expect("control");
    (server, control)
}

/// What a new session's first MAIL gets.
async fn mail_code(smtp: SocketAddr) -> u16 {
    let mut c = RawClient::connect(smtp).await;
    assert_eq!(c.code().await, 220);
    assert_eq!(c.cmd("EHLO page.example").await, 250);
    c.cmd("MAIL FROM:<a@example.com>").await
}

/// The rule a hostile page would add: every MAIL refused.
const REFUSE_MAIL: &str = r#"{"verb": "MAIL", "reply": "554 5.7.1 refused by a web page"}"#;

/// `POST /rules` with REFUSE_MAIL and these extra header lines.
fn post_rule(headers: &str) -> Vec<u8> {
    format!(
        "POST /rules HTTP/1.1\r\n{headers}Content-Length: {}\r\n\r\n{REFUSE_MAIL}",
        REFUSE_MAIL.len()
    )
    .into_bytes()
}

/// Nothing a refused request could have changed did change.
async fn unchanged(server: &MockServer, control: SocketAddr) {
    let (status, body) = http(control, "GET", "/scenario", "").await;
    assert_eq!(status, 200, "{body}");
    let scenario: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(scenario["name"], "before", "{body}");
    assert_eq!(scenario["rules"], serde_json::json!([]), "{body}");
    assert_eq!(mail_code(server.addr()).await, 250, "MAIL still accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_host_is_refused() {
    let (server, control) = guarded().await;
    // A DNS-rebinding page: our address under the page's own name.
    let rebound = format!(
        "Host: rebind.example:{}\r\nContent-Type: application/json\r\n",
        control.port()
    );
    let (status, _, body) = raw(control, &post_rule(&rebound)).await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    let get = format!(
        "GET /sessions HTTP/1.1\r\nHost: rebind.example:{}\r\n\r\n",
        control.port()
    );
    let (status, _, _) = raw(control, get.as_bytes()).await;
    assert_eq!(status, 403, "reading is refused too");
    unchanged(&server, control).await;
    // Our own names are fine.
    for host in [control.to_string(), format!("localhost:{}", control.port())] {
        let get = format!("GET /sessions HTTP/1.1\r\nHost: {host}\r\n\r\n");
        assert_eq!(raw(control, get.as_bytes()).await.0, 200, "{host}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_origin_is_refused_and_never_preflighted() {
    let (server, control) = guarded().await;
    let from = |origin: &str| {
        format!("Host: {control}\r\nOrigin: {origin}\r\nContent-Type: application/json\r\n")
    };
    let (status, _, _) = raw(control, &post_rule(&from("http://evil.example"))).await;
    assert_eq!(status, 403);
    let (status, _, _) = raw(control, &post_rule(&from("null"))).await;
    assert_eq!(status, 403, "sandboxed frames and file:// pages");
    // A preflight is never granted.
    let preflight = format!(
        "OPTIONS /rules HTTP/1.1\r\nHost: {control}\r\nOrigin: http://evil.example\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n\r\n"
    );
    let (status, head, _) = raw(control, preflight.as_bytes()).await;
    assert!(status >= 400, "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("access-control-allow"),
        "{head}"
    );
    unchanged(&server, control).await;
    // The API's own origin may write.
    let (status, _, body) = raw(
        control,
        &post_rule(&from(&format!("http://localhost:{}", control.port()))),
    )
    .await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    assert_eq!(mail_code(server.addr()).await, 554);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_a_page_could_send_without_preflight_is_refused() {
    let (server, control) = guarded().await;
    // What `fetch(url, {method: "POST", mode: "no-cors", body})` sends,
    // minus the Origin header some clients leave out.
    for content_type in [
        "Content-Type: text/plain;charset=UTF-8\r\n",
        "Content-Type: application/x-www-form-urlencoded\r\n",
        "",
    ] {
        let (status, _, body) = raw(
            control,
            &post_rule(&format!("Host: {control}\r\n{content_type}")),
        )
        .await;
        assert_eq!(status, 415, "{content_type:?}");
        assert!(
            String::from_utf8_lossy(&body).contains("Content-Type: application/json"),
            "the refusal says what to send"
        );
    }
    let reset = format!("POST /reset HTTP/1.1\r\nHost: {control}\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(raw(control, reset.as_bytes()).await.0, 415);
    unchanged(&server, control).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_must_say_how_long_it_is_once() {
    let (server, control) = guarded().await;
    let put = |framing: &str| {
        format!(
            "PUT /scenario HTTP/1.1\r\nHost: {control}\r\nContent-Type: application/yaml\r\n{framing}\r\nname: after\n"
        )
        .into_bytes()
    };
    let (status, _, body) = raw(control, &put("")).await;
    assert_eq!(status, 411, "{}", String::from_utf8_lossy(&body));
    for (framing, want) in [
        ("Content-Length: 4\r\nContent-Length: 12\r\n", 400),
        ("Content-Length: 12\r\nContent-Length: 12\r\n", 400),
        ("Content-Length: 12, 12\r\n", 400),
        ("Content-Length: +12\r\n", 400),
        ("Transfer-Encoding: chunked\r\n", 501),
        ("Transfer-Encoding: chunked\r\nContent-Length: 12\r\n", 400),
        ("Content-Length: 0\r\n", 400),
    ] {
        let (status, _, body) = raw(control, &put(framing)).await;
        assert_eq!(
            status,
            want,
            "{framing:?}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    unchanged(&server, control).await;
    // Two requests in one write: the first is answered, the second is not
    // taken for anything.
    let two = format!(
        "PUT /scenario HTTP/1.1\r\nHost: {control}\r\nContent-Type: application/yaml\r\nContent-Length: 12\r\n\r\nname: after\nPOST /reset HTTP/1.1\r\nHost: {control}\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n"
    );
    let (status, head, body) = raw(control, two.as_bytes()).await;
    assert_eq!(status, 200, "{head}");
    assert_eq!(
        String::from_utf8_lossy(&body).matches("HTTP/1.1").count(),
        0,
        "one response"
    );
    let (_, scenario) = http(control, "GET", "/scenario", "").await;
    assert!(scenario.contains("\"after\""), "{scenario}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_token_is_required_when_set() {
    let get = |control: SocketAddr, auth: &str| {
        format!("GET /sessions HTTP/1.1\r\nHost: {control}\r\n{auth}\r\n").into_bytes()
    };
    // serve takes it from the environment (not seen in `ps`) ...
    let served = cli(
        &["serve"],
        &[],
        &[("SMTP_HARNESS_CONTROL_TOKEN", "s3cret-token")],
    );
    // ... the proxy from the flag.
    let proxied = cli(
        &["proxy", "--upstream", "127.0.0.1:9"],
        &["--control-token", "other-token"],
        &[],
    );
    for (api, token) in [(&served, "s3cret-token"), (&proxied, "other-token")] {
        let control = api.control();
        let (status, head, _) = raw(control, &get(control, "")).await;
        assert_eq!(status, 401, "{head}");
        assert!(head.contains("WWW-Authenticate: Bearer"), "{head}");
        let (status, _, _) = raw(control, &get(control, "Authorization: Bearer wrong\r\n")).await;
        assert_eq!(status, 401);
        let wrong = format!("Authorization: Bearer {token}x\r\n");
        assert_eq!(raw(control, &get(control, &wrong)).await.0, 401);
        let right = format!("Authorization: Bearer {token}\r\n");
        let (status, _, body) = raw(control, &get(control, &right)).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
}

/// Open `GET /events` and never read.
async fn silent_subscriber(control: SocketAddr) -> tokio::net::TcpStream {
    let mut s = tokio::net::TcpStream::connect(control)
        .await
        .expect("connect");
    let get = format!("GET /events HTTP/1.1\r\nHost: {control}\r\n\r\n");
    s.write_all(get.as_bytes()).await.expect("write");
    s
}

/// The status line of what the API sent first on `s`.
async fn first_status(s: &mut tokio::net::TcpStream) -> u16 {
    let mut head = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut head))
        .await
        .expect("an answer in time")
        .expect("read");
    String::from_utf8_lossy(&head[9..12])
        .parse()
        .expect("status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_that_never_read_leave_the_api_answering() {
    let (server, control) = guarded().await;
    let mut silent = Vec::new();
    for _ in 0..64 {
        silent.push(silent_subscriber(control).await);
    }
    // Every other route answers at once, writes included.
    let quick = Duration::from_secs(5);
    let (status, body) = tokio::time::timeout(quick, http(control, "GET", "/sessions", ""))
        .await
        .expect("GET /sessions in time");
    assert_eq!(status, 200, "{body}");
    let (status, body) = tokio::time::timeout(quick, http(control, "POST", "/reset", ""))
        .await
        .expect("POST /reset in time");
    assert_eq!(status, 200, "{body}");
    // Only MAX_EVENT_STREAMS of them became streams.
    let mut streams = 0;
    for s in &mut silent {
        match first_status(s).await {
            200 => streams += 1,
            503 => {}
            other => panic!("status {other}"),
        }
    }
    assert_eq!(streams, smtp_harness::control::MAX_EVENT_STREAMS);
    // When they leave, their slots are free again as soon as the API sees
    // them go (not at the next keep-alive, 15 s on).
    drop(silent);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut again = Vec::new();
    while again.len() < smtp_harness::control::MAX_EVENT_STREAMS {
        let mut s = silent_subscriber(control).await;
        match first_status(&mut s).await {
            200 => again.push(s),
            status => {
                assert_eq!(status, 503);
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "slots not freed: {} of {} streams reopened",
                    again.len(),
                    smtp_harness::control::MAX_EVENT_STREAMS
                );
                tokio::task::yield_now().await;
            }
        }
    }
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_falls_behind_is_dropped() {
    const NOOPS: usize = 40_000;
    let (server, control) = guarded().await;
    let mut silent = silent_subscriber(control).await;
    assert_eq!(first_status(&mut silent).await, 200);
    // A flood of events while it does not read: far more than its socket
    // buffers and the live backlog hold.
    let mut c = RawClient::connect(server.addr()).await;
    assert_eq!(c.code().await, 220);
    let writer = tokio::spawn(async move {
        let mut w = c.writer;
        w.write_all(&b"NOOP\r\n".repeat(NOOPS))
            .await
            .expect("write");
        w
    });
    let mut reader = c.reader;
    let mut line = String::new();
    for _ in 0..NOOPS {
        line.clear();
        tokio::time::timeout(
            Duration::from_secs(30),
            tokio::io::AsyncBufReadExt::read_line(&mut reader, &mut line),
        )
        .await
        .expect("NOOP replies in time")
        .expect("read");
    }
    let _writer = writer.await.expect("writer");
    // Now it reads: what was sent, then the end, not the whole flood.
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), silent.read_to_end(&mut got))
        .await
        .expect("the API let go of the subscriber")
        .expect("read");
    let commands = String::from_utf8_lossy(&got)
        .matches("event: command")
        .count();
    assert!(commands < NOOPS, "{commands} of {NOOPS} commands streamed");
    // Its slot is free: a new subscriber is a stream.
    let mut next = silent_subscriber(control).await;
    assert_eq!(first_status(&mut next).await, 200);
}

/// `GET` on the CLI's control API, de-chunked.
async fn cli_get(control: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    let get = format!("GET {path} HTTP/1.1\r\nHost: {control}\r\n\r\n");
    let (status, _, body) = raw(control, get.as_bytes()).await;
    (status, body)
}

/// While `work` runs, NOOP round trips on an SMTP session of their own:
/// `work`'s output, the longest round trip, and how many there were.
async fn longest_round_trip<T: Send + 'static>(
    smtp: SocketAddr,
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> (T, Duration, usize) {
    let mut probe = RawClient::connect(smtp).await;
    assert_eq!(probe.code().await, 220);
    let work = tokio::spawn(work);
    let mut longest = Duration::ZERO;
    let mut count = 0;
    while !work.is_finished() {
        let sent = std::time::Instant::now();
        assert_eq!(probe.cmd("NOOP").await, 250);
        longest = longest.max(sent.elapsed());
        count += 1;
    }
    (work.await.expect("work"), longest, count)
}

/// `GET /sessions/N`'s JSON, checked without building a tree of it.
#[derive(serde::Deserialize)]
struct SessionBody {
    id: u64,
    events: Vec<serde::de::IgnoredAny>,
    ended: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_a_huge_session_never_stalls_smtp() {
    const NOOPS: usize = 200_000;
    // The CLI: one event loop for SMTP and the API, as users run it.
    let served = serve(&[]);
    let smtp = served.smtp();
    let control = served.control();
    let mut big = RawClient::connect(smtp).await;
    assert_eq!(big.code().await, 220);
    let mut writer = big.writer;
    let pipelined = tokio::spawn(async move {
        writer
            .write_all(&b"NOOP\r\n".repeat(NOOPS))
            .await
            .expect("write");
        writer
    });
    let mut reader = big.reader;
    tokio::time::timeout(Duration::from_secs(120), async {
        let mut line = String::new();
        for _ in 0..NOOPS {
            line.clear();
            tokio::io::AsyncBufReadExt::read_line(&mut reader, &mut line)
                .await
                .expect("read");
            assert!(line.starts_with("250"), "{line}");
        }
    })
    .await
    .expect("every NOOP answered");
    let _still_open = pipelined.await.expect("writer");

    let (list, list_stall, _) = longest_round_trip(smtp, cli_get(control, "/sessions")).await;
    assert_eq!(list.0, 200);
    let list: serde_json::Value = serde_json::from_slice(&list.1).expect("valid JSON");
    let kept = list["sessions"][0]["events"].as_u64().expect("events") as usize;
    assert!(kept > 1000, "{}", list["sessions"][0]);

    let started = std::time::Instant::now();
    let (got, stall, trips) = longest_round_trip(smtp, cli_get(control, "/sessions/1")).await;
    let took = started.elapsed();
    let (status, body) = got;
    assert_eq!(status, 200);
    let session: SessionBody = serde_json::from_slice(&body).expect("valid, complete JSON");
    assert_eq!((session.id, session.ended), (1, false));
    assert_eq!(session.events.len(), kept, "every kept event");
    let last: String = String::from_utf8_lossy(&body[body.len().saturating_sub(400)..])
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    assert!(
        last.contains(r#""type":"reply""#),
        "the last is a reply: {last}"
    );
    eprintln!(
        "GET /sessions/1: {} events, {} octets in {took:?}; longest NOOP round trip meanwhile {stall:?} ({trips} round trips); during GET /sessions {list_stall:?}",
        session.events.len(),
        body.len()
    );
    let bound = Duration::from_millis(500);
    assert!(
        stall < bound,
        "SMTP stalled {stall:?} during GET /sessions/1"
    );
    assert!(
        list_stall < bound,
        "SMTP stalled {list_stall:?} during GET /sessions"
    );
}
