//! Ethernet, ARP and the IPv4 layer shared by both transports.
//!
//! Built so far: the Internet checksum ([`checksum`]: RFC 1071 sums, RFC 1624 incremental
//! updates, TCP/UDP pseudo-headers) and the wire types ([`wire`]: Ethernet II with 802.1Q,
//! ARP, IPv4, ICMPv4, each a checked view plus a value type). The ARP cache and IPv4
//! input/output arrive with the rest of the eth issue.

pub mod checksum;
pub mod wire;

pub use nmio;
