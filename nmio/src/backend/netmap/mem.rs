//! An in-memory netmap: two ports wired back to back, for tests.
//!
//! Each port gets one allocation laid out like the region netmap maps from `/dev/netmap`
//! (a `netmap_if` with `ring_ofs[]`, one TX and one RX ring, buffers, extra buffers linked
//! from `ni_bufs_head`), and the port finds its rings in it with the same code as on a real
//! netmap. What the kernel and the NIC do is modelled here, under one lock:
//!
//! - a TX sync takes the slots from the kernel's `hwcur` up to `head`, notes each slot's
//!   buffer and a checksum of its bytes, and clears `NS_BUF_CHANGED`; the NIC then
//!   transmits them in order (at once, or when the test says so after
//!   [`MemWire::hold_tx`]), copying each frame into the next free slot of the peer's RX ring
//!   (or dropping it, counted, when that ring is full); `tail` reports what was sent;
//! - an RX sync takes back the slots before `head` and reports arrivals in `tail`;
//! - `wait` blocks until the NIC delivers something or the timeout passes, then syncs.
//!
//! The model checks what netmap(4) asks of user space and counts every breach in
//! [`MemKernelStats`]: `head`/`cur` outside the allowed range (the sync also fails, as
//! netmap's does), a slot whose buffer changed without `NS_BUF_CHANGED`, a slot pointing
//! outside the buffers, and a frame whose bytes changed between its sync and its
//! transmission (a buffer rewritten in flight).

use super::abi::{self, netmap_if, netmap_ring, netmap_slot, NS_BUF_CHANGED};
use super::kernel::Kernel;
use super::ring::{locate, Located, Ring, RingState};
use super::NetmapPort;
use crate::Error;
use std::alloc::{self, Layout};
use std::io;
use std::ptr::{self, NonNull};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Settings of an in-memory pair (both ports alike).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemConfig {
    /// Slots of each TX ring (a ring of N slots holds N - 1 frames).
    pub tx_slots: u32,
    /// Slots of each RX ring.
    pub rx_slots: u32,
    /// Bytes per buffer (netmap's default is 2048).
    pub buf_size: u32,
    /// IP MTU of the simulated link.
    pub mtu: usize,
    /// Extra buffers per port: the prepared-packet capacity.
    pub extra_bufs: u32,
    /// MAC address of each port.
    pub macs: [[u8; 6]; 2],
}

impl Default for MemConfig {
    fn default() -> Self {
        MemConfig {
            tx_slots: 256,
            rx_slots: 256,
            buf_size: 2048,
            mtu: 1500,
            extra_bufs: 64,
            macs: [[0x02, 0, 0, 0x4e, 0, 0x0a], [0x02, 0, 0, 0x4e, 0, 0x0b]],
        }
    }
}

/// What the model's kernel saw on one port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemKernelStats {
    /// Frames the NIC sent.
    pub transmitted: u64,
    /// Frames for this port dropped because its RX ring was full.
    pub rx_dropped: u64,
    /// Syncs refused for `head` or `cur` outside netmap's allowed range.
    pub bad_pointers: u64,
    /// Slots handed over with a buffer index that changed without `NS_BUF_CHANGED`.
    pub unflagged_buf_changes: u64,
    /// Slots handed over with a buffer outside the region or a bad length.
    pub bad_slots: u64,
    /// Frames whose bytes changed between their sync and their transmission.
    pub rewritten_in_flight: u64,
}

impl MemKernelStats {
    /// Breaches of netmap's rules (all but `transmitted` and `rx_dropped`).
    pub fn violations(&self) -> u64 {
        self.bad_pointers + self.unflagged_buf_changes + self.bad_slots + self.rewritten_in_flight
    }
}

/// One allocation, zeroed, freed on drop.
#[derive(Debug)]
struct Region {
    base: NonNull<u8>,
    layout: Layout,
}

impl Region {
    fn new(len: usize) -> Result<Region, Error> {
        let layout = Layout::from_size_align(len, 4096).map_err(|_| Error::InvalidConfig {
            what: format!("in-memory netmap region of {len} bytes"),
        })?;
        // SAFETY: `layout` has a non-zero size (a netmap_if and two rings at least).
        let p = unsafe { alloc::alloc_zeroed(layout) };
        let base = NonNull::new(p).ok_or_else(|| Error::InvalidConfig {
            what: format!("cannot allocate an in-memory netmap region of {len} bytes"),
        })?;
        Ok(Region { base, layout })
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; every view into it belongs to the
        // `Shared` that owns this region, or to a port half holding an `Arc` of it.
        unsafe { alloc::dealloc(self.base.as_ptr(), self.layout) }
    }
}

/// The kernel's private state for one port (netmap's kring fields).
#[derive(Debug)]
struct Nic {
    /// TX: first slot not yet handed over by a sync.
    tx_hwcur: u32,
    /// TX: first slot the NIC has not transmitted.
    tx_done: u32,
    /// TX: `tail` as last published.
    tx_tail: u32,
    tx_hold: bool,
    /// TX: per slot, the buffer last handed over and its checksum (`None`: not sendable).
    tx_known: Vec<u32>,
    tx_sums: Vec<Option<u64>>,
    /// RX: first slot user space has not given back.
    rx_hwcur: u32,
    /// RX: next slot the NIC fills.
    rx_hwtail: u32,
    rx_tail: u32,
    rx_known: Vec<u32>,
    tx_closed: bool,
    stats: MemKernelStats,
}

/// Both regions, the rings in them and the kernel model. Shared by the two ports (each
/// half holds an `Arc`) and the test's [`MemWire`].
#[derive(Debug)]
struct Shared {
    located: [Located; 2],
    names: [String; 2],
    nbufs: [u32; 2],
    state: Mutex<[Nic; 2]>,
    arrived: Condvar,
    // Last, so the views above never outlive the memory; only ever dropped.
    _regions: [Region; 2],
}

// SAFETY: the regions are plain memory owned here. The kernel model touches ring memory
// only with `state` locked, and only what netmap's kernel side may touch (kernel-owned
// slots and buffers, `tail` inside a sync of the thread that owns the ring); user space
// touches its part through the port halves, each the only user of its ring.
unsafe impl Send for Shared {}
// SAFETY: as above; every `&self` method takes the lock before touching ring memory.
unsafe impl Sync for Shared {}

/// One port's view of the in-memory netmap: its memory and its kernel side.
#[derive(Debug)]
pub struct MemNetmap {
    shared: Arc<Shared>,
    side: usize,
}

/// The test's handle on an in-memory pair: the NIC's transmit pace and what the kernel
/// model saw. Side 0 is the first port [`pair`] returns, side 1 the second.
#[derive(Clone, Debug)]
pub struct MemWire {
    shared: Arc<Shared>,
}

/// Offsets of one port's region.
struct Plan {
    tx_off: usize,
    rx_off: usize,
    bufs_off: usize,
    nbufs: u32,
    len: usize,
}

fn align(x: usize, to: usize) -> usize {
    x.div_ceil(to) * to
}

fn ring_bytes(slots: u32) -> usize {
    abi::RING_SLOTS_OFS + slots as usize * std::mem::size_of::<netmap_slot>()
}

fn plan(cfg: &MemConfig) -> Plan {
    // netmap_if with four ring_ofs[] entries: NIC TX, host TX, NIC RX, host RX.
    let if_len = abi::IF_RING_OFS + 4 * std::mem::size_of::<isize>();
    let tx_off = align(if_len, 128);
    let rx_off = align(tx_off + ring_bytes(cfg.tx_slots), 128);
    let bufs_off = align(rx_off + ring_bytes(cfg.rx_slots), 4096);
    let nbufs = abi::FIRST_BUF + cfg.tx_slots + cfg.rx_slots + cfg.extra_bufs;
    Plan {
        tx_off,
        rx_off,
        bufs_off,
        nbufs,
        len: bufs_off + nbufs as usize * cfg.buf_size as usize,
    }
}

/// Write a fresh netmap region for `cfg` into `r`, as NIOCREGIF leaves it.
///
/// # Safety
///
/// `r` must be a zeroed region of `p.len` bytes laid out by `p`, used by nobody else yet.
unsafe fn build(r: &Region, p: &Plan, cfg: &MemConfig, name: &str) {
    let base = r.base.as_ptr();
    let extra0 = abi::FIRST_BUF + cfg.tx_slots + cfg.rx_slots;
    let mut ni_name = [0 as libc::c_char; libc::IFNAMSIZ];
    for (d, s) in ni_name
        .iter_mut()
        .zip(name.bytes().take(libc::IFNAMSIZ - 1))
    {
        *d = s as libc::c_char;
    }
    let nifp = netmap_if {
        ni_name,
        ni_version: abi::REQUEST_API,
        ni_flags: 0,
        ni_tx_rings: 1,
        ni_rx_rings: 1,
        ni_bufs_head: if cfg.extra_bufs > 0 { extra0 } else { 0 },
        // API 14: ni_host_tx_rings, ni_host_rx_rings, ni_spare1[3].
        ni_spare1: [1, 1, 0, 0, 0],
        ring_ofs: [],
    };
    // SAFETY: offset 0 of the region, 4096-aligned, sized for netmap_if (plan).
    unsafe { ptr::write(base.cast::<netmap_if>(), nifp) };
    // ring_ofs[] relative to the netmap_if; 0 for the host rings, not bound to this port.
    let ofs = [p.tx_off as isize, 0, p.rx_off as isize, 0];
    for (k, o) in ofs.iter().enumerate() {
        // SAFETY: the four ring_ofs[] entries fit before `tx_off` (plan).
        unsafe { ptr::write(base.add(abi::IF_RING_OFS).cast::<isize>().add(k), *o) };
    }
    let rings = [
        (
            p.tx_off,
            cfg.tx_slots,
            0u16,
            abi::FIRST_BUF,
            cfg.tx_slots - 1,
        ),
        (
            p.rx_off,
            cfg.rx_slots,
            1u16,
            abi::FIRST_BUF + cfg.tx_slots,
            0,
        ),
    ];
    for (off, n, dir, first_buf, tail) in rings {
        // SAFETY: a 128-aligned ring header at `off` inside the region (plan); fields are
        // written one by one (netmap_ring has padding netmap_sys keeps private).
        unsafe {
            let ring = base.add(off).cast::<netmap_ring>();
            ptr::addr_of_mut!((*ring).buf_ofs).write((p.bufs_off - off) as i64);
            ptr::addr_of_mut!((*ring).num_slots).write(n);
            ptr::addr_of_mut!((*ring).nr_buf_size).write(cfg.buf_size);
            ptr::addr_of_mut!((*ring).dir).write(dir);
            ptr::addr_of_mut!((*ring).tail).write(tail);
            let slots = base.add(off + abi::RING_SLOTS_OFS).cast::<netmap_slot>();
            for i in 0..n {
                ptr::addr_of_mut!((*slots.add(i as usize)).buf_idx).write(first_buf + i);
            }
        }
    }
    for k in 0..cfg.extra_bufs {
        let idx = extra0 + k;
        let next = if k + 1 < cfg.extra_bufs { idx + 1 } else { 0 };
        // SAFETY: the first word of extra buffer `idx`, inside the region (plan).
        unsafe {
            base.add(p.bufs_off + idx as usize * cfg.buf_size as usize)
                .cast::<u32>()
                .write_unaligned(next)
        };
    }
}

/// Two in-memory netmap ports wired back to back, and the test's handle on the wire.
pub fn pair(
    cfg: MemConfig,
) -> Result<(NetmapPort<MemNetmap>, NetmapPort<MemNetmap>, MemWire), Error> {
    let bad = |what: String| Err(Error::InvalidConfig { what });
    if !(2..=65_536).contains(&cfg.tx_slots) || !(2..=65_536).contains(&cfg.rx_slots) {
        return bad(format!(
            "in-memory netmap rings of {} TX / {} RX slots (2..=65536)",
            cfg.tx_slots, cfg.rx_slots
        ));
    }
    if !(64..=65_535).contains(&cfg.buf_size) {
        return bad(format!(
            "netmap buffers of {} bytes (64..=65535)",
            cfg.buf_size
        ));
    }
    if cfg.mtu < 68 || cfg.mtu + 18 > cfg.buf_size as usize {
        return bad(format!(
            "MTU {} with {}-byte netmap buffers (68..=buffer - 18)",
            cfg.mtu, cfg.buf_size
        ));
    }
    if cfg.extra_bufs > 1 << 20 {
        return bad(format!("{} extra netmap buffers", cfg.extra_bufs));
    }
    let p = plan(&cfg);
    let names = [String::from("mem0"), String::from("mem1")];
    let regions = [Region::new(p.len)?, Region::new(p.len)?];
    let mut located = Vec::with_capacity(2);
    for (r, name) in regions.iter().zip(&names) {
        // SAFETY: a fresh zeroed region of `p.len` bytes, laid out by `p`.
        unsafe { build(r, &p, &cfg, name) };
        // SAFETY: the region lives in `Shared` with the views found in it.
        let loc = unsafe { locate(r.base, p.len, 0, 0, cfg.extra_bufs) }
            .map_err(|what| Error::InvalidConfig { what })?;
        located.push(loc);
    }
    let nic = |l: &Located| Nic {
        tx_hwcur: 0,
        tx_done: 0,
        tx_tail: l.tx.tail(),
        tx_hold: false,
        tx_known: (0..l.tx.num_slots())
            .map(|i| l.tx.slot(i).buf_idx)
            .collect(),
        tx_sums: vec![None; l.tx.num_slots() as usize],
        rx_hwcur: 0,
        rx_hwtail: 0,
        rx_tail: 0,
        rx_known: (0..l.rx.num_slots())
            .map(|i| l.rx.slot(i).buf_idx)
            .collect(),
        tx_closed: false,
        stats: MemKernelStats::default(),
    };
    let state = Mutex::new([nic(&located[0]), nic(&located[1])]);
    let Ok::<[Located; 2], _>(located) = located.try_into() else {
        unreachable!("two regions, two rings");
    };
    let shared = Arc::new(Shared {
        located,
        names,
        nbufs: [p.nbufs; 2],
        state,
        arrived: Condvar::new(),
        _regions: regions,
    });
    let port = |side: usize| {
        NetmapPort::assemble(
            Arc::new(MemNetmap {
                shared: shared.clone(),
                side,
            }),
            cfg.macs[side],
            cfg.mtu,
            0,
        )
    };
    let (a, b) = (port(0), port(1));
    Ok((a, b, MemWire { shared }))
}

/// A cheap checksum (FNV-1a) of a frame's bytes, to see them change in flight.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `len` bytes of buffer `idx` of `ring`, read-only.
///
/// # Safety
///
/// Nobody may write the buffer while the slice lives (a kernel-owned TX slot's buffer, with
/// the model's lock held).
unsafe fn bytes<'a>(ring: &Ring, idx: u32, len: usize) -> Option<&'a [u8]> {
    if len > ring.buf_size() {
        return None;
    }
    let p = ring.buf(idx)?;
    // SAFETY: inside the live region; not written meanwhile (contract).
    Some(unsafe { std::slice::from_raw_parts(p.as_ptr(), len) })
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, [Nic; 2]> {
        // A panic with the lock held leaves counters and ring indices, still consistent
        // enough for a test to report on.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn txsync(&self, st: &mut [Nic; 2], side: usize) -> io::Result<()> {
        let tx = self.located[side].tx;
        let nic = &mut st[side];
        let (head, cur) = tx.raw_head_cur();
        // netmap: head in [hwcur, tail], cur in [head, tail].
        let room = tx.distance(nic.tx_hwcur, nic.tx_tail);
        if head >= tx.num_slots()
            || cur >= tx.num_slots()
            || tx.distance(nic.tx_hwcur, head) > room
            || tx.distance(nic.tx_hwcur, cur) < tx.distance(nic.tx_hwcur, head)
            || tx.distance(nic.tx_hwcur, cur) > room
        {
            nic.stats.bad_pointers += 1;
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let mut i = nic.tx_hwcur;
        while i != head {
            let s = tx.slot(i);
            if s.buf_idx != nic.tx_known[i as usize] {
                if s.flags & NS_BUF_CHANGED == 0 {
                    nic.stats.unflagged_buf_changes += 1;
                }
                nic.tx_known[i as usize] = s.buf_idx;
            }
            // SAFETY: slot `i` was just handed to the kernel: user space no longer writes
            // its buffer (the rule the checksum checks).
            let sum = unsafe { bytes(&tx, s.buf_idx, s.len as usize) }
                .filter(|_| s.len > 0)
                .map(checksum);
            if sum.is_none() {
                nic.stats.bad_slots += 1;
            }
            nic.tx_sums[i as usize] = sum;
            tx.set_len_flags(i, s.len, s.flags & !NS_BUF_CHANGED);
            i = tx.next(i);
        }
        nic.tx_hwcur = head;
        if !nic.tx_hold {
            self.transmit(st, side, u32::MAX);
        }
        let nic = &mut st[side];
        nic.tx_tail = tx.prev(nic.tx_done);
        tx.set_tail(nic.tx_tail);
        Ok(())
    }

    /// The NIC of `side` sends up to `max` queued frames into the peer's RX ring.
    fn transmit(&self, st: &mut [Nic; 2], side: usize, max: u32) -> u32 {
        let tx = self.located[side].tx;
        let rx = self.located[1 - side].rx;
        let [a, b] = st;
        let (nic, peer) = if side == 0 { (a, b) } else { (b, a) };
        let mut sent = 0;
        while nic.tx_done != nic.tx_hwcur && sent < max {
            let i = nic.tx_done;
            nic.tx_done = tx.next(i);
            sent += 1;
            let Some(sum) = nic.tx_sums[i as usize] else {
                continue;
            };
            let s = tx.slot(i);
            // SAFETY: a kernel-owned TX slot (handed over, not yet completed): user space
            // does not write its buffer.
            let Some(frame) = (unsafe { bytes(&tx, s.buf_idx, s.len as usize) }) else {
                nic.stats.bad_slots += 1;
                continue;
            };
            if checksum(frame) != sum {
                nic.stats.rewritten_in_flight += 1;
            }
            nic.stats.transmitted += 1;
            if rx.next(peer.rx_hwtail) == peer.rx_hwcur {
                peer.stats.rx_dropped += 1;
                continue;
            }
            let j = peer.rx_hwtail;
            let r = rx.slot(j);
            match rx.buf(r.buf_idx) {
                Some(dst) if frame.len() <= rx.buf_size() => {
                    // SAFETY: the buffer of a kernel-owned RX slot of the other region:
                    // user space does not touch it until a sync hands it over.
                    unsafe { ptr::copy_nonoverlapping(frame.as_ptr(), dst.as_ptr(), frame.len()) };
                    rx.set_len_flags(j, frame.len() as u16, 0);
                    peer.rx_hwtail = rx.next(j);
                }
                _ => peer.stats.bad_slots += 1,
            }
        }
        if sent > 0 {
            self.arrived.notify_all();
        }
        sent
    }

    fn rxsync(&self, st: &mut [Nic; 2], side: usize) -> io::Result<()> {
        let rx = self.located[side].rx;
        let nic = &mut st[side];
        let (head, cur) = rx.raw_head_cur();
        let room = rx.distance(nic.rx_hwcur, nic.rx_tail);
        if head >= rx.num_slots()
            || cur >= rx.num_slots()
            || rx.distance(nic.rx_hwcur, head) > room
            || rx.distance(nic.rx_hwcur, cur) < rx.distance(nic.rx_hwcur, head)
            || rx.distance(nic.rx_hwcur, cur) > room
        {
            nic.stats.bad_pointers += 1;
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let mut i = nic.rx_hwcur;
        while i != head {
            let s = rx.slot(i);
            if s.buf_idx != nic.rx_known[i as usize] {
                if s.flags & NS_BUF_CHANGED == 0 {
                    nic.stats.unflagged_buf_changes += 1;
                }
                if rx.buf(s.buf_idx).is_none() {
                    nic.stats.bad_slots += 1;
                }
                nic.rx_known[i as usize] = s.buf_idx;
            }
            rx.set_len_flags(i, 0, 0);
            i = rx.next(i);
        }
        nic.rx_hwcur = head;
        nic.rx_tail = nic.rx_hwtail;
        rx.set_tail(nic.rx_tail);
        Ok(())
    }
}

impl Kernel for MemNetmap {
    fn located(&self) -> &Located {
        &self.shared.located[self.side]
    }

    fn txsync(&self) -> io::Result<()> {
        let mut st = self.shared.lock();
        self.shared.txsync(&mut st, self.side)
    }

    fn rxsync(&self) -> io::Result<()> {
        let mut st = self.shared.lock();
        self.shared.rxsync(&mut st, self.side)
    }

    fn wait_rx(&self, timeout: Duration) -> io::Result<()> {
        let mut st = self.shared.lock();
        if st[self.side].rx_hwtail == st[self.side].rx_tail && !timeout.is_zero() {
            st = self
                .shared
                .arrived
                .wait_timeout(st, timeout)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        self.shared.rxsync(&mut st, self.side)
    }

    fn rx_drops(&self) -> u64 {
        self.shared.lock()[self.side].stats.rx_dropped
    }

    fn ring_state(&self, ring: &Ring) -> RingState {
        // The peer's NIC writes our RX slots under the lock.
        let _st = self.shared.lock();
        ring.state()
    }

    fn tx_closed(&self) {
        self.shared.lock()[self.side].tx_closed = true;
    }

    fn name(&self) -> &str {
        &self.shared.names[self.side]
    }
}

impl MemWire {
    /// Hold (or stop holding) the frames `side` sends: a TX sync hands them to the NIC,
    /// which sends them only in [`transmit`](Self::transmit). Their slots stay in flight.
    pub fn hold_tx(&self, side: usize, hold: bool) {
        self.shared.lock()[side].tx_hold = hold;
    }

    /// Let the NIC of `side` send up to `max` held frames. Their slots come back to the
    /// port at its next TX sync (a `flush`, or `tx_space` / `reserve` reclaiming).
    pub fn transmit(&self, side: usize, max: u32) -> u32 {
        let mut st = self.shared.lock();
        self.shared.transmit(&mut st, side, max)
    }

    /// Frames the NIC of `side` holds, handed over and not yet sent.
    pub fn queued(&self, side: usize) -> u32 {
        let st = self.shared.lock();
        self.shared.located[side]
            .tx
            .distance(st[side].tx_done, st[side].tx_hwcur)
    }

    /// What the kernel model saw on `side`.
    pub fn stats(&self, side: usize) -> MemKernelStats {
        self.shared.lock()[side].stats
    }

    /// Every buffer index of `side`'s region (ring buffers and extra buffers).
    pub fn buffers(&self, side: usize) -> std::ops::Range<u32> {
        abi::FIRST_BUF..self.shared.nbufs[side]
    }

    /// Once `side`'s TX half is dropped: the buffers it handed back on the `ni_bufs_head`
    /// list, and the buffers in its TX and RX ring slots. `None` while the TX half lives.
    pub fn closed_buffers(&self, side: usize) -> Option<(Vec<u32>, Vec<u32>)> {
        let st = self.shared.lock();
        if !st[side].tx_closed {
            return None;
        }
        let loc = &self.shared.located[side];
        // SAFETY: the TX half, the only writer of these buffers and of the TX slots, is
        // gone; the RX half never writes slot buffer indices, and the peer's NIC writes
        // this port's RX slots only under the lock we hold.
        let list = unsafe { loc.bufs_list() };
        let mut rings: Vec<u32> = Vec::new();
        for r in [loc.tx, loc.rx] {
            rings.extend((0..r.num_slots()).map(|i| r.slot(i).buf_idx));
        }
        Some((list, rings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(cfg: &MemConfig) -> (Region, Plan) {
        let p = plan(cfg);
        let r = Region::new(p.len).unwrap();
        // SAFETY: a fresh zeroed region laid out by `p`.
        unsafe { build(&r, &p, cfg, "t0") };
        (r, p)
    }

    fn find(r: &Region, p: &Plan, qid: u16, extra: u32) -> Result<Located, String> {
        // SAFETY: the region outlives the result within each test.
        unsafe { locate(r.base, p.len, 0, qid, extra) }
    }

    type Corrupt = fn(&Region, &Plan);

    fn ring_ofs(k: usize) -> usize {
        abi::IF_RING_OFS + 8 * k
    }

    /// Write `v` at byte `off` of the region.
    fn poke<T>(r: &Region, off: usize, v: T) {
        // SAFETY: tests poke inside the region, at aligned offsets of fields of type `T`.
        unsafe { ptr::write(r.base.as_ptr().add(off).cast::<T>(), v) }
    }

    #[test]
    fn rings_and_extra_buffers_are_found_as_netmap_lays_them_out() {
        let cfg = MemConfig {
            tx_slots: 16,
            rx_slots: 32,
            extra_bufs: 3,
            ..Default::default()
        };
        let (r, p) = region(&cfg);
        let loc = find(&r, &p, 0, 3).unwrap();
        assert_eq!((loc.tx.num_slots(), loc.rx.num_slots()), (16, 32));
        assert_eq!((loc.tx.buf_size(), loc.rx.buf_size()), (2048, 2048));
        assert_eq!(loc.tx.tail(), 15);
        assert_eq!(loc.rx.tail(), 0);
        assert_eq!(loc.tx.slot(0).buf_idx, abi::FIRST_BUF);
        assert_eq!(loc.rx.slot(0).buf_idx, abi::FIRST_BUF + 16);
        assert_eq!(loc.extra, vec![50, 51, 52]);
        assert_eq!(loc.tx.buffers(), p.nbufs);
        assert_eq!(loc.tx.buf(p.nbufs), None, "past the last buffer");
        assert_eq!(loc.tx.buf(0), None, "buffer 0 is never used");
        // Buffers are found from each ring's own buf_ofs: the same memory.
        assert_eq!(loc.tx.buf(7), loc.rx.buf(7));
        // Fewer extra buffers asked than listed: only those are taken.
        assert_eq!(find(&r, &p, 0, 2).unwrap().extra, vec![50, 51]);
    }

    #[test]
    fn a_region_that_is_not_netmaps_is_refused() {
        let cfg = MemConfig {
            tx_slots: 8,
            rx_slots: 8,
            extra_bufs: 2,
            ..Default::default()
        };
        let cases: [(&str, Corrupt); 6] = [
            ("outside", |r, p| poke(r, ring_ofs(0), p.len as isize)),
            ("not bound", |r, _| poke(r, ring_ofs(2), 0isize)),
            ("slots", |r, p| {
                poke(
                    r,
                    p.tx_off + std::mem::offset_of!(netmap_ring, num_slots),
                    1u32,
                )
            }),
            ("overrun", |r, p| {
                poke(
                    r,
                    p.rx_off + std::mem::offset_of!(netmap_ring, num_slots),
                    1u32 << 24,
                )
            }),
            ("byte buffers", |r, p| {
                poke(
                    r,
                    p.rx_off + std::mem::offset_of!(netmap_ring, nr_buf_size),
                    8u32,
                )
            }),
            ("loops", |r, p| {
                // The first extra buffer links to itself.
                let first = abi::FIRST_BUF + 16;
                poke(r, p.bufs_off + first as usize * 2048, first)
            }),
        ];
        for (want, corrupt) in cases {
            let (r, p) = region(&cfg);
            corrupt(&r, &p);
            let e = find(&r, &p, 0, 2).unwrap_err();
            assert!(e.contains(want), "{want}: {e}");
        }
        let (r, p) = region(&cfg);
        let e = find(&r, &p, 1, 0).unwrap_err();
        assert!(e.contains("queue 1"), "{e}");
    }

    #[test]
    fn kernels_before_api_14_list_one_host_ring() {
        let cfg = MemConfig {
            tx_slots: 8,
            rx_slots: 16,
            ..Default::default()
        };
        let (r, p) = region(&cfg);
        // API 13: no host ring counts (zero), one host TX ring assumed.
        poke(&r, std::mem::offset_of!(netmap_if, ni_version), 13u32);
        poke(&r, std::mem::offset_of!(netmap_if, ni_spare1), 0u32);
        assert_eq!(find(&r, &p, 0, 0).unwrap().rx.num_slots(), 16);
        // API 14 with two host TX rings: the RX ring moves one entry down.
        let (r, p) = region(&cfg);
        poke(&r, std::mem::offset_of!(netmap_if, ni_spare1), 2u32);
        let e = find(&r, &p, 0, 0).unwrap_err();
        assert!(e.contains("ring 3 is not bound"), "{e}");
    }
}
