//! The directory (Exchange's GAL, as far as SMTP sees it): local domains and
//! mailboxes, each with one primary SMTP address and any number of proxy
//! addresses. Mail to any address of a mailbox lands in that mailbox, and is
//! recorded as delivered to its primary address.
//!
//! Exchange ActiveSync's `SMTPProxy` registry value (a server-wide setting)
//! makes EAS pick `LHS@<alternate RHS>` instead of the primary address's RHS;
//! the harness models it as one more address of every mailbox, so
//! `jdoe@<alternate RHS>` reaches `jdoe@<primary RHS>`'s mailbox.
//! Addresses compare case-insensitively, as Exchange's proxy lookups do.

/// One mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// The primary SMTP address: what replies go out from, and the folder
    /// the harness delivers to.
    pub primary: String,
    /// Secondary ("proxy") SMTP addresses.
    pub proxies: Vec<String>,
}

/// What a directory lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Exactly one mailbox: its primary address.
    Found(String),
    /// Several mailboxes claim the address (Exchange: 000C0595).
    Ambiguous,
    /// No mailbox has it.
    NotFound,
}

/// Local domains and mailboxes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directory {
    /// Domains delivered here, besides those of the mailboxes' addresses.
    pub domains: Vec<String>,
    /// The mailboxes.
    pub mailboxes: Vec<Mailbox>,
    /// The EAS `SMTPProxy` override: an alternate RHS for every mailbox.
    pub alternate_rhs: Option<String>,
    /// Accept unknown local recipients (delivered to the address as given)
    /// instead of answering `550 5.1.1 User unknown`.
    pub accept_all: bool,
}

impl Directory {
    /// Every address of `mailbox`: primary, proxies, then the alternate-RHS one.
    pub fn addresses(&self, mailbox: &Mailbox) -> Vec<String> {
        let mut all = vec![mailbox.primary.clone()];
        all.extend(mailbox.proxies.iter().cloned());
        if let Some(alt) = self.eas_address(mailbox)
            && !all.iter().any(|a| a.eq_ignore_ascii_case(&alt))
        {
            all.push(alt);
        }
        all
    }

    /// The address EAS uses for `mailbox` when `SMTPProxy` is set:
    /// the primary's LHS at the alternate RHS.
    pub fn eas_address(&self, mailbox: &Mailbox) -> Option<String> {
        let alt = self.alternate_rhs.as_ref()?;
        let lhs = mailbox
            .primary
            .rsplit_once('@')
            .map_or(mailbox.primary.as_str(), |(l, _)| l);
        Some(format!("{lhs}@{alt}"))
    }

    /// Is `domain` one of ours (listed, of a mailbox address, or the
    /// alternate RHS)?
    pub fn is_local(&self, domain: &str) -> bool {
        self.domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
            || self
                .alternate_rhs
                .as_ref()
                .is_some_and(|d| d.eq_ignore_ascii_case(domain))
            || self.mailboxes.iter().any(|m| {
                std::iter::once(&m.primary)
                    .chain(&m.proxies)
                    .any(|a| domain_of(a).is_some_and(|d| d.eq_ignore_ascii_case(domain)))
            })
    }

    /// The mailbox behind `address`.
    pub fn lookup(&self, address: &str) -> Lookup {
        let mut found = self.mailboxes.iter().filter(|m| {
            self.addresses(m)
                .iter()
                .any(|a| a.eq_ignore_ascii_case(address))
        });
        match (found.next(), found.next()) {
            (Some(m), None) => Lookup::Found(m.primary.clone()),
            (Some(_), Some(_)) => Lookup::Ambiguous,
            (None, _) => Lookup::NotFound,
        }
    }
}

/// The RHS of `LHS@RHS`.
pub fn domain_of(address: &str) -> Option<&str> {
    address.rsplit_once('@').map(|(_, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> Directory {
        Directory {
            domains: vec!["adatum.com".into()],
            mailboxes: vec![
                Mailbox {
                    primary: "jdoe@adatum.com".into(),
                    proxies: vec!["john.doe@adatum.com".into(), "jdoe@cpandl.net".into()],
                },
                Mailbox {
                    primary: "sales@adatum.com".into(),
                    proxies: vec!["shared@adatum.com".into()],
                },
                Mailbox {
                    primary: "support@adatum.com".into(),
                    proxies: vec!["shared@adatum.com".into()],
                },
            ],
            alternate_rhs: Some("mobile.adatum.com".into()),
            accept_all: false,
        }
    }

    #[test]
    fn primary_proxy_and_alternate_rhs_reach_the_mailbox() {
        let d = dir();
        for a in [
            "jdoe@adatum.com",
            "JDoe@Adatum.com",
            "john.doe@adatum.com",
            "jdoe@cpandl.net",
            "jdoe@mobile.adatum.com",
        ] {
            assert_eq!(d.lookup(a), Lookup::Found("jdoe@adatum.com".into()), "{a}");
        }
        assert_eq!(d.lookup("nobody@adatum.com"), Lookup::NotFound);
        assert_eq!(d.lookup("shared@adatum.com"), Lookup::Ambiguous);
    }

    #[test]
    fn local_domains() {
        let d = dir();
        assert!(d.is_local("ADATUM.COM"));
        assert!(d.is_local("cpandl.net"));
        assert!(d.is_local("mobile.adatum.com"));
        assert!(!d.is_local("example.com"));
    }
}
