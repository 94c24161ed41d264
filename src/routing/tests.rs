//! The decision function against each article's example.

use super::*;
use rstest::rstest;
use std::net::IpAddr;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn deliver(m: &str) -> Decision {
    Decision::Deliver { mailbox: m.into() }
}

fn relay(to: &str) -> Decision {
    Decision::Relay { to: to.into() }
}

/// Q307628: adatum.com inbound; cpandl.net, cpandl.org, internal.adatum.com → adatum.com.
fn q307628() -> Routing {
    let to = || RouteTo::Domain("adatum.com".into());
    Routing {
        reroute: RerouteTable {
            entries: vec![
                ("adatum.com".into(), RouteTo::Inbound),
                ("cpandl.net".into(), to()),
                ("cpandl.org".into(), to()),
                ("internal.adatum.com".into(), to()),
            ],
        },
        directory: Directory {
            mailboxes: vec![Mailbox {
                primary: "administrator@adatum.com".into(),
                proxies: vec![],
            }],
            ..Directory::default()
        },
        ..Routing::default()
    }
}

/// Q237927: rerouting off, relay only for 192.168.0.1.
fn q237927(pre_sp3: bool) -> Routing {
    Routing {
        directory: Directory {
            domains: vec!["adatum.com".into()],
            mailboxes: vec![Mailbox {
                primary: "administrator@adatum.com".into(),
                proxies: vec![],
            }],
            ..Directory::default()
        },
        relay: RelayPolicy {
            allow: vec!["192.168.0.1".parse().unwrap()],
            reroute_incoming: false,
            ..RelayPolicy::default()
        },
        quirks: Quirks {
            pre_sp3_imcea: pre_sp3,
        },
        ndr: NdrSettings {
            mode: NdrMode::Bounce,
            ..NdrSettings::default()
        },
        ..Routing::default()
    }
}

#[rstest]
#[case("administrator@adatum.com")]
#[case("administrator@cpandl.net")]
#[case("Administrator@CPANDL.ORG")]
#[case("administrator@internal.adatum.com")]
fn q307628_reroutes_to_the_adatum_mailbox(#[case] rcpt: &str) {
    assert_eq!(
        route(rcpt, ip("10.1.1.1"), &q307628()),
        deliver("administrator@adatum.com")
    );
}

#[test]
fn q307628_unknown_and_foreign() {
    let r = q307628();
    assert_eq!(
        route("nobody@cpandl.net", ip("10.1.1.1"), &r),
        Decision::Reject(Reply::new(550, "5.1.1 User unknown"))
    );
    assert_eq!(
        route("someone@example.com", ip("10.1.1.1"), &r),
        Decision::Reject(unable_to_relay())
    );
}

#[rstest]
#[case(
    false,
    "127.0.0.1",
    "IMCEASMTP-user+40example+2Ecom@adatum.com",
    Decision::Bounce(NdrReason::NotRerouted)
)]
#[case(
    true,
    "127.0.0.1",
    "IMCEASMTP-user+40example+2Ecom@adatum.com",
    relay("user@example.com")
)]
#[case(
    true,
    "127.0.0.1",
    "imceasmtp-user+40example+2Ecom@adatum.com",
    relay("user@example.com")
)]
#[case(false, "192.168.0.1", "user@example.com", relay("user@example.com"))]
#[case(true, "192.168.0.1", "user@example.com", relay("user@example.com"))]
#[case(
    false,
    "127.0.0.1",
    "user@example.com",
    Decision::Reject(unable_to_relay())
)]
#[case(
    true,
    "127.0.0.1",
    "user@example.com",
    Decision::Reject(unable_to_relay())
)]
#[case(
    false,
    "127.0.0.1",
    "administrator@adatum.com",
    deliver("administrator@adatum.com")
)]
#[case(
    false,
    "127.0.0.1",
    "nobody@adatum.com",
    Decision::Bounce(NdrReason::UnknownRecipient)
)]
#[case(
    true,
    "127.0.0.1",
    "IMCEASMTP-administrator+40adatum+2Ecom@adatum.com",
    deliver("administrator@adatum.com")
)]
fn q237927_imcea_with_rerouting_off(
    #[case] pre_sp3: bool,
    #[case] client: &str,
    #[case] rcpt: &str,
    #[case] want: Decision,
) {
    assert_eq!(route(rcpt, ip(client), &q237927(pre_sp3)), want);
}

#[test]
fn imcea_with_rerouting_on_obeys_the_restrictions() {
    let mut r = q237927(false);
    r.relay.reroute_incoming = true;
    let rcpt = "IMCEASMTP-user+40example+2Ecom@adatum.com";
    assert_eq!(
        route(rcpt, ip("192.168.0.1"), &r),
        relay("user@example.com")
    );
    assert_eq!(
        route(rcpt, ip("127.0.0.1"), &r),
        Decision::Reject(unable_to_relay())
    );
}

#[test]
fn q183801_address_types() {
    let mut r = Routing {
        relay: RelayPolicy {
            allow: vec!["127.0.0.0/8".parse().unwrap()],
            ..RelayPolicy::default()
        },
        ndr: NdrSettings {
            mode: NdrMode::Bounce,
            ..NdrSettings::default()
        },
        ..Routing::default()
    };
    let rcpt = "[SMTPOUT:user@internal.domain.com]";
    assert_eq!(
        route(rcpt, ip("127.0.0.1"), &r),
        Decision::Bounce(NdrReason::NoProxy)
    );
    r.ndr.mode = NdrMode::Reject;
    assert_eq!(
        route(rcpt, ip("127.0.0.1"), &r),
        Decision::Reject(Reply::new(550, "5.4.4 No proxy for Recipient"))
    );
    r.override_proxy_out = vec!["SMTPOUT".into()];
    assert_eq!(
        route(rcpt, ip("127.0.0.1"), &r),
        relay("user@internal.domain.com")
    );
    assert_eq!(
        route("[smtp:a@b.example]", ip("127.0.0.1"), &r),
        relay("a@b.example")
    );
}

#[test]
fn eas_alternate_rhs_and_ambiguity() {
    let r = Routing {
        directory: Directory {
            domains: vec!["contoso.com".into()],
            mailboxes: vec![
                Mailbox {
                    primary: "kim@contoso.com".into(),
                    proxies: vec!["kim.akers@contoso.com".into(), "help@contoso.com".into()],
                },
                Mailbox {
                    primary: "lee@contoso.com".into(),
                    proxies: vec!["help@contoso.com".into()],
                },
            ],
            alternate_rhs: Some("mobile.contoso.com".into()),
            accept_all: false,
        },
        ..Routing::default()
    };
    let c = ip("127.0.0.1");
    for a in [
        "kim@contoso.com",
        "kim.akers@contoso.com",
        "kim@mobile.contoso.com",
    ] {
        assert_eq!(route(a, c, &r), deliver("kim@contoso.com"), "{a}");
    }
    assert_eq!(
        route("help@contoso.com", c, &r),
        Decision::Reject(Reply::new(550, "5.1.4 Ambiguous recipient"))
    );
    let mut all = r.clone();
    all.directory.accept_all = true;
    assert_eq!(
        route("new@contoso.com", c, &all),
        deliver("new@contoso.com")
    );
    assert_eq!(
        r.local_mailbox("kim@mobile.contoso.com").as_deref(),
        Some("kim@contoso.com")
    );
    assert_eq!(r.local_mailbox("x@example.com"), None);
}

#[test]
fn reroute_loops_end() {
    let r = Routing {
        reroute: RerouteTable {
            entries: vec![
                ("a.example".into(), RouteTo::Domain("b.example".into())),
                ("b.example".into(), RouteTo::Domain("a.example".into())),
            ],
        },
        ..Routing::default()
    };
    assert_eq!(
        route("x@a.example", ip("127.0.0.1"), &r),
        Decision::Reject(Reply::new(554, "5.4.6 Too many hops"))
    );
}
