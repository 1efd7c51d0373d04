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
//! responses per client /24 with TC=1 slips.
//!
//! `--mode` chooses how UDP answers at names that exist leave (the Sandstorm/Namestorm
//! variants): every such answer is a whole frame (Ethernet, IPv4, UDP, DNS) built at
//! start-up in the port's prepared pool, with and without EDNS; per query the id, RD and
//! the question as sent (case kept) are patched in, and the destination address and port
//! with incremental checksums. `pre-copy` rewrites the frame in place and hands it to the
//! port (by reference where the backend can, else copied); `memcpy` copies it into a TX
//! slot first and rewrites the copy; `write` prepares no frames and writes every answer
//! into the TX slot from the prepared records. Answers shared by names of different
//! lengths (NXDOMAIN, wildcards, referrals below a cut), truncated answers and answers
//! over a client's smaller EDNS size are always written into the slot.

use apps::dns::prepare::{prepare, Prepared};
use apps::dns::rrl::Rrl;
use apps::dns::server::DnsServer;
use apps::dns::tcp::DnsTcp;
use apps::dns::zone::{self, Zone};
use apps::stack_cli::StackSettings;
use apps::stack_cli::{install_signal_handlers, parse_or_exit, stop_flag, StackArgs};
use clap::Parser;
use eth::Stack;
use nmio::select::{open, BackendArgs, PortUser};
use nmio::{Clock, EventLoop, MonotonicClock, Port, PrepMode};
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
    /// How UDP answers at existing names are sent: pre-copy or memcpy (prepared frames
    /// patched per query, see above), or write (no frames; written into the TX slot).
    #[arg(long, value_enum, default_value_t = SendMode::PreCopy)]
    mode: SendMode,
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
    mode: Option<PrepMode>,
    tcp_connections: usize,
    tcp_idle: u64,
    rrl: u32,
    rrl_slip: u32,
}

impl Settings {
    fn from_cli(mut cli: Cli) -> Result<Settings, String> {
        // Query and answer: latency-bound. On AF_PACKET the per-frame V2 ring unless
        // --rx-ring says otherwise: the V3 block ring holds a query until its block fills
        // or the 1 ms retire timer fires, so a lone query was answered in 0.9 ms instead
        // of 0.1 ms, and our load generator's 512 queries in flight were capped at about
        // 510k/s (V2: 1.1M/s). V3 costs a kernel sender less per frame (dnsperf: 469k q/s
        // with V3, 301k with V2, its own CPU the limit either way): `--rx-ring v3` for that.
        cli.backend.favour_latency();
        if cli.backend.backend.in_process() {
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
            mode: match cli.mode {
                SendMode::PreCopy => Some(PrepMode::PreCopy),
                SendMode::Memcpy => Some(PrepMode::Memcpy),
                SendMode::Write => None,
            },
            tcp_connections: cli.tcp_connections.max(1),
            tcp_idle: cli.tcp_idle.max(1),
            rrl: cli.rrl,
            rrl_slip: cli.rrl_slip,
        })
    }
}

/// `--mode`: a prepared-frame mode, or `write` for none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum SendMode {
    PreCopy,
    Memcpy,
    Write,
}

struct Run(Settings, Prepared);

impl PortUser for Run {
    type Output = Result<(), String>;

    fn run<P: Port + Send + 'static, Q: Port + Send + 'static>(
        self,
        port: P,
        _peer: Option<Q>,
    ) -> Self::Output {
        let Run(s, prepared) = self;
        let templates = prepared.template_count();
        let cfg = s.stack.iface_config_for(port.caps());
        let prepared = Rc::new(prepared);
        // The server binds its port in `on_start`.
        let mut server =
            DnsServer::new(prepared.clone(), s.port).with_rrl(Rrl::new(s.rrl, s.rrl_slip, 65_536));
        if let Some(mode) = s.mode {
            server = server.with_mode(mode);
        }
        let udp = Udp::new(server);
        let mut tcp_cfg = TcpConfig::for_mtu(cfg.mtu);
        tcp_cfg.max_connections = s.tcp_connections;
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
        let mut ev = EventLoop::new(port, MonotonicClock, s.stack.loop_config());
        stack.start_on(&mut ev);
        let (frames, frame_error) = stack.upper().0.app().frames_prepared();
        if let Some(e) = frame_error {
            return Err(format!(
                "{e} after {frames} prepared frames; raise --prepared-frames"
            ));
        }
        eprintln!(
            "dns: {}, port {}, {} zones, {} prepared answers, {}",
            s.stack.describe(&s.backend, stack.iface().mac()),
            s.port,
            s.zones.len(),
            templates,
            match s.mode {
                Some(mode) => format!("{frames} prepared frames sent in {mode:?} mode"),
                None => "answers written into the TX slot".into(),
            }
        );
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
                    "{:.0} q/s: {:.0} noerror, {:.0} nxdomain, {:.0} refused, {:.0} formerr, {:.0} notimp; {:.0} as frames, {:.0} truncated, {} dropped",
                    rate(d.noerror + d.nxdomain + d.refused + d.formerr + d.notimp + d.badvers,
                         p.noerror + p.nxdomain + p.refused + p.formerr + p.notimp + p.badvers),
                    rate(d.noerror, p.noerror),
                    rate(d.nxdomain, p.nxdomain),
                    rate(d.refused, p.refused),
                    rate(d.formerr, p.formerr),
                    rate(d.notimp, p.notimp),
                    rate(d.prepared, p.prepared),
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
        let l = ev.stats();
        println!(
            "loop: rx_frames={} avg_batch={:.1} kicks={} avg_kick={:.1} idle_waits={} spins={}",
            l.rx_frames,
            l.avg_batch(),
            l.kicks,
            l.avg_kick(),
            l.idle_waits,
            l.spins
        );
        Ok(())
    }
}

fn run(mut s: Settings) -> Result<(), String> {
    install_signal_handlers("dns");
    let prepared = prepare(&s.zones).map_err(|e| e.to_string())?;
    if s.mode.is_some() {
        // Room for every answer at an existing name in both EDNS variants, plus margin.
        let needed = 2 * prepared.frame_count() + 64;
        s.backend.prepared_frames = s.backend.prepared_frames.max(needed);
    }
    let backend = s.stack.backend_args(&s.backend);
    open(&backend, Run(s, prepared)).map_err(|e| e.to_string())?
}

fn main() {
    let cli: Cli = parse_or_exit("dns");
    if let Err(e) = Settings::from_cli(cli).and_then(run) {
        eprintln!("dns: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use nmio::backend::afpacket::RxRingKind;

    fn settings(extra: &[&str]) -> Settings {
        let mut args = vec![
            "dns",
            "--backend",
            "afpacket",
            "--iface",
            "x",
            "--addr",
            "10.0.0.2/24",
            "--zone",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/zones/prepare.test.zone"),
        ];
        args.extend_from_slice(extra);
        Settings::from_cli(Cli::try_parse_from(args).unwrap()).unwrap()
    }

    #[test]
    fn queries_are_handed_up_per_frame_unless_the_v3_ring_is_asked_for() {
        // The V3 ring would hold a lone query up to its 1 ms block retire timeout.
        assert_eq!(settings(&[]).backend.rx_ring_kind(), RxRingKind::V2);
        let v3 = settings(&["--rx-ring", "v3"]);
        assert_eq!(v3.backend.rx_ring_kind(), RxRingKind::V3);
    }
}
