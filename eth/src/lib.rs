//! Ethernet, ARP and the IPv4 layer shared by both transports.
//!
//! Placeholder: the wire types, ARP cache and IPv4 input/output arrive with the eth issue.
//! The crate already depends on `nmio` so the dependency direction (`eth -> nmio`) is fixed.

pub use nmio;
