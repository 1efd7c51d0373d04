//! ARP (RFC 826) for Ethernet hardware and IPv4 protocol addresses only.
//!
//! Any other hardware type, protocol type or address length is `Unsupported`; the ARP layer
//! counts it.

use super::{read_u16, EtherType, Ipv4Addr, MacAddr, WireError};

mod field {
    use core::ops::Range;

    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
}

/// RFC 826 / IANA arp-parameters: hardware type 1 is Ethernet (10Mb).
pub const HTYPE_ETHERNET: u16 = 1;
/// Bytes before the addresses: htype, ptype, hlen, plen, oper.
const FIXED_LEN: usize = 8;

/// ARP opcode (RFC 826: ares_op$REQUEST = 1, ares_op$REPLY = 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOp {
    Request,
    Reply,
}

impl ArpOp {
    pub const fn from_u16(op: u16) -> Option<ArpOp> {
        match op {
            1 => Some(ArpOp::Request),
            2 => Some(ArpOp::Reply),
            _ => None,
        }
    }

    pub const fn to_u16(self) -> u16 {
        match self {
            ArpOp::Request => 1,
            ArpOp::Reply => 2,
        }
    }
}

/// A checked view of an Ethernet/IPv4 ARP packet (28 bytes; trailing padding ignored).
#[derive(Debug, Clone)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps a buffer without checks; for emitting into at least `ArpRepr::BUFFER_LEN` bytes.
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Truncated` if the fixed part or the addresses are cut; `Unsupported` unless the
    /// packet maps IPv4 onto Ethernet (htype 1, ptype 0x0800, hlen 6, plen 4).
    pub fn check_len(&self) -> Result<(), WireError> {
        let buf = self.buffer.as_ref();
        if buf.len() < FIXED_LEN {
            return Err(WireError::Truncated);
        }
        if read_u16(buf, field::HTYPE.start) != Some(HTYPE_ETHERNET) {
            return Err(WireError::Unsupported("ARP hardware type"));
        }
        if read_u16(buf, field::PTYPE.start) != Some(EtherType::IPV4.0) {
            return Err(WireError::Unsupported("ARP protocol type"));
        }
        if buf[field::HLEN] != 6 || buf[field::PLEN] != 4 {
            return Err(WireError::Unsupported("ARP address length"));
        }
        if buf.len() < ArpRepr::BUFFER_LEN {
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

    fn mac_at(&self, range: core::ops::Range<usize>) -> MacAddr {
        let mut mac = [0; 6];
        mac.copy_from_slice(&self.buffer.as_ref()[range]);
        MacAddr(mac)
    }

    fn ip_at(&self, range: core::ops::Range<usize>) -> Ipv4Addr {
        let mut ip = [0; 4];
        ip.copy_from_slice(&self.buffer.as_ref()[range]);
        Ipv4Addr::from(ip)
    }

    #[inline]
    pub fn hardware_type(&self) -> u16 {
        self.u16_at(field::HTYPE)
    }

    #[inline]
    pub fn protocol_type(&self) -> u16 {
        self.u16_at(field::PTYPE)
    }

    #[inline]
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    #[inline]
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// Raw opcode; `ArpOp::from_u16` names the two we handle.
    #[inline]
    pub fn operation(&self) -> u16 {
        self.u16_at(field::OPER)
    }

    #[inline]
    pub fn sender_hardware_addr(&self) -> MacAddr {
        self.mac_at(field::SHA)
    }

    #[inline]
    pub fn sender_protocol_addr(&self) -> Ipv4Addr {
        self.ip_at(field::SPA)
    }

    #[inline]
    pub fn target_hardware_addr(&self) -> MacAddr {
        self.mac_at(field::THA)
    }

    #[inline]
    pub fn target_protocol_addr(&self) -> Ipv4Addr {
        self.ip_at(field::TPA)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    fn set_u16_at(&mut self, range: core::ops::Range<usize>, value: u16) {
        super::put_u16(self.buffer.as_mut(), range, value)
    }

    /// Writes htype 1, ptype 0x0800, hlen 6, plen 4.
    pub fn set_ethernet_ipv4(&mut self) {
        self.set_u16_at(field::HTYPE, HTYPE_ETHERNET);
        self.set_u16_at(field::PTYPE, EtherType::IPV4.0);
        let buf = self.buffer.as_mut();
        buf[field::HLEN] = 6;
        buf[field::PLEN] = 4;
    }

    #[inline]
    pub fn set_operation(&mut self, op: u16) {
        self.set_u16_at(field::OPER, op);
    }

    #[inline]
    pub fn set_sender_hardware_addr(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&mac.0);
    }

    #[inline]
    pub fn set_sender_protocol_addr(&mut self, ip: Ipv4Addr) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&ip.octets());
    }

    #[inline]
    pub fn set_target_hardware_addr(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&mac.0);
    }

    #[inline]
    pub fn set_target_protocol_addr(&mut self, ip: Ipv4Addr) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&ip.octets());
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for ArpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// An Ethernet/IPv4 ARP packet as a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpRepr {
    pub op: ArpOp,
    pub sender_mac: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_mac: MacAddr,
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    /// RFC 826 with hlen 6 and plen 4: 8 fixed bytes + 2 * (6 + 4).
    pub const BUFFER_LEN: usize = 28;

    /// Opcodes other than request and reply (RARP, InARP, ...) are `Unsupported`.
    pub fn parse<T: AsRef<[u8]>>(packet: &ArpPacket<T>) -> Result<Self, WireError> {
        packet.check_len()?;
        let op =
            ArpOp::from_u16(packet.operation()).ok_or(WireError::Unsupported("ARP operation"))?;
        Ok(ArpRepr {
            op,
            sender_mac: packet.sender_hardware_addr(),
            sender_ip: packet.sender_protocol_addr(),
            target_mac: packet.target_hardware_addr(),
            target_ip: packet.target_protocol_addr(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        Self::BUFFER_LEN
    }

    /// Writes all 28 bytes.
    ///
    /// # Panics
    /// If the buffer is shorter than `BUFFER_LEN`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut ArpPacket<T>) {
        packet.set_ethernet_ipv4();
        packet.set_operation(self.op.to_u16());
        packet.set_sender_hardware_addr(self.sender_mac);
        packet.set_sender_protocol_addr(self.sender_ip);
        packet.set_target_hardware_addr(self.target_mac);
        packet.set_target_protocol_addr(self.target_ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 826 request: 02:00:00:00:00:01 (192.0.2.1) asks who has 192.0.2.2; target
    /// hardware address zero (RFC 5227 2.1.1 recommends zero; RFC 826 leaves it unused).
    static ARP_REQUEST: [u8; 28] = [
        0x00, 0x01, // ar$hrd: Ethernet
        0x08, 0x00, // ar$pro: IPv4
        0x06, // ar$hln
        0x04, // ar$pln
        0x00, 0x01, // ar$op: request
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // ar$sha
        0xc0, 0x00, 0x02, 0x01, // ar$spa 192.0.2.1
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // ar$tha
        0xc0, 0x00, 0x02, 0x02, // ar$tpa 192.0.2.2
    ];

    /// RFC 826 reply from 02:00:00:00:00:02 (192.0.2.2) to the request above.
    static ARP_REPLY: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, //
        0x00, 0x02, // ar$op: reply
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, // ar$sha
        0xc0, 0x00, 0x02, 0x02, // ar$spa 192.0.2.2
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // ar$tha
        0xc0, 0x00, 0x02, 0x01, // ar$tpa 192.0.2.1
    ];

    const MAC1: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 1]);
    const MAC2: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 2]);
    const IP1: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const IP2: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    fn request() -> ArpRepr {
        ArpRepr {
            op: ArpOp::Request,
            sender_mac: MAC1,
            sender_ip: IP1,
            target_mac: MacAddr::ZERO,
            target_ip: IP2,
        }
    }

    fn reply() -> ArpRepr {
        ArpRepr {
            op: ArpOp::Reply,
            sender_mac: MAC2,
            sender_ip: IP2,
            target_mac: MAC1,
            target_ip: IP1,
        }
    }

    #[test]
    fn request_parses() {
        let packet = ArpPacket::new_checked(&ARP_REQUEST[..]).unwrap();
        assert_eq!(packet.hardware_type(), 1);
        assert_eq!(packet.protocol_type(), 0x0800);
        assert_eq!((packet.hardware_len(), packet.protocol_len()), (6, 4));
        assert_eq!(packet.operation(), 1);
        assert_eq!(ArpRepr::parse(&packet).unwrap(), request());
    }

    #[test]
    fn request_emits_same_bytes() {
        let mut buf = [0xffu8; 28];
        request().emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
        assert_eq!(buf, ARP_REQUEST);
    }

    #[test]
    fn reply_parses_and_emits() {
        let packet = ArpPacket::new_checked(&ARP_REPLY[..]).unwrap();
        assert_eq!(ArpRepr::parse(&packet).unwrap(), reply());
        let mut buf = [0u8; ArpRepr::BUFFER_LEN];
        reply().emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
        assert_eq!(buf, ARP_REPLY);
    }

    #[test]
    fn ethernet_padding_is_ignored() {
        let mut padded = [0u8; 46];
        padded[..28].copy_from_slice(&ARP_REQUEST);
        let packet = ArpPacket::new_checked(&padded[..]).unwrap();
        assert_eq!(ArpRepr::parse(&packet).unwrap(), request());
    }

    #[test]
    fn truncated_by_one_byte() {
        assert_eq!(
            ArpPacket::new_checked(&ARP_REQUEST[..27]).unwrap_err(),
            WireError::Truncated
        );
        assert_eq!(
            ArpPacket::new_checked(&ARP_REQUEST[..7]).unwrap_err(),
            WireError::Truncated
        );
    }

    #[test]
    fn non_ethernet_ipv4_is_unsupported() {
        let mut bytes = ARP_REQUEST;
        bytes[1] = 6; // IEEE 802 networks
        assert_eq!(
            ArpPacket::new_checked(&bytes[..]).unwrap_err(),
            WireError::Unsupported("ARP hardware type")
        );
        let mut bytes = ARP_REQUEST;
        bytes[2..4].copy_from_slice(&[0x86, 0xdd]);
        assert_eq!(
            ArpPacket::new_checked(&bytes[..]).unwrap_err(),
            WireError::Unsupported("ARP protocol type")
        );
        let mut bytes = ARP_REQUEST;
        bytes[5] = 16;
        assert_eq!(
            ArpPacket::new_checked(&bytes[..]).unwrap_err(),
            WireError::Unsupported("ARP address length")
        );
        let mut bytes = ARP_REQUEST;
        bytes[4] = 8;
        assert_eq!(
            ArpPacket::new_checked(&bytes[..]).unwrap_err(),
            WireError::Unsupported("ARP address length")
        );
    }

    #[test]
    fn unknown_operation_is_unsupported() {
        let mut bytes = ARP_REQUEST;
        bytes[7] = 3; // RARP request (RFC 903)
        let packet = ArpPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.operation(), 3);
        assert_eq!(
            ArpRepr::parse(&packet).unwrap_err(),
            WireError::Unsupported("ARP operation")
        );
    }

    fn repr() -> impl Strategy<Value = ArpRepr> {
        (
            prop_oneof![Just(ArpOp::Request), Just(ArpOp::Reply)],
            any::<[u8; 6]>(),
            any::<[u8; 4]>(),
            any::<[u8; 6]>(),
            any::<[u8; 4]>(),
        )
            .prop_map(|(op, sm, si, tm, ti)| ArpRepr {
                op,
                sender_mac: MacAddr(sm),
                sender_ip: Ipv4Addr::from(si),
                target_mac: MacAddr(tm),
                target_ip: Ipv4Addr::from(ti),
            })
    }

    proptest! {
        #[test]
        fn repr_round_trips(repr in repr()) {
            let mut buf = [0u8; ArpRepr::BUFFER_LEN];
            repr.emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
            let packet = ArpPacket::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(ArpRepr::parse(&packet).unwrap(), repr);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            if let Ok(packet) = ArpPacket::new_checked(&bytes[..]) {
                let _ = ArpRepr::parse(&packet);
            }
            let _ = ArpRepr::parse(&ArpPacket::new_unchecked(&bytes[..]));
        }

        #[test]
        fn plausible_prefixes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..40)) {
            let mut bytes = ARP_REQUEST[..6].to_vec();
            bytes.extend_from_slice(&tail);
            if let Ok(packet) = ArpPacket::new_checked(&bytes[..]) {
                let _ = ArpRepr::parse(&packet);
            }
        }
    }
}
