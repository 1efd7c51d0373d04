//! Frame builders and port helpers for tests, examples and benchmarks (they allocate; not
//! for the per-packet path).

use crate::iface::HEADERS_LEN;
use crate::link::{write_header, MIN_FRAME_LEN};
use crate::wire::arp::ArpPacket;
use crate::wire::ethernet::HEADER_LEN as ETH_LEN;
use crate::wire::{
    ArpOp, ArpRepr, EtherType, EthernetFrame, IcmpPacket, IcmpRepr, IpProtocol, Ipv4Addr,
    Ipv4Packet, Ipv4Repr, MacAddr,
};
use nmio::{Port, RxQueue, TxQueue};

/// A broadcast ARP request from `mac`/`ip` asking for `target`.
pub fn arp_request(mac: MacAddr, ip: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    arp_frame(
        MacAddr::BROADCAST,
        &ArpRepr {
            op: ArpOp::Request,
            sender_mac: mac,
            sender_ip: ip,
            target_mac: MacAddr::ZERO,
            target_ip: target,
        },
    )
}

/// An ARP reply from `mac`/`ip` to `to_mac`/`to_ip`.
pub fn arp_reply(mac: MacAddr, ip: Ipv4Addr, to_mac: MacAddr, to_ip: Ipv4Addr) -> Vec<u8> {
    arp_frame(
        to_mac,
        &ArpRepr {
            op: ArpOp::Reply,
            sender_mac: mac,
            sender_ip: ip,
            target_mac: to_mac,
            target_ip: to_ip,
        },
    )
}

/// An ARP packet in an Ethernet frame to `dst`, padded to the minimum frame length.
pub fn arp_frame(dst: MacAddr, repr: &ArpRepr) -> Vec<u8> {
    let mut f = vec![0; MIN_FRAME_LEN];
    write_header(&mut f, dst, repr.sender_mac, EtherType::ARP);
    repr.emit(&mut ArpPacket::new_unchecked(&mut f[ETH_LEN..ETH_LEN + 28]));
    f
}

/// An IPv4 frame `src_mac -> dst_mac`, `src -> dst`, carrying `payload` as `protocol`
/// (TTL 64, DF).
pub fn ipv4_frame(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: IpProtocol,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = vec![0; (HEADERS_LEN + payload.len()).max(MIN_FRAME_LEN)];
    write_header(&mut f, dst_mac, src_mac, EtherType::IPV4);
    let repr = Ipv4Repr {
        src,
        dst,
        protocol,
        payload_len: payload.len(),
        ttl: 64,
        ident: 0x1234,
        dont_frag: true,
        dscp_ecn: 0,
    };
    repr.emit(&mut Ipv4Packet::new_unchecked(&mut f[ETH_LEN..HEADERS_LEN]));
    f[HEADERS_LEN..HEADERS_LEN + payload.len()].copy_from_slice(payload);
    f
}

/// An ICMP echo request frame with `data_len` bytes of patterned data.
pub fn echo_request(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ident: u16,
    seq: u16,
    data_len: usize,
) -> Vec<u8> {
    let data: Vec<u8> = (0..data_len).map(|i| i as u8).collect();
    let repr = IcmpRepr::EchoRequest {
        ident,
        seq,
        data_len,
    };
    let mut msg = vec![0; repr.buffer_len()];
    repr.emit(&mut IcmpPacket::new_unchecked(&mut msg[..]), &data);
    ipv4_frame(src_mac, dst_mac, src, dst, IpProtocol::ICMP, &msg)
}

/// Queue `frame` on `port`'s TX half and kick it.
pub fn inject<P: Port>(port: &mut P, frame: &[u8]) {
    let tx = port.tx();
    let queued = tx.send(|slot| {
        slot[..frame.len()].copy_from_slice(frame);
        frame.len()
    });
    assert!(queued, "test port refused a {}-byte frame", frame.len());
    tx.flush().expect("test port flush");
}

/// Every frame waiting on `port`'s RX half.
pub fn drain<P: Port>(port: &mut P) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while port.rx().recv_burst(64, |f, _| out.push(f.to_vec())) > 0 {}
    out
}

/// The ARP packet in `frame`, if it is one.
pub fn parse_arp(frame: &[u8]) -> Option<ArpRepr> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EtherType::ARP {
        return None;
    }
    ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).ok()?).ok()
}

/// Whether `frame` is an ARP reply sent by `mac`.
pub fn is_arp_reply_from(frame: &[u8], mac: MacAddr) -> bool {
    parse_arp(frame).is_some_and(|a| a.op == ArpOp::Reply && a.sender_mac == mac)
}

/// The IPv4 header and ICMP message in `frame`, if it carries a valid one.
pub fn parse_icmp(frame: &[u8]) -> Option<(Ipv4Repr, IcmpRepr, Vec<u8>)> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EtherType::IPV4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let ip_repr = Ipv4Repr::parse(&ip).ok()?;
    if ip_repr.protocol != IpProtocol::ICMP {
        return None;
    }
    let icmp = IcmpPacket::new_checked(ip.payload()).ok()?;
    let repr = IcmpRepr::parse(&icmp).ok()?;
    Some((ip_repr, repr, icmp.data().to_vec()))
}
