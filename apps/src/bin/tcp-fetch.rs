//! The TCP test client: fetches paths over HTTP/1.1 from a server, one connection each,
//! on any backend, and writes or checks the bodies.
//!
//! ```text
//! tcp-fetch --backend afpacket --iface veth0 --addr 10.0.0.2/24 \
//!     --server 10.0.0.1:8080 --path /big.bin --out-dir /tmp/got
//! ```
//!
//! Exit status 0 only if every fetch got status 200 and the whole body (Content-Length)
//! on a normally closed connection.

use apps::stack_cli::{
    install_signal_handlers, parse_or_exit, stop_flag, StackArgs, StackSettings,
};
use apps::tcp_test::{run_fetches, Fetcher};
use clap::Parser;
use eth::Stack;
use nmio::select::{open, BackendArgs, PortUser};
use nmio::{Clock, EventLoop, MonotonicClock, Port, PrepMode};
use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tcpip::{Tcp, TcpConfig, TcpCore};

/// Fetch paths from an HTTP server over the stack's TCP.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    backend: BackendArgs,
    #[command(flatten)]
    stack: StackArgs,
    /// Server address and port.
    #[arg(long)]
    server: SocketAddrV4,
    /// Path to fetch (repeatable).
    #[arg(long = "path", required = true)]
    paths: Vec<String>,
    /// Fetches at once.
    #[arg(long, default_value_t = 1)]
    parallel: usize,
    /// Write each body to `DIR/<last path segment>`.
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120.0)]
    timeout: f64,
}

struct Run {
    cli: Cli,
    stack: StackSettings,
}

impl PortUser for Run {
    type Output = Result<(), String>;

    fn run<P: Port + Send + 'static, Q: Port + Send + 'static>(
        self,
        port: P,
        _peer: Option<Q>,
    ) -> Self::Output {
        let Run { cli, stack: s } = self;
        let cfg = s.iface_config_for(port.caps());
        let core = TcpCore::new(TcpConfig::for_mtu(cfg.mtu), MonotonicClock.now())
            .map_err(|e| e.to_string())?;
        let tcp = Tcp::new(
            core,
            Fetcher::new(cli.server.ip().to_string()),
            PrepMode::Memcpy,
        );
        let mut stack = Stack::new(cfg, tcp, MonotonicClock.now()).map_err(|e| e.to_string())?;
        let mut ev = EventLoop::new(port, MonotonicClock, s.loop_config());
        stack.start_on(&mut ev);
        eprintln!(
            "tcp-fetch: {}, {} paths from {}",
            s.describe(&cli.backend, stack.iface().mac()),
            cli.paths.len(),
            cli.server
        );
        let deadline = Instant::now() + Duration::from_secs_f64(cli.timeout.max(0.0));
        let stop = stop_flag();
        let done = run_fetches(
            &mut stack,
            &mut ev,
            s.addr,
            cli.server,
            &cli.paths,
            cli.parallel,
            deadline,
            &stop,
            || {},
        )?;
        ev.flush();
        let mut bad = 0;
        for f in &stack.upper().app().fetches {
            println!(
                "GET {} -> {} {} bytes (Content-Length {:?}) in {:.3} s, {:?}",
                f.path,
                f.status,
                f.body.len(),
                f.content_length,
                f.elapsed.as_secs_f64(),
                f.closed
            );
            if !f.ok() {
                bad += 1;
            }
            if let Some(dir) = &cli.out_dir {
                let name = f
                    .path
                    .rsplit('/')
                    .next()
                    .filter(|n| !n.is_empty())
                    .unwrap_or("index");
                std::fs::write(dir.join(name), &f.body)
                    .map_err(|e| format!("writing {}: {e}", dir.join(name).display()))?;
            }
        }
        println!("stats: {} {}", stack.stats(), stack.upper().stats());
        if !done {
            return Err(format!("timed out after {} s", cli.timeout));
        }
        if bad > 0 {
            return Err(format!("{bad} fetches incomplete"));
        }
        Ok(())
    }
}

fn main() {
    let cli: Cli = parse_or_exit("tcp-fetch");
    let r = (|| {
        if cli.backend.backend.in_process() {
            return Err(
                "needs a real link (--backend afpacket or tap); the pipe demo is tcp-serve's"
                    .to_string(),
            );
        }
        let stack = StackSettings::from_args(&cli.stack, &cli.backend)?;
        install_signal_handlers("tcp-fetch");
        let backend: BackendArgs = stack.backend_args(&cli.backend);
        open(&backend, Run { cli, stack }).map_err(|e| e.to_string())?
    })();
    if let Err(e) = r {
        eprintln!("tcp-fetch: {e}");
        std::process::exit(1);
    }
}
