//! `impair`: a wrapper that applies seeded impairments to any port, RX and TX independently.
//!
//! This machine's kernel has no `netem` qdisc, so this wrapper is how tests put loss,
//! delay, jitter, reordering, duplication and corruption on a real link between the stack
//! and the Linux stack. (The kernel side can add random drops of its own with a tc BPF
//! filter.) It uses the same [`Impairer`] model as the `pipe` wire, so one seed gives one
//! schedule.
//!
//! Frames that pass untouched and at once go straight through (RX: the inner port's
//! borrowed buffer is handed up; TX with no TX impairment configured: the inner slot is
//! lent out). Frames held back (delay, jitter, reordering, duplicates) are copied into a
//! bounded holding pen allocated at start-up; when the pen is full the frame is dropped and
//! counted (`queue_full`). With TX impairments configured, sends are built in a scratch
//! buffer and copied into the inner ring at commit, and prepared sends always take the
//! memcpy path.
//!
//! # TSO
//!
//! With TX impairments the wrapper is a NIC with TCP segmentation offload on a lossy wire,
//! whatever the inner port can do: it advertises [`TxQueue::tso_max`] =
//! [`tso::MAX_FRAME`] (its scratch buffer holds a whole super-frame), cuts each super-frame
//! given to [`TxQueue::commit_tso`] in software with [`tso::write_segment`], judges every
//! wire segment on its own (loss, delay, duplication, corruption) and hands the survivors
//! to the inner port as ordinary frames. So upper layers can use TSO under impairment on any
//! port. If the inner ring fills half way through a super-frame, the wrapper kicks the
//! inner port (`flush`) to make room, as a NIC drains its own ring. Counters: `tx_tso`
//! counts super-frames taken; `tx_frames` and `tx_bytes` are the inner port's, so under
//! TX impairment they count wire frames handed to it (segments that survived, copies
//! included), as they already do for lost and duplicated ordinary frames. Without TX
//! impairments (passthrough) `tso_max` and `commit_tso` are the inner port's own.

use super::impair_model::{flip_bit, ImpairStats, Impairer, Impairments, Verdict};
use crate::clock::{Clock, Instant};
use crate::prepared::{PrepMode, PreparedId};
use crate::tso::{self, TsoFrame};
use crate::{Capabilities, Error, Port, PortStats, RxMeta, RxQueue, TxQueue};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Settings of an [`ImpairedPort`].
#[derive(Clone, Debug)]
pub struct ImpairConfig {
    /// What happens to received frames.
    pub rx: Impairments,
    /// What happens to sent frames.
    pub tx: Impairments,
    /// Seed (RX and TX derive their own streams from it).
    pub seed: u64,
    /// Frames each direction can hold back.
    pub hold: usize,
}

impl Default for ImpairConfig {
    fn default() -> Self {
        ImpairConfig {
            rx: Impairments::none(),
            tx: Impairments::none(),
            seed: 1,
            hold: 1024,
        }
    }
}

/// A bounded set of held-back frames, released in arrival-time order.
struct Pen {
    bufs: Vec<Box<[u8]>>,
    lens: Vec<u32>,
    metas: Vec<RxMeta>,
    free: Vec<u32>,
    due: BinaryHeap<Reverse<(Instant, u64, u32)>>,
    seq: u64,
}

impl Pen {
    fn new(frames: usize, frame: usize) -> Self {
        Pen {
            bufs: (0..frames)
                .map(|_| vec![0u8; frame].into_boxed_slice())
                .collect(),
            lens: vec![0; frames],
            metas: vec![RxMeta::default(); frames],
            free: (0..frames as u32).rev().collect(),
            due: BinaryHeap::with_capacity(frames),
            seq: 0,
        }
    }

    fn hold(&mut self, at: Instant, frame: &[u8], meta: &RxMeta) -> bool {
        // Buffers hold the port's largest frame; anything larger is refused (counted by
        // the caller), never cut short.
        if frame.len() > self.bufs.first().map_or(0, |b| b.len()) {
            return false;
        }
        let Some(i) = self.free.pop() else {
            return false;
        };
        let n = frame.len();
        self.bufs[i as usize][..n].copy_from_slice(frame);
        self.lens[i as usize] = n as u32;
        self.metas[i as usize] = *meta;
        self.seq += 1;
        self.due.push(Reverse((at, self.seq, i)));
        true
    }

    fn next_due(&self) -> Option<Instant> {
        self.due.peek().map(|Reverse((at, _, _))| *at)
    }

    fn pop_due(&mut self, now: Instant) -> Option<u32> {
        if self.next_due()? > now {
            return None;
        }
        self.due.pop().map(|Reverse((_, _, i))| i)
    }

    fn frame(&mut self, i: u32) -> &mut [u8] {
        &mut self.bufs[i as usize][..self.lens[i as usize] as usize]
    }

    fn release(&mut self, i: u32) {
        self.free.push(i);
    }
}

/// Apply a verdict's corruption, then either hand the frame on at once (`now`) or hold the
/// copies that are due later. Returns whether the frame should go on at once.
fn route(
    v: &Verdict,
    now: Instant,
    frame: &mut [u8],
    meta: &mut RxMeta,
    pen: &mut Pen,
    st: &mut ImpairStats,
) -> bool {
    if let Some(bit) = v.corrupt_bit {
        // A frame whose checksum the sender left to the device (a peer on this host) is
        // finished first, as a NIC would have before the wire, so the receiver checks it.
        if meta.flags.contains(crate::RxFlags::CSUM_PARTIAL) && crate::csum::finish_l4(frame) {
            meta.flags.remove(crate::RxFlags::CSUM_PARTIAL);
        }
        flip_bit(frame, bit);
        // Whatever the NIC verified is no longer true of these bytes.
        meta.flags.remove(crate::RxFlags::CSUM_VALID);
    }
    let mut now_copy = false;
    for c in 0..v.copies as usize {
        if v.at[c] <= now && !now_copy {
            now_copy = true;
        } else if !pen.hold(v.at[c], frame, meta) {
            st.queue_full += 1;
        }
    }
    now_copy
}

/// Send a judged TX frame to the inner port now, hold its delayed copies, or count it lost
/// to a full ring or pen.
fn deliver<T: TxQueue>(
    inner: &mut T,
    pen: &mut Pen,
    st: &mut ImpairStats,
    v: &Verdict,
    now: Instant,
    frame: &mut [u8],
) {
    let mut meta = RxMeta::default();
    if route(v, now, frame, &mut meta, pen, st) {
        let len = frame.len();
        if !inner.send(|slot| {
            slot[..len].copy_from_slice(frame);
            len
        }) && !pen.hold(now, frame, &meta)
        {
            st.queue_full += 1;
        }
    }
}

/// Receive half of an [`ImpairedPort`].
pub struct ImpairRx<R, C> {
    inner: R,
    clock: C,
    model: Impairer,
    pen: Pen,
    tx_next_due: Arc<AtomicU64>,
    stats: PortStats,
}

impl<R: RxQueue, C: Clock> RxQueue for ImpairRx<R, C> {
    fn recv_burst<F: FnMut(&mut [u8], &RxMeta)>(&mut self, max: usize, mut f: F) -> usize {
        let now = self.clock.now();
        let mut n = 0;
        while n < max {
            let Some(i) = self.pen.pop_due(now) else {
                break;
            };
            let meta = self.pen.metas[i as usize];
            f(self.pen.frame(i), &meta);
            self.pen.release(i);
            n += 1;
        }
        if n < max {
            let (model, pen, stats) = (&mut self.model, &mut self.pen, &mut self.stats);
            self.inner.recv_burst(max - n, |frame, meta| {
                let v = model.judge(now, frame.len());
                if v.copies == 0 {
                    stats.rx_impaired += 1;
                    return;
                }
                if v.is_clean(now) {
                    f(frame, meta);
                    n += 1;
                    return;
                }
                let mut meta = *meta;
                if route(&v, now, frame, &mut meta, pen, &mut model.stats) {
                    f(frame, &meta);
                    n += 1;
                }
            });
        }
        n
    }

    fn wait(&mut self, timeout: Duration) -> Result<bool, Error> {
        let now = self.clock.now();
        let mut t = timeout;
        for due in [
            self.pen.next_due(),
            Some(Instant(self.tx_next_due.load(Ordering::Relaxed))),
        ]
        .into_iter()
        .flatten()
        .filter(|d| *d != Instant(u64::MAX))
        {
            if due <= now {
                return Ok(true);
            }
            t = t.min(due - now);
        }
        let ready = self.inner.wait(t)?;
        Ok(ready || self.pen.next_due().is_some_and(|d| d <= self.clock.now()))
    }

    fn stats(&self) -> PortStats {
        let mut s = self.inner.stats();
        s += self.stats;
        s.rx_impaired += self.model.stats.queue_full;
        s
    }
}

/// Transmit half of an [`ImpairedPort`].
pub struct ImpairTx<T, C> {
    inner: T,
    clock: C,
    model: Impairer,
    pen: Pen,
    /// Where sends are built: a whole super-frame's room (empty in passthrough).
    scratch: Box<[u8]>,
    /// One wire segment of a super-frame, built here when it must be corrupted or held.
    seg: Box<[u8]>,
    /// Largest ordinary frame (and wire segment) the wrapper takes.
    frame: usize,
    /// IP MTU of the inner port, for cutting super-frames.
    mtu: usize,
    reserved: bool,
    passthrough: bool,
    next_due: Arc<AtomicU64>,
    stats: PortStats,
}

impl<T: TxQueue, C: Clock> ImpairTx<T, C> {
    /// Judge a frame built in the scratch buffer and send, hold or drop it.
    fn judge_scratch(&mut self, len: usize) {
        let now = self.clock.now();
        let v = self.model.judge(now, len);
        if v.copies == 0 {
            self.stats.tx_impaired += 1;
            return;
        }
        let frame = &mut self.scratch[..len];
        deliver(
            &mut self.inner,
            &mut self.pen,
            &mut self.model.stats,
            &v,
            now,
            frame,
        );
        self.publish_due();
    }

    /// Cut the checked super-frame in the scratch buffer and judge each wire segment.
    fn judge_tso(&mut self, len: usize, at: &TsoFrame, mss: u16) {
        let now = self.clock.now();
        let frame = &self.scratch[..len];
        for k in 0..at.segments {
            let v = self.model.judge(now, tso::segment_len(at, mss, k));
            if v.copies == 0 {
                self.stats.tx_impaired += 1;
                continue;
            }
            if self.inner.tx_space() == 0 {
                // Errors are the inner port's to count (`tx_errors`); the segment then
                // meets a full ring below and is counted as `queue_full`.
                let _ = self.inner.flush();
            }
            // The common case: cut straight into the inner slot.
            if v.is_clean(now)
                && self.inner.tx_space() > 0
                && self
                    .inner
                    .send(|slot| tso::write_segment(frame, at, mss, k, slot).unwrap_or(0))
            {
                continue;
            }
            // Checked at commit and `seg` holds an MTU-sized frame, so this cannot fail.
            let Some(n) = tso::write_segment(frame, at, mss, k, &mut self.seg) else {
                self.stats.tx_errors += 1;
                continue;
            };
            deliver(
                &mut self.inner,
                &mut self.pen,
                &mut self.model.stats,
                &v,
                now,
                &mut self.seg[..n],
            );
        }
        self.publish_due();
    }

    fn publish_due(&self) {
        let d = self.pen.next_due().map_or(u64::MAX, |d| d.0);
        self.next_due.store(d, Ordering::Relaxed);
    }

    /// Move held frames whose time has come into the inner ring (as long as it has room).
    fn release_due(&mut self) {
        let now = self.clock.now();
        while self.inner.tx_space() > 0 {
            let Some(i) = self.pen.pop_due(now) else {
                break;
            };
            let frame = self.pen.frame(i);
            let len = frame.len();
            self.inner.send(|slot| {
                slot[..len].copy_from_slice(frame);
                len
            });
            self.pen.release(i);
        }
        self.publish_due();
    }
}

impl<T: TxQueue, C: Clock> TxQueue for ImpairTx<T, C> {
    fn tx_space(&mut self) -> usize {
        self.inner.tx_space()
    }

    fn slot_size(&self) -> usize {
        if self.passthrough {
            self.inner.slot_size()
        } else {
            self.scratch.len()
        }
    }

    fn reserve(&mut self) -> Option<&mut [u8]> {
        if self.passthrough {
            return self.inner.reserve();
        }
        if self.inner.tx_space() == 0 {
            self.stats.tx_ring_full += 1;
            return None;
        }
        self.reserved = true;
        Some(&mut self.scratch)
    }

    fn commit(&mut self, len: usize) -> bool {
        if self.passthrough {
            return self.inner.commit(len);
        }
        if !self.reserved || len == 0 || len > self.frame {
            self.stats.tx_bad_len += 1;
            self.reserved = false;
            return false;
        }
        self.reserved = false;
        // Lost on purpose still counts as sent: the wire lost it, not the port.
        self.judge_scratch(len);
        true
    }

    fn disable_csum_offload(&mut self) {
        self.inner.disable_csum_offload();
    }

    fn tso_max(&self) -> usize {
        if self.passthrough {
            self.inner.tso_max()
        } else {
            tso::MAX_FRAME
        }
    }

    fn commit_tso(&mut self, len: usize, mss: u16) -> bool {
        if self.passthrough {
            return self.inner.commit_tso(len, mss);
        }
        let at = if std::mem::take(&mut self.reserved) && len <= self.scratch.len() {
            tso::check(&self.scratch[..len], mss, self.mtu).ok()
        } else {
            None
        };
        let Some(at) = at.filter(|at| tso::segment_len(at, mss, 0) <= self.frame) else {
            self.stats.tx_bad_len += 1;
            return false;
        };
        self.stats.tx_tso += 1;
        self.judge_tso(len, &at, mss);
        true
    }

    fn pending(&self) -> usize {
        let due = self.pen.next_due().is_some_and(|d| d <= self.clock.now());
        self.inner.pending() + usize::from(due)
    }

    fn flush(&mut self) -> Result<usize, Error> {
        if !self.passthrough {
            self.release_due();
        }
        self.inner.flush()
    }

    fn prepare(&mut self, image: &[u8]) -> Result<PreparedId, Error> {
        self.inner.prepare(image)
    }

    fn prepared(&self, id: PreparedId) -> Option<&[u8]> {
        self.inner.prepared(id)
    }

    fn prepared_mut(&mut self, id: PreparedId) -> Option<&mut [u8]> {
        self.inner.prepared_mut(id)
    }

    fn send_prepared<R: FnOnce(&mut [u8])>(
        &mut self,
        id: PreparedId,
        mode: PrepMode,
        rewrite: R,
    ) -> bool {
        if self.passthrough {
            return self.inner.send_prepared(id, mode, rewrite);
        }
        if self.inner.tx_space() == 0 {
            self.stats.tx_ring_full += 1;
            return false;
        }
        let Some(img) = self.inner.prepared(id) else {
            self.stats.tx_bad_prepared += 1;
            return false;
        };
        let len = img.len().min(self.frame);
        self.scratch[..len].copy_from_slice(&img[..len]);
        rewrite(&mut self.scratch[..len]);
        self.stats.prepared_memcpy += 1;
        self.judge_scratch(len);
        true
    }

    fn stats(&self) -> PortStats {
        let mut s = self.inner.stats();
        s += self.stats;
        s.tx_impaired += self.model.stats.queue_full;
        s
    }
}

/// Any port with impairments on its RX and TX.
pub struct ImpairedPort<P: Port, C> {
    rx: ImpairRx<P::Rx, C>,
    tx: ImpairTx<P::Tx, C>,
    caps: Capabilities,
}

impl<P: Port, C: Clock + Clone> ImpairedPort<P, C> {
    /// Wrap `inner`; `clock` decides when held frames are due.
    pub fn new(inner: P, clock: C, cfg: ImpairConfig) -> Result<Self, Error> {
        if cfg.hold == 0 {
            return Err(Error::InvalidConfig {
                what: "impair hold must be at least 1 frame".into(),
            });
        }
        let (rx, mut tx, mut caps) = inner.into_parts();
        if cfg.tx.corrupt > 0.0 {
            // A corrupted frame must reach the peer with checksums that no longer verify,
            // as on a wire (which corrupts frames the NIC has finished): none left to the
            // device, which would sum the corrupted bytes afresh.
            tx.disable_csum_offload();
            caps.tx_csum_offload = false;
        }
        // A TSO port's slots are sized for super-frames; the frames on its wire (and in the
        // pens) stay within the MTU plus an Ethernet header and a VLAN tag.
        let frame = if tx.tso_max() > 0 {
            caps.mtu + 18
        } else {
            caps.max_frame.max(tx.slot_size())
        };
        // What the inner slots hold, so copies into them always fit.
        let tx_frame = frame.min(tx.slot_size());
        let next_due = Arc::new(AtomicU64::new(u64::MAX));
        let passthrough = cfg.tx.is_none();
        let buf = |len: usize| vec![0u8; if passthrough { 0 } else { len }].into_boxed_slice();
        // Held frames are copies: the zero-copy pre-copy path is gone under TX impairments.
        caps.zero_copy_prepared &= passthrough;
        Ok(ImpairedPort {
            rx: ImpairRx {
                inner: rx,
                clock: clock.clone(),
                model: Impairer::new(cfg.rx.clone(), cfg.seed),
                pen: Pen::new(if cfg.rx.delays() { cfg.hold } else { 0 }, frame),
                tx_next_due: next_due.clone(),
                stats: PortStats::default(),
            },
            tx: ImpairTx {
                inner: tx,
                clock,
                model: Impairer::new(cfg.tx.clone(), cfg.seed ^ 0x7a7a_7a7a_7a7a_7a7a),
                pen: Pen::new(if cfg.tx.delays() { cfg.hold } else { 0 }, frame),
                scratch: buf(frame.max(tso::MAX_FRAME)),
                seg: buf(frame),
                frame: tx_frame,
                mtu: caps.mtu,
                reserved: false,
                passthrough,
                next_due,
                stats: PortStats::default(),
            },
            caps,
        })
    }

    /// What the model did to received frames.
    pub fn rx_impair_stats(&self) -> ImpairStats {
        self.rx.model.stats
    }

    /// What the model did to sent frames.
    pub fn tx_impair_stats(&self) -> ImpairStats {
        self.tx.model.stats
    }
}

crate::port::port_from_fields!(impl[P: Port, C: Clock] ImpairedPort<P, C> => ImpairRx<P::Rx, C>, ImpairTx<P::Tx, C>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::pipe::{pair, PipeConfig};
    use crate::VirtualClock;

    type Setup = (
        ImpairedPort<crate::backend::pipe::PipePort, VirtualClock>,
        crate::backend::pipe::PipePort,
        VirtualClock,
    );

    fn setup(cfg: ImpairConfig) -> Setup {
        setup_on(cfg, PipeConfig::default())
    }

    /// An impaired port on one end of a pipe built from `pipe` (on a virtual clock).
    fn setup_on(cfg: ImpairConfig, pipe: PipeConfig) -> Setup {
        let clock = VirtualClock::new(Instant::ZERO);
        let (a, b) = pair(PipeConfig {
            clock: Some(clock.clone()),
            ..pipe
        })
        .unwrap();
        (ImpairedPort::new(a, clock.clone(), cfg).unwrap(), b, clock)
    }

    fn send_n<P: Port>(p: &mut P, n: u32) {
        for i in 0..n {
            assert!(p.tx().send(|b| {
                b[..64].fill(0);
                b[..4].copy_from_slice(&i.to_be_bytes());
                64
            }));
            if p.tx().tx_space() == 0 {
                p.tx().flush().unwrap();
            }
        }
        p.tx().flush().unwrap();
    }

    fn recv_ids<P: Port>(p: &mut P) -> Vec<u32> {
        let mut v = Vec::new();
        while p.rx().recv_burst(32, |f, _| {
            v.push(u32::from_be_bytes([f[0], f[1], f[2], f[3]]))
        }) > 0
        {}
        v
    }

    #[test]
    fn no_impairment_is_transparent() {
        let (mut a, mut b, _) = setup(ImpairConfig::default());
        send_n(&mut a, 50);
        assert_eq!(recv_ids(&mut b), (0..50).collect::<Vec<_>>());
        send_n(&mut b, 50);
        assert_eq!(recv_ids(&mut a), (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn tx_loss_drops_a_seeded_fraction_and_counts_it() {
        let (mut a, mut b, _) = setup(ImpairConfig {
            tx: Impairments::parse("loss=0.25").unwrap(),
            ..Default::default()
        });
        let mut got = 0;
        for _ in 0..20 {
            send_n(&mut a, 100);
            got += recv_ids(&mut b).len() as u64;
        }
        let lost = a.stats().tx_impaired;
        assert_eq!(got + lost, 2000);
        assert!((400..600).contains(&lost), "{lost}");
    }

    #[test]
    fn rx_delay_holds_frames_until_due_and_wait_reports_them() {
        let (mut a, mut b, clock) = setup(ImpairConfig {
            rx: Impairments::parse("delay=5ms").unwrap(),
            ..Default::default()
        });
        send_n(&mut b, 3);
        assert_eq!(recv_ids(&mut a), Vec::<u32>::new());
        assert!(!a.wait(Duration::ZERO).unwrap());
        clock.advance(Duration::from_millis(5));
        assert!(a.wait(Duration::ZERO).unwrap());
        assert_eq!(recv_ids(&mut a), vec![0, 1, 2]);
    }

    #[test]
    fn tx_delay_and_duplication_release_on_flush_when_due() {
        let (mut a, mut b, clock) = setup(ImpairConfig {
            tx: Impairments::parse("delay=2ms,dup=1").unwrap(),
            ..Default::default()
        });
        send_n(&mut a, 2);
        assert!(recv_ids(&mut b).is_empty());
        assert_eq!(a.tx().pending(), 0);
        clock.advance(Duration::from_millis(2));
        assert_eq!(a.tx().pending(), 1, "due frames make the loop kick");
        a.tx().flush().unwrap();
        assert_eq!(recv_ids(&mut b), vec![0, 0, 1, 1]);
    }

    #[test]
    fn rx_corruption_flips_bits_and_same_seed_repeats() {
        let run = || {
            let (mut a, mut b, _) = setup(ImpairConfig {
                rx: Impairments::parse("corrupt=0.5").unwrap(),
                seed: 9,
                ..Default::default()
            });
            send_n(&mut b, 100);
            let mut frames = Vec::new();
            while a.rx().recv_burst(32, |f, _| frames.push(f.to_vec())) > 0 {}
            frames
        };
        let (x, y) = (run(), run());
        assert_eq!(x, y);
        let changed = x.iter().enumerate().filter(|(i, f)| {
            let mut want = vec![0u8; 64];
            want[..4].copy_from_slice(&(*i as u32).to_be_bytes());
            **f != want
        });
        assert!((30..70).contains(&changed.count()));
    }

    #[test]
    fn a_corrupted_partial_frame_is_finished_first_so_its_checksum_fails() {
        use crate::csum::tests::{frame, verifies};
        // TCP over IPv4 from a peer on this host that left the checksum to the device.
        let full = frame(6, 20, 100, 0);
        let mut f = full.clone();
        crate::csum::offload_l4(&mut f).unwrap();
        let mut meta = RxMeta {
            flags: crate::RxFlags::CSUM_PARTIAL,
            ..RxMeta::default()
        };
        let bit = 8 * 80 + 3;
        let v = Verdict {
            copies: 1,
            at: [Instant::ZERO; 2],
            corrupt_bit: Some(bit),
        };
        let (mut pen, mut st) = (Pen::new(0, 256), ImpairStats::default());
        assert!(route(
            &v,
            Instant::ZERO,
            &mut f,
            &mut meta,
            &mut pen,
            &mut st
        ));
        assert!(!meta.flags.contains(crate::RxFlags::CSUM_PARTIAL));
        let mut want = full.clone();
        flip_bit(&mut want, bit);
        assert_eq!(
            f, want,
            "finished as the device would have, then one bit flipped"
        );
        assert!(verifies(&full, 6, 120) && !verifies(&f, 6, 120));
        // A partial frame the wire leaves alone stays partial, untouched.
        let mut g = full.clone();
        crate::csum::offload_l4(&mut g).unwrap();
        let before = g.clone();
        let mut meta = RxMeta {
            flags: crate::RxFlags::CSUM_PARTIAL,
            ..RxMeta::default()
        };
        let clean = Verdict {
            corrupt_bit: None,
            ..v
        };
        assert!(route(
            &clean,
            Instant::ZERO,
            &mut g,
            &mut meta,
            &mut pen,
            &mut st
        ));
        assert_eq!(g, before);
        assert!(meta.flags.contains(crate::RxFlags::CSUM_PARTIAL));
    }

    #[test]
    fn impaired_prepared_send_goes_through_memcpy() {
        let (mut a, mut b, _) = setup(ImpairConfig {
            tx: Impairments::parse("dup=1").unwrap(),
            ..Default::default()
        });
        let id = a.tx().prepare(&[5u8; 70]).unwrap();
        assert!(a.tx().send_prepared(id, PrepMode::PreCopy, |f| f[0] = 1));
        a.tx().flush().unwrap();
        let mut got = Vec::new();
        while b.rx().recv_burst(8, |f, _| got.push(f.to_vec())) > 0 {}
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|f| f[0] == 1 && f[1..] == [5u8; 69]));
        assert_eq!(a.tx().prepared(id).unwrap()[0], 5, "image left alone");
        assert!(!a.caps().zero_copy_prepared);
    }

    fn tso_setup(tx: &str, ring_size: usize, inner_tso: usize) -> Setup {
        let cfg = ImpairConfig {
            tx: Impairments::parse(tx).unwrap(),
            seed: 3,
            ..Default::default()
        };
        let pipe = PipeConfig {
            ring_size,
            tso_max: inner_tso,
            ..Default::default()
        };
        setup_on(cfg, pipe)
    }

    fn commit_super<P: Port>(p: &mut P, frame: &[u8], mss: u16) -> bool {
        let slot = p.tx().reserve().unwrap();
        slot[..frame.len()].copy_from_slice(frame);
        p.tx().commit_tso(frame.len(), mss)
    }

    fn recv_frames<P: Port>(p: &mut P) -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        while p.rx().recv_burst(32, |f, _| v.push(f.to_vec())) > 0 {}
        v
    }

    fn reference_segments(frame: &[u8], mss: u16) -> Vec<Vec<u8>> {
        let mut scratch = vec![0u8; 1514];
        let mut segs = Vec::new();
        tso::segment(frame, mss, 1500, &mut scratch, |s| {
            segs.push(s.to_vec());
            true
        })
        .unwrap();
        segs
    }

    // `gap=1ms` alone impairs nothing (no frame is reordered) but turns passthrough off.
    const NO_LOSS: &str = "gap=1ms";

    #[test]
    fn tso_without_loss_arrives_in_order_byte_exact_on_a_port_without_tso() {
        let (mut a, mut b, _) = tso_setup(NO_LOSS, 256, 0);
        assert_eq!(a.tx().tso_max(), tso::MAX_FRAME);
        assert!(a.tx().slot_size() >= tso::MAX_FRAME);
        let f = tso::tests::super_frame(60_000, 0x18, 77, 1, &[]);
        assert!(commit_super(&mut a, &f, 1448));
        a.tx().flush().unwrap();
        let want = reference_segments(&f, 1448);
        assert_eq!(want.len(), 42);
        assert_eq!(recv_frames(&mut b), want);
        let s = a.stats();
        assert_eq!((s.tx_tso, s.tx_frames, s.tx_impaired), (1, 42, 0));
    }

    #[test]
    fn tso_kicks_the_inner_port_when_its_ring_fills_mid_frame() {
        let (mut a, mut b, _) = tso_setup(NO_LOSS, 32, 0);
        let f = tso::tests::super_frame(60_000, 0x10, 1, 1, &[]);
        assert!(commit_super(&mut a, &f, 1448));
        let mut got = recv_frames(&mut b);
        assert_eq!(got.len(), 32, "the first ring-full went out at once");
        a.tx().flush().unwrap();
        got.extend(recv_frames(&mut b));
        assert_eq!(got, reference_segments(&f, 1448));
    }

    #[test]
    fn tso_loss_is_judged_and_counted_per_wire_segment() {
        let (mut a, mut b, _) = tso_setup("loss=0.3", 256, 0);
        let f = tso::tests::super_frame(60_000, 0x10, 1, 1, &[]);
        let want = reference_segments(&f, 1448);
        let mut got = Vec::new();
        for _ in 0..10 {
            assert!(commit_super(&mut a, &f, 1448));
            a.tx().flush().unwrap();
            got.extend(recv_frames(&mut b));
        }
        let lost = a.stats().tx_impaired;
        assert_eq!(a.tx_impair_stats().frames, 420);
        assert_eq!(a.tx_impair_stats().lost, lost);
        assert_eq!(got.len() as u64 + lost, 420);
        assert!((90..170).contains(&lost), "{lost}");
        assert!(
            got.iter().all(|s| want.contains(s)),
            "survivors are whole segments"
        );
        assert_eq!(a.stats().tx_tso, 10);
    }

    #[test]
    fn tso_segments_delayed_are_held_and_released_in_order() {
        let (mut a, mut b, clock) = tso_setup("delay=2ms", 256, 0);
        let f = tso::tests::super_frame(20_000, 0x18, 5, 5, &[]);
        assert!(commit_super(&mut a, &f, 1000));
        a.tx().flush().unwrap();
        assert!(recv_frames(&mut b).is_empty());
        clock.advance(Duration::from_millis(2));
        a.tx().flush().unwrap();
        assert_eq!(recv_frames(&mut b), reference_segments(&f, 1000));
    }

    #[test]
    fn tso_frames_the_wrapper_cannot_cut_are_refused_and_counted() {
        let (mut a, _b, _) = tso_setup(NO_LOSS, 256, 0);
        let f = tso::tests::super_frame(5000, 0x10, 1, 1, &[]);
        assert!(!commit_super(&mut a, &f, 1461), "segments above the MTU");
        let mut bad = f.clone();
        bad[14] = 0x65;
        assert!(!commit_super(&mut a, &bad, 1000), "not IPv4");
        assert!(!a.tx().commit_tso(f.len(), 1000), "no reservation");
        a.tx().reserve();
        assert!(!a.tx().commit(1519), "ordinary frames stay within the MTU");
        assert_eq!(a.stats().tx_bad_len, 4);
        assert_eq!((a.stats().tx_tso, a.stats().tx_frames), (0, 0));
    }

    #[test]
    fn passthrough_forwards_tso_to_the_inner_port() {
        let (mut a, mut b, _) = tso_setup("", 64, tso::MAX_FRAME);
        assert_eq!(a.tx().tso_max(), tso::MAX_FRAME);
        let f = tso::tests::super_frame(10_000, 0x10, 1, 1, &[]);
        assert!(commit_super(&mut a, &f, 1448));
        a.tx().flush().unwrap();
        assert_eq!(recv_frames(&mut b), reference_segments(&f, 1448));
        assert_eq!((a.stats().tx_tso, a.stats().tx_frames), (1, 1));

        let (mut plain, _b, _) = tso_setup("", 64, 0);
        assert_eq!(plain.tx().tso_max(), 0);
        plain.tx().reserve();
        assert!(!plain.tx().commit_tso(f.len(), 1448));
    }

    #[test]
    fn impairing_a_tso_port_keeps_its_pens_mtu_sized() {
        let (mut a, mut b, clock) = tso_setup("delay=1ms", 64, tso::MAX_FRAME);
        assert_eq!(a.tx.frame, 1518);
        assert_eq!(a.tx.seg.len(), 1518);
        assert_eq!(a.tx().tso_max(), tso::MAX_FRAME);
        let f = tso::tests::super_frame(3000, 0x10, 1, 1, &[]);
        assert!(commit_super(&mut a, &f, 1448));
        assert!(a.tx().send(|buf| {
            buf[..60].fill(1);
            60
        }));
        clock.advance(Duration::from_millis(1));
        a.tx().flush().unwrap();
        let got = recv_frames(&mut b);
        assert_eq!(got.len(), 4);
        assert_eq!(got[..3], reference_segments(&f, 1448)[..]);
    }
}
