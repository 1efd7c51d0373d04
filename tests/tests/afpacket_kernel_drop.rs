//! The AF_PACKET port's kernel drop (`AfPacketConfig::kernel_drop`): a tc ingress program
//! that drops IPv4 frames to the stack's addresses after the port's ring has its copy, so
//! the kernel's IP layer never sees them.
//!
//! Two namespaces joined by a veth: the server end `kds` (kernel address 10.78.0.1) opens
//! the port for stack address A = 10.78.0.100, which the server's kernel does not own; the
//! peer end `kdp` (10.78.0.2) sends UDP datagrams to A through a static neighbour entry
//! holding `kds`'s MAC. Whether the server's kernel saw them is read from its `Ip:
//! InReceives` counter (`/proc/net/snmp` inside the namespace), which counts every IPv4
//! packet that reaches `ip_rcv` for this host. IPv6 is off in these namespaces and ARP is
//! not IPv4, so without our frames the counter stands still.

use nmio::backend::afpacket::{AfPacketConfig, AfPacketPort, KernelDrop, KERNEL_DROP_MAX_ADDRS};
use nmio::{Port, RxQueue};
use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};
use tests::netns::{require_root, NetNs};

const A: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 100);
const SERVER: &str = "10.78.0.1";
const PEER: &str = "10.78.0.2";
const PORT: u16 = 9;
const N: usize = 200;
const DEADLINE: Duration = Duration::from_secs(3);
/// Time for the kernel to finish with frames the port already has: the tap that fills the
/// ring runs first in the same softirq, the IP layer just after.
const SETTLE: Duration = Duration::from_millis(100);
/// IPv4 packets the server's kernel may count besides ours (none are expected).
const NOISE: u64 = 5;

struct Pair {
    server: NetNs,
    peer: NetNs,
}

fn pair(test: &str) -> Option<Pair> {
    if !require_root(test, &["ip", "ethtool", "ping"]) {
        return None;
    }
    let server = NetNs::new("kds").unwrap();
    let peer = NetNs::new("kdp").unwrap();
    server.veth_to("kds", &peer, "kdp").unwrap();
    server
        .exec(&["ip", "addr", "add", "10.78.0.1/24", "dev", "kds"])
        .unwrap();
    peer.exec(&["ip", "addr", "add", "10.78.0.2/24", "dev", "kdp"])
        .unwrap();
    let mac = server.exec(&["cat", "/sys/class/net/kds/address"]).unwrap();
    let a = A.to_string();
    peer.exec(&[
        "ip",
        "neigh",
        "add",
        &a,
        "lladdr",
        mac.trim(),
        "dev",
        "kdp",
        "nud",
        "permanent",
    ])
    .unwrap();
    Some(Pair { server, peer })
}

impl Pair {
    /// An AF_PACKET port on the server end with `kernel_drop` set to `addrs`.
    fn port(&self, addrs: Vec<Ipv4Addr>) -> AfPacketPort {
        let _inside = self.server.enter().unwrap();
        AfPacketPort::open(AfPacketConfig {
            kernel_drop: addrs,
            ..AfPacketConfig::new("kds")
        })
        .unwrap()
    }

    /// Send `n` UDP datagrams from the peer's kernel to A.
    fn send(&self, n: usize) {
        let _inside = self.peer.enter().unwrap();
        let udp = UdpSocket::bind((PEER, 0)).unwrap();
        for i in 0..n as u32 {
            udp.send_to(&i.to_be_bytes(), (A, PORT)).unwrap();
        }
    }

    /// The server kernel's `Ip: InReceives`.
    fn in_receives(&self) -> u64 {
        let snmp = self.server.exec(&["cat", "/proc/net/snmp"]).unwrap();
        let mut ip = snmp.lines().filter(|l| l.starts_with("Ip:"));
        let (names, values) = (ip.next().unwrap(), ip.next().unwrap());
        let at = names
            .split_whitespace()
            .position(|w| w == "InReceives")
            .expect("no InReceives in /proc/net/snmp");
        values.split_whitespace().nth(at).unwrap().parse().unwrap()
    }

    /// How many more IPv4 packets the server's kernel saw while `n` datagrams went to A.
    fn kernel_saw(&self, n: usize, rx: Option<&mut dyn FnMut() -> usize>) -> u64 {
        let before = self.in_receives();
        self.send(n);
        if let Some(rx) = rx {
            assert_eq!(rx(), n, "the port must receive every datagram to A");
        }
        std::thread::sleep(SETTLE);
        self.in_receives() - before
    }
}

/// Receive from `rx` until `want` of the datagrams to A arrived or the deadline passed.
fn recv_ours(rx: &mut impl RxQueue, want: usize) -> usize {
    let end = Instant::now() + DEADLINE;
    let mut got = 0;
    while got < want && Instant::now() < end {
        rx.recv_burst(64, |f, _| {
            // IPv4, UDP, to A, to our port.
            if f.len() >= 42
                && f[12..14] == [0x08, 0x00]
                && f[23] == 17
                && f[30..34] == A.octets()
                && f[36..38] == PORT.to_be_bytes()
            {
                got += 1;
            }
        });
        if got < want {
            rx.wait(Duration::from_millis(10)).unwrap();
        }
    }
    got
}

fn recv_port(port: &mut impl Port, want: usize) -> usize {
    recv_ours(port.rx(), want)
}

#[test]
fn frames_to_the_stack_address_reach_the_port_and_not_the_kernel() {
    let Some(p) = pair("frames_to_the_stack_address_reach_the_port_and_not_the_kernel") else {
        return;
    };
    let mut port = p.port(vec![A]);
    assert_eq!(*port.kernel_drop(), KernelDrop::Attached { addrs: vec![A] });
    assert_eq!(port.kernel_drop().to_string(), "attached for 10.78.0.100");
    let seen = p.kernel_saw(N, Some(&mut || recv_port(&mut port, N)));
    eprintln!("kernel drop attached: {N} datagrams to A, InReceives +{seen}");
    assert!(seen < NOISE, "the kernel saw {seen} of {N} frames to A");

    // The kernel's own address is not the stack's: it still gets its frames and answers.
    let before = p.in_receives();
    p.peer
        .exec(&["ping", "-c", "3", "-i", "0.2", "-W", "1", SERVER])
        .expect("the server's kernel must still answer at its own address");
    let pings = p.in_receives() - before;
    eprintln!("ping of the kernel's own address: InReceives +{pings}");
    assert!(pings >= 3, "{pings}");
}

#[test]
fn without_kernel_drop_the_kernel_sees_every_frame() {
    let Some(p) = pair("without_kernel_drop_the_kernel_sees_every_frame") else {
        return;
    };
    let mut port = p.port(Vec::new());
    assert_eq!(*port.kernel_drop(), KernelDrop::NotAsked);
    let seen = p.kernel_saw(N, Some(&mut || recv_port(&mut port, N)));
    eprintln!("no kernel drop: {N} datagrams to A, InReceives +{seen}");
    assert!(
        seen >= N as u64,
        "the kernel saw only {seen} of {N} frames to A"
    );
}

#[test]
fn the_drop_lasts_as_long_as_the_receive_half_and_ends_with_it() {
    let Some(p) = pair("the_drop_lasts_as_long_as_the_receive_half_and_ends_with_it") else {
        return;
    };
    let port = p.port(vec![A]);
    assert!(port.kernel_drop().is_attached());
    // Wrappers (pcap, impair) take ports apart: the link goes with the receive half.
    let (mut rx, tx, _caps) = port.into_parts();
    drop(tx);
    let seen = p.kernel_saw(N, Some(&mut || recv_ours(&mut rx, N)));
    eprintln!("receive half alone: InReceives +{seen}");
    assert!(seen < NOISE, "the kernel saw {seen} of {N} frames to A");

    drop(rx);
    let seen = p.kernel_saw(N, None);
    eprintln!("port dropped: InReceives +{seen}");
    assert!(
        seen >= N as u64,
        "after the port closed the kernel saw only {seen} of {N} frames: still attached?"
    );
}

#[test]
fn an_unattachable_drop_leaves_the_port_working_and_says_why() {
    let Some(p) = pair("an_unattachable_drop_leaves_the_port_working_and_says_why") else {
        return;
    };
    let many: Vec<Ipv4Addr> = (0..=KERNEL_DROP_MAX_ADDRS as u8)
        .map(|i| Ipv4Addr::new(10, 78, 0, 100 + i))
        .collect();
    let mut port = p.port(many);
    let KernelDrop::Failed(why) = port.kernel_drop().clone() else {
        panic!("{:?}", port.kernel_drop());
    };
    assert!(why.contains("at most"), "{why}");
    assert!(!why.contains('\n'));
    let seen = p.kernel_saw(N, Some(&mut || recv_port(&mut port, N)));
    assert!(
        seen >= N as u64,
        "nothing attached, yet the kernel saw {seen}"
    );
}

/// What an application does: its addresses in `BackendArgs::stack_addrs`, the backend
/// chosen on the command line.
#[test]
fn select_attaches_the_drop_for_the_stack_addresses_it_is_given() {
    use nmio::select::{self, BackendArgs, BackendKind, PortUser};
    let Some(p) = pair("select_attaches_the_drop_for_the_stack_addresses_it_is_given") else {
        return;
    };
    struct Count<'a>(&'a Pair);
    impl PortUser for Count<'_> {
        type Output = u64;
        fn run<P: Port + Send + 'static, Q: Port + Send + 'static>(
            self,
            mut port: P,
            _peer: Option<Q>,
        ) -> u64 {
            self.0.kernel_saw(N, Some(&mut || recv_port(&mut port, N)))
        }
    }
    let mut args = BackendArgs {
        backend: BackendKind::Afpacket,
        iface: "kds".into(),
        stack_addrs: vec![A],
        ..BackendArgs::default()
    };
    let seen = {
        let _inside = p.server.enter().unwrap();
        select::open(&args, Count(&p)).unwrap()
    };
    eprintln!("through select: InReceives +{seen}");
    assert!(seen < NOISE, "the kernel saw {seen} of {N} frames to A");

    args.kernel_drop = false;
    let seen = {
        let _inside = p.server.enter().unwrap();
        select::open(&args, Count(&p)).unwrap()
    };
    eprintln!("through select with --kernel-drop false: InReceives +{seen}");
    assert!(
        seen >= N as u64,
        "the kernel saw only {seen} of {N} frames to A"
    );
}

#[test]
fn the_hosts_own_address_is_never_dropped() {
    let Some(p) = pair("the_hosts_own_address_is_never_dropped") else {
        return;
    };
    let own: Ipv4Addr = SERVER.parse().unwrap();
    // Asked for the kernel's own address (alone, or beside the stack's): nothing attached,
    // and the reason names the address and where the kernel has it.
    for addrs in [vec![own], vec![A, own]] {
        let port = p.port(addrs.clone());
        let KernelDrop::Failed(why) = port.kernel_drop() else {
            panic!("{addrs:?}: {}", port.kernel_drop());
        };
        assert!(
            why.contains("10.78.0.1 is this host's own address (on kds)"),
            "{why}"
        );
        // The kernel keeps answering at its address while the port is open.
        let before = p.in_receives();
        p.peer
            .exec(&["ping", "-c", "3", "-i", "0.2", "-W", "1", SERVER])
            .expect("the server's kernel must still answer at its own address");
        assert!(p.in_receives() - before >= 3);
    }
}
