//! The fake server over real TCP: protocol behaviour, bundled scenarios,
//! transcripts and messages.

mod common;

use common::RawClient;
use regex::Regex;
use rstest::rstest;
use smtp_harness::{Closer, Leg, MockServer, Rule, Scenario};
use std::time::Duration;

async fn server(name: &str) -> MockServer {
    MockServer::start(Scenario::bundled(name).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn accepts_a_message_and_records_it() {
    let server = server("postfix-default").await;
    let mut c = RawClient::connect(server.addr()).await;
    assert_eq!(c.reply().await, ["220 mail.example.com ESMTP Postfix"]);
    let ehlo = {
        c.send(b"EHLO client.example\r\n").await;
        c.reply().await
    };
    assert_eq!(ehlo[0], "250-mail.example.com");
    assert!(ehlo.contains(&"250-SIZE 10240000".to_string()), "{ehlo:?}");
    assert_eq!(c.cmd("MAIL FROM:<alice@example.org>").await, 250);
    assert_eq!(c.cmd("RCPT TO:<bob@example.com>").await, 250);
    assert_eq!(c.cmd("RCPT TO:<carol@example.com>").await, 250);
    assert_eq!(c.cmd("DATA").await, 354);
    c.send(b"Subject: hello\r\n\r\n..starts with a dot\r\nbye\r\n.\r\n")
        .await;
    let queued = c.reply().await;
    assert!(
        queued[0].starts_with("250 2.0.0 Ok: queued as "),
        "{queued:?}"
    );
    assert_eq!(c.cmd("QUIT").await, 221);
    assert!(c.closed().await);

    let t = server.wait_for_sessions(1).await.unwrap();
    let msgs = server.messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        &msgs[0].bytes().unwrap()[..],
        b"Subject: hello\r\n\r\n.starts with a dot\r\nbye\r\n"
    );
    assert_eq!(msgs[0].rcpt_to(), ["bob@example.com", "carol@example.com"]);
    assert_eq!(msgs[0].helo.as_deref(), Some("client.example"));
    assert!(queued[0].ends_with(&msgs[0].queue_id));
    assert!(t.client_sent("EHLO"));
    assert!(t.client_sent("mail from:<alice@"));
    assert!(!t.client_sent("VRFY"));
    assert_eq!(t.sessions[0].closed_by(), Some(Closer::Server));
    assert!(!t.sessions[0].aborted);
    let events = &t.sessions[0].events;
    assert!(
        events.windows(2).all(|w| w[0].at_us <= w[1].at_us),
        "timestamps are monotonic"
    );
    assert!(t.sessions[0].peer().is_some(), "it starts with its connect");
}

#[tokio::test]
async fn pipelined_batch_is_answered_in_order() {
    let server = server("postfix-default").await;
    let mut c = RawClient::connect(server.addr()).await;
    c.reply().await;
    c.cmd("EHLO x").await;
    c.send(b"MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nRCPT TO:<>\r\nRCPT TO:<g@h.i>\r\nDATA\r\n")
        .await;
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(c.code().await);
    }
    assert_eq!(codes, [250, 250, 501, 250, 354]);
    c.send(b"x\r\n.\r\nQUIT\r\n").await;
    assert_eq!(c.code().await, 250);
    assert_eq!(c.code().await, 221);
    assert_eq!(server.messages()[0].rcpt_to(), ["d@e.f", "g@h.i"]);
}

#[tokio::test]
async fn five_thousand_pipelined_commands() {
    let server = server("postfix-default").await;
    let mut c = RawClient::connect(server.addr()).await;
    c.reply().await;
    let batch = "NOOP\r\n".repeat(5000);
    let (mut reader, mut writer) = (c.reader, c.writer);
    // Write and read at once: the server must not deadlock on a client that
    // reads its replies only while still sending.
    let send = tokio::spawn(async move {
        tokio::io::AsyncWriteExt::write_all(&mut writer, batch.as_bytes())
            .await
            .unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut writer, b"QUIT\r\n")
            .await
            .unwrap();
        writer
    });
    let mut all = String::new();
    tokio::time::timeout(
        Duration::from_secs(20),
        tokio::io::AsyncReadExt::read_to_string(&mut reader, &mut all),
    )
    .await
    .expect("replies within 20s")
    .unwrap();
    let _writer = send.await.unwrap();
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), 5001);
    assert!(lines[..5000].iter().all(|l| *l == "250 2.0.0 Ok"));
    assert_eq!(lines[5000], "221 2.0.0 Bye");
}

#[tokio::test]
async fn sessions_run_concurrently_and_are_counted() {
    let server = server("postfix-default").await;
    let mut clients = Vec::new();
    for _ in 0..20 {
        let mut c = RawClient::connect(server.addr()).await;
        assert_eq!(c.code().await, 220);
        clients.push(c);
    }
    for c in &mut clients {
        assert_eq!(c.cmd("QUIT").await, 221);
    }
    let t = server.wait_for_sessions(20).await.unwrap();
    let mut ids: Vec<u64> = t.sessions.iter().map(|s| s.id).collect();
    ids.sort();
    assert_eq!(ids, (1..=20).collect::<Vec<_>>());
}

#[tokio::test]
async fn waiting_for_sessions_times_out_with_the_transcript() {
    let server = server("postfix-default").await;
    let mut c = RawClient::connect(server.addr()).await;
    c.reply().await;
    c.cmd("NOOP").await;
    let err = server
        .wait_for_sessions_within(1, Duration::from_millis(200))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("0 did"), "{text}");
    assert!(text.contains("-> NOOP"), "{text}");
}

#[tokio::test]
async fn dropping_the_server_says_421_to_running_sessions() {
    let server = server("postfix-default").await;
    let mut c = RawClient::connect(server.addr()).await;
    c.reply().await;
    assert_eq!(c.cmd("EHLO x").await, 250);
    let recorder_view = server.transcript();
    assert_eq!(recorder_view.sessions.len(), 1);
    drop(server);
    let goodbye = c.reply().await;
    assert!(goodbye[0].starts_with("421 4.3.2"), "{goodbye:?}");
    assert!(c.closed().await);
}

/// nmap's service fingerprints (nmap-service-probes), the bytes real
/// detectors match.
#[rstest]
#[case(
    "exchange-2003",
    r"^220 \[?([-.+\w]+)\]? Microsoft ESMTP MAIL Service, Version: ([-\w.]+) ready"
)]
#[case(
    "exchange-2019",
    r"^220 ([-\w_.]+) Microsoft ESMTP MAIL Service ready at"
)]
#[case("pix-mailguard", r"^220 [\*\d\ ]{2,300}\r\n$")]
#[case("asa-inspect-esmtp", r"^220 [\*\d\ ]{2,300}\r\n$")]
#[case("postfix-default", r"^220 [-\w_.]+ ESMTP Postfix")]
#[case("third-party-banner", r"^220-InterScan Version 3\.6-Build_1157 ")]
#[tokio::test]
async fn banners_match_real_fingerprints(#[case] name: &str, #[case] pattern: &str) {
    let server = server(name).await;
    let mut c = RawClient::connect(server.addr()).await;
    let banner = c.reply().await;
    let first = format!("{}\r\n", banner[0]);
    assert!(
        Regex::new(pattern).unwrap().is_match(&first),
        "{name}: {first:?} !~ {pattern}"
    );
}

#[tokio::test]
async fn exchange_2003_banner_has_the_analyzer_shape() {
    let server = server("exchange-2003").await;
    let mut c = RawClient::connect(server.addr()).await;
    let banner = c.reply().await;
    // Two spaces after "at", then an RFC 5322 date.
    let re = Regex::new(r"^220 mail\.adatum\.com Microsoft ESMTP MAIL Service, Version: 6\.0\.3790\.3959 ready at  [A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d \+0000$").unwrap();
    assert!(re.is_match(&banner[0]), "{banner:?}");
    c.send(b"EHLO probe\r\n").await;
    let ehlo = c.reply().await;
    assert!(ehlo[0].starts_with("250-mail.adatum.com Hello [127.0.0.1]"));
    for kw in [
        "250-X-LINK2STATE",
        "250-XEXCH50",
        "250-PIPELINING",
        "250 OK",
    ] {
        assert!(ehlo.iter().any(|l| l == kw), "{kw} missing from {ehlo:?}");
    }
    // The Analyzer's mail-flow test.
    assert_eq!(
        c.cmd("MAIL FROM: ExMFA-MailAcceptTest@Fabrikam.com").await,
        250
    );
    assert_eq!(c.cmd("RCPT TO: Postmaster@adatum.com").await, 250);
    assert_eq!(c.cmd("DATA").await, 354);
}

#[tokio::test]
async fn pix_mailguard_filters_everything_but_seven_verbs() {
    let server = server("pix-mailguard").await;
    let mut c = RawClient::connect(server.addr()).await;
    let banner = c.reply().await;
    assert!(
        banner[0][4..]
            .chars()
            .all(|ch| matches!(ch, '*' | '2' | '0')),
        "{banner:?}"
    );
    for verb in [
        "EHLO x",
        "VRFY a",
        "EXPN a",
        "HELP",
        "ETRN x",
        "AUTH LOGIN",
        "STARTTLS",
        "BDAT 1 LAST",
        "X-LINK2STATE",
    ] {
        c.send(format!("{verb}\r\n").as_bytes()).await;
        assert_eq!(
            c.reply().await,
            ["500 5.5.1 Command unrecognized"],
            "{verb}"
        );
    }
    for (line, code) in [
        ("HELO x", 250),
        ("NOOP", 250),
        ("MAIL FROM:<a@b>", 250),
        ("RCPT TO:<c@adatum.com>", 250),
        ("RSET", 250),
        ("QUIT", 221),
    ] {
        assert_eq!(c.cmd(line).await, code, "{line}");
    }
}

#[tokio::test]
async fn asa_masks_keywords_in_place() {
    let server = server("asa-inspect-esmtp").await;
    let mut c = RawClient::connect(server.addr()).await;
    c.reply().await;
    c.send(b"EHLO x\r\n").await;
    let ehlo = c.reply().await;
    assert!(ehlo.contains(&"250-PIPELINING".to_string()));
    assert!(
        ehlo.contains(&"250-XXXXXXXXXB".to_string()),
        "BINARYMIME is X-ed out: {ehlo:?}"
    );
    assert!(
        ehlo.contains(&"250-XXXXXXXC".to_string()),
        "CHUNKING is X-ed out: {ehlo:?}"
    );
    assert!(!ehlo.iter().any(|l| l.contains("XEXCH50")));
    assert_eq!(c.cmd("STARTTLS").await, 500);
    assert_eq!(c.cmd("VRFY x").await, 252);
}

#[tokio::test]
async fn builder_scenario_rules_apply() {
    let scenario = Scenario::builder()
        .extends("postfix-default")
        .rule(
            Rule::verb("RCPT")
                .args("(?i)<spam@")
                .reply("550 5.7.1 Go away"),
        )
        .rule(
            Rule::verb("MAIL")
                .in_session(1)
                .delay(Duration::from_millis(50))
                .reply("250 2.1.0 slow but ok"),
        )
        .build()
        .unwrap();
    let server = MockServer::start(scenario).await.unwrap();
    let mut c = RawClient::connect(server.addr()).await;
    c.reply().await;
    c.cmd("HELO x").await;
    let started = std::time::Instant::now();
    assert_eq!(c.cmd("MAIL FROM:<a@b>").await, 250);
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(c.cmd("RCPT TO:<SPAM@example.com>").await, 550);
    assert_eq!(c.cmd("RCPT TO:<ok@example.com>").await, 250);
    c.cmd("QUIT").await;
    let t = server.wait_for_sessions(1).await.unwrap();
    let rules: Vec<_> = t
        .replies_on(Leg::Client)
        .into_iter()
        .filter_map(|r| r.rule)
        .collect();
    assert_eq!(rules, ["rule 2", "rule 1"]);
}

#[tokio::test]
async fn banner_delay_and_refusal() {
    let scenario =
        Scenario::from_yaml("banner: {reply: '554 5.3.2 Not now', delay: 30ms, then: close}")
            .unwrap();
    let server = MockServer::start(scenario).await.unwrap();
    let started = std::time::Instant::now();
    let mut c = RawClient::connect(server.addr()).await;
    assert_eq!(c.reply().await, ["554 5.3.2 Not now"]);
    assert!(started.elapsed() >= Duration::from_millis(30));
    assert!(c.closed().await);
}

#[tokio::test]
async fn scenario_swap_applies_to_new_sessions() {
    let server = server("postfix-default").await;
    server
        .set_scenario(Scenario::bundled("exchange-2019").unwrap())
        .unwrap();
    let mut c = RawClient::connect(server.addr()).await;
    assert!(c.reply().await[0].contains("Microsoft ESMTP MAIL Service ready at"));
}

#[test]
fn blocking_api_works_without_a_runtime() {
    use std::io::{BufRead, BufReader, Write};
    let server = MockServer::start_blocking(Scenario::bundled("postfix-default").unwrap()).unwrap();
    let mut sock = std::net::TcpStream::connect(server.addr()).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut r = BufReader::new(sock.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("220 "));
    sock.write_all(b"QUIT\r\n").unwrap();
    let t = server.wait_for_sessions_blocking(1).unwrap();
    assert!(t.client_sent("QUIT"));
}
