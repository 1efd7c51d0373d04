//! TCP segmentation offload (TSO) frames: the checks every backend applies before it takes a
//! super-frame (see [`crate::TxQueue::commit_tso`]), and the segmentation a device does, in
//! software, for ports that model the wire themselves (`pipe`, the `impair` wrapper).
//!
//! [`segment`] cuts a super-frame as Linux's `tcp_gso_segment` and a TSO NIC do: every
//! segment carries a copy of the headers with the sequence number advanced by its payload
//! offset, its own IPv4 total length, identification and header checksum, and a full TCP
//! checksum (RFC 9293 3.1, over the RFC 791 pseudo-header); FIN and PSH stay on the last
//! segment only and CWR on the first only (RFC 3168 6.1.2: CWR is set once per window
//! reduction). The TCP checksum is computed afresh from the bytes, so the pseudo-header sum
//! the caller left in the checksum field is not trusted.

use crate::csum::{fold, sum};
use std::fmt;

/// Ethernet II header length (untagged).
pub const ETH_LEN: usize = 14;
/// Offset of the TCP checksum in the TCP header.
pub const TCP_CSUM_OFFSET: usize = 16;
pub(crate) const ETHERTYPE_IPV4: u16 = 0x0800;
pub(crate) const PROTO_TCP: u8 = 6;

/// Where the parts of a checked super-frame start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TsoFrame {
    /// Offset of the TCP header (the L4 checksum starts here).
    pub tcp_at: usize,
    /// Offset of the TCP payload (all headers end here).
    pub payload_at: usize,
    /// TCP payload bytes.
    pub payload_len: usize,
    /// Segments the device will send (at least 1).
    pub segments: usize,
}

/// Why a frame cannot be sent with TSO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TsoError {
    /// Not untagged Ethernet II carrying IPv4 carrying TCP.
    NotTcpIpv4,
    /// Header lengths or the IPv4 total length disagree with the frame.
    BadLength,
    /// `mss` is 0, or the headers plus `mss` exceed the MTU.
    BadMss,
    /// The buffer given for one segment is shorter than the segment.
    BufferTooSmall,
}

impl fmt::Display for TsoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TsoError::NotTcpIpv4 => "TSO frame is not Ethernet/IPv4/TCP",
            TsoError::BadLength => "TSO frame's header lengths disagree with its length",
            TsoError::BadMss => "TSO segment size is 0 or its segments exceed the MTU",
            TsoError::BufferTooSmall => "TSO segment buffer is shorter than a segment",
        })
    }
}

impl std::error::Error for TsoError {}

/// Check that `frame` is a super-frame a device can cut into segments of `mss` payload
/// bytes on a link whose IP MTU is `mtu`: untagged Ethernet II, IPv4 whose total length is
/// the rest of the frame, TCP with a sane data offset, and IP + TCP headers + `mss` within
/// the MTU. Checksums are not looked at.
pub fn check(frame: &[u8], mss: u16, mtu: usize) -> Result<TsoFrame, TsoError> {
    if frame.len() < ETH_LEN + 20 + 20 {
        return Err(TsoError::BadLength);
    }
    if u16::from_be_bytes([frame[12], frame[13]]) != ETHERTYPE_IPV4 {
        return Err(TsoError::NotTcpIpv4);
    }
    let ip = &frame[ETH_LEN..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    if ip[0] >> 4 != 4 || ip[9] != PROTO_TCP {
        return Err(TsoError::NotTcpIpv4);
    }
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if ihl < 20 || total != ip.len() || ip.len() < ihl + 20 {
        return Err(TsoError::BadLength);
    }
    let tcp_at = ETH_LEN + ihl;
    let thl = usize::from(frame[tcp_at + 12] >> 4) * 4;
    if thl < 20 || frame.len() < tcp_at + thl {
        return Err(TsoError::BadLength);
    }
    if mss == 0 || ihl + thl + usize::from(mss) > mtu {
        return Err(TsoError::BadMss);
    }
    let payload_at = tcp_at + thl;
    let payload_len = frame.len() - payload_at;
    Ok(TsoFrame {
        tcp_at,
        payload_at,
        payload_len,
        segments: payload_len.div_ceil(usize::from(mss)).max(1),
    })
}

/// The largest super-frame: an Ethernet header and the largest IPv4 packet.
pub const MAX_FRAME: usize = ETH_LEN + 65_535;

const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_CWR: u8 = 0x80;

/// Bytes of segment `i` of a checked super-frame cut at `mss` (headers included).
#[inline]
pub fn segment_len(at: &TsoFrame, mss: u16, i: usize) -> usize {
    let payload = at
        .payload_len
        .saturating_sub(i.saturating_mul(usize::from(mss)));
    at.payload_at + payload.min(usize::from(mss))
}

/// Write segment `i` of `frame` (which [`check`] accepted as `at` with this `mss`) into the
/// front of `dst` and return its length. `None` when `dst` is shorter than
/// [`segment_len`], `i` is not below `at.segments`, or `at` does not describe `frame`.
pub fn write_segment(
    frame: &[u8],
    at: &TsoFrame,
    mss: u16,
    i: usize,
    dst: &mut [u8],
) -> Option<usize> {
    let ip = ETH_LEN;
    let tcp = at.tcp_at;
    if mss == 0
        || i >= at.segments
        || tcp < ip + 20
        || at.payload_at < tcp + 20
        || at.payload_at.checked_add(at.payload_len) != Some(frame.len())
    {
        return None;
    }
    let off = i * usize::from(mss);
    let len = segment_len(at, mss, i);
    let n = len - at.payload_at;
    let dst = dst.get_mut(..len)?;
    let src_payload = frame.get(at.payload_at + off..at.payload_at + off + n)?;
    dst[..at.payload_at].copy_from_slice(&frame[..at.payload_at]);
    dst[at.payload_at..].copy_from_slice(src_payload);

    // IPv4: total length, identification + i (as Linux GSO without FIXEDID), header
    // checksum (RFC 791 3.1).
    let total = (len - ip) as u16;
    dst[ip + 2..ip + 4].copy_from_slice(&total.to_be_bytes());
    let id = u16::from_be_bytes([frame[ip + 4], frame[ip + 5]]).wrapping_add(i as u16);
    dst[ip + 4..ip + 6].copy_from_slice(&id.to_be_bytes());
    dst[ip + 10..ip + 12].fill(0);
    let csum = !fold(sum(&dst[ip..tcp], 0));
    dst[ip + 10..ip + 12].copy_from_slice(&csum.to_be_bytes());

    // TCP: sequence number advanced by the payload offset (mod 2^32), flags, checksum.
    let seq = u32::from_be_bytes([
        frame[tcp + 4],
        frame[tcp + 5],
        frame[tcp + 6],
        frame[tcp + 7],
    ])
    .wrapping_add(off as u32);
    dst[tcp + 4..tcp + 8].copy_from_slice(&seq.to_be_bytes());
    let mut flags = frame[tcp + 13];
    if i + 1 < at.segments {
        flags &= !(TCP_FIN | TCP_PSH);
    }
    if i > 0 {
        flags &= !TCP_CWR;
    }
    dst[tcp + 13] = flags;
    dst[tcp + TCP_CSUM_OFFSET..tcp + TCP_CSUM_OFFSET + 2].fill(0);
    // Pseudo-header (RFC 9293 3.1): source, destination, zero + protocol, TCP length.
    let tcp_len = (len - tcp) as u64;
    let acc = sum(&dst[ip + 12..ip + 20], u64::from(PROTO_TCP) + tcp_len);
    let csum = !fold(sum(&dst[tcp..], acc));
    dst[tcp + TCP_CSUM_OFFSET..tcp + TCP_CSUM_OFFSET + 2].copy_from_slice(&csum.to_be_bytes());
    Some(len)
}

/// Cut the super-frame `frame` into wire frames of at most `mss` payload bytes on a link
/// whose IP MTU is `mtu`, as a TSO device does (see the module docs), building each in
/// `scratch` and handing it to `out`. Stops early when `out` returns `false`; returns how
/// many segments `out` accepted. Nothing is allocated: `scratch` needs `ETH_LEN + mtu`
/// bytes at most (the first segment's length).
pub fn segment(
    frame: &[u8],
    mss: u16,
    mtu: usize,
    scratch: &mut [u8],
    mut out: impl FnMut(&[u8]) -> bool,
) -> Result<usize, TsoError> {
    let at = check(frame, mss, mtu)?;
    if scratch.len() < segment_len(&at, mss, 0) {
        return Err(TsoError::BufferTooSmall);
    }
    for i in 0..at.segments {
        let len = write_segment(frame, &at, mss, i, scratch).ok_or(TsoError::BufferTooSmall)?;
        if !out(&scratch[..len]) {
            return Ok(i);
        }
    }
    Ok(at.segments)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Plain RFC 1071: 16-bit big-endian words summed in a u32, carries folded at the end.
    fn rfc1071(data: &[u8]) -> u16 {
        let mut s: u32 = 0;
        let mut i = 0;
        while i + 1 < data.len() {
            s += u32::from(data[i]) << 8 | u32::from(data[i + 1]);
            i += 2;
        }
        if i < data.len() {
            s += u32::from(data[i]) << 8;
        }
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    fn ipv4_ok(frame: &[u8]) -> bool {
        let ihl = usize::from(frame[ETH_LEN] & 0xf) * 4;
        rfc1071(&frame[ETH_LEN..ETH_LEN + ihl]) == 0xffff
    }

    fn tcp_ok(frame: &[u8]) -> bool {
        let ihl = usize::from(frame[ETH_LEN] & 0xf) * 4;
        let tcp = &frame[ETH_LEN + ihl..];
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&frame[ETH_LEN + 12..ETH_LEN + 20]);
        pseudo.extend_from_slice(&[0, PROTO_TCP]);
        pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
        pseudo.extend_from_slice(tcp);
        rfc1071(&pseudo) == 0xffff
    }

    /// A super-frame as the contract wants it: IPv4 with a valid header checksum, TCP with
    /// the folded, uncomplemented pseudo-header sum in its checksum field. `opts` are TCP
    /// option bytes (a multiple of 4).
    pub(crate) fn super_frame(
        payload_len: usize,
        flags: u8,
        seq: u32,
        id: u16,
        opts: &[u8],
    ) -> Vec<u8> {
        let thl = 20 + opts.len();
        let total = 20 + thl + payload_len;
        let mut f = vec![0u8; ETH_LEN + total];
        f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 0xb]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 0xa]);
        f[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        let ip = &mut f[ETH_LEN..];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&id.to_be_bytes());
        ip[6] = 0x40; // DF
        ip[8] = 64;
        ip[9] = PROTO_TCP;
        ip[12..16].copy_from_slice(&[10, 0, 0, 1]);
        ip[16..20].copy_from_slice(&[10, 0, 0, 2]);
        let c = !rfc1071(&ip[..20]);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let tcp = &mut ip[20..];
        tcp[0..2].copy_from_slice(&80u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&40000u16.to_be_bytes());
        tcp[4..8].copy_from_slice(&seq.to_be_bytes());
        tcp[8..12].copy_from_slice(&0x1234_5678u32.to_be_bytes());
        tcp[12] = ((thl / 4) as u8) << 4;
        tcp[13] = flags;
        tcp[14..16].copy_from_slice(&65535u16.to_be_bytes());
        tcp[20..thl].copy_from_slice(opts);
        for (k, b) in tcp[thl..].iter_mut().enumerate() {
            *b = (k * 7 + k / 251) as u8;
        }
        let mut pseudo = [0u8; 12];
        pseudo[..8].copy_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        pseudo[9] = PROTO_TCP;
        pseudo[10..].copy_from_slice(&((thl + payload_len) as u16).to_be_bytes());
        let partial = rfc1071(&pseudo);
        tcp[16..18].copy_from_slice(&partial.to_be_bytes());
        f
    }

    fn cut(frame: &[u8], mss: u16, mtu: usize) -> Vec<Vec<u8>> {
        let mut scratch = vec![0u8; ETH_LEN + mtu];
        let mut segs = Vec::new();
        let n = segment(frame, mss, mtu, &mut scratch, |s| {
            segs.push(s.to_vec());
            true
        })
        .unwrap();
        assert_eq!(n, segs.len());
        segs
    }

    fn field16(f: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([f[at], f[at + 1]])
    }

    fn field32(f: &[u8], at: usize) -> u32 {
        u32::from_be_bytes([f[at], f[at + 1], f[at + 2], f[at + 3]])
    }

    /// Every property the contract promises of the segments of `frame`.
    fn assert_segments_right(frame: &[u8], segs: &[Vec<u8>], mss: usize) {
        let at = check(frame, mss as u16, usize::MAX).unwrap();
        let (tcp, hdrs) = (at.tcp_at, at.payload_at);
        assert_eq!(segs.len(), at.payload_len.div_ceil(mss).max(1));
        let flags = frame[tcp + 13];
        let mut payload = Vec::new();
        for (i, s) in segs.iter().enumerate() {
            let last = i + 1 == segs.len();
            let n = if last { at.payload_len - i * mss } else { mss };
            assert_eq!(s.len(), hdrs + n, "segment {i} length");
            assert_eq!(usize::from(field16(s, ETH_LEN + 2)), s.len() - ETH_LEN);
            assert_eq!(
                field16(s, ETH_LEN + 4),
                field16(frame, ETH_LEN + 4).wrapping_add(i as u16)
            );
            assert_eq!(
                field32(s, tcp + 4),
                field32(frame, tcp + 4).wrapping_add((i * mss) as u32)
            );
            let mut want = flags;
            if !last {
                want &= !(TCP_FIN | TCP_PSH);
            }
            if i > 0 {
                want &= !TCP_CWR;
            }
            assert_eq!(s[tcp + 13], want, "segment {i} flags");
            assert!(ipv4_ok(s), "segment {i} IPv4 checksum");
            assert!(tcp_ok(s), "segment {i} TCP checksum");
            // Everything else in the headers is the super-frame's.
            assert_eq!(s[..ETH_LEN + 2], frame[..ETH_LEN + 2]);
            assert_eq!(
                s[ETH_LEN + 6..ETH_LEN + 10],
                frame[ETH_LEN + 6..ETH_LEN + 10]
            );
            assert_eq!(s[ETH_LEN + 12..tcp + 4], frame[ETH_LEN + 12..tcp + 4]);
            assert_eq!(s[tcp + 8..tcp + 13], frame[tcp + 8..tcp + 13]);
            assert_eq!(s[tcp + 14..tcp + 16], frame[tcp + 14..tcp + 16]);
            assert_eq!(s[tcp + 18..hdrs], frame[tcp + 18..hdrs]);
            payload.extend_from_slice(&s[hdrs..]);
        }
        assert_eq!(payload, frame[hdrs..]);
    }

    #[test]
    fn wide_sum_matches_plain_rfc1071() {
        let data: Vec<u8> = (0..1001u32).map(|i| (i * 131 + 7) as u8).collect();
        for len in [0, 1, 2, 7, 8, 9, 15, 16, 17, 1000, 1001] {
            assert_eq!(
                fold(sum(&data[..len], 0)),
                rfc1071(&data[..len]),
                "len {len}"
            );
        }
        let ones = [0xffu8; 64];
        assert_eq!(fold(sum(&ones, 0)), 0xffff);
        assert_eq!(fold(sum(&[], 0)), 0);
    }

    #[test]
    fn rfc1071_example_sums_to_ddf2() {
        // RFC 1071 3: the example bytes sum to 0xddf2.
        let b = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&b, 0)), 0xddf2);
    }

    #[test]
    fn super_frame_cut_at_1448_gives_mss_segments_with_valid_checksums() {
        // 10,000 bytes with a 12-byte timestamp option: 6 full segments and 1,312 bytes.
        let ts = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];
        let flags = TCP_CWR | 0x10 | TCP_PSH | TCP_FIN;
        let f = super_frame(10_000, flags, 0xffff_f000, 0xfffe, &ts);
        let segs = cut(&f, 1448, 1500);
        assert_eq!(segs.len(), 7);
        assert_eq!(
            segs.iter().map(Vec::len).collect::<Vec<_>>()[..2],
            [66 + 1448; 2]
        );
        assert_eq!(segs[6].len(), 66 + 10_000 - 6 * 1448);
        assert!(segs.iter().all(|s| s.len() <= ETH_LEN + 1500));
        // Sequence numbers and identifications wrap.
        assert_eq!(
            field32(&segs[3], 34 + 4),
            0xffff_f000u32.wrapping_add(3 * 1448)
        );
        assert_eq!(field16(&segs[2], ETH_LEN + 4), 0);
        assert_eq!(segs[0][34 + 13], TCP_CWR | 0x10);
        assert_eq!(segs[1][34 + 13], 0x10);
        assert_eq!(segs[6][34 + 13], 0x10 | TCP_PSH | TCP_FIN);
        assert_segments_right(&f, &segs, 1448);
    }

    #[test]
    fn payload_within_mss_gives_one_segment_with_a_full_checksum() {
        let f = super_frame(1000, 0x18, 7, 9, &[]);
        assert!(
            !tcp_ok(&f),
            "the super-frame carries only the pseudo-header sum"
        );
        let segs = cut(&f, 1448, 1500);
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].len(), f.len());
        assert!(tcp_ok(&segs[0]) && ipv4_ok(&segs[0]));
        assert_eq!(segs[0][34 + 13], 0x18, "PSH kept on the only segment");
        assert_eq!(segs[0][54..], f[54..]);

        let ack = super_frame(0, 0x10, 7, 9, &[]);
        let segs = cut(&ack, 1448, 1500);
        assert_eq!(segs.len(), 1);
        assert!(tcp_ok(&segs[0]));
    }

    #[test]
    fn out_refusing_stops_the_cut_and_is_reported() {
        let f = super_frame(5000, 0x10, 1, 1, &[]);
        let mut scratch = [0u8; 1514];
        let mut seen = 0;
        let n = segment(&f, 1000, 1500, &mut scratch, |_| {
            seen += 1;
            seen < 3
        });
        assert_eq!((n, seen), (Ok(2), 3));
    }

    #[test]
    fn bad_frames_and_short_buffers_are_refused() {
        let f = super_frame(5000, 0x10, 1, 1, &[]);
        let mut small = [0u8; 1000];
        assert_eq!(
            segment(&f, 1460, 1500, &mut small, |_| true),
            Err(TsoError::BufferTooSmall)
        );
        let mut scratch = [0u8; 1514];
        assert_eq!(
            segment(&f, 1461, 1500, &mut scratch, |_| true),
            Err(TsoError::BadMss)
        );
        assert_eq!(
            segment(&f, 0, 1500, &mut scratch, |_| true),
            Err(TsoError::BadMss)
        );
        assert_eq!(
            segment(&f[..f.len() - 1], 1460, 1500, &mut scratch, |_| true),
            Err(TsoError::BadLength)
        );
        let mut udp = f.clone();
        udp[ETH_LEN + 9] = 17;
        assert_eq!(
            segment(&udp, 1460, 1500, &mut scratch, |_| true),
            Err(TsoError::NotTcpIpv4)
        );
        // A TsoFrame that does not describe the frame is refused, not indexed past its end.
        let at = check(&f, 1460, 1500).unwrap();
        assert_eq!(write_segment(&f[..100], &at, 1460, 0, &mut scratch), None);
        assert_eq!(
            write_segment(&f, &at, 1460, at.segments, &mut scratch),
            None
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_payload_and_mss_cut_right(
            payload in 1usize..=65_000,
            mss in prop_oneof![1u16..64, 64u16..=8960],
            flags in any::<u8>(),
            seq in any::<u32>(),
            id in any::<u16>(),
        ) {
            // Only TCP flags a data segment may carry; SYN and RST super-frames are not sent.
            let flags = flags & !0x06;
            let f = super_frame(payload, flags, seq, id, &[]);
            let segs = cut(&f, mss, 9000);
            assert_segments_right(&f, &segs, usize::from(mss));
        }
    }
}
