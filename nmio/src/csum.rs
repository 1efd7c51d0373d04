//! Transport checksums left to the device, as Linux's `CHECKSUM_PARTIAL` has them: the L4
//! checksum field holds the IPv4 pseudo-header sum (RFC 9293 3.1, RFC 768), folded and not
//! complemented, and whoever finishes the frame (a NIC, the kernel's software fallback, or
//! [`finish_l4`] here) sums from the L4 header to the end of the IPv4 packet and stores the
//! complement. Backends use this to send frames with the checksum left to the device
//! ([`Capabilities::tx_csum_offload`](crate::Capabilities::tx_csum_offload)), and the
//! impairment wrapper to finish a received partial frame before it corrupts it, as a wire
//! only ever corrupts finished frames.

use crate::tso::{ETHERTYPE_IPV4, ETH_LEN, PROTO_TCP, TCP_CSUM_OFFSET};

const PROTO_UDP: u8 = 17;
/// Offset of the checksum field in the UDP header.
const UDP_CSUM_OFFSET: usize = 6;

/// Where a frame's L4 checksum starts and where its field is, relative to that start: the
/// `csum_start` and `csum_offset` of a `virtio_net_hdr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L4Csum {
    /// Offset of the L4 header in the frame.
    pub start: u16,
    /// Offset of the checksum field in the L4 header (16 for TCP, 6 for UDP).
    pub offset: u16,
}

/// The TCP or UDP packet in `frame` whose checksum a device could fill in: untagged
/// Ethernet II, IPv4 with a sane header length, not a fragment, the IPv4 total length
/// within the frame and long enough for the L4 header, and for UDP a checksum in use (a
/// zero field means the sender computed none, RFC 768). `None` for anything else.
fn l4_of(frame: &[u8]) -> Option<(L4Csum, usize)> {
    let ip = frame.get(ETH_LEN..)?;
    if frame[12..14] != ETHERTYPE_IPV4.to_be_bytes() || ip.len() < 20 || ip[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(ip[0] & 0xf) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    // More fragments, or a fragment offset: the checksum covers the whole datagram.
    let frag = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff;
    if ihl < 20 || total < ihl || total > ip.len() || frag != 0 {
        return None;
    }
    let (offset, min) = match ip[9] {
        PROTO_TCP => (TCP_CSUM_OFFSET, 20),
        PROTO_UDP => (UDP_CSUM_OFFSET, 8),
        _ => return None,
    };
    let l4_len = total - ihl;
    let start = ETH_LEN + ihl;
    if l4_len < min {
        return None;
    }
    if ip[9] == PROTO_UDP && frame[start + offset..start + offset + 2] == [0, 0] {
        return None;
    }
    Some((
        L4Csum {
            start: start as u16,
            offset: offset as u16,
        },
        l4_len,
    ))
}

/// The pseudo-header sum of the IPv4 packet in `frame` (at [`ETH_LEN`]), unfolded.
fn pseudo(frame: &[u8], l4_len: usize) -> u64 {
    let ip = &frame[ETH_LEN..];
    sum(&ip[12..20], u64::from(ip[9]) + l4_len as u64)
}

/// Leave the TCP or UDP checksum of the IPv4 packet in `frame` to the device: store the
/// pseudo-header sum in its field and say where the checksum starts. Whatever the field
/// held is overwritten. `None`, with `frame` untouched, for anything else: a tagged or
/// non-IPv4 frame, a fragment, lengths that disagree with the frame, another protocol, or
/// UDP without a checksum.
#[inline]
pub fn offload_l4(frame: &mut [u8]) -> Option<L4Csum> {
    let (at, l4_len) = l4_of(frame)?;
    let field = usize::from(at.start) + usize::from(at.offset);
    let p = fold(pseudo(frame, l4_len));
    frame[field..field + 2].copy_from_slice(&p.to_be_bytes());
    Some(at)
}

/// Finish a frame whose L4 checksum was left to the device ([`offload_l4`], or a kernel
/// peer's `CHECKSUM_PARTIAL` frame): sum from the L4 header to the end of the IPv4 packet,
/// the pseudo-header sum in the field included, and store the complement (a zero result
/// stored as `0xFFFF`, as Linux's software fallback does). Returns `false`, with `frame`
/// untouched, when it is not a packet [`offload_l4`] takes.
pub fn finish_l4(frame: &mut [u8]) -> bool {
    let Some((at, l4_len)) = l4_of(frame) else {
        return false;
    };
    let start = usize::from(at.start);
    let field = start + usize::from(at.offset);
    let c = match !fold(sum(&frame[start..start + l4_len], 0)) {
        0 => 0xffff,
        c => c,
    };
    frame[field..field + 2].copy_from_slice(&c.to_be_bytes());
    true
}

/// Add `data` to the ones-complement sum `acc` (RFC 1071), unfolded. An odd last byte is
/// the high byte of a zero-padded word, so `data` must start on an even offset of the
/// checksummed range.
#[inline]
pub(crate) fn sum(data: &[u8], mut acc: u64) -> u64 {
    // 64-bit words with end-around carry: 2^16 = 1 (mod 2^16 - 1), so the wide sum folds to
    // the same 16-bit ones-complement sum (RFC 1071 2(B), "parallel summation").
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let v = u64::from_be_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        let (s, carry) = acc.overflowing_add(v);
        acc = s + u64::from(carry);
    }
    let mut pairs = words.remainder().chunks_exact(2);
    for p in &mut pairs {
        let (s, carry) = acc.overflowing_add(u64::from(u16::from_be_bytes([p[0], p[1]])));
        acc = s + u64::from(carry);
    }
    if let [last] = pairs.remainder() {
        let (s, carry) = acc.overflowing_add(u64::from(*last) << 8);
        acc = s + u64::from(carry);
    }
    acc
}

/// Fold an unfolded ones-complement sum to 16 bits.
#[inline]
pub(crate) fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An Ethernet/IPv4 frame carrying `proto` with an L4 header of `l4_hdr` bytes and
    /// `payload` bytes after it, the L4 checksum computed in full, and `pad` bytes of
    /// Ethernet padding past the IPv4 packet.
    pub(crate) fn frame(proto: u8, l4_hdr: usize, payload: usize, pad: usize) -> Vec<u8> {
        let total = 20 + l4_hdr + payload;
        let mut f = vec![0u8; ETH_LEN + total + pad];
        f[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        let ip = &mut f[ETH_LEN..];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        ip[6] = 0x40; // DF
        ip[8] = 64;
        ip[9] = proto;
        ip[12..20].copy_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        for (i, b) in ip[20..total].iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(31).wrapping_add(7);
        }
        for b in &mut ip[total..] {
            *b = 0xee;
        }
        let field = 20 + if proto == PROTO_UDP { 6 } else { 16 };
        ip[field..field + 2].copy_from_slice(&[0, 0]);
        let acc = sum(&ip[12..20], u64::from(proto) + (l4_hdr + payload) as u64);
        let c = match !fold(sum(&ip[20..total], acc)) {
            0 => 0xffff,
            c => c,
        };
        ip[field..field + 2].copy_from_slice(&c.to_be_bytes());
        f
    }

    /// Whether the L4 checksum of `f` (`l4_len` bytes at 34) verifies.
    pub(crate) fn verifies(f: &[u8], proto: u8, l4_len: usize) -> bool {
        let acc = sum(&f[26..34], u64::from(proto) + l4_len as u64);
        fold(sum(&f[34..34 + l4_len], acc)) == 0xffff
    }

    #[test]
    fn offloaded_then_finished_gives_the_full_checksum_back() {
        for (proto, hdr) in [(PROTO_TCP, 20), (PROTO_TCP, 32), (PROTO_UDP, 8)] {
            for payload in [0, 1, 2, 7, 40, 1023, 1024, 1400] {
                for pad in [0, 6] {
                    let full = frame(proto, hdr, payload, pad);
                    assert!(verifies(&full, proto, hdr + payload));
                    let mut f = full.clone();
                    let at = offload_l4(&mut f).unwrap();
                    let want_off = if proto == PROTO_TCP { 16 } else { 6 };
                    assert_eq!(
                        at,
                        L4Csum {
                            start: 34,
                            offset: want_off
                        }
                    );
                    let field = 34 + usize::from(want_off);
                    // The field holds the folded pseudo-header sum, nothing else moved.
                    let p = fold(sum(&f[26..34], u64::from(proto) + (hdr + payload) as u64));
                    assert_eq!(f[field..field + 2], p.to_be_bytes());
                    assert_eq!(f[..field], full[..field]);
                    assert_eq!(f[field + 2..], full[field + 2..]);
                    assert!(finish_l4(&mut f));
                    assert_eq!(f, full, "{proto} {hdr}+{payload} pad {pad}");
                }
            }
        }
    }

    #[test]
    fn a_corruption_after_finishing_is_caught() {
        let mut f = frame(PROTO_TCP, 20, 100, 0);
        offload_l4(&mut f).unwrap();
        // Unfinished, the stored field does not verify: a receiver must not check it.
        assert!(!verifies(&f, PROTO_TCP, 120));
        assert!(finish_l4(&mut f));
        f[80] ^= 0x10;
        assert!(!verifies(&f, PROTO_TCP, 120));
    }

    #[test]
    fn frames_a_device_cannot_finish_are_left_alone() {
        let check = |f: Vec<u8>, why: &str| {
            let mut g = f.clone();
            assert_eq!(offload_l4(&mut g), None, "{why}");
            assert!(!finish_l4(&mut g), "{why}");
            assert_eq!(g, f, "{why}");
        };
        let base = frame(PROTO_TCP, 20, 50, 0);
        let with = |i: usize, v: u8| {
            let mut f = base.clone();
            f[i] = v;
            f
        };
        check(with(12, 0x86), "not IPv4 (ethertype)");
        check(with(14, 0x65), "IP version 6 in an IPv4 frame");
        check(with(14, 0x44), "header length under 20");
        let mut long_ihl = frame(PROTO_TCP, 20, 0, 0);
        long_ihl[14] = 0x4f;
        check(long_ihl, "IPv4 header longer than the packet");
        check(with(23, 1), "ICMP");
        check(with(20, 0x20), "more fragments");
        check(with(21, 0x01), "a fragment offset");
        check(with(16, 0xff), "total length past the frame");
        check(base[..40].to_vec(), "cut short");
        check(base[..20].to_vec(), "no room for the IPv4 header");
        check(vec![0; 10], "shorter than Ethernet");
        let mut tiny = frame(PROTO_TCP, 20, 0, 0);
        tiny[16..18].copy_from_slice(&30u16.to_be_bytes());
        check(tiny, "TCP header cut by the total length");
        let mut no_csum = frame(PROTO_UDP, 8, 10, 0);
        no_csum[40..42].copy_from_slice(&[0, 0]);
        check(no_csum, "UDP without a checksum");
    }

    #[test]
    fn the_sum_matches_rfc_1071() {
        // RFC 1071 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        let b = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&b, 0)), 0xddf2);
        assert_eq!(
            fold(sum(&b[..7], 0)),
            fold(sum(&[0, 1, 0xf2, 3, 0xf4, 0xf5, 0xf6, 0], 0))
        );
        assert_eq!(fold(sum(&[], 0)), 0);
    }
}
