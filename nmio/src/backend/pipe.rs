//! `pipe`: an in-memory wire joining two ports, with seeded impairments and a virtual clock.
//!
//! ```text
//!  port A                    wire (one Mutex, taken once per burst / flush)            port B
//!  TX slots --flush--> [impair A->B] -> in flight (heap by arrival time) -> arrived ring --> RX
//!  RX <-- arrived ring <- in flight <- [impair B->A] <--flush-- TX slots
//! ```
//!
//! Frames move as owned buffers: a flush swaps the TX slot's buffer with a free wire buffer
//! (no copy), and a receive lends the arrived buffer to the callback. All buffers are
//! allocated when the pair is made; nothing is allocated per frame. Delivery happens when
//! the clock reaches a frame's arrival time; with a [`VirtualClock`] that is when the test
//! moves the clock, so a run is a pure function of the seed and the calls made. The arrived
//! ring holds `ring_size` frames like a NIC RX ring: more arrivals than that before the
//! receiver polls are dropped and counted as `rx_ring_full`.
//!
//! Prepared packets are zero-copy here ([`Capabilities::zero_copy_prepared`]): pre-copy
//! rewrites the image in place and queues a reference to it, and the wire copies it out at
//! flush, as a NIC's DMA would. A second pre-copy send of the same image before that flush
//! is served from a spare copy (`prepared_clones`), which is exactly the situation
//! Sandstorm's pre-copy handles with its spare buffers.
//!
//! With [`PipeConfig::tso_max`] set the pipe is a NIC with TCP segmentation offload: TX
//! slots grow to hold a super-frame, and [`TxQueue::commit_tso`] queues one that the wire
//! cuts at flush with [`crate::tso::segment`] into ordinary frames of at most `mtu + 14`
//! bytes, delivered to the peer in order. Each wire segment is judged by the impairment
//! model on its own (loss, delay, duplication, corruption), as on a real lossy link.
//! Counters follow [`PortStats::tx_tso`]: a super-frame counts once in `tx_tso` and once in
//! `tx_frames` with all its bytes in `tx_bytes`; `tx_impaired` and the impairment stats
//! count wire segments.

use super::impair_model::{flip_bit, ImpairStats, Impairer, Impairments};
use crate::clock::{Clock, Instant, MonotonicClock, VirtualClock};
use crate::prepared::{PrepMode, PreparedId, PreparedPool};
use crate::tso::{self, TsoFrame};
use crate::{Capabilities, Error, PortStats, RxMeta, RxQueue, TxQueue};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Settings of a pipe pair. Index 0 is port A, index 1 port B.
#[derive(Clone, Debug)]
pub struct PipeConfig {
    /// IP MTU of the simulated link.
    pub mtu: usize,
    /// Slots of each port's TX ring and RX (arrived) ring.
    pub ring_size: usize,
    /// Frames the wire holds in flight per direction (queue of a rate-limited or delayed
    /// link); a flush beyond it drops and counts.
    pub wire_capacity: usize,
    /// MAC address of each port.
    pub macs: [[u8; 6]; 2],
    /// Impairments of A->B and B->A.
    pub impair: [Impairments; 2],
    /// Seed of the impairment schedule (each direction derives its own).
    pub seed: u64,
    /// Prepared packets per port.
    pub prepared_capacity: usize,
    /// The clock; `None` uses the real `CLOCK_MONOTONIC` (and `wait` really blocks).
    pub clock: Option<VirtualClock>,
    /// Largest TCP super-frame [`TxQueue::commit_tso`] takes, 0 for no TSO; at most
    /// [`tso::MAX_FRAME`]. TX slots are made this big (ring_size of them per port), so
    /// [`TxQueue::slot_size`] grows with it; ordinary frames stay within `mtu + 18`
    /// ([`Capabilities::max_frame`]).
    pub tso_max: usize,
}

impl Default for PipeConfig {
    fn default() -> Self {
        PipeConfig {
            mtu: 1500,
            ring_size: 256,
            wire_capacity: 1024,
            macs: [[0x02, 0, 0, 0, 0, 0xa], [0x02, 0, 0, 0, 0, 0xb]],
            impair: [Impairments::none(), Impairments::none()],
            seed: 1,
            prepared_capacity: 1024,
            clock: None,
            tso_max: 0,
        }
    }
}

#[derive(Clone, Debug)]
enum PipeClock {
    Virtual(VirtualClock),
    Real,
}

impl PipeClock {
    #[inline]
    fn now(&self) -> Instant {
        match self {
            PipeClock::Virtual(c) => c.now(),
            PipeClock::Real => MonotonicClock.now(),
        }
    }
}

struct InFlight {
    at: Instant,
    seq: u64,
    len: u32,
    buf: Box<[u8]>,
}

impl PartialEq for InFlight {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for InFlight {
    // Reversed, so the BinaryHeap pops the earliest arrival (ties in send order).
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

struct Direction {
    in_flight: BinaryHeap<InFlight>,
    arrived: VecDeque<(Box<[u8]>, u32)>,
    free: Vec<Box<[u8]>>,
    seq: u64,
    ring_size: usize,
    impair: Impairer,
    rx_ring_full: u64,
}

impl Direction {
    fn new(cfg: &PipeConfig, slot: usize, impair: Impairments, seed: u64) -> Self {
        let cap = cfg.wire_capacity;
        Direction {
            in_flight: BinaryHeap::with_capacity(cap),
            arrived: VecDeque::with_capacity(cfg.ring_size),
            free: (0..cap)
                .map(|_| vec![0u8; slot].into_boxed_slice())
                .collect(),
            seq: 0,
            ring_size: cfg.ring_size,
            impair: Impairer::new(impair, seed),
            rx_ring_full: 0,
        }
    }

    /// Put the first `len` bytes of `buf` on the wire, arriving at `at`, with `corrupt_bit`
    /// flipped if the model chose one.
    fn launch(&mut self, at: Instant, mut buf: Box<[u8]>, len: usize, corrupt_bit: Option<usize>) {
        if let Some(bit) = corrupt_bit {
            flip_bit(&mut buf[..len], bit);
        }
        self.seq += 1;
        self.in_flight.push(InFlight {
            at,
            seq: self.seq,
            len: len as u32,
            buf,
        });
    }

    /// Cut a checked super-frame into wire frames, each judged by the impairment model on
    /// its own, as a TSO NIC on a lossy link.
    fn send_tso(
        &mut self,
        now: Instant,
        frame: &[u8],
        at: &TsoFrame,
        mss: u16,
        stats: &mut PortStats,
    ) {
        for k in 0..at.segments {
            let v = self.impair.judge(now, tso::segment_len(at, mss, k));
            if v.copies == 0 {
                stats.tx_impaired += 1;
            }
            for c in 0..v.copies as usize {
                let Some(mut buf) = self.free.pop() else {
                    self.impair.stats.queue_full += 1;
                    stats.tx_impaired += 1;
                    continue;
                };
                // Checked at commit and the slot untouched since, and wire buffers hold
                // `mtu + 18`: this cannot fail, but if it did nothing half-made is sent.
                let Some(n) = tso::write_segment(frame, at, mss, k, &mut buf) else {
                    self.free.push(buf);
                    stats.tx_errors += 1;
                    continue;
                };
                self.launch(v.at[c], buf, n, v.corrupt_bit);
            }
            self.advance(now);
        }
    }

    /// Move frames whose time has come into the arrived ring.
    fn advance(&mut self, now: Instant) {
        while self.in_flight.peek().is_some_and(|f| f.at <= now) {
            let Some(f) = self.in_flight.pop() else { break };
            if self.arrived.len() < self.ring_size {
                self.arrived.push_back((f.buf, f.len));
            } else {
                self.rx_ring_full += 1;
                self.free.push(f.buf);
            }
        }
    }
}

struct Wire {
    dirs: [Direction; 2],
}

type Shared = Arc<(Mutex<Wire>, Condvar)>;

fn lock(shared: &Shared) -> MutexGuard<'_, Wire> {
    // A panic while holding the lock leaves only counters and buffer lists, all still
    // consistent, so a poisoned lock is safe to keep using.
    shared.0.lock().unwrap_or_else(|p| p.into_inner())
}

/// Make a connected pair of ports.
pub fn pair(cfg: PipeConfig) -> Result<(PipePort, PipePort), Error> {
    if cfg.ring_size == 0 || cfg.wire_capacity < cfg.ring_size {
        return Err(Error::InvalidConfig {
            what: format!(
                "pipe ring_size {} must be > 0 and <= wire_capacity {}",
                cfg.ring_size, cfg.wire_capacity
            ),
        });
    }
    if !(68..=65_535).contains(&cfg.mtu) {
        return Err(Error::InvalidConfig {
            what: format!("pipe MTU {} not in 68..=65535", cfg.mtu),
        });
    }
    if cfg.tso_max > tso::MAX_FRAME {
        return Err(Error::InvalidConfig {
            what: format!(
                "pipe tso_max {} above the largest TSO frame {}",
                cfg.tso_max,
                tso::MAX_FRAME
            ),
        });
    }
    let slot = cfg.mtu + 18;
    let tx_slot = slot.max(cfg.tso_max);
    let seeds = [cfg.seed, cfg.seed ^ 0x5eed_5eed_5eed_5eed];
    let wire = Wire {
        dirs: [
            Direction::new(&cfg, slot, cfg.impair[0].clone(), seeds[0]),
            Direction::new(&cfg, slot, cfg.impair[1].clone(), seeds[1]),
        ],
    };
    let shared: Shared = Arc::new((Mutex::new(wire), Condvar::new()));
    let clock = match &cfg.clock {
        Some(c) => PipeClock::Virtual(c.clone()),
        None => PipeClock::Real,
    };
    let make = |side: usize| PipePort {
        rx: PipeRx {
            shared: shared.clone(),
            dir: 1 - side,
            clock: clock.clone(),
            staging: Vec::with_capacity(cfg.ring_size),
            stats: PortStats::default(),
        },
        tx: PipeTx {
            shared: shared.clone(),
            dir: side,
            clock: clock.clone(),
            slots: (0..cfg.ring_size)
                .map(|_| vec![0u8; tx_slot].into_boxed_slice())
                .collect(),
            lens: vec![0; cfg.ring_size],
            tso: vec![None; cfg.ring_size],
            tso_max: cfg.tso_max,
            mtu: cfg.mtu,
            refs: vec![None; cfg.ring_size],
            pending: 0,
            reserved: false,
            pool: PreparedPool::new(cfg.prepared_capacity, slot),
            in_flight: Vec::new(),
            stats: PortStats::default(),
        },
        caps: Capabilities {
            mac: cfg.macs[side],
            mtu: cfg.mtu,
            max_frame: slot,
            rx_queues: 1,
            tx_queues: 1,
            queue_id: 0,
            rx_ring_size: cfg.ring_size,
            tx_ring_size: cfg.ring_size,
            zero_copy_prepared: true,
            rx_csum_offload: false,
            tx_csum_offload: false,
            rss: false,
        },
    };
    Ok((make(0), make(1)))
}

/// One end of a pipe.
pub struct PipePort {
    rx: PipeRx,
    tx: PipeTx,
    caps: Capabilities,
}

impl PipePort {
    /// When the next frame in flight towards this port arrives, if any (simulation drivers
    /// advance a virtual clock to it).
    pub fn next_arrival(&self) -> Option<Instant> {
        lock(&self.rx.shared).dirs[self.rx.dir]
            .in_flight
            .peek()
            .map(|f| f.at)
    }

    /// Whether frames are in flight in either direction or waiting in either RX ring.
    pub fn wire_busy(&self) -> bool {
        let w = lock(&self.rx.shared);
        w.dirs
            .iter()
            .any(|d| !d.in_flight.is_empty() || !d.arrived.is_empty())
    }

    /// What the impairment model did to frames this port sent.
    pub fn tx_impair_stats(&self) -> ImpairStats {
        lock(&self.tx.shared).dirs[self.tx.dir].impair.stats
    }
}

/// Receive half of a [`PipePort`].
pub struct PipeRx {
    shared: Shared,
    dir: usize,
    clock: PipeClock,
    staging: Vec<(Box<[u8]>, u32)>,
    stats: PortStats,
}

impl RxQueue for PipeRx {
    fn recv_burst<F: FnMut(&mut [u8], &RxMeta)>(&mut self, max: usize, mut f: F) -> usize {
        let now = self.clock.now();
        {
            let mut w = lock(&self.shared);
            let d = &mut w.dirs[self.dir];
            d.advance(now);
            let n = max.min(d.arrived.len()).min(self.staging.capacity());
            self.staging.extend(d.arrived.drain(..n));
        }
        let n = self.staging.len();
        if n == 0 {
            return 0;
        }
        for (buf, len) in self.staging.iter_mut() {
            let meta = RxMeta {
                len: *len,
                timestamp_ns: now.as_nanos(),
                ..Default::default()
            };
            self.stats.rx_bytes += u64::from(*len);
            f(&mut buf[..*len as usize], &meta);
        }
        self.stats.rx_frames += n as u64;
        self.stats.rx_bursts += 1;
        let mut w = lock(&self.shared);
        w.dirs[self.dir]
            .free
            .extend(self.staging.drain(..).map(|(b, _)| b));
        n
    }

    fn wait(&mut self, timeout: Duration) -> Result<bool, Error> {
        let now = self.clock.now();
        let (m, cv) = &*self.shared;
        let mut w = m.lock().unwrap_or_else(|p| p.into_inner());
        w.dirs[self.dir].advance(now);
        if !w.dirs[self.dir].arrived.is_empty() {
            return Ok(true);
        }
        if matches!(self.clock, PipeClock::Virtual(_)) {
            return Ok(false);
        }
        let until_next = w.dirs[self.dir]
            .in_flight
            .peek()
            .map_or(timeout, |f| f.at.saturating_since(now));
        let (mut w, _) = cv
            .wait_timeout(w, timeout.min(until_next))
            .unwrap_or_else(|p| p.into_inner());
        let d = &mut w.dirs[self.dir];
        d.advance(self.clock.now());
        Ok(!d.arrived.is_empty())
    }

    fn stats(&self) -> PortStats {
        let mut s = self.stats;
        s.rx_ring_full += lock(&self.shared).dirs[self.dir].rx_ring_full;
        s
    }
}

/// Transmit half of a [`PipePort`].
pub struct PipeTx {
    shared: Shared,
    dir: usize,
    clock: PipeClock,
    slots: Vec<Box<[u8]>>,
    lens: Vec<u32>,
    /// A slot queued by `commit_tso`: the checked super-frame and its segment size.
    tso: Vec<Option<(TsoFrame, u16)>>,
    tso_max: usize,
    mtu: usize,
    /// A slot queued by pre-copy points at a prepared image instead of holding bytes.
    refs: Vec<Option<PreparedId>>,
    pending: usize,
    reserved: bool,
    pool: PreparedPool,
    in_flight: Vec<bool>,
    stats: PortStats,
}

impl PipeTx {
    fn queue(&mut self, len: usize, r: Option<PreparedId>) {
        self.lens[self.pending] = len as u32;
        self.refs[self.pending] = r;
        self.tso[self.pending] = None;
        self.pending += 1;
        self.reserved = false;
        self.stats.tx_frames += 1;
        self.stats.tx_bytes += len as u64;
    }
}

impl TxQueue for PipeTx {
    #[inline]
    fn tx_space(&mut self) -> usize {
        self.slots.len() - self.pending
    }

    fn slot_size(&self) -> usize {
        self.slots.first().map_or(0, |s| s.len())
    }

    #[inline]
    fn reserve(&mut self) -> Option<&mut [u8]> {
        if self.pending == self.slots.len() {
            self.stats.tx_ring_full += 1;
            return None;
        }
        self.reserved = true;
        Some(&mut self.slots[self.pending])
    }

    #[inline]
    fn commit(&mut self, len: usize) -> bool {
        // Wire buffers hold `max_frame` (the pool's frame size): larger slots are for TSO.
        if !self.reserved || len == 0 || len > self.pool.frame_size() {
            self.stats.tx_bad_len += 1;
            self.reserved = false;
            return false;
        }
        self.queue(len, None);
        true
    }

    #[inline]
    fn tso_max(&self) -> usize {
        self.tso_max
    }

    fn commit_tso(&mut self, len: usize, mss: u16) -> bool {
        let at = if self.reserved && len <= self.tso_max {
            tso::check(&self.slots[self.pending][..len], mss, self.mtu).ok()
        } else {
            None
        };
        let Some(at) = at else {
            self.stats.tx_bad_len += 1;
            self.reserved = false;
            return false;
        };
        self.queue(len, None);
        self.tso[self.pending - 1] = Some((at, mss));
        self.stats.tx_tso += 1;
        true
    }

    fn pending(&self) -> usize {
        self.pending
    }

    fn flush(&mut self) -> Result<usize, Error> {
        if self.pending == 0 {
            return Ok(0);
        }
        let now = self.clock.now();
        let mut guard = lock(&self.shared);
        let d = &mut guard.dirs[self.dir];
        for i in 0..self.pending {
            let len = self.lens[i] as usize;
            if let Some((at, mss)) = self.tso[i].take() {
                d.send_tso(now, &self.slots[i][..len], &at, mss, &mut self.stats);
                continue;
            }
            let v = d.impair.judge(now, len);
            if v.copies == 0 {
                self.stats.tx_impaired += 1;
            }
            for c in 0..v.copies as usize {
                let Some(mut buf) = d.free.pop() else {
                    d.impair.stats.queue_full += 1;
                    self.stats.tx_impaired += 1;
                    continue;
                };
                match self.refs[i] {
                    // The "DMA" read of a prepared buffer.
                    Some(id) => {
                        if let Some(img) = self.pool.get(id) {
                            buf[..len].copy_from_slice(img);
                        }
                    }
                    // The last copy takes the slot's own buffer; the slot gets the free one
                    // (unless TSO made the slots bigger than wire buffers).
                    None if c + 1 == v.copies as usize && buf.len() == self.slots[i].len() => {
                        std::mem::swap(&mut buf, &mut self.slots[i])
                    }
                    None => buf[..len].copy_from_slice(&self.slots[i][..len]),
                }
                d.launch(v.at[c], buf, len, v.corrupt_bit);
            }
            if let Some(id) = self.refs[i].take() {
                self.in_flight[id.0 as usize] = false;
            }
            // Frames due now land in the receiver's ring at once (overflowing it if the
            // receiver is slow), so the wire's own capacity only bounds delayed frames.
            d.advance(now);
        }
        drop(guard);
        self.shared.1.notify_all();
        let n = self.pending;
        self.pending = 0;
        self.reserved = false;
        self.stats.tx_kicks += 1;
        Ok(n)
    }

    fn prepare(&mut self, image: &[u8]) -> Result<PreparedId, Error> {
        let id = self.pool.insert(image)?;
        self.in_flight.push(false);
        Ok(id)
    }

    fn prepared(&self, id: PreparedId) -> Option<&[u8]> {
        self.pool.get(id)
    }

    fn prepared_mut(&mut self, id: PreparedId) -> Option<&mut [u8]> {
        self.pool.get_mut(id)
    }

    fn stats(&self) -> PortStats {
        self.stats
    }

    fn send_prepared<R: FnOnce(&mut [u8])>(
        &mut self,
        id: PreparedId,
        mode: PrepMode,
        rewrite: R,
    ) -> bool {
        let Some(len) = self.pool.get(id).map(<[u8]>::len) else {
            self.stats.tx_bad_prepared += 1;
            return false;
        };
        if self.pending == self.slots.len() {
            self.stats.tx_ring_full += 1;
            return false;
        }
        let busy = self.in_flight[id.0 as usize];
        match mode {
            PrepMode::PreCopy if !busy => {
                let Some(img) = self.pool.get_mut(id) else {
                    return false;
                };
                rewrite(img);
                self.in_flight[id.0 as usize] = true;
                self.stats.prepared_precopy += 1;
                self.queue(len, Some(id));
            }
            _ => {
                let Some(img) = self.pool.get(id) else {
                    return false;
                };
                let slot = &mut self.slots[self.pending];
                slot[..len].copy_from_slice(img);
                rewrite(&mut slot[..len]);
                if mode == PrepMode::PreCopy {
                    self.stats.prepared_precopy += 1;
                    self.stats.prepared_clones += 1;
                } else {
                    self.stats.prepared_memcpy += 1;
                }
                self.queue(len, None);
            }
        }
        true
    }
}

crate::port::port_from_fields!(impl[] PipePort => PipeRx, PipeTx);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Port;

    fn vpair(cfg: PipeConfig) -> (PipePort, PipePort, VirtualClock) {
        let clock = VirtualClock::new(Instant::ZERO);
        let (a, b) = pair(PipeConfig {
            clock: Some(clock.clone()),
            ..cfg
        })
        .unwrap();
        (a, b, clock)
    }

    fn recv_all(p: &mut PipePort) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while p.rx().recv_burst(64, |f, m| {
            assert_eq!(m.len as usize, f.len());
            out.push(f.to_vec())
        }) > 0
        {}
        out
    }

    #[test]
    fn frames_cross_in_order_byte_exact() {
        let (mut a, mut b, _) = vpair(PipeConfig::default());
        for i in 0..10u8 {
            assert!(a.tx().send(|buf| {
                buf[..60].fill(i);
                60
            }));
        }
        assert_eq!(recv_all(&mut b).len(), 0, "nothing leaves before the kick");
        assert_eq!(a.tx().flush().unwrap(), 10);
        let got = recv_all(&mut b);
        assert_eq!(got, (0..10u8).map(|i| vec![i; 60]).collect::<Vec<_>>());
        assert_eq!(a.stats().tx_frames, 10);
        assert_eq!(b.stats().rx_frames, 10);
    }

    #[test]
    fn delay_holds_frames_until_the_virtual_clock_reaches_them() {
        let mut cfg = PipeConfig::default();
        cfg.impair[0] = Impairments::parse("delay=10ms").unwrap();
        let (mut a, mut b, clock) = vpair(cfg);
        a.tx().send(|b| {
            b[..64].fill(1);
            64
        });
        a.tx().flush().unwrap();
        clock.advance(Duration::from_micros(9_999));
        assert!(!b.wait(Duration::from_secs(1)).unwrap());
        assert_eq!(b.next_arrival(), Some(Instant::from_millis(10)));
        clock.advance(Duration::from_micros(1));
        assert!(b.wait(Duration::ZERO).unwrap());
        assert_eq!(recv_all(&mut b).len(), 1);
    }

    #[test]
    fn rx_ring_overflow_is_counted() {
        let (mut a, mut b, _) = vpair(PipeConfig {
            ring_size: 8,
            wire_capacity: 64,
            ..Default::default()
        });
        for _ in 0..3 {
            for _ in 0..8 {
                a.tx().send(|_| 60);
            }
            a.tx().flush().unwrap();
        }
        assert_eq!(recv_all(&mut b).len(), 8);
        assert_eq!(b.stats().rx_ring_full, 16);
    }

    #[test]
    fn tx_ring_full_is_counted_not_fatal() {
        let (mut a, mut b, _) = vpair(PipeConfig {
            ring_size: 4,
            wire_capacity: 8,
            ..Default::default()
        });
        for _ in 0..4 {
            assert!(a.tx().send(|_| 60));
        }
        assert!(a.tx().reserve().is_none());
        assert!(!a.tx().send(|_| 60));
        assert_eq!(a.stats().tx_ring_full, 2);
        a.tx().flush().unwrap();
        assert_eq!(recv_all(&mut b).len(), 4);
        assert!(a.tx().send(|_| 60));
        a.tx().flush().unwrap();
        assert_eq!(recv_all(&mut b).len(), 1);
    }

    #[test]
    fn commit_without_reserve_or_with_bad_length_is_counted() {
        let (mut a, _b, _) = vpair(PipeConfig::default());
        a.tx().commit(60);
        a.tx().reserve();
        a.tx().commit(100_000);
        assert_eq!(a.tx().pending(), 0);
        assert_eq!(a.stats().tx_bad_len, 2);
    }

    #[test]
    fn same_seed_gives_the_same_impaired_delivery() {
        let run = |seed| {
            let mut cfg = PipeConfig {
                seed,
                ..Default::default()
            };
            cfg.impair[0] =
                Impairments::parse("loss=0.2,dup=0.1,corrupt=0.1,jitter=3ms,reorder=0.2").unwrap();
            let (mut a, mut b, clock) = vpair(cfg);
            let mut got = Vec::new();
            for i in 0..200u32 {
                a.tx().send(|buf| {
                    buf[..64].fill(0);
                    buf[..4].copy_from_slice(&i.to_be_bytes());
                    64
                });
                a.tx().flush().unwrap();
                clock.advance(Duration::from_micros(100));
                got.extend(recv_all(&mut b));
            }
            clock.advance(Duration::from_secs(1));
            got.extend(recv_all(&mut b));
            got
        };
        let (x, y, z) = (run(3), run(3), run(4));
        assert_eq!(x, y);
        assert_ne!(x, z);
        let in_order = x.windows(2).all(|w| w[0][..4] <= w[1][..4]);
        assert!(!in_order, "jitter and reordering should reorder something");
        assert!(x.len() > 120 && x.len() < 220, "{}", x.len());
    }

    #[test]
    fn rate_limit_paces_delivery() {
        let mut cfg = PipeConfig::default();
        cfg.impair[0] = Impairments::parse("rate=8mbit").unwrap();
        let (mut a, mut b, clock) = vpair(cfg);
        for _ in 0..10 {
            a.tx().send(|_| 1000);
        }
        a.tx().flush().unwrap();
        clock.advance(Duration::from_micros(5_500));
        assert_eq!(
            recv_all(&mut b).len(),
            5,
            "1 ms per 1000-byte frame at 8 Mbit/s"
        );
        clock.advance(Duration::from_millis(5));
        assert_eq!(recv_all(&mut b).len(), 5);
    }

    #[test]
    fn prepared_precopy_is_zero_copy_and_clones_when_in_flight() {
        let (mut a, mut b, _) = vpair(PipeConfig::default());
        let id = a.tx().prepare(&[7u8; 80]).unwrap();
        assert!(a.tx().send_prepared(id, PrepMode::PreCopy, |f| f[0] = 1));
        // Still queued (in flight): a second pre-copy send must not rewrite the queued image.
        assert!(a.tx().send_prepared(id, PrepMode::PreCopy, |f| f[0] = 2));
        assert!(a.tx().send_prepared(id, PrepMode::Memcpy, |f| f[0] = 3));
        a.tx().flush().unwrap();
        let got = recv_all(&mut b);
        assert_eq!(got.iter().map(|f| f[0]).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(got.iter().all(|f| f.len() == 80 && f[1..] == [7u8; 79]));
        let s = a.stats();
        assert_eq!(
            (s.prepared_precopy, s.prepared_clones, s.prepared_memcpy),
            (2, 1, 1)
        );
        assert_eq!(
            a.tx().prepared(id).unwrap()[0],
            1,
            "pre-copy rewrote the image itself"
        );
        assert!(!a
            .tx()
            .send_prepared(PreparedId(99), PrepMode::Memcpy, |_| {}));
        assert_eq!(a.stats().tx_bad_prepared, 1);
    }

    #[test]
    fn real_clock_wait_wakes_on_arrival() {
        let (mut a, mut b) = pair(PipeConfig::default()).unwrap();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            a.tx().send(|_| 60);
            a.tx().flush().unwrap();
            a
        });
        let start = std::time::Instant::now();
        let mut ready = false;
        while !ready && start.elapsed() < Duration::from_secs(5) {
            ready = b.wait(Duration::from_secs(5)).unwrap();
        }
        assert!(ready);
        assert!(start.elapsed() < Duration::from_secs(2));
        t.join().unwrap();
    }

    fn tso_pair(impair: &str, seed: u64) -> (PipePort, PipePort, VirtualClock) {
        let mut cfg = PipeConfig {
            tso_max: tso::MAX_FRAME,
            ring_size: 64,
            seed,
            ..Default::default()
        };
        cfg.impair[0] = Impairments::parse(impair).unwrap();
        vpair(cfg)
    }

    fn commit_super(p: &mut PipePort, frame: &[u8], mss: u16) -> bool {
        let slot = p.tx().reserve().unwrap();
        slot[..frame.len()].copy_from_slice(frame);
        p.tx().commit_tso(frame.len(), mss)
    }

    fn reference_segments(frame: &[u8], mss: u16, mtu: usize) -> Vec<Vec<u8>> {
        let mut scratch = vec![0u8; 14 + mtu];
        let mut segs = Vec::new();
        tso::segment(frame, mss, mtu, &mut scratch, |s| {
            segs.push(s.to_vec());
            true
        })
        .unwrap();
        segs
    }

    #[test]
    fn tso_super_frame_arrives_as_in_order_mss_segments() {
        let (mut a, mut b, _) = tso_pair("", 1);
        assert_eq!(a.tx().tso_max(), tso::MAX_FRAME);
        assert!(a.tx().slot_size() >= tso::MAX_FRAME);
        assert_eq!(
            a.caps().max_frame,
            1518,
            "ordinary frames keep the MTU's size"
        );
        let f = tso::tests::super_frame(30_000, 0x18, 1000, 7, &[]);
        assert!(commit_super(&mut a, &f, 1448));
        // An ordinary frame behind it leaves after all of its segments.
        assert!(a.tx().send(|buf| {
            buf[..60].fill(0xee);
            60
        }));
        assert_eq!(a.tx().flush().unwrap(), 2);
        let got = recv_all(&mut b);
        let want = reference_segments(&f, 1448, 1500);
        assert_eq!(want.len(), 21);
        assert_eq!(got.len(), 22);
        assert_eq!(got[..21], want[..]);
        assert_eq!(got[21], vec![0xee; 60]);
        let s = a.stats();
        assert_eq!((s.tx_tso, s.tx_frames), (1, 2));
        assert_eq!(s.tx_bytes, f.len() as u64 + 60);
        assert_eq!(b.stats().rx_frames, 22);
        assert_eq!(
            a.tx_impair_stats().frames,
            22,
            "each segment is a wire frame"
        );
    }

    #[test]
    fn tso_frames_the_pipe_cannot_cut_are_refused_and_counted() {
        let f = tso::tests::super_frame(5000, 0x10, 1, 1, &[]);
        let (mut plain, _b, _) = vpair(PipeConfig::default());
        assert_eq!(plain.tx().tso_max(), 0);
        plain.tx().reserve();
        assert!(!plain.tx().commit_tso(1000, 536), "no TSO configured");

        let (mut a, _b, _) = tso_pair("", 1);
        assert!(!commit_super(&mut a, &f, 1461), "segments above the MTU");
        assert!(!commit_super(&mut a, &f, 0));
        let mut bad = f.clone();
        bad[14 + 9] = 17;
        assert!(!commit_super(&mut a, &bad, 1000), "not TCP");
        assert!(!a.tx().commit_tso(f.len(), 1000), "no reservation");
        a.tx().reserve();
        assert!(!a.tx().commit_tso(tso::MAX_FRAME + 1, 1000));
        // Ordinary frames are still bounded by the MTU, not by the larger slot.
        a.tx().reserve();
        assert!(!a.tx().commit(1519));
        assert_eq!(a.tx().pending(), 0);
        assert_eq!(a.stats().tx_bad_len, 6);
        assert_eq!(a.stats().tx_tso, 0);
    }

    #[test]
    fn tso_impairments_apply_to_each_wire_segment() {
        let (mut a, mut b, clock) = tso_pair("loss=0.2,corrupt=0.05,dup=0.05", 5);
        let f = tso::tests::super_frame(60_000, 0x10, 1, 1, &[]);
        let segs_per_frame = 60_000usize.div_ceil(1000);
        let mut got = 0;
        for _ in 0..20 {
            assert!(commit_super(&mut a, &f, 1000));
            a.tx().flush().unwrap();
            got += recv_all(&mut b).len();
            clock.advance(Duration::from_millis(1));
        }
        let im = a.tx_impair_stats();
        assert_eq!(im.frames as usize, 20 * segs_per_frame);
        assert_eq!(a.stats().tx_impaired, im.lost);
        assert_eq!(got as u64, im.frames - im.lost + im.duplicated);
        assert!((180..300).contains(&im.lost), "{im:?}");
        assert!(im.corrupted > 0 && im.duplicated > 0, "{im:?}");
        assert_eq!(a.stats().tx_tso, 20);
    }

    #[test]
    fn bad_configuration_is_refused() {
        assert!(pair(PipeConfig {
            ring_size: 0,
            ..Default::default()
        })
        .is_err());
        let e = pair(PipeConfig {
            mtu: 10,
            ..Default::default()
        })
        .err()
        .unwrap();
        assert!(e.to_string().contains("MTU 10"));
        let e = pair(PipeConfig {
            tso_max: 70_000,
            ..Default::default()
        })
        .err()
        .unwrap();
        assert!(e.to_string().contains("tso_max 70000"));
    }
}
