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
//! The device is opened with `IFF_TAP | IFF_NO_PI` and without `IFF_VNET_HDR`: frames are
//! plain Ethernet II, with no packet-information or virtio header in front. Without a
//! virtio header the kernel cannot describe partial checksums or super-frames, so the TAP
//! does not advertise checksum offload or TSO (`ethtool -k` shows both off) and the
//! kernel finishes every checksum (`skb_checksum_help`) and segments every GSO packet in
//! software before the frame reaches the descriptor. Frames from the kernel are therefore
//! complete (never [`RxFlags::CSUM_PARTIAL`](crate::RxFlags::CSUM_PARTIAL)) and at most
//! MTU + 14 bytes, plus 4 when the kernel inserts an 802.1Q tag; slots are sized for that
//! (MTU + 18). A larger frame (the interface MTU raised behind the port's back) is cut to
//! the buffer by `read(2)` with no sign but the length, so receive buffers have a spare
//! byte: a read that fills one is counted as `rx_truncated`, never handed up cut short.
//!
//! # Lifetime
//!
//! A TAP created by the port lives as long as the port: dropping [`TapPort`] closes the
//! descriptor and the kernel removes the interface with it. A persistent TAP made
//! beforehand (`ip tuntap add dev tap0 mode tap`) survives and can be attached to again
//! ([`TapMode::AttachExisting`]), also by its unprivileged owner if the interface is
//! already up (or `bring_up` is off) and no MTU is set.

use super::sys::{self, NEED_NET_ADMIN};
use crate::error::check_ifname;
use crate::port::{Capabilities, RxMeta, RxQueue, TxQueue};
use crate::prepared::{self, PrepMode, PreparedId, PreparedPool};
use crate::stats::PortStats;
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
    /// `rx_burst` buffers of `stride` bytes each.
    arena: Vec<u8>,
    lens: Vec<u32>,
    stride: usize,
    max_frame: usize,
    stats: PortStats,
}

/// The transmit half of a [`TapPort`]: a local ring written out at flush.
#[derive(Debug)]
pub struct TapTx {
    fd: Arc<OwnedFd>,
    arena: Vec<u8>,
    lens: Vec<u32>,
    stride: usize,
    max_frame: usize,
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
        tun_set_iff(&fd, name, exists)?;

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

        let max_frame = mtu + FRAME_OVERHEAD;
        // One byte more than the largest frame: TAP reads truncate silently, so a read
        // that fills the buffer marks an oversized frame. Rounded to cache lines.
        let stride = (max_frame + 1).next_multiple_of(64);
        let arena_len = |n: usize| {
            n.checked_mul(stride).ok_or_else(|| Error::InvalidConfig {
                what: format!("{n} TAP buffers of {stride} bytes overflow memory"),
            })
        };
        let fd = Arc::new(fd);
        let rx = TapRx {
            fd: fd.clone(),
            name: name.into(),
            arena: vec![0; arena_len(cfg.rx_burst)?],
            lens: vec![0; cfg.rx_burst],
            stride,
            max_frame,
            stats: PortStats::default(),
        };
        let tx = TapTx {
            fd: fd.clone(),
            arena: vec![0; arena_len(cfg.tx_slots)?],
            lens: vec![0; cfg.tx_slots],
            stride,
            max_frame,
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
            tx_ring_size: cfg.tx_slots,
            zero_copy_prepared: false,
            rx_csum_offload: false,
            tx_csum_offload: false,
            rss: false,
        };
        Ok(TapPort {
            rx,
            tx,
            caps,
            name: name.into(),
            created: !exists,
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

fn tun_set_iff(fd: &OwnedFd, name: &str, exists: bool) -> Result<(), Error> {
    let mut ifr = sys::ifreq(name)?;
    ifr.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
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
            let n = n as usize;
            if n < ETH_HLEN {
                self.stats.rx_other_drops += 1;
            } else if n > self.max_frame {
                // Filled the spare byte: the kernel cut a larger frame to the buffer.
                self.stats.rx_truncated += 1;
            } else {
                self.lens[got] = n as u32;
                got += 1;
            }
        }
        let mut bytes = 0;
        for (i, &len) in self.lens[..got].iter().enumerate() {
            let off = i * self.stride;
            let meta = RxMeta {
                len,
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

impl TapTx {
    /// Arena offset of the slot after the last committed one, if the ring has room.
    #[inline]
    fn next_off(&self) -> Option<usize> {
        let slots = self.lens.len();
        (self.pending < slots).then(|| (self.head + self.pending) % slots * self.stride)
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

    fn slot_size(&self) -> usize {
        self.max_frame
    }

    fn reserve(&mut self) -> Option<&mut [u8]> {
        let Some(off) = self.next_off() else {
            self.stats.tx_ring_full += 1;
            return None;
        };
        self.reserved = true;
        Some(&mut self.arena[off..off + self.max_frame])
    }

    fn commit(&mut self, len: usize) -> bool {
        if !std::mem::take(&mut self.reserved) || len == 0 || len > self.max_frame {
            self.stats.tx_bad_len += 1;
            return false;
        }
        let slots = self.lens.len();
        self.lens[(self.head + self.pending) % slots] = len as u32;
        self.pending += 1;
        self.stats.tx_frames += 1;
        self.stats.tx_bytes += len as u64;
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
            let frame = &self.arena[off..off + self.lens[self.head] as usize];
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
        let max = self.max_frame;
        let slot = self.next_off().map(|off| &mut self.arena[off..off + max]);
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
        ] {
            let e = TapPort::open(cfg).unwrap_err();
            assert!(matches!(e, Error::InvalidConfig { .. }), "{e}");
            assert!(!e.to_string().contains('\n'));
        }
    }
}
