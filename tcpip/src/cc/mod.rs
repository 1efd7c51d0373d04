//! Congestion control: how much a connection may have in flight.
//!
//! One trait, [`CongestionControl`], holds the congestion window (cwnd) and the slow start
//! threshold (ssthresh) of one connection and moves them on the events the TCB reports: new
//! data acknowledged, loss detected, recovery finished, retransmission timeout, restart after
//! idle. Two algorithms implement it: [`NewReno`] (RFC 5681 with the window side of RFC 6582)
//! and [`Cubic`] (RFC 9438). A listener picks one with [`CcKind`]; each connection holds a
//! [`Cc`], an enum over the two, so the choice costs a `match`, not a `dyn` call, and the
//! state sits inline in the TCB.
//!
//! # Division of work with the TCB
//!
//! Everything is in bytes. The TCB decides *when* an event happened; this module decides
//! what it does to the window:
//!
//! * The TCB detects loss (three duplicate ACKs or SACK, RFC 5681 3.2 / RFC 6675), calls
//!   [`on_congestion`](CongestionControl::on_congestion) once, retransmits, and runs loss
//!   recovery itself. During recovery the window stays at ssthresh and the sender measures
//!   what is in the network with the RFC 6675 "pipe" (without SACK, each duplicate ACK takes
//!   one SMSS out of pipe): that does what RFC 5681's "+3*SMSS" and per-dup-ACK inflation
//!   did, so the window is never inflated here. ACKs during recovery are not reported with
//!   `on_ack`; a full ACK (RFC 6582 3.2 step 3) ends recovery with
//!   [`on_recovery_end`](CongestionControl::on_recovery_end). A retransmission timeout ends
//!   recovery without that call.
//! * [`on_ack`](CongestionControl::on_ack) takes the bytes in flight *before* the ACK. The
//!   window grows only while the sender uses it: when at least half of cwnd was in flight
//!   (RFC 7661's "validated" window). An application that sends less, such as a server
//!   answering with a few segments, keeps its window instead of inflating it on ACKs that
//!   prove nothing about the path.
//! * RTT samples are the TCB's too (Karn's rule, see [`crate::rtt`]); CUBIC takes them
//!   through `on_ack` to learn the minimum RTT.
//! * Restart after idle (RFC 5681 4.1) is the TCB's call: it knows when it last sent and its
//!   RTO.
//!
//! # Slow start
//!
//! Both algorithms share RFC 5681 slow start with appropriate byte counting (RFC 3465): each
//! ACK grows cwnd by the bytes it acknowledges, at most L = 2*SMSS (RFC 3465 2.2), which
//! keeps doubling the window per RTT with a receiver that ACKs every other segment
//! (RFC 5681 3.1's L = 1*SMSS would grow it only by half). In the slow start that follows
//! a timeout L is 1*SMSS (RFC 3465 2.3): there one ACK may cover many segments that left
//! the network long ago.
//!
//! ```
//! use nmio::Instant;
//! use tcpip::cc::{Cc, CcKind, CongestionControl};
//!
//! let mut cc = Cc::new(CcKind::Cubic);
//! cc.init(1460, Instant::ZERO);
//! assert_eq!(cc.cwnd(), 14600); // IW10, RFC 6928
//! cc.on_ack(Instant::from_millis(50), 1460, 14600, None);
//! assert_eq!(cc.cwnd(), 14600 + 1460); // slow start
//! cc.on_congestion(Instant::from_millis(60), 20_000);
//! assert_eq!(cc.cwnd(), 14_000); // CUBIC keeps 0.7 of what was in flight
//! ```

use std::time::Duration;

use nmio::Instant;

pub mod cubic;
pub mod newreno;

pub use cubic::Cubic;
pub use newreno::NewReno;

/// A congestion control algorithm: the window of one connection and its reaction to the
/// TCB's events. Windows are in bytes.
pub trait CongestionControl {
    /// Reset for a new connection with sender MSS `smss` (0 is taken as 1): cwnd = IW per
    /// RFC 6928 (see [`initial_window`]), ssthresh = `u32::MAX` ("arbitrarily high",
    /// RFC 5681 3.1).
    fn init(&mut self, smss: u32, now: Instant);

    /// The congestion window: the most the sender may have in flight.
    fn cwnd(&self) -> u32;

    /// The slow start threshold: slow start while `cwnd < ssthresh`, congestion avoidance
    /// from there on.
    fn ssthresh(&self) -> u32;

    /// `acked` new bytes were cumulatively acknowledged, outside loss recovery. `flight` is
    /// the bytes in flight before this ACK (RFC 6675 pipe, or SND.NXT - SND.UNA); `rtt` a
    /// fresh RTT sample, if this ACK gave one. Slow start or congestion avoidance, as the
    /// algorithm says; no growth unless `flight >= cwnd / 2`.
    fn on_ack(&mut self, now: Instant, acked: u32, flight: u32, rtt: Option<Duration>);

    /// Loss detected by duplicate ACKs or SACK, entering fast recovery: once per window of
    /// data. ssthresh from `flight` (RFC 5681 eq. (4) for NewReno: `max(flight/2, 2*SMSS)`),
    /// cwnd = ssthresh, with no inflation (see the module doc).
    fn on_congestion(&mut self, now: Instant, flight: u32);

    /// Fast recovery finished with a full ACK (RFC 6582 3.2 step 3): cwnd = ssthresh.
    fn on_recovery_end(&mut self, now: Instant);

    /// The retransmission timer fired: ssthresh from `flight` as for a loss (held at its
    /// value when the previous timeout is still unanswered, RFC 5681 3.1), cwnd = 1*SMSS,
    /// the loss window.
    fn on_timeout(&mut self, now: Instant, flight: u32);

    /// The sender restarts after more than an RTO without sending (RFC 5681 4.1):
    /// cwnd = min(cwnd, IW).
    fn on_idle_restart(&mut self, now: Instant);
}

/// The initial window for sender MSS `smss`, RFC 6928 2:
/// `min(10*SMSS, max(2*SMSS, 14600))`.
pub fn initial_window(smss: u32) -> u32 {
    smss.saturating_mul(10)
        .min(smss.saturating_mul(2).max(14600))
}

/// Which algorithm a listener gives its connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CcKind {
    /// [`NewReno`].
    #[default]
    NewReno,
    /// [`Cubic`].
    Cubic,
}

/// Static dispatch over the algorithms: one connection's state, inline, no `dyn`.
#[derive(Clone, Debug)]
pub enum Cc {
    /// RFC 5681 / RFC 6582.
    NewReno(NewReno),
    /// RFC 9438.
    Cubic(Cubic),
}

impl Cc {
    /// A fresh controller of `kind`; call [`init`](CongestionControl::init) with the
    /// connection's SMSS before use (until then it acts for an SMSS of 536).
    pub fn new(kind: CcKind) -> Self {
        match kind {
            CcKind::NewReno => Cc::NewReno(NewReno::new()),
            CcKind::Cubic => Cc::Cubic(Cubic::new()),
        }
    }

    /// The algorithm this is.
    pub fn kind(&self) -> CcKind {
        match self {
            Cc::NewReno(_) => CcKind::NewReno,
            Cc::Cubic(_) => CcKind::Cubic,
        }
    }
}

impl Default for Cc {
    fn default() -> Self {
        Cc::new(CcKind::default())
    }
}

macro_rules! dispatch {
    ($self:ident, $cc:ident => $e:expr) => {
        match $self {
            Cc::NewReno($cc) => $e,
            Cc::Cubic($cc) => $e,
        }
    };
}

impl CongestionControl for Cc {
    #[inline]
    fn init(&mut self, smss: u32, now: Instant) {
        dispatch!(self, cc => cc.init(smss, now))
    }

    #[inline]
    fn cwnd(&self) -> u32 {
        dispatch!(self, cc => cc.cwnd())
    }

    #[inline]
    fn ssthresh(&self) -> u32 {
        dispatch!(self, cc => cc.ssthresh())
    }

    #[inline]
    fn on_ack(&mut self, now: Instant, acked: u32, flight: u32, rtt: Option<Duration>) {
        dispatch!(self, cc => cc.on_ack(now, acked, flight, rtt))
    }

    #[inline]
    fn on_congestion(&mut self, now: Instant, flight: u32) {
        dispatch!(self, cc => cc.on_congestion(now, flight))
    }

    #[inline]
    fn on_recovery_end(&mut self, now: Instant) {
        dispatch!(self, cc => cc.on_recovery_end(now))
    }

    #[inline]
    fn on_timeout(&mut self, now: Instant, flight: u32) {
        dispatch!(self, cc => cc.on_timeout(now, flight))
    }

    #[inline]
    fn on_idle_restart(&mut self, now: Instant) {
        dispatch!(self, cc => cc.on_idle_restart(now))
    }
}

/// The SMSS a controller assumes before `init`: RFC 9293 3.7.1's default.
const DEFAULT_SMSS: u32 = 536;

/// The window machinery every algorithm here shares: IW, RFC 5681 slow start with RFC 3465
/// byte counting, the loss and timeout reductions, idle restart. The algorithms differ in
/// congestion avoidance and in how they pick ssthresh.
#[derive(Clone, Debug)]
struct Window {
    smss: u32,
    cwnd: u32,
    ssthresh: u32,
    /// In the slow start that follows a timeout: L = 1*SMSS (RFC 3465 2.3).
    after_timeout: bool,
    /// A timeout fired and no new data has been acknowledged since: a further timeout keeps
    /// ssthresh (RFC 5681 3.1, after eq. (4)).
    timeout_unanswered: bool,
}

impl Window {
    fn new(smss: u32) -> Self {
        let smss = smss.max(1);
        Window {
            smss,
            cwnd: initial_window(smss),
            ssthresh: u32::MAX,
            after_timeout: false,
            timeout_unanswered: false,
        }
    }

    fn in_slow_start(&self) -> bool {
        self.cwnd < self.ssthresh
    }

    /// RFC 7661 4.1: the window is "validated" while at least half of it is in use.
    fn cwnd_limited(&self, flight: u32) -> bool {
        flight >= self.cwnd / 2
    }

    /// New data was acknowledged: a pending timeout has been answered.
    fn on_new_ack(&mut self) {
        self.timeout_unanswered = false;
    }

    /// Slow start for one ACK of `acked` bytes (RFC 5681 3.1 eq. (2) with RFC 3465's L).
    /// Returns the acknowledged bytes left once cwnd reaches ssthresh, for congestion
    /// avoidance to count.
    fn slow_start(&mut self, acked: u32) -> u32 {
        debug_assert!(self.in_slow_start());
        let limit = if self.after_timeout {
            self.smss
        } else {
            self.smss.saturating_mul(2)
        };
        let room = self.ssthresh - self.cwnd;
        let grow = acked.min(limit);
        if grow < room {
            self.cwnd += grow;
            0
        } else {
            self.cwnd = self.ssthresh;
            self.after_timeout = false;
            acked - room
        }
    }

    fn two_segments(&self) -> u32 {
        self.smss.saturating_mul(2)
    }

    /// Entering fast recovery with the algorithm's `ssthresh`: at least 2*SMSS, and
    /// cwnd = ssthresh (RFC 5681 3.2 step 2 and 3 without inflation; RFC 9438 4.6).
    fn reduce(&mut self, ssthresh: u32) {
        self.ssthresh = ssthresh.max(self.two_segments());
        self.cwnd = self.ssthresh;
        self.after_timeout = false;
    }

    /// RFC 6582 3.2 step 3, full ACK: cwnd = ssthresh. After a timeout the sender is in slow
    /// start from the loss window and recovery is over already, so nothing changes.
    fn end_recovery(&mut self) {
        if !self.after_timeout {
            self.cwnd = self.ssthresh;
        }
    }

    /// The retransmission timer fired with the algorithm's `ssthresh`.
    fn timeout(&mut self, ssthresh: u32) {
        // RFC 5681 3.1: when the segment retransmitted on a timeout is lost again, ssthresh
        // is held; recomputing it from the now tiny flight would collapse it.
        if !self.timeout_unanswered {
            self.ssthresh = ssthresh.max(self.two_segments());
        }
        self.cwnd = self.smss; // the loss window
        self.after_timeout = true;
        self.timeout_unanswered = true;
    }

    /// RFC 5681 4.1: restart window = min(IW, cwnd).
    fn idle_restart(&mut self) {
        self.cwnd = self.cwnd.min(initial_window(self.smss));
    }
}

#[cfg(test)]
const KINDS: [CcKind; 2] = [CcKind::NewReno, CcKind::Cubic];

/// Deliver one window of ACKs, one per SMSS, spread evenly over `rtt`, with the whole
/// window in flight before each (an ACK-clocked, cwnd-limited sender).
#[cfg(test)]
fn ack_one_window(cc: &mut impl CongestionControl, smss: u32, now: &mut Instant, rtt: Duration) {
    let start = *now;
    let cwnd = cc.cwnd();
    let acks = (cwnd / smss).max(1);
    for i in 1..=acks {
        cc.on_ack(start + rtt * i / acks, smss, cwnd, Some(rtt));
    }
    *now = start + rtt;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MSS: u32 = 1460;

    fn started(kind: CcKind, smss: u32) -> Cc {
        let mut cc = Cc::new(kind);
        cc.init(smss, Instant::ZERO);
        cc
    }

    #[test]
    fn initial_window_is_ten_segments_for_1460_mss() {
        assert_eq!(initial_window(1460), 14600);
        for kind in KINDS {
            let cc = started(kind, 1460);
            assert_eq!(cc.cwnd(), 14600);
            assert_eq!(cc.ssthresh(), u32::MAX);
            assert_eq!(cc.kind(), kind);
        }
    }

    #[test]
    fn initial_window_small_mss() {
        // RFC 6928 2: min(10 * 536, max(2 * 536, 14600)) = min(5360, 14600).
        assert_eq!(initial_window(536), 5360);
        assert_eq!(started(CcKind::Cubic, 536).cwnd(), 5360);
    }

    #[test]
    fn initial_window_large_mss_is_two_segments() {
        // min(90000, max(18000, 14600)) = 18000; 14600 bytes caps mid-sized MSS too.
        assert_eq!(initial_window(9000), 18000);
        assert_eq!(initial_window(4000), 14600);
        assert_eq!(initial_window(0), 0);
        assert_eq!(initial_window(u32::MAX), u32::MAX);
        // A zero SMSS is taken as 1 byte, so the window never shuts.
        assert_eq!(started(CcKind::NewReno, 0).cwnd(), 10);
    }

    #[test]
    fn new_before_init_acts_for_the_default_mss() {
        assert_eq!(Cc::default().kind(), CcKind::NewReno);
        assert_eq!(Cc::default().cwnd(), 5360);
        assert_eq!(Cc::new(CcKind::Cubic).cwnd(), 5360);
    }

    #[test]
    fn slow_start_doubles_per_rtt() {
        for kind in KINDS {
            let mut cc = started(kind, MSS);
            let mut now = Instant::ZERO;
            for round in 1..=5 {
                ack_one_window(&mut cc, MSS, &mut now, Duration::from_millis(50));
                assert_eq!(cc.cwnd(), 14600 << round, "{kind:?} round {round}");
            }
        }
    }

    #[test]
    fn slow_start_doubles_per_rtt_with_delayed_acks() {
        // RFC 3465 2.2: L = 2*SMSS lets an ACK of two segments count both.
        for kind in KINDS {
            let mut cc = started(kind, MSS);
            let cwnd = cc.cwnd();
            for _ in 0..cwnd / (2 * MSS) {
                cc.on_ack(Instant::ZERO, 2 * MSS, cwnd, None);
            }
            assert_eq!(cc.cwnd(), 2 * cwnd, "{kind:?}");
        }
    }

    #[test]
    fn slow_start_counts_at_most_two_segments_per_ack() {
        for kind in KINDS {
            let mut cc = started(kind, MSS);
            cc.on_ack(Instant::ZERO, 14600, 14600, None);
            assert_eq!(cc.cwnd(), 14600 + 2 * MSS, "{kind:?}");
        }
    }

    #[test]
    fn app_limited_sender_keeps_its_window() {
        // RFC 7661: ACKs for a window mostly unused say nothing about the path.
        for kind in KINDS {
            let mut cc = started(kind, MSS);
            for _ in 0..100 {
                cc.on_ack(Instant::ZERO, MSS, 3 * MSS, None);
            }
            assert_eq!(cc.cwnd(), 14600, "{kind:?}");
            cc.on_ack(Instant::ZERO, MSS, 14600 / 2, None);
            assert_eq!(cc.cwnd(), 14600 + MSS, "{kind:?}");
        }
    }

    #[test]
    fn slow_start_stops_at_ssthresh() {
        // RFC 5681 3.1: slow start while cwnd < ssthresh; the ACK that crosses it leaves
        // cwnd at ssthresh plus at most one congestion avoidance step.
        for kind in KINDS {
            let mut cc = started(kind, MSS);
            cc.on_timeout(Instant::ZERO, 6 * MSS); // ssthresh = 3 or 4.2 segments
            let ssthresh = cc.ssthresh();
            while cc.cwnd() < ssthresh {
                cc.on_ack(Instant::from_millis(10), MSS, cc.cwnd(), None);
            }
            assert!(cc.cwnd() < ssthresh + MSS / 2, "{kind:?} {}", cc.cwnd());
        }
        let mut reno = started(CcKind::NewReno, MSS);
        reno.on_timeout(Instant::ZERO, 6 * MSS);
        reno.on_ack(Instant::ZERO, MSS, MSS, None);
        reno.on_ack(Instant::ZERO, MSS, 2 * MSS, None);
        assert_eq!((reno.cwnd(), reno.ssthresh()), (3 * MSS, 3 * MSS));
    }

    #[test]
    fn timeout_sets_loss_window() {
        // RFC 5681 3.1: cwnd = 1*SMSS; ssthresh from what was in flight.
        for kind in KINDS {
            let mut cc = started(kind, MSS);
            cc.on_timeout(Instant::ZERO, 14600);
            assert_eq!(cc.cwnd(), MSS, "{kind:?}");
            let expected = match kind {
                CcKind::NewReno => 7300,
                CcKind::Cubic => 10220,
            };
            assert_eq!(cc.ssthresh(), expected, "{kind:?}");
        }
    }

    #[test]
    fn repeated_timeout_keeps_ssthresh() {
        // RFC 5681 3.1: the retransmission was lost too; flight is now one segment.
        for kind in KINDS {
            let mut cc = started(kind, MSS);
            cc.on_timeout(Instant::ZERO, 40 * MSS);
            let ssthresh = cc.ssthresh();
            cc.on_timeout(Instant::from_millis(1000), MSS);
            assert_eq!(cc.ssthresh(), ssthresh, "{kind:?}");
            assert_eq!(cc.cwnd(), MSS);
            // Once the retransmission is acknowledged, the next timeout counts afresh.
            cc.on_ack(Instant::from_millis(1100), MSS, MSS, None);
            cc.on_timeout(Instant::from_millis(3000), 2 * MSS);
            assert_eq!(cc.ssthresh(), 2 * MSS, "{kind:?}");
        }
    }

    #[test]
    fn slow_start_after_timeout_counts_one_segment_per_ack() {
        // RFC 3465 2.3: L = 1*SMSS after an RTO.
        for kind in KINDS {
            let mut cc = started(kind, MSS);
            cc.on_timeout(Instant::ZERO, 40 * MSS);
            cc.on_ack(Instant::from_millis(10), 4 * MSS, MSS, None);
            assert_eq!(cc.cwnd(), 2 * MSS, "{kind:?}");
        }
    }

    #[test]
    fn idle_restart_caps_at_iw() {
        for kind in KINDS {
            let mut cc = started(kind, MSS);
            let mut now = Instant::ZERO;
            for _ in 0..3 {
                ack_one_window(&mut cc, MSS, &mut now, Duration::from_millis(20));
            }
            assert!(cc.cwnd() > 14600);
            cc.on_idle_restart(now + Duration::from_secs(5));
            assert_eq!(cc.cwnd(), 14600, "{kind:?}");
            // A window already below IW stays where it is.
            cc.on_timeout(now + Duration::from_secs(6), 14600);
            cc.on_idle_restart(now + Duration::from_secs(20));
            assert_eq!(cc.cwnd(), MSS, "{kind:?}");
        }
    }

    #[derive(Clone, Debug)]
    enum Event {
        Ack {
            acked: u32,
            flight: u32,
            rtt: Option<u64>,
        },
        Congestion {
            flight: u32,
        },
        RecoveryEnd,
        Timeout {
            flight: u32,
        },
        IdleRestart,
        Advance {
            ms: u64,
        },
    }

    fn any_u32() -> impl Strategy<Value = u32> {
        prop_oneof![0u32..100_000, any::<u32>(), Just(0), Just(u32::MAX)]
    }

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            6 => (any_u32(), any_u32(), prop::option::of(prop_oneof![0u64..1_000, any::<u64>()]))
                .prop_map(|(acked, flight, rtt)| Event::Ack { acked, flight, rtt }),
            1 => any_u32().prop_map(|flight| Event::Congestion { flight }),
            1 => Just(Event::RecoveryEnd),
            1 => any_u32().prop_map(|flight| Event::Timeout { flight }),
            1 => Just(Event::IdleRestart),
            2 => prop_oneof![0u64..2_000, any::<u64>()].prop_map(|ms| Event::Advance { ms }),
        ]
    }

    proptest! {
        #[test]
        fn windows_stay_in_bounds_under_any_events(
            kind in prop_oneof![Just(CcKind::NewReno), Just(CcKind::Cubic)],
            smss in prop_oneof![1u32..9000, Just(0), Just(1), Just(u32::MAX)],
            events in prop::collection::vec(event(), 0..200),
        ) {
            let mut cc = started(kind, smss);
            let smss = smss.max(1);
            let mut now = Instant::ZERO;
            for ev in events {
                match ev {
                    Event::Ack { acked, flight, rtt } => {
                        let rtt = rtt.map(Duration::from_nanos);
                        cc.on_ack(now, acked, flight, rtt);
                    }
                    Event::Congestion { flight } => cc.on_congestion(now, flight),
                    Event::RecoveryEnd => cc.on_recovery_end(now),
                    Event::Timeout { flight } => cc.on_timeout(now, flight),
                    Event::IdleRestart => cc.on_idle_restart(now),
                    Event::Advance { ms } => now = now + Duration::from_millis(ms),
                }
                prop_assert!(cc.cwnd() >= smss, "cwnd {} < smss {}", cc.cwnd(), smss);
                prop_assert!(
                    cc.ssthresh() >= smss.saturating_mul(2),
                    "ssthresh {} < 2 * smss {}", cc.ssthresh(), smss
                );
            }
        }
    }
}
