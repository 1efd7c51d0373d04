//! The load generator: HTTP or DNS clients on the stack itself, on any backend, so a
//! server can be driven harder than a kernel-socket client (wrk, dnsperf) drives it.
//!
//! ```text
//! loadgen http --backend afpacket --iface veth1 --addr 10.0.0.4/24 \
//!     --server 10.0.0.2:80 --path /index.html --connections 64 --close --duration 10
//! loadgen dns --backend afpacket --iface veth1 --addr 10.0.0.4/24 \
//!     --server 10.0.0.2 --query "www.example.com A" --duration 10
//! ```
//!
//! Give it an address the kernel does not use on that interface. The report uses wrk's
//! labels (http) or dnsperf's (dns), so a script reads either tool's output.

use apps::loadgen::{dns, http};
use apps::stack_cli::{
    install_signal_handlers, parse_or_exit, stop_flag, StackArgs, StackSettings,
};
use clap::{Parser, Subcommand};
use nmio::select::{open, BackendArgs, PortUser};
use nmio::Port;

/// `loadgen http`'s V2 receive ring: slots per connection, and the fewest.
const HTTP_RX_FRAMES_PER_CONNECTION: usize = 8;
const HTTP_RX_FRAMES_MIN: usize = 512;

/// HTTP or DNS load on the userspace stack.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// HTTP/1.1 GET requests over many connections (keep-alive or one per request).
    Http {
        #[command(flatten)]
        backend: BackendArgs,
        #[command(flatten)]
        stack: StackArgs,
        #[command(flatten)]
        http: http::HttpArgs,
    },
    /// DNS queries over UDP with a window of outstanding queries.
    Dns {
        #[command(flatten)]
        backend: BackendArgs,
        #[command(flatten)]
        stack: StackArgs,
        #[command(flatten)]
        dns: dns::DnsArgs,
    },
}

enum Job {
    Http(http::HttpArgs),
    Dns(dns::DnsArgs),
}

/// A [`Job`] with its arguments checked.
enum Checked {
    Http(http::HttpJob),
    Dns(dns::DnsJob),
}

struct Run {
    job: Checked,
    stack: StackSettings,
}

impl PortUser for Run {
    type Output = Result<(), String>;

    fn run<P: Port + Send + 'static, Q: Port + Send + 'static>(
        self,
        port: P,
        _peer: Option<Q>,
    ) -> Self::Output {
        let stop = stop_flag();
        match self.job {
            Checked::Http(job) => {
                let report = http::run_job(port, &self.stack, job, &stop)?;
                println!("{report}");
            }
            Checked::Dns(job) => {
                let report = dns::run_job(port, &self.stack, &job, &stop)?;
                println!("{report}");
            }
        }
        Ok(())
    }
}

fn main() {
    let cli: Cli = parse_or_exit("loadgen");
    let r = (|| {
        let (mut backend, stack, job) = match cli.cmd {
            Cmd::Http {
                backend,
                stack,
                http,
            } => (backend, stack, Job::Http(http)),
            Cmd::Dns {
                backend,
                stack,
                dns,
            } => (backend, stack, Job::Dns(dns)),
        };
        if backend.backend.in_process() {
            return Err(
                "needs a real link to a server (--backend afpacket, tap, afxdp or dpdk)".into(),
            );
        }
        // Request and response: on AF_PACKET the per-frame V2 ring unless --rx-ring says
        // otherwise (a V3 block holds an answer up to its retire timeout).
        backend.favour_latency();
        if matches!(job, Job::Http(_)) {
            // A kernel server with TSO/GSO (or ours) hands a veth peer whole 64 KiB GSO
            // frames where a NIC would put segments on the wire: AF_PACKET takes them whole
            // and cuts them into the segments a wire would carry (on the V2 ring a
            // super-frame comes through the socket's queue). Not for DNS: its answers are
            // single frames.
            backend.favour_rx_gso();
        }
        if let Job::Http(args) = &job {
            // A response waits in the ring as a few frames per connection (super-frames
            // whole): a V2 ring sized to the connections stays in the caches, which is
            // most of what a smaller ring saves on veth (bench/web.sh: 4-5% of the
            // machine's CPU per request at 1 KiB).
            backend.favour_rx_frames(
                args.connections
                    .saturating_mul(HTTP_RX_FRAMES_PER_CONNECTION)
                    .max(HTTP_RX_FRAMES_MIN),
            );
        }
        let stack = StackSettings::from_args(&stack, &backend)?;
        // Checked (and the query file read) before a port is opened.
        let job = match job {
            Job::Http(args) => Checked::Http(http::check(&args, &stack)?),
            Job::Dns(args) => Checked::Dns(dns::check(&args, &stack)?),
        };
        install_signal_handlers("loadgen");
        let backend = stack.backend_args(&backend);
        open(&backend, Run { job, stack }).map_err(|e| e.to_string())?
    })();
    if let Err(e) = r {
        eprintln!("loadgen: {e}");
        std::process::exit(1);
    }
}
