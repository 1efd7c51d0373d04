//! ICMPv4 (RFC 792): the 8-byte header, echo request/reply and destination unreachable.
//!
//! The view covers the whole ICMP message, which is the IPv4 payload (already cut at the
//! IPv4 total length); the checksum covers all of it.

use core::fmt;

use super::{clamp, WireError};

/// The ICMP type field.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IcmpType(pub u8);

impl IcmpType {
    pub const ECHO_REPLY: IcmpType = IcmpType(0);
    pub const DST_UNREACHABLE: IcmpType = IcmpType(3);
    pub const ECHO_REQUEST: IcmpType = IcmpType(8);
    pub const TIME_EXCEEDED: IcmpType = IcmpType(11);
}

impl fmt::Debug for IcmpType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ECHO_REPLY => f.write_str("EchoReply"),
            Self::DST_UNREACHABLE => f.write_str("DstUnreachable"),
            Self::ECHO_REQUEST => f.write_str("EchoRequest"),
            Self::TIME_EXCEEDED => f.write_str("TimeExceeded"),
            _ => write!(f, "IcmpType({})", self.0),
        }
    }
}

/// RFC 792 destination unreachable codes (and RFC 1191 for 4).
pub mod unreachable {
    pub const NET: u8 = 0;
    pub const HOST: u8 = 1;
    pub const PROTOCOL: u8 = 2;
    pub const PORT: u8 = 3;
    /// Fragmentation needed and DF set; bytes 6..8 carry the next-hop MTU (RFC 1191 4).
    pub const FRAG_NEEDED: u8 = 4;
}

mod field {
    use core::ops::Range;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    /// RFC 792 echo: identifier and sequence number in the rest of the header.
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQ: Range<usize> = 6..8;
    /// RFC 792 destination unreachable: 4 unused bytes (RFC 1191: next-hop MTU in 6..8).
    pub const REST: Range<usize> = 4..8;
    pub const NEXT_HOP_MTU: Range<usize> = 6..8;
}

/// Every ICMP message starts with 8 bytes: type, code, checksum, 4 type-specific bytes.
pub const HEADER_LEN: usize = 8;

/// A checked view of an ICMPv4 message.
#[derive(Debug, Clone)]
pub struct IcmpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    /// Wraps a buffer without checks; for emitting into at least `IcmpRepr::buffer_len()`
    /// bytes.
    pub const fn new_unchecked(buffer: T) -> Self {
        IcmpPacket { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Truncated` if the 8-byte header is cut.
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
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
    pub fn msg_type(&self) -> IcmpType {
        IcmpType(self.buffer.as_ref()[field::TYPE])
    }

    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }

    /// Echo identifier (meaningful for echo request/reply).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        self.u16_at(field::ECHO_IDENT)
    }

    /// Echo sequence number (meaningful for echo request/reply).
    #[inline]
    pub fn echo_seq(&self) -> u16 {
        self.u16_at(field::ECHO_SEQ)
    }

    /// Next-hop MTU of a "fragmentation needed" message (RFC 1191 4); 0 from old routers.
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        self.u16_at(field::NEXT_HOP_MTU)
    }

    /// Everything after the 8-byte header: echo data, or the original IP header + 8 bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        &buf[clamp(buf.len(), HEADER_LEN, buf.len())]
    }

    /// RFC 792: the checksum is over the whole ICMP message.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        crate::checksum::verify(self.buffer.as_ref())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
    fn set_u16_at(&mut self, range: core::ops::Range<usize>, value: u16) {
        super::put_u16(self.buffer.as_mut(), range, value)
    }

    #[inline]
    pub fn set_msg_type(&mut self, value: IcmpType) {
        self.buffer.as_mut()[field::TYPE] = value.0;
    }

    #[inline]
    pub fn set_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value;
    }

    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        self.set_u16_at(field::CHECKSUM, value);
    }

    #[inline]
    pub fn set_echo_ident(&mut self, value: u16) {
        self.set_u16_at(field::ECHO_IDENT, value);
    }

    #[inline]
    pub fn set_echo_seq(&mut self, value: u16) {
        self.set_u16_at(field::ECHO_SEQ, value);
    }

    /// The 4 type-specific header bytes as one big-endian word (0 for "unused").
    #[inline]
    pub fn set_rest_of_header(&mut self, value: u32) {
        self.buffer.as_mut()[field::REST].copy_from_slice(&value.to_be_bytes());
    }

    /// Recomputes the checksum over the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = crate::checksum::checksum(self.buffer.as_ref());
        self.set_checksum(sum);
    }

    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let buf = self.buffer.as_mut();
        let range = clamp(buf.len(), HEADER_LEN, buf.len());
        &mut buf[range]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for IcmpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// An ICMPv4 message as a value. Data bytes are not held: `data_len` says how many follow
/// the header, and `emit` takes them as an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpRepr {
    EchoRequest {
        ident: u16,
        seq: u16,
        data_len: usize,
    },
    EchoReply {
        ident: u16,
        seq: u16,
        data_len: usize,
    },
    /// `data_len` is the length of the quoted original datagram (its IP header plus at
    /// least 8 bytes, RFC 792; RFC 1812 4.3.2.3 allows more).
    DstUnreachable { code: u8, data_len: usize },
    /// Any other type, or echo with a non-zero code; header only.
    Other { msg_type: IcmpType, code: u8 },
}

impl IcmpRepr {
    /// Verifies the checksum (`BadChecksum`), then classifies.
    pub fn parse<T: AsRef<[u8]>>(packet: &IcmpPacket<T>) -> Result<Self, WireError> {
        let repr = Self::parse_unverified(packet)?;
        if !packet.verify_checksum() {
            return Err(WireError::BadChecksum);
        }
        Ok(repr)
    }

    /// As `parse`, without the checksum.
    pub fn parse_unverified<T: AsRef<[u8]>>(packet: &IcmpPacket<T>) -> Result<Self, WireError> {
        packet.check_len()?;
        let data_len = packet.data().len();
        // RFC 792: echo and echo reply have code 0.
        Ok(match (packet.msg_type(), packet.code()) {
            (IcmpType::ECHO_REQUEST, 0) => IcmpRepr::EchoRequest {
                ident: packet.echo_ident(),
                seq: packet.echo_seq(),
                data_len,
            },
            (IcmpType::ECHO_REPLY, 0) => IcmpRepr::EchoReply {
                ident: packet.echo_ident(),
                seq: packet.echo_seq(),
                data_len,
            },
            (IcmpType::DST_UNREACHABLE, code) => IcmpRepr::DstUnreachable { code, data_len },
            (msg_type, code) => IcmpRepr::Other { msg_type, code },
        })
    }

    /// Bytes after the header.
    pub const fn data_len(&self) -> usize {
        match *self {
            IcmpRepr::EchoRequest { data_len, .. }
            | IcmpRepr::EchoReply { data_len, .. }
            | IcmpRepr::DstUnreachable { data_len, .. } => data_len,
            IcmpRepr::Other { .. } => 0,
        }
    }

    /// Header plus data.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.data_len()
    }

    /// Copies `data` after the header, then writes the header and checksum as
    /// `emit_header` does.
    ///
    /// # Panics
    /// If the buffer is shorter than `HEADER_LEN + data.len()`. `data.len()` should equal
    /// `data_len()` (debug builds assert).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut IcmpPacket<T>, data: &[u8]) {
        debug_assert_eq!(data.len(), self.data_len(), "ICMP data length");
        packet.data_mut()[..data.len()].copy_from_slice(data);
        self.emit_header(packet);
    }

    /// Writes the header over data already in place (an echo reply built in the request's
    /// buffer, a quote copied by the caller) and fills the checksum over
    /// `buffer_len()` bytes.
    ///
    /// # Panics
    /// If the buffer is shorter than `HEADER_LEN`.
    pub fn emit_header<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut IcmpPacket<T>) {
        match *self {
            IcmpRepr::EchoRequest { ident, seq, .. } => {
                emit_echo(packet, IcmpType::ECHO_REQUEST, ident, seq);
            }
            IcmpRepr::EchoReply { ident, seq, .. } => {
                emit_echo(packet, IcmpType::ECHO_REPLY, ident, seq);
            }
            IcmpRepr::DstUnreachable { code, .. } => {
                packet.set_msg_type(IcmpType::DST_UNREACHABLE);
                packet.set_code(code);
                packet.set_rest_of_header(0);
            }
            IcmpRepr::Other { msg_type, code } => {
                packet.set_msg_type(msg_type);
                packet.set_code(code);
                packet.set_rest_of_header(0);
            }
        }
        packet.set_checksum(0);
        let buf = packet.buffer.as_ref();
        let sum = crate::checksum::checksum(&buf[clamp(buf.len(), 0, self.buffer_len())]);
        packet.set_checksum(sum);
    }
}

fn emit_echo<T: AsRef<[u8]> + AsMut<[u8]>>(
    packet: &mut IcmpPacket<T>,
    msg_type: IcmpType,
    ident: u16,
    seq: u16,
) {
    packet.set_msg_type(msg_type);
    packet.set_code(0);
    packet.set_echo_ident(ident);
    packet.set_echo_seq(seq);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 792 echo request, identifier 0x1234, sequence 1, data "abcdefgh".
    /// Checksum: 0800 + 1234 + 0001 + 6162 + 6364 + 6566 + 6768 = 0x1abc9 -> 0xabca ->
    /// 0x5435.
    static ECHO_REQUEST: [u8; 16] = [
        0x08, 0x00, 0x54, 0x35, // type 8, code 0, checksum
        0x12, 0x34, 0x00, 0x01, // identifier, sequence number
        b'a', b'b', b'c', b'd', b'e', b'f', b'g', b'h',
    ];

    /// The matching echo reply: type 0, so the sum drops by 0x0800 -> checksum 0x5c35.
    static ECHO_REPLY: [u8; 16] = [
        0x00, 0x00, 0x5c, 0x35, //
        0x12, 0x34, 0x00, 0x01, //
        b'a', b'b', b'c', b'd', b'e', b'f', b'g', b'h',
    ];

    /// Port unreachable quoting a 20-byte IPv4 header + 8 bytes of UDP (RFC 792).
    fn port_unreachable() -> [u8; 36] {
        let mut buf = [0u8; 36];
        buf[0] = 3;
        buf[1] = unreachable::PORT;
        for (i, b) in buf[8..].iter_mut().enumerate() {
            *b = i as u8;
        }
        let sum = crate::checksum::checksum(&buf);
        buf[2..4].copy_from_slice(&sum.to_be_bytes());
        buf
    }

    #[test]
    fn echo_request_parses() {
        let packet = IcmpPacket::new_checked(&ECHO_REQUEST[..]).unwrap();
        assert_eq!(packet.msg_type(), IcmpType::ECHO_REQUEST);
        assert_eq!(packet.code(), 0);
        assert_eq!(packet.checksum(), 0x5435);
        assert_eq!(packet.echo_ident(), 0x1234);
        assert_eq!(packet.echo_seq(), 1);
        assert_eq!(packet.data(), b"abcdefgh");
        assert!(packet.verify_checksum());
        assert_eq!(
            IcmpRepr::parse(&packet).unwrap(),
            IcmpRepr::EchoRequest {
                ident: 0x1234,
                seq: 1,
                data_len: 8
            }
        );
    }

    #[test]
    fn echo_reply_emits_same_bytes() {
        let request = IcmpPacket::new_checked(&ECHO_REQUEST[..]).unwrap();
        let IcmpRepr::EchoRequest {
            ident,
            seq,
            data_len,
        } = IcmpRepr::parse(&request).unwrap()
        else {
            panic!("not an echo request");
        };
        let reply = IcmpRepr::EchoReply {
            ident,
            seq,
            data_len,
        };
        let mut buf = [0u8; 16];
        reply.emit(&mut IcmpPacket::new_unchecked(&mut buf[..]), request.data());
        assert_eq!(buf, ECHO_REPLY);
    }

    #[test]
    fn echo_reply_built_in_place() {
        let mut buf = ECHO_REQUEST;
        let mut packet = IcmpPacket::new_checked(&mut buf[..]).unwrap();
        IcmpRepr::EchoReply {
            ident: 0x1234,
            seq: 1,
            data_len: 8,
        }
        .emit_header(&mut packet);
        assert_eq!(buf, ECHO_REPLY);
    }

    #[test]
    fn echo_request_emits_same_bytes() {
        let repr = IcmpRepr::EchoRequest {
            ident: 0x1234,
            seq: 1,
            data_len: 8,
        };
        let mut buf = [0xffu8; 16];
        repr.emit(&mut IcmpPacket::new_unchecked(&mut buf[..]), b"abcdefgh");
        assert_eq!(buf, ECHO_REQUEST);
    }

    #[test]
    fn dst_unreachable_round_trips() {
        let bytes = port_unreachable();
        let packet = IcmpPacket::new_checked(&bytes[..]).unwrap();
        let repr = IcmpRepr::parse(&packet).unwrap();
        assert_eq!(
            repr,
            IcmpRepr::DstUnreachable {
                code: unreachable::PORT,
                data_len: 28
            }
        );
        let mut buf = [0xaau8; 36];
        repr.emit(&mut IcmpPacket::new_unchecked(&mut buf[..]), packet.data());
        assert_eq!(buf, bytes);
    }

    #[test]
    fn other_types_and_nonzero_echo_codes_are_other() {
        let mut bytes = [0u8; 8];
        bytes[0] = 11; // time exceeded
        let mut packet = IcmpPacket::new_checked(&mut bytes[..]).unwrap();
        packet.fill_checksum();
        assert_eq!(
            IcmpRepr::parse(&packet).unwrap(),
            IcmpRepr::Other {
                msg_type: IcmpType::TIME_EXCEEDED,
                code: 0
            }
        );
        let mut bytes = ECHO_REQUEST;
        let mut packet = IcmpPacket::new_checked(&mut bytes[..]).unwrap();
        packet.set_code(1);
        packet.fill_checksum();
        assert_eq!(
            IcmpRepr::parse(&packet).unwrap(),
            IcmpRepr::Other {
                msg_type: IcmpType::ECHO_REQUEST,
                code: 1
            }
        );
    }

    #[test]
    fn truncated_by_one_byte() {
        assert_eq!(
            IcmpPacket::new_checked(&ECHO_REQUEST[..7]).unwrap_err(),
            WireError::Truncated
        );
        // A header alone is a valid (empty) echo, but the checksum covered the data.
        let packet = IcmpPacket::new_checked(&ECHO_REQUEST[..8]).unwrap();
        assert_eq!(IcmpRepr::parse(&packet), Err(WireError::BadChecksum));
    }

    #[test]
    fn bad_checksum_is_detected() {
        let mut bytes = ECHO_REQUEST;
        bytes[15] ^= 0x01;
        let packet = IcmpPacket::new_checked(&bytes[..]).unwrap();
        assert!(!packet.verify_checksum());
        assert_eq!(IcmpRepr::parse(&packet), Err(WireError::BadChecksum));
        assert!(IcmpRepr::parse_unverified(&packet).is_ok());
    }

    #[test]
    fn odd_length_data_checksums() {
        let repr = IcmpRepr::EchoRequest {
            ident: 7,
            seq: 9,
            data_len: 3,
        };
        let mut buf = [0u8; 11];
        repr.emit(&mut IcmpPacket::new_unchecked(&mut buf[..]), b"xyz");
        let packet = IcmpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(IcmpRepr::parse(&packet).unwrap(), repr);
    }

    #[test]
    fn next_hop_mtu_is_read_from_frag_needed() {
        let mut bytes = [3u8, unreachable::FRAG_NEEDED, 0, 0, 0, 0, 0x05, 0xdc];
        let mut packet = IcmpPacket::new_checked(&mut bytes[..]).unwrap();
        packet.fill_checksum();
        assert_eq!(packet.next_hop_mtu(), 1500);
        assert!(packet.verify_checksum());
    }

    fn repr() -> impl Strategy<Value = IcmpRepr> {
        prop_oneof![
            (any::<u16>(), any::<u16>(), 0usize..64).prop_map(|(ident, seq, data_len)| {
                IcmpRepr::EchoRequest {
                    ident,
                    seq,
                    data_len,
                }
            }),
            (any::<u16>(), any::<u16>(), 0usize..64).prop_map(|(ident, seq, data_len)| {
                IcmpRepr::EchoReply {
                    ident,
                    seq,
                    data_len,
                }
            }),
            (any::<u8>(), 0usize..64)
                .prop_map(|(code, data_len)| IcmpRepr::DstUnreachable { code, data_len }),
            (any::<u8>(), any::<u8>())
                .prop_filter("not a represented kind", |(t, c)| {
                    !(*t == 3 || ((*t == 0 || *t == 8) && *c == 0))
                })
                .prop_map(|(t, code)| IcmpRepr::Other {
                    msg_type: IcmpType(t),
                    code
                }),
        ]
    }

    proptest! {
        #[test]
        fn repr_round_trips(repr in repr(), fill in any::<u8>()) {
            let data = vec![fill; repr.data_len()];
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut IcmpPacket::new_unchecked(&mut buf[..]), &data);
            let packet = IcmpPacket::new_checked(&buf[..]).unwrap();
            prop_assert!(packet.verify_checksum());
            prop_assert_eq!(IcmpRepr::parse(&packet).unwrap(), repr);
            prop_assert_eq!(packet.data(), &data[..]);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            if let Ok(packet) = IcmpPacket::new_checked(&bytes[..]) {
                let _ = (packet.msg_type(), packet.code(), packet.checksum(), packet.echo_ident());
                let _ = (packet.echo_seq(), packet.next_hop_mtu(), packet.data());
                let _ = packet.verify_checksum();
                let _ = IcmpRepr::parse(&packet);
            }
            let _ = IcmpRepr::parse(&IcmpPacket::new_unchecked(&bytes[..]));
            let _ = IcmpRepr::parse_unverified(&IcmpPacket::new_unchecked(&bytes[..]));
        }
    }
}
