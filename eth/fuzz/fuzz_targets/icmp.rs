//! ICMPv4 view and value on arbitrary bytes: no panics, and every `IcmpRepr` that parses
//! survives emit (with the data it describes) + parse unchanged.

#![no_main]

use eth::wire::{IcmpPacket, IcmpRepr, IcmpType, WireError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let unchecked = IcmpPacket::new_unchecked(data);
    let _ = IcmpRepr::parse(&unchecked);
    let _ = IcmpRepr::parse_unverified(&unchecked);

    let Ok(packet) = IcmpPacket::new_checked(data) else {
        return;
    };
    assert!(packet.check_len().is_ok());
    let (msg_type, code) = (packet.msg_type(), packet.code());
    let _ = (packet.checksum(), packet.echo_ident(), packet.echo_seq());
    let _ = packet.next_hop_mtu();
    assert_eq!(packet.data(), &data[eth::wire::icmp::HEADER_LEN..]);
    let verified = packet.verify_checksum();
    assert_eq!(packet.as_ref(), data);

    let repr = IcmpRepr::parse_unverified(&packet).expect("new_checked accepted the header");
    match IcmpRepr::parse(&packet) {
        Ok(checked) => {
            assert!(verified);
            assert_eq!(checked, repr);
        }
        Err(err) => {
            assert!(!verified);
            assert_eq!(err, WireError::BadChecksum);
        }
    }
    // RFC 792: echo request/reply need code 0; anything else unrepresented is `Other`.
    match repr {
        IcmpRepr::EchoRequest {
            ident,
            seq,
            data_len,
        }
        | IcmpRepr::EchoReply {
            ident,
            seq,
            data_len,
        } => {
            assert_eq!(code, 0);
            assert!(msg_type == IcmpType::ECHO_REQUEST || msg_type == IcmpType::ECHO_REPLY);
            assert_eq!((ident, seq), (packet.echo_ident(), packet.echo_seq()));
            assert_eq!(data_len, packet.data().len());
        }
        IcmpRepr::DstUnreachable { code: c, data_len } => {
            assert_eq!(msg_type, IcmpType::DST_UNREACHABLE);
            assert_eq!((c, data_len), (code, packet.data().len()));
        }
        IcmpRepr::Other {
            msg_type: t,
            code: c,
        } => {
            assert_eq!((t, c), (msg_type, code));
            assert_ne!(t, IcmpType::DST_UNREACHABLE);
        }
    }

    // `Other` is header only, so it is emitted without data; the rest carry theirs.
    let body = &packet.data()[..repr.data_len()];
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut IcmpPacket::new_unchecked(&mut buf[..]), body);
    let again = IcmpPacket::new_checked(&buf[..]).expect("emitted message is complete");
    assert!(again.verify_checksum());
    assert_eq!(IcmpRepr::parse(&again), Ok(repr));
    assert_eq!(again.data(), body);

    // Building the header in place over the received bytes gives the same message.
    let mut in_place = data[..repr.buffer_len()].to_vec();
    repr.emit_header(&mut IcmpPacket::new_unchecked(&mut in_place[..]));
    assert_eq!(in_place, buf);
    assert_eq!(packet.into_inner(), data);
});
