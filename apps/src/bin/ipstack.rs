//! Bring the stack up on any backend with an address, so `ping` and `arping` from a kernel
//! namespace get answers.
//!
//! The stack (`eth` with no transports) answers ARP requests for its address and ICMP echo
//! requests, announces itself with gratuitous ARP at start, and keeps a neighbour cache
//! (`--arp-reachable`, `--arp-expire`, `--static-arp`). With `--ping IP` it is also a ping
//! client: it sends echo requests through its own output path, resolving the next hop
//! itself, and prints a line per reply.
//!
//! With no arguments it runs on the in-memory `pipe` wire against a built-in peer at
//! 192.0.2.1 that resolves the stack with ARP and pings it `--count` times, so it works
//! anywhere without root. On a real link, give the stack an address the kernel does not
//! use on that interface:
//!
//! ```text
//! cargo run --bin ipstack
//! ipstack --backend afpacket --iface veth0 --addr 10.0.0.2/24      # then: ping 10.0.0.2
//! ipstack --backend tap --iface tap0 --addr 10.0.0.2/24 --ping 10.0.0.1 --count 3
//! ```

use apps::stack_cli::{
    install_signal_handlers, parse_or_exit, peer_addr, seconds, stop_flag, StackArgs, StackSettings,
};
use clap::Parser;
use eth::testing::{arp_reply, arp_request, drain, echo_request, inject, ipv4_frame};
use eth::testing::{parse_arp, parse_icmp};
use eth::wire::{ArpOp, EthernetFrame, IcmpPacket, IcmpRepr, IpProtocol, Ipv4Addr, MacAddr};
use eth::{NeighborState, SendStatus, Stack};
use nmio::select::{open, BackendArgs, PortUser};
use nmio::{Clock, EventLoop, MonotonicClock, Port};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Echo data bytes per request (ping's default).
const PING_DATA: usize = 56;
/// How long a pinger waits for replies after its last request.
const LINGER: Duration = Duration::from_secs(1);
/// Seconds between the pipe peer's pings unless `--interval` says otherwise.
const DEMO_INTERVAL: f64 = 0.2;
/// Longest loop slice while only serving, so a signal is noticed quickly.
const SLICE: Duration = Duration::from_millis(100);
/// The pipe demo's peer identifies its echo requests with this.
const PEER_IDENT: u16 = 0x7065;

/// Answer ARP and ping on a backend; optionally ping from the stack.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    backend: BackendArgs,
    #[command(flatten)]
    stack: StackArgs,
    /// Ping this address from the stack.
    #[arg(long, value_name = "IP")]
    ping: Option<Ipv4Addr>,
    /// Echo requests to send (--ping, and the pipe demo's peer).
    #[arg(long, default_value_t = 5)]
    count: u32,
    /// Seconds between echo requests [default: 1; 0.2 for the pipe demo's peer].
    #[arg(long, value_name = "SECS")]
    interval: Option<f64>,
}

/// The command line, checked.
struct Settings {
    backend: BackendArgs,
    stack: StackSettings,
    ping: Option<Ipv4Addr>,
    count: u16,
    interval: Option<Duration>,
}

impl Settings {
    fn from_cli(cli: Cli) -> Result<Settings, String> {
        let stack = StackSettings::from_args(&cli.stack, &cli.backend)?;
        let count = u16::try_from(cli.count)
            .ok()
            .filter(|&c| c > 0)
            .ok_or_else(|| format!("--count {} is not in 1..=65535", cli.count))?;
        if cli.ping == Some(stack.addr) {
            return Err(format!("--ping {} is the stack's own address", stack.addr));
        }
        if cli.backend.backend.in_process() {
            peer_addr(stack.addr, stack.prefix_len)?;
        }
        Ok(Settings {
            stack,
            ping: cli.ping,
            count,
            interval: seconds("--interval", cli.interval)?,
            backend: cli.backend,
        })
    }
}

/// The stack's own pings (`--ping`). Replies are counted with the ICMP layer's
/// `echo_replies_in` counter, so the lines carry no sequence number or round-trip time.
struct Pinger {
    dst: Ipv4Addr,
    ident: u16,
    count: u16,
    interval: Duration,
    sent: u16,
    next: Instant,
    last_sent: Instant,
    replies: u64,
    baseline: u64,
    data: [u8; PING_DATA],
}

impl Pinger {
    fn new(dst: Ipv4Addr, count: u16, interval: Duration, stack: &Stack<()>) -> Pinger {
        let now = Instant::now();
        let mut data = [0u8; PING_DATA];
        for (i, b) in data.iter_mut().enumerate() {
            *b = i as u8;
        }
        Pinger {
            dst,
            ident: (std::process::id() & 0xffff) as u16,
            count,
            interval,
            sent: 0,
            next: now,
            last_sent: now,
            replies: 0,
            baseline: stack.stats().icmp.echo_replies_in,
            data,
        }
    }

    fn poll<P: Port>(&mut self, ev: &mut EventLoop<P, MonotonicClock>, stack: &mut Stack<()>) {
        let replies = stack.stats().icmp.echo_replies_in - self.baseline;
        while self.replies < replies {
            self.replies += 1;
            println!(
                "echo reply from {}: {} of {} ({} sent)",
                self.dst, self.replies, self.count, self.sent
            );
        }
        let now = Instant::now();
        if self.sent < self.count && now >= self.next {
            self.sent += 1;
            let t = ev.clock().now();
            let (_, tx) = ev.port_mut().split();
            let st = stack
                .iface_mut()
                .send_echo_request(tx, t, self.dst, self.ident, self.sent, &self.data);
            ev.flush();
            if st == SendStatus::Dropped {
                println!(
                    "echo request {} to {} dropped (see stats)",
                    self.sent, self.dst
                );
            }
            self.last_sent = now;
            self.next = (self.next + self.interval).max(now);
        }
    }

    fn done(&self) -> bool {
        self.sent == self.count
            && (self.replies >= u64::from(self.count) || self.last_sent.elapsed() >= LINGER)
    }

    fn finish(&self) -> Result<(), String> {
        println!(
            "--- ping {}: {} requests sent, {} replies",
            self.dst, self.sent, self.replies
        );
        if self.done() && self.replies < u64::from(self.count) {
            return Err(format!(
                "{} of {} echo requests to {} unanswered",
                u64::from(self.count) - self.replies,
                self.count,
                self.dst
            ));
        }
        Ok(())
    }
}

/// The pipe demo's host on the other end of the wire: it resolves the stack with ARP,
/// pings it, and answers the stack's ARP requests and pings for its own address.
struct Peer<Q: Port> {
    port: Q,
    mac: MacAddr,
    ip: Ipv4Addr,
    stack_ip: Ipv4Addr,
    stack_mac: Option<MacAddr>,
    count: u16,
    interval: Duration,
    sent: u16,
    next: Instant,
    last_sent: Instant,
    started: Instant,
    sent_at: Vec<Option<Instant>>,
    replies: u16,
    gave_up: Option<String>,
}

impl<Q: Port> Peer<Q> {
    fn new(mut port: Q, s: &Settings) -> Result<Peer<Q>, String> {
        let ip = peer_addr(s.stack.addr, s.stack.prefix_len)?;
        let mac = MacAddr(port.caps().mac);
        println!("peer {ip} ({mac}): who has {}?", s.stack.addr);
        inject(&mut port, &arp_request(mac, ip, s.stack.addr));
        let now = Instant::now();
        Ok(Peer {
            port,
            mac,
            ip,
            stack_ip: s.stack.addr,
            stack_mac: None,
            count: s.count,
            interval: s.interval.unwrap_or(Duration::from_secs_f64(DEMO_INTERVAL)),
            sent: 0,
            next: now,
            last_sent: now,
            started: now,
            sent_at: vec![None; usize::from(s.count)],
            replies: 0,
            gave_up: None,
        })
    }

    fn poll(&mut self) {
        for frame in drain(&mut self.port) {
            self.receive(&frame);
        }
        let now = Instant::now();
        let Some(stack_mac) = self.stack_mac else {
            if self.gave_up.is_none() && now >= self.started + LINGER {
                self.gave_up = Some(format!(
                    "built-in peer: no ARP reply from {}",
                    self.stack_ip
                ));
            }
            return;
        };
        if self.sent < self.count && now >= self.next {
            self.sent += 1;
            let frame = echo_request(
                self.mac,
                stack_mac,
                self.ip,
                self.stack_ip,
                PEER_IDENT,
                self.sent,
                PING_DATA,
            );
            self.sent_at[usize::from(self.sent) - 1] = Some(now);
            inject(&mut self.port, &frame);
            self.last_sent = now;
            self.next = (self.next + self.interval).max(now);
        }
    }

    fn receive(&mut self, frame: &[u8]) {
        if let Some(arp) = parse_arp(frame) {
            if arp.op == ArpOp::Reply && arp.sender_ip == self.stack_ip && self.stack_mac.is_none()
            {
                println!(
                    "peer {}: {} is at {}",
                    self.ip, arp.sender_ip, arp.sender_mac
                );
                self.stack_mac = Some(arp.sender_mac);
                self.next = Instant::now();
            } else if arp.op == ArpOp::Request && arp.target_ip == self.ip {
                let reply = arp_reply(self.mac, self.ip, arp.sender_mac, arp.sender_ip);
                inject(&mut self.port, &reply);
            }
            return;
        }
        let Some((ip, icmp, data)) = parse_icmp(frame) else {
            return;
        };
        match icmp {
            IcmpRepr::EchoReply {
                ident: PEER_IDENT,
                seq,
                data_len,
            } if ip.src == self.stack_ip => {
                let Some(sent) = usize::from(seq)
                    .checked_sub(1)
                    .and_then(|i| self.sent_at.get_mut(i))
                    .and_then(Option::take)
                else {
                    return; // a duplicate, or not ours
                };
                self.replies += 1;
                println!(
                    "peer {}: echo reply from {}: icmp_seq={seq} bytes={} ttl={} time={:.3} ms",
                    self.ip,
                    ip.src,
                    data_len + 8,
                    ip.ttl,
                    sent.elapsed().as_secs_f64() * 1e3
                );
            }
            IcmpRepr::EchoRequest {
                ident,
                seq,
                data_len,
            } if ip.dst == self.ip => {
                // RFC 792: the reply carries the request's identifier, sequence and data.
                let Ok(to_mac) = EthernetFrame::new_checked(frame).map(|f| f.src()) else {
                    return;
                };
                let reply = IcmpRepr::EchoReply {
                    ident,
                    seq,
                    data_len,
                };
                let mut msg = vec![0; reply.buffer_len()];
                reply.emit(&mut IcmpPacket::new_unchecked(&mut msg[..]), &data);
                let frame = ipv4_frame(self.mac, to_mac, self.ip, ip.src, IpProtocol::ICMP, &msg);
                inject(&mut self.port, &frame);
            }
            _ => {}
        }
    }

    fn done(&self) -> bool {
        self.gave_up.is_some()
            || (self.sent == self.count
                && (self.replies == self.count || self.last_sent.elapsed() >= LINGER))
    }

    fn finish(&self) -> Result<(), String> {
        println!(
            "--- peer {}: {} echo requests sent, {} replies",
            self.ip, self.sent, self.replies
        );
        if let Some(e) = &self.gave_up {
            return Err(e.clone());
        }
        if self.done() && self.replies < self.count {
            return Err(format!(
                "built-in peer got {} of {} echo replies",
                self.replies, self.count
            ));
        }
        Ok(())
    }
}

fn print_arp_table(stack: &Stack<()>, now: nmio::Instant) {
    let arp = stack.iface().arp();
    println!("arp table: {} entries", arp.len());
    for n in arp.neighbors() {
        let state = match n.state {
            NeighborState::Static => {
                println!("  {:<15} {} static", n.ip, n.mac);
                continue;
            }
            NeighborState::Incomplete => {
                println!("  {:<15} incomplete, {} requests sent", n.ip, n.probes);
                continue;
            }
            NeighborState::Reachable { refreshing: false } => "reachable",
            NeighborState::Reachable { refreshing: true } => "refreshing",
        };
        println!(
            "  {:<15} {} {state}, confirmed {:.1} s ago",
            n.ip,
            n.mac,
            (now - n.confirmed).as_secs_f64()
        );
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
        let s = self.0;
        let cfg = s.stack.iface_config_for(port.caps());
        let mut stack = Stack::new(cfg, (), MonotonicClock.now()).map_err(|e| e.to_string())?;
        eprintln!(
            "ipstack: {}",
            s.stack.describe(&s.backend, stack.iface().mac())
        );
        let mut peer = peer.map(|p| Peer::new(p, &s)).transpose()?;
        let interval = s.interval.unwrap_or(Duration::from_secs(1));
        let mut pinger = s
            .ping
            .map(|dst| Pinger::new(dst, s.count, interval, &stack));
        let loop_cfg = s.stack.loop_config();
        let mut ev = EventLoop::new(port, MonotonicClock, loop_cfg);
        stack.start_on(&mut ev);

        let start = Instant::now();
        let end = s.stack.duration.map(|d| start + d);
        let active = peer.is_some() || pinger.is_some();
        let mut last_stats = start;
        let stop = stop_flag();
        loop {
            let now = Instant::now();
            let pings_done = peer.iter().all(Peer::done) && pinger.iter().all(Pinger::done);
            if stop.load(Ordering::Relaxed)
                || end.is_some_and(|e| now >= e)
                || (end.is_none() && active && pings_done)
            {
                break;
            }
            if active {
                // Pings are paced between passes: one pass at a time.
                ev.run_once(&mut stack);
            } else {
                let slice = end.map_or(SLICE, |e| e.saturating_duration_since(now).min(SLICE));
                ev.run_for(&mut stack, slice);
            }
            if let Some(p) = &mut pinger {
                p.poll(&mut ev, &mut stack);
            }
            if let Some(p) = &mut peer {
                p.poll();
            }
            if !s.stack.quiet && last_stats.elapsed() >= Duration::from_secs(1) {
                eprintln!("{}", stack.stats());
                last_stats = Instant::now();
            }
        }
        ev.flush();

        let verdicts = [
            peer.as_ref().map_or(Ok(()), Peer::finish),
            pinger.as_ref().map_or(Ok(()), Pinger::finish),
        ];
        println!("stats: {}", stack.stats());
        print_arp_table(&stack, ev.clock().now());
        let failures: Vec<String> = verdicts.into_iter().filter_map(Result::err).collect();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("; "))
        }
    }
}

fn run(s: Settings) -> Result<(), String> {
    install_signal_handlers("ipstack");
    let backend = s.stack.backend_args(&s.backend);
    open(&backend, Run(s)).map_err(|e| e.to_string())?
}

fn main() {
    let cli: Cli = parse_or_exit("ipstack");
    if let Err(e) = Settings::from_cli(cli).and_then(run) {
        eprintln!("ipstack: {e}");
        std::process::exit(1);
    }
}
