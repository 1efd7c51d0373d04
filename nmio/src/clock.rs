//! Clocks: the only place time is read. Protocol cores get `now` passed in.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A point in time, in nanoseconds since an arbitrary epoch of its clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(pub u64);

impl Instant {
    /// The epoch.
    pub const ZERO: Instant = Instant(0);

    /// From nanoseconds.
    pub const fn from_nanos(ns: u64) -> Self {
        Instant(ns)
    }

    /// From milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms * 1_000_000)
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Time since `earlier`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl std::ops::Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(
            self.0
                .saturating_add(d.as_nanos().min(u64::MAX as u128) as u64),
        )
    }
}

impl std::ops::Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_since(earlier)
    }
}

/// A source of [`Instant`]s.
pub trait Clock {
    /// The current time.
    fn now(&self) -> Instant;
}

fn clock_gettime_ns(id: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime only writes to it. With the
    // monotonic clocks it is served by the vDSO, without a system call.
    let rc = unsafe { libc::clock_gettime(id, &mut ts) };
    debug_assert_eq!(rc, 0);
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `CLOCK_MONOTONIC` (vDSO, ~20 ns a read, ns resolution). The default real clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct MonotonicClock;

impl Clock for MonotonicClock {
    #[inline]
    fn now(&self) -> Instant {
        Instant(clock_gettime_ns(libc::CLOCK_MONOTONIC))
    }
}

/// `CLOCK_MONOTONIC_COARSE`: cheaper than [`MonotonicClock`] but only as fine as the kernel
/// tick (1-4 ms). Good enough for TCP timers; too coarse for a microsecond TX kick interval.
#[derive(Clone, Copy, Debug, Default)]
pub struct CoarseClock;

impl Clock for CoarseClock {
    #[inline]
    fn now(&self) -> Instant {
        Instant(clock_gettime_ns(libc::CLOCK_MONOTONIC_COARSE))
    }
}

/// A clock that moves only when told to. Clones share the same time, so a simulated wire
/// and the loops on both of its ends see one clock.
#[derive(Clone, Debug, Default)]
pub struct VirtualClock(Arc<AtomicU64>);

impl VirtualClock {
    /// A clock at `start`.
    pub fn new(start: Instant) -> Self {
        VirtualClock(Arc::new(AtomicU64::new(start.0)))
    }

    /// Move forward by `d`.
    pub fn advance(&self, d: Duration) {
        self.0.fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Move to `t` if that is later than now (time never goes back).
    pub fn advance_to(&self, t: Instant) {
        self.0.fetch_max(t.0, Ordering::Relaxed);
    }
}

impl Clock for VirtualClock {
    #[inline]
    fn now(&self) -> Instant {
        Instant(self.0.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_clock_is_shared_and_monotonic() {
        let a = VirtualClock::new(Instant::from_millis(5));
        let b = a.clone();
        a.advance(Duration::from_millis(3));
        assert_eq!(b.now(), Instant::from_millis(8));
        b.advance_to(Instant::from_millis(2));
        assert_eq!(a.now(), Instant::from_millis(8));
        b.advance_to(Instant::from_millis(10));
        assert_eq!(a.now() - Instant::from_millis(8), Duration::from_millis(2));
    }

    #[test]
    fn real_clocks_move_forward() {
        let c = MonotonicClock;
        let t0 = c.now();
        std::thread::sleep(Duration::from_millis(2));
        assert!(c.now() - t0 >= Duration::from_millis(2));
        assert!(CoarseClock.now() > Instant::ZERO);
    }
}
