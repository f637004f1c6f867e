//! Client addresses (docs/platform.md, "Design: client addresses"): the peer the platform
//! reports, CIDR blocks, and the client behind trusted proxies.
//!
//! The platform sets `spin-client-addr` to the TCP peer (`ip:port`, IPv6 bracketed); a client
//! cannot forge it. Behind a reverse proxy every request has the proxy's address, so a service
//! that keys anything on the client (rate limits) takes the client from `X-Forwarded-For`, but
//! only when the peer is one of the proxies the deployment trusts ([`client_address`]).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::http::Request;

/// Header the platform sets with the peer address (`ip:port`, IPv6 bracketed).
pub const PLATFORM_ADDR_HEADER: &str = "spin-client-addr";
/// The forwarding header trusted proxies append to.
pub const FORWARDED_FOR: &str = "x-forwarded-for";

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

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is treated as the IPv4 address, so dual-stack listeners
/// match IPv4 allow-lists.
pub fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Parses a CIDR or bare address and normalises it (bare → /32 or /128, host bits cleared,
/// IPv4-mapped IPv6 blocks of /96 or longer → IPv4).
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

/// A comma-separated list of addresses and CIDR blocks (blank entries skipped); `Err` names the
/// first entry that is neither, shortened.
pub fn parse_cidr_list(list: &str) -> Result<Vec<Cidr>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| parse_cidr(e).ok_or_else(|| e.chars().take(64).collect()))
        .collect()
}

/// Parses one address as found in a header: `ip`, `ip:port` or `[ipv6]:port`.
pub fn parse_addr(s: &str) -> Option<IpAddr> {
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

/// The TCP peer as the platform reports it; `None` when the header is missing or malformed.
pub fn peer_address(req: &Request) -> Option<IpAddr> {
    parse_addr(req.header_str(PLATFORM_ADDR_HEADER)?)
}

/// The client (docs/platform.md, "Design: client addresses"): the peer, unless the peer is one of
/// `trusted_proxies`; then the rightmost `X-Forwarded-For` entry (over all its occurrences, in
/// order) that is not a trusted proxy, or the leftmost entry when every one is. A header that is
/// missing, not UTF-8, or has an entry that is not an address leaves the peer: what a client
/// wrote cannot be told from what the proxies appended, and the proxy's own bucket is the safe
/// one. `None`: the platform reported no peer.
pub fn client_address(req: &Request, trusted_proxies: &[Cidr]) -> Option<IpAddr> {
    let peer = peer_address(req)?;
    if !trusted_proxies.iter().any(|c| c.contains(peer)) {
        return Some(peer);
    }
    let mut entries = Vec::new();
    for value in req.header_all(FORWARDED_FOR) {
        let Ok(value) = std::str::from_utf8(value) else {
            return Some(peer);
        };
        for entry in value.split(',') {
            match parse_addr(entry) {
                Some(ip) => entries.push(ip),
                None => return Some(peer),
            }
        }
    }
    let forwarded = entries
        .iter()
        .rev()
        .find(|ip| !trusted_proxies.iter().any(|c| c.contains(**ip)))
        .or(entries.first());
    Some(forwarded.copied().unwrap_or(peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> String {
        parse_cidr(s).map(|c| c.to_string()).unwrap_or_default()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
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
        assert_eq!(
            parse_cidr_list(" 10.0.0.0/8, ,::1 ").map(|l| l.len()),
            Ok(2)
        );
        assert_eq!(parse_cidr_list("10.0.0.1, proxy"), Err("proxy".to_owned()));
    }

    #[test]
    fn matching() {
        let net = parse_cidr("203.0.113.0/24").expect("cidr");
        assert!(net.contains(ip("203.0.113.10")));
        assert!(net.contains(ip("::ffff:203.0.113.10")));
        assert!(!net.contains(ip("203.0.114.10")));
        let v6 = parse_cidr("2001:db8::/32").expect("cidr");
        assert!(v6.contains(ip("2001:db8:1::5")));
        assert!(!v6.contains(ip("203.0.113.10")));
    }

    #[test]
    fn the_client_behind_trusted_proxies() {
        let trusted = parse_cidr_list("10.0.0.0/8, 2001:db8::1").expect("list");
        let from = |peer: &str, xff: &[&str]| {
            let mut req = Request::new("POST", "/").with_header(PLATFORM_ADDR_HEADER, peer);
            for v in xff {
                req = req.with_header("X-Forwarded-For", v);
            }
            client_address(&req, &trusted).map(|a| a.to_string())
        };
        let some = |s: &str| Some(s.to_owned());
        // An untrusted peer is the client, whatever it sends.
        assert_eq!(from("192.0.2.7:5000", &["198.51.100.1"]), some("192.0.2.7"));
        // A trusted peer: the rightmost entry that is not a proxy, over every occurrence.
        assert_eq!(
            from("10.0.0.1:5000", &["203.0.113.9, 198.51.100.1", "10.2.3.4"]),
            some("198.51.100.1")
        );
        assert_eq!(
            from("[2001:db8::1]:443", &["[2001:db8::5]:80"]),
            some("2001:db8::5")
        );
        // Every entry a proxy: the leftmost.
        assert_eq!(
            from("10.0.0.1:1", &["10.9.9.9, 10.0.0.2"]),
            some("10.9.9.9")
        );
        // Missing or malformed: the peer.
        assert_eq!(from("10.0.0.1:1", &[]), some("10.0.0.1"));
        assert_eq!(from("10.0.0.1:1", &[""]), some("10.0.0.1"));
        assert_eq!(
            from("10.0.0.1:1", &["198.51.100.1, junk"]),
            some("10.0.0.1")
        );
        assert_eq!(from("10.0.0.1:1", &["unknown"]), some("10.0.0.1"));
        // No peer reported.
        assert_eq!(client_address(&Request::new("GET", "/"), &trusted), None);
        assert_eq!(
            peer_address(
                &Request::new("GET", "/")
                    .with_header(PLATFORM_ADDR_HEADER, "[::ffff:203.0.113.10]:5555")
            ),
            Some(ip("203.0.113.10"))
        );
    }
}
