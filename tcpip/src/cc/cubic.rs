//! CUBIC (RFC 9438): congestion avoidance that grows the window as a cubic function of the
//! time since the last loss, not of the number of RTTs.
//!
//! Reno adds one segment per RTT, which takes thousands of RTTs to refill a large window
//! after a loss. CUBIC remembers the window where the loss happened (W_max), cuts to 0.7 of
//! it, and then follows `W_cubic(t) = C*(t - K)^3 + W_max` (RFC 9438 4.2): quickly up to near
//! W_max (concave), a plateau around it, then faster and faster past it (convex) to probe for
//! more. K is when the curve gets back to W_max. Where Reno would do better (short RTTs, small
//! windows) CUBIC follows an estimate of Reno's window instead (the Reno-friendly region,
//! 4.3). Slow start, the loss window on a timeout and idle restart are shared with
//! [`NewReno`](super::NewReno).
//!
//! Choices within the RFC:
//!
//! * The growth target is `W_cubic(t + RTT)` with the *minimum* RTT seen rather than SRTT
//!   (as Linux does): SRTT includes the queueing CUBIC itself builds and would overshoot.
//! * ssthresh is 0.7 of the bytes in flight, not of cwnd (RFC 9438 4.6), and the window only
//!   grows while it is used (see [`super`]); time spent application-limited is not counted
//!   in `t` (4.2, "MUST NOT include periods during which cwnd has not been updated due to an
//!   application limit"): the epoch moves forward by the gap between such ACKs.
//! * Fast convergence (4.7) is always on: a server has no way to know it is alone on a path.
//! * The Reno-friendly estimate switches to Reno's own slope once it reaches the window
//!   before the last reduction (`cwnd_prior`, 4.3).
//! * No undo of spurious reductions (4.9); the TCB has no spurious-loss detection yet.
//!
//! Window sizes are kept in bytes; the RFC's segment formulas are scaled by SMSS (so C is
//! `0.4 * SMSS` bytes/s^3). The curve uses `f64`; every conversion back to `u32` saturates.

use std::time::Duration;

use nmio::Instant;

use super::{CongestionControl, Window, DEFAULT_SMSS};

/// C, in segments per second cubed (RFC 9438 5.1).
const C: f64 = 0.4;
/// beta_cubic, the multiplicative decrease (RFC 9438 4.6).
const BETA: f64 = 0.7;
/// alpha_cubic = 3 * (1 - beta) / (1 + beta): the Reno-friendly additive increase, in
/// segments per RTT, that matches Reno's average window (RFC 9438 4.3).
const ALPHA: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);

/// CUBIC congestion control for one connection.
#[derive(Clone, Debug)]
pub struct Cubic {
    w: Window,
    /// W_max, bytes: cwnd just before the last reduction, lowered by fast convergence. Zero
    /// when unknown (before any loss, after a timeout): the next epoch takes its cwnd.
    w_max: f64,
    /// cwnd just before the last reduction, bytes (RFC 9438 4.3's cwnd_prior).
    cwnd_prior: f64,
    /// K, seconds: when the curve of this epoch reaches W_max.
    k: f64,
    /// t_epoch: the start of the current congestion avoidance stage; `None` until its first
    /// ACK.
    epoch: Option<Instant>,
    /// W_est, bytes: Reno's window over the same ACKs.
    w_est: f64,
    /// Growth not yet whole bytes, so that small per-ACK increments add up.
    carry: f64,
    min_rtt: Option<Duration>,
    last_ack: Instant,
}

impl Default for Cubic {
    fn default() -> Self {
        Cubic::new()
    }
}

impl Cubic {
    /// A controller for an SMSS of 536 until [`init`](CongestionControl::init).
    pub fn new() -> Self {
        Cubic::fresh(DEFAULT_SMSS, Instant::ZERO)
    }

    fn fresh(smss: u32, now: Instant) -> Self {
        Cubic {
            w: Window::new(smss),
            w_max: 0.0,
            cwnd_prior: 0.0,
            k: 0.0,
            epoch: None,
            w_est: 0.0,
            carry: 0.0,
            min_rtt: None,
            last_ack: now,
        }
    }

    /// RFC 9438 4.6: `ssthresh = flight_size * beta_cubic`, in integers so 0.7 is exact
    /// (the 2*SMSS floor is the shared window's).
    fn loss_ssthresh(flight: u32) -> u32 {
        (u64::from(flight) * 7 / 10) as u32
    }

    /// C scaled to bytes per second cubed.
    fn c_bytes(&self) -> f64 {
        C * f64::from(self.w.smss)
    }

    /// The first congestion avoidance ACK of a stage (RFC 9438 4.2): t_epoch, K from
    /// eq. (2), W_est = cwnd_epoch (4.3). With no W_max above cwnd (no loss yet, or after a
    /// timeout, 4.8) the curve starts at its plateau: K = 0, W_max = cwnd.
    fn start_epoch(&mut self, now: Instant) {
        let cwnd = f64::from(self.w.cwnd);
        self.epoch = Some(now);
        if self.w_max <= cwnd {
            self.w_max = cwnd;
            self.k = 0.0;
        } else {
            self.k = ((self.w_max - cwnd) / self.c_bytes()).cbrt();
        }
        self.w_est = cwnd;
        self.carry = 0.0;
    }

    /// `W_cubic(t)`, bytes (RFC 9438 eq. (1)).
    fn w_cubic(&self, t: f64) -> f64 {
        self.c_bytes() * (t - self.k).powi(3) + self.w_max
    }

    fn congestion_avoidance(&mut self, now: Instant, acked: u32) {
        let epoch = match self.epoch {
            Some(epoch) => epoch,
            None => {
                self.start_epoch(now);
                now
            }
        };
        let cwnd = f64::from(self.w.cwnd);
        let smss = f64::from(self.w.smss);
        let acked = f64::from(acked);
        let t = now.saturating_since(epoch).as_secs_f64();

        // RFC 9438 eq. (4), in bytes; alpha becomes Reno's 1 once W_est is back where the
        // last reduction started.
        let alpha = if self.w_est >= self.cwnd_prior {
            1.0
        } else {
            ALPHA
        };
        self.w_est = (self.w_est + alpha * acked * smss / cwnd).min(f64::from(u32::MAX));

        if self.w_cubic(t) < self.w_est {
            // 4.3: Reno-friendly region, cwnd = W_est (never below where it is).
            if self.w_est > cwnd {
                self.w.cwnd = self.w_est as u32;
                self.carry = self.w_est.fract();
            }
        } else {
            // 4.4/4.5: concave and convex regions alike grow by (target - cwnd) / cwnd per
            // segment acknowledged, with target = W_cubic(t + RTT) kept in [cwnd, 1.5 cwnd].
            let rtt = self.min_rtt.unwrap_or(Duration::ZERO).as_secs_f64();
            let target = self.w_cubic(t + rtt).max(cwnd).min(1.5 * cwnd);
            self.grow((target - cwnd) / cwnd * acked);
        }
    }

    fn grow(&mut self, bytes: f64) {
        // `max` also turns a NaN into 0.
        let total = self.carry + bytes.max(0.0);
        let whole = total.floor();
        self.carry = total - whole;
        self.w.cwnd = self.w.cwnd.saturating_add(whole as u32);
    }
}

impl CongestionControl for Cubic {
    fn init(&mut self, smss: u32, now: Instant) {
        *self = Cubic::fresh(smss, now);
    }

    #[inline]
    fn cwnd(&self) -> u32 {
        self.w.cwnd
    }

    #[inline]
    fn ssthresh(&self) -> u32 {
        self.w.ssthresh
    }

    fn on_ack(&mut self, now: Instant, acked: u32, flight: u32, rtt: Option<Duration>) {
        if let Some(rtt) = rtt {
            self.min_rtt = Some(self.min_rtt.map_or(rtt, |min| min.min(rtt)));
        }
        if acked == 0 {
            return;
        }
        self.w.on_new_ack();
        let gap = now.saturating_since(self.last_ack);
        self.last_ack = self.last_ack.max(now);
        if !self.w.cwnd_limited(flight) {
            // 4.2: application-limited time does not move the curve.
            if let Some(epoch) = self.epoch {
                self.epoch = Some(epoch + gap);
            }
            return;
        }
        let acked = if self.w.in_slow_start() {
            self.w.slow_start(acked)
        } else {
            acked
        };
        if acked > 0 {
            self.congestion_avoidance(now, acked);
        }
    }

    fn on_congestion(&mut self, _now: Instant, flight: u32) {
        let cwnd = f64::from(self.w.cwnd);
        // 4.7 fast convergence: a loss below the last W_max means the share is shrinking;
        // plateau lower to leave room for the newcomer.
        self.w_max = if cwnd < self.w_max {
            cwnd * (1.0 + BETA) / 2.0
        } else {
            cwnd
        };
        self.cwnd_prior = cwnd;
        self.w.reduce(Self::loss_ssthresh(flight));
        self.epoch = None;
    }

    fn on_recovery_end(&mut self, _now: Instant) {
        self.w.end_recovery();
    }

    fn on_timeout(&mut self, _now: Instant, flight: u32) {
        self.w.timeout(Self::loss_ssthresh(flight));
        // 4.8: the first congestion avoidance after a timeout starts the curve at its
        // plateau (K = 0, W_max = cwnd then), with Reno's slope for W_est.
        self.w_max = 0.0;
        self.cwnd_prior = 0.0;
        self.epoch = None;
    }

    fn on_idle_restart(&mut self, _now: Instant) {
        self.w.idle_restart();
        // The idle time must not count in t (4.2); the next ACK in congestion avoidance
        // starts a new epoch from the restart window.
        self.epoch = None;
    }
}

#[cfg(test)]
mod tests {
    use super::super::ack_one_window;
    use super::*;

    const MSS: u32 = 1460;
    const RTT: Duration = Duration::from_millis(100);

    fn started() -> Cubic {
        let mut cc = Cubic::new();
        cc.init(MSS, Instant::ZERO);
        cc
    }

    /// Slow start from IW10 to `segments` (a power of two times 10).
    fn grown_to(segments: u32, now: &mut Instant, rtt: Duration) -> Cubic {
        let mut cc = started();
        while cc.cwnd() < segments * MSS {
            ack_one_window(&mut cc, MSS, now, rtt);
        }
        assert_eq!(cc.cwnd(), segments * MSS);
        cc
    }

    fn segs(bytes: f64) -> f64 {
        bytes / f64::from(MSS)
    }

    #[test]
    fn cubic_reduces_to_0_7_on_loss() {
        let mut now = Instant::ZERO;
        let mut cc = grown_to(160, &mut now, RTT);
        cc.on_congestion(now, cc.cwnd());
        assert_eq!(cc.ssthresh(), 112 * MSS);
        assert_eq!(cc.cwnd(), 112 * MSS);
        assert_eq!(cc.w_max, f64::from(160 * MSS));
        // Never below two segments (RFC 9438 4.6).
        cc.on_congestion(now, MSS);
        assert_eq!((cc.cwnd(), cc.ssthresh()), (2 * MSS, 2 * MSS));
    }

    #[test]
    fn cubic_window_grows_back_to_wmax_at_k() {
        let mut now = Instant::ZERO;
        let mut cc = grown_to(160, &mut now, RTT);
        cc.on_congestion(now, cc.cwnd());
        cc.on_recovery_end(now);
        // K = cbrt(W_max * (1 - beta) / C) = cbrt(160 * 0.3 / 0.4) = 4.93 s.
        let k = (160.0 * 0.3 / 0.4f64).cbrt();
        let w_max = f64::from(160 * MSS);
        let start = now;
        let mut halfway_checked = false;
        while (now - start).as_secs_f64() < k {
            ack_one_window(&mut cc, MSS, &mut now, RTT);
            let t = (now - start).as_secs_f64();
            assert!(f64::from(cc.cwnd()) <= w_max * 1.01, "overshoot at {t} s");
            if !halfway_checked && t >= k / 2.0 {
                // Concave: most of the way back in half the time; W(K/2) = W_max - C (K/2)^3.
                let expect = 160.0 - 0.4 * (k / 2.0).powi(3);
                let got = segs(f64::from(cc.cwnd()));
                assert!((got - expect).abs() / expect < 0.03, "{got} vs {expect}");
                halfway_checked = true;
            }
        }
        let got = f64::from(cc.cwnd());
        assert!(
            (got - w_max).abs() / w_max < 0.03,
            "W(K) = {} segments",
            segs(got)
        );
        // Past K the convex region probes beyond W_max.
        for _ in 0..20 {
            ack_one_window(&mut cc, MSS, &mut now, RTT);
        }
        assert!(f64::from(cc.cwnd()) > w_max * 1.01);
    }

    #[test]
    fn cubic_reno_friendly_region_on_short_rtt() {
        // 1 ms RTT, W_max 20 segments: K = cbrt(15) = 2.47 s, so in 10 RTTs the cubic curve
        // barely moves off 14 segments, while Reno-friendly W_est grows by alpha_cubic
        // (0.53) segments per RTT.
        let rtt = Duration::from_millis(1);
        let mut now = Instant::ZERO;
        let mut cc = grown_to(20, &mut now, rtt);
        cc.on_congestion(now, cc.cwnd());
        cc.on_recovery_end(now);
        assert_eq!(cc.cwnd(), 14 * MSS);
        let start = now;
        for _ in 0..10 {
            ack_one_window(&mut cc, MSS, &mut now, rtt);
        }
        let got = segs(f64::from(cc.cwnd()));
        let reno_friendly = 14.0 + 10.0 * ALPHA;
        assert!((got - reno_friendly).abs() / reno_friendly < 0.05, "{got}");
        let cubic = segs(cc.w_cubic((now - start).as_secs_f64()));
        assert!(
            cubic < 14.2 && got > cubic + 4.0,
            "cubic {cubic}, cwnd {got}"
        );
    }

    #[test]
    fn reno_friendly_slope_becomes_reno_past_the_prior_window() {
        // RFC 9438 4.3: alpha_cubic until W_est reaches cwnd_prior, then 1.
        let rtt = Duration::from_millis(1);
        let mut now = Instant::ZERO;
        let mut cc = grown_to(20, &mut now, rtt);
        cc.on_congestion(now, cc.cwnd());
        while cc.cwnd() < 20 * MSS {
            ack_one_window(&mut cc, MSS, &mut now, rtt);
        }
        let before = segs(f64::from(cc.cwnd()));
        for _ in 0..10 {
            ack_one_window(&mut cc, MSS, &mut now, rtt);
        }
        let slope = (segs(f64::from(cc.cwnd())) - before) / 10.0;
        assert!((0.9..=1.05).contains(&slope), "{slope} segments per RTT");
    }

    #[test]
    fn fast_convergence_lowers_wmax() {
        // RFC 9438 4.7: a loss below W_max sets W_max = cwnd * (1 + beta) / 2.
        let mut now = Instant::ZERO;
        let mut cc = grown_to(160, &mut now, RTT);
        cc.on_congestion(now, cc.cwnd());
        cc.on_recovery_end(now);
        ack_one_window(&mut cc, MSS, &mut now, RTT);
        let cwnd = f64::from(cc.cwnd());
        assert!(cwnd < f64::from(160 * MSS));
        cc.on_congestion(now, cc.cwnd());
        assert!((cc.w_max - cwnd * 0.85).abs() < 1e-6, "{}", cc.w_max);
        assert!(cc.w_max < cwnd);
        // A loss above W_max just remembers cwnd.
        cc.w_max = 1.0;
        let cwnd = f64::from(cc.cwnd());
        cc.on_congestion(now, cc.cwnd());
        assert_eq!(cc.w_max, cwnd);
    }

    #[test]
    fn timeout_restarts_the_curve_at_its_plateau() {
        // RFC 9438 4.8: after a timeout, K = 0 and W_max = cwnd where congestion avoidance
        // begins.
        let mut now = Instant::ZERO;
        let mut cc = grown_to(160, &mut now, RTT);
        cc.on_timeout(now, cc.cwnd());
        assert_eq!((cc.cwnd(), cc.ssthresh()), (MSS, 112 * MSS));
        while cc.epoch.is_none() {
            ack_one_window(&mut cc, MSS, &mut now, RTT);
        }
        assert_eq!(cc.k, 0.0);
        assert!(cc.w_max >= f64::from(112 * MSS) && cc.w_max < f64::from(113 * MSS));
    }

    #[test]
    fn application_limited_time_does_not_count() {
        let mut now = Instant::ZERO;
        let mut cc = grown_to(160, &mut now, RTT);
        cc.on_congestion(now, cc.cwnd());
        cc.on_recovery_end(now);
        ack_one_window(&mut cc, MSS, &mut now, RTT);
        let cwnd = cc.cwnd();
        // Ten seconds of ACKs for a mostly idle window: no growth, and the curve waits.
        for _ in 0..100 {
            now = now + RTT;
            cc.on_ack(now, MSS, 2 * MSS, Some(RTT));
        }
        assert_eq!(cc.cwnd(), cwnd);
        ack_one_window(&mut cc, MSS, &mut now, RTT);
        // Counting the idle 10 s, t would be far past K and cwnd would jump 1.5x.
        assert!(cc.cwnd() < cwnd + 10 * MSS, "{} -> {}", cwnd, cc.cwnd());
    }

    #[test]
    fn idle_restart_starts_a_new_epoch() {
        let mut now = Instant::ZERO;
        let mut cc = grown_to(160, &mut now, RTT);
        cc.on_congestion(now, cc.cwnd());
        ack_one_window(&mut cc, MSS, &mut now, RTT);
        assert!(cc.epoch.is_some());
        now = now + Duration::from_secs(30);
        cc.on_idle_restart(now);
        assert_eq!(cc.cwnd(), 14600);
        assert!(cc.epoch.is_none());
    }

    #[test]
    fn growth_target_uses_the_minimum_rtt() {
        let mut cc = started();
        cc.on_ack(Instant::ZERO, 0, 0, Some(Duration::from_millis(80)));
        cc.on_ack(Instant::ZERO, 0, 0, Some(Duration::from_millis(30)));
        cc.on_ack(Instant::ZERO, 0, 0, Some(Duration::from_millis(200)));
        assert_eq!(cc.min_rtt, Some(Duration::from_millis(30)));
        assert_eq!(cc.cwnd(), 14600);
    }
}
