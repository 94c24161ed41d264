//! A tiny CIDR matcher for relay and XCLIENT permissions: `192.168.0.1`,
//! `10.0.0.0/8`, `::1`, `fe80::/10`.
//!
//! IPv4-mapped IPv6 clients (`::ffff:192.168.0.1`, what a dual-stack socket
//! reports) are compared as the IPv4 address they carry, so one rule covers
//! both socket kinds.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An address block: a network address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The block of exactly one address.
    pub fn host(ip: IpAddr) -> Cidr {
        let ip = ip.to_canonical();
        Cidr {
            network: ip,
            prefix: max_prefix(ip),
        }
    }

    /// Does the block contain `ip`?
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u128::from(u32::from(ip)), 32, self.prefix)
                    == masked(u128::from(u32::from(net)), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(ip), 128, self.prefix)
                    == masked(u128::from(net), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn max_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv4() { 32 } else { 128 }
}

/// The top `prefix` bits of a `width`-bit number.
fn masked(value: u128, width: u8, prefix: u8) -> u128 {
    if prefix == 0 {
        return 0;
    }
    let shift = u32::from(width - prefix.min(width));
    (value >> shift) << shift
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let ip: IpAddr = addr.trim_matches(['[', ']']).parse().map_err(|_| {
            format!(
                "{s:?} is not an address or subnet; expected e.g. 192.168.0.1, 10.0.0.0/8 or ::1"
            )
        })?;
        let ip = ip.to_canonical();
        let max = max_prefix(ip);
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("prefix length in {s:?} must be 0–{max}")),
            },
        };
        Ok(Cidr {
            network: ip,
            prefix,
        })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Does any block of `list` contain `ip`?
pub fn any_contains(list: &[Cidr], ip: IpAddr) -> bool {
    list.iter().any(|c| c.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[rstest]
    #[case("192.168.0.1", "192.168.0.1", true)]
    #[case("192.168.0.1", "192.168.0.2", false)]
    #[case("192.168.0.0/24", "192.168.0.254", true)]
    #[case("192.168.0.0/24", "192.168.1.1", false)]
    #[case("10.0.0.0/8", "10.255.1.2", true)]
    #[case("0.0.0.0/0", "8.8.8.8", true)]
    #[case("0.0.0.0/0", "::1", false)]
    #[case("127.0.0.0/8", "127.0.0.2", true)]
    #[case("192.168.0.1", "::ffff:192.168.0.1", true)]
    #[case("::1", "::1", true)]
    #[case("::1", "127.0.0.1", false)]
    #[case("fe80::/10", "fe80::1234", true)]
    #[case("fe80::/10", "fec0::1", false)]
    #[case("2001:db8::/32", "2001:db8:ffff::1", true)]
    #[case("::/0", "2001:db8::1", true)]
    fn matches(#[case] block: &str, #[case] addr: &str, #[case] want: bool) {
        let c: Cidr = block.parse().unwrap();
        assert_eq!(c.contains(ip(addr)), want, "{block} ∋ {addr}");
    }

    #[rstest]
    #[case("192.168.0.1/33")]
    #[case("::1/129")]
    #[case("mail.example.com")]
    #[case("10.0.0.0/x")]
    fn rejects(#[case] s: &str) {
        assert!(s.parse::<Cidr>().is_err(), "{s}");
    }

    #[test]
    fn host_blocks() {
        assert!(Cidr::host(ip("192.168.0.1")).contains(ip("192.168.0.1")));
        assert_eq!(Cidr::host(ip("::1")).to_string(), "::1/128");
    }
}
