//! A fixed-capacity byte ring: the send buffer of the byte-stream path and the receive
//! buffer where segments are reassembled.
//!
//! The storage is allocated once, in [`RingBuf::new`]; nothing after that allocates. The
//! readable bytes are the `len` bytes starting at `head`, in logical offsets `0..len` that
//! wrap around the end of the storage, so every view is two slices.
//!
//! Past `len` is free space. The receive path writes out-of-order data there with
//! [`RingBuf::write_at`] at the offset its sequence number gives (RFC 9293 3.10.7.4:
//! "segments with higher beginning sequence numbers may be held"), and makes it readable
//! with [`RingBuf::commit`] once the gap before it is filled. Which parts of the free space
//! hold data is the [`Assembler`](crate::assembler::Assembler)'s business, not the ring's.
//! That is also why [`RingBuf::dequeue`] never moves `head` back to 0 when the ring
//! empties: data written past `len` must stay at its offset.
//!
//! Counts are clamped, never trusted: asking for more than there is (or room for) does
//! less and says how much it did.

use core::ops::Range;

/// A fixed-capacity byte ring. See the [module docs](self).
pub struct RingBuf {
    buf: Box<[u8]>,
    /// Storage index of logical offset 0; always `< capacity` (or 0 when the capacity is 0).
    head: usize,
    /// Readable bytes, `<= capacity`.
    len: usize,
}

impl RingBuf {
    /// A ring holding up to `capacity` bytes. A capacity of 0 is allowed and holds nothing.
    pub fn new(capacity: usize) -> Self {
        RingBuf {
            buf: vec![0; capacity].into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }

    #[inline]
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Readable bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room left: `capacity - len`.
    #[inline]
    pub fn free(&self) -> usize {
        self.capacity() - self.len
    }

    /// Appends as much of `data` as fits; returns how many bytes were appended.
    #[inline]
    pub fn enqueue(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        self.copy_in(self.len, &data[..n]);
        self.len += n;
        n
    }

    /// Fills free space in place: `f` gets up to `max` bytes of the free space as two slices
    /// (the second is non-empty only when the space wraps), writes from the start of the
    /// first, and returns how many bytes it wrote. Those become readable; a return larger
    /// than the slices given is clamped to them. Returns the bytes appended.
    #[inline]
    pub fn enqueue_with(
        &mut self,
        max: usize,
        f: impl FnOnce(&mut [u8], &mut [u8]) -> usize,
    ) -> usize {
        let n = max.min(self.free());
        let (first, second) = self.ranges(self.len, n);
        let (low, high) = self.buf.split_at_mut(first.start);
        let written = f(&mut high[..first.len()], &mut low[second]);
        let written = written.min(n);
        self.len += written;
        written
    }

    /// Up to `len` readable bytes starting `offset` bytes after the head, as two slices
    /// (the second is non-empty only when they wrap). Shorter, or empty, when fewer bytes
    /// are readable there.
    #[inline]
    pub fn peek(&self, offset: usize, len: usize) -> (&[u8], &[u8]) {
        if offset >= self.len {
            return (&[], &[]);
        }
        let n = len.min(self.len - offset);
        let (first, second) = self.ranges(offset, n);
        (&self.buf[first], &self.buf[second])
    }

    /// Copies readable bytes starting `offset` bytes after the head into `dst`, as many as
    /// fit and are readable; returns how many were copied.
    #[inline]
    pub fn copy_out(&self, offset: usize, dst: &mut [u8]) -> usize {
        let (a, b) = self.peek(offset, dst.len());
        dst[..a.len()].copy_from_slice(a);
        dst[a.len()..a.len() + b.len()].copy_from_slice(b);
        a.len() + b.len()
    }

    /// Drops up to `n` bytes from the head; returns how many were dropped.
    #[inline]
    pub fn dequeue(&mut self, n: usize) -> usize {
        let n = n.min(self.len);
        self.head = self.wrap(self.head + n);
        self.len -= n;
        n
    }

    /// Writes `data` at `offset` bytes after the head, past the readable bytes, without
    /// making it readable (see [`commit`](Self::commit)). Bytes that would land past the
    /// capacity are cut. Returns how many bytes of `data`, from its start, lie within the
    /// capacity.
    ///
    /// Readable bytes are never changed: the part of `data` that would land before `len`
    /// is skipped, as TCP keeps the first copy of data it has already accepted.
    #[inline]
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> usize {
        let fits = data.len().min(self.capacity().saturating_sub(offset));
        if fits == 0 {
            return 0;
        }
        let skip = self.len.saturating_sub(offset).min(fits);
        self.copy_in(offset + skip, &data[skip..fits]);
        fits
    }

    /// Makes up to `n` bytes past the readable ones readable (bytes put there by
    /// [`write_at`](Self::write_at)); returns how many, at most [`free`](Self::free).
    #[inline]
    pub fn commit(&mut self, n: usize) -> usize {
        let n = n.min(self.free());
        self.len += n;
        n
    }

    /// Empties the ring, dropping the readable bytes and anything written past them.
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    /// The storage index `i` wrapped into the storage, for `i < 2 * capacity`.
    #[inline]
    fn wrap(&self, i: usize) -> usize {
        if i >= self.capacity() {
            i - self.capacity()
        } else {
            i
        }
    }

    /// The storage ranges of logical offsets `offset..offset + n`, which must lie within
    /// the capacity: the part up to the end of the storage, then the part wrapped to 0.
    #[inline]
    fn ranges(&self, offset: usize, n: usize) -> (Range<usize>, Range<usize>) {
        debug_assert!(offset + n <= self.capacity());
        let start = self.wrap(self.head + offset);
        let first = n.min(self.capacity() - start);
        (start..start + first, 0..n - first)
    }

    /// Copies `data` to logical offset `offset`; `offset + data.len()` must be within the
    /// capacity.
    #[inline]
    fn copy_in(&mut self, offset: usize, data: &[u8]) {
        let (first, second) = self.ranges(offset, data.len());
        let (a, b) = data.split_at(first.len());
        self.buf[first].copy_from_slice(a);
        self.buf[second].copy_from_slice(b);
    }
}

impl core::fmt::Debug for RingBuf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RingBuf")
            .field("capacity", &self.capacity())
            .field("head", &self.head)
            .field("len", &self.len)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    /// The readable bytes, joined.
    fn contents(r: &RingBuf) -> Vec<u8> {
        let (a, b) = r.peek(0, usize::MAX);
        [a, b].concat()
    }

    /// A ring of `cap` whose head sits `head` bytes into the storage, empty.
    fn ring_with_head_at(cap: usize, head: usize) -> RingBuf {
        let mut r = RingBuf::new(cap);
        assert_eq!(r.commit(head), head);
        assert_eq!(r.dequeue(head), head);
        r
    }

    #[test]
    fn new_ring_is_empty_with_all_space_free() {
        let r = RingBuf::new(16);
        assert_eq!((r.capacity(), r.len(), r.free()), (16, 0, 16));
        assert!(r.is_empty());
        assert_eq!(r.peek(0, 16), (&[][..], &[][..]));
    }

    #[test]
    fn enqueue_appends_only_what_fits() {
        let mut r = RingBuf::new(8);
        assert_eq!(r.enqueue(b"hello"), 5);
        assert_eq!(r.enqueue(b"world"), 3);
        assert_eq!(r.enqueue(b"!"), 0);
        assert_eq!(contents(&r), b"hellowor");
        assert_eq!(r.free(), 0);
    }

    #[test]
    fn peek_across_the_wrap_gives_two_slices() {
        let mut r = ring_with_head_at(8, 6);
        assert_eq!(r.enqueue(b"abcdef"), 6);
        assert_eq!(r.peek(0, 6), (&b"ab"[..], &b"cdef"[..]));
        assert_eq!(r.peek(1, 3), (&b"b"[..], &b"cd"[..]));
        assert_eq!(r.peek(3, 10), (&b"def"[..], &[][..]));
    }

    #[test]
    fn peek_past_the_readable_bytes_is_short_or_empty() {
        let mut r = RingBuf::new(8);
        r.enqueue(b"abc");
        assert_eq!(r.peek(1, 10), (&b"bc"[..], &[][..]));
        assert_eq!(r.peek(3, 1), (&[][..], &[][..]));
        assert_eq!(r.peek(usize::MAX, usize::MAX), (&[][..], &[][..]));
    }

    #[test]
    fn copy_out_joins_the_wrapped_slices() {
        let mut r = ring_with_head_at(8, 5);
        r.enqueue(b"abcdefg");
        let mut dst = [0u8; 5];
        assert_eq!(r.copy_out(1, &mut dst), 5);
        assert_eq!(&dst, b"bcdef");
        let mut big = [0u8; 16];
        assert_eq!(r.copy_out(4, &mut big), 3);
        assert_eq!(&big[..3], b"efg");
        assert_eq!(r.copy_out(7, &mut big), 0);
    }

    #[test]
    fn dequeue_drops_at_most_the_readable_bytes() {
        let mut r = RingBuf::new(8);
        r.enqueue(b"abcdef");
        assert_eq!(r.dequeue(2), 2);
        assert_eq!(contents(&r), b"cdef");
        assert_eq!(r.dequeue(100), 4);
        assert!(r.is_empty());
        assert_eq!(r.dequeue(1), 0);
    }

    #[test]
    fn enqueue_with_offers_both_free_slices_up_to_max() {
        let mut r = ring_with_head_at(8, 4);
        r.enqueue(b"ab");
        let n = r.enqueue_with(5, |a, b| {
            assert_eq!((a.len(), b.len()), (2, 3));
            a.copy_from_slice(b"cd");
            b.copy_from_slice(b"efg");
            5
        });
        assert_eq!(n, 5);
        assert_eq!(contents(&r), b"abcdefg");
    }

    #[test]
    fn enqueue_with_clamps_an_overclaimed_count() {
        let mut r = RingBuf::new(4);
        let n = r.enqueue_with(usize::MAX, |a, b| {
            a.copy_from_slice(b"wxyz");
            assert!(b.is_empty());
            usize::MAX
        });
        assert_eq!(n, 4);
        assert_eq!(contents(&r), b"wxyz");
        assert_eq!(r.enqueue_with(10, |a, b| a.len() + b.len() + 1), 0);
    }

    #[test]
    fn write_at_then_commit_makes_out_of_order_bytes_readable() {
        let mut r = RingBuf::new(8);
        r.enqueue(b"ab");
        assert_eq!(r.write_at(4, b"ef"), 2);
        assert_eq!(r.len(), 2, "write_at does not change len");
        assert_eq!(r.write_at(2, b"cd"), 2);
        assert_eq!(r.commit(4), 4);
        assert_eq!(contents(&r), b"abcdef");
    }

    #[test]
    fn write_at_cuts_bytes_past_capacity() {
        let mut r = ring_with_head_at(8, 3);
        assert_eq!(r.write_at(6, b"xyz"), 2);
        assert_eq!(r.write_at(8, b"z"), 0);
        assert_eq!(r.write_at(usize::MAX, b"z"), 0);
        assert_eq!(r.commit(100), 8);
        assert_eq!(&contents(&r)[6..], b"xy");
    }

    #[test]
    fn write_at_never_changes_readable_bytes() {
        let mut r = RingBuf::new(8);
        r.enqueue(b"abcd");
        assert_eq!(r.write_at(2, b"XXYY"), 4);
        assert_eq!(contents(&r), b"abcd");
        r.commit(2);
        assert_eq!(contents(&r), b"abcdYY");
    }

    #[test]
    fn out_of_order_bytes_survive_emptying_the_ring() {
        let mut r = ring_with_head_at(8, 6);
        r.enqueue(b"ab");
        r.write_at(4, b"ef");
        assert_eq!(r.dequeue(2), 2);
        assert!(r.is_empty());
        r.enqueue(b"cd");
        r.commit(2);
        assert_eq!(contents(&r), b"cdef");
    }

    #[test]
    fn commit_is_bounded_by_free_space() {
        let mut r = RingBuf::new(4);
        r.enqueue(b"a");
        assert_eq!(r.commit(usize::MAX), 3);
        assert_eq!(r.commit(1), 0);
        assert_eq!(r.len(), 4);
    }

    #[test]
    fn zero_capacity_ring_holds_nothing() {
        let mut r = RingBuf::new(0);
        assert_eq!(r.enqueue(b"a"), 0);
        assert_eq!(r.enqueue_with(5, |a, b| a.len() + b.len() + 3), 0);
        assert_eq!(r.write_at(0, b"a"), 0);
        assert_eq!(r.commit(1), 0);
        assert_eq!(r.dequeue(1), 0);
        assert_eq!(r.copy_out(0, &mut [0; 4]), 0);
        assert_eq!(r.peek(0, 1), (&[][..], &[][..]));
        assert_eq!(r.free(), 0);
    }

    #[test]
    fn clear_drops_everything() {
        let mut r = ring_with_head_at(8, 5);
        r.enqueue(b"abc");
        r.clear();
        assert!(r.is_empty());
        assert_eq!(r.free(), 8);
        assert_eq!(r.peek(0, 8), (&[][..], &[][..]));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Enqueue(Vec<u8>),
        EnqueueWith { max: usize, claim: usize },
        Dequeue(usize),
        WriteAt(usize, Vec<u8>),
        Commit(usize),
        Clear,
    }

    fn op(cap: usize) -> impl Strategy<Value = Op> {
        let bytes = || proptest::collection::vec(any::<u8>(), 0..cap + 3);
        prop_oneof![
            3 => bytes().prop_map(Op::Enqueue),
            2 => (0..cap + 3, 0..cap + 3).prop_map(|(max, claim)| Op::EnqueueWith { max, claim }),
            3 => (0..cap + 3).prop_map(Op::Dequeue),
            3 => (0..cap + 3, bytes()).prop_map(|(o, d)| Op::WriteAt(o, d)),
            2 => (0..cap + 3).prop_map(Op::Commit),
            1 => Just(Op::Clear),
        ]
    }

    fn case() -> impl Strategy<Value = (usize, Vec<Op>)> {
        (0usize..20).prop_flat_map(|cap| (Just(cap), proptest::collection::vec(op(cap), 1..60)))
    }

    proptest! {
        /// The model: every logical offset `0..cap` from the head, `None` where the ring's
        /// contents are unspecified (never written since they last fell off the head).
        #[test]
        fn matches_a_vecdeque_model((cap, ops) in case()) {
            let mut r = RingBuf::new(cap);
            let mut model: VecDeque<Option<u8>> = VecDeque::from(vec![None; cap]);
            let mut len = 0usize;
            let mut stamp = 0u8;
            for op in ops {
                match op {
                    Op::Enqueue(data) => {
                        let n = data.len().min(cap - len);
                        prop_assert_eq!(r.enqueue(&data), n);
                        for (i, &b) in data[..n].iter().enumerate() {
                            model[len + i] = Some(b);
                        }
                        len += n;
                    }
                    Op::EnqueueWith { max, claim } => {
                        let n = max.min(cap - len);
                        stamp = stamp.wrapping_add(1);
                        let got = r.enqueue_with(max, |a, b| {
                            a.fill(stamp);
                            b.fill(stamp);
                            assert_eq!(a.len() + b.len(), n);
                            claim
                        });
                        prop_assert_eq!(got, claim.min(n));
                        for i in 0..n {
                            model[len + i] = Some(stamp);
                        }
                        len += got;
                    }
                    Op::Dequeue(n) => {
                        let n = n.min(len);
                        prop_assert_eq!(r.dequeue(n), n);
                        for _ in 0..n {
                            model.pop_front();
                            model.push_back(None);
                        }
                        len -= n;
                    }
                    Op::WriteAt(offset, data) => {
                        let fits = data.len().min(cap.saturating_sub(offset));
                        prop_assert_eq!(r.write_at(offset, &data), fits);
                        for (i, &b) in data[..fits].iter().enumerate() {
                            if offset + i >= len {
                                model[offset + i] = Some(b);
                            }
                        }
                    }
                    Op::Commit(n) => {
                        let n = n.min(cap - len);
                        prop_assert_eq!(r.commit(n), n);
                        len += n;
                    }
                    Op::Clear => {
                        r.clear();
                        model = VecDeque::from(vec![None; cap]);
                        len = 0;
                    }
                }
                prop_assert_eq!((r.len(), r.free(), r.is_empty()), (len, cap - len, len == 0));
                let got = contents(&r);
                prop_assert_eq!(got.len(), len);
                for (i, (&g, m)) in got.iter().zip(model.iter()).enumerate() {
                    if let Some(m) = *m {
                        prop_assert_eq!(g, m, "readable byte {}", i);
                    }
                }
                // A window from the middle agrees with the whole.
                let off = len / 3;
                let (a, b) = r.peek(off, len / 2 + 1);
                let mut dst = vec![0; len / 2 + 1];
                let n = r.copy_out(off, &mut dst);
                prop_assert_eq!(n, a.len() + b.len());
                prop_assert_eq!(&dst[..n], &got[off.min(len)..off.min(len) + n]);
                prop_assert_eq!([a, b].concat(), &dst[..n]);
            }
        }
    }
}
