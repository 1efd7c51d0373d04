//! L2 reflector: every frame received is sent back with its MAC addresses swapped.
//!
//! It measures the raw ceiling of a backend: nothing above `nmio` runs. With no arguments
//! it reflects, for 5 seconds, the frames of a built-in generator on the other end of an
//! in-memory `pipe` wire, so it runs anywhere without root. With `--backend afpacket
//! --iface DEV` (or `tap`) it reflects what arrives on a real interface; `bench/reflector.sh`
//! drives it with `trafgen` over a veth pair.

use clap::{Parser, ValueEnum};
use nmio::event_loop::{Context, EventLoop, Handler, KickPolicy, LoopConfig, LoopStats};
use nmio::select::{open, BackendArgs, PortUser};
use nmio::{MonotonicClock, Port, RxMeta, RxQueue, TxQueue};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Kick {
    /// Kick after every RX batch.
    Immediate,
    /// Sandstorm's adaptive interval.
    Adaptive,
}

/// Reflect Ethernet frames back to their sender.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    backend: BackendArgs,
    /// Frames taken from RX per loop pass.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// TX kick policy.
    #[arg(long, value_enum, default_value = "immediate")]
    kick: Kick,
    /// Never block when idle (spin).
    #[arg(long)]
    busy_poll: bool,
    /// After a pass that did work, keep polling this many microseconds before blocking.
    #[arg(long, value_name = "US", default_value_t = 0)]
    poll_before_sleep: u64,
    /// Stop after this many seconds (0: run until killed; the pipe default is 5).
    #[arg(long)]
    duration: Option<f64>,
    /// Count frames without sending them back (a plain receiver, for comparison).
    #[arg(long)]
    count_only: bool,
    /// Print no per-second stats line.
    #[arg(long)]
    quiet: bool,
}

#[derive(Default)]
struct Reflector {
    count_only: bool,
    runts: u64,
    tx_full: u64,
    reflected: u64,
    /// Frames seen, and the pass times of the first and last batch that had any: the rate
    /// is measured over the time traffic actually flowed (one clock read per pass, not per
    /// frame).
    seen: u64,
    seen_at_last_batch: u64,
    first_batch: Option<nmio::Instant>,
    last_batch: Option<nmio::Instant>,
    frames_before_first: u64,
}

impl<Tx: TxQueue> Handler<Tx> for Reflector {
    #[inline]
    fn on_frame(&mut self, cx: &mut Context<'_, Tx>, frame: &mut [u8], _meta: &RxMeta) {
        self.seen += 1;
        if frame.len() < 14 {
            self.runts += 1;
            return;
        }
        if self.count_only {
            return;
        }
        let (dst, src) = frame[..12].split_at_mut(6);
        dst.swap_with_slice(src);
        let len = frame.len();
        if cx.tx.send(|slot| {
            // A frame larger than a TX slot cannot go back out (counted below).
            let Some(dst) = slot.get_mut(..len) else {
                return 0;
            };
            dst.copy_from_slice(frame);
            len
        }) {
            self.reflected += 1;
        } else {
            self.tx_full += 1;
        }
    }

    fn on_batch_end(&mut self, cx: &mut Context<'_, Tx>) {
        if self.seen != self.seen_at_last_batch {
            if self.first_batch.is_none() {
                self.first_batch = Some(cx.now);
                self.frames_before_first = self.seen;
            }
            self.last_batch = Some(cx.now);
            self.seen_at_last_batch = self.seen;
        }
    }
}

impl Reflector {
    /// Frames per second between the first and the last batch (the first batch's frames
    /// arrived before its timestamp, so they are not counted).
    fn rates(&self) -> (f64, f64, f64) {
        match (self.first_batch, self.last_batch) {
            (Some(a), Some(b)) if b > a => {
                let secs = (b - a).as_secs_f64();
                let n = (self.seen - self.frames_before_first) as f64;
                let frac = self.reflected as f64 / self.seen.max(1) as f64;
                (secs, n / secs, n * frac / secs)
            }
            _ => (0.0, 0.0, 0.0),
        }
    }
}

struct Run {
    cli: Cli,
}

fn stats_line(d: &LoopStats, h: &Reflector, secs: f64) -> String {
    let p = &d.port;
    format!(
        "rx {:>9.0} pps  tx {:>9.0} pps  batch {:>5.1}  kick {:>5.1}  waits {:>6}  spins {:>8}  drops: rx_ring {} rx_trunc {} tx_full {} runt {}",
        d.rx_frames as f64 / secs,
        d.tx_frames_kicked as f64 / secs,
        d.avg_batch(),
        d.avg_kick(),
        d.idle_waits,
        d.spins,
        p.rx_ring_full,
        p.rx_truncated,
        h.tx_full,
        h.runts,
    )
}

fn diff(a: &LoopStats, b: &LoopStats) -> LoopStats {
    let mut d = *a;
    d.rx_frames -= b.rx_frames;
    d.rx_batches -= b.rx_batches;
    d.kicks -= b.kicks;
    d.tx_frames_kicked -= b.tx_frames_kicked;
    d.idle_waits -= b.idle_waits;
    d.spins -= b.spins;
    d
}

/// The built-in traffic source of the pipe demo: keeps up to half the reflector's RX ring
/// of 64-byte frames outstanding (a closed loop, so it measures the reflector rather than
/// overrunning it), counting what comes back, until `stop`.
fn generate<Q: Port>(mut peer: Q, stop: Instant, window: u64) -> (u64, u64) {
    let (mut sent, mut back) = (0u64, 0u64);
    let mac = peer.caps().mac;
    let mut last_back = Instant::now();
    while Instant::now() < stop {
        let (rx, tx) = peer.split();
        // `back` can pass `sent` when frames given up for lost arrive after all.
        while sent.saturating_sub(back) < window && tx.tx_space() > 0 {
            tx.send(|b| {
                b[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0xa]);
                b[6..12].copy_from_slice(&mac);
                b[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
                b[14..64].fill(0);
                64
            });
            sent += 1;
        }
        let _ = tx.flush();
        let before = back;
        while rx.recv_burst(256, |_, _| back += 1) > 0 {}
        if back != before {
            last_back = Instant::now();
        } else if last_back.elapsed() > Duration::from_millis(20) {
            // Frames were lost (they should not be): stop waiting for them.
            back = sent;
            last_back = Instant::now();
        }
        let _ = peer.wait(Duration::from_micros(200));
    }
    (sent, back.min(sent))
}

impl PortUser for Run {
    type Output = Result<(), String>;

    fn run<P: Port + Send + 'static, Q: Port + Send + 'static>(
        self,
        port: P,
        peer: Option<Q>,
    ) -> Self::Output {
        let cli = self.cli;
        let duration = cli
            .duration
            .unwrap_or(if peer.is_some() { 5.0 } else { 0.0 });
        let caps = port.caps().clone();
        let cfg = LoopConfig {
            rx_batch: cli.batch,
            kick: match cli.kick {
                Kick::Immediate => KickPolicy::Immediate,
                Kick::Adaptive => KickPolicy::adaptive(),
            },
            idle_block: (!cli.busy_poll).then_some(Duration::from_millis(10)),
            idle_spin: Duration::from_micros(cli.poll_before_sleep),
            ..Default::default()
        };
        eprintln!(
            "reflector: {:?} {} mac {} mtu {} rx ring {} tx ring {}{}",
            cli.backend.backend,
            cli.backend.iface,
            caps.mac
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":"),
            caps.mtu,
            caps.rx_ring_size,
            caps.tx_ring_size,
            if duration > 0.0 {
                format!(", for {duration} s")
            } else {
                String::new()
            },
        );
        let start = Instant::now();
        let end = (duration > 0.0).then(|| start + Duration::from_secs_f64(duration));
        let gen = peer.map(|p| {
            let stop = end.unwrap_or(start + Duration::from_secs(5));
            let window = (caps.rx_ring_size / 2).max(1) as u64;
            std::thread::spawn(move || generate(p, stop, window))
        });
        let mut ev = EventLoop::new(port, MonotonicClock, cfg);
        let mut h = Reflector {
            count_only: cli.count_only,
            ..Default::default()
        };
        let mut last = ev.stats();
        let mut last_t = Instant::now();
        loop {
            let slice = match end {
                Some(e) => e
                    .saturating_duration_since(Instant::now())
                    .min(Duration::from_secs(1)),
                None => Duration::from_secs(1),
            };
            if slice.is_zero() {
                break;
            }
            ev.run_for(&mut h, slice);
            let now_stats = ev.stats();
            if !cli.quiet {
                let secs = last_t.elapsed().as_secs_f64();
                eprintln!("{}", stats_line(&diff(&now_stats, &last), &h, secs));
            }
            last = now_stats;
            last_t = Instant::now();
        }
        ev.flush();
        let s = ev.stats();
        let (secs, rx_pps, tx_pps) = h.rates();
        println!(
            "RESULT rx_frames={} tx_frames={} secs={:.3} rx_pps={:.0} tx_pps={:.0} avg_batch={:.1} kicks={} idle_waits={} spins={} rx_ring_full={} tx_full={}",
            s.rx_frames,
            s.tx_frames_kicked,
            secs,
            rx_pps,
            tx_pps,
            s.avg_batch(),
            s.kicks,
            s.idle_waits,
            s.spins,
            s.port.rx_ring_full,
            h.tx_full,
        );
        if let Some(g) = gen {
            let (sent, back) = g
                .join()
                .map_err(|_| "generator thread panicked".to_string())?;
            println!("generator: sent {sent} frames, {back} came back");
        }
        Ok(())
    }
}

fn main() {
    let cli = Cli::parse();
    let mut backend = cli.backend.clone();
    // A reflector sends back the bytes it received: no checksum left to the device, which
    // would refill a corrupted one and pass the frame on as good.
    backend.tx_csum_offload = false;
    match open(&backend, Run { cli }).map_err(|e| e.to_string()) {
        Ok(Ok(())) => {}
        Ok(Err(e)) | Err(e) => {
            eprintln!("reflector: {e}");
            std::process::exit(1);
        }
    }
}
