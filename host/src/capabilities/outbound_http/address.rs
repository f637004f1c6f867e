//! Which addresses a guest's outbound request may connect to (docs/OPERATIONS.md, "Outbound
//! safety"): every address a destination resolves to is classified, and one that is not a
//! public unicast address refuses the request unless the operator allowed it
//! (`--allow-outbound-private`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use anyhow::{Result, bail};

/// Why an address is not a public destination. `None` from [`classify`]: public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    Unspecified,
    Loopback,
    /// RFC 1918, IPv6 unique-local (fc00::/7) and the deprecated site-local (fec0::/10).
    Private,
    /// 169.254/16 (cloud metadata services live at 169.254.169.254) and fe80::/10.
    LinkLocal,
    /// Carrier-grade NAT, 100.64/10.
    SharedAddressSpace,
    Multicast,
    Broadcast,
    /// Reserved, documentation, benchmarking and protocol-assignment ranges, and IPv6
    /// translation forms whose IPv4 address cannot be read (Teredo, local-use NAT64).
    Reserved,
}

impl Special {
    pub fn label(self) -> &'static str {
        match self {
            Special::Unspecified => "unspecified",
            Special::Loopback => "loopback",
            Special::Private => "private",
            Special::LinkLocal => "link-local",
            Special::SharedAddressSpace => "shared address space",
            Special::Multicast => "multicast",
            Special::Broadcast => "broadcast",
            Special::Reserved => "reserved",
        }
    }
}

/// What `ip` is, if it is not a public unicast address. IPv6 forms that carry an IPv4 address
/// (IPv4-mapped, IPv4-compatible, NAT64 64:ff9b::/96, 6to4 2002::/16) are judged by that address.
pub fn classify(ip: IpAddr) -> Option<Special> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn classify_v4(ip: Ipv4Addr) -> Option<Special> {
    const RANGES: &[([u8; 4], u32, Special)] = &[
        ([255, 255, 255, 255], 32, Special::Broadcast),
        ([0, 0, 0, 0], 8, Special::Unspecified),
        ([127, 0, 0, 0], 8, Special::Loopback),
        ([10, 0, 0, 0], 8, Special::Private),
        ([172, 16, 0, 0], 12, Special::Private),
        ([192, 168, 0, 0], 16, Special::Private),
        ([169, 254, 0, 0], 16, Special::LinkLocal),
        ([100, 64, 0, 0], 10, Special::SharedAddressSpace),
        ([224, 0, 0, 0], 4, Special::Multicast),
        ([240, 0, 0, 0], 4, Special::Reserved),
        ([192, 0, 0, 0], 24, Special::Reserved),
        ([192, 0, 2, 0], 24, Special::Reserved),
        ([198, 18, 0, 0], 15, Special::Reserved),
        ([198, 51, 100, 0], 24, Special::Reserved),
        ([203, 0, 113, 0], 24, Special::Reserved),
    ];
    RANGES
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map(|(_, _, special)| *special)
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, prefix: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    u128::from(ip) & mask == u128::from(net) & mask
}

fn classify_v6(ip: Ipv6Addr) -> Option<Special> {
    let bits = u128::from(ip);
    if ip.is_unspecified() {
        return Some(Special::Unspecified);
    }
    if ip.is_loopback() {
        return Some(Special::Loopback);
    }
    // The low 32 bits as IPv4 (truncation intended).
    let low_v4 = Ipv4Addr::from(bits as u32);
    // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible, deprecated), 64:ff9b::a.b.c.d (NAT64).
    if in_v6(ip, Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96)
        || in_v6(ip, Ipv6Addr::UNSPECIFIED, 96)
        || in_v6(ip, Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96)
    {
        return classify_v4(low_v4);
    }
    // 6to4: 2002:AABB:CCDD::/48 carries AA.BB.CC.DD.
    if in_v6(ip, Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16) {
        return classify_v4(Ipv4Addr::from((bits >> 80) as u32));
    }
    let v6 = |segments: [u16; 8]| Ipv6Addr::from(segments);
    let ranges: [(Ipv6Addr, u32, Special); 9] = [
        (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0]), 7, Special::Private),
        (v6([0xfec0, 0, 0, 0, 0, 0, 0, 0]), 10, Special::Private),
        (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0]), 10, Special::LinkLocal),
        (v6([0xff00, 0, 0, 0, 0, 0, 0, 0]), 8, Special::Multicast),
        // Local-use NAT64, Teredo (its IPv4 address is obfuscated), discard-only,
        // documentation, and the ORCHIDs and other IETF assignments in 2001::/23.
        (v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0]), 48, Special::Reserved),
        (v6([0x2001, 0, 0, 0, 0, 0, 0, 0]), 32, Special::Reserved),
        (v6([0x0100, 0, 0, 0, 0, 0, 0, 0]), 64, Special::Reserved),
        (
            v6([0x2001, 0x0db8, 0, 0, 0, 0, 0, 0]),
            32,
            Special::Reserved,
        ),
        (v6([0x2001, 0, 0, 0, 0, 0, 0, 0]), 23, Special::Reserved),
    ];
    ranges
        .iter()
        .find(|(net, prefix, _)| in_v6(ip, *net, *prefix))
        .map(|(_, _, special)| *special)
        .or_else(|| {
            // Outside 2000::/3 (global unicast) nothing is routable on the internet.
            (!in_v6(ip, v6([0x2000, 0, 0, 0, 0, 0, 0, 0]), 3)).then_some(Special::Reserved)
        })
}

/// One `--allow-outbound-private` entry: an address block (`10.0.0.0/8`, `::1/128`, a single
/// address), an address and port (`127.0.0.1:8200`, `[::1]:8200`), or a host name as the guest
/// addresses it with its port (`vault.internal:8200`), whatever that name resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowance {
    Block { net: IpAddr, prefix: u32 },
    Socket(SocketAddr),
    Name { host: String, port: u16 },
}

impl Allowance {
    pub fn parse(entry: &str) -> Result<Self> {
        let entry = entry.trim();
        if let Some((addr, prefix)) = entry.split_once('/') {
            let Ok(net) = addr.parse::<IpAddr>() else {
                bail!("`{entry}`: `{addr}` is not an IP address");
            };
            let max = if net.is_ipv4() { 32 } else { 128 };
            match prefix.parse::<u32>() {
                Ok(prefix) if prefix <= max => return Ok(Allowance::Block { net, prefix }),
                _ => bail!("`{entry}`: the prefix length must be 0 to {max}"),
            }
        }
        if let Ok(ip) = entry.parse::<IpAddr>() {
            let prefix = if ip.is_ipv4() { 32 } else { 128 };
            return Ok(Allowance::Block { net: ip, prefix });
        }
        if let Ok(socket) = entry.parse::<SocketAddr>() {
            return Ok(Allowance::Socket(socket));
        }
        let Some((host, port)) = entry.rsplit_once(':') else {
            bail!(
                "`{entry}` must be an address block (10.0.0.0/8), an address, address:port or host:port"
            );
        };
        let valid_name = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        match port.parse::<u16>() {
            Ok(port) if valid_name && port != 0 => Ok(Allowance::Name {
                host: host.trim_end_matches('.').to_ascii_lowercase(),
                port,
            }),
            _ => bail!("`{entry}`: a host name allowance needs a name and a port (name:port)"),
        }
    }

    /// Whether this entry allows connecting to `addr` for a request addressed to `host:port`.
    pub fn allows(&self, host: &str, port: u16, addr: SocketAddr) -> bool {
        match self {
            Allowance::Block { net, prefix } => match (net, canonical(addr.ip())) {
                (IpAddr::V4(net), IpAddr::V4(ip)) => in_v4(ip, net.octets(), *prefix),
                (IpAddr::V6(net), IpAddr::V6(ip)) => in_v6(ip, *net, *prefix),
                _ => false,
            },
            Allowance::Socket(s) => {
                canonical(s.ip()) == canonical(addr.ip()) && s.port() == addr.port()
            }
            Allowance::Name { host: h, port: p } => {
                *p == port && host.trim_end_matches('.').eq_ignore_ascii_case(h)
            }
        }
    }
}

/// An IPv4-mapped IPv6 address as its IPv4 address, so that `127.0.0.0/8` also allows
/// `::ffff:127.0.0.1`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The operator's allowances: what outbound requests may reach beyond public addresses.
#[derive(Debug, Default)]
pub struct AddressPolicy {
    allowances: Vec<Allowance>,
}

/// A destination address that is refused: the request is never sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub addr: SocketAddr,
    pub why: Special,
}

impl AddressPolicy {
    pub fn new(allowances: Vec<Allowance>) -> Self {
        AddressPolicy { allowances }
    }

    /// Every address `host:port` resolved to must be public or allowed: one refused address
    /// refuses the request (a name resolving to a public and a private address is refused,
    /// whichever a connection would pick).
    pub fn check(&self, host: &str, port: u16, addrs: &[SocketAddr]) -> Result<(), Refused> {
        for addr in addrs {
            if let Some(why) = classify(addr.ip())
                && !self.allowances.iter().any(|a| a.allows(host, port, *addr))
            {
                return Err(Refused { addr: *addr, why });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> Option<Special> {
        classify(s.parse().unwrap())
    }

    #[test]
    fn ipv4_ranges() {
        use Special::*;
        for (ip, want) in [
            ("0.0.0.0", Some(Unspecified)),
            ("0.1.2.3", Some(Unspecified)),
            ("127.0.0.1", Some(Loopback)),
            ("127.255.255.254", Some(Loopback)),
            ("10.0.0.1", Some(Private)),
            ("10.255.255.255", Some(Private)),
            ("172.16.0.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("172.32.0.1", None),
            ("172.15.255.255", None),
            ("192.168.1.1", Some(Private)),
            ("192.169.0.1", None),
            ("169.254.169.254", Some(LinkLocal)),
            ("169.254.0.1", Some(LinkLocal)),
            ("100.64.0.1", Some(SharedAddressSpace)),
            ("100.127.255.255", Some(SharedAddressSpace)),
            ("100.128.0.1", None),
            ("100.63.255.255", None),
            ("224.0.0.1", Some(Multicast)),
            ("239.255.255.250", Some(Multicast)),
            ("240.0.0.1", Some(Reserved)),
            ("255.255.255.255", Some(Broadcast)),
            ("192.0.0.192", Some(Reserved)),
            ("192.0.2.1", Some(Reserved)),
            ("198.18.0.1", Some(Reserved)),
            ("198.51.100.7", Some(Reserved)),
            ("203.0.113.9", Some(Reserved)),
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("93.184.216.34", None),
        ] {
            assert_eq!(class(ip), want, "{ip}");
        }
    }

    #[test]
    fn ipv6_ranges() {
        use Special::*;
        for (ip, want) in [
            ("::", Some(Unspecified)),
            ("::1", Some(Loopback)),
            ("fc00::1", Some(Private)),
            ("fd00:ec2::254", Some(Private)),
            ("fec0::1", Some(Private)),
            ("fe80::1", Some(LinkLocal)),
            ("febf::1", Some(LinkLocal)),
            ("ff02::1", Some(Multicast)),
            ("2001:db8::1", Some(Reserved)),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Some(Reserved)),
            ("100::1", Some(Reserved)),
            ("64:ff9b:1::1", Some(Reserved)),
            ("4000::1", Some(Reserved)),
            ("2606:4700:4700::1111", None),
            ("2a00:1450:4001:80b::200e", None),
        ] {
            assert_eq!(class(ip), want, "{ip}");
        }
    }

    #[test]
    fn ipv6_forms_of_ipv4_are_judged_by_their_ipv4_address() {
        use Special::*;
        for (ip, want) in [
            ("::ffff:127.0.0.1", Some(Loopback)),
            ("::ffff:169.254.169.254", Some(LinkLocal)),
            ("::ffff:10.1.2.3", Some(Private)),
            ("::ffff:a9fe:a9fe", Some(LinkLocal)),
            ("::ffff:8.8.8.8", None),
            ("::127.0.0.1", Some(Loopback)),
            ("::169.254.169.254", Some(LinkLocal)),
            ("64:ff9b::169.254.169.254", Some(LinkLocal)),
            ("64:ff9b::7f00:1", Some(Loopback)),
            ("64:ff9b::8.8.8.8", None),
            ("2002:7f00:1::1", Some(Loopback)),
            ("2002:a9fe:a9fe::", Some(LinkLocal)),
            ("2002:c0a8:101::1", Some(Private)),
            ("2002:808:808::1", None),
        ] {
            assert_eq!(class(ip), want, "{ip}");
        }
    }

    fn sock(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn allowances() {
        let policy = |entries: &[&str]| {
            AddressPolicy::new(
                entries
                    .iter()
                    .map(|e| Allowance::parse(e).unwrap())
                    .collect(),
            )
        };
        let none = policy(&[]);
        assert!(
            none.check("example.com", 443, &[sock("93.184.216.34:443")])
                .is_ok()
        );
        let refused = none
            .check("metadata", 80, &[sock("169.254.169.254:80")])
            .unwrap_err();
        assert_eq!(refused.why, Special::LinkLocal);
        // One refused address among public ones refuses the request.
        assert!(
            none.check(
                "rebind.test",
                443,
                &[sock("93.184.216.34:443"), sock("127.0.0.1:443")]
            )
            .is_err()
        );

        let loopback = policy(&["127.0.0.0/8", "::1"]);
        assert!(
            loopback
                .check("localhost", 9, &[sock("127.0.0.1:9")])
                .is_ok()
        );
        assert!(loopback.check("localhost", 9, &[sock("[::1]:9")]).is_ok());
        assert!(
            loopback
                .check("x", 9, &[sock("[::ffff:127.0.0.2]:9")])
                .is_ok()
        );
        assert!(
            loopback
                .check("x", 80, &[sock("169.254.169.254:80")])
                .is_err()
        );
        assert!(loopback.check("x", 80, &[sock("10.0.0.1:80")]).is_err());

        let one_port = policy(&["127.0.0.1:8200", "[::1]:8200"]);
        assert!(one_port.check("x", 8200, &[sock("127.0.0.1:8200")]).is_ok());
        assert!(one_port.check("x", 8200, &[sock("[::1]:8200")]).is_ok());
        assert!(
            one_port
                .check("x", 8201, &[sock("127.0.0.1:8201")])
                .is_err()
        );

        let by_name = policy(&["Vault.Internal:8200"]);
        assert!(
            by_name
                .check("vault.internal", 8200, &[sock("10.1.2.3:8200")])
                .is_ok()
        );
        assert!(
            by_name
                .check("vault.internal.", 8200, &[sock("10.1.2.3:8200")])
                .is_ok()
        );
        assert!(
            by_name
                .check("vault.internal", 8201, &[sock("10.1.2.3:8201")])
                .is_err()
        );
        assert!(
            by_name
                .check("other.internal", 8200, &[sock("10.1.2.3:8200")])
                .is_err()
        );

        let block = policy(&["10.0.0.0/8", "fd00::/8"]);
        assert!(block.check("x", 1, &[sock("10.9.9.9:1")]).is_ok());
        assert!(block.check("x", 1, &[sock("[fd12::1]:1")]).is_ok());
        assert!(block.check("x", 1, &[sock("[fc12::1]:1")]).is_err());
        assert!(block.check("x", 1, &[sock("11.0.0.1:1")]).is_ok());
    }

    #[test]
    fn rejects_bad_allowances() {
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/x",
            "host",
            "host:0",
            "host:http",
            "bad_name:80",
            "a b:80",
            "nothost/8",
        ] {
            assert!(Allowance::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Allowance::parse("0.0.0.0/0").unwrap(),
            Allowance::Block {
                net: "0.0.0.0".parse().unwrap(),
                prefix: 0
            }
        );
    }
}
