//! Choosing and opening a backend at run time, so that code above `nmio` never names one.
//!
//! An application is generic over [`Port`]; it describes the port it wants with
//! [`BackendArgs`] (a clap argument group with the `cli` feature, a plain struct without)
//! and hands a [`PortUser`] to [`open`], which opens that backend, wraps it in the
//! impairment and capture wrappers when asked, and calls the user's generic `run` with it.
//! Each backend gets its own monomorphized copy of the user's whole path.
//!
//! What an application may need to know about the choice is asked as a property, not as a
//! backend's name: [`BackendKind::in_process`] (the wire is inside this process, and its
//! other end is handed to the user as `peer`), [`BackendKind::needs_root`].
//!
//! ```
//! use nmio::select::{open, BackendArgs, PortUser};
//! use nmio::Port;
//!
//! struct Mac;
//! impl PortUser for Mac {
//!     type Output = [u8; 6];
//!     fn run<P: Port + Send + 'static, Q: Port + Send + 'static>(
//!         self,
//!         port: P,
//!         _peer: Option<Q>,
//!     ) -> [u8; 6] {
//!         port.caps().mac
//!     }
//! }
//!
//! // The default is the in-memory wire: runs anywhere, no root.
//! let args = BackendArgs::default();
//! assert!(args.backend.in_process());
//! let mac = open(&args, Mac)?;
//! assert_ne!(mac, [0; 6]);
//! # Ok::<(), nmio::Error>(())
//! ```

use crate::backend::afpacket::{AfPacketConfig, AfPacketPort, FanoutMode, KernelDrop, RxRingKind};
#[cfg(feature = "afxdp")]
use crate::backend::afxdp::{AfXdpConfig, AfXdpPort, XdpMode};
#[cfg(feature = "dpdk")]
use crate::backend::dpdk::{DpdkConfig, DpdkPort};
use crate::backend::impair::{ImpairConfig, ImpairedPort};
use crate::backend::impair_model::Impairments;
#[cfg(feature = "netmap")]
use crate::backend::netmap::{NetmapConfig, NetmapPort};
use crate::backend::pcap::PcapPort;
use crate::backend::pipe::{self, PipeConfig, PipePort};
use crate::backend::tap::{TapConfig, TapPort};
use crate::{Error, MonotonicClock, Port};
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Which packet I/O backend to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum BackendKind {
    /// An in-memory wire inside this process (the other end is driven by the program).
    #[default]
    Pipe,
    /// AF_PACKET mmap rings on `--iface` (needs root).
    Afpacket,
    /// A TAP device named `--iface`, created if missing (needs root).
    Tap,
    /// An AF_XDP socket on queue `--queue` of `--iface`, with an XDP program steering that
    /// queue to it (needs root; built with the `afxdp` feature).
    #[cfg(feature = "afxdp")]
    Afxdp,
    /// netmap on queue `--queue` of `--iface` (needs the netmap kernel module, which this
    /// project's machines cannot load: built and tested against an in-memory ring only;
    /// built with the `netmap` feature).
    #[cfg(feature = "netmap")]
    Netmap,
    /// A DPDK ethdev: `--iface` is a device the EAL knows (`net_ring0` from `--eal
    /// "--vdev=..."`, a PCI address, a port number), device arguments to hot-plug
    /// (`net_tap0,iface=dtap0`), or a kernel interface name, opened through DPDK's
    /// `net_af_packet` driver (needs root; built with the `dpdk` feature).
    #[cfg(feature = "dpdk")]
    Dpdk,
}

impl BackendKind {
    /// Every backend this build has.
    pub const ALL: &'static [BackendKind] = &[
        BackendKind::Pipe,
        BackendKind::Afpacket,
        BackendKind::Tap,
        #[cfg(feature = "afxdp")]
        BackendKind::Afxdp,
        #[cfg(feature = "netmap")]
        BackendKind::Netmap,
        #[cfg(feature = "dpdk")]
        BackendKind::Dpdk,
    ];

    /// The name the command line uses.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Pipe => "pipe",
            BackendKind::Afpacket => "afpacket",
            BackendKind::Tap => "tap",
            #[cfg(feature = "afxdp")]
            BackendKind::Afxdp => "afxdp",
            #[cfg(feature = "netmap")]
            BackendKind::Netmap => "netmap",
            #[cfg(feature = "dpdk")]
            BackendKind::Dpdk => "dpdk",
        }
    }

    /// The wire is inside this process: nothing outside can reach the port, and [`open`]
    /// hands its other end to the user as `peer`.
    pub fn in_process(self) -> bool {
        self == BackendKind::Pipe
    }

    /// Opening it needs CAP_NET_ADMIN / CAP_NET_RAW (root).
    pub fn needs_root(self) -> bool {
        !self.in_process()
    }

    /// Whether `--kernel-addr` applies: the port's other end is this host's own stack.
    pub fn reaches_host(self) -> bool {
        self == BackendKind::Tap
    }

    /// The names of the backends this build has, for messages.
    pub fn names() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
        names.join(", ")
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .iter()
            .copied()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown backend {s:?} (this build has: {})",
                    BackendKind::names()
                )
            })
    }
}

/// How to open a port: the backend and its options. With the `cli` feature it is a clap
/// argument group (`#[command(flatten)]`); the defaults of both are the same.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct BackendArgs {
    /// Packet I/O backend.
    #[cfg_attr(feature = "cli", arg(long, value_enum, default_value = "pipe"))]
    pub backend: BackendKind,
    /// Network interface (afpacket, afxdp, netmap), TAP device name (tap), or a DPDK
    /// device or interface (dpdk).
    #[cfg_attr(feature = "cli", arg(long, default_value = ""))]
    pub iface: String,
    /// AF_PACKET fanout group id (the RSS stand-in when several processes share a NIC).
    #[cfg_attr(feature = "cli", arg(long))]
    pub fanout: Option<u16>,
    /// AF_PACKET fanout mode: hash, cpu, lb or qm.
    #[cfg_attr(feature = "cli", arg(long, default_value = "hash"))]
    pub fanout_mode: String,
    /// TX ring slots (a power of two with afxdp).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 1024))]
    pub tx_ring: usize,
    /// AF_PACKET RX blocks in the ring (of `--rx-block-kib` KiB each) [default: 16 (4 MiB),
    /// or on the V2 ring as many as hold the frames the application said may wait (the web
    /// server 1,024 slots: 8; loadgen http 8 per connection, at least 512: 4 for 64
    /// connections). A smaller ring stays in the caches (bench/web.sh: 5-9% less machine
    /// CPU per request), a larger one holds longer bursts.]
    #[cfg_attr(feature = "cli", arg(long))]
    pub rx_blocks: Option<usize>,
    /// Set by the application, not the user: the most frames it expects to wait in the
    /// RX ring at once (see [`BackendArgs::favour_rx_frames`]).
    #[cfg_attr(feature = "cli", arg(skip))]
    pub rx_frames_favoured: Option<usize>,
    /// AF_PACKET RX block size in KiB (a whole number of pages). With the V3 ring the
    /// kernel hands a block over when it is full or at the retire timeout (1 ms), so a
    /// request/response load with fewer frames in flight than a block holds waits for the
    /// timeout: smaller blocks hand frames over sooner, larger ones wake the reader less
    /// [default: 256].
    #[cfg_attr(feature = "cli", arg(long, value_name = "KIB"))]
    pub rx_block_kib: Option<usize>,
    /// AF_PACKET RX ring: v3 (frames packed in blocks, for throughput) or v2 (a slot and a
    /// wake-up per frame, for latency) [default: v3, or v2 for an application that said
    /// it is latency-bound].
    #[cfg_attr(feature = "cli", arg(long))]
    pub rx_ring: Option<RxRingKind>,
    /// AF_PACKET: have the kernel copy each sent frame whole into its skb (true), or lend
    /// it the TX ring's pages (false), which a NIC reads without a copy but a local
    /// delivery (veth) copies again [default: true on interfaces without a backing
    /// device, such as veth and TAP; false on NICs].
    #[cfg_attr(feature = "cli", arg(long, value_name = "BOOL"))]
    pub tx_linear: Option<bool>,
    /// AF_PACKET: leave the TCP and UDP checksums of sent frames to the device where it
    /// has transmit checksumming and the slots carry a `virtio_net_hdr` (`--tx-linear`,
    /// the default on veth and TAP, or TSO), so a peer on the same host need not verify
    /// them [default: true].
    #[cfg_attr(
        feature = "cli",
        arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)
    )]
    pub tx_csum_offload: bool,
    /// Set by the application, not the user: its traffic is request and response, so
    /// latency matters more than batching (see [`BackendArgs::favour_latency`]).
    #[cfg_attr(feature = "cli", arg(skip))]
    pub latency_bound: bool,
    /// TCP segmentation offload: hand the port TCP super-frames of up to 64 KiB. AF_PACKET:
    /// the device cuts them into segments, where it has TSO on (a line at start says so
    /// when it has not); the TX ring then has 270 slots of 64 KiB (18 MiB). TAP: the kernel
    /// takes them whole; the TX ring then has 64 slots of 64 KiB (4.2 MiB). Other backends
    /// ignore it [default: on for an application that sends bulk TCP, such as the web
    /// server; off otherwise].
    #[cfg_attr(feature = "cli", arg(long, value_name = "BOOL"))]
    pub tso: Option<bool>,
    /// Set by the application, not the user: it sends bulk TCP and can hand the port TCP
    /// super-frames (see [`BackendArgs::favour_tso`]).
    #[cfg_attr(feature = "cli", arg(skip))]
    pub tso_favoured: bool,
    /// AF_PACKET: take TCP super-frames of up to 64 KiB that a veth peer with TSO/GSO sends
    /// (a kernel TCP socket, a server with --tso) and cut them into MSS-sized segments with
    /// full checksums, as a NIC would have put them on the wire; without it they are
    /// dropped (`rx_truncated`) and such a flow stalls. With the V2 ring the slots stay
    /// ordinary and a super-frame waits whole in the socket's queue (one read each); the
    /// V3 ring gets 270 slots' worth of 64 KiB (18 MiB). Other backends ignore it
    /// [default: on for an application that receives bulk TCP from kernel peers, such as
    /// the load generator; off otherwise].
    #[cfg_attr(feature = "cli", arg(long, value_name = "BOOL"))]
    pub rx_gso: Option<bool>,
    /// AF_PACKET with --rx-gso: super-frames that may wait at once. V2 ring: in the
    /// socket's queue (72 KiB of receive buffer each; more are counted `rx_truncated`).
    /// V3 ring: 64 KiB slots' worth of ring (whole 1 MiB blocks of 15), shared with the
    /// ordinary frames [default: 256: 18 MiB].
    #[cfg_attr(feature = "cli", arg(long, value_name = "N"))]
    pub rx_gso_frames: Option<usize>,
    /// Set by the application, not the user: it receives bulk TCP and wants super-frames
    /// cut rather than dropped (see [`BackendArgs::favour_rx_gso`]).
    #[cfg_attr(feature = "cli", arg(skip))]
    pub rx_gso_favoured: bool,
    /// AF_PACKET: have the kernel drop the IPv4 frames sent to the stack's own addresses
    /// once the port's ring has its copy (a tc ingress program held by the port; Linux
    /// 6.6), instead of routing each one only to drop or forward it. Replaces an nftables
    /// drop rule for those addresses. A line at start says whether it is attached. Other
    /// backends ignore it (TAP's kernel end is another host; AF_XDP's program already
    /// takes the queue's frames).
    #[cfg_attr(
        feature = "cli",
        arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)
    )]
    pub kernel_drop: bool,
    /// Set by the application, not the user, before [`open`]: the stack's own IPv4
    /// addresses on the port, for `--kernel-drop`. Empty: nothing is dropped.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub stack_addrs: Vec<Ipv4Addr>,
    /// Frames the port's prepared-packet pool holds (prepared TCP objects take one per
    /// segment).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 4096))]
    pub prepared_frames: usize,
    /// AF_XDP: where the XDP program runs: native (in the driver), generic (skb) or auto
    /// (native if the driver has it, else generic).
    #[cfg(feature = "afxdp")]
    #[cfg_attr(feature = "cli", arg(long, default_value = "auto"))]
    pub xdp_mode: XdpMode,
    /// AF_XDP and netmap: the device queue to serve (AF_XDP's program steers only that
    /// queue to us; netmap opens that ring pair).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 0))]
    pub queue: u16,
    /// AF_XDP: RX ring entries, also the fill ring's and the RX frames (a power of two).
    #[cfg(feature = "afxdp")]
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 2048))]
    pub xdp_rx_ring: usize,
    /// AF_XDP: UMEM frames in all; those beyond the RX and TX rings' hold prepared packets
    /// (default: the rings' frames plus --prepared-frames).
    #[cfg(feature = "afxdp")]
    #[cfg_attr(feature = "cli", arg(long))]
    pub umem_frames: Option<usize>,
    /// AF_XDP: UMEM frame size, 2048 or 4096 (the largest frame received is 256 less).
    #[cfg(feature = "afxdp")]
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 2048))]
    pub frame_size: usize,
    /// AF_XDP: bind in zero-copy mode (drivers with AF_XDP zero-copy only; not veth).
    #[cfg(feature = "afxdp")]
    #[cfg_attr(feature = "cli", arg(long))]
    pub zero_copy: bool,
    /// AF_XDP: put the UMEM on 2 MiB huge pages (needs vm.nr_hugepages).
    #[cfg(feature = "afxdp")]
    #[cfg_attr(feature = "cli", arg(long))]
    pub hugepages: bool,
    /// DPDK: EAL arguments, space-separated (default: no huge pages, no PCI, one lcore,
    /// for virtual devices; with huge pages use e.g. "--in-memory -l 0").
    #[cfg(feature = "dpdk")]
    #[cfg_attr(
        feature = "cli",
        arg(long, value_name = "ARGS", allow_hyphen_values = true)
    )]
    pub eal: Option<String>,
    /// tap: give the kernel's end of the TAP device this address (IP/PREFIX, one the
    /// stack does not use), so programs on this host can reach the stack.
    #[cfg_attr(feature = "cli", arg(long, value_name = "IP/PREFIX"))]
    pub kernel_addr: Option<String>,
    /// Impair this port's traffic in both directions with the `impair` wrapper, e.g.
    /// `loss=0.01` or `loss=0.05,reorder=0.25,dup=0.01` or `delay=20ms,jitter=5ms`
    /// (the kernel here has no netem).
    #[cfg_attr(feature = "cli", arg(long, value_name = "SPEC"))]
    pub impair: Option<String>,
    /// Seed of the impairments.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 1))]
    pub impair_seed: u64,
    /// Write every frame this port receives and sends to FILE (pcap, nanosecond
    /// timestamps; read it with Wireshark, tshark or tcpdump). The capture sits between
    /// the stack and `--impair`, so it shows what the stack saw and sent: frames the
    /// impairments lose on the way out are in it, frames lost on the way in are not. With
    /// `--backend pipe` only this program's end is captured, not the demo peer's.
    #[cfg_attr(feature = "cli", arg(long, value_name = "FILE"))]
    pub pcap: Option<PathBuf>,
}

impl Default for BackendArgs {
    fn default() -> Self {
        BackendArgs {
            backend: BackendKind::Pipe,
            iface: String::new(),
            fanout: None,
            fanout_mode: "hash".into(),
            tx_ring: 1024,
            rx_blocks: None,
            rx_frames_favoured: None,
            rx_block_kib: None,
            rx_ring: None,
            tx_linear: None,
            tx_csum_offload: true,
            latency_bound: false,
            tso: None,
            tso_favoured: false,
            rx_gso: None,
            rx_gso_frames: None,
            rx_gso_favoured: false,
            kernel_drop: true,
            stack_addrs: Vec::new(),
            prepared_frames: 4096,
            #[cfg(feature = "afxdp")]
            xdp_mode: XdpMode::Auto,
            queue: 0,
            #[cfg(feature = "afxdp")]
            xdp_rx_ring: 2048,
            #[cfg(feature = "afxdp")]
            umem_frames: None,
            #[cfg(feature = "afxdp")]
            frame_size: 2048,
            #[cfg(feature = "afxdp")]
            zero_copy: false,
            #[cfg(feature = "afxdp")]
            hugepages: false,
            #[cfg(feature = "dpdk")]
            eal: None,
            kernel_addr: None,
            impair: None,
            impair_seed: 1,
            pcap: None,
        }
    }
}

impl BackendArgs {
    /// A link to this host's own network stack named `name` (a TAP device, created if
    /// missing), whose kernel end gets `kernel_addr` (IP/PREFIX): what a demo that the
    /// user tries with a browser or `curl` on the same machine needs.
    pub fn host_link(name: &str, kernel_addr: &str) -> BackendArgs {
        BackendArgs {
            backend: BackendKind::Tap,
            iface: name.into(),
            kernel_addr: Some(kernel_addr.into()),
            ..BackendArgs::default()
        }
    }

    /// The application's traffic is request and response (a web server): prefer settings
    /// that hand each frame up at once over those that batch for throughput, where the
    /// user did not choose (AF_PACKET: the per-frame V2 ring instead of V3's blocks, which
    /// hold a sparse frame up to the block retire timeout).
    pub fn favour_latency(&mut self) {
        self.latency_bound = true;
    }

    /// At most about `frames` frames wait in the RX ring at once for this application
    /// (its requests in flight, the bursts its peers send): an AF_PACKET V2 ring gets that
    /// many slots, in whole blocks, where the user did not choose (`--rx-blocks`). The
    /// kernel and the reader cycle through the whole ring, so a ring no larger than the
    /// load needs stays in the caches; a burst longer than it is dropped
    /// (`port.rx_ring_full`). The V3 ring keeps its size (its blocks fill by bytes).
    pub fn favour_rx_frames(&mut self, frames: usize) {
        self.rx_frames_favoured = Some(frames);
    }

    /// The AF_PACKET RX blocks: `--rx-blocks`, else on the V2 ring enough for what the
    /// application favoured, else 16.
    fn rx_block_count(&self, block_size: usize, frame_size: usize) -> usize {
        match (self.rx_blocks, self.rx_frames_favoured, self.rx_ring_kind()) {
            (Some(n), _, _) => n,
            (None, Some(frames), RxRingKind::V2) if block_size >= frame_size && frame_size > 0 => {
                frames.div_ceil(block_size / frame_size).max(1)
            }
            _ => DEFAULT_RX_BLOCKS,
        }
    }

    /// The application sends bulk TCP and uses [`TxQueue::commit_tso`](crate::TxQueue::commit_tso)
    /// where the port offers it: turn TCP segmentation offload on where the user did not
    /// choose (`--tso`). AF_PACKET and TAP have it so far.
    pub fn favour_tso(&mut self) {
        self.tso_favoured = true;
    }

    /// Whether to ask the backend for TCP segmentation offload: `--tso`, else what the
    /// application favoured.
    pub fn tso_enabled(&self) -> bool {
        self.tso.unwrap_or(self.tso_favoured)
    }

    /// The application receives bulk TCP from peers that may send GSO super-frames (a
    /// kernel peer over veth): have the port cut them into segments where the user did not
    /// choose (`--rx-gso`). AF_PACKET has it.
    pub fn favour_rx_gso(&mut self) {
        self.rx_gso_favoured = true;
    }

    /// Whether to ask the backend to receive and cut GSO super-frames: `--rx-gso`, else
    /// what the application favoured.
    pub fn rx_gso_enabled(&self) -> bool {
        self.rx_gso.unwrap_or(self.rx_gso_favoured)
    }

    /// The addresses an AF_PACKET port has the kernel drop frames for: the stack's own
    /// ([`BackendArgs::stack_addrs`]) unless `--kernel-drop false`.
    pub fn kernel_drop_addrs(&self) -> Vec<Ipv4Addr> {
        if self.kernel_drop {
            self.stack_addrs.clone()
        } else {
            Vec::new()
        }
    }

    /// The AF_PACKET port these arguments describe.
    fn afpacket_config(&self) -> Result<AfPacketConfig, Error> {
        let fanout = match self.fanout {
            Some(g) => Some((g, self.fanout_mode.parse::<FanoutMode>().map_err(config)?)),
            None => None,
        };
        // Options not given keep the backend's own defaults.
        let base = AfPacketConfig::new(self.iface.clone());
        let rx_block_size = self
            .rx_block_kib
            .map_or(base.rx_block_size, |k| k.saturating_mul(1024));
        Ok(AfPacketConfig {
            tx_frames: self.tx_ring,
            rx_block_count: self.rx_block_count(rx_block_size, base.rx_frame_size),
            rx_block_size,
            rx_ring: self.rx_ring_kind(),
            tx_linear: self.tx_linear,
            tx_csum_offload: self.tx_csum_offload,
            tso: self.tso_enabled(),
            rx_gso: self.rx_gso_enabled(),
            rx_gso_frames: self.rx_gso_frames.unwrap_or(base.rx_gso_frames),
            fanout,
            prepared_capacity: self.prepared_frames,
            kernel_drop: self.kernel_drop_addrs(),
            ..base
        })
    }

    /// The impairment settings asked for, if any.
    pub fn impair_config(&self) -> Result<Option<ImpairConfig>, Error> {
        let Some(spec) = &self.impair else {
            return Ok(None);
        };
        let imp = Impairments::parse(spec).map_err(|e| Error::InvalidConfig {
            what: format!("--impair: {e}"),
        })?;
        Ok(Some(ImpairConfig {
            rx: imp.clone(),
            tx: imp,
            seed: self.impair_seed,
            hold: 4096,
        }))
    }

    /// The AF_PACKET receive ring to use.
    pub fn rx_ring_kind(&self) -> RxRingKind {
        self.rx_ring.unwrap_or(if self.latency_bound {
            RxRingKind::V2
        } else {
            RxRingKind::V3
        })
    }

    /// `--kernel-addr`, checked: address and prefix length.
    fn host_addr(&self) -> Result<Option<([u8; 4], u8)>, Error> {
        let Some(cidr) = &self.kernel_addr else {
            return Ok(None);
        };
        if !self.backend.reaches_host() {
            return Err(config(format!(
                "--kernel-addr is for a backend whose other end is this host (tap), not {}",
                self.backend
            )));
        }
        let bad = || config(format!("--kernel-addr {cidr:?}: expected IP/PREFIX"));
        let (ip, len) = cidr.split_once('/').ok_or_else(bad)?;
        let ip: std::net::Ipv4Addr = ip.parse().map_err(|_| bad())?;
        let len: u8 = len.parse().map_err(|_| bad())?;
        if len == 0 || len > 32 {
            return Err(bad());
        }
        Ok(Some((ip.octets(), len)))
    }
}

fn config(what: String) -> Error {
    Error::InvalidConfig { what }
}

/// Something generic over the port type, run with the port the user chose.
pub trait PortUser {
    /// What `run` returns.
    type Output;
    /// Use `port`. For an in-process wire ([`BackendKind::in_process`]), `peer` is its
    /// other end, for the program to drive; otherwise `None`.
    fn run<P: Port + Send + 'static, Q: Port + Send + 'static>(
        self,
        port: P,
        peer: Option<Q>,
    ) -> Self::Output;
}

/// No peer: the type of `peer` for ports with nothing at the other end in this process.
type NoPeer = PipePort;

/// Open the backend `args` asks for and hand it to `user`.
///
/// Order of the wrappers: stack <-> capture (`pcap`) <-> impairments (`impair`) <->
/// device. The capture records what the stack saw and sent, which is what one debugs a
/// stack with; what the wire carried after impairment is what a `tcpdump` on the
/// interface (or the peer) shows.
pub fn open<U: PortUser>(args: &BackendArgs, user: U) -> Result<U::Output, Error> {
    let need_iface = || {
        if args.iface.is_empty() {
            Err(config(format!(
                "--backend {} needs --iface NAME",
                args.backend
            )))
        } else {
            Ok(())
        }
    };
    let impair = args.impair_config()?;
    let host_addr = args.host_addr()?;
    let pcap = args.pcap.as_deref();
    match args.backend {
        BackendKind::Pipe => {
            if impair.is_some() {
                return Err(config(
                    "--impair works on real links (the in-process wire is clean)".into(),
                ));
            }
            let (a, b) = pipe::pair(PipeConfig {
                ring_size: args.tx_ring.min(4096),
                wire_capacity: 8192,
                prepared_capacity: args.prepared_frames,
                ..Default::default()
            })?;
            run_captured(user, a, Some(b), pcap)
        }
        BackendKind::Afpacket => {
            need_iface()?;
            let port = AfPacketPort::open(args.afpacket_config()?)?;
            if let Some(why) = port.tso_unavailable() {
                eprintln!("afpacket: {}: sending without TSO: {why}", port.ifname());
            }
            // A capture on the host (tcpdump) then shows these checksums unfinished, as it
            // does for the kernel's own offloaded frames.
            if port.caps().tx_csum_offload {
                eprintln!(
                    "afpacket: {}: TCP and UDP checksums left to the device",
                    port.ifname()
                );
            }
            // Said only when asked for: an application that gives no addresses, or a user
            // who turned it off, has nothing to hear about.
            if *port.kernel_drop() != KernelDrop::NotAsked {
                eprintln!(
                    "afpacket: {}: kernel drop: {}",
                    port.ifname(),
                    port.kernel_drop()
                );
            }
            run_wrapped(user, port, impair, pcap)
        }
        BackendKind::Tap => {
            need_iface()?;
            let cfg = TapConfig {
                ifname: args.iface.clone(),
                tx_slots: args.tx_ring.min(4096),
                prepared_capacity: args.prepared_frames,
                host_addr,
                tso: args.tso_enabled(),
                ..Default::default()
            };
            run_wrapped(user, TapPort::open(cfg)?, impair, pcap)
        }
        #[cfg(feature = "afxdp")]
        BackendKind::Afxdp => {
            need_iface()?;
            let cfg = AfXdpConfig {
                queue_id: args.queue,
                xdp_mode: args.xdp_mode,
                zero_copy: args.zero_copy,
                frame_size: args.frame_size,
                rx_ring: args.xdp_rx_ring,
                tx_ring: args.tx_ring,
                prepared_capacity: args.prepared_frames,
                umem_frames: args.umem_frames,
                hugepages: args.hugepages,
                ..AfXdpConfig::new(args.iface.clone())
            };
            let port = AfXdpPort::open(cfg)?;
            eprintln!(
                "afxdp: {} queue {}: XDP program in {} mode{}, socket in {} mode",
                port.ifname(),
                args.queue,
                port.xdp_mode(),
                port.xdp_fallback()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default(),
                if port.zero_copy() {
                    "zero-copy"
                } else {
                    "copy"
                }
            );
            run_wrapped(user, port, impair, pcap)
        }
        #[cfg(feature = "netmap")]
        BackendKind::Netmap => {
            need_iface()?;
            let cfg = NetmapConfig {
                queue_id: args.queue,
                prepared_capacity: u32::try_from(args.prepared_frames)
                    .map_err(|_| config("--prepared-frames is too large for netmap".into()))?,
                ..NetmapConfig::new(args.iface.clone())
            };
            run_wrapped(user, NetmapPort::open(cfg)?, impair, pcap)
        }
        #[cfg(feature = "dpdk")]
        BackendKind::Dpdk => {
            need_iface()?;
            let eal = match &args.eal {
                Some(a) => a.split_whitespace().map(String::from).collect(),
                None => DpdkConfig::virtual_eal_args(),
            };
            let cfg = DpdkConfig {
                tx_ring: u16::try_from(args.tx_ring)
                    .map_err(|_| config("--tx-ring is too large for dpdk".into()))?,
                prepared_capacity: args.prepared_frames,
                ..DpdkConfig::new(dpdk_device(&args.iface), eal)
            };
            let port = DpdkPort::open(cfg)?;
            eprintln!("dpdk: {} (port {})", port.device_name(), port.port_id());
            run_wrapped(user, port, impair, pcap)
        }
    }
}

/// Run `user` on `port`, wrapped in the impairment wrapper when `impair` asks for it and
/// in the capture wrapper when `pcap` names a file (see [`open`] for the order).
fn run_wrapped<U: PortUser, P>(
    user: U,
    port: P,
    impair: Option<ImpairConfig>,
    pcap: Option<&Path>,
) -> Result<U::Output, Error>
where
    P: Port + Send + 'static,
    P::Rx: Send + 'static,
    P::Tx: Send + 'static,
{
    match impair {
        Some(cfg) => {
            let port = ImpairedPort::new(port, MonotonicClock, cfg)?;
            run_captured(user, port, None::<NoPeer>, pcap)
        }
        None => run_captured(user, port, None::<NoPeer>, pcap),
    }
}

/// Run `user` on `port`, capturing to `pcap` if given.
fn run_captured<U: PortUser, P, Q>(
    user: U,
    port: P,
    peer: Option<Q>,
    pcap: Option<&Path>,
) -> Result<U::Output, Error>
where
    P: Port + Send + 'static,
    P::Rx: Send + 'static,
    P::Tx: Send + 'static,
    Q: Port + Send + 'static,
{
    let Some(path) = pcap else {
        return Ok(user.run(port, peer));
    };
    let shown = path.display().to_string();
    let port = PcapPort::create(port, path)
        .map_err(|e| config(format!("--pcap: {e}")))?
        .on_error(move |e| eprintln!("--pcap {shown}: {e}; capture stopped, traffic goes on"));
    Ok(user.run(port, peer))
}

/// AF_PACKET RX blocks unless the user or the application chose: 4 MiB of 256 KiB blocks.
const DEFAULT_RX_BLOCKS: usize = 16;

/// Frames of each ring DPDK's `net_af_packet` driver maps (its default, 512, dropped 5%
/// of a 1 M frames/s stream on veth that our own AF_PACKET backend took whole).
#[cfg(feature = "dpdk")]
const AF_PACKET_FRAMES: usize = 4096;

/// `--iface` for DPDK: a plain kernel interface name (no `,`, not a DPDK driver name or a
/// port number) is opened through DPDK's `net_af_packet` driver; anything else goes to
/// DPDK as given.
#[cfg(feature = "dpdk")]
fn dpdk_device(iface: &str) -> String {
    let plain = !iface.contains(',')
        && !iface.starts_with("net_")
        && !iface.contains(':')
        && iface.parse::<u16>().is_err();
    if plain {
        format!("net_af_packet_{iface},iface={iface},framecnt={AF_PACKET_FRAMES}")
    } else {
        iface.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reports what it was given.
    struct Probe;
    impl PortUser for Probe {
        type Output = (usize, bool);
        fn run<P: Port + Send + 'static, Q: Port + Send + 'static>(
            self,
            port: P,
            peer: Option<Q>,
        ) -> (usize, bool) {
            (port.caps().tx_ring_size, peer.is_some())
        }
    }

    #[test]
    fn names_round_trip_and_unknown_names_list_the_build() {
        for &k in BackendKind::ALL {
            assert_eq!(k.name().parse::<BackendKind>(), Ok(k));
            assert_eq!(k.to_string(), k.name());
        }
        let e = "nope".parse::<BackendKind>().unwrap_err();
        assert!(e.contains("pipe, afpacket, tap"), "{e}");
    }

    #[test]
    fn only_the_in_process_wire_has_a_peer_and_needs_no_root() {
        for &k in BackendKind::ALL {
            assert_eq!(k.in_process(), k == BackendKind::Pipe);
            assert_eq!(k.needs_root(), !k.in_process());
        }
        let args = BackendArgs {
            tx_ring: 64,
            ..BackendArgs::default()
        };
        assert_eq!(open(&args, Probe).unwrap(), (64, true));
    }

    #[test]
    fn a_real_backend_without_an_interface_is_a_clear_error() {
        for kind in [BackendKind::Afpacket, BackendKind::Tap] {
            let args = BackendArgs {
                backend: kind,
                ..BackendArgs::default()
            };
            let e = open(&args, Probe).unwrap_err().to_string();
            assert!(
                e.contains(&format!("--backend {kind} needs --iface")),
                "{e}"
            );
        }
    }

    #[test]
    fn kernel_addr_is_checked_and_only_for_a_link_to_the_host() {
        let mut args = BackendArgs {
            kernel_addr: Some("10.0.0.1/24".into()),
            ..BackendArgs::default()
        };
        let e = open(&args, Probe).unwrap_err().to_string();
        assert!(e.contains("--kernel-addr is for"), "{e}");
        args = BackendArgs::host_link("nmtest0", "10.0.0.1/24");
        assert_eq!(args.host_addr().unwrap(), Some(([10, 0, 0, 1], 24)));
        for bad in ["10.0.0.1", "10.0.0.1/33", "10.0.0/24", "10.0.0.1/0", "x/8"] {
            args.kernel_addr = Some(bad.into());
            let e = args.host_addr().unwrap_err().to_string();
            assert!(e.contains("expected IP/PREFIX"), "{bad}: {e}");
        }
    }

    #[test]
    fn impairments_on_the_in_process_wire_are_refused_and_bad_specs_named() {
        let args = BackendArgs {
            impair: Some("loss=0.1".into()),
            ..BackendArgs::default()
        };
        let e = open(&args, Probe).unwrap_err().to_string();
        assert!(e.contains("--impair works on real links"), "{e}");
        let args = BackendArgs {
            impair: Some("loss=2".into()),
            ..BackendArgs::default()
        };
        assert!(args
            .impair_config()
            .unwrap_err()
            .to_string()
            .contains("--impair"));
    }

    #[test]
    fn a_latency_bound_application_gets_the_per_frame_ring_unless_the_user_chose() {
        let mut args = BackendArgs::default();
        assert_eq!(args.rx_ring_kind(), RxRingKind::V3);
        args.favour_latency();
        assert_eq!(args.rx_ring_kind(), RxRingKind::V2);
        args.rx_ring = Some(RxRingKind::V3);
        assert_eq!(args.rx_ring_kind(), RxRingKind::V3);
    }

    #[test]
    fn a_bulk_tcp_application_gets_tso_unless_the_user_chose() {
        let mut args = BackendArgs::default();
        assert!(!args.tso_enabled(), "off unless asked for");
        args.favour_tso();
        assert!(args.tso_enabled());
        args.tso = Some(false);
        assert!(!args.tso_enabled(), "the user's word wins");
        let args = BackendArgs {
            tso: Some(true),
            ..BackendArgs::default()
        };
        assert!(args.tso_enabled());
    }

    #[test]
    fn a_bulk_receiving_application_gets_rx_gso_unless_the_user_chose() {
        let mut args = BackendArgs::default();
        assert!(!args.rx_gso_enabled(), "off unless asked for");
        args.favour_rx_gso();
        assert!(args.rx_gso_enabled());
        args.rx_gso = Some(false);
        assert!(!args.rx_gso_enabled(), "the user's word wins");
        let args = BackendArgs {
            rx_gso: Some(true),
            ..BackendArgs::default()
        };
        assert!(args.rx_gso_enabled());
    }

    #[test]
    fn rx_gso_is_ignored_by_backends_without_it() {
        let args = BackendArgs {
            rx_gso: Some(true),
            tx_ring: 32,
            ..BackendArgs::default()
        };
        assert_eq!(open(&args, Probe).unwrap(), (32, true));
    }

    #[test]
    fn tso_is_ignored_by_backends_without_it() {
        let args = BackendArgs {
            tso: Some(true),
            tx_ring: 32,
            ..BackendArgs::default()
        };
        assert_eq!(open(&args, Probe).unwrap(), (32, true));
    }

    #[test]
    fn the_stack_addresses_reach_the_afpacket_port_unless_kernel_drop_is_off() {
        let a = Ipv4Addr::new(10, 0, 0, 2);
        let mut args = BackendArgs {
            backend: BackendKind::Afpacket,
            iface: "veth0".into(),
            ..BackendArgs::default()
        };
        assert!(args.kernel_drop, "on by default");
        assert!(
            args.afpacket_config().unwrap().kernel_drop.is_empty(),
            "nothing to drop until the application gives its addresses"
        );
        args.stack_addrs = vec![a];
        assert_eq!(args.afpacket_config().unwrap().kernel_drop, vec![a]);
        args.kernel_drop = false;
        assert!(args.afpacket_config().unwrap().kernel_drop.is_empty());
        assert!(args.kernel_drop_addrs().is_empty());
    }

    #[test]
    fn kernel_drop_is_ignored_by_backends_without_it() {
        let args = BackendArgs {
            stack_addrs: vec![Ipv4Addr::new(10, 0, 0, 2)],
            tx_ring: 32,
            ..BackendArgs::default()
        };
        assert_eq!(open(&args, Probe).unwrap(), (32, true));
    }

    #[cfg(feature = "dpdk")]
    #[test]
    fn a_plain_interface_name_opens_through_net_af_packet() {
        assert_eq!(
            dpdk_device("veth0"),
            "net_af_packet_veth0,iface=veth0,framecnt=4096"
        );
        for given in ["net_ring0", "0", "0000:01:00.0", "net_tap0,iface=t0"] {
            assert_eq!(dpdk_device(given), given);
        }
    }

    /// The clap defaults and `Default` agree, so a library user and a command-line user
    /// get the same port.
    #[cfg(feature = "cli")]
    #[test]
    fn command_line_defaults_are_the_struct_defaults() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            backend: BackendArgs,
        }
        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(cli.backend, BackendArgs::default());
        let cli = Cli::try_parse_from(["x", "--backend", "tap", "--rx-ring", "v2"]).unwrap();
        assert_eq!(cli.backend.backend, BackendKind::Tap);
        assert_eq!(cli.backend.rx_ring, Some(RxRingKind::V2));
        let cli = Cli::try_parse_from(["x", "--rx-block-kib", "32", "--rx-blocks", "128"]).unwrap();
        let afp = cli.backend.afpacket_config().unwrap();
        assert_eq!((afp.rx_block_size, afp.rx_block_count), (32 * 1024, 128));
        // The RX ring's size: 16 blocks unless asked; on V2, what the application favoured
        // in whole 256 KiB blocks of 128 slots; the user's --rx-blocks over both.
        let blocks = |args: &[&str], favoured: Option<usize>| {
            let mut cli = Cli::try_parse_from(args).unwrap();
            cli.backend.favour_latency();
            if let Some(f) = favoured {
                cli.backend.favour_rx_frames(f);
            }
            cli.backend.afpacket_config().unwrap().rx_block_count
        };
        assert_eq!(blocks(&["x"], None), 16);
        assert_eq!(blocks(&["x"], Some(1024)), 8);
        assert_eq!(blocks(&["x"], Some(513)), 5, "whole blocks, rounded up");
        assert_eq!(blocks(&["x"], Some(0)), 1, "at least one");
        assert_eq!(blocks(&["x", "--rx-blocks", "3"], Some(1024)), 3);
        assert_eq!(
            blocks(&["x", "--rx-ring", "v3"], Some(1024)),
            16,
            "V3 keeps its size"
        );
        assert_eq!(
            blocks(&["x", "--rx-block-kib", "64"], Some(1024)),
            32,
            "32 slots a block"
        );
        assert_eq!(
            BackendArgs::default()
                .afpacket_config()
                .unwrap()
                .rx_block_size,
            AfPacketConfig::new("").rx_block_size,
            "256 KiB unless asked"
        );
        let cli = Cli::try_parse_from(["x", "--tx-linear", "false"]).unwrap();
        assert_eq!(cli.backend.tx_linear, Some(false));
        assert!(cli.backend.afpacket_config().unwrap().tx_csum_offload);
        let cli = Cli::try_parse_from(["x", "--tx-csum-offload", "false"]).unwrap();
        assert!(!cli.backend.afpacket_config().unwrap().tx_csum_offload);
        assert!(Cli::try_parse_from(["x", "--tx-linear", "maybe"]).is_err());
        assert_eq!(cli.backend.tso, None);
        for (arg, want) in [("true", Some(true)), ("false", Some(false))] {
            let cli = Cli::try_parse_from(["x", "--tso", arg]).unwrap();
            assert_eq!(cli.backend.tso, want);
            assert!(!cli.backend.tso_favoured, "not a command-line option");
        }
        assert!(
            Cli::try_parse_from(["x", "--tso"]).is_err(),
            "a value is needed"
        );
        assert!(Cli::try_parse_from(["x", "--tso", "yes"]).is_err());
        assert!(Cli::try_parse_from(["x", "--tso-favoured", "true"]).is_err());
        assert_eq!(cli.backend.rx_gso, None);
        for (arg, want) in [("true", Some(true)), ("false", Some(false))] {
            let cli = Cli::try_parse_from(["x", "--rx-gso", arg]).unwrap();
            assert_eq!(cli.backend.rx_gso, want);
            assert!(!cli.backend.rx_gso_favoured, "not a command-line option");
        }
        assert!(Cli::try_parse_from(["x", "--rx-gso"]).is_err());
        assert_eq!(cli.backend.rx_gso_frames, None);
        let cli = Cli::try_parse_from(["x", "--rx-gso-frames", "1024"]).unwrap();
        assert_eq!(cli.backend.rx_gso_frames, Some(1024));
        assert!(Cli::try_parse_from(["x", "--rx-gso-frames", "many"]).is_err());
        assert!(Cli::try_parse_from(["x", "--rx-gso-favoured", "true"]).is_err());
        assert!(cli.backend.kernel_drop);
        let cli = Cli::try_parse_from(["x", "--kernel-drop", "false"]).unwrap();
        assert!(!cli.backend.kernel_drop);
        let cli = Cli::try_parse_from(["x", "--kernel-drop", "true"]).unwrap();
        assert!(cli.backend.kernel_drop);
        assert!(Cli::try_parse_from(["x", "--kernel-drop"]).is_err());
        assert!(Cli::try_parse_from(["x", "--stack-addrs", "10.0.0.2"]).is_err());
        assert!(
            cli.backend.stack_addrs.is_empty(),
            "not a command-line option"
        );
    }
}
