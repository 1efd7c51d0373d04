//! Which out-of-order parts of the receive window hold data, and the SACK blocks that
//! report them.
//!
//! RFC 9293 3.10.7.4: "segments with higher beginning sequence numbers may be held for
//! later processing". The bytes themselves go into the receive
//! [`RingBuf`](crate::ringbuf::RingBuf) at their offset; the [`Assembler`] remembers which
//! offsets hold data, as disjoint ranges of byte offsets relative to RCV.NXT (offset 0 is the
//! next in-order byte). Ranges that overlap or touch are merged, so the ranges are always
//! disjoint with gaps between them, in ascending order.
//!
//! At most [`MAX_RANGES`] ranges are held, in a fixed array: a peer cannot make the receiver
//! allocate or scan without bound by sending scattered segments. A segment that would need
//! one more range is refused ([`TooManyRanges`]) and the state is left as it was; the caller
//! drops the segment and the peer retransmits it.
//!
//! In-order data never needs a range of its own. The receive path delivers it and calls
//! [`Assembler::advance`], which also trims any range it overlapped; the ranges that then
//! touch offset 0 are ready too:
//!
//! ```
//! use tcpip::assembler::Assembler;
//!
//! let mut asm = Assembler::new();
//! asm.add(100, 50).unwrap(); // out of order: held
//! assert_eq!(asm.front_len(), 0); // nothing deliverable yet
//! // 120 in-order bytes arrive (the first 20 of them overlap the held range): deliver them.
//! asm.advance(120);
//! assert_eq!(asm.front_len(), 30); // the rest of the held range follows on
//! asm.advance(30);
//! assert!(asm.is_empty());
//! ```
//!
//! Each range remembers when a segment last landed in it, so [`Assembler::sack_blocks`] can
//! put the most recent first as RFC 2018 4 asks.

use core::fmt;

use crate::seq::Seq;
use crate::wire::{SackBlock, SackBlocks};

/// How many disjoint out-of-order ranges an [`Assembler`] holds.
pub const MAX_RANGES: usize = 8;

/// [`Assembler::add`] refused a segment: it would have needed a range beyond
/// [`MAX_RANGES`]. Nothing was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManyRanges;

impl fmt::Display for TooManyRanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "more than {MAX_RANGES} out-of-order ranges")
    }
}

impl std::error::Error for TooManyRanges {}

/// Bytes `[start, end)`, `start < end`, last added to at `touched`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Run {
    start: u32,
    end: u32,
    touched: u64,
}

/// The ranges of the receive window that hold data. See the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct Assembler {
    /// `runs[..count]` ascending, disjoint and not touching.
    runs: [Run; MAX_RANGES],
    count: usize,
    /// Ticks once per recorded segment; orders the runs for SACK.
    clock: u64,
}

impl Assembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// No data held.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Records that bytes `[offset, offset + len)` arrived, merging with the ranges they
    /// overlap or touch, and makes their range the most recently received one. Nothing
    /// happens for `len == 0`; a range running past `u32::MAX` is cut there.
    ///
    /// `Err(TooManyRanges)` when the bytes touch no range and [`MAX_RANGES`] are held
    /// already; nothing changes then.
    pub fn add(&mut self, offset: u32, len: u32) -> Result<(), TooManyRanges> {
        let (start, end) = (offset, offset.saturating_add(len));
        if start == end {
            return Ok(());
        }
        let runs = &self.runs[..self.count];
        // The runs first..last overlap or touch [start, end).
        let first = runs
            .iter()
            .position(|r| r.end >= start)
            .unwrap_or(self.count);
        let last = first + runs[first..].iter().take_while(|r| r.start <= end).count();
        let touched = self.clock.wrapping_add(1);
        if first == last {
            if self.count == MAX_RANGES {
                return Err(TooManyRanges);
            }
            self.runs.copy_within(first..self.count, first + 1);
            self.runs[first] = Run {
                start,
                end,
                touched,
            };
            self.count += 1;
        } else {
            self.runs[first] = Run {
                start: start.min(self.runs[first].start),
                end: end.max(self.runs[last - 1].end),
                touched,
            };
            self.runs.copy_within(last..self.count, first + 1);
            self.count -= last - first - 1;
        }
        self.clock = touched;
        Ok(())
    }

    /// Bytes held contiguously from offset 0: what can be delivered in order now.
    #[inline]
    pub fn front_len(&self) -> u32 {
        match self.runs[..self.count].first() {
            Some(r) if r.start == 0 => r.end,
            _ => 0,
        }
    }

    /// RCV.NXT moved forward `n` bytes: every range moves down by `n`, and what falls
    /// below offset 0 is dropped.
    pub fn advance(&mut self, n: u32) {
        let mut kept = 0;
        for i in 0..self.count {
            let r = self.runs[i];
            if r.end > n {
                self.runs[kept] = Run {
                    start: r.start.saturating_sub(n),
                    end: r.end - n,
                    touched: r.touched,
                };
                kept += 1;
            }
        }
        self.count = kept;
    }

    /// The SACK blocks to send with an ACK of `rcv_nxt`, at most `max` (and at most
    /// [`SackBlocks::MAX`]): RFC 2018 4, the first block holds the most recently received
    /// segment and the others follow most recent first. A range at offset 0 is left out:
    /// it is in order, and the ACK covers it once it is delivered.
    pub fn sack_blocks(&self, rcv_nxt: Seq, max: usize) -> SackBlocks {
        let mut order = [(0u64, 0u32, 0u32); MAX_RANGES];
        let mut n = 0;
        for r in self.runs[..self.count].iter().filter(|r| r.start > 0) {
            order[n] = (r.touched, r.start, r.end);
            n += 1;
        }
        let order = &mut order[..n];
        order.sort_unstable_by_key(|&(touched, _, _)| core::cmp::Reverse(touched));
        let mut blocks = SackBlocks::new();
        for &(_, start, end) in order.iter().take(max) {
            blocks.push(SackBlock {
                left: rcv_nxt + start,
                right: rcv_nxt + end,
            });
        }
        blocks
    }

    /// The ranges held, as `(offset, len)`, ascending.
    pub fn ranges(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.runs[..self.count]
            .iter()
            .map(|r| (r.start, r.end - r.start))
    }

    /// Total bytes held.
    pub fn buffered(&self) -> u32 {
        // Disjoint ranges within 0..u32::MAX cannot sum past u32::MAX.
        self.runs[..self.count]
            .iter()
            .fold(0u32, |sum, r| sum.saturating_add(r.end - r.start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn ranges(a: &Assembler) -> Vec<(u32, u32)> {
        a.ranges().collect()
    }

    fn blocks(a: &Assembler, rcv_nxt: u32, max: usize) -> Vec<(u32, u32)> {
        a.sack_blocks(Seq(rcv_nxt), max)
            .iter()
            .map(|b| (b.left.0, b.right.0))
            .collect()
    }

    /// An assembler holding `(offset, len)` added in order.
    fn with(adds: &[(u32, u32)]) -> Assembler {
        let mut a = Assembler::new();
        for &(o, l) in adds {
            a.add(o, l).unwrap();
        }
        a
    }

    #[test]
    fn new_assembler_holds_nothing() {
        let a = Assembler::new();
        assert!(a.is_empty());
        assert_eq!((a.front_len(), a.buffered()), (0, 0));
        assert_eq!(ranges(&a), []);
        assert!(a.sack_blocks(Seq(1), 4).is_empty());
    }

    #[test]
    fn zero_length_add_records_nothing() {
        let mut a = Assembler::new();
        assert_eq!(a.add(10, 0), Ok(()));
        assert!(a.is_empty());
    }

    #[test]
    fn disjoint_adds_are_kept_apart_in_ascending_order() {
        let a = with(&[(50, 10), (10, 10), (30, 5)]);
        assert_eq!(ranges(&a), [(10, 10), (30, 5), (50, 10)]);
        assert_eq!(a.buffered(), 25);
    }

    #[test]
    fn add_touching_a_range_on_its_left_merges() {
        let a = with(&[(20, 10), (10, 10)]);
        assert_eq!(ranges(&a), [(10, 20)]);
        let a = with(&[(20, 10), (15, 10)]);
        assert_eq!(ranges(&a), [(15, 15)]);
    }

    #[test]
    fn add_touching_a_range_on_its_right_merges() {
        let a = with(&[(10, 10), (20, 10)]);
        assert_eq!(ranges(&a), [(10, 20)]);
        let a = with(&[(10, 10), (15, 10)]);
        assert_eq!(ranges(&a), [(10, 15)]);
    }

    #[test]
    fn add_filling_a_gap_bridges_two_ranges() {
        let a = with(&[(10, 10), (30, 10), (20, 10)]);
        assert_eq!(ranges(&a), [(10, 30)]);
        assert_eq!(a.buffered(), 30);
    }

    #[test]
    fn add_covering_several_ranges_swallows_them() {
        let a = with(&[(10, 5), (20, 5), (30, 5), (50, 5), (5, 40)]);
        assert_eq!(ranges(&a), [(5, 40), (50, 5)]);
    }

    #[test]
    fn duplicate_inside_a_range_changes_nothing() {
        let a = with(&[(10, 20), (15, 5)]);
        assert_eq!(ranges(&a), [(10, 20)]);
        assert_eq!(a.buffered(), 20);
    }

    #[test]
    fn front_len_counts_only_from_offset_zero() {
        assert_eq!(with(&[(1, 10)]).front_len(), 0);
        assert_eq!(with(&[(0, 10), (20, 5)]).front_len(), 10);
    }

    #[test]
    fn advance_past_part_of_a_range_keeps_its_tail() {
        let mut a = with(&[(10, 10), (30, 10)]);
        a.advance(15);
        assert_eq!(ranges(&a), [(0, 5), (15, 10)]);
        assert_eq!(a.front_len(), 5);
    }

    #[test]
    fn advance_drops_ranges_wholly_below_the_new_offset_zero() {
        let mut a = with(&[(10, 10), (30, 10)]);
        a.advance(20);
        assert_eq!(ranges(&a), [(10, 10)]);
        a.advance(u32::MAX);
        assert!(a.is_empty());
    }

    #[test]
    fn in_order_data_is_delivered_without_a_range() {
        // Eight ranges held: in-order bytes are still taken, by advancing over them.
        let mut a = Assembler::new();
        for i in 1..=8 {
            a.add(i * 100, 10).unwrap();
        }
        assert_eq!(a.add(0, 50), Err(TooManyRanges));
        a.advance(50);
        assert_eq!(a.front_len(), 0);
        a.advance(60);
        assert_eq!(a.front_len(), 0);
        assert_eq!(ranges(&a).len(), 7);
    }

    #[test]
    fn too_many_ranges_leaves_state_unchanged() {
        let mut a = Assembler::new();
        for i in 0..MAX_RANGES as u32 {
            a.add(10 + i * 20, 10).unwrap();
        }
        let before = ranges(&a);
        let sack_before = blocks(&a, 1000, 4);
        assert_eq!(a.add(500, 10), Err(TooManyRanges));
        assert_eq!(a.add(1, 5), Err(TooManyRanges));
        assert_eq!(ranges(&a), before);
        assert_eq!(blocks(&a, 1000, 4), sack_before);
        // A ninth segment that touches a range needs no new one.
        assert_eq!(a.add(20, 10), Ok(()));
        assert_eq!(ranges(&a).len(), MAX_RANGES - 1);
    }

    #[test]
    fn add_running_past_u32_max_is_cut_there() {
        let mut a = Assembler::new();
        a.add(u32::MAX - 5, 100).unwrap();
        a.add(u32::MAX, 1).unwrap();
        assert_eq!(ranges(&a), [(u32::MAX - 5, 5)]);
        assert_eq!(a.buffered(), 5);
    }

    #[test]
    fn sack_blocks_are_most_recent_first() {
        let a = with(&[(10, 10), (50, 10), (30, 10)]);
        assert_eq!(
            blocks(&a, 1000, 4),
            [(1030, 1040), (1050, 1060), (1010, 1020)]
        );
    }

    #[test]
    fn sack_first_block_is_the_range_just_merged_into() {
        // RFC 2018 4: the first block holds the segment that triggered the ACK.
        let a = with(&[(10, 10), (50, 10), (70, 10), (20, 5)]);
        assert_eq!(blocks(&a, 0, 4), [(10, 25), (70, 80), (50, 60)]);
        let a = with(&[(10, 10), (30, 10), (70, 10), (20, 10)]);
        assert_eq!(blocks(&a, 0, 4), [(10, 40), (70, 80)]);
    }

    #[test]
    fn duplicate_segment_makes_its_range_the_most_recent() {
        let a = with(&[(10, 10), (30, 10), (12, 2)]);
        assert_eq!(blocks(&a, 0, 4), [(10, 20), (30, 40)]);
    }

    #[test]
    fn sack_blocks_honour_max() {
        let a = with(&[(10, 1), (20, 1), (30, 1), (40, 1), (50, 1)]);
        assert_eq!(blocks(&a, 0, 3), [(50, 51), (40, 41), (30, 31)]);
        assert_eq!(blocks(&a, 0, 10).len(), SackBlocks::MAX);
        assert_eq!(blocks(&a, 0, 0), []);
    }

    #[test]
    fn sack_blocks_leave_out_the_in_order_range() {
        let a = with(&[(20, 10), (0, 10)]);
        assert_eq!(blocks(&a, 0, 4), [(20, 30)]);
    }

    #[test]
    fn sack_blocks_wrap_the_sequence_space() {
        let a = with(&[(10, 10)]);
        assert_eq!(blocks(&a, u32::MAX - 14, 4), [(u32::MAX - 4, 5)]);
    }

    /// 64 KiB of window.
    const WINDOW: u32 = 1 << 16;

    #[derive(Clone, Debug)]
    enum Op {
        Add(u32, u32),
        Advance(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        let add = |span: u32, max_len: u32| {
            (0..span, 0..max_len).prop_map(|(o, l)| Op::Add(o, l.min(WINDOW - o)))
        };
        prop_oneof![
            4 => add(WINDOW, 1500),
            4 => add(2048, 300),
            2 => (0u32..600).prop_map(Op::Advance),
            1 => (0u32..2 * WINDOW).prop_map(Op::Advance),
        ]
    }

    /// Maximal runs of consecutive offsets, as `(offset, len)`.
    fn runs(set: &BTreeSet<u32>) -> Vec<(u32, u32)> {
        let mut out: Vec<(u32, u32)> = Vec::new();
        for &x in set {
            match out.last_mut() {
                Some((o, l)) if *o + *l == x => *l += 1,
                _ => out.push((x, 1)),
            }
        }
        out
    }

    proptest! {
        #[test]
        fn matches_a_set_of_offsets(
            ops in proptest::collection::vec(op(), 1..80),
            rcv_nxt: u32,
            max in 0usize..6,
        ) {
            let mut a = Assembler::new();
            let mut rcv_nxt = Seq(rcv_nxt);
            let mut set = BTreeSet::new();
            // (last byte of each recorded segment, when): the most recent segment whose
            // last byte lies in a range dates that range.
            let mut history: Vec<(u32, usize)> = Vec::new();
            for (time, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Add(o, l) => {
                        let fresh: Vec<u32> = (o..o + l).filter(|&x| set.insert(x)).collect();
                        if runs(&set).len() > MAX_RANGES {
                            fresh.iter().for_each(|x| {
                                set.remove(x);
                            });
                            let before = ranges(&a);
                            prop_assert_eq!(a.add(o, l), Err(TooManyRanges));
                            prop_assert_eq!(ranges(&a), before);
                        } else {
                            prop_assert_eq!(a.add(o, l), Ok(()));
                            if l > 0 {
                                history.push((o + l - 1, time));
                            }
                        }
                    }
                    Op::Advance(n) => {
                        a.advance(n);
                        rcv_nxt += n;
                        set = set.range(n..).map(|x| x - n).collect();
                        history.retain(|h| h.0 >= n);
                        history.iter_mut().for_each(|h| h.0 -= n);
                    }
                }
                let expected = runs(&set);
                prop_assert_eq!(ranges(&a), expected.clone());
                prop_assert_eq!(a.buffered() as usize, set.len());
                prop_assert_eq!(a.is_empty(), set.is_empty());
                let front = expected.first().filter(|r| r.0 == 0).map_or(0, |r| r.1);
                prop_assert_eq!(a.front_len(), front);

                let sack = a.sack_blocks(rcv_nxt, max);
                let mut seen: Vec<(u32, u32)> = Vec::new();
                for b in &sack {
                    prop_assert!(b.left.gt(rcv_nxt), "{:?} not above {:?}", b, rcv_nxt);
                    let (off, end) = (b.left.dist_from(rcv_nxt), b.right.dist_from(rcv_nxt));
                    prop_assert!(off < end);
                    prop_assert!(expected.contains(&(off, end - off)), "{:?} not a range", b);
                    prop_assert!(seen.iter().all(|&(s, e)| end <= s || e <= off));
                    seen.push((off, end));
                }
                // RFC 2018 4 order: by the most recent segment landing in each range.
                let mut dated: Vec<(usize, u32, u32)> = expected
                    .iter()
                    .filter(|r| r.0 > 0)
                    .map(|&(o, l)| {
                        let when = history
                            .iter()
                            .filter(|h| (o..o + l).contains(&h.0))
                            .map(|h| h.1)
                            .max()
                            .unwrap_or(0);
                        (when, o, o + l)
                    })
                    .collect();
                dated.sort_by_key(|d| core::cmp::Reverse(d.0));
                let want: Vec<(u32, u32)> =
                    dated.iter().take(max.min(SackBlocks::MAX)).map(|d| (d.1, d.2)).collect();
                prop_assert_eq!(seen, want);
            }
        }
    }
}
