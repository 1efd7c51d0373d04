//! The TCP test server: answers `GET /<size>` with an in-memory object of that size, one
//! response per connection, as a byte stream or from prepared segments, on any backend.
//!
//! With no arguments it runs on the in-memory `pipe` wire against a built-in client (a
//! second stack at the other end) that fetches every object once and checks each byte.
//! On a real link, give it an address the kernel does not use on that interface:
//!
//! ```text
//! cargo run --release --bin tcp-serve
//! tcp-serve --backend afpacket --iface veth0 --addr 10.0.0.2/24 --mode prepared
//! # then: curl -o /dev/null http://10.0.0.2/1048576
//! ```

use apps::stack_cli::{
    install_signal_handlers, parse_or_exit, peer_addr, stop_flag, StackArgs, StackSettings,
};
use apps::tcp_test::{object, run_fetches, Fetcher, SendMode, Server};
use clap::Parser;
use eth::{IfaceConfig, Stack};
use nmio::select::{open, BackendArgs, PortUser};
use nmio::{Clock, EventLoop, MonotonicClock, Port, PrepMode};
use std::net::SocketAddrV4;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tcpip::{Tcp, TcpConfig, TcpCore};

/// Longest loop slice while only serving, so a signal is noticed quickly.
const SLICE: Duration = Duration::from_millis(100);
/// Object sizes served by default (the issue's interop sizes).
const DEFAULT_SIZES: [usize; 7] = [0, 1, 1448, 1449, 65_536, 1 << 20, 16 << 20];

/// Serve in-memory objects over TCP.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    backend: BackendArgs,
    #[command(flatten)]
    stack: StackArgs,
    /// TCP port.
    #[arg(long, default_value_t = 80)]
    port: u16,
    /// Object sizes in bytes, each served at `/<size>` (repeatable; default: 0, 1, 1448,
    /// 1449, 64 KiB, 1 MiB and 16 MiB).
    #[arg(long = "size", value_name = "BYTES")]
    sizes: Vec<usize>,
    /// Send objects as a byte stream or from prepared segments.
    #[arg(long, value_enum, default_value = "stream")]
    mode: SendMode,
    /// How prepared segments reach the port: pre-copy or memcpy.
    #[arg(long, default_value = "memcpy")]
    prep: PrepMode,
    /// Payload bytes per prepared segment (1448: a 1500 MTU less headers and timestamps).
    #[arg(long, default_value_t = 1448)]
    seg_size: u16,
    /// Most connections at once.
    #[arg(long, default_value_t = 4096)]
    max_connections: usize,
}

struct Settings {
    backend: BackendArgs,
    stack: StackSettings,
    port: u16,
    sizes: Vec<usize>,
    mode: SendMode,
    prep: PrepMode,
    seg_size: u16,
    max_connections: usize,
}

impl Settings {
    fn from_cli(mut cli: Cli) -> Result<Settings, String> {
        let stack = StackSettings::from_args(&cli.stack, &cli.backend)?;
        if cli.port == 0 {
            return Err("--port 0 cannot be listened on".into());
        }
        let mut sizes = if cli.sizes.is_empty() {
            DEFAULT_SIZES.to_vec()
        } else {
            cli.sizes
        };
        sizes.sort_unstable();
        sizes.dedup();
        if sizes.iter().any(|&s| s > 1 << 30) {
            return Err("--size above 1 GiB".into());
        }
        if cli.seg_size < 64 {
            return Err("--seg-size must be at least 64".into());
        }
        if cli.mode == SendMode::Prepared {
            // One pool frame per segment of every response, with room to spare.
            let seg = usize::from(cli.seg_size);
            let frames: usize = sizes.iter().map(|s| (s + 200).div_ceil(seg) + 1).sum();
            cli.backend.prepared_frames = cli.backend.prepared_frames.max(frames + 64);
        }
        if cli.backend.backend.in_process() {
            peer_addr(stack.addr, stack.prefix_len)?;
        }
        Ok(Settings {
            backend: cli.backend,
            stack,
            port: cli.port,
            sizes,
            mode: cli.mode,
            prep: cli.prep,
            seg_size: cli.seg_size,
            max_connections: cli.max_connections.max(1),
        })
    }
}

/// The built-in client's stack on the other end of the pipe.
struct Peer<Q: Port> {
    stack: Stack<Tcp<Fetcher>>,
    ev: EventLoop<Q, MonotonicClock>,
    addr: std::net::Ipv4Addr,
}

impl<Q: Port> Peer<Q> {
    fn new(port: Q, s: &Settings) -> Result<Peer<Q>, String> {
        let addr = peer_addr(s.stack.addr, s.stack.prefix_len)?;
        let mut cfg = IfaceConfig::for_port(port.caps(), addr, s.stack.prefix_len);
        cfg.arp.announcements = 0;
        let tcp_cfg = TcpConfig::for_mtu(cfg.mtu);
        let core = TcpCore::new(tcp_cfg, MonotonicClock.now()).map_err(|e| e.to_string())?;
        let fetcher = Fetcher::new(s.stack.addr.to_string());
        let tcp = Tcp::new(core, fetcher, PrepMode::Memcpy);
        let mut stack = Stack::new(cfg, tcp, MonotonicClock.now()).map_err(|e| e.to_string())?;
        let mut ev = EventLoop::new(port, MonotonicClock, s.stack.loop_config());
        stack.start_on(&mut ev);
        Ok(Peer { stack, ev, addr })
    }
}

struct Run(Settings);

impl PortUser for Run {
    type Output = Result<(), String>;

    fn run<P: Port + Send + 'static, Q: Port + Send + 'static>(
        self,
        port: P,
        peer: Option<Q>,
    ) -> Self::Output {
        let mut s = self.0;
        let cfg = s.stack.iface_config_for(port.caps());
        let mut tcp_cfg = TcpConfig::for_mtu(cfg.mtu);
        tcp_cfg.max_connections = s.max_connections;
        let core = TcpCore::new(tcp_cfg, MonotonicClock.now()).map_err(|e| e.to_string())?;
        let server = Server::new(&s.sizes, s.mode, s.max_connections);
        let mut tcp = Tcp::new(core, server, s.prep);
        tcp.core_mut().listen(s.port).map_err(|e| e.to_string())?;
        let mut stack = Stack::new(cfg, tcp, MonotonicClock.now()).map_err(|e| e.to_string())?;
        let mut ev = EventLoop::new(port, MonotonicClock, s.stack.loop_config());
        stack.start_on(&mut ev);
        if s.mode == SendMode::Prepared {
            let responses: Vec<Vec<u8>> = stack
                .upper()
                .app()
                .objects
                .iter()
                .map(|o| o.response.clone())
                .collect();
            for (i, r) in responses.iter().enumerate() {
                let id = ev
                    .with_context(|cx| {
                        stack.with_upper(cx, |tcp, ip| tcp.prepare(ip, r, s.seg_size))
                    })
                    .map_err(|e| e.to_string())?;
                stack.upper_mut().app_mut().objects[i].prepared = Some(id);
            }
        }
        let sizes: Vec<String> = s.sizes.iter().map(usize::to_string).collect();
        eprintln!(
            "tcp-serve: {}, port {}, {:?} mode, objects /{}",
            s.stack.describe(&s.backend, stack.iface().mac()),
            s.port,
            s.mode,
            sizes.join(" /")
        );
        let stop = stop_flag();
        let result = match peer {
            Some(p) => {
                s.stack.busy_poll = true;
                let mut peer = Peer::new(p, &s)?;
                let paths: Vec<String> = s.sizes.iter().map(|n| format!("/{n}")).collect();
                let deadline =
                    Instant::now() + s.stack.duration.unwrap_or(Duration::from_secs(120));
                let server_addr = SocketAddrV4::new(s.stack.addr, s.port);
                let done = run_fetches(
                    &mut peer.stack,
                    &mut peer.ev,
                    peer.addr,
                    server_addr,
                    &paths,
                    1,
                    deadline,
                    &stop,
                    || {
                        ev.run_once(&mut stack);
                    },
                )?;
                report_demo(&peer, done)
            }
            None => {
                let start = Instant::now();
                let end = s.stack.duration.map(|d| start + d);
                let mut last = (start, 0u64, 0u64);
                loop {
                    let now = Instant::now();
                    if stop.load(Ordering::Relaxed) || end.is_some_and(|e| now >= e) {
                        break;
                    }
                    let slice = end.map_or(SLICE, |e| e.saturating_duration_since(now).min(SLICE));
                    ev.run_for(&mut stack, slice);
                    if !s.stack.quiet && last.0.elapsed() >= Duration::from_secs(1) {
                        let t = stack.upper().stats();
                        let secs = last.0.elapsed().as_secs_f64();
                        eprintln!(
                            "{:.0} conn/s, {:.1} Mb/s out | {} {}",
                            (t.accepted - last.1) as f64 / secs,
                            (t.tx_bytes - last.2) as f64 * 8.0 / secs / 1e6,
                            stack.stats(),
                            t
                        );
                        last = (Instant::now(), t.accepted, t.tx_bytes);
                    }
                }
                Ok(())
            }
        };
        ev.flush();
        let app = stack.upper().app();
        println!(
            "served {} responses ({} errors), {} connections closed ({} reset or timed out)",
            app.requests, app.errors, app.closed, app.failed
        );
        println!("stats: {} {}", stack.stats(), stack.upper().stats());
        result
    }
}

fn report_demo<Q: Port>(peer: &Peer<Q>, done: bool) -> Result<(), String> {
    let mut bad = 0;
    for f in &peer.stack.upper().app().fetches {
        let size: usize = f.path[1..].parse().unwrap_or(usize::MAX);
        let exact = f.ok() && f.body == object(size);
        if !exact {
            bad += 1;
        }
        println!(
            "client: GET {} -> {} {} bytes in {:.3} s {}",
            f.path,
            f.status,
            f.body.len(),
            f.elapsed.as_secs_f64(),
            if exact { "exact" } else { "WRONG" }
        );
    }
    println!("client stats: {}", peer.stack.upper().stats());
    if !done {
        return Err("the built-in client did not finish in time".into());
    }
    if bad > 0 {
        return Err(format!("{bad} fetches were not byte-exact"));
    }
    Ok(())
}

fn run(s: Settings) -> Result<(), String> {
    install_signal_handlers("tcp-serve");
    let backend = s.stack.backend_args(&s.backend);
    open(&backend, Run(s)).map_err(|e| e.to_string())?
}

fn main() {
    let cli: Cli = parse_or_exit("tcp-serve");
    if let Err(e) = Settings::from_cli(cli).and_then(run) {
        eprintln!("tcp-serve: {e}");
        std::process::exit(1);
    }
}
