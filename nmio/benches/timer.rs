//! Timing wheel costs, reported per timer (criterion's throughput is in elements, so the
//! time per element is ns per operation).
//!
//! - `schedule_cancel`: arm and disarm, the common life of an RTO or delayed-ACK timer.
//! - `schedule_expire_10k_over_1s`: 10 000 timers spread over one second, then the wheel
//!   driven in 1 ms steps until all have fired, as an event loop would.
//! - `expire_idle_step`: one 1 ms step of a wheel holding 10 000 far-away timers (per step).
//! - `expire_hour_jump`: one `expire` an hour later over 10 000 timers spread over the hour.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use nmio::timer::TimerWheel;
use nmio::Instant;
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);
const N: u64 = 10_000;

fn wheel(start: Instant) -> TimerWheel<u64> {
    TimerWheel::new(65_536, MS, 4_096, start)
}

fn schedule_cancel(c: &mut Criterion) {
    let mut g = c.benchmark_group("timer");
    g.throughput(Throughput::Elements(N));
    let mut w = wheel(Instant::ZERO);
    // A background population so lists are not trivially empty.
    for i in 0..N {
        w.schedule(
            Instant::ZERO + Duration::from_micros(i * 397 % 3_000_000),
            i,
        );
    }
    let mut handles = Vec::with_capacity(N as usize);
    g.bench_function("schedule_cancel", |b| {
        b.iter(|| {
            for i in 0..N {
                let at = Instant::ZERO + Duration::from_micros(1_000 + i * 7_919 % 200_000);
                handles.push(w.schedule(at, i));
            }
            for h in handles.drain(..) {
                w.cancel(black_box(h.unwrap()));
            }
        })
    });
    g.finish();
}

fn schedule_expire(c: &mut Criterion) {
    let mut g = c.benchmark_group("timer");
    g.throughput(Throughput::Elements(N));
    let mut w = wheel(Instant::ZERO);
    let mut base = Instant::ZERO;
    g.bench_function("schedule_expire_10k_over_1s", |b| {
        b.iter(|| {
            for i in 0..N {
                // Spread over one second (100 µs apart, shuffled by a stride).
                let at = base + Duration::from_micros(i * 6_007 % N * 100);
                w.schedule(at, i);
            }
            let mut fired = 0u64;
            for step in 1..=1_000 {
                w.expire(base + MS * step, |_, t| fired += t);
            }
            base = base + Duration::from_secs(1);
            black_box(fired)
        })
    });
    g.finish();
}

fn expire_steps(c: &mut Criterion) {
    let mut g = c.benchmark_group("timer");
    g.throughput(Throughput::Elements(1));
    let mut w = wheel(Instant::ZERO);
    for i in 0..N {
        w.schedule(Instant::from_millis(1_000_000_000 + i), i);
    }
    let mut now = Instant::ZERO;
    g.bench_function("expire_idle_step", |b| {
        b.iter(|| {
            now = now + MS;
            black_box(w.expire(now, |_, _| {}))
        })
    });
    g.throughput(Throughput::Elements(N));
    g.bench_function("expire_hour_jump", |b| {
        b.iter_batched_ref(
            || {
                let mut w = wheel(Instant::ZERO);
                for i in 0..N {
                    w.schedule(Instant::from_millis(i * 360 + 1), i);
                }
                w
            },
            |w| black_box(w.expire(Instant::from_millis(3_600_000), |_, _| {})),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, schedule_cancel, schedule_expire, expire_steps);
criterion_main!(benches);
