//! End-to-end transfers between two sans-IO cores over a simulated link.

mod common;

use common::*;
use std::time::Duration;
use tcpip::{CloseReason, TcpConfig};

fn transfer(len: usize, mode: Mode, seed: u64, imp: Impair) -> Net<Collector, ObjectServer> {
    transfer_tso(len, mode, seed, imp, 0, TcpConfig::default())
}

/// A transfer whose sinks offer `tso` (0: none) as their TSO limit, the server configured
/// with `scfg`.
fn transfer_tso(
    len: usize,
    mode: Mode,
    seed: u64,
    imp: Impair,
    tso: usize,
    scfg: TcpConfig,
) -> Net<Collector, ObjectServer> {
    let obj = object(len, seed);
    let mut server = ObjectServer::new(obj.clone(), mode);
    let mut net = Net::new(
        TcpConfig::default(),
        scfg,
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
    net.tso = tso;
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

/// A link with `loss` and `reorder` (1% duplicates, 5 ms delay, 1 ms jitter), and the mode
/// of an even seed (stream) or an odd one (prepared).
fn lossy(seed: u64, loss: f64, reorder: f64) -> (Impair, Mode) {
    let imp = Impair {
        loss,
        duplicate: 0.01,
        reorder,
        reorder_delay: Duration::from_millis(3),
        delay: Duration::from_millis(5),
        jitter: Duration::from_millis(1),
        ..Impair::default()
    };
    let mode = if seed.is_multiple_of(2) {
        Mode::Stream
    } else {
        Mode::Prepared
    };
    (imp, mode)
}

#[test]
fn lossy_links() {
    for seed in 0..20 {
        let (imp, mode) = lossy(seed, 0.05, 0.25);
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

#[test]
fn tso_sends_super_segments_of_whole_mss_pieces_and_the_peer_gets_every_byte() {
    for mode in [Mode::Stream, Mode::Prepared] {
        for len in [1448, 2000, 65536, 300_000, 1 << 20] {
            let imp = Impair {
                delay: Duration::from_millis(5),
                ..Impair::default()
            };
            let net = transfer_tso(len, mode, 3, imp, 65_535, TcpConfig::default());
            let st = net.server.stats();
            assert_eq!(st.retransmits, 0, "{mode:?} {len}");
            assert_eq!(st.tx_tso, net.tso_sent.0, "{mode:?} {len}");
            if len > 2 * 1448 {
                assert!(st.tx_tso > 0, "{mode:?} {len}: no super-segment");
                // Fewer sends than wire segments: the point of TSO.
                assert!(
                    net.tso_sent.1 >= 2 * net.tso_sent.0,
                    "{mode:?} {len}: {:?}",
                    net.tso_sent
                );
            }
            // Each wire segment is at most one MSS; the client never saw a larger one.
            assert_eq!(net.client.stats().rx_bad_checksum, 0);
        }
    }
}

#[test]
fn tso_on_lossy_links_retransmits_single_segments_and_delivers_everything() {
    for seed in 0..12 {
        let (imp, mode) = lossy(seed, 0.03, 0.2);
        let net = transfer_tso(400_000, mode, seed, imp, 65_535, TcpConfig::default());
        let st = net.server.stats();
        assert!(st.tx_tso > 0, "seed {seed}");
        assert!(
            st.retransmits > 0,
            "seed {seed}: 3% loss and no retransmission"
        );
    }
}

#[test]
fn tso_off_in_the_config_or_a_small_limit_sends_mss_segments_only() {
    let imp = Impair {
        delay: Duration::from_millis(5),
        ..Impair::default()
    };
    // A limit under two segments plus a header gives no super-segment.
    let net = transfer_tso(
        200_000,
        Mode::Prepared,
        5,
        imp,
        2 * 1448 + 40,
        TcpConfig::default(),
    );
    assert_eq!(net.server.stats().tx_tso, 0);
    assert_eq!(net.tso_sent, (0, 0));
    let off = TcpConfig {
        tso: false,
        ..TcpConfig::default()
    };
    let net = transfer_tso(200_000, Mode::Stream, 5, imp, 65_535, off);
    assert_eq!(net.server.stats().tx_tso, 0);
    assert_eq!(net.tso_sent, (0, 0));
    assert!(net.server.stats().tx_segments >= 200_000 / 1448);
}
