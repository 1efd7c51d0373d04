//! Putting frames on the TX half: the one place the layers of this crate reserve and commit.

use crate::stats::EthStats;
use crate::wire::arp::ArpPacket;
use crate::wire::ethernet::HEADER_LEN;
use crate::wire::{ArpRepr, EtherType, MacAddr};
use nmio::TxQueue;

/// Shortest Ethernet frame without the FCS (IEEE 802.3: 64 bytes with it). Frames are
/// padded with zeros to this length; most NICs would pad anyway, AF_PACKET and TAP do not.
pub const MIN_FRAME_LEN: usize = 60;

/// Our link-layer and network-layer identity, passed to the code that builds frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Local {
    /// Our MAC.
    pub mac: MacAddr,
    /// Our IPv4 address.
    pub ip: crate::wire::Ipv4Addr,
}

/// Write an untagged Ethernet II header at the start of `buf` (at least 14 bytes).
#[inline]
pub fn write_header(buf: &mut [u8], dst: MacAddr, src: MacAddr, ethertype: EtherType) {
    buf[0..6].copy_from_slice(&dst.0);
    buf[6..12].copy_from_slice(&src.0);
    buf[12..14].copy_from_slice(&ethertype.0.to_be_bytes());
}

/// Reserve a slot, let `fill` write the whole frame and return its length (0 abandons),
/// pad it to [`MIN_FRAME_LEN`], commit. Counts the outcome in `stats`.
#[inline]
pub fn send_frame<Tx: TxQueue>(
    tx: &mut Tx,
    stats: &mut EthStats,
    fill: impl FnOnce(&mut [u8]) -> usize,
) -> bool {
    let Some(slot) = tx.reserve() else {
        stats.tx_ring_full += 1;
        return false;
    };
    let mut len = fill(slot);
    if len == 0 {
        return false;
    }
    if len < MIN_FRAME_LEN && slot.len() >= MIN_FRAME_LEN {
        slot[len..MIN_FRAME_LEN].fill(0);
        len = MIN_FRAME_LEN;
    }
    if tx.commit(len) {
        stats.tx_frames += 1;
        true
    } else {
        stats.tx_commit_failed += 1;
        false
    }
}

/// Send one ARP packet from `src` to `dst_mac`.
pub fn send_arp<Tx: TxQueue>(
    tx: &mut Tx,
    stats: &mut EthStats,
    src: MacAddr,
    dst_mac: MacAddr,
    repr: &ArpRepr,
) -> bool {
    send_frame(tx, stats, |buf| {
        let end = HEADER_LEN + ArpRepr::BUFFER_LEN;
        if buf.len() < end {
            return 0;
        }
        write_header(buf, dst_mac, src, EtherType::ARP);
        repr.emit(&mut ArpPacket::new_unchecked(&mut buf[HEADER_LEN..end]));
        end
    })
}
