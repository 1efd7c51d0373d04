//! Wire formats of the eth layer: Ethernet II (with 802.1Q/802.1ad tags), ARP for
//! Ethernet/IPv4, the IPv4 header and ICMPv4.
//!
//! Each header has a checked zero-copy view (`EthernetFrame`, `ArpPacket`, `Ipv4Packet`,
//! `IcmpPacket`) whose `new_checked` validates lengths once so the accessors never read past
//! the buffer, and a plain value (`EthernetRepr`, `ArpRepr`, `Ipv4Repr`, `IcmpRepr`) with
//! `parse` and `emit` for slow paths and tests. Nothing here allocates or behaves: the
//! layers decide what to do with what the parsers report.
//!
//! Views made with `new_unchecked` are for emitting into a buffer the caller has sized
//! (`header_len()` / `buffer_len()` of the matching `Repr`); their fixed-offset accessors
//! and setters panic if the buffer is shorter than that.

use core::fmt;

pub mod arp;
pub mod ethernet;
pub mod icmp;
pub mod ipv4;

pub use arp::{ArpOp, ArpPacket, ArpRepr};
pub use ethernet::{EtherType, EthernetFrame, EthernetRepr};
pub use icmp::{IcmpPacket, IcmpRepr, IcmpType};
pub use ipv4::{IpProtocol, Ipv4Packet, Ipv4Repr};
pub use std::net::Ipv4Addr;

/// Why a header was rejected. Layers count these rather than log them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireError {
    /// The buffer is shorter than the header, or than a length field says.
    Truncated,
    /// IPv4 version field is not 4.
    BadVersion,
    /// IPv4 IHL is below 5 (the header cannot be shorter than 20 bytes).
    BadHeaderLen,
    /// A length field contradicts the header (IPv4 total length below the header length).
    BadLength,
    /// The Internet checksum does not verify.
    BadChecksum,
    /// A header option is malformed (length below 2, running past the header, or the wrong
    /// length for its kind).
    BadOption,
    /// Well-formed but outside what this stack speaks (the string says what).
    Unsupported(&'static str),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated => f.write_str("truncated packet"),
            WireError::BadVersion => f.write_str("bad IP version"),
            WireError::BadHeaderLen => f.write_str("bad header length"),
            WireError::BadLength => f.write_str("bad length field"),
            WireError::BadChecksum => f.write_str("bad checksum"),
            WireError::BadOption => f.write_str("malformed option"),
            WireError::Unsupported(what) => write!(f, "unsupported {what}"),
        }
    }
}

impl std::error::Error for WireError {}

/// A 48-bit IEEE 802 MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// 00:00:00:00:00:00, the target hardware address of an ARP request (RFC 5227 2.1.1).
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// The address in the first six bytes of `bytes`, if there are six.
    pub fn from_bytes(bytes: &[u8]) -> Option<MacAddr> {
        bytes.get(..6)?.try_into().ok().map(MacAddr)
    }

    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }

    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// IEEE 802-2014 8.2: the I/G bit (least significant bit of the first octet) marks a
    /// group address; broadcast is a group address too.
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacAddr({self})")
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(octets: [u8; 6]) -> Self {
        MacAddr(octets)
    }
}

/// Big-endian u16 at `off`, or `None` past the end. Used where the offset depends on
/// header contents, so a view never panics even after its fields were rewritten.
#[inline]
fn read_u16(buf: &[u8], off: usize) -> Option<u16> {
    match buf.get(off..off.checked_add(2)?)? {
        [hi, lo] => Some(u16::from_be_bytes([*hi, *lo])),
        _ => None,
    }
}

/// Big-endian u16 in the fixed field `range` (two bytes a view has already length-checked).
/// Public for the wire views of the transport crates.
#[inline]
pub fn get_u16(buf: &[u8], range: core::ops::Range<usize>) -> u16 {
    u16::from_be_bytes([buf[range.start], buf[range.start + 1]])
}

/// Store `value` big-endian in the fixed two-byte field `range`.
#[inline]
pub fn put_u16(buf: &mut [u8], range: core::ops::Range<usize>, value: u16) {
    buf[range].copy_from_slice(&value.to_be_bytes());
}

/// `start..end` narrowed to fit a buffer of `len` bytes (empty when it does not).
#[inline]
pub fn clamp(len: usize, start: usize, end: usize) -> core::ops::Range<usize> {
    let end = end.min(len);
    start.min(end)..end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_display_is_lowercase_colon_hex() {
        let mac = MacAddr([0x02, 0x00, 0x5e, 0x10, 0xab, 0xff]);
        assert_eq!(mac.to_string(), "02:00:5e:10:ab:ff");
        assert_eq!(format!("{mac:?}"), "MacAddr(02:00:5e:10:ab:ff)");
    }

    #[test]
    fn mac_classes() {
        assert!(MacAddr::BROADCAST.is_broadcast());
        assert!(MacAddr::BROADCAST.is_multicast());
        assert!(!MacAddr::BROADCAST.is_unicast());
        // RFC 1112 6.4: IPv4 multicast maps into 01:00:5e:...
        let mcast = MacAddr([0x01, 0x00, 0x5e, 0x00, 0x00, 0x01]);
        assert!(mcast.is_multicast() && !mcast.is_broadcast());
        let ucast = MacAddr([0x02, 0, 0, 0, 0, 1]);
        assert!(ucast.is_unicast() && !ucast.is_multicast());
    }

    #[test]
    fn mac_from_bytes_needs_six() {
        assert_eq!(MacAddr::from_bytes(&[1, 2, 3, 4, 5]), None);
        assert_eq!(
            MacAddr::from_bytes(&[1, 2, 3, 4, 5, 6, 7]),
            Some(MacAddr([1, 2, 3, 4, 5, 6]))
        );
    }

    #[test]
    fn errors_display_one_line() {
        assert_eq!(WireError::Truncated.to_string(), "truncated packet");
        assert_eq!(
            WireError::Unsupported("ARP hardware type").to_string(),
            "unsupported ARP hardware type"
        );
    }

    #[test]
    fn read_u16_never_panics_at_the_edge() {
        assert_eq!(read_u16(&[1, 2], 0), Some(0x0102));
        assert_eq!(read_u16(&[1, 2], 1), None);
        assert_eq!(read_u16(&[1, 2], usize::MAX), None);
        assert_eq!(clamp(4, 6, 10), 4..4);
        assert_eq!(clamp(10, 6, 8), 6..8);
    }
}
