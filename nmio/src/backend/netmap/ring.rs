//! A view of one netmap ring (header, slots, buffers) and the search for a port's rings in
//! a netmap memory region.
//!
//! The same code reads the region the kernel maps from `/dev/netmap` and the in-memory
//! region of the tests (`mem.rs`), which is laid out identically.
//!
//! Ownership follows netmap(4): slots `head..tail` (cyclically) and their buffers belong to
//! user space, the others to the kernel, which only touches the ring during a sync made by
//! the thread that owns the ring (and the NIC only touches kernel-owned buffers).

use super::abi::{self, netmap_if, netmap_ring, netmap_slot};
use std::mem::size_of;
use std::ptr::{self, NonNull};

/// One slot's descriptor, as a value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotState {
    /// Index of the buffer the slot points at.
    pub buf_idx: u32,
    /// Bytes of the frame in the buffer.
    pub len: u16,
    /// `NS_*` flags ([`super::NS_BUF_CHANGED`], ...).
    pub flags: u16,
}

/// A copy of a ring's pointers and slots (for tests and debugging).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RingState {
    /// Slots in the ring.
    pub num_slots: u32,
    /// First slot owned by user space.
    pub head: u32,
    /// Wake-up point; this backend keeps the next slot to fill (TX) or read (RX) here.
    pub cur: u32,
    /// First slot owned by the kernel.
    pub tail: u32,
    /// Every slot, in ring order.
    pub slots: Vec<SlotState>,
}

impl RingState {
    /// `(to - from)` around the ring.
    pub fn distance(&self, from: u32, to: u32) -> u32 {
        (to + self.num_slots - from) % self.num_slots
    }
}

/// A netmap ring inside a memory region that outlives the view.
///
/// Invariant (kept by [`locate`], the only constructor): the header and the `num_slots`
/// slots lie inside a live region, and buffers `0..nbufs` too; whoever holds a `Ring`
/// also holds (an `Arc` of) the owner of that region.
#[derive(Clone, Copy, Debug)]
pub struct Ring {
    ring: NonNull<netmap_ring>,
    slots: NonNull<netmap_slot>,
    n: u32,
    bufs: NonNull<u8>,
    buf_size: u32,
    nbufs: u32,
}

impl Ring {
    /// The ring at `off` of the region `base..base + len`, checked to lie inside it.
    ///
    /// # Safety
    ///
    /// `base..base + len` must be readable and writable memory for as long as the returned
    /// view (or a copy of it) is used.
    unsafe fn at(base: NonNull<u8>, len: usize, off: usize) -> Result<Ring, String> {
        if !off.is_multiple_of(8) || off.checked_add(abi::RING_SLOTS_OFS).is_none_or(|e| e > len) {
            return Err(format!(
                "ring at offset {off} lies outside the {len}-byte region"
            ));
        }
        // SAFETY: `off` is in bounds (checked) and 8-aligned like the region's base.
        let ring = unsafe { base.add(off) }.cast::<netmap_ring>();
        // SAFETY: the ring header lies inside the region (checked above).
        let (n, buf_size, buf_ofs) = unsafe {
            let r = ring.as_ptr();
            (
                ptr::addr_of!((*r).num_slots).read_volatile(),
                ptr::addr_of!((*r).nr_buf_size).read_volatile(),
                ptr::addr_of!((*r).buf_ofs).read_volatile(),
            )
        };
        if n < 2 {
            return Err(format!("ring at offset {off} has {n} slots"));
        }
        if !(64..=65_535).contains(&buf_size) {
            return Err(format!("ring at offset {off} has {buf_size}-byte buffers"));
        }
        let slots_end = (n as usize)
            .checked_mul(size_of::<netmap_slot>())
            .and_then(|s| s.checked_add(off + abi::RING_SLOTS_OFS));
        if slots_end.is_none_or(|e| e > len) {
            return Err(format!(
                "the {n} slots of the ring at offset {off} overrun the region"
            ));
        }
        let bufs_at = i64::try_from(off)
            .ok()
            .and_then(|o| o.checked_add(buf_ofs))
            .and_then(|b| usize::try_from(b).ok())
            .filter(|&b| b <= len)
            .ok_or_else(|| format!("buffers of the ring at offset {off} outside the region"))?;
        let nbufs = ((len - bufs_at) / buf_size as usize).min(u32::MAX as usize) as u32;
        Ok(Ring {
            ring,
            // SAFETY: the slot array starts inside the region (checked with its end).
            slots: unsafe { ring.cast::<u8>().add(abi::RING_SLOTS_OFS) }.cast(),
            n,
            // SAFETY: `bufs_at <= len`, so this is inside the region or one past its end.
            bufs: unsafe { base.add(bufs_at) },
            buf_size,
            nbufs,
        })
    }

    /// Slots in the ring.
    #[inline]
    pub(crate) fn num_slots(&self) -> u32 {
        self.n
    }

    /// Bytes in one buffer.
    #[inline]
    pub(crate) fn buf_size(&self) -> usize {
        self.buf_size as usize
    }

    /// The slot after `i`.
    #[inline]
    pub(crate) fn next(&self, i: u32) -> u32 {
        if i + 1 == self.n {
            0
        } else {
            i + 1
        }
    }

    /// The slot before `i`.
    #[inline]
    pub(crate) fn prev(&self, i: u32) -> u32 {
        if i == 0 {
            self.n - 1
        } else {
            i - 1
        }
    }

    /// Slots from `from` up to (not including) `to`, around the ring.
    #[inline]
    pub(crate) fn distance(&self, from: u32, to: u32) -> u32 {
        if to >= from {
            to - from
        } else {
            to + self.n - from
        }
    }

    #[inline]
    fn hdr(&self) -> *mut netmap_ring {
        self.ring.as_ptr()
    }

    /// `head`, clamped into the ring (user space writes it; a bad value must not become an
    /// out-of-bounds slot).
    #[inline]
    pub(crate) fn head(&self) -> u32 {
        // SAFETY: the header lies inside the live region (type invariant).
        let v = unsafe { ptr::addr_of!((*self.hdr()).head).read_volatile() };
        v.min(self.n - 1)
    }

    /// `cur`, clamped into the ring.
    #[inline]
    pub(crate) fn cur(&self) -> u32 {
        // SAFETY: as for `head`.
        let v = unsafe { ptr::addr_of!((*self.hdr()).cur).read_volatile() };
        v.min(self.n - 1)
    }

    /// `tail` as the kernel left it; a value outside the ring reads as `head` (nothing
    /// received, no TX room) rather than as a slot that does not exist.
    #[inline]
    pub(crate) fn tail(&self) -> u32 {
        // SAFETY: as for `head`.
        let v = unsafe { ptr::addr_of!((*self.hdr()).tail).read_volatile() };
        if v < self.n {
            v
        } else {
            self.head()
        }
    }

    /// `head` and `cur` as user space wrote them, unclamped (the kernel model checks them).
    pub(crate) fn raw_head_cur(&self) -> (u32, u32) {
        // SAFETY: as for `head`.
        unsafe {
            (
                ptr::addr_of!((*self.hdr()).head).read_volatile(),
                ptr::addr_of!((*self.hdr()).cur).read_volatile(),
            )
        }
    }

    #[inline]
    pub(crate) fn set_head(&self, v: u32) {
        debug_assert!(v < self.n);
        // SAFETY: as for `head`; `head` is a plain u32 owned by user space.
        unsafe { ptr::addr_of_mut!((*self.hdr()).head).write_volatile(v) }
    }

    #[inline]
    pub(crate) fn set_cur(&self, v: u32) {
        debug_assert!(v < self.n);
        // SAFETY: as for `set_head`.
        unsafe { ptr::addr_of_mut!((*self.hdr()).cur).write_volatile(v) }
    }

    /// Kernel side only (the in-memory model's syncs).
    #[inline]
    pub(crate) fn set_tail(&self, v: u32) {
        debug_assert!(v < self.n);
        // SAFETY: as for `set_head`.
        unsafe { ptr::addr_of_mut!((*self.hdr()).tail).write_volatile(v) }
    }

    #[inline]
    fn slot_ptr(&self, i: u32) -> *mut netmap_slot {
        // An index outside the ring is a bug in this backend; stop rather than touch memory
        // outside the slot array.
        assert!(i < self.n, "slot {i} of a {}-slot ring", self.n);
        // SAFETY: `i < n` and the `n` slots lie inside the region (type invariant).
        unsafe { self.slots.as_ptr().add(i as usize) }
    }

    /// Slot `i` (`i < num_slots`).
    #[inline]
    pub(crate) fn slot(&self, i: u32) -> SlotState {
        let s = self.slot_ptr(i);
        // SAFETY: `s` points at a slot inside the live region.
        unsafe {
            SlotState {
                buf_idx: ptr::addr_of!((*s).buf_idx).read_volatile(),
                len: ptr::addr_of!((*s).len).read_volatile(),
                flags: ptr::addr_of!((*s).flags).read_volatile(),
            }
        }
    }

    /// Point slot `i` at buffer `buf_idx`, with `flags`.
    #[inline]
    pub(crate) fn set_buf(&self, i: u32, buf_idx: u32, flags: u16) {
        let s = self.slot_ptr(i);
        // SAFETY: `s` points at a slot inside the live region.
        unsafe {
            ptr::addr_of_mut!((*s).buf_idx).write_volatile(buf_idx);
            ptr::addr_of_mut!((*s).flags).write_volatile(flags);
        }
    }

    /// Set slot `i`'s length and flags.
    #[inline]
    pub(crate) fn set_len_flags(&self, i: u32, len: u16, flags: u16) {
        let s = self.slot_ptr(i);
        // SAFETY: `s` points at a slot inside the live region.
        unsafe {
            ptr::addr_of_mut!((*s).len).write_volatile(len);
            ptr::addr_of_mut!((*s).flags).write_volatile(flags);
        }
    }

    /// Start of buffer `idx`, if it lies inside the region.
    #[inline]
    pub(crate) fn buf(&self, idx: u32) -> Option<NonNull<u8>> {
        if idx >= self.nbufs || idx < abi::FIRST_BUF {
            return None;
        }
        // SAFETY: buffers `0..nbufs` lie inside the live region (type invariant).
        Some(unsafe { self.bufs.add(idx as usize * self.buf_size as usize) })
    }

    /// Buffers `0..n` lie inside the region (higher indices are refused by [`Ring::buf`]).
    #[inline]
    pub(crate) fn buffers(&self) -> u32 {
        self.nbufs
    }

    /// A copy of the pointers and every slot.
    pub(crate) fn state(&self) -> RingState {
        RingState {
            num_slots: self.n,
            head: self.head(),
            cur: self.cur(),
            tail: self.tail(),
            slots: (0..self.n).map(|i| self.slot(i)).collect(),
        }
    }
}

/// The rings and extra buffers of one port, found in its netmap region.
#[derive(Debug)]
pub struct Located {
    pub(crate) tx: Ring,
    pub(crate) rx: Ring,
    pub(crate) nifp: NonNull<netmap_if>,
    /// Extra buffers handed over by `NIOCREGIF` (`ni_bufs_head` list).
    pub(crate) extra: Vec<u32>,
    /// TX and RX rings of the device.
    pub(crate) tx_rings: u32,
    pub(crate) rx_rings: u32,
}

/// Find TX and RX ring `qid` and the `extra_count` extra buffers of the `netmap_if` at
/// `nifp_off` in the region `base..base + len`, checking every offset and index against
/// the region.
///
/// # Safety
///
/// `base..base + len` must be readable and writable memory, 8-aligned, for as long as the
/// result (or a ring copied out of it) is used.
pub(crate) unsafe fn locate(
    base: NonNull<u8>,
    len: usize,
    nifp_off: usize,
    qid: u16,
    extra_count: u32,
) -> Result<Located, String> {
    if !nifp_off.is_multiple_of(8)
        || nifp_off
            .checked_add(abi::IF_RING_OFS)
            .is_none_or(|e| e > len)
    {
        return Err(format!(
            "netmap_if at offset {nifp_off} outside the {len}-byte region"
        ));
    }
    // SAFETY: in bounds and aligned (checked).
    let nifp = unsafe { base.add(nifp_off) }.cast::<netmap_if>();
    // SAFETY: the fixed part of netmap_if lies inside the region; copied out by value.
    let head = unsafe { ptr::read_volatile(nifp.as_ptr()) };
    let (ntx, nrx) = (head.ni_tx_rings, head.ni_rx_rings);
    let q = u32::from(qid);
    if q >= ntx || q >= nrx {
        return Err(format!(
            "queue {qid} asked, the port has {ntx} TX and {nrx} RX rings"
        ));
    }
    let ring_off = |k: u32| -> Result<usize, String> {
        let at = (k as usize)
            .checked_mul(size_of::<isize>())
            .and_then(|o| o.checked_add(nifp_off + abi::IF_RING_OFS))
            .filter(|&o| o + size_of::<isize>() <= len)
            .ok_or_else(|| format!("ring_ofs[{k}] outside the region"))?;
        // SAFETY: `at` is in bounds (checked) and 8-aligned (nifp and ring_ofs are).
        let ofs = unsafe { base.add(at).cast::<isize>().read_volatile() };
        if ofs == 0 {
            return Err(format!("ring {k} is not bound to this port"));
        }
        (nifp_off as isize)
            .checked_add(ofs)
            .and_then(|o| usize::try_from(o).ok())
            .ok_or_else(|| format!("ring_ofs[{k}] = {ofs} points before the region"))
    };
    let host_tx = abi::host_tx_rings(&head);
    let tx_off = ring_off(q)?;
    let rx_off = ring_off(ntx.saturating_add(host_tx).saturating_add(q))?;
    // SAFETY: the caller's contract on the region; `at` checks the rest.
    let tx = unsafe { Ring::at(base, len, tx_off) }?;
    // SAFETY: as above.
    let rx = unsafe { Ring::at(base, len, rx_off) }?;
    let mut extra = Vec::with_capacity(extra_count as usize);
    let mut idx = head.ni_bufs_head;
    while idx != 0 && extra.len() < extra_count as usize {
        let Some(p) = tx.buf(idx) else {
            return Err(format!("extra buffer {idx} outside the region"));
        };
        if extra.contains(&idx) {
            return Err(format!("extra buffer list loops at {idx}"));
        }
        extra.push(idx);
        // SAFETY: an extra buffer inside the region; its first word links the list.
        idx = unsafe { p.cast::<u32>().read_unaligned() };
    }
    Ok(Located {
        tx,
        rx,
        nifp,
        extra,
        tx_rings: ntx,
        rx_rings: nrx,
    })
}

impl Located {
    /// Hand buffers back to the kernel: link them through their first word and point
    /// `ni_bufs_head` at the list, which netmap frees when the port is closed.
    ///
    /// # Safety
    ///
    /// The region must still be live, and every buffer in `bufs` must be owned by the
    /// caller alone (in no ring slot, not in use elsewhere).
    pub(crate) unsafe fn give_back(&self, bufs: &[u32]) {
        let mut head = 0u32;
        for &b in bufs.iter().rev() {
            let Some(p) = self.tx.buf(b) else { continue };
            // SAFETY: a buffer of this region owned by the caller (contract).
            unsafe { p.cast::<u32>().write_unaligned(head) };
            head = b;
        }
        // SAFETY: `nifp` lies inside the live region (checked by `locate`); user space
        // owns `ni_bufs_head`.
        unsafe { ptr::addr_of_mut!((*self.nifp.as_ptr()).ni_bufs_head).write_volatile(head) };
    }

    /// The extra-buffer list `ni_bufs_head` points at now.
    ///
    /// # Safety
    ///
    /// The region must be live and nobody may be writing the listed buffers.
    pub(crate) unsafe fn bufs_list(&self) -> Vec<u32> {
        let mut out = Vec::new();
        // SAFETY: `nifp` lies inside the live region.
        let mut idx = unsafe { ptr::addr_of!((*self.nifp.as_ptr()).ni_bufs_head).read_volatile() };
        while idx != 0 && out.len() <= self.tx.buffers() as usize {
            let Some(p) = self.tx.buf(idx) else { break };
            out.push(idx);
            // SAFETY: a buffer inside the region, read while nobody writes it (contract).
            idx = unsafe { p.cast::<u32>().read_unaligned() };
        }
        out
    }
}
