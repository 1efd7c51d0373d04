//! The `impair` wrapper on a real link: AF_PACKET ports on a veth pair in a test namespace
//! (this kernel has no netem, so this is how tests impair a link to the Linux stack).

use nmio::backend::afpacket::{AfPacketConfig, AfPacketPort};
use nmio::backend::impair::{ImpairConfig, ImpairedPort};
use nmio::backend::impair_model::Impairments;
use nmio::{MonotonicClock, Port, TxQueue};
use std::time::{Duration, Instant};
use tests::conformance::{drain, fill_frame, is_test_frame};
use tests::netns::{require_root, NetNs};

fn veth(tag: &str) -> (AfPacketPort, AfPacketPort, NetNs) {
    let ns = NetNs::new(tag).expect("namespace");
    ns.veth_pair("i0", "i1").expect("veth");
    let _in = ns.enter().expect("enter");
    let a = AfPacketPort::open(AfPacketConfig::new("i0")).expect("i0");
    let b = AfPacketPort::open(AfPacketConfig::new("i1")).expect("i1");
    (a, b, ns)
}

/// Send `n` numbered frames through an impaired `a`; return the sequence numbers `b` got.
fn lossy_run(seed: u64, n: u32) -> (Vec<u32>, u64) {
    let (a, mut b, _ns) = veth("iloss");
    let cfg = ImpairConfig {
        tx: Impairments::parse("loss=0.2").unwrap(),
        seed,
        ..Default::default()
    };
    let mut a = ImpairedPort::new(a, MonotonicClock, cfg).unwrap();
    let (src, dst) = (a.caps().mac, b.caps().mac);
    let mut got = Vec::new();
    for seq in 0..n {
        assert!(a.tx().send(|buf| fill_frame(buf, 60, dst, src, seq)));
        if seq % 64 == 63 {
            a.tx().flush().unwrap();
            // Keep reading: a TPACKET_V3 ring retires a partly filled block every 1 ms, so
            // an unread ring runs out of blocks after 16 ms of sparse traffic.
            b.rx().recv_burst_seq(&mut got);
        }
    }
    a.tx().flush().unwrap();
    let start = Instant::now();
    let mut last = Instant::now();
    while last.elapsed() < Duration::from_millis(300) && start.elapsed() < Duration::from_secs(5) {
        let k = b.rx().recv_burst_seq(&mut got);
        if k > 0 {
            last = Instant::now();
        } else {
            let _ = b.wait(Duration::from_millis(5));
        }
    }
    assert_eq!(b.stats().rx_ring_full, 0, "receiver kept up");
    (got, a.stats().tx_impaired)
}

trait RecvSeq {
    fn recv_burst_seq(&mut self, out: &mut Vec<u32>) -> usize;
}

impl<R: nmio::RxQueue> RecvSeq for R {
    fn recv_burst_seq(&mut self, out: &mut Vec<u32>) -> usize {
        self.recv_burst(64, |f, _| {
            if is_test_frame(f) {
                out.push(u32::from_be_bytes([f[14], f[15], f[16], f[17]]));
            }
        })
    }
}

#[test]
fn seeded_tx_loss_on_a_real_link_is_counted_and_repeatable() {
    if !require_root(
        "seeded_tx_loss_on_a_real_link_is_counted_and_repeatable",
        &["ip", "ethtool"],
    ) {
        return;
    }
    let n = 2_000;
    let (first, lost) = lossy_run(7, n);
    assert_eq!(
        first.len() as u64 + lost,
        u64::from(n),
        "every frame delivered or counted lost"
    );
    assert!((300..500).contains(&lost), "20% of 2000 lost, got {lost}");
    assert!(
        first.windows(2).all(|w| w[0] < w[1]),
        "loss alone keeps order"
    );
    let (second, _) = lossy_run(7, n);
    assert_eq!(first, second, "same seed, same frames lost");
    let (other, _) = lossy_run(8, n);
    assert_ne!(first, other, "another seed loses other frames");
}

#[test]
fn rx_delay_on_a_real_link_holds_frames_for_the_delay() {
    if !require_root(
        "rx_delay_on_a_real_link_holds_frames_for_the_delay",
        &["ip", "ethtool"],
    ) {
        return;
    }
    let (mut a, b, _ns) = veth("idelay");
    let cfg = ImpairConfig {
        rx: Impairments::parse("delay=30ms").unwrap(),
        ..Default::default()
    };
    let mut b = ImpairedPort::new(b, MonotonicClock, cfg).unwrap();
    let (src, dst) = (a.caps().mac, b.caps().mac);
    let sent_at = Instant::now();
    for seq in 0..10 {
        a.tx().send(|buf| fill_frame(buf, 100, dst, src, seq));
    }
    a.tx().flush().unwrap();
    let mut got = Vec::new();
    let mut first_at = None;
    while got.len() < 10 && sent_at.elapsed() < Duration::from_secs(3) {
        if b.rx().recv_burst_seq(&mut got) > 0 && first_at.is_none() {
            first_at = Some(sent_at.elapsed());
        }
        let _ = b.wait(Duration::from_millis(50));
    }
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    let first = first_at.unwrap();
    assert!(
        first >= Duration::from_millis(30),
        "delivered after {first:?}"
    );
    assert!(
        first < Duration::from_millis(500),
        "delivered after {first:?}"
    );
    assert_eq!(drain(&mut b, Duration::from_millis(50)), 0);
}
