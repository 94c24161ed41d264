//! Credentials never leave the process: AUTH arguments and SASL responses,
//! however long and however framed, are redacted in the JSON Lines
//! transcript, the live view, the control API, the proxy's transcript and
//! `proxy --record`; a line error in an AUTH exchange ends it, so the next
//! command is read as a command; malformed PLAIN messages are refused.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::control_api::raw;
use common::tools::python3;
use common::{Launched, RawClient};
use smtp_harness::{MockProxy, MockServer, Profile, Scenario};
use std::net::SocketAddr;
use std::path::Path;
use tokio::io::AsyncWriteExt;

const PASSWORD: &str = "S3cretPassw0rd";

/// Pieces of every credential the flows send: the base64 starts of
/// `\0alice\0S3cretPassw0rd…` and `S3cretPassw0rd…`, and the password.
const FRAGMENTS: [&str; 3] = ["AGFsaWNlAFMzY3Jl", "UzNjcmV0UGFzc3cw", PASSWORD];

/// A password long enough to make any line carrying it overlong: an AUTH
/// command (> 512 octets) and, in base64, a SASL response (> 12288).
fn long_password() -> String {
    PASSWORD.repeat(700)
}

fn scenario_yaml() -> String {
    format!("auth:\n  users: {{alice: {}}}\n", long_password())
}

fn assert_no_secret(what: &str, text: &str) {
    for f in FRAGMENTS {
        assert!(!text.contains(f), "{what} holds {f:?}:\n{text}");
    }
}

fn b64(text: &str) -> String {
    B64.encode(text)
}

/// The abuse, over one connection. Returns every reply that differs from
/// what a correct server says, so that a test checks the transcripts first
/// (a leak is the worse failure) and the replies after.
async fn auth_abuse(addr: SocketAddr) -> Vec<String> {
    let mut wrong = Vec::new();
    let mut want = |what: &str, reply: Vec<String>, prefix: &str| {
        if !reply[0].starts_with(prefix) {
            wrong.push(format!("{what}: want {prefix}, got {reply:?}"));
        }
    };
    let mut c = RawClient::connect(addr).await;
    want("banner", c.reply().await, "220");
    want("EHLO", c.reply_to("EHLO x").await, "250");

    // An overlong AUTH line: its initial response is a credential.
    let plain = b64(&format!("\0alice\0{}", long_password()));
    let reply = c.reply_to(&format!("AUTH PLAIN {plain}")).await;
    want("overlong AUTH PLAIN", reply, "500 5.5.6");

    // An overlong response at the password prompt ends the exchange: the
    // next MAIL is a command again, not a credential.
    want("AUTH LOGIN", c.reply_to("AUTH LOGIN").await, "334");
    want("user", c.reply_to(&b64("alice")).await, "334");
    let reply = c.reply_to(&b64(&long_password())).await;
    want("overlong password", reply, "500 5.5.6");
    let reply = c.reply_to("MAIL FROM:<a@example.org>").await;
    want("MAIL after the failed exchange", reply, "250");
    want("RSET", c.reply_to("RSET").await, "250");

    // A SASL response over a command line's 512 octets but within RFC
    // 4954's 12288 is read as a response (a wrong password here).
    want("AUTH LOGIN", c.reply_to("AUTH LOGIN").await, "334");
    want("user", c.reply_to(&b64("alice")).await, "334");
    let reply = c.reply_to(&b64(&PASSWORD.repeat(600))).await;
    want("an 11,200-octet response", reply, "535");
    want("NOOP", c.reply_to("NOOP").await, "250");

    // Odd forms of the AUTH line still carry a credential.
    let short = b64(&format!("\0alice\0{PASSWORD}"));
    want(
        "AUTH<tab>",
        c.reply_to(&format!("AUTH\tPLAIN {short}")).await,
        "500",
    );
    let reply = c.reply_to(&format!("auth plain {short} extra")).await;
    want("AUTH with 3 arguments", reply, "501");

    // A response split across writes, ended by a bare LF.
    want("auth plain", c.reply_to("auth plain").await, "334");
    let (a, b) = short.split_at(9);
    c.send(a.as_bytes()).await;
    c.writer.flush().await.expect("flush");
    c.send(format!("{b}\n").as_bytes()).await;
    want("split response", c.reply().await, "535");

    // An exchange pipelined between commands, in one write.
    let batch = format!(
        "NOOP\r\nAUTH LOGIN\r\n{}\r\n{}\r\nNOOP\r\n",
        b64("alice"),
        b64(PASSWORD)
    );
    c.send(batch.as_bytes()).await;
    for code in ["250", "334", "334", "535", "250"] {
        want("pipelined", c.reply().await, code);
    }

    // A credential the connection's end cuts short.
    c.send(format!("AUTH PLAIN {short}").as_bytes()).await;
    c.writer.shutdown().await.expect("shutdown");
    c.until_eof().await;
    wrong
}

/// `GET path` from the control API: the status and the whole response,
/// head and (de-chunked) body.
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let (status, head, body) = raw(addr, req.as_bytes()).await;
    (
        status,
        format!("{head}\r\n\r\n{}", String::from_utf8_lossy(&body)),
    )
}

fn transcript_text(t: &smtp_harness::transcript::Transcript) -> String {
    format!(
        "{}\n{}",
        t.to_text(),
        serde_json::to_string(t).expect("transcript as JSON")
    )
}

#[tokio::test]
async fn mock_server_and_control_api_never_show_a_credential() {
    let scenario = Scenario::from_yaml(&scenario_yaml()).expect("scenario");
    let mut server = MockServer::start(scenario).await.expect("server");
    let control = server.start_control().await.expect("control API");
    let wrong = auth_abuse(server.addr()).await;
    let t = server.wait_for_sessions(1).await.expect("session ended");
    let text = transcript_text(&t);
    assert_no_secret("the MockServer transcript", &text);
    assert!(
        text.contains("AUTH PLAIN <redacted>") || text.contains("AUTH PLAIN cmVkYWN0ZWQ="),
        "{text}"
    );
    assert!(text.contains("<redacted>"), "{text}");
    let (status, body) = http_get(control, "/sessions/1").await;
    assert_eq!(status, 200, "{body}");
    assert_no_secret("GET /sessions/1", &body);
    let (status, body) = http_get(control, "/sessions/1?format=text").await;
    assert_eq!(status, 200, "{body}");
    assert_no_secret("GET /sessions/1?format=text", &body);
    // The web UI's diagram shows the AUTH steps, redacted.
    let (status, body) = http_get(control, "/sessions/1/diagram").await;
    assert_eq!(status, 200, "{body}");
    assert_no_secret("GET /sessions/1/diagram", &body);
    assert!(body.contains("AUTH PLAIN &lt;redacted&gt;"), "{body}");
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// The auth scenario served behind a transparent proxy.
async fn behind_proxy() -> (MockServer, MockProxy) {
    let scenario = Scenario::from_yaml(&scenario_yaml()).expect("scenario");
    let server = MockServer::start(scenario).await.expect("server");
    let proxy = MockProxy::start(server.addr(), Profile::bundled("transparent").expect("p"))
        .await
        .expect("proxy");
    (server, proxy)
}

/// A client at `addr` past the banner and EHLO.
async fn greeted(addr: SocketAddr) -> RawClient {
    let mut c = RawClient::connect(addr).await;
    assert_eq!(c.code().await, 220);
    c.send(b"EHLO x\r\n").await;
    c.reply().await;
    c
}

#[tokio::test]
async fn the_proxy_never_shows_a_credential_on_either_leg() {
    let (server, mut proxy) = behind_proxy().await;
    let control = proxy.start_control().await.expect("control API");
    auth_abuse(proxy.addr()).await;
    let t = proxy
        .wait_for_sessions(1)
        .await
        .expect("proxy session ended");
    assert_no_secret("the proxy transcript", &transcript_text(&t));
    // The web UI's diagram of both legs.
    let (status, body) = http_get(control, "/sessions/1/diagram").await;
    assert_eq!(status, 200, "{body}");
    assert_no_secret("GET /sessions/1/diagram (proxy)", &body);
    assert!(body.contains("&lt;redacted&gt;"), "{body}");
    let t = server
        .wait_for_sessions(1)
        .await
        .expect("server session ended");
    assert_no_secret("the upstream transcript", &transcript_text(&t));
}

/// A SASL response over the proxy's own limit is not relayed; the exchange
/// is cancelled upstream, so the client's next MAIL is a command there too.
#[tokio::test]
async fn a_response_too_long_for_the_proxy_cancels_the_exchange_upstream() {
    let (_server, proxy) = behind_proxy().await;
    let mut c = greeted(proxy.addr()).await;
    assert_eq!(c.cmd("AUTH LOGIN").await, 334);
    assert_eq!(c.cmd(&b64("alice")).await, 334);
    let huge = b64(&PASSWORD.repeat(1500));
    let reply = c.reply_to(&huge).await;
    assert!(reply[0].starts_with("501"), "{reply:?}");
    assert_eq!(c.cmd("MAIL FROM:<a@example.org>").await, 250);
    assert_eq!(c.cmd("QUIT").await, 221);
    let t = proxy
        .wait_for_sessions(1)
        .await
        .expect("proxy session ended");
    assert_no_secret("the proxy transcript", &transcript_text(&t));
}

/// Python's smtplib, a real client, with PLAIN messages RFC 4616 forbids.
#[test]
fn smtplib_plain_with_extra_fields_is_refused() {
    let yaml = "auth:\n  users: {alice: wonderland}\n";
    let server = MockServer::start_blocking(Scenario::from_yaml(yaml).expect("s")).expect("server");
    let script = r#"
import smtplib, sys
for message, initial in [("\0alice\0wonderland", True),
                         ("\0alice\0wonderland\0extra", True),
                         ("\0alice\0wonderland\0extra", False),
                         ("\0alice\0wonderland\0", True),
                         ("\0alice\0", True)]:
    s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
    s.ehlo("x")
    try:
        code, _ = s.auth("PLAIN", lambda challenge=None: message, initial_response_ok=initial)
    except smtplib.SMTPAuthenticationError as e:
        code = e.smtp_code
    print(code)
    s.quit()
"#;
    let codes = python3(script, &[server.addr().port().to_string()])
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(codes, "235 501 501 501 501");
}

/// SIGTERM, a clean exit, and everything it wrote on stderr (the live view).
fn stop(launched: &mut Launched) -> String {
    let status = launched.stop("TERM");
    assert!(status.success(), "{status:?}");
    launched.stderr()
}

fn write_scenario(dir: &Path) -> String {
    let path = dir.join("auth.yaml");
    std::fs::write(&path, scenario_yaml()).expect("write scenario");
    path.to_str().expect("utf-8 path").to_string()
}

#[tokio::test]
async fn serve_keeps_credentials_out_of_the_jsonl_file_and_the_live_view() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = write_scenario(dir.path());
    let jsonl = dir.path().join("t.jsonl");
    let mut served = Launched::start(&[
        "serve",
        &scenario,
        "--listen",
        "127.0.0.1:0",
        "--color",
        "never",
        "--transcript",
        jsonl.to_str().expect("utf-8 path"),
    ]);
    let wrong = auth_abuse(served.smtp()).await;
    let live = stop(&mut served);
    assert_no_secret("the live view", &live);
    assert!(live.contains("AUTH PLAIN <redacted>"), "{live}");
    let file = std::fs::read_to_string(&jsonl).expect("transcript file");
    assert_no_secret("the JSON Lines transcript", &file);
    assert!(file.contains("<redacted>"), "{file}");
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// smtplib logs in through `proxy --record` with a password too long for
/// one line; the recording and the proxy's live view hold no credential,
/// and after the failed exchange the client's MAIL is a command.
#[test]
fn proxy_record_keeps_credentials_out_of_the_recording() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = write_scenario(dir.path());
    let recorded = dir.path().join("recorded.yaml");
    let mut upstream = Launched::start(&["serve", &scenario, "--listen", "127.0.0.1:0", "--quiet"]);
    let mut proxy = Launched::start(&[
        "proxy",
        "--upstream",
        &upstream.addr,
        "--profile",
        "transparent",
        "--listen",
        "127.0.0.1:0",
        "--color",
        "never",
        "--record",
        recorded.to_str().expect("utf-8 path"),
    ]);
    let script = r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s.ehlo("x")
s.user, s.password = "alice", sys.argv[2]
for mech, initial in [("PLAIN", True), ("LOGIN", False)]:
    try:
        code, _ = s.auth(mech, getattr(s, "auth_" + mech.lower()), initial_response_ok=initial)
    except smtplib.SMTPAuthenticationError as e:
        code = e.smtp_code
    print(mech, code)
print("MAIL", s.mail("a@example.org")[0])
s.quit()
"#;
    let stdout = python3(script, &[proxy.smtp().port().to_string(), long_password()]);
    let live = stop(&mut proxy);
    stop(&mut upstream);
    assert_no_secret("the proxy's live view", &live);
    let text = std::fs::read_to_string(&recorded).expect("recording");
    assert_no_secret("the recording", &text);
    assert!(
        text.contains("AUTH PLAIN <redacted>") || text.contains("AUTH PLAIN cmVkYWN0ZWQ="),
        "{text}"
    );
    assert_eq!(
        stdout.split_whitespace().collect::<Vec<_>>(),
        ["PLAIN", "500", "LOGIN", "500", "MAIL", "250"],
        "{stdout}"
    );
}

/// A capture taken from a transcript or `import --redact` holds credentials
/// redacted. A replay of it matches the client's real credentials against
/// them, records the client's exchange redacted (the replay, not the
/// built-in AUTH, answered the 334), and a divergence shows neither the
/// client's credential nor the captured one.
#[tokio::test]
async fn a_replay_matches_redacted_captures_and_records_no_credential() {
    let yaml = r#"
replay:
  sessions:
    - banner: ["220 captured"]
      steps:
        - client: "EHLO x"
          reply: ["250 captured"]
        - client: "AUTH LOGIN"
          reply: ["334 VXNlcm5hbWU6"]
        - client: "<redacted>"
          reply: ["334 UGFzc3dvcmQ6"]
        - client: "<redacted>"
          reply: ["235 2.7.0 captured"]
        - client: "AUTH PLAIN cmVkYWN0ZWQ="
          reply: ["503 5.5.1 captured"]
        - client: "AUTH PLAIN AGFsaWNlAFMzY3JldFBhc3N3MHJk"
          reply: ["503 5.5.1 captured"]
        - client: "QUIT"
          reply: ["221 captured"]
      end: server_closed
"#;
    let server = MockServer::start(Scenario::from_yaml(yaml).expect("scenario"))
        .await
        .expect("server");
    let mut c = RawClient::connect(server.addr()).await;
    let short = b64(&format!("\0alice\0{PASSWORD}"));
    let mut codes = vec![c.code().await];
    for line in [
        "EHLO x".to_string(),
        "AUTH LOGIN".to_string(),
        b64("alice"),
        b64(PASSWORD),
        format!("AUTH PLAIN {short}"),
        // Diverges: the captured client sent its own credential here.
        "NOOP".to_string(),
    ] {
        codes.push(c.cmd(&line).await);
    }
    c.cmd("QUIT").await;
    let t = server.wait_for_sessions(1).await.expect("session ended");
    let text = transcript_text(&t);
    assert_no_secret("the replay's transcript", &text);
    let divergences = format!("{:?}", server.divergences());
    assert_no_secret("the divergences", &divergences);
    let first = server.divergences().first().cloned().expect("a divergence");
    assert_eq!(
        (
            first.1.step,
            first.1.expected.as_str(),
            first.1.got.as_str()
        ),
        (6, "AUTH PLAIN <redacted>", "NOOP"),
        "{divergences}"
    );
    assert_eq!(codes[..6], [220, 250, 334, 334, 235, 503]);
}

/// Commands a client pipelines behind an AUTH with its initial response are
/// still commands to the proxy (a DATA among them opens the message).
#[tokio::test]
async fn the_proxy_reads_commands_pipelined_behind_auth_as_commands() {
    let (server, proxy) = behind_proxy().await;
    let mut c = greeted(proxy.addr()).await;
    let short = b64(&format!("\0alice\0{PASSWORD}"));
    let batch = format!(
        "AUTH PLAIN {short}\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"
    );
    c.send(batch.as_bytes()).await;
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(c.code().await);
    }
    assert_eq!(codes, [535, 250, 250, 354]);
    assert_eq!(c.cmd("Subject: x\r\n\r\nhi\r\n.").await, 250);
    assert_eq!(c.cmd("QUIT").await, 221);
    assert_eq!(server.messages().len(), 1);
    let t = proxy
        .wait_for_sessions(1)
        .await
        .expect("proxy session ended");
    let text = transcript_text(&t);
    assert_no_secret("the proxy transcript", &text);
    assert!(text.contains("MAIL FROM:<a@example.org>"), "{text}");
}
