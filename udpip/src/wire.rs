//! The UDP header (RFC 768): a checked view and a value type.
//!
//! ```text
//!  0      7 8     15 16    23 24    31
//! +--------+--------+--------+--------+
//! |   source port   |  destination    |
//! +--------+--------+--------+--------+
//! |     length      |    checksum     |
//! +--------+--------+--------+--------+
//! ```
//!
//! The checksum covers an IPv4 pseudo-header, so checking and filling it take the two
//! addresses. Over IPv4 a zero checksum field means "none computed" and is accepted on
//! receive (RFC 768; RFC 1122 4.1.3.4 lets a host drop such datagrams, we do not); we never
//! send one (a computed zero goes out as 0xFFFF).

use eth::checksum;
use eth::wire::{clamp, get_u16, put_u16, Ipv4Addr, WireError};

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// Bytes of the UDP header.
pub const HEADER_LEN: usize = 8;

/// A checked view of a UDP datagram (header and payload; bytes beyond the length field,
/// such as link padding the IP layer did not cut, are ignored).
#[derive(Debug, Clone)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps a buffer without checks; for emitting into at least `HEADER_LEN` bytes.
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// Wraps a received datagram after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Truncated` if the buffer is shorter than the header or than the length field says;
    /// `BadLength` if the length field is below 8.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let field = usize::from(self.len());
        if field < HEADER_LEN {
            return Err(WireError::BadLength);
        }
        if field > len {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn src_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    #[inline]
    pub fn dst_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// The length field: header plus payload.
    #[inline]
    pub fn len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Whether the length field says there is no payload.
    #[inline]
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The payload, cut at the length field (clamped to the buffer).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        &buf[clamp(buf.len(), HEADER_LEN, usize::from(self.len()))]
    }

    /// The checksum verifies with the pseudo-header of `src -> dst`, or is zero (none sent).
    #[inline]
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let buf = self.buffer.as_ref();
        let end = usize::from(self.len()).min(buf.len());
        checksum::l4_verify(src.octets(), dst.octets(), checksum::PROTO_UDP, &buf[..end])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::SRC_PORT, v)
    }

    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::DST_PORT, v)
    }

    #[inline]
    pub fn set_len(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::LENGTH, v)
    }

    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM, v)
    }

    /// The payload, mutably, cut at the length field like [`payload`](UdpPacket::payload).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = usize::from(self.len());
        let buf = self.buffer.as_mut();
        let range = clamp(buf.len(), HEADER_LEN, len);
        &mut buf[range]
    }

    /// Compute and store the checksum over the datagram as the length field gives it (a
    /// computed zero is stored as 0xFFFF).
    #[inline]
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let buf = self.buffer.as_ref();
        let end = usize::from(self.len()).min(buf.len());
        let c = checksum::udp_checksum(src.octets(), dst.octets(), &buf[..end]);
        self.set_checksum(c);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for UdpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// A UDP header as a value; the payload is passed to `emit` separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    /// Bytes after the header.
    pub payload_len: usize,
}

impl UdpRepr {
    /// Check lengths and the checksum (`BadChecksum`; a zero checksum passes).
    pub fn parse<T: AsRef<[u8]>>(
        packet: &UdpPacket<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    ) -> Result<Self, WireError> {
        packet.check_len()?;
        if !packet.verify_checksum(src, dst) {
            return Err(WireError::BadChecksum);
        }
        Ok(UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload_len: usize::from(packet.len()) - HEADER_LEN,
        })
    }

    /// Header plus payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Write header and `payload` (whose length must be `payload_len`) and the checksum for
    /// `src -> dst`.
    ///
    /// # Panics
    /// If the buffer is shorter than `buffer_len()`, or the datagram would exceed 65535
    /// bytes (a caller bug: no IPv4 packet carries it).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut UdpPacket<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload: &[u8],
    ) {
        debug_assert_eq!(payload.len(), self.payload_len, "UDP payload length");
        packet.buffer.as_mut()[HEADER_LEN..HEADER_LEN + payload.len()].copy_from_slice(payload);
        self.emit_header(packet, src, dst);
    }

    /// Write the header in front of a payload of `payload_len` bytes already in place, and
    /// its checksum. Panics if the datagram would exceed 65,535 bytes.
    #[inline]
    pub fn emit_header<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut UdpPacket<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    ) {
        let len = u16::try_from(self.buffer_len()).expect("UDP datagram above 65535 bytes");
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(len);
        packet.fill_checksum(src, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    /// 192.0.2.1:1234 -> 192.0.2.2:53, payload "hi". Checksum by hand (RFC 768 / 1071):
    /// pseudo-header c000 + 0201 + c000 + 0202 + 0011 + 000a = 0x1841e; header 04d2 + 0035
    /// + 000a + 0000 = 0x0511; data 6869; total 0x1f198, folded 0xf199, complement 0x0e66.
    static DATAGRAM: [u8; 10] = [0x04, 0xd2, 0x00, 0x35, 0x00, 0x0a, 0x0e, 0x66, b'h', b'i'];

    #[test]
    fn parses_the_literal_datagram() {
        let p = UdpPacket::new_checked(&DATAGRAM[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port(), p.len()), (1234, 53, 10));
        assert_eq!(p.payload(), b"hi");
        assert!(p.verify_checksum(SRC, DST));
        assert!(!p.verify_checksum(SRC, Ipv4Addr::new(192, 0, 2, 3)));
        let r = UdpRepr::parse(&p, SRC, DST).unwrap();
        assert_eq!(
            r,
            UdpRepr {
                src_port: 1234,
                dst_port: 53,
                payload_len: 2
            }
        );
    }

    #[test]
    fn emits_the_literal_datagram() {
        let r = UdpRepr {
            src_port: 1234,
            dst_port: 53,
            payload_len: 2,
        };
        let mut buf = [0xaau8; 10];
        r.emit(&mut UdpPacket::new_unchecked(&mut buf[..]), SRC, DST, b"hi");
        assert_eq!(buf, DATAGRAM);
    }

    #[test]
    fn zero_checksum_is_accepted_and_never_sent() {
        let mut d = DATAGRAM;
        d[6..8].fill(0);
        assert!(UdpRepr::parse(&UdpPacket::new_checked(&d[..]).unwrap(), SRC, DST).is_ok());
        // A datagram whose computed checksum is 0 goes out as 0xFFFF (RFC 768).
        // Choose the payload so the sum of everything else is 0xFFFF: one's complement
        // zero checksum. Found by solving for the last word.
        let mut buf = [0u8; 10];
        let r = UdpRepr {
            src_port: 1234,
            dst_port: 53,
            payload_len: 2,
        };
        r.emit(
            &mut UdpPacket::new_unchecked(&mut buf[..]),
            SRC,
            DST,
            &[0, 0],
        );
        let c0 = u16::from_be_bytes([buf[6], buf[7]]);
        // Adding `c0` to the payload word makes the new sum all ones, so the new checksum
        // computes to 0 and must be sent as 0xFFFF.
        let word = c0.to_be_bytes();
        r.emit(&mut UdpPacket::new_unchecked(&mut buf[..]), SRC, DST, &word);
        assert_eq!(&buf[6..8], &[0xff, 0xff]);
        assert!(UdpPacket::new_checked(&buf[..])
            .unwrap()
            .verify_checksum(SRC, DST));
    }

    #[test]
    fn bad_lengths_and_checksums_are_named() {
        assert_eq!(
            UdpPacket::new_checked(&DATAGRAM[..7]).err(),
            Some(WireError::Truncated)
        );
        let mut d = DATAGRAM;
        d[5] = 7;
        assert_eq!(
            UdpPacket::new_checked(&d[..]).err(),
            Some(WireError::BadLength)
        );
        d[5] = 11;
        assert_eq!(
            UdpPacket::new_checked(&d[..]).err(),
            Some(WireError::Truncated)
        );
        let mut d = DATAGRAM;
        d[9] ^= 1;
        let p = UdpPacket::new_checked(&d[..]).unwrap();
        assert_eq!(UdpRepr::parse(&p, SRC, DST), Err(WireError::BadChecksum));
    }

    #[test]
    fn padding_after_the_length_is_ignored() {
        let mut d = DATAGRAM.to_vec();
        d.extend_from_slice(&[0; 6]);
        let p = UdpPacket::new_checked(&d[..]).unwrap();
        assert_eq!(p.payload(), b"hi");
        assert!(p.verify_checksum(SRC, DST));
    }

    proptest! {
        #[test]
        fn emit_then_parse_round_trips(src_port: u16, dst_port: u16,
                                       payload in proptest::collection::vec(any::<u8>(), 0..1473),
                                       a: [u8; 4], b: [u8; 4]) {
            let (src, dst) = (Ipv4Addr::from(a), Ipv4Addr::from(b));
            let r = UdpRepr { src_port, dst_port, payload_len: payload.len() };
            let mut buf = vec![0; r.buffer_len()];
            r.emit(&mut UdpPacket::new_unchecked(&mut buf[..]), src, dst, &payload);
            let p = UdpPacket::new_checked(&buf[..]).unwrap();
            prop_assert_ne!(p.checksum(), 0);
            prop_assert_eq!(UdpRepr::parse(&p, src, dst), Ok(r));
            prop_assert_eq!(p.payload(), &payload[..]);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let p = UdpPacket::new_unchecked(&data[..]);
            if data.len() >= HEADER_LEN {
                let _ = (p.src_port(), p.dst_port(), p.len(), p.checksum(), p.payload());
                let _ = p.verify_checksum(Ipv4Addr::LOCALHOST, Ipv4Addr::BROADCAST);
            }
            if let Ok(p) = UdpPacket::new_checked(&data[..]) {
                let _ = UdpRepr::parse(&p, Ipv4Addr::LOCALHOST, Ipv4Addr::BROADCAST);
                prop_assert!(p.payload().len() + HEADER_LEN == usize::from(p.len()));
            }
        }
    }
}
