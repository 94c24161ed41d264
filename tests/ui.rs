//! The web UI at the control API's `/`, in a real browser: Debian's
//! chromium, headless, driven over the DevTools protocol
//! (`common::browser`). Sessions are sent after the page has loaded and
//! must appear without a reload; a proxy session's diagram shows what the
//! proxy did; a message's HTML is shown sandboxed. Every wait polls the DOM
//! with a deadline.
//!
//! `make screenshots` runs the ignored `screenshots` test, which rewrites
//! docs/ui/*.png.

mod common;

use common::browser::Browser;
use common::control_api::raw;
use common::lettre_send as send;
use common::tools::{CHROMIUM, require};
use lettre::message::{MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message as Mail, Tokio1Executor};
use serde_json::Value;
use smtp_harness::{MockProxy, MockServer, Profile, Scenario};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use tokio::runtime::Runtime;

/// How long the page may take to show what a test waits for.
const SHOW: Duration = Duration::from_secs(20);

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A fake server with its control API, on `rt`.
fn server(rt: &Runtime, scenario: Scenario) -> (MockServer, SocketAddr) {
    rt.block_on(async {
        let mut s = MockServer::start(scenario).await.expect("server");
        let control = s.start_control().await.expect("control");
        (s, control)
    })
}

fn newsletter() -> Mail {
    Mail::builder()
        .from("Alice <alice@example.com>".parse().expect("from"))
        .to("Bob <bob@example.org>".parse().expect("to"))
        .subject("Launch plan for Thursday")
        .multipart(MultiPart::alternative_plain_html(
            "The plan is attached.\r\n".to_string(),
            // A script and a remote image: neither may run or load.
            "<p>The <b>plan</b></p><script>parent.document.title='pwned'</script>\
             <img src=\"http://198.51.100.7/track.png\">"
                .to_string(),
        ))
        .expect("mail")
}

fn plain(subject: &str) -> Mail {
    Mail::builder()
        .from("carol@example.com".parse().expect("from"))
        .to("dave@example.net".parse().expect("to"))
        .subject(subject)
        .singlepart(SinglePart::plain("hello\r\n".to_string()))
        .expect("mail")
}

/// Open the UI and wait until its event stream is connected (so what is
/// sent next arrives live) and the list is loaded.
fn open_ui(b: &mut Browser, control: SocketAddr) {
    b.open(&format!("http://{control}/"));
    b.wait_for("document.querySelector('#live.on') !== null", SHOW);
    // A mark a reload would lose.
    b.eval("window.notReloaded = true");
}

fn rows(b: &mut Browser, table: &str) -> usize {
    b.eval(&format!(
        "document.querySelectorAll('#{table} tbody tr:not([hidden])').length"
    ))
    .as_u64()
    .expect("a count") as usize
}

/// A raw session through the PIX: banner, EHLO (refused), HELO, QUIT.
fn through_pix(proxy: SocketAddr) {
    let s = TcpStream::connect(proxy).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut w = s.try_clone().expect("clone");
    let mut r = BufReader::new(s);
    let mut reply = || {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).expect("reply");
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return all;
            }
        }
    };
    assert!(reply().starts_with("220 *"), "masked banner");
    for cmd in ["EHLO client.example", "HELO client.example", "QUIT"] {
        w.write_all(format!("{cmd}\r\n").as_bytes()).expect("send");
        reply();
    }
}

#[test]
fn a_session_sent_after_the_page_loaded_appears_without_reload() {
    let Some(chromium) = require(
        &CHROMIUM,
        "a_session_sent_after_the_page_loaded_appears_without_reload",
    ) else {
        return;
    };
    let rt = runtime();
    let (server, control) = server(&rt, Scenario::default());
    let mut b = Browser::launch(chromium);
    open_ui(&mut b, control);
    assert_eq!(rows(&mut b, "session-table"), 0, "no session yet");

    rt.block_on(send(server.addr(), plain("first")));
    b.wait_for(
        "(document.querySelector('#session-table tr[data-session=\"1\"]') || {}).textContent?.includes('MAIL')",
        SHOW,
    );
    assert_eq!(b.eval("window.notReloaded"), Value::Bool(true), "no reload");

    // The filter: by verb, reply code, address, and text that is nowhere.
    for (filter, shown) in [("rcpt", 1), ("354", 1), ("127.0.0.1", 1), ("nowhere", 0)] {
        b.eval(&format!(
            "{{ const f = document.querySelector('#filter'); f.value = '{filter}'; f.dispatchEvent(new Event('input')) }}"
        ));
        assert_eq!(rows(&mut b, "session-table"), shown, "filter {filter:?}");
    }
    b.eval("{ const f = document.querySelector('#filter'); f.value = ''; f.dispatchEvent(new Event('input')) }");

    // The session as a diagram: client and server lanes, no proxy.
    b.eval("document.querySelector('#session-table tr[data-session=\"1\"]').click()");
    b.wait_for(
        "document.querySelector('#session-view svg.seq') !== null",
        SHOW,
    );
    let lanes = b.eval("[...document.querySelectorAll('#session-view [data-lane]')].map(l => l.dataset.lane).join(' ')");
    assert_eq!(lanes, "client server");
    let text = b.eval("document.querySelector('#session-view svg').textContent");
    assert!(
        text.as_str()
            .is_some_and(|t| t.contains("MAIL FROM:<carol@example.com>")),
        "{text}"
    );
}

#[test]
fn a_proxy_session_shows_the_masked_banner_and_the_refused_ehlo() {
    let Some(chromium) = require(
        &CHROMIUM,
        "a_proxy_session_shows_the_masked_banner_and_the_refused_ehlo",
    ) else {
        return;
    };
    let rt = runtime();
    let (_upstream, proxy, control) = rt.block_on(async {
        let upstream = MockServer::start(Scenario::bundled("exchange-2003").expect("scenario"))
            .await
            .expect("server");
        let profile = Profile::bundled("pix-mailguard").expect("profile");
        let mut proxy = MockProxy::start(upstream.addr(), profile)
            .await
            .expect("proxy");
        let control = proxy.start_control().await.expect("control");
        (upstream, proxy, control)
    });
    let mut b = Browser::launch(chromium);
    open_ui(&mut b, control);
    assert_eq!(
        b.eval("document.querySelector('#mode').textContent"),
        "proxy"
    );

    through_pix(proxy.addr());
    b.wait_for(
        "(document.querySelector('#session-table tr[data-session=\"1\"]') || {}).textContent?.includes('HELO')",
        SHOW,
    );
    assert_eq!(b.eval("window.notReloaded"), Value::Bool(true), "no reload");
    b.eval("document.querySelector('#session-table tr[data-session=\"1\"]').click()");
    // Drawn once the session has ended (QUIT answered).
    b.wait_for(
        "(document.querySelector('#session-view svg') || {}).textContent?.includes('221')",
        SHOW,
    );
    let lanes = b.eval("[...document.querySelectorAll('#session-view [data-lane]')].map(l => l.dataset.lane).join(' ')");
    assert_eq!(lanes, "client proxy server");
    let changed: Vec<String> = serde_json::from_value(b.eval(
        "[...document.querySelectorAll('#session-view .msg.changed')]\
         .map(g => [...g.querySelectorAll('text')].map(t => t.textContent).join(' '))",
    ))
    .expect("strings");
    // The banner the client got: masked with asterisks, explained.
    assert!(
        changed
            .iter()
            .any(|t| t.contains("220 *****") && t.contains("the proxy changed the banner")),
        "{changed:#?}"
    );
    // EHLO: kept from the server and refused by the proxy itself.
    assert!(
        changed
            .iter()
            .any(|t| t.contains("EHLO kept from the server")),
        "{changed:#?}"
    );
    assert!(
        changed.iter().any(|t| t.contains("500 5.5.1")
            && t.contains("the proxy kept EHLO from the server and answered itself")),
        "{changed:#?}"
    );
    // The profile view, with a reply rule added at run time: its verbs,
    // codes and text, not only its name.
    proxy
        .add_reply_rule(
            "greylist",
            "{verb: RCPT, code: 250, reply: 451 4.7.1 try later}",
        )
        .expect("reply rule");
    b.eval("document.querySelector('nav button[data-tab=\"setup\"]').click()");
    b.wait_for(
        "document.querySelector('#setup-body').textContent.includes('pix-mailguard') && \
         document.querySelector('#setup-body').textContent.includes('greylist: RCPT 250 → 451 4.7.1 try later')",
        SHOW,
    );
}

#[test]
fn the_messages_view_shows_a_message_and_sandboxes_its_html() {
    let Some(chromium) = require(
        &CHROMIUM,
        "the_messages_view_shows_a_message_and_sandboxes_its_html",
    ) else {
        return;
    };
    let rt = runtime();
    let (server, control) = server(&rt, Scenario::default());
    let mut b = Browser::launch(chromium);
    open_ui(&mut b, control);
    rt.block_on(async {
        send(server.addr(), newsletter()).await;
        send(server.addr(), plain("Lunch on Friday")).await;
    });
    b.eval("document.querySelector('nav button[data-tab=\"messages\"]').click()");
    b.wait_for(
        "document.querySelectorAll('#message-table tbody tr').length === 2",
        SHOW,
    );
    // Search by subject, then by sender.
    // Each wait names what only that search shows: a count alone could be
    // the previous search's (and the answers may come back out of order;
    // the page shows only the newest).
    let search = |b: &mut Browser, field: &str, value: &str, expect: usize, shows: &str| {
        b.eval(&format!(
            "{{ const f = document.querySelector('#search'); f.reset(); f.elements['{field}'].value = '{value}'; f.requestSubmit() }}"
        ));
        b.wait_for(
            &format!(
                "document.querySelectorAll('#message-table tbody tr').length === {expect} && \
                 document.querySelector('#message-table tbody').textContent.includes('{shows}')"
            ),
            SHOW,
        );
    };
    search(&mut b, "subject", "launch", 1, "Launch plan");
    search(&mut b, "sender", "carol@", 1, "carol@");
    search(&mut b, "recipient", "nobody@", 0, "");
    search(&mut b, "subject", "", 2, "Lunch on Friday");

    b.eval("document.querySelector('#message-table tr[data-message=\"1\"]').click()");
    b.wait_for(
        "document.querySelector('#message-view iframe.html-part') !== null",
        SHOW,
    );
    assert_eq!(
        b.eval("document.querySelector('#message-view h2').textContent"),
        "Launch plan for Thursday"
    );
    // Sandboxed without scripts, under a policy that loads nothing.
    assert_eq!(
        b.eval("document.querySelector('iframe.html-part').getAttribute('sandbox')"),
        ""
    );
    let srcdoc = b.eval("document.querySelector('iframe.html-part').srcdoc");
    assert!(
        srcdoc
            .as_str()
            .is_some_and(|s| s.contains("default-src 'none'") && s.contains("<b>plan</b>")),
        "{srcdoc}"
    );
    b.wait_for(
        "document.querySelector('#message-view pre.raw').textContent.includes('Subject: Launch plan')",
        SHOW,
    );
    assert_ne!(b.eval("document.title"), "pwned", "the mail's script ran");
    let texts = b.eval("document.querySelector('#message-view').textContent");
    for want in [
        "The plan is attached.",
        "multipart/alternative",
        "download .eml",
        "bob@example.org",
    ] {
        assert!(
            texts.as_str().is_some_and(|t| t.contains(want)),
            "{want}: {texts}"
        );
    }
    assert!(
        !texts.as_str().unwrap_or_default().contains("[object"),
        "{texts}"
    );
}

/// The scenario view: the scenario, its rules, an armed one-shot fault, and
/// each expectation met or not with the report's text.
#[test]
fn the_setup_view_shows_rules_faults_and_expectations() {
    let Some(chromium) = require(
        &CHROMIUM,
        "the_setup_view_shows_rules_faults_and_expectations",
    ) else {
        return;
    };
    let rt = runtime();
    let (server, control) = server(&rt, Scenario::default());
    smtp_harness::Rule::verb("MAIL")
        .reply("250 2.1.0 fine")
        .expect(1)
        .mount(&server);
    smtp_harness::Rule::verb("VRFY")
        .reply("252 2.0.0 maybe")
        .expect(1)
        .mount(&server);
    rt.block_on(send(server.addr(), plain("counted")));
    // Armed after the session: it waits for the next RCPT.
    let (status, body) = rt.block_on(common::control_api::http(
        control,
        "POST",
        "/faults",
        r#"{"verb":"RCPT","reply":"451 4.3.0 try again later"}"#,
    ));
    assert_eq!(status, 201, "{body}");
    let mut b = Browser::launch(chromium);
    open_ui(&mut b, control);
    b.eval("document.querySelector('nav button[data-tab=\"setup\"]').click()");
    b.wait_for(
        "document.querySelectorAll('#expectations li').length === 2",
        SHOW,
    );
    let setup = b.eval("document.querySelector('#setup').innerText");
    let text = setup.as_str().unwrap_or_default();
    for want in [
        "Scenario",
        "Rules, in order",
        "Armed one-shot faults",
        "451 4.3.0 try again later",
        "UNMET",
        "Some are not met.",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    let met = b.eval(
        "[...document.querySelectorAll('#expectations li')].map(l => l.className).sort().join(' ')",
    );
    assert_eq!(met, "met unmet", "MAIL was sent, VRFY never: {text}");
    // The unmet one is the point here, not a failure at drop.
    server.reset();
}

/// The UI's answers carry a policy that loads nothing from elsewhere, and
/// the guard still refuses a page from another origin.
/// `proxy --config`: the root lists the named proxies, each link opens that
/// proxy's own UI, and a session through it appears there live.
#[test]
fn each_named_proxy_has_its_own_ui() {
    let Some(chromium) = require(&CHROMIUM, "each_named_proxy_has_its_own_ui") else {
        return;
    };
    let rt = runtime();
    let (server, _) = server(&rt, Scenario::bundled("exchange-2003").expect("bundled"));
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("proxies.yaml");
    let upstream = server.addr();
    std::fs::write(
        &config,
        format!(
            "proxies:\n  - {{name: plain, listen: 127.0.0.1:0, upstream: {upstream}}}\n  \
             - {{name: pix, listen: 127.0.0.1:0, upstream: {upstream}, profile: pix-mailguard}}\n"
        ),
    )
    .expect("config");
    let (launched, proxies) =
        common::Launched::proxies(&config, 2, &["--control", "127.0.0.1:0", "--quiet"]);
    let control = launched.control();
    let mut b = Browser::launch(chromium);
    b.open(&format!("http://{control}/"));
    b.wait_for("document.querySelectorAll('#proxies a').length === 2", SHOW);
    let links =
        b.eval("[...document.querySelectorAll('#proxies a')].map(a => a.textContent).join(' ')");
    assert_eq!(links, "plain pix");
    b.eval("document.querySelector('#proxies a[href=\"proxies/pix/\"]').click()");
    b.wait_for("document.querySelector('#live.on') !== null", SHOW);
    assert_eq!(b.eval("location.pathname"), "/proxies/pix/");
    b.wait_for(
        "document.querySelector('#mode').textContent === 'proxy pix'",
        SHOW,
    );
    b.eval("window.notReloaded = true");
    through_pix(proxies[1].1);
    b.wait_for(
        "(document.querySelector('#session-table tr[data-session=\"1\"]') || {}).textContent?.includes('HELO')",
        SHOW,
    );
    assert_eq!(b.eval("window.notReloaded"), Value::Bool(true), "no reload");
    // The session is pix's: plain's list stays empty.
    let (status, body) = rt.block_on(common::control_api::http(
        control,
        "GET",
        "/proxies/plain/sessions",
        "",
    ));
    assert_eq!(status, 200, "{body}");
    let listed: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(listed["sessions"], serde_json::json!([]), "{body}");
}

#[tokio::test]
async fn the_ui_is_served_under_a_content_security_policy() {
    let mut server = MockServer::start(Scenario::default())
        .await
        .expect("server");
    let control = server.start_control().await.expect("control");
    for path in ["/", "/ui/app.js", "/ui/app.css"] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: {control}\r\n\r\n");
        let (status, head, body) = raw(control, req.as_bytes()).await;
        assert_eq!(status, 200, "{path}: {head}");
        assert!(
            head.contains("Content-Security-Policy: default-src 'self'; script-src 'self'"),
            "{path}: {head}"
        );
        let body = String::from_utf8_lossy(&body);
        for remote in ["http://", "https://", "//fonts.", "@import"] {
            assert!(!body.contains(remote), "{path} loads {remote}");
        }
    }
    let req = format!(
        "GET / HTTP/1.1\r\nHost: {control}\r\nOrigin: http://evil.example\r\nSec-Fetch-Site: cross-site\r\n\r\n"
    );
    assert_eq!(raw(control, req.as_bytes()).await.0, 403);
    let req = format!("GET /sessions/99/diagram HTTP/1.1\r\nHost: {control}\r\n\r\n");
    assert_eq!(raw(control, req.as_bytes()).await.0, 404);
}

/// `make screenshots`: the pages as docs/ui/*.png (1280×800), from a live
/// proxy and server. Not part of the suite: run on purpose.
#[test]
#[ignore = "rewrites docs/ui/*.png; run with `make screenshots`"]
fn screenshots() {
    let chromium = require(&CHROMIUM, "screenshots").expect("chromium");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ui");
    std::fs::create_dir_all(&dir).expect("docs/ui");
    let rt = runtime();
    let (server, control) = server(&rt, Scenario::default());
    let mut b = Browser::launch(chromium);
    open_ui(&mut b, control);
    rt.block_on(async {
        send(server.addr(), newsletter()).await;
        send(server.addr(), plain("Lunch on Friday")).await;
    });
    b.wait_for(
        "document.querySelectorAll('#session-table tbody tr').length === 2",
        SHOW,
    );
    b.eval("document.querySelector('#session-table tr[data-session=\"1\"]').click()");
    b.wait_for(
        "document.querySelector('#session-view svg.seq') !== null",
        SHOW,
    );
    b.screenshot(&dir.join("sessions.png"));
    b.eval("document.querySelector('nav button[data-tab=\"messages\"]').click()");
    b.wait_for(
        "document.querySelectorAll('#message-table tbody tr').length === 2",
        SHOW,
    );
    b.eval("document.querySelector('#message-table tr[data-message=\"1\"]').click()");
    b.wait_for(
        "(document.querySelector('#message-view pre.raw') || {}).textContent?.length > 0",
        SHOW,
    );
    b.screenshot(&dir.join("messages.png"));

    let (_upstream, proxy, pcontrol) = rt.block_on(async {
        let upstream = MockServer::start(Scenario::bundled("exchange-2003").expect("scenario"))
            .await
            .expect("server");
        let profile = Profile::bundled("pix-mailguard").expect("profile");
        let mut proxy = MockProxy::start(upstream.addr(), profile)
            .await
            .expect("proxy");
        let control = proxy.start_control().await.expect("control");
        (upstream, proxy, control)
    });
    open_ui(&mut b, pcontrol);
    through_pix(proxy.addr());
    b.wait_for(
        "document.querySelector('#session-table tr[data-session=\"1\"]') !== null",
        SHOW,
    );
    b.eval("document.querySelector('#session-table tr[data-session=\"1\"]').click()");
    b.wait_for(
        "(document.querySelector('#session-view svg') || {}).textContent?.includes('221')",
        SHOW,
    );
    b.screenshot(&dir.join("proxy-session.png"));
}

/// `demo --serve`: the demo's sessions, then the UI's address (nothing
/// opened), and the proxy keeps serving: a session sent after it shows in
/// the UI's list. Ctrl-C (SIGINT) ends it.
#[tokio::test]
async fn demo_serve_prints_the_ui_and_keeps_the_proxy_running() {
    let mut demo = KillOnDrop(Some(
        common::Launched::command(&["demo", "--serve", "--color", "never"])
            .spawn()
            .expect("spawn"),
    ));
    let stdout = demo.child().stdout.take().expect("stdout");
    // Read on a thread with a deadline: a demo that never prints fails.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let mut ui = None;
        while let Some(Ok(line)) = lines.next() {
            if let Some(rest) = line.trim().strip_prefix("watch live: http://") {
                ui = rest.split('/').next().map(str::to_string);
            }
            if let Some(rest) = line.strip_prefix("send mail through the proxy at ") {
                let proxy = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let _ = tx.send((ui.take(), proxy));
                return;
            }
        }
    });
    let (ui, proxy) = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the demo printed its addresses");
    let ui: SocketAddr = ui.expect("the UI line").parse().expect("UI address");
    let sessions = |ui: SocketAddr| async move {
        let (status, body) = common::control_api::http(ui, "GET", "/sessions", "").await;
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).expect("JSON");
        v["sessions"].as_array().expect("sessions").len()
    };
    let before = sessions(ui).await;
    assert!(before >= 1, "the demo's own session is in the list");
    let (status, page) = common::control_api::http(ui, "GET", "/", "").await;
    assert!(status == 200 && page.contains("ui/app.js"), "{page}");

    let addr: SocketAddr = proxy.parse().expect("proxy address");
    tokio::task::spawn_blocking(move || through_pix(addr))
        .await
        .expect("session through the proxy");
    let deadline = std::time::Instant::now() + SHOW;
    while sessions(ui).await == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the new session never showed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sent = std::process::Command::new("kill")
        .args(["-INT", &demo.child().id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let mut child = demo.0.take().expect("the child");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(status.success(), "{status}");
}

/// A child process killed when a failed test unwinds past it.
struct KillOnDrop(Option<std::process::Child>);

impl KillOnDrop {
    fn child(&mut self) -> &mut std::process::Child {
        self.0.as_mut().expect("the child")
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `GET /sessions/{id}/diagram` of a fake server's session: `path`'s body.
async fn diagram(control: SocketAddr, id: u64) -> String {
    let req = format!("GET /sessions/{id}/diagram HTTP/1.1\r\nHost: {control}\r\n\r\n");
    let (status, head, body) = raw(control, req.as_bytes()).await;
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("Content-Type: text/html"), "{head}");
    String::from_utf8(body).expect("UTF-8")
}

/// A replayed session that strays from its capture: the step is marked in
/// the diagram, with what the captured client did.
#[tokio::test]
async fn the_diagram_marks_where_a_replay_diverged() {
    let capture = r#"
replay:
  sessions:
    - banner: ["220 mx.example.test ESMTP"]
      steps:
        - client: "EHLO captured.example"
          reply: ["250 mx.example.test"]
        - client: "QUIT"
          reply: ["221 2.0.0 Bye"]
"#;
    let mut server = MockServer::start(Scenario::from_yaml(capture).expect("scenario"))
        .await
        .expect("server");
    let control = server.start_control().await.expect("control");
    let mut c = common::RawClient::connect(server.addr()).await;
    c.reply().await;
    c.reply_to("EHLO other.example").await;
    c.reply_to("QUIT").await;
    server.wait_for_sessions(1).await.expect("session ended");
    let html = diagram(control, 1).await;
    assert!(html.contains(r#"class="msg diverged""#), "{html}");
    assert!(html.contains("diverged from captured step 1"), "{html}");
    assert!(html.contains("EHLO captured.example"), "{html}");
    assert!(html.contains("1 step(s)"), "{html}");
}

/// A session over STARTTLS (lettre, TLS required): the handshake is a step
/// of the diagram, and what followed it is drawn as any other command.
#[tokio::test]
async fn the_diagram_shows_the_tls_handshake() {
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    let mut server = MockServer::start(Scenario::bundled("exchange-2019").expect("scenario"))
        .await
        .expect("server");
    let control = server.start_control().await.expect("control");
    let pem = server.tls_certificate_pem().expect("certificate");
    let params = TlsParameters::builder("mail1.fabrikam.com".into())
        .add_root_certificate(Certificate::from_pem(pem.as_bytes()).expect("pem"))
        .build_rustls()
        .expect("tls parameters");
    let mail = Mail::builder()
        .from("alice@example.org".parse().expect("from"))
        .to("bob@fabrikam.com".parse().expect("to"))
        .subject("over tls")
        .body("hello".to_string())
        .expect("mail");
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.addr().port())
        .tls(Tls::Required(params))
        .build()
        .send(mail)
        .await
        .expect("sent over STARTTLS");
    server.wait_for_sessions(1).await.expect("session ended");
    let html = diagram(control, 1).await;
    assert!(html.contains("TLS started (TLSv1"), "{html}");
    let tls = html.find("TLS started").expect("the note");
    let starttls = html
        .find(r#"class="label">STARTTLS</text>"#)
        .expect("the command");
    let mail_from = html
        .find("MAIL FROM:&lt;alice@example.org&gt;")
        .expect("MAIL");
    assert!(starttls < tls && tls < mail_from, "in order: {html}");
}
