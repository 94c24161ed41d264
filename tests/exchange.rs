//! The Exchange articles' examples, end to end: bundled scenarios over real
//! TCP on loopback, driven by clients nobody here wrote (lettre, Python's
//! smtplib), with each article's own addresses, domains and IP.

mod common;

use common::Launched;
use common::tools::python3;
use lettre::message::header::ContentType;
use lettre::{Message as Mail, SmtpTransport, Transport};
use rstest::rstest;
use smtp_harness::{Message, MockServer, Scenario};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// smtplib, step by step: EHLO, optional `XCLIENT ADDR=`, MAIL, one RCPT per
/// recipient (sent as given, so one-offs like `[SMTPOUT:…]` pass unmangled),
/// DATA if any was accepted. Prints what the server answered, as JSON.
const SMTPLIB: &str = r#"
import json, smtplib, sys
port, source, xclient, sender, body = sys.argv[1:6]
rcpts = sys.argv[6:]
s = smtplib.SMTP("127.0.0.1", int(port), timeout=10,
                 source_address=(source, 0) if source else None)
out = {}
s.ehlo("client.adatum.com")
out["xclient_advertised"] = s.has_extn("xclient")
if xclient:
    code, msg = s.docmd("XCLIENT", "ADDR=" + xclient)
    out["xclient"] = [code, msg.decode()]
    s.ehlo("client.adatum.com")   # Postfix: the session starts over
s.mail(sender)
out["rcpt"] = []
for r in rcpts:
    code, msg = s.docmd("RCPT", "TO:<%s>" % r)
    out["rcpt"].append([code, msg.decode()])
if any(c // 100 == 2 for c, _ in out["rcpt"]):
    code, msg = s.data(body.encode())
    out["data"] = [code, msg.decode()]
else:
    s.rset()
s.quit()
print(json.dumps(out))
"#;

#[derive(Debug)]
struct Sent {
    xclient_advertised: bool,
    xclient: Option<(u16, String)>,
    rcpt: Vec<(u16, String)>,
    data: Option<(u16, String)>,
}

fn smtplib(server: &MockServer, source: &str, xclient: &str, sender: &str, rcpts: &[&str]) -> Sent {
    let body = "From: administrator@adatum.com\r\nTo: user@domain.com\r\nSubject: Test Subject\r\n\r\nHello.\r\n";
    let port = server.addr().port().to_string();
    let mut args = vec![port.as_str(), source, xclient, sender, body];
    args.extend_from_slice(rcpts);
    let out = python3(SMTPLIB, &args);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON from the script");
    let pair = |p: &serde_json::Value| {
        (
            p[0].as_u64().unwrap_or(0) as u16,
            p[1].as_str().unwrap_or_default().to_string(),
        )
    };
    Sent {
        xclient_advertised: v["xclient_advertised"].as_bool().unwrap_or(false),
        xclient: v.get("xclient").map(pair),
        rcpt: v["rcpt"]
            .as_array()
            .map(|a| a.iter().map(pair).collect())
            .unwrap_or_default(),
        data: v.get("data").map(pair),
    }
}

fn lettre_send(port: u16, from: &str, to: &str) -> Result<(), lettre::transport::smtp::Error> {
    let mail = Mail::builder()
        .from(from.parse().unwrap())
        .to(to.parse().unwrap())
        .subject("Test Subject")
        .header(ContentType::TEXT_PLAIN)
        .body("Hello.\n".to_string())
        .unwrap();
    SmtpTransport::builder_dangerous("127.0.0.1")
        .port(port)
        .build()
        .send(&mail)
        .map(|_| ())
}

fn server(name: &str) -> MockServer {
    MockServer::start_blocking(Scenario::bundled(name).unwrap()).unwrap()
}

/// `(original, delivered_to)` of every recipient of every stored message
/// that is not a report.
fn deliveries(msgs: &[Message]) -> Vec<(String, String)> {
    msgs.iter()
        .filter(|m| !m.mail_from.is_empty())
        .flat_map(|m| m.recipients.iter())
        .map(|r| (r.original.clone(), r.delivered_to.clone()))
        .collect()
}

fn reports(msgs: &[Message]) -> Vec<&Message> {
    msgs.iter().filter(|m| m.mail_from.is_empty()).collect()
}

// ---- Q307628: the reroute table -------------------------------------------

#[rstest]
#[case("administrator@cpandl.net")]
#[case("administrator@cpandl.org")]
#[case("administrator@internal.adatum.com")]
#[case("administrator@adatum.com")]
fn q307628_rerouted_domains_land_in_the_adatum_mailbox(#[case] to: &str) {
    let server = server("exchange55-multi-domain-reroute");
    lettre_send(server.addr().port(), "someone@example.org", to).expect("accepted");
    assert_eq!(
        deliveries(&server.messages()),
        [(to.to_string(), "administrator@adatum.com".to_string())]
    );
}

#[test]
fn q307628_refuses_unknown_users_and_relaying() {
    let server = server("exchange55-multi-domain-reroute");
    let sent = smtplib(
        &server,
        "",
        "",
        "someone@example.org",
        &["nobody@cpandl.net", "user@example.com"],
    );
    assert_eq!(
        sent.rcpt,
        [
            (550, "5.1.1 User unknown".to_string()),
            (550, "5.7.1 Unable to relay".to_string())
        ]
    );
    assert!(!sent.xclient_advertised);
    assert!(server.messages().is_empty());
}

/// The CLI with `--maildir`: mail to administrator@cpandl.net is a file in
/// administrator@adatum.com's Maildir, with both addresses recorded.
#[test]
fn q307628_maildir_landing_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("mail");
    let mut cmd = Launched::command(&[
        "serve",
        "exchange55-multi-domain-reroute",
        "--listen",
        "127.0.0.1:0",
        "--quiet",
        "--maildir",
    ]);
    cmd.arg(&maildir).stderr(Stdio::null());
    let served = Launched::spawn(cmd);
    let addr = served.addr.clone();
    let port: u16 = addr.rsplit_once(':').unwrap().1.parse().unwrap();
    let sent = lettre_send(port, "someone@example.org", "administrator@cpandl.net");
    let new = maildir.join("administrator@adatum.com").join("new");
    let deadline = Instant::now() + Duration::from_secs(10);
    let files = loop {
        let files: Vec<_> = std::fs::read_dir(&new)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        if !files.is_empty() || Instant::now() > deadline {
            break files;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(served);
    sent.expect("accepted");
    assert_eq!(files.len(), 1, "{new:?}");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        text.starts_with(
            "Return-Path: <someone@example.org>\r\nX-Original-To: administrator@cpandl.net\r\nDelivered-To: administrator@adatum.com\r\n"
        ),
        "{text}"
    );
    assert!(!maildir.join("administrator@cpandl.net").exists());
}

// ---- Q237927: relay restrictions, rerouting off, the IMCEA bug -----------

#[test]
fn relay_only_for_192_168_0_1_claimed_with_xclient() {
    let server = server("exchange55-relay-restricted");
    let refused = smtplib(&server, "", "", "someone@adatum.com", &["user@example.com"]);
    // Accepted, not advertised: the IMS's EHLO list stays the product's.
    assert!(!refused.xclient_advertised);
    assert_eq!(refused.rcpt, [(550, "5.7.1 Unable to relay".to_string())]);

    let relayed = smtplib(
        &server,
        "",
        "192.168.0.1",
        "someone@adatum.com",
        &["user@example.com"],
    );
    let (code, greeting) = relayed.xclient.clone().unwrap();
    assert_eq!(code, 220);
    assert!(
        greeting.contains("Microsoft Exchange Internet Mail Service 5.5"),
        "{greeting}"
    );
    assert_eq!(relayed.rcpt[0].0, 250, "{relayed:?}");
    assert_eq!(relayed.data.unwrap().0, 250);
    assert_eq!(
        deliveries(&server.messages()),
        [(
            "user@example.com".to_string(),
            "user@example.com".to_string()
        )]
    );
}

/// The real peer address decides too: a client bound to 127.0.0.2 relays
/// when the list names it, and one on 127.0.0.1 does not.
#[test]
fn relay_decided_by_the_real_peer_address() {
    let scenario = Scenario::from_yaml(
        "extends: exchange55-relay-restricted\nrelay:\n  allow: [192.168.0.1, 127.0.0.2]\n",
    )
    .unwrap();
    let server = MockServer::start_blocking(scenario).unwrap();
    let from2 = smtplib(
        &server,
        "127.0.0.2",
        "",
        "someone@adatum.com",
        &["user@example.com"],
    );
    assert_eq!(from2.rcpt[0].0, 250, "{from2:?}");
    let from1 = smtplib(
        &server,
        "127.0.0.1",
        "",
        "someone@adatum.com",
        &["user@example.com"],
    );
    assert_eq!(from1.rcpt[0].0, 550, "{from1:?}");
    let peers: Vec<String> = server
        .messages()
        .iter()
        .map(|m| m.peer.ip().to_string())
        .collect();
    assert_eq!(peers, ["127.0.0.2"]);
}

const IMCEA: &str = "IMCEASMTP-user+40example+2Ecom@adatum.com";

/// Before SP3 the one-off is rerouted, so an unlisted host (127.0.0.1)
/// relays to user@example.com; SP3 returns it with a report.
#[rstest]
#[case::sp2("exchange55-sp2-imcea-bug", true)]
#[case::sp3("exchange55-relay-restricted", false)]
fn q237927_imcea_one_off_from_an_unlisted_host(#[case] scenario: &str, #[case] relayed: bool) {
    let server = server(scenario);
    // The plain address is refused either way.
    let plain = smtplib(
        &server,
        "",
        "",
        "administrator@adatum.com",
        &["user@example.com"],
    );
    assert_eq!(plain.rcpt[0].0, 550);
    let sent = smtplib(&server, "", "", "administrator@adatum.com", &[IMCEA]);
    assert_eq!(sent.rcpt[0].0, 250, "{sent:?}");
    assert_eq!(sent.data.unwrap().0, 250);
    let msgs = server.messages();
    if relayed {
        assert_eq!(
            deliveries(&msgs),
            [(IMCEA.to_string(), "user@example.com".to_string())]
        );
        assert!(reports(&msgs).is_empty());
    } else {
        assert!(deliveries(&msgs).is_empty());
        let [ndr] = reports(&msgs)[..] else {
            panic!("one report expected: {msgs:?}")
        };
        assert_eq!(ndr.recipients[0].delivered_to, "administrator@adatum.com");
        let text = ndr.text().unwrap();
        assert!(text.contains(&format!("{IMCEA} on ")), "{text}");
        assert!(
            text.contains("MSEXCH:IMS:Adatum:SITE:MAIL 0 (000C05A6) Unknown Recipient"),
            "{text}"
        );
        assert!(text.contains("Status: 5.7.1\r\n"), "{text}");
    }
}

#[test]
fn imcea_prefix_is_case_insensitive() {
    let server = server("exchange55-sp2-imcea-bug");
    let sent = smtplib(
        &server,
        "",
        "",
        "administrator@adatum.com",
        &["imceasmtp-user+40example+2Ecom@adatum.com"],
    );
    assert_eq!(sent.rcpt[0].0, 250);
    assert_eq!(deliveries(&server.messages())[0].1, "user@example.com");
}

// ---- Q183801: address types and OverrideProxyOut ---------------------------

const SMTPOUT: &str = "[SMTPOUT:user@internal.domain.com]";

/// Python's email package reads the report: the MIME structure and the
/// RFC 3464 fields, as a mail client would.
fn parse_report(text: &str) -> serde_json::Value {
    let script = r#"
import email, json, sys
m = email.message_from_bytes(sys.stdin.buffer.read())
parts = [p.get_content_type() for p in m.get_payload()]
dsn = [p for p in m.walk() if p.get_content_type() == "message/delivery-status"][0]
blocks = [dict(b.items()) for b in dsn.get_payload()]
human = [p for p in m.walk() if p.get_content_type() == "text/plain"][0].get_payload()
print(json.dumps({"type": m.get_content_type(),
                  "report_type": m.get_param("report-type"),
                  "subject": m["Subject"], "to": m["To"],
                  "parts": parts, "dsn": blocks, "human": human}))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn q183801_smtpout_is_bounced_with_no_proxy_for_recipient() {
    let server = server("exchange55-ims-smtp-only");
    let sent = smtplib(&server, "", "", "administrator@domain.com", &[SMTPOUT]);
    assert_eq!(sent.rcpt[0].0, 250, "accepted, then returned: {sent:?}");
    assert_eq!(sent.data.unwrap().0, 250);
    let msgs = server.messages();
    assert!(deliveries(&msgs).is_empty(), "{msgs:?}");
    let [ndr] = reports(&msgs)[..] else {
        panic!("one report expected: {msgs:?}")
    };
    // Delivered to the (local) sender's mailbox.
    assert_eq!(ndr.recipients[0].original, "administrator@domain.com");
    assert_eq!(ndr.recipients[0].delivered_to, "administrator@domain.com");

    // The human part: the Exchange 5.5 layout.
    let text = ndr.text().unwrap();
    assert!(
        text.contains(
            "Your message\r\n\r\n  To:      user@domain.com\r\n  Subject: Test Subject\r\n  Sent:    "
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "did not reach the following recipient(s):\r\n\r\n{SMTPOUT} on "
        )),
        "{text}"
    );
    assert!(
        text.contains(
            "\r\n    Unable to deliver the message due to a communications failure\r\n    MSEXCH:IMS:DOMAIN:SITE:MAIL 0 (000D06B5) No proxy for Recipient\r\n"
        ),
        "{text}"
    );
    assert_eq!(
        ndr.header("X-Mailer").unwrap().as_deref(),
        Some("Internet Mail Service (5.5.2653.19)")
    );

    // The DSN, as a mail client parses it.
    let r = parse_report(&text);
    assert_eq!(r["type"], "multipart/report");
    assert_eq!(r["report_type"], "delivery-status");
    assert_eq!(r["subject"], "Undeliverable: Test Subject");
    assert_eq!(r["to"], "<administrator@domain.com>");
    assert_eq!(
        r["parts"],
        serde_json::json!([
            "text/plain",
            "message/delivery-status",
            "text/rfc822-headers"
        ])
    );
    assert_eq!(r["dsn"][0]["Reporting-MTA"], "dns; mail.domain.com");
    assert!(r["dsn"][0]["Arrival-Date"].is_string());
    let rcpt = &r["dsn"][1];
    assert_eq!(rcpt["Final-Recipient"], format!("rfc822; {SMTPOUT}"));
    assert_eq!(rcpt["Action"], "failed");
    assert_eq!(rcpt["Status"], "5.4.4");
    assert_eq!(
        rcpt["Diagnostic-Code"],
        "smtp; 550 5.4.4 No proxy for Recipient (000D06B5)"
    );
    assert!(
        r["human"]
            .as_str()
            .unwrap()
            .contains("(000D06B5) No proxy for Recipient")
    );

    // And it is written to the sender's Maildir like any delivery.
    let dir = tempfile::tempdir().unwrap();
    let md = smtp_harness::server::maildir::Maildir::new(dir.path()).unwrap();
    let files = md.deliver(std::slice::from_ref(ndr)).unwrap();
    assert!(files[0].starts_with(dir.path().join("administrator@domain.com").join("new")));
}

#[test]
fn q183801_reject_mode_refuses_at_rcpt() {
    let scenario =
        Scenario::from_yaml("extends: exchange55-ims-smtp-only\nndr:\n  mode: reject\n").unwrap();
    let server = MockServer::start_blocking(scenario).unwrap();
    let sent = smtplib(&server, "", "", "administrator@domain.com", &[SMTPOUT]);
    assert_eq!(
        sent.rcpt,
        [(550, "5.4.4 No proxy for Recipient".to_string())]
    );
    assert!(server.messages().is_empty());
}

#[test]
fn q183801_override_proxy_out_routes_smtpout() {
    let server = server("exchange55-override-proxy-out");
    let sent = smtplib(
        &server,
        "",
        "",
        "administrator@domain.com",
        &[SMTPOUT, "[X400:c=US;a=;p=Domain;s=User]"],
    );
    assert_eq!(sent.rcpt[0].0, 250);
    assert_eq!(sent.data.unwrap().0, 250);
    let msgs = server.messages();
    assert_eq!(
        deliveries(&msgs),
        [(SMTPOUT.to_string(), "user@internal.domain.com".to_string())]
    );
    // X400 is still not an SMTP type: returned.
    assert_eq!(reports(&msgs).len(), 1);
    assert!(
        reports(&msgs)[0]
            .text()
            .unwrap()
            .contains("(000D06B5) No proxy for Recipient")
    );
}

// ---- EAS SMTPProxy: primary, proxy and alternate-RHS addresses -------------

#[rstest]
#[case("administrator@adatum.com")]
#[case("admin@adatum.com")]
#[case("administrator@cpandl.net")]
#[case("administrator@mobile.adatum.com")]
fn eas_mailbox_reachable_by_every_address(#[case] to: &str) {
    let server = server("exchange2003-eas-proxy-address");
    lettre_send(server.addr().port(), "someone@example.org", to).expect("accepted");
    assert_eq!(
        deliveries(&server.messages()),
        [(to.to_string(), "administrator@adatum.com".to_string())]
    );
}

#[test]
fn eas_unknown_user_is_refused() {
    let server = server("exchange2003-eas-proxy-address");
    let err = lettre_send(
        server.addr().port(),
        "someone@example.org",
        "nobody@adatum.com",
    )
    .expect_err("refused");
    assert!(err.to_string().contains("User unknown"), "{err}");
    let err = lettre_send(
        server.addr().port(),
        "someone@example.org",
        "administrator@mobile.example.com",
    )
    .expect_err("refused");
    assert!(err.to_string().contains("Unable to relay"), "{err}");
}

/// swaks sees the same reroute.
#[test]
fn swaks_sees_the_reroute() {
    let Some(swaks) = common::tools::require(&common::tools::SWAKS, "swaks_sees_the_reroute")
    else {
        return;
    };
    let server = server("exchange55-multi-domain-reroute");
    let out = Command::new(swaks)
        .args([
            "--server",
            "127.0.0.1",
            "--port",
            &server.addr().port().to_string(),
        ])
        .args([
            "--from",
            "someone@example.org",
            "--to",
            "administrator@cpandl.org",
        ])
        .args(["--timeout", "10"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        deliveries(&server.messages()),
        [(
            "administrator@cpandl.org".to_string(),
            "administrator@adatum.com".to_string()
        )]
    );
}
