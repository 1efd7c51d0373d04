//! TAP backend: the stack as a host on a virtual Ethernet link to the host's own kernel.
//!
//! A TAP device is a network interface whose "wire" is a file descriptor: every frame the
//! kernel transmits on the interface is read from the descriptor, every frame written to
//! the descriptor arrives on the interface as if received from a cable
//! (`Documentation/networking/tuntap.rst`). Use it to talk to the host stack, its tools
//! (`ping`, `curl`, `dig`) and whatever it routes to, without a NIC or a second namespace.
//!
//! # Addresses
//!
//! The interface (say `tap0`) is the kernel's end of the link: its MAC and any IP address
//! assigned to it (`ip addr add 10.0.0.1/24 dev tap0`) belong to the kernel. The stack is
//! the other host on that link, so it uses its own MAC ([`TapConfig::mac`], a random
//! locally administered one by default; see [`Capabilities::mac`]) and another IP on the
//! same subnet (10.0.0.2). The kernel then reaches the stack through ARP like any
//! neighbour.
//!
//! # Costs
//!
//! This backend is for reach, not speed. A TAP has no ring: the kernel's interface is one
//! `read(2)` per received frame and one `write(2)` per sent frame. The port batches what it
//! can: [`TapRx::recv_burst`] reads a whole burst into preallocated buffers before handing
//! it up, and [`TapTx`] queues committed frames in a local ring and writes them all at
//! [`flush`](TxQueue::flush), so the system calls happen per kick and never inside a
//! reserve/commit. The kernel also copies every frame both ways. For throughput use
//! `afpacket`, `afxdp` or `dpdk`.
//!
//! # Frames
//!
//! The device is opened with `IFF_TAP | IFF_NO_PI` and, without TSO (see below), without
//! `IFF_VNET_HDR`: frames are plain Ethernet II, with no packet-information or virtio
//! header in front. Either way the TAP does not advertise checksum offload or TSO
//! (`ethtool -k` shows both off), so the kernel finishes every checksum
//! (`skb_checksum_help`) and segments every GSO packet in software before the frame
//! reaches the descriptor. Frames from the kernel are therefore complete (never
//! [`RxFlags::CSUM_PARTIAL`](crate::RxFlags::CSUM_PARTIAL)) and at most MTU + 14 bytes,
//! plus 4 when the kernel inserts an 802.1Q tag; slots are sized for that (MTU + 18). A
//! larger frame (the interface MTU raised behind the port's back) is cut to the buffer by
//! `read(2)` with no sign but the length, so receive buffers have a spare byte: a read that
//! fills one is counted as `rx_truncated`, never handed up cut short.
//!
//! # TCP segmentation offload
//!
//! With [`TapConfig::tso`], [`TxQueue::commit_tso`] takes a TCP super-frame of up to
//! [`TxQueue::tso_max`] bytes (an Ethernet header and a 65,535-byte IPv4 packet) and
//! writes it to the kernel whole: the kernel builds one GSO skb of it, as from a virtio
//! guest, its TCP checksum left open (`CHECKSUM_PARTIAL`). The kernel's TCP on this host
//! takes that skb as it is, as it takes a GRO super-packet, without cutting it or checking
//! the checksum; a packet the kernel forwards elsewhere is cut and checksummed on its way
//! out. One `write(2)` and one pass through the kernel's receive path then carry what would
//! be some 45 full-size frames: sending 256 MiB to a kernel TCP socket on the TAP (the
//! `tap_tso` test, in release mode) took 370-580 us of the sending thread's CPU per MB with
//! TSO against 920-1020 us/MB without.
//!
//! The device is then opened with `IFF_VNET_HDR`, its header size set to the 10 bytes of
//! `struct virtio_net_hdr` (`TUNSETVNETHDRSZ`: a persistent TAP keeps the size its last
//! user set), so every frame either way has that header in front on the descriptor; the
//! port adds and strips it, and callers see plain frames as without TSO. A super-frame's
//! header asks for the offload as a virtio NIC's driver does: `VIRTIO_NET_HDR_F_NEEDS_CSUM`
//! with `csum_start` at the TCP header and `csum_offset` 16, `GSO_TCPV4` (with `GSO_ECN`
//! when CWR is set), `gso_size` = `mss` and `hdr_len` = the headers (copied into the skb's
//! head, the payload into pages); a super-frame of one segment goes without GSO but with
//! the checksum left open. An ordinary frame's header is all zeros: no offload, its
//! checksums complete. The 16-bit fields are in the host's byte order (legacy virtio, which
//! a TAP reads unless set otherwise with `TUNSETVNETLE`/`TUNSETVNETBE`). Nothing else is
//! needed to send super-frames: Linux 6.18 takes them with no `TUNSETOFFLOAD` flag set.
//!
//! Receiving is unchanged. `TUNSETOFFLOAD` says which offloads the reader of the descriptor
//! takes (include/uapi/linux/if_tun.h, `TUN_F_*`); the port sets none, on every open with or
//! without TSO, since a persistent TAP keeps what its last user set (a VM's virtio back end
//! sets checksum offload and TSO). The kernel then still finishes checksums and cuts
//! super-frames before a frame reaches the descriptor, and frames stay within MTU + 18. A
//! received header with `VIRTIO_NET_HDR_F_DATA_VALID` (the kernel had verified the
//! checksum, as for a frame forwarded from a NIC that did) marks the frame
//! [`RxFlags::CSUM_VALID`](crate::RxFlags::CSUM_VALID); one with `NEEDS_CSUM`, which that
//! setting rules out, would be marked [`RxFlags::CSUM_PARTIAL`](crate::RxFlags::CSUM_PARTIAL)
//! and counted in `rx_csum_partial`.
//!
//! Memory: a TX slot must hold a whole super-frame, so with TSO the local TX ring has
//! [`TapConfig::tso_tx_slots`] slots (64 by default) of 65,600 bytes instead of `tx_slots`
//! of MTU + 18: 4.2 MiB. The kernel copies each frame at `write(2)`, so a slot is free again
//! as soon as it is flushed, and the ring needs to hold only what is committed between two
//! kicks. Receive buffers grow by the header only; prepared packets stay ordinary frames.
//!
//! # Lifetime
//!
//! A TAP created by the port lives as long as the port: dropping [`TapPort`] closes the
//! descriptor and the kernel removes the interface with it. A persistent TAP made
//! beforehand (`ip tuntap add dev tap0 mode tap`) survives and can be attached to again
//! ([`TapMode::AttachExisting`]), also by its unprivileged owner if the interface is
//! already up (or `bring_up` is off) and no MTU is set.

use super::sys::{self, NEED_NET_ADMIN};
use super::vnet::{has_cwr, rx_flags, VnetHdr, VNET_HDR_LEN};
use crate::error::check_ifname;
use crate::port::{Capabilities, RxFlags, RxMeta, RxQueue, TxQueue};
use crate::prepared::{self, PrepMode, PreparedId, PreparedPool};
use crate::stats::PortStats;
use crate::tso;
use crate::Error;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

const TUN_PATH: &str = "/dev/net/tun";
const ETH_HLEN: usize = 14;
/// Ethernet header plus one 802.1Q tag; TAP frames carry no FCS.
const FRAME_OVERHEAD: usize = ETH_HLEN + 4;
/// RFC 791: every IPv4 link carries at least 68-byte datagrams.
const MIN_MTU: usize = 68;
const MAX_MTU: usize = 65535;

/// Whether [`TapPort::open`] may create the device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TapMode {
    /// Attach to the TAP of that name if it exists, create it otherwise. A created TAP is
    /// removed when the port is dropped. Creating needs `CAP_NET_ADMIN`.
    #[default]
    CreateOrAttach,
    /// Attach only to an existing (persistent) TAP; fail with [`Error::NoSuchDevice`] if
    /// there is none.
    AttachExisting,
}

/// How to open a [`TapPort`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TapConfig {
    /// Interface name of the TAP device.
    pub ifname: String,
    /// Create the device if missing, or attach only.
    pub mode: TapMode,
    /// Set `IFF_UP` on the interface, so no `ip link set up` is needed (`CAP_NET_ADMIN`
    /// if it is down). A TAP that is down refuses written frames with `EIO`: flush drops
    /// them as `tx_errors`.
    pub bring_up: bool,
    /// The stack's own MAC on the link; `None` picks a random locally administered one.
    /// The TAP interface's MAC is the kernel's and is never used for the stack.
    pub mac: Option<[u8; 6]>,
    /// Receive buffers: the most frames one `recv_burst` reads.
    pub rx_burst: usize,
    /// Slots of the local TX ring: frames that can be committed between flushes.
    pub tx_slots: usize,
    /// Capacity of the prepared-packet pool.
    pub prepared_capacity: usize,
    /// Set the interface MTU to this (both ends of the link must agree); `None` uses the
    /// interface's current MTU.
    pub mtu: Option<usize>,
    /// Give the kernel's end of the device this IPv4 address and prefix length
    /// (`SIOCSIFADDR`, `SIOCSIFNETMASK`; replaces its primary address), so programs on
    /// this host reach the stack through it. Use an address the stack does not use.
    pub host_addr: Option<([u8; 4], u8)>,
    /// TCP segmentation offload: take TCP super-frames with [`TxQueue::commit_tso`] and
    /// hand them to the kernel whole (see the module docs). Every frame then carries a
    /// `virtio_net_hdr` on the descriptor (`IFF_VNET_HDR`), and the TX ring has
    /// `tso_tx_slots` slots of 64 KiB instead of `tx_slots`.
    pub tso: bool,
    /// Slots of the local TX ring with [`tso`](Self::tso), each 65,600 bytes (64 slots:
    /// 4.2 MiB).
    pub tso_tx_slots: usize,
}

impl Default for TapConfig {
    fn default() -> Self {
        TapConfig {
            ifname: "nmtap0".into(),
            mode: TapMode::default(),
            bring_up: true,
            mac: None,
            rx_burst: 256,
            tx_slots: 256,
            prepared_capacity: 1024,
            mtu: None,
            host_addr: None,
            tso: false,
            tso_tx_slots: 64,
        }
    }
}

/// A TAP device as a [`Port`](crate::Port): one RX/TX queue pair to the host kernel.
#[derive(Debug)]
pub struct TapPort {
    rx: TapRx,
    tx: TapTx,
    caps: Capabilities,
    name: String,
    created: bool,
    /// Shared with both halves: the device goes away when the last of them is dropped,
    /// so the halves stay usable after [`Port::into_parts`].
    fd: Arc<OwnedFd>,
}

/// The receive half of a [`TapPort`].
#[derive(Debug)]
pub struct TapRx {
    fd: Arc<OwnedFd>,
    name: String,
    /// `rx_burst` buffers of `stride` bytes each: the `virtio_net_hdr` (with TSO), then
    /// the frame.
    arena: Vec<u8>,
    lens: Vec<u32>,
    flags: Vec<RxFlags>,
    stride: usize,
    /// Bytes of `virtio_net_hdr` ahead of each frame on the descriptor: 0 or 10.
    vnet: usize,
    max_frame: usize,
    stats: PortStats,
}

/// The transmit half of a [`TapPort`]: a local ring written out at flush.
#[derive(Debug)]
pub struct TapTx {
    fd: Arc<OwnedFd>,
    /// Slots of `stride` bytes: `vnet` bytes of `virtio_net_hdr`, then up to `slot`
    /// bytes of frame, written out together.
    arena: Vec<u8>,
    lens: Vec<u32>,
    stride: usize,
    vnet: usize,
    /// Frame bytes a slot holds ([`TxQueue::slot_size`]).
    slot: usize,
    /// The largest ordinary frame.
    max_frame: usize,
    /// IP MTU, which each TSO segment must fit.
    mtu: usize,
    /// Largest TSO super-frame, 0 without TSO.
    tso_max: usize,
    /// Oldest committed slot.
    head: usize,
    /// Committed slots not yet written.
    pending: usize,
    reserved: bool,
    pool: PreparedPool,
    name: String,
    stats: PortStats,
}

impl TapPort {
    /// Open (and if allowed, create) the TAP device `cfg.ifname` in the calling thread's
    /// network namespace.
    pub fn open(cfg: TapConfig) -> Result<Self, Error> {
        let name = cfg.ifname.as_str();
        check_ifname(name)?;
        check_config(&cfg)?;

        let exists = match sys::if_index(name) {
            Ok(_) => true,
            Err(Error::NoSuchDevice { .. }) => false,
            Err(e) => return Err(e),
        };
        if cfg.mode == TapMode::AttachExisting && !exists {
            return Err(Error::NoSuchDevice { name: name.into() });
        }

        let fd = open_tun()?;
        tun_set_iff(&fd, name, exists, cfg.tso)?;
        if cfg.tso {
            set_vnet_hdr_len(&fd, name)?;
        }
        set_no_offloads(&fd, name)?;

        let mtu = match cfg.mtu {
            Some(mtu) => {
                set_mtu(name, mtu)?;
                mtu
            }
            None => sys::if_mtu(name)?,
        };
        if let Some((addr, prefix)) = cfg.host_addr {
            set_host_addr(name, addr, prefix)?;
        }
        if cfg.bring_up {
            set_up(name)?;
        }
        Self::on_fd(fd, &cfg, mtu, !exists)
    }

    /// The port's halves around `fd`, a descriptor that reads and writes one frame per
    /// call (with a `virtio_net_hdr` in front when `cfg.tso`) on a link of IP MTU `mtu`.
    fn on_fd(fd: OwnedFd, cfg: &TapConfig, mtu: usize, created: bool) -> Result<Self, Error> {
        let name = cfg.ifname.as_str();
        let vnet = if cfg.tso { VNET_HDR_LEN } else { 0 };
        let max_frame = mtu + FRAME_OVERHEAD;
        // One byte more than the largest frame: TAP reads truncate silently, so a read
        // that fills the buffer marks an oversized frame. Rounded to cache lines.
        let rx_stride = (vnet + max_frame + 1).next_multiple_of(64);
        // With TSO a slot holds the largest super-frame (or a larger ordinary frame).
        let (slot, tx_slots) = if cfg.tso {
            (max_frame.max(tso::MAX_FRAME), cfg.tso_tx_slots)
        } else {
            (max_frame, cfg.tx_slots)
        };
        let tx_stride = (vnet + slot).next_multiple_of(64);
        let arena_len = |n: usize, stride: usize| {
            n.checked_mul(stride).ok_or_else(|| Error::InvalidConfig {
                what: format!("{n} TAP buffers of {stride} bytes overflow memory"),
            })
        };
        let fd = Arc::new(fd);
        let rx = TapRx {
            fd: fd.clone(),
            name: name.into(),
            arena: vec![0; arena_len(cfg.rx_burst, rx_stride)?],
            lens: vec![0; cfg.rx_burst],
            flags: vec![RxFlags::empty(); cfg.rx_burst],
            stride: rx_stride,
            vnet,
            max_frame,
            stats: PortStats::default(),
        };
        let tx = TapTx {
            fd: fd.clone(),
            arena: vec![0; arena_len(tx_slots, tx_stride)?],
            lens: vec![0; tx_slots],
            stride: tx_stride,
            vnet,
            slot,
            max_frame,
            mtu,
            tso_max: if cfg.tso { tso::MAX_FRAME.min(slot) } else { 0 },
            head: 0,
            pending: 0,
            reserved: false,
            pool: PreparedPool::new(cfg.prepared_capacity, max_frame),
            name: name.into(),
            stats: PortStats::default(),
        };
        let caps = Capabilities {
            mac: cfg.mac.unwrap_or_else(sys::random_local_mac),
            mtu,
            max_frame,
            rx_queues: 1,
            tx_queues: 1,
            queue_id: 0,
            rx_ring_size: cfg.rx_burst,
            tx_ring_size: tx_slots,
            zero_copy_prepared: false,
            // A received virtio_net_hdr may say DATA_VALID.
            rx_csum_offload: cfg.tso,
            tx_csum_offload: false,
            rss: false,
        };
        Ok(TapPort {
            rx,
            tx,
            caps,
            name: name.into(),
            created,
            fd,
        })
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this port created the interface (and so removes it when dropped, unless it
    /// was made persistent meanwhile).
    pub fn created(&self) -> bool {
        self.created
    }
}

impl AsRawFd for TapPort {
    /// The TAP descriptor, for an event loop that polls several ports at once.
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

fn check_config(cfg: &TapConfig) -> Result<(), Error> {
    let bad = |what: String| Err(Error::InvalidConfig { what });
    if cfg.rx_burst == 0 {
        return bad(format!("TAP {:?}: rx_burst must be at least 1", cfg.ifname));
    }
    if cfg.tx_slots == 0 {
        return bad(format!("TAP {:?}: tx_slots must be at least 1", cfg.ifname));
    }
    if cfg.tso && cfg.tso_tx_slots == 0 {
        return bad(format!(
            "TAP {:?}: tso_tx_slots must be at least 1",
            cfg.ifname
        ));
    }
    if let Some(mtu) = cfg.mtu {
        if !(MIN_MTU..=MAX_MTU).contains(&mtu) {
            return bad(format!(
                "TAP {:?}: MTU {mtu} outside {MIN_MTU}..={MAX_MTU}",
                cfg.ifname
            ));
        }
    }
    if let Some((_, prefix)) = cfg.host_addr {
        if !(1..=32).contains(&prefix) {
            return bad(format!(
                "TAP {:?}: host address prefix length /{prefix} outside 1..=32",
                cfg.ifname
            ));
        }
    }
    Ok(())
}

fn open_tun() -> Result<OwnedFd, Error> {
    let path = CString::new(TUN_PATH).expect("no NUL in a constant path");
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => Error::PermissionDenied {
                what: format!("open {TUN_PATH}"),
                need: NEED_NET_ADMIN,
            },
            Some(libc::ENOENT) | Some(libc::ENODEV) | Some(libc::ENXIO) => Error::Io {
                what: format!("open {TUN_PATH} (TUN/TAP driver missing: modprobe tun)"),
                source: e,
            },
            _ => Error::Io {
                what: format!("open {TUN_PATH}"),
                source: e,
            },
        });
    }
    // SAFETY: `fd` was just returned by open(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn tun_set_iff(fd: &OwnedFd, name: &str, exists: bool, vnet_hdr: bool) -> Result<(), Error> {
    let mut ifr = sys::ifreq(name)?;
    let vnet = if vnet_hdr { libc::IFF_VNET_HDR } else { 0 };
    ifr.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI | vnet) as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes one `struct ifreq`, which `ifr` is.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut ifr) };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    let verb = if exists { "attach to" } else { "create" };
    Err(match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => Error::PermissionDenied {
            what: format!("{verb} TAP device {name:?}"),
            need: NEED_NET_ADMIN,
        },
        // drivers/net/tun.c tun_set_iff: a device of that name that is not a TAP, or a
        // multi-queue TAP, is refused with EINVAL.
        Some(libc::EINVAL) if exists => Error::InvalidConfig {
            what: format!("interface {name:?} exists and is not a single-queue TAP device"),
        },
        Some(libc::EBUSY) => Error::Io {
            what: format!("attach to TAP device {name:?} (already open in another process)"),
            source: e,
        },
        _ => Error::Io {
            what: format!("{verb} TAP device {name:?}"),
            source: e,
        },
    })
}

/// `TUNSETVNETHDRSZ`: the header in front of every frame is a plain `virtio_net_hdr`.
/// A TAP starts with that size, but a persistent one keeps what its last user set (12 for
/// a `virtio_net_hdr_mrg_rxbuf`, say).
fn set_vnet_hdr_len(fd: &OwnedFd, name: &str) -> Result<(), Error> {
    let len = VNET_HDR_LEN as libc::c_int;
    // SAFETY: TUNSETVNETHDRSZ reads one int through the pointer, which `len` is.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETVNETHDRSZ, &len) };
    if rc == 0 {
        return Ok(());
    }
    Err(Error::Io {
        what: format!("set the virtio header size of TAP device {name:?} for TSO"),
        source: io::Error::last_os_error(),
    })
}

/// `TUNSETOFFLOAD` with no flags: this end takes neither partial checksums nor
/// super-frames, so the kernel finishes both before a frame reaches the descriptor. A new
/// TAP starts so; a persistent one keeps what its last user set.
fn set_no_offloads(fd: &OwnedFd, name: &str) -> Result<(), Error> {
    // SAFETY: TUNSETOFFLOAD takes its flags by value; no memory is passed.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETOFFLOAD, 0 as libc::c_ulong) };
    if rc == 0 {
        return Ok(());
    }
    Err(Error::Io {
        what: format!("turn receive offloads off on TAP device {name:?}"),
        source: io::Error::last_os_error(),
    })
}

fn set_up(name: &str) -> Result<(), Error> {
    let what = || format!("bring up TAP device {name:?}");
    let mut ifr = sys::ifreq(name)?;
    sys::ifreq_ioctl(libc::SIOCGIFFLAGS, &mut ifr)
        .map_err(|e| Error::from_io(what(), name, NEED_NET_ADMIN, e))?;
    // SAFETY: SIOCGIFFLAGS filled the ifru_flags member.
    let flags = unsafe { ifr.ifr_ifru.ifru_flags };
    if flags & libc::IFF_UP as libc::c_short != 0 {
        return Ok(());
    }
    ifr.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    sys::ifreq_ioctl(libc::SIOCSIFFLAGS, &mut ifr)
        .map_err(|e| Error::from_io(what(), name, NEED_NET_ADMIN, e))
}

/// `SIOCSIFADDR` then `SIOCSIFNETMASK` (the kernel derives the subnet route from both).
fn set_host_addr(name: &str, addr: [u8; 4], prefix: u8) -> Result<(), Error> {
    // `check_config` keeps `prefix` in 1..=32.
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    let shown = std::net::Ipv4Addr::from(addr);
    for (req, value, what) in [
        (libc::SIOCSIFADDR, addr, "address"),
        (libc::SIOCSIFNETMASK, mask.to_be_bytes(), "netmask"),
    ] {
        let mut ifr = sys::ifreq(name)?;
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes(value),
            },
            sin_zero: [0; 8],
        };
        // SAFETY: `ifru_addr` is a `sockaddr` (16 bytes), the same size as the
        // `sockaddr_in` written into it; both are plain old data.
        unsafe {
            std::ptr::write_unaligned(
                std::ptr::addr_of_mut!(ifr.ifr_ifru.ifru_addr).cast::<libc::sockaddr_in>(),
                sin,
            );
        }
        sys::ifreq_ioctl(req, &mut ifr).map_err(|e| {
            Error::from_io(
                format!("set host {what} of {shown}/{prefix} on TAP device {name:?}"),
                name,
                NEED_NET_ADMIN,
                e,
            )
        })?;
    }
    Ok(())
}

fn set_mtu(name: &str, mtu: usize) -> Result<(), Error> {
    let mut ifr = sys::ifreq(name)?;
    ifr.ifr_ifru.ifru_mtu = mtu as libc::c_int;
    sys::ifreq_ioctl(libc::SIOCSIFMTU, &mut ifr).map_err(|e| match e.raw_os_error() {
        Some(libc::EINVAL) => Error::InvalidConfig {
            what: format!("MTU {mtu} refused by TAP device {name:?}"),
        },
        _ => Error::from_io(
            format!("set MTU {mtu} on TAP device {name:?}"),
            name,
            NEED_NET_ADMIN,
            e,
        ),
    })
}

impl RxQueue for TapRx {
    /// Read up to `max` (at most `rx_burst`) frames, one `read(2)` each, then hand them up.
    /// Each read attempt uses up one unit of the budget, so a flood of runts cannot keep
    /// the call going.
    fn recv_burst<F: FnMut(&mut [u8], &RxMeta)>(&mut self, max: usize, mut f: F) -> usize {
        let want = max.min(self.lens.len());
        let mut got = 0;
        let mut attempts = 0;
        while attempts < want {
            let off = got * self.stride;
            let buf = &mut self.arena[off..off + self.stride];
            // SAFETY: `buf` is a live, writable buffer of `buf.len()` bytes.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                match io::Error::last_os_error().raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EAGAIN) => break,
                    // EBADFD when the interface was deleted under us: nothing more to read.
                    _ => {
                        self.stats.rx_other_drops += 1;
                        break;
                    }
                }
            }
            attempts += 1;
            // The frame follows the virtio_net_hdr (with TSO); a shorter read is a runt.
            let n = (n as usize).saturating_sub(self.vnet);
            if n < ETH_HLEN {
                self.stats.rx_other_drops += 1;
            } else if n > self.max_frame {
                // Filled the spare byte: the kernel cut a larger frame to the buffer.
                self.stats.rx_truncated += 1;
            } else {
                let flags = if self.vnet == 0 {
                    RxFlags::empty()
                } else {
                    rx_flags(buf[0])
                };
                if flags.contains(RxFlags::CSUM_PARTIAL) {
                    self.stats.rx_csum_partial += 1;
                }
                self.lens[got] = n as u32;
                self.flags[got] = flags;
                got += 1;
            }
        }
        let mut bytes = 0;
        for (i, (&len, &flags)) in self.lens[..got].iter().zip(&self.flags).enumerate() {
            let off = i * self.stride + self.vnet;
            let meta = RxMeta {
                len,
                flags,
                ..RxMeta::default()
            };
            f(&mut self.arena[off..off + len as usize], &meta);
            bytes += u64::from(len);
        }
        if got > 0 {
            self.stats.rx_frames += got as u64;
            self.stats.rx_bytes += bytes;
            self.stats.rx_bursts += 1;
        }
        got
    }

    /// `poll(2)` on the TAP descriptor. Received frames are never kept between
    /// `recv_burst` calls, so the descriptor alone tells whether RX has work.
    fn wait(&mut self, timeout: Duration) -> Result<bool, Error> {
        sys::poll_readable(self.fd.as_raw_fd(), timeout).map_err(|e| Error::Io {
            what: format!("poll on TAP device {:?}", self.name),
            source: e,
        })
    }

    fn stats(&self) -> PortStats {
        self.stats
    }
}

/// The `virtio_net_hdr` of an ordinary frame: no offload, checksums complete.
const VNET_HDR_PLAIN: [u8; VNET_HDR_LEN] = [0; VNET_HDR_LEN];

/// The `virtio_net_hdr` of a super-frame checked as `t`, to be cut into `mss`-byte
/// segments, its TCP checksum left to the kernel. `hdr_len` is the headers: the kernel
/// copies that much into the skb's linear part and the payload into page fragments.
#[inline]
fn vnet_hdr_tso(t: &tso::TsoFrame, mss: u16, cwr: bool) -> [u8; VNET_HDR_LEN] {
    // Offsets within a frame of at most tso::MAX_FRAME (< 64 KiB) bytes.
    VnetHdr::tso(t, mss, t.payload_at as u16, cwr).to_bytes()
}

impl TapTx {
    /// Arena offset of the slot after the last committed one, if the ring has room.
    #[inline]
    fn next_off(&self) -> Option<usize> {
        let slots = self.lens.len();
        (self.pending < slots).then(|| (self.head + self.pending) % slots * self.stride)
    }

    /// Queue the reserved slot (at `off`) with `hdr` in front of its `len`-byte frame.
    #[inline]
    fn queue(&mut self, off: usize, len: usize, hdr: &[u8; VNET_HDR_LEN]) {
        self.arena[off..off + self.vnet].copy_from_slice(&hdr[..self.vnet]);
        let slots = self.lens.len();
        self.lens[(self.head + self.pending) % slots] = len as u32;
        self.pending += 1;
        self.stats.tx_frames += 1;
        self.stats.tx_bytes += len as u64;
    }

    /// The `virtio_net_hdr` for the reserved slot (at `off`) as a `len`-byte super-frame
    /// cut at `mss`, or `None` if it cannot go so.
    fn tso_hdr(&self, off: usize, len: usize, mss: u16) -> Option<[u8; VNET_HDR_LEN]> {
        if len > self.tso_max {
            return None;
        }
        let frame = &self.arena[off + self.vnet..off + self.vnet + len];
        let t = tso::check(frame, mss, self.mtu).ok()?;
        let cwr = has_cwr(frame, &t);
        Some(vnet_hdr_tso(&t, mss, cwr))
    }

    /// Forget the oldest committed frame.
    #[inline]
    fn pop(&mut self) {
        self.head = (self.head + 1) % self.lens.len();
        self.pending -= 1;
    }
}

impl TxQueue for TapTx {
    fn tx_space(&mut self) -> usize {
        self.lens.len() - self.pending
    }

    /// MTU + 18 without TSO; with TSO room for the largest super-frame.
    fn slot_size(&self) -> usize {
        self.slot
    }

    fn reserve(&mut self) -> Option<&mut [u8]> {
        let Some(off) = self.next_off() else {
            self.stats.tx_ring_full += 1;
            return None;
        };
        self.reserved = true;
        let at = off + self.vnet;
        Some(&mut self.arena[at..at + self.slot])
    }

    /// An ordinary frame is at most MTU + 18 bytes also in a TSO slot.
    fn commit(&mut self, len: usize) -> bool {
        let reserved = std::mem::take(&mut self.reserved);
        match self.next_off() {
            Some(off) if reserved && len != 0 && len <= self.max_frame => {
                self.queue(off, len, &VNET_HDR_PLAIN);
                true
            }
            _ => {
                self.stats.tx_bad_len += 1;
                false
            }
        }
    }

    /// An Ethernet header and a 65,535-byte IPv4 packet (65,549) with TSO, else 0.
    #[inline]
    fn tso_max(&self) -> usize {
        self.tso_max
    }

    fn commit_tso(&mut self, len: usize, mss: u16) -> bool {
        let reserved = std::mem::take(&mut self.reserved);
        let hdr = match self.next_off() {
            Some(off) if reserved => self.tso_hdr(off, len, mss).map(|h| (off, h)),
            _ => None,
        };
        let Some((off, hdr)) = hdr else {
            self.stats.tx_bad_len += 1;
            return false;
        };
        self.queue(off, len, &hdr);
        self.stats.tx_tso += 1;
        true
    }

    fn pending(&self) -> usize {
        self.pending
    }

    /// Write every committed frame, one `write(2)` each (a TAP takes no batches).
    ///
    /// `EAGAIN` leaves the rest queued for the next flush. A frame the device refuses
    /// (`EIO` while it is down, `EINVAL` for a runt) is dropped and counted in `tx_errors`.
    /// If the interface was deleted, the queue is dropped and counted, and the error says
    /// so.
    fn flush(&mut self) -> Result<usize, Error> {
        let mut sent = 0;
        while self.pending > 0 {
            let off = self.head * self.stride;
            // The virtio_net_hdr (with TSO) and the frame, in one write.
            let frame = &self.arena[off..off + self.vnet + self.lens[self.head] as usize];
            // SAFETY: `frame` is a live buffer of `frame.len()` bytes.
            let n = unsafe { libc::write(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len()) };
            if n >= 0 {
                sent += 1;
                self.pop();
                continue;
            }
            match io::Error::last_os_error().raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::EAGAIN) => break,
                Some(libc::EBADFD) => {
                    self.stats.tx_errors += self.pending as u64;
                    self.head = 0;
                    self.pending = 0;
                    return Err(Error::NoSuchDevice {
                        name: self.name.clone(),
                    });
                }
                _ => {
                    self.stats.tx_errors += 1;
                    self.pop();
                }
            }
        }
        if sent > 0 {
            self.stats.tx_kicks += 1;
        }
        Ok(sent)
    }

    fn prepare(&mut self, image: &[u8]) -> Result<PreparedId, Error> {
        self.pool.insert(image)
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

    /// Both modes copy into a TX slot: the kernel copies every written frame anyway.
    fn send_prepared<R: FnOnce(&mut [u8])>(
        &mut self,
        id: PreparedId,
        mode: PrepMode,
        rewrite: R,
    ) -> bool {
        let (vnet, max) = (self.vnet, self.max_frame);
        let slot = self
            .next_off()
            .map(|off| &mut self.arena[off + vnet..off + vnet + max]);
        match prepared::send_prepared_by_copy(
            &mut self.pool,
            &mut self.stats,
            id,
            mode,
            rewrite,
            slot,
        ) {
            Some(len) => {
                self.reserved = true;
                self.commit(len);
                true
            }
            None => false,
        }
    }
}

crate::port::port_from_fields!(impl[] TapPort => TapRx, TapTx);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::vnet::*;
    use crate::port::Port;

    #[test]
    fn bad_names_and_sizes_are_refused_before_touching_the_kernel() {
        let e = TapPort::open(TapConfig {
            ifname: "no/slash".into(),
            ..TapConfig::default()
        })
        .unwrap_err();
        assert!(matches!(e, Error::InvalidInterfaceName { .. }), "{e}");
        for cfg in [
            TapConfig {
                rx_burst: 0,
                ..TapConfig::default()
            },
            TapConfig {
                tx_slots: 0,
                ..TapConfig::default()
            },
            TapConfig {
                mtu: Some(67),
                ..TapConfig::default()
            },
            TapConfig {
                host_addr: Some(([10, 0, 0, 1], 33)),
                ..TapConfig::default()
            },
            TapConfig {
                host_addr: Some(([10, 0, 0, 1], 0)),
                ..TapConfig::default()
            },
            TapConfig {
                tso: true,
                tso_tx_slots: 0,
                ..TapConfig::default()
            },
        ] {
            let e = TapPort::open(cfg).unwrap_err();
            assert!(matches!(e, Error::InvalidConfig { .. }), "{e}");
            assert!(!e.to_string().contains('\n'));
        }
    }

    const MSS: u16 = 1448;
    /// Ethernet, IPv4 (20) and TCP with timestamps (32): where the payload starts.
    const HDRS: usize = 14 + 20 + 32;
    const TCP_AT: usize = 14 + 20;

    /// An Ethernet/IPv4/TCP frame with `payload` bytes, the IPv4 total length right and
    /// the given TCP flags; checksums are not looked at by the port.
    fn tcp_frame(payload: usize, tcp_flags: u8) -> Vec<u8> {
        let mut f: Vec<u8> = (0..HDRS + payload).map(|i| (i * 13) as u8).collect();
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        f[14] = 0x45;
        let total = (HDRS - 14 + payload) as u16;
        f[16..18].copy_from_slice(&total.to_be_bytes());
        f[23] = 6;
        f[TCP_AT + 12] = 8 << 4;
        f[TCP_AT + 13] = tcp_flags;
        f
    }

    /// The 10 header bytes a virtio driver would build from these fields.
    fn vnet_bytes(flags: u8, gso_type: u8, fields: [u16; 4]) -> [u8; VNET_HDR_LEN] {
        let mut b = [flags, gso_type, 0, 0, 0, 0, 0, 0, 0, 0];
        for (i, v) in fields.iter().enumerate() {
            b[2 + 2 * i..4 + 2 * i].copy_from_slice(&v.to_ne_bytes());
        }
        b
    }

    fn hdr_for(frame: &[u8], mss: u16) -> [u8; VNET_HDR_LEN] {
        let t = tso::check(frame, mss, 1500).unwrap();
        let cwr = has_cwr(frame, &t);
        vnet_hdr_tso(&t, mss, cwr)
    }

    #[test]
    fn super_frame_header_asks_for_tcpv4_gso_and_a_partial_checksum() {
        // hdr_len = the headers, gso_size = mss, csum_start = the TCP header,
        // csum_offset = the TCP checksum field.
        let want = vnet_bytes(
            VIRTIO_NET_HDR_F_NEEDS_CSUM,
            VIRTIO_NET_HDR_GSO_TCPV4,
            [HDRS as u16, MSS, TCP_AT as u16, 16],
        );
        assert_eq!(hdr_for(&tcp_frame(3 * 1448 + 1, 0x10), MSS), want);
        assert_eq!(want[..2], [1, 1]);
    }

    #[test]
    fn super_frame_with_cwr_is_marked_ecn_so_only_its_first_segment_keeps_it() {
        let h = hdr_for(&tcp_frame(4000, 0x80 | 0x10), MSS);
        assert_eq!(h[1], VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN);
    }

    #[test]
    fn super_frame_of_one_segment_goes_without_gso_but_with_the_checksum_left_open() {
        for payload in [0, 1, 1448] {
            let h = hdr_for(&tcp_frame(payload, 0x80 | 0x18), MSS);
            let want = vnet_bytes(
                VIRTIO_NET_HDR_F_NEEDS_CSUM,
                VIRTIO_NET_HDR_GSO_NONE,
                [HDRS as u16, 0, TCP_AT as u16, 16],
            );
            assert_eq!(h, want, "{payload}-byte payload");
        }
    }

    #[test]
    fn received_header_flags_map_to_rx_flags() {
        assert_eq!(rx_flags(0), RxFlags::empty());
        assert_eq!(rx_flags(VIRTIO_NET_HDR_F_NEEDS_CSUM), RxFlags::CSUM_PARTIAL);
        assert_eq!(rx_flags(VIRTIO_NET_HDR_F_DATA_VALID), RxFlags::CSUM_VALID);
        // VIRTIO_NET_HDR_F_RSC_INFO (4) says nothing about the checksum.
        assert_eq!(rx_flags(4), RxFlags::empty());
    }

    /// A port on one end of a non-blocking `SOCK_SEQPACKET` socket pair (one frame per
    /// read and write, as a TAP descriptor), and the other end: the kernel's side of the
    /// TAP, without root.
    fn port_on_socketpair(tso: bool) -> (TapPort, OwnedFd) {
        let mut fds = [0; 2];
        let kind = libc::SOCK_SEQPACKET | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        // SAFETY: `fds` has room for the two descriptors socketpair(2) writes.
        let rc = unsafe { libc::socketpair(libc::AF_UNIX, kind, 0, fds.as_mut_ptr()) };
        assert_eq!(rc, 0, "socketpair: {}", io::Error::last_os_error());
        // SAFETY: both descriptors are fresh and owned by nobody else.
        let (ours, theirs) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let cfg = TapConfig {
            ifname: "sp0".into(),
            rx_burst: 8,
            tx_slots: 8,
            tso_tx_slots: 2,
            tso,
            ..TapConfig::default()
        };
        (TapPort::on_fd(ours, &cfg, 1500, false).unwrap(), theirs)
    }

    fn put(fd: &OwnedFd, bytes: &[u8]) {
        // SAFETY: `bytes` is a live buffer of `bytes.len()` bytes.
        let n = unsafe { libc::write(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
        assert_eq!(n, bytes.len() as isize, "{}", io::Error::last_os_error());
    }

    /// The next message written by the port, if any.
    fn take(fd: &OwnedFd) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 1 << 17];
        // SAFETY: `buf` is a live, writable buffer of `buf.len()` bytes.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        (n >= 0).then(|| buf[..n as usize].to_vec())
    }

    fn received(port: &mut TapPort) -> Vec<(Vec<u8>, RxFlags)> {
        let mut got = Vec::new();
        port.rx().recv_burst(8, |f, meta| {
            assert_eq!(meta.len as usize, f.len());
            got.push((f.to_vec(), meta.flags));
        });
        got
    }

    #[test]
    fn rx_strips_the_virtio_header_and_hands_up_its_checksum_flags() {
        let (mut port, kernel) = port_on_socketpair(true);
        assert!(port.caps().rx_csum_offload);
        let frame = tcp_frame(100, 0x10);
        let max = port.caps().max_frame;
        let big = tcp_frame(max - HDRS, 0x10);
        let cases = [
            (0, RxFlags::empty()),
            (VIRTIO_NET_HDR_F_DATA_VALID, RxFlags::CSUM_VALID),
            (VIRTIO_NET_HDR_F_NEEDS_CSUM, RxFlags::CSUM_PARTIAL),
        ];
        for (flags, _) in cases {
            let mut msg = vnet_bytes(flags, 0, [0; 4]).to_vec();
            msg.extend_from_slice(&frame);
            put(&kernel, &msg);
        }
        // The largest frame fits; one byte more, a header alone or a runt does not.
        let mut msg = vnet_bytes(0, 0, [0; 4]).to_vec();
        msg.extend_from_slice(&big);
        put(&kernel, &msg);
        msg.push(0);
        put(&kernel, &msg);
        put(&kernel, &[0; VNET_HDR_LEN]);
        put(&kernel, &[0; VNET_HDR_LEN + 13]);

        let got = received(&mut port);
        assert_eq!(got.len(), 4);
        for ((f, flags), (_, want)) in got.iter().zip(cases) {
            assert_eq!(f, &frame);
            assert_eq!(*flags, want);
        }
        assert_eq!(got[3], (big, RxFlags::empty()));
        let st = port.stats();
        assert_eq!((st.rx_frames, st.rx_csum_partial), (4, 1));
        assert_eq!((st.rx_truncated, st.rx_other_drops), (1, 2));
        assert_eq!(st.rx_bytes, (3 * frame.len() + max) as u64);
    }

    #[test]
    fn tx_puts_a_virtio_header_before_every_frame() {
        let (mut port, kernel) = port_on_socketpair(true);
        let tx = port.tx();
        assert_eq!(tx.tso_max(), tso::MAX_FRAME);
        assert!(tx.slot_size() >= tx.tso_max());
        let plain = tcp_frame(1000, 0x18);
        let sup = tcp_frame(tso::MAX_FRAME - HDRS, 0x10);
        assert!(tx.send(|b| {
            b[..plain.len()].copy_from_slice(&plain);
            plain.len()
        }));
        let slot = tx.reserve().unwrap();
        slot[..sup.len()].copy_from_slice(&sup);
        assert!(tx.commit_tso(sup.len(), MSS));
        assert_eq!(tx.flush().unwrap(), 2);

        let got = take(&kernel).unwrap();
        assert_eq!(
            got[..VNET_HDR_LEN],
            [0; VNET_HDR_LEN],
            "an ordinary frame asks nothing"
        );
        assert_eq!(got[VNET_HDR_LEN..], plain[..]);
        let got = take(&kernel).unwrap();
        assert_eq!(got[..VNET_HDR_LEN], hdr_for(&sup, MSS));
        assert_eq!(got[VNET_HDR_LEN..], sup[..]);
        assert!(take(&kernel).is_none());
        let st = port.stats();
        assert_eq!((st.tx_frames, st.tx_tso, st.tx_bad_len), (2, 1, 0));
        assert_eq!(st.tx_bytes, (plain.len() + sup.len()) as u64);
    }

    #[test]
    fn commit_tso_refuses_and_counts_what_the_kernel_could_not_cut() {
        let (mut port, kernel) = port_on_socketpair(true);
        let tx = port.tx();
        let good = tcp_frame(5000, 0x10);
        let mut udp = good.clone();
        udp[23] = 17;
        let mut refused = 0;
        assert!(!tx.commit_tso(good.len(), MSS), "nothing reserved");
        refused += 1;
        for (frame, len, mss) in [
            (&udp, udp.len(), MSS),
            (&good, good.len(), 0),
            // Headers plus mss above the MTU.
            (&good, good.len(), 1500 - 52 + 1),
            // Longer than the IPv4 total length says.
            (&good, good.len() + 1, MSS),
            (&good, tso::MAX_FRAME + 1, MSS),
        ] {
            let slot = tx.reserve().unwrap();
            slot[..frame.len()].copy_from_slice(frame);
            assert!(!tx.commit_tso(len, mss), "{len} bytes, mss {mss}");
            refused += 1;
        }
        // An ordinary frame stays within MTU + 18 in a slot of 64 KiB.
        let max = port.caps().max_frame;
        let tx = port.tx();
        assert!(tx.reserve().is_some());
        assert!(!tx.commit(max + 1));
        refused += 1;
        assert_eq!(tx.pending(), 0);
        assert_eq!(tx.flush().unwrap(), 0);
        assert!(take(&kernel).is_none());
        let st = port.stats();
        assert_eq!((st.tx_bad_len, st.tx_frames, st.tx_tso), (refused, 0, 0));
    }

    #[test]
    fn without_tso_frames_go_bare_and_commit_tso_refuses() {
        let (mut port, kernel) = port_on_socketpair(false);
        assert!(!port.caps().rx_csum_offload);
        let frame = tcp_frame(3000, 0x10);
        let tx = port.tx();
        assert_eq!(tx.tso_max(), 0);
        assert_eq!(tx.slot_size(), 1518);
        let slot = tx.reserve().unwrap();
        slot[..1400].copy_from_slice(&frame[..1400]);
        assert!(!tx.commit_tso(1400, MSS));
        let plain = tcp_frame(1000, 0x10);
        assert!(tx.send(|b| {
            b[..plain.len()].copy_from_slice(&plain);
            plain.len()
        }));
        assert_eq!(tx.flush().unwrap(), 1);
        assert_eq!(take(&kernel).unwrap(), plain);
        put(&kernel, &plain);
        assert_eq!(received(&mut port), [(plain, RxFlags::empty())]);
        let st = port.stats();
        assert_eq!((st.tx_bad_len, st.tx_tso, st.tx_frames), (1, 0, 1));
    }
}
