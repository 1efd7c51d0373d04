//! NewReno: the standard TCP congestion control (RFC 5681), with the window side of
//! RFC 6582's fast recovery.
//!
//! Slow start doubles the window per RTT up to ssthresh; congestion avoidance then adds one
//! SMSS per RTT, counted in bytes (RFC 5681 3.1: cwnd grows by SMSS each time a whole cwnd of
//! bytes has been acknowledged, which unlike `SMSS*SMSS/cwnd` per ACK does not depend on how
//! often the receiver ACKs). A loss halves what was in flight (eq. (4)); a timeout drops to
//! one segment and slow-starts back. The shared parts live in [`super`]; what is NewReno's
//! own is the 1/2 decrease and the linear increase.

use std::time::Duration;

use nmio::Instant;

use super::{CongestionControl, Window, DEFAULT_SMSS};

/// RFC 5681 / RFC 6582 congestion control for one connection.
#[derive(Clone, Debug)]
pub struct NewReno {
    w: Window,
    /// Bytes acknowledged in congestion avoidance since cwnd last grew (RFC 5681 3.1's
    /// `bytes_acked`).
    ca_acked: u32,
}

impl Default for NewReno {
    fn default() -> Self {
        NewReno::new()
    }
}

impl NewReno {
    /// A controller for an SMSS of 536 until [`init`](CongestionControl::init).
    pub fn new() -> Self {
        NewReno {
            w: Window::new(DEFAULT_SMSS),
            ca_acked: 0,
        }
    }

    /// RFC 5681 eq. (4): `ssthresh = max(FlightSize / 2, 2*SMSS)` (the floor is applied by
    /// the shared window).
    fn loss_ssthresh(flight: u32) -> u32 {
        flight / 2
    }
}

impl CongestionControl for NewReno {
    fn init(&mut self, smss: u32, _now: Instant) {
        *self = NewReno {
            w: Window::new(smss),
            ca_acked: 0,
        };
    }

    #[inline]
    fn cwnd(&self) -> u32 {
        self.w.cwnd
    }

    #[inline]
    fn ssthresh(&self) -> u32 {
        self.w.ssthresh
    }

    fn on_ack(&mut self, _now: Instant, acked: u32, flight: u32, _rtt: Option<Duration>) {
        if acked == 0 {
            return;
        }
        self.w.on_new_ack();
        if !self.w.cwnd_limited(flight) {
            return;
        }
        let acked = if self.w.in_slow_start() {
            self.w.slow_start(acked)
        } else {
            acked
        };
        if acked == 0 {
            return;
        }
        // RFC 5681 3.1 congestion avoidance, byte counting: one SMSS per cwnd acknowledged.
        self.ca_acked = self.ca_acked.saturating_add(acked);
        if self.ca_acked >= self.w.cwnd {
            // One step per ACK ("up to SMSS"): whole windows beyond the first that a stretch
            // ACK covers are dropped, not banked for later ACKs.
            self.ca_acked %= self.w.cwnd;
            self.w.cwnd = self.w.cwnd.saturating_add(self.w.smss);
        }
    }

    fn on_congestion(&mut self, _now: Instant, flight: u32) {
        self.w.reduce(Self::loss_ssthresh(flight));
        self.ca_acked = 0;
    }

    fn on_recovery_end(&mut self, _now: Instant) {
        self.w.end_recovery();
    }

    fn on_timeout(&mut self, _now: Instant, flight: u32) {
        self.w.timeout(Self::loss_ssthresh(flight));
        self.ca_acked = 0;
    }

    fn on_idle_restart(&mut self, _now: Instant) {
        self.w.idle_restart();
    }
}

#[cfg(test)]
mod tests {
    use super::super::ack_one_window;
    use super::*;

    const MSS: u32 = 1460;

    fn started() -> NewReno {
        let mut cc = NewReno::new();
        cc.init(MSS, Instant::ZERO);
        cc
    }

    #[test]
    fn congestion_avoidance_adds_one_mss_per_rtt() {
        let mut cc = started();
        cc.on_congestion(Instant::ZERO, 40 * MSS);
        cc.on_recovery_end(Instant::ZERO);
        assert_eq!((cc.cwnd(), cc.ssthresh()), (20 * MSS, 20 * MSS));
        let mut now = Instant::ZERO;
        for round in 1..=10 {
            ack_one_window(&mut cc, MSS, &mut now, Duration::from_millis(100));
            assert_eq!(cc.cwnd(), (20 + round) * MSS, "round {round}");
        }
    }

    #[test]
    fn congestion_avoidance_with_delayed_acks_still_adds_one_mss_per_rtt() {
        // Byte counting (RFC 5681 3.1): the ACK rate does not matter.
        let mut cc = started();
        cc.on_congestion(Instant::ZERO, 40 * MSS);
        for round in 1..=5 {
            // One window per round, ACKed two segments at a time (the odd one alone).
            let cwnd = cc.cwnd();
            let mut left = cwnd;
            while left > 0 {
                let acked = left.min(2 * MSS);
                cc.on_ack(Instant::ZERO, acked, cwnd, None);
                left -= acked;
            }
            assert_eq!(cc.cwnd(), (20 + round) * MSS, "round {round}");
        }
    }

    #[test]
    fn stretch_ack_in_congestion_avoidance_adds_at_most_one_mss() {
        let mut cc = started();
        cc.on_congestion(Instant::ZERO, 40 * MSS);
        cc.on_ack(Instant::ZERO, 10 * 20 * MSS, 20 * MSS, None);
        assert_eq!(cc.cwnd(), 21 * MSS);
        cc.on_ack(Instant::ZERO, MSS, 21 * MSS, None);
        assert_eq!(cc.cwnd(), 21 * MSS);
    }

    #[test]
    fn loss_halves_to_ssthresh_at_least_two_mss() {
        // RFC 5681 eq. (4): ssthresh = max(FlightSize / 2, 2*SMSS), and cwnd = ssthresh with
        // no "+3*SMSS" inflation (the sender counts pipe, RFC 6675).
        let mut cc = started();
        cc.on_congestion(Instant::ZERO, 100 * MSS);
        assert_eq!((cc.cwnd(), cc.ssthresh()), (50 * MSS, 50 * MSS));
        cc.on_congestion(Instant::ZERO, 1000);
        assert_eq!((cc.cwnd(), cc.ssthresh()), (2 * MSS, 2 * MSS));
        cc.on_congestion(Instant::ZERO, 0);
        assert_eq!(cc.ssthresh(), 2 * MSS);
    }

    #[test]
    fn loss_uses_flight_not_cwnd() {
        // RFC 5681 3.1 implementation note: FlightSize, not cwnd.
        let mut cc = started();
        cc.on_congestion(Instant::ZERO, 6 * MSS);
        assert_eq!(cc.ssthresh(), 3 * MSS);
    }

    #[test]
    fn recovery_end_sets_cwnd_to_ssthresh() {
        let mut cc = started();
        cc.on_congestion(Instant::ZERO, 30 * MSS);
        cc.on_recovery_end(Instant::ZERO);
        assert_eq!(cc.cwnd(), 15 * MSS);
        // After a timeout recovery is already over: the loss window stays.
        cc.on_timeout(Instant::ZERO, 30 * MSS);
        cc.on_recovery_end(Instant::ZERO);
        assert_eq!(cc.cwnd(), MSS);
    }

    #[test]
    fn init_resets_everything() {
        let mut cc = started();
        cc.on_timeout(Instant::ZERO, 30 * MSS);
        cc.init(536, Instant::from_millis(5));
        assert_eq!((cc.cwnd(), cc.ssthresh()), (5360, u32::MAX));
    }
}
