//! The probe and the demo over real TCP: every bundled scenario and profile
//! gets the verdict a real detector should give; a real aiosmtpd is clean
//! and a PIX in front of it is not; silent and garbage peers end with exit
//! code 2 inside the timeout; the demo's text and HTML tell the story.

mod common;

use rstest::rstest;
use smtp_harness::probe::report::StarttlsStatus;
use smtp_harness::probe::{ProbeOptions, Report, Status, probe};
use smtp_harness::{MockProxy, MockServer, Profile, Scenario};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_smtp-harness");

fn ids(r: &Report) -> Vec<&str> {
    r.evidence.iter().map(|e| e.id).collect()
}

fn check(r: &Report, status: Status, evidence: &[&str]) {
    assert_eq!(r.verdict.status, status, "{}", r.verdict.summary);
    for id in evidence {
        assert!(
            ids(r).contains(id),
            "missing {id}: {:?} / {}",
            ids(r),
            r.verdict.summary
        );
    }
    if status == Status::Clean {
        assert_eq!(r.verdict.summary, "no interference");
        assert!(r.evidence.is_empty());
    }
}

fn scenario(spec: &str) -> Scenario {
    if spec.contains(':') {
        Scenario::from_yaml(spec).unwrap()
    } else {
        Scenario::bundled(spec).unwrap()
    }
}

#[rstest]
#[case::exchange_2003("exchange-2003", Status::Clean, &[])]
#[case::exchange_2019("exchange-2019", Status::Clean, &[])]
#[case::postfix("postfix-default", Status::Clean, &[])]
#[case::pix("pix-mailguard", Status::Finding, &["masked_banner", "ehlo_refused", "verbs_filtered"])]
#[case::asa("asa-inspect-esmtp", Status::Finding, &["masked_banner", "masked_keywords"])]
#[case::interscan("third-party-banner", Status::Finding, &["third_party_banner"])]
#[case::tls_refuse("extends: postfix-default\ntls: {fail: refuse}", Status::Finding, &["starttls_broken"])]
#[case::tls_break("extends: postfix-default\ntls: {fail: break}", Status::Finding, &["starttls_broken"])]
#[tokio::test]
async fn scenarios_get_the_expected_verdict(
    #[case] spec: &str,
    #[case] status: Status,
    #[case] evidence: &[&str],
) {
    let server = MockServer::start(scenario(spec)).await.unwrap();
    let r = probe(server.addr(), &ProbeOptions::default()).await;
    check(&r, status, evidence);
    if spec.contains("tls:") {
        assert!(
            !r.verdict.proxy_suspected,
            "a TLS failure is not a proxy: {}",
            r.verdict.summary
        );
        assert_eq!(r.starttls.as_ref().unwrap().status, StarttlsStatus::Broken);
    }
    if spec == "exchange-2019" {
        let tls = r.starttls.as_ref().unwrap();
        assert_eq!(tls.status, StarttlsStatus::Works, "{}", tls.reason);
        assert!(!tls.keywords_after_tls.iter().any(|k| k == "STARTTLS"));
    }
    if spec == "exchange-2003" {
        let b = r.banner.as_ref().unwrap();
        assert_eq!(b.exchange.as_deref(), Some("2000/2003"));
        assert_eq!(b.version.as_deref(), Some("6.0.3790.3959"));
    }
}

#[rstest]
#[case::transparent_2003("exchange-2003", "transparent", Status::Clean, &[])]
#[case::transparent_2019_tls_passes("exchange-2019", "transparent", Status::Clean, &[])]
#[case::pix("exchange-2003", "pix-mailguard", Status::Finding, &["masked_banner", "ehlo_refused"])]
#[case::pix_2019("exchange-2019", "pix-mailguard", Status::Finding, &["masked_banner", "ehlo_refused"])]
#[case::asa("exchange-2003", "asa-inspect-esmtp", Status::Finding, &["masked_banner", "masked_keywords"])]
#[case::strip_2019("exchange-2019", "starttls-strip", Status::Finding, &["starttls_stripped"])]
#[case::strip_2003("exchange-2003", "starttls-strip", Status::Finding, &["mixed_unknown_replies"])]
#[case::strip_postfix("postfix-default", "starttls-strip", Status::Finding, &["mixed_unknown_replies"])]
// Envelope rewriting is invisible to a probe that sends no mail.
#[case::reroute("exchange-2003", "exchange-reroute", Status::Clean, &[])]
#[tokio::test]
async fn profiles_get_the_expected_verdict(
    #[case] upstream: &str,
    #[case] profile: &str,
    #[case] status: Status,
    #[case] evidence: &[&str],
) {
    let server = MockServer::start(Scenario::bundled(upstream).unwrap())
        .await
        .unwrap();
    let proxy = MockProxy::start(server.addr(), Profile::bundled(profile).unwrap())
        .await
        .unwrap();
    let r = probe(proxy.addr(), &ProbeOptions::default()).await;
    check(&r, status, evidence);
    if status == Status::Finding {
        assert!(
            r.verdict.summary.starts_with("possible SMTP proxy ("),
            "{}",
            r.verdict.summary
        );
    }
}

#[tokio::test]
async fn send_test_delivers_one_message_and_only_then() {
    let server = MockServer::start(Scenario::bundled("exchange-2003").unwrap())
        .await
        .unwrap();
    let _ = probe(server.addr(), &ProbeOptions::default()).await;
    assert!(server.messages().is_empty(), "no mail without --send-test");
    let options = ProbeOptions {
        send_test: Some(("probe@contoso.com".into(), "postmaster@adatum.com".into())),
        ..ProbeOptions::default()
    };
    let r = probe(server.addr(), &options).await;
    assert!(r.test_message.as_ref().unwrap().accepted);
    assert_eq!(server.messages().len(), 1);
    check(&r, Status::Clean, &[]);
}

// ---- peers that are not SMTP ------------------------------------------------

/// A listener that accepts and then does `behave` with each connection.
fn peer(behave: fn(TcpStream)) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            std::thread::spawn(move || behave(s));
        }
    });
    addr
}

fn run_cli(args: &[&str]) -> (i32, String, Duration) {
    let start = Instant::now();
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        start.elapsed(),
    )
}

#[rstest]
#[case::silent(|s: TcpStream| { std::thread::sleep(Duration::from_secs(30)); drop(s) }, "no greeting within")]
#[case::garbage(|mut s: TcpStream| { let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n"); std::thread::sleep(Duration::from_secs(5)); }, "not SMTP")]
#[case::binary(|mut s: TcpStream| { let _ = s.write_all(&[0x16, 0x03, 0x01, 0x00, 0xff, 0x0a]); std::thread::sleep(Duration::from_secs(5)); }, "not SMTP")]
#[case::closes(|s: TcpStream| drop(s), "without a greeting")]
#[case::banner_then_silence(|mut s: TcpStream| { let _ = s.write_all(b"220 looks like smtp\r\n"); std::thread::sleep(Duration::from_secs(30)); }, "EHLO: no reply within")]
fn unprobeable_peers_exit_2_within_the_timeout(#[case] behave: fn(TcpStream), #[case] says: &str) {
    let addr = peer(behave);
    let (code, out, took) = run_cli(
        &[&addr.to_string(), "--timeout", "1s", "--color", "never"][..]
            .iter()
            .copied()
            .fold(vec!["probe"], |mut v, a| {
                v.push(a);
                v
            }),
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("could not probe"), "{out}");
    assert!(out.contains(says), "{out}");
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

#[test]
fn cli_exit_codes_and_json_schema() {
    let clean = MockServer::start_blocking(Scenario::bundled("postfix-default").unwrap()).unwrap();
    let pix = MockServer::start_blocking(Scenario::bundled("pix-mailguard").unwrap()).unwrap();
    let (code, out, _) = run_cli(&["probe", &clean.addr().to_string(), "--color", "never"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no interference"), "{out}");
    let (code, out, _) = run_cli(&["probe", &pix.addr().to_string(), "--json"]);
    assert_eq!(code, 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema"], "smtp-harness.probe/1");
    assert_eq!(v["verdict"]["status"], "finding");
    assert_eq!(v["verdict"]["exit_code"], 1);
    assert_eq!(v["verdict"]["proxy_suspected"], true);
    assert_eq!(v["banner"]["kind"], "masked");
    assert_eq!(v["greeting"]["ehlo_accepted"], false);
    assert_eq!(v["greeting"]["helo"]["code"], 250);
    assert_eq!(v["evidence"][0]["id"], "masked_banner");
    let vrfy = v["verbs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["verb"] == "VRFY")
        .unwrap();
    assert_eq!(vrfy["filtered"], true);
    assert_eq!(vrfy["expected"], "required");
    assert!(v["transcript"].as_array().unwrap().len() > 10);
    let (code, out, _) = run_cli(&["probe", "127.0.0.1:1", "--json", "--timeout", "1s"]);
    assert_eq!(code, 2, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verdict"]["status"], "could_not_probe");
}

// ---- a real server: aiosmtpd -----------------------------------------------

struct Aiosmtpd {
    child: Child,
    addr: SocketAddr,
}

impl Aiosmtpd {
    /// `None` when aiosmtpd is missing outside CI (see `common::tools`).
    fn start(test: &str) -> Option<Aiosmtpd> {
        let python = common::tools::require(&common::tools::AIOSMTPD, test)?;
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l", &addr.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start aiosmtpd");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
                panic!("aiosmtpd exited ({status}) before accepting: {err}");
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not accept within 20 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Aiosmtpd { child, addr })
    }
}

impl Drop for Aiosmtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn real_aiosmtpd_is_clean_and_a_pix_in_front_is_not() {
    let Some(server) = Aiosmtpd::start("real_aiosmtpd_is_clean_and_a_pix_in_front_is_not") else {
        return;
    };
    let r = probe(server.addr, &ProbeOptions::default()).await;
    assert_eq!(r.verdict.summary, "no interference", "{:#?}", r.evidence);
    assert!(r.banner.as_ref().unwrap().lines[0].contains("Python SMTP"));
    for profile in ["pix-mailguard", "asa-inspect-esmtp", "starttls-strip"] {
        let proxy = MockProxy::start(server.addr, Profile::bundled(profile).unwrap())
            .await
            .unwrap();
        let r = probe(proxy.addr(), &ProbeOptions::default()).await;
        assert!(
            r.verdict.summary.starts_with("possible SMTP proxy"),
            "{profile}: {}",
            r.verdict.summary
        );
        assert_eq!(r.verdict.exit_code, 1);
    }
}

// ---- the demo ---------------------------------------------------------------

#[rstest]
#[case::pix("pix-mailguard", &["≠", "(never arrived)", "banner-mask", "answered itself (verb-filter)", "-> HELO client.contoso.com", "Extensions the client lost: 16", "X-LINK2STATE", "possible SMTP proxy (masked banner, EHLO refused"])]
#[case::asa("asa-inspect-esmtp", &["XXXA SIZE ETRN", "ehlo-rewrite", "possible SMTP proxy (masked banner"])]
#[case::strip("starttls-strip", &["Exchange 2019", "Extensions the client lost: 1", "-> STARTTLS", "STARTTLS stripped"])]
#[case::transparent("transparent", &["0 change(s) by the proxy", "through no interference"])]
fn demo_text_tells_the_story(#[case] profile: &str, #[case] lines: &[&str]) {
    let start = Instant::now();
    let (code, out, _) = run_cli(&["demo", "--profile", profile, "--color", "never"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "the demo must be fast"
    );
    // Wrapped lines are joined: the check is about words, not layout.
    let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
    for want in lines.iter().chain(&[
        "CLIENT sent / saw",
        "SERVER received / answered",
        "direct no interference",
    ]) {
        let want = want.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(&want), "missing {want:?} in:\n{out}");
    }
    for line in out.lines() {
        assert!(
            line.chars().count() <= 80,
            "wider than 80 columns: {line:?}"
        );
    }
}

#[test]
fn demo_accepts_a_profile_file_and_refuses_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("my-firewall.yaml");
    std::fs::write(
        &file,
        "name: my-firewall\nextends: pix-mailguard\nverbs: {action: mask}\n",
    )
    .unwrap();
    let (code, out, _) = run_cli(&[
        "demo",
        "--profile",
        file.to_str().unwrap(),
        "--color",
        "never",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("behind `my-firewall`"), "{out}");
    let (code, _, _) = run_cli(&["demo", "--profile", "no-such-profile"]);
    assert_eq!(code, 1);
}

fn demo_html(dir: &Path) -> String {
    let page = dir.join("story.html");
    let (code, out, _) = run_cli(&["demo", "--html", page.to_str().unwrap(), "--color", "never"]);
    assert_eq!(code, 0, "{out}");
    std::fs::read_to_string(page).unwrap()
}

#[test]
fn demo_html_is_one_self_contained_sequence_diagram() {
    let dir = tempfile::tempdir().unwrap();
    let html = demo_html(dir.path());
    assert!(html.starts_with("<!DOCTYPE html>"));
    for lane in ["client", "proxy", "server"] {
        assert_eq!(
            html.matches(&format!(r#"class="lane" data-lane="{lane}""#))
                .count(),
            1,
            "lane {lane}"
        );
    }
    for forbidden in [
        "http://", "https://", "src=", "<script", "@import", "url(http",
    ] {
        assert!(
            !html.contains(forbidden),
            "external resource or script: {forbidden}"
        );
    }
    // Every event of the proxied session is an arrow: commands on both legs,
    // replies on both legs.
    for text in [
        "EHLO client.contoso.com",
        "HELO client.contoso.com",
        "MAIL FROM:&lt;alice@contoso.com&gt;",
        "RCPT TO:&lt;administrator@cpandl.net&gt;",
        "DATA",
        "&lt;message: 234 octets&gt;",
        "QUIT",
        "500 5.5.1 Command unrecognized",
        "Microsoft ESMTP MAIL Service",
        "250 2.1.0 Sender OK",
        "Queued mail for delivery",
        "221 2.0.0",
    ] {
        assert!(html.contains(text), "missing {text}");
    }
    let arrows = html.matches(r#"<g class="msg"#).count();
    // banner 2 + EHLO 3 (sent, kept, answered) + 6 commands × 4.
    assert_eq!(arrows, 2 + 3 + 6 * 4, "arrows");
    assert_eq!(
        html.matches(r#"<g class="msg changed""#).count(),
        3,
        "banner, EHLO kept, EHLO answered"
    );
    assert!(html.contains("possible SMTP proxy (masked banner, EHLO refused"));
}

#[test]
fn demo_html_renders_in_headless_chromium() {
    let Some(chromium) = common::tools::require(
        &common::tools::CHROMIUM,
        "demo_html_renders_in_headless_chromium",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    demo_html(dir.path());
    let shot = dir.path().join("out.png");
    let profile = dir.path().join("chromium-profile");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1400,1200")
        .arg(format!(
            "file://{}",
            dir.path().join("story.html").display()
        ))
        .output()
        .unwrap();
    let png = std::fs::read(&shot)
        .unwrap_or_else(|_| panic!("no screenshot: {}", String::from_utf8_lossy(&out.stderr)));
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    assert!(
        png.len() > 30_000,
        "a nearly empty page ({} bytes)",
        png.len()
    );
}
