//! The Internet checksum against a word-at-a-time RFC 1071 reference, and the RFC 1624
//! incremental updates against recomputation.
//!
//! Input layout: bytes 0..2 pick the even offset to rewrite, bytes 2..6 are the new value,
//! the rest is the data.

#![no_main]

use eth::checksum::{checksum, sum, update16, update32, verify};
use libfuzzer_sys::fuzz_target;

/// RFC 1071 4.1 done the slow way: big-endian 16-bit words, an odd last byte padded with
/// zero on the right, end-around carry folded back in, complemented at the end.
fn reference_sum(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    for pair in data.chunks(2) {
        let hi = u64::from(pair[0]) << 8;
        let lo = pair.get(1).map_or(0, |&b| u64::from(b));
        acc += hi | lo;
    }
    while acc > 0xFFFF {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    acc as u16
}

fn reference_checksum(data: &[u8]) -> u16 {
    !reference_sum(data)
}

/// RFC 1624 3: eqn. 3 yields 0x0000 where a recomputation over all-zero data yields
/// 0xFFFF; any other disagreement is a bug.
fn assert_update_agrees(incremental: u16, data: &[u8]) {
    let full = reference_checksum(data);
    if incremental != full {
        assert!(
            incremental == 0 && data.iter().all(|&b| b == 0),
            "incremental {incremental:#06x} != recomputed {full:#06x}"
        );
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((params, data)) = input.split_first_chunk::<6>() else {
        return;
    };

    let expected = reference_sum(data);
    assert_eq!(sum(data, 0), u32::from(expected));
    assert_eq!(checksum(data), reference_checksum(data));
    assert_eq!(verify(data), expected == 0xFFFF);
    // Unaligned start: the fast path reads 8 bytes at a time from any address.
    if let Some(tail) = data.get(1..) {
        assert_eq!(checksum(tail), reference_checksum(tail));
    }
    // Partial sums chain at any even boundary.
    let split = usize::from(u16::from_be_bytes([params[0], params[1]])) * 2;
    if split <= data.len() {
        let (a, b) = data.split_at(split);
        assert_eq!(sum(b, sum(a, 0)), sum(data, 0));
    }

    // RFC 1624: rewrite one 16-bit (and one 32-bit) field at an even offset and update
    // the stored checksum instead of recomputing it.
    let words = data.len() / 2;
    if words == 0 {
        return;
    }
    let at = (usize::from(u16::from_be_bytes([params[0], params[1]])) % words) * 2;
    let mut edited = data.to_vec();
    let old_csum = checksum(&edited);
    let old = u16::from_be_bytes([edited[at], edited[at + 1]]);
    let new = u16::from_be_bytes([params[2], params[3]]);
    edited[at..at + 2].copy_from_slice(&new.to_be_bytes());
    assert_update_agrees(update16(old_csum, old, new), &edited);

    if words >= 2 {
        let at = (usize::from(u16::from_be_bytes([params[0], params[1]])) % (words - 1)) * 2;
        let mut edited = data.to_vec();
        let old_csum = checksum(&edited);
        let field = &mut edited[at..at + 4];
        let old = u32::from_be_bytes([field[0], field[1], field[2], field[3]]);
        let new = u32::from_be_bytes([params[2], params[3], params[4], params[5]]);
        field.copy_from_slice(&new.to_be_bytes());
        assert_update_agrees(update32(old_csum, old, new), &edited);
    }
});
