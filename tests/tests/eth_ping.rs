//! The eth stack against the Linux kernel on both real backends: the kernel pings and
//! arpings the stack, the stack resolves the kernel's MAC by itself before pinging it, and
//! the stack's neighbour entries are refreshed while in use and expire when idle.
//!
//! The stack runs on the test thread, inside a private namespace, so its counters and ARP
//! cache can be asserted; the kernel's tools run as child processes in the same namespace
//! while the test thread keeps turning the event loop.
//!
//! - afpacket: a veth pair; the stack owns one end (no kernel address on it), the kernel's
//!   address is on the other end.
//! - tap: a TAP device made by `TapPort`; the kernel's address is on the TAP interface, the
//!   stack's is another address of the subnet.

use eth::wire::{Ipv4Addr, MacAddr};
use eth::{ArpConfig, IfaceConfig, NeighborState, SendStatus, Stack};
use nmio::backend::afpacket::{AfPacketConfig, AfPacketPort};
use nmio::backend::tap::{TapConfig, TapPort};
use nmio::{Clock, EventLoop, LoopConfig, MonotonicClock, Port};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use tests::netns::{require_root, NetNs, NsGuard};

const TOOLS: &[&str] = &["ip", "ping", "arping"];
/// The longest a kernel tool may run before the test kills it and fails.
const TOOL_LIMIT: Duration = Duration::from_secs(8);
/// The stack's end of the veth pair (the kernel's end is [`Backend::kernel_dev`]).
const STACK_VETH: &str = "eths0";

#[derive(Clone, Copy, Debug)]
enum Backend {
    AfPacket,
    Tap,
}

impl Backend {
    /// Each backend's link is a /24 no other test uses: 10.91.1.0/24 and 10.91.2.0/24.
    fn subnet(self) -> u8 {
        match self {
            Backend::AfPacket => 1,
            Backend::Tap => 2,
        }
    }

    fn kernel_ip(self) -> Ipv4Addr {
        Ipv4Addr::new(10, 91, self.subnet(), 1)
    }

    fn stack_ip(self) -> Ipv4Addr {
        Ipv4Addr::new(10, 91, self.subnet(), 2)
    }

    /// The interface the kernel's address is on.
    fn kernel_dev(self) -> &'static str {
        match self {
            Backend::AfPacket => "ethk0",
            Backend::Tap => "ethtap0",
        }
    }
}

/// A stack on a real port in a private namespace, with the kernel on the other end of the
/// link. Fields drop in order: the loop (and its port) first, then the thread leaves the
/// namespace, then the namespace is deleted.
struct Rig<P: Port> {
    stack: Stack<()>,
    ev: EventLoop<P, MonotonicClock>,
    backend: Backend,
    _inside: NsGuard,
    ns: NetNs,
}

fn afpacket_rig(test: &str, arp: ArpConfig) -> Option<Rig<AfPacketPort>> {
    if !require_root(test, &[TOOLS, &["ethtool"]].concat()) {
        return None;
    }
    let b = Backend::AfPacket;
    let ns = NetNs::new("ethafp").unwrap();
    ns.veth_pair(STACK_VETH, b.kernel_dev()).unwrap();
    add_kernel_address(&ns, b);
    let inside = ns.enter().unwrap();
    let port = AfPacketPort::open(AfPacketConfig::new(STACK_VETH)).unwrap();
    Some(Rig::new(port, b, arp, inside, ns))
}

fn tap_rig(test: &str, arp: ArpConfig) -> Option<Rig<TapPort>> {
    if !require_root(test, TOOLS) {
        return None;
    }
    let b = Backend::Tap;
    let ns = NetNs::new("ethtap").unwrap();
    let inside = ns.enter().unwrap();
    let port = TapPort::open(TapConfig {
        ifname: b.kernel_dev().into(),
        ..TapConfig::default()
    })
    .unwrap();
    add_kernel_address(&ns, b);
    Some(Rig::new(port, b, arp, inside, ns))
}

fn add_kernel_address(ns: &NetNs, b: Backend) {
    let cidr = format!("{}/24", b.kernel_ip());
    ns.exec(&["ip", "addr", "add", &cidr, "dev", b.kernel_dev()])
        .unwrap();
}

impl<P: Port> Rig<P> {
    fn new(port: P, backend: Backend, arp: ArpConfig, inside: NsGuard, ns: NetNs) -> Self {
        let mut cfg = IfaceConfig::for_port(port.caps(), backend.stack_ip(), 24);
        cfg.arp = arp;
        let mut stack = Stack::new(cfg, (), MonotonicClock.now()).unwrap();
        let mut ev = EventLoop::new(port, MonotonicClock, LoopConfig::default());
        stack.start_on(&mut ev);
        Rig {
            stack,
            ev,
            backend,
            _inside: inside,
            ns,
        }
    }

    /// Run the loop for `d`.
    fn turn(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.ev.run_for(&mut self.stack, Duration::from_millis(10));
        }
    }

    /// Run the loop until `done` holds or `limit` passes; whether it held.
    fn turn_until(&mut self, limit: Duration, done: impl Fn(&Stack<()>) -> bool) -> bool {
        let end = Instant::now() + limit;
        while !done(&self.stack) {
            if Instant::now() >= end {
                return false;
            }
            self.ev.run_for(&mut self.stack, Duration::from_millis(10));
        }
        true
    }

    /// Run `cmd` in the namespace while the stack serves; its output once it exits.
    fn kernel_tool(&mut self, cmd: &[&str]) -> Output {
        let mut child = Command::new("ip")
            .args(["netns", "exec", self.ns.name()])
            .args(cmd)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + TOOL_LIMIT;
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                child.kill().unwrap();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "`{}` did not finish in {TOOL_LIMIT:?}: {}\nstack: {}",
                    cmd.join(" "),
                    String::from_utf8_lossy(&out.stdout),
                    self.stack.stats()
                );
            }
            self.ev.run_for(&mut self.stack, Duration::from_millis(10));
        }
        child.wait_with_output().unwrap()
    }

    /// The MAC of the kernel's interface, as the kernel reports it.
    fn kernel_mac(&self) -> MacAddr {
        let path = format!("/sys/class/net/{}/address", self.backend.kernel_dev());
        parse_mac(self.ns.exec(&["cat", &path]).unwrap().trim())
    }

    fn stack_mac(&self) -> MacAddr {
        self.stack.iface().mac()
    }
}

fn parse_mac(s: &str) -> MacAddr {
    let octets: Vec<u8> = s
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).unwrap_or_else(|_| panic!("MAC {s:?}")))
        .collect();
    MacAddr::from_bytes(&octets).unwrap_or_else(|| panic!("MAC {s:?}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// a) 200 pings 10 ms apart from the kernel all come back.
fn kernel_pings_the_stack<P: Port>(rig: &mut Rig<P>) {
    let stack_ip = rig.backend.stack_ip().to_string();
    let out = rig.kernel_tool(&[
        "ping", "-n", "-q", "-c", "200", "-i", "0.01", "-W", "1", &stack_ip,
    ]);
    let text = text(&out);
    assert!(
        out.status.success() && text.contains(" 200 received") && text.contains(" 0% packet loss"),
        "ping: {text}"
    );
    let st = rig.stack.stats();
    assert!(st.icmp.echo_replied >= 200, "{st}");
    assert_eq!(st.icmp.echo_reply_failed, 0, "{st}");
    assert!(
        st.arp.requests_answered >= 1,
        "the kernel resolved us: {st}"
    );
}

/// b) arping gets an answer to each of its requests, carrying the stack's MAC.
fn kernel_arpings_the_stack<P: Port>(rig: &mut Rig<P>) {
    let stack_ip = rig.backend.stack_ip().to_string();
    let dev = rig.backend.kernel_dev();
    let out = rig.kernel_tool(&["arping", "-c", "3", "-w", "5", "-I", dev, &stack_ip]);
    let text = text(&out);
    // iputils arping: "Unicast reply from 10.91.1.2 [02:AB:..]  0.5ms", then
    // "Received 3 response(s)".
    assert!(
        out.status.success() && text.contains("Received 3 response(s)"),
        "arping: {text}"
    );
    let macs: Vec<String> = text
        .lines()
        .filter(|l| l.contains(&format!("reply from {stack_ip} ")))
        .filter_map(|l| l.split_once('[')?.1.split_once(']'))
        .map(|(mac, _)| mac.to_ascii_lowercase())
        .collect();
    assert_eq!(macs.len(), 3, "arping: {text}");
    let want = rig.stack_mac().to_string();
    assert!(macs.iter().all(|m| *m == want), "{macs:?}, stack is {want}");
    let st = rig.stack.stats();
    assert!(st.arp.requests_answered >= 3, "{st}");
}

/// c) With an empty cache on both sides, the stack's first echo request waits while the
/// stack resolves the kernel's address; the reply teaches it the kernel interface's MAC.
fn stack_resolves_the_kernel_before_pinging_it<P: Port>(rig: &mut Rig<P>) {
    const COUNT: u16 = 5;
    let dev = rig.backend.kernel_dev();
    rig.ns.exec(&["ip", "neigh", "flush", "dev", dev]).unwrap();
    let kernel_ip = rig.backend.kernel_ip();
    assert_eq!(rig.stack.iface().arp().neighbor(kernel_ip), None);
    let data = [0x5a; 56];
    for seq in 1..=COUNT {
        let now = rig.ev.clock().now();
        let (_, tx) = rig.ev.port_mut().split();
        let st = rig
            .stack
            .iface_mut()
            .send_echo_request(tx, now, kernel_ip, 0x4e54, seq, &data);
        rig.ev.flush();
        assert!(st.is_ok(), "echo request {seq}: {st:?}");
        if seq == 1 {
            assert_eq!(st, SendStatus::Held, "nothing to send to before ARP");
        }
        let answered = rig.turn_until(Duration::from_secs(2), |s| {
            s.stats().icmp.echo_replies_in == u64::from(seq)
        });
        assert!(answered, "echo request {seq}: {}", rig.stack.stats());
    }
    let st = rig.stack.stats();
    assert!(st.arp.requests_sent >= 1, "{st}");
    assert_eq!((st.arp.held, st.arp.held_sent), (1, 1), "{st}");
    assert_eq!(st.icmp.echo_requests_sent, u64::from(COUNT), "{st}");
    assert_eq!(st.icmp.echo_replies_in, u64::from(COUNT), "{st}");
    let n = rig.stack.iface().arp().neighbor(kernel_ip).expect("entry");
    assert_eq!(n.mac, rig.kernel_mac(), "{n:?}");
    assert!(matches!(n.state, NeighborState::Reachable { .. }), "{n:?}");
}

/// ARP timings short enough to see refresh and expiry in a few seconds.
fn short_arp() -> ArpConfig {
    ArpConfig {
        reachable: Duration::from_millis(300),
        expire: Duration::from_secs(1),
        retry_interval: Duration::from_millis(200),
        ..ArpConfig::default()
    }
}

/// d) RFC 1122 2.3.2.1: while the kernel keeps pinging, the stack's entry for it goes
/// stale and is confirmed again by unicast requests; once traffic stops, it expires.
fn entries_refresh_while_used_and_expire_when_idle<P: Port>(rig: &mut Rig<P>) {
    let stack_ip = rig.backend.stack_ip().to_string();
    let kernel_ip = rig.backend.kernel_ip();
    let out = rig.kernel_tool(&[
        "ping", "-n", "-q", "-c", "100", "-i", "0.02", "-W", "1", &stack_ip,
    ]);
    let text = text(&out);
    assert!(
        out.status.success() && text.contains(" 100 received"),
        "ping: {text}"
    );
    let st = rig.stack.stats();
    assert!(st.arp.refresh_sent >= 1, "{st}");
    assert!(st.arp.entries_refreshed >= 1, "{st}");
    assert_eq!(st.arp.entries_expired, 0, "in use, never expired: {st}");
    assert!(st.icmp.echo_replied >= 100, "{st}");
    let n = rig.stack.iface().arp().neighbor(kernel_ip).expect("entry");
    assert_eq!(n.mac, rig.kernel_mac());

    rig.turn(Duration::from_millis(1500));
    let st = rig.stack.stats();
    assert_eq!(
        rig.stack.iface().arp().neighbor(kernel_ip),
        None,
        "idle entry still there: {st}"
    );
    assert!(st.arp.entries_expired >= 1, "{st}");
}

#[test]
fn kernel_pings_the_stack_on_afpacket() {
    if let Some(mut rig) = afpacket_rig("kernel_pings_the_stack_on_afpacket", ArpConfig::default())
    {
        kernel_pings_the_stack(&mut rig);
    }
}

#[test]
fn kernel_pings_the_stack_on_tap() {
    if let Some(mut rig) = tap_rig("kernel_pings_the_stack_on_tap", ArpConfig::default()) {
        kernel_pings_the_stack(&mut rig);
    }
}

#[test]
fn kernel_arpings_the_stack_on_afpacket() {
    if let Some(mut rig) =
        afpacket_rig("kernel_arpings_the_stack_on_afpacket", ArpConfig::default())
    {
        kernel_arpings_the_stack(&mut rig);
    }
}

#[test]
fn kernel_arpings_the_stack_on_tap() {
    if let Some(mut rig) = tap_rig("kernel_arpings_the_stack_on_tap", ArpConfig::default()) {
        kernel_arpings_the_stack(&mut rig);
    }
}

#[test]
fn stack_resolves_the_kernel_before_pinging_it_on_afpacket() {
    let test = "stack_resolves_the_kernel_before_pinging_it_on_afpacket";
    if let Some(mut rig) = afpacket_rig(test, ArpConfig::default()) {
        stack_resolves_the_kernel_before_pinging_it(&mut rig);
    }
}

#[test]
fn stack_resolves_the_kernel_before_pinging_it_on_tap() {
    let test = "stack_resolves_the_kernel_before_pinging_it_on_tap";
    if let Some(mut rig) = tap_rig(test, ArpConfig::default()) {
        stack_resolves_the_kernel_before_pinging_it(&mut rig);
    }
}

#[test]
fn entries_refresh_while_used_and_expire_when_idle_on_afpacket() {
    let test = "entries_refresh_while_used_and_expire_when_idle_on_afpacket";
    if let Some(mut rig) = afpacket_rig(test, short_arp()) {
        entries_refresh_while_used_and_expire_when_idle(&mut rig);
    }
}

#[test]
fn entries_refresh_while_used_and_expire_when_idle_on_tap() {
    let test = "entries_refresh_while_used_and_expire_when_idle_on_tap";
    if let Some(mut rig) = tap_rig(test, short_arp()) {
        entries_refresh_while_used_and_expire_when_idle(&mut rig);
    }
}
