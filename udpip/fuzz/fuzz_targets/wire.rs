//! UDP view and value on arbitrary bytes: no panics, lengths that agree with the header,
//! and every `UdpRepr` that parses emits back to the same datagram and parses again equal.
//!
//! Input layout: bytes 0..4 are the source address, 4..8 the destination (the checksum's
//! pseudo-header), the rest is the datagram.

#![no_main]

use eth::wire::{Ipv4Addr, WireError};
use libfuzzer_sys::fuzz_target;
use udpip::wire::{UdpPacket, UdpRepr, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let Some((addrs, seg)) = data.split_first_chunk::<8>() else {
        return;
    };
    let src = Ipv4Addr::new(addrs[0], addrs[1], addrs[2], addrs[3]);
    let dst = Ipv4Addr::new(addrs[4], addrs[5], addrs[6], addrs[7]);

    let unchecked = UdpPacket::new_unchecked(seg);
    if seg.len() >= HEADER_LEN {
        let _ = (unchecked.src_port(), unchecked.dst_port(), unchecked.len());
        let _ = (
            unchecked.checksum(),
            unchecked.is_empty(),
            unchecked.payload(),
        );
        let _ = unchecked.verify_checksum(src, dst);
    }

    let packet = match UdpPacket::new_checked(seg) {
        Ok(p) => p,
        Err(e) => {
            match e {
                WireError::BadLength => {
                    assert!(seg.len() >= HEADER_LEN && usize::from(unchecked.len()) < HEADER_LEN)
                }
                WireError::Truncated => {
                    assert!(seg.len() < HEADER_LEN || usize::from(unchecked.len()) > seg.len())
                }
                other => panic!("unexpected error {other:?}"),
            }
            assert!(UdpRepr::parse(&unchecked, src, dst).is_err());
            return;
        }
    };
    let len = usize::from(packet.len());
    assert!((HEADER_LEN..=seg.len()).contains(&len));
    // Bytes past the length field (link padding) are not part of the datagram.
    assert_eq!(packet.payload(), &seg[HEADER_LEN..len]);
    assert_eq!(packet.is_empty(), len == HEADER_LEN);
    assert_eq!(packet.src_port(), u16::from_be_bytes([seg[0], seg[1]]));
    assert_eq!(packet.dst_port(), u16::from_be_bytes([seg[2], seg[3]]));
    assert_eq!(packet.checksum(), u16::from_be_bytes([seg[6], seg[7]]));

    let verified = packet.verify_checksum(src, dst);
    let repr = match UdpRepr::parse(&packet, src, dst) {
        Ok(r) => {
            assert!(verified);
            r
        }
        Err(e) => {
            assert!(!verified);
            assert_eq!(e, WireError::BadChecksum);
            return;
        }
    };
    assert_eq!(repr.src_port, packet.src_port());
    assert_eq!(repr.dst_port, packet.dst_port());
    assert_eq!(repr.payload_len, len - HEADER_LEN);
    assert_eq!(repr.buffer_len(), len);

    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(
        &mut UdpPacket::new_unchecked(&mut buf[..]),
        src,
        dst,
        packet.payload(),
    );
    let again = UdpPacket::new_checked(&buf[..]).expect("an emitted datagram is complete");
    assert_ne!(again.checksum(), 0, "a checksum of zero is never sent");
    assert!(again.verify_checksum(src, dst));
    assert_eq!(UdpRepr::parse(&again, src, dst), Ok(repr));
    assert_eq!(again.payload(), packet.payload());
    // The checksum is a function of the rest, and a verified non-zero one has a single
    // encoding (0xFFFF for a computed zero), so the emitted datagram is the one received.
    if packet.checksum() != 0 {
        assert_eq!(&buf[..], &seg[..len]);
    } else {
        assert_eq!(buf[..6], seg[..6]);
        assert_eq!(buf[8..], seg[8..len]);
    }
});
