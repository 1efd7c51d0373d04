//! A UDP echo server (RFC 862) on the stack, on any backend: every datagram to a bound port
//! goes back to its sender, byte for byte, from that port.
//!
//! With no arguments it runs on the in-memory `pipe` wire against a built-in client: a
//! second stack at 192.0.2.1 on the other end of the wire resolves the server with ARP,
//! sends `--count` datagrams of every size from 0 to 1472 bytes with up to `--window` in
//! flight, checks each echo byte for byte, and reports. On a real link, give the server an
//! address the kernel does not use on that interface:
//!
//! ```text
//! cargo run --bin udp-echo
//! udp-echo --backend afpacket --iface veth0 --addr 10.0.0.2/24 --port 7 --port 9000
//! # then, from the kernel's side: socat - UDP:10.0.0.2:7
//! ```

use apps::stack_cli::{
    install_signal_handlers, parse_or_exit, peer_addr, stop_flag, StackArgs, StackSettings,
};
use clap::Parser;
use eth::{IfaceConfig, SendStatus, Stack};
use nmio::select::{open, BackendArgs, PortUser};
use nmio::{Clock, EventLoop, MonotonicClock, Port, TxQueue};
use std::collections::VecDeque;
use std::net::SocketAddrV4;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use udpip::{Datagram, Udp, UdpApp, UdpOut};

/// Longest loop slice while only serving, so a signal is noticed quickly.
const SLICE: Duration = Duration::from_millis(100);
/// The built-in client gives up on the datagrams in flight after this long without an echo.
const CLIENT_PATIENCE: Duration = Duration::from_secs(1);
/// How often the built-in client checks for progress.
const CLIENT_CHECK: Duration = Duration::from_millis(100);
/// Largest UDP payload in a 1500-byte MTU.
const MAX_PAYLOAD: usize = 1472;

/// Echo UDP datagrams on a backend.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    backend: BackendArgs,
    #[command(flatten)]
    stack: StackArgs,
    /// UDP port to echo on (repeatable).
    #[arg(long = "port", value_name = "PORT", default_values_t = [7u16])]
    ports: Vec<u16>,
    /// Datagrams the pipe demo's client sends.
    #[arg(long, default_value_t = 2000)]
    count: u32,
    /// Datagrams the pipe demo's client keeps in flight.
    #[arg(long, default_value_t = 32)]
    window: u32,
}

/// The command line, checked.
struct Settings {
    backend: BackendArgs,
    stack: StackSettings,
    ports: Vec<u16>,
    count: u32,
    window: usize,
}

impl Settings {
    fn from_cli(cli: Cli) -> Result<Settings, String> {
        let stack = StackSettings::from_args(&cli.stack, &cli.backend)?;
        let mut ports = cli.ports;
        if ports.contains(&0) {
            return Err("--port 0 cannot be bound".into());
        }
        ports.sort_unstable();
        ports.dedup();
        if cli.window == 0 {
            return Err("--window must be at least 1".into());
        }
        if cli.backend.backend.in_process() {
            peer_addr(stack.addr, stack.prefix_len)?;
        }
        Ok(Settings {
            backend: cli.backend,
            stack,
            ports,
            count: cli.count,
            window: cli.window as usize,
        })
    }
}

/// The server: each datagram back to where it came from.
#[derive(Default)]
struct Echo {
    echoed: u64,
    not_sent: u64,
}

impl UdpApp for Echo {
    #[inline]
    fn on_datagram<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>, d: Datagram<'_>) {
        if out.reply(&d, d.payload).is_ok() {
            self.echoed += 1;
        } else {
            self.not_sent += 1;
        }
    }
}

/// The pipe demo's client: datagrams of every size, each echo checked byte for byte.
struct Client {
    server: SocketAddrV4,
    count: u32,
    window: usize,
    local: u16,
    sent: u32,
    /// Sequence numbers in flight, oldest first (the pipe neither drops nor reorders).
    in_flight: VecDeque<u32>,
    exact: u32,
    corrupt: u32,
    lost: u32,
    last_progress: nmio::Instant,
}

impl Client {
    fn new(server: SocketAddrV4, count: u32, window: usize) -> Client {
        Client {
            server,
            count,
            window,
            local: 0,
            sent: 0,
            in_flight: VecDeque::with_capacity(window),
            exact: 0,
            corrupt: 0,
            lost: 0,
            last_progress: nmio::Instant::ZERO,
        }
    }

    /// Sizes walk 0..=1472 in a stride that visits every one within 1473 datagrams.
    fn size(seq: u32) -> usize {
        (seq as usize * 397) % (MAX_PAYLOAD + 1)
    }

    fn byte(seq: u32, i: usize) -> u8 {
        (seq.wrapping_mul(131) as usize + i * 7) as u8
    }

    fn done(&self) -> bool {
        self.exact + self.corrupt + self.lost == self.count
    }

    /// Keep the window full (one datagram until the first echo: the first ones wait for
    /// ARP, and the neighbour cache holds only a few).
    fn fill<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>) {
        let window = if self.exact + self.corrupt == 0 {
            1
        } else {
            self.window
        };
        while self.sent < self.count && self.in_flight.len() < window {
            let seq = self.sent;
            let len = Self::size(seq);
            let st = out.send_with(self.local, self.server, |buf| {
                for (i, b) in buf[..len].iter_mut().enumerate() {
                    *b = Self::byte(seq, i);
                }
                len
            });
            if st == SendStatus::Dropped {
                break; // the ring is full: again at the end of the batch
            }
            self.sent += 1;
            self.in_flight.push_back(seq);
        }
    }

    fn report(&self) -> Result<(), String> {
        println!(
            "client: {} datagrams of 0..={MAX_PAYLOAD} bytes sent to {}, {} echoed byte-exact, {} corrupt, {} lost",
            self.sent, self.server, self.exact, self.corrupt, self.lost
        );
        if self.exact == self.count {
            Ok(())
        } else {
            Err(format!(
                "built-in client: {} of {} datagrams came back intact",
                self.exact, self.count
            ))
        }
    }
}

impl UdpApp for Client {
    fn on_start<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>) {
        self.local = out.bind_ephemeral().expect("a fresh stack has free ports");
        self.last_progress = out.now();
        let at = out.now() + CLIENT_CHECK;
        out.set_timer(at, 0);
        self.fill(out);
    }

    fn on_datagram<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>, d: Datagram<'_>) {
        if d.src != self.server || d.dst.port() != self.local {
            return;
        }
        let Some(seq) = self.in_flight.pop_front() else {
            self.corrupt += 1; // an echo of nothing we sent
            return;
        };
        let intact = d.payload.len() == Self::size(seq)
            && d.payload
                .iter()
                .enumerate()
                .all(|(i, &b)| b == Self::byte(seq, i));
        if intact {
            self.exact += 1;
        } else {
            self.corrupt += 1;
        }
        self.last_progress = out.now();
        self.fill(out);
    }

    fn on_timer<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>, _: u64) {
        if self.done() {
            return;
        }
        if out.now() - self.last_progress >= CLIENT_PATIENCE {
            // Whatever is in flight is not coming back; so is what was never sent.
            self.lost += self.in_flight.len() as u32 + (self.count - self.sent);
            self.in_flight.clear();
            self.sent = self.count;
            return;
        }
        let at = out.now() + CLIENT_CHECK;
        out.set_timer(at, 0);
    }

    fn on_batch_end<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>) {
        if !self.done() {
            self.fill(out);
        }
    }
}

/// The built-in client's own stack on the other end of the pipe.
struct Peer<Q: Port> {
    stack: Stack<Udp<Client>>,
    ev: EventLoop<Q, MonotonicClock>,
}

impl<Q: Port> Peer<Q> {
    fn new(port: Q, s: &Settings) -> Result<Peer<Q>, String> {
        let ip = peer_addr(s.stack.addr, s.stack.prefix_len)?;
        let mut cfg = IfaceConfig::for_port(port.caps(), ip, s.stack.prefix_len);
        cfg.arp.announcements = 0;
        let server = SocketAddrV4::new(s.stack.addr, s.ports[0]);
        let client = Client::new(server, s.count, s.window);
        let mut stack =
            Stack::new(cfg, Udp::new(client), MonotonicClock.now()).map_err(|e| e.to_string())?;
        let mut ev = EventLoop::new(port, MonotonicClock, s.stack.loop_config());
        println!(
            "client {ip}: {} datagrams to {server}, {} in flight",
            s.count, s.window
        );
        stack.start_on(&mut ev);
        Ok(Peer { stack, ev })
    }

    fn client(&self) -> &Client {
        self.stack.upper().app()
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
        let mut udp = Udp::new(Echo::default());
        for &p in &s.ports {
            udp.bind(p).map_err(|e| e.to_string())?;
        }
        let mut stack = Stack::new(cfg, udp, MonotonicClock.now()).map_err(|e| e.to_string())?;
        let ports: Vec<String> = s.ports.iter().map(u16::to_string).collect();
        eprintln!(
            "udp-echo: {}, echoing on port {}",
            s.stack.describe(&s.backend, stack.iface().mac()),
            ports.join(", ")
        );
        let mut peer = match peer {
            Some(p) => {
                // Two loops share this thread: neither may block while the other has work.
                s.stack.busy_poll = true;
                Some(Peer::new(p, &s)?)
            }
            None => None,
        };
        let mut ev = EventLoop::new(port, MonotonicClock, s.stack.loop_config());
        stack.start_on(&mut ev);

        let start = Instant::now();
        let end = s.stack.duration.map(|d| start + d);
        let mut last_stats = (start, 0u64, 0u64);
        let stop = stop_flag();
        loop {
            let now = Instant::now();
            let client_done = peer.as_ref().is_some_and(|p| p.client().done());
            if stop.load(Ordering::Relaxed)
                || end.is_some_and(|e| now >= e)
                || (end.is_none() && client_done)
            {
                break;
            }
            match &mut peer {
                Some(p) => {
                    ev.run_once(&mut stack);
                    p.ev.run_once(&mut p.stack);
                }
                None => {
                    let slice = end.map_or(SLICE, |e| e.saturating_duration_since(now).min(SLICE));
                    ev.run_for(&mut stack, slice);
                }
            }
            if !s.stack.quiet && last_stats.0.elapsed() >= Duration::from_secs(1) {
                let u = stack.upper().stats();
                let secs = last_stats.0.elapsed().as_secs_f64();
                eprintln!(
                    "{:.0} datagrams/s in, {:.0} out | {} {}",
                    (u.rx_delivered - last_stats.1) as f64 / secs,
                    (u.tx_datagrams - last_stats.2) as f64 / secs,
                    stack.stats(),
                    u
                );
                last_stats = (Instant::now(), u.rx_delivered, u.tx_datagrams);
            }
        }
        ev.flush();
        let echo = stack.upper().app();
        println!(
            "echoed {} datagrams ({} could not be sent)",
            echo.echoed, echo.not_sent
        );
        println!("stats: {} {}", stack.stats(), stack.upper().stats());
        peer.map_or(Ok(()), |p| p.client().report())
    }
}

fn run(s: Settings) -> Result<(), String> {
    install_signal_handlers("udp-echo");
    let backend = s.stack.backend_args(&s.backend);
    open(&backend, Run(s)).map_err(|e| e.to_string())?
}

fn main() {
    let cli: Cli = parse_or_exit("udp-echo");
    if let Err(e) = Settings::from_cli(cli).and_then(run) {
        eprintln!("udp-echo: {e}");
        std::process::exit(1);
    }
}
