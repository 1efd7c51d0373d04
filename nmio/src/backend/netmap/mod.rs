//! netmap backend (cargo feature `netmap`): one NIC queue pair in netmap mode, its rings
//! mapped into the process, frames moved with ring pointer updates and one sync system
//! call per batch, prepared packets sent by swapping buffer indices.
//!
//! # What was run, and what was not
//!
//! netmap's kernel module cannot be loaded on the machines this project is built and
//! tested on, so **nothing here has run against a real netmap.** What is tested is the
//! ring logic, on an in-memory region laid out exactly like netmap's ([`mem`]):
//! `netmap_if`, rings, slots and buffers at the same offsets, found through the same
//! `ring_ofs[]` walk, and a model of the kernel side (syncs moving `tail`, a NIC
//! transmitting queued slots into the peer's RX ring, completions, drops). The model
//! checks the netmap(4) rules this backend must keep: `head` and `cur` within their
//! allowed ranges, `NS_BUF_CHANGED` on every buffer swap, buffer indices inside the region,
//! and no buffer rewritten between its sync and its transmission. The backend conformance
//! suite (its `netmap` instance) and `nmio/tests/netmap_ring.rs` run on that model.
//!
//! The real path ([`NetmapPort::open`]: `/dev/netmap`, `NIOCREGIF`, `mmap`,
//! `NIOCTXSYNC`/`NIOCRXSYNC`, `poll`) compiles, and its first step fails cleanly where
//! netmap is missing ("netmap is not loaded: /dev/netmap missing"); that failure is all of
//! it that has run. The ring logic it drives is the tested one; the request, the mapping
//! and the syncs are written from netmap's headers and netmap(4), and have never met a
//! kernel.
//!
//! # `netmap_sys`
//!
//! The structures and ioctl numbers come from the `netmap_sys` crate, without its
//! `netmap_with_libs` feature: it then builds without netmap's headers, so the feature
//! builds and its tests run on any Linux machine. `netmap_sys` 0.1.4 dates from netmap API
//! 11; `abi.rs` says what is corrected for API 14 and checks every offset used at compile
//! time. On a machine with netmap installed nothing else is needed: the module provides
//! `/dev/netmap`, and the binding needs no library.
//!
//! # Rings and ownership
//!
//! ```text
//!  netmap region (mmap of /dev/netmap, or one allocation in memory)
//!  +------------+-----------------------+-----------------------+------------------+
//!  | netmap_if  | TX ring               | RX ring               | buffers 2..N     |
//!  | ring_ofs[] | head, cur, tail       | head, cur, tail       | (buf_size each;  |
//!  |            | slots: buf_idx, len,  | slots: buf_idx, len,  |  extra buffers   |
//!  |            |        flags          |        flags          |  among them)     |
//!  +------------+-----------------------+-----------------------+------------------+
//! ```
//!
//! As in netmap(4), slots `head..tail` and their buffers belong to user space and the
//! others to the kernel; the kernel moves `tail` only inside a sync.
//!
//! - **RX** ([`NetmapRx`]): frames between `head` and `tail` are ours. `recv_burst` hands
//!   each to the callback in place, then moves `head` and `cur` past them. When it finds the
//!   ring empty it syncs first (`NIOCRXSYNC`); when it has emptied the ring it syncs after,
//!   so the slots go back to the NIC at once and the next frames are already there for the
//!   next call: one system call per burst under load. `wait` is `poll(POLLIN)`, which
//!   syncs too.
//! - **TX** ([`NetmapTx`]): free slots run from `cur` to `tail`. `reserve` lends the slot at
//!   `cur`, `commit` sets its length and moves `cur`; the committed frames are those from
//!   `head` to `cur`, and `flush` moves `head` to `cur` and syncs (`NIOCTXSYNC`), which
//!   sends them and reports completions by moving `tail`. netmap keeps the slot before
//!   `head` for itself, so a ring of N slots holds N - 1 frames. `tx_space` asks the
//!   kernel for completions (a sync) only when frames are in flight and fewer than half the
//!   slots are free or nothing is queued, so that asking often stays cheap.
//!
//! # Prepared packets
//!
//! Images live in netmap *extra buffers*, asked for in `NIOCREGIF` (`nr_arg3`) and
//! returned on the `ni_bufs_head` list when the TX half is dropped. [`PrepMode::PreCopy`]
//! rewrites the image in place and swaps its buffer index into the TX slot
//! (`NS_BUF_CHANGED`), keeping the slot's own buffer as a spare: the NIC sends the image
//! itself ([`Capabilities::zero_copy_prepared`]). The image stays in that slot after it was
//! sent; the slot gets a spare back before it carries anything else, so the image is never
//! overwritten by another frame. An image is *in flight* from the send until the kernel
//! hands its slot back (`tail` passes it; netmap keeps the last sent slot, so the image sent
//! last is in flight until one more frame after it completes). A pre-copy send of an image
//! in flight copies it into the slot's own buffer and rewrites the copy (counted in
//! `prepared_clones`), and [`TxQueue::prepared_mut`] on an image in flight first moves it to
//! a spare buffer, so a frame the NIC has not read yet never changes, not even in part.
//! [`PrepMode::Memcpy`] copies the image into the slot and rewrites the copy. The
//! bookkeeping is in `swap.rs`; every buffer index is in exactly one place at all times,
//! which the ring tests check after every step.
//!
//! # What a real NIC needs
//!
//! netmap takes the queue away from the kernel stack. Turn offloads off on the interface
//! (`ethtool -K DEV tx off rx off gso off tso off gro off lro off`): netmap sends and
//! receives frames as they are, with no checksum metadata, and one buffer per frame
//! (frames spread over several slots, `NS_MOREFRAG`, are dropped and counted as
//! `rx_truncated`). netmap does not report RX ring overflows per ring, so on a real NIC
//! `rx_ring_full` stays 0 (the NIC's own counters have them: `ethtool -S`).
//!
//! No memory is allocated per packet.

mod abi;
mod dev;
pub mod mem;
mod ring;
mod swap;

pub use abi::{NS_BUF_CHANGED, NS_MOREFRAG};
pub use dev::{NetmapConfig, NetmapDev};
pub use ring::{RingState, SlotState};

use self::ring::Ring;
use self::swap::SwapPool;
use crate::port::{Capabilities, RxMeta, RxQueue, TxQueue};
use crate::prepared::{PrepMode, PreparedId};
use crate::stats::PortStats;
use crate::Error;
use std::ptr;
use std::sync::Arc;
use std::time::Duration;

const ETH_HLEN: usize = 14;
const VLAN_HLEN: usize = 4;
const ETH_P_8021Q: u16 = 0x8100;

mod kernel {
    use super::ring::{Located, Ring, RingState};
    use std::io;
    use std::time::Duration;

    /// The side of netmap a port cannot see: the kernel (or the in-memory model of it).
    ///
    /// The TX half calls only `txsync`, the RX half only `rxsync` and `wait_rx`, each from
    /// the thread that owns that half, as netmap requires of the rings they touch.
    pub trait Kernel {
        /// The port's rings and extra buffers.
        fn located(&self) -> &Located;
        /// `NIOCTXSYNC`: send the slots before `head`, report completions in `tail`.
        fn txsync(&self) -> io::Result<()>;
        /// `NIOCRXSYNC`: take back the slots before `head`, report arrivals in `tail`.
        fn rxsync(&self) -> io::Result<()>;
        /// `poll(POLLIN)`: block until frames may have arrived or `timeout` passes, then
        /// sync the RX ring.
        fn wait_rx(&self, timeout: Duration) -> io::Result<()>;
        /// Frames the NIC dropped for want of RX slots, where known.
        fn rx_drops(&self) -> u64 {
            0
        }
        /// A copy of `ring`, taken while the kernel side leaves it alone.
        fn ring_state(&self, ring: &Ring) -> RingState {
            ring.state()
        }
        /// The TX half is gone and its buffers are on the `ni_bufs_head` list.
        fn tx_closed(&self) {}
        /// The port's name, for errors.
        fn name(&self) -> &str;
    }
}

/// Where a port's netmap memory lives: [`NetmapDev`] (the kernel's, through
/// `/dev/netmap`) or [`mem::MemNetmap`] (the in-memory model the tests use).
///
/// Sealed: the rings are trusted to have netmap's layout.
pub trait NetmapMem: kernel::Kernel + Send + Sync + 'static {}

impl NetmapMem for NetmapDev {}
impl NetmapMem for mem::MemNetmap {}

/// `len` bytes of buffer `idx` of `ring`'s region, if it lies there.
///
/// # Safety
///
/// The buffer must be the caller's to write (the buffer of a slot user space owns and has
/// not queued, or one of the prepared pool's not in flight), no other reference to it may
/// live as long as the result, and the region must outlive the result.
#[inline]
unsafe fn buf_mut<'a>(ring: &Ring, idx: u32, len: usize) -> Option<&'a mut [u8]> {
    if len > ring.buf_size() {
        return None;
    }
    let p = ring.buf(idx)?;
    // SAFETY: `len` bytes from the start of a buffer of the live region; exclusive by the
    // caller's contract.
    Some(unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), len) })
}

/// A netmap port: one RX ring and one TX ring of a device (or of the in-memory model).
pub struct NetmapPort<M: NetmapMem> {
    rx: NetmapRx<M>,
    tx: NetmapTx<M>,
    caps: Capabilities,
}

impl NetmapPort<NetmapDev> {
    /// Put queue `cfg.queue_id` of `cfg.ifname` in netmap mode and map its rings.
    ///
    /// Errors, each one line: netmap missing ("netmap is not loaded: /dev/netmap missing"),
    /// a malformed name or no such device, not root, a driver or queue netmap refuses, a
    /// region that does not have netmap's layout.
    ///
    /// Never run against a real netmap (see the module docs).
    pub fn open(cfg: NetmapConfig) -> Result<Self, Error> {
        let opened = dev::open(&cfg)?;
        Ok(NetmapPort::assemble(
            Arc::new(opened.dev),
            opened.mac,
            opened.mtu,
            cfg.queue_id,
        ))
    }
}

impl<M: NetmapMem> NetmapPort<M> {
    fn assemble(mem: Arc<M>, mac: [u8; 6], mtu: usize, queue_id: u16) -> Self {
        let loc = mem.located();
        let (tx, rx) = (loc.tx, loc.rx);
        let caps = Capabilities {
            mac,
            mtu,
            max_frame: tx.buf_size().min(rx.buf_size()),
            rx_queues: loc.rx_rings.min(u16::MAX as u32) as u16,
            tx_queues: loc.tx_rings.min(u16::MAX as u32) as u16,
            queue_id,
            rx_ring_size: rx.num_slots() as usize - 1,
            tx_ring_size: tx.num_slots() as usize - 1,
            zero_copy_prepared: !loc.extra.is_empty(),
            rx_csum_offload: false,
            tx_csum_offload: false,
            rss: false,
        };
        let pool = SwapPool::new(loc.extra.clone(), tx.num_slots());
        NetmapPort {
            rx: NetmapRx {
                mem: mem.clone(),
                ring: rx,
                in_frag: false,
                stats: PortStats::default(),
                sync_errors: 0,
            },
            tx: NetmapTx {
                mem,
                ring: tx,
                pool,
                reserved: false,
                max_wire: mtu + ETH_HLEN,
                stats: PortStats::default(),
                sync_errors: 0,
            },
            caps,
        }
    }
}

crate::port::port_from_fields!(impl[M: NetmapMem] NetmapPort<M> => NetmapRx<M>, NetmapTx<M>);

/// The receive half: the RX ring.
pub struct NetmapRx<M: NetmapMem> {
    mem: Arc<M>,
    ring: Ring,
    /// Inside a multi-slot frame being skipped.
    in_frag: bool,
    stats: PortStats,
    sync_errors: u64,
}

// SAFETY: `ring` points into memory owned by `mem` (Send + Sync, kept alive by the Arc);
// the RX ring and its user-owned buffers are touched by this half alone, from whichever
// thread owns it.
unsafe impl<M: NetmapMem> Send for NetmapRx<M> {}

impl<M: NetmapMem> NetmapRx<M> {
    fn sync(&mut self) {
        if self.mem.rxsync().is_err() {
            self.sync_errors += 1;
        }
    }

    /// A copy of the RX ring's pointers and slots.
    pub fn ring_state(&self) -> RingState {
        self.mem.ring_state(&self.ring)
    }

    /// Syncs the kernel refused (never expected: each one is a bug in this backend).
    pub fn sync_errors(&self) -> u64 {
        self.sync_errors
    }
}

impl<M: NetmapMem> RxQueue for NetmapRx<M> {
    fn recv_burst<F: FnMut(&mut [u8], &RxMeta)>(&mut self, max: usize, mut f: F) -> usize {
        if max == 0 {
            return 0;
        }
        if self.ring.head() == self.ring.tail() {
            self.sync();
        }
        let ring = self.ring;
        let (start, tail) = (ring.head(), ring.tail());
        let (mut i, mut handed, mut bytes) = (start, 0usize, 0u64);
        while i != tail && handed < max {
            let s = ring.slot(i);
            i = ring.next(i);
            if self.in_frag || s.flags & NS_MOREFRAG != 0 {
                // A frame over several slots: skipped whole, counted at its last slot.
                self.in_frag = s.flags & NS_MOREFRAG != 0;
                if !self.in_frag {
                    self.stats.rx_truncated += 1;
                }
                continue;
            }
            let len = s.len as usize;
            if len < ETH_HLEN {
                self.stats.rx_other_drops += 1;
                continue;
            }
            // SAFETY: the buffer of a slot between head and tail: user space owns it until
            // head passes it, which happens after the callback returns.
            let Some(frame) = (unsafe { buf_mut(&ring, s.buf_idx, len) }) else {
                self.stats.rx_other_drops += 1;
                continue;
            };
            let meta = RxMeta {
                len: len as u32,
                ..Default::default()
            };
            f(frame, &meta);
            handed += 1;
            bytes += len as u64;
        }
        ring.set_head(i);
        ring.set_cur(i);
        if handed > 0 {
            self.stats.rx_frames += handed as u64;
            self.stats.rx_bytes += bytes;
            self.stats.rx_bursts += 1;
        }
        if i == tail && i != start {
            // Emptied: give the slots back now, so the NIC can fill them before our next
            // call, which then finds the next frames waiting.
            self.sync();
        }
        handed
    }

    fn wait(&mut self, timeout: Duration) -> Result<bool, Error> {
        if self.ring.head() != self.ring.tail() {
            return Ok(true);
        }
        self.mem.wait_rx(timeout).map_err(|e| Error::Io {
            what: format!("poll of netmap port {:?}", self.mem.name()),
            source: e,
        })?;
        Ok(self.ring.head() != self.ring.tail())
    }

    fn stats(&self) -> PortStats {
        let mut s = self.stats;
        s.rx_ring_full += self.mem.rx_drops();
        s
    }
}

/// The transmit half: the TX ring and the prepared images in extra buffers.
pub struct NetmapTx<M: NetmapMem> {
    mem: Arc<M>,
    ring: Ring,
    pool: SwapPool,
    reserved: bool,
    /// Longest untagged frame the link carries (`mtu + 14`).
    max_wire: usize,
    stats: PortStats,
    sync_errors: u64,
}

// SAFETY: as for `NetmapRx`: the TX ring, its user-owned buffers and the extra buffers are
// touched by this half alone.
unsafe impl<M: NetmapMem> Send for NetmapTx<M> {}

impl<M: NetmapMem> NetmapTx<M> {
    /// Slots free for new frames: `cur` up to `tail`.
    #[inline]
    fn free(&self) -> u32 {
        self.ring.distance(self.ring.cur(), self.ring.tail())
    }

    /// Frames handed to the kernel and not reported sent: the slots user space does not
    /// own (all but `head..tail`; `head == tail` is a full ring), less the one netmap
    /// always keeps.
    #[inline]
    fn in_flight(&self) -> u32 {
        let ours = self.ring.distance(self.ring.head(), self.ring.tail());
        (self.ring.num_slots() - ours).saturating_sub(1)
    }

    /// Whether slot `i` is queued or owned by the kernel (not between `cur` and `tail`).
    #[inline]
    fn busy(&self, i: u32) -> bool {
        self.ring.distance(self.ring.cur(), i) >= self.free()
    }

    /// Ask the kernel which frames were sent (a sync that sends nothing new: `head` only
    /// moves in `flush`).
    fn reclaim(&mut self) {
        if self.mem.txsync().is_err() {
            self.sync_errors += 1;
        }
    }

    /// A free slot at `cur`, reclaiming if there is none.
    #[inline]
    fn room(&mut self) -> bool {
        if self.free() > 0 {
            return true;
        }
        if self.in_flight() > 0 {
            self.reclaim();
        }
        self.free() > 0
    }

    /// Queue the slot at `cur` with `len` bytes (the buffer is filled).
    #[inline]
    fn queue(&mut self, len: usize) -> bool {
        let ring = self.ring;
        let cur = ring.cur();
        let s = ring.slot(cur);
        if len < ETH_HLEN {
            self.stats.tx_bad_len += 1;
            return false;
        }
        if len > self.max_wire {
            // The link carries mtu + 14 bytes, 4 more with an 802.1Q tag.
            let tagged = ring.buf(s.buf_idx).is_some_and(|p| {
                // SAFETY: bytes 12..14 of the buffer of the free slot at `cur`, which this
                // half is filling (len >= 14 and within the buffer).
                let et = unsafe { ptr::read(p.as_ptr().add(12).cast::<[u8; 2]>()) };
                u16::from_be_bytes(et) == ETH_P_8021Q
            });
            if !tagged || len > self.max_wire + VLAN_HLEN {
                self.stats.tx_errors += 1;
                return false;
            }
        }
        ring.set_len_flags(cur, len as u16, s.flags & NS_BUF_CHANGED);
        ring.set_cur(ring.next(cur));
        self.stats.tx_frames += 1;
        self.stats.tx_bytes += len as u64;
        true
    }

    /// A copy of the TX ring's pointers and slots.
    pub fn ring_state(&self) -> RingState {
        self.mem.ring_state(&self.ring)
    }

    /// The buffers this half holds outside the TX ring (extra buffers not used yet, spares,
    /// images not placed in a slot). With the ring's slots, every buffer of the port
    /// appears exactly once.
    pub fn owned_buffers(&self) -> Vec<u32> {
        self.pool.owned()
    }

    /// Prepared images this port can hold (the extra buffers netmap gave it).
    pub fn prepared_capacity(&self) -> usize {
        self.pool.capacity()
    }

    /// Syncs the kernel refused (never expected: each one is a bug in this backend).
    pub fn sync_errors(&self) -> u64 {
        self.sync_errors
    }
}

impl<M: NetmapMem> TxQueue for NetmapTx<M> {
    #[inline]
    fn tx_space(&mut self) -> usize {
        let free = self.free();
        if self.in_flight() > 0 && (free < self.ring.num_slots() / 2 || self.pending() == 0) {
            self.reclaim();
            return self.free() as usize;
        }
        free as usize
    }

    #[inline]
    fn slot_size(&self) -> usize {
        self.ring.buf_size()
    }

    #[inline]
    fn reserve(&mut self) -> Option<&mut [u8]> {
        self.reserved = false;
        if !self.room() {
            self.stats.tx_ring_full += 1;
            return None;
        }
        let cur = self.ring.cur();
        self.pool.restore(&self.ring, cur);
        let idx = self.ring.slot(cur).buf_idx;
        // SAFETY: the buffer of the free slot at `cur` (an image's buffer was just swapped
        // out of it), lent for as long as the borrow of `self`.
        let Some(buf) = (unsafe { buf_mut(&self.ring, idx, self.ring.buf_size()) }) else {
            self.stats.tx_errors += 1;
            return None;
        };
        self.reserved = true;
        Some(buf)
    }

    #[inline]
    fn commit(&mut self, len: usize) -> bool {
        let reserved = std::mem::take(&mut self.reserved);
        if !reserved || len == 0 || len > self.ring.buf_size() {
            self.stats.tx_bad_len += 1;
            return false;
        }
        self.queue(len)
    }

    #[inline]
    fn pending(&self) -> usize {
        self.ring.distance(self.ring.head(), self.ring.cur()) as usize
    }

    fn flush(&mut self) -> Result<usize, Error> {
        let n = self.pending();
        if n == 0 {
            return Ok(0);
        }
        self.ring.set_head(self.ring.cur());
        self.stats.tx_kicks += 1;
        if let Err(e) = self.mem.txsync() {
            self.sync_errors += 1;
            self.stats.tx_errors += n as u64;
            return Err(Error::Io {
                what: format!("NIOCTXSYNC on netmap port {:?}", self.mem.name()),
                source: e,
            });
        }
        Ok(n)
    }

    fn prepare(&mut self, image: &[u8]) -> Result<PreparedId, Error> {
        let max = self.ring.buf_size();
        if image.is_empty() || image.len() > max {
            return Err(Error::FrameTooLarge {
                len: image.len(),
                max,
            });
        }
        let Some((id, buf)) = self.pool.add(image.len()) else {
            return Err(Error::PoolFull {
                capacity: self.pool.capacity(),
            });
        };
        // SAFETY: an extra buffer just taken from the free list: never sent, ours alone.
        match unsafe { buf_mut(&self.ring, buf, image.len()) } {
            Some(b) => b.copy_from_slice(image),
            None => {
                return Err(Error::InvalidConfig {
                    what: format!("netmap extra buffer {buf} lies outside the netmap region"),
                })
            }
        }
        Ok(id)
    }

    fn prepared(&self, id: PreparedId) -> Option<&[u8]> {
        let img = self.pool.image(id)?;
        let p = self.ring.buf(img.buf)?;
        // SAFETY: the image's buffer (len checked at `prepare`); the kernel may be reading
        // it, and this half only writes it through `&mut self`.
        Some(unsafe { std::slice::from_raw_parts(p.as_ptr(), img.len as usize) })
    }

    fn prepared_mut(&mut self, id: PreparedId) -> Option<&mut [u8]> {
        let img = self.pool.image(id)?;
        if img.slot.is_some_and(|s| self.busy(s)) {
            // Queued or with the NIC: leave that buffer to the frame, move the image.
            let (old, new) = self.pool.detach(id)?;
            let (src, dst) = (self.ring.buf(old)?, self.ring.buf(new)?);
            // SAFETY: two distinct buffers of the region (every index is in one place):
            // `old` is only read (the kernel may read it too), `new` is a spare nobody uses.
            unsafe { ptr::copy_nonoverlapping(src.as_ptr(), dst.as_ptr(), img.len as usize) };
        }
        let img = self.pool.image(id)?;
        // SAFETY: the image's buffer, not in flight (in no slot, or in a free one).
        unsafe { buf_mut(&self.ring, img.buf, img.len as usize) }
    }

    fn send_prepared<R: FnOnce(&mut [u8])>(
        &mut self,
        id: PreparedId,
        mode: PrepMode,
        rewrite: R,
    ) -> bool {
        self.reserved = false;
        let Some(img) = self.pool.image(id) else {
            self.stats.tx_bad_prepared += 1;
            return false;
        };
        if !self.room() {
            self.stats.tx_ring_full += 1;
            return false;
        }
        let ring = self.ring;
        let cur = ring.cur();
        let len = img.len as usize;
        let mut busy = img.slot.is_some_and(|s| self.busy(s));
        if mode == PrepMode::PreCopy && busy && self.in_flight() > 0 {
            self.reclaim();
            busy = img.slot.is_some_and(|s| self.busy(s));
        }
        if mode == PrepMode::PreCopy && !busy {
            match img.slot {
                Some(s) if s == cur => {}
                Some(s) => {
                    self.pool.restore(&ring, s);
                    self.pool.place(&ring, id, cur);
                }
                None => self.pool.place(&ring, id, cur),
            }
            // SAFETY: the image's buffer, now in the free slot at `cur`: not queued, not
            // with the kernel, and no other reference to it lives.
            let Some(buf) = (unsafe { buf_mut(&ring, img.buf, len) }) else {
                self.stats.tx_errors += 1;
                return false;
            };
            rewrite(buf);
            if !self.queue(len) {
                return false;
            }
            self.stats.prepared_precopy += 1;
            return true;
        }
        // Copy into the slot's own buffer and rewrite the copy.
        self.pool.restore(&ring, cur);
        let dst = ring.slot(cur).buf_idx;
        let (Some(src_p), Some(dst_p)) = (ring.buf(img.buf), ring.buf(dst)) else {
            self.stats.tx_errors += 1;
            return false;
        };
        // SAFETY: distinct buffers (every index is in one place; the slot's is not an
        // image's after `restore`): the image is only read, the slot's buffer is ours.
        unsafe { ptr::copy_nonoverlapping(src_p.as_ptr(), dst_p.as_ptr(), len) };
        // SAFETY: the buffer of the free slot at `cur`, ours until queued.
        let Some(buf) = (unsafe { buf_mut(&ring, dst, len) }) else {
            self.stats.tx_errors += 1;
            return false;
        };
        rewrite(buf);
        if !self.queue(len) {
            return false;
        }
        if mode == PrepMode::PreCopy {
            self.stats.prepared_precopy += 1;
            self.stats.prepared_clones += 1;
        } else {
            self.stats.prepared_memcpy += 1;
        }
        true
    }

    fn stats(&self) -> PortStats {
        self.stats
    }
}

impl<M: NetmapMem> Drop for NetmapTx<M> {
    fn drop(&mut self) {
        let bufs = self.pool.owned();
        // SAFETY: the region lives as long as `mem`; these buffers are in no ring slot and
        // were used by this half alone, which is going away.
        unsafe { self.mem.located().give_back(&bufs) };
        self.mem.tx_closed();
    }
}
