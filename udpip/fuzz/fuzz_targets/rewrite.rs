//! The prepared-datagram rewrite. Twice over each input:
//!
//! * `rewrite` on an arbitrary frame with arbitrary patches never panics, succeeds exactly
//!   when the frame is long enough and every patch lies in its payload, writes the fields
//!   it says it writes, and keeps any checksum that verified before verifying after
//!   (RFC 1624 updates are exact).
//! * A real prepared datagram (fuzz-chosen address, port and payload) sent a few times
//!   through a sink port in either mode, to fuzz-chosen destinations with fuzz-chosen
//!   patches: every frame sent is a valid datagram with both checksums verifying, and the
//!   pre-copy image carries each send's patches into the next.

#![no_main]

use eth::checksum::{self, PROTO_UDP};
use eth::wire::{EtherType, EthernetFrame, IpProtocol, Ipv4Addr, Ipv4Packet, MacAddr};
use eth::{Iface, IfaceConfig};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use nmio::backend::sink::SinkTx;
use nmio::{Instant, PrepMode, TxQueue};
use std::net::SocketAddrV4;
use udpip::prepared::{rewrite, PAYLOAD_AT};
use udpip::wire::{UdpPacket, UdpRepr};
use udpip::{Patch, PrepareError, PreparedDatagram};

const OUR_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
/// Offsets in a prepared frame: Ethernet header, then an option-less IPv4 header.
const IP_AT: usize = 14;
const UDP_AT: usize = IP_AT + 20;

fuzz_target!(|data: &[u8]| {
    let _ = arbitrary_frame(Unstructured::new(data));
    if data.len() >= 16 {
        let _ = prepared_sends(&mut Unstructured::new(data));
    }
});

fn socket(u: &mut Unstructured<'_>) -> Result<SocketAddrV4> {
    Ok(SocketAddrV4::new(
        Ipv4Addr::from(u.arbitrary::<u32>()?),
        u.arbitrary()?,
    ))
}

/// Up to three patches, mostly inside a payload of `payload_len` bytes, sometimes past it
/// or at an absurd offset.
fn patches(u: &mut Unstructured<'_>, payload_len: usize) -> Result<Vec<(usize, Vec<u8>)>> {
    let mut out = Vec::new();
    for _ in 0..u.int_in_range(0..=3)? {
        let len = u.int_in_range(0..=9)?;
        let offset = match u.int_in_range(0..=15)? {
            0 => u.arbitrary::<usize>()?,
            1 => payload_len + usize::from(u.arbitrary::<u8>()?),
            _ => u.int_in_range(0..=payload_len.saturating_sub(len))?,
        };
        out.push((offset, u.bytes(len)?.to_vec()));
    }
    Ok(out)
}

fn as_patches(p: &[(usize, Vec<u8>)]) -> Vec<Patch<'_>> {
    p.iter().map(|(o, b)| Patch::new(*o, b)).collect()
}

/// `payload` with `patches` applied in order (later ones win where they overlap).
fn patched(payload: &[u8], patches: &[(usize, Vec<u8>)]) -> Vec<u8> {
    let mut out = payload.to_vec();
    for (o, b) in patches {
        out[*o..*o + b.len()].copy_from_slice(b);
    }
    out
}

fn fits(patches: &[(usize, Vec<u8>)], payload_len: usize) -> bool {
    patches
        .iter()
        .all(|(o, b)| o.checked_add(b.len()).is_some_and(|e| e <= payload_len))
}

fn ip_header_verifies(frame: &[u8]) -> bool {
    checksum::verify(&frame[IP_AT..UDP_AT])
}

/// The UDP checksum over the whole rest of the frame with the frame's own addresses.
fn udp_verifies(frame: &[u8]) -> bool {
    let ip = Ipv4Packet::new_unchecked(&frame[IP_AT..UDP_AT]);
    checksum::l4_verify(
        ip.src().octets(),
        ip.dst().octets(),
        PROTO_UDP,
        &frame[UDP_AT..],
    )
}

fn arbitrary_frame(mut u: Unstructured<'_>) -> Result<()> {
    let mac = MacAddr(u.arbitrary()?);
    let ident: u16 = u.arbitrary()?;
    let dst = socket(&mut u)?;
    let payload_len = u.int_in_range(0..=64)?;
    let patches = patches(&mut u, payload_len)?;
    let original = u.take_rest().to_vec();
    let mut frame = original.clone();
    let ok = rewrite(&mut frame, mac, ident, dst, &as_patches(&patches));
    if frame.len() < PAYLOAD_AT {
        assert!(!ok, "a frame without room for the headers was rewritten");
        assert_eq!(frame, original);
        return Ok(());
    }
    assert_eq!(ok, fits(&patches, frame.len() - PAYLOAD_AT));
    if !ok {
        return Ok(());
    }
    assert_eq!(EthernetFrame::new_unchecked(&frame[..]).dst(), mac);
    let ip = Ipv4Packet::new_unchecked(&frame[IP_AT..UDP_AT]);
    assert_eq!((ip.ident(), ip.dst()), (ident, *dst.ip()));
    assert_eq!(
        UdpPacket::new_unchecked(&frame[UDP_AT..]).dst_port(),
        dst.port()
    );
    assert_eq!(
        frame[PAYLOAD_AT..],
        patched(&original[PAYLOAD_AT..], &patches)[..]
    );
    // The RFC 1624 update is exact unless every other header word is zero (it gives
    // +0 where a full computation gives -0); a version nibble of 4 rules that out.
    if original[IP_AT] >> 4 == 4 && ip_header_verifies(&original) {
        assert!(ip_header_verifies(&frame), "IPv4 header checksum broken");
    }
    if udp_verifies(&original) {
        assert!(udp_verifies(&frame), "UDP checksum broken");
    }
    Ok(())
}

fn prepared_sends(u: &mut Unstructured<'_>) -> Result<()> {
    let mut cfg = IfaceConfig::new(
        OUR_MAC,
        Ipv4Addr::from(u.arbitrary::<u32>()?),
        u.int_in_range(1..=32)?,
    );
    cfg.arp.announcements = 0;
    let Ok(mut iface) = Iface::new(cfg, Instant::ZERO) else {
        return Ok(());
    };
    let src = SocketAddrV4::new(iface.addr(), u.arbitrary()?);
    let len = u.int_in_range(0..=1480)?.min(u.len());
    let payload = u.bytes(len)?;
    let mut tx = SinkTx::new(1514, 1);
    let p = match PreparedDatagram::new(&mut tx, &mut iface, src.port(), payload) {
        Ok(p) => p,
        Err(PrepareError::PortZero) => {
            assert_eq!(src.port(), 0);
            return Ok(());
        }
        Err(PrepareError::TooBig { len, max }) => {
            assert!(len > max && max == iface.max_payload() - 8);
            return Ok(());
        }
        Err(e) => panic!("preparing {len} bytes: {e}"),
    };
    assert_ne!(src.port(), 0);
    assert_eq!((p.payload_len(), p.src_port()), (payload.len(), src.port()));
    let unspecified = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
    check_sent(
        tx.prepared(p.id()).unwrap(),
        MacAddr::ZERO,
        src,
        unspecified,
        payload,
    );
    let mut image = payload.to_vec();
    for _ in 0..u.int_in_range(1..=4)? {
        let mode = if u.arbitrary()? {
            PrepMode::PreCopy
        } else {
            PrepMode::Memcpy
        };
        let mac = MacAddr(u.arbitrary()?);
        let ident: u16 = u.arbitrary()?;
        let dst = socket(u)?;
        let patches = patches(u, p.payload_len())?;
        let list = as_patches(&patches);
        assert_eq!(p.patches_fit(&list), fits(&patches, p.payload_len()));
        if !p.patches_fit(&list) {
            // Callers check first (`UdpOut::send_prepared` does); a scratch copy shows the
            // rewrite refusing them.
            let mut copy = tx.prepared(p.id()).unwrap().to_vec();
            assert!(!rewrite(&mut copy, mac, ident, dst, &list));
            continue;
        }
        let mut ok = false;
        assert!(tx.send_prepared(p.id(), mode, |f| {
            ok = rewrite(f, mac, ident, dst, &list);
        }));
        assert!(ok);
        let expect = patched(&image, &patches);
        check_sent(tx.last(), mac, src, dst, &expect);
        let ip = Ipv4Packet::new_unchecked(&tx.last()[IP_AT..UDP_AT]);
        assert_eq!(ip.ident(), ident);
        if mode == PrepMode::PreCopy {
            image = expect;
            assert_eq!(tx.prepared(p.id()).unwrap(), tx.last());
        } else {
            assert_eq!(tx.prepared(p.id()).unwrap()[PAYLOAD_AT..], image[..]);
        }
    }
    Ok(())
}

/// `frame` is a complete, valid datagram `src -> dst` carrying `payload`, sent to `mac`.
fn check_sent(frame: &[u8], mac: MacAddr, src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) {
    assert_eq!(frame.len(), PAYLOAD_AT + payload.len());
    let eth = EthernetFrame::new_checked(frame).unwrap();
    assert_eq!((eth.dst(), eth.src()), (mac, OUR_MAC));
    assert_eq!(eth.ethertype(), EtherType::IPV4);
    let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
    assert!(ip.verify_checksum(), "IPv4 header checksum");
    assert_eq!((ip.src(), ip.dst()), (*src.ip(), *dst.ip()));
    assert_eq!(ip.protocol(), IpProtocol::UDP);
    assert_eq!(usize::from(ip.total_len()), 28 + payload.len());
    let udp = UdpPacket::new_checked(ip.payload()).unwrap();
    assert_ne!(udp.checksum(), 0, "a UDP checksum of zero is never sent");
    assert!(udp.verify_checksum(*src.ip(), *dst.ip()), "UDP checksum");
    let repr = UdpRepr::parse(&udp, *src.ip(), *dst.ip()).unwrap();
    assert_eq!(
        (repr.src_port, repr.dst_port, repr.payload_len),
        (src.port(), dst.port(), payload.len())
    );
    assert_eq!(udp.payload(), payload);
}
