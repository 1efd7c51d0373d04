//! The per-packet paths allocate nothing: good frames, every kind of malformed frame,
//! replies, ICMP errors, held packets and their release.
//!
//! Built without the libtest harness (`harness = false`): the allocation counter is global,
//! and the harness's own threads would allocate into it while the test runs.

use eth::testing::{arp_reply, arp_request, echo_request, ipv4_frame};
use eth::wire::{IpProtocol, Ipv4Addr, MacAddr};
use eth::{Delivery, IfaceConfig, IpContext, IpInput, Stack, Transport};
use nmio::backend::sink::SinkTx;
use nmio::{Context, Instant, RxMeta, TimerWheel, TxQueue};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::time::Duration;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const US: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const OUR_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
const PEER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

struct Udp;

impl<Tx: TxQueue> Transport<Tx> for Udp {
    fn accepts(&self, p: IpProtocol) -> bool {
        p == IpProtocol::UDP
    }

    fn on_packet(&mut self, ip: &mut IpContext<'_, '_, Tx>, pkt: IpInput<'_>) -> Delivery {
        if pkt.payload.get(3) == Some(&7) {
            // Echo the payload back through the output path.
            let src = pkt.src;
            let data = &*pkt.payload;
            ip.send_ipv4(src, IpProtocol::UDP, |buf| {
                buf[..data.len()].copy_from_slice(data);
                data.len()
            });
            Delivery::Accepted
        } else {
            Delivery::PortUnreachable
        }
    }
}

fn main() {
    receive_and_reply_paths_do_not_allocate();
    println!("no_alloc: receive_and_reply_paths_do_not_allocate ... ok");
}

fn receive_and_reply_paths_do_not_allocate() {
    let mut cfg = IfaceConfig::new(OUR_MAC, US, 24);
    cfg.gateway = Some(Ipv4Addr::new(192, 0, 2, 254));
    let mut stack = Stack::new(cfg, Udp, Instant::ZERO).unwrap();
    let mut tx = SinkTx::new(1514, 1);
    let mut timers = TimerWheel::new(16, Duration::from_millis(1), 64, Instant::ZERO);
    let mut stop = false;

    let udp = |port: u8| {
        let seg = [0, 9, 0, port, 0, 12, 0, 0, 1, 2, 3, 4];
        ipv4_frame(PEER_MAC, OUR_MAC, PEER, US, IpProtocol::UDP, &seg)
    };
    let echo = echo_request(PEER_MAC, OUR_MAC, PEER, US, 1, 1, 56);
    let mut frames: Vec<Vec<u8>> = vec![
        arp_request(PEER_MAC, PEER, US),
        echo.clone(),
        udp(7),
        udp(9),
        ipv4_frame(PEER_MAC, OUR_MAC, PEER, US, IpProtocol(99), &[0; 8]),
        // Malformed: runt, bad version, bad IHL, total length over and under, checksum.
        echo[..10].to_vec(),
    ];
    for (off, val) in [(14, 0x65), (14, 0x44), (16, 0x7f), (17, 0x01), (24, 0x00)] {
        let mut f = echo.clone();
        f[off] = val;
        if off == 17 {
            f[16] = 0;
        }
        frames.push(f);
    }
    // A packet to an unresolved neighbour (held), then the reply that releases it.
    let far = Ipv4Addr::new(192, 0, 2, 50);
    let far_mac = MacAddr([2, 0, 0, 0, 0, 50]);
    let release = arp_reply(far_mac, far, OUR_MAC, US);

    let mut release = release;
    // One round: every frame, a packet to an unresolved neighbour (held), the reply that
    // releases it, and the housekeeping tick.
    let mut round = |now: Instant| {
        let mut cx = Context::new(&mut tx, &mut timers, now, &mut stop);
        for f in frames.iter_mut() {
            stack.receive(&mut cx, f, &RxMeta::default());
        }
        stack
            .iface_mut()
            .send_ipv4(cx.tx, now, far, IpProtocol::UDP, |b| {
                b[..4].copy_from_slice(b"held");
                4
            });
        stack.receive(&mut cx, &mut release, &RxMeta::default());
        stack.iface_mut().tick(cx.tx, now);
    };
    // Warm-up (nothing should allocate here either, but lazily built state may).
    round(Instant::ZERO);
    let region = Region::new(GLOBAL);
    for i in 1..=100u64 {
        round(Instant::from_millis(i * 10));
    }
    let change = region.change();
    assert_eq!(
        (change.allocations, change.reallocations),
        (0, 0),
        "the receive and reply paths allocated: {change:?}"
    );
    let s = stack.stats();
    // Every path really ran: replies, unreachables, drops, held-and-released.
    assert!(s.icmp.echo_replied >= 101, "{s}");
    assert!(s.icmp.unreachable_sent >= 2, "{s}");
    assert!(s.arp.held_sent >= 1, "{s}");
    assert!(
        s.ip.rx_bad_checksum >= 101 && s.ip.rx_bad_version >= 101,
        "{s}"
    );
    assert!(s.eth.rx_truncated >= 101, "{s}");
}
