//! The DPDK backend on a virtual device (cargo feature `dpdk`, needs root):
//! `cargo test -p nmio --features dpdk --test dpdk`.
//!
//! DPDK allows one EAL per process, and an EAL cannot be retried after a failed init. So
//! each test here re-runs this test binary as a child process that does the DPDK work:
//! the backend checks inside a fresh network namespace (`ip netns exec`), with the EAL on
//! `--no-huge --no-pci --no-shconf` and `net_af_packet` hot-plugged on one end of a veth
//! pair, an AF_PACKET port on the other end; the EAL failure check in a process of its
//! own. The checks of one child run in order, in one `#[test]`.
//!
//! The backend conformance suite runs on the same setup from `tests/tests/conformance.rs`
//! (`cargo test -p tests --features dpdk --test conformance dpdk`).

#![cfg(feature = "dpdk")]

use nmio::backend::afpacket::{AfPacketConfig, AfPacketPort};
use nmio::backend::dpdk::{eal_init, DpdkConfig, DpdkPort};
use nmio::{Port, PrepMode, RxQueue, TxQueue};
use std::process::Command;
use std::time::{Duration, Instant};

/// Set in a child: which check to run.
const CHILD: &str = "NMIO_DPDK_TEST_CHILD";

/// EtherType of test frames (IEEE 802 local experimental).
const ETHERTYPE: u16 = 0x88b5;

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Skip with one line, except in CI (root, every tool), where it is a failure.
fn skip(test: &str, why: &str) {
    let msg = format!("SKIP {test}: {why}");
    assert!(!in_ci(), "{msg} (CI must run this test)");
    eprintln!("{msg}");
}

fn run(cmd: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .map_err(|e| format!("{}: {e}", cmd.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "`{}` failed: {}",
            cmd.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A network namespace with a veth pair `d0` <-> `d1`, offloads off; deleted on drop.
struct Ns(String);

impl Ns {
    fn new(tag: &str) -> Ns {
        let ns = Ns(format!("nmt-dpdk{tag}-{}", std::process::id()));
        run(&["ip", "netns", "add", &ns.0]).expect("ip netns add");
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
        ns.exec(&[
            "ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1",
        ]);
        for dev in ["d0", "d1"] {
            ns.exec(&["ip", "link", "set", dev, "up"]);
            ns.exec(&[
                "ethtool", "-K", dev, "tx", "off", "tso", "off", "gso", "off", "gro", "off",
            ]);
        }
        ns
    }

    fn exec(&self, cmd: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", &self.0];
        full.extend_from_slice(cmd);
        run(&full).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = run(&["ip", "netns", "del", &self.0]);
    }
}

/// Run `test` of this binary again as a child with `CHILD=role`, through `prefix` (e.g.
/// `ip netns exec NS`), and fail with its output when it fails.
fn run_child(test: &str, role: &str, prefix: &[&str]) {
    let exe = std::env::current_exe().expect("test binary");
    let exe = exe.to_str().expect("UTF-8 path");
    let mut cmd: Vec<&str> = prefix.to_vec();
    cmd.extend_from_slice(&[exe, "--exact", test, "--nocapture", "--test-threads=1"]);
    let out = Command::new(cmd[0])
        .args(&cmd[1..])
        .env(CHILD, role)
        .output()
        .expect("spawn the child test");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child `{role}` failed:\n{text}");
    assert!(
        text.contains("1 passed"),
        "child `{role}` ran no test:\n{text}"
    );
    println!("child `{role}` passed");
}

fn child_role() -> Option<String> {
    std::env::var(CHILD).ok()
}

#[test]
fn dpdk_backend_on_an_af_packet_vdev() {
    const TEST: &str = "dpdk_backend_on_an_af_packet_vdev";
    if let Some(role) = child_role() {
        assert_eq!(role, "vdev");
        return backend_checks();
    }
    if !is_root() {
        return skip(TEST, "needs root (network namespaces, raw sockets)");
    }
    for tool in ["ip", "ethtool"] {
        if run(&["sh", "-c", &format!("command -v {tool}")]).is_err() {
            return skip(TEST, &format!("needs the `{tool}` tool"));
        }
    }
    let ns = Ns::new("v");
    run_child(TEST, "vdev", &["ip", "netns", "exec", &ns.0]);
}

#[test]
fn eal_init_failure_is_one_clear_error() {
    const TEST: &str = "eal_init_failure_is_one_clear_error";
    match child_role().as_deref() {
        Some("eal") => return eal_failure_checks(),
        Some("leftover") => return eal_leftover_checks(),
        Some(other) => panic!("unknown child role {other}"),
        None => {}
    }
    run_child(TEST, "eal", &[]);
    // The EAL comes up there (`--no-huge` needs no root).
    run_child(TEST, "leftover", &[]);
}

/// Runs in its own process: a bad EAL argument is one error line, and stays an error.
fn eal_failure_checks() {
    let e = eal_init(&["--no-such-eal-option".to_string()]).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("DPDK EAL init with `--no-such-eal-option`"),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "one line: {msg}");
    let e =
        DpdkPort::open(DpdkConfig::new("net_ring0", DpdkConfig::virtual_eal_args())).unwrap_err();
    assert!(
        e.to_string().contains("failed earlier in this process"),
        "{e}"
    );
}

/// Runs in its own process: a word the EAL does not take is refused, by name.
fn eal_leftover_checks() {
    let mut args = DpdkConfig::virtual_eal_args();
    args.push("stray".into());
    let e = eal_init(&args).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("the EAL did not take `stray`"), "{msg}");
    assert!(!msg.contains('\n'), "one line: {msg}");
}

fn mac_of(dev: &str) -> [u8; 6] {
    let s = std::fs::read_to_string(format!("/sys/class/net/{dev}/address")).expect("address");
    let mut mac = [0u8; 6];
    for (b, h) in mac.iter_mut().zip(s.trim().split(':')) {
        *b = u8::from_str_radix(h, 16).expect("hex");
    }
    mac
}

fn frame(len: usize, dst: [u8; 6], src: [u8; 6], seq: u32) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&ETHERTYPE.to_be_bytes());
    f[14..18].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in f[18..].iter_mut().enumerate() {
        *b = (i as u32).wrapping_mul(7).wrapping_add(seq) as u8;
    }
    f
}

fn send<P: Port>(p: &mut P, f: &[u8]) {
    assert!(p.tx().send(|buf| {
        buf[..f.len()].copy_from_slice(f);
        f.len()
    }));
}

/// Test frames received on `p` within a deadline, until `want` arrived.
fn recv<P: Port>(p: &mut P, want: usize) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let start = Instant::now();
    while got.len() < want && start.elapsed() < Duration::from_secs(3) {
        let n = p.rx().recv_burst(64, |f, m| {
            assert_eq!(m.len as usize, f.len());
            if f.len() >= 18 && f[12..14] == ETHERTYPE.to_be_bytes() {
                got.push(f.to_vec());
            }
        });
        if n == 0 {
            p.wait(Duration::from_millis(1)).expect("wait");
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    got
}

/// The EAL arguments of the backend checks: no hugepages, no PCI, and a `net_ring`
/// device probed by the EAL itself.
fn eal_args() -> Vec<String> {
    let mut a = DpdkConfig::virtual_eal_args();
    a.push("--vdev=net_ring0".into());
    a
}

fn config(device: &str) -> DpdkConfig {
    DpdkConfig {
        rx_ring: 256,
        tx_desc: 256,
        tx_ring: 128,
        prepared_capacity: 16,
        ..DpdkConfig::new(device, eal_args())
    }
}

/// Runs inside the namespace, in its own process: every DPDK check, in order.
fn backend_checks() {
    let mut a = DpdkPort::open(config("net_af_packet0,iface=d0")).expect("dpdk on d0");
    let mut b = AfPacketPort::open(AfPacketConfig::new("d1")).expect("afpacket on d1");
    caps_come_from_the_device(&a);
    frames_cross_both_ways_byte_exact(&mut a, &mut b);
    precopy_sends_the_mbuf_and_clones_only_while_it_is_in_flight(&mut a, &mut b);
    prepared_mut_never_changes_a_queued_send(&mut a, &mut b);
    a_device_is_owned_by_one_port_and_the_eal_by_one_set_of_arguments();
    drop(a);
    // Dropping the port removed the hot-plugged device: the same arguments probe it anew.
    let mut a = DpdkPort::open(config("net_af_packet0,iface=d0")).expect("dpdk on d0 again");
    frames_cross_both_ways_byte_exact(&mut a, &mut b);
    drop(a);
    two_queues_share_the_traffic(&mut b);
    a_missing_interface_is_a_clear_error();
    a_ring_device_from_the_eal_arguments_loops_back();
}

fn caps_come_from_the_device(a: &DpdkPort) {
    let c = a.caps();
    assert_eq!(c.mac, mac_of("d0"));
    assert_eq!(c.mtu, 1500);
    assert_eq!(c.max_frame, 1518, "MTU + Ethernet + 802.1Q header");
    assert_eq!((c.rx_queues, c.tx_queues, c.queue_id), (1, 1, 0));
    assert_eq!(c.tx_ring_size, 128);
    assert!(c.zero_copy_prepared);
    assert!(!c.rss, "one queue: no RSS");
    assert_eq!(a.device_name(), "net_af_packet0");
}

fn frames_cross_both_ways_byte_exact(a: &mut DpdkPort, b: &mut AfPacketPort) {
    let (ma, mb) = (a.caps().mac, b.caps().mac);
    let sizes = [60usize, 61, 128, 1000, 1514];
    for (i, &len) in sizes.iter().enumerate() {
        send(a, &frame(len, mb, ma, i as u32));
    }
    assert_eq!(a.tx().pending(), sizes.len());
    assert_eq!(a.tx().flush().expect("flush"), sizes.len());
    let got = recv(b, sizes.len());
    let want: Vec<_> = (0..sizes.len())
        .map(|i| frame(sizes[i], mb, ma, i as u32))
        .collect();
    assert_eq!(got, want, "DPDK -> AF_PACKET");
    for (i, &len) in sizes.iter().enumerate() {
        send(b, &frame(len, ma, mb, 100 + i as u32));
    }
    b.tx().flush().expect("flush");
    let got = recv(a, sizes.len());
    let want: Vec<_> = (0..sizes.len())
        .map(|i| frame(sizes[i], ma, mb, 100 + i as u32))
        .collect();
    assert_eq!(got, want, "AF_PACKET -> DPDK");
    assert!(a.stats().rx_frames >= sizes.len() as u64);
}

fn with_seq(image: &[u8], n: u32) -> Vec<u8> {
    let mut v = image.to_vec();
    v[14..18].copy_from_slice(&n.to_be_bytes());
    v
}

fn seq(n: u32) -> impl FnOnce(&mut [u8]) {
    move |f: &mut [u8]| f[14..18].copy_from_slice(&n.to_be_bytes())
}

fn precopy_sends_the_mbuf_and_clones_only_while_it_is_in_flight(
    a: &mut DpdkPort,
    b: &mut AfPacketPort,
) {
    let image = frame(300, b.caps().mac, a.caps().mac, 0);
    let id = a.tx().prepare(&image).expect("prepare");
    let before = a.stats();
    assert!(a.tx().send_prepared(id, PrepMode::PreCopy, seq(1)));
    assert!(a.tx().send_prepared(id, PrepMode::PreCopy, seq(2)));
    let s = a.stats();
    assert_eq!(
        (
            s.prepared_precopy - before.prepared_precopy,
            s.prepared_clones - before.prepared_clones
        ),
        (2, 1),
        "the second send found the mbuf queued and went from a copy"
    );
    assert_eq!(
        a.tx().prepared(id),
        Some(&with_seq(&image, 1)[..]),
        "the first send rewrote the image in place; the clone did not"
    );
    a.tx().flush().expect("flush");
    assert_eq!(recv(b, 2), vec![with_seq(&image, 1), with_seq(&image, 2)]);
    // net_af_packet copies inside tx_burst, so the mbuf is back to one reference.
    assert!(a.tx().send_prepared(id, PrepMode::PreCopy, seq(3)));
    assert_eq!(
        a.stats().prepared_clones - before.prepared_clones,
        1,
        "sent by reference"
    );
    assert!(a.tx().send_prepared(id, PrepMode::Memcpy, seq(4)));
    assert_eq!(
        a.tx().prepared(id),
        Some(&with_seq(&image, 3)[..]),
        "memcpy left the image alone"
    );
    a.tx().flush().expect("flush");
    assert_eq!(recv(b, 2), vec![with_seq(&image, 3), with_seq(&image, 4)]);
    assert_eq!(a.stats().prepared_memcpy - before.prepared_memcpy, 1);
    let big = vec![0u8; a.tx().slot_size() + 1];
    assert!(a.tx().prepare(&big).is_err(), "larger than a slot");
}

fn prepared_mut_never_changes_a_queued_send(a: &mut DpdkPort, b: &mut AfPacketPort) {
    let image = frame(200, b.caps().mac, a.caps().mac, 50);
    let id = a.tx().prepare(&image).expect("prepare");
    assert!(a.tx().send_prepared(id, PrepMode::PreCopy, |_| {}));
    // The image is queued by reference: changing it moves it to a fresh mbuf.
    a.tx().prepared_mut(id).expect("image")[14..18].copy_from_slice(&51u32.to_be_bytes());
    assert!(a.tx().send_prepared(id, PrepMode::PreCopy, |_| {}));
    a.tx().flush().expect("flush");
    assert_eq!(recv(b, 2), vec![image.clone(), with_seq(&image, 51)]);
}

fn a_device_is_owned_by_one_port_and_the_eal_by_one_set_of_arguments() {
    let e = DpdkPort::open(config("net_af_packet0")).unwrap_err();
    assert!(
        e.to_string().contains("already open in this process"),
        "{e}"
    );
    let mut other = config("net_ring0");
    other.eal_args.push("--log-level=debug".into());
    let e = DpdkPort::open(other).unwrap_err();
    assert!(e.to_string().contains("already initialised"), "{e}");
    assert!(!e.to_string().contains('\n'));
}

fn two_queues_share_the_traffic(b: &mut AfPacketPort) {
    let mut ports = DpdkPort::open_queues(DpdkConfig {
        rx_queues: 2,
        ..config("net_af_packet1,iface=d0,qpairs=2")
    })
    .expect("two queues on d0");
    assert_eq!(ports.len(), 2);
    for (q, p) in ports.iter().enumerate() {
        assert_eq!(p.caps().queue_id, q as u16);
        assert_eq!(p.caps().rx_queues, 2);
    }
    // Flows differ in their IPv4 addresses, so the kernel's fanout hash spreads them.
    let (ma, mb) = (ports[0].caps().mac, b.caps().mac);
    let flows = 64u32;
    for n in 0..flows {
        assert!(b.tx().send(|f| {
            f[0..6].copy_from_slice(&ma);
            f[6..12].copy_from_slice(&mb);
            f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
            let ip = &mut f[14..34];
            ip.fill(0);
            ip[0] = 0x45;
            ip[2..4].copy_from_slice(&20u16.to_be_bytes());
            ip[8] = 64;
            ip[9] = 253; // experimental protocol
            ip[12..16].copy_from_slice(&[10, 9, (n >> 8) as u8, n as u8]);
            ip[16..20].copy_from_slice(&[10, 8, 0, 1]);
            60
        }));
    }
    b.tx().flush().expect("flush");
    let mut per_queue = [0u32; 2];
    let start = Instant::now();
    while per_queue.iter().sum::<u32>() < flows && start.elapsed() < Duration::from_secs(3) {
        for (q, p) in ports.iter_mut().enumerate() {
            p.rx().recv_burst(64, |f, _| {
                if f[12..14] == [0x08, 0x00] && f[23] == 253 {
                    per_queue[q] += 1;
                }
            });
        }
    }
    assert_eq!(per_queue.iter().sum::<u32>(), flows, "{per_queue:?}");
    assert!(
        per_queue.iter().all(|&n| n > 0),
        "both queues got flows: {per_queue:?}"
    );
}

fn a_missing_interface_is_a_clear_error() {
    let e = DpdkPort::open(config("net_af_packet2,iface=nosuch0")).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("DPDK probe of device `net_af_packet2,iface=nosuch0`"),
        "{msg}"
    );
    assert!(!msg.contains('\n'));
}

/// `net_ring0` comes from `--vdev` in the EAL arguments and is opened by name. Its TX ring
/// is its RX ring, so frames come back as the very mbufs sent: a prepared mbuf stays in
/// flight until it is received, and pre-copy must clone until then.
fn a_ring_device_from_the_eal_arguments_loops_back() {
    let mut r = DpdkPort::open(config("net_ring0")).expect("net_ring0 by name");
    assert_eq!(r.device_name(), "net_ring0");
    let (m, peer) = (r.caps().mac, [2, 0, 0, 0, 0, 1]);
    send(&mut r, &frame(100, peer, m, 7));
    r.tx().flush().expect("flush");
    assert_eq!(recv(&mut r, 1), vec![frame(100, peer, m, 7)]);

    let image = frame(64, peer, m, 0);
    let id = r.tx().prepare(&image).expect("prepare");
    assert!(r.tx().send_prepared(id, PrepMode::PreCopy, seq(1)));
    r.tx().flush().expect("flush");
    // In the ring now: the next pre-copy send must not touch it.
    assert!(r.tx().send_prepared(id, PrepMode::PreCopy, seq(2)));
    r.tx().flush().expect("flush");
    assert_eq!(r.stats().prepared_clones, 1);
    assert_eq!(
        recv(&mut r, 2),
        vec![with_seq(&image, 1), with_seq(&image, 2)]
    );
    // Received and freed: the image is the port's alone again.
    assert!(r.tx().send_prepared(id, PrepMode::PreCopy, seq(3)));
    r.tx().flush().expect("flush");
    assert_eq!(r.stats().prepared_clones, 1, "sent by reference");
    assert_eq!(recv(&mut r, 1), vec![with_seq(&image, 3)]);
    drop(r);
    // The device was removed with its port; net_ring needs no arguments, so its name
    // alone probes a fresh one.
    let r = DpdkPort::open(config("net_ring0")).expect("net_ring0 again");
    drop(r);
}
