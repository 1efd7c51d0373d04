//! ARP view and value on arbitrary bytes: no panics, and every `ArpRepr` that parses
//! survives emit + parse unchanged.

#![no_main]

use eth::wire::{ArpOp, ArpPacket, ArpRepr, EtherType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ArpRepr::parse(&ArpPacket::new_unchecked(data));

    let Ok(packet) = ArpPacket::new_checked(data) else {
        return;
    };
    assert!(data.len() >= ArpRepr::BUFFER_LEN);
    assert!(packet.check_len().is_ok());
    // new_checked only admits Ethernet/IPv4 ARP (RFC 826 with hlen 6, plen 4).
    assert_eq!(packet.hardware_type(), eth::wire::arp::HTYPE_ETHERNET);
    assert_eq!(packet.protocol_type(), EtherType::IPV4.0);
    assert_eq!((packet.hardware_len(), packet.protocol_len()), (6, 4));
    let op = packet.operation();
    let sha = packet.sender_hardware_addr();
    let spa = packet.sender_protocol_addr();
    let tha = packet.target_hardware_addr();
    let tpa = packet.target_protocol_addr();
    assert_eq!(packet.as_ref(), data);

    let Ok(repr) = ArpRepr::parse(&packet) else {
        assert_eq!(
            ArpOp::from_u16(op),
            None,
            "only unknown opcodes are refused"
        );
        return;
    };
    assert_eq!(repr.op.to_u16(), op);
    assert_eq!(
        (
            repr.sender_mac,
            repr.sender_ip,
            repr.target_mac,
            repr.target_ip
        ),
        (sha, spa, tha, tpa)
    );

    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
    let again = ArpPacket::new_checked(&buf[..]).expect("emitted ARP is complete");
    assert_eq!(ArpRepr::parse(&again), Ok(repr));
    // Trailing padding aside, a supported packet is fully described by its value.
    assert_eq!(&buf[..], &data[..ArpRepr::BUFFER_LEN]);
    assert_eq!(packet.into_inner(), data);
});
