//! The kernel's AF_XDP interface and the XDP-specific parts of eBPF, as far as this backend
//! uses them, written out from `linux/if_xdp.h`, `linux/bpf.h` and `linux/if_link.h` (the
//! `libc` crate lacks some of it); the generic bpf(2) parts are in `backend/bpf.rs`.
//! Layouts are checked against the C sizes in the tests below.

/// `AF_XDP` address family.
pub(super) const AF_XDP: libc::c_int = 44;
/// `SOL_XDP` socket option level.
pub(super) const SOL_XDP: libc::c_int = 283;

// Socket options (`SOL_XDP`).
pub(super) const XDP_MMAP_OFFSETS: libc::c_int = 1;
pub(super) const XDP_RX_RING: libc::c_int = 2;
pub(super) const XDP_TX_RING: libc::c_int = 3;
pub(super) const XDP_UMEM_REG: libc::c_int = 4;
pub(super) const XDP_UMEM_FILL_RING: libc::c_int = 5;
pub(super) const XDP_UMEM_COMPLETION_RING: libc::c_int = 6;
pub(super) const XDP_STATISTICS: libc::c_int = 7;
pub(super) const XDP_OPTIONS: libc::c_int = 8;

// `sockaddr_xdp::sxdp_flags`.
pub(super) const XDP_COPY: u16 = 1 << 1;
pub(super) const XDP_ZEROCOPY: u16 = 1 << 2;
pub(super) const XDP_USE_NEED_WAKEUP: u16 = 1 << 3;

/// A ring's `flags` word: the kernel side sleeps and must be woken by a system call.
pub(super) const XDP_RING_NEED_WAKEUP: u32 = 1 << 0;
/// `xdp_options::flags`: the socket is bound in zero-copy mode.
pub(super) const XDP_OPTIONS_ZEROCOPY: u32 = 1 << 0;

// `mmap` offsets of the four rings.
pub(super) const XDP_PGOFF_RX_RING: i64 = 0;
pub(super) const XDP_PGOFF_TX_RING: i64 = 0x8000_0000;
pub(super) const XDP_UMEM_PGOFF_FILL_RING: i64 = 0x1_0000_0000;
pub(super) const XDP_UMEM_PGOFF_COMPLETION_RING: i64 = 0x1_8000_0000;

/// Headroom the kernel keeps in front of a received frame in each UMEM chunk (copy mode
/// and most drivers): a received frame starts this far into its chunk, and the largest
/// frame received is the chunk size less this.
pub(super) const XDP_PACKET_HEADROOM: usize = 256;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct SockaddrXdp {
    pub sxdp_family: u16,
    pub sxdp_flags: u16,
    pub sxdp_ifindex: u32,
    pub sxdp_queue_id: u32,
    pub sxdp_shared_umem_fd: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct XdpRingOffset {
    pub producer: u64,
    pub consumer: u64,
    pub desc: u64,
    pub flags: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct XdpMmapOffsets {
    pub rx: XdpRingOffset,
    pub tx: XdpRingOffset,
    pub fr: XdpRingOffset,
    pub cr: XdpRingOffset,
}

/// `struct xdp_umem_reg`; `tx_metadata_len` (kernels from 6.8) sits in what older headers
/// leave as tail padding, so the size is 32 bytes either way and 0 means "none".
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct XdpUmemReg {
    pub addr: u64,
    pub len: u64,
    pub chunk_size: u32,
    pub headroom: u32,
    pub flags: u32,
    pub tx_metadata_len: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct XdpStatistics {
    pub rx_dropped: u64,
    pub rx_invalid_descs: u64,
    pub tx_invalid_descs: u64,
    pub rx_ring_full: u64,
    pub rx_fill_ring_empty_descs: u64,
    pub tx_ring_empty_descs: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct XdpOptions {
    pub flags: u32,
}

/// An RX or TX ring entry: a frame at `addr` (an offset into the UMEM) of `len` bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct XdpDesc {
    pub addr: u64,
    pub len: u32,
    pub options: u32,
}

// The XSKMAP, the helper and the context field the XDP program uses; the bpf(2) commands,
// program and attach types and the instruction encoding are in `backend/bpf.rs`.
pub(super) const BPF_MAP_TYPE_XSKMAP: u32 = 17;
/// `BPF_ANY` for map updates: create or replace.
pub(super) const BPF_ANY: u64 = 0;
/// `bpf_redirect_map` helper number.
pub(super) const BPF_FUNC_REDIRECT_MAP: i32 = 51;
/// XDP action returned when the map has no socket for the queue: hand it to the kernel.
pub(super) const XDP_PASS: i32 = 2;
/// Offset of `rx_queue_index` in `struct xdp_md`.
pub(super) const XDP_MD_RX_QUEUE_INDEX: i16 = 16;

// Attach flags (`linux/if_link.h`).
pub(super) const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
pub(super) const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

/// The `BPF_MAP_CREATE` member of `union bpf_attr` (up to `map_extra`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct BpfMapCreateAttr {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub inner_map_fd: u32,
    pub numa_node: u32,
    pub map_name: [u8; 16],
    pub map_ifindex: u32,
    pub btf_fd: u32,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
    pub btf_vmlinux_value_type_id: u32,
    pub map_extra: u64,
}

/// The `BPF_MAP_*_ELEM` member of `union bpf_attr`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct BpfMapElemAttr {
    pub map_fd: u32,
    pub _pad: u32,
    pub key: u64,
    pub value: u64,
    pub flags: u64,
}

/// `struct ethtool_channels` for `ETHTOOL_GCHANNELS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct EthtoolChannels {
    pub cmd: u32,
    pub max_rx: u32,
    pub max_tx: u32,
    pub max_other: u32,
    pub max_combined: u32,
    pub rx_count: u32,
    pub tx_count: u32,
    pub other_count: u32,
    pub combined_count: u32,
}

pub(super) const ETHTOOL_GCHANNELS: u32 = 0x3c;

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    /// Sizes and offsets printed by a C program against Debian's `linux-libc-dev`.
    #[test]
    fn layouts_match_the_c_headers() {
        assert_eq!(size_of::<SockaddrXdp>(), 16);
        assert_eq!(size_of::<XdpMmapOffsets>(), 128);
        assert_eq!(size_of::<XdpUmemReg>(), 32);
        assert_eq!(size_of::<XdpStatistics>(), 48);
        assert_eq!(size_of::<XdpDesc>(), 16);
        assert_eq!(size_of::<BpfMapCreateAttr>(), 72);
        assert_eq!(offset_of!(BpfMapElemAttr, key), 8);
        assert_eq!(size_of::<BpfMapElemAttr>(), 32);
        assert_eq!(size_of::<EthtoolChannels>(), 36);
    }
}
