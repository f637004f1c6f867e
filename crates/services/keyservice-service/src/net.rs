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
    // CIDR parsing and matching are guest-kit's (guest_kit::net), tested there.
    use super::*;

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
