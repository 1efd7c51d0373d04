//! AF_XDP backend (cargo feature `afxdp`): one AF_XDP socket on one queue of a Linux
//! network device, a UMEM of packet frames shared with the kernel through four rings, and
//! an XDP program that steers the queue's frames to the socket.
//!
//! # Layout
//!
//! ```text
//!  UMEM (one mmap'd area of `frame_size` chunks, registered with XDP_UMEM_REG)
//!  +-------------------------+-------------------------+---------------------------+
//!  | RX frames (rx_ring)     | TX frames (tx_ring)     | prepared packets          |
//!  +-------------------------+-------------------------+---------------------------+
//!     ^ fill ring  v RX ring    v TX ring  ^ completion    v TX ring ^ completion
//! ```
//!
//! The frames are split between the two halves of the port once, at start-up, so neither
//! half needs a lock or shares a free list with the other:
//!
//! - **RX** ([`AfXdpRx`]): every RX frame starts in the fill ring. The kernel takes one
//!   per received frame, copies the frame in (copy mode) or DMAs it (zero-copy) and posts
//!   it on the RX ring. [`AfXdpRx::recv_burst`] hands each posted frame to the callback in
//!   place and, after the burst, gives the frames back to the fill ring: one shared index
//!   load and two index stores per burst, no system call.
//! - **TX** ([`AfXdpTx`]): a stack of free TX frames. [`TxQueue::reserve`] lends the top
//!   one, [`TxQueue::commit`] writes a descriptor for it into the TX ring,
//!   [`TxQueue::flush`] publishes the ring's producer index and, only when the kernel set
//!   the ring's `XDP_RING_NEED_WAKEUP` flag, kicks it with `sendto(MSG_DONTWAIT)`. Sent
//!   frames come back through the completion ring, reaped in [`TxQueue::tx_space`] and
//!   when `reserve` finds no free frame.
//! - **Prepared packets**: `prepared_capacity` frames reserved at start-up hold the images.
//!   [`PrepMode::PreCopy`] rewrites the image in place and sends that very frame by
//!   descriptor ([`Capabilities::zero_copy_prepared`]); if the frame is still in flight
//!   (not yet back on the completion ring), the image is copied into a free TX frame and
//!   the copy rewritten (counted in `prepared_clones`). [`PrepMode::Memcpy`] copies the
//!   image into a free TX frame and rewrites the copy.
//!
//! With `zero_copy`, the NIC reads a frame sent by reference whenever it gets to it: change
//! an image with [`TxQueue::prepared_mut`] only while no send of it is in flight, or a
//! send may carry half of the change. (In copy mode the kernel copies the frame inside the
//! kick, so a send sees a change whole or not at all.)
//!
//! No memory is allocated per packet: the free stack and the prepared table are sized at
//! start-up.
//!
//! # Copy mode, kicks and batching
//!
//! On a driver without AF_XDP zero-copy (veth, most virtual devices) the socket is bound
//! with `XDP_COPY`: the kernel copies received frames into UMEM and builds an skb per sent
//! frame. In copy mode the kernel always asks for a TX kick, and one `sendto` sends at
//! most a small batch (32 frames on current kernels) before returning `EAGAIN`;
//! [`AfXdpTx::flush`] kicks again while the kernel makes progress, so a flush of `n`
//! frames costs about `n / 32` system calls. With `zero_copy` the socket is bound with
//! `XDP_ZEROCOPY` (refused by drivers without it) and the driver is woken only when it
//! asks (`XDP_USE_NEED_WAKEUP` is always set).
//!
//! # The XDP program
//!
//! Built and loaded here without libbpf or libxdp (see `xdp_prog.rs`): it reads the
//! frame's RX queue and calls `bpf_redirect_map` on an `XSKMAP` holding this socket at its
//! queue index, with `XDP_PASS` as the fallback. It is attached through a BPF link, so it
//! is removed when the port is dropped and also when the process dies. [`XdpMode`] picks
//! native (in the driver), generic (skb) or auto (native, else generic, with the reason
//! kept in [`AfXdpPort::xdp_fallback`]). Nothing is pinned, so bpffs is not needed.
//!
//! **Not done yet:** filtering. Every frame arriving on the port's queue is redirected to
//! the socket, so the kernel no longer sees any traffic on that queue (no SSH, no ARP for
//! the kernel's own addresses). The design's exception path (redirect only what the stack
//! serves) needs a program that parses headers; until then give the stack a dedicated
//! device or queue. Only one port per device: the link holds the device's one XDP slot,
//! and a second port (another queue, another process) is refused with a clear error.
//!
//! # veth
//!
//! veth has native XDP but no AF_XDP zero-copy, so on veth [`XdpMode::Auto`] ends up in
//! native mode with the socket in copy mode; native and generic both receive and send
//! (the conformance suite runs both, against an AF_PACKET port on the peer). Native XDP on
//! the receiving end is all veth needs: once a program is attached, frames the peer sends
//! go through the receiving end's own NAPI, where the program runs. The known veth
//! condition (the peer must have an XDP program, or GRO on, for frames to arrive) is for
//! frames redirected *into* a veth (`XDP_TX`, `XDP_REDIRECT` to another device,
//! `ndo_xdp_xmit`); it does not apply here, because a copy-mode socket transmits through
//! the ordinary skb path (`dev_direct_xmit`).
//!
//! A restarted server may find its queue still held for a moment by the socket it closed
//! (the kernel releases it from a work item): [`AfXdpPort::open`] retries the bind for up
//! to 2 s before reporting the queue busy.
//!
//! # What a real NIC needs
//!
//! AF_XDP hands up frames as they arrived, with no checksum metadata
//! ([`Capabilities::rx_csum_offload`] is false): a local Linux peer must not send
//! `CHECKSUM_PARTIAL` frames (`ethtool -K PEER tx off` on a veth peer), and GRO/LRO should
//! be off (`ethtool -K DEV gro off lro off`). Frames above `frame_size - 256` bytes are
//! dropped by the kernel (counted in `rx_ring_full` with the other kernel drops). With
//! several queues, steer the stack's traffic to the port's queue (`ethtool -N`/RSS) or
//! open one port per queue in one process (not supported yet, see above).
//!
//! # Counters
//!
//! `rx_ring_full` adds the kernel's drops for this socket (`XDP_STATISTICS`: in copy mode
//! `rx_dropped`, which covers a full RX ring, an empty fill ring and oversized frames;
//! with zero-copy also `rx_ring_full`), read with one `getsockopt` per stats read.
//! `tx_errors` adds `tx_invalid_descs` (none are expected: descriptors are checked before
//! they are queued).

mod mem;
mod ring;
mod uapi;
mod xdp_prog;

pub use xdp_prog::XdpMode;

use self::mem::Mapping;
use self::ring::{ConsRing, ProdRing};
use self::uapi::*;
use crate::backend::sys;
use crate::error::check_ifname;
use crate::port::{Capabilities, RxMeta, RxQueue, TxQueue};
use crate::prepared::{PrepMode, PreparedId};
use crate::stats::PortStats;
use crate::Error;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::Arc;
use std::time::Duration;

/// What the socket, the UMEM registration and the program need, said once for every line.
const NEED: &str = "needs CAP_NET_RAW, CAP_NET_ADMIN and CAP_BPF (or CAP_SYS_ADMIN): run as root";

const ETH_HLEN: usize = 14;
const VLAN_HLEN: usize = 4;
const ETH_P_8021Q: u16 = 0x8100;

/// Settings of an AF_XDP port. Start from [`AfXdpConfig::new`] and change fields.
///
/// The defaults: 2 KiB frames, a 2048-entry RX ring (and as many RX frames), a 1024-entry
/// TX ring (and as many TX frames), 4096 prepared frames: a 14 MiB UMEM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AfXdpConfig {
    /// The network interface to open.
    pub ifname: String,
    /// The device queue this port serves (also reported as [`Capabilities::queue_id`]).
    pub queue_id: u16,
    /// Where the XDP program runs.
    pub xdp_mode: XdpMode,
    /// Bind with `XDP_ZEROCOPY` (refused by drivers without AF_XDP zero-copy, such as
    /// veth) instead of `XDP_COPY`.
    pub zero_copy: bool,
    /// UMEM chunk size: 2048 or 4096 bytes. The largest frame received is 256 bytes less.
    pub frame_size: usize,
    /// Entries of the RX ring and of the fill ring, and RX frames (a power of two).
    pub rx_ring: usize,
    /// Entries of the TX ring, and TX frames (a power of two).
    pub tx_ring: usize,
    /// UMEM frames reserved for prepared packets.
    pub prepared_capacity: usize,
    /// Total UMEM frames; when set, the frames beyond the two rings' go to prepared
    /// packets and `prepared_capacity` is ignored.
    pub umem_frames: Option<usize>,
    /// Put the UMEM on 2 MiB huge pages (`MAP_HUGETLB`; needs `vm.nr_hugepages`).
    pub hugepages: bool,
    /// MAC address the stack uses; `None` takes the interface's own.
    pub mac: Option<[u8; 6]>,
}

impl Default for AfXdpConfig {
    fn default() -> Self {
        AfXdpConfig {
            ifname: String::new(),
            queue_id: 0,
            xdp_mode: XdpMode::Auto,
            zero_copy: false,
            frame_size: 2048,
            rx_ring: 2048,
            tx_ring: 1024,
            prepared_capacity: 4096,
            umem_frames: None,
            hugepages: false,
            mac: None,
        }
    }
}

impl AfXdpConfig {
    /// Defaults for interface `ifname`.
    pub fn new(ifname: impl Into<String>) -> Self {
        AfXdpConfig {
            ifname: ifname.into(),
            ..Default::default()
        }
    }
}

/// Frame counts derived from a config, checked before anything is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Geometry {
    frame: usize,
    rx: usize,
    tx: usize,
    prepared: usize,
    /// Completion ring entries: room for every frame the TX side can have in flight.
    cq: usize,
}

impl Geometry {
    fn new(cfg: &AfXdpConfig) -> Result<Geometry, Error> {
        let bad = |what: String| Err(Error::InvalidConfig { what });
        let f = cfg.frame_size;
        if f != 2048 && f != 4096 {
            return bad(format!("frame_size {f} must be 2048 or 4096"));
        }
        for (name, n) in [("rx_ring", cfg.rx_ring), ("tx_ring", cfg.tx_ring)] {
            if !n.is_power_of_two() || !(8..=1 << 20).contains(&n) {
                return bad(format!(
                    "{name} {n} must be a power of two from 8 to {}",
                    1 << 20
                ));
            }
        }
        let rings = cfg.rx_ring + cfg.tx_ring;
        let prepared = match cfg.umem_frames {
            Some(n) if n < rings => {
                return bad(format!(
                    "umem_frames {n} is fewer than the rings' {rings} frames \
                     (rx_ring {} + tx_ring {})",
                    cfg.rx_ring, cfg.tx_ring
                ))
            }
            Some(n) => n - rings,
            None => cfg.prepared_capacity,
        };
        let total = rings.saturating_add(prepared);
        if total.saturating_mul(f) > 1 << 32 {
            return bad(format!(
                "UMEM of {total} frames of {f} bytes is larger than 4 GiB"
            ));
        }
        let cq = (cfg.tx_ring + prepared).next_power_of_two();
        Ok(Geometry {
            frame: f,
            rx: cfg.rx_ring,
            tx: cfg.tx_ring,
            prepared,
            cq,
        })
    }

    fn total(&self) -> usize {
        self.rx + self.tx + self.prepared
    }

    /// UMEM offsets where the TX frames and the prepared frames start.
    fn tx_start(&self) -> u64 {
        (self.rx * self.frame) as u64
    }

    fn prep_start(&self) -> u64 {
        ((self.rx + self.tx) * self.frame) as u64
    }
}

/// What both halves share: the socket, the UMEM and the attached program. Fields drop in
/// order: the program is detached before the socket closes.
#[derive(Debug)]
struct Shared {
    prog: xdp_prog::XdpProgram,
    sock: OwnedFd,
    umem: Mapping,
    dev: String,
    zero_copy: bool,
}

impl Shared {
    /// A frame of the UMEM as a raw pointer (bounds are the caller's to check).
    #[inline]
    fn at(&self, addr: u64) -> *mut u8 {
        debug_assert!((addr as usize) < self.umem.len());
        // SAFETY: callers pass UMEM offsets inside the mapping (frame arithmetic bounded
        // by the geometry the UMEM was registered with).
        unsafe { self.umem.base().add(addr as usize) }
    }

    /// The kernel's counters for this socket (one `getsockopt`), `None` if unavailable.
    fn kernel_stats(&self) -> Option<XdpStatistics> {
        let mut st = XdpStatistics::default();
        // SAFETY: XDP_STATISTICS writes at most `len` bytes of plain counters into `st`.
        unsafe { get_opt(&self.sock, XDP_STATISTICS, &mut st) }
            .ok()
            .map(|_| st)
    }
}

/// `getsockopt(SOL_XDP, name)` into `out`; the length the kernel wrote.
///
/// # Safety
///
/// `T` must be plain data valid for any bytes the kernel writes for option `name`.
unsafe fn get_opt<T>(fd: &OwnedFd, name: libc::c_int, out: &mut T) -> io::Result<usize> {
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `out` and `len` describe a writable `T`; the kernel writes at most `len`
    // bytes, and any bytes are a valid `T` (the caller's contract).
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            SOL_XDP,
            name,
            (out as *mut T).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(len as usize)
}

fn set_opt<T>(fd: &OwnedFd, name: libc::c_int, val: &T) -> io::Result<()> {
    // SAFETY: `val` points to a live `T` of the size passed, which is the option's type.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            SOL_XDP,
            name,
            (val as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The receive half: the RX ring and the fill ring.
#[derive(Debug)]
pub struct AfXdpRx {
    rx: ConsRing<XdpDesc>,
    fill: ProdRing<u64>,
    shared: Arc<Shared>,
    /// Chunk size.
    frame: u64,
    /// End of the RX frames' part of the UMEM (they start at 0).
    rx_end: u64,
    stats: PortStats,
}

impl AfXdpRx {
    /// A zero-copy driver that sleeps until told there are fill-ring frames again.
    #[cold]
    fn wake_driver(&self) {
        // SAFETY: recvfrom with no buffer only wakes the driver's RX processing.
        unsafe {
            libc::recvfrom(
                self.shared.sock.as_raw_fd(),
                ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                ptr::null_mut(),
                ptr::null_mut(),
            );
        }
    }
}

impl RxQueue for AfXdpRx {
    #[inline]
    fn recv_burst<F: FnMut(&mut [u8], &RxMeta)>(&mut self, max: usize, mut f: F) -> usize {
        let want = max.min(self.rx.size() as usize) as u32;
        let n = self.rx.available(want);
        if n == 0 {
            if self.shared.zero_copy && self.fill.needs_wakeup() {
                self.wake_driver();
            }
            return 0;
        }
        // Every RX frame is either in the fill ring, in the RX ring or with the kernel, and
        // the fill ring holds them all: there is always room to give these back.
        let n = n.min(self.fill.free(n));
        let mask = !(self.frame - 1);
        let mut handed = 0;
        for i in 0..n {
            let d = self.rx.get(i);
            if i + 1 < n {
                // The kernel wrote the next frame from another CPU (copy mode on veth
                // runs on the sender's): start loading its start while this one is
                // handled. Only a hint, so an address not checked yet is harmless.
                let next = self.rx.get(i + 1);
                let at = self.shared.umem.base().wrapping_add(next.addr as usize);
                sys::prefetch(at, (next.len as usize).min(sys::PREFETCH_BYTES));
            }
            let chunk = d.addr & mask;
            let len = u64::from(d.len);
            if chunk < self.rx_end && len > 0 && (d.addr - chunk) + len <= self.frame {
                // SAFETY: the frame lies inside one RX chunk of the UMEM (checked above);
                // the kernel posted it on the RX ring and does not touch it until it is
                // back in the fill ring, which happens after this call of `f`; the TX half
                // never touches RX chunks; the slice does not outlive the call.
                let frame = unsafe {
                    std::slice::from_raw_parts_mut(self.shared.at(d.addr), d.len as usize)
                };
                let meta = RxMeta {
                    len: d.len,
                    ..RxMeta::default()
                };
                f(frame, &meta);
                handed += 1;
                self.stats.rx_bytes += len;
            } else {
                self.stats.rx_other_drops += 1;
            }
            if chunk < self.rx_end {
                self.fill.push(chunk);
            }
        }
        self.rx.release(n);
        self.fill.submit();
        if handed > 0 {
            self.stats.rx_frames += handed;
            self.stats.rx_bursts += 1;
        }
        handed as usize
    }

    fn wait(&mut self, timeout: Duration) -> Result<bool, Error> {
        if self.rx.ready() {
            return Ok(true);
        }
        sys::poll_readable(self.shared.sock.as_raw_fd(), timeout).map_err(|e| Error::Io {
            what: format!("poll of the AF_XDP socket on {:?}", self.shared.dev),
            source: e,
        })
    }

    /// One `getsockopt(XDP_STATISTICS)` for the kernel's drops: a system call per stats
    /// read, never per frame or burst.
    fn stats(&self) -> PortStats {
        let mut s = self.stats;
        if let Some(k) = self.shared.kernel_stats() {
            // There are as many RX frames as RX ring entries, so a full RX ring is an empty
            // fill ring: in copy mode the kernel counts that drop (and a frame too long for
            // a chunk) in rx_dropped, once; the conformance suite checks the sum exactly.
            // A zero-copy driver counts a full RX ring in rx_ring_full instead.
            s.rx_ring_full += if self.shared.zero_copy {
                k.rx_dropped + k.rx_ring_full
            } else {
                k.rx_dropped
            };
        }
        s
    }
}

/// State of one prepared frame.
#[derive(Clone, Copy, Debug)]
struct PrepSlot {
    len: u32,
    /// Sent by descriptor and not yet back on the completion ring.
    in_flight: bool,
}

/// The transmit half: the TX ring, the completion ring, the free TX frames and the
/// prepared frames.
#[derive(Debug)]
pub struct AfXdpTx {
    tx: ProdRing<XdpDesc>,
    cq: ConsRing<u64>,
    shared: Arc<Shared>,
    frame: u64,
    tx_start: u64,
    tx_end: u64,
    prep_start: u64,
    /// TX frames not in flight (UMEM offsets), top = next to lend. Never above `tx_frames`.
    free: Vec<u64>,
    tx_frames: usize,
    prepared: Vec<PrepSlot>,
    prepared_capacity: usize,
    /// Frames committed since the last flush.
    pending: usize,
    reserved: bool,
    /// Longest untagged frame the device sends (`mtu + 14`).
    max_wire: usize,
    stats: PortStats,
}

impl AfXdpTx {
    /// `len` bytes of the UMEM at `addr`, mutable.
    ///
    /// # Safety
    ///
    /// `addr..addr + len` must lie in one TX or prepared chunk that is not in flight, and
    /// no other borrow of it may be live.
    #[inline]
    unsafe fn bytes_mut(&mut self, addr: u64, len: usize) -> &mut [u8] {
        debug_assert!(addr >= self.tx_start && len <= self.frame as usize);
        // SAFETY: the caller's contract; the chunk is ours alone while not in flight.
        unsafe { std::slice::from_raw_parts_mut(self.shared.at(addr), len) }
    }

    fn prep_addr(&self, idx: usize) -> u64 {
        self.prep_start + idx as u64 * self.frame
    }

    /// Take back the frames the kernel has finished sending.
    #[inline]
    fn reclaim(&mut self) {
        let n = self.cq.available(self.cq.size());
        if n == 0 {
            return;
        }
        let mask = !(self.frame - 1);
        for i in 0..n {
            let chunk = self.cq.get(i) & mask;
            if chunk >= self.tx_start && chunk < self.tx_end {
                if self.free.len() < self.tx_frames {
                    self.free.push(chunk);
                }
            } else if chunk >= self.prep_start {
                let idx = ((chunk - self.prep_start) / self.frame) as usize;
                if let Some(p) = self.prepared.get_mut(idx) {
                    p.in_flight = false;
                }
            }
        }
        self.cq.release(n);
    }

    /// A free TX frame and a free TX ring entry, reclaiming when either looks short.
    #[inline]
    fn have_room(&mut self, frame_needed: bool) -> bool {
        let ok = |s: &mut Self| (!frame_needed || !s.free.is_empty()) && s.tx.free(1) > 0;
        if ok(self) {
            return true;
        }
        self.reclaim();
        ok(self)
    }

    /// Check a frame's length for the wire and queue its descriptor (room was checked).
    #[inline]
    fn queue(&mut self, addr: u64, len: usize) -> bool {
        if len < ETH_HLEN {
            self.stats.tx_bad_len += 1;
            return false;
        }
        if len > self.max_wire {
            // The kernel sends at most mtu + 14 bytes, 4 more with an 802.1Q tag.
            // SAFETY: bytes 12..14 of a chunk this half owns and is filling (len >= 14).
            let et = unsafe { ptr::read(self.shared.at(addr + 12).cast::<[u8; 2]>()) };
            if u16::from_be_bytes(et) != ETH_P_8021Q || len > self.max_wire + VLAN_HLEN {
                self.stats.tx_errors += 1;
                return false;
            }
        }
        if !self.tx.push(XdpDesc {
            addr,
            len: len as u32,
            options: 0,
        }) {
            self.stats.tx_ring_full += 1;
            return false;
        }
        self.pending += 1;
        self.stats.tx_frames += 1;
        self.stats.tx_bytes += len as u64;
        true
    }

    /// Kick the kernel until it stops making progress on the TX ring. In copy mode one
    /// `sendto` sends a bounded batch and says `EAGAIN` when more is left.
    fn kick(&mut self) -> Result<(), Error> {
        self.stats.tx_kicks += 1;
        let rounds = self.tx.size() / 16 + 4;
        for _ in 0..rounds {
            let before = self.tx.outstanding();
            // SAFETY: sendto with no buffer and no address only makes the kernel process
            // the socket's TX ring.
            let rc = unsafe {
                libc::sendto(
                    self.shared.sock.as_raw_fd(),
                    ptr::null(),
                    0,
                    libc::MSG_DONTWAIT,
                    ptr::null(),
                    0,
                )
            };
            if rc < 0 {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    // More left (copy mode batch), completion ring or device busy, or
                    // memory short: what is left goes at the next flush.
                    Some(
                        libc::EAGAIN | libc::EBUSY | libc::ENOBUFS | libc::EINTR | libc::ENOMEM,
                    ) => {}
                    _ => {
                        return Err(Error::from_io(
                            format!("AF_XDP transmit on {:?}", self.shared.dev),
                            &self.shared.dev,
                            NEED,
                            e,
                        ))
                    }
                }
            }
            if self.shared.zero_copy {
                // The driver sends asynchronously once woken.
                break;
            }
            let after = self.tx.outstanding();
            if after == 0 || after >= before {
                break;
            }
        }
        Ok(())
    }
}

impl TxQueue for AfXdpTx {
    #[inline]
    fn tx_space(&mut self) -> usize {
        self.reclaim();
        let ring = self.tx.free(self.tx.size()) as usize;
        ring.min(self.free.len())
    }

    #[inline]
    fn slot_size(&self) -> usize {
        self.frame as usize
    }

    #[inline]
    fn reserve(&mut self) -> Option<&mut [u8]> {
        if !self.have_room(true) {
            self.stats.tx_ring_full += 1;
            self.reserved = false;
            return None;
        }
        let addr = *self.free.last()?;
        self.reserved = true;
        // SAFETY: `addr` is a free TX chunk (not in flight), lent for as long as the
        // returned borrow of `self` lives.
        Some(unsafe { self.bytes_mut(addr, self.frame as usize) })
    }

    #[inline]
    fn commit(&mut self, len: usize) -> bool {
        let reserved = std::mem::take(&mut self.reserved);
        let top = self.free.last().copied();
        match top {
            Some(addr) if reserved && len > 0 && len <= self.frame as usize => {
                if self.queue(addr, len) {
                    self.free.pop();
                    true
                } else {
                    false
                }
            }
            _ => {
                self.stats.tx_bad_len += 1;
                false
            }
        }
    }

    fn pending(&self) -> usize {
        self.pending
    }

    fn flush(&mut self) -> Result<usize, Error> {
        let n = std::mem::take(&mut self.pending);
        self.tx.submit();
        // Nothing left in the ring (nothing new, or a busy-polling kernel took it): no
        // system call.
        if self.tx.outstanding() == 0 || !self.tx.needs_wakeup() {
            return Ok(n);
        }
        self.kick()?;
        Ok(n)
    }

    fn prepare(&mut self, image: &[u8]) -> Result<PreparedId, Error> {
        if image.is_empty() || image.len() > self.frame as usize {
            return Err(Error::FrameTooLarge {
                len: image.len(),
                max: self.frame as usize,
            });
        }
        if self.prepared.len() >= self.prepared_capacity {
            return Err(Error::PoolFull {
                capacity: self.prepared_capacity,
            });
        }
        let idx = self.prepared.len();
        // SAFETY: a prepared chunk never handed out or sent before.
        unsafe { self.bytes_mut(self.prep_addr(idx), image.len()) }.copy_from_slice(image);
        self.prepared.push(PrepSlot {
            len: image.len() as u32,
            in_flight: false,
        });
        Ok(PreparedId(idx as u32))
    }

    fn prepared(&self, id: PreparedId) -> Option<&[u8]> {
        let p = self.prepared.get(id.0 as usize)?;
        // SAFETY: a prepared chunk inside the UMEM; only this half writes it (through
        // `&mut self`), and the kernel only reads it.
        Some(unsafe {
            std::slice::from_raw_parts(
                self.shared.at(self.prep_addr(id.0 as usize)),
                p.len as usize,
            )
        })
    }

    fn prepared_mut(&mut self, id: PreparedId) -> Option<&mut [u8]> {
        let len = self.prepared.get(id.0 as usize)?.len as usize;
        // SAFETY: a prepared chunk only this half writes, borrowed through `&mut self`.
        // If a send of it is in flight, the kernel may read it meanwhile. In copy mode it
        // copies inside our own `sendto`, so a queued send sees a change whole or not at
        // all, as the trait asks; a zero-copy NIC reads it on its own time (module docs).
        Some(unsafe { self.bytes_mut(self.prep_addr(id.0 as usize), len) })
    }

    fn send_prepared<R: FnOnce(&mut [u8])>(
        &mut self,
        id: PreparedId,
        mode: PrepMode,
        rewrite: R,
    ) -> bool {
        self.reserved = false;
        let idx = id.0 as usize;
        let Some(&slot) = self.prepared.get(idx) else {
            self.stats.tx_bad_prepared += 1;
            return false;
        };
        let len = slot.len as usize;
        let src = self.prep_addr(idx);
        let mut in_flight = slot.in_flight;
        if mode == PrepMode::PreCopy && in_flight {
            self.reclaim();
            in_flight = self.prepared[idx].in_flight;
        }
        let by_reference = mode == PrepMode::PreCopy && !in_flight;
        if !self.have_room(!by_reference) {
            self.stats.tx_ring_full += 1;
            return false;
        }
        if by_reference {
            // SAFETY: the prepared chunk is not in flight, so the kernel is not reading it.
            rewrite(unsafe { self.bytes_mut(src, len) });
            if !self.queue(src, len) {
                return false;
            }
            self.prepared[idx].in_flight = true;
            self.stats.prepared_precopy += 1;
            return true;
        }
        let Some(&dst) = self.free.last() else {
            return false;
        };
        // SAFETY: `dst` is a free TX chunk and `src` a prepared chunk: distinct chunks,
        // both inside the UMEM; the kernel may read `src` (in flight) but never writes it.
        unsafe {
            ptr::copy_nonoverlapping(self.shared.at(src), self.shared.at(dst), len);
        }
        // SAFETY: `dst` is a free TX chunk, ours until queued.
        rewrite(unsafe { self.bytes_mut(dst, len) });
        if !self.queue(dst, len) {
            return false;
        }
        self.free.pop();
        if mode == PrepMode::PreCopy {
            self.stats.prepared_precopy += 1;
            self.stats.prepared_clones += 1;
        } else {
            self.stats.prepared_memcpy += 1;
        }
        true
    }

    fn stats(&self) -> PortStats {
        let mut s = self.stats;
        if let Some(k) = self.shared.kernel_stats() {
            s.tx_errors += k.tx_invalid_descs;
        }
        s
    }
}

/// An AF_XDP port: one socket on one queue of a device (see the module docs).
#[derive(Debug)]
pub struct AfXdpPort {
    rx: AfXdpRx,
    tx: AfXdpTx,
    caps: Capabilities,
}

impl AfXdpPort {
    /// Open queue `cfg.queue_id` of `cfg.ifname` (in the calling thread's network
    /// namespace) and attach the XDP program that steers it to this port.
    ///
    /// Errors, each one line: a malformed name ([`Error::InvalidInterfaceName`]), an
    /// unusable setting or queue ([`Error::InvalidConfig`]), no such device
    /// ([`Error::NoSuchDevice`]), not root ([`Error::PermissionDenied`]), a kernel without
    /// AF_XDP, a refused program (with the verifier's log) or attachment, or another
    /// failed step ([`Error::Io`] naming it).
    pub fn open(cfg: AfXdpConfig) -> Result<Self, Error> {
        check_ifname(&cfg.ifname)?;
        let geo = Geometry::new(&cfg)?;
        let dev = cfg.ifname.as_str();
        let ifindex = sys::if_index(dev)?;
        let mtu = sys::if_mtu(dev)?;
        let mac = match cfg.mac {
            Some(m) => m,
            None => sys::if_mac(dev)?,
        };
        let (rx_queues, tx_queues) = queue_counts(dev);
        if cfg.queue_id >= rx_queues {
            return Err(Error::InvalidConfig {
                what: format!(
                    "queue {} of {dev:?}: the device has {rx_queues} RX queue(s)",
                    cfg.queue_id
                ),
            });
        }
        let io_err = |what: String, e: io::Error| Error::from_io(what, dev, NEED, e);

        // SAFETY: plain socket(2); the result is checked before use.
        let fd = unsafe { libc::socket(AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EAFNOSUPPORT) {
                return Err(Error::Io {
                    what: format!(
                        "AF_XDP socket for {dev:?}: this kernel has no AF_XDP \
                         (CONFIG_XDP_SOCKETS)"
                    ),
                    source: e,
                });
            }
            return Err(io_err(format!("AF_XDP socket for {dev:?}"), e));
        }
        // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
        let sock = unsafe { OwnedFd::from_raw_fd(fd) };

        let umem_len = geo.total() * geo.frame;
        let umem = Mapping::anonymous(umem_len, cfg.hugepages).map_err(|e| {
            let hint = if cfg.hugepages {
                " on huge pages (are any reserved? vm.nr_hugepages)"
            } else {
                ""
            };
            Error::Io {
                what: format!("UMEM of {umem_len} bytes for {dev:?}{hint}"),
                source: e,
            }
        })?;
        let reg = XdpUmemReg {
            addr: umem.base() as u64,
            len: umem_len as u64,
            chunk_size: geo.frame as u32,
            ..Default::default()
        };
        set_opt(&sock, XDP_UMEM_REG, &reg).map_err(|e| {
            io_err(
                format!(
                    "XDP_UMEM_REG ({} frames of {} bytes) on {dev:?} (locked-memory limit?)",
                    geo.total(),
                    geo.frame
                ),
                e,
            )
        })?;
        for (opt, n, name) in [
            (XDP_UMEM_FILL_RING, geo.rx, "fill"),
            (XDP_UMEM_COMPLETION_RING, geo.cq, "completion"),
            (XDP_RX_RING, geo.rx, "RX"),
            (XDP_TX_RING, geo.tx, "TX"),
        ] {
            set_opt(&sock, opt, &(n as libc::c_int))
                .map_err(|e| io_err(format!("{name} ring of {n} entries on {dev:?}"), e))?;
        }
        let mut off = XdpMmapOffsets::default();
        // SAFETY: XDP_MMAP_OFFSETS writes plain u64 offsets.
        let got = unsafe { get_opt(&sock, XDP_MMAP_OFFSETS, &mut off) }
            .map_err(|e| io_err(format!("XDP_MMAP_OFFSETS on {dev:?}"), e))?;
        if got != size_of::<XdpMmapOffsets>() {
            return Err(Error::Io {
                what: format!("XDP_MMAP_OFFSETS on {dev:?}: kernel too old (no ring flags)"),
                source: io::Error::from_raw_os_error(libc::EPROTO),
            });
        }
        let map_err = |name: &'static str| {
            move |e: io::Error| Error::Io {
                what: format!("mmap of the AF_XDP {name} ring on {dev:?}"),
                source: e,
            }
        };
        let mut fill =
            ProdRing::<u64>::map(&sock, &off.fr, geo.rx as u32, XDP_UMEM_PGOFF_FILL_RING)
                .map_err(map_err("fill"))?;
        let cq = ConsRing::<u64>::map(
            &sock,
            &off.cr,
            geo.cq as u32,
            XDP_UMEM_PGOFF_COMPLETION_RING,
        )
        .map_err(map_err("completion"))?;
        let rx = ConsRing::<XdpDesc>::map(&sock, &off.rx, geo.rx as u32, XDP_PGOFF_RX_RING)
            .map_err(map_err("RX"))?;
        let tx = ProdRing::<XdpDesc>::map(&sock, &off.tx, geo.tx as u32, XDP_PGOFF_TX_RING)
            .map_err(map_err("TX"))?;
        // Every RX frame goes to the kernel now, before anything can arrive.
        for i in 0..geo.rx {
            fill.push((i * geo.frame) as u64);
        }
        fill.submit();

        let sa = SockaddrXdp {
            sxdp_family: AF_XDP as u16,
            sxdp_flags: XDP_USE_NEED_WAKEUP
                | if cfg.zero_copy {
                    XDP_ZEROCOPY
                } else {
                    XDP_COPY
                },
            sxdp_ifindex: ifindex as u32,
            sxdp_queue_id: u32::from(cfg.queue_id),
            sxdp_shared_umem_fd: 0,
        };
        let bind = || {
            // SAFETY: `sa` is a valid sockaddr_xdp and the length passed is its size.
            let rc = unsafe {
                libc::bind(
                    sock.as_raw_fd(),
                    (&sa as *const SockaddrXdp).cast(),
                    size_of::<SockaddrXdp>() as libc::socklen_t,
                )
            };
            if rc < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        };
        let mut bound = bind();
        // A socket closed just before (a restarted server) releases the queue from a
        // kernel work item shortly after its close: wait a little for it.
        let start = std::time::Instant::now();
        while matches!(&bound, Err(e) if e.raw_os_error() == Some(libc::EBUSY))
            && start.elapsed() < Duration::from_secs(2)
        {
            std::thread::sleep(Duration::from_millis(20));
            bound = bind();
        }
        if let Err(e) = bound {
            let hint = match e.raw_os_error() {
                Some(libc::EOPNOTSUPP) if cfg.zero_copy => {
                    " (the driver has no AF_XDP zero-copy: leave zero_copy off)"
                }
                Some(libc::EBUSY) => " (another AF_XDP socket holds that queue)",
                _ => "",
            };
            return Err(io_err(
                format!(
                    "bind of the AF_XDP socket to {dev:?} queue {}{hint}",
                    cfg.queue_id
                ),
                e,
            ));
        }
        let mut opts = XdpOptions::default();
        // SAFETY: XDP_OPTIONS writes one u32 of flags.
        let zero_copy = unsafe { get_opt(&sock, XDP_OPTIONS, &mut opts) }.is_ok()
            && opts.flags & XDP_OPTIONS_ZEROCOPY != 0;

        let entries = u32::from(rx_queues.max(tx_queues));
        let prog = xdp_prog::attach(
            ifindex as u32,
            u32::from(cfg.queue_id),
            entries,
            &sock,
            cfg.xdp_mode,
        )
        .map_err(|e| prog_error(e, dev))?;

        let shared = Arc::new(Shared {
            prog,
            sock,
            umem,
            dev: dev.to_string(),
            zero_copy,
        });
        let frame = geo.frame as u64;
        let rx = AfXdpRx {
            rx,
            fill,
            shared: shared.clone(),
            frame,
            rx_end: geo.tx_start(),
            stats: PortStats::default(),
        };
        let mut free = Vec::with_capacity(geo.tx);
        // Lowest addresses on top, so a quiet port reuses the same few frames.
        for i in (0..geo.tx).rev() {
            free.push(geo.tx_start() + (i * geo.frame) as u64);
        }
        let tx = AfXdpTx {
            tx,
            cq,
            shared,
            frame,
            tx_start: geo.tx_start(),
            tx_end: geo.prep_start(),
            prep_start: geo.prep_start(),
            free,
            tx_frames: geo.tx,
            prepared: Vec::with_capacity(geo.prepared),
            prepared_capacity: geo.prepared,
            pending: 0,
            reserved: false,
            max_wire: mtu + ETH_HLEN,
            stats: PortStats::default(),
        };
        let caps = Capabilities {
            mac,
            mtu,
            // A received frame starts XDP_PACKET_HEADROOM into its chunk.
            max_frame: geo.frame - XDP_PACKET_HEADROOM,
            rx_queues,
            tx_queues,
            queue_id: cfg.queue_id,
            rx_ring_size: geo.rx,
            tx_ring_size: geo.tx,
            zero_copy_prepared: true,
            rx_csum_offload: false,
            tx_csum_offload: false,
            rss: false,
        };
        Ok(AfXdpPort { rx, tx, caps })
    }

    /// Where the XDP program ended up running (never [`XdpMode::Auto`]).
    pub fn xdp_mode(&self) -> XdpMode {
        self.rx.shared.prog.mode
    }

    /// With [`XdpMode::Auto`], why native mode was refused (the program then runs in
    /// generic mode).
    pub fn xdp_fallback(&self) -> Option<&str> {
        self.rx.shared.prog.fallback.as_deref()
    }

    /// The socket is bound in zero-copy mode (else copy mode).
    pub fn zero_copy(&self) -> bool {
        self.rx.shared.zero_copy
    }

    /// The socket, for an event loop that polls several ports at once.
    pub fn fd(&self) -> RawFd {
        self.rx.shared.sock.as_raw_fd()
    }

    /// The interface this port is open on.
    pub fn ifname(&self) -> &str {
        &self.rx.shared.dev
    }
}

/// Turn a failed program step into a one-line error.
fn prog_error(e: xdp_prog::ProgError, dev: &str) -> Error {
    let errno = e.source.raw_os_error();
    if matches!(errno, Some(libc::EPERM | libc::EACCES)) && e.log.is_none() {
        return Error::PermissionDenied {
            what: format!("{} on {dev:?}", e.step),
            need: NEED,
        };
    }
    let hint = match errno {
        Some(libc::EBUSY | libc::EEXIST) => {
            " (another XDP program is attached to the device: see `ip link show`)"
        }
        Some(libc::EOPNOTSUPP) if e.step.contains("native") => {
            " (the driver has no native XDP: use generic or auto mode)"
        }
        Some(libc::ENODEV | libc::ENXIO) => return Error::NoSuchDevice { name: dev.into() },
        _ => "",
    };
    let what = match &e.log {
        Some(log) => format!(
            "{} on {dev:?}{hint}; verifier log: {}",
            e.step,
            xdp_prog::one_line_log(log)
        ),
        None => format!("{} on {dev:?}{hint}", e.step),
    };
    Error::Io {
        what,
        source: e.source,
    }
}

/// RX and TX queue counts from `ETHTOOL_GCHANNELS`, 1 each when the driver does not say.
fn queue_counts(dev: &str) -> (u16, u16) {
    let mut ch = EthtoolChannels {
        cmd: ETHTOOL_GCHANNELS,
        ..Default::default()
    };
    let Ok(mut ifr) = sys::ifreq(dev) else {
        return (1, 1);
    };
    ifr.ifr_ifru.ifru_data = (&mut ch as *mut EthtoolChannels).cast();
    if sys::ifreq_ioctl(libc::SIOCETHTOOL, &mut ifr).is_err() {
        return (1, 1);
    }
    let count = |own: u32, combined: u32| (own + combined).clamp(1, u32::from(u16::MAX)) as u16;
    (
        count(ch.rx_count, ch.combined_count),
        count(ch.tx_count, ch.combined_count),
    )
}

crate::port::port_from_fields!(impl[] AfXdpPort => AfXdpRx, AfXdpTx);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_geometry_fits_a_vlan_tagged_1500_byte_frame() {
        let geo = Geometry::new(&AfXdpConfig::new("x")).unwrap();
        assert_eq!(geo.frame - XDP_PACKET_HEADROOM, 1792);
        assert!(geo.frame - XDP_PACKET_HEADROOM >= 1500 + ETH_HLEN + VLAN_HLEN);
        assert_eq!(geo.total(), 2048 + 1024 + 4096);
        assert_eq!(geo.cq, 8192, "room for every TX and prepared frame");
        assert_eq!(geo.tx_start(), 2048 * 2048);
        assert_eq!(geo.prep_start(), 3072 * 2048);
    }

    #[test]
    fn umem_frames_beyond_the_rings_hold_prepared_packets() {
        let cfg = AfXdpConfig {
            rx_ring: 64,
            tx_ring: 64,
            umem_frames: Some(200),
            ..AfXdpConfig::new("x")
        };
        let geo = Geometry::new(&cfg).unwrap();
        assert_eq!(geo.prepared, 72);
        assert_eq!(geo.cq, 256);
    }

    #[test]
    fn unusable_settings_are_one_line_config_errors() {
        let base = AfXdpConfig::new("x");
        for cfg in [
            AfXdpConfig {
                frame_size: 3000,
                ..base.clone()
            },
            AfXdpConfig {
                rx_ring: 1000,
                ..base.clone()
            },
            AfXdpConfig {
                tx_ring: 4,
                ..base.clone()
            },
            AfXdpConfig {
                umem_frames: Some(100),
                ..base.clone()
            },
            AfXdpConfig {
                prepared_capacity: usize::MAX / 2,
                ..base.clone()
            },
        ] {
            let e = Geometry::new(&cfg).unwrap_err();
            assert!(matches!(e, Error::InvalidConfig { .. }), "{e}");
            assert!(!e.to_string().contains('\n'));
        }
    }

    #[test]
    fn a_missing_device_is_named() {
        let e = AfXdpPort::open(AfXdpConfig::new("nmio-nonexist")).unwrap_err();
        assert_eq!(e.to_string(), "no such network device \"nmio-nonexist\"");
        let e = AfXdpPort::open(AfXdpConfig::new("bad/name")).unwrap_err();
        assert!(e.to_string().starts_with("invalid interface name"), "{e}");
    }

    #[test]
    fn verifier_logs_reach_the_error_line() {
        let e = prog_error(
            xdp_prog::ProgError {
                step: "loading the XDP program",
                source: io::Error::from_raw_os_error(libc::EACCES),
                log: Some("0: (61) r2 = ...\ninvalid bpf_context access off=99\n".into()),
            },
            "c0",
        );
        let s = e.to_string();
        assert!(
            s.contains("verifier log: 0: (61) r2 = ... | invalid bpf_context access"),
            "{s}"
        );
        assert!(!s.contains('\n'));
        let e = prog_error(
            xdp_prog::ProgError {
                step: "attaching the XDP program (native mode)",
                source: io::Error::from_raw_os_error(libc::EOPNOTSUPP),
                log: None,
            },
            "c0",
        );
        assert!(e.to_string().contains("use generic or auto mode"), "{e}");
        let e = prog_error(
            xdp_prog::ProgError {
                step: "loading the XDP program",
                source: io::Error::from_raw_os_error(libc::EPERM),
                log: None,
            },
            "c0",
        );
        assert!(matches!(e, Error::PermissionDenied { .. }), "{e}");
    }
}
