//! UDP over the IPv4 layer of [`eth`].
//!
//! Built so far: the wire type ([`wire`]: RFC 768 header view and value, pseudo-header
//! checksum). Binding, the `UdpApp` trait and prepared datagrams arrive with the rest of
//! the udpip issue.

pub mod wire;

pub use eth;
