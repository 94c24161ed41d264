//! Relay policy: the IMS "Routing Restrictions" (which clients may have mail
//! for other domains relayed) and the "Do not reroute incoming SMTP mail"
//! switch.
//!
//! The harness keeps the two independent, so a scenario can say both, as the
//! Q237927 setup does: with rerouting off the reroute table is ignored and
//! IMCEA one-offs are returned (unless the pre-SP3 quirk is on), while
//! plain relaying is still decided by the allowed-client list.

use super::cidr::{Cidr, any_contains};
use crate::protocol::Reply;
use std::net::IpAddr;

/// How a server words a refused relay, by product.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RelayRefusal {
    /// Exchange 5.5 IMS: `550 5.7.1 Unable to relay`.
    #[default]
    Ims,
    /// Exchange 2000/2003 (IIS SMTP): `550 5.7.1 Unable to relay for ADDRESS`.
    Exchange2003,
    /// Exchange 2013–2019, anonymous client, non-accepted domain:
    /// `550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain`.
    Exchange2013,
}

impl RelayRefusal {
    /// The reply refusing to relay to `recipient` (as the client wrote it).
    pub fn reply(self, recipient: &str) -> Reply {
        match self {
            RelayRefusal::Ims => super::unable_to_relay(),
            RelayRefusal::Exchange2003 => {
                Reply::new(550, format!("5.7.1 Unable to relay for {recipient}"))
            }
            RelayRefusal::Exchange2013 => Reply::new(
                550,
                "5.7.54 SMTP; Unable to relay recipient in non-accepted domain",
            ),
        }
    }
}

/// Who is asking to relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    /// The client's address (or the one XCLIENT set).
    pub ip: IpAddr,
    /// It authenticated with SMTP AUTH.
    pub authenticated: bool,
}

impl From<IpAddr> for Client {
    fn from(ip: IpAddr) -> Client {
        Client {
            ip,
            authenticated: false,
        }
    }
}

/// Who may relay, and whether incoming mail is rerouted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayPolicy {
    /// Clients that may relay (empty: nobody).
    pub allow: Vec<Cidr>,
    /// "Reroute incoming SMTP mail" (the default); `false` is "Do not
    /// reroute incoming SMTP mail".
    pub reroute_incoming: bool,
    /// Authenticated clients may relay.
    pub authenticated: bool,
    /// How a refusal is worded.
    pub refusal: RelayRefusal,
}

impl Default for RelayPolicy {
    fn default() -> Self {
        RelayPolicy {
            allow: Vec::new(),
            reroute_incoming: true,
            authenticated: false,
            refusal: RelayRefusal::Ims,
        }
    }
}

impl RelayPolicy {
    /// May `client` relay?
    pub fn may_relay(&self, client: impl Into<Client>) -> bool {
        let client = client.into();
        (self.authenticated && client.authenticated) || any_contains(&self.allow, client.ip)
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
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        assert!(p.may_relay(ip("192.168.0.1")));
        assert!(!p.may_relay(ip("192.168.0.2")));
        assert!(!p.may_relay(ip("127.0.0.1")));
        assert!(!RelayPolicy::default().may_relay(ip("127.0.0.1")));
    }

    #[test]
    fn authenticated_clients_relay_only_when_the_policy_says_so() {
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        let signed_in = Client {
            ip,
            authenticated: true,
        };
        assert!(!RelayPolicy::default().may_relay(signed_in));
        let p = RelayPolicy {
            authenticated: true,
            ..RelayPolicy::default()
        };
        assert!(p.may_relay(signed_in));
        assert!(!p.may_relay(ip));
    }

    #[test]
    fn refusals_are_worded_per_product() {
        let r = |k: RelayRefusal| k.reply("a@b.example").to_string();
        assert_eq!(r(RelayRefusal::Ims), "550 5.7.1 Unable to relay");
        assert_eq!(
            r(RelayRefusal::Exchange2003),
            "550 5.7.1 Unable to relay for a@b.example"
        );
        assert_eq!(
            r(RelayRefusal::Exchange2013),
            "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain"
        );
    }
}
