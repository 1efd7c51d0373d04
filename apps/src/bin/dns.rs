//! The authoritative DNS server (Namestorm-style): zone files loaded at start-up, every
//! answer prepared once, each query answered with a hash lookup on its lowercased question
//! and a copy of the prepared answer behind the question as sent.
//!
//! ```text
//! sudo dns --zone example.com.zone --backend afpacket --iface veth0 --addr 10.0.0.2/24
//! dig @10.0.0.2 example.com SOA
//! ```
//!
//! UDP and TCP (RFC 7766: length-prefixed messages, several per connection, idle
//! connections closed after `--tcp-idle` seconds) on the same port; `--rrl N` limits UDP
//! responses per client /24 with TC=1 slips. Work in progress (issue 7): the
//! prepared-datagram (pre-copy) send path comes next; answers are written straight into
//! the TX slot (the memcpy mode).

use apps::backend::{open, BackendArgs, BackendKind, PortUser};
use apps::dns::prepare::prepare;
use apps::dns::rrl::Rrl;
use apps::dns::server::DnsServer;
use apps::dns::tcp::DnsTcp;
use apps::dns::zone::{self, Zone};
use apps::stack_cli::StackSettings;
use apps::stack_cli::{install_signal_handlers, parse_or_exit, stop_flag, StackArgs};
use clap::Parser;
use eth::Stack;
use nmio::backend::pipe::PipePort;
use nmio::{Clock, EventLoop, MonotonicClock, Port};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tcpip::{Tcp, TcpConfig, TcpCore};
use udpip::Udp;

const SLICE: Duration = Duration::from_millis(100);

/// Answer DNS queries authoritatively from zone files, on the userspace stack.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    backend: BackendArgs,
    #[command(flatten)]
    stack: StackArgs,
    /// A zone file (repeatable). Its origin comes from `$ORIGIN`, the SOA, or `--origin`.
    #[arg(long = "zone", value_name = "FILE", required = true)]
    zones: Vec<PathBuf>,
    /// Origin for a zone file that does not name one (applies to every `--zone`).
    #[arg(long)]
    origin: Option<String>,
    /// UDP and TCP port.
    #[arg(long, default_value_t = 53)]
    port: u16,
    /// Most TCP connections at once.
    #[arg(long, default_value_t = 4096)]
    tcp_connections: usize,
    /// Seconds a TCP connection may stay idle before the server closes it (RFC 7766 6.2.3).
    #[arg(long, default_value_t = 10)]
    tcp_idle: u64,
    /// Response rate limit: UDP responses per second per client /24 (0: off).
    #[arg(long, default_value_t = 0)]
    rrl: u32,
    /// Past the limit, send every Nth response as an empty TC=1 answer (0: drop them all).
    #[arg(long, default_value_t = 2)]
    rrl_slip: u32,
}

struct Settings {
    backend: BackendArgs,
    stack: StackSettings,
    zones: Vec<Zone>,
    port: u16,
    tcp_connections: usize,
    tcp_idle: u64,
    rrl: u32,
    rrl_slip: u32,
}

impl Settings {
    fn from_cli(cli: Cli) -> Result<Settings, String> {
        if cli.backend.backend == BackendKind::Pipe {
            return Err(
                "the pipe backend has no client to answer; use --backend afpacket or tap".into(),
            );
        }
        let stack = StackSettings::from_args(&cli.stack, &cli.backend)?;
        if cli.port == 0 {
            return Err("--port 0 cannot be bound".into());
        }
        let mut zones = Vec::new();
        for path in &cli.zones {
            zones.push(zone::load(path, cli.origin.as_deref()).map_err(|e| e.to_string())?);
        }
        Ok(Settings {
            backend: cli.backend,
            stack,
            zones,
            port: cli.port,
            tcp_connections: cli.tcp_connections.max(1),
            tcp_idle: cli.tcp_idle.max(1),
            rrl: cli.rrl,
            rrl_slip: cli.rrl_slip,
        })
    }
}

struct Run(Settings);

impl PortUser for Run {
    type Output = Result<(), String>;

    fn run<P: Port + Send + 'static>(self, port: P, _peer: Option<PipePort>) -> Self::Output {
        let s = self.0;
        let prepared = prepare(&s.zones).map_err(|e| e.to_string())?;
        let templates = prepared.template_count();
        let cfg = s.stack.iface_config_for(port.caps());
        let prepared = Rc::new(prepared);
        // The server binds its port in `on_start`.
        let udp = Udp::new(
            DnsServer::new(prepared.clone(), s.port).with_rrl(Rrl::new(s.rrl, s.rrl_slip, 65_536)),
        );
        let mut tcp_cfg = TcpConfig::for_mtu(cfg.mtu);
        tcp_cfg.max_connections = s.tcp_connections;
        tcp_cfg.max_time_wait = tcp_cfg.max_time_wait.min(s.tcp_connections);
        let core = TcpCore::new(tcp_cfg, MonotonicClock.now()).map_err(|e| e.to_string())?;
        let app = DnsTcp::new(
            DnsServer::new(prepared, s.port),
            s.tcp_connections,
            s.tcp_idle,
        );
        let mut tcp = Tcp::new(core, app, nmio::PrepMode::Memcpy);
        tcp.core_mut().listen(s.port).map_err(|e| e.to_string())?;
        let mut stack =
            Stack::new(cfg, (udp, tcp), MonotonicClock.now()).map_err(|e| e.to_string())?;
        eprintln!(
            "dns: {}, port {}, {} zones, {} prepared answers",
            s.stack.describe(&s.backend, stack.iface().mac()),
            s.port,
            s.zones.len(),
            templates
        );
        let mut ev = EventLoop::new(port, MonotonicClock, s.stack.loop_config());
        stack.start_on(&mut ev);
        let start = Instant::now();
        let end = s.stack.duration.map(|d| start + d);
        let mut last = (start, Default::default());
        let mut last_sweep = start;
        let mut idle = Vec::new();
        let stop = stop_flag();
        loop {
            let now = Instant::now();
            if stop.load(Ordering::Relaxed) || end.is_some_and(|e| now >= e) {
                break;
            }
            let slice = end.map_or(SLICE, |e| e.saturating_duration_since(now).min(SLICE));
            ev.run_for(&mut stack, slice);
            if last_sweep.elapsed() >= Duration::from_secs(1) {
                last_sweep = Instant::now();
                let secs = start.elapsed().as_secs();
                idle.clear();
                idle.extend_from_slice(stack.upper_mut().1.app_mut().sweep(secs));
                for &h in &idle {
                    ev.with_context(|cx| {
                        stack.with_upper(cx, |(_, tcp), ip| tcp.act(ip, h, |c| c.close()));
                    });
                }
            }
            if !s.stack.quiet && last.0.elapsed() >= Duration::from_secs(1) {
                let d: apps::dns::server::DnsStats = stack.upper().0.app().stats();
                let p: apps::dns::server::DnsStats = last.1;
                let dt = last.0.elapsed().as_secs_f64();
                let rate = |a: u64, b: u64| (a - b) as f64 / dt;
                eprintln!(
                    "{:.0} q/s: {:.0} noerror, {:.0} nxdomain, {:.0} refused, {:.0} formerr, {:.0} notimp; {:.0} truncated, {} dropped",
                    rate(d.noerror + d.nxdomain + d.refused + d.formerr + d.notimp + d.badvers,
                         p.noerror + p.nxdomain + p.refused + p.formerr + p.notimp + p.badvers),
                    rate(d.noerror, p.noerror),
                    rate(d.nxdomain, p.nxdomain),
                    rate(d.refused, p.refused),
                    rate(d.formerr, p.formerr),
                    rate(d.notimp, p.notimp),
                    rate(d.truncated, p.truncated),
                    d.dropped
                );
                last = (Instant::now(), d);
            }
        }
        ev.flush();
        println!("dns: {:?}", stack.upper().0.app().stats());
        println!(
            "dns tcp: {:?} {:?}",
            stack.upper().1.app().server().stats(),
            stack.upper().1.app().stats()
        );
        println!(
            "stats: {} {} {}",
            stack.stats(),
            stack.upper().0.stats(),
            stack.upper().1.stats()
        );
        Ok(())
    }
}

fn run(s: Settings) -> Result<(), String> {
    install_signal_handlers("dns");
    let backend = s.backend.clone();
    open(&backend, Run(s))?
}

fn main() {
    let cli: Cli = parse_or_exit("dns");
    if let Err(e) = Settings::from_cli(cli).and_then(run) {
        eprintln!("dns: {e}");
        std::process::exit(1);
    }
}
