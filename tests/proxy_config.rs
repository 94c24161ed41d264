//! `smtp-harness proxy --config`: several named proxies in one process, in
//! front of one real upstream, driven by Python's smtplib over real sockets;
//! each addressable in the control API under `/proxies/{name}`; a fault
//! added to one touches only that one; bad files are refused with located
//! errors.

mod common;

use common::Launched;
use common::control_api::http;
use common::tools::python3;
use smtp_harness::{MockProxy, MockServer, Profile, Scenario};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

/// One smtplib session that sends one message: the banner, the answers to
/// EHLO and (when EHLO is refused) HELO, and whether the message went.
const CLIENT: &str = r#"
import json, smtplib, sys
host, port = sys.argv[1].rsplit(":", 1)
s = smtplib.SMTP(timeout=10)
code, banner = s.connect(host, int(port))
ehlo = s.ehlo()[0]
helo = s.helo()[0] if ehlo != 250 else None
refused = s.sendmail("alice@example.com", ["bob@example.net"], "Subject: hi\r\n\r\nhello\r\n")
s.quit()
print(json.dumps({"banner": banner.decode(), "ehlo": ehlo, "helo": helo, "refused": list(refused)}))
"#;

fn smtplib(addr: SocketAddr) -> serde_json::Value {
    let out = python3(CLIENT, &[addr.to_string()]);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// The first line a new connection gets.
fn banner(addr: SocketAddr) -> String {
    let sock = std::net::TcpStream::connect(addr).expect("connect");
    sock.set_read_timeout(Some(common::STEP)).expect("timeout");
    let mut line = String::new();
    BufReader::new(sock).read_line(&mut line).expect("a banner");
    line
}

/// `GET path` as Server-Sent Events: the reader, past the response head.
fn sse(control: SocketAddr, path: &str) -> BufReader<std::net::TcpStream> {
    let mut sock = std::net::TcpStream::connect(control).expect("connect");
    sock.set_read_timeout(Some(common::STEP)).expect("timeout");
    std::io::Write::write_all(
        &mut sock,
        format!("GET {path} HTTP/1.1\r\nHost: {control}\r\n\r\n").as_bytes(),
    )
    .expect("write");
    let mut reader = BufReader::new(sock);
    let mut line = String::new();
    reader.read_line(&mut line).expect("status");
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    // The head, then the stream's opening comment: once it is read, the
    // subscription is in place.
    while line != ": smtp-harness events\n" {
        line.clear();
        assert!(
            reader.read_line(&mut line).expect("head") > 0,
            "the stream ended"
        );
    }
    reader
}

/// The next event's `data:` as JSON.
fn next_event(reader: &mut BufReader<std::net::TcpStream>) -> serde_json::Value {
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).expect("an event") > 0,
            "the stream ended"
        );
        if let Some(data) = line.strip_prefix("data: ") {
            return json(data.trim());
        }
    }
}

fn write_config(dir: &Path, upstream: SocketAddr) -> std::path::PathBuf {
    let path = dir.join("proxies.yaml");
    let text = format!(
        "proxies:\n  - name: plain\n    listen: 127.0.0.1:0\n    upstream: {upstream}\n    profile: transparent\n  \
         - name: pix\n    listen: 127.0.0.1:0\n    upstream: {upstream}\n    profile: pix-mailguard\n"
    );
    std::fs::write(&path, text).expect("write config");
    path
}

#[test]
fn two_named_proxies_in_front_of_one_server() {
    let server = MockServer::start_blocking(Scenario::default()).expect("server");
    let dir = tempfile::tempdir().expect("dir");
    let config = write_config(dir.path(), server.addr());
    let transcript = dir.path().join("t.jsonl");
    let transcript_arg = transcript.display().to_string();
    let (mut launched, proxies) = Launched::proxies(
        &config,
        2,
        &["--control", "127.0.0.1:0", "--transcript", &transcript_arg],
    );
    let names: Vec<&str> = proxies.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["plain", "pix"]);
    let (plain, pix) = (proxies[0].1, proxies[1].1);
    let control = launched.control();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let call =
        |method: &str, path: &str, body: &str| rt.block_on(http(control, method, path, body));

    // Each proxy does what its profile says, to a real client.
    let through_plain = smtplib(plain);
    assert!(
        through_plain["banner"]
            .as_str()
            .is_some_and(|b| !b.contains('*')),
        "{through_plain}"
    );
    assert_eq!(through_plain["ehlo"], 250, "{through_plain}");
    let through_pix = smtplib(pix);
    assert!(
        through_pix["banner"]
            .as_str()
            .is_some_and(|b| b.starts_with("***")),
        "PIX masks the banner: {through_pix}"
    );
    assert_eq!(through_pix["ehlo"], 500, "PIX refuses EHLO: {through_pix}");
    assert_eq!(through_pix["helo"], 250, "{through_pix}");
    for sent in [&through_plain, &through_pix] {
        assert_eq!(sent["refused"], serde_json::json!([]), "{sent}");
    }
    server
        .wait_for_sessions_blocking(2)
        .expect("both reached the server");
    assert_eq!(server.messages().len(), 2);

    // Each session is listed under its own proxy's name.
    for (name, refused_ehlo) in [("plain", false), ("pix", true)] {
        let (status, body) = call("GET", &format!("/proxies/{name}/sessions"), "");
        assert_eq!(status, 200, "{body}");
        let sessions = json(&body)["sessions"].clone();
        assert_eq!(sessions.as_array().map(Vec::len), Some(1), "{name}: {body}");
        assert_eq!(sessions[0]["href"], format!("/proxies/{name}/sessions/1"));
        let (status, text) = call(
            "GET",
            &format!("/proxies/{name}/sessions/1?format=text"),
            "",
        );
        assert_eq!(status, 200, "{text}");
        assert_eq!(text.contains("500 5.5.1"), refused_ehlo, "{name}: {text}");
    }
    let (status, body) = call("GET", "/proxies", "");
    assert_eq!(status, 200, "{body}");
    let listed = json(&body);
    assert_eq!(listed["proxies"][1]["name"], "pix", "{body}");
    assert_eq!(listed["proxies"][1]["listen"], pix.to_string(), "{body}");
    assert_eq!(listed["proxies"][1]["upstream"], server.addr().to_string());
    assert_eq!(listed["proxies"][1]["profile"], "pix-mailguard", "{body}");
    assert_eq!(listed["proxies"][0]["sessions"], 1, "{body}");

    // A named proxy's event stream carries that proxy's events only: a
    // session on pix sends nothing, the next one on plain arrives.
    let mut events = sse(control, "/proxies/plain/events");
    assert!(banner(pix).starts_with("220 "));
    assert!(banner(plain).starts_with("220 "));
    let first = next_event(&mut events);
    assert_eq!(first["type"], "connect", "{first}");
    assert_eq!(first["local"], plain.to_string(), "{first}");

    // A fault added to one proxy touches that one only.
    let (status, body) = call(
        "POST",
        "/proxies/pix/profile/faults?name=refuse",
        r#"{"reply_then_close": "421 4.3.2 not now", "on": "banner"}"#,
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(banner(pix), "421 4.3.2 not now\r\n");
    assert!(banner(plain).starts_with("220 "), "plain is untouched");
    let (_, body) = call("GET", "/proxies/plain/profile/faults", "");
    assert_eq!(json(&body)["faults"], serde_json::json!([]), "{body}");
    let (_, body) = call("GET", "/proxies/pix/profile/faults", "");
    assert_eq!(json(&body)["faults"][0]["name"], "refuse", "{body}");

    // Names that are not there, and the root of several proxies.
    let (status, body) = call("GET", "/proxies/pics/sessions", "");
    assert_eq!(status, 404, "{body}");
    assert!(
        body.contains(r#"no proxy named \"pics\"; the proxies are plain, pix"#),
        "{body}"
    );
    let (status, body) = call("GET", "/sessions", "");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("e.g. /proxies/plain/sessions"), "{body}");

    assert!(launched.stop("TERM").success());
    // The live transcript and the JSON Lines file say whose each line is.
    let stderr = launched.stderr();
    assert!(stderr.contains("[pix] #1 <-  500 5.5.1"), "{stderr}");
    assert!(stderr.contains("[plain] #1  -> ehlo"), "{stderr}");
    let lines = std::fs::read_to_string(&transcript).expect("transcript");
    let whose = |name: &str| lines.lines().filter(|l| json(l)["proxy"] == name).count();
    assert!(whose("pix") > 0 && whose("plain") > 0, "{lines}");
    assert_eq!(
        whose("pix") + whose("plain"),
        lines.lines().count(),
        "every line is someone's"
    );
}

/// A lone proxy keeps its routes at the root and is also listed, as
/// `default`, under /proxies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_proxy_is_listed_as_default() {
    let server = MockServer::start(Scenario::default())
        .await
        .expect("server");
    let mut proxy = MockProxy::start(server.addr(), Profile::bundled("pix-mailguard").expect("p"))
        .await
        .expect("proxy");
    let control = proxy.start_control().await.expect("control");
    let mut client = common::RawClient::connect(proxy.addr()).await;
    assert_eq!(client.code().await, 220);
    assert_eq!(client.cmd("QUIT").await, 221);
    proxy.wait_for_sessions(1).await.expect("session");
    let (status, body) = http(control, "GET", "/proxies", "").await;
    assert_eq!(status, 200, "{body}");
    let listed = json(&body);
    assert_eq!(listed["proxies"][0]["name"], "default", "{body}");
    assert_eq!(listed["proxies"][0]["listen"], proxy.addr().to_string());
    assert_eq!(listed["proxies"][0]["sessions"], 1, "{body}");
    let (_, at_root) = http(control, "GET", "/sessions", "").await;
    let (status, named) = http(control, "GET", "/proxies/default/sessions", "").await;
    assert_eq!(status, 200, "{named}");
    assert_eq!(
        json(&at_root)["sessions"][0]["id"],
        json(&named)["sessions"][0]["id"]
    );
    assert_eq!(
        json(&named)["sessions"][0]["href"],
        "/proxies/default/sessions/1"
    );
    let (status, body) = http(control, "GET", "/proxies/default/openapi.json", "").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("served at the root, not per proxy"), "{body}");
    // A server has no proxies.
    let mut server = server;
    let server_control = server.start_control().await.expect("control");
    let (status, body) = http(server_control, "GET", "/proxies", "").await;
    assert_eq!(status, 404, "{body}");
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_smtp-harness"))
}

/// A bad file is refused before anything starts: exit 1 (as a broken
/// scenario or profile file), every problem with file:line:column.
#[test]
fn bad_config_files_are_refused_with_located_errors() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("proxies.yaml");
    std::fs::write(
        &path,
        "proxies:\n  - name: a\n    listen: 2525\n    upstream: 127.0.0.1\n    profile: pix-mailgaurd\n  \
         - name: a\n    listen: localhost:2525\n    upstream: h:25\n",
    )
    .expect("write");
    let out = bin()
        .args(["proxy", "--config"])
        .arg(&path)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty(), "nothing started");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let shown = path.display();
    for said in [
        format!(
            "{shown}:3:13: listen: a port alone is not enough: give the address too, e.g. 127.0.0.1:2525"
        ),
        format!("{shown}:4:15: upstream: no port: expected HOST:PORT"),
        format!(
            r#"{shown}:5:14: profile: unknown bundled profile "pix-mailgaurd"; did you mean "pix-mailguard"?"#
        ),
        format!(r#"{shown}:6:11: name: "a" is already the name of the proxy on line 2"#),
        format!(r#"{shown}:7:13: listen: "localhost" is a host name"#),
    ] {
        assert!(stderr.contains(&said), "{said}\nnot in:\n{stderr}");
    }
    // A missing file, and flags that belong to a lone proxy.
    let out = bin()
        .args(["proxy", "--config", "nothere.yaml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothere.yaml"));
    let out = bin()
        .args(["proxy", "--config"])
        .arg(&path)
        .args(["--upstream", "127.0.0.1:25"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
}

/// `validate` knows a `proxy --config` file by its `proxies:` key and
/// checks it as `proxy --config` would.
#[test]
fn validate_checks_a_proxies_file() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/proxies.yaml");
    let out = bin().args(["validate", example]).output().expect("run");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "ok (proxies plain, pix, no-tls; by its `proxies:` key: a `proxy --config` file)"
        ),
        "{stdout}"
    );
    let dir = tempfile::tempdir().expect("dir");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "proxies:\n  - {name: a, listen: '127.0.0.1:0', upstream: h}\n",
    )
    .expect("write");
    let out = bin().arg("validate").arg(&bad).output().expect("run");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{}:2:48: upstream: no port", bad.display())),
        "{stdout}"
    );
}
