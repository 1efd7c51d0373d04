//! The event loop: one per core, clocking one port.
//!
//! # Design
//!
//! Each iteration of [`EventLoop::run_once`] is one pass of process-to-completion:
//!
//! 1. read the clock once; that `now` is what every callback of the pass sees;
//! 2. fire the timers due at `now` ([`Handler::on_timer`]), then [`Handler::on_batch_end`];
//! 3. receive one burst of at most `rx_batch` frames and hand each to [`Handler::on_frame`]
//!    while it is still in the ring, with the TX half of the port in the [`Context`] so the
//!    reply is queued in the same pass, then [`Handler::on_batch_end`];
//! 4. decide whether to kick the TX ring ([`KickPolicy`]);
//! 5. if the pass found nothing to do, flush and block in [`Port::wait`] until a frame
//!    arrives, the next timer is due, or `idle_block` passes — unless a pass that did work
//!    began less than `idle_spin` ago: then the next pass polls the rings again at once.
//!
//! Handlers are generic parameters, not trait objects, so the whole receive path from the
//! backend's burst down to the application is monomorphized and can be inlined.
//!
//! # Why the kick is adaptive
//!
//! A kick (a `sendto`, a doorbell write, a `poll` on a netmap ring) costs about as much as
//! handling several packets, so kicking after every burst wastes CPU under load, while
//! holding frames back adds latency when the load is light. Sandstorm (Marinos, Watson and
//! Handley, "Network Stack Specialization for Performance", SIGCOMM 2014) resolves this with
//! an adaptive interval `dt` between TX polls. [`KickPolicy::Adaptive`] follows that idea: it
//! kicks when enough frames are queued or when `interval` has passed since the last kick, and
//! the interval itself doubles (towards `max`) each time a burst comes back full — the load
//! is heavy, amortize the kick — and halves (towards `min`) when a burst is partial or empty
//! — the load is light, latency matters. Regardless of policy the loop kicks before it
//! blocks and whenever the queued frames reach the free space left in the ring, so frames
//! are never stranded and upper layers never see a ring that is full only because nobody
//! kicked it.
//!
//! # Why poll before sleeping
//!
//! A blocked receiver is woken by whoever delivers its next frame: on veth that is the
//! sender's CPU, on a NIC an interrupt. With AF_XDP the kernel wakes the socket once per
//! delivery batch (10-13 frames on veth), so a loop that blocks as soon as a pass finds
//! nothing gets small RX batches, kicks small TX batches, and makes the sender pay a wake-up
//! every few frames. With `idle_spin` set, empty passes right after work keep polling the
//! rings (no system call: a few loads and one clock read per pass) until `idle_spin` has
//! passed since the last pass that did work; under steady load the next frames are nearly
//! always found there, and when the load stops it costs at most one window of spinning.
//! Spinning passes kick as the [`KickPolicy`] says; the kick before a block is unchanged.
//!
//! # Virtual time
//!
//! With a [`VirtualClock`](crate::VirtualClock) the loop never blocks (ports on a virtual
//! clock return from `wait` at once) and time moves only when the simulation driver moves
//! it. A driver calls [`run_once`](EventLoop::run_once) and advances the clock itself, for
//! instance to [`next_deadline`](EventLoop::next_deadline) when nothing else is happening;
//! [`run_for`](EventLoop::run_for) ends only when someone moves the clock past its end.
//!
//! Port errors on flush or wait are counted in [`LoopStats`] and the loop goes on: a failing
//! kick or poll is a condition to report, not a reason to stop serving.

use crate::clock::{Clock, Instant};
use crate::port::{Port, RxMeta, RxQueue, TxQueue};
use crate::stats::PortStats;
use crate::timer::{TimerStats, TimerWheel};
use std::time::Duration;

/// What an application (or the layer above `nmio`) does with the loop's events.
pub trait Handler<Tx: TxQueue> {
    /// A received frame, borrowed from the ring until this returns.
    fn on_frame(&mut self, cx: &mut Context<'_, Tx>, frame: &mut [u8], meta: &RxMeta);

    /// A timer scheduled on `cx.timers` with this token is due.
    fn on_timer(&mut self, cx: &mut Context<'_, Tx>, token: u64) {
        let _ = (cx, token);
    }

    /// Called after each RX burst and after each round of timers: the place for an upper
    /// layer to flush work it queued itself (coalesced ACKs, say) before the kick decision.
    fn on_batch_end(&mut self, cx: &mut Context<'_, Tx>) {
        let _ = cx;
    }
}

/// What a callback can reach: the TX half, the timers, the pass's `now`, and the stop switch.
pub struct Context<'a, Tx> {
    /// The port's transmit half.
    pub tx: &'a mut Tx,
    /// The loop's timer wheel; tokens come back through [`Handler::on_timer`].
    pub timers: &'a mut TimerWheel<u64>,
    /// The time this pass started (read once per pass).
    pub now: Instant,
    stop: &'a mut bool,
}

impl<'a, Tx> Context<'a, Tx> {
    /// A context outside the loop: for drivers of their own, tests and benchmarks that
    /// call a [`Handler`] directly. `stop` receives the handler's stop requests.
    pub fn new(
        tx: &'a mut Tx,
        timers: &'a mut TimerWheel<u64>,
        now: Instant,
        stop: &'a mut bool,
    ) -> Self {
        Context {
            tx,
            timers,
            now,
            stop,
        }
    }

    /// Ask [`EventLoop::run`] / [`EventLoop::run_for`] to return after this pass.
    pub fn stop(&mut self) {
        *self.stop = true;
    }

    /// Whether a stop was requested.
    pub fn stopping(&self) -> bool {
        *self.stop
    }
}

/// A [`Handler`] made of a closure that handles frames (timers and batch ends do nothing).
pub struct FnHandler<F>(pub F);

impl<F> FnHandler<F> {
    /// Wrap `f`. The bound lets the compiler infer the closure's argument types once `Tx` is
    /// known; where it is not, name it: `|cx: &mut Context<'_, PipeTx>, frame, meta| ...`.
    pub fn new<Tx: TxQueue>(f: F) -> Self
    where
        F: FnMut(&mut Context<'_, Tx>, &mut [u8], &RxMeta),
    {
        FnHandler(f)
    }
}

impl<Tx, F> Handler<Tx> for FnHandler<F>
where
    Tx: TxQueue,
    F: FnMut(&mut Context<'_, Tx>, &mut [u8], &RxMeta),
{
    #[inline]
    fn on_frame(&mut self, cx: &mut Context<'_, Tx>, frame: &mut [u8], meta: &RxMeta) {
        (self.0)(cx, frame, meta)
    }
}

/// When the loop kicks the TX ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KickPolicy {
    /// Kick at the end of every pass that queued frames: lowest latency, one kick per burst.
    Immediate,
    /// Sandstorm's adaptive `dt`: kick when `batch` frames are queued or when the current
    /// interval has passed since the last kick; the interval moves between `min` and `max`
    /// with the load (see the [module docs](self)).
    Adaptive {
        /// Shortest interval (light load).
        min: Duration,
        /// Longest interval (heavy load).
        max: Duration,
        /// Queued frames that trigger a kick regardless of time.
        batch: usize,
    },
}

impl KickPolicy {
    /// An adaptive policy with settings that suit a 10 Gb/s port: 10 µs to 500 µs, 32 frames.
    pub const fn adaptive() -> Self {
        KickPolicy::Adaptive {
            min: Duration::from_micros(10),
            max: Duration::from_micros(500),
            batch: 32,
        }
    }
}

/// Settings of an [`EventLoop`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoopConfig {
    /// Most frames taken from RX per pass.
    pub rx_batch: usize,
    /// Most timers pending at once.
    pub timer_capacity: usize,
    /// Timer granularity.
    pub timer_tick: Duration,
    /// Slots of the timing wheel (a power of two; one revolution is `slots * tick`).
    pub timer_slots: usize,
    /// When to kick the TX ring.
    pub kick: KickPolicy,
    /// Block in [`Port::wait`] for at most this long when a pass found nothing to do;
    /// `None` busy-polls.
    pub idle_block: Option<Duration>,
    /// Poll before sleeping: after a pass that handled events, passes that find nothing do
    /// not block until this long has passed since the start of that pass (see the
    /// [module docs](self)). Zero blocks on the first idle pass; unused when busy-polling.
    pub idle_spin: Duration,
}

impl Default for LoopConfig {
    fn default() -> Self {
        LoopConfig {
            rx_batch: 64,
            timer_capacity: 65_536,
            timer_tick: Duration::from_millis(1),
            timer_slots: 4_096,
            kick: KickPolicy::Immediate,
            idle_block: Some(Duration::from_millis(10)),
            idle_spin: Duration::ZERO,
        }
    }
}

/// Counters of an [`EventLoop`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoopStats {
    /// Passes of `run_once`.
    pub iterations: u64,
    /// Frames received and handed to `on_frame`.
    pub rx_frames: u64,
    /// Non-empty RX bursts.
    pub rx_batches: u64,
    /// RX bursts that came back with the full `rx_batch` frames.
    pub full_batches: u64,
    /// Timers fired.
    pub timers_fired: u64,
    /// Kicks (flushes with frames queued).
    pub kicks: u64,
    /// Times the loop blocked in `Port::wait`.
    pub idle_waits: u64,
    /// Idle passes that polled again instead of blocking, inside `idle_spin` after work.
    pub spins: u64,
    /// Frames the kicks handed to the port.
    pub tx_frames_kicked: u64,
    /// Kicks that returned an error.
    pub flush_errors: u64,
    /// Idle waits that returned an error.
    pub wait_errors: u64,
    /// The timer wheel's counters.
    pub timers: TimerStats,
    /// The port's counters.
    pub port: PortStats,
}

impl LoopStats {
    /// Mean frames per non-empty RX burst (0 before the first).
    pub fn avg_batch(&self) -> f64 {
        if self.rx_batches == 0 {
            0.0
        } else {
            self.rx_frames as f64 / self.rx_batches as f64
        }
    }

    /// Mean frames per kick (0 before the first).
    pub fn avg_kick(&self) -> f64 {
        if self.kicks == 0 {
            0.0
        } else {
            self.tx_frames_kicked as f64 / self.kicks as f64
        }
    }
}

/// One core's loop over one port. See the [module docs](self).
pub struct EventLoop<P: Port, C: Clock> {
    port: P,
    clock: C,
    cfg: LoopConfig,
    timers: TimerWheel<u64>,
    stopped: bool,
    /// End of the current `run_for`, so an idle wait does not overrun it.
    until: Option<Instant>,
    /// Current adaptive interval (unused with `Immediate`).
    interval: Duration,
    last_kick: Instant,
    /// Start of the last pass that handled events (`None` before the first).
    last_work: Option<Instant>,
    stats: LoopStats,
}

impl<P: Port, C: Clock> EventLoop<P, C> {
    /// A loop over `port` on `clock`. The timer wheel (the loop's only allocation) starts at
    /// the clock's current time.
    pub fn new(port: P, clock: C, cfg: LoopConfig) -> Self {
        let now = clock.now();
        let mut cfg = cfg;
        cfg.rx_batch = cfg.rx_batch.max(1);
        if let KickPolicy::Adaptive { min, max, .. } = &mut cfg.kick {
            *max = (*max).max(*min);
        }
        let interval = match cfg.kick {
            KickPolicy::Adaptive { min, .. } => min,
            KickPolicy::Immediate => Duration::ZERO,
        };
        EventLoop {
            port,
            timers: TimerWheel::new(cfg.timer_capacity, cfg.timer_tick, cfg.timer_slots, now),
            clock,
            cfg,
            stopped: false,
            until: None,
            interval,
            last_kick: now,
            last_work: None,
            stats: LoopStats::default(),
        }
    }

    /// One pass: timers, one RX burst, the kick decision, and an idle wait if nothing
    /// happened. Returns the events handled (frames received plus timers fired).
    pub fn run_once<H: Handler<P::Tx>>(&mut self, h: &mut H) -> usize {
        let now = self.clock.now();
        let rx_batch = self.cfg.rx_batch;
        self.stats.iterations += 1;

        let (rx, tx) = self.port.split();
        let mut cx = Context {
            tx,
            timers: &mut self.timers,
            now,
            stop: &mut self.stopped,
        };
        // Only what was due when the pass began: a timer re-armed from `on_timer` waits for
        // a later pass, so a handler cannot keep this loop busy forever.
        let due = cx.timers.advance(now);
        let mut fired = 0;
        while fired < due {
            let Some((_, token)) = cx.timers.pop_expired() else {
                break;
            };
            fired += 1;
            h.on_timer(&mut cx, token);
        }
        if fired > 0 {
            h.on_batch_end(&mut cx);
        }
        let n = rx.recv_burst(rx_batch, |frame, meta| h.on_frame(&mut cx, frame, meta));
        if n > 0 {
            h.on_batch_end(&mut cx);
        }

        self.stats.timers_fired += fired as u64;
        self.stats.rx_frames += n as u64;
        if n > 0 {
            self.stats.rx_batches += 1;
        }
        if n >= rx_batch {
            self.stats.full_batches += 1;
        }
        self.adapt_interval(n >= rx_batch);
        let idle = n == 0 && fired == 0;
        if !idle {
            self.last_work = Some(now);
        }
        let spin = idle && self.cfg.idle_block.is_some() && self.in_spin_window(now);
        self.stats.spins += u64::from(spin);
        let block = idle && self.cfg.idle_block.is_some() && !spin;
        if block || self.should_kick(now) {
            self.kick(now);
        }
        if block {
            self.idle_wait();
        }
        n + fired
    }

    /// Run passes until a handler calls [`Context::stop`]. Returns the events handled.
    pub fn run<H: Handler<P::Tx>>(&mut self, h: &mut H) -> usize {
        self.stopped = false;
        let mut events = 0;
        while !self.stopped {
            events += self.run_once(h);
        }
        events
    }

    /// Run passes until `d` has passed on the loop's clock or a handler stops the loop.
    /// Returns the events handled. With a virtual clock it returns only once someone moves
    /// the clock past the end (see the [module docs](self)).
    pub fn run_for<H: Handler<P::Tx>>(&mut self, h: &mut H, d: Duration) -> usize {
        let until = self.clock.now() + d;
        self.until = Some(until);
        self.stopped = false;
        let mut events = 0;
        while !self.stopped && self.clock.now() < until {
            events += self.run_once(h);
        }
        self.until = None;
        events
    }

    /// Kick the TX ring now if frames are queued (at shutdown, say).
    pub fn flush(&mut self) {
        let now = self.clock.now();
        if self.port.tx().pending() > 0 {
            self.kick(now);
        }
    }

    /// Whether a handler asked the loop to stop.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// When the next timer becomes due (see [`TimerWheel::next_deadline`]). Simulation
    /// drivers advance a virtual clock to it when the wire is quiet.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// The current adaptive kick interval; `None` with [`KickPolicy::Immediate`].
    pub fn kick_interval(&self) -> Option<Duration> {
        match self.cfg.kick {
            KickPolicy::Adaptive { .. } => Some(self.interval),
            KickPolicy::Immediate => None,
        }
    }

    /// Run `f` with a context like a callback's (TX half, timers, the clock's current time):
    /// to act between passes, for example to send on behalf of the application. Frames it
    /// commits leave with the next kick, or call [`flush`](Self::flush).
    pub fn with_context<R>(&mut self, f: impl FnOnce(&mut Context<'_, P::Tx>) -> R) -> R {
        let now = self.clock.now();
        let (_, tx) = self.port.split();
        let mut cx = Context {
            tx,
            timers: &mut self.timers,
            now,
            stop: &mut self.stopped,
        };
        f(&mut cx)
    }

    /// The port.
    pub fn port(&self) -> &P {
        &self.port
    }

    /// The port, mutably (to prepare packets or send outside a callback).
    pub fn port_mut(&mut self) -> &mut P {
        &mut self.port
    }

    /// Give the port back.
    pub fn into_port(self) -> P {
        self.port
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// The timer wheel (tokens fire through [`Handler::on_timer`]).
    pub fn timers(&self) -> &TimerWheel<u64> {
        &self.timers
    }

    /// The timer wheel, mutably, to schedule from outside a callback.
    pub fn timers_mut(&mut self) -> &mut TimerWheel<u64> {
        &mut self.timers
    }

    /// The settings in use (`rx_batch` at least 1, an adaptive `max` at least its `min`).
    pub fn config(&self) -> &LoopConfig {
        &self.cfg
    }

    /// Counters of the loop, its timers and its port.
    pub fn stats(&self) -> LoopStats {
        LoopStats {
            timers: self.timers.stats(),
            port: self.port.stats(),
            ..self.stats
        }
    }

    fn adapt_interval(&mut self, full: bool) {
        let KickPolicy::Adaptive { min, max, .. } = self.cfg.kick else {
            return;
        };
        self.interval = if full {
            // From zero, doubling would stay at zero: start growing from 1 µs.
            (self.interval * 2).max(Duration::from_micros(1)).min(max)
        } else {
            (self.interval / 2).max(min)
        };
    }

    /// Whether `now` (an idle pass's start) is within `idle_spin` of the last pass that
    /// did work. Uses the pass's own clock read: spinning adds no clock read of its own.
    #[inline]
    fn in_spin_window(&self, now: Instant) -> bool {
        match self.last_work {
            Some(t) => now.saturating_since(t) < self.cfg.idle_spin,
            None => false,
        }
    }

    fn should_kick(&mut self, now: Instant) -> bool {
        let tx = self.port.tx();
        let pending = tx.pending();
        if pending == 0 {
            return false;
        }
        match self.cfg.kick {
            KickPolicy::Immediate => true,
            KickPolicy::Adaptive { batch, .. } => {
                pending >= batch
                    || now.saturating_since(self.last_kick) >= self.interval
                    // As many queued as free: the ring is at least half taken by frames that
                    // are only waiting for us.
                    || pending >= tx.tx_space()
            }
        }
    }

    fn kick(&mut self, now: Instant) {
        let tx = self.port.tx();
        if tx.pending() == 0 {
            return;
        }
        self.stats.kicks += 1;
        self.last_kick = now;
        match tx.flush() {
            Ok(n) => self.stats.tx_frames_kicked += n as u64,
            Err(_) => self.stats.flush_errors += 1,
        }
    }

    fn idle_wait(&mut self) {
        let Some(mut timeout) = self.cfg.idle_block else {
            return;
        };
        let now = self.clock.now();
        if let Some(t) = self.timers.next_deadline() {
            timeout = timeout.min(t.saturating_since(now));
        }
        if let Some(t) = self.until {
            timeout = timeout.min(t.saturating_since(now));
        }
        if self.port.tx().pending() > 0 {
            // The kick before this wait was not taken whole (a full socket buffer, a busy
            // driver): do not strand the rest for a whole idle period.
            let retry = match self.cfg.kick {
                KickPolicy::Adaptive { min, .. } => min,
                KickPolicy::Immediate => Duration::ZERO,
            };
            timeout = timeout.min(retry);
        }
        if timeout.is_zero() {
            return;
        }
        self.stats.idle_waits += 1;
        if self.port.wait(timeout).is_err() {
            self.stats.wait_errors += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::Capabilities;
    use crate::prepared::{PrepMode, PreparedId};
    use crate::{Error, VirtualClock};
    use std::collections::VecDeque;

    /// An in-memory port: frames pushed into `rx.queue` come out of `recv_burst`; committed
    /// frames sit in `tx.pending` until `flush` moves them to `tx.sent`.
    struct FakePort {
        rx: FakeRx,
        tx: FakeTx,
        caps: Capabilities,
        waits: Vec<Duration>,
        fail_wait: bool,
        /// When set, `wait` lets this virtual clock run for the whole timeout.
        sleeps_on: Option<VirtualClock>,
    }

    #[derive(Default)]
    struct FakeRx {
        queue: VecDeque<Vec<u8>>,
        stats: PortStats,
    }

    struct FakeTx {
        ring: usize,
        slot: Vec<u8>,
        reserved: bool,
        pending: Vec<Vec<u8>>,
        sent: Vec<Vec<u8>>,
        /// Frame counts of each flush, in order.
        flushes: Vec<usize>,
        fail_flush: bool,
        stats: PortStats,
    }

    impl FakePort {
        fn new(ring: usize) -> Self {
            FakePort {
                rx: FakeRx::default(),
                tx: FakeTx {
                    ring,
                    slot: vec![0; 128],
                    reserved: false,
                    pending: Vec::new(),
                    sent: Vec::new(),
                    flushes: Vec::new(),
                    fail_flush: false,
                    stats: PortStats::default(),
                },
                caps: Capabilities {
                    mac: [2, 0, 0, 0, 0, 1],
                    mtu: 100,
                    max_frame: 128,
                    rx_queues: 1,
                    tx_queues: 1,
                    queue_id: 0,
                    rx_ring_size: 1024,
                    tx_ring_size: ring,
                    zero_copy_prepared: false,
                    rx_csum_offload: false,
                    tx_csum_offload: false,
                    rss: false,
                },
                waits: Vec::new(),
                fail_wait: false,
                sleeps_on: None,
            }
        }

        fn push(&mut self, frames: impl IntoIterator<Item = u32>) {
            for i in frames {
                self.rx.queue.push_back(i.to_be_bytes().to_vec());
            }
        }
    }

    impl RxQueue for FakeRx {
        fn recv_burst<F: FnMut(&mut [u8], &RxMeta)>(&mut self, max: usize, mut f: F) -> usize {
            let mut n = 0;
            while n < max {
                let Some(mut frame) = self.queue.pop_front() else {
                    break;
                };
                let meta = RxMeta {
                    len: frame.len() as u32,
                    ..RxMeta::default()
                };
                f(&mut frame, &meta);
                n += 1;
            }
            self.stats.rx_frames += n as u64;
            self.stats.rx_bursts += u64::from(n > 0);
            n
        }
        fn wait(&mut self, _timeout: Duration) -> Result<bool, Error> {
            Ok(!self.queue.is_empty())
        }
        fn stats(&self) -> PortStats {
            self.stats
        }
    }

    impl TxQueue for FakeTx {
        fn tx_space(&mut self) -> usize {
            self.ring - self.pending.len()
        }
        fn slot_size(&self) -> usize {
            self.slot.len()
        }
        fn reserve(&mut self) -> Option<&mut [u8]> {
            if self.pending.len() == self.ring {
                self.stats.tx_ring_full += 1;
                return None;
            }
            self.reserved = true;
            Some(&mut self.slot)
        }
        fn commit(&mut self, len: usize) -> bool {
            if !self.reserved || len == 0 || len > self.slot.len() {
                self.stats.tx_bad_len += 1;
                return false;
            }
            self.reserved = false;
            self.pending.push(self.slot[..len].to_vec());
            self.stats.tx_frames += 1;
            true
        }
        fn pending(&self) -> usize {
            self.pending.len()
        }
        fn flush(&mut self) -> Result<usize, Error> {
            if self.fail_flush {
                return Err(Error::InvalidConfig {
                    what: "fake flush failure".into(),
                });
            }
            let n = self.pending.len();
            self.sent.append(&mut self.pending);
            self.flushes.push(n);
            self.stats.tx_kicks += 1;
            Ok(n)
        }
        fn prepare(&mut self, _image: &[u8]) -> Result<PreparedId, Error> {
            Err(Error::PoolFull { capacity: 0 })
        }
        fn prepared(&self, _id: PreparedId) -> Option<&[u8]> {
            None
        }
        fn prepared_mut(&mut self, _id: PreparedId) -> Option<&mut [u8]> {
            None
        }
        fn send_prepared<R: FnOnce(&mut [u8])>(
            &mut self,
            _id: PreparedId,
            _mode: PrepMode,
            _rewrite: R,
        ) -> bool {
            self.stats.tx_bad_prepared += 1;
            false
        }
        fn stats(&self) -> PortStats {
            self.stats
        }
    }

    impl Port for FakePort {
        type Rx = FakeRx;
        type Tx = FakeTx;
        fn split(&mut self) -> (&mut FakeRx, &mut FakeTx) {
            (&mut self.rx, &mut self.tx)
        }
        fn halves(&self) -> (&FakeRx, &FakeTx) {
            (&self.rx, &self.tx)
        }
        fn into_parts(self) -> (FakeRx, FakeTx, Capabilities) {
            (self.rx, self.tx, self.caps)
        }
        fn caps(&self) -> &Capabilities {
            &self.caps
        }
        // Port-level override: records the waits the loop makes.
        fn wait(&mut self, timeout: Duration) -> Result<bool, Error> {
            self.waits.push(timeout);
            if let Some(c) = &self.sleeps_on {
                c.advance(timeout);
            }
            if self.fail_wait {
                return Err(Error::InvalidConfig {
                    what: "fake wait failure".into(),
                });
            }
            Ok(!self.rx.queue.is_empty())
        }
    }

    /// Records everything; echoes each frame when `echo` is set.
    #[derive(Default)]
    struct Recorder {
        frames: Vec<u32>,
        batch_ends: Vec<usize>,
        timers: Vec<(u64, Instant)>,
        echo: bool,
        stop_after: Option<usize>,
        rearm: Option<Duration>,
    }

    impl Handler<FakeTx> for Recorder {
        fn on_frame(&mut self, cx: &mut Context<'_, FakeTx>, frame: &mut [u8], meta: &RxMeta) {
            assert_eq!(meta.len as usize, frame.len());
            self.frames
                .push(u32::from_be_bytes(frame[..4].try_into().unwrap()));
            if self.echo {
                assert!(cx.tx.send(|buf| {
                    buf[..frame.len()].copy_from_slice(frame);
                    frame.len()
                }));
            }
            if self.stop_after == Some(self.frames.len()) {
                cx.stop();
            }
        }

        fn on_timer(&mut self, cx: &mut Context<'_, FakeTx>, token: u64) {
            self.timers.push((token, cx.now));
            if let Some(p) = self.rearm {
                cx.timers.schedule(cx.now + p, token).unwrap();
            }
        }

        fn on_batch_end(&mut self, _cx: &mut Context<'_, FakeTx>) {
            self.batch_ends.push(self.frames.len());
        }
    }

    fn cfg(kick: KickPolicy) -> LoopConfig {
        LoopConfig {
            rx_batch: 64,
            timer_capacity: 64,
            timer_tick: Duration::from_millis(1),
            timer_slots: 64,
            kick,
            idle_block: None,
            idle_spin: Duration::ZERO,
        }
    }

    fn new_loop(ring: usize, cfg: LoopConfig) -> (EventLoop<FakePort, VirtualClock>, VirtualClock) {
        let clock = VirtualClock::new(Instant::from_millis(1_000));
        (
            EventLoop::new(FakePort::new(ring), clock.clone(), cfg),
            clock,
        )
    }

    const ADAPTIVE: KickPolicy = KickPolicy::Adaptive {
        min: Duration::from_micros(100),
        max: Duration::from_micros(1_600),
        batch: 16,
    };

    #[test]
    fn frames_are_dispatched_in_order_in_batches_of_at_most_rx_batch() {
        let (mut ev, _) = new_loop(256, cfg(KickPolicy::Immediate));
        ev.port_mut().push(0..150);
        let mut h = Recorder::default();
        assert_eq!(ev.run_once(&mut h), 64);
        assert_eq!(ev.run_once(&mut h), 64);
        assert_eq!(ev.run_once(&mut h), 22);
        assert_eq!(ev.run_once(&mut h), 0);
        assert_eq!(h.frames, (0..150).collect::<Vec<_>>());
        assert_eq!(h.batch_ends, [64, 128, 150]);
        let s = ev.stats();
        assert_eq!((s.rx_batches, s.full_batches), (3, 2));
        assert_eq!(s.avg_batch(), 50.0);
    }

    #[test]
    fn immediate_policy_kicks_after_every_batch() {
        let (mut ev, _) = new_loop(256, cfg(KickPolicy::Immediate));
        ev.port_mut().push(0..100);
        let mut h = Recorder {
            echo: true,
            ..Recorder::default()
        };
        ev.run_once(&mut h);
        assert_eq!(ev.port().tx.pending(), 0);
        ev.run_once(&mut h);
        ev.run_once(&mut h);
        assert_eq!(ev.port().tx.flushes, [64, 36]);
        assert_eq!(ev.port().tx.sent.len(), 100);
        assert_eq!(ev.stats().kicks, 2);
    }

    #[test]
    fn adaptive_policy_kicks_when_the_batch_threshold_is_reached() {
        let (mut ev, _) = new_loop(256, cfg(ADAPTIVE));
        let mut h = Recorder {
            echo: true,
            ..Recorder::default()
        };
        // Same instant as construction: the interval has not passed.
        ev.port_mut().push(0..8);
        ev.run_once(&mut h);
        assert_eq!(ev.port().tx.pending(), 8);
        assert!(ev.port().tx.flushes.is_empty());
        ev.port_mut().push(8..16);
        ev.run_once(&mut h);
        assert_eq!(ev.port().tx.flushes, [16]);
    }

    #[test]
    fn adaptive_policy_kicks_when_the_interval_passes() {
        let (mut ev, clock) = new_loop(256, cfg(ADAPTIVE));
        let mut h = Recorder {
            echo: true,
            ..Recorder::default()
        };
        ev.port_mut().push([1]);
        ev.run_once(&mut h);
        assert_eq!(ev.port().tx.pending(), 1);
        clock.advance(Duration::from_micros(99));
        ev.run_once(&mut h);
        assert_eq!(ev.port().tx.pending(), 1, "kicked before the interval");
        clock.advance(Duration::from_micros(1));
        ev.run_once(&mut h);
        assert_eq!(ev.port().tx.flushes, [1]);
    }

    #[test]
    fn adaptive_policy_kicks_when_queued_frames_reach_the_free_space() {
        let mut c = cfg(ADAPTIVE);
        c.rx_batch = 4;
        let (mut ev, _) = new_loop(8, c);
        let mut h = Recorder {
            echo: true,
            ..Recorder::default()
        };
        ev.port_mut().push(0..4);
        ev.run_once(&mut h);
        assert_eq!(ev.port().tx.flushes, [4], "4 queued, 4 free in a ring of 8");
    }

    #[test]
    fn loop_flushes_before_blocking_idle() {
        let mut c = cfg(ADAPTIVE);
        c.idle_block = Some(Duration::from_millis(5));
        let (mut ev, _) = new_loop(256, c);
        let mut h = Recorder {
            echo: true,
            ..Recorder::default()
        };
        ev.port_mut().push([7]);
        ev.run_once(&mut h);
        assert_eq!(ev.port().tx.pending(), 1);
        assert!(ev.port().waits.is_empty());
        ev.run_once(&mut h);
        assert_eq!(ev.port().tx.flushes, [1]);
        assert_eq!(ev.port().waits, [Duration::from_millis(5)]);
        assert_eq!(ev.stats().idle_waits, 1);
    }

    #[test]
    fn adaptive_interval_grows_under_full_batches_and_shrinks_under_small_ones() {
        let (mut ev, _) = new_loop(4096, cfg(ADAPTIVE));
        let mut h = Recorder::default();
        assert_eq!(ev.kick_interval(), Some(Duration::from_micros(100)));
        ev.port_mut().push(0..64);
        ev.run_once(&mut h);
        assert_eq!(ev.kick_interval(), Some(Duration::from_micros(200)));
        ev.port_mut().push(0..64 * 10);
        for _ in 0..10 {
            ev.run_once(&mut h);
        }
        assert_eq!(ev.kick_interval(), Some(Duration::from_micros(1_600)));
        ev.port_mut().push(0..3);
        ev.run_once(&mut h);
        assert_eq!(ev.kick_interval(), Some(Duration::from_micros(800)));
        for _ in 0..10 {
            ev.port_mut().push([1]);
            ev.run_once(&mut h);
        }
        assert_eq!(ev.kick_interval(), Some(Duration::from_micros(100)));
    }

    #[test]
    fn heavy_load_kicks_less_often_than_immediate() {
        let mut kicks = Vec::new();
        for kick in [KickPolicy::Immediate, KickPolicy::adaptive()] {
            let mut c = cfg(kick);
            c.rx_batch = 8;
            let (mut ev, clock) = new_loop(4096, c);
            let mut h = Recorder {
                echo: true,
                ..Recorder::default()
            };
            ev.port_mut().push(0..800);
            for _ in 0..100 {
                ev.run_once(&mut h);
                clock.advance(Duration::from_micros(1));
            }
            ev.flush();
            assert_eq!(ev.port().tx.sent.len(), 800);
            kicks.push(ev.stats().kicks);
        }
        assert_eq!(kicks[0], 100);
        assert!(kicks[1] * 4 <= kicks[0], "adaptive kicks {}", kicks[1]);
    }

    #[test]
    fn timer_fires_on_time_on_the_virtual_clock() {
        let (mut ev, clock) = new_loop(256, cfg(KickPolicy::Immediate));
        let t0 = clock.now();
        let mut h = Recorder::default();
        ev.timers_mut()
            .schedule(t0 + Duration::from_millis(10), 42)
            .unwrap();
        assert_eq!(ev.next_deadline(), Some(t0 + Duration::from_millis(10)));
        clock.advance(Duration::from_micros(9_999));
        assert_eq!(ev.run_once(&mut h), 0);
        assert!(h.timers.is_empty());
        clock.advance_to(t0 + Duration::from_millis(11));
        assert_eq!(ev.run_once(&mut h), 1);
        assert_eq!(h.timers, [(42, t0 + Duration::from_millis(11))]);
        assert_eq!(h.batch_ends, [0], "on_batch_end after the timers");
        assert_eq!(ev.stats().timers_fired, 1);
        assert_eq!(ev.next_deadline(), None);
    }

    #[test]
    fn rearmed_periodic_timer_fires_once_per_pass() {
        let (mut ev, clock) = new_loop(256, cfg(KickPolicy::Immediate));
        let mut h = Recorder {
            rearm: Some(Duration::ZERO),
            ..Recorder::default()
        };
        ev.timers_mut().schedule(clock.now(), 5).unwrap();
        assert_eq!(ev.run_once(&mut h), 1);
        assert_eq!(ev.run_once(&mut h), 0, "due only at the next tick");
        clock.advance(Duration::from_millis(1));
        assert_eq!(ev.run_once(&mut h), 1);
        assert_eq!(h.timers.len(), 2);
    }

    #[test]
    fn idle_wait_is_cut_short_by_the_next_timer() {
        let mut c = cfg(KickPolicy::Immediate);
        c.idle_block = Some(Duration::from_millis(50));
        let (mut ev, clock) = new_loop(256, c);
        ev.timers_mut()
            .schedule(clock.now() + Duration::from_millis(3), 1)
            .unwrap();
        ev.run_once(&mut Recorder::default());
        assert_eq!(ev.port().waits, [Duration::from_millis(3)]);
    }

    #[test]
    fn busy_poll_never_waits() {
        let (mut ev, _) = new_loop(256, cfg(KickPolicy::Immediate));
        for _ in 0..10 {
            ev.run_once(&mut Recorder::default());
        }
        assert!(ev.port().waits.is_empty());
        assert_eq!(ev.stats().idle_waits, 0);
    }

    fn spinning(kick: KickPolicy, spin: Duration) -> LoopConfig {
        LoopConfig {
            idle_block: Some(Duration::from_millis(5)),
            idle_spin: spin,
            ..cfg(kick)
        }
    }

    #[test]
    fn idle_passes_inside_the_spin_window_after_work_do_not_block() {
        let c = spinning(KickPolicy::Immediate, Duration::from_micros(50));
        let (mut ev, clock) = new_loop(256, c);
        let mut h = Recorder::default();
        ev.port_mut().push([1]);
        assert_eq!(ev.run_once(&mut h), 1);
        for _ in 0..3 {
            clock.advance(Duration::from_micros(16));
            assert_eq!(ev.run_once(&mut h), 0);
        }
        assert!(
            ev.port().waits.is_empty(),
            "49 us after work: still polling"
        );
        assert_eq!((ev.stats().spins, ev.stats().idle_waits), (3, 0));
        // A frame found while spinning restarts the window.
        ev.port_mut().push([2]);
        assert_eq!(ev.run_once(&mut h), 1);
        clock.advance(Duration::from_micros(49));
        ev.run_once(&mut h);
        assert!(ev.port().waits.is_empty());
        assert_eq!(ev.stats().spins, 4);
    }

    #[test]
    fn idle_pass_blocks_once_the_spin_window_has_passed() {
        let c = spinning(KickPolicy::Immediate, Duration::from_micros(50));
        let (mut ev, clock) = new_loop(256, c);
        let mut h = Recorder::default();
        ev.port_mut().push([1]);
        ev.run_once(&mut h);
        clock.advance(Duration::from_micros(20));
        ev.run_once(&mut h);
        clock.advance(Duration::from_micros(30));
        ev.run_once(&mut h);
        assert_eq!(ev.port().waits, [Duration::from_millis(5)]);
        assert_eq!((ev.stats().spins, ev.stats().idle_waits), (1, 1));
    }

    #[test]
    fn zero_spin_window_blocks_on_the_first_idle_pass() {
        let c = spinning(KickPolicy::Immediate, Duration::ZERO);
        let (mut ev, _) = new_loop(256, c);
        let mut h = Recorder::default();
        ev.port_mut().push([1]);
        ev.run_once(&mut h);
        ev.run_once(&mut h);
        assert_eq!(ev.port().waits, [Duration::from_millis(5)]);
        assert_eq!(ev.stats().spins, 0);
    }

    #[test]
    fn no_spin_before_the_first_pass_with_work() {
        let c = spinning(KickPolicy::Immediate, Duration::from_millis(1));
        let (mut ev, _) = new_loop(256, c);
        ev.run_once(&mut Recorder::default());
        assert_eq!(ev.port().waits, [Duration::from_millis(5)]);
        assert_eq!(ev.stats().spins, 0);
    }

    #[test]
    fn timers_fire_during_the_spin_and_extend_it() {
        let c = spinning(KickPolicy::Immediate, Duration::from_micros(1_500));
        let (mut ev, clock) = new_loop(256, c);
        let t0 = clock.now();
        ev.timers_mut()
            .schedule(t0 + Duration::from_millis(1), 7)
            .unwrap();
        let mut h = Recorder::default();
        ev.port_mut().push([1]);
        ev.run_once(&mut h);
        clock.advance(Duration::from_millis(1));
        assert_eq!(ev.run_once(&mut h), 1, "the timer fires in the window");
        assert_eq!(h.timers, [(7, t0 + Duration::from_millis(1))]);
        // 2 ms after the frame but 1 ms after the timer: still inside the window.
        clock.advance(Duration::from_millis(1));
        assert_eq!(ev.run_once(&mut h), 0);
        assert!(ev.port().waits.is_empty());
        assert_eq!(ev.stats().spins, 1);
    }

    #[test]
    fn spinning_kicks_as_the_policy_says_and_flushes_before_blocking() {
        let c = spinning(ADAPTIVE, Duration::from_micros(300));
        let (mut ev, clock) = new_loop(256, c);
        let mut h = Recorder {
            echo: true,
            ..Recorder::default()
        };
        ev.port_mut().push([1]);
        ev.run_once(&mut h);
        assert_eq!(ev.port().tx.pending(), 1, "within the adaptive interval");
        clock.advance(Duration::from_micros(50));
        ev.run_once(&mut h);
        assert_eq!(ev.port().tx.pending(), 1, "spinning does not kick early");
        clock.advance(Duration::from_micros(50));
        ev.run_once(&mut h);
        assert_eq!(
            ev.port().tx.flushes,
            [1],
            "the interval passed while spinning"
        );
        ev.port_mut().push([2]);
        ev.run_once(&mut h);
        clock.advance(Duration::from_micros(300));
        ev.run_once(&mut h);
        assert_eq!(ev.port().tx.flushes, [1, 1], "kicked by the time it blocks");
        assert_eq!(ev.port().waits, [Duration::from_millis(5)]);
        // With Immediate the pass that queued the answer kicks it: nothing waits on a spin.
        let c = spinning(KickPolicy::Immediate, Duration::from_micros(300));
        let (mut ev, _) = new_loop(256, c);
        ev.port_mut().push([1]);
        ev.run_once(&mut h);
        assert_eq!(ev.port().tx.flushes, [1]);
    }

    #[test]
    fn busy_poll_ignores_the_spin_window() {
        let mut c = spinning(KickPolicy::Immediate, Duration::from_millis(1));
        c.idle_block = None;
        let (mut ev, _) = new_loop(256, c);
        let mut h = Recorder::default();
        ev.port_mut().push([1]);
        for _ in 0..5 {
            ev.run_once(&mut h);
        }
        assert!(ev.port().waits.is_empty());
        assert_eq!((ev.stats().spins, ev.stats().idle_waits), (0, 0));
    }

    #[test]
    fn stop_from_a_callback_ends_run() {
        let (mut ev, _) = new_loop(256, cfg(KickPolicy::Immediate));
        ev.port_mut().push(0..300);
        let mut h = Recorder {
            stop_after: Some(100),
            ..Recorder::default()
        };
        assert_eq!(ev.run(&mut h), 128, "the pass that stopped completes");
        assert!(ev.is_stopped());
        assert_eq!(ev.port().rx.queue.len(), 172);
        // A new run starts afresh.
        h.stop_after = Some(200);
        ev.run(&mut h);
        assert_eq!(h.frames.len(), 256);
    }

    #[test]
    fn run_for_ends_when_the_clock_passes_the_end() {
        let mut c = cfg(KickPolicy::Immediate);
        c.idle_block = Some(Duration::from_millis(50));
        let (mut ev, clock) = new_loop(256, c);
        let mut passes = 0;
        // Each frame moves the virtual clock by 1 ms, as a driver would.
        let mut h = FnHandler::new(|cx: &mut Context<'_, FakeTx>, _frame: &mut [u8], _meta| {
            passes += 1;
            clock.advance(Duration::from_millis(1));
            cx.tx.send(|b| {
                b[0] = 1;
                1
            });
        });
        ev.port_mut().push(0..100);
        assert_eq!(ev.run_for(&mut h, Duration::from_millis(10)), 64);
        assert_eq!(passes, 64);
        // An idle run_for waits no longer than its end; here the port's wait is where the
        // simulated time passes, as a driver sleeping on a virtual clock would make it.
        let (mut ev, clock) = new_loop(256, c);
        ev.port_mut().sleeps_on = Some(clock.clone());
        let start = clock.now();
        let mut h = Recorder::default();
        assert_eq!(ev.run_for(&mut h, Duration::from_millis(2)), 0);
        assert_eq!(ev.port().waits, [Duration::from_millis(2)]);
        assert_eq!(clock.now(), start + Duration::from_millis(2));
    }

    #[test]
    fn fn_handler_infers_its_argument_types_from_the_loop() {
        let (mut ev, _) = new_loop(256, cfg(KickPolicy::Immediate));
        ev.port_mut().push(0..3);
        let mut seen = 0;
        ev.run_once(&mut FnHandler::new(|cx, frame, _meta| {
            seen += frame.len();
            let _ = cx.now;
        }));
        assert_eq!(seen, 12);
    }

    #[test]
    fn port_errors_are_counted_and_the_loop_goes_on() {
        let mut c = cfg(KickPolicy::Immediate);
        c.idle_block = Some(Duration::from_millis(1));
        let (mut ev, _) = new_loop(256, c);
        ev.port_mut().tx.fail_flush = true;
        ev.port_mut().fail_wait = true;
        let mut h = Recorder {
            echo: true,
            ..Recorder::default()
        };
        ev.port_mut().push(0..3);
        ev.run_once(&mut h);
        ev.run_once(&mut h);
        let s = ev.stats();
        // Frames still queued after a failed kick keep the loop from blocking.
        assert_eq!((s.flush_errors, s.wait_errors), (2, 0));
        ev.port_mut().tx.fail_flush = false;
        ev.port_mut().push([9]);
        ev.run_once(&mut h);
        assert_eq!(ev.port().tx.sent.len(), 4);
        assert_eq!(h.frames, [0, 1, 2, 9]);
        ev.run_once(&mut h);
        assert_eq!(
            ev.stats().wait_errors,
            1,
            "an idle pass waits, and its error is counted"
        );
    }

    #[test]
    fn counters_add_up() {
        let mut c = cfg(KickPolicy::Immediate);
        c.rx_batch = 10;
        c.idle_block = Some(Duration::from_millis(1));
        let (mut ev, clock) = new_loop(256, c);
        let mut h = Recorder {
            echo: true,
            ..Recorder::default()
        };
        ev.timers_mut()
            .schedule(clock.now() + Duration::from_millis(2), 1)
            .unwrap();
        ev.timers_mut()
            .schedule(clock.now() + Duration::from_millis(2), 2)
            .unwrap();
        ev.port_mut().push(0..25);
        let mut events = 0;
        for _ in 0..4 {
            events += ev.run_once(&mut h);
        }
        clock.advance(Duration::from_millis(2));
        events += ev.run_once(&mut h);
        let s = ev.stats();
        assert_eq!(events, 27);
        assert_eq!(s.iterations, 5);
        assert_eq!(s.rx_frames, 25);
        assert_eq!(s.port.rx_frames, 25);
        assert_eq!((s.rx_batches, s.full_batches), (3, 2));
        assert_eq!(s.timers_fired, 2);
        assert_eq!(s.timers.fired, 2);
        assert_eq!(s.timers.scheduled, 2);
        assert_eq!((s.kicks, s.tx_frames_kicked), (3, 25));
        assert_eq!(s.port.tx_kicks, 3);
        assert_eq!(s.port.tx_frames, 25);
        assert_eq!(s.idle_waits, 1);
        assert_eq!(s.avg_kick(), 25.0 / 3.0);
    }
}
