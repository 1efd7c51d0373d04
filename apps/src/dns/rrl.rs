//! Response rate limiting per client prefix (the scheme BIND and NSD ship, off by
//! default here): each IPv4 /24 may get `rate` responses per second; past that, every
//! `slip`-th response goes out as an empty answer with TC set (a real client retries over
//! TCP, a spoofed victim gets little), the others are dropped. This blunts reflection
//! attacks that spoof a victim's address.
//!
//! State is a fixed table of buckets indexed by a hash of the prefix, sized at start-up:
//! no allocation per query. Two prefixes that land in the same bucket share it (the
//! table is large; a shared bucket only limits both a little more).

use nmio::Instant;
use std::net::Ipv4Addr;

/// What to do with one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send it.
    Send,
    /// Send an empty, truncated answer instead (TC=1).
    Slip,
    /// Send nothing.
    Drop,
}

#[derive(Clone, Copy, Default)]
struct Bucket {
    prefix: u32,
    /// The second the count is for.
    second: u64,
    count: u32,
    limited: u32,
}

/// The rate limiter.
pub struct Rrl {
    rate: u32,
    slip: u32,
    buckets: Box<[Bucket]>,
}

impl Rrl {
    /// At most `rate` responses per second per /24 (`rate` 0: no limit); past it, every
    /// `slip`-th response slips (0: none, all dropped). `buckets` is rounded up to a power
    /// of two.
    pub fn new(rate: u32, slip: u32, buckets: usize) -> Self {
        let n = buckets.max(1).next_power_of_two();
        Rrl {
            rate,
            slip,
            buckets: vec![Bucket::default(); n].into_boxed_slice(),
        }
    }

    /// Whether limiting is on.
    pub fn enabled(&self) -> bool {
        self.rate > 0
    }

    /// The verdict for a response to `client` at `now`.
    pub fn check(&mut self, client: Ipv4Addr, now: Instant) -> Verdict {
        if self.rate == 0 {
            return Verdict::Send;
        }
        let prefix = u32::from(client) & 0xffff_ff00;
        // A multiplicative hash of the prefix (its low byte is zero).
        let h = (prefix >> 8).wrapping_mul(0x9e37_79b1);
        let mask = self.buckets.len() - 1;
        let b = &mut self.buckets[(h as usize >> 8) & mask];
        let second = now.as_nanos() / 1_000_000_000;
        if b.prefix != prefix || b.second != second {
            *b = Bucket {
                prefix,
                second,
                count: 0,
                limited: 0,
            };
        }
        b.count = b.count.saturating_add(1);
        if b.count <= self.rate {
            return Verdict::Send;
        }
        b.limited = b.limited.saturating_add(1);
        if self.slip > 0 && b.limited.is_multiple_of(self.slip) {
            Verdict::Slip
        } else {
            Verdict::Drop
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn a_prefix_gets_its_rate_then_slips_every_second_response() {
        let mut r = Rrl::new(5, 2, 1024);
        let c = Ipv4Addr::new(192, 0, 2, 7);
        let v: Vec<Verdict> = (0..9).map(|_| r.check(c, at(1000))).collect();
        use Verdict::*;
        assert_eq!(v, [Send, Send, Send, Send, Send, Drop, Slip, Drop, Slip]);
        // The same /24 shares the budget; another /24 has its own.
        assert_eq!(r.check(Ipv4Addr::new(192, 0, 2, 200), at(1500)), Drop);
        assert_eq!(r.check(Ipv4Addr::new(192, 0, 3, 1), at(1500)), Send);
        // A new second, a new budget.
        assert_eq!(r.check(c, at(2000)), Send);
    }

    #[test]
    fn off_by_default_and_slip_zero_drops_all() {
        let mut r = Rrl::new(0, 2, 16);
        assert!(!r.enabled());
        for _ in 0..100 {
            assert_eq!(r.check(Ipv4Addr::new(10, 0, 0, 1), at(0)), Verdict::Send);
        }
        let mut r = Rrl::new(1, 0, 16);
        assert_eq!(r.check(Ipv4Addr::new(10, 0, 0, 1), at(0)), Verdict::Send);
        for _ in 0..10 {
            assert_eq!(r.check(Ipv4Addr::new(10, 0, 0, 1), at(0)), Verdict::Drop);
        }
    }
}
