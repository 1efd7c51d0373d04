//! The Internet checksum: full computation (RFC 1071), incremental update (RFC 1624) and
//! the IPv4 pseudo-header for TCP and UDP (RFC 9293 3.1, RFC 768).
//!
//! Values are 16-bit words in network byte order read as numbers: a `u16` returned here goes
//! on the wire with `to_be_bytes()`, and a field passed to the `update*` functions is the
//! big-endian reading of its bytes.
//!
//! Composition: [`sum`] accumulates bytes into a partial sum that can seed the next call
//! (through `initial`), and [`finish`] folds and complements it into the value to store:
//!
//! ```
//! use eth::checksum::{finish, pseudo_header_sum, sum};
//! let (src, dst) = ([192, 168, 0, 1], [192, 168, 0, 199]);
//! let udp = [0x04, 0x00, 0x00, 0x35, 0x00, 0x0c, 0x00, 0x00, b'a', b'b', b'c', b'd'];
//! let csum = finish(sum(&udp, pseudo_header_sum(src, dst, 17, 12)));
//! assert_eq!(csum, 0xb4c1);
//! ```

/// IP protocol number of TCP (RFC 9293 3.1), as used in the pseudo-header.
pub const PROTO_TCP: u8 = 6;
/// IP protocol number of UDP (RFC 768), as used in the pseudo-header.
pub const PROTO_UDP: u8 = 17;

/// One's complement sum of `data` seeded with `initial`, folded to 16 bits (the result is
/// at most `0xFFFF`, returned as `u32` so it can seed another call).
///
/// RFC 1071 2(A,C): the sum is independent of the word size it is computed in, so eight
/// bytes are added at a time into a 64-bit accumulator with end-around carry (2^64 and 2^16
/// are both congruent to 1 modulo 0xFFFF), then folded once at the end. An odd trailing byte
/// is the high byte of a word padded with zero on the right (RFC 1071 4.1).
///
/// Chaining `sum(b, sum(a, 0))` equals `sum(a ++ b, 0)` when `a` has even length; the
/// result is `0` only when every byte and `initial` are zero (end-around carry turns any
/// other zero into `0xFFFF`, RFC 1624 3).
#[inline]
pub fn sum(data: &[u8], initial: u32) -> u32 {
    let mut acc = u64::from(initial);
    // Two accumulators halve the add-with-carry dependency chain on long buffers.
    let mut acc2 = 0u64;
    let pairs = data.chunks_exact(16);
    let rest = pairs.remainder();
    for pair in pairs {
        let (a, b) = pair.split_at(8);
        let mut wa = [0u8; 8];
        let mut wb = [0u8; 8];
        wa.copy_from_slice(a);
        wb.copy_from_slice(b);
        acc = add_carry(acc, u64::from_be_bytes(wa));
        acc2 = add_carry(acc2, u64::from_be_bytes(wb));
    }
    acc = add_carry(acc, acc2);
    let chunks = rest.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        acc = add_carry(acc, u64::from_be_bytes(word));
    }
    // The tail (under 8 bytes) goes in as 4-, 2- and 1-byte pieces read big-endian (any
    // even width is congruent modulo 0xFFFF, RFC 1071 2(C)); a final odd byte is the high
    // byte of a word padded with zero on the right (RFC 1071 4.1). Fixed-size pieces avoid
    // a variable-length copy.
    let mut tail = 0u64;
    let mut rest = rest;
    if let [a, b, c, d, more @ ..] = rest {
        tail += u64::from(u32::from_be_bytes([*a, *b, *c, *d]));
        rest = more;
    }
    if let [a, b, more @ ..] = rest {
        tail += u64::from(u16::from_be_bytes([*a, *b]));
        rest = more;
    }
    if let [a] = rest {
        tail += u64::from(*a) << 8;
    }
    acc = add_carry(acc, tail);
    u32::from(fold64(acc))
}

/// Folds a partial sum and complements it: the value to store in a checksum field.
#[inline]
pub fn finish(partial: u32) -> u16 {
    !fold64(u64::from(partial))
}

/// The checksum of `data` (whose checksum field, if any, must be zero), ready to store.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum(data, 0))
}

/// True when `data`, including its stored checksum field, sums to `0xFFFF` (RFC 1071 1(3)).
#[inline]
pub fn verify(data: &[u8]) -> bool {
    sum(data, 0) == 0xFFFF
}

/// Adds with end-around carry: a carry out of bit 63 re-enters at bit 0.
#[inline(always)]
fn add_carry(acc: u64, word: u64) -> u64 {
    let (s, carry) = acc.overflowing_add(word);
    // When `carry` is set, `s <= u64::MAX - 1`, so this cannot overflow.
    s + u64::from(carry)
}

/// Folds a 64-bit one's complement sum to 16 bits with end-around carry.
#[inline(always)]
fn fold64(acc: u64) -> u16 {
    let acc = (acc & 0xFFFF_FFFF) + (acc >> 32); // < 2^33
    let acc = (acc & 0xFFFF_FFFF) + (acc >> 32); // < 2^32
    let acc = (acc & 0xFFFF) + (acc >> 16); // < 2^17
    let acc = (acc & 0xFFFF) + (acc >> 16); // < 2^16 + 1, and 0x10000 cannot recur
    acc as u16
}

/// The stored checksum after a 16-bit field changes from `old` to `new`.
///
/// RFC 1624 3, eqn. 3: `HC' = ~(~HC + ~m + m')`. Unlike eqn. 2 (`HC' = HC - ~m - m'`),
/// this never yields `0xFFFF` (-0) where a full recomputation yields `0x0000`: the sum in
/// parentheses is +0 only if all its terms are zero, which needs `HC = 0xFFFF`, and a
/// checksum over data with a nonzero word is never `0xFFFF` (RFC 1624 3). So the result
/// equals a full recomputation whenever the updated data has a nonzero word, which every
/// IPv4, TCP and UDP header (with its pseudo-header) has. Setting a field to its current
/// value returns `old_csum` unchanged, except that a (never valid) `0xFFFF` becomes
/// `0x0000`, the other zero.
///
/// The field must sit at an even offset of the checksummed data. For UDP, an old checksum
/// of 0 means "none" and must not be updated, and a new value of 0 must be sent as 0xFFFF
/// (RFC 768; see [`udp_checksum`]).
#[inline]
pub fn update16(old_csum: u16, old: u16, new: u16) -> u16 {
    let acc = u64::from(!old_csum) + u64::from(!old) + u64::from(new);
    !fold64(acc)
}

/// [`update16`] for a 32-bit field at an even offset (an IPv4 address, a TCP sequence
/// number): both of its 16-bit words go through RFC 1624 eqn. 3 at once.
#[inline]
pub fn update32(old_csum: u16, old: u32, new: u32) -> u16 {
    let old = !old;
    let acc = u64::from(!old_csum)
        + u64::from(old >> 16)
        + u64::from(old & 0xFFFF)
        + u64::from(new >> 16)
        + u64::from(new & 0xFFFF);
    !fold64(acc)
}

/// [`update16`] for a span of bytes at an even offset replaced by `new`, of the same
/// length: `HC' = ~(~HC + ~sum(old) + sum(new))` (RFC 1624 eqn. 3 with `m` the sum of the
/// span). An odd length works too (the byte after the span is unchanged, so its half of the
/// last word cancels out). Spans of unequal length are read as if the shorter one were
/// padded with zeros; that is not a meaningful update, but it does not panic.
#[inline]
pub fn update_bytes(old_csum: u16, old: &[u8], new: &[u8]) -> u16 {
    // `sum` of a non-empty span may be 0 (all-zero bytes); `!0` is then -0, the same value.
    let old_sum = sum(old, 0) as u16;
    let acc = u64::from(!old_csum) + u64::from(!old_sum) + u64::from(sum(new, 0));
    !fold64(acc)
}

/// One's complement sum of the IPv4 pseudo-header (RFC 9293 3.1, RFC 768): source and
/// destination addresses, a zero byte, the protocol and the TCP or UDP length (header plus
/// data). Pass it as the `initial` of [`sum`] over the segment.
#[inline]
pub fn pseudo_header_sum(src: [u8; 4], dst: [u8; 4], proto: u8, len: u16) -> u32 {
    let words = [
        u16::from_be_bytes([src[0], src[1]]),
        u16::from_be_bytes([src[2], src[3]]),
        u16::from_be_bytes([dst[0], dst[1]]),
        u16::from_be_bytes([dst[2], dst[3]]),
        u16::from(proto),
        len,
    ];
    let acc = words.iter().fold(0u64, |acc, &w| acc + u64::from(w));
    u32::from(fold64(acc))
}

/// The TCP or UDP checksum of `segment` (header plus data, checksum field zero) over IPv4,
/// pseudo-header included. The length in the pseudo-header is `segment.len()`; an IPv4
/// payload is always shorter than 65536 bytes, so a longer slice is a caller error (its
/// length is truncated to 16 bits, without panicking).
///
/// For UDP use [`udp_checksum`], which applies the RFC 768 rule for a computed zero.
#[inline]
pub fn l4_checksum(src: [u8; 4], dst: [u8; 4], proto: u8, segment: &[u8]) -> u16 {
    finish(l4_sum(src, dst, proto, segment))
}

/// True when a received TCP or UDP `segment` (with its checksum field) sums, with the
/// pseudo-header, to `0xFFFF`. A UDP checksum field of 0 means "not computed" (RFC 768);
/// the caller checks for it before calling this.
#[inline]
pub fn l4_verify(src: [u8; 4], dst: [u8; 4], proto: u8, segment: &[u8]) -> bool {
    l4_sum(src, dst, proto, segment) == 0xFFFF
}

#[inline]
fn l4_sum(src: [u8; 4], dst: [u8; 4], proto: u8, segment: &[u8]) -> u32 {
    // `as u16`: see `l4_checksum` on lengths beyond an IPv4 payload.
    sum(
        segment,
        pseudo_header_sum(src, dst, proto, segment.len() as u16),
    )
}

/// The UDP checksum of `segment` over IPv4 (checksum field zero), ready to store.
///
/// RFC 768: a transmitted checksum of 0 means the sender computed none, so a computed
/// 0x0000 is sent as 0xFFFF, the other representation of zero; the receiver's sum still
/// folds to 0xFFFF. The same rule applies after an incremental update of a UDP checksum.
#[inline]
pub fn udp_checksum(src: [u8; 4], dst: [u8; 4], segment: &[u8]) -> u16 {
    match l4_checksum(src, dst, PROTO_UDP, segment) {
        0 => 0xFFFF,
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Word-at-a-time reference, straight from RFC 1071 4.1.
    fn naive_sum(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        let mut i = 0;
        while i + 1 < data.len() {
            acc += u32::from(u16::from_be_bytes([data[i], data[i + 1]]));
            acc = (acc & 0xFFFF) + (acc >> 16);
            i += 2;
        }
        if i < data.len() {
            acc += u32::from(data[i]) << 8;
            acc = (acc & 0xFFFF) + (acc >> 16);
        }
        acc as u16
    }

    fn word(data: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([data[at], data[at + 1]])
    }

    /// RFC 1071 3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
    static RFC1071_EXAMPLE: [u8; 8] = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];

    /// IPv4/UDP header, 192.168.0.1 -> 192.168.0.199, checksum 0xb861 at offset 10.
    static IPV4_HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];
    const SRC: [u8; 4] = [192, 168, 0, 1];
    const DST: [u8; 4] = [192, 168, 0, 199];

    /// UDP 1024 -> 53, length 12, checksum 0xb4c1 (offset 6), payload "abcd".
    static UDP_SEGMENT: [u8; 12] = [
        0x04, 0x00, 0x00, 0x35, 0x00, 0x0c, 0xb4, 0xc1, b'a', b'b', b'c', b'd',
    ];

    #[test]
    fn rfc1071_example_sums_to_ddf2() {
        assert_eq!(sum(&RFC1071_EXAMPLE, 0), 0xddf2);
        assert_eq!(checksum(&RFC1071_EXAMPLE), !0xddf2);
        // RFC 1071 3: the same sum from byte-swapped words, swapped back (2(B)).
        let swapped: Vec<u8> = RFC1071_EXAMPLE
            .chunks(2)
            .flat_map(|w| [w[1], w[0]])
            .collect();
        assert_eq!((sum(&swapped, 0) as u16).swap_bytes(), 0xddf2);
    }

    #[test]
    fn ipv4_header_checksum_is_b861() {
        assert!(verify(&IPV4_HEADER));
        let mut h = IPV4_HEADER;
        h[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(checksum(&h), 0xb861);
        h[10..12].copy_from_slice(&0xb862u16.to_be_bytes());
        assert!(!verify(&h));
    }

    #[test]
    fn udp_checksum_with_pseudo_header_matches_hand_sum() {
        // Pseudo-header: c0a8 + 0001 + c0a8 + 00c7 + 0011 + 000c = 0x18235 -> 0x8236.
        assert_eq!(pseudo_header_sum(SRC, DST, PROTO_UDP, 12), 0x8236);
        // Segment: 0400 + 0035 + 000c + 0000 + 6162 + 6364 = 0xc907.
        let mut seg = UDP_SEGMENT;
        seg[6..8].copy_from_slice(&[0, 0]);
        assert_eq!(sum(&seg, 0), 0xc907);
        // 0x8236 + 0xc907 = 0x14b3d -> 0x4b3e; ~0x4b3e = 0xb4c1.
        assert_eq!(l4_checksum(SRC, DST, PROTO_UDP, &seg), 0xb4c1);
        assert_eq!(udp_checksum(SRC, DST, &seg), 0xb4c1);
        assert!(l4_verify(SRC, DST, PROTO_UDP, &UDP_SEGMENT));
        seg[6..8].copy_from_slice(&0xb4c2u16.to_be_bytes());
        assert!(!l4_verify(SRC, DST, PROTO_UDP, &seg));
    }

    #[test]
    fn empty_input_sums_to_zero() {
        assert_eq!(sum(&[], 0), 0);
        assert_eq!(sum(&[], 0x1234), 0x1234);
        assert_eq!(checksum(&[]), 0xFFFF);
        assert!(!verify(&[]));
    }

    #[test]
    fn odd_trailing_byte_is_padded_on_the_right() {
        assert_eq!(sum(&[0xab], 0), 0xab00);
        assert_eq!(sum(&[0x12, 0x34, 0x56], 0), 0x1234 + 0x5600);
        // Nine bytes: one full 8-byte chunk plus an odd byte.
        let nine = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7, 0x01];
        assert_eq!(sum(&nine, 0), 0xddf2 + 0x0100);
        // Carries out of every position wrap around.
        assert_eq!(sum(&[0xff; 16], 0), 0xFFFF);
        assert_eq!(checksum(&[0xff; 16]), 0x0000);
        assert_eq!(sum(&[0xff; 17], 0), 0xFF00);
    }

    #[test]
    fn all_zero_data_checksums_to_ffff() {
        // RFC 1624 3: only all-zero data has a +0 sum, hence a stored 0xFFFF.
        assert_eq!(checksum(&[0; 20]), 0xFFFF);
        assert!(verify(&[0, 0, 0xff, 0xff]));
    }

    #[test]
    fn rfc1624_example_update_gives_0000_not_ffff() {
        // RFC 1624 4: C = 0xCD7A for the other words, m = 0x5555 -> m' = 0x3285.
        let mut h = [0xcd, 0x7a, 0x55, 0x55, 0x00, 0x00];
        assert_eq!(checksum(&h), 0xdd2f);
        let hc = update16(0xdd2f, 0x5555, 0x3285);
        assert_eq!(hc, 0x0000);
        h[2..4].copy_from_slice(&0x3285u16.to_be_bytes());
        assert_eq!(checksum(&h), 0x0000);
        h[4..6].copy_from_slice(&hc.to_be_bytes());
        assert!(verify(&h));
        // Eqn. 2 (HC - ~m - m', subtraction as addition of the complement) gives -0
        // here, which is why eqn. 3 is used.
        let sub = |a: u16, b: u16| {
            let (s, carry) = a.overflowing_add(!b);
            s + u16::from(carry)
        };
        assert_eq!(sub(sub(0xdd2f, !0x5555), 0x3285), 0xFFFF);
    }

    #[test]
    fn ipv4_header_updated_to_checksum_0000() {
        // The header sums to ~0xb861 without its checksum, so ID 0x0000 -> 0xb861
        // makes the sum 0xFFFF and the new checksum 0x0000.
        let mut h = IPV4_HEADER;
        let hc = update16(0xb861, 0x0000, 0xb861);
        assert_eq!(hc, 0x0000);
        h[4..6].copy_from_slice(&0xb861u16.to_be_bytes());
        h[10..12].copy_from_slice(&hc.to_be_bytes());
        assert!(verify(&h));
        h[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(checksum(&h), 0x0000);
    }

    #[test]
    fn ttl_decrement_matches_recompute() {
        let mut h = IPV4_HEADER;
        let old = word(&h, 8);
        h[8] -= 1;
        let hc = update16(0xb861, old, word(&h, 8));
        h[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(hc, checksum(&h));
        assert_eq!(hc, 0xb961);
    }

    #[test]
    fn field_set_to_same_value_keeps_checksum() {
        for csum in [0x0000, 0x0001, 0xb861, 0x7fff, 0xfffe] {
            for v in [0x0000, 0x0001, 0x5555, 0xFFFF] {
                assert_eq!(update16(csum, v, v), csum);
                assert_eq!(
                    update32(csum, u32::from(v) * 0x10001, u32::from(v) * 0x10001),
                    csum
                );
                assert_eq!(update_bytes(csum, &v.to_be_bytes(), &v.to_be_bytes()), csum);
            }
        }
        // 0xFFFF never appears over data with a nonzero word (RFC 1624 3); it maps to the
        // other zero.
        assert_eq!(update16(0xFFFF, 0x1234, 0x1234), 0x0000);
    }

    #[test]
    fn nat_address_rewrite_updates_ip_and_udp_checksums() {
        // Rewriting the source address touches the IPv4 header and, via the pseudo-header,
        // the UDP checksum (update32 for the address as a 32-bit field).
        let new_src = [10, 0, 0, 42];
        let (old_a, new_a) = (u32::from_be_bytes(SRC), u32::from_be_bytes(new_src));
        let mut h = IPV4_HEADER;
        h[12..16].copy_from_slice(&new_src);
        let ip = update32(0xb861, old_a, new_a);
        assert_eq!(ip, update_bytes(0xb861, &SRC, &new_src));
        h[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(ip, checksum(&h));

        let udp = update32(0xb4c1, old_a, new_a);
        let mut seg = UDP_SEGMENT;
        seg[6..8].copy_from_slice(&[0, 0]);
        assert_eq!(udp, l4_checksum(new_src, DST, PROTO_UDP, &seg));
    }

    #[test]
    fn tcp_odd_length_segment_verifies() {
        // TCP header (20 bytes, no options) + 3 payload bytes: odd total length.
        let mut seg = [
            0x30, 0x39, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x50, 0x18,
            0xff, 0xff, 0x00, 0x00, 0x00, 0x00, b'G', b'E', b'T',
        ];
        let c = l4_checksum(SRC, DST, PROTO_TCP, &seg);
        assert_eq!(c, 0x61e1);
        seg[16..18].copy_from_slice(&c.to_be_bytes());
        assert!(l4_verify(SRC, DST, PROTO_TCP, &seg));
        assert!(!l4_verify(SRC, DST, PROTO_UDP, &seg));
    }

    #[test]
    fn udp_computed_zero_is_sent_as_ffff() {
        // Choose the payload word so the total sum is 0xFFFF (computed checksum 0).
        let mut seg = [0x04, 0x00, 0x00, 0x35, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00];
        let partial = sum(&seg, pseudo_header_sum(SRC, DST, PROTO_UDP, 10)) as u16;
        seg[8..10].copy_from_slice(&(!partial).to_be_bytes());
        assert_eq!(l4_checksum(SRC, DST, PROTO_UDP, &seg), 0x0000);
        let c = udp_checksum(SRC, DST, &seg);
        assert_eq!(c, 0xFFFF);
        seg[6..8].copy_from_slice(&c.to_be_bytes());
        assert!(l4_verify(SRC, DST, PROTO_UDP, &seg));
    }

    #[test]
    fn incremental_on_all_zero_result_gives_the_other_zero() {
        // The only mismatch with recomputation: updated data that is all zero (no real
        // header) recomputes to 0xFFFF while eqn. 3 yields 0x0000; both mean zero.
        let c = checksum(&[0x12, 0x34]);
        assert_eq!(update16(c, 0x1234, 0x0000), 0x0000);
        assert_eq!(checksum(&[0, 0]), 0xFFFF);
    }

    fn buf_and_offset(min: usize) -> impl Strategy<Value = (Vec<u8>, usize)> {
        (min / 2..300usize)
            .prop_flat_map(|words| proptest::collection::vec(any::<u8>(), words * 2))
            .prop_flat_map(move |buf| {
                let slots = (buf.len() - min) / 2 + 1;
                (Just(buf), 0..slots)
            })
            .prop_map(|(buf, slot)| (buf, slot * 2))
    }

    /// Incremental and full results agree, except that all-zero data recomputes to 0xFFFF
    /// where eqn. 3 gives 0x0000 (RFC 1624 3).
    fn agrees(incremental: u16, data: &[u8]) -> bool {
        let full = checksum(data);
        incremental == full || (data.iter().all(|&b| b == 0) && incremental == 0)
    }

    proptest! {
        #[test]
        fn checksum_matches_naive_reference(
            data in proptest::collection::vec(any::<u8>(), 0..2001),
            skip in 0usize..2,
        ) {
            // Starting at offset 1 exercises unaligned slices.
            let data = data.get(skip..).unwrap_or(&[]);
            prop_assert_eq!(sum(data, 0) as u16, naive_sum(data));
            prop_assert_eq!(checksum(data), !naive_sum(data));
        }

        #[test]
        fn sums_chain_at_even_boundaries(
            data in proptest::collection::vec(any::<u8>(), 0..600),
            split in 0usize..300,
        ) {
            let split = (split * 2).min(data.len() & !1);
            let (a, b) = data.split_at(split);
            prop_assert_eq!(sum(b, sum(a, 0)), sum(&data, 0));
        }

        #[test]
        fn stored_checksum_verifies((mut data, at) in buf_and_offset(2)) {
            data[at..at + 2].copy_from_slice(&[0, 0]);
            let c = checksum(&data);
            data[at..at + 2].copy_from_slice(&c.to_be_bytes());
            prop_assert!(verify(&data));
        }

        #[test]
        fn update16_equals_recompute((mut data, at) in buf_and_offset(2), new in any::<u16>()) {
            let c = checksum(&data);
            let old = word(&data, at);
            data[at..at + 2].copy_from_slice(&new.to_be_bytes());
            prop_assert!(agrees(update16(c, old, new), &data));
        }

        #[test]
        fn update32_equals_recompute((mut data, at) in buf_and_offset(4), new in any::<u32>()) {
            let c = checksum(&data);
            let old = u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
            data[at..at + 4].copy_from_slice(&new.to_be_bytes());
            prop_assert!(agrees(update32(c, old, new), &data));
        }

        #[test]
        fn update_bytes_equals_recompute(
            (mut data, at) in buf_and_offset(2),
            new in proptest::collection::vec(any::<u8>(), 1..40),
        ) {
            let len = new.len().min(data.len() - at);
            let new = &new[..len];
            let c = checksum(&data);
            let old = data[at..at + len].to_vec();
            data[at..at + len].copy_from_slice(new);
            prop_assert!(agrees(update_bytes(c, &old, new), &data));
        }

        #[test]
        fn chained_updates_equal_recompute(
            (mut data, _) in buf_and_offset(2),
            edits in proptest::collection::vec((any::<usize>(), any::<u16>()), 1..20),
        ) {
            let mut c = checksum(&data);
            for (slot, new) in edits {
                let at = (slot % (data.len() / 2)) * 2;
                c = update16(c, word(&data, at), new);
                data[at..at + 2].copy_from_slice(&new.to_be_bytes());
                prop_assert!(agrees(c, &data));
            }
        }

        #[test]
        fn update_bytes_never_panics(
            c in any::<u16>(),
            old in proptest::collection::vec(any::<u8>(), 0..50),
            new in proptest::collection::vec(any::<u8>(), 0..50),
        ) {
            let _ = update_bytes(c, &old, &new);
        }

        #[test]
        fn l4_checksum_verifies(
            src in any::<[u8; 4]>(),
            dst in any::<[u8; 4]>(),
            mut seg in proptest::collection::vec(any::<u8>(), 8..200),
        ) {
            seg[6..8].copy_from_slice(&[0, 0]);
            let c = udp_checksum(src, dst, &seg);
            prop_assert_ne!(c, 0);
            seg[6..8].copy_from_slice(&c.to_be_bytes());
            prop_assert!(l4_verify(src, dst, PROTO_UDP, &seg));
        }
    }
}
