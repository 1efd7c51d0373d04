//! The static web server (Sandstorm-style): every file under `--root` loaded at start-up,
//! every response prepared once as TCP segments, each request answered by picking one.
//!
//! With no arguments it serves the small bundled site over a TAP device it creates
//! (`web0`, needs root): the stack answers at 10.77.0.2, the kernel's side of the TAP is
//! 10.77.0.1/24, so from the same machine:
//!
//! ```text
//! sudo cargo run --release --bin web
//! curl http://10.77.0.2/
//! ```
//!
//! Ctrl-C stops it; the TAP device and its address go with the process. On a real link:
//!
//! ```text
//! web --root /srv/www --backend afpacket --iface veth0 --addr 10.0.0.2/24 --mode pre-copy
//! ```
//!
//! Files that change after start-up are not seen (restart to reload); symlinks that lead
//! out of the root are not followed.

use apps::stack_cli::StackSettings;
use apps::stack_cli::{install_signal_handlers, parse_or_exit, stop_flag, StackArgs};
use apps::web::response;
use apps::web::server::{Responses, WebConfig, WebServer};
use apps::web::site::Site;
use clap::Parser;
use eth::Stack;
use nmio::select::{open, BackendArgs, PortUser};
use nmio::{Clock, EventLoop, MonotonicClock, Port, PrepMode, TxQueue};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};
use tcpip::{Tcp, TcpConfig, TcpCore};

/// Longest loop slice, so the per-second work and signals are noticed quickly.
const SLICE: Duration = Duration::from_millis(100);
/// `web`'s default `--poll-before-sleep`, in microseconds.
const WEB_POLL_BEFORE_SLEEP_US: u64 = 50;
/// Slots of `web`'s V2 receive ring unless `--rx-blocks` says otherwise.
const WEB_RX_FRAMES: usize = 1024;
/// The no-argument default: TAP device, our address, the kernel's side.
const DEMO_IFACE: &str = "web0";
const DEMO_ADDR: &str = "10.77.0.2/24";
const DEMO_KERNEL_ADDR: &str = "10.77.0.1/24";

/// Serve a directory of static files over HTTP/1.1 on the userspace stack.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    backend: BackendArgs,
    #[command(flatten)]
    stack: StackArgs,
    /// Directory to serve (default: the small site bundled in the binary).
    #[arg(long)]
    root: Option<PathBuf>,
    /// TCP port.
    #[arg(long, default_value_t = 80)]
    port: u16,
    /// How prepared responses reach the port: pre-copy (rewrite the prepared frame, send
    /// it by reference where the backend can) or memcpy (copy it into a TX slot).
    #[arg(long, default_value = "pre-copy")]
    mode: PrepMode,
    /// Payload bytes per prepared segment (1448: a 1500 MTU less headers and timestamps).
    #[arg(long, default_value_t = 1448)]
    seg_size: u16,
    /// Most open connections at once (more are refused by TCP and counted in
    /// tcp.table_full). Connections in TIME-WAIT are not counted here.
    #[arg(long, default_value_t = 16_384)]
    max_connections: usize,
    /// Most connections kept in TIME-WAIT (the server closes first, so every connection
    /// waits 60 s after it closed): a record of about 130 bytes each, in a table of their
    /// own. Past it the oldest wait ends early, counted in tcp.time_wait_recycled; 0
    /// keeps none.
    #[arg(long, default_value_t = 16_384)]
    max_time_wait: usize,
    /// Seconds a connection may take to send a complete request (from its accept or its
    /// previous response) before it is dropped.
    #[arg(long, default_value_t = 30)]
    header_timeout: u64,
}

struct Settings {
    backend: BackendArgs,
    stack: StackSettings,
    site: Site,
    port: u16,
    mode: PrepMode,
    seg_size: u16,
    max_time_wait: usize,
    web: WebConfig,
}

impl Settings {
    fn from_cli(mut cli: Cli, demo: bool) -> Result<Settings, String> {
        if demo {
            cli.backend = BackendArgs::host_link(DEMO_IFACE, DEMO_KERNEL_ADDR);
            cli.stack.addr = Some(DEMO_ADDR.into());
        }
        // Request and response: latency-bound (on AF_PACKET the per-frame V2 ring unless
        // --rx-ring says otherwise: the V3 block ring holds a request up to its retire
        // timeout; bench/web.sh measured keep-alive 1 KiB at 63k req/s with V3, 208k
        // with V2).
        cli.backend.favour_latency();
        // A V2 receive ring of 1,024 slots (2 MiB) instead of 2,048: requests, handshakes
        // and ACKs are a few frames per connection, and a ring that stays in the caches
        // costs less per frame (bench/web.sh, loadgen at 1 KiB with a new connection per
        // request, with loadgen's ring at 512: 5.85-5.90 against 6.13-6.28 us of machine
        // CPU per request; 256 KiB responses with no frame dropped).
        cli.backend.favour_rx_frames(WEB_RX_FRAMES);
        // Files above two segments leave as TCP super-frames the kernel or NIC cuts (TSO):
        // one send per 64 KiB instead of per 1448 bytes, where the backend has it.
        cli.backend.favour_tso();
        // After a busy pass keep polling 50 us before blocking: under load the server then
        // rarely sleeps, so a client's frames seldom have to wake it (the wake-up is paid on
        // the client's CPU, veth delivering there). bench/web.sh, 64 B, new connection per
        // request, alternating runs: wrk 72-74k -> 79-80k req/s at the same machine CPU per
        // request; loadgen at 1 KiB 7.07-7.19 -> 6.83-6.88 us of machine CPU per request.
        cli.stack.favour_poll_before_sleep(WEB_POLL_BEFORE_SLEEP_US);
        if cli.backend.backend.in_process() {
            return Err(
                "the pipe backend has no client to serve; use --backend tap or afpacket \
                 (with no arguments: a TAP device web0 at 10.77.0.2)"
                    .into(),
            );
        }
        if cli.backend.backend.needs_root() && !is_root() {
            return Err(format!(
                "needs root (CAP_NET_ADMIN and CAP_NET_RAW) to open the {} backend; run it with sudo",
                cli.backend.backend.name()
            ));
        }
        let stack = StackSettings::from_args(&cli.stack, &cli.backend)?;
        if cli.port == 0 {
            return Err("--port 0 cannot be listened on".into());
        }
        if cli.seg_size < 64 {
            return Err("--seg-size must be at least 64".into());
        }
        let site = match &cli.root {
            Some(root) => Site::load(root).map_err(|e| e.to_string())?,
            None => Site::bundled(),
        };
        // One pool frame per prepared segment: every file's 200 (GET three ways, HEAD three
        // ways) and 304s, the redirects and the errors, with room to spare.
        let seg = usize::from(cli.seg_size);
        let per = |len: usize| (len + 512).div_ceil(seg);
        let frames: usize = site
            .files()
            .iter()
            .map(|f| 3 * per(f.body().len()) + 9)
            .sum::<usize>()
            + 12 * site.redirects().count()
            + 64;
        cli.backend.prepared_frames = cli.backend.prepared_frames.max(frames);
        Ok(Settings {
            backend: cli.backend,
            stack,
            site,
            port: cli.port,
            mode: cli.mode,
            seg_size: cli.seg_size,
            max_time_wait: cli.max_time_wait,
            web: WebConfig {
                header_timeout: cli.header_timeout.max(1),
                max_connections: cli.max_connections.max(1),
            },
        })
    }
}

/// Effective user id 0, from /proc (no libc call in the apps).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

struct Run(Settings);

impl PortUser for Run {
    type Output = Result<(), String>;

    fn run<P: Port + Send + 'static, Q: Port + Send + 'static>(
        self,
        port: P,
        _peer: Option<Q>,
    ) -> Self::Output {
        let s = self.0;
        let cfg = s.stack.iface_config_for(port.caps());
        let tso = match port.halves().1.tso_max() {
            0 => "no TSO".to_string(),
            n => format!("TSO up to {n}-byte frames"),
        };
        let mut tcp_cfg = TcpConfig::for_mtu(cfg.mtu);
        tcp_cfg.max_connections = s.web.max_connections;
        tcp_cfg.max_time_wait = s.max_time_wait;
        let core = TcpCore::new(tcp_cfg, MonotonicClock.now()).map_err(|e| e.to_string())?;
        // The server is built once its responses are prepared (they need the port).
        let placeholder = WebServer::new(
            Site::empty(),
            Responses::empty(),
            WebConfig {
                max_connections: 0,
                ..s.web
            },
        );
        let mut tcp = Tcp::new(core, placeholder, s.mode);
        tcp.core_mut().listen(s.port).map_err(|e| e.to_string())?;
        let mut stack = Stack::new(cfg, tcp, MonotonicClock.now()).map_err(|e| e.to_string())?;
        let mut ev = EventLoop::new(port, MonotonicClock, s.stack.loop_config());
        stack.start_on(&mut ev);
        let date = response::format_date(SystemTime::now());
        let seg_size = s.seg_size;
        let site = s.site;
        let responses = ev
            .with_context(|cx| {
                stack.with_upper(cx, |tcp, ip| {
                    Responses::prepare(&site, &date, |bytes| tcp.prepare(ip, bytes, seg_size))
                })
            })
            .map_err(|e| format!("preparing responses: {e}"))?;
        let files = site.files().len();
        let prepared = responses.bytes;
        let date_fields = responses.date_fields().to_vec();
        let mut last_date = date;
        *stack.upper_mut().app_mut() = WebServer::new(site, responses, s.web);
        eprintln!(
            "web: {}, port {}, {} files ({} bytes of prepared responses), {:?} mode, {}",
            s.stack.describe(&s.backend, stack.iface().mac()),
            s.port,
            files,
            prepared,
            s.mode,
            tso
        );
        let port_suffix = if s.port == 80 {
            String::new()
        } else {
            format!(":{}", s.port)
        };
        println!("try: curl http://{}{}/", s.stack.addr, port_suffix);
        let stop = stop_flag();
        let start = Instant::now();
        let end = s.stack.duration.map(|d| start + d);
        let mut last = (start, 0u64, 0u64, 0u64);
        let mut last_sweep = start;
        let mut expired = Vec::new();
        loop {
            let now = Instant::now();
            if stop.load(Ordering::Relaxed) || end.is_some_and(|e| now >= e) {
                break;
            }
            let slice = end.map_or(SLICE, |e| e.saturating_duration_since(now).min(SLICE));
            ev.run_for(&mut stack, slice);
            if last_sweep.elapsed() < Duration::from_secs(1) {
                continue;
            }
            last_sweep = Instant::now();
            // Once per second: the Date of every prepared response (RFC 9110 6.6.1), then
            // the header timeout.
            let date = response::format_date(SystemTime::now());
            if date != last_date {
                last_date = date;
                ev.with_context(|cx| {
                    stack.with_upper(cx, |tcp, ip| {
                        for &(id, at) in &date_fields {
                            tcp.patch_prepared(ip, id, at, &date);
                        }
                    })
                });
            }
            let secs = start.elapsed().as_secs();
            expired.clear();
            expired.extend_from_slice(stack.upper_mut().app_mut().sweep(secs));
            for &h in &expired {
                ev.with_context(|cx| {
                    stack.with_upper(cx, |tcp, ip| tcp.act(ip, h, |c| c.abort()));
                });
            }
            if !s.stack.quiet && last.0.elapsed() >= Duration::from_secs(1) {
                let t = stack.upper().stats();
                let w = stack.upper().app().stats();
                let p = ev.stats().port;
                let dt = last.0.elapsed().as_secs_f64();
                eprintln!(
                    "{:.0} conn/s, {:.0} req/s, {:.3} Gb/s out, drops: {} ring full, {} table full, {} header timeouts, {} bad requests",
                    (t.accepted - last.1) as f64 / dt,
                    (w.requests - last.2) as f64 / dt,
                    (t.tx_bytes - last.3) as f64 * 8.0 / dt / 1e9,
                    p.rx_ring_full,
                    t.table_full,
                    w.header_timeouts,
                    w.client_errors,
                );
                last = (Instant::now(), t.accepted, w.requests, t.tx_bytes);
            }
        }
        ev.flush();
        let w = stack.upper().app().stats();
        println!(
            "web: {} requests ({} ok, {} not modified, {} redirects, {} not found, {} client errors), {} connections ({} failed, {} timed out)",
            w.requests,
            w.ok,
            w.not_modified,
            w.redirects,
            w.not_found,
            w.client_errors,
            w.accepted,
            w.failed,
            w.header_timeouts
        );
        println!(
            "stats: {} {} {}",
            stack.stats(),
            stack.upper().stats(),
            ev.stats().port
        );
        Ok(())
    }
}

fn run(s: Settings) -> Result<(), String> {
    install_signal_handlers("web");
    let backend = s.stack.backend_args(&s.backend);
    open(&backend, Run(s)).map_err(|e| e.to_string())?
}

fn main() {
    let demo = std::env::args_os().len() == 1;
    let cli: Cli = parse_or_exit("web");
    if let Err(e) = Settings::from_cli(cli, demo).and_then(run) {
        eprintln!("web: {e}");
        std::process::exit(1);
    }
}
