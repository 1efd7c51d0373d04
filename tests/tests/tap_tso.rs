//! TCP segmentation offload on the TAP port, with the kernel as a real TCP peer.
//!
//! The whole stack (Ethernet, ARP, IPv4, TCP) serves on a TAP port opened with TSO, in a
//! namespace of its own; a `std::net::TcpStream` in the same namespace fetches an object
//! through the kernel's TCP. The stack hands the port TCP super-frames, the port writes each
//! one whole with a `virtio_net_hdr` asking for GSO, and the kernel's TCP takes them as they
//! are: the object must arrive byte-exact.

use eth::{IfaceConfig, Stack};
use nmio::backend::tap::{TapConfig, TapPort};
use nmio::{Clock, EventLoop, LoopConfig, MonotonicClock, Port, PortStats, PrepMode, TxQueue};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use tcpip::stats::TcpStats;
use tcpip::{Conn, Tcp, TcpApp, TcpConfig, TcpCore};
use tests::netns::{require_root, NetNs};

const STACK_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const KERNEL_ADDR: ([u8; 4], u8) = ([10, 77, 0, 1], 24);
const PORT: u16 = 80;
const OBJECT_LEN: usize = 1 << 20;
/// Bound on the whole exchange: connect, 1 MiB, close.
const DEADLINE: Duration = Duration::from_secs(20);

/// The object: a pattern that a shifted, lost or repeated byte range cannot match.
fn object() -> Vec<u8> {
    (0..OBJECT_LEN)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[i % 4])
        .collect()
}

/// Answers every connection with the object, then closes it.
struct Blob {
    data: Vec<u8>,
    /// Bytes queued so far, per connection (by handle index).
    sent: Vec<usize>,
}

impl Blob {
    fn pump(&mut self, conn: &mut Conn<'_>) {
        let i = conn.handle().index();
        if self.sent.len() <= i {
            self.sent.resize(i + 1, 0);
        }
        let at = self.sent[i];
        if at == self.data.len() {
            return;
        }
        self.sent[i] += conn.send(&self.data[at..]);
        if self.sent[i] == self.data.len() {
            conn.close();
        }
    }
}

impl TcpApp for Blob {
    fn on_accept(&mut self, conn: &mut Conn<'_>) {
        let i = conn.handle().index();
        if let Some(s) = self.sent.get_mut(i) {
            *s = 0;
        }
        self.pump(conn);
    }

    fn on_acked(&mut self, conn: &mut Conn<'_>, _bytes: usize) {
        self.pump(conn);
    }
}

/// What the server thread leaves behind.
struct Served {
    tcp: TcpStats,
    port: PortStats,
    tso_max: usize,
}

/// Run the stack on `port` until `stop` is set (or the deadline passes).
fn serve(port: TapPort, stop: Arc<AtomicBool>) -> Served {
    let cfg = IfaceConfig::for_port(port.caps(), STACK_IP, KERNEL_ADDR.1);
    let core = TcpCore::new(TcpConfig::for_mtu(cfg.mtu), MonotonicClock.now()).unwrap();
    let app = Blob {
        data: object(),
        sent: Vec::new(),
    };
    let mut tcp = Tcp::new(core, app, PrepMode::Memcpy);
    tcp.core_mut().listen(PORT).unwrap();
    let mut stack = Stack::new(cfg, tcp, MonotonicClock.now()).unwrap();
    let mut ev = EventLoop::new(port, MonotonicClock, LoopConfig::default());
    stack.start_on(&mut ev);
    let end = Instant::now() + DEADLINE;
    while !stop.load(Ordering::Relaxed) && Instant::now() < end {
        ev.run_for(&mut stack, Duration::from_millis(20));
    }
    ev.flush();
    let tso_max = ev.port_mut().tx().tso_max();
    Served {
        tcp: *stack.upper().stats(),
        port: ev.port().stats(),
        tso_max,
    }
}

/// Connect to the stack and read until it closes, within the deadline.
fn fetch() -> std::io::Result<Vec<u8>> {
    let addr = SocketAddr::from((STACK_IP, PORT));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(b"GET /\r\n\r\n")?;
    let end = Instant::now() + DEADLINE;
    let mut got = Vec::with_capacity(OBJECT_LEN);
    let mut buf = vec![0u8; 1 << 16];
    while Instant::now() < end {
        match s.read(&mut buf)? {
            0 => return Ok(got),
            n => got.extend_from_slice(&buf[..n]),
        }
    }
    Err(std::io::Error::other(format!(
        "{} bytes in {DEADLINE:?} and no end",
        got.len()
    )))
}

#[test]
fn kernel_tcp_receives_an_object_sent_as_tso_super_frames_byte_exact() {
    let test = "kernel_tcp_receives_an_object_sent_as_tso_super_frames_byte_exact";
    if !require_root(test, &["ip"]) {
        return;
    }
    let ns = NetNs::new("taptso").unwrap();
    let _in = ns.enter().unwrap();
    let port = TapPort::open(TapConfig {
        ifname: "tt0".into(),
        host_addr: Some(KERNEL_ADDR),
        tso: true,
        ..TapConfig::default()
    })
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let stop = stop.clone();
        thread::spawn(move || serve(port, stop))
    };
    let got = fetch();
    stop.store(true, Ordering::Relaxed);
    let served = server.join().expect("server thread");
    let got = got.expect("fetch from the stack");
    eprintln!("tcp: {}\nport: {:?}", served.tcp, served.port);

    assert_eq!(got.len(), OBJECT_LEN, "object length");
    assert!(got == object(), "object bytes differ");
    assert_eq!(served.tso_max, nmio::tso::MAX_FRAME);
    assert!(served.tcp.tx_tso > 0, "TCP sent no super-frames");
    assert!(served.port.tx_tso > 0, "the port took no super-frames");
    assert_eq!(served.port.tx_tso, served.tcp.tx_tso);
    assert_eq!((served.port.tx_bad_len, served.port.tx_errors), (0, 0));
    assert_eq!(
        served.tcp.retransmits, 0,
        "nothing is lost on a TAP: a retransmission means the kernel dropped a super-frame"
    );
}
