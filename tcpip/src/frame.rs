//! Prepared TCP frames: a segment built once as a whole Ethernet frame and sent to many
//! connections by rewriting only the per-connection fields (the Sandstorm path).
//!
//! [`build`] writes the template for a payload at start-up, with our source MAC and IPv4
//! address and every per-connection field zero, and both checksums computed once. Each send
//! calls [`rewrite`] with the connection's [`FrameFields`]: the destination MAC, the IPv4
//! identification and destination, the TCP ports, sequence and acknowledgment numbers,
//! flags, window and timestamp option, each followed by an RFC 1624 (eqn. 3) incremental
//! update of the checksums that cover it. The old values are read from the frame itself, so
//! the same code serves a fresh copy of the template and a buffer still holding the
//! previous connection's fields.
//!
//! The layout is fixed, so every field sits at a known offset:
//!
//! ```text
//! offset  bytes  header
//!      0     14  Ethernet II: dst MAC, src MAC, ethertype 0x0800 (no VLAN tag)
//!     14     20  IPv4: version 4, IHL 5 (no options), DF, TTL given, protocol 6 (TCP)
//!     34     32  TCP: data offset 8; options NOP, NOP, TS (kind 8, len 10, TSval, TSecr)
//!     66      n  payload
//! ```
//!
//! The TCP fields rewritten all sit at even offsets of the TCP header, as eqn. 3 needs:
//! ports at 0 and 2, sequence at 4, acknowledgment at 8, the data offset and flags word at
//! 12, window at 14, and the option block at 20..32 (`01 01 08 0a`, TSval at 24, TSecr at
//! 28). A connection that did not negotiate timestamps gets twelve NOPs there instead (RFC
//! 7323 3.2: TSopt is not sent unless both sides agreed to it), keeping the header length.
//!
//! ```
//! use eth::wire::{Ipv4Addr, MacAddr};
//! use tcpip::frame::{self, FrameFields};
//! use tcpip::seq::Seq;
//! use tcpip::wire::TcpFlags;
//!
//! let mut buf = [0u8; 1514];
//! let n = frame::build(&mut buf, MacAddr([2, 0, 0, 0, 0, 1]), Ipv4Addr::new(192, 0, 2, 2),
//!     64, b"HTTP/1.1 200 OK\r\n\r\n").unwrap();
//! let f = FrameFields {
//!     dst_mac: MacAddr([2, 0, 0, 0, 0, 9]),
//!     ip_ident: 1,
//!     dst_ip: Ipv4Addr::new(198, 51, 100, 7),
//!     src_port: 80,
//!     dst_port: 40000,
//!     seq: Seq(1000),
//!     ack: Seq(2000),
//!     flags: TcpFlags::ACK | TcpFlags::PSH,
//!     window: 64240,
//!     timestamps: Some((7, 9)),
//! };
//! assert!(frame::rewrite(&mut buf[..n], &f));
//! ```

use crate::seq::Seq;
use crate::wire::{TcpFlags, TcpOptions, TcpPacket, TcpRepr};
use eth::checksum;
use eth::wire::ethernet::HEADER_LEN as ETH_LEN;
use eth::wire::ipv4::{HEADER_LEN as IPV4_LEN, MAX_PAYLOAD_LEN};
use eth::wire::{
    get_u16, EtherType, EthernetFrame, EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr, MacAddr,
};
use std::fmt;
use std::net::Ipv4Addr;

/// Offset of the TCP header in a prepared frame.
pub const TCP_AT: usize = ETH_LEN + IPV4_LEN;
/// Bytes of the TCP header, the timestamp option block included.
pub const TCP_HEADER_LEN: usize = 32;
/// Offset of the TCP payload in a prepared frame.
pub const PAYLOAD_AT: usize = TCP_AT + TCP_HEADER_LEN;

/// The data offset and flags word of the TCP header (offset 12).
const OFF_FLAGS: core::ops::Range<usize> = 12..14;
/// Bytes of TCP options: NOP, NOP and the 10-byte timestamp option.
const OPTIONS_LEN: usize = TCP_HEADER_LEN - crate::wire::HEADER_LEN;
const NOP: u8 = 1;
/// RFC 7323 3.2: kind 8, length 10, behind two NOPs for alignment (RFC 7323 Appendix A).
const TS_HEAD: [u8; 4] = [NOP, NOP, 8, 10];
/// The option block of a connection without timestamps.
const NO_TS: [u8; OPTIONS_LEN] = [NOP; OPTIONS_LEN];

/// Per-connection fields written by [`rewrite`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameFields {
    pub dst_mac: MacAddr,
    pub ip_ident: u16,
    pub dst_ip: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: Seq,
    pub ack: Seq,
    pub flags: TcpFlags,
    pub window: u16,
    /// `Some((tsval, tsecr))` writes the TS option; `None` overwrites the 10 TS bytes with
    /// NOPs (kind 1) so a peer that did not negotiate timestamps never sees one (RFC 7323
    /// 3.2: not sent unless negotiated). A later `Some` restores the option.
    pub timestamps: Option<(u32, u32)>,
}

/// Why a template could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The buffer is shorter than [`frame_len`] of the payload.
    BufferTooSmall,
    /// The payload would make the IPv4 total length exceed 65,535 bytes.
    TooBig,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::BufferTooSmall => {
                f.write_str("the buffer is too small for the prepared TCP frame")
            }
            FrameError::TooBig => f.write_str(
                "the prepared TCP payload makes the IPv4 packet longer than 65535 bytes",
            ),
        }
    }
}

impl std::error::Error for FrameError {}

/// Frame length for a payload of `payload_len` bytes (saturating, never panicking).
#[inline]
pub const fn frame_len(payload_len: usize) -> usize {
    PAYLOAD_AT.saturating_add(payload_len)
}

/// Build the template for `payload` into `buf` and return the frame length: source MAC and
/// IPv4 address as given, every per-connection field zero (dst MAC 00.., dst IP 0.0.0.0,
/// ports 0, seq and ack 0, flags ACK, window 0, timestamps 0/0), ident 0, DF set, and both
/// checksums valid for those contents.
///
/// A payload that makes the IPv4 total length exceed 65,535 bytes is
/// [`FrameError::TooBig`] (checked first); a `buf` shorter than [`frame_len`] is
/// [`FrameError::BufferTooSmall`]. Bytes of `buf` past the frame are left alone.
pub fn build(
    buf: &mut [u8],
    src_mac: MacAddr,
    src_ip: Ipv4Addr,
    ttl: u8,
    payload: &[u8],
) -> Result<usize, FrameError> {
    if payload.len() > MAX_PAYLOAD_LEN - TCP_HEADER_LEN {
        return Err(FrameError::TooBig);
    }
    let len = frame_len(payload.len());
    let frame = buf.get_mut(..len).ok_or(FrameError::BufferTooSmall)?;
    let dst_ip = Ipv4Addr::UNSPECIFIED;
    EthernetRepr {
        dst: MacAddr::ZERO,
        src: src_mac,
        ethertype: EtherType::IPV4,
        vlan: None,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut *frame));
    Ipv4Repr {
        src: src_ip,
        dst: dst_ip,
        protocol: IpProtocol::TCP,
        payload_len: TCP_HEADER_LEN + payload.len(),
        ttl,
        ident: 0,
        dont_frag: true,
        dscp_ecn: 0,
    }
    .emit(&mut Ipv4Packet::new_unchecked(&mut frame[ETH_LEN..TCP_AT]));
    let tcp = TcpRepr {
        src_port: 0,
        dst_port: 0,
        seq: Seq(0),
        ack: Seq(0),
        flags: TcpFlags::ACK,
        window: 0,
        urgent: 0,
        // Timestamps alone lay out as NOP NOP TS (`TcpOptions::emit`): 12 bytes.
        options: TcpOptions {
            timestamps: Some((0, 0)),
            ..TcpOptions::default()
        },
        payload_len: payload.len(),
    };
    debug_assert_eq!(tcp.header_len(), TCP_HEADER_LEN);
    tcp.emit(
        &mut TcpPacket::new_unchecked(&mut frame[TCP_AT..]),
        src_ip,
        dst_ip,
        payload,
    );
    Ok(len)
}

/// Whether `frame` has the layout [`build`] writes, checked cheaply: long enough, untagged
/// IPv4, an option-less IPv4 header carrying TCP, data offset 8 and an option block of
/// either NOP NOP TS or twelve NOPs. Checksums and lengths are not looked at: the
/// incremental updates are right whatever the rest of the frame holds.
#[inline]
fn has_layout(frame: &[u8]) -> bool {
    if frame.len() < PAYLOAD_AT {
        return false;
    }
    let eth = EthernetFrame::new_unchecked(frame);
    if eth.header_len() != ETH_LEN || eth.ethertype() != EtherType::IPV4 {
        return false;
    }
    let ip = Ipv4Packet::new_unchecked(&frame[ETH_LEN..TCP_AT]);
    if ip.version() != 4 || ip.header_len() != IPV4_LEN || ip.protocol() != IpProtocol::TCP {
        return false;
    }
    let tcp = TcpPacket::new_unchecked(&frame[TCP_AT..PAYLOAD_AT]);
    if tcp.header_len() != TCP_HEADER_LEN {
        return false;
    }
    let options = tcp.options();
    options.starts_with(&TS_HEAD) || options == NO_TS
}

/// The option block for `timestamps`.
#[inline]
fn option_block(timestamps: Option<(u32, u32)>) -> [u8; OPTIONS_LEN] {
    match timestamps {
        Some((tsval, tsecr)) => {
            let mut block = [0u8; OPTIONS_LEN];
            block[..4].copy_from_slice(&TS_HEAD);
            block[4..8].copy_from_slice(&tsval.to_be_bytes());
            block[8..].copy_from_slice(&tsecr.to_be_bytes());
            block
        }
        None => NO_TS,
    }
}

/// Rewrite a frame built by [`build`] (possibly already rewritten for another connection)
/// to `f`: Ethernet destination, IPv4 identification and destination (header checksum
/// updated incrementally), TCP ports, sequence and acknowledgment numbers, flags, window
/// and option block (TCP checksum updated incrementally, the pseudo-header's destination
/// included). Nothing is recomputed in full and nothing is allocated.
///
/// Returns `false` and leaves the frame untouched if it is shorter than [`PAYLOAD_AT`] or
/// does not have the layout of the module doc.
#[inline]
pub fn rewrite(frame: &mut [u8], f: &FrameFields) -> bool {
    if !has_layout(frame) {
        return false;
    }
    EthernetFrame::new_unchecked(&mut *frame).set_dst(f.dst_mac);
    let (ip, tcp) = frame[ETH_LEN..].split_at_mut(IPV4_LEN);

    let mut ip = Ipv4Packet::new_unchecked(ip);
    let old_dst = u32::from(ip.dst());
    let new_dst = u32::from(f.dst_ip);
    let c = checksum::update16(ip.checksum(), ip.ident(), f.ip_ident);
    let c = checksum::update32(c, old_dst, new_dst);
    ip.set_ident(f.ip_ident);
    ip.set_dst(f.dst_ip);
    ip.set_checksum(c);

    let mut tcp = TcpPacket::new_unchecked(tcp);
    // The pseudo-header's destination first; its length and protocol do not change.
    let c = checksum::update32(tcp.checksum(), old_dst, new_dst);
    let c = checksum::update16(c, tcp.src_port(), f.src_port);
    let c = checksum::update16(c, tcp.dst_port(), f.dst_port);
    let c = checksum::update32(c, tcp.seq().0, f.seq.0);
    let c = checksum::update32(c, tcp.ack().0, f.ack.0);
    tcp.set_src_port(f.src_port);
    tcp.set_dst_port(f.dst_port);
    tcp.set_seq(f.seq);
    tcp.set_ack(f.ack);
    // The flags share a word with the data offset; read the word around the change so the
    // offset byte (and its reserved bits) cancel out.
    let old_word = get_u16(tcp.as_ref(), OFF_FLAGS);
    tcp.set_flags(f.flags);
    let c = checksum::update16(c, old_word, get_u16(tcp.as_ref(), OFF_FLAGS));
    let c = checksum::update16(c, tcp.window(), f.window);
    tcp.set_window(f.window);
    let block = option_block(f.timestamps);
    let options = tcp.options_mut();
    let c = checksum::update_bytes(c, options, &block);
    options.copy_from_slice(&block);
    tcp.set_checksum(c);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use eth::wire::EthernetRepr;
    use proptest::prelude::*;

    const OUR_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const US: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    /// The template for payload "hi!" from 02:00:00:00:00:01 / 192.0.2.2, TTL 64.
    /// Checksums by an independent RFC 1071 sum: IPv4 0x78bf, TCP 0x2b4f.
    static TEMPLATE_HI: [u8; 69] = [
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // dst MAC (placeholder)
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src MAC
        0x08, 0x00, // IPv4
        0x45, 0x00, 0x00, 0x37, // version 4, IHL 5, total length 55
        0x00, 0x00, 0x40, 0x00, // ident 0, DF
        0x40, 0x06, 0x78, 0xbf, // TTL 64, TCP, checksum
        0xc0, 0x00, 0x02, 0x02, // src 192.0.2.2
        0x00, 0x00, 0x00, 0x00, // dst 0.0.0.0 (placeholder)
        0x00, 0x00, 0x00, 0x00, // ports 0 -> 0
        0x00, 0x00, 0x00, 0x00, // seq
        0x00, 0x00, 0x00, 0x00, // ack
        0x80, 0x10, 0x00, 0x00, // data offset 8, ACK, window 0
        0x2b, 0x4f, 0x00, 0x00, // checksum, urgent
        0x01, 0x01, 0x08, 0x0a, // NOP NOP TS
        0x00, 0x00, 0x00, 0x00, // TSval
        0x00, 0x00, 0x00, 0x00, // TSecr
        b'h', b'i', b'!',
    ];

    /// `TEMPLATE_HI` rewritten to `conn()`: 80 -> 40000 at 198.51.100.7, PSH+ACK.
    /// IPv4 checksum 0x323e, TCP 0xbf75.
    static CONN_HI: [u8; 69] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x09, // dst MAC
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src MAC
        0x08, 0x00, // IPv4
        0x45, 0x00, 0x00, 0x37, // version 4, IHL 5, total length 55
        0x1c, 0x46, 0x40, 0x00, // ident 0x1c46, DF
        0x40, 0x06, 0x32, 0x3e, // TTL 64, TCP, checksum
        0xc0, 0x00, 0x02, 0x02, // src 192.0.2.2
        0xc6, 0x33, 0x64, 0x07, // dst 198.51.100.7
        0x00, 0x50, 0x9c, 0x40, // ports 80 -> 40000
        0x5f, 0x3a, 0x0c, 0x81, // seq
        0x9a, 0x3c, 0x1f, 0x00, // ack
        0x80, 0x18, 0xfa, 0xf0, // data offset 8, PSH+ACK, window 64240
        0xbf, 0x75, 0x00, 0x00, // checksum, urgent
        0x01, 0x01, 0x08, 0x0a, // NOP NOP TS
        0x00, 0x46, 0x1c, 0x2a, // TSval
        0x12, 0x34, 0x56, 0x78, // TSecr
        b'h', b'i', b'!',
    ];

    /// The TCP checksum of `CONN_HI` with the option block NOP'ed out.
    const CONN_HI_NO_TS_CHECKSUM: u16 = 0x4797;

    fn conn() -> FrameFields {
        FrameFields {
            dst_mac: MacAddr([2, 0, 0, 0, 0, 9]),
            ip_ident: 0x1c46,
            dst_ip: Ipv4Addr::new(198, 51, 100, 7),
            src_port: 80,
            dst_port: 40000,
            seq: Seq(0x5f3a_0c81),
            ack: Seq(0x9a3c_1f00),
            flags: TcpFlags::ACK | TcpFlags::PSH,
            window: 64240,
            timestamps: Some((0x0046_1c2a, 0x1234_5678)),
        }
    }

    /// The per-connection fields a fresh template holds.
    fn template_fields() -> FrameFields {
        FrameFields {
            dst_mac: MacAddr::ZERO,
            ip_ident: 0,
            dst_ip: Ipv4Addr::UNSPECIFIED,
            src_port: 0,
            dst_port: 0,
            seq: Seq(0),
            ack: Seq(0),
            flags: TcpFlags::ACK,
            window: 0,
            timestamps: Some((0, 0)),
        }
    }

    fn template(payload: &[u8]) -> Vec<u8> {
        let mut buf = vec![0; frame_len(payload.len())];
        assert_eq!(build(&mut buf, OUR_MAC, US, 64, payload), Ok(buf.len()));
        buf
    }

    /// The frame for `f` written from scratch with the wire types, checksums computed in
    /// full: what `rewrite` must produce byte for byte.
    fn from_scratch(
        src_mac: MacAddr,
        src_ip: Ipv4Addr,
        ttl: u8,
        f: &FrameFields,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut buf = vec![0; frame_len(payload.len())];
        EthernetRepr {
            dst: f.dst_mac,
            src: src_mac,
            ethertype: EtherType::IPV4,
            vlan: None,
        }
        .emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
        Ipv4Repr {
            src: src_ip,
            dst: f.dst_ip,
            protocol: IpProtocol::TCP,
            payload_len: TCP_HEADER_LEN + payload.len(),
            ttl,
            ident: f.ip_ident,
            dont_frag: true,
            dscp_ecn: 0,
        }
        .emit(&mut Ipv4Packet::new_unchecked(&mut buf[ETH_LEN..TCP_AT]));
        // Emit with the TS option for the layout, then NOP it out if the connection has
        // none (`TcpRepr` would drop the option block instead).
        let repr = tcp_repr(f, payload.len(), Some(f.timestamps.unwrap_or((0, 0))));
        let mut tcp = TcpPacket::new_unchecked(&mut buf[TCP_AT..]);
        repr.emit(&mut tcp, src_ip, f.dst_ip, payload);
        if f.timestamps.is_none() {
            tcp.options_mut().fill(NOP);
            tcp.fill_checksum(src_ip, f.dst_ip);
        }
        buf
    }

    fn tcp_repr(f: &FrameFields, payload_len: usize, timestamps: Option<(u32, u32)>) -> TcpRepr {
        TcpRepr {
            src_port: f.src_port,
            dst_port: f.dst_port,
            seq: f.seq,
            ack: f.ack,
            flags: f.flags,
            window: f.window,
            urgent: 0,
            options: TcpOptions {
                timestamps,
                ..TcpOptions::default()
            },
            payload_len,
        }
    }

    /// Both checksums verify and every field parses back as written.
    fn check_frame(frame: &[u8], src_ip: Ipv4Addr, ttl: u8, f: &FrameFields, payload: &[u8]) {
        let eth = EthernetFrame::new_checked(frame).unwrap();
        assert_eq!(eth.dst(), f.dst_mac);
        assert_eq!(eth.ethertype(), EtherType::IPV4);
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        assert!(ip.verify_checksum(), "IPv4 header checksum");
        let r = Ipv4Repr::parse(&ip).unwrap();
        assert_eq!(
            r,
            Ipv4Repr {
                src: src_ip,
                dst: f.dst_ip,
                protocol: IpProtocol::TCP,
                payload_len: TCP_HEADER_LEN + payload.len(),
                ttl,
                ident: f.ip_ident,
                dont_frag: true,
                dscp_ecn: 0,
            }
        );
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        assert!(tcp.verify_checksum(src_ip, f.dst_ip), "TCP checksum");
        assert_eq!(tcp.header_len(), TCP_HEADER_LEN);
        assert_eq!(
            TcpRepr::parse(&tcp, src_ip, f.dst_ip),
            Ok(tcp_repr(f, payload.len(), f.timestamps))
        );
        assert_eq!(tcp.payload(), payload);
    }

    #[test]
    fn template_has_the_documented_layout() {
        let mut buf = [0xAAu8; 80];
        assert_eq!(
            build(&mut buf, OUR_MAC, US, 64, b"hi!"),
            Ok(TEMPLATE_HI.len())
        );
        assert_eq!(buf[..TEMPLATE_HI.len()], TEMPLATE_HI);
        assert!(
            buf[TEMPLATE_HI.len()..].iter().all(|&b| b == 0xAA),
            "past the frame"
        );
        assert_eq!(frame_len(3), TEMPLATE_HI.len());
        assert_eq!(PAYLOAD_AT, 66);
        let zero = template_fields();
        check_frame(&TEMPLATE_HI, US, 64, &zero, b"hi!");
    }

    #[test]
    fn rewritten_template_equals_literal_frame() {
        let mut frame = TEMPLATE_HI;
        assert!(rewrite(&mut frame, &conn()));
        assert_eq!(frame, CONN_HI);
        check_frame(&frame, US, 64, &conn(), b"hi!");
    }

    #[test]
    fn connection_without_timestamps_gets_twelve_nops() {
        // RFC 7323 3.2: no TSopt unless negotiated; the header keeps its 32 bytes.
        let mut frame = CONN_HI;
        let f = FrameFields {
            timestamps: None,
            ..conn()
        };
        assert!(rewrite(&mut frame, &f));
        assert_eq!(frame[TCP_AT + 20..PAYLOAD_AT], [NOP; 12]);
        assert_eq!(get_u16(&frame[TCP_AT..], 16..18), CONN_HI_NO_TS_CHECKSUM);
        check_frame(&frame, US, 64, &f, b"hi!");
        // And the option comes back for the next connection that has it.
        assert!(rewrite(&mut frame, &conn()));
        assert_eq!(frame, CONN_HI);
    }

    #[test]
    fn rewrite_over_previous_connection_reads_old_values_from_frame() {
        let mut frame = CONN_HI;
        let zero = template_fields();
        assert!(rewrite(&mut frame, &zero));
        assert_eq!(frame, TEMPLATE_HI);
    }

    #[test]
    fn frame_not_of_this_layout_is_refused_untouched() {
        let f = conn();
        let refused = |frame: &mut [u8]| {
            let before = frame.to_vec();
            assert!(!rewrite(frame, &f));
            assert_eq!(frame, &before[..]);
        };
        // Short: the header alone is one byte short, or the buffer is empty.
        refused(&mut TEMPLATE_HI[..PAYLOAD_AT - 1].to_vec());
        refused(&mut []);
        // Just the headers, no payload, is fine.
        assert!(rewrite(&mut TEMPLATE_HI[..PAYLOAD_AT].to_vec(), &f));

        let mutated = |at: usize, byte: u8| {
            let mut frame = TEMPLATE_HI;
            frame[at] = byte;
            frame
        };
        // Ethertype ARP, and an 802.1Q tag in front of IPv4.
        refused(&mut mutated(13, 0x06));
        refused(&mut mutated(12, 0x81));
        // IPv4 version 6, IHL 6, protocol UDP.
        refused(&mut mutated(ETH_LEN, 0x65));
        refused(&mut mutated(ETH_LEN, 0x46));
        refused(&mut mutated(ETH_LEN + 9, 17));
        // Data offset 5 and 9.
        refused(&mut mutated(TCP_AT + 12, 0x50));
        refused(&mut mutated(TCP_AT + 12, 0x90));
        // Option blocks other than NOP NOP TS or twelve NOPs.
        refused(&mut mutated(TCP_AT + 20, 0x04));
        refused(&mut mutated(TCP_AT + 22, 0x05));
        refused(&mut mutated(TCP_AT + 23, 0x0b));
        let mut nops = TEMPLATE_HI;
        nops[TCP_AT + 20..PAYLOAD_AT].fill(NOP);
        nops[PAYLOAD_AT - 1] = 0;
        refused(&mut nops);
    }

    #[test]
    fn build_refuses_small_buffer_and_oversized_payload() {
        let mut buf = [0u8; 68];
        assert_eq!(
            build(&mut buf, OUR_MAC, US, 64, b"hi!"),
            Err(FrameError::BufferTooSmall)
        );
        assert_eq!(
            build(&mut [], OUR_MAC, US, 64, &[]),
            Err(FrameError::BufferTooSmall)
        );
        // IPv4 total length 20 + 32 + payload: 65,483 payload bytes is the most.
        let max = u16::MAX as usize - IPV4_LEN - TCP_HEADER_LEN;
        let payload = vec![7u8; max + 1];
        let mut big = vec![0u8; frame_len(max + 1)];
        assert_eq!(
            build(&mut big, OUR_MAC, US, 64, &payload),
            Err(FrameError::TooBig)
        );
        assert_eq!(
            build(&mut [], OUR_MAC, US, 64, &payload),
            Err(FrameError::TooBig)
        );
        let n = build(&mut big, OUR_MAC, US, 64, &payload[..max]).unwrap();
        assert_eq!(n, frame_len(max));
        let f = conn();
        assert!(rewrite(&mut big[..n], &f));
        check_frame(&big[..n], US, 64, &f, &payload[..max]);
        assert_eq!(frame_len(usize::MAX), usize::MAX);
        assert_eq!(
            FrameError::TooBig.to_string(),
            "the prepared TCP payload makes the IPv4 packet longer than 65535 bytes"
        );
        assert_eq!(
            FrameError::BufferTooSmall.to_string(),
            "the buffer is too small for the prepared TCP frame"
        );
    }

    fn fields() -> impl Strategy<Value = FrameFields> {
        (
            any::<[u8; 6]>(),
            any::<u16>(),
            any::<u32>(),
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
            any::<u8>(),
            any::<u16>(),
            proptest::option::of(any::<(u32, u32)>()),
        )
            .prop_map(
                |(mac, ident, ip, sport, dport, seq, ack, flags, window, ts)| FrameFields {
                    dst_mac: MacAddr(mac),
                    ip_ident: ident,
                    dst_ip: Ipv4Addr::from(ip),
                    src_port: sport,
                    dst_port: dport,
                    seq: Seq(seq),
                    ack: Seq(ack),
                    flags: TcpFlags::from_bits_retain(flags),
                    window,
                    timestamps: ts,
                },
            )
    }

    proptest! {
        /// A fresh template and one holding a previous connection's fields both rewrite to
        /// exactly the frame built from scratch, odd and even payload lengths alike.
        #[test]
        fn rewrite_matches_frame_built_from_scratch(
            src_mac in any::<[u8; 6]>().prop_map(MacAddr),
            src_ip in any::<u32>().prop_map(Ipv4Addr::from),
            ttl in any::<u8>(),
            payload in proptest::collection::vec(any::<u8>(), 0..=1460),
            conns in proptest::collection::vec(fields(), 1..5),
        ) {
            let mut frame = vec![0; frame_len(payload.len())];
            prop_assert_eq!(build(&mut frame, src_mac, src_ip, ttl, &payload), Ok(frame.len()));
            for f in &conns {
                prop_assert!(rewrite(&mut frame, f));
                check_frame(&frame, src_ip, ttl, f, &payload);
                prop_assert_eq!(&frame, &from_scratch(src_mac, src_ip, ttl, f, &payload));
            }
        }

        /// Timestamps toggled Some, None, Some over the same buffer: the option goes and
        /// comes back with both checksums right.
        #[test]
        fn timestamps_toggle_over_the_same_frame(
            payload in proptest::collection::vec(any::<u8>(), 0..=1460),
            a in fields(),
            b in fields(),
            c in fields(),
            ts_a in any::<(u32, u32)>(),
            ts_c in any::<(u32, u32)>(),
        ) {
            let mut frame = template(&payload);
            let sequence = [
                FrameFields { timestamps: Some(ts_a), ..a },
                FrameFields { timestamps: None, ..b },
                FrameFields { timestamps: Some(ts_c), ..c },
            ];
            for f in &sequence {
                prop_assert!(rewrite(&mut frame, f));
                check_frame(&frame, US, 64, f, &payload);
                prop_assert_eq!(&frame, &from_scratch(OUR_MAC, US, 64, f, &payload));
            }
        }

        /// Any bytes at all: `rewrite` never panics, and refuses whatever lacks the layout
        /// without touching it.
        #[test]
        fn rewrite_never_panics_on_arbitrary_bytes(
            mut frame in proptest::collection::vec(any::<u8>(), 0..120),
            f in fields(),
        ) {
            let before = frame.clone();
            if !rewrite(&mut frame, &f) {
                prop_assert_eq!(frame, before);
            }
        }
    }
}
