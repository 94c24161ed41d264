//! Checks the mail-handling keys (`directory`, `reroute`, `relay`,
//! `override_proxy_out`, `quirks`, `ndr`, `xclient`) and builds the
//! [`Routing`] the session consults at RCPT. Any of the first six turns
//! routing on; without them every recipient is accepted, as before.

use super::model::*;
use super::problem::Problem;
use crate::routing::{
    Cidr, Directory, Mailbox, NdrSettings, Quirks, RelayPolicy, RerouteTable, RouteTo, Routing,
};
use serde_saphyr::Spanned;

/// What the mail-handling keys compile to.
pub(super) struct Compiled {
    pub routing: Option<Routing>,
    pub xclient: Option<Vec<Cidr>>,
}

struct Check<'a> {
    file: &'a str,
    problems: &'a mut Vec<Problem>,
}

impl Check<'_> {
    fn problem(&mut self, s: &serde_saphyr::Location, msg: impl Into<String>) {
        self.problems.push(Problem::at(self.file, s, msg));
    }

    fn domain(&mut self, d: &Spanned<String>) -> String {
        let v = d.value.trim();
        if v.is_empty() || v.contains('@') || v.contains(char::is_whitespace) {
            self.problem(
                &d.referenced,
                format!("{v:?} is not a domain; expected e.g. adatum.com"),
            );
        }
        v.to_ascii_lowercase()
    }

    fn address(&mut self, a: &Spanned<String>) -> String {
        let v = a.value.trim();
        let ok = v
            .rsplit_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty())
            && !v.contains(char::is_whitespace)
            && !v.contains(['<', '>']);
        if !ok {
            self.problem(
                &a.referenced,
                format!("{v:?} is not an SMTP address; expected LHS@RHS such as administrator@adatum.com"),
            );
        }
        v.to_string()
    }

    fn cidrs(&mut self, list: &[Spanned<String>]) -> Vec<Cidr> {
        list.iter()
            .filter_map(|c| match c.value.parse::<Cidr>() {
                Ok(c) => Some(c),
                Err(e) => {
                    self.problem(&c.referenced, e);
                    None
                }
            })
            .collect()
    }
}

pub(super) fn compile(file: &ScenarioFile, source: &str, problems: &mut Vec<Problem>) -> Compiled {
    let mut c = Check {
        file: source,
        problems,
    };
    let xclient = file.xclient.as_ref().map(|x| match &x.hosts {
        Some(h) => c.cidrs(h),
        None => vec![
            Cidr::host(std::net::Ipv6Addr::LOCALHOST.into()),
            "127.0.0.0/8"
                .parse()
                .unwrap_or(Cidr::host(std::net::Ipv4Addr::LOCALHOST.into())),
        ],
    });
    let on = file.directory.is_some()
        || file.reroute.is_some()
        || file.relay.is_some()
        || file.override_proxy_out.is_some()
        || file.quirks.is_some()
        || file.ndr.is_some();
    if !on {
        return Compiled {
            routing: None,
            xclient,
        };
    }
    let mut routing = Routing::default();
    if let Some(d) = &file.directory {
        routing.directory = Directory {
            domains: d.domains.iter().flatten().map(|x| c.domain(x)).collect(),
            mailboxes: d
                .mailboxes
                .iter()
                .flatten()
                .map(|m| {
                    let primary = match &m.value.primary {
                        Some(p) => c.address(p),
                        None => {
                            c.problem(&m.referenced, "a mailbox needs a `primary` address");
                            String::new()
                        }
                    };
                    let proxies = m
                        .value
                        .proxies
                        .iter()
                        .flatten()
                        .map(|p| c.address(p))
                        .collect();
                    Mailbox { primary, proxies }
                })
                .collect(),
            alternate_rhs: d.alternate_rhs.as_ref().map(|a| c.domain(a)),
            accept_all: d.accept_all.unwrap_or(false),
        };
    }
    if let Some(entries) = &file.reroute {
        let mut table = RerouteTable::default();
        for e in entries {
            let (Some(sent_to), Some(route_to)) = (&e.value.sent_to, &e.value.route_to) else {
                c.problem(
                    &e.referenced,
                    "a reroute entry needs `sent_to` (a domain or list) and `route_to` (`inbound` or a domain)",
                );
                continue;
            };
            let to = if route_to.value.trim().eq_ignore_ascii_case("inbound") {
                RouteTo::Inbound
            } else {
                RouteTo::Domain(c.domain(route_to))
            };
            if sent_to.value.0.is_empty() {
                c.problem(&sent_to.referenced, "expected at least one domain");
            }
            for d in &sent_to.value.0 {
                let d = c.domain(&Spanned::new(
                    d.clone(),
                    sent_to.referenced,
                    sent_to.defined,
                ));
                if table.lookup(&d).is_some() {
                    c.problem(
                        &sent_to.referenced,
                        format!("{d} is already in the reroute table"),
                    );
                }
                table.entries.push((d, to.clone()));
            }
        }
        if let Some(d) = table.find_loop() {
            let at = entries
                .first()
                .map_or(serde_saphyr::Location::UNKNOWN, |e| e.referenced);
            c.problem(
                &at,
                format!("the reroute table loops: mail for {d} comes back to {d}"),
            );
        }
        routing.reroute = table;
    }
    if let Some(r) = &file.relay {
        routing.relay = RelayPolicy {
            allow: r.allow.as_deref().map(|a| c.cidrs(a)).unwrap_or_default(),
            reroute_incoming: r.reroute_incoming.unwrap_or(true),
            authenticated: r.authenticated.unwrap_or(false),
            refusal: r.refusal.unwrap_or_default(),
        };
    }
    if let Some(types) = &file.override_proxy_out {
        for t in &types.value.0 {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_alphanumeric()) {
                c.problem(
                    &types.referenced,
                    format!("{t:?} is not an address type; expected a word such as SMTPOUT"),
                );
            }
        }
        routing.override_proxy_out = types.value.0.clone();
    }
    if let Some(q) = &file.quirks {
        routing.quirks = Quirks {
            pre_sp3_imcea: q.pre_sp3_imcea.unwrap_or(false),
        };
    }
    if let Some(n) = &file.ndr {
        let d = NdrSettings::default();
        routing.ndr = NdrSettings {
            mode: n.mode.unwrap_or(d.mode),
            style: n.style.unwrap_or(d.style),
            organization: n.organization.clone().unwrap_or(d.organization),
            site: n.site.clone().unwrap_or(d.site),
            server: n.server.clone().unwrap_or(d.server),
        };
    }
    Compiled {
        routing: Some(routing),
        xclient,
    }
}

#[cfg(test)]
mod tests {
    use crate::Scenario;
    use rstest::rstest;

    #[rstest]
    #[case(
        "relay:\n  allow: [192.168.0.1/33]\n",
        "<inline>:2:11: prefix length in \"192.168.0.1/33\" must be 0–32"
    )]
    #[case(
        "relay:\n  allow: [mail.example]\n",
        "<inline>:2:11: \"mail.example\" is not an address or subnet"
    )]
    #[case(
        "directory:\n  mailboxes:\n    - proxies: [a@b.c]\n",
        "<inline>:3:7: a mailbox needs a `primary` address"
    )]
    #[case(
        "directory:\n  mailboxes:\n    - primary: administrator\n",
        "<inline>:3:16: \"administrator\" is not an SMTP address"
    )]
    #[case(
        "reroute:\n  - sent_to: a.example\n    route_to: b.example\n  - sent_to: b.example\n    route_to: a.example\n",
        "the reroute table loops"
    )]
    #[case(
        "reroute:\n  - sent_to: a.example\n",
        "a reroute entry needs `sent_to`"
    )]
    #[case(
        "override_proxy_out: SMTP OUT\n",
        "\"SMTP OUT\" is not an address type"
    )]
    #[case("ndr:\n  mode: later\n", "<inline>:2:9: unknown variant `later`")]
    #[case(
        "relay:\n  refusal: exchange2007\n",
        "<inline>:2:12: unknown variant `exchange2007`"
    )]
    #[case(
        "xclient:\n  hosts: [everyone]\n",
        "<inline>:2:11: \"everyone\" is not an address or subnet"
    )]
    fn problems_point_at_the_key(#[case] yaml: &str, #[case] want: &str) {
        let err = Scenario::from_yaml(yaml).unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
    }

    #[test]
    fn routing_is_off_without_the_keys() {
        let s = Scenario::from_yaml("xclient: {}").unwrap();
        assert!(s.plan().routing.is_none());
        assert_eq!(s.plan().xclient.as_ref().map(Vec::len), Some(2));
        let s = Scenario::bundled("exchange55-sp2-imcea-bug").unwrap();
        let r = s.plan().routing.as_ref().unwrap();
        assert!(r.quirks.pre_sp3_imcea && !r.relay.reroute_incoming);
        assert_eq!(s.name(), "exchange55-sp2-imcea-bug");
    }
}
