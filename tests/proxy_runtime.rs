//! A running proxy changed one fault or reply rule at a time, as a
//! toxiproxy user would: over the control API and through `MockProxy`,
//! over real sockets. New sessions see the change, running ones keep the
//! profile they started with, removing restores plain relaying.

mod common;

use common::RawClient;
use common::control_api::http;
use smtp_harness::{MockProxy, MockServer, Profile, Scenario};
use std::time::{Duration, Instant};

async fn pair() -> (MockServer, MockProxy) {
    let server = MockServer::start(Scenario::default())
        .await
        .expect("server");
    let proxy = MockProxy::start(server.addr(), Profile::bundled("transparent").expect("p"))
        .await
        .expect("proxy");
    (server, proxy)
}

/// A session's events as JSON text (its notes say which profile and
/// faults it got).
fn notes(s: &smtp_harness::SessionRecord) -> String {
    serde_json::to_string(&s.events).expect("events serialize")
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_fault_added_over_http_hits_new_sessions_until_removed() {
    let (_server, mut proxy) = pair().await;
    let control = proxy.start_control().await.expect("control");
    // Opened before the change: keeps the profile it started with.
    let mut before = RawClient::connect(proxy.addr()).await;
    assert_eq!(before.code().await, 220);

    let (status, body) = http(
        control,
        "POST",
        "/profile/faults?name=refuse",
        r#"{"reply_then_close": "421 4.3.2 not now", "on": "banner"}"#,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(json(&body)["added"], "refuse");

    let mut hit = RawClient::connect(proxy.addr()).await;
    let banner = hit.reply().await;
    assert_eq!(
        banner,
        ["421 4.3.2 not now"],
        "a new session gets the fault"
    );
    assert!(hit.closed().await, "and is closed");
    assert_eq!(before.cmd("EHLO client.example").await, 250);
    assert_eq!(before.cmd("QUIT").await, 221);

    let (status, body) = http(control, "GET", "/profile/faults", "").await;
    assert_eq!(status, 200, "{body}");
    let listed = json(&body);
    assert_eq!(listed["faults"][0]["name"], "refuse", "{body}");
    assert_eq!(listed["faults"][0]["kind"], "reply_then_close", "{body}");
    let (_, body) = http(control, "GET", "/profile", "").await;
    assert_eq!(json(&body)["faults"][0]["name"], "refuse", "{body}");

    let (status, body) = http(control, "DELETE", "/profile/faults/refuse", "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["faults"], serde_json::json!([]), "{body}");
    let mut after = RawClient::connect(proxy.addr()).await;
    assert_eq!(after.code().await, 220, "plain relaying again");
    assert_eq!(after.cmd("QUIT").await, 221);

    let (status, body) = http(control, "DELETE", "/profile/faults/refuse", "").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no fault named \\\"refuse\\\""), "{body}");
    proxy.wait_for_sessions(3).await.expect("sessions");
    assert_eq!(
        proxy.transcript().control_actions(),
        ["fault-added", "fault-removed"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latency_fault_added_over_http_delays_new_sessions() {
    let (_server, mut proxy) = pair().await;
    let control = proxy.start_control().await.expect("control");
    let (status, body) = http(control, "POST", "/profile/faults", "latency: 400ms").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(json(&body)["added"], "latency", "named by its kind");
    let start = Instant::now();
    let mut slow = RawClient::connect(proxy.addr()).await;
    assert_eq!(slow.code().await, 220);
    assert!(
        start.elapsed() >= Duration::from_millis(400),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(slow.cmd("QUIT").await, 221);
    // A second unnamed latency fault would have the same name.
    let (status, body) = http(control, "POST", "/profile/faults", "latency: 1ms").await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = http(control, "DELETE", "/profile/faults/latency", "").await;
    assert_eq!(status, 200, "{body}");
    let mut plain = RawClient::connect(proxy.addr()).await;
    assert_eq!(plain.code().await, 220);
    assert_eq!(plain.cmd("QUIT").await, 221);
    let t = proxy.wait_for_sessions(2).await.expect("sessions");
    assert!(notes(&t.sessions[0]).contains("fault latency"), "{t:?}");
    assert!(!notes(&t.sessions[1]).contains("fault latency"), "{t:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_entries_are_refused_with_their_location() {
    let (_server, mut proxy) = pair().await;
    let control = proxy.start_control().await.expect("control");
    let cases = [
        (
            "/profile/faults",
            "latency: 1s\nlatncy: 2s",
            400,
            "<inline>:2:1: unknown field `latncy`",
        ),
        ("/profile/faults", "latency: [1s", 400, "<inline>:1:"),
        (
            "/profile/faults",
            "latency: 1s\nslice: 10",
            422,
            "<request>:1:1: a fault takes exactly one of",
        ),
        ("/profile/faults", "tarpit: 1s", 422, "tarpit"),
        (
            "/profile/faults?name=a",
            "{name: b, latency: 1s}",
            400,
            "says `name: b`",
        ),
        (
            "/profile/replies",
            "code: 2500\nreply: 250 ok",
            422,
            "<request>:1:7: \\\"2500\\\" is not a reply code",
        ),
    ];
    for (path, body, want, says) in cases {
        let (status, answer) = http(control, "POST", path, body).await;
        assert_eq!(status, want, "{body:?}: {answer}");
        assert!(answer.contains(says), "{body:?}: {answer}");
    }
    let (_, body) = http(control, "GET", "/profile", "").await;
    let profile = json(&body);
    assert_eq!(profile["faults"], serde_json::json!([]), "nothing changed");
    assert_eq!(profile["replies"], serde_json::json!([]), "nothing changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_rule_added_over_http_rewrites_new_sessions() {
    let (_server, mut proxy) = pair().await;
    let control = proxy.start_control().await.expect("control");
    let (status, body) = http(
        control,
        "POST",
        "/profile/replies",
        "name: hide\nverb: BANNER\nreply: 220 mail.example ESMTP",
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let mut c = RawClient::connect(proxy.addr()).await;
    assert_eq!(c.reply().await, ["220 mail.example ESMTP"]);
    assert_eq!(c.cmd("QUIT").await, 221);
    let (_, body) = http(control, "GET", "/profile/replies", "").await;
    assert_eq!(json(&body)["replies"][0]["name"], "hide", "{body}");
    let (status, body) = http(control, "DELETE", "/profile/replies/hide", "").await;
    assert_eq!(status, 200, "{body}");
    let mut c = RawClient::connect(proxy.addr()).await;
    let banner = c.reply().await;
    assert_ne!(
        banner,
        ["220 mail.example ESMTP"],
        "the upstream's own again"
    );
    assert!(banner[0].starts_with("220 "), "{banner:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_proxy_adds_lists_and_removes_faults() {
    let (_server, proxy) = pair().await;
    proxy
        .add_fault("cut", "close_after: 5\ndirection: downstream")
        .expect("added");
    assert_eq!(proxy.faults(), ["cut"]);
    let mut c = RawClient::connect(proxy.addr()).await;
    let got = c.until_eof().await;
    assert_eq!(got.len(), 5, "{:?}", String::from_utf8_lossy(&got));
    assert!(
        proxy.add_fault("cut", "latency: 1ms").is_err(),
        "name taken"
    );
    proxy.remove_fault("cut").expect("removed");
    assert!(proxy.faults().is_empty());
    let mut c = RawClient::connect(proxy.addr()).await;
    assert_eq!(c.code().await, 220);
    assert_eq!(c.cmd("QUIT").await, 221);
    let err = proxy
        .add_fault("slow", "latency: 1s\nprobability: 2")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("<request>:2:14: `probability`"), "{err}");
    let err = proxy.remove_fault("nope").unwrap_err().to_string();
    assert!(err.contains("no fault named \"nope\""), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_keep_the_names_of_the_profiles_own_entries() {
    let server = MockServer::start(Scenario::default())
        .await
        .expect("server");
    let profile = Profile::from_yaml(
        "name: mine\nreplies:\n  - {code: 550, reply: 450 4.7.1 later}\n  - {code: 554, reply: 450 4.7.1 later}\n",
    )
    .expect("profile");
    let proxy = MockProxy::start(server.addr(), profile)
        .await
        .expect("proxy");
    assert_eq!(proxy.reply_rules(), ["reply-rule-1", "reply-rule-2"]);
    proxy.remove_reply_rule("reply-rule-1").expect("removed");
    proxy
        .add_reply_rule("first", "{code: 221, reply: 221 bye}")
        .expect("added");
    assert_eq!(proxy.reply_rules(), ["first", "reply-rule-2"]);
    let mut c = RawClient::connect(proxy.addr()).await;
    assert_eq!(c.code().await, 220);
    assert_eq!(c.reply_to("QUIT").await, ["221 bye"]);
    let t = proxy.wait_for_sessions(1).await.expect("session");
    assert!(notes(&t.sessions[0]).contains("profile mine"), "{t:?}");
}

/// The example of docs/proxy.md ("Changing a running proxy"), as written.
#[tokio::test]
async fn the_firewall_starts_cutting() -> Result<(), Box<dyn std::error::Error>> {
    let server = MockServer::start(Scenario::default()).await?;
    let proxy = MockProxy::start(server.addr(), Profile::bundled("transparent")?).await?;
    // Sessions from now on lose the reply to the final dot.
    proxy.add_fault(
        "lost-dot",
        "{reply_then_close: 421 4.4.2 timed out, on: '.'}",
    )?;
    proxy.add_reply_rule(
        "greylist",
        "{verb: RCPT, code: 250, reply: 451 4.7.1 later}",
    )?;
    assert_eq!(proxy.faults(), ["lost-dot"]);
    // ... the client under test sends ...
    proxy.remove_fault("lost-dot")?; // plain relaying again
    proxy.remove_reply_rule("greylist")?;
    Ok(())
}
