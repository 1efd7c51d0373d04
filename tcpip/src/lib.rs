//! TCP over the IPv4 layer of [`eth`].
//!
//! Placeholder: the sans-IO TCP core arrives with the tcpip issue.

pub use eth;
