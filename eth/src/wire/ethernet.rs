//! Ethernet II frames (IEEE 802.3-2018 3.2.6, type interpretation of the length/type field)
//! with IEEE 802.1Q VLAN tags and 802.1ad stacked (Q-in-Q) tags.
//!
//! Frames are handled without the FCS, as every backend delivers them. Emitting does not pad
//! to the 60-byte minimum; the transmit path does.

use core::fmt;

use super::{clamp, read_u16, MacAddr, WireError};

/// The 16-bit type field (and tag protocol identifiers).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EtherType(pub u16);

impl EtherType {
    pub const IPV4: EtherType = EtherType(0x0800);
    pub const ARP: EtherType = EtherType(0x0806);
    /// IEEE 802.1Q customer VLAN tag (C-tag).
    pub const VLAN: EtherType = EtherType(0x8100);
    /// IEEE 802.1ad service VLAN tag (S-tag).
    pub const QINQ: EtherType = EtherType(0x88A8);
    /// Recognised only so it can be counted as a protocol we do not speak.
    pub const IPV6: EtherType = EtherType(0x86DD);

    const fn is_tag(self) -> bool {
        self.0 == Self::VLAN.0 || self.0 == Self::QINQ.0
    }
}

impl fmt::Debug for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            Self::IPV4 => "IPv4",
            Self::ARP => "ARP",
            Self::VLAN => "802.1Q",
            Self::QINQ => "802.1ad",
            Self::IPV6 => "IPv6",
            _ => return write!(f, "EtherType({:#06x})", self.0),
        };
        f.write_str(name)
    }
}

impl fmt::Display for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

mod field {
    use core::ops::Range;

    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    /// The type field of an untagged frame, or the TPID of the first tag.
    pub const TYPE: usize = 12;
    /// IEEE 802.1Q-2018 9.3: a tag is a 2-byte TPID then a 2-byte TCI, inserted before the
    /// type field.
    pub const TAG_LEN: usize = 4;
    /// TCI offset relative to its tag's TPID.
    pub const TCI: usize = 2;
}

/// Length of an untagged Ethernet II header.
pub const HEADER_LEN: usize = 14;
/// Tags recognised in front of the type field (one 802.1Q, or an 802.1ad S-tag + C-tag).
pub const MAX_TAGS: usize = 2;

/// A checked view of an Ethernet II frame.
#[derive(Debug, Clone)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps a buffer without checks; for emitting into a buffer of at least
    /// `EthernetRepr::header_len()` bytes.
    pub const fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    /// Wraps a received frame, checking that the header and its tags fit.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// `Truncated` unless the whole header, tags included, is in the buffer.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN || len < self.header_len() {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Number of VLAN tags (0..=2) in front of the type field.
    #[inline]
    pub fn tag_count(&self) -> usize {
        let buf = self.buffer.as_ref();
        let mut n = 0;
        while n < MAX_TAGS {
            match read_u16(buf, field::TYPE + n * field::TAG_LEN) {
                Some(tpid) if EtherType(tpid).is_tag() => n += 1,
                _ => break,
            }
        }
        n
    }

    /// 14, 18 or 22 bytes depending on the number of tags.
    #[inline]
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.tag_count() * field::TAG_LEN
    }

    #[inline]
    pub fn dst(&self) -> MacAddr {
        let mut mac = [0; 6];
        mac.copy_from_slice(&self.buffer.as_ref()[field::DST]);
        MacAddr(mac)
    }

    #[inline]
    pub fn src(&self) -> MacAddr {
        let mut mac = [0; 6];
        mac.copy_from_slice(&self.buffer.as_ref()[field::SRC]);
        MacAddr(mac)
    }

    /// The type after any tags: what the payload is.
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        let off = self.header_len() - 2;
        EtherType(read_u16(self.buffer.as_ref(), off).unwrap_or(0))
    }

    /// TCI (PCP 3 bits, DEI 1 bit, VID 12 bits) of the outermost tag, if tagged.
    #[inline]
    pub fn vlan(&self) -> Option<u16> {
        self.tci(0)
    }

    /// TCI of the second (customer) tag of a double-tagged frame.
    #[inline]
    pub fn inner_vlan(&self) -> Option<u16> {
        self.tci(1)
    }

    fn tci(&self, index: usize) -> Option<u16> {
        if self.tag_count() <= index {
            return None;
        }
        let off = field::TYPE + index * field::TAG_LEN + field::TCI;
        read_u16(self.buffer.as_ref(), off)
    }

    /// Everything after the header and tags, padding included (the IPv4 total length cuts
    /// it).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        &buf[clamp(buf.len(), self.header_len(), buf.len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    #[inline]
    pub fn set_dst(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&mac.0);
    }

    #[inline]
    pub fn set_src(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&mac.0);
    }

    /// Sets the innermost type field (after any tags), the one `ethertype()` reads.
    #[inline]
    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        let off = self.header_len() - 2;
        self.buffer.as_mut()[off..off + 2].copy_from_slice(&ethertype.0.to_be_bytes());
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        let buf = self.buffer.as_mut();
        let range = clamp(buf.len(), start, buf.len());
        &mut buf[range]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for EthernetFrame<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// An Ethernet II header as a value: at most one VLAN tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetRepr {
    pub dst: MacAddr,
    pub src: MacAddr,
    /// The type of the payload (never a tag TPID for a well-formed frame).
    pub ethertype: EtherType,
    /// TCI of an 802.1Q tag; emitted with TPID 0x8100.
    pub vlan: Option<u16>,
}

impl EthernetRepr {
    /// Double-tagged frames are `Unsupported` here; the view handles them.
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> Result<Self, WireError> {
        frame.check_len()?;
        if frame.tag_count() > 1 {
            return Err(WireError::Unsupported("stacked VLAN tags"));
        }
        Ok(EthernetRepr {
            dst: frame.dst(),
            src: frame.src(),
            ethertype: frame.ethertype(),
            vlan: frame.vlan(),
        })
    }

    /// 14, or 18 with a tag.
    pub const fn header_len(&self) -> usize {
        match self.vlan {
            Some(_) => HEADER_LEN + field::TAG_LEN,
            None => HEADER_LEN,
        }
    }

    /// Writes the header; the payload follows at `header_len()`.
    ///
    /// # Panics
    /// If the buffer is shorter than `header_len()`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut EthernetFrame<T>) {
        let buf = frame.buffer.as_mut();
        buf[field::DST].copy_from_slice(&self.dst.0);
        buf[field::SRC].copy_from_slice(&self.src.0);
        let mut off = field::TYPE;
        if let Some(tci) = self.vlan {
            buf[off..off + 2].copy_from_slice(&EtherType::VLAN.0.to_be_bytes());
            buf[off + 2..off + 4].copy_from_slice(&tci.to_be_bytes());
            off += field::TAG_LEN;
        }
        buf[off..off + 2].copy_from_slice(&self.ethertype.0.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Broadcast ARP frame from 02:00:00:00:00:01, payload "ARP!" (payload content does not
    /// matter at this layer).
    static UNTAGGED: [u8; 18] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src
        0x08, 0x06, // type ARP
        b'A', b'R', b'P', b'!',
    ];

    /// 802.1Q tag: PCP 1, DEI 0, VID 100 -> TCI 0x2064; inner type IPv4.
    static TAGGED: [u8; 20] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, // dst
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src
        0x81, 0x00, 0x20, 0x64, // C-tag
        0x08, 0x00, // type IPv4
        0xaa, 0xbb,
    ];

    /// 802.1ad: S-tag VID 200, C-tag VID 100, inner type IPv4.
    static QINQ: [u8; 24] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, // dst
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src
        0x88, 0xa8, 0x00, 0xc8, // S-tag
        0x81, 0x00, 0x00, 0x64, // C-tag
        0x08, 0x00, // type IPv4
        0xcc, 0xdd,
    ];

    const HOST1: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 1]);
    const HOST2: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 2]);

    #[test]
    fn untagged_frame_parses() {
        let frame = EthernetFrame::new_checked(&UNTAGGED[..]).unwrap();
        assert_eq!(frame.dst(), MacAddr::BROADCAST);
        assert_eq!(frame.src(), HOST1);
        assert_eq!(frame.ethertype(), EtherType::ARP);
        assert_eq!(frame.vlan(), None);
        assert_eq!(frame.header_len(), 14);
        assert_eq!(frame.payload(), b"ARP!");
        let repr = EthernetRepr::parse(&frame).unwrap();
        assert_eq!(
            repr,
            EthernetRepr {
                dst: MacAddr::BROADCAST,
                src: HOST1,
                ethertype: EtherType::ARP,
                vlan: None
            }
        );
    }

    #[test]
    fn untagged_frame_emits_same_bytes() {
        let repr = EthernetRepr {
            dst: MacAddr::BROADCAST,
            src: HOST1,
            ethertype: EtherType::ARP,
            vlan: None,
        };
        let mut buf = [0u8; 18];
        let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
        repr.emit(&mut frame);
        frame.payload_mut().copy_from_slice(b"ARP!");
        assert_eq!(buf, UNTAGGED);
    }

    #[test]
    fn vlan_tagged_frame_reports_inner_type_and_tci() {
        let frame = EthernetFrame::new_checked(&TAGGED[..]).unwrap();
        assert_eq!(frame.header_len(), 18);
        assert_eq!(frame.ethertype(), EtherType::IPV4);
        assert_eq!(frame.vlan(), Some(0x2064));
        assert_eq!(frame.vlan().map(|tci| tci & 0x0fff), Some(100));
        assert_eq!(frame.inner_vlan(), None);
        assert_eq!(frame.payload(), &[0xaa, 0xbb]);
        let repr = EthernetRepr::parse(&frame).unwrap();
        assert_eq!(repr.vlan, Some(0x2064));
        assert_eq!(repr.header_len(), 18);

        let mut buf = [0u8; 20];
        let mut out = EthernetFrame::new_unchecked(&mut buf[..]);
        repr.emit(&mut out);
        out.payload_mut().copy_from_slice(&[0xaa, 0xbb]);
        assert_eq!(buf, TAGGED);
    }

    #[test]
    fn qinq_frame_reports_both_tags() {
        let frame = EthernetFrame::new_checked(&QINQ[..]).unwrap();
        assert_eq!(frame.header_len(), 22);
        assert_eq!(frame.tag_count(), 2);
        assert_eq!(frame.ethertype(), EtherType::IPV4);
        assert_eq!(frame.vlan(), Some(200));
        assert_eq!(frame.inner_vlan(), Some(100));
        assert_eq!(frame.payload(), &[0xcc, 0xdd]);
        assert_eq!(
            EthernetRepr::parse(&frame),
            Err(WireError::Unsupported("stacked VLAN tags"))
        );
    }

    #[test]
    fn truncated_headers_are_rejected() {
        assert_eq!(
            EthernetFrame::new_checked(&UNTAGGED[..13]).unwrap_err(),
            WireError::Truncated
        );
        assert!(EthernetFrame::new_checked(&UNTAGGED[..14]).is_ok());
        assert_eq!(
            EthernetFrame::new_checked(&TAGGED[..17]).unwrap_err(),
            WireError::Truncated
        );
        assert!(EthernetFrame::new_checked(&TAGGED[..18]).is_ok());
        assert_eq!(
            EthernetFrame::new_checked(&QINQ[..21]).unwrap_err(),
            WireError::Truncated
        );
        assert!(EthernetFrame::new_checked(&QINQ[..22]).is_ok());
        assert_eq!(
            EthernetFrame::new_checked(&[][..]).unwrap_err(),
            WireError::Truncated
        );
    }

    #[test]
    fn setters_rewrite_addresses_and_inner_type() {
        let mut buf = TAGGED;
        let mut frame = EthernetFrame::new_checked(&mut buf[..]).unwrap();
        frame.set_dst(HOST1);
        frame.set_src(HOST2);
        frame.set_ethertype(EtherType::ARP);
        assert_eq!(frame.dst(), HOST1);
        assert_eq!(frame.src(), HOST2);
        assert_eq!(frame.ethertype(), EtherType::ARP);
        assert_eq!(frame.vlan(), Some(0x2064));
        assert_eq!(&buf[16..18], &[0x08, 0x06]);
    }

    #[test]
    fn accessors_survive_a_type_rewritten_into_a_tag() {
        // Rewriting the type of an untagged 14-byte frame to a TPID makes the header claim
        // 18 bytes; the view must not read past the buffer.
        let mut buf = [0u8; 14];
        let mut frame = EthernetFrame::new_checked(&mut buf[..]).unwrap();
        frame.set_ethertype(EtherType::VLAN);
        assert_eq!(frame.header_len(), 18);
        assert_eq!(frame.ethertype(), EtherType(0));
        assert_eq!(frame.vlan(), None);
        assert!(frame.payload().is_empty());
        assert!(frame.check_len().is_err());
    }

    #[test]
    fn ethertype_names() {
        assert_eq!(EtherType::IPV4.to_string(), "IPv4");
        assert_eq!(format!("{:?}", EtherType(0x88cc)), "EtherType(0x88cc)");
    }

    fn mac() -> impl Strategy<Value = MacAddr> {
        any::<[u8; 6]>().prop_map(MacAddr)
    }

    fn repr() -> impl Strategy<Value = EthernetRepr> {
        (
            mac(),
            mac(),
            any::<u16>().prop_filter("not a tag", |t| !EtherType(*t).is_tag()),
            proptest::option::of(any::<u16>()),
        )
            .prop_map(|(dst, src, ty, vlan)| EthernetRepr {
                dst,
                src,
                ethertype: EtherType(ty),
                vlan,
            })
    }

    proptest! {
        #[test]
        fn repr_round_trips(repr in repr(), payload in proptest::collection::vec(any::<u8>(), 0..32)) {
            let mut buf = vec![0u8; repr.header_len() + payload.len()];
            let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
            repr.emit(&mut frame);
            frame.payload_mut().copy_from_slice(&payload);
            let frame = EthernetFrame::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(EthernetRepr::parse(&frame).unwrap(), repr);
            prop_assert_eq!(frame.payload(), &payload[..]);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            if let Ok(frame) = EthernetFrame::new_checked(&bytes[..]) {
                let _ = (frame.dst(), frame.src(), frame.ethertype(), frame.vlan(), frame.inner_vlan());
                prop_assert!(frame.header_len() + frame.payload().len() == bytes.len());
                let _ = EthernetRepr::parse(&frame);
            }
            let _ = EthernetRepr::parse(&EthernetFrame::new_unchecked(&bytes[..]));
        }

        #[test]
        fn tagged_prefixes_never_panic(
            tpids in proptest::collection::vec(prop_oneof![Just(0x8100u16), Just(0x88a8u16), any::<u16>()], 3),
            len in 0usize..30,
        ) {
            let mut buf = [0u8; 30];
            for (i, t) in tpids.iter().enumerate() {
                buf[12 + 4 * i..14 + 4 * i].copy_from_slice(&t.to_be_bytes());
            }
            let bytes = &buf[..len];
            if let Ok(frame) = EthernetFrame::new_checked(bytes) {
                let _ = (frame.ethertype(), frame.vlan(), frame.inner_vlan(), frame.payload());
                let _ = EthernetRepr::parse(&frame);
            }
        }
    }
}
