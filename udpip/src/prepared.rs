//! Prepared datagrams: a reply built once, with every header, and sent many times (the
//! Namestorm path).
//!
//! [`PreparedDatagram::new`] builds the whole frame (Ethernet, IPv4, UDP, payload) from our
//! address and a source port, with placeholder destination fields, computes both checksums
//! once and stores it in the port's prepared pool ([`nmio::TxQueue::prepare`]). Each send
//! ([`crate::UdpOut::send_prepared`]) goes through the port's `send_prepared` in the mode
//! the application chose, and [`rewrite`] patches only the per-client fields: destination
//! MAC, IPv4 identification and destination address, UDP destination port, and chosen
//! payload bytes ([`Patch`], a DNS id and question, say), each with an RFC 1624 incremental
//! update of the checksums it is covered by. The old values are read from the buffer being
//! rewritten, so the same code serves memcpy mode (a fresh copy of the image) and pre-copy
//! mode (the image itself, holding the previous client's fields).

use crate::wire::{UdpPacket, UdpRepr, HEADER_LEN as UDP_LEN};
use eth::checksum;
use eth::wire::{EthernetFrame, IpProtocol, Ipv4Addr, Ipv4Packet, MacAddr};
use eth::{Iface, HEADERS_LEN};
use nmio::{PreparedId, TxQueue};
use std::fmt;
use std::net::SocketAddrV4;

/// Offset of the UDP header in a prepared frame (Ethernet and an option-less IPv4 header).
const UDP_AT: usize = HEADERS_LEN;
/// Offset of the UDP payload in a prepared frame.
pub const PAYLOAD_AT: usize = HEADERS_LEN + UDP_LEN;

/// Payload bytes to overwrite in one send: `bytes` at `offset` from the start of the UDP
/// payload. The prepared payload keeps its length.
#[derive(Clone, Copy, Debug)]
pub struct Patch<'a> {
    /// Offset in the UDP payload.
    pub offset: usize,
    /// The new bytes.
    pub bytes: &'a [u8],
}

impl<'a> Patch<'a> {
    /// `bytes` at `offset`.
    pub const fn new(offset: usize, bytes: &'a [u8]) -> Self {
        Patch { offset, bytes }
    }
}

/// Why a datagram could not be prepared.
#[derive(Debug)]
pub enum PrepareError {
    /// Source port 0.
    PortZero,
    /// The payload does not fit the interface's MTU (we do not fragment).
    TooBig {
        /// Payload bytes asked for.
        len: usize,
        /// Most the MTU allows.
        max: usize,
    },
    /// The port refused the image (its prepared pool is full, or the frame is larger than
    /// its slots).
    Port(nmio::Error),
}

impl fmt::Display for PrepareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrepareError::PortZero => f.write_str("a prepared datagram needs a source port"),
            PrepareError::TooBig { len, max } => write!(
                f,
                "prepared payload of {len} bytes exceeds the {max} a datagram can carry here"
            ),
            PrepareError::Port(e) => write!(f, "the port cannot store the prepared datagram: {e}"),
        }
    }
}

impl std::error::Error for PrepareError {}

/// A datagram image in the port's prepared pool. Cheap to copy; valid for the port it was
/// prepared on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreparedDatagram {
    id: PreparedId,
    src_port: u16,
    payload_len: usize,
}

impl PreparedDatagram {
    /// Build the frame for `payload` from our address and `src_port` and store it in the
    /// port's prepared pool. Destination fields are placeholders until each send.
    pub fn new<Tx: TxQueue>(
        tx: &mut Tx,
        iface: &mut Iface,
        src_port: u16,
        payload: &[u8],
    ) -> Result<Self, PrepareError> {
        if src_port == 0 {
            return Err(PrepareError::PortZero);
        }
        let max = iface.max_payload().saturating_sub(UDP_LEN);
        if payload.len() > max {
            return Err(PrepareError::TooBig {
                len: payload.len(),
                max,
            });
        }
        let seg_len = UDP_LEN + payload.len();
        let mut frame = vec![0u8; HEADERS_LEN + seg_len];
        let repr = UdpRepr {
            src_port,
            dst_port: 0,
            payload_len: payload.len(),
        };
        let dst = Ipv4Addr::UNSPECIFIED;
        repr.emit(
            &mut UdpPacket::new_unchecked(&mut frame[UDP_AT..]),
            iface.addr(),
            dst,
            payload,
        );
        let n = iface.write_headers(&mut frame, MacAddr::ZERO, dst, IpProtocol::UDP, seg_len);
        debug_assert_eq!(n, frame.len());
        let id = tx.prepare(&frame).map_err(PrepareError::Port)?;
        Ok(PreparedDatagram {
            id,
            src_port,
            payload_len: payload.len(),
        })
    }

    /// The handle in the port's pool.
    pub fn id(&self) -> PreparedId {
        self.id
    }

    /// The source port it was prepared with.
    pub fn src_port(&self) -> u16 {
        self.src_port
    }

    /// Bytes of UDP payload.
    pub fn payload_len(&self) -> usize {
        self.payload_len
    }

    /// Length of the whole frame.
    pub fn frame_len(&self) -> usize {
        PAYLOAD_AT + self.payload_len
    }

    /// Whether every patch lies inside the payload.
    #[inline]
    pub fn patches_fit(&self, patches: &[Patch<'_>]) -> bool {
        patches.iter().all(|p| {
            p.offset
                .checked_add(p.bytes.len())
                .is_some_and(|end| end <= self.payload_len)
        })
    }
}

/// Rewrite a prepared frame (as built by [`PreparedDatagram::new`]) for one send: the
/// destination MAC, the IPv4 identification and destination, the UDP destination port and
/// `patches`, with incremental checksum updates (RFC 1624 eqn. 3). A patch outside the
/// payload, or a frame too short to be a prepared datagram, leaves the frame untouched and
/// returns `false`.
#[inline]
pub fn rewrite(
    frame: &mut [u8],
    dst_mac: MacAddr,
    ident: u16,
    dst: SocketAddrV4,
    patches: &[Patch<'_>],
) -> bool {
    let payload_len = frame.len().saturating_sub(PAYLOAD_AT);
    let fits = |p: &Patch<'_>| {
        p.offset
            .checked_add(p.bytes.len())
            .is_some_and(|end| end <= payload_len)
    };
    if frame.len() < PAYLOAD_AT || !patches.iter().all(fits) {
        return false;
    }
    EthernetFrame::new_unchecked(&mut *frame).set_dst(dst_mac);
    let (head, seg) = frame.split_at_mut(UDP_AT);
    let ip_dst = *dst.ip();
    let old_dst = {
        let mut ip = Ipv4Packet::new_unchecked(&mut head[eth::wire::ethernet::HEADER_LEN..]);
        let old_dst = ip.dst();
        let c = checksum::update16(ip.checksum(), ip.ident(), ident);
        let c = checksum::update32(c, u32::from(old_dst), u32::from(ip_dst));
        ip.set_ident(ident);
        ip.set_dst(ip_dst);
        ip.set_checksum(c);
        old_dst
    };
    let mut udp = UdpPacket::new_unchecked(&mut *seg);
    // The pseudo-header's destination, then the port.
    let c = checksum::update32(udp.checksum(), u32::from(old_dst), u32::from(ip_dst));
    let c = checksum::update16(c, udp.dst_port(), dst.port());
    udp.set_dst_port(dst.port());
    let mut c = c;
    let payload = &mut seg[UDP_LEN..];
    for p in patches {
        c = patch_bytes(c, payload, p.offset, p.bytes);
    }
    // RFC 768: a computed zero is sent as all ones.
    UdpPacket::new_unchecked(&mut *seg).set_checksum(if c == 0 { 0xFFFF } else { c });
    true
}

/// Overwrite `data[at..at + new.len()]` with `new` and return the checksum updated for it.
/// `data` starts at an even offset of the checksummed bytes (the UDP payload does); a span
/// at an odd offset is widened to the word boundary, the extra byte being unchanged.
#[inline]
fn patch_bytes(csum: u16, data: &mut [u8], at: usize, new: &[u8]) -> u16 {
    let start = at & !1;
    let end = at + new.len();
    let old_sum = checksum::sum(&data[start..end], 0);
    data[at..end].copy_from_slice(new);
    let new_sum = checksum::sum(&data[start..end], 0);
    // RFC 1624 eqn. 3 with m the span's sum; the trailing pad byte of an odd-length span
    // is zero in both sums, so it cancels.
    checksum::update16(csum, old_sum as u16, new_sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use eth::wire::Ipv4Repr;
    use eth::IfaceConfig;
    use nmio::backend::sink::SinkTx;
    use nmio::{Instant, PrepMode};
    use proptest::prelude::*;

    const US: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    fn iface() -> Iface {
        let mut cfg = IfaceConfig::new(MacAddr([2, 0, 0, 0, 0, 2]), US, 24);
        cfg.arp.announcements = 0;
        Iface::new(cfg, Instant::ZERO).unwrap()
    }

    /// Both checksums verify, and the fields read back as written.
    fn check_frame(frame: &[u8], mac: MacAddr, ident: u16, dst: SocketAddrV4, payload: &[u8]) {
        let eth = EthernetFrame::new_checked(frame).unwrap();
        assert_eq!(eth.dst(), mac);
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        assert!(ip.verify_checksum(), "IPv4 header checksum");
        let r = Ipv4Repr::parse(&ip).unwrap();
        assert_eq!((r.src, r.dst, ip.ident()), (US, *dst.ip(), ident));
        let udp = UdpPacket::new_checked(ip.payload()).unwrap();
        assert_ne!(udp.checksum(), 0, "a UDP checksum of zero is never sent");
        assert!(udp.verify_checksum(US, *dst.ip()), "UDP checksum");
        assert_eq!(udp.dst_port(), dst.port());
        assert_eq!(udp.payload(), payload);
    }

    #[test]
    fn prepared_frame_is_a_valid_datagram_once_rewritten() {
        let mut tx = SinkTx::new(1514, 4);
        let mut ifc = iface();
        let p = PreparedDatagram::new(&mut tx, &mut ifc, 53, b"hello, world").unwrap();
        assert_eq!(p.frame_len(), 42 + 12);
        let mut frame = tx.prepared(p.id()).unwrap().to_vec();
        let dst = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 7), 40000);
        let mac = MacAddr([2, 0, 0, 0, 0, 9]);
        assert!(rewrite(&mut frame, mac, 77, dst, &[Patch::new(0, b"J")]));
        check_frame(&frame, mac, 77, dst, b"Jello, world");
        // Again on the rewritten frame (pre-copy keeps rewriting the same buffer).
        let dst2 = SocketAddrV4::new(Ipv4Addr::new(10, 1, 2, 3), 1);
        assert!(rewrite(&mut frame, mac, 78, dst2, &[Patch::new(7, b"W")]));
        check_frame(&frame, mac, 78, dst2, b"Jello, World");
    }

    #[test]
    fn preparation_refuses_what_cannot_be_sent() {
        let mut tx = SinkTx::new(1514, 4);
        let mut ifc = iface();
        assert!(matches!(
            PreparedDatagram::new(&mut tx, &mut ifc, 0, b"x"),
            Err(PrepareError::PortZero)
        ));
        let e = PreparedDatagram::new(&mut tx, &mut ifc, 9, &[0; 1473]).unwrap_err();
        assert!(matches!(
            e,
            PrepareError::TooBig {
                len: 1473,
                max: 1472
            }
        ));
        assert_eq!(
            e.to_string(),
            "prepared payload of 1473 bytes exceeds the 1472 a datagram can carry here"
        );
        assert!(PreparedDatagram::new(&mut tx, &mut ifc, 9, &[0; 1472]).is_ok());
    }

    #[test]
    fn patches_outside_the_payload_are_refused() {
        let mut tx = SinkTx::new(1514, 4);
        let mut ifc = iface();
        let p = PreparedDatagram::new(&mut tx, &mut ifc, 53, &[0; 4]).unwrap();
        assert!(p.patches_fit(&[Patch::new(0, &[1; 4]), Patch::new(4, &[])]));
        assert!(!p.patches_fit(&[Patch::new(1, &[1; 4])]));
        assert!(!p.patches_fit(&[Patch::new(usize::MAX, &[1])]));
        let mut frame = tx.prepared(p.id()).unwrap().to_vec();
        let dst = SocketAddrV4::new(US, 5);
        assert!(!rewrite(
            &mut frame,
            MacAddr::ZERO,
            1,
            dst,
            &[Patch::new(3, &[1, 1])]
        ));
        assert!(!rewrite(&mut [0u8; 41], MacAddr::ZERO, 1, dst, &[]));
    }

    #[test]
    fn checksum_that_computes_to_zero_is_sent_as_all_ones() {
        // Find a payload word for which the full UDP checksum computes to 0x0000: the
        // checksum is linear in the word, so solve for it.
        let mut tx = SinkTx::new(1514, 4);
        let mut ifc = iface();
        let p = PreparedDatagram::new(&mut tx, &mut ifc, 1000, &[0, 0]).unwrap();
        let dst = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 2000);
        let mut frame = tx.prepared(p.id()).unwrap().to_vec();
        assert!(rewrite(&mut frame, MacAddr::ZERO, 1, dst, &[]));
        // With payload word w the sum over segment and pseudo-header is S + w and the
        // checksum !(S + w), which is zero when w = 0xFFFF - S = !S: the checksum stored
        // for w = 0.
        let word = UdpPacket::new_unchecked(&frame[UDP_AT..])
            .checksum()
            .to_be_bytes();
        assert!(rewrite(
            &mut frame,
            MacAddr::ZERO,
            1,
            dst,
            &[Patch::new(0, &word)]
        ));
        let udp = UdpPacket::new_unchecked(&frame[UDP_AT..]);
        assert_eq!(udp.checksum(), 0xFFFF);
        assert!(udp.verify_checksum(US, *dst.ip()));
        // And a full recomputation agrees that the value is zero.
        let end = UDP_AT + 8 + 2;
        assert_eq!(
            checksum::udp_checksum(US.octets(), dst.ip().octets(), &{
                let mut seg = frame[UDP_AT..end].to_vec();
                seg[6] = 0;
                seg[7] = 0;
                seg
            }),
            0xFFFF
        );
    }

    #[test]
    fn both_modes_of_the_port_send_the_same_bytes() {
        let dst = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 4242);
        let mac = MacAddr([2, 0, 0, 0, 0, 1]);
        let mut out = Vec::new();
        for mode in [PrepMode::Memcpy, PrepMode::PreCopy] {
            let mut tx = SinkTx::new(1514, 4);
            let mut ifc = iface();
            let p = PreparedDatagram::new(&mut tx, &mut ifc, 53, b"abcdef").unwrap();
            assert!(tx.send_prepared(p.id(), mode, |f| {
                assert!(rewrite(f, mac, 5, dst, &[Patch::new(1, b"XY")]));
            }));
            out.push(tx.last().to_vec());
        }
        assert_eq!(out[0], out[1]);
        check_frame(&out[0], mac, 5, dst, b"aXYdef");
    }

    proptest! {
        /// Any sequence of rewrites (addresses, ports, idents, patches at odd and even
        /// offsets) leaves checksums equal to a full recomputation.
        #[test]
        fn incremental_updates_match_full_recomputation(
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            sends in proptest::collection::vec(
                (any::<u32>(), any::<u16>(), any::<u16>(), any::<usize>(),
                 proptest::collection::vec(any::<u8>(), 0..6)),
                1..6),
        ) {
            let mut tx = SinkTx::new(1514, 4);
            let mut ifc = iface();
            let p = PreparedDatagram::new(&mut tx, &mut ifc, 53, &payload).unwrap();
            let mut frame = tx.prepared(p.id()).unwrap().to_vec();
            let mut expect = payload.clone();
            for (ip, port, ident, off, bytes) in sends {
                let dst = SocketAddrV4::new(Ipv4Addr::from(ip), port);
                let patch = (bytes.len() <= expect.len()).then(|| {
                    let off = off % (expect.len() - bytes.len() + 1);
                    expect[off..off + bytes.len()].copy_from_slice(&bytes);
                    Patch::new(off, &bytes)
                });
                prop_assert!(rewrite(&mut frame, MacAddr::ZERO, ident, dst, patch.as_slice()));
                let mut full = frame.clone();
                Ipv4Packet::new_unchecked(&mut full[14..34]).fill_checksum();
                UdpPacket::new_unchecked(&mut full[UDP_AT..]).fill_checksum(US, *dst.ip());
                prop_assert_eq!(&full, &frame);
                prop_assert_eq!(&frame[PAYLOAD_AT..], &expect[..]);
            }
        }

        #[test]
        fn rewrite_never_panics(
            mut frame in proptest::collection::vec(any::<u8>(), 0..80),
            off in any::<usize>(),
            bytes in proptest::collection::vec(any::<u8>(), 0..8),
        ) {
            let dst = SocketAddrV4::new(US, 1);
            let _ = rewrite(&mut frame, MacAddr::ZERO, 0, dst, &[Patch::new(off, &bytes)]);
        }
    }
}
