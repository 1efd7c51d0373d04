//! A datagram in, through the whole stack to the application and its answer out, in ns per
//! datagram. The TX half is a sink, so no I/O is measured.
//!
//! `cargo bench -p udpip --bench udp`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use eth::testing::arp_request;
use eth::wire::{Ipv4Addr, MacAddr};
use eth::{IfaceConfig, Stack};
use nmio::backend::sink::SinkTx;
use nmio::{Context, Instant, PrepMode, RxMeta, TimerWheel, TxQueue};
use std::net::SocketAddrV4;
use std::time::Duration;
use udpip::testing::udp_frame;
use udpip::{Datagram, Patch, PreparedDatagram, Udp, UdpApp, UdpOut};

const US: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const OUR_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
const PEER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const CLIENT: u16 = 40000;
/// Answers with the 100-byte prepared datagram (DNS-sized).
const PREPARED_100: u16 = 53;
/// Answers with the 512-byte prepared datagram.
const PREPARED_512: u16 = 5353;
const ECHO: u16 = 7;
/// Bound, but the application does nothing with what arrives.
const DISCARD: u16 = 9;
/// Never bound.
const CLOSED: u16 = 4242;
/// A DNS query is about this size.
const QUERY_LEN: usize = 40;

/// Serves the bench's ports; `mode` is the prepared-send mode of the running case.
struct App {
    mode: PrepMode,
    prepared_100: Option<PreparedDatagram>,
    prepared_512: Option<PreparedDatagram>,
}

impl UdpApp for App {
    fn on_start<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>) {
        for port in [PREPARED_100, PREPARED_512, ECHO, DISCARD] {
            out.bind(port).expect("bench ports are free");
        }
        self.prepared_100 = Some(out.prepare(PREPARED_100, &[0x5a; 100]).unwrap());
        self.prepared_512 = Some(out.prepare(PREPARED_512, &[0x5a; 512]).unwrap());
    }

    #[inline]
    fn on_datagram<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>, d: Datagram<'_>) {
        // The payload is only read: the bench reuses one frame buffer for every datagram.
        let p = match d.dst.port() {
            PREPARED_100 => self.prepared_100,
            PREPARED_512 => self.prepared_512,
            ECHO => {
                out.reply(&d, d.payload);
                return;
            }
            _ => return,
        };
        let Some(p) = p else { return };
        // A DNS-like answer: the query's id goes into the first two bytes.
        out.send_prepared(&p, d.src, &[Patch::new(0, &d.payload[..2])], self.mode);
    }
}

/// The counter a case must move, so a broken path cannot bench as fast.
type Moved = fn(&Stack<Udp<App>>) -> u64;

fn query(port: u16, len: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
    udp_frame(
        PEER_MAC,
        OUR_MAC,
        SocketAddrV4::new(PEER, CLIENT),
        SocketAddrV4::new(US, port),
        &payload,
    )
}

fn bench_udp(c: &mut Criterion) {
    let mut cfg = IfaceConfig::new(OUR_MAC, US, 24);
    cfg.arp.announcements = 0;
    let app = App {
        mode: PrepMode::Memcpy,
        prepared_100: None,
        prepared_512: None,
    };
    let mut stack = Stack::new(cfg, Udp::new(app), Instant::ZERO).unwrap();
    let mut tx = SinkTx::new(1514, 2);
    let mut timers = TimerWheel::new(16, Duration::from_millis(1), 64, Instant::ZERO);
    let mut stop = false;
    {
        let mut cx = Context::new(&mut tx, &mut timers, Instant::ZERO, &mut stop);
        stack.start(&mut cx);
        // Teach the stack the peer's MAC, so answers need no resolution.
        let mut req = arp_request(PEER_MAC, PEER, US);
        stack.receive(&mut cx, &mut req, &RxMeta::default());
    }
    let mut bad_checksum = query(DISCARD, QUERY_LEN);
    // A payload byte: the IPv4 header still verifies, the UDP checksum does not.
    bad_checksum[42 + 5] ^= 0xff;
    let prepared: Moved = |s| s.upper().stats().tx_prepared;
    let sent: Moved = |s| s.upper().stats().tx_datagrams;
    let cases: [(&str, PrepMode, Vec<u8>, Moved); 9] = [
        (
            "prepared_memcpy_100B",
            PrepMode::Memcpy,
            query(PREPARED_100, QUERY_LEN),
            prepared,
        ),
        (
            "prepared_precopy_100B",
            PrepMode::PreCopy,
            query(PREPARED_100, QUERY_LEN),
            prepared,
        ),
        (
            "prepared_memcpy_512B",
            PrepMode::Memcpy,
            query(PREPARED_512, QUERY_LEN),
            prepared,
        ),
        (
            "prepared_precopy_512B",
            PrepMode::PreCopy,
            query(PREPARED_512, QUERY_LEN),
            prepared,
        ),
        ("echo_copy_64B", PrepMode::Memcpy, query(ECHO, 64), sent),
        ("echo_copy_1472B", PrepMode::Memcpy, query(ECHO, 1472), sent),
        (
            "receive_only_64B",
            PrepMode::Memcpy,
            query(DISCARD, 64),
            |s| s.upper().stats().rx_delivered,
        ),
        // ICMP port unreachables are rate limited (a burst, then a token per ms) and the
        // clock stands still here: after the first burst this is the drop path alone, and
        // the counter checked is the limiter's.
        (
            "drop_no_port",
            PrepMode::Memcpy,
            query(CLOSED, QUERY_LEN),
            |s| s.stats().icmp.unreachable_rate_limited,
        ),
        ("drop_bad_checksum", PrepMode::Memcpy, bad_checksum, |s| {
            s.upper().stats().rx_bad_checksum
        }),
    ];
    let mut g = c.benchmark_group("udp");
    g.throughput(Throughput::Elements(1));
    for (name, mode, mut frame, moved) in cases {
        stack.upper_mut().app_mut().mode = mode;
        let pristine = frame.clone();
        let (before, moved_before) = (stack.upper().stats(), moved(&stack));
        // The receive path does not modify these frames, so one buffer serves every run.
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut cx = Context::new(&mut tx, &mut timers, Instant::ZERO, &mut stop);
                stack.receive(&mut cx, black_box(&mut frame), &RxMeta::default());
            })
        });
        let after = stack.upper().stats();
        assert!(
            moved(&stack) > moved_before,
            "{name}: the counter it exercises did not move ({after})"
        );
        assert_eq!(
            (after.tx_dropped, after.tx_bad_patch, after.tx_prepared_held),
            (
                before.tx_dropped,
                before.tx_bad_patch,
                before.tx_prepared_held
            ),
            "{name}: answers were lost"
        );
        assert_eq!(frame, pristine, "{name}: the receive path wrote the frame");
    }
    g.finish();
}

criterion_group!(benches, bench_udp);
criterion_main!(benches);
