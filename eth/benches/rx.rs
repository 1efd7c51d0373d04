//! The receive path, frame in to classified and dispatched (and the reply built where there
//! is one), in ns per frame. The TX half is a sink, so no I/O is measured.
//!
//! `cargo bench -p eth --bench rx`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use eth::testing::{arp_request, echo_request, ipv4_frame};
use eth::wire::{IpProtocol, Ipv4Addr, MacAddr};
use eth::{Delivery, IfaceConfig, IpContext, IpInput, Stack, Transport};
use nmio::backend::sink::SinkTx;
use nmio::{Context, Instant, RxMeta, TimerWheel, TxQueue};
use std::time::Duration;

const US: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const OUR_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
const PEER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

/// A transport that reads the first payload byte (so delivery is not optimized away).
struct Count(u64);

impl<Tx: TxQueue> Transport<Tx> for Count {
    #[inline]
    fn accepts(&self, p: IpProtocol) -> bool {
        p == IpProtocol::UDP
    }

    #[inline]
    fn on_packet(&mut self, _: &mut IpContext<'_, '_, Tx>, pkt: IpInput<'_>) -> Delivery {
        self.0 += u64::from(pkt.payload[0]);
        Delivery::Accepted
    }
}

fn bench_rx(c: &mut Criterion) {
    let mut cfg = IfaceConfig::new(OUR_MAC, US, 24);
    cfg.arp.announcements = 0;
    let mut stack = Stack::new(cfg, Count(0), Instant::ZERO).unwrap();
    let mut tx = SinkTx::new(1514, 1);
    let mut timers = TimerWheel::new(16, Duration::from_millis(1), 64, Instant::ZERO);
    let mut stop = false;
    // Teach the stack the peer's MAC, so replies need no resolution.
    {
        let mut cx = Context::new(&mut tx, &mut timers, Instant::ZERO, &mut stop);
        let mut req = arp_request(PEER_MAC, PEER, US);
        stack.receive(&mut cx, &mut req, &RxMeta::default());
    }
    let udp = {
        let mut seg = vec![1u8; 8 + 32];
        seg[4..6].copy_from_slice(&40u16.to_be_bytes());
        ipv4_frame(PEER_MAC, OUR_MAC, PEER, US, IpProtocol::UDP, &seg)
    };
    let mut bad_csum = udp.clone();
    bad_csum[24] ^= 0xff;
    let mut not_ours = udp.clone();
    not_ours[0..6].copy_from_slice(&[2, 9, 9, 9, 9, 9]);
    let cases: [(&str, Vec<u8>); 6] = [
        ("ipv4_to_transport", udp),
        (
            "icmp_echo_64B",
            echo_request(PEER_MAC, OUR_MAC, PEER, US, 1, 1, 56),
        ),
        (
            "icmp_echo_1472B",
            echo_request(PEER_MAC, OUR_MAC, PEER, US, 1, 1, 1464),
        ),
        ("arp_request", arp_request(PEER_MAC, PEER, US)),
        ("drop_bad_ip_checksum", bad_csum),
        ("drop_not_our_mac", not_ours),
    ];
    let mut g = c.benchmark_group("eth_rx");
    g.throughput(Throughput::Elements(1));
    for (name, mut frame) in cases {
        // The receive path does not modify these frames, so one buffer serves every run.
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut cx = Context::new(&mut tx, &mut timers, Instant::ZERO, &mut stop);
                stack.receive(&mut cx, black_box(&mut frame), &RxMeta::default());
            })
        });
    }
    g.finish();
    black_box(stack.upper().0);
}

criterion_group!(benches, bench_rx);
criterion_main!(benches);
