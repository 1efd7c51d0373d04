//! The real path: `/dev/netmap`, `NIOCREGIF`, the shared region mapped, syncs by ioctl and
//! `poll`. Compiled and checked for its errors where netmap is missing; never run against a
//! loaded netmap module (see the module docs).

use super::abi::{self, nmreq, NETMAP_NO_TX_POLL, NIOCREGIF, NIOCRXSYNC, NIOCTXSYNC};
use super::kernel::Kernel;
use super::ring::{locate, Located};
use crate::backend::sys;
use crate::error::check_ifname;
use crate::Error;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::{self, NonNull};
use std::time::Duration;

/// What opening a netmap port needs, said once for every error line.
const NEED: &str = "needs root (read-write access to /dev/netmap and the interface)";

/// Settings of a netmap port. Start from [`NetmapConfig::new`] and change fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetmapConfig {
    /// The network interface to put in netmap mode.
    pub ifname: String,
    /// The queue (ring pair) this port serves.
    pub queue_id: u16,
    /// Extra buffers to ask for, one per prepared packet (netmap may give fewer).
    pub prepared_capacity: u32,
    /// MAC address the stack uses; `None` takes the interface's own.
    pub mac: Option<[u8; 6]>,
}

impl NetmapConfig {
    /// Defaults for interface `ifname`: queue 0, 1024 prepared packets.
    pub fn new(ifname: impl Into<String>) -> Self {
        NetmapConfig {
            ifname: ifname.into(),
            queue_id: 0,
            prepared_capacity: 1024,
            mac: None,
        }
    }
}

/// The shared region mapped from `/dev/netmap`, unmapped on drop.
#[derive(Debug)]
struct Mapping {
    base: NonNull<u8>,
    len: usize,
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are what mmap returned; every view into the region belongs to
        // a port half holding the `NetmapDev` that owns this mapping, so none outlives it.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}

/// A netmap file descriptor bound to one queue pair of a device, and its mapped region.
#[derive(Debug)]
pub struct NetmapDev {
    located: Located,
    // Dropped after `located` (plain data) and before `fd`: the region goes, then netmap
    // unbinds the queue and frees the extra buffers on the `ni_bufs_head` list.
    map: Mapping,
    fd: OwnedFd,
    name: String,
}

// SAFETY: the mapping is shared memory owned by this value; the rings in it are each used
// by one port half (see `Kernel`), and the kernel synchronises its side inside the ioctls.
unsafe impl Send for NetmapDev {}
// SAFETY: `&NetmapDev` only hands out the ring views and issues ioctls on the descriptor,
// which netmap serialises per ring in the kernel.
unsafe impl Sync for NetmapDev {}

/// An opened port and what the stack needs to know about its interface.
pub(super) struct Opened {
    pub(super) dev: NetmapDev,
    pub(super) mtu: usize,
    pub(super) mac: [u8; 6],
}

/// Open `/dev/netmap` and bind queue `cfg.queue_id` of `cfg.ifname` to it.
pub(super) fn open(cfg: &NetmapConfig) -> Result<Opened, Error> {
    check_ifname(&cfg.ifname)?;
    let dev = cfg.ifname.as_str();
    // The ring number shares `nr_ringid` with flag bits above NETMAP_RING_MASK.
    if cfg.queue_id > 0x0fff {
        return Err(Error::InvalidConfig {
            what: format!("netmap queue {} of {dev:?} (at most 4095)", cfg.queue_id),
        });
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/netmap")
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::Io {
                what: "netmap is not loaded: /dev/netmap missing".into(),
                source: e,
            },
            io::ErrorKind::PermissionDenied => Error::PermissionDenied {
                what: "open /dev/netmap".into(),
                need: NEED,
            },
            _ => Error::Io {
                what: "open /dev/netmap".into(),
                source: e,
            },
        })?;
    let fd = OwnedFd::from(file);
    // Named up front, so a missing interface reads as such and not as a netmap error.
    sys::if_index(dev)?;

    let mut name = [0 as libc::c_char; libc::IFNAMSIZ];
    for (d, s) in name.iter_mut().zip(dev.bytes()) {
        *d = s as libc::c_char;
    }
    let mut req = nmreq {
        nr_name: name,
        nr_version: abi::REQUEST_API,
        nr_offset: 0,
        nr_memsize: 0,
        nr_tx_slots: 0,
        nr_rx_slots: 0,
        nr_tx_rings: 0,
        nr_rx_rings: 0,
        // One NIC ring pair; poll() must not send (TX goes out at flush only).
        nr_ringid: cfg.queue_id | NETMAP_NO_TX_POLL as u16,
        nr_cmd: 0,
        nr_arg1: 0,
        nr_arg2: 0,
        nr_arg3: cfg.prepared_capacity,
        nr_flags: abi::NR_REG_ONE_NIC,
        spare2: [0],
    };
    // SAFETY: NIOCREGIF reads and writes one `struct nmreq`, which `req` is (size checked
    // in abi.rs).
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), NIOCREGIF as _, &mut req as *mut nmreq) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        let what = format!(
            "NIOCREGIF of {dev:?} queue {} (is its driver netmap-capable, the queue there?)",
            cfg.queue_id
        );
        return Err(Error::from_io(what, dev, NEED, e));
    }
    let len = req.nr_memsize as usize;
    // SAFETY: a shared mapping of the region netmap just bound to `fd`, no address hint;
    // the result is checked.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(Error::Io {
            what: format!("mmap of the {len}-byte netmap region of {dev:?}"),
            source: io::Error::last_os_error(),
        });
    }
    let Some(base) = NonNull::new(p.cast::<u8>()) else {
        return Err(Error::Io {
            what: format!("mmap of the netmap region of {dev:?}"),
            source: io::Error::other("mapped at address 0"),
        });
    };
    let map = Mapping { base, len };
    // SAFETY: the region stays mapped as long as `map`, which the returned `NetmapDev`
    // owns together with the rings found in it.
    let located = unsafe { locate(base, len, req.nr_offset as usize, cfg.queue_id, req.nr_arg3) }
        .map_err(|msg| Error::Io {
        what: format!("netmap region of {dev:?}: {msg} (netmap version mismatch?)"),
        source: io::Error::from_raw_os_error(libc::EPROTO),
    })?;
    let mtu = sys::if_mtu(dev)?;
    let mac = match cfg.mac {
        Some(m) => m,
        None => sys::if_mac(dev)?,
    };
    Ok(Opened {
        dev: NetmapDev {
            located,
            map,
            fd,
            name: dev.to_string(),
        },
        mtu,
        mac,
    })
}

impl NetmapDev {
    fn ioctl(&self, req: libc::c_uint) -> io::Result<()> {
        // SAFETY: NIOCTXSYNC / NIOCRXSYNC take no argument.
        let rc = unsafe { libc::ioctl(self.fd.as_raw_fd(), req as _) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Bytes of the shared region.
    pub fn region_len(&self) -> usize {
        self.map.len
    }
}

impl Kernel for NetmapDev {
    fn located(&self) -> &Located {
        &self.located
    }

    fn txsync(&self) -> io::Result<()> {
        self.ioctl(NIOCTXSYNC)
    }

    fn rxsync(&self) -> io::Result<()> {
        self.ioctl(NIOCRXSYNC)
    }

    fn wait_rx(&self, timeout: Duration) -> io::Result<()> {
        // netmap's poll syncs the RX ring (POLLIN); NETMAP_NO_TX_POLL keeps TX out of it.
        sys::poll_readable(self.fd.as_raw_fd(), timeout).map(|_| ())
    }

    fn name(&self) -> &str {
        &self.name
    }
}
