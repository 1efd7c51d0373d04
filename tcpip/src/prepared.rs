//! Prepared objects: bytes cut once into segments with their checksums summed, then sent to
//! many connections (the Sandstorm path).
//!
//! An application registers an object with [`crate::TcpCore::prepare`] and gets an
//! [`ObjectId`]; [`crate::Conn::send_prepared`] queues it on a connection. The connection
//! sends segment `k` of the object as the bytes at `k * seg_size`, so each segment's
//! payload sum is computed once here and the per-connection checksum costs a pass over the
//! header only ([`crate::wire::TcpRepr::emit_header_summed`]). Retransmissions come from the
//! same object: there is no retransmit copy.
//!
//! A sink that keeps whole frames (the stack does, in the port's prepared pool, rewritten
//! with incremental checksums: [`crate::frame`]) gets the object and the segment index in
//! [`crate::sink::SegmentSink::send_prepared`] and can send its own copy instead.
//!
//! A peer whose MSS is below `seg_size` (or a window that cuts a segment short) is served by
//! copying a piece of the object through the ordinary output path: segmentation on the fly,
//! counted as `tx_prepared_resegmented`.

use eth::checksum;

/// Handle of a prepared object in a [`crate::TcpCore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId(pub u32);

/// An object cut into segments of `seg_size` bytes (the last may be shorter).
#[derive(Debug)]
pub struct PreparedObject {
    data: Box<[u8]>,
    seg_size: u32,
    /// `checksum::sum` of each segment's payload.
    sums: Box<[u32]>,
}

impl PreparedObject {
    /// Cut `data` at `seg_size` bytes (at least 1) and sum each piece.
    pub fn new(data: &[u8], seg_size: u16) -> Self {
        let seg_size = u32::from(seg_size.max(1));
        let sums = data
            .chunks(seg_size as usize)
            .map(|c| checksum::sum(c, 0))
            .collect();
        PreparedObject {
            data: data.into(),
            seg_size,
            sums,
        }
    }

    /// The whole object.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Object length in bytes.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True for an empty object.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Overwrite `bytes.len()` bytes at `offset` (a field a server refreshes, such as an
    /// HTTP `Date`) and re-sum the segments they fall in. False, and nothing changed, if the
    /// span is not inside the object. Connections see the new bytes from their next send of
    /// those segments on, retransmissions included (keep such fields where a client does
    /// not care which version it got).
    pub fn patch(&mut self, offset: usize, bytes: &[u8]) -> bool {
        let Some(end) = offset.checked_add(bytes.len()) else {
            return false;
        };
        if end > self.data.len() {
            return false;
        }
        self.data[offset..end].copy_from_slice(bytes);
        if bytes.is_empty() {
            return true;
        }
        let seg = self.seg_size as usize;
        for k in offset / seg..=(end - 1) / seg {
            self.sums[k] = checksum::sum(self.segment(k), 0);
        }
        true
    }

    /// Payload bytes per segment.
    pub fn seg_size(&self) -> u32 {
        self.seg_size
    }

    /// Number of segments.
    pub fn segments(&self) -> usize {
        self.sums.len()
    }

    /// The payload of segment `k` (empty past the end).
    pub fn segment(&self, k: usize) -> &[u8] {
        let start = (k as u64 * u64::from(self.seg_size)).min(self.data.len() as u64) as usize;
        let end = (start + self.seg_size as usize).min(self.data.len());
        &self.data[start..end]
    }

    /// The payload sum of segment `k` (0 past the end).
    pub fn segment_sum(&self, k: usize) -> u32 {
        self.sums.get(k).copied().unwrap_or(0)
    }

    /// If `[offset, offset + len)` is exactly segment `k`, `Some(k)`.
    pub fn whole_segment(&self, offset: u32, len: u32) -> Option<usize> {
        if !offset.is_multiple_of(self.seg_size) {
            return None;
        }
        let k = (offset / self.seg_size) as usize;
        (k < self.sums.len() && self.segment(k).len() == len as usize).then_some(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_rewrites_bytes_and_re_sums_only_what_it_touches() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
        let mut o = PreparedObject::new(&data, 1000);
        // Across the boundary of segments 1 and 2.
        assert!(o.patch(990, b"0123456789ABCDEFGHIJ"));
        let mut want = data.clone();
        want[990..1010].copy_from_slice(b"0123456789ABCDEFGHIJ");
        assert_eq!(o.data(), &want[..]);
        let fresh = PreparedObject::new(&want, 1000);
        assert_eq!(o.sums, fresh.sums);
        // Out of range or overflowing: refused, nothing changed.
        assert!(!o.patch(4990, &[1; 11]));
        assert!(!o.patch(usize::MAX, &[1]));
        assert_eq!(o.data(), &want[..]);
        assert!(o.patch(5000, &[]));
    }

    #[test]
    fn segments_cover_the_object_and_sums_match() {
        let data: Vec<u8> = (0..3001u32).map(|i| (i * 7) as u8).collect();
        let o = PreparedObject::new(&data, 1448);
        assert_eq!(o.segments(), 3);
        assert_eq!(o.segment(0), &data[..1448]);
        assert_eq!(o.segment(2), &data[2896..]);
        assert!(o.segment(3).is_empty());
        for k in 0..3 {
            assert_eq!(o.segment_sum(k), checksum::sum(o.segment(k), 0));
        }
        assert_eq!(o.whole_segment(1448, 1448), Some(1));
        assert_eq!(o.whole_segment(2896, 105), Some(2));
        assert_eq!(
            o.whole_segment(2896, 100),
            None,
            "a cut segment is not whole"
        );
        assert_eq!(o.whole_segment(100, 1448), None, "misaligned");
        assert_eq!(PreparedObject::new(&[], 1448).segments(), 0);
    }
}
