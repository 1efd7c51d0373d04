//! A token bucket, for the ICMP error rate limit (RFC 1812 4.3.2.8, RFC 1122 3.2.2).

use nmio::Instant;

/// `rate` tokens per second up to `burst`; one token per message.
#[derive(Clone, Copy, Debug)]
pub struct TokenBucket {
    /// Nanoseconds per token (0: never any token).
    ns_per_token: u64,
    burst: u64,
    /// Tokens scaled by `ns_per_token`, so refills need no division.
    credit_ns: u64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`. `rate` 0 never gives a token.
    pub fn new(rate: u32, burst: u32, now: Instant) -> Self {
        let ns_per_token = if rate == 0 {
            0
        } else {
            1_000_000_000 / u64::from(rate)
        };
        let burst = u64::from(burst.max(1));
        TokenBucket {
            ns_per_token,
            burst,
            credit_ns: burst * ns_per_token,
            last: now,
        }
    }

    /// Take a token if one is there.
    pub fn take(&mut self, now: Instant) -> bool {
        if self.ns_per_token == 0 {
            return false;
        }
        let cap = self.burst * self.ns_per_token;
        let elapsed = now.as_nanos().saturating_sub(self.last.as_nanos());
        self.credit_ns = self.credit_ns.saturating_add(elapsed).min(cap);
        self.last = now.max(self.last);
        if self.credit_ns >= self.ns_per_token {
            self.credit_ns -= self.ns_per_token;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let t0 = Instant::from_millis(1000);
        let mut b = TokenBucket::new(100, 5, t0); // one token per 10 ms
        assert_eq!((0..10).filter(|_| b.take(t0)).count(), 5);
        assert!(!b.take(Instant::from_millis(1009)));
        assert!(b.take(Instant::from_millis(1010)));
        assert!(!b.take(Instant::from_millis(1010)));
        // A long pause refills only up to the burst.
        let later = Instant::from_millis(60_000);
        assert_eq!((0..10).filter(|_| b.take(later)).count(), 5);
    }

    #[test]
    fn zero_rate_never_sends_and_clock_going_back_is_harmless() {
        let mut b = TokenBucket::new(0, 10, Instant::ZERO);
        assert!(!b.take(Instant::from_millis(5)));
        let mut b = TokenBucket::new(1000, 1, Instant::from_millis(10));
        assert!(b.take(Instant::from_millis(10)));
        assert!(!b.take(Instant::from_millis(3)));
        assert!(b.take(Instant::from_millis(11)));
    }
}
