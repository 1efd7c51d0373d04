//! The AF_PACKET port on a veth pair inside a private namespace: byte-exact delivery, ring
//! limits counted rather than hung on, prepared sends, and one-line set-up errors.
//!
//! Frames carry the local experimental ethertype 0x88B5 (IEEE 802 "local experimental 1")
//! and everything else the kernel may put on the link is ignored. Delivery on veth is
//! asynchronous, so receivers wait with `Port::wait` up to a deadline instead of sleeping.

use nmio::backend::afpacket::{AfPacketConfig, AfPacketPort, FanoutMode, RxRingKind};
use nmio::{Error, Port, PrepMode, PreparedId, RxFlags, RxMeta, RxQueue, TxQueue};
use std::time::{Duration, Instant};
use tests::netns::{require_root, NetNs, NsGuard};

const ETHERTYPE: u16 = 0x88B5;
const DEADLINE: Duration = Duration::from_secs(2);

/// Two ports on the two ends of a veth pair. Fields drop in order: ports first, then the
/// thread leaves the namespace, then the namespace is deleted.
struct Link {
    a: AfPacketPort,
    b: AfPacketPort,
    _inside: NsGuard,
    _ns: NetNs,
}

fn link(
    test: &str,
    cfg_a: impl FnOnce(AfPacketConfig) -> AfPacketConfig,
    cfg_b: impl FnOnce(AfPacketConfig) -> AfPacketConfig,
) -> Option<Link> {
    link_after(test, |_| {}, cfg_a, cfg_b)
}

/// As [`link`], with `prep` run on the namespace (its veth pair made) before the ports open.
fn link_after(
    test: &str,
    prep: impl FnOnce(&NetNs),
    cfg_a: impl FnOnce(AfPacketConfig) -> AfPacketConfig,
    cfg_b: impl FnOnce(AfPacketConfig) -> AfPacketConfig,
) -> Option<Link> {
    if !require_root(test, &["ip", "ethtool"]) {
        return None;
    }
    let ns = NetNs::new("afp").unwrap();
    ns.veth_pair("afa", "afb").unwrap();
    prep(&ns);
    let inside = ns.enter().unwrap();
    let a = AfPacketPort::open(cfg_a(AfPacketConfig::new("afa"))).unwrap();
    let b = AfPacketPort::open(cfg_b(AfPacketConfig::new("afb"))).unwrap();
    Some(Link {
        a,
        b,
        _inside: inside,
        _ns: ns,
    })
}

fn same(c: AfPacketConfig) -> AfPacketConfig {
    c
}

fn with_ring(ring: RxRingKind) -> impl FnOnce(AfPacketConfig) -> AfPacketConfig {
    move |c| AfPacketConfig { rx_ring: ring, ..c }
}

/// A test frame: our ethertype, a sequence number, then a pattern that depends on both.
fn frame(dst: [u8; 6], src: [u8; 6], seq: u32, len: usize) -> Vec<u8> {
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

fn frame_a_to_b(l: &Link, seq: u32, len: usize) -> Vec<u8> {
    frame(l.b.caps().mac, l.a.caps().mac, seq, len)
}

fn seq_of(f: &[u8]) -> u32 {
    u32::from_be_bytes(f[14..18].try_into().unwrap())
}

fn queue(port: &mut AfPacketPort, bytes: &[u8]) -> bool {
    port.tx().send(|buf| {
        buf[..bytes.len()].copy_from_slice(bytes);
        bytes.len()
    })
}

/// Kick until nothing is pending (a full send buffer leaves frames for the next kick).
fn flush_all(port: &mut AfPacketPort) -> usize {
    let end = Instant::now() + DEADLINE;
    let mut sent = 0;
    while port.tx().pending() > 0 {
        sent += port.tx().flush().unwrap();
        assert!(
            Instant::now() < end,
            "frames stayed pending after {DEADLINE:?}"
        );
        if port.tx().pending() > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    sent
}

/// Receive our frames until `want` arrived or `within` passed, `max` per burst.
fn recv_ours(port: &mut AfPacketPort, want: usize, within: Duration) -> Vec<(Vec<u8>, RxMeta)> {
    let end = Instant::now() + within;
    let mut got = Vec::new();
    while got.len() < want {
        port.rx().recv_burst(64, |f, m| {
            if f.len() >= 18 && f[12..14] == ETHERTYPE.to_be_bytes() {
                got.push((f.to_vec(), *m));
            }
        });
        let now = Instant::now();
        if got.len() >= want || now >= end {
            break;
        }
        port.wait(end - now).unwrap();
    }
    got
}

#[test]
fn frames_of_every_size_arrive_byte_exact() {
    let Some(mut l) = link("frames_of_every_size_arrive_byte_exact", same, same) else {
        return;
    };
    let sizes = [60, 61, 64, 100, 576, 1000, 1513, 1514];
    let sent: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| frame_a_to_b(&l, i as u32, n))
        .collect();
    for f in &sent {
        assert!(queue(&mut l.a, f));
    }
    assert_eq!(flush_all(&mut l.a), sizes.len());
    let got = recv_ours(&mut l.b, sizes.len(), DEADLINE);
    assert_eq!(got.len(), sizes.len(), "frames lost on the veth");
    for ((f, meta), want) in got.iter().zip(&sent) {
        assert_eq!(f, want, "frame {} differs", seq_of(want));
        assert_eq!(meta.len as usize, want.len());
        assert!(meta.timestamp_ns > 0, "no receive timestamp");
        assert_eq!(meta.rss_hash, None, "no fanout hash was asked for");
        assert!(!meta.flags.contains(RxFlags::CSUM_PARTIAL));
    }
    let (a, b) = (l.a.stats(), l.b.stats());
    assert_eq!(a.tx_frames, sizes.len() as u64);
    assert_eq!(a.tx_bytes, sizes.iter().sum::<usize>() as u64);
    assert!(a.tx_kicks >= 1);
    assert!(b.rx_frames >= sizes.len() as u64);
    assert_eq!(b.rx_truncated + b.rx_ring_full + b.rx_other_drops, 0);
}

#[test]
fn every_size_up_to_mtu_plus_14_arrives_byte_exact_linear_or_not() {
    // tx_linear on (the kernel copies each frame whole into its skb) and off (it lends the
    // skb the ring's pages): both paths carry every length, and a frame one byte over the
    // device's limit is refused and counted either way, never queued.
    for linear in [true, false] {
        let Some(mut l) = link(
            "every_size_up_to_mtu_plus_14_arrives_byte_exact_linear_or_not",
            |c| AfPacketConfig {
                tx_linear: Some(linear),
                tx_frames: 256,
                ..c
            },
            same,
        ) else {
            return;
        };
        let slot = if linear { 2048 - 42 } else { 2048 - 32 };
        assert_eq!(l.a.tx().slot_size(), slot, "linear {linear}");
        let max = l.a.caps().mtu + 14;
        let sizes: Vec<usize> = (60..=max).collect();
        for (n, chunk) in sizes.chunks(128).enumerate() {
            let sent: Vec<Vec<u8>> = chunk
                .iter()
                .enumerate()
                .map(|(i, &len)| frame_a_to_b(&l, (n * 128 + i) as u32, len))
                .collect();
            for f in &sent {
                assert!(queue(&mut l.a, f), "linear {linear}: {} bytes", f.len());
            }
            assert_eq!(flush_all(&mut l.a), chunk.len());
            let got = recv_ours(&mut l.b, chunk.len(), DEADLINE);
            assert_eq!(got.len(), chunk.len(), "linear {linear}: frames lost");
            for ((f, _), want) in got.iter().zip(&sent) {
                assert!(
                    f == want,
                    "linear {linear}: frame of {} bytes differs",
                    want.len()
                );
            }
        }
        let a = l.a.stats();
        assert_eq!(a.tx_frames, sizes.len() as u64, "linear {linear}");
        assert_eq!(a.tx_bytes, sizes.iter().sum::<usize>() as u64);
        assert_eq!(a.tx_errors, 0, "linear {linear}");
        let over = frame_a_to_b(&l, 9999, max + 1);
        assert!(!queue(&mut l.a, &over), "linear {linear}");
        assert_eq!(l.a.stats().tx_errors, 1, "linear {linear}");
        assert_eq!(l.a.tx().pending(), 0);
        assert!(recv_ours(&mut l.b, 1, Duration::from_millis(50)).is_empty());
    }
}

#[test]
fn own_frames_are_not_received_back_through_the_qdisc() {
    // Without the qdisc bypass, frames pass the device's taps on the way out: the RX socket
    // would see them but for PACKET_IGNORE_OUTGOING.
    let Some(mut l) = link(
        "own_frames_are_not_received_back_through_the_qdisc",
        |c| AfPacketConfig {
            qdisc_bypass: false,
            ..c
        },
        same,
    ) else {
        return;
    };
    for seq in 0..4 {
        let f = frame_a_to_b(&l, seq, 100);
        assert!(queue(&mut l.a, &f));
    }
    flush_all(&mut l.a);
    assert_eq!(recv_ours(&mut l.b, 4, DEADLINE).len(), 4);
    assert!(
        recv_ours(&mut l.a, 1, Duration::from_millis(100)).is_empty(),
        "the sender received its own frames"
    );
}

#[test]
fn caps_describe_the_device_and_rings() {
    let Some(mut l) = link(
        "caps_describe_the_device_and_rings",
        |c| AfPacketConfig {
            mac: Some([0x02, 0, 0, 0, 0, 0x42]),
            tx_frames: 100,
            ..c
        },
        same,
    ) else {
        return;
    };
    // 2048-byte slots less the ring header (32) and the virtio_net_hdr of tx_linear (10).
    assert_eq!(l.a.tx().slot_size(), 2006);
    let (ca, cb) = (l.a.caps(), l.b.caps());
    assert_eq!(ca.mac, [0x02, 0, 0, 0, 0, 0x42], "configured MAC wins");
    assert_ne!(cb.mac, [0; 6], "interface MAC read");
    assert_eq!(ca.mtu, 1500);
    assert_eq!(ca.max_frame, 2006);
    assert_eq!(ca.tx_ring_size, 100);
    assert_eq!(cb.tx_ring_size, 1024);
    assert_eq!(cb.rx_ring_size, 2048);
    assert_eq!((ca.rx_queues, ca.tx_queues, ca.queue_id), (1, 1, 0));
    // The test veth has transmit checksumming off (see the checksum tests below).
    assert!(!ca.zero_copy_prepared && !ca.tx_csum_offload && !ca.rss);
    assert!(ca.rx_csum_offload);
}

#[test]
fn max_is_honoured_inside_a_block() {
    let Some(mut l) = link("max_is_honoured_inside_a_block", same, same) else {
        return;
    };
    const N: u32 = 50;
    for seq in 0..N {
        let f = frame_a_to_b(&l, seq, 60);
        assert!(queue(&mut l.a, &f));
    }
    flush_all(&mut l.a);
    // Let the kernel hand over every block (1 ms retire timeout), so all 50 frames are
    // ready and each burst of 3 must return exactly 3 until the last.
    assert!(l.b.wait(DEADLINE).unwrap());
    std::thread::sleep(Duration::from_millis(100));
    let mut seqs = Vec::new();
    let mut bursts = Vec::new();
    loop {
        let n = l.b.rx().recv_burst(3, |f, _| {
            if f[12..14] == ETHERTYPE.to_be_bytes() {
                seqs.push(seq_of(f));
            }
        });
        if n == 0 {
            break;
        }
        bursts.push(n);
    }
    assert_eq!(
        seqs,
        (0..N).collect::<Vec<_>>(),
        "frames lost, repeated or reordered"
    );
    let (last, full) = bursts.split_last().unwrap();
    assert!(full.iter().all(|&n| n == 3), "bursts {bursts:?}");
    assert!(*last <= 3);
    assert_eq!(l.b.rx().recv_burst(0, |_, _| {}), 0);
}

#[test]
fn a_burst_as_large_as_the_tx_ring_arrives_in_order() {
    let Some(mut l) = link(
        "a_burst_as_large_as_the_tx_ring_arrives_in_order",
        |c| AfPacketConfig {
            tx_frames: 256,
            ..c
        },
        same,
    ) else {
        return;
    };
    let ring = l.a.caps().tx_ring_size;
    assert_eq!(l.a.tx().tx_space(), ring);
    let sent: Vec<Vec<u8>> = (0..ring as u32)
        .map(|s| frame_a_to_b(&l, s, 60 + (s as usize * 37) % 1455))
        .collect();
    for f in &sent {
        assert!(queue(&mut l.a, f));
    }
    assert_eq!(l.a.tx().tx_space(), 0);
    assert_eq!(l.a.tx().pending(), ring);
    assert_eq!(flush_all(&mut l.a), ring);
    let got = recv_ours(&mut l.b, ring, DEADLINE);
    assert_eq!(got.len(), ring);
    for ((f, _), want) in got.iter().zip(&sent) {
        assert_eq!(f, want, "frame {} differs", seq_of(want));
    }
    assert_eq!(l.b.stats().rx_ring_full, 0);
}

#[test]
fn a_full_tx_ring_gives_none_counts_it_and_recovers() {
    let Some(mut l) = link(
        "a_full_tx_ring_gives_none_counts_it_and_recovers",
        |c| AfPacketConfig { tx_frames: 8, ..c },
        same,
    ) else {
        return;
    };
    let image = frame_a_to_b(&l, 99, 60);
    let id = l.a.tx().prepare(&image).unwrap();
    for seq in 0..8 {
        let f = frame_a_to_b(&l, seq, 200);
        assert!(queue(&mut l.a, &f));
    }
    let tx = l.a.tx();
    assert_eq!(tx.tx_space(), 0);
    assert!(tx.reserve().is_none());
    assert!(!tx.send_prepared(id, PrepMode::Memcpy, |_| {}));
    assert_eq!(l.a.stats().tx_ring_full, 2);
    assert_eq!(flush_all(&mut l.a), 8);
    let end = Instant::now() + DEADLINE;
    while l.a.tx().tx_space() < 8 {
        assert!(Instant::now() < end, "sent slots never came back");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(recv_ours(&mut l.b, 8, DEADLINE).len(), 8);
    // The ring goes round again after reclaiming.
    for seq in 8..20 {
        let f = frame_a_to_b(&l, seq, 100);
        while !queue(&mut l.a, &f) {
            flush_all(&mut l.a);
            assert!(Instant::now() < end + DEADLINE, "ring never freed");
        }
    }
    flush_all(&mut l.a);
    let got = recv_ours(&mut l.b, 12, DEADLINE);
    let seqs: Vec<u32> = got.iter().map(|(f, _)| seq_of(f)).collect();
    assert_eq!(seqs, (8..20).collect::<Vec<_>>());
}

#[test]
fn rx_ring_overflow_is_counted_and_the_ring_recovers() {
    // A 4-block ring of 4 KiB holds a dozen 1000-byte frames; 200 arrive unread.
    let Some(mut l) = link(
        "rx_ring_overflow_is_counted_and_the_ring_recovers",
        |c| AfPacketConfig {
            tx_frames: 256,
            ..c
        },
        |c| AfPacketConfig {
            rx_block_size: 4096,
            rx_block_count: 4,
            rx_frame_size: 2048,
            ..c
        },
    ) else {
        return;
    };
    const N: u32 = 200;
    for seq in 0..N {
        let f = frame_a_to_b(&l, seq, 1000);
        assert!(queue(&mut l.a, &f));
    }
    flush_all(&mut l.a);
    let end = Instant::now() + DEADLINE;
    let mut dropped = 0;
    while dropped == 0 {
        dropped = l.b.stats().rx_ring_full;
        assert!(Instant::now() < end, "kernel drops never counted");
        std::thread::sleep(Duration::from_millis(5));
    }
    let got = recv_ours(&mut l.b, N as usize, Duration::from_millis(200));
    assert!(
        !got.is_empty() && got.len() < 20,
        "{} frames kept",
        got.len()
    );
    let seqs: Vec<u32> = got.iter().map(|(f, _)| seq_of(f)).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let dropped = l.b.stats().rx_ring_full;
    assert!(dropped > 0);
    assert!(got.len() as u64 + dropped <= u64::from(N));
    // Drained, the ring takes frames again.
    for seq in 1000..1005 {
        let f = frame_a_to_b(&l, seq, 1000);
        assert!(queue(&mut l.a, &f));
    }
    flush_all(&mut l.a);
    let got = recv_ours(&mut l.b, 5, DEADLINE);
    let seqs: Vec<u32> = got.iter().map(|(f, _)| seq_of(f)).collect();
    assert_eq!(seqs, (1000..1005).collect::<Vec<_>>());
}

#[test]
fn prepared_sends_in_both_modes_carry_the_rewrite() {
    let Some(mut l) = link("prepared_sends_in_both_modes_carry_the_rewrite", same, same) else {
        return;
    };
    let image = frame_a_to_b(&l, 7, 120);
    let tx = l.a.tx();
    let id = tx.prepare(&image).unwrap();
    assert!(tx.send_prepared(id, PrepMode::Memcpy, |b| b[20] = 0xAA));
    assert_eq!(
        tx.prepared(id),
        Some(&image[..]),
        "memcpy left the image alone"
    );
    assert!(tx.send_prepared(id, PrepMode::PreCopy, |b| b[21] = 0xBB));
    assert_eq!(
        tx.prepared(id).unwrap()[21],
        0xBB,
        "pre-copy rewrote the image"
    );
    assert!(!tx.send_prepared(PreparedId(1234), PrepMode::Memcpy, |_| {}));
    assert!(matches!(
        tx.prepare(&[0u8; 3000]),
        Err(Error::FrameTooLarge { len: 3000, .. })
    ));
    flush_all(&mut l.a);
    let got = recv_ours(&mut l.b, 2, DEADLINE);
    assert_eq!(got.len(), 2);
    let mut first = image.clone();
    first[20] = 0xAA;
    let mut second = image.clone();
    second[21] = 0xBB;
    assert_eq!(got[0].0, first);
    assert_eq!(got[1].0, second);
    let s = l.a.stats();
    assert_eq!(
        (s.prepared_memcpy, s.prepared_precopy, s.tx_bad_prepared),
        (1, 1, 1)
    );
    assert_eq!(s.tx_frames, 2);
}

#[test]
fn bad_lengths_are_counted_and_do_not_stall_the_ring() {
    let Some(mut l) = link(
        "bad_lengths_are_counted_and_do_not_stall_the_ring",
        same,
        same,
    ) else {
        return;
    };
    let tx = l.a.tx();
    tx.commit(100); // no reservation
    let slot = tx.slot_size();
    tx.reserve().unwrap();
    tx.commit(slot + 1);
    tx.reserve().unwrap();
    tx.commit(10); // shorter than an Ethernet header
    assert_eq!(l.a.stats().tx_bad_len, 3);
    // One byte over mtu + 14 and untagged: the kernel would refuse it.
    let big = frame_a_to_b(&l, 1, 1515);
    queue(&mut l.a, &big);
    assert_eq!(l.a.stats().tx_errors, 1);
    assert_eq!(l.a.stats().tx_frames, 0);
    assert_eq!(l.a.tx().pending(), 0);
    let ok = frame_a_to_b(&l, 2, 1514);
    assert!(queue(&mut l.a, &ok));
    flush_all(&mut l.a);
    let got = recv_ours(&mut l.b, 1, DEADLINE);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, ok);
}

#[test]
fn a_vlan_tagged_frame_arrives_with_the_tag_stripped_and_reported() {
    for ring in [RxRingKind::V3, RxRingKind::V2] {
        let Some(mut l) = link(
            "a_vlan_tagged_frame_arrives_with_the_tag_stripped_and_reported",
            same,
            with_ring(ring),
        ) else {
            return;
        };
        // 1518 bytes: the largest tagged frame for a 1500-byte MTU, allowed 4 bytes more.
        let inner = frame_a_to_b(&l, 5, 1514);
        let mut tagged = inner[..12].to_vec();
        tagged.extend_from_slice(&0x8100u16.to_be_bytes());
        tagged.extend_from_slice(&0x2064u16.to_be_bytes()); // PCP 1, VLAN 100
        tagged.extend_from_slice(&inner[12..]);
        assert_eq!(tagged.len(), 1518);
        assert!(queue(&mut l.a, &tagged));
        flush_all(&mut l.a);
        assert_eq!(l.a.stats().tx_errors, 0);
        let got = recv_ours(&mut l.b, 1, DEADLINE);
        assert_eq!(got.len(), 1, "{ring:?}: tagged frame not delivered");
        let (f, meta) = &got[0];
        assert!(meta.flags.contains(RxFlags::VLAN_STRIPPED), "{ring:?}");
        assert_eq!(meta.vlan_tci, 0x2064, "{ring:?}");
        assert_eq!(f, &inner, "{ring:?}");
    }
}

#[test]
fn wait_times_out_when_idle_and_wakes_for_one_frame() {
    let Some(mut l) = link(
        "wait_times_out_when_idle_and_wakes_for_one_frame",
        same,
        same,
    ) else {
        return;
    };
    let t = Instant::now();
    assert!(!l.b.wait(Duration::from_millis(50)).unwrap());
    assert!(t.elapsed() >= Duration::from_millis(40));
    let f = frame_a_to_b(&l, 1, 60);
    assert!(queue(&mut l.a, &f));
    flush_all(&mut l.a);
    let t = Instant::now();
    let got = recv_ours(&mut l.b, 1, DEADLINE);
    let latency = t.elapsed();
    assert_eq!(got.len(), 1);
    // A lone frame waits for its block's 1 ms retire timeout, not the kernel's default.
    assert!(latency < Duration::from_millis(200), "took {latency:?}");
    // Nothing left: wait goes back to blocking.
    assert!(!l.b.wait(Duration::from_millis(10)).unwrap());
}

#[test]
fn a_fanout_group_shares_frames_without_duplicates() {
    let Some(mut l) = link(
        "a_fanout_group_shares_frames_without_duplicates",
        same,
        |c| AfPacketConfig {
            fanout: Some((7, FanoutMode::Lb)),
            ..c
        },
    ) else {
        return;
    };
    let mut b2 = AfPacketPort::open(AfPacketConfig {
        fanout: Some((7, FanoutMode::Lb)),
        queue_id: 1,
        ..AfPacketConfig::new("afb")
    })
    .unwrap();
    assert_eq!(b2.caps().queue_id, 1);
    assert!(!b2.caps().rss);
    for seq in 0..40 {
        let f = frame_a_to_b(&l, seq, 80);
        assert!(queue(&mut l.a, &f));
    }
    flush_all(&mut l.a);
    let end = Instant::now() + DEADLINE;
    let (mut one, mut two) = (Vec::new(), Vec::new());
    while one.len() + two.len() < 40 && Instant::now() < end {
        one.extend(recv_ours(&mut l.b, 1, Duration::from_millis(5)));
        two.extend(recv_ours(&mut b2, 1, Duration::from_millis(5)));
    }
    assert!(
        !one.is_empty() && !two.is_empty(),
        "round robin used one member"
    );
    let mut seqs: Vec<u32> = one.iter().chain(&two).map(|(f, _)| seq_of(f)).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..40).collect::<Vec<_>>());

    // A hash group reports the flow hash with each frame.
    let mut h = AfPacketPort::open(AfPacketConfig {
        fanout: Some((8, FanoutMode::Hash)),
        ..AfPacketConfig::new("afb")
    })
    .unwrap();
    assert!(h.caps().rss);
    let f = frame_a_to_b(&l, 100, 80);
    assert!(queue(&mut l.a, &f));
    flush_all(&mut l.a);
    let got = recv_ours(&mut h, 1, DEADLINE);
    assert_eq!(got.len(), 1);
    assert!(got[0].1.rss_hash.is_some());
}

#[test]
fn a_bad_interface_name_is_one_line() {
    let e = AfPacketPort::open(AfPacketConfig::new("bad/name")).unwrap_err();
    assert!(matches!(e, Error::InvalidInterfaceName { .. }), "{e:?}");
    let line = e.to_string();
    assert!(
        line.starts_with("invalid interface name \"bad/name\""),
        "{line}"
    );
    assert!(!line.contains('\n'));
}

#[test]
fn a_missing_device_is_named() {
    let e = AfPacketPort::open(AfPacketConfig::new("nmio-nodev0")).unwrap_err();
    assert!(matches!(e, Error::NoSuchDevice { .. }), "{e:?}");
    assert_eq!(e.to_string(), "no such network device \"nmio-nodev0\"");
}

#[test]
fn an_unusable_ring_setting_is_one_line() {
    let e = AfPacketPort::open(AfPacketConfig {
        rx_block_size: 1000,
        ..AfPacketConfig::new("lo")
    })
    .unwrap_err();
    assert!(matches!(e, Error::InvalidConfig { .. }), "{e:?}");
    assert!(e.to_string().contains("rx_block_size 1000"), "{e}");
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
const CAP_NET_ADMIN: u32 = 12;
const CAP_NET_RAW: u32 = 13;

/// Drop CAP_NET_RAW and CAP_NET_ADMIN from the calling thread's effective set (Linux
/// capabilities are per thread, so the rest of the test process keeps them).
fn drop_net_caps_in_this_thread() {
    let mut hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget with a version-3 header writes two CapData entries into `data`.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) };
    assert_eq!(rc, 0, "capget: {}", std::io::Error::last_os_error());
    data[0].effective &= !((1 << CAP_NET_RAW) | (1 << CAP_NET_ADMIN));
    // SAFETY: capset with a version-3 header reads two CapData entries from `data`.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()) };
    assert_eq!(rc, 0, "capset: {}", std::io::Error::last_os_error());
}

#[test]
fn without_cap_net_raw_the_error_says_permission_denied() {
    if !require_root(
        "without_cap_net_raw_the_error_says_permission_denied",
        &["ip", "ethtool"],
    ) {
        return;
    }
    let ns = NetNs::new("afperm").unwrap();
    ns.veth_pair("afa", "afb").unwrap();
    let line = std::thread::scope(|s| {
        s.spawn(|| {
            let _inside = ns.enter().unwrap();
            drop_net_caps_in_this_thread();
            let e = AfPacketPort::open(AfPacketConfig::new("afa")).unwrap_err();
            assert!(matches!(e, Error::PermissionDenied { .. }), "{e:?}");
            e.to_string()
        })
        .join()
        .unwrap()
    });
    assert!(line.contains("permission denied"), "{line}");
    assert!(line.contains("CAP_NET_RAW"), "{line}");
    assert!(line.contains("\"afa\""), "{line}");
    assert!(!line.contains('\n'));
}

#[test]
fn frames_longer_than_the_rx_frame_are_counted_as_truncated() {
    // b hands up at most 1024 - 32 = 992 bytes; the kernel copies no more into its ring.
    let Some(mut l) = link(
        "frames_longer_than_the_rx_frame_are_counted_as_truncated",
        same,
        |c| AfPacketConfig {
            rx_frame_size: 1024,
            ..c
        },
    ) else {
        return;
    };
    assert_eq!(l.b.caps().max_frame, 992);
    for (seq, len) in [(0, 992), (1, 993), (2, 1514), (3, 60)] {
        let f = frame_a_to_b(&l, seq, len);
        assert!(queue(&mut l.a, &f));
    }
    flush_all(&mut l.a);
    let got = recv_ours(&mut l.b, 2, DEADLINE);
    let seqs: Vec<u32> = got.iter().map(|(f, _)| seq_of(f)).collect();
    assert_eq!(seqs, [0, 3]);
    assert_eq!(got[0].0.len(), 992);
    assert_eq!(l.b.stats().rx_truncated, 2);
}

#[test]
fn frames_that_could_not_be_sent_back_are_not_handed_up() {
    // b receives into 2 KiB frames but sends from 1 KiB slots: a frame it hands up must fit
    // a TX slot (a reflector or a forwarding app copies it there), so 1024 - 32 - 10 = 982
    // bytes is the limit (ring header and tx_linear's virtio_net_hdr).
    let Some(mut l) = link(
        "frames_that_could_not_be_sent_back_are_not_handed_up",
        same,
        |c| AfPacketConfig {
            tx_frame_size: 1024,
            ..c
        },
    ) else {
        return;
    };
    assert_eq!(l.b.caps().max_frame, 982);
    assert_eq!(l.b.tx().slot_size(), 982);
    for (seq, len) in [(0, 982), (1, 1200), (2, 60)] {
        let f = frame_a_to_b(&l, seq, len);
        assert!(queue(&mut l.a, &f));
    }
    flush_all(&mut l.a);
    let got = recv_ours(&mut l.b, 2, DEADLINE);
    let seqs: Vec<u32> = got.iter().map(|(f, _)| seq_of(f)).collect();
    assert_eq!(seqs, [0, 2]);
    assert_eq!(l.b.stats().rx_truncated, 1);
}

#[test]
fn kernel_frames_with_partial_checksums_are_flagged_and_counted() {
    for ring in [RxRingKind::V3, RxRingKind::V2] {
        // With checksum offload on, the kernel on a leaves UDP checksums for "hardware" to
        // fill in (CHECKSUM_PARTIAL); the veth carries that state across to b.
        let Some(mut l) = link(
            "kernel_frames_with_partial_checksums_are_flagged_and_counted",
            same,
            with_ring(ring),
        ) else {
            return;
        };
        let mac_b = l.b.caps().mac;
        let mac_b = mac_b
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        for cmd in [
            vec!["ethtool", "-K", "afa", "tx", "on"],
            vec!["ip", "addr", "add", "10.77.0.1/24", "dev", "afa"],
            vec![
                "ip",
                "neigh",
                "add",
                "10.77.0.2",
                "lladdr",
                &mac_b,
                "dev",
                "afa",
            ],
        ] {
            l._ns.exec(&cmd).unwrap();
        }
        // This thread is inside the namespace, so the socket is too.
        let udp = std::net::UdpSocket::bind("10.77.0.1:0").unwrap();
        udp.send_to(b"partial checksum", "10.77.0.2:9").unwrap();
        let end = Instant::now() + DEADLINE;
        let mut meta = None;
        while meta.is_none() && Instant::now() < end {
            l.b.rx().recv_burst(16, |f, m| {
                // IPv4, UDP, to port 9.
                if f.len() >= 42 && f[12..14] == [0x08, 0x00] && f[23] == 17 && f[36..38] == [0, 9]
                {
                    meta = Some(*m);
                }
            });
            l.b.wait(Duration::from_millis(10)).unwrap();
        }
        let meta = meta.expect("UDP frame from the kernel not received");
        assert!(
            meta.flags.contains(RxFlags::CSUM_PARTIAL),
            "{ring:?}: {meta:?}"
        );
        assert!(l.b.stats().rx_csum_partial >= 1, "{ring:?}");
    }
}

/// Flush-to-receive times of `n` lone frames from a to b on an otherwise quiet link, b
/// reading a `ring` RX ring. `None` when the test is skipped.
fn lone_frame_latencies(test: &str, ring: RxRingKind, n: u32) -> Option<Vec<Duration>> {
    let mut l = link(test, same, with_ring(ring))?;
    let mut times = Vec::new();
    for seq in 0..n {
        // Let anything in flight settle, so each frame arrives alone.
        std::thread::sleep(Duration::from_millis(2));
        let f = frame_a_to_b(&l, seq, 60);
        assert!(queue(&mut l.a, &f));
        let t = Instant::now();
        flush_all(&mut l.a);
        let got = recv_ours(&mut l.b, 1, DEADLINE);
        times.push(t.elapsed());
        let seqs: Vec<u32> = got.iter().map(|(f, _)| seq_of(f)).collect();
        assert_eq!(seqs, [seq], "{ring:?}: frame {seq}");
    }
    times.sort_unstable();
    Some(times)
}

#[test]
fn a_v2_ring_hands_a_lone_frame_up_in_well_under_a_millisecond() {
    // A V3 block waits for its 1 ms retire timer when traffic is sparse; a V2 slot is handed
    // over and the reader woken as soon as the frame is in it.
    const TEST: &str = "a_v2_ring_hands_a_lone_frame_up_in_well_under_a_millisecond";
    const N: u32 = 50;
    let Some(v3) = lone_frame_latencies(TEST, RxRingKind::V3, N) else {
        return;
    };
    let v2 = lone_frame_latencies(TEST, RxRingKind::V2, N).unwrap();
    let median = |t: &[Duration]| t[t.len() / 2];
    println!(
        "lone frame, flush to receive, median (max) of {N}: v2 {:?} ({:?}), v3 {:?} ({:?})",
        median(&v2),
        v2[v2.len() - 1],
        median(&v3),
        v3[v3.len() - 1],
    );
    assert!(
        median(&v2) < Duration::from_micros(500),
        "v2 median {:?} (v3 {:?})",
        median(&v2),
        median(&v3)
    );
}

#[test]
fn a_v2_ring_reports_its_slots_and_never_a_flow_hash() {
    // b: 1 KiB slots, so it hands up at most 1024 - 66 = 958 bytes, and a hash fanout group,
    // whose flow hash the V2 header has no room for.
    let Some(mut l) = link(
        "a_v2_ring_reports_its_slots_and_never_a_flow_hash",
        same,
        |c| AfPacketConfig {
            rx_ring: RxRingKind::V2,
            rx_frame_size: 1024,
            fanout: Some((9, FanoutMode::Hash)),
            ..c
        },
    ) else {
        return;
    };
    let cb = l.b.caps();
    assert_eq!(cb.rx_ring_size, 16 * 256, "16 blocks of 256 slots");
    assert_eq!(cb.max_frame, 958);
    assert!(!cb.rss, "no flow hash in a V2 ring");
    for (seq, len) in [(0, 958), (1, 959), (2, 1514), (3, 60)] {
        let f = frame_a_to_b(&l, seq, len);
        assert!(queue(&mut l.a, &f));
    }
    flush_all(&mut l.a);
    let got = recv_ours(&mut l.b, 2, DEADLINE);
    let seqs: Vec<u32> = got.iter().map(|(f, _)| seq_of(f)).collect();
    assert_eq!(seqs, [0, 3]);
    assert_eq!(got[0].0, frame_a_to_b(&l, 0, 958));
    assert!(got.iter().all(|(_, m)| m.rss_hash.is_none()));
    assert!(got.iter().all(|(_, m)| m.timestamp_ns > 0));
    let s = l.b.stats();
    assert_eq!(s.rx_truncated, 2);
    assert_eq!(s.rx_ring_full + s.rx_other_drops, 0);
}

#[test]
fn rx_ring_kinds_parse_and_an_unknown_one_is_named() {
    assert_eq!("v2".parse::<RxRingKind>(), Ok(RxRingKind::V2));
    assert_eq!("v3".parse::<RxRingKind>(), Ok(RxRingKind::V3));
    assert_eq!(AfPacketConfig::new("x").rx_ring, RxRingKind::V3);
    let e = "v4".parse::<RxRingKind>().unwrap_err();
    assert_eq!(e, "unknown RX ring \"v4\" (v2 or v3)");
}

/// An Ethernet/IPv4 frame from a's MAC to b's carrying TCP (`proto` 6, 20-byte header) or
/// UDP (17) with `payload` bytes and every checksum computed, as the upper layers send.
fn l4_frame(l: &Link, proto: u8, payload: usize) -> Vec<u8> {
    use eth::checksum;
    let hdr = if proto == 6 { 20 } else { 8 };
    let total = 20 + hdr + payload;
    let mut f = vec![0u8; 14 + total];
    f[0..6].copy_from_slice(&l.b.caps().mac);
    f[6..12].copy_from_slice(&l.a.caps().mac);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let (src, dst) = ([10, 91, 0, 1], [10, 91, 0, 2]);
    tests::tso::write_ipv4(&mut f[14..34], total, 0, proto, (src, dst));
    let l4 = &mut f[34..];
    l4[0..4].copy_from_slice(&[0x13, 0x88, 0x1f, 0x90]);
    if proto == 6 {
        l4[4..8].copy_from_slice(&7u32.to_be_bytes());
        l4[12] = 5 << 4;
        l4[13] = 0x18;
        l4[14..16].copy_from_slice(&1024u16.to_be_bytes());
    } else {
        l4[4..6].copy_from_slice(&((8 + payload) as u16).to_be_bytes());
    }
    for (i, b) in l4[hdr..].iter_mut().enumerate() {
        *b = (i * 13 + 5) as u8;
    }
    let c = if proto == 6 {
        checksum::l4_checksum(src, dst, proto, l4)
    } else {
        checksum::udp_checksum(src, dst, l4)
    };
    let field = if proto == 6 { 16 } else { 6 };
    l4[field..field + 2].copy_from_slice(&c.to_be_bytes());
    f
}

/// Send `frames` from a and receive them at b (IPv4 to 10.91.0.2, or our test ethertype),
/// in order.
fn exchange(l: &mut Link, frames: &[Vec<u8>]) -> Vec<(Vec<u8>, RxMeta)> {
    for f in frames {
        assert!(queue(&mut l.a, f));
    }
    assert_eq!(flush_all(&mut l.a), frames.len());
    let end = Instant::now() + DEADLINE;
    let mut got = Vec::new();
    while got.len() < frames.len() && Instant::now() < end {
        l.b.rx().recv_burst(64, |f, m| {
            let ours = f.len() >= 34
                && ((f[12..14] == [0x08, 0x00] && f[30..34] == [10, 91, 0, 2])
                    || f[12..14] == ETHERTYPE.to_be_bytes());
            if ours {
                got.push((f.to_vec(), *m));
            }
        });
        l.b.wait(Duration::from_millis(10)).unwrap();
    }
    assert_eq!(got.len(), frames.len(), "frames lost on the veth");
    got
}

/// veth's own default, which the test pair turns off: checksums filled in by the device.
fn tx_csum_on(ns: &NetNs) {
    ns.exec(&["ethtool", "-K", "afa", "tx", "on"]).unwrap();
}

#[test]
fn tcp_and_udp_checksums_are_left_to_the_device_on_veth() {
    let Some(mut l) = link_after(
        "tcp_and_udp_checksums_are_left_to_the_device_on_veth",
        tx_csum_on,
        same,
        with_ring(RxRingKind::V2),
    ) else {
        return;
    };
    assert!(l.a.caps().tx_csum_offload);
    let sent = vec![
        l4_frame(&l, 6, 1000),
        l4_frame(&l, 17, 33),
        frame_a_to_b(&l, 1, 200),
        l4_frame(&l, 6, 0),
    ];
    let got = exchange(&mut l, &sent);
    for (i, ((f, m), want)) in got.iter().zip(&sent).enumerate() {
        if want[12..14] != [0x08, 0x00] {
            assert_eq!(f, want, "frame {i}: not IPv4, sent as it was");
            assert!(!m.flags.contains(RxFlags::CSUM_PARTIAL), "frame {i}");
            continue;
        }
        assert!(m.flags.contains(RxFlags::CSUM_PARTIAL), "frame {i}: {m:?}");
        let field = 34 + if want[23] == 6 { 16 } else { 6 };
        assert_ne!(f[field..field + 2], want[field..field + 2], "frame {i}");
        assert_eq!(
            f[..field],
            want[..field],
            "frame {i}: only the field changes"
        );
        assert_eq!(f[field + 2..], want[field + 2..], "frame {i}");
        // The field holds the pseudo-header sum: finishing it gives the full checksum back.
        let mut done = f.clone();
        assert!(nmio::csum::finish_l4(&mut done));
        assert_eq!(&done, want, "frame {i}: finished as the device would");
    }
    assert_eq!(l.a.stats().tx_csum_offloaded, 3);
    assert_eq!(l.b.stats().rx_csum_partial, 3);
}

#[test]
fn checksums_stay_in_the_frame_when_offload_is_off_or_the_device_lacks_it() {
    let off = |c: AfPacketConfig| AfPacketConfig {
        tx_csum_offload: false,
        ..c
    };
    let test = "checksums_stay_in_the_frame_when_offload_is_off_or_the_device_lacks_it";
    let links = [
        ("turned off", link_after(test, tx_csum_on, off, same)),
        // The test pair has transmit checksumming off.
        ("device without", link(test, same, same)),
        (
            "lent pages, no virtio_net_hdr",
            link_after(
                test,
                tx_csum_on,
                |c| AfPacketConfig {
                    tx_linear: Some(false),
                    ..c
                },
                same,
            ),
        ),
    ];
    for (why, l) in links {
        let Some(mut l) = l else {
            return;
        };
        assert!(!l.a.caps().tx_csum_offload, "{why}");
        let sent = vec![l4_frame(&l, 6, 500), l4_frame(&l, 17, 20)];
        for (i, ((f, m), want)) in exchange(&mut l, &sent).iter().zip(&sent).enumerate() {
            assert_eq!(f, want, "{why}: frame {i} byte-exact");
            assert!(!m.flags.contains(RxFlags::CSUM_PARTIAL), "{why}: frame {i}");
        }
        assert_eq!(l.a.stats().tx_csum_offloaded, 0, "{why}");
    }
}

#[test]
fn an_impairment_that_corrupts_sends_finished_checksums() {
    use nmio::backend::impair::{ImpairConfig, ImpairedPort};
    use nmio::backend::impair_model::Impairments;
    let Some(l) = link_after(
        "an_impairment_that_corrupts_sends_finished_checksums",
        tx_csum_on,
        same,
        same,
    ) else {
        return;
    };
    assert!(l.a.caps().tx_csum_offload);
    let sent = vec![l4_frame(&l, 6, 300), l4_frame(&l, 17, 40)];
    let Link {
        a,
        mut b,
        _inside,
        _ns,
    } = l;
    // Corruption so rare that these two frames pass whole: the setting alone matters.
    let cfg = ImpairConfig {
        tx: Impairments::parse("corrupt=0.000001").unwrap(),
        ..ImpairConfig::default()
    };
    let mut a = ImpairedPort::new(a, nmio::MonotonicClock, cfg).unwrap();
    assert!(!a.caps().tx_csum_offload);
    for f in &sent {
        assert!(a.tx().send(|buf| {
            buf[..f.len()].copy_from_slice(f);
            f.len()
        }));
    }
    a.tx().flush().unwrap();
    let end = Instant::now() + DEADLINE;
    let mut got = Vec::new();
    while got.len() < sent.len() && Instant::now() < end {
        b.rx().recv_burst(64, |f, m| {
            if f.len() >= 34 && f[12..14] == [0x08, 0x00] && f[30..34] == [10, 91, 0, 2] {
                got.push((f.to_vec(), *m));
            }
        });
        b.wait(Duration::from_millis(10)).unwrap();
    }
    assert_eq!(got.len(), 2);
    for ((f, m), want) in got.iter().zip(&sent) {
        assert_eq!(f, want);
        assert!(!m.flags.contains(RxFlags::CSUM_PARTIAL));
    }
}
