//! Ethernet, ARP and the IPv4 layer shared by both transports.
//!
//! Built so far: the Internet checksum ([`checksum`]: RFC 1071 sums, RFC 1624 incremental
//! updates, TCP/UDP pseudo-headers). The wire types, the ARP cache and IPv4 input/output
//! arrive with the rest of the eth issue.

pub mod checksum;

pub use nmio;
