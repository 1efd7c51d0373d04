//! UDP over the IPv4 layer of [`eth`].
//!
//! Placeholder: UDP arrives with the udpip issue.

pub use eth;
