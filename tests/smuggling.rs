//! End of data as the scenario says, over real sockets: a smuggled
//! transaction after a non-standard end becomes a second message where the
//! scenario takes that end, stays text where it does not, and the
//! transcript marks the end and every bare newline.

mod common;

use common::RawClient;
use smtp_harness::{Leg, MockServer, Scenario};

const SMUGGLED: &[u8] = b"MAIL FROM:<admin@bank.example>\r\nRCPT TO:<v@fabrikam.com>\r\nDATA\r\n\
Subject: smuggled\r\n\r\nsmuggled\r\n.\r\n";

/// Open a transaction, send `text` + `end` + a smuggled transaction, then
/// QUIT; the reply codes after the 354, up to QUIT's.
async fn smuggle(server: &MockServer, text: &[u8], end: &[u8]) -> Vec<u16> {
    let mut c = RawClient::connect(server.addr()).await;
    assert_eq!(c.code().await, 220);
    for cmd in [
        "EHLO c.example",
        "MAIL FROM:<u@c.example>",
        "RCPT TO:<v@fabrikam.com>",
    ] {
        assert_eq!(c.cmd(cmd).await, 250, "{cmd}");
    }
    assert_eq!(c.cmd("DATA").await, 354);
    c.send(&[text, end, SMUGGLED, b"QUIT\r\n"].concat()).await;
    let mut codes = Vec::new();
    loop {
        let code = c.code().await;
        codes.push(code);
        if code == 221 {
            return codes;
        }
    }
}

fn start(scenario: Scenario) -> (tokio::runtime::Runtime, MockServer) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(MockServer::start(scenario)).expect("server");
    (rt, server)
}

#[test]
fn exchange_2019_takes_lf_dot_crlf_and_reads_a_second_message() {
    let (rt, server) = start(Scenario::bundled("exchange-2019").expect("bundled"));
    let codes = rt.block_on(smuggle(&server, b"Subject: a\r\n\r\nhello", b"\n.\r\n"));
    assert_eq!(codes, [250, 250, 250, 354, 250, 221]);
    let got = server.messages();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].end_of_data.as_deref(), Some("<LF>.<CRLF>"));
    assert!(got[0].ended_non_standard());
    assert_eq!(got[0].bare_newlines, 1);
    assert_eq!(got[1].mail_from, "admin@bank.example");
    assert!(!got[1].ended_non_standard());

    let t = rt.block_on(server.wait_for_sessions(1)).expect("ended");
    let ends = t.data_ends(Leg::Client);
    assert_eq!(ends.len(), 2);
    assert!(ends[0].non_standard() && !ends[1].non_standard());
    assert_eq!(ends[0].bare_newlines, [(19, "lf")]);
    let text = t.to_text();
    assert!(
        text.contains("bare LF seen, ended by <LF>.<CRLF> (non-standard), bare LF at 19>"),
        "{text}"
    );
    let json = t.to_json_lines();
    assert!(
        json.contains(
            r#""end_of_data":"<LF>.<CRLF>","bare_newlines":[{"at":19,"kind":"lf"}],"bare_count":1"#
        ),
        "{json}"
    );
}

#[test]
fn a_strict_server_keeps_the_smuggled_commands_as_text() {
    let (rt, server) = start(Scenario::from_yaml("{}").expect("scenario"));
    let codes = rt.block_on(smuggle(&server, b"Subject: a\r\n\r\nhello", b"\n.\r\n"));
    assert_eq!(codes, [250, 221], "one message");
    let got = server.messages();
    assert_eq!(got.len(), 1);
    assert!(!got[0].ended_non_standard());
    let text = got[0].text().expect("text");
    assert!(
        text.contains("hello\n\r\nMAIL FROM:<admin@bank.example>"),
        "{text:?}"
    );
    let t = rt.block_on(server.wait_for_sessions(1)).expect("ended");
    assert!(t.to_text().contains("bare LF at 19>"));
}

#[test]
fn the_receiver_takes_cr_dot_cr_and_marks_bare_crs() {
    let (rt, server) = start(Scenario::bundled("smtp-smuggling-receiver").expect("bundled"));
    let codes = rt.block_on(smuggle(&server, b"a\rb", b"\r.\r"));
    assert_eq!(codes, [250, 250, 250, 354, 250, 221]);
    let t = rt.block_on(server.wait_for_sessions(1)).expect("ended");
    let ends = t.data_ends(Leg::Client);
    assert_eq!(ends[0].end_of_data.as_deref(), Some("<CR>.<CR>"));
    assert_eq!(ends[0].bare_newlines, [(1, "cr"), (3, "cr")]);
}

#[test]
fn a_refused_bare_lf_is_answered_at_the_end_and_the_session_goes_on() {
    let scenario = Scenario::from_yaml(
        "hostname: mx.test\ndata: {end_of_data: postfix, bare_newline: {refuse: lf}}",
    );
    let (rt, server) = start(scenario.expect("scenario"));
    // `<LF>.<CRLF>` does not end a message that refuses bare LFs: the
    // smuggled commands are text, up to the standard end.
    let codes = rt.block_on(smuggle(&server, b"hello", b"\n.\r\n"));
    assert_eq!(codes, [550, 221]);
    assert!(server.messages().is_empty());
    let t = rt.block_on(server.wait_for_sessions(1)).expect("ended");
    let replies = t.replies_on(Leg::Client);
    assert!(
        replies
            .iter()
            .any(|r| r.lines == ["550 5.5.2 mx.test Error: bare <LF> received"]),
        "{replies:?}"
    );
    let ends = t.data_ends(Leg::Client);
    assert!(ends[0].refused() && !ends[0].non_standard(), "{ends:?}");
}

#[test]
fn the_proxy_relays_a_non_standard_end_as_text() {
    let (rt, upstream) = start(Scenario::from_yaml("{}").expect("scenario"));
    let profile = smtp_harness::Profile::bundled("transparent").expect("profile");
    let proxy = rt
        .block_on(smtp_harness::MockProxy::start(upstream.addr(), profile))
        .expect("proxy");
    let mut c = rt.block_on(RawClient::connect(proxy.addr()));
    let codes = rt.block_on(async {
        assert_eq!(c.code().await, 220);
        for cmd in [
            "EHLO c.example",
            "MAIL FROM:<u@c.example>",
            "RCPT TO:<v@fabrikam.com>",
        ] {
            assert_eq!(c.cmd(cmd).await, 250, "{cmd}");
        }
        assert_eq!(c.cmd("DATA").await, 354);
        c.send(&[&b"hello\n.\r\n"[..], SMUGGLED, b"QUIT\r\n"].concat())
            .await;
        vec![c.code().await, c.code().await]
    });
    assert_eq!(codes, [250, 221]);
    let got = upstream.messages();
    assert_eq!(got.len(), 1);
    // Byte for byte as the client sent it: the upstream unstuffed the dot.
    let text = got[0].text().expect("text");
    assert!(
        text.starts_with("hello\n\r\nMAIL FROM:<admin@bank.example>"),
        "{text:?}"
    );
    assert_eq!(got[0].bare_newlines, 1);
}

#[test]
fn a_command_ending_in_a_bare_lf_is_refused_and_the_connection_closed() {
    let scenario = Scenario::from_yaml("hostname: mx.test\ndata: {bare_newline: {refuse: lf}}");
    let (rt, server) = start(scenario.expect("scenario"));
    let (reply, closed) = rt.block_on(async {
        let mut c = RawClient::connect(server.addr()).await;
        assert_eq!(c.code().await, 220);
        assert_eq!(c.cmd("EHLO c.example").await, 250);
        c.send(b"NOOP\n").await;
        (c.reply().await, c.closed().await)
    });
    assert_eq!(reply, ["550 5.5.2 mx.test Error: bare <LF> received"]);
    assert!(closed);
    // Without the key, the same line is a NOOP.
    let (rt, server) = start(Scenario::from_yaml("{}").expect("scenario"));
    let code = rt.block_on(async {
        let mut c = RawClient::connect(server.addr()).await;
        assert_eq!(c.code().await, 220);
        c.send(b"NOOP\n").await;
        c.code().await
    });
    assert_eq!(code, 250);
}
