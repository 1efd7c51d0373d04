//! Datagram builders and parsers for tests, examples and benchmarks (they allocate; not
//! for the per-packet path). The Ethernet, ARP and ICMP ones are in [`eth::testing`].

use crate::wire::{UdpPacket, UdpRepr};
use eth::testing::ipv4_frame;
use eth::wire::{EtherType, EthernetFrame, IpProtocol, Ipv4Packet, Ipv4Repr, MacAddr};
use std::net::SocketAddrV4;

/// A UDP datagram `src -> dst` carrying `payload`, framed `src_mac -> dst_mac`, with its
/// checksum computed.
pub fn udp_frame(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: SocketAddrV4,
    dst: SocketAddrV4,
    payload: &[u8],
) -> Vec<u8> {
    let mut seg = vec![0; 8 + payload.len()];
    UdpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        payload_len: payload.len(),
    }
    .emit(
        &mut UdpPacket::new_unchecked(&mut seg[..]),
        *src.ip(),
        *dst.ip(),
        payload,
    );
    ipv4_frame(
        src_mac,
        dst_mac,
        *src.ip(),
        *dst.ip(),
        IpProtocol::UDP,
        &seg,
    )
}

/// A received UDP frame, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUdp {
    /// Ethernet source and destination.
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    /// The IPv4 header.
    pub ip: Ipv4Repr,
    /// Source and destination.
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    /// The UDP checksum field as sent.
    pub checksum: u16,
    /// Whether the IPv4 header checksum and the UDP checksum verify.
    pub checksums_ok: bool,
    /// The payload.
    pub payload: Vec<u8>,
}

/// Decode `frame` if it is an IPv4 UDP datagram with consistent lengths.
pub fn parse_udp(frame: &[u8]) -> Option<ParsedUdp> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EtherType::IPV4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let ip_repr = Ipv4Repr::parse_unverified(&ip).ok()?;
    if ip_repr.protocol != IpProtocol::UDP {
        return None;
    }
    let udp = UdpPacket::new_checked(ip.payload()).ok()?;
    Some(ParsedUdp {
        src_mac: eth.src(),
        dst_mac: eth.dst(),
        src: SocketAddrV4::new(ip_repr.src, udp.src_port()),
        dst: SocketAddrV4::new(ip_repr.dst, udp.dst_port()),
        checksum: udp.checksum(),
        checksums_ok: ip.verify_checksum() && udp.verify_checksum(ip_repr.src, ip_repr.dst),
        payload: udp.payload().to_vec(),
        ip: ip_repr,
    })
}
