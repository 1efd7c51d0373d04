//! The netmap backend's ring logic on the in-memory netmap (`nmio::backend::netmap::mem`):
//! head/cur/tail handling, wrap-around, buffer swaps for pre-copy, images in flight, full
//! rings, and a property test of random operation sequences against a model.
//!
//! netmap's kernel module cannot be loaded here, so this is the ring logic against a model
//! of netmap's kernel side; nothing here runs against a real netmap.

#![cfg(feature = "netmap")]

use nmio::backend::netmap::mem::{self, MemConfig, MemNetmap, MemWire};
use nmio::backend::netmap::{NetmapConfig, NetmapPort, RingState, NS_BUF_CHANGED};
use nmio::{Port, PrepMode, PreparedId, RxQueue, TxQueue};
use proptest::prelude::*;
use std::collections::VecDeque;
use std::time::Duration;

type MemPort = NetmapPort<MemNetmap>;

fn pair(cfg: MemConfig) -> (MemPort, MemPort, MemWire) {
    mem::pair(cfg).expect("in-memory netmap pair")
}

/// Frame `seq` of `len` bytes: our MACs, EtherType 0x88b5, the sequence number, a pattern.
fn frame(len: usize, seq: u32) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0x4e, 0, 0x0b]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0x4e, 0, 0x0a]);
    f[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
    f[14..18].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in f[18..].iter_mut().enumerate() {
        *b = (i as u32).wrapping_mul(7).wrapping_add(seq) as u8;
    }
    f
}

fn send(p: &mut MemPort, bytes: &[u8]) -> bool {
    p.tx().send(|buf| {
        buf[..bytes.len()].copy_from_slice(bytes);
        bytes.len()
    })
}

fn recv(p: &mut MemPort, max: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    p.rx().recv_burst(max, |f, m| {
        assert_eq!(m.len as usize, f.len());
        out.push(f.to_vec());
    });
    out
}

fn recv_all(p: &mut MemPort) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let got = recv(p, 64);
        if got.is_empty() {
            return out;
        }
        out.extend(got);
    }
}

/// Write sequence number `seq` into a frame (the per-send rewrite of a prepared image).
fn stamp(seq: u32) -> impl FnOnce(&mut [u8]) {
    move |f: &mut [u8]| f[14..18].copy_from_slice(&seq.to_be_bytes())
}

fn with_seq(image: &[u8], seq: u32) -> Vec<u8> {
    let mut v = image.to_vec();
    stamp(seq)(&mut v);
    v
}

/// netmap's rules on the pointers of a TX ring as this backend uses them.
fn check_tx_ring(r: &RingState, pending: usize) {
    assert!(
        r.head < r.num_slots && r.cur < r.num_slots && r.tail < r.num_slots,
        "{r:?}"
    );
    assert!(
        r.distance(r.head, r.cur) <= r.distance(r.head, r.tail),
        "cur within head..=tail: {r:?}"
    );
    assert_eq!(
        r.distance(r.head, r.cur) as usize,
        pending,
        "queued = head..cur"
    );
}

fn check_rx_ring(r: &RingState) {
    assert!(r.head < r.num_slots && r.tail < r.num_slots, "{r:?}");
    assert_eq!(r.head, r.cur, "RX keeps cur at head: {r:?}");
}

/// Every buffer of `side` is in exactly one place: a TX slot, an RX slot, or the TX half's
/// pool (free extra buffers, spares, images not in a slot).
fn check_buffers(p: &MemPort, wire: &MemWire, side: usize) {
    let (rx, tx) = p.halves();
    let mut all: Vec<u32> = tx.ring_state().slots.iter().map(|s| s.buf_idx).collect();
    all.extend(rx.ring_state().slots.iter().map(|s| s.buf_idx));
    all.extend(tx.owned_buffers());
    all.sort_unstable();
    let want: Vec<u32> = wire.buffers(side).collect();
    assert_eq!(all, want, "side {side}: every buffer exactly once");
}

fn check_kernel(p: &MemPort, wire: &MemWire, side: usize) {
    let k = wire.stats(side);
    assert_eq!(k.violations(), 0, "side {side}: netmap rules broken: {k:?}");
    let (rx, tx) = p.halves();
    assert_eq!((rx.sync_errors(), tx.sync_errors()), (0, 0));
}

#[test]
fn frames_cross_both_ways_byte_exact() {
    let (mut a, mut b, wire) = pair(MemConfig::default());
    for side in [0usize, 1] {
        let (src, dst) = if side == 0 {
            (&mut a, &mut b)
        } else {
            (&mut b, &mut a)
        };
        let sent: Vec<Vec<u8>> = (0..10u32).map(|i| frame(60 + i as usize * 97, i)).collect();
        for f in &sent {
            assert!(send(src, f));
        }
        assert!(recv_all(dst).is_empty(), "nothing leaves before the kick");
        assert_eq!(src.tx().flush().unwrap(), 10);
        assert_eq!(recv_all(dst), sent);
        assert_eq!(wire.stats(side).transmitted, 10);
        assert_eq!(src.stats().tx_frames, 10);
        assert_eq!(dst.stats().rx_frames, 10);
    }
    for (p, side) in [(&a, 0), (&b, 1)] {
        check_buffers(p, &wire, side);
        check_kernel(p, &wire, side);
    }
}

#[test]
fn head_cur_and_tail_move_as_netmap_says() {
    let (mut a, mut b, wire) = pair(MemConfig {
        tx_slots: 8,
        rx_slots: 8,
        ..Default::default()
    });
    let tx = a.tx().ring_state();
    assert_eq!(
        (tx.head, tx.cur, tx.tail),
        (0, 0, 7),
        "TX starts with N - 1 free slots"
    );
    let rx = b.rx().ring_state();
    assert_eq!((rx.head, rx.cur, rx.tail), (0, 0, 0), "RX starts empty");
    assert_eq!(a.caps().tx_ring_size, 7);
    assert_eq!(b.caps().rx_ring_size, 7);

    assert!(send(&mut a, &frame(60, 0)));
    assert!(send(&mut a, &frame(61, 1)));
    let tx = a.tx().ring_state();
    assert_eq!(
        (tx.head, tx.cur, tx.tail),
        (0, 2, 7),
        "commit moves cur only"
    );
    assert_eq!((tx.slots[0].len, tx.slots[1].len), (60, 61));
    assert_eq!(a.tx().pending(), 2);
    assert_eq!(a.tx().tx_space(), 5);

    a.tx().flush().unwrap();
    let tx = a.tx().ring_state();
    assert_eq!(
        (tx.head, tx.cur, tx.tail),
        (2, 2, 1),
        "flush moves head; the sync reports both sent (tail = head - 1)"
    );
    assert_eq!(a.tx().tx_space(), 7);

    let rx = b.rx().ring_state();
    assert_eq!(rx.tail, 0, "arrivals show only after an RX sync");
    assert_eq!(recv(&mut b, 1).len(), 1);
    let rx = b.rx().ring_state();
    assert_eq!((rx.head, rx.cur, rx.tail), (1, 1, 2), "one taken, one left");
    assert_eq!(recv(&mut b, 8).len(), 1);
    let rx = b.rx().ring_state();
    assert_eq!((rx.head, rx.cur, rx.tail), (2, 2, 2));
    check_kernel(&a, &wire, 0);
    check_kernel(&b, &wire, 1);
}

#[test]
fn rings_wrap_around_many_times() {
    let (mut a, mut b, wire) = pair(MemConfig {
        tx_slots: 5,
        rx_slots: 7,
        ..Default::default()
    });
    let mut seq = 0u32;
    for round in 0..200usize {
        // 1..=4 frames (a 5-slot ring holds 4), received in bursts of 1..=3.
        let n = round % 4 + 1;
        let mut want = Vec::new();
        for _ in 0..n {
            let f = frame(60 + (seq as usize % 50), seq);
            assert!(send(&mut a, &f), "round {round}");
            want.push(f);
            seq += 1;
        }
        check_tx_ring(&a.tx().ring_state(), n);
        a.tx().flush().unwrap();
        check_tx_ring(&a.tx().ring_state(), 0);
        let mut got = Vec::new();
        while got.len() < n {
            let k = recv(&mut b, round % 3 + 1);
            assert!(!k.is_empty(), "round {round}: frames missing");
            got.extend(k);
            check_rx_ring(&b.rx().ring_state());
        }
        assert_eq!(got, want, "round {round}");
    }
    assert_eq!(b.stats().rx_ring_full, 0);
    check_buffers(&a, &wire, 0);
    check_buffers(&b, &wire, 1);
    check_kernel(&a, &wire, 0);
    check_kernel(&b, &wire, 1);
}

#[test]
fn a_full_tx_ring_is_a_counted_drop_and_comes_back_as_the_nic_sends() {
    let (mut a, mut b, wire) = pair(MemConfig {
        tx_slots: 8,
        ..Default::default()
    });
    wire.hold_tx(0, true);
    for i in 0..7 {
        assert!(send(&mut a, &frame(60, i)));
    }
    assert!(a.tx().reserve().is_none(), "7 frames fill an 8-slot ring");
    assert!(!send(&mut a, &frame(60, 99)));
    assert_eq!(a.stats().tx_ring_full, 2);
    a.tx().flush().unwrap();
    assert_eq!(wire.queued(0), 7);
    assert_eq!(a.tx().tx_space(), 0, "all in flight");
    assert!(a.tx().reserve().is_none());

    assert_eq!(wire.transmit(0, 3), 3);
    assert_eq!(a.tx().tx_space(), 3, "tx_space reclaims what the NIC sent");
    assert_eq!(recv_all(&mut b).len(), 3);
    assert_eq!(wire.transmit(0, 100), 4);
    assert_eq!(a.tx().tx_space(), 7);
    assert_eq!(recv_all(&mut b).len(), 4);
    wire.hold_tx(0, false);
    assert!(send(&mut a, &frame(60, 7)));
    a.tx().flush().unwrap();
    assert_eq!(recv_all(&mut b), vec![frame(60, 7)]);
    check_kernel(&a, &wire, 0);
}

#[test]
fn reserve_reclaims_when_the_ring_looks_full() {
    let (mut a, _b, wire) = pair(MemConfig {
        tx_slots: 4,
        ..Default::default()
    });
    wire.hold_tx(0, true);
    for i in 0..3 {
        assert!(send(&mut a, &frame(60, i)));
    }
    a.tx().flush().unwrap();
    wire.transmit(0, 1);
    // No tx_space call in between: reserve itself asks the kernel.
    assert!(send(&mut a, &frame(60, 3)));
    assert!(!send(&mut a, &frame(60, 4)));
    check_kernel(&a, &wire, 0);
}

#[test]
fn rx_ring_overflow_is_counted_not_fatal() {
    let (mut a, mut b, wire) = pair(MemConfig {
        tx_slots: 64,
        rx_slots: 8,
        ..Default::default()
    });
    for i in 0..20 {
        assert!(send(&mut a, &frame(60, i)));
    }
    a.tx().flush().unwrap();
    let got = recv_all(&mut b);
    assert_eq!(got, (0..7).map(|i| frame(60, i)).collect::<Vec<_>>());
    assert_eq!(b.stats().rx_ring_full, 13);
    assert_eq!(wire.stats(1).rx_dropped, 13);
    // Once drained, the ring takes frames again.
    assert!(send(&mut a, &frame(60, 20)));
    a.tx().flush().unwrap();
    assert_eq!(recv_all(&mut b), vec![frame(60, 20)]);
    check_kernel(&b, &wire, 1);
}

#[test]
fn recv_burst_hands_up_at_most_max_and_keeps_the_rest() {
    let (mut a, mut b, _wire) = pair(MemConfig::default());
    for i in 0..10 {
        send(&mut a, &frame(60, i));
    }
    a.tx().flush().unwrap();
    assert_eq!(recv(&mut b, 3).len(), 3);
    assert_eq!(recv(&mut b, 3).len(), 3);
    assert_eq!(recv(&mut b, 0).len(), 0);
    let rest = recv(&mut b, 64);
    assert_eq!(rest, (6..10).map(|i| frame(60, i)).collect::<Vec<_>>());
    assert_eq!(b.stats().rx_bursts, 3);
}

#[test]
fn precopy_swaps_the_image_buffer_into_the_slot() {
    let (mut a, mut b, wire) = pair(MemConfig {
        tx_slots: 8,
        extra_bufs: 4,
        ..Default::default()
    });
    assert!(a.caps().zero_copy_prepared);
    let image = frame(300, 0);
    let id = a.tx().prepare(&image).unwrap();
    let slot0 = a.tx().ring_state().slots[0];
    let extra: Vec<u32> = wire.buffers(0).rev().take(4).collect();
    assert!(a.tx().send_prepared(id, PrepMode::PreCopy, stamp(1)));
    let tx = a.tx().ring_state();
    assert_ne!(
        tx.slots[0].buf_idx, slot0.buf_idx,
        "the slot points at the image"
    );
    assert!(extra.contains(&tx.slots[0].buf_idx), "an extra buffer");
    assert_ne!(tx.slots[0].flags & NS_BUF_CHANGED, 0, "and says so");
    assert!(
        a.tx().owned_buffers().contains(&slot0.buf_idx),
        "the slot's own buffer is kept as a spare"
    );
    assert_eq!(a.tx().prepared(id), Some(&with_seq(&image, 1)[..]));
    check_buffers(&a, &wire, 0);

    a.tx().flush().unwrap();
    assert_eq!(
        a.tx().ring_state().slots[0].flags & NS_BUF_CHANGED,
        0,
        "the kernel took the change"
    );
    assert_eq!(recv_all(&mut b), vec![with_seq(&image, 1)]);
    let s = a.stats();
    assert_eq!((s.prepared_precopy, s.prepared_clones), (1, 0));
    check_buffers(&a, &wire, 0);
    check_kernel(&a, &wire, 0);
}

#[test]
fn a_slot_holding_an_image_gets_a_spare_back_before_other_frames() {
    let (mut a, mut b, wire) = pair(MemConfig {
        tx_slots: 4,
        extra_bufs: 2,
        ..Default::default()
    });
    let image = frame(200, 0);
    let id = a.tx().prepare(&image).unwrap();
    assert!(a.tx().send_prepared(id, PrepMode::PreCopy, stamp(1)));
    a.tx().flush().unwrap();
    let img_buf = a.tx().ring_state().slots[0].buf_idx;
    // Slots 1, 2, 3, then 0 again: the fourth frame must not land in the image's buffer.
    for i in 0..4u32 {
        assert!(send(&mut a, &frame(64, 100 + i)));
        a.tx().flush().unwrap();
    }
    let tx = a.tx().ring_state();
    assert_ne!(
        tx.slots[0].buf_idx, img_buf,
        "a spare went back into slot 0"
    );
    assert_eq!(
        a.tx().prepared(id),
        Some(&with_seq(&image, 1)[..]),
        "image intact"
    );
    let mut want = vec![with_seq(&image, 1)];
    want.extend((0..4).map(|i| frame(64, 100 + i)));
    assert_eq!(recv_all(&mut b), want);
    check_buffers(&a, &wire, 0);
    check_kernel(&a, &wire, 0);
    // And the image still goes by reference.
    assert!(a.tx().send_prepared(id, PrepMode::PreCopy, stamp(2)));
    a.tx().flush().unwrap();
    assert_eq!(recv_all(&mut b), vec![with_seq(&image, 2)]);
    assert_eq!(a.stats().prepared_clones, 0);
    check_buffers(&a, &wire, 0);
    check_kernel(&a, &wire, 0);
}

#[test]
fn an_image_in_flight_is_cloned_never_rewritten() {
    let (mut a, mut b, wire) = pair(MemConfig {
        tx_slots: 16,
        extra_bufs: 2,
        ..Default::default()
    });
    let image = frame(500, 0);
    let id = a.tx().prepare(&image).unwrap();
    wire.hold_tx(0, true);
    assert!(a.tx().send_prepared(id, PrepMode::PreCopy, stamp(1)));
    // Queued, not flushed: in flight already.
    assert!(a.tx().send_prepared(id, PrepMode::PreCopy, stamp(2)));
    a.tx().flush().unwrap();
    // With the NIC, not sent yet.
    assert!(a.tx().send_prepared(id, PrepMode::PreCopy, stamp(3)));
    let s = a.stats();
    assert_eq!((s.prepared_precopy, s.prepared_clones), (3, 2));
    assert_eq!(
        a.tx().prepared(id),
        Some(&with_seq(&image, 1)[..]),
        "clones leave the image as the first send left it"
    );
    a.tx().flush().unwrap();
    wire.transmit(0, u32::MAX);
    assert_eq!(
        recv_all(&mut b),
        vec![
            with_seq(&image, 1),
            with_seq(&image, 2),
            with_seq(&image, 3)
        ]
    );
    assert_eq!(wire.stats(0).rewritten_in_flight, 0);
    check_buffers(&a, &wire, 0);
    check_kernel(&a, &wire, 0);
}

#[test]
fn changing_an_image_in_flight_moves_it_and_the_queued_frame_keeps_its_bytes() {
    let (mut a, mut b, wire) = pair(MemConfig {
        tx_slots: 16,
        extra_bufs: 1,
        ..Default::default()
    });
    let image = frame(400, 0);
    let id = a.tx().prepare(&image).unwrap();
    wire.hold_tx(0, true);
    assert!(a.tx().send_prepared(id, PrepMode::PreCopy, stamp(1)));
    a.tx().flush().unwrap();
    let queued_buf = a.tx().ring_state().slots[0].buf_idx;
    a.tx().prepared_mut(id).unwrap()[100] ^= 0xff;
    let mut changed = with_seq(&image, 1);
    changed[100] ^= 0xff;
    assert_eq!(a.tx().prepared(id), Some(&changed[..]));
    assert_eq!(
        a.tx().ring_state().slots[0].buf_idx,
        queued_buf,
        "the queued frame keeps the old buffer"
    );
    check_buffers(&a, &wire, 0);
    wire.transmit(0, u32::MAX);
    assert_eq!(
        recv_all(&mut b),
        vec![with_seq(&image, 1)],
        "sent as queued"
    );
    assert_eq!(wire.stats(0).rewritten_in_flight, 0);
    // The moved image is sent by reference again.
    wire.hold_tx(0, false);
    assert!(a.tx().send_prepared(id, PrepMode::PreCopy, stamp(2)));
    a.tx().flush().unwrap();
    let mut want = changed.clone();
    stamp(2)(&mut want);
    assert_eq!(recv_all(&mut b), vec![want]);
    assert_eq!(a.stats().prepared_clones, 0);
    check_buffers(&a, &wire, 0);
    check_kernel(&a, &wire, 0);
}

#[test]
fn the_image_sent_last_is_in_flight_until_its_slot_comes_back() {
    let (mut a, mut b, wire) = pair(MemConfig {
        tx_slots: 8,
        extra_bufs: 1,
        ..Default::default()
    });
    let image = frame(120, 0);
    let id = a.tx().prepare(&image).unwrap();
    assert!(a.tx().send_prepared(id, PrepMode::PreCopy, stamp(1)));
    a.tx().flush().unwrap();
    // Sent, but netmap keeps the slot before head: still the kernel's.
    assert!(a.tx().send_prepared(id, PrepMode::PreCopy, stamp(2)));
    assert_eq!(a.stats().prepared_clones, 1);
    a.tx().flush().unwrap();
    // One more frame completed after it: the slot is back, the image goes by reference.
    assert!(a.tx().send_prepared(id, PrepMode::PreCopy, stamp(3)));
    assert_eq!(a.stats().prepared_clones, 1);
    a.tx().flush().unwrap();
    assert_eq!(
        recv_all(&mut b),
        (1..=3).map(|s| with_seq(&image, s)).collect::<Vec<_>>()
    );
    check_buffers(&a, &wire, 0);
    check_kernel(&a, &wire, 0);
}

#[test]
fn memcpy_copies_into_the_slot_and_leaves_the_image_alone() {
    let (mut a, mut b, wire) = pair(MemConfig::default());
    let image = frame(1000, 0);
    let id = a.tx().prepare(&image).unwrap();
    let slot0 = a.tx().ring_state().slots[0].buf_idx;
    assert!(a.tx().send_prepared(id, PrepMode::Memcpy, stamp(5)));
    assert_eq!(a.tx().ring_state().slots[0].buf_idx, slot0, "no swap");
    assert_eq!(a.tx().prepared(id), Some(&image[..]));
    a.tx().flush().unwrap();
    assert_eq!(recv_all(&mut b), vec![with_seq(&image, 5)]);
    assert_eq!(a.stats().prepared_memcpy, 1);
    assert!(!a
        .tx()
        .send_prepared(PreparedId(9), PrepMode::Memcpy, |_| {}));
    assert_eq!(a.stats().tx_bad_prepared, 1);
    check_kernel(&a, &wire, 0);
}

#[test]
fn prepared_pool_is_the_extra_buffers() {
    let (mut a, _b, _wire) = pair(MemConfig {
        extra_bufs: 2,
        ..Default::default()
    });
    assert_eq!(a.tx().prepared_capacity(), 2);
    a.tx().prepare(&frame(60, 0)).unwrap();
    a.tx().prepare(&frame(60, 1)).unwrap();
    let e = a.tx().prepare(&frame(60, 2)).unwrap_err();
    assert_eq!(e.to_string(), "prepared-packet pool is full (2 packets)");
    let big = vec![0u8; a.tx().slot_size() + 1];
    assert!(a.tx().prepare(&big).is_err());
    let (c, _d, _w) = pair(MemConfig {
        extra_bufs: 0,
        ..Default::default()
    });
    assert!(!c.caps().zero_copy_prepared);
}

#[test]
fn frame_lengths_are_checked_on_commit() {
    let (mut a, mut b, _wire) = pair(MemConfig::default());
    assert!(!a.tx().commit(60), "commit without reserve");
    a.tx().reserve().unwrap();
    assert!(!a.tx().commit(0));
    a.tx().reserve().unwrap();
    assert!(!a.tx().commit(5000));
    a.tx().reserve().unwrap();
    assert!(!a.tx().commit(10), "runt");
    assert_eq!(a.stats().tx_bad_len, 4);
    assert!(!send(&mut a, &frame(1515, 0)), "over the MTU");
    assert_eq!(a.stats().tx_errors, 1);
    let mut tagged = frame(1518, 1);
    tagged[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
    assert!(send(&mut a, &tagged), "802.1Q frames may be 4 bytes longer");
    assert_eq!(a.tx().pending(), 1);
    a.tx().flush().unwrap();
    assert_eq!(recv_all(&mut b), vec![tagged]);
}

#[test]
fn a_reservation_not_committed_is_handed_out_again() {
    let (mut a, mut b, _wire) = pair(MemConfig::default());
    let r1 = a.tx().reserve().unwrap().as_ptr();
    let r2 = a.tx().reserve().unwrap().as_ptr();
    assert_eq!(r1, r2);
    assert!(send(&mut a, &frame(60, 0)));
    a.tx().flush().unwrap();
    assert_eq!(recv_all(&mut b), vec![frame(60, 0)]);
}

#[test]
fn wait_blocks_until_a_frame_arrives() {
    let (mut a, mut b, _wire) = pair(MemConfig::default());
    assert!(!b.wait(Duration::ZERO).unwrap());
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        send(&mut a, &frame(60, 0));
        a.tx().flush().unwrap();
        a
    });
    let start = std::time::Instant::now();
    let mut ready = false;
    while !ready && start.elapsed() < Duration::from_secs(5) {
        ready = b.wait(Duration::from_secs(5)).unwrap();
    }
    assert!(ready);
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(recv_all(&mut b), vec![frame(60, 0)]);
    t.join().unwrap();
}

#[test]
fn closing_hands_every_buffer_back() {
    let (mut a, mut b, wire) = pair(MemConfig {
        tx_slots: 8,
        extra_bufs: 3,
        ..Default::default()
    });
    let id = a.tx().prepare(&frame(100, 0)).unwrap();
    let id2 = a.tx().prepare(&frame(100, 1)).unwrap();
    assert!(a.tx().send_prepared(id, PrepMode::PreCopy, stamp(1)));
    assert!(a.tx().send_prepared(id2, PrepMode::PreCopy, stamp(2)));
    a.tx().flush().unwrap();
    assert_eq!(recv_all(&mut b).len(), 2);
    assert!(wire.closed_buffers(0).is_none(), "port still open");
    let (rx, tx, _caps) = a.into_parts();
    drop(tx);
    let (list, rings) = wire.closed_buffers(0).expect("TX half closed");
    let mut all = list.clone();
    all.extend(rings);
    all.sort_unstable();
    assert_eq!(all, wire.buffers(0).collect::<Vec<_>>());
    assert_eq!(list.len(), 3, "two spares and the unused extra buffer");
    drop(rx);
}

#[test]
fn bad_configurations_are_refused() {
    for cfg in [
        MemConfig {
            tx_slots: 1,
            ..Default::default()
        },
        MemConfig {
            buf_size: 32,
            ..Default::default()
        },
        MemConfig {
            mtu: 2040,
            ..Default::default()
        },
    ] {
        let e = mem::pair(cfg).err().expect("refused");
        assert!(e.to_string().starts_with("invalid configuration"), "{e}");
    }
}

#[test]
fn opening_a_real_port_without_netmap_says_so() {
    if std::path::Path::new("/dev/netmap").exists() {
        eprintln!("skipped: /dev/netmap exists on this machine");
        return;
    }
    let e = NetmapPort::open(NetmapConfig::new("lo"))
        .err()
        .expect("no netmap");
    let msg = e.to_string();
    assert!(
        msg.starts_with("netmap is not loaded: /dev/netmap missing"),
        "{msg}"
    );
    assert!(!msg.contains('\n'));
    let e = NetmapPort::open(NetmapConfig::new("bad/name"))
        .err()
        .unwrap();
    assert!(e.to_string().starts_with("invalid interface name"), "{e}");
}

// ---- property test: random operation sequences against a model ----

#[derive(Clone, Debug)]
enum Op {
    Send(usize),
    Abandon,
    Prepare(usize),
    SendPrepared { img: usize, precopy: bool },
    Change { img: usize, at: usize },
    Flush,
    Recv(usize),
    Hold(bool),
    Transmit(u32),
    Space,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (60usize..200).prop_map(Op::Send),
        1 => Just(Op::Abandon),
        1 => (60usize..200).prop_map(Op::Prepare),
        6 => (0usize..4, any::<bool>()).prop_map(|(img, precopy)| Op::SendPrepared { img, precopy }),
        2 => (0usize..4, 20usize..60).prop_map(|(img, at)| Op::Change { img, at }),
        4 => Just(Op::Flush),
        3 => (1usize..6).prop_map(Op::Recv),
        1 => any::<bool>().prop_map(Op::Hold),
        2 => (0u32..4).prop_map(Op::Transmit),
        2 => Just(Op::Space),
    ]
}

/// What should have happened: frames committed in order (each arrives once, in order: the
/// receiver's ring is larger than all that is sent) and the current image bytes.
struct Model {
    committed: VecDeque<Vec<u8>>,
    pending: usize,
    images: Vec<Vec<u8>>,
    seq: u32,
}

fn run_ops(tx_slots: u32, extra: u32, ops: &[Op]) -> Result<(), TestCaseError> {
    let (mut a, mut b, wire) = pair(MemConfig {
        tx_slots,
        rx_slots: 1024,
        extra_bufs: extra,
        ..Default::default()
    });
    let mut m = Model {
        committed: VecDeque::new(),
        pending: 0,
        images: Vec::new(),
        seq: 0,
    };
    let check_recv = |m: &mut Model, got: Vec<Vec<u8>>| -> Result<(), TestCaseError> {
        for f in got {
            let want = m.committed.pop_front();
            prop_assert_eq!(Some(f), want, "frames arrive once, in order, as sent");
        }
        Ok(())
    };
    for op in ops {
        match *op {
            Op::Send(len) => {
                m.seq += 1;
                let f = frame(len, m.seq);
                if send(&mut a, &f) {
                    m.committed.push_back(f);
                    m.pending += 1;
                }
            }
            Op::Abandon => {
                if let Some(buf) = a.tx().reserve() {
                    buf[..60].fill(0xee);
                }
            }
            Op::Prepare(len) => {
                let img = frame(len, 0);
                if a.tx().prepare(&img).is_ok() {
                    m.images.push(img);
                }
            }
            Op::SendPrepared { img, precopy } => {
                if m.images.is_empty() {
                    continue;
                }
                let id = img % m.images.len();
                m.seq += 1;
                let mode = if precopy {
                    PrepMode::PreCopy
                } else {
                    PrepMode::Memcpy
                };
                let before = a.stats();
                let ok = a
                    .tx()
                    .send_prepared(PreparedId(id as u32), mode, stamp(m.seq));
                let after = a.stats();
                let want = with_seq(&m.images[id], m.seq);
                if ok {
                    m.committed.push_back(want.clone());
                    m.pending += 1;
                    let cloned = after.prepared_clones > before.prepared_clones;
                    if precopy {
                        prop_assert_eq!(after.prepared_precopy, before.prepared_precopy + 1);
                        if !cloned {
                            m.images[id] = want;
                        }
                    } else {
                        prop_assert_eq!(after.prepared_memcpy, before.prepared_memcpy + 1);
                        prop_assert!(!cloned);
                    }
                } else {
                    prop_assert_eq!(after.tx_ring_full, before.tx_ring_full + 1);
                }
            }
            Op::Change { img, at } => {
                if m.images.is_empty() {
                    continue;
                }
                let id = img % m.images.len();
                let bytes = a.tx().prepared_mut(PreparedId(id as u32)).unwrap();
                bytes[at] = bytes[at].wrapping_add(1);
                m.images[id][at] = m.images[id][at].wrapping_add(1);
            }
            Op::Flush => {
                let n = a.tx().flush().unwrap();
                prop_assert_eq!(n, m.pending);
                m.pending = 0;
            }
            Op::Recv(max) => {
                let got = recv(&mut b, max);
                prop_assert!(got.len() <= max);
                check_recv(&mut m, got)?;
            }
            Op::Hold(h) => wire.hold_tx(0, h),
            Op::Transmit(k) => {
                wire.transmit(0, k);
            }
            Op::Space => {
                let space = a.tx().tx_space();
                prop_assert!(space + m.pending < tx_slots as usize);
            }
        }
        prop_assert_eq!(a.tx().pending(), m.pending);
        check_tx_ring(&a.tx().ring_state(), m.pending);
        check_rx_ring(&b.rx().ring_state());
        check_buffers(&a, &wire, 0);
        check_kernel(&a, &wire, 0);
        check_kernel(&b, &wire, 1);
        for (id, img) in m.images.iter().enumerate() {
            prop_assert_eq!(a.tx().prepared(PreparedId(id as u32)), Some(&img[..]));
        }
    }
    // Let everything out: every committed frame arrives, intact, in order.
    wire.hold_tx(0, false);
    a.tx().flush().unwrap();
    wire.transmit(0, u32::MAX);
    let rest = recv_all(&mut b);
    check_recv(&mut m, rest)?;
    prop_assert!(m.committed.is_empty(), "{} frames lost", m.committed.len());
    prop_assert_eq!(b.stats().rx_ring_full, 0);
    prop_assert_eq!(a.tx().tx_space(), tx_slots as usize - 1);
    check_kernel(&a, &wire, 0);
    // Closing hands back every buffer not in a ring.
    drop(a);
    let (list, rings) = wire.closed_buffers(0).expect("closed");
    let mut all = list;
    all.extend(rings);
    all.sort_unstable();
    prop_assert_eq!(all, wire.buffers(0).collect::<Vec<_>>());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_sequences_keep_netmaps_rules_and_deliver_in_order(
        tx_slots in 2u32..12,
        extra in 0u32..5,
        ops in prop::collection::vec(op(), 1..150),
    ) {
        run_ops(tx_slots, extra, &ops)?;
    }
}
