//! Exchange mail-handling semantics, as pure data and one decision function:
//! which recipients a server accepts, where it delivers them, whom it relays
//! for, and what it sends back when it cannot deliver.
//!
//! The facts come from the Exchange knowledge-base articles the project
//! grew from (Q307628 reroute table, Q237927 IMCEA rerouting, Q183801
//! `OverrideProxyOut`, the EAS `SMTPProxy` override); each bundled
//! `exchange55-*` / `exchange2003-*` scenario reproduces one.
//!
//! - [`directory`]: local domains, mailboxes with primary and proxy addresses.
//! - [`reroute`]: the IMS reroute table ("Sent to" → `inbound` or a domain).
//! - [`relay`]: routing restrictions (who may relay) and "do not reroute".
//! - [`cidr`]: the address/subnet matcher those use.
//! - [`imcea`] and [`address`]: encapsulated and `[TYPE:address]` one-offs,
//!   and which address types are routable.
//! - [`ndr`]: reasons, codes and the non-delivery report itself.
//!
//! [`route`] puts one recipient through all of them. The session calls it
//! at RCPT (built-in path only: scenario rules still win).

pub mod address;
pub mod cidr;
pub mod directory;
pub mod imcea;
pub mod ndr;
pub mod relay;
pub mod reroute;

pub use cidr::Cidr;
pub use directory::{Directory, Lookup, Mailbox};
pub use ndr::{NdrMode, NdrReason, NdrSettings, NdrStyle};
pub use relay::{Client, RelayPolicy, RelayRefusal};
pub use reroute::{RerouteTable, RouteTo};

use crate::protocol::Reply;
use address::Target;

/// How many reroute-table rewrites one address may go through.
pub const MAX_HOPS: usize = 16;

/// Switches that reproduce bugs of particular versions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Quirks {
    /// Before Exchange 5.5 SP3 (Q237927): mail to an IMCEASMTP one-off is
    /// rerouted even with rerouting disabled, and so relayed for clients the
    /// routing restrictions do not list.
    pub pre_sp3_imcea: bool,
}

/// Everything routing needs; built from a scenario's `directory`, `reroute`,
/// `relay`, `override_proxy_out`, `quirks` and `ndr` keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routing {
    /// Local domains and mailboxes.
    pub directory: Directory,
    /// The reroute table.
    pub reroute: RerouteTable,
    /// Who may relay; whether incoming mail is rerouted.
    pub relay: RelayPolicy,
    /// Address types routed as SMTP besides SMTP (`OverrideProxyOut`).
    pub override_proxy_out: Vec<String>,
    /// Version-specific bugs.
    pub quirks: Quirks,
    /// Reject at RCPT or accept and bounce; how reports look.
    pub ndr: NdrSettings,
}

/// What happens to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Delivered to a local mailbox (its primary address, or the address as
    /// given under `accept_all`).
    Deliver {
        /// The mailbox.
        mailbox: String,
    },
    /// Relayed onwards to this (decoded, rewritten) address.
    Relay {
        /// The address the mail goes to.
        to: String,
    },
    /// Refused at RCPT time with this reply.
    Reject(Reply),
    /// Accepted, then returned to the sender with a report.
    Bounce(NdrReason),
}

impl Decision {
    /// Where accepted mail ends up: the mailbox, the relay address, or
    /// nothing for refused and bounced recipients.
    pub fn destination(&self) -> Option<&str> {
        match self {
            Decision::Deliver { mailbox } => Some(mailbox),
            Decision::Relay { to } => Some(to),
            _ => None,
        }
    }
}

/// The reply for relaying refused.
pub fn unable_to_relay() -> Reply {
    Reply::new(550, "5.7.1 Unable to relay")
}

impl Routing {
    /// Is `domain` delivered here: listed in the directory, or routed
    /// `inbound` by the reroute table?
    pub fn is_local(&self, domain: &str) -> bool {
        self.directory.is_local(domain) || self.reroute.is_inbound(domain)
    }

    /// Refused or returned, as `ndr.mode` says.
    fn returned(&self, reason: NdrReason) -> Decision {
        match self.ndr.mode {
            NdrMode::Reject => Decision::Reject(reason.reply()),
            NdrMode::Bounce => Decision::Bounce(reason),
        }
    }

    /// The local mailbox behind `address`, if it is one (used to deliver
    /// reports to local senders).
    pub fn local_mailbox(&self, address: &str) -> Option<String> {
        match self.resolve(address, None) {
            Decision::Deliver { mailbox } => Some(mailbox),
            _ => None,
        }
    }

    /// Follow the reroute table, then deliver locally or decide on relaying.
    /// `client` is `None` when relaying is already decided (allowed).
    fn resolve(&self, address: &str, client: Option<Client>) -> Decision {
        let mut address = address.to_string();
        let mut rerouted = false;
        for _ in 0..MAX_HOPS {
            let Some((lhs, domain)) = address.rsplit_once('@') else {
                // `RCPT TO:<postmaster>` and friends: local by definition.
                return match self.directory.lookup(&address) {
                    Lookup::Found(m) => Decision::Deliver { mailbox: m },
                    _ => self.returned(NdrReason::UnknownRecipient),
                };
            };
            let domain = domain.trim_matches(['[', ']']);
            if self.relay.reroute_incoming
                && let Some(RouteTo::Domain(next)) = self.reroute.lookup(domain)
            {
                address = format!("{lhs}@{next}");
                rerouted = true;
                continue;
            }
            if self.is_local(domain) {
                return match self.directory.lookup(&address) {
                    Lookup::Found(mailbox) => Decision::Deliver { mailbox },
                    Lookup::Ambiguous => self.returned(NdrReason::AmbiguousRecipient),
                    Lookup::NotFound if self.directory.accept_all => {
                        Decision::Deliver { mailbox: address }
                    }
                    Lookup::NotFound => self.returned(NdrReason::UnknownRecipient),
                };
            }
            // A domain the reroute table sent elsewhere was accepted by
            // configuration, not by the client's say-so.
            let allowed = rerouted || client.is_none_or(|c| self.relay.may_relay(c));
            return if allowed {
                Decision::Relay { to: address }
            } else {
                Decision::Reject(self.relay.refusal.reply(&address))
            };
        }
        self.returned(NdrReason::TooManyHops)
    }
}

/// Decide what happens to mail for `recipient` (the RCPT mailbox) from
/// `client` (an address, or a [`Client`] that may have authenticated).
///
/// ```
/// use smtp_harness::routing::{route, Client, Decision, Routing, RouteTo, Mailbox};
/// let mut r = Routing::default();
/// r.reroute.entries = vec![
///     ("adatum.com".into(), RouteTo::Inbound),
///     ("cpandl.net".into(), RouteTo::Domain("adatum.com".into())),
/// ];
/// r.directory.mailboxes.push(Mailbox { primary: "administrator@adatum.com".into(), proxies: vec![] });
/// let client: std::net::IpAddr = "192.168.0.1".parse().unwrap();
/// assert_eq!(
///     route("administrator@cpandl.net", client, &r),
///     Decision::Deliver { mailbox: "administrator@adatum.com".into() }
/// );
/// assert!(matches!(route("someone@example.com", client, &r), Decision::Reject(_)));
/// // Relaying for a client that authenticated, once the policy allows it.
/// r.relay.authenticated = true;
/// let signed_in = Client { ip: client, authenticated: true };
/// assert!(matches!(route("someone@example.com", signed_in, &r), Decision::Relay { .. }));
/// ```
pub fn route(recipient: &str, client: impl Into<Client>, routing: &Routing) -> Decision {
    let client = client.into();
    let (address, imcea) = match address::parse(recipient) {
        Target::Smtp(a) => (a, false),
        Target::OneOff { kind, address } => {
            if !address::routable(&kind, &routing.override_proxy_out) {
                return routing.returned(NdrReason::NoProxy);
            }
            (address, false)
        }
        // Only the encapsulating domain's own server unwraps: anyone else's
        // IMCEA address is just a remote address.
        Target::Imcea(e)
            if routing.is_local(&e.domain) || routing.reroute.lookup(&e.domain).is_some() =>
        {
            if !address::routable(&e.kind, &routing.override_proxy_out) {
                return routing.returned(NdrReason::NoProxy);
            }
            (e.address, true)
        }
        Target::Imcea(_) => (recipient.to_string(), false),
    };
    if imcea && !routing.relay.reroute_incoming {
        // Q237927: SP3 returns such mail; before SP3 it was rerouted anyway,
        // past the routing restrictions.
        return if routing.quirks.pre_sp3_imcea {
            routing.resolve(&address, None)
        } else {
            routing.returned(NdrReason::NotRerouted)
        };
    }
    routing.resolve(&address, Some(client))
}

#[cfg(test)]
mod tests;
