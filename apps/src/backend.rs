//! Choosing and opening a backend from the command line.
//!
//! The protocol code is generic over [`nmio::Port`]; an application hands a [`PortUser`]
//! to [`open`], which opens the backend the user asked for and calls the user's generic
//! `run` with it, so each backend gets its own monomorphized copy of the whole path.

use clap::{Args, ValueEnum};
use nmio::backend::afpacket::{AfPacketConfig, AfPacketPort, FanoutMode, RxRingKind};
#[cfg(feature = "afxdp")]
use nmio::backend::afxdp::{AfXdpConfig, AfXdpPort, XdpMode};
#[cfg(feature = "dpdk")]
use nmio::backend::dpdk::{DpdkConfig, DpdkPort};
use nmio::backend::impair::{ImpairConfig, ImpairedPort};
use nmio::backend::impair_model::Impairments;
#[cfg(feature = "netmap")]
use nmio::backend::netmap::{NetmapConfig, NetmapPort};
use nmio::backend::pcap::PcapPort;
use nmio::backend::pipe::{self, PipeConfig, PipePort};
use nmio::backend::tap::{TapConfig, TapPort};
use nmio::{MonotonicClock, Port};
use std::path::{Path, PathBuf};

/// Which packet I/O backend to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// An in-memory wire inside this process (the other end is driven by the program).
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
}

/// Backend options shared by every app.
#[derive(Args, Clone, Debug)]
pub struct BackendArgs {
    /// Packet I/O backend.
    #[arg(long, value_enum, default_value = "pipe")]
    pub backend: BackendKind,
    /// Network interface (afpacket, afxdp, netmap), TAP device name (tap), or a DPDK
    /// device or interface (dpdk).
    #[arg(long, default_value = "")]
    pub iface: String,
    /// AF_PACKET fanout group id (the RSS stand-in when several processes share a NIC).
    #[arg(long)]
    pub fanout: Option<u16>,
    /// AF_PACKET fanout mode: hash, cpu, lb or qm.
    #[arg(long, default_value = "hash")]
    pub fanout_mode: String,
    /// TX ring slots (a power of two with afxdp).
    #[arg(long, default_value_t = 1024)]
    pub tx_ring: usize,
    /// AF_PACKET RX blocks of 256 KiB.
    #[arg(long, default_value_t = 16)]
    pub rx_blocks: usize,
    /// AF_PACKET RX ring: v3 (frames packed in blocks, for throughput) or v2 (a slot and a
    /// wake-up per frame, for latency).
    #[arg(long, default_value = "v3")]
    pub rx_ring: RxRingKind,
    /// Frames the port's prepared-packet pool holds (prepared TCP objects take one per
    /// segment).
    #[arg(long, default_value_t = 4096)]
    pub prepared_frames: usize,
    /// AF_XDP: where the XDP program runs: native (in the driver), generic (skb) or auto
    /// (native if the driver has it, else generic).
    #[cfg(feature = "afxdp")]
    #[arg(long, default_value = "auto")]
    pub xdp_mode: XdpMode,
    /// AF_XDP and netmap: the device queue to serve (AF_XDP's program steers only that
    /// queue to us; netmap opens that ring pair).
    #[arg(long, default_value_t = 0)]
    pub queue: u16,
    /// AF_XDP: RX ring entries, also the fill ring's and the RX frames (a power of two).
    #[cfg(feature = "afxdp")]
    #[arg(long, default_value_t = 2048)]
    pub xdp_rx_ring: usize,
    /// AF_XDP: UMEM frames in all; those beyond the RX and TX rings' hold prepared packets
    /// (default: the rings' frames plus --prepared-frames).
    #[cfg(feature = "afxdp")]
    #[arg(long)]
    pub umem_frames: Option<usize>,
    /// AF_XDP: UMEM frame size, 2048 or 4096 (the largest frame received is 256 less).
    #[cfg(feature = "afxdp")]
    #[arg(long, default_value_t = 2048)]
    pub frame_size: usize,
    /// AF_XDP: bind in zero-copy mode (drivers with AF_XDP zero-copy only; not veth).
    #[cfg(feature = "afxdp")]
    #[arg(long)]
    pub zero_copy: bool,
    /// AF_XDP: put the UMEM on 2 MiB huge pages (needs vm.nr_hugepages).
    #[cfg(feature = "afxdp")]
    #[arg(long)]
    pub hugepages: bool,
    /// DPDK: EAL arguments, space-separated (default: no huge pages, no PCI, one lcore,
    /// for virtual devices; with huge pages use e.g. "--in-memory -l 0").
    #[cfg(feature = "dpdk")]
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub eal: Option<String>,
    /// Impair this port's traffic in both directions with the `impair` wrapper, e.g.
    /// `loss=0.01` or `loss=0.05,reorder=0.25,dup=0.01` or `delay=20ms,jitter=5ms`
    /// (the kernel here has no netem).
    #[arg(long, value_name = "SPEC")]
    pub impair: Option<String>,
    /// Seed of the impairments.
    #[arg(long, default_value_t = 1)]
    pub impair_seed: u64,
    /// Write every frame this port receives and sends to FILE (pcap, nanosecond
    /// timestamps; read it with Wireshark, tshark or tcpdump). The capture sits between
    /// the stack and `--impair`, so it shows what the stack saw and sent: frames the
    /// impairments lose on the way out are in it, frames lost on the way in are not. With
    /// `--backend pipe` only this program's end is captured, not the demo peer's.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
}

impl BackendArgs {
    /// The impairment settings asked for, if any.
    pub fn impair_config(&self) -> Result<Option<ImpairConfig>, String> {
        let Some(spec) = &self.impair else {
            return Ok(None);
        };
        let imp = Impairments::parse(spec).map_err(|e| format!("--impair: {e}"))?;
        Ok(Some(ImpairConfig {
            rx: imp.clone(),
            tx: imp,
            seed: self.impair_seed,
            hold: 4096,
        }))
    }
}

/// Run `user` on `port`, wrapped in the impairment wrapper when `impair` asks for it and
/// in the capture wrapper (outermost, next to the stack) when `pcap` names a file.
///
/// Order: stack <-> capture <-> impair <-> device. The capture records what the stack
/// saw and sent, which is what one debugs a stack with; what the wire carried after
/// impairment is what a `tcpdump` on the interface (or the peer) shows.
fn run_wrapped<U: PortUser, P>(
    user: U,
    port: P,
    peer: Option<PipePort>,
    impair: Option<ImpairConfig>,
    pcap: Option<&Path>,
) -> Result<U::Output, String>
where
    P: Port + Send + 'static,
    P::Rx: Send + 'static,
    P::Tx: Send + 'static,
{
    match impair {
        Some(cfg) => {
            let port = ImpairedPort::new(port, MonotonicClock, cfg).map_err(|e| e.to_string())?;
            run_captured(user, port, peer, pcap)
        }
        None => run_captured(user, port, peer, pcap),
    }
}

/// Run `user` on `port`, capturing to `pcap` if given.
fn run_captured<U: PortUser, P>(
    user: U,
    port: P,
    peer: Option<PipePort>,
    pcap: Option<&Path>,
) -> Result<U::Output, String>
where
    P: Port + Send + 'static,
    P::Rx: Send + 'static,
    P::Tx: Send + 'static,
{
    let Some(path) = pcap else {
        return Ok(user.run(port, peer));
    };
    let shown = path.display().to_string();
    let port = PcapPort::create(port, path)
        .map_err(|e| format!("--pcap: {e}"))?
        .on_error(move |e| eprintln!("--pcap {shown}: {e}; capture stopped, traffic goes on"));
    Ok(user.run(port, peer))
}

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
        format!("net_af_packet_{iface},iface={iface}")
    } else {
        iface.to_string()
    }
}

/// Something generic over the port type, run with the port the user chose.
pub trait PortUser {
    /// What `run` returns.
    type Output;
    /// Use `port` (and for the pipe backend, `peer`, the other end of the wire).
    fn run<P: Port + Send + 'static>(self, port: P, peer: Option<PipePort>) -> Self::Output;
}

/// Open the backend `args` asks for and hand it to `user`.
pub fn open<U: PortUser>(args: &BackendArgs, user: U) -> Result<U::Output, String> {
    let need_iface = |what: &str| {
        if args.iface.is_empty() {
            Err(format!("--backend {what} needs --iface NAME"))
        } else {
            Ok(())
        }
    };
    let impair = args.impair_config()?;
    let pcap = args.pcap.as_deref();
    match args.backend {
        BackendKind::Pipe => {
            if impair.is_some() {
                return Err("--impair works on afpacket and tap (the pipe demo is clean)".into());
            }
            let (a, b) = pipe::pair(PipeConfig {
                ring_size: args.tx_ring.min(4096),
                wire_capacity: 8192,
                prepared_capacity: args.prepared_frames,
                ..Default::default()
            })
            .map_err(|e| e.to_string())?;
            run_captured(user, a, Some(b), pcap)
        }
        BackendKind::Afpacket => {
            need_iface("afpacket")?;
            let fanout = match args.fanout {
                Some(g) => Some((g, args.fanout_mode.parse::<FanoutMode>()?)),
                None => None,
            };
            let cfg = AfPacketConfig {
                tx_frames: args.tx_ring,
                rx_block_count: args.rx_blocks,
                rx_ring: args.rx_ring,
                fanout,
                prepared_capacity: args.prepared_frames,
                ..AfPacketConfig::new(args.iface.clone())
            };
            let port = AfPacketPort::open(cfg).map_err(|e| e.to_string())?;
            run_wrapped(user, port, None, impair, pcap)
        }
        BackendKind::Tap => {
            need_iface("tap")?;
            let cfg = TapConfig {
                ifname: args.iface.clone(),
                tx_slots: args.tx_ring.min(4096),
                prepared_capacity: args.prepared_frames,
                ..Default::default()
            };
            let port = TapPort::open(cfg).map_err(|e| e.to_string())?;
            run_wrapped(user, port, None, impair, pcap)
        }
        #[cfg(feature = "afxdp")]
        BackendKind::Afxdp => {
            need_iface("afxdp")?;
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
            let port = AfXdpPort::open(cfg).map_err(|e| e.to_string())?;
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
            run_wrapped(user, port, None, impair, pcap)
        }
        #[cfg(feature = "netmap")]
        BackendKind::Netmap => {
            need_iface("netmap")?;
            let cfg = NetmapConfig {
                queue_id: args.queue,
                prepared_capacity: u32::try_from(args.prepared_frames)
                    .map_err(|_| "--prepared-frames is too large for netmap".to_string())?,
                ..NetmapConfig::new(args.iface.clone())
            };
            let port = NetmapPort::open(cfg).map_err(|e| e.to_string())?;
            run_wrapped(user, port, None, impair, pcap)
        }
        #[cfg(feature = "dpdk")]
        BackendKind::Dpdk => {
            need_iface("dpdk")?;
            let eal = match &args.eal {
                Some(a) => a.split_whitespace().map(String::from).collect(),
                None => DpdkConfig::virtual_eal_args(),
            };
            let device = dpdk_device(&args.iface);
            let cfg = DpdkConfig {
                tx_ring: u16::try_from(args.tx_ring)
                    .map_err(|_| "--tx-ring is too large for dpdk".to_string())?,
                prepared_capacity: args.prepared_frames,
                ..DpdkConfig::new(device, eal)
            };
            let port = DpdkPort::open(cfg).map_err(|e| e.to_string())?;
            eprintln!("dpdk: {} (port {})", port.device_name(), port.port_id());
            run_wrapped(user, port, None, impair, pcap)
        }
    }
}
