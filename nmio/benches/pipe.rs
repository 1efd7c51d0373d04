//! Costs of the `pipe` backend and of the event loop on top of it, reported per frame
//! (criterion's throughput is in elements, so the time per element is ns per frame).
//!
//! Every iteration moves one burst of 64 frames; all pairs run on a virtual clock, so no
//! iteration blocks and the numbers are the CPU cost of the software path alone.
//!
//! - `send_flush_recv/{64B,1514B}`: reserve, fill (copy the frame in) and commit 64 frames
//!   on A, one kick, one `recv_burst` on B. The wire hands buffers over by swapping them, so
//!   the frame size shows up only in the fill copy.
//! - `prepared/{memcpy,precopy}`: the same burst of 1514-byte frames sent as prepared
//!   packets, rewriting a destination MAC and IPv4 address in each. There are 64 images, one
//!   per destination, so pre-copy really takes its zero-copy path (sending one image twice
//!   before a kick would measure the spare-copy path instead).
//! - `impaired/loss1pct_jitter`: the burst through 1 % loss and up to 100 µs jitter, with
//!   the clock moved 1 ms per iteration so everything still on the wire arrives. Frames
//!   counted are those sent (about 1 % of them never arrive).
//! - `event_loop/reflect/64B`: A sends 64 frames, one `run_once` of a loop over B echoes
//!   each with its MACs swapped, A receives the 64 replies: ns per reflected frame, two
//!   crossings of the wire.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use nmio::backend::impair_model::Impairments;
use nmio::backend::pipe::{self, PipeConfig, PipePort};
use nmio::event_loop::{Context, EventLoop, Handler, LoopConfig};
use nmio::{Instant, Port, PrepMode, PreparedId, RxMeta, RxQueue, TxQueue, VirtualClock};
use std::time::Duration;

const BURST: usize = 64;
const MS: Duration = Duration::from_millis(1);

fn vpair(ab: Impairments) -> (PipePort, PipePort, VirtualClock) {
    let clock = VirtualClock::new(Instant::ZERO);
    let (a, b) = pipe::pair(PipeConfig {
        clock: Some(clock.clone()),
        impair: [ab, Impairments::none()],
        ..Default::default()
    })
    .expect("pipe pair");
    (a, b, clock)
}

/// An Ethernet/IPv4 frame of `len` bytes from A's MAC to B's.
fn frame(a: &PipePort, b: &PipePort, len: usize) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len).map(|i| i as u8).collect();
    f[..6].copy_from_slice(&b.caps().mac);
    f[6..12].copy_from_slice(&a.caps().mac);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f
}

fn send_burst<T: TxQueue>(tx: &mut T, frame: &[u8]) {
    let len = frame.len();
    for _ in 0..BURST {
        tx.send(|slot| {
            slot[..len].copy_from_slice(frame);
            len
        });
    }
    tx.flush().expect("flush");
}

/// Receive what is waiting, reading one byte of each frame. Returns the frames received.
fn recv_all<R: RxQueue>(rx: &mut R) -> usize {
    // The pipe's RX ring holds 256 frames, so one call drains it.
    rx.recv_burst(256, |f, _| {
        black_box(f[0]);
    })
}

fn send_flush_recv(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipe/send_flush_recv");
    g.throughput(Throughput::Elements(BURST as u64));
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    for len in [64, 1514] {
        let (mut a, mut b, _clock) = vpair(Impairments::none());
        let f = frame(&a, &b, len);
        send_burst(a.tx(), &f);
        assert_eq!(recv_all(b.rx()), BURST, "a clean wire delivers the burst");
        g.bench_function(format!("{len}B"), |bch| {
            bch.iter(|| {
                send_burst(a.tx(), black_box(&f));
                black_box(recv_all(b.rx()))
            })
        });
    }
    g.finish();
}

fn send_prepared_burst<T: TxQueue>(tx: &mut T, ids: &[PreparedId], mode: PrepMode) {
    for (i, &id) in ids.iter().enumerate() {
        tx.send_prepared(id, mode, |f| {
            // Destination MAC and destination IPv4 address (offset 14 + 16).
            f[..6].copy_from_slice(&[0x02, 0, 0, 0, 1, i as u8]);
            f[30..34].copy_from_slice(&[10, 0, 1, i as u8]);
        });
    }
    tx.flush().expect("flush");
}

fn prepared(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipe/prepared");
    g.throughput(Throughput::Elements(BURST as u64));
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    for (name, mode) in [("memcpy", PrepMode::Memcpy), ("precopy", PrepMode::PreCopy)] {
        let (mut a, mut b, _clock) = vpair(Impairments::none());
        let f = frame(&a, &b, 1514);
        let ids: Vec<PreparedId> = (0..BURST)
            .map(|_| a.tx().prepare(&f).expect("prepare"))
            .collect();
        send_prepared_burst(a.tx(), &ids, mode);
        assert_eq!(recv_all(b.rx()), BURST);
        g.bench_function(name, |bch| {
            bch.iter(|| {
                send_prepared_burst(a.tx(), black_box(&ids), mode);
                black_box(recv_all(b.rx()))
            })
        });
        assert_eq!(a.stats().prepared_clones, 0, "one send per image per kick");
    }
    g.finish();
}

fn impaired(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipe/impaired");
    g.throughput(Throughput::Elements(BURST as u64));
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    let im = Impairments::parse("loss=0.01,jitter=100us").expect("impairments");
    let (mut a, mut b, clock) = vpair(im);
    let f = frame(&a, &b, 64);
    let mut sent = 0u64;
    let mut got = 0u64;
    g.bench_function("loss1pct_jitter", |bch| {
        bch.iter(|| {
            send_burst(a.tx(), black_box(&f));
            clock.advance(MS);
            sent += BURST as u64;
            got += recv_all(b.rx()) as u64;
        })
    });
    g.finish();
    // All but the lost ones arrived: jitter is far below the 1 ms step.
    let lost = a.tx_impair_stats().lost;
    assert_eq!(got + lost, sent, "sent {sent}, received {got}, lost {lost}");
}

/// Echo every frame with its MAC addresses swapped, on any backend.
struct Reflect;

impl<Tx: TxQueue> Handler<Tx> for Reflect {
    #[inline]
    fn on_frame(&mut self, cx: &mut Context<'_, Tx>, frame: &mut [u8], _meta: &RxMeta) {
        let (dst, src) = frame[..12].split_at_mut(6);
        dst.swap_with_slice(src);
        let len = frame.len();
        cx.tx.send(|slot| {
            slot[..len].copy_from_slice(frame);
            len
        });
    }
}

fn reflect(c: &mut Criterion) {
    let mut g = c.benchmark_group("event_loop/reflect");
    g.throughput(Throughput::Elements(BURST as u64));
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    let (mut a, b, clock) = vpair(Impairments::none());
    let f = frame(&a, &b, 64);
    let mut ev = EventLoop::new(b, clock, LoopConfig::default());
    let mut h = Reflect;
    send_burst(a.tx(), &f);
    assert_eq!(ev.run_once(&mut h), BURST);
    assert_eq!(recv_all(a.rx()), BURST, "every frame comes back");
    g.bench_function("64B", |bch| {
        bch.iter(|| {
            send_burst(a.tx(), black_box(&f));
            ev.run_once(&mut h);
            black_box(recv_all(a.rx()))
        })
    });
    g.finish();
}

criterion_group!(benches, send_flush_recv, prepared, impaired, reflect);
criterion_main!(benches);
