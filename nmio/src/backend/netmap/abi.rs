//! The netmap ABI: the structures and requests the kernel module and user space share.
//!
//! They come from `netmap_sys` 0.1.4, a transcription of netmap's `net/netmap.h` and
//! `net/netmap_legacy.h` that builds without netmap's headers (its optional
//! `netmap_with_libs` feature, which compiles `netmap_user.h`, is not used). Two things in it
//! are behind current netmap (API 14) and are handled here instead:
//!
//! - Its `NETMAP_API` is 11. Kernels since the control API rewrite (2018) convert a legacy
//!   `NIOCREGIF` to the new request and ignore `nr_version`; older ones accept any version
//!   in `NETMAP_MIN_API..=NETMAP_MAX_API` (11..=15, later 13..=15). [`REQUEST_API`] (14) is
//!   inside every one of those ranges.
//! - Its `struct netmap_if` has `ni_spare1[5]` where API 14 put `ni_host_tx_rings` and
//!   `ni_host_rx_rings` (the first two words), and its `NETMAP_RXRING` assumes one host
//!   ring. [`host_tx_rings`] reads the count when the kernel says it is API 14 or later.
//!
//! Every offset this backend relies on is checked at compile time below, so a `netmap_sys`
//! that moved a field fails the build instead of corrupting a ring.

pub(crate) use netmap_sys::netmap::{
    netmap_if, netmap_ring, netmap_slot, nmreq, NETMAP_NO_TX_POLL, NIOCREGIF, NIOCRXSYNC,
    NIOCTXSYNC, NR_REG_ONE_NIC,
};

/// A slot's `buf_idx` was changed by user space (the kernel must reload the buffer's
/// address before the NIC uses it).
pub const NS_BUF_CHANGED: u16 = netmap_sys::netmap::NS_BUF_CHANGED;
/// The frame goes on in the next slot (multi-slot frames; not produced for MTU-sized
/// buffers, and counted as truncated when seen).
pub const NS_MOREFRAG: u16 = netmap_sys::netmap::NS_MOREFRAG;

/// The `nr_version` put in `NIOCREGIF` requests (see the module docs).
pub(crate) const REQUEST_API: u32 = 14;

/// Buffer indices 0 and 1 are never handed out by netmap (0 ends the extra-buffer list).
pub(crate) const FIRST_BUF: u32 = 2;

/// Offset of the slot array in a ring: the header is padded to its cache-aligned `sem`.
pub(crate) const RING_SLOTS_OFS: usize = std::mem::offset_of!(netmap_ring, slot);
/// Offset of `ring_ofs[]` in `netmap_if`.
pub(crate) const IF_RING_OFS: usize = std::mem::offset_of!(netmap_if, ring_ofs);

/// Host TX rings listed in `ring_ofs[]` between the NIC TX rings and the NIC RX rings:
/// `ni_host_tx_rings` on API 14 and later, one before it.
pub(crate) fn host_tx_rings(nifp: &netmap_if) -> u32 {
    if nifp.ni_version >= 14 {
        nifp.ni_spare1[0]
    } else {
        1
    }
}

/// `_IOWR` / `_IO` on Linux, to check the numbers `netmap_sys` carries.
const fn ioc(dir: libc::c_ulong, ty: u8, nr: u8, size: usize) -> libc::c_ulong {
    (dir << 30)
        | ((size as libc::c_ulong) << 16)
        | ((ty as libc::c_ulong) << 8)
        | nr as libc::c_ulong
}

// The layout netmap's kernel module uses on 64-bit Linux (netmap.h, netmap_legacy.h).
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<netmap_slot>() == 16);
    assert!(offset_of!(netmap_slot, buf_idx) == 0);
    assert!(offset_of!(netmap_slot, len) == 4);
    assert!(offset_of!(netmap_slot, flags) == 6);
    assert!(offset_of!(netmap_ring, buf_ofs) == 0);
    assert!(offset_of!(netmap_ring, num_slots) == 8);
    assert!(offset_of!(netmap_ring, nr_buf_size) == 12);
    assert!(offset_of!(netmap_ring, ringid) == 16);
    assert!(offset_of!(netmap_ring, dir) == 18);
    assert!(offset_of!(netmap_ring, head) == 20);
    assert!(offset_of!(netmap_ring, cur) == 24);
    assert!(offset_of!(netmap_ring, tail) == 28);
    assert!(offset_of!(netmap_ring, flags) == 32);
    assert!(RING_SLOTS_OFS == 256);
    assert!(offset_of!(netmap_if, ni_version) == 16);
    assert!(offset_of!(netmap_if, ni_tx_rings) == 24);
    assert!(offset_of!(netmap_if, ni_rx_rings) == 28);
    assert!(offset_of!(netmap_if, ni_bufs_head) == 32);
    assert!(offset_of!(netmap_if, ni_spare1) == 36);
    assert!(IF_RING_OFS == 56);
    assert!(size_of::<nmreq>() == 60);
    assert!(offset_of!(nmreq, nr_version) == 16);
    assert!(offset_of!(nmreq, nr_offset) == 20);
    assert!(offset_of!(nmreq, nr_memsize) == 24);
    assert!(offset_of!(nmreq, nr_ringid) == 40);
    assert!(offset_of!(nmreq, nr_arg3) == 48);
    assert!(offset_of!(nmreq, nr_flags) == 52);
    assert!(NIOCREGIF == ioc(3, b'i', 146, size_of::<nmreq>()));
    assert!(NIOCTXSYNC as libc::c_ulong == ioc(0, b'i', 148, 0));
    assert!(NIOCRXSYNC as libc::c_ulong == ioc(0, b'i', 149, 0));
};
