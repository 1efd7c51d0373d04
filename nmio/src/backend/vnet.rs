//! `struct virtio_net_hdr` (include/uapi/linux/virtio_net.h), the offload header the
//! kernel reads in front of each frame from a `PACKET_VNET_HDR` packet socket or an
//! `IFF_VNET_HDR` TAP: flags (u8), gso_type (u8), then hdr_len, gso_size, csum_start,
//! csum_offset (u16 each, in the host's byte order: legacy virtio, `vio_le()` native).

use crate::port::RxFlags;
use crate::tso::{self, TsoFrame, TCP_CSUM_OFFSET};

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

    /// An ordinary frame whose L4 checksum is left to the device (the field holds the
    /// pseudo-header sum, [`crate::csum::offload_l4`]), `hdr_len` bytes copied.
    #[inline]
    pub fn partial(hdr_len: u16, at: crate::csum::L4Csum) -> VnetHdr {
        VnetHdr {
            flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
            hdr_len,
            csum_start: at.start,
            csum_offset: at.offset,
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

    /// The header as the kernel wrote it in front of a received frame.
    #[inline]
    pub fn from_bytes(b: &[u8; VNET_HDR_LEN]) -> VnetHdr {
        let u = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u(2),
            gso_size: u(4),
            csum_start: u(6),
            csum_offset: u(8),
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

/// What became of a received frame in [`cut_rx`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RxCut {
    /// No GSO: the frame goes up as it is.
    Plain,
    /// A TCP/IPv4 super-frame of `segments` segments, of which those before `next` have
    /// been handed up (all of them when `next == segments`).
    Cut { next: usize, segments: usize },
    /// A GSO type other than TCP over IPv4, or a frame [`tso::check`] refuses: a drop.
    Bad,
}

/// Cut a received GSO super-frame as a NIC would have put it on the wire: for a
/// `GSO_TCPV4` header (with or without `GSO_ECN`), segments of `gso_size` payload bytes
/// ([`tso::write_segment`]: IPv4 length, id and header checksum, sequence number, flags
/// and a full TCP checksum each) on a link whose IP MTU is `mtu`, built one at a time in
/// `scratch` and handed to `out` (which may change it: the next is built afresh). Starts
/// at segment `from` and hands up at most `budget` segments, so a caller bound by a burst
/// limit can come back for the rest. The TCP
/// checksum field of a `NEEDS_CSUM` super-frame holds only the pseudo-header sum; it is
/// not read (every segment's checksum is summed afresh).
pub(crate) fn cut_rx(
    hdr: &VnetHdr,
    frame: &[u8],
    mtu: usize,
    scratch: &mut [u8],
    from: usize,
    budget: usize,
    mut out: impl FnMut(&mut [u8]),
) -> RxCut {
    if hdr.gso_type == VIRTIO_NET_HDR_GSO_NONE {
        return RxCut::Plain;
    }
    if hdr.gso_type & !VIRTIO_NET_HDR_GSO_ECN != VIRTIO_NET_HDR_GSO_TCPV4 {
        return RxCut::Bad;
    }
    let Ok(at) = tso::check(frame, hdr.gso_size, mtu) else {
        return RxCut::Bad;
    };
    if scratch.len() < tso::segment_len(&at, hdr.gso_size, 0) {
        return RxCut::Bad;
    }
    let end = at.segments.min(from.saturating_add(budget));
    let mut next = from.min(end);
    while next < end {
        let Some(len) = tso::write_segment(frame, &at, hdr.gso_size, next, scratch) else {
            return RxCut::Bad;
        };
        out(&mut scratch[..len]);
        next += 1;
    }
    RxCut::Cut {
        next,
        segments: at.segments,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tso::tests::super_frame;
    use crate::tso::ETH_LEN;

    /// RFC 1071 over `data`, independent of the crate's summing.
    fn ones_sum(data: &[u8]) -> u16 {
        let mut s: u32 = data
            .chunks(2)
            .map(|c| u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0)))
            .sum();
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    fn checksums_ok(seg: &[u8]) -> bool {
        let tcp = &seg[ETH_LEN + 20..];
        let mut pseudo = seg[ETH_LEN + 12..ETH_LEN + 20].to_vec();
        pseudo.extend_from_slice(&[0, 6]);
        pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
        pseudo.extend_from_slice(tcp);
        ones_sum(&seg[ETH_LEN..ETH_LEN + 20]) == 0xffff && ones_sum(&pseudo) == 0xffff
    }

    /// The header `tpacket_rcv` writes for a TCPv4 GSO skb with `CHECKSUM_PARTIAL`.
    fn gso_hdr(gso_type: u8, mss: u16) -> VnetHdr {
        VnetHdr {
            flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
            gso_type,
            hdr_len: 66,
            gso_size: mss,
            csum_start: 34,
            csum_offset: 16,
        }
    }

    fn cut_all(hdr: &VnetHdr, f: &[u8], budget: usize) -> (Vec<Vec<u8>>, Vec<RxCut>) {
        let mut scratch = vec![0u8; 1514];
        let (mut segs, mut cuts, mut from) = (Vec::new(), Vec::new(), 0);
        loop {
            let c = cut_rx(hdr, f, 1500, &mut scratch, from, budget, |s| {
                segs.push(s.to_vec());
                s.fill(0xee);
            });
            cuts.push(c);
            match c {
                RxCut::Cut { next, segments } if next < segments => from = next,
                _ => return (segs, cuts),
            }
        }
    }

    #[test]
    fn header_bytes_read_back_as_written() {
        let h = gso_hdr(VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN, 1448);
        assert_eq!(VnetHdr::from_bytes(&h.to_bytes()), h);
    }

    #[test]
    fn a_received_tcpv4_super_frame_is_cut_into_checksummed_mss_segments() {
        // 20,000 bytes with CWR, PSH and FIN: 14 segments, 1,448 bytes but the last.
        let flags = 0x80 | 0x10 | 0x08 | 0x01;
        let f = super_frame(20_000, flags, 0xffff_ff00, 7, &[]);
        let hdr = gso_hdr(VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN, 1448);
        let (segs, cuts) = cut_all(&hdr, &f, usize::MAX);
        assert_eq!(
            cuts,
            [RxCut::Cut {
                next: 14,
                segments: 14
            }]
        );
        assert_eq!(segs.len(), 20_000usize.div_ceil(1448));
        let mut payload = Vec::new();
        for (i, s) in segs.iter().enumerate() {
            let last = i + 1 == segs.len();
            assert!(s.len() <= ETH_LEN + 1500);
            assert!(checksums_ok(s), "segment {i} checksums");
            let seq = u32::from_be_bytes(s[38..42].try_into().unwrap());
            assert_eq!(seq, 0xffff_ff00u32.wrapping_add(payload.len() as u32));
            let want = match (i, last) {
                (0, _) => 0x80 | 0x10,
                (_, true) => 0x10 | 0x08 | 0x01,
                _ => 0x10,
            };
            assert_eq!(s[47], want, "segment {i} flags");
            payload.extend_from_slice(&s[54..]);
        }
        assert!(payload == f[54..]);
    }

    #[test]
    fn a_burst_limit_resumes_the_cut_where_it_stopped() {
        let f = super_frame(10_000, 0x18, 1, 1, &[12; 12]);
        let hdr = gso_hdr(VIRTIO_NET_HDR_GSO_TCPV4, 1000);
        let (whole, _) = cut_all(&hdr, &f, usize::MAX);
        let (parts, cuts) = cut_all(&hdr, &f, 3);
        assert_eq!(whole.len(), 10);
        assert_eq!(parts, whole, "same segments, none lost or repeated");
        let nexts: Vec<_> = cuts
            .iter()
            .map(|c| match c {
                RxCut::Cut { next, .. } => *next,
                _ => panic!("{c:?}"),
            })
            .collect();
        assert_eq!(nexts, [3, 6, 9, 10]);
    }

    #[test]
    fn frames_without_gso_go_up_as_they_are() {
        let f = super_frame(100, 0x18, 1, 1, &[]);
        let mut plain = gso_hdr(VIRTIO_NET_HDR_GSO_NONE, 0);
        let (segs, cuts) = cut_all(&plain, &f, 8);
        assert!(segs.is_empty());
        assert_eq!(cuts, [RxCut::Plain]);
        plain.flags = 0;
        assert_eq!(cut_all(&plain, &f, 8).1, [RxCut::Plain]);
    }

    #[test]
    fn other_gso_types_and_malformed_super_frames_are_refused() {
        let f = super_frame(5000, 0x10, 1, 1, &[]);
        // VIRTIO_NET_HDR_GSO_UDP, _TCPV6, _UDP_L4.
        for t in [3u8, 4, 5, 4 | VIRTIO_NET_HDR_GSO_ECN] {
            let (segs, cuts) = cut_all(&gso_hdr(t, 1448), &f, 8);
            assert!(segs.is_empty());
            assert_eq!(cuts, [RxCut::Bad], "gso_type {t}");
        }
        let tcp4 = |mss| gso_hdr(VIRTIO_NET_HDR_GSO_TCPV4, mss);
        // gso_size 0, or segments past the MTU.
        assert_eq!(cut_all(&tcp4(0), &f, 8).1, [RxCut::Bad]);
        assert_eq!(cut_all(&tcp4(1461), &f, 8).1, [RxCut::Bad]);
        // The IPv4 total length disagrees with the frame; not IPv4; a runt.
        assert_eq!(cut_all(&tcp4(1448), &f[..f.len() - 1], 8).1, [RxCut::Bad]);
        let mut arp = f.clone();
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert_eq!(cut_all(&tcp4(1448), &arp, 8).1, [RxCut::Bad]);
        assert_eq!(cut_all(&tcp4(1448), &f[..30], 8).1, [RxCut::Bad]);
        // A scratch buffer shorter than a segment.
        let mut small = [0u8; 100];
        let c = cut_rx(&tcp4(1448), &f, 1500, &mut small, 0, 8, |_| panic!());
        assert_eq!(c, RxCut::Bad);
    }
}
