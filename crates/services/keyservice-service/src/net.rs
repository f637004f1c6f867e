//! docs/keyservice.md, "Design: client address": the client address and namespace CIDR allow-lists.

use std::net::IpAddr;

use guest_kit::Request;
pub use guest_kit::net::{Cidr, parse_cidr};
use guest_kit::net::{PLATFORM_ADDR_HEADER, parse_addr};

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
