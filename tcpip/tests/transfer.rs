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
    let got = net.capp.data.get(&h).cloned().unwrap_or_default();
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

/// A client reusing one four-tuple while the server holds it in TIME-WAIT (the server
/// closes first) gets every new SYN accepted at once: its ISN and its timestamps grow from
/// one incarnation to the next (the timestamp offset is fixed per four-tuple, RFC 7323
/// 5.4), which is what RFC 6191 asks of the SYN. So does a second client core with the same
/// ISN key (a load generator started again).
#[test]
fn a_reused_four_tuple_gets_past_the_servers_time_wait_at_once() {
    use std::net::SocketAddrV4;
    let mut net = Net::new(
        TcpConfig::default(),
        TcpConfig::default(),
        Collector::default(),
        ObjectServer::new(b"bye".to_vec(), Mode::Stream),
        9,
    );
    net.server.listen(PORT).unwrap();
    let local = SocketAddrV4::new(CLIENT, 50_000);
    let remote = SocketAddrV4::new(SERVER, PORT);
    for round in 0..40u64 {
        if round == 20 {
            // A new client core with the same keys, as a restarted process would have.
            net.client = tcpip::TcpCore::with_keys(TcpConfig::default(), net.now, keys(9)).unwrap();
        }
        let mut sink = net.sink(16);
        net.client
            .connect(net.now, local, remote, &mut sink)
            .unwrap();
        net.transmit(Side::Client, &mut sink);
        let start = net.now;
        assert!(
            net.run_until(Duration::from_secs(5), |n| n.client.connections() == 0),
            "round {round}: the client connection never finished"
        );
        assert!(
            net.now - start < Duration::from_millis(100),
            "round {round}: took {:?} (a SYN was refused and retried)",
            net.now - start
        );
        assert_eq!(net.server.stats().accepted, round + 1, "round {round}");
        assert_eq!(net.server.time_wait_count(), 1, "round {round}");
        // Gaps of 1.3 s: an offset derived from the ISN (which grows 325,000 4-us ticks
        // meanwhile) would move the timestamps by amounts that look older to the server.
        net.run_for(Duration::from_millis(1300));
    }
    assert_eq!(net.client.stats().syn_retransmits, 0);
}
