//! Proxy mode over real TCP on 127.0.0.1: every profile feature, and the
//! behaviour under trouble. Upstreams are `MockServer`s, or a listener the
//! test drives by hand where the exact bytes matter.

mod common;
mod support;

use common::RawClient;
use regex::Regex;
use rstest::rstest;
use smtp_harness::{Closer, Leg, MockProxy, MockServer, Profile, Scenario};
use std::time::{Duration, Instant};
use support::*;
use tokio::io::AsyncWriteExt;

async fn server(scenario: &str) -> MockServer {
    MockServer::start(Scenario::bundled(scenario).unwrap())
        .await
        .unwrap()
}

async fn proxy(upstream: &MockServer, profile: Profile) -> MockProxy {
    MockProxy::start(upstream.addr(), profile).await.unwrap()
}

/// A bundled profile in front of an upstream the test plays by hand:
/// the proxy, the client's connection and the upstream's end of the relay.
async fn through_to_hand_upstream(profile: &str) -> (MockProxy, RawClient, RawClient) {
    let (l, addr) = hand_upstream().await;
    let px = MockProxy::start(addr, Profile::bundled(profile).unwrap())
        .await
        .unwrap();
    let c = RawClient::connect(px.addr()).await;
    let u = accept(&l).await;
    (px, c, u)
}

fn yaml(text: &str) -> Profile {
    Profile::from_yaml(text).unwrap_or_else(|e| panic!("{e}"))
}

/// The (rule, original) of every reply the client got.
fn client_replies(t: &smtp_harness::Transcript) -> Vec<(Vec<String>, Option<String>, bool)> {
    t.replies_on(Leg::Client)
        .into_iter()
        .map(|r| (r.lines, r.rule, r.original.is_some()))
        .collect()
}

// ---- banner ---------------------------------------------------------------

#[tokio::test]
async fn banner_mask_pix_matches_nmap_and_keeps_length() {
    let up = server("exchange-2003").await;
    let px = proxy(&up, Profile::bundled("pix-mailguard").unwrap()).await;
    let mut c = RawClient::connect(px.addr()).await;
    let banner = c.raw_line().await;
    assert_eq!(c.cmd("QUIT").await, 221);
    let t = px.wait_for_sessions(1).await.unwrap();
    let nmap = Regex::new(r"^220 [\*\d\ ]{2,300}\r\n$").unwrap();
    let text = String::from_utf8(banner.clone()).unwrap();
    assert!(nmap.is_match(&text), "{text:?}");
    assert!(
        text.chars()
            .skip(4)
            .all(|c| matches!(c, '*' | '2' | '0' | '\r' | '\n'))
    );
    // Same length as what the upstream sent, which the transcript kept.
    let up_banner = t.sessions[0].replies_on(Leg::Upstream)[0].lines[0].clone();
    assert!(up_banner.contains("Microsoft ESMTP MAIL Service"));
    assert_eq!(up_banner.len() + 2, banner.len());
    let (lines, rule, original) = &client_replies(&t)[0];
    assert_eq!(lines[0].len(), up_banner.len());
    assert_eq!(rule.as_deref(), Some("banner-mask"));
    assert!(original);
}

#[tokio::test]
async fn banner_mask_all_and_replace() {
    let up = server("postfix-default").await;
    let px = proxy(&up, yaml("banner: {mask: all}")).await;
    let mut c = RawClient::connect(px.addr()).await;
    let line = c.reply().await;
    assert!(
        Regex::new(r"^220 \*+$").unwrap().is_match(&line[0]),
        "{line:?}"
    );

    px.set_profile(yaml(
        "banner:\n  replace: '220 relay.example ESMTP ready'\n",
    ));
    let mut c = RawClient::connect(px.addr()).await;
    assert_eq!(c.reply().await, ["220 relay.example ESMTP ready"]);
    // Everything after the banner is the upstream's.
    assert_eq!(c.reply_to("HELO me").await[0], "250 mail.example.com");
}

// ---- verb filter ----------------------------------------------------------

#[tokio::test]
async fn pix_refuses_ehlo_itself_and_relays_helo() {
    let up = server("exchange-2003").await;
    let px = proxy(&up, Profile::bundled("pix-mailguard").unwrap()).await;
    let mut c = RawClient::connect(px.addr()).await;
    c.reply().await;
    assert_eq!(
        c.reply_to("EHLO client.example").await,
        ["500 5.5.1 Command unrecognized"]
    );
    assert_eq!(c.cmd("HELO client.example").await, 250);
    assert_eq!(c.cmd("X-LINK2STATE FIRST CHUNK").await, 500);
    assert_eq!(c.cmd("QUIT").await, 221);
    let t = px.wait_for_sessions(1).await.unwrap();
    assert!(t.client_sent("EHLO"));
    assert!(
        !t.upstream_received("EHLO"),
        "a filtered command never reaches the upstream"
    );
    assert!(!t.upstream_received("X-LINK2STATE"));
    assert!(t.upstream_received("HELO client.example"));
    let refused: Vec<_> = client_replies(&t)
        .into_iter()
        .filter(|(_, rule, _)| rule.as_deref() == Some("verb-filter"))
        .collect();
    assert_eq!(refused.len(), 2);
    // The upstream's own record agrees.
    let ut = up.wait_for_sessions(1).await.unwrap();
    assert_eq!(ut.sessions[0].commands(), ["HELO client.example", "QUIT"]);
}

#[rstest]
#[case::vrfy("VRFY bob", "VRFY")]
#[case::expn_lower_case_in_profile("EXPN staff", "EXPN")]
#[case::lower_case_from_client("vrfy bob", "vrfy")]
#[tokio::test]
async fn deny_list_with_its_own_reply(#[case] line: &str, #[case] verb: &str) {
    let up = server("postfix-default").await;
    let px = proxy(
        &up,
        yaml("verbs:\n  deny: [VRFY, expn]\n  reply: '502 5.7.0 Disabled here'\n"),
    )
    .await;
    let mut c = RawClient::connect(px.addr()).await;
    c.reply().await;
    assert_eq!(c.reply_to(line).await, ["502 5.7.0 Disabled here"]);
    assert_eq!(c.cmd("NOOP").await, 250);
    assert_eq!(c.cmd("QUIT").await, 221);
    let t = px.wait_for_sessions(1).await.unwrap();
    assert!(t.client_sent(verb));
    assert!(!t.upstream_received(verb));
    assert!(t.upstream_received("NOOP"));
}

#[tokio::test]
async fn mask_action_overwrites_the_verb_and_the_upstream_answers() {
    let up = server("exchange-2003").await;
    let px = proxy(&up, Profile::bundled("asa-inspect-esmtp").unwrap()).await;
    let mut c = RawClient::connect(px.addr()).await;
    c.reply().await;
    assert_eq!(
        c.cmd("EHLO client.example").await,
        250,
        "EHLO is allowed by ASA"
    );
    // X-LINK2STATE reaches the server as 12 X's; the server answers.
    assert_eq!(
        c.reply_to("X-LINK2STATE FIRST CHUNK").await,
        ["500 5.3.3 Unrecognized command"]
    );
    assert_eq!(c.cmd("QUIT").await, 221);
    let ut = up.wait_for_sessions(1).await.unwrap();
    assert_eq!(ut.sessions[0].commands()[1], "XXXXXXXXXXXX FIRST CHUNK");
    let t = px.wait_for_sessions(1).await.unwrap();
    assert!(t.upstream_received("XXXXXXXXXXXX FIRST CHUNK"));
    assert!(t.client_sent("X-LINK2STATE FIRST CHUNK"));
}

#[tokio::test]
async fn bdat_refused_by_the_proxy_swallows_its_chunk() {
    let up = server("postfix-default").await;
    let px = proxy(&up, yaml("verbs: {deny: BDAT}")).await;
    let mut c = RawClient::connect(px.addr()).await;
    c.reply().await;
    assert_eq!(c.cmd("HELO me").await, 250);
    // The chunk holds a line that looks like a command; it must not run.
    c.send(b"BDAT 12 LAST\r\nQUIT\r\nQUIT\r\n").await;
    assert_eq!(c.code().await, 500);
    assert_eq!(c.cmd("NOOP").await, 250);
    let t = px.transcript();
    assert!(!t.upstream_received("QUIT"), "{}", t.to_text());
}

// ---- EHLO keywords --------------------------------------------------------

#[tokio::test]
async fn asa_masks_ehlo_keywords_in_place() {
    let up = server("exchange-2003").await;
    let px = proxy(&up, Profile::bundled("asa-inspect-esmtp").unwrap()).await;
    let mut c = RawClient::connect(px.addr()).await;
    c.reply().await;
    let got = c.reply_to("EHLO client.example").await;
    assert_eq!(c.cmd("QUIT").await, 221);
    let t = px.wait_for_sessions(1).await.unwrap();
    let upstream_ehlo = t.sessions[0]
        .replies_on(Leg::Upstream)
        .into_iter()
        .find(|r| r.code == 250 && r.lines.len() > 1)
        .unwrap()
        .lines;
    assert_eq!(got.len(), upstream_ehlo.len());
    for (a, b) in got.iter().zip(&upstream_ehlo) {
        assert_eq!(a.len(), b.len(), "{a} / {b}: masking keeps lengths");
    }
    assert!(got.contains(&"250-SIZE".to_string()), "{got:?}");
    assert!(
        got.contains(&"250-XXXA".to_string()),
        "TURN is the first masked: {got:?}"
    );
    assert!(
        got.iter().any(|l| l == "250-XXXXXXXXXXXF"),
        "X-LINK2STATE: {got:?}"
    );
    let (_, rule, original) = &client_replies(&t)[1];
    assert_eq!(rule.as_deref(), Some("ehlo-rewrite"));
    assert!(original);
}

#[tokio::test]
async fn ehlo_keywords_removed_and_added() {
    let up = server("postfix-default").await;
    let px = proxy(
        &up,
        yaml("ehlo:\n  remove: [pipelining, CHUNKING, size]\n  add: [XFOO, 'AUTH PLAIN']\n"),
    )
    .await;
    let mut c = RawClient::connect(px.addr()).await;
    c.reply().await;
    let got = c.reply_to("EHLO me").await;
    let names: Vec<&str> = got.iter().map(|l| &l[4..]).collect();
    assert!(
        !names.iter().any(|k| k.starts_with("PIPELINING")
            || k.starts_with("CHUNKING")
            || k.starts_with("SIZE")),
        "{got:?}"
    );
    assert_eq!(&names[names.len() - 2..], ["XFOO", "AUTH PLAIN"]);
    assert!(
        got.last().unwrap().starts_with("250 "),
        "the last line ends the reply: {got:?}"
    );
}

// ---- replies and addresses ------------------------------------------------

#[tokio::test]
async fn reply_rules_replace_matching_upstream_replies_only() {
    let up = server("postfix-default").await;
    let px = proxy(
        &up,
        yaml(
            "replies:\n  - name: hide-queue-id\n    verb: '.'\n    code: 250\n    text: 'queued as'\n    reply: '250 2.0.0 Thanks'\n  - code: [550, 551]\n    reply: '250 2.1.5 Sure'\n",
        ),
    )
    .await;
    let mut c = RawClient::connect(px.addr()).await;
    c.reply().await;
    assert_eq!(c.cmd("HELO me").await, 250);
    assert_eq!(c.cmd("MAIL FROM:<a@example.org>").await, 250);
    assert_eq!(c.cmd("RCPT TO:<b@example.com>").await, 250);
    assert_eq!(c.cmd("DATA").await, 354);
    c.send(b"Subject: x\r\n\r\nhi\r\n.\r\n").await;
    assert_eq!(c.reply().await, ["250 2.0.0 Thanks"]);
    assert_eq!(c.cmd("QUIT").await, 221);
    let t = px.wait_for_sessions(1).await.unwrap();
    let rewritten: Vec<_> = client_replies(&t).into_iter().filter(|r| r.2).collect();
    assert_eq!(rewritten.len(), 1, "only the end-of-data reply changed");
    assert_eq!(rewritten[0].1.as_deref(), Some("hide-queue-id"));
    assert_eq!(up.messages().len(), 1);
}

#[tokio::test]
async fn exchange_reroute_rewrites_envelope_domains() {
    let up = server("postfix-default").await;
    let px = proxy(&up, Profile::bundled("exchange-reroute").unwrap()).await;
    let mut c = RawClient::connect(px.addr()).await;
    c.reply().await;
    assert_eq!(c.cmd("EHLO me").await, 250);
    assert_eq!(c.cmd("MAIL FROM:<kim@CPANDL.net> BODY=8BITMIME").await, 250);
    assert_eq!(c.cmd("RCPT TO:<bob@internal.adatum.com>").await, 250);
    assert_eq!(c.cmd("RCPT TO:<eve@cpandl.org.evil.example>").await, 250);
    assert_eq!(c.cmd("DATA").await, 354);
    c.send(b"From: kim@cpandl.net\r\n\r\nbody\r\n.\r\n").await;
    assert_eq!(c.code().await, 250);
    let m = &up.messages()[0];
    assert_eq!(m.mail_from, "kim@adatum.com");
    assert_eq!(
        m.rcpt_to(),
        ["bob@adatum.com", "eve@cpandl.org.evil.example"]
    );
    assert!(
        m.text().unwrap().starts_with("From: kim@cpandl.net"),
        "content untouched"
    );
    let t = px.transcript();
    assert!(t.upstream_received("MAIL FROM:<kim@adatum.com> BODY=8BITMIME"));
    assert!(t.client_sent("MAIL FROM:<kim@CPANDL.net>"));
}

// ---- STARTTLS -------------------------------------------------------------

fn tls_server_yaml() -> Scenario {
    Scenario::from_yaml(
        "extends: postfix-default\nehlo:\n  keywords: [PIPELINING, STARTTLS, 8BITMIME]\nrules:\n  - verb: STARTTLS\n    reply: '220 2.0.0 Ready to start TLS'\n",
    )
    .unwrap()
}

#[tokio::test]
async fn starttls_strip_removes_keyword_and_refuses_verb() {
    let up = MockServer::start(tls_server_yaml()).await.unwrap();
    let px = proxy(&up, Profile::bundled("starttls-strip").unwrap()).await;
    let mut c = RawClient::connect(px.addr()).await;
    c.reply().await;
    let ehlo = c.reply_to("EHLO me").await;
    assert_eq!(
        ehlo,
        ["250-mail.example.com", "250-PIPELINING", "250 8BITMIME"]
    );
    assert_eq!(
        c.reply_to("STARTTLS").await,
        ["500 5.5.1 Command unrecognized"]
    );
    assert_eq!(c.cmd("QUIT").await, 221);
    let t = px.wait_for_sessions(1).await.unwrap();
    assert!(!t.upstream_received("STARTTLS"));
    assert!(
        client_replies(&t)
            .iter()
            .any(|r| r.1.as_deref() == Some("starttls-strip"))
    );
}

#[tokio::test]
async fn starttls_pass_relays_opaque_bytes_after_220() {
    let (px, mut c, mut u) = through_to_hand_upstream("transparent").await;
    u.send(b"220 tls.example ESMTP\r\n").await;
    c.reply().await;
    c.send(b"STARTTLS\r\n").await;
    assert_eq!(u.raw_line().await, b"STARTTLS\r\n");
    u.send(b"220 Go ahead\r\n").await;
    assert_eq!(c.reply().await, ["220 Go ahead"]);
    // Not SMTP any more: binary, NULs, no line endings, both ways.
    let hello: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    c.send(&hello).await;
    assert_eq!(read_exact(&mut u, hello.len()).await, hello);
    let answer: Vec<u8> = (0..=255u8).rev().cycle().take(5000).collect();
    u.send(&answer).await;
    assert_eq!(read_exact(&mut c, answer.len()).await, answer);
    c.writer.shutdown().await.unwrap();
    assert!(u.until_eof().await.is_empty());
    drop(u);
    let t = px.wait_for_sessions(1).await.unwrap();
    let text = t.to_text();
    assert!(text.contains("relaying opaque (TLS) bytes"), "{text}");
    assert!(
        text.contains("3000 octets client→upstream, 5000 octets upstream→client"),
        "{text}"
    );
    assert_eq!(t.sessions[0].closed_by(), Some(Closer::Client));
}

// ---- transparent ----------------------------------------------------------

/// Every byte both ways, with what a line-based proxy is most likely to
/// break: 8-bit text, bare LF, long lines, dot-stuffing, a dot that is not
/// at a line start, and pipelined commands after the end of data.
#[tokio::test]
async fn transparent_is_byte_exact_both_ways() {
    let (px, mut c, mut u) = through_to_hand_upstream("transparent").await;

    let banner = b"220  odd \xff\xfe banner\twith tab \r\n".to_vec();
    u.send(&banner).await;
    assert_eq!(c.raw_line().await, banner);

    let long_cmd = [b"EHLO ".to_vec(), vec![b'h'; 3000], b"\r\n".to_vec()].concat();
    c.send(&long_cmd).await;
    assert_eq!(read_exact(&mut u, long_cmd.len()).await, long_cmd);
    let ehlo = b"250-srv \xe9t\xe9\r\n250-SIZE 10\n250 8BITMIME\r\n".to_vec();
    u.send(&ehlo).await;
    assert_eq!(read_exact(&mut c, ehlo.len()).await, ehlo);

    let pipelined = b"MAIL FROM:<a@b> BODY=8BITMIME\nRCPT TO:<c@d>\r\nDATA\r\n";
    c.send(pipelined).await;
    assert_eq!(read_exact(&mut u, pipelined.len()).await, pipelined);
    u.send(b"250 ok\r\n250 ok\r\n354 go\r\n").await;
    for _ in 0..3 {
        c.reply().await;
    }
    let content = [
        b"Subject: \xc3\xa9t\xc3\xa9\r\n\r\n".to_vec(),
        b"..stuffed dot line\r\n".to_vec(),
        b"a . in the middle.\r\n".to_vec(),
        vec![b'L'; 5000],
        b"\r\nbare lf\n.\n".to_vec(),
        b"\x00\x01\x80\xff raw bytes\r\n".to_vec(),
        b"...\r\n".to_vec(),
        b".\r\nQUIT\r\n".to_vec(),
    ]
    .concat();
    // Split at awkward places, as TCP may.
    for part in content.chunks(7) {
        c.send(part).await;
    }
    assert_eq!(read_exact(&mut u, content.len()).await, content);
    u.send(b"250 queued\r\n221 bye\r\n").await;
    assert_eq!(c.reply().await, ["250 queued"]);
    assert_eq!(c.reply().await, ["221 bye"]);
    drop(u);
    assert!(c.until_eof().await.is_empty());
    let t = px.wait_for_sessions(1).await.unwrap();
    let s = &t.sessions[0];
    assert_eq!(s.closed_by(), Some(Closer::Upstream));
    assert!(s.bare_lf_data(Leg::Upstream));
    assert!(
        client_replies(&t).iter().all(|r| r.1.is_none()),
        "transparent changes nothing"
    );
}

// ---- faults ---------------------------------------------------------------

#[tokio::test]
async fn latency_downstream_delays_replies() {
    let up = server("postfix-default").await;
    let px = proxy(
        &up,
        yaml("faults:\n  - latency: 300ms\n    direction: downstream\n"),
    )
    .await;
    let start = Instant::now();
    let mut c = RawClient::connect(px.addr()).await;
    c.reply().await;
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
    let start = Instant::now();
    assert_eq!(c.cmd("NOOP").await, 250);
    assert!(start.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn bandwidth_upstream_limits_message_data() {
    let up = server("postfix-default").await;
    let px = proxy(
        &up,
        yaml("faults:\n  - bandwidth: 20000\n    direction: upstream\n"),
    )
    .await;
    let mut c = RawClient::connect(px.addr()).await;
    c.reply().await;
    assert_eq!(c.cmd("HELO me").await, 250);
    assert_eq!(c.cmd("MAIL FROM:<a@b.example>").await, 250);
    assert_eq!(c.cmd("RCPT TO:<c@d.example>").await, 250);
    assert_eq!(c.cmd("DATA").await, 354);
    let start = Instant::now();
    let body = "x".repeat(78) + "\r\n";
    c.send(body.repeat(100).as_bytes()).await; // 8000 bytes
    c.send(b".\r\n").await;
    assert_eq!(c.code().await, 250);
    // 8 kB at 20 kB/s: at least 0.3 s even with the first slice free.
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(up.messages()[0].data.len(), 8000);
}

#[tokio::test]
async fn close_after_cuts_downstream_at_exactly_n_bytes() {
    let up = server("postfix-default").await;
    let px = proxy(&up, yaml("faults:\n  - close_after: 10\n")).await;
    let mut c = RawClient::connect(px.addr()).await;
    let got = c.until_eof().await;
    assert_eq!(got, b"220 mail.e");
    let t = px.wait_for_sessions(1).await.unwrap();
    assert_eq!(t.sessions[0].closed_by(), Some(Closer::Server));
    assert!(t.to_text().contains("cut after 10 octets upstream→client"));
}

/// The proxy's links are the server's: a `slice` fault (once only the fake
/// server's) relays the upstream's replies in pieces, paced by `bandwidth`.
#[tokio::test]
async fn slice_relays_replies_in_pieces() {
    use tokio::io::AsyncReadExt;
    let up = server("postfix-default").await;
    let px = proxy(&up, yaml("faults:\n  - slice: 4\n  - bandwidth: 200\n")).await;
    let mut sock = tokio::net::TcpStream::connect(px.addr()).await.unwrap();
    let mut buf = [0u8; 64];
    let n = sock.read(&mut buf).await.unwrap();
    assert!(n <= 4, "the first read got {n} bytes, slices are 4");
    let mut banner = buf[..n].to_vec();
    while !banner.ends_with(b"\r\n") {
        let m = tokio::time::timeout(Duration::from_secs(10), sock.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(m > 0, "closed mid-banner: {banner:?}");
        banner.extend_from_slice(&buf[..m]);
    }
    assert!(banner.starts_with(b"220 "), "{banner:?}");
}

#[tokio::test]
async fn reply_then_close_downstream_after_data_makes_a_duplicate() {
    // The upstream accepts the message, the client is told 421: it will
    // send again (what a lost end-of-data reply does to real senders).
    let up = server("postfix-default").await;
    let px = proxy(
        &up,
        yaml("faults:\n  - reply_then_close: '421 4.4.2 Connection dropped'\n    on: '.'\n"),
    )
    .await;
    let mut c = RawClient::connect(px.addr()).await;
    c.reply().await;
    for cmd in [
        "HELO me",
        "MAIL FROM:<a@b.example>",
        "RCPT TO:<c@d.example>",
    ] {
        assert_eq!(c.cmd(cmd).await, 250);
    }
    assert_eq!(c.cmd("DATA").await, 354);
    c.send(b"hi\r\n.\r\n").await;
    assert_eq!(c.reply().await, ["421 4.4.2 Connection dropped"]);
    assert!(c.until_eof().await.is_empty());
    up.wait_for_sessions(1).await.unwrap();
    assert_eq!(up.messages().len(), 1, "the upstream did get the message");
    let t = px.wait_for_sessions(1).await.unwrap();
    let last = client_replies(&t).pop().unwrap();
    assert_eq!(last.1.as_deref(), Some("fault reply_then_close"));
    assert!(last.2, "the upstream's 250 is kept as the original");
}

#[tokio::test]
async fn reply_then_close_upstream_withholds_the_end_of_data() {
    let up = server("postfix-default").await;
    let px = proxy(&up, yaml("faults:\n  - reply_then_close: '451 4.4.2 Timeout'\n    on: '.'\n    direction: upstream\n")).await;
    let mut c = RawClient::connect(px.addr()).await;
    c.reply().await;
    for cmd in [
        "HELO me",
        "MAIL FROM:<a@b.example>",
        "RCPT TO:<c@d.example>",
    ] {
        assert_eq!(c.cmd(cmd).await, 250);
    }
    assert_eq!(c.cmd("DATA").await, 354);
    c.send(b"hi\r\n.\r\n").await;
    assert_eq!(c.reply().await, ["451 4.4.2 Timeout"]);
    let ut = up.wait_for_sessions(1).await.unwrap();
    assert!(
        up.messages().is_empty(),
        "the upstream never saw the final dot"
    );
    assert!(ut.sessions[0].aborted, "{}", ut.to_text());
}

#[tokio::test]
async fn reply_then_close_on_a_verb_from_either_side() {
    let up = server("postfix-default").await;
    // Upstream direction: the proxy answers, RCPT never reaches the server.
    let px = proxy(&up, yaml("faults:\n  - reply_then_close: '554 5.7.1 Go away'\n    on: rcpt\n    direction: upstream\n")).await;
    let mut c = RawClient::connect(px.addr()).await;
    c.reply().await;
    assert_eq!(c.cmd("HELO me").await, 250);
    assert_eq!(c.cmd("MAIL FROM:<a@b.example>").await, 250);
    assert_eq!(
        c.reply_to("RCPT TO:<c@d.example>").await,
        ["554 5.7.1 Go away"]
    );
    assert!(c.until_eof().await.is_empty());
    let t = px.wait_for_sessions(1).await.unwrap();
    assert!(!t.upstream_received("RCPT"));
    // At the banner: the client never sees the upstream's greeting.
    px.set_profile(yaml(
        "faults:\n  - reply_then_close: '554 5.3.2 No service'\n",
    ));
    let mut c = RawClient::connect(px.addr()).await;
    assert_eq!(c.reply().await, ["554 5.3.2 No service"]);
    assert!(c.until_eof().await.is_empty());
}

/// Toxicity is decided once per connection; with a seed, the same
/// connections get the fault on every run.
#[tokio::test]
async fn seeded_probability_is_deterministic_per_connection() {
    let up = server("postfix-default").await;
    let profile =
        "seed: 1234\nfaults:\n  - reply_then_close: '421 4.3.2 Unlucky'\n    probability: 0.5\n";
    let mut runs = Vec::new();
    for _ in 0..2 {
        let px = proxy(&up, yaml(profile)).await;
        let mut pattern = Vec::new();
        for _ in 0..16 {
            let mut c = RawClient::connect(px.addr()).await;
            let code = c.code().await;
            if code == 220 {
                assert_eq!(c.cmd("QUIT").await, 221);
            }
            assert!(c.until_eof().await.is_empty());
            pattern.push(code);
        }
        runs.push(pattern);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(
        runs[0].contains(&421) && runs[0].contains(&220),
        "{:?}",
        runs[0]
    );
}

// ---- trouble --------------------------------------------------------------

#[tokio::test]
async fn upstream_unreachable_gives_421_and_the_proxy_keeps_serving() {
    let dead = dead_port();
    let px = MockProxy::start(dead, Profile::bundled("pix-mailguard").unwrap())
        .await
        .unwrap();
    for _ in 0..2 {
        let mut c = RawClient::connect(px.addr()).await;
        let r = c.reply().await;
        assert!(r[0].starts_with("421 4.4.0 upstream 127.0.0.1:"), "{r:?}");
        assert!(r[0].contains("unreachable"), "{r:?}");
        assert!(c.until_eof().await.is_empty());
    }
    let t = px.wait_for_sessions(2).await.unwrap();
    assert!(
        t.sessions
            .iter()
            .all(|s| s.closed_by() == Some(Closer::Upstream))
    );
    // The upstream comes back on the same port: the next client is relayed.
    let listener = tokio::net::TcpListener::bind(dead).await.unwrap();
    let up = MockServer::start_on(listener, Scenario::bundled("postfix-default").unwrap())
        .await
        .unwrap();
    let mut c = RawClient::connect(px.addr()).await;
    assert_eq!(c.code().await, 220);
    assert_eq!(c.cmd("QUIT").await, 221);
    up.wait_for_sessions(1).await.unwrap();
}

#[tokio::test]
async fn upstream_closing_mid_session_closes_the_client() {
    let scenario = Scenario::from_yaml("rules:\n  - verb: NOOP\n    then: close\n").unwrap();
    let up = MockServer::start(scenario).await.unwrap();
    let px = proxy(&up, Profile::bundled("transparent").unwrap()).await;
    let mut c = RawClient::connect(px.addr()).await;
    c.reply().await;
    assert_eq!(c.cmd("HELO me").await, 250);
    c.send(b"NOOP\r\n").await;
    assert!(
        c.until_eof().await.is_empty(),
        "the client's connection is closed too"
    );
    let t = px.wait_for_sessions(1).await.unwrap();
    assert_eq!(
        t.sessions[0].closed_by(),
        Some(Closer::Upstream),
        "{}",
        t.to_text()
    );
    assert!(t.to_text().contains("closed by upstream"));
}

#[tokio::test]
async fn client_vanishing_mid_data_closes_the_upstream() {
    let up = server("postfix-default").await;
    let px = proxy(&up, Profile::bundled("pix-mailguard").unwrap()).await;
    let mut c = RawClient::connect(px.addr()).await;
    c.reply().await;
    for cmd in [
        "HELO me",
        "MAIL FROM:<a@b.example>",
        "RCPT TO:<c@d.example>",
    ] {
        assert_eq!(c.cmd(cmd).await, 250);
    }
    assert_eq!(c.cmd("DATA").await, 354);
    c.send(b"Subject: half\r\n\r\nthe first half of a message\r\n")
        .await;
    drop(c);
    let t = px.wait_for_sessions(1).await.unwrap();
    let s = &t.sessions[0];
    assert!(s.aborted);
    assert_eq!(s.closed_by(), Some(Closer::Client));
    assert_eq!(s.abort().map(|a| a.during).as_deref(), Some("data"));
    // The upstream's session ended too (never half-open), mid-message.
    let ut = up.wait_for_sessions(1).await.unwrap();
    assert!(ut.sessions[0].aborted, "{}", ut.to_text());
    assert!(up.messages().is_empty());
}

/// 50 MiB through the proxy, checked byte for byte at the upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_mib_message_passes_complete() {
    const SIZE: usize = 50 << 20;
    let scenario = Scenario::from_yaml("limits: {message_size: 60000000}").unwrap();
    let up = MockServer::start(scenario).await.unwrap();
    let px = proxy(&up, Profile::bundled("pix-mailguard").unwrap()).await;
    let mut c = RawClient::connect(px.addr()).await;
    c.reply().await;
    for cmd in [
        "HELO me",
        "MAIL FROM:<a@b.example>",
        "RCPT TO:<c@d.example>",
    ] {
        assert_eq!(c.cmd(cmd).await, 250);
    }
    assert_eq!(c.cmd("DATA").await, 354);
    // 998-octet lines with a counter, so a lost or repeated chunk shows.
    let mut body = Vec::with_capacity(SIZE);
    let mut n = 0u64;
    while body.len() < SIZE {
        let head = format!("{n:010} ");
        body.extend_from_slice(head.as_bytes());
        body.extend(std::iter::repeat_n(
            b'a' + (n % 26) as u8,
            998 - head.len() - 2,
        ));
        body.extend_from_slice(b"\r\n");
        n += 1;
    }
    let send = async {
        c.send(&body).await;
        c.send(b".\r\n").await;
        c.code().await
    };
    let code = tokio::time::timeout(Duration::from_secs(120), send)
        .await
        .expect("50 MiB in 2 minutes");
    assert_eq!(code, 250);
    let m = &up.messages()[0];
    assert_eq!(m.data.len(), body.len());
    assert!(m.bytes().unwrap()[..] == body[..], "content differs");
}

/// Backpressure: when the upstream stops reading, the client soon cannot
/// write any more; the proxy does not soak the message up in memory.
#[tokio::test]
async fn backpressure_holds_when_the_upstream_stops_reading() {
    let (_px, mut c, mut u) = through_to_hand_upstream("transparent").await;
    u.send(b"220 slow ESMTP\r\n").await;
    c.reply().await;
    c.send(b"DATA\r\n").await;
    assert_eq!(u.raw_line().await, b"DATA\r\n");
    u.send(b"354 go\r\n").await;
    assert_eq!(c.code().await, 354);
    // Now the upstream reads nothing more.
    let chunk = vec![b'z'; 1 << 16];
    let mut written = 0usize;
    loop {
        match tokio::time::timeout(Duration::from_millis(500), c.writer.write_all(&chunk)).await {
            Ok(Ok(())) => written += chunk.len(),
            Ok(Err(e)) => panic!("write failed: {e}"),
            Err(_) => break,
        }
        assert!(
            written < 48 << 20,
            "the proxy kept accepting data: {written} bytes"
        );
    }
    // Kernel buffers on both legs plus one proxy chunk, not the message.
    assert!(written > 0);
    drop(u);
}

#[tokio::test]
async fn dropping_the_proxy_says_421_and_closes_both_legs() {
    let up = server("postfix-default").await;
    let px = proxy(&up, Profile::bundled("transparent").unwrap()).await;
    let mut c = RawClient::connect(px.addr()).await;
    c.reply().await;
    assert_eq!(c.cmd("HELO me").await, 250);
    drop(px);
    assert_eq!(c.reply().await, ["421 4.3.2 Proxy shutting down"]);
    assert!(c.until_eof().await.is_empty());
    let ut = up.wait_for_sessions(1).await.unwrap();
    assert_eq!(ut.sessions[0].closed_by(), Some(Closer::Client));
}

/// Every YAML example in docs/proxy.md is a valid profile.
#[test]
fn proxy_docs_examples_are_valid_profiles() {
    let doc = std::fs::read_to_string("docs/proxy.md").unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in doc.lines().enumerate() {
        match (&mut current, line.trim_end()) {
            (None, "```yaml") => current = Some((i + 2, String::new())),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some((_, text)), l) => {
                text.push_str(l);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(
        blocks.len() >= 10,
        "found only {} yaml blocks",
        blocks.len()
    );
    for (line, yaml) in blocks {
        // A `proxy --config` file, not a profile: it loads as one.
        if yaml.starts_with("# yaml-language-server: $schema=../schema/proxies.schema.json") {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("proxies.yaml");
            std::fs::write(&file, &yaml).unwrap();
            if let Err(e) = smtp_harness::proxy::config::load(&file) {
                panic!("docs/proxy.md block at line {line} is not a valid proxies file:\n{e}");
            }
            continue;
        }
        if let Err(e) = Profile::from_yaml(&yaml) {
            panic!("docs/proxy.md block at line {line} is invalid:\n{e}\n---\n{yaml}");
        }
    }
}
