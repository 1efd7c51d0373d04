//! DPDK backend (cargo feature `dpdk`): one RX/TX queue pair of a DPDK ethdev per port,
//! through the `dpdk-sys` bindings and its C shim for DPDK's inline burst functions.
//!
//! # EAL
//!
//! DPDK's Environment Abstraction Layer is initialised once per process, by the first
//! [`DpdkPort::open`] (or [`eal_init`]), with [`DpdkConfig::eal_args`] passed through as
//! they are (`--no-huge`, `-m`, `--in-memory`, `-l`, `--vdev`, `-d`, `--log-level`, ...).
//! DPDK refuses a second init, so a later open must pass the same arguments (it then
//! shares the EAL); different ones are an error that says so, and a failed init cannot be
//! retried in the same process. The EAL pins the thread that initialises it to the first
//! lcore of `-l`. It is never torn down: its memory goes with the process.
//!
//! Without hugepages (this project's machines, CI) use `--no-huge` (with `-m MB` for more
//! than the default 64 MB of memory) and `--no-shconf` (no files under `/var/run/dpdk`, so
//! several DPDK processes never collide; `--in-memory` says the same but is refused with
//! `--no-huge`); with real hugepages use `--in-memory`. Give `--no-pci` when no PCI device
//! is to be probed.
//!
//! # Devices and drivers
//!
//! [`DpdkConfig::device`] names the ethdev: the name of one the EAL already probed (a
//! `--vdev` argument, a PCI address), a port number, or device arguments to hot-plug now,
//! such as `net_af_packet0,iface=veth0`, `net_tap0,iface=dtap0` or `net_ring0`. A
//! hot-plugged device is probed in the network namespace of the calling thread. The port
//! owns the device: dropping the last port of it stops, closes and removes it, so opening
//! it again needs device arguments (or a PCI address), not a bare vdev name (unless its
//! driver needs no arguments, as `net_ring` does).
//!
//! Drivers are not linked into the program: DPDK built as shared libraries (Debian's
//! `libdpdk-dev`) loads every driver in its plugin directory
//! (`/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0`) at EAL init; `-d PATH` adds more.
//!
//! # Queues and RSS
//!
//! [`DpdkConfig::rx_queues`] queue pairs are configured on the device and
//! [`DpdkPort::open_queues`] returns one port per pair, each with its own mbuf pool, to be
//! run by one loop per core (ports are `Send`). With more than one queue the device's RSS
//! spreads flows over them (IPv4/IPv6 with TCP/UDP ports, as far as the device hashes
//! them), with a symmetric key (`0x6d5a` repeated) so both directions of a connection land
//! on the same queue; [`Capabilities::rss`] says whether the device hashes at all (the
//! virtual devices do not: `net_af_packet` spreads its `qpairs` by the kernel's fanout).
//! Drops the device counts for itself (`imissed`, `rx_nombuf`) are reported by queue 0 as
//! `rx_ring_full`. `net_af_packet` (22.11) counts none: the kernel's drops on its sockets
//! are not seen.
//!
//! # Buffers
//!
//! - **RX**: [`RxQueue::recv_burst`] takes up to 64 mbufs at a time from the queue, hands
//!   each frame to the callback in place and frees the whole burst after it. Chained
//!   (multi-segment) mbufs are counted in `rx_truncated` and not handed up.
//! - **TX**: [`TxQueue::reserve`] lends a fresh mbuf (allocated 64 at a time with
//!   `rte_pktmbuf_alloc_bulk`), [`TxQueue::commit`] appends it to a queue of `tx_ring`
//!   frames, [`TxQueue::flush`] hands the queue to the driver with `rte_eth_tx_burst`,
//!   again while the driver takes more; frames it still refuses are freed and counted in
//!   `tx_errors`.
//! - **Prepared packets** live in mbufs of the port's pool. [`PrepMode::PreCopy`] sends
//!   the prepared mbuf itself: when this port holds its only reference (the driver is done
//!   with the previous send), the image is rewritten in place, its reference count raised
//!   and the mbuf queued ([`Capabilities::zero_copy_prepared`]); while a send of it is
//!   still in flight, the image is copied into a fresh mbuf and the copy rewritten
//!   (`prepared_clones`). [`PrepMode::Memcpy`] copies the image into a fresh mbuf and
//!   rewrites the copy. [`TxQueue::prepared_mut`] on an image in flight moves it to a fresh
//!   mbuf first, so a queued send never sees half a change. (`net_af_packet` copies each
//!   mbuf into the kernel's ring inside `tx_burst`, so there an image is in flight only
//!   between a send and the flush; a NIC holds it until its TX completion.)
//!
//! The TX queues keep the driver's default settings: no `MBUF_FAST_FREE`, whose "one
//! reference, one pool" promise prepared mbufs would break.
//!
//! The pool of a queue holds `rx_ring + tx_ring + tx descriptors + prepared_capacity`
//! mbufs and two bursts more (4,736 with the defaults, about 11 MB of the EAL's memory:
//! raise `-m` for many queues or large pools); nothing is allocated per packet outside it.
//!
//! # Waiting
//!
//! DPDK is polled: there is nothing to sleep on. [`RxQueue::wait`] naps for at most
//! [`IDLE_NAP`] (50 us) and returns `true`, so an idle event loop polls `recv_burst` about
//! every 50 us instead of keeping a shared core busy, at the cost of up to that much
//! latency after an idle spell. For DPDK's usual way, a core spinning per queue, run the
//! loop without idle blocking (`LoopConfig::idle_block = None`, the apps' `--busy-poll`):
//! then `wait` is never called.
//!
//! # Checksums
//!
//! Where the device verifies L4 checksums, the offload is turned on and frames carry
//! [`RxFlags::CSUM_VALID`] (and [`RxFlags::CSUM_PARTIAL`] for `RTE_MBUF_F_RX_L4_CKSUM_NONE`,
//! data intact but the checksum field not filled in). No TX offload is used.
//!
//! # Example
//!
//! ```no_run
//! use nmio::backend::dpdk::{DpdkConfig, DpdkPort};
//! use nmio::{Port, RxQueue};
//!
//! // net_af_packet on eth1, without hugepages; needs root.
//! let cfg = DpdkConfig::new("net_af_packet0,iface=eth1", DpdkConfig::virtual_eal_args());
//! let mut port = DpdkPort::open(cfg)?;
//! println!("{} {:02x?}", port.device_name(), port.caps().mac);
//! port.rx().recv_burst(64, |frame, _meta| println!("{} bytes", frame.len()));
//! # Ok::<(), nmio::Error>(())
//! ```

use crate::port::{Capabilities, RxFlags, RxMeta, RxQueue, TxQueue};
use crate::prepared::{PrepMode, PreparedId};
use crate::stats::PortStats;
use crate::Error;
use dpdk_sys as ffi;
use std::ffi::{c_char, c_int, CStr, CString};
use std::io;
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Longest sleep of an idle [`RxQueue::wait`].
pub const IDLE_NAP: Duration = Duration::from_micros(50);

/// What a driver may need, said once for every error line.
const NEED: &str = "run as root: DPDK's drivers open raw sockets, TAP devices or PCI devices";

/// Mbufs taken from the queue, or from the pool, per call.
const BURST: usize = 64;

const ETH_HLEN: usize = 14;
const VLAN_HLEN: usize = 4;
const ETH_P_8021Q: u16 = 0x8100;

/// `tx_burst` calls in a row that may take nothing before a flush gives up on the rest.
const FLUSH_RETRIES: u32 = 64;

/// Settings of a DPDK port. Start from [`DpdkConfig::new`] and change fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpdkConfig {
    /// EAL arguments, without a program name (`["--no-huge", "--no-shconf", "-l", "0"]`).
    pub eal_args: Vec<String>,
    /// The ethdev: a name the EAL knows (from `--vdev` or a PCI address), a port number,
    /// or device arguments to hot-plug (`net_af_packet0,iface=veth0`).
    pub device: String,
    /// Queue pairs configured on the device; one port instance serves each. Above 1,
    /// RSS spreads received flows over them.
    pub rx_queues: u16,
    /// RX descriptors per queue (the driver may round it).
    pub rx_ring: u16,
    /// TX descriptors per queue (the driver may round it).
    pub tx_desc: u16,
    /// Frames a TX half queues between flushes ([`Capabilities::tx_ring_size`]).
    pub tx_ring: u16,
    /// Prepared packets a port can hold.
    pub prepared_capacity: usize,
    /// Turn promiscuous mode on.
    pub promiscuous: bool,
    /// MAC address the stack uses; `None` takes the device's own.
    pub mac: Option<[u8; 6]>,
}

impl Default for DpdkConfig {
    fn default() -> Self {
        DpdkConfig {
            eal_args: Vec::new(),
            device: String::new(),
            rx_queues: 1,
            rx_ring: 1024,
            tx_desc: 1024,
            tx_ring: 512,
            prepared_capacity: 2048,
            promiscuous: false,
            mac: None,
        }
    }
}

impl DpdkConfig {
    /// Defaults for `device`, with `eal_args` passed to the EAL.
    pub fn new<S: Into<String>>(device: impl Into<String>, eal_args: Vec<S>) -> Self {
        DpdkConfig {
            device: device.into(),
            eal_args: eal_args.into_iter().map(Into::into).collect(),
            ..Default::default()
        }
    }

    /// The EAL arguments for a machine without hugepages and without PCI devices, on
    /// lcore 0, with no files left behind: `--no-huge -m 256 --no-pci --no-shconf
    /// --no-telemetry -l 0 --log-level=notice`, for virtual devices (`net_af_packet`,
    /// `net_tap`, `net_ring`).
    pub fn virtual_eal_args() -> Vec<String> {
        [
            "--no-huge",
            "-m",
            "256",
            "--no-pci",
            "--no-shconf",
            "--no-telemetry",
            "-l",
            "0",
            "--log-level=notice",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }
}

/// What the process did with its one EAL.
#[derive(Debug)]
enum EalState {
    Down,
    Up(Vec<String>),
    Failed(String),
}

/// The process's DPDK state.
#[derive(Debug)]
struct Control {
    eal: EalState,
    /// Ports some `DpdkPort` of this process owns.
    in_use: Vec<u16>,
}

/// Held across every control-path call (EAL init, probe, configure, start, stop, close,
/// remove, pool create/free), which DPDK does not promise to be thread-safe.
static CONTROL: Mutex<Control> = Mutex::new(Control {
    eal: EalState::Down,
    in_use: Vec::new(),
});

/// Pool names must be unique in the process.
static POOL_SEQ: AtomicU32 = AtomicU32::new(0);

fn control() -> MutexGuard<'static, Control> {
    // A panic while holding the lock leaves the state as it was: still usable.
    CONTROL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Initialise the EAL with `args` (without a program name), once per process.
///
/// A later call with the same arguments is a no-op; with different ones, or after an init
/// that failed, it is an error (DPDK allows one EAL per process).
pub fn eal_init(args: &[String]) -> Result<(), Error> {
    eal_init_locked(&mut control().eal, args)
}

fn eal_init_locked(st: &mut EalState, args: &[String]) -> Result<(), Error> {
    match st {
        EalState::Up(prev) if prev.as_slice() == args => return Ok(()),
        EalState::Up(prev) => {
            return Err(Error::InvalidConfig {
                what: format!(
                    "DPDK EAL already initialised in this process with `{}`, not `{}` \
                     (one EAL per process: give every DPDK port the same EAL arguments)",
                    prev.join(" "),
                    args.join(" ")
                ),
            })
        }
        EalState::Failed(why) => {
            return Err(Error::InvalidConfig {
                what: format!("DPDK EAL init failed earlier in this process ({why})"),
            })
        }
        EalState::Down => {}
    }
    let mut cargs = Vec::with_capacity(args.len() + 1);
    cargs.push(CString::new("nmio").expect("no NUL"));
    for a in args {
        match CString::new(a.as_str()) {
            Ok(c) => cargs.push(c),
            Err(_) => {
                return Err(Error::InvalidConfig {
                    what: format!("DPDK EAL argument {a:?} contains a NUL byte"),
                })
            }
        }
    }
    // The EAL may keep pointers into argv (getopt's optarg, device arguments), and it
    // lives as long as the process: so do the strings.
    let leaked: &'static mut [*mut c_char] = Vec::leak(
        cargs
            .into_iter()
            .map(CString::into_raw)
            .chain(std::iter::once(ptr::null_mut()))
            .collect(),
    );
    let argc = (leaked.len() - 1) as c_int;
    // SAFETY: argv holds `argc` NUL-terminated strings and a final NULL, all leaked so
    // they outlive the EAL; the CONTROL lock serialises this with every other init.
    let rc = unsafe { ffi::rte_eal_init(argc, leaked.as_mut_ptr()) };
    let shown = args.join(" ");
    if rc < 0 {
        let errno = rte_errno();
        let why = format!(
            "{} (rte_errno {errno}; the EAL's own lines above say more)",
            strerror(errno)
        );
        *st = EalState::Failed(why.clone());
        return Err(match errno {
            libc::EACCES | libc::EPERM => Error::PermissionDenied {
                what: format!("DPDK EAL init with `{shown}`"),
                need: "run as root, or give the EAL --no-huge --no-shconf",
            },
            _ => Error::Io {
                what: format!("DPDK EAL init with `{shown}`"),
                source: io::Error::other(why),
            },
        });
    }
    if rc < argc - 1 {
        // Words that are not EAL options: refuse rather than ignore them, since the user
        // meant something by them. getopt moved them to the end of argv.
        let left: Vec<String> = leaked[rc as usize + 1..argc as usize]
            .iter()
            .map(|&p| {
                // SAFETY: argv entries are still our leaked NUL-terminated strings (the
                // EAL only reorders them).
                unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
            })
            .collect();
        let why = format!(
            "the EAL did not take `{}`; it is up, but unusable in this process",
            left.join(" ")
        );
        *st = EalState::Failed(why.clone());
        return Err(Error::InvalidConfig {
            what: format!("DPDK EAL arguments `{shown}`: {why}"),
        });
    }
    *st = EalState::Up(args.to_vec());
    Ok(())
}

fn rte_errno() -> i32 {
    // SAFETY: reads the calling thread's rte_errno; no preconditions.
    unsafe { ffi::dpdk_shim_errno() }
}

fn strerror(errno: i32) -> String {
    // SAFETY: rte_strerror returns a pointer to a NUL-terminated string (static or in a
    // per-thread buffer) for any value, valid until the next call on this thread.
    let s = unsafe { CStr::from_ptr(ffi::rte_strerror(errno)) };
    s.to_string_lossy().into_owned()
}

/// An error for a DPDK call that returned `rc` (a negative errno, or -1 for "see the log").
fn dpdk_error(what: String, dev: &str, rc: i32) -> Error {
    let code = rc.checked_neg().unwrap_or(0);
    if code <= 1 {
        // Many drivers return -1 for any failure and log the reason.
        return Error::Io {
            what,
            source: io::Error::other("failed (DPDK's own log lines above say why)"),
        };
    }
    Error::from_io(what, dev, NEED, io::Error::from_raw_os_error(code))
}

fn check(rc: c_int, what: impl FnOnce() -> String, dev: &str) -> Result<(), Error> {
    if rc < 0 {
        Err(dpdk_error(what(), dev, rc))
    } else {
        Ok(())
    }
}

/// An mbuf pool of one queue.
#[derive(Debug)]
struct Pool(*mut ffi::rte_mempool);

/// A configured and started ethdev, shared by the halves of its ports; dropped (stopped,
/// closed, removed, pools freed) after the last of them.
#[derive(Debug)]
struct Device {
    port: u16,
    name: String,
    rte_dev: *mut ffi::rte_device,
    pools: Vec<Pool>,
}

// SAFETY: the raw pointers are DPDK objects (device, mempools) that DPDK lets any thread
// use; `Device` itself only touches them in `Drop`, under the CONTROL lock.
unsafe impl Send for Device {}
// SAFETY: as above; `Device` has no methods that use the pointers through `&self`.
unsafe impl Sync for Device {}

impl Device {
    /// Drops counted by the device for itself: (`imissed`, `rx_nombuf`).
    fn drops(&self) -> u64 {
        let mut s = ffi::rte_eth_stats::default();
        // SAFETY: `s` is a valid rte_eth_stats for the driver to fill; the port is
        // started and stays valid while `self` lives.
        let rc = unsafe { ffi::rte_eth_stats_get(self.port, &mut s) };
        if rc != 0 {
            return 0;
        }
        s.imissed + s.rx_nombuf
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        let mut c = control();
        // SAFETY: every port (and so every mbuf reference of ours) is gone; stopping and
        // closing release the driver's queues and the mbufs they held, so the pools are
        // unused when freed. Errors are ignored: nothing more can be done at drop.
        unsafe {
            ffi::rte_eth_dev_stop(self.port);
            ffi::rte_eth_dev_close(self.port);
            if !self.rte_dev.is_null() {
                ffi::rte_dev_remove(self.rte_dev);
            }
            for p in &self.pools {
                ffi::rte_mempool_free(p.0);
            }
        }
        c.in_use.retain(|&p| p != self.port);
    }
}

/// The receive half of a DPDK port.
#[derive(Debug)]
pub struct DpdkRx {
    dev: Arc<Device>,
    port: u16,
    queue: u16,
    mbufs: Box<[*mut ffi::rte_mbuf; BURST]>,
    info: Box<[ffi::dpdk_shim_rx; BURST]>,
    stats: PortStats,
    /// Queue 0 reports the device's own drops, counted from this base.
    drops_base: Option<u64>,
}

// SAFETY: the half owns its queue (nobody else polls it) and holds no mbuf between
// calls; DPDK lets any thread poll a queue as long as one thread at a time does.
unsafe impl Send for DpdkRx {}

impl RxQueue for DpdkRx {
    fn recv_burst<F: FnMut(&mut [u8], &RxMeta)>(&mut self, max: usize, mut f: F) -> usize {
        let mut handed = 0;
        let mut taken = 0;
        while taken < max {
            let want = (max - taken).min(BURST) as u16;
            // SAFETY: both arrays hold BURST >= want entries; the shim fills the first
            // `n` of each.
            let n = unsafe {
                ffi::dpdk_shim_rx_burst(
                    self.port,
                    self.queue,
                    self.mbufs.as_mut_ptr(),
                    self.info.as_mut_ptr(),
                    want,
                )
            } as usize;
            taken += n;
            for inf in &self.info[..n] {
                if inf.pkt_len != inf.len {
                    self.stats.rx_truncated += 1;
                    continue;
                }
                if (inf.len as usize) < ETH_HLEN {
                    self.stats.rx_other_drops += 1;
                    continue;
                }
                let mut flags = RxFlags::empty();
                let sf = inf.flags as u32;
                if sf & ffi::dpdk_shim_rx_flag_DPDK_SHIM_RX_L4_CSUM_GOOD != 0 {
                    flags |= RxFlags::CSUM_VALID;
                }
                if sf & ffi::dpdk_shim_rx_flag_DPDK_SHIM_RX_L4_CSUM_NONE != 0 {
                    flags |= RxFlags::CSUM_PARTIAL;
                    self.stats.rx_csum_partial += 1;
                }
                if sf & ffi::dpdk_shim_rx_flag_DPDK_SHIM_RX_VLAN_STRIPPED != 0 {
                    flags |= RxFlags::VLAN_STRIPPED;
                }
                let meta = RxMeta {
                    len: inf.len,
                    rss_hash: (sf & ffi::dpdk_shim_rx_flag_DPDK_SHIM_RX_RSS != 0)
                        .then_some(inf.rss),
                    timestamp_ns: 0,
                    vlan_tci: inf.vlan_tci,
                    flags,
                };
                // SAFETY: `data` points at `len` bytes of frame in a single-segment mbuf
                // this half holds until the burst is freed below, after the callback.
                let frame = unsafe { std::slice::from_raw_parts_mut(inf.data, inf.len as usize) };
                f(frame, &meta);
                handed += 1;
                self.stats.rx_frames += 1;
                self.stats.rx_bytes += u64::from(inf.len);
            }
            if n > 0 {
                // SAFETY: the first `n` entries are mbufs the driver handed us, no longer
                // borrowed (the callback returned).
                unsafe { ffi::rte_pktmbuf_free_bulk(self.mbufs.as_mut_ptr(), n as u32) };
            }
            if n < want as usize {
                break;
            }
        }
        if taken > 0 {
            self.stats.rx_bursts += 1;
        }
        handed
    }

    /// DPDK has nothing to sleep on: naps at most [`IDLE_NAP`] and returns `true` (see
    /// the module docs).
    fn wait(&mut self, timeout: Duration) -> Result<bool, Error> {
        let nap = timeout.min(IDLE_NAP);
        if !nap.is_zero() {
            std::thread::sleep(nap);
        }
        Ok(true)
    }

    fn stats(&self) -> PortStats {
        let mut s = self.stats;
        if let Some(base) = self.drops_base {
            s.rx_ring_full += self.dev.drops().saturating_sub(base);
        }
        s
    }
}

/// A prepared packet: an mbuf of the port's pool holding the image, with one reference
/// held by the port and one more per send in flight.
#[derive(Debug)]
struct PrepBuf {
    m: *mut ffi::rte_mbuf,
    data: *mut u8,
    len: u16,
}

/// The transmit half of a DPDK port.
#[derive(Debug)]
pub struct DpdkTx {
    /// Keeps the device and its pools alive while this half holds mbufs of them.
    _dev: Arc<Device>,
    port: u16,
    queue: u16,
    pool: *mut ffi::rte_mempool,
    /// Largest frame (and slot size): the MTU plus an Ethernet and an 802.1Q header,
    /// within a mbuf's room.
    slot: usize,
    /// Largest untagged frame (`mtu + 14`).
    max_wire: usize,
    /// Fresh mbufs, allocated a burst at a time; the last one is lent by `reserve`.
    spare: Vec<*mut ffi::rte_mbuf>,
    spare_data: Vec<*mut u8>,
    /// The pool's free mbufs as last counted (at a flush, or when it limited
    /// `tx_space`), less what `refill` took since: `rte_mempool_avail_count` sums every
    /// lcore cache, too dear for each `tx_space` call. The driver's RX refills may take
    /// some meanwhile; the pool is sized with room for the RX and TX rings both.
    pool_avail: usize,
    reserved: bool,
    /// Frames committed and not yet flushed, and their lengths (0: already set).
    queued: Vec<*mut ffi::rte_mbuf>,
    lens: Vec<u16>,
    ring: usize,
    prepared: Vec<PrepBuf>,
    prepared_capacity: usize,
    stats: PortStats,
}

// SAFETY: the half owns its TX queue and every mbuf it points to (or its reference to
// it); DPDK lets any thread use a queue and a mempool as long as one thread at a time
// uses the queue (the pools use the thread-safe ring handler).
unsafe impl Send for DpdkTx {}

impl DpdkTx {
    /// Refill the spare stack to a burst; returns whether one is available.
    fn refill(&mut self) -> bool {
        if !self.spare.is_empty() {
            return true;
        }
        let mut m = [ptr::null_mut(); BURST];
        let mut d = [ptr::null_mut(); BURST];
        // SAFETY: both arrays hold BURST entries; on success all are filled.
        let rc = unsafe {
            ffi::dpdk_shim_alloc_bulk(self.pool, m.as_mut_ptr(), d.as_mut_ptr(), BURST as u32)
        };
        if rc == 0 {
            self.spare.extend_from_slice(&m);
            self.spare_data.extend_from_slice(&d);
            self.pool_avail = self.pool_avail.saturating_sub(BURST);
            return true;
        }
        // Fewer than a burst left: take one.
        // SAFETY: plain allocation from our pool.
        let one = unsafe { ffi::dpdk_shim_alloc(self.pool) };
        if one.is_null() {
            self.pool_avail = 0;
            return false;
        }
        self.pool_avail = self.pool_avail.saturating_sub(1);
        self.spare.push(one);
        // SAFETY: `one` is a fresh mbuf of ours.
        self.spare_data.push(unsafe { ffi::dpdk_shim_data(one) });
        true
    }

    /// Count the pool's free mbufs again.
    fn count_pool(&mut self) {
        // SAFETY: reads the pool's counters.
        self.pool_avail = unsafe { ffi::rte_mempool_avail_count(self.pool) } as usize;
    }

    /// Pop the top spare (lent or not) into the queue with `len` bytes.
    #[inline]
    fn queue_spare(&mut self, len: usize) {
        let m = self.spare.pop().expect("a spare mbuf");
        self.spare_data.pop();
        self.queued.push(m);
        self.lens.push(len as u16);
        self.stats.tx_frames += 1;
        self.stats.tx_bytes += len as u64;
    }

    /// Whether a frame of `len` bytes whose EtherType field is `et` may go on the wire.
    #[inline]
    fn wire_ok(&self, len: usize, et: [u8; 2]) -> bool {
        len <= self.max_wire || (u16::from_be_bytes(et) == ETH_P_8021Q && len <= self.slot)
    }

    /// A fresh mbuf holding a copy of prepared image `idx`, rewritten; `None` when the
    /// pool is empty.
    fn copy_prepared<R: FnOnce(&mut [u8])>(&mut self, idx: usize, rewrite: R) -> bool {
        if !self.refill() {
            self.stats.tx_ring_full += 1;
            return false;
        }
        let p = &self.prepared[idx];
        let len = p.len as usize;
        let dst = *self.spare_data.last().expect("refilled");
        // SAFETY: `p.data` holds `len` bytes of image; `dst` is a fresh mbuf of ours with
        // room for `slot >= len` bytes; they are different mbufs.
        let buf = unsafe {
            ptr::copy_nonoverlapping(p.data, dst, len);
            std::slice::from_raw_parts_mut(dst, len)
        };
        rewrite(buf);
        self.queue_spare(len);
        true
    }
}

impl TxQueue for DpdkTx {
    #[inline]
    fn tx_space(&mut self) -> usize {
        let room = self.ring - self.queued.len();
        if room <= self.spare.len() + self.pool_avail {
            return room;
        }
        self.count_pool();
        room.min(self.spare.len() + self.pool_avail)
    }

    fn slot_size(&self) -> usize {
        self.slot
    }

    #[inline]
    fn reserve(&mut self) -> Option<&mut [u8]> {
        if self.queued.len() >= self.ring || !self.refill() {
            self.stats.tx_ring_full += 1;
            return None;
        }
        self.reserved = true;
        let data = *self.spare_data.last().expect("refilled");
        // SAFETY: the top spare is a fresh mbuf only this half references, with `slot`
        // bytes of room after its headroom; lent until the next call on `self`.
        Some(unsafe { std::slice::from_raw_parts_mut(data, self.slot) })
    }

    #[inline]
    fn commit(&mut self, len: usize) -> bool {
        let reserved = std::mem::take(&mut self.reserved);
        if !reserved || len < ETH_HLEN || len > self.slot || self.spare.is_empty() {
            self.stats.tx_bad_len += 1;
            return false;
        }
        let data = *self.spare_data.last().expect("non-empty");
        // SAFETY: bytes 12..14 of the lent spare (len >= 14).
        let et = unsafe { [*data.add(12), *data.add(13)] };
        if !self.wire_ok(len, et) {
            self.stats.tx_errors += 1;
            return false;
        }
        self.queue_spare(len);
        true
    }

    fn pending(&self) -> usize {
        self.queued.len()
    }

    fn flush(&mut self) -> Result<usize, Error> {
        let total = self.queued.len();
        if total == 0 {
            return Ok(0);
        }
        let mut sent = 0;
        let mut idle = 0;
        while sent < total && idle < FLUSH_RETRIES {
            let n = (total - sent).min(u16::MAX as usize) as u16;
            // SAFETY: entries sent..total are mbufs this half queued (each holds one
            // reference of ours), with their lengths; the driver takes the first `k`.
            let k = unsafe {
                ffi::dpdk_shim_tx_burst(
                    self.port,
                    self.queue,
                    self.queued.as_mut_ptr().add(sent),
                    self.lens.as_ptr().add(sent),
                    n,
                )
            } as usize;
            sent += k;
            if k == 0 {
                idle += 1;
                std::hint::spin_loop();
            } else {
                idle = 0;
            }
        }
        if sent < total {
            // SAFETY: the driver did not take these; they are still ours to free.
            unsafe {
                ffi::rte_pktmbuf_free_bulk(
                    self.queued.as_mut_ptr().add(sent),
                    (total - sent) as u32,
                )
            };
            self.stats.tx_errors += (total - sent) as u64;
        }
        self.queued.clear();
        self.lens.clear();
        // Once per burst: the driver has freed what it finished sending.
        self.count_pool();
        self.stats.tx_kicks += 1;
        Ok(sent)
    }

    fn prepare(&mut self, image: &[u8]) -> Result<PreparedId, Error> {
        if image.is_empty() || image.len() > self.slot {
            return Err(Error::FrameTooLarge {
                len: image.len(),
                max: self.slot,
            });
        }
        if self.prepared.len() >= self.prepared_capacity {
            return Err(Error::PoolFull {
                capacity: self.prepared_capacity,
            });
        }
        // SAFETY: plain allocation from our pool.
        let m = unsafe { ffi::dpdk_shim_alloc(self.pool) };
        if m.is_null() {
            return Err(Error::InvalidConfig {
                what: format!(
                    "the mbuf pool of DPDK port {} queue {} is exhausted",
                    self.port, self.queue
                ),
            });
        }
        // SAFETY: `m` is a fresh mbuf with `slot >= image.len()` bytes of room.
        let data = unsafe {
            let data = ffi::dpdk_shim_data(m);
            ptr::copy_nonoverlapping(image.as_ptr(), data, image.len());
            ffi::dpdk_shim_set_len(m, image.len() as u16);
            data
        };
        self.prepared.push(PrepBuf {
            m,
            data,
            len: image.len() as u16,
        });
        Ok(PreparedId(self.prepared.len() as u32 - 1))
    }

    fn prepared(&self, id: PreparedId) -> Option<&[u8]> {
        let p = self.prepared.get(id.0 as usize)?;
        // SAFETY: the image's mbuf lives as long as this half; drivers only read it.
        Some(unsafe { std::slice::from_raw_parts(p.data, p.len as usize) })
    }

    fn prepared_mut(&mut self, id: PreparedId) -> Option<&mut [u8]> {
        let p = self.prepared.get(id.0 as usize)?;
        let (m, src, len) = (p.m, p.data, p.len as usize);
        // SAFETY: reads the reference count of our mbuf.
        if unsafe { ffi::dpdk_shim_refcnt_read(m) } > 1 {
            // A send of it is in flight: move the image to a fresh mbuf, leaving the one
            // in flight to the driver (it frees it when done with it).
            // SAFETY: plain allocation from our pool.
            let fresh = unsafe { ffi::dpdk_shim_alloc(self.pool) };
            if fresh.is_null() {
                return None;
            }
            // SAFETY: `fresh` has room for `len` bytes; `src` holds them; dropping our
            // reference to `m` leaves it with the driver's.
            let data = unsafe {
                let data = ffi::dpdk_shim_data(fresh);
                ptr::copy_nonoverlapping(src, data, len);
                ffi::dpdk_shim_set_len(fresh, len as u16);
                ffi::dpdk_shim_free(m);
                data
            };
            self.prepared[id.0 as usize] = PrepBuf {
                m: fresh,
                data,
                len: len as u16,
            };
        }
        let p = &self.prepared[id.0 as usize];
        // SAFETY: this half holds the only reference to the mbuf, borrowed via `&mut self`.
        Some(unsafe { std::slice::from_raw_parts_mut(p.data, p.len as usize) })
    }

    fn send_prepared<R: FnOnce(&mut [u8])>(
        &mut self,
        id: PreparedId,
        mode: PrepMode,
        rewrite: R,
    ) -> bool {
        let idx = id.0 as usize;
        if idx >= self.prepared.len() {
            self.stats.tx_bad_prepared += 1;
            return false;
        }
        if self.queued.len() >= self.ring {
            self.stats.tx_ring_full += 1;
            return false;
        }
        match mode {
            PrepMode::Memcpy => {
                if !self.copy_prepared(idx, rewrite) {
                    return false;
                }
                self.stats.prepared_memcpy += 1;
            }
            PrepMode::PreCopy => {
                let p = &self.prepared[idx];
                let (m, data, len) = (p.m, p.data, p.len as usize);
                // SAFETY: reads the reference count of our mbuf.
                if unsafe { ffi::dpdk_shim_refcnt_read(m) } == 1 {
                    // SAFETY: ours is the only reference, so no driver is reading it.
                    rewrite(unsafe { std::slice::from_raw_parts_mut(data, len) });
                    // SAFETY: one more reference, given to the driver with the send.
                    unsafe { ffi::dpdk_shim_refcnt_update(m, 1) };
                    self.queued.push(m);
                    self.lens.push(0);
                    self.stats.tx_frames += 1;
                    self.stats.tx_bytes += len as u64;
                } else {
                    if !self.copy_prepared(idx, rewrite) {
                        return false;
                    }
                    self.stats.prepared_clones += 1;
                }
                self.stats.prepared_precopy += 1;
            }
        }
        true
    }

    fn stats(&self) -> PortStats {
        self.stats
    }
}

impl Drop for DpdkTx {
    fn drop(&mut self) {
        // SAFETY: every pointer here holds one reference of ours, dropped once; the
        // device (and its pools) outlive this half through `dev`.
        unsafe {
            if !self.queued.is_empty() {
                ffi::rte_pktmbuf_free_bulk(self.queued.as_mut_ptr(), self.queued.len() as u32);
            }
            if !self.spare.is_empty() {
                ffi::rte_pktmbuf_free_bulk(self.spare.as_mut_ptr(), self.spare.len() as u32);
            }
            for p in &self.prepared {
                ffi::dpdk_shim_free(p.m);
            }
        }
    }
}

/// One RX/TX queue pair of a DPDK ethdev. See the module docs.
#[derive(Debug)]
pub struct DpdkPort {
    rx: DpdkRx,
    tx: DpdkTx,
    caps: Capabilities,
}

impl DpdkPort {
    /// Initialise the EAL (once per process), take the device, configure it with one
    /// queue pair and start it. For more queues see [`DpdkPort::open_queues`].
    pub fn open(cfg: DpdkConfig) -> Result<Self, Error> {
        if cfg.rx_queues != 1 {
            return Err(Error::InvalidConfig {
                what: format!(
                    "DPDK rx_queues = {}: DpdkPort::open serves one queue, \
                     open_queues returns a port per queue",
                    cfg.rx_queues
                ),
            });
        }
        let mut v = Self::open_queues(cfg)?;
        Ok(v.pop().expect("one queue"))
    }

    /// Initialise the EAL (once per process), take the device, configure
    /// [`DpdkConfig::rx_queues`] queue pairs (with RSS when more than one) and start it.
    /// Returns one port per queue, in queue order.
    pub fn open_queues(cfg: DpdkConfig) -> Result<Vec<Self>, Error> {
        let nq = cfg.rx_queues;
        if nq == 0 || cfg.rx_ring == 0 || cfg.tx_desc == 0 || cfg.tx_ring == 0 {
            return Err(Error::InvalidConfig {
                what: "DPDK rx_queues, rx_ring, tx_desc and tx_ring must be at least 1".into(),
            });
        }
        if cfg.device.is_empty() {
            return Err(Error::InvalidConfig {
                what: "DPDK device not given (a name, a port number or device arguments \
                       such as net_af_packet0,iface=eth0)"
                    .into(),
            });
        }
        let mut c = control();
        eal_init_locked(&mut c.eal, &cfg.eal_args)?;
        let (port, name, rte_dev) = attach(&cfg.device, &c.in_use)?;
        c.in_use.push(port);
        let mut dev = Device {
            port,
            name,
            rte_dev,
            pools: Vec::new(),
        };
        let setup = configure(&mut dev, &cfg);
        // On failure `dev` drops here, after the lock: it stops, closes and removes the
        // device and frees the pools made so far, taking the lock itself.
        drop(c);
        let setup = setup?;
        let dev = Arc::new(dev);
        let drops_base = dev.drops();
        let mut ports = Vec::with_capacity(nq as usize);
        for q in 0..nq {
            let pool = dev.pools[q as usize].0;
            let caps = Capabilities {
                mac: cfg.mac.unwrap_or(setup.mac),
                mtu: setup.mtu,
                max_frame: setup.slot,
                rx_queues: nq,
                tx_queues: nq,
                queue_id: q,
                rx_ring_size: setup.rx_desc as usize,
                tx_ring_size: cfg.tx_ring as usize,
                zero_copy_prepared: true,
                rx_csum_offload: setup.rx_csum,
                tx_csum_offload: false,
                rss: setup.rss,
            };
            let rx = DpdkRx {
                dev: Arc::clone(&dev),
                port,
                queue: q,
                mbufs: Box::new([ptr::null_mut(); BURST]),
                info: Box::new([ffi::dpdk_shim_rx::default(); BURST]),
                stats: PortStats::default(),
                drops_base: (q == 0).then_some(drops_base),
            };
            let tx = DpdkTx {
                _dev: Arc::clone(&dev),
                port,
                queue: q,
                pool,
                slot: setup.slot,
                max_wire: setup.mtu + ETH_HLEN,
                spare: Vec::with_capacity(BURST),
                spare_data: Vec::with_capacity(BURST),
                pool_avail: 0,
                reserved: false,
                queued: Vec::with_capacity(cfg.tx_ring as usize),
                lens: Vec::with_capacity(cfg.tx_ring as usize),
                ring: cfg.tx_ring as usize,
                prepared: Vec::with_capacity(cfg.prepared_capacity),
                prepared_capacity: cfg.prepared_capacity,
                stats: PortStats::default(),
            };
            ports.push(DpdkPort { rx, tx, caps });
        }
        Ok(ports)
    }

    /// The DPDK port number of the device.
    pub fn port_id(&self) -> u16 {
        self.rx.port
    }

    /// The device's name in DPDK (`net_af_packet0`, a PCI address, ...).
    pub fn device_name(&self) -> &str {
        &self.rx.dev.name
    }
}

/// What `configure` found out about the device.
struct Setup {
    mac: [u8; 6],
    mtu: usize,
    slot: usize,
    rx_desc: u16,
    rss: bool,
    rx_csum: bool,
}

/// Find the ethdev `device` names, hot-plugging it when needed. Returns its port number,
/// its name and its `rte_device` (removed when the port is dropped). Called with the
/// CONTROL lock held; `in_use` are the ports already owned in this process.
fn attach(device: &str, in_use: &[u16]) -> Result<(u16, String, *mut ffi::rte_device), Error> {
    let owned = |port: u16, name: &str| {
        if in_use.contains(&port) {
            Err(Error::InvalidConfig {
                what: format!("DPDK device {name} (port {port}) is already open in this process"),
            })
        } else {
            Ok(())
        }
    };
    if let Ok(port) = device.parse::<u16>() {
        // SAFETY: a validity check on a port number.
        if unsafe { ffi::rte_eth_dev_is_valid_port(port) } == 0 {
            return Err(Error::NoSuchDevice {
                name: format!("DPDK port {port}"),
            });
        }
        let name = port_name(port).unwrap_or_else(|| port.to_string());
        owned(port, &name)?;
        return Ok((port, name, rte_device(port)));
    }
    let name = device
        .split(',')
        .next()
        .unwrap_or(device)
        .trim()
        .to_string();
    let cname = CString::new(name.as_str()).map_err(|_| Error::InvalidConfig {
        what: format!("DPDK device {device:?} contains a NUL byte"),
    })?;
    let mut port = 0u16;
    // SAFETY: `cname` is a NUL-terminated string; `port` is written on success.
    let found = unsafe { ffi::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut port) } == 0;
    if found {
        owned(port, &name)?;
    } else {
        let args = CString::new(device).map_err(|_| Error::InvalidConfig {
            what: format!("DPDK device {device:?} contains a NUL byte"),
        })?;
        // SAFETY: `args` is a NUL-terminated device argument string; DPDK copies it.
        let rc = unsafe { ffi::rte_dev_probe(args.as_ptr()) };
        check(rc, || format!("DPDK probe of device `{device}`"), &name)?;
        // SAFETY: as above.
        if unsafe { ffi::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut port) } != 0 {
            return Err(Error::InvalidConfig {
                what: format!(
                    "DPDK probed `{device}` but made no ethdev named `{name}` \
                     (name the device as its driver does, e.g. net_af_packet0,iface=eth0)"
                ),
            });
        }
    }
    Ok((port, name, rte_device(port)))
}

fn port_name(port: u16) -> Option<String> {
    let mut buf = [0 as c_char; ffi::RTE_ETH_NAME_MAX_LEN as usize];
    // SAFETY: the buffer holds RTE_ETH_NAME_MAX_LEN bytes, the most DPDK writes.
    if unsafe { ffi::rte_eth_dev_get_name_by_port(port, buf.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: DPDK wrote a NUL-terminated name into `buf`.
    let s = unsafe { CStr::from_ptr(buf.as_ptr()) };
    Some(s.to_string_lossy().into_owned())
}

fn dev_info(port: u16) -> Result<ffi::rte_eth_dev_info, Error> {
    let mut info = ffi::rte_eth_dev_info::default();
    // SAFETY: `info` is a valid rte_eth_dev_info for DPDK to fill.
    let rc = unsafe { ffi::rte_eth_dev_info_get(port, &mut info) };
    check(rc, || format!("DPDK port {port}: device info"), "")?;
    Ok(info)
}

fn rte_device(port: u16) -> *mut ffi::rte_device {
    dev_info(port).map(|i| i.device).unwrap_or(ptr::null_mut())
}

/// Configure queues, pools and offloads on `dev` and start it. Called with the CONTROL
/// lock held.
fn configure(dev: &mut Device, cfg: &DpdkConfig) -> Result<Setup, Error> {
    let port = dev.port;
    let name = dev.name.clone();
    let nq = cfg.rx_queues;
    let info = dev_info(port)?;
    if info.max_rx_queues < nq || info.max_tx_queues < nq {
        return Err(Error::InvalidConfig {
            what: format!(
                "DPDK device {name} has {} RX and {} TX queues, {nq} pairs asked for \
                 (net_af_packet: add qpairs={nq} to its arguments)",
                info.max_rx_queues, info.max_tx_queues
            ),
        });
    }
    let mut mtu = 0u16;
    // SAFETY: `mtu` is written on success.
    if unsafe { ffi::rte_eth_dev_get_mtu(port, &mut mtu) } != 0 || mtu == 0 {
        mtu = 1500;
    }

    let mut conf = ffi::rte_eth_conf::default();
    // Keep the device's MTU (net_af_packet would otherwise set its interface's).
    conf.rxmode.mtu = u32::from(mtu);
    // SAFETY: constant getters.
    let (want_hf, l4_csum) = unsafe {
        (
            ffi::dpdk_shim_rss_ip_tcp_udp(),
            ffi::dpdk_shim_rx_offload_l4_csum(),
        )
    };
    let rss_hf = if nq > 1 {
        want_hf & info.flow_type_rss_offloads
    } else {
        0
    };
    // The symmetric Toeplitz key: 0x6d5a repeated hashes (a, b) and (b, a) alike.
    let mut key: Vec<u8> = (0..info.hash_key_size as usize)
        .map(|i| if i % 2 == 0 { 0x6d } else { 0x5a })
        .collect();
    if rss_hf != 0 {
        conf.rxmode.mq_mode = ffi::rte_eth_rx_mq_mode_RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
        if !key.is_empty() {
            conf.rx_adv_conf.rss_conf.rss_key = key.as_mut_ptr();
            conf.rx_adv_conf.rss_conf.rss_key_len = key.len() as u8;
        }
    }
    let rx_csum = info.rx_offload_capa & l4_csum == l4_csum;
    if rx_csum {
        conf.rxmode.offloads |= l4_csum;
    }
    // SAFETY: `conf` is a complete rte_eth_conf (zeroed, then set); DPDK copies it and
    // the key before returning.
    let rc = unsafe { ffi::rte_eth_dev_configure(port, nq, nq, &conf) };
    check(
        rc,
        || format!("DPDK configure of {name} ({nq} queue pairs)"),
        &name,
    )?;

    let (mut rx_desc, mut tx_desc) = (cfg.rx_ring, cfg.tx_desc);
    // SAFETY: both are written with the driver's limits applied.
    let rc = unsafe { ffi::rte_eth_dev_adjust_nb_rx_tx_desc(port, &mut rx_desc, &mut tx_desc) };
    check(rc, || format!("DPDK ring sizes of {name}"), &name)?;
    // SAFETY: a plain query; -1 (SOCKET_ID_ANY) for devices without a NUMA node.
    let socket = unsafe { ffi::rte_eth_dev_socket_id(port) };

    let per_queue = rx_desc as usize
        + tx_desc as usize
        + cfg.tx_ring as usize
        + cfg.prepared_capacity
        + 2 * BURST;
    for q in 0..nq {
        let seq = POOL_SEQ.fetch_add(1, Ordering::Relaxed);
        // Mempool names are at most 25 bytes.
        let pname = CString::new(format!("nmio{port}q{q}s{seq}")).expect("no NUL");
        let cache = if per_queue >= 1536 { 256 } else { 0 };
        // SAFETY: a NUL-terminated unique name and sizes within DPDK's limits (checked
        // by DPDK, which returns NULL and sets rte_errno otherwise).
        let mp = unsafe {
            ffi::rte_pktmbuf_pool_create(
                pname.as_ptr(),
                per_queue as u32,
                cache,
                0,
                ffi::RTE_MBUF_DEFAULT_BUF_SIZE as u16,
                socket,
            )
        };
        if mp.is_null() {
            let errno = rte_errno();
            return Err(Error::Io {
                what: format!(
                    "DPDK mbuf pool of {per_queue} buffers for {name} queue {q} \
                     (give the EAL more memory with -m, or smaller rings)"
                ),
                source: io::Error::other(strerror(errno)),
            });
        }
        dev.pools.push(Pool(mp));
        // SAFETY: a queue index below the configured count, a pool that outlives the
        // queue (freed after close), default queue settings (NULL).
        let rc = unsafe {
            ffi::rte_eth_rx_queue_setup(port, q, rx_desc, socket as u32, ptr::null(), mp)
        };
        check(rc, || format!("DPDK RX queue {q} of {name}"), &name)?;
        // SAFETY: as above, without a pool.
        let rc =
            unsafe { ffi::rte_eth_tx_queue_setup(port, q, tx_desc, socket as u32, ptr::null()) };
        check(rc, || format!("DPDK TX queue {q} of {name}"), &name)?;
    }
    // SAFETY: every queue is set up.
    let rc = unsafe { ffi::rte_eth_dev_start(port) };
    check(rc, || format!("DPDK start of {name}"), &name)?;
    if cfg.promiscuous {
        // SAFETY: a started port.
        let rc = unsafe { ffi::rte_eth_promiscuous_enable(port) };
        check(rc, || format!("DPDK promiscuous mode on {name}"), &name)?;
    }
    let mut mac = ffi::rte_ether_addr::default();
    // SAFETY: `mac` is written on success.
    let rc = unsafe { ffi::rte_eth_macaddr_get(port, &mut mac) };
    check(rc, || format!("DPDK MAC address of {name}"), &name)?;
    // SAFETY: reads the first pool's data room.
    let room = unsafe { ffi::dpdk_shim_pool_room(dev.pools[0].0) } as usize;
    let slot = (usize::from(mtu) + ETH_HLEN + VLAN_HLEN).min(room);
    Ok(Setup {
        mac: mac.addr_bytes,
        mtu: usize::from(mtu),
        slot,
        rx_desc,
        rss: rss_hf != 0,
        rx_csum,
    })
}

crate::port::port_from_fields!(impl[] DpdkPort => DpdkRx, DpdkTx);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_name_the_setting() {
        let e = DpdkPort::open(DpdkConfig {
            rx_queues: 2,
            ..DpdkConfig::new("net_ring0", Vec::<String>::new())
        })
        .unwrap_err();
        assert!(e.to_string().contains("open_queues"), "{e}");
        let e = DpdkPort::open(DpdkConfig::new("", Vec::<String>::new())).unwrap_err();
        assert!(e.to_string().contains("device not given"), "{e}");
        let e = DpdkPort::open(DpdkConfig {
            tx_ring: 0,
            ..DpdkConfig::new("net_ring0", Vec::<String>::new())
        })
        .unwrap_err();
        assert!(e.to_string().contains("at least 1"), "{e}");
    }

    #[test]
    fn virtual_eal_args_need_no_hugepages_and_leave_no_files() {
        let a = DpdkConfig::virtual_eal_args();
        assert!(a.iter().any(|s| s == "--no-huge"));
        assert!(a.iter().any(|s| s == "--no-shconf"));
    }
}
