//! The front door: what the host does with a connection and a request before any guest runs.
//!
//! Everything here exists so that an anonymous client cannot take the host offline or make a
//! component see a request that was not routed (docs/OPERATIONS.md, "The front door"):
//!
//! - [`connections`]: a global and a per-peer cap on open connections, and a watchdog that closes
//!   a connection whose request head does not arrive in time or that sits idle between requests.
//! - [`head`]: bounds on the request target and the header section, answered with JSON.
//! - [`admission`]: the request body is read by the host, bounded in size and time, before an
//!   instance slot is taken; slots are shared fairly between peers.
//! - [`authority`]: the absolute URI a guest sees is built from a validated `Host` and the
//!   routed request target, never by pasting strings together.

pub mod admission;
pub mod authority;
pub mod connections;
pub mod head;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The limits an operator sets with `keyward serve` flags (defaults in docs/OPERATIONS.md).
#[derive(Debug, Clone)]
pub struct FrontDoorLimits {
    /// From accept (or from the first byte of a later request) until the request head is in.
    pub header_timeout: Duration,
    /// A keep-alive connection with no request in progress is closed after this long.
    pub idle_timeout: Duration,
    /// The whole request body must arrive within this long.
    pub body_timeout: Duration,
    /// Host-wide maximum request body; a component may declare a smaller one.
    pub max_body_bytes: usize,
    /// Open connections, all peers together (further ones are closed at once).
    pub max_connections: usize,
    /// Open connections from one peer (0: no per-peer cap).
    pub max_connections_per_peer: usize,
    /// Instances one peer may hold at once (0: no per-peer cap).
    pub max_instances_per_peer: usize,
}

/// Who a connection counts against: an IPv4 address, or an IPv6 /64 (one subscriber's prefix:
/// a single host can use a whole /64, so capping single IPv6 addresses would cap nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerKey {
    V4([u8; 4]),
    V6Prefix([u8; 8]),
}

impl PeerKey {
    pub fn of(addr: SocketAddr) -> PeerKey {
        match addr.ip() {
            IpAddr::V4(v4) => PeerKey::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => PeerKey::V4(v4.octets()),
                None => {
                    let o = v6.octets();
                    PeerKey::V6Prefix([o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]])
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_peers_are_grouped_by_their_64_prefix() {
        let a: SocketAddr = "[2001:db8:1:2::1]:5000".parse().unwrap();
        let b: SocketAddr = "[2001:db8:1:2:ffff::9]:6000".parse().unwrap();
        let c: SocketAddr = "[2001:db8:1:3::1]:5000".parse().unwrap();
        assert_eq!(PeerKey::of(a), PeerKey::of(b));
        assert_ne!(PeerKey::of(a), PeerKey::of(c));
        let mapped: SocketAddr = "[::ffff:10.0.0.1]:1".parse().unwrap();
        let v4: SocketAddr = "10.0.0.1:2".parse().unwrap();
        assert_eq!(PeerKey::of(mapped), PeerKey::of(v4));
    }
}
