//! IPv4 view and value on arbitrary bytes: no panics, lengths that agree with the header
//! fields, and every `Ipv4Repr` that parses survives emit + parse unchanged.

#![no_main]

use eth::wire::{Ipv4Packet, Ipv4Repr, WireError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let unchecked = Ipv4Packet::new_unchecked(data);
    let _ = Ipv4Repr::parse(&unchecked);
    let _ = Ipv4Repr::parse_unverified(&unchecked);

    let Ok(packet) = Ipv4Packet::new_checked(data) else {
        return;
    };
    assert!(packet.check_len().is_ok());
    assert_eq!(packet.version(), 4);
    let header_len = packet.header_len();
    assert_eq!(header_len, usize::from(packet.ihl()) * 4);
    assert!((20..=60).contains(&header_len));
    let total_len = usize::from(packet.total_len());
    assert!(header_len <= total_len && total_len <= data.len());
    assert_eq!(packet.header(), &data[..header_len]);
    assert_eq!(packet.options(), &data[20..header_len]);
    assert_eq!(packet.has_options(), header_len > 20);
    assert_eq!(packet.payload(), &data[header_len..total_len]);

    // RFC 791 3.1 flags: reserved, DF, MF; the offset counts 8-byte units.
    let flags = packet.flags();
    assert!(flags < 8);
    assert_eq!(packet.dont_frag(), flags & 0b010 != 0);
    assert_eq!(packet.more_frags(), flags & 0b001 != 0);
    let frag_offset = packet.frag_offset();
    assert_eq!(frag_offset % 8, 0);
    assert_eq!(
        packet.is_fragment(),
        packet.more_frags() || frag_offset != 0
    );
    let _ = (
        packet.dscp_ecn(),
        packet.ident(),
        packet.ttl(),
        packet.checksum(),
    );
    let _ = (packet.protocol(), packet.src(), packet.dst());
    let verified = packet.verify_checksum();
    assert_eq!(packet.as_ref(), data);

    let repr = Ipv4Repr::parse_unverified(&packet).expect("new_checked accepted the header");
    match Ipv4Repr::parse(&packet) {
        Ok(checked) => {
            assert!(verified);
            assert_eq!(checked, repr);
        }
        Err(err) => {
            assert!(!verified);
            assert_eq!(err, WireError::BadChecksum);
        }
    }
    assert_eq!(repr.src, packet.src());
    assert_eq!(repr.dst, packet.dst());
    assert_eq!(repr.protocol, packet.protocol());
    assert_eq!(repr.payload_len, total_len - header_len);
    assert_eq!(repr.ttl, packet.ttl());
    assert_eq!(repr.ident, packet.ident());
    assert_eq!(repr.dont_frag, packet.dont_frag());
    assert_eq!(repr.dscp_ecn, packet.dscp_ecn());

    // Emit writes a 20-byte header without options, MF or offset; every field the value
    // holds must come back, and the new header carries a valid checksum.
    let mut buf = vec![0u8; repr.buffer_len()];
    let mut out = Ipv4Packet::new_unchecked(&mut buf[..]);
    repr.emit(&mut out);
    out.payload_mut().copy_from_slice(packet.payload());
    let again = Ipv4Packet::new_checked(&buf[..]).expect("emitted packet is complete");
    assert_eq!(again.header_len(), repr.header_len());
    assert!(again.verify_checksum());
    assert!(!again.more_frags() && again.frag_offset() == 0);
    assert_eq!(Ipv4Repr::parse(&again), Ok(repr));
    assert_eq!(again.payload(), packet.payload());
    assert_eq!(packet.into_inner(), data);
});
