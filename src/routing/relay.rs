//! Relay policy: the IMS "Routing Restrictions" (which clients may have mail
//! for other domains relayed) and the "Do not reroute incoming SMTP mail"
//! switch.
//!
//! The harness keeps the two independent, so a scenario can say both, as the
//! Q237927 setup does: with rerouting off the reroute table is ignored and
//! IMCEA one-offs are returned (unless the pre-SP3 quirk is on), while
//! plain relaying is still decided by the allowed-client list.

use super::cidr::{Cidr, any_contains};
use std::net::IpAddr;

/// Who may relay, and whether incoming mail is rerouted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayPolicy {
    /// Clients that may relay (empty: nobody).
    pub allow: Vec<Cidr>,
    /// "Reroute incoming SMTP mail" (the default); `false` is "Do not
    /// reroute incoming SMTP mail".
    pub reroute_incoming: bool,
}

impl Default for RelayPolicy {
    fn default() -> Self {
        RelayPolicy {
            allow: Vec::new(),
            reroute_incoming: true,
        }
    }
}

impl RelayPolicy {
    /// May `client` relay?
    pub fn may_relay(&self, client: IpAddr) -> bool {
        any_contains(&self.allow, client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_clients_relay() {
        let p = RelayPolicy {
            allow: vec!["192.168.0.1".parse().unwrap()],
            ..RelayPolicy::default()
        };
        assert!(p.may_relay("192.168.0.1".parse().unwrap()));
        assert!(!p.may_relay("192.168.0.2".parse().unwrap()));
        assert!(!p.may_relay("127.0.0.1".parse().unwrap()));
        assert!(!RelayPolicy::default().may_relay("127.0.0.1".parse().unwrap()));
    }
}
