//! The udp-echo server against the Linux kernel's UDP sockets (root, a private namespace):
//! 10,000 datagrams of every size from 0 to 1472 bytes come back byte for byte with none
//! lost, and a datagram to a closed port makes the kernel client's connected socket report
//! ECONNREFUSED (our ICMP port unreachable).
//!
//! - afpacket: a veth pair; the server owns one end, the kernel's address is on the other.
//! - tap: the server creates a TAP device; the kernel's address is on it.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tests::netns::{require_root, NetNs};

const COUNT: u32 = 10_000;
/// The whole exchange must finish within this (it takes about a second here).
const CLIENT_LIMIT: Duration = Duration::from_secs(60);

/// The server process; killed on drop if a failed assertion leaves it running.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run `cmd` to completion within `limit`, or kill it and fail.
fn run_bounded(cmd: &mut Command, limit: Duration) -> (bool, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "did not finish in {limit:?}: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[derive(Clone, Copy)]
enum Backend {
    AfPacket,
    Tap,
}

impl Backend {
    /// A /24 no other test uses: 10.91.3.0/24 (afpacket), 10.91.4.0/24 (tap).
    fn subnet(self) -> u8 {
        match self {
            Backend::AfPacket => 3,
            Backend::Tap => 4,
        }
    }
}

#[test]
fn kernel_sockets_exchange_10000_datagrams_with_the_echo_server_on_afpacket() {
    exchange_with_the_kernel(
        "kernel_sockets_exchange_10000_datagrams_with_the_echo_server_on_afpacket",
        Backend::AfPacket,
    );
}

#[test]
fn kernel_sockets_exchange_10000_datagrams_with_the_echo_server_on_tap() {
    exchange_with_the_kernel(
        "kernel_sockets_exchange_10000_datagrams_with_the_echo_server_on_tap",
        Backend::Tap,
    );
}

fn exchange_with_the_kernel(test: &str, backend: Backend) {
    if !require_root(test, &["ip", "ethtool", "python3"]) {
        return;
    }
    let server_ip = format!("10.91.{}.2", backend.subnet());
    let kernel_cidr = format!("10.91.{}.1/24", backend.subnet());
    let ns = NetNs::new("udpecho").unwrap();
    let (kind, dev) = match backend {
        Backend::AfPacket => {
            ns.veth_pair("ueths0", "uethk0").unwrap();
            ns.exec(&["ip", "addr", "add", &kernel_cidr, "dev", "uethk0"])
                .unwrap();
            ("afpacket", "ueths0")
        }
        Backend::Tap => ("tap", "uetap0"),
    };
    let mut server = Server(
        Command::new("ip")
            .args(["netns", "exec", ns.name()])
            .arg(env!("CARGO_BIN_EXE_udp-echo"))
            .args(["--backend", kind, "--iface", dev])
            .args(["--addr", &format!("{server_ip}/24"), "--port", "7"])
            .args(["--duration", "120", "--quiet"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start udp-echo"),
    );
    if let Backend::Tap = backend {
        // The server creates the device; the kernel's address goes on it once it exists.
        let deadline = Instant::now() + Duration::from_secs(10);
        while ns.exec(&["ip", "link", "show", dev]).is_err() {
            assert!(Instant::now() < deadline, "the TAP device never appeared");
            std::thread::sleep(Duration::from_millis(20));
        }
        ns.exec(&["ip", "addr", "add", &kernel_cidr, "dev", dev])
            .unwrap();
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/udp_kernel_client.py");
    let (ok, client) = run_bounded(
        Command::new("ip")
            .args(["netns", "exec", ns.name(), "python3", script])
            .args([&server_ip, "7", &COUNT.to_string(), "32", "9"]),
        CLIENT_LIMIT,
    );
    // Stop the server cleanly for its final counters.
    let pid = server.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = server.0.wait().unwrap();
    let mut out = String::new();
    server
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    server
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let server_text = format!("{out}{err}");
    assert!(ok, "client: {client}\nserver: {server_text}");
    assert!(
        client.contains(&format!("exact {COUNT} corrupt 0 lost 0")),
        "{client}"
    );
    assert!(client.contains("closed port: refused"), "{client}");
    assert!(status.success(), "server: {server_text}");
    let echoed: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("echoed "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no echo count: {server_text}"));
    // Every datagram plus the client's readiness probes.
    assert!(echoed > u64::from(COUNT), "{server_text}");
    assert!(
        server_text.contains("ip.rx_port_unreachable=1"),
        "{server_text}"
    );
    eprintln!("client: {}", client.trim());
}
