//! `struct virtio_net_hdr` (include/uapi/linux/virtio_net.h), the offload header the
//! kernel reads in front of each frame from a `PACKET_VNET_HDR` packet socket or an
//! `IFF_VNET_HDR` TAP: flags (u8), gso_type (u8), then hdr_len, gso_size, csum_start,
//! csum_offset (u16 each, in the host's byte order: legacy virtio, `vio_le()` native).

use crate::port::RxFlags;
use crate::tso::{TsoFrame, TCP_CSUM_OFFSET};

/// Bytes of the header.
pub(crate) const VNET_HDR_LEN: usize = 10;
/// The L4 checksum is left to the device (`csum_start`, `csum_offset` say where).
pub(crate) const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
/// The device verified the checksum (received frames).
pub(crate) const VIRTIO_NET_HDR_F_DATA_VALID: u8 = 2;
pub(crate) const VIRTIO_NET_HDR_GSO_NONE: u8 = 0;
pub(crate) const VIRTIO_NET_HDR_GSO_TCPV4: u8 = 1;
/// Added to the GSO type when the super-frame has CWR set (`SKB_GSO_TCP_ECN`): only the
/// first segment keeps it.
pub(crate) const VIRTIO_NET_HDR_GSO_ECN: u8 = 0x80;
/// The TCP header's flags byte and its CWR bit (RFC 3168 6.1).
pub(crate) const TCP_FLAGS_OFF: usize = 13;
pub(crate) const TCP_CWR: u8 = 0x80;

/// The header as a value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct VnetHdr {
    pub flags: u8,
    pub gso_type: u8,
    /// Bytes the kernel copies into the skb's own buffer (at least the 14 of Ethernet); a
    /// packet socket lends the rest of the frame from its ring's pages.
    pub hdr_len: u16,
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

impl VnetHdr {
    /// An ordinary frame: no offloads, `hdr_len` bytes copied.
    #[inline]
    pub fn plain(hdr_len: u16) -> VnetHdr {
        VnetHdr {
            hdr_len,
            ..VnetHdr::default()
        }
    }

    /// A TSO super-frame checked as `t`, cut into `mss`-byte segments, its TCP checksum
    /// left to the device, `hdr_len` bytes copied. `cwr`: the TCP header has CWR set. A
    /// frame of one segment goes without GSO (the kernel would treat it so anyway) but
    /// still with the checksum left to the device.
    #[inline]
    pub fn tso(t: &TsoFrame, mss: u16, hdr_len: u16, cwr: bool) -> VnetHdr {
        let (gso_type, gso_size) = if t.segments > 1 {
            let ecn = if cwr { VIRTIO_NET_HDR_GSO_ECN } else { 0 };
            (VIRTIO_NET_HDR_GSO_TCPV4 | ecn, mss)
        } else {
            (VIRTIO_NET_HDR_GSO_NONE, 0)
        };
        VnetHdr {
            flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
            gso_type,
            hdr_len,
            gso_size,
            // Offsets in a frame of at most tso::MAX_FRAME (< 64 KiB) bytes.
            csum_start: t.tcp_at as u16,
            // Since Linux 6.11 a TCP GSO frame whose csum_offset is not the TCP checksum's
            // is refused (virtio_net_hdr_to_skb).
            csum_offset: TCP_CSUM_OFFSET as u16,
        }
    }

    /// The 10 bytes as the kernel reads them.
    #[inline]
    pub fn to_bytes(self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
        b
    }
}

/// Whether the super-frame `frame`, checked as `t`, has CWR set.
#[inline]
pub(crate) fn has_cwr(frame: &[u8], t: &TsoFrame) -> bool {
    frame
        .get(t.tcp_at + TCP_FLAGS_OFF)
        .is_some_and(|f| f & TCP_CWR != 0)
}

/// What a received header's flags byte says about its frame.
#[inline]
pub(crate) fn rx_flags(vnet_flags: u8) -> RxFlags {
    let mut f = RxFlags::empty();
    if vnet_flags & VIRTIO_NET_HDR_F_NEEDS_CSUM != 0 {
        f |= RxFlags::CSUM_PARTIAL;
    }
    if vnet_flags & VIRTIO_NET_HDR_F_DATA_VALID != 0 {
        f |= RxFlags::CSUM_VALID;
    }
    f
}
