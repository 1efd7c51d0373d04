//! End-to-end transfers between two sans-IO cores over a simulated link.

mod common;

use common::*;
use std::time::Duration;
use tcpip::{CloseReason, TcpConfig};

fn transfer(len: usize, mode: Mode, seed: u64, imp: Impair) -> Net<Collector, ObjectServer> {
    let obj = object(len, seed);
    let mut server = ObjectServer::new(obj.clone(), mode);
    let mut net = Net::new(
        TcpConfig::default(),
        TcpConfig::default(),
        Collector::default(),
        ObjectServer::new(Vec::new(), mode),
        seed,
    );
    if mode == Mode::Prepared {
        server.prepared = Some(net.server.prepare(&obj, 1448));
    }
    net.sapp = server;
    net.server.listen(PORT).unwrap();
    net.to_server = imp;
    net.to_client = imp;
    let h = net.connect();
    let ok = net.run_until(Duration::from_secs(600), |n| {
        n.capp.closed.iter().any(|(c, _)| *c == h)
            && n.client.connections() == 0
            && n.server.connections() == 0
    });
    let got = net.capp.data.get(&h.index()).cloned().unwrap_or_default();
    assert!(
        ok,
        "transfer of {len} ({mode:?}, seed {seed}) did not finish: client got {} bytes\nclient {}\nserver {}",
        got.len(),
        net.client.stats(),
        net.server.stats()
    );
    assert_eq!(got.len(), obj.len(), "length, seed {seed}");
    assert!(got == obj, "bytes differ, seed {seed}");
    assert_eq!(net.capp.closed, vec![(h, CloseReason::Normal)]);
    net
}

#[test]
fn clean_link_all_sizes_stream_and_prepared() {
    for mode in [Mode::Stream, Mode::Prepared] {
        for len in [0, 1, 1448, 1449, 65536, 1 << 20] {
            let imp = Impair {
                delay: Duration::from_millis(5),
                ..Impair::default()
            };
            let net = transfer(len, mode, 1, imp);
            assert_eq!(net.client.stats().retransmits, 0);
            assert_eq!(net.server.stats().retransmits, 0, "{mode:?} {len}");
        }
    }
}

#[test]
fn lossy_links() {
    for seed in 0..20 {
        let imp = Impair {
            loss: 0.05,
            duplicate: 0.01,
            reorder: 0.25,
            reorder_delay: Duration::from_millis(3),
            delay: Duration::from_millis(5),
            jitter: Duration::from_millis(1),
            ..Impair::default()
        };
        let mode = if seed % 2 == 0 {
            Mode::Stream
        } else {
            Mode::Prepared
        };
        transfer(300_000, mode, seed, imp);
    }
}

#[test]
fn random_impairments_with_corruption() {
    let mut rng = Rng::new(99);
    for seed in 100..160 {
        let imp = Impair {
            loss: rng.below(100) as f64 / 1000.0,
            duplicate: rng.below(30) as f64 / 1000.0,
            reorder: rng.below(300) as f64 / 1000.0,
            reorder_delay: Duration::from_millis(rng.below(20)),
            corrupt: rng.below(20) as f64 / 1000.0,
            delay: Duration::from_millis(1 + rng.below(30)),
            jitter: Duration::from_millis(rng.below(5)),
        };
        let len = rng.below(1 << 20) as usize;
        let mode = if seed % 2 == 0 {
            Mode::Stream
        } else {
            Mode::Prepared
        };
        transfer(len, mode, seed, imp);
    }
}
