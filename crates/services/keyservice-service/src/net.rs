//! docs/keyservice.md, "Design: client address": the client address and namespace CIDR allow-lists.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use guest_kit::Request;

/// Header the platform sets with the peer address (`ip:port`, IPv6 bracketed).
const PLATFORM_ADDR_HEADER: &str = "spin-client-addr";

/// A normalised CIDR block (host bits cleared).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, unmap(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                mask_v4(u32::from(ip), self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask_v6(u128::from(ip), self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn mask_v4(v: u32, prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => v & (u32::MAX << (32 - u32::from(p.min(32)))),
    }
}

fn mask_v6(v: u128, prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p => v & (u128::MAX << (128 - u32::from(p.min(128)))),
    }
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is treated as the IPv4 address, so
/// dual-stack listeners match IPv4 allow-lists.
fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Parses a CIDR or bare address and normalises it (bare → /32 or /128, host
/// bits cleared, IPv4-mapped IPv6 blocks of /96 or longer → IPv4).
pub fn parse_cidr(s: &str) -> Option<Cidr> {
    let (addr_s, prefix_s) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = addr_s.parse().ok()?;
    let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix_s {
        None => max,
        Some(p) => {
            // Digits only: `u8::from_str` would accept a leading '+'.
            if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            p.parse::<u8>().ok().filter(|p| *p <= max)?
        }
    };
    let (addr, prefix) = match addr {
        IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
            Some(v4) => (IpAddr::V4(v4), prefix - 96),
            None => (addr, prefix),
        },
        other => (other, prefix),
    };
    let addr = match addr {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(mask_v4(u32::from(v4), prefix))),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(mask_v6(u128::from(v6), prefix))),
    };
    Some(Cidr { addr, prefix })
}

/// Parses one address as found in a header: `ip`, `ip:port` or `[ipv6]:port`.
fn parse_addr(s: &str) -> Option<IpAddr> {
    let s = s.trim_matches([' ', '\t']);
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(unmap(sa.ip()));
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(unmap(ip));
    }
    // `[ipv6]` without a port.
    let inner = s.strip_prefix('[')?.strip_suffix(']')?;
    inner
        .parse::<Ipv6Addr>()
        .ok()
        .map(|v6| unmap(IpAddr::V6(v6)))
}

/// The client address (docs/keyservice.md, "Design: client address"). With `trusted_header` set, the right-most entry
/// of that header (over all its occurrences) decides: the entry the nearest
/// proxy wrote. `None` = unknown.
pub fn client_address(req: &Request, trusted_header: Option<&str>) -> Option<IpAddr> {
    match trusted_header {
        None => parse_addr(req.header_str(PLATFORM_ADDR_HEADER)?),
        Some(name) => {
            let last_value = req.header_all(name).last()?;
            let last_value = std::str::from_utf8(last_value).ok()?;
            parse_addr(last_value.rsplit(',').next()?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> String {
        parse_cidr(s).map(|c| c.to_string()).unwrap_or_default()
    }

    #[test]
    fn normalises() {
        assert_eq!(c("203.0.113.5/24"), "203.0.113.0/24");
        assert_eq!(c("203.0.113.5"), "203.0.113.5/32");
        assert_eq!(c("2001:db8::1"), "2001:db8::1/128");
        assert_eq!(c("2001:db8::1/32"), "2001:db8::/32");
        assert_eq!(c("0.0.0.0/0"), "0.0.0.0/0");
        assert_eq!(c("::ffff:10.1.2.3/120"), "10.1.2.0/24");
        for bad in [
            "",
            "1.2.3.4/33",
            "1.2.3.4/+8",
            "1.2.3.4/",
            "x",
            "1.2.3/8",
            "::/129",
            " 1.2.3.4",
        ] {
            assert!(parse_cidr(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn matching() {
        let net = parse_cidr("203.0.113.0/24").expect("cidr");
        assert!(net.contains("203.0.113.10".parse().expect("ip")));
        assert!(net.contains("::ffff:203.0.113.10".parse().expect("ip")));
        assert!(!net.contains("203.0.114.10".parse().expect("ip")));
        let v6 = parse_cidr("2001:db8::/32").expect("cidr");
        assert!(v6.contains("2001:db8:1::5".parse().expect("ip")));
        assert!(!v6.contains("203.0.113.10".parse().expect("ip")));
    }

    #[test]
    fn client_addresses() {
        let req = Request::new("POST", "/connect")
            .with_header("spin-client-addr", "[::ffff:203.0.113.10]:5555")
            .with_header("x-forwarded-for", "1.1.1.1, 198.51.100.7")
            .with_header("X-Forwarded-For", "10.0.0.1, 192.0.2.9");
        assert_eq!(
            client_address(&req, None),
            Some("203.0.113.10".parse().expect("ip"))
        );
        assert_eq!(
            client_address(&req, Some("x-forwarded-for")),
            Some("192.0.2.9".parse().expect("ip"))
        );
        assert_eq!(client_address(&req, Some("x-real-ip")), None);
        let v6 = Request::new("GET", "/").with_header("spin-client-addr", "[2001:db8::1]:80");
        assert_eq!(
            client_address(&v6, None),
            Some("2001:db8::1".parse().expect("ip"))
        );
        let junk = Request::new("GET", "/").with_header("spin-client-addr", "nonsense");
        assert_eq!(client_address(&junk, None), None);
    }
}
