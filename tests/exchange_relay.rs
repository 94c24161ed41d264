//! Relay and recipients like the product (issue 14, point 3): a default
//! Exchange refuses anonymous relay in its own words, and nmap's
//! `smtp-open-relay` and `smtp-enum-users` see what they see against it.

mod common;

use common::nmap;
use common::tools::{self, NMAP};
use rstest::rstest;
use smtp_harness::{MockServer, Scenario};

/// MAIL, then each RCPT: the replies, one line each.
fn rcpt_replies(port: u16, recipients: &[&str]) -> Vec<String> {
    let script = r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s.ehlo("client.example.org")
s.mail("someone@example.org")
for r in sys.argv[2:]:
    code, text = s.rcpt(r)
    print(code, text.decode())
s.quit()
"#;
    let mut args = vec![port.to_string()];
    args.extend(recipients.iter().map(|r| r.to_string()));
    tools::python3(script, &args)
        .lines()
        .map(str::to_string)
        .collect()
}

#[rstest]
#[case::exchange_2003(
    "exchange-2003",
    "admin@adatum.com",
    "550 5.7.1 Unable to relay for victim@example.net"
)]
#[case::exchange_2019(
    "exchange-2019",
    "admin@fabrikam.com",
    "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain"
)]
fn anonymous_relay_is_refused_in_the_products_words(
    #[case] name: &str,
    #[case] local: &str,
    #[case] refusal: &str,
) {
    let server = MockServer::start_blocking(Scenario::bundled(name).unwrap()).unwrap();
    let got = rcpt_replies(server.addr().port(), &["victim@example.net", local]);
    assert_eq!(got, [refusal, "250 2.1.5 Recipient OK"]);
}

#[rstest]
#[case("exchange-2003")]
#[case("exchange-2019")]
fn nmap_smtp_open_relay_finds_no_open_relay(#[case] name: &str) {
    let Some(nmap) = tools::require(&NMAP, "nmap_smtp_open_relay_finds_no_open_relay") else {
        return;
    };
    let server = MockServer::start_blocking(Scenario::bundled(name).unwrap()).unwrap();
    let out = nmap::script(nmap, server.addr().port(), "smtp-open-relay", &[]);
    assert!(
        out.contains("smtp-open-relay"),
        "the script did not run:\n{out}"
    );
    assert!(!out.contains("open relay ("), "{name}:\n{out}");
    assert!(
        out.contains("doesn't seem to be an open relay"),
        "{name}:\n{out}"
    );
    // Every attempt reached RCPT and was refused there.
    let t = server.transcript();
    assert!(t.client_sent("RCPT"), "{}", t.to_text());
    assert!(t.client_got(550), "{}", t.to_text());
}

#[rstest]
#[case("exchange-2003")]
#[case("exchange-2019")]
fn nmap_smtp_enum_users_finds_nobody(#[case] name: &str) {
    let Some(nmap) = tools::require(&NMAP, "nmap_smtp_enum_users_finds_nobody") else {
        return;
    };
    let server = MockServer::start_blocking(Scenario::bundled(name).unwrap()).unwrap();
    let out = nmap::script(nmap, server.addr().port(), "smtp-enum-users", &[]);
    assert!(out.contains("Couldn't find any accounts"), "{name}:\n{out}");
    for user in ["root", "admin", "administrator", "webadmin", "sysadmin"] {
        assert!(
            !out.lines()
                .any(|l| l.trim_start_matches(['|', '_', ' ']) == user),
            "{name}: nmap 'found' {user}:\n{out}"
        );
    }
    let t = server.transcript();
    assert!(t.client_sent("RCPT"), "{}", t.to_text());
}
