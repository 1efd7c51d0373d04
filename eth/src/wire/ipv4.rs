//! The IPv4 header (RFC 791 3.1).
//!
//! The view checks lengths and the version; checksum, options and fragments are reported,
//! and the IPv4 layer decides what to drop and count.

use core::fmt;

use super::{clamp, Ipv4Addr, WireError};

/// The protocol field (IANA protocol numbers).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpProtocol(pub u8);

impl IpProtocol {
    pub const ICMP: IpProtocol = IpProtocol(1);
    pub const TCP: IpProtocol = IpProtocol(6);
    pub const UDP: IpProtocol = IpProtocol(17);
}

impl fmt::Debug for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ICMP => f.write_str("ICMP"),
            Self::TCP => f.write_str("TCP"),
            Self::UDP => f.write_str("UDP"),
            _ => write!(f, "IpProtocol({})", self.0),
        }
    }
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

mod field {
    use core::ops::Range;

    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const TOTAL_LEN: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLAGS_FRAG: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
}

/// Header length without options (IHL 5).
pub const HEADER_LEN: usize = 20;
/// Largest payload an option-less header can carry (total length is 16 bits).
pub const MAX_PAYLOAD_LEN: usize = u16::MAX as usize - HEADER_LEN;

// RFC 791 3.1 "Flags" (RFC 3514 aside, bit 0 is reserved).
const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A checked view of an IPv4 packet.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps a buffer without checks; for emitting into at least `Ipv4Repr::buffer_len()`
    /// bytes.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps a received packet (Ethernet padding allowed after it).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// RFC 791 3.1 / RFC 1122 3.2.1.1-2 header checks, in order:
    /// `Truncated` (under 20 bytes), `BadVersion` (not 4), `BadHeaderLen` (IHL < 5),
    /// `Truncated` (header with options exceeds the buffer), `BadLength` (total length
    /// below header length), `Truncated` (total length exceeds the buffer).
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if self.version() != 4 {
            return Err(WireError::BadVersion);
        }
        if self.ihl() < 5 {
            return Err(WireError::BadHeaderLen);
        }
        let header_len = self.header_len();
        if header_len > len {
            return Err(WireError::Truncated);
        }
        let total_len = usize::from(self.total_len());
        if total_len < header_len {
            return Err(WireError::BadLength);
        }
        if total_len > len {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn u16_at(&self, range: core::ops::Range<usize>) -> u16 {
        super::get_u16(self.buffer.as_ref(), range)
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Internet Header Length in 32-bit words.
    #[inline]
    pub fn ihl(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] & 0x0f
    }

    /// Header length in bytes, options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.ihl()) * 4
    }

    /// DSCP (6 bits, RFC 2474) and ECN (2 bits, RFC 3168), as one byte.
    #[inline]
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    #[inline]
    pub fn total_len(&self) -> u16 {
        self.u16_at(field::TOTAL_LEN)
    }

    #[inline]
    pub fn ident(&self) -> u16 {
        self.u16_at(field::IDENT)
    }

    /// The three flag bits (reserved, DF, MF) in the low bits: DF is 0b010, MF 0b001.
    #[inline]
    pub fn flags(&self) -> u8 {
        (self.u16_at(field::FLAGS_FRAG) >> 13) as u8
    }

    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.u16_at(field::FLAGS_FRAG) & FLAG_DF != 0
    }

    #[inline]
    pub fn more_frags(&self) -> bool {
        self.u16_at(field::FLAGS_FRAG) & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field counts 8-byte units).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.u16_at(field::FLAGS_FRAG) & FRAG_OFFSET_MASK) << 3
    }

    /// RFC 791 3.2: a packet is a fragment if MF is set or the offset is non-zero.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.u16_at(field::FLAGS_FRAG) & (FLAG_MF | FRAG_OFFSET_MASK) != 0
    }

    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    #[inline]
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol(self.buffer.as_ref()[field::PROTOCOL])
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }

    #[inline]
    pub fn src(&self) -> Ipv4Addr {
        let mut ip = [0; 4];
        ip.copy_from_slice(&self.buffer.as_ref()[field::SRC]);
        Ipv4Addr::from(ip)
    }

    #[inline]
    pub fn dst(&self) -> Ipv4Addr {
        let mut ip = [0; 4];
        ip.copy_from_slice(&self.buffer.as_ref()[field::DST]);
        Ipv4Addr::from(ip)
    }

    /// True if the header carries options (IHL > 5).
    #[inline]
    pub fn has_options(&self) -> bool {
        self.header_len() > HEADER_LEN
    }

    /// The option bytes between the fixed header and the payload (RFC 791 3.1 "Options").
    #[inline]
    pub fn options(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        &buf[clamp(buf.len(), HEADER_LEN, self.header_len())]
    }

    /// The header, options included.
    #[inline]
    pub fn header(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        &buf[clamp(buf.len(), 0, self.header_len())]
    }

    /// From the end of the header to the total length: link-layer padding is cut off.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        &buf[clamp(buf.len(), self.header_len(), usize::from(self.total_len()))]
    }

    /// RFC 791 3.1 "Header Checksum": the one's complement sum over the header, options
    /// included, is all ones.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        crate::checksum::verify(self.header())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    fn set_u16_at(&mut self, range: core::ops::Range<usize>, value: u16) {
        super::put_u16(self.buffer.as_mut(), range, value)
    }

    /// Version 4 and the header length in bytes (a multiple of 4, 20..=60).
    #[inline]
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }

    #[inline]
    pub fn set_dscp_ecn(&mut self, value: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = value;
    }

    #[inline]
    pub fn set_total_len(&mut self, value: u16) {
        self.set_u16_at(field::TOTAL_LEN, value);
    }

    #[inline]
    pub fn set_ident(&mut self, value: u16) {
        self.set_u16_at(field::IDENT, value);
    }

    /// Sets DF, MF and the fragment offset (in bytes, a multiple of 8); the reserved bit is
    /// cleared.
    #[inline]
    pub fn set_flags_and_frag_offset(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let mut value = (offset >> 3) & FRAG_OFFSET_MASK;
        if dont_frag {
            value |= FLAG_DF;
        }
        if more_frags {
            value |= FLAG_MF;
        }
        self.set_u16_at(field::FLAGS_FRAG, value);
    }

    #[inline]
    pub fn set_ttl(&mut self, value: u8) {
        self.buffer.as_mut()[field::TTL] = value;
    }

    #[inline]
    pub fn set_protocol(&mut self, value: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = value.0;
    }

    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        self.set_u16_at(field::CHECKSUM, value);
    }

    #[inline]
    pub fn set_src(&mut self, ip: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&ip.octets());
    }

    #[inline]
    pub fn set_dst(&mut self, ip: Ipv4Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&ip.octets());
    }

    /// Recomputes the header checksum over the header as it now stands.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = crate::checksum::checksum(self.header());
        self.set_checksum(sum);
    }

    /// The payload, cut at the total length as in `payload()`.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        let end = usize::from(self.total_len());
        let buf = self.buffer.as_mut();
        let range = clamp(buf.len(), start, end);
        &mut buf[range]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Ipv4Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// An IPv4 header as a value. Options and fragmentation are not represented: `parse`
/// skips options (the view reports them), `emit` writes a 20-byte header with MF clear and
/// offset zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: IpProtocol,
    /// Bytes after the header (total length minus header length); at most
    /// `MAX_PAYLOAD_LEN` for `emit`.
    pub payload_len: usize,
    pub ttl: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub dscp_ecn: u8,
}

impl Ipv4Repr {
    /// Checks the header like `new_checked` and verifies its checksum (`BadChecksum`).
    /// Options and fragments are accepted; ask the view (`has_options`, `is_fragment`).
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Result<Self, WireError> {
        let repr = Self::parse_unverified(packet)?;
        if !packet.verify_checksum() {
            return Err(WireError::BadChecksum);
        }
        Ok(repr)
    }

    /// As `parse`, without the checksum (for a NIC that validated it).
    pub fn parse_unverified<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Result<Self, WireError> {
        packet.check_len()?;
        Ok(Ipv4Repr {
            src: packet.src(),
            dst: packet.dst(),
            protocol: packet.protocol(),
            payload_len: usize::from(packet.total_len()) - packet.header_len(),
            ttl: packet.ttl(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            dscp_ecn: packet.dscp_ecn(),
        })
    }

    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the 20-byte header and its checksum; the payload goes at `header_len()`.
    ///
    /// # Panics
    /// If the buffer is shorter than 20 bytes. A `payload_len` above `MAX_PAYLOAD_LEN` is a
    /// caller bug: debug builds assert, release builds write the largest total length.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Ipv4Packet<T>) {
        debug_assert!(self.payload_len <= MAX_PAYLOAD_LEN, "IPv4 payload too long");
        let total_len = u16::try_from(self.buffer_len()).unwrap_or(u16::MAX);
        packet.set_version_and_header_len(HEADER_LEN);
        packet.set_dscp_ecn(self.dscp_ecn);
        packet.set_total_len(total_len);
        packet.set_ident(self.ident);
        packet.set_flags_and_frag_offset(self.dont_frag, false, 0);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src(self.src);
        packet.set_dst(self.dst);
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 791 3.1 header: 192.0.2.1 -> 192.0.2.2, ICMP, 84 bytes total (a 64-byte echo),
    /// ident 0x1c46, DF, TTL 64.
    /// Checksum by hand (RFC 1071): 4500 + 0054 + 1c46 + 4000 + 4001 + 0000 + c000 + 0201
    /// + c000 + 0202 = 0x2659e; folded 0x65a0; complement 0x9a5f.
    static IPV4_HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x54, // version 4, IHL 5, DSCP/ECN 0, total length 84
        0x1c, 0x46, 0x40, 0x00, // ident, DF, offset 0
        0x40, 0x01, 0x9a, 0x5f, // TTL 64, protocol ICMP, checksum
        0xc0, 0x00, 0x02, 0x01, // src 192.0.2.1
        0xc0, 0x00, 0x02, 0x02, // dst 192.0.2.2
    ];

    /// A small packet: the header with total length 28 (8 payload bytes) and 4 bytes of
    /// link padding. Checksum: as above with 001c for 0054, 0x26566 -> 0x6568 -> 0x9a97.
    static IPV4_SMALL: [u8; 32] = [
        0x45, 0x00, 0x00, 0x1c, 0x1c, 0x46, 0x40, 0x00, //
        0x40, 0x01, 0x9a, 0x97, 0xc0, 0x00, 0x02, 0x01, //
        0xc0, 0x00, 0x02, 0x02, //
        1, 2, 3, 4, 5, 6, 7, 8, // payload
        0, 0, 0, 0, // Ethernet padding
    ];

    /// IHL 6 with one 4-byte option (NOP NOP NOP EOL, RFC 791 3.1), total length 28.
    /// Checksum: 4600 + 001c + 0000 + 0000 + 4011 + c000 + 0201 + c000 + 0202 + 0101 + 0100
    /// = 0x20c31 -> 0x0c33 -> 0xf3cc.
    static IPV4_OPTIONS: [u8; 28] = [
        0x46, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x00, 0x00, //
        0x40, 0x11, 0xf3, 0xcc, 0xc0, 0x00, 0x02, 0x01, //
        0xc0, 0x00, 0x02, 0x02, //
        0x01, 0x01, 0x01, 0x00, // options
        9, 9, 9, 9, // payload
    ];

    fn header_repr() -> Ipv4Repr {
        Ipv4Repr {
            src: Ipv4Addr::new(192, 0, 2, 1),
            dst: Ipv4Addr::new(192, 0, 2, 2),
            protocol: IpProtocol::ICMP,
            payload_len: 64,
            ttl: 64,
            ident: 0x1c46,
            dont_frag: true,
            dscp_ecn: 0,
        }
    }

    fn header_with_payload() -> [u8; 84] {
        let mut buf = [0u8; 84];
        buf[..20].copy_from_slice(&IPV4_HEADER);
        buf
    }

    #[test]
    fn header_fields_read_back() {
        let buf = header_with_payload();
        let packet = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(packet.version(), 4);
        assert_eq!(packet.ihl(), 5);
        assert_eq!(packet.header_len(), 20);
        assert_eq!(packet.dscp_ecn(), 0);
        assert_eq!(packet.total_len(), 84);
        assert_eq!(packet.ident(), 0x1c46);
        assert_eq!(packet.flags(), 0b010);
        assert!(packet.dont_frag() && !packet.more_frags());
        assert_eq!(packet.frag_offset(), 0);
        assert!(!packet.is_fragment());
        assert_eq!(packet.ttl(), 64);
        assert_eq!(packet.protocol(), IpProtocol::ICMP);
        assert_eq!(packet.checksum(), 0x9a5f);
        assert_eq!(packet.src(), Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(packet.dst(), Ipv4Addr::new(192, 0, 2, 2));
        assert!(packet.options().is_empty());
        assert!(!packet.has_options());
        assert_eq!(packet.payload().len(), 64);
        assert!(packet.verify_checksum());
    }

    #[test]
    fn header_parses_to_repr() {
        let buf = header_with_payload();
        let packet = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&packet).unwrap(), header_repr());
    }

    #[test]
    fn repr_emits_same_header_with_checksum() {
        let mut buf = [0xeeu8; 84];
        header_repr().emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf[..20], IPV4_HEADER);
    }

    #[test]
    fn payload_is_cut_at_total_length() {
        let packet = Ipv4Packet::new_checked(&IPV4_SMALL[..]).unwrap();
        assert!(packet.verify_checksum());
        assert_eq!(packet.payload(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(Ipv4Repr::parse(&packet).unwrap().payload_len, 8);
    }

    #[test]
    fn options_are_reported_not_rejected() {
        let packet = Ipv4Packet::new_checked(&IPV4_OPTIONS[..]).unwrap();
        assert!(packet.verify_checksum());
        assert!(packet.has_options());
        assert_eq!(packet.header_len(), 24);
        assert_eq!(packet.options(), &[1, 1, 1, 0]);
        assert_eq!(packet.payload(), &[9, 9, 9, 9]);
        let repr = Ipv4Repr::parse(&packet).unwrap();
        assert_eq!(repr.protocol, IpProtocol::UDP);
        assert_eq!(repr.payload_len, 4);
    }

    #[test]
    fn truncated_by_one_byte() {
        assert_eq!(
            Ipv4Packet::new_checked(&IPV4_HEADER[..19]).unwrap_err(),
            WireError::Truncated
        );
        // Total length 28 needs 28 bytes.
        assert_eq!(
            Ipv4Packet::new_checked(&IPV4_SMALL[..27]).unwrap_err(),
            WireError::Truncated
        );
        assert!(Ipv4Packet::new_checked(&IPV4_SMALL[..28]).is_ok());
        // The option does not fit.
        assert_eq!(
            Ipv4Packet::new_checked(&IPV4_OPTIONS[..23]).unwrap_err(),
            WireError::Truncated
        );
    }

    #[test]
    fn version_6_is_bad_version() {
        let mut bytes = IPV4_SMALL;
        bytes[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new_checked(&bytes[..]).unwrap_err(),
            WireError::BadVersion
        );
    }

    #[test]
    fn ihl_4_is_bad_header_len() {
        let mut bytes = IPV4_SMALL;
        bytes[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&bytes[..]).unwrap_err(),
            WireError::BadHeaderLen
        );
    }

    #[test]
    fn total_length_below_header_is_bad_length() {
        let mut bytes = IPV4_SMALL;
        bytes[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&bytes[..]).unwrap_err(),
            WireError::BadLength
        );
        let mut bytes = IPV4_OPTIONS;
        bytes[2..4].copy_from_slice(&23u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&bytes[..]).unwrap_err(),
            WireError::BadLength
        );
    }

    #[test]
    fn total_length_beyond_buffer_is_truncated() {
        let mut bytes = IPV4_SMALL;
        bytes[2..4].copy_from_slice(&33u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&bytes[..]).unwrap_err(),
            WireError::Truncated
        );
    }

    #[test]
    fn bad_checksum_is_detected() {
        let mut bytes = IPV4_SMALL;
        bytes[8] = 63; // TTL changed without fixing the checksum
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert!(!packet.verify_checksum());
        assert_eq!(Ipv4Repr::parse(&packet), Err(WireError::BadChecksum));
        assert_eq!(Ipv4Repr::parse_unverified(&packet).unwrap().ttl, 63);
    }

    #[test]
    fn structural_error_wins_over_checksum() {
        let mut bytes = IPV4_SMALL;
        bytes[0] = 0x65;
        let packet = Ipv4Packet::new_unchecked(&bytes[..]);
        assert_eq!(Ipv4Repr::parse(&packet), Err(WireError::BadVersion));
    }

    #[test]
    fn fragments_are_recognised() {
        let mut bytes = IPV4_SMALL;
        let mut packet = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
        packet.set_flags_and_frag_offset(false, true, 0);
        assert!(packet.is_fragment() && packet.more_frags());
        packet.set_flags_and_frag_offset(false, false, 1480);
        assert!(packet.is_fragment());
        assert_eq!(packet.frag_offset(), 1480);
        assert_eq!(&packet.as_ref()[6..8], &[0x00, 0xb9]); // 1480 / 8 = 185
        packet.set_flags_and_frag_offset(true, false, 0);
        assert!(!packet.is_fragment());
    }

    #[test]
    fn setters_then_fill_checksum_verify() {
        let mut bytes = IPV4_SMALL;
        let mut packet = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
        packet.set_ttl(1);
        packet.set_src(Ipv4Addr::new(10, 0, 0, 1));
        packet.set_dst(Ipv4Addr::new(10, 0, 0, 2));
        assert!(!packet.verify_checksum());
        packet.fill_checksum();
        assert!(packet.verify_checksum());
        assert_eq!(packet.ttl(), 1);
        packet.payload_mut().copy_from_slice(&[0; 8]);
        assert_eq!(&bytes[20..32], &[0; 12]);
    }

    #[test]
    fn accessors_survive_rewritten_lengths() {
        let mut bytes = IPV4_SMALL;
        let mut packet = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
        packet.set_version_and_header_len(60);
        packet.set_total_len(u16::MAX);
        assert!(packet.payload().is_empty());
        assert_eq!(packet.options().len(), 12);
        assert!(packet.payload_mut().is_empty());
        packet.set_version_and_header_len(0);
        assert!(packet.options().is_empty());
        let _ = packet.verify_checksum();
        packet.fill_checksum();
    }

    fn repr() -> impl Strategy<Value = Ipv4Repr> {
        (
            any::<[u8; 4]>(),
            any::<[u8; 4]>(),
            any::<u8>(),
            0usize..600,
            any::<u8>(),
            any::<u16>(),
            any::<bool>(),
            any::<u8>(),
        )
            .prop_map(|(src, dst, proto, len, ttl, ident, df, tos)| Ipv4Repr {
                src: Ipv4Addr::from(src),
                dst: Ipv4Addr::from(dst),
                protocol: IpProtocol(proto),
                payload_len: len,
                ttl,
                ident,
                dont_frag: df,
                dscp_ecn: tos,
            })
    }

    fn poke_all<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) {
        let _ = (
            packet.version(),
            packet.ihl(),
            packet.dscp_ecn(),
            packet.total_len(),
        );
        let _ = (
            packet.ident(),
            packet.flags(),
            packet.frag_offset(),
            packet.ttl(),
        );
        let _ = (
            packet.protocol(),
            packet.checksum(),
            packet.src(),
            packet.dst(),
        );
        let _ = (packet.options(), packet.payload(), packet.is_fragment());
        let _ = packet.verify_checksum();
    }

    proptest! {
        #[test]
        fn repr_round_trips(repr in repr(), padding in 0usize..8) {
            let mut buf = vec![0u8; repr.buffer_len() + padding];
            repr.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]));
            let packet = Ipv4Packet::new_checked(&buf[..]).unwrap();
            prop_assert!(packet.verify_checksum());
            prop_assert_eq!(packet.payload().len(), repr.payload_len);
            prop_assert_eq!(Ipv4Repr::parse(&packet).unwrap(), repr);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            if let Ok(packet) = Ipv4Packet::new_checked(&bytes[..]) {
                poke_all(&packet);
                let _ = Ipv4Repr::parse(&packet);
            }
            let _ = Ipv4Repr::parse(&Ipv4Packet::new_unchecked(&bytes[..]));
            let _ = Ipv4Repr::parse_unverified(&Ipv4Packet::new_unchecked(&bytes[..]));
        }

        #[test]
        fn version_4_bytes_never_panic(
            ihl in 0u8..16,
            mut bytes in proptest::collection::vec(any::<u8>(), 20..100),
            total_len in 0u16..120,
        ) {
            bytes[0] = 0x40 | ihl;
            bytes[2..4].copy_from_slice(&total_len.to_be_bytes());
            if let Ok(packet) = Ipv4Packet::new_checked(&bytes[..]) {
                poke_all(&packet);
                prop_assert!(packet.header_len() + packet.payload().len() == usize::from(total_len));
                let _ = Ipv4Repr::parse(&packet);
            }
        }
    }
}
