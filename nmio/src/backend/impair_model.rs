//! The seeded impairment model shared by the `pipe` wire and the `impair` wrapper.
//!
//! Every frame draws the same fixed number of random numbers in the same order, whatever
//! the configuration, so one seed gives one schedule of losses, delays and corruptions:
//! a failing simulation is replayed by its seed.

use crate::clock::Instant;
use std::time::Duration;

/// What happens to frames on a link. All probabilities are per frame, 0.0..=1.0.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Impairments {
    /// Probability a frame is lost.
    pub loss: f64,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Uniform extra delay in `0..=jitter` (frames can overtake each other, as with netem).
    pub jitter: Duration,
    /// Probability a frame is held back by `reorder_gap`, so later frames overtake it.
    pub reorder: f64,
    /// Extra delay of a reordered frame; 0 means 1 ms.
    pub reorder_gap: Duration,
    /// Probability a frame is delivered twice.
    pub duplicate: f64,
    /// Probability one random bit of the frame is flipped.
    pub corrupt: f64,
    /// Link rate in bits per second (frames queue behind each other); 0 is unlimited.
    pub rate_bps: u64,
}

impl Impairments {
    /// No impairment at all.
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether any frame could be touched.
    pub fn is_none(&self) -> bool {
        *self == Self::default()
    }

    /// Whether frames can be held back (then a buffer is needed to hold them).
    pub fn delays(&self) -> bool {
        !self.delay.is_zero()
            || !self.jitter.is_zero()
            || self.reorder > 0.0
            || self.duplicate > 0.0
            || self.rate_bps > 0
    }

    /// Parse `loss=0.01,delay=5ms,jitter=1ms,reorder=0.1,dup=0.01,corrupt=0.001,rate=100mbit`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut im = Impairments::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("impairment {part:?}: expected key=value"))?;
            let prob = |v: &str| -> Result<f64, String> {
                let p: f64 = v
                    .parse()
                    .map_err(|_| format!("impairment {k}: bad number {v:?}"))?;
                if (0.0..=1.0).contains(&p) {
                    Ok(p)
                } else {
                    Err(format!("impairment {k}: probability {p} not in 0..=1"))
                }
            };
            match k {
                "loss" => im.loss = prob(v)?,
                "reorder" => im.reorder = prob(v)?,
                "dup" | "duplicate" => im.duplicate = prob(v)?,
                "corrupt" => im.corrupt = prob(v)?,
                "delay" => im.delay = parse_duration(v)?,
                "jitter" => im.jitter = parse_duration(v)?,
                "gap" | "reorder_gap" => im.reorder_gap = parse_duration(v)?,
                "rate" => im.rate_bps = parse_rate(v)?,
                _ => return Err(format!("unknown impairment {k:?}")),
            }
        }
        Ok(im)
    }
}

fn parse_duration(v: &str) -> Result<Duration, String> {
    let (num, mul) = if let Some(n) = v.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1.0)
    } else {
        return Err(format!("duration {v:?} needs a unit (us, ms, s)"));
    };
    let x: f64 = num.parse().map_err(|_| format!("bad duration {v:?}"))?;
    if !(0.0..1e6).contains(&x) {
        return Err(format!("duration {v:?} out of range"));
    }
    Ok(Duration::from_secs_f64(x * mul))
}

fn parse_rate(v: &str) -> Result<u64, String> {
    let lower = v.to_ascii_lowercase();
    let (num, mul) = [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1.0)]
        .iter()
        .find_map(|(suf, m)| lower.strip_suffix(suf).map(|n| (n.to_string(), *m)))
        .unwrap_or((lower.clone(), 1.0));
    let x: f64 = num.parse().map_err(|_| format!("bad rate {v:?}"))?;
    if !(x > 0.0 && x * mul < 1e13) {
        return Err(format!("rate {v:?} out of range"));
    }
    Ok((x * mul) as u64)
}

/// SplitMix64 (Steele, Lea and Flood, 2014): tiny, fast and good enough for test schedules.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0.0..1.0`.
    #[inline]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Counters of what the model did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImpairStats {
    /// Frames judged.
    pub frames: u64,
    /// Frames lost on purpose.
    pub lost: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Frames with a flipped bit.
    pub corrupted: u64,
    /// Frames held back to be overtaken.
    pub reordered: u64,
    /// Frames dropped because the holding buffer (wire queue) was full.
    pub queue_full: u64,
}

/// The fate of one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// 0 (lost), 1 or 2 (duplicated).
    pub copies: u8,
    /// Delivery time of each copy.
    pub at: [Instant; 2],
    /// Bit to flip (index into the frame's bits), if corrupted.
    pub corrupt_bit: Option<usize>,
}

impl Verdict {
    /// Whether the frame goes through untouched and at once.
    #[inline]
    pub fn is_clean(&self, now: Instant) -> bool {
        self.copies == 1 && self.corrupt_bit.is_none() && self.at[0] <= now
    }
}

/// Applies [`Impairments`] to a stream of frames.
#[derive(Clone, Debug)]
pub struct Impairer {
    cfg: Impairments,
    rng: Rng,
    busy_until: Instant,
    /// What happened so far.
    pub stats: ImpairStats,
}

impl Impairer {
    /// A model with `cfg`, seeded with `seed`.
    pub fn new(cfg: Impairments, seed: u64) -> Self {
        Impairer {
            cfg,
            rng: Rng::new(seed),
            busy_until: Instant::ZERO,
            stats: Default::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Impairments {
        &self.cfg
    }

    /// Decide the fate of a frame of `len` bytes sent at `now`.
    #[inline]
    pub fn judge(&mut self, now: Instant, len: usize) -> Verdict {
        self.stats.frames += 1;
        if self.cfg.is_none() {
            return Verdict {
                copies: 1,
                at: [now, now],
                corrupt_bit: None,
            };
        }
        // Always draw the same six numbers, so the schedule depends on the seed alone.
        let r_loss = self.rng.unit();
        let r_dup = self.rng.unit();
        let r_reo = self.rng.unit();
        let r_cor = self.rng.unit();
        let r_jit = self.rng.unit();
        let r_bit = self.rng.next_u64();

        let mut depart = now;
        if self.cfg.rate_bps > 0 {
            let tx_ns = (len as u128 * 8 * 1_000_000_000 / self.cfg.rate_bps as u128) as u64;
            depart = self.busy_until.max(now) + Duration::from_nanos(tx_ns);
            self.busy_until = depart;
        }
        if r_loss < self.cfg.loss {
            self.stats.lost += 1;
            return Verdict {
                copies: 0,
                at: [now, now],
                corrupt_bit: None,
            };
        }
        let mut at = depart + self.cfg.delay;
        if !self.cfg.jitter.is_zero() {
            at = at + self.cfg.jitter.mul_f64(r_jit);
        }
        if r_reo < self.cfg.reorder {
            self.stats.reordered += 1;
            let gap = if self.cfg.reorder_gap.is_zero() {
                Duration::from_millis(1)
            } else {
                self.cfg.reorder_gap
            };
            at = at + gap;
        }
        let corrupt_bit = (r_cor < self.cfg.corrupt && len > 0).then(|| {
            self.stats.corrupted += 1;
            (r_bit % (len as u64 * 8)) as usize
        });
        let copies = if r_dup < self.cfg.duplicate {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        Verdict {
            copies,
            at: [at, at],
            corrupt_bit,
        }
    }
}

/// Flip bit `bit` of `frame` (bit 0 is the top bit of byte 0).
#[inline]
pub fn flip_bit(frame: &mut [u8], bit: usize) {
    if let Some(b) = frame.get_mut(bit / 8) {
        *b ^= 0x80 >> (bit % 8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_impairment_passes_everything_at_once() {
        let mut m = Impairer::new(Impairments::none(), 1);
        let now = Instant::from_millis(3);
        for _ in 0..100 {
            assert!(m.judge(now, 100).is_clean(now));
        }
    }

    #[test]
    fn same_seed_same_schedule_other_seed_other_schedule() {
        let cfg =
            Impairments::parse("loss=0.3,dup=0.1,corrupt=0.1,jitter=2ms,reorder=0.2").unwrap();
        let run = |seed| {
            let mut m = Impairer::new(cfg.clone(), seed);
            (0..500)
                .map(|i| m.judge(Instant::from_millis(i), 64))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn rates_match_configuration() {
        let cfg = Impairments {
            loss: 0.1,
            duplicate: 0.05,
            corrupt: 0.02,
            ..Default::default()
        };
        let mut m = Impairer::new(cfg, 42);
        for _ in 0..100_000 {
            m.judge(Instant::ZERO, 100);
        }
        let s = m.stats;
        assert!((9_000..11_000).contains(&s.lost), "{s:?}");
        // Duplication and corruption apply to delivered frames only.
        assert!((3_800..4_800).contains(&s.duplicated), "{s:?}");
        assert!((1_400..2_200).contains(&s.corrupted), "{s:?}");
    }

    #[test]
    fn rate_limit_spaces_frames_by_serialization_time() {
        let cfg = Impairments {
            rate_bps: 8_000_000,
            ..Default::default()
        };
        let mut m = Impairer::new(cfg, 1);
        // 1000 bytes at 8 Mbit/s = 1 ms each.
        let a = m.judge(Instant::ZERO, 1000);
        let b = m.judge(Instant::ZERO, 1000);
        assert_eq!(a.at[0], Instant::from_millis(1));
        assert_eq!(b.at[0], Instant::from_millis(2));
    }

    #[test]
    fn delay_and_reorder_hold_frames_back() {
        let cfg = Impairments::parse("delay=5ms,reorder=1,gap=2ms").unwrap();
        let mut m = Impairer::new(cfg, 1);
        let v = m.judge(Instant::from_millis(10), 60);
        assert_eq!(v.at[0], Instant::from_millis(17));
        assert!(!v.is_clean(Instant::from_millis(10)));
    }

    #[test]
    fn bad_impairment_strings_are_named() {
        assert!(Impairments::parse("loss=2")
            .unwrap_err()
            .contains("not in 0..=1"));
        assert!(Impairments::parse("delay=5").unwrap_err().contains("unit"));
        assert!(Impairments::parse("foo=1")
            .unwrap_err()
            .contains("unknown impairment"));
        assert_eq!(
            Impairments::parse("rate=10mbit").unwrap().rate_bps,
            10_000_000
        );
        assert_eq!(Impairments::parse("").unwrap(), Impairments::none());
    }

    #[test]
    fn flipping_a_bit_changes_exactly_one_bit() {
        let mut f = [0u8; 4];
        flip_bit(&mut f, 9);
        assert_eq!(f, [0, 0x40, 0, 0]);
        flip_bit(&mut f, 1000);
        assert_eq!(f, [0, 0x40, 0, 0]);
    }
}
