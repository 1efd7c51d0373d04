//! The retransmission timeout (RTO) estimator of RFC 6298.
//!
//! TCP retransmits a segment when its ACK is later than the RTO, so the RTO has to track the
//! path's round-trip time: too short and we resend what was only delayed, too long and a loss
//! stalls the connection. RFC 6298 keeps a smoothed RTT (SRTT) and its mean deviation
//! (RTTVAR) and sets `RTO = SRTT + max(G, 4 * RTTVAR)` (section 2), doubling it on each
//! timeout (5.5) until a new measurement collapses it again.
//!
//! Which ACKs may give a sample is the caller's business, since only the TCB knows what it
//! retransmitted. Karn's algorithm (RFC 6298 3): no sample from an ACK that covers a
//! retransmitted segment, because it cannot tell which transmission is being acknowledged.
//! With timestamps (RFC 7323 4.1) the echoed TSecr names the transmission, so every ACK that
//! advances SND.UNA may give a sample, retransmitted or not.
//!
//! The estimator is a few `Duration`s (no heap); it never reads a clock and never panics:
//! every sum saturates and every RTO lies in `[min, max]` of its [`RtoConfig`].

use std::time::Duration;

/// The bounds of the RTO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtoConfig {
    /// The RTO before the first RTT sample: 1 s (RFC 6298 2.1).
    pub initial: Duration,
    /// The lower bound. RFC 6298 2.4 says 1 s; the default is 200 ms, as in Linux, because a
    /// 1 s floor stalls every loss on today's short paths (RFC 6298 itself notes the 1 s
    /// floor is conservative, and RFC 8961 leaves room for lower ones).
    pub min: Duration,
    /// The upper bound, at least 60 s (RFC 6298 2.5); the default is 60 s. When `min > max`,
    /// `max` wins.
    pub max: Duration,
    /// The clock granularity G: the smallest variance term (RFC 6298 2.2-2.3); 1 ms.
    pub granularity: Duration,
}

impl Default for RtoConfig {
    fn default() -> Self {
        RtoConfig {
            initial: Duration::from_secs(1),
            min: Duration::from_millis(200),
            max: Duration::from_secs(60),
            granularity: Duration::from_millis(1),
        }
    }
}

impl RtoConfig {
    /// `d` brought into `[min, max]`; `max` wins if the two cross (no panic, unlike
    /// `Duration::clamp`).
    fn bound(&self, d: Duration) -> Duration {
        d.max(self.min).min(self.max)
    }
}

/// SRTT, RTTVAR and the RTO of one connection (RFC 6298).
#[derive(Clone, Debug)]
pub struct RttEstimator {
    cfg: RtoConfig,
    srtt: Option<Duration>,
    rttvar: Duration,
    /// The RTO from the last sample (or the initial one), bounded, without backoff.
    base: Duration,
    backoffs: u32,
}

impl Default for RttEstimator {
    fn default() -> Self {
        RttEstimator::new(RtoConfig::default())
    }
}

impl RttEstimator {
    /// No sample yet: the RTO is `cfg.initial` (RFC 6298 2.1), within `[min, max]`.
    pub fn new(cfg: RtoConfig) -> Self {
        RttEstimator {
            cfg,
            srtt: None,
            rttvar: Duration::ZERO,
            base: cfg.bound(cfg.initial),
            backoffs: 0,
        }
    }

    /// Take one RTT measurement `rtt` (already filtered by Karn's rule, see the module doc).
    ///
    /// The first sets SRTT = R, RTTVAR = R/2 (2.2); later ones set
    /// RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R| and then SRTT = 7/8 SRTT + 1/8 R (2.3,
    /// alpha = 1/8, beta = 1/4, RTTVAR first so it uses the old SRTT). The RTO is
    /// SRTT + max(G, 4 RTTVAR), bounded by `min` (2.4) and `max` (2.5). A new sample also
    /// ends any backoff: RFC 6298 5 notes that the recomputed RTO "collapses" the doubled one.
    pub fn sample(&mut self, rtt: Duration) {
        let (srtt, rttvar) = match self.srtt {
            None => (rtt, rtt / 2),
            Some(srtt) => {
                let delta = srtt.abs_diff(rtt);
                // x - x/4 and x - x/8 rather than 3x/4 and 7x/8: no overflow, whatever x.
                let rttvar = self.rttvar - self.rttvar / 4 + delta / 4;
                (srtt - srtt / 8 + rtt / 8, rttvar)
            }
        };
        self.srtt = Some(srtt);
        self.rttvar = rttvar;
        let var_term = self.cfg.granularity.max(rttvar.saturating_mul(4));
        self.base = self.cfg.bound(srtt.saturating_add(var_term));
        self.backoffs = 0;
    }

    /// The RTO to arm the retransmission timer with: the base RTO doubled once per
    /// [`backoff`](Self::backoff), at most `max`.
    pub fn rto(&self) -> Duration {
        let factor = 1u32.checked_shl(self.backoffs).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cfg.max)
    }

    /// The retransmission timer fired: double the RTO (RFC 6298 5.5), up to `max` (2.5).
    /// The count keeps going past the cap, so the TCB can use [`backoffs`](Self::backoffs) as
    /// its retry count.
    pub fn backoff(&mut self) {
        self.backoffs = self.backoffs.saturating_add(1);
    }

    /// Back to the unbacked-off RTO, for the TCB to call when new data is acknowledged
    /// without a usable sample (a sample clears the backoff by itself). RFC 6298 5 keeps the
    /// backed-off value until a new measurement; resetting on any forward progress, as
    /// Linux does, is the TCB's choice.
    pub fn clear_backoff(&mut self) {
        self.backoffs = 0;
    }

    /// SRTT, `None` before the first sample.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// RTTVAR, zero before the first sample.
    pub fn rttvar(&self) -> Duration {
        self.rttvar
    }

    /// Timeouts since the last sample or [`clear_backoff`](Self::clear_backoff).
    pub fn backoffs(&self) -> u32 {
        self.backoffs
    }

    /// The bounds this estimator was built with.
    pub fn config(&self) -> RtoConfig {
        self.cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn unbounded() -> RtoConfig {
        RtoConfig {
            min: Duration::ZERO,
            max: Duration::MAX,
            ..RtoConfig::default()
        }
    }

    #[test]
    fn rto_before_any_sample_is_one_second() {
        let est = RttEstimator::default();
        assert_eq!(est.rto(), Duration::from_secs(1));
        assert_eq!(est.srtt(), None);
        assert_eq!(est.rttvar(), Duration::ZERO);
    }

    #[test]
    fn first_sample_sets_srtt_and_half_of_it_as_rttvar() {
        // RFC 6298 2.2: R = 100 ms -> SRTT 100, RTTVAR 50, RTO = 100 + 4 * 50 = 300 ms.
        let mut est = RttEstimator::default();
        est.sample(ms(100));
        assert_eq!(est.srtt(), Some(ms(100)));
        assert_eq!(est.rttvar(), ms(50));
        assert_eq!(est.rto(), ms(300));
    }

    #[test]
    fn later_samples_use_alpha_one_eighth_and_beta_one_quarter() {
        // RFC 6298 2.3, with RTTVAR updated from the old SRTT:
        // RTTVAR = 3/4 * 50 + 1/4 * |100 - 200| = 62.5 ms, SRTT = 7/8 * 100 + 1/8 * 200 = 112.5 ms,
        // RTO = 112.5 + 4 * 62.5 = 362.5 ms.
        let mut est = RttEstimator::default();
        est.sample(ms(100));
        est.sample(ms(200));
        assert_eq!(est.rttvar(), Duration::from_micros(62_500));
        assert_eq!(est.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(est.rto(), Duration::from_micros(362_500));
        // Then a short one: RTTVAR = 3/4 * 62.5 + 1/4 * |112.5 - 12.5| = 71.875 ms,
        // SRTT = 7/8 * 112.5 + 1/8 * 12.5 = 100 ms.
        est.sample(Duration::from_micros(12_500));
        assert_eq!(est.rttvar(), Duration::from_nanos(71_875_000));
        assert_eq!(est.srtt(), Some(ms(100)));
        assert_eq!(est.rto(), Duration::from_micros(387_500));
    }

    #[test]
    fn granularity_bounds_the_variance_term() {
        // Steady samples drive RTTVAR to zero; RTO = SRTT + max(G, 4 RTTVAR) stays above SRTT.
        let mut est = RttEstimator::new(unbounded());
        for _ in 0..200 {
            est.sample(ms(10));
        }
        assert_eq!(est.srtt(), Some(ms(10)));
        assert!(est.rttvar() < Duration::from_micros(1));
        assert_eq!(est.rto(), ms(11));
    }

    #[test]
    fn rto_is_raised_to_min() {
        // RFC 6298 2.4, with our 200 ms default floor: 1 ms + 4 * 0.5 ms = 3 ms -> 200 ms.
        let mut est = RttEstimator::default();
        est.sample(ms(1));
        assert_eq!(est.rto(), ms(200));
        let mut rfc = RttEstimator::new(RtoConfig {
            min: Duration::from_secs(1),
            ..RtoConfig::default()
        });
        rfc.sample(ms(1));
        assert_eq!(rfc.rto(), Duration::from_secs(1));
    }

    #[test]
    fn rto_is_capped_at_max() {
        // RFC 6298 2.5: 100 s + 4 * 50 s would be 300 s.
        let mut est = RttEstimator::default();
        est.sample(Duration::from_secs(100));
        assert_eq!(est.rto(), Duration::from_secs(60));
    }

    #[test]
    fn max_wins_when_the_bounds_cross() {
        let cfg = RtoConfig {
            min: Duration::from_secs(5),
            max: Duration::from_secs(2),
            ..RtoConfig::default()
        };
        let mut est = RttEstimator::new(cfg);
        assert_eq!(est.rto(), Duration::from_secs(2));
        est.sample(ms(1));
        assert_eq!(est.rto(), Duration::from_secs(2));
    }

    #[test]
    fn backoff_doubles_up_to_max() {
        // RFC 6298 5.5 and 2.5: 1, 2, 4, ..., 32, then 60 s for ever.
        let mut est = RttEstimator::default();
        let mut seen = vec![];
        for _ in 0..8 {
            est.backoff();
            seen.push(est.rto().as_secs());
        }
        assert_eq!(seen, [2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(est.backoffs(), 8);
        for _ in 0..100 {
            est.backoff();
        }
        assert_eq!(est.rto(), Duration::from_secs(60));
        assert_eq!(est.backoffs(), 108);
    }

    #[test]
    fn clear_backoff_restores_the_measured_rto() {
        let mut est = RttEstimator::default();
        est.sample(ms(100));
        est.backoff();
        est.backoff();
        assert_eq!(est.rto(), ms(1200));
        est.clear_backoff();
        assert_eq!(est.rto(), ms(300));
        assert_eq!(est.backoffs(), 0);
    }

    #[test]
    fn new_sample_collapses_the_backoff() {
        // RFC 6298 5, note after 5.7.
        let mut est = RttEstimator::default();
        est.backoff();
        est.backoff();
        assert_eq!(est.rto(), Duration::from_secs(4));
        est.sample(ms(100));
        assert_eq!(est.backoffs(), 0);
        assert_eq!(est.rto(), ms(300));
    }

    #[test]
    fn extreme_inputs_saturate() {
        let mut est = RttEstimator::new(unbounded());
        est.sample(Duration::MAX);
        est.sample(Duration::ZERO);
        est.sample(Duration::MAX);
        assert_eq!(est.rto(), Duration::MAX);
        for _ in 0..40 {
            est.backoff();
        }
        assert_eq!(est.rto(), Duration::MAX);
    }

    proptest! {
        #[test]
        fn rto_stays_within_bounds_and_srtt_within_the_samples(
            samples in prop::collection::vec(0u64..10_000_000_000, 1..50),
            backoffs in 0u32..70,
        ) {
            let mut est = RttEstimator::default();
            for &ns in &samples {
                est.sample(Duration::from_nanos(ns));
                let rto = est.rto();
                prop_assert!(rto >= ms(200) && rto <= Duration::from_secs(60));
                prop_assert!(rto >= est.srtt().unwrap().min(Duration::from_secs(60)));
            }
            let lo = *samples.iter().min().unwrap();
            let hi = *samples.iter().max().unwrap();
            let srtt = est.srtt().unwrap().as_nanos() as u64;
            // Truncating integer division may land a few ns under the smallest sample.
            prop_assert!(srtt + samples.len() as u64 >= lo && srtt <= hi);
            let base = est.rto();
            for _ in 0..backoffs {
                let before = est.rto();
                est.backoff();
                prop_assert!(est.rto() >= before);
                prop_assert!(est.rto() <= Duration::from_secs(60));
            }
            est.clear_backoff();
            prop_assert_eq!(est.rto(), base);
        }
    }
}
