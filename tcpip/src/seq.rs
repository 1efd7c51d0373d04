//! TCP sequence numbers and their modular arithmetic (RFC 9293 3.4).
//!
//! Sequence numbers live in a space of 2^32 that wraps, so `<` on the raw `u32` is wrong
//! near the wrap. RFC 9293 3.4: "all arithmetic dealing with sequence numbers must be
//! performed modulo 2**32". Comparison is by signed distance: `a` is before `b` when
//! `a - b`, read as an `i32`, is negative. That order is only meaningful for numbers less
//! than 2^31 apart (the window is far smaller), and it is not transitive over the whole
//! space, which is why [`Seq`] has comparison methods rather than `PartialOrd`.
//!
//! Two numbers exactly 2^31 apart are each "before" the other by this rule (RFC 1982 3.2
//! leaves that case undefined). Every method here derives from the one signed distance,
//! so `lt` is always `!ge` and `le` always `!gt`, even there.

use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A TCP sequence (or acknowledgment) number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Seq(pub u32);

impl Seq {
    /// `self` comes before `other`: `self - other < 0` as a signed distance.
    #[inline]
    pub fn lt(self, other: Seq) -> bool {
        self - other < 0
    }

    /// `self` is `other` or comes before it.
    #[inline]
    pub fn le(self, other: Seq) -> bool {
        self - other <= 0
    }

    /// `self` comes after `other`.
    #[inline]
    pub fn gt(self, other: Seq) -> bool {
        self - other > 0
    }

    /// `self` is `other` or comes after it.
    #[inline]
    pub fn ge(self, other: Seq) -> bool {
        self - other >= 0
    }

    /// The later of the two (`self` when equal).
    #[inline]
    pub fn max(self, other: Seq) -> Seq {
        if self.ge(other) {
            self
        } else {
            other
        }
    }

    /// The earlier of the two (`self` when equal).
    #[inline]
    pub fn min(self, other: Seq) -> Seq {
        if self.le(other) {
            self
        } else {
            other
        }
    }

    /// How far `self` is past `earlier`, going forward around the space (`0..2^32`).
    /// Byte counts such as "bytes acknowledged" (`SEG.ACK - SND.UNA`) are this.
    #[inline]
    pub fn dist_from(self, earlier: Seq) -> u32 {
        self.0.wrapping_sub(earlier.0)
    }

    /// `start <= self < end`, going forward from `start`: empty when `start == end`. For
    /// `end - start < 2^31` this is `start.le(self) && self.lt(end)`; it stays exact for
    /// any larger span too, where those two comparisons would not.
    #[inline]
    pub fn in_range(self, start: Seq, end: Seq) -> bool {
        self.dist_from(start) < end.dist_from(start)
    }

    /// `start <= self < start + len`: the RFC 9293 3.10.7.4 acceptability test
    /// (`RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND`). Empty when `len` is 0.
    #[inline]
    pub fn in_window(self, start: Seq, len: u32) -> bool {
        self.dist_from(start) < len
    }
}

impl Add<u32> for Seq {
    type Output = Seq;

    #[inline]
    fn add(self, n: u32) -> Seq {
        Seq(self.0.wrapping_add(n))
    }
}

impl AddAssign<u32> for Seq {
    #[inline]
    fn add_assign(&mut self, n: u32) {
        self.0 = self.0.wrapping_add(n);
    }
}

impl Sub<u32> for Seq {
    type Output = Seq;

    #[inline]
    fn sub(self, n: u32) -> Seq {
        Seq(self.0.wrapping_sub(n))
    }
}

/// The signed distance `self - other`: negative when `self` comes first.
impl Sub<Seq> for Seq {
    type Output = i32;

    #[inline]
    fn sub(self, other: Seq) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }
}

impl fmt::Debug for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn comparison_follows_the_wrap() {
        let (a, b) = (Seq(u32::MAX - 1), Seq(3));
        assert!(a.lt(b) && a.le(b) && b.gt(a) && b.ge(a));
        assert!(!a.gt(b) && !b.lt(a));
        assert_eq!(b - a, 5);
        assert_eq!(a - b, -5);
        assert_eq!(b.dist_from(a), 5);
        assert_eq!(a + 5, b);
        assert_eq!(b - 5, a);
        assert_eq!(a.max(b), b);
        assert_eq!(b.min(a), a);
        let mut c = a;
        c += 5;
        assert_eq!(c, b);
    }

    #[test]
    fn equal_numbers_are_le_and_ge_only() {
        let a = Seq(7);
        assert!(a.le(a) && a.ge(a) && !a.lt(a) && !a.gt(a));
        assert_eq!(a.max(a), a);
        assert_eq!(a.min(a), a);
    }

    #[test]
    fn half_the_space_apart_is_each_before_the_other() {
        // RFC 1982 3.2 leaves this undefined; we keep lt == !ge.
        let (a, b) = (Seq(0), Seq(1 << 31));
        assert!(a.lt(b) && b.lt(a));
        assert!(!a.ge(b) && !b.ge(a));
    }

    #[test]
    fn window_across_the_wrap() {
        let start = Seq(u32::MAX - 9);
        assert!(start.in_window(start, 20));
        assert!(Seq(9).in_window(start, 20));
        assert!(!Seq(10).in_window(start, 20));
        assert!(!Seq(u32::MAX - 10).in_window(start, 20));
        assert!(!start.in_window(start, 0));
        assert!(Seq(0).in_range(start, start + 20));
        assert!(!Seq(0).in_range(start, start));
    }

    #[test]
    fn debug_and_display_print_the_number() {
        assert_eq!(format!("{:?} {}", Seq(42), Seq(u32::MAX)), "42 4294967295");
    }

    proptest! {
        #[test]
        fn comparisons_agree_with_the_signed_distance(a: u32, b: u32) {
            let (a, b) = (Seq(a), Seq(b));
            let d = a - b;
            prop_assert_eq!(a.lt(b), !a.ge(b));
            prop_assert_eq!(a.le(b), !a.gt(b));
            prop_assert_eq!(a.lt(b), d < 0);
            prop_assert_eq!(a == b, a.le(b) && a.ge(b));
            prop_assert_eq!(b + d as u32, a);
            if d != i32::MIN {
                // Antisymmetric everywhere but the undefined half-space point.
                prop_assert_eq!(a.lt(b), b.gt(a));
                prop_assert_eq!(a.le(b), b.ge(a));
                prop_assert_eq!(b - a, -d);
                prop_assert_eq!(a.max(b), b.max(a));
                prop_assert_eq!(a.min(b), b.min(a));
            }
        }

        #[test]
        fn adding_less_than_half_the_space_moves_forward(a: u32, n in 1u32..1 << 31) {
            let a = Seq(a);
            prop_assert!((a + n).gt(a));
            prop_assert!(a.lt(a + n));
            prop_assert_eq!((a + n) - a, n as i32);
            prop_assert_eq!((a + n).dist_from(a), n);
            prop_assert_eq!(a.max(a + n), a + n);
            prop_assert_eq!(a.min(a + n), a);
        }

        #[test]
        fn add_then_sub_is_identity(a: u32, n: u32) {
            let a = Seq(a);
            prop_assert_eq!(a + n - n, a);
            prop_assert_eq!(a - n + n, a);
            let mut b = a;
            b += n;
            prop_assert_eq!(b, a + n);
        }

        #[test]
        fn in_window_matches_a_u64_reference(
            start: u32,
            len in prop_oneof![0u32..64, 0u32..1 << 31],
            off: u32,
            aim in 0u8..3,
        ) {
            // Aim `off` anywhere, inside the window, or at its far edge, so both answers
            // come up often.
            let off = match aim {
                0 => off,
                1 => off % len.saturating_add(1),
                _ => len.wrapping_add(off % 4).wrapping_sub(2),
            };
            // Unwrap the window onto a line: x is in it when it, or x + 2^32, lies in
            // [start, start + len).
            let x = start.wrapping_add(off);
            let (lo, hi) = (u64::from(start), u64::from(start) + u64::from(len));
            let unwrapped = [u64::from(x), u64::from(x) + (1 << 32)];
            let reference = unwrapped.iter().any(|&v| lo <= v && v < hi);
            prop_assert_eq!(Seq(x).in_window(Seq(start), len), reference);
            prop_assert_eq!(Seq(x).in_range(Seq(start), Seq(start) + len), reference);
            if len > 0 {
                prop_assert_eq!(
                    reference,
                    Seq(start).le(Seq(x)) && Seq(x).lt(Seq(start) + len)
                );
            }
        }
    }
}
