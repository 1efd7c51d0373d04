//! The backend conformance suite: one list of checks every backend must pass.
//!
//! Each check takes two connected ports (`a` sends, `b` receives; the suite runs it both
//! ways) and asserts what the port interface promises. Test frames carry the local
//! experimental EtherType 0x88B5 (IEEE 802) and a sequence number; anything else a kernel
//! puts on the link is ignored and counted.

use nmio::{Port, PrepMode, RxQueue, TxQueue};
use std::time::{Duration, Instant};

/// EtherType of test frames (IEEE 802 local experimental).
pub const TEST_ETHERTYPE: u16 = 0x88b5;

/// How long a check waits for frames that should arrive.
pub const DEADLINE: Duration = Duration::from_secs(3);

/// Build test frame number `seq` of `len` bytes from `src` to `dst` into `buf`.
pub fn fill_frame(buf: &mut [u8], len: usize, dst: [u8; 6], src: [u8; 6], seq: u32) -> usize {
    buf[0..6].copy_from_slice(&dst);
    buf[6..12].copy_from_slice(&src);
    buf[12..14].copy_from_slice(&TEST_ETHERTYPE.to_be_bytes());
    buf[14..18].copy_from_slice(&seq.to_be_bytes());
    buf[18..22].copy_from_slice(&(len as u32).to_be_bytes());
    for (i, b) in buf[22..len].iter_mut().enumerate() {
        *b = (i as u32).wrapping_mul(31).wrapping_add(seq) as u8;
    }
    len
}

/// The frame `fill_frame` builds, as a vector.
pub fn expected_frame(len: usize, dst: [u8; 6], src: [u8; 6], seq: u32) -> Vec<u8> {
    let mut v = vec![0u8; len];
    fill_frame(&mut v, len, dst, src, seq);
    v
}

/// Whether a received frame is one of ours.
pub fn is_test_frame(f: &[u8]) -> bool {
    f.len() >= 22 && f[12..14] == TEST_ETHERTYPE.to_be_bytes()
}

/// Receive test frames on `p` until `want` arrived or [`DEADLINE`] passed.
pub fn recv_frames<P: Port>(p: &mut P, want: usize) -> Vec<Vec<u8>> {
    let mut got = Vec::with_capacity(want);
    let start = Instant::now();
    while got.len() < want && start.elapsed() < DEADLINE {
        let n = p.rx().recv_burst(64, |f, m| {
            assert_eq!(m.len as usize, f.len(), "metadata length matches the frame");
            if is_test_frame(f) {
                got.push(f.to_vec());
            }
        });
        if n == 0 {
            p.wait(Duration::from_millis(10)).expect("wait");
        }
    }
    got
}

/// Drain whatever test frames arrive within `quiet` of each other.
pub fn drain<P: Port>(p: &mut P, quiet: Duration) -> usize {
    let mut n = 0;
    let mut last = Instant::now();
    while last.elapsed() < quiet {
        let k = p
            .rx()
            .recv_burst(64, |f, _| n += usize::from(is_test_frame(f)));
        if k > 0 {
            last = Instant::now();
        } else {
            let _ = p.wait(Duration::from_millis(2));
        }
    }
    n
}

/// The largest frame both ports carry (MTU + Ethernet header).
pub fn max_frame<A: Port, B: Port>(a: &A, b: &B) -> usize {
    let ca = a.caps();
    let cb = b.caps();
    (ca.mtu.min(cb.mtu) + 14)
        .min(ca.max_frame)
        .min(cb.max_frame)
}

/// How many frames may be in flight at once without overrunning either ring.
pub fn window<A: Port, B: Port>(a: &A, b: &B) -> usize {
    a.caps().tx_ring_size.min(b.caps().rx_ring_size).min(256)
}

/// Frames of every size from 60 bytes to MTU+14 arrive byte-exact and in order.
pub fn every_size_arrives_byte_exact<A: Port, B: Port>(a: &mut A, b: &mut B) {
    let (src, dst) = (a.caps().mac, b.caps().mac);
    let max = max_frame(a, b);
    let win = window(a, b).min(64);
    let sizes: Vec<usize> = (60..=max).collect();
    for (chunk_no, chunk) in sizes.chunks(win).enumerate() {
        for (i, &len) in chunk.iter().enumerate() {
            let seq = (chunk_no * win + i) as u32;
            assert!(
                a.tx().send(|buf| fill_frame(buf, len, dst, src, seq)),
                "send {len}"
            );
        }
        a.tx().flush().expect("flush");
        let got = recv_frames(b, chunk.len());
        assert_eq!(got.len(), chunk.len(), "frames of sizes {:?} lost", chunk);
        for (i, (&len, f)) in chunk.iter().zip(&got).enumerate() {
            let seq = (chunk_no * win + i) as u32;
            assert_eq!(f.len(), len, "frame {seq} length");
            assert!(
                *f == expected_frame(len, dst, src, seq),
                "frame {seq} of {len} bytes differs"
            );
        }
    }
}

/// Bursts of 1..=ring size frames each arrive whole.
pub fn bursts_up_to_the_ring_size_arrive<A: Port, B: Port>(a: &mut A, b: &mut B) {
    let (src, dst) = (a.caps().mac, b.caps().mac);
    let ring = window(a, b);
    let mut seq = 0u32;
    for n in 1..=ring {
        assert!(
            a.tx().tx_space() >= n,
            "TX ring has room for a burst of {n}"
        );
        let first = seq;
        for _ in 0..n {
            assert!(a.tx().send(|buf| fill_frame(buf, 64, dst, src, seq)));
            seq += 1;
        }
        assert_eq!(a.tx().pending(), n);
        a.tx().flush().expect("flush");
        let got = recv_frames(b, n);
        assert_eq!(got.len(), n, "burst of {n}");
        for (k, f) in got.iter().enumerate() {
            assert!(
                *f == expected_frame(64, dst, src, first + k as u32),
                "burst {n} frame {k}"
            );
        }
    }
}

/// Filling the TX ring without a kick is a counted drop: `reserve` says `None`, nothing
/// panics or hangs, and after a flush sending works again.
pub fn tx_ring_full_is_a_counted_drop<A: Port, B: Port>(a: &mut A, b: &mut B) {
    let (src, dst) = (a.caps().mac, b.caps().mac);
    let before = a.stats().tx_ring_full;
    let mut queued = 0u32;
    let limit = a.caps().tx_ring_size + 10;
    while a.tx().send(|buf| fill_frame(buf, 60, dst, src, queued)) {
        queued += 1;
        assert!(queued as usize <= limit, "TX ring never reported full");
    }
    assert_eq!(a.tx().tx_space(), 0);
    assert!(!a
        .tx()
        .send_prepared(nmio::PreparedId(u32::MAX), PrepMode::Memcpy, |_| {}));
    assert!(a.stats().tx_ring_full > before, "ring-full drop counted");
    a.tx().flush().expect("flush");
    let received = drain(b, Duration::from_millis(300));
    assert!(received <= queued as usize);
    // Every slot comes back once the NIC is done with them.
    let start = Instant::now();
    while a.tx().tx_space() < a.caps().tx_ring_size && start.elapsed() < DEADLINE {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        a.tx().tx_space(),
        a.caps().tx_ring_size,
        "TX slots reclaimed"
    );
    assert!(a.tx().send(|buf| fill_frame(buf, 60, dst, src, 0)));
    a.tx().flush().expect("flush");
    assert_eq!(recv_frames(b, 1).len(), 1);
}

/// Sending far more than the receiver's ring holds, without receiving, never hangs; what
/// arrives is intact; where the backend can see the receiver's drops, nothing is unaccounted.
pub fn rx_overflow_never_hangs<A: Port, B: Port>(a: &mut A, b: &mut B, drops_visible: bool) {
    let (src, dst) = (a.caps().mac, b.caps().mac);
    // Small frames pack densely into byte-sized rings (TPACKET_V3), so send plenty.
    let total = (b.caps().rx_ring_size * 4).max(20_000);
    let before = b.stats().rx_ring_full;
    let mut sent = 0usize;
    let start = Instant::now();
    while sent < total && start.elapsed() < DEADLINE {
        if a.tx()
            .send(|buf| fill_frame(buf, 60, dst, src, sent as u32))
        {
            sent += 1;
        } else {
            a.tx().flush().expect("flush");
        }
    }
    a.tx().flush().expect("flush");
    std::thread::sleep(Duration::from_millis(50));
    let mut got = 0usize;
    let mut last_seq = None;
    let quiet = Instant::now();
    let mut last = Instant::now();
    while last.elapsed() < Duration::from_millis(300) && quiet.elapsed() < DEADLINE {
        let n = b.rx().recv_burst(64, |f, _| {
            if is_test_frame(f) {
                let seq = u32::from_be_bytes([f[14], f[15], f[16], f[17]]);
                assert!(
                    *f == expected_frame(60, dst, src, seq),
                    "frame {seq} intact"
                );
                assert!(last_seq < Some(seq), "frames stay in order");
                last_seq = Some(seq);
                got += 1;
            }
        });
        if n > 0 {
            last = Instant::now();
        } else {
            let _ = b.wait(Duration::from_millis(2));
        }
    }
    assert!(got > 0 && got <= sent, "got {got} of {sent}");
    if drops_visible {
        let dropped = (b.stats().rx_ring_full - before) as usize;
        assert!(
            dropped > 0,
            "overflow of a {}-frame ring counted",
            b.caps().rx_ring_size
        );
        assert_eq!(
            got + dropped,
            sent,
            "every frame received or counted as dropped"
        );
    }
}

/// `send_prepared` in both modes delivers the rewritten image; memcpy leaves the image
/// alone, pre-copy rewrites it.
pub fn prepared_send_works_in_both_modes<A: Port, B: Port>(a: &mut A, b: &mut B) {
    let (src, dst) = (a.caps().mac, b.caps().mac);
    let len = max_frame(a, b).min(1000);
    let image = expected_frame(len, [0; 6], src, 0);
    let id = a.tx().prepare(&image).expect("prepare");
    assert_eq!(a.tx().prepared(id), Some(&image[..]));
    let rewrite = |seq: u32| {
        move |f: &mut [u8]| {
            f[0..6].copy_from_slice(&dst);
            f[14..18].copy_from_slice(&seq.to_be_bytes());
        }
    };
    let before = a.stats();
    for seq in 0..8u32 {
        let mode = if seq % 2 == 0 {
            PrepMode::Memcpy
        } else {
            PrepMode::PreCopy
        };
        let img_before = a.tx().prepared(id).unwrap().to_vec();
        assert!(a.tx().send_prepared(id, mode, rewrite(seq)));
        if mode == PrepMode::Memcpy {
            assert!(
                a.tx().prepared(id).unwrap() == img_before,
                "memcpy keeps the image"
            );
        }
    }
    a.tx().flush().expect("flush");
    let got = recv_frames(b, 8);
    assert_eq!(got.len(), 8);
    for (seq, f) in got.iter().enumerate() {
        let mut want = image.clone();
        rewrite(seq as u32)(&mut want);
        assert!(*f == want, "prepared frame {seq}");
    }
    let after = a.stats();
    assert_eq!(after.prepared_memcpy - before.prepared_memcpy, 4);
    assert_eq!(after.prepared_precopy - before.prepared_precopy, 4);
    assert_eq!(
        a.tx().prepared(id).unwrap()[0..6],
        dst,
        "pre-copy rewrote the image"
    );
    let mut big = vec![0u8; a.tx().slot_size() + 1];
    big[12..14].copy_from_slice(&TEST_ETHERTYPE.to_be_bytes());
    assert!(
        a.tx().prepare(&big).is_err(),
        "an image larger than a slot is refused"
    );
}

/// Timers of an event loop running on this backend fire on time on a virtual clock: never
/// before their deadline, at most one tick (plus one step of the driving clock) after it,
/// exactly once, including timers more than one wheel revolution away.
pub fn loop_timers_fire_on_time<P: Port>(port: P) -> P {
    use nmio::event_loop::{Context, EventLoop, Handler, LoopConfig};
    use nmio::{Clock, RxMeta, VirtualClock};

    struct Timers {
        fired: Vec<(u64, nmio::Instant)>,
    }
    impl<Tx: TxQueue> Handler<Tx> for Timers {
        fn on_frame(&mut self, _cx: &mut Context<'_, Tx>, _f: &mut [u8], _m: &RxMeta) {}
        fn on_timer(&mut self, cx: &mut Context<'_, Tx>, token: u64) {
            self.fired.push((token, cx.now));
        }
    }

    let t0 = nmio::Instant::from_millis(1_000);
    let clock = VirtualClock::new(t0);
    let cfg = LoopConfig {
        idle_block: None,
        ..Default::default()
    };
    let tick = cfg.timer_tick;
    let revolution = tick * cfg.timer_slots as u32;
    let mut ev = EventLoop::new(port, clock.clone(), cfg);
    let deadlines: Vec<(u64, nmio::Instant)> = [
        Duration::from_millis(10),
        Duration::from_micros(25_300),
        Duration::from_millis(700),
        revolution + Duration::from_millis(3),
    ]
    .iter()
    .enumerate()
    .map(|(i, d)| (i as u64, t0 + *d))
    .collect();
    for &(token, at) in &deadlines {
        ev.timers_mut().schedule(at, token).expect("timer capacity");
    }
    let mut h = Timers { fired: Vec::new() };
    let step = Duration::from_micros(500);
    let end = deadlines.last().unwrap().1 + Duration::from_millis(5);
    while clock.now() < end {
        clock.advance(step);
        ev.run_once(&mut h);
        for &(token, at) in &h.fired {
            let due = deadlines[token as usize].1;
            assert!(
                at >= due,
                "timer {token} fired early at {at:?}, due {due:?}"
            );
        }
    }
    let mut tokens: Vec<u64> = h.fired.iter().map(|f| f.0).collect();
    tokens.sort_unstable();
    assert_eq!(tokens, vec![0, 1, 2, 3], "each timer fires exactly once");
    for &(token, at) in &h.fired {
        let due = deadlines[token as usize].1;
        assert!(
            at - due <= tick + step,
            "timer {token} late by {:?}",
            at - due
        );
    }
    assert_eq!(ev.stats().timers_fired, 4);
    ev.into_port()
}
