//! The Internet Mail Service reroute table (Exchange 5.5, Q307628): each
//! "Sent to" domain is routed to `inbound` (delivered here) or rewritten to
//! another domain, whose own entry is then looked up in turn. Mail to
//! `administrator@cpandl.net` with `cpandl.net → adatum.com` and
//! `adatum.com → inbound` is delivered to `administrator@adatum.com` even
//! though no mailbox has a cpandl.net proxy address.

/// Where a "Sent to" domain goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTo {
    /// Delivered to the local directory.
    Inbound,
    /// Rewritten to this domain (`LHS@sent-to` → `LHS@domain`).
    Domain(String),
}

/// The table, in the order written; domains compare case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RerouteTable {
    /// `(sent to, route to)` pairs.
    pub entries: Vec<(String, RouteTo)>,
}

impl RerouteTable {
    /// The route for mail sent to `domain`.
    pub fn lookup(&self, domain: &str) -> Option<&RouteTo> {
        self.entries
            .iter()
            .find(|(d, _)| d.eq_ignore_ascii_case(domain))
            .map(|(_, r)| r)
    }

    /// Is `domain` routed `inbound`?
    pub fn is_inbound(&self, domain: &str) -> bool {
        self.lookup(domain) == Some(&RouteTo::Inbound)
    }

    /// The first `(sent to)` domain whose rewrites lead back to itself.
    pub fn find_loop(&self) -> Option<&str> {
        self.entries.iter().find_map(|(start, _)| {
            let mut at = start.as_str();
            for _ in 0..=self.entries.len() {
                match self.lookup(at) {
                    Some(RouteTo::Domain(next)) if next.eq_ignore_ascii_case(start) => {
                        return Some(start.as_str());
                    }
                    Some(RouteTo::Domain(next)) => at = next,
                    _ => return None,
                }
            }
            None
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q307628() -> RerouteTable {
        let to = |d: &str| RouteTo::Domain(d.into());
        RerouteTable {
            entries: vec![
                ("adatum.com".into(), RouteTo::Inbound),
                ("cpandl.net".into(), to("adatum.com")),
                ("cpandl.org".into(), to("adatum.com")),
                ("internal.adatum.com".into(), to("adatum.com")),
            ],
        }
    }

    #[test]
    fn looks_up_case_insensitively() {
        let t = q307628();
        assert_eq!(
            t.lookup("CPANDL.net"),
            Some(&RouteTo::Domain("adatum.com".into()))
        );
        assert!(t.is_inbound("adatum.com"));
        assert_eq!(t.lookup("example.com"), None);
        assert_eq!(t.find_loop(), None);
    }

    #[test]
    fn finds_loops() {
        let t = RerouteTable {
            entries: vec![
                ("a.example".into(), RouteTo::Domain("b.example".into())),
                ("b.example".into(), RouteTo::Domain("a.example".into())),
            ],
        };
        assert_eq!(t.find_loop(), Some("a.example"));
    }
}
