//! Hostile input: malformed segments, blind injection (RFC 5961), a SYN flood (RFC 4987),
//! and random garbage. The core must drop and count what is wrong, keep every connection
//! as it was, and never panic.

mod common;

use common::Rng;
use common::*;
use proptest::prelude::*;
use std::net::Ipv4Addr;
use std::time::Duration;
use tcpip::seq::Seq;
use tcpip::sink::VecSink;
use tcpip::stats::TcpStats;
use tcpip::wire::{TcpFlags, TcpPacket};
use tcpip::{CloseReason, Handle, State, TcpConfig};

const SYN: TcpFlags = TcpFlags::SYN;
const ACK: TcpFlags = TcpFlags::ACK;
const RST: TcpFlags = TcpFlags::RST;
const FIN: TcpFlags = TcpFlags::FIN;
const PA: TcpFlags = TcpFlags::PSH.union(TcpFlags::ACK);

/// A listening core with one established connection; `(host, handle, s, r)`.
fn established() -> (Host, Handle, Seq, Seq) {
    let mut h = Host::listening(TcpConfig::default());
    let (c, iss, irs) = handshake(&mut h, seg(SYN, Seq(1000), Seq(0)).mss(1460));
    (h, c, iss + 1, irs + 1)
}

fn fix_checksum(bytes: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) {
    TcpPacket::new_unchecked(bytes).fill_checksum(src, dst);
}

/// `bytes` with the data offset set to `words`, checksum fixed.
fn with_offset(mut bytes: Vec<u8>, words: u8) -> Vec<u8> {
    bytes[12] = (words << 4) | (bytes[12] & 0x0f);
    fix_checksum(&mut bytes, CLIENT, SERVER);
    bytes
}

/// An option-less segment's bytes with `options` (a multiple of 4 bytes) put in its
/// header, checksum fixed.
fn with_options(b: &SegBuilder, options: &[u8]) -> Vec<u8> {
    assert_eq!(b.repr.options.buffer_len(), 0);
    let mut bytes = b.bytes(CLIENT, SERVER);
    bytes.splice(20..20, options.iter().copied());
    with_offset(bytes, 5 + (options.len() / 4) as u8)
}

/// Each malformed segment is dropped, counted under its own counter, answered with
/// nothing, and the connection it aims at is unchanged: the valid segment it was made from
/// is delivered exactly once afterwards.
#[test]
fn malformed_segments_are_dropped_and_counted() {
    let (mut h, c, s, r) = established();
    let valid = seg(PA, r, s).data(b"data");
    let good = valid.bytes(CLIENT, SERVER);
    type Counter = fn(&TcpStats) -> u64;
    let mut cases: Vec<(&str, Ipv4Addr, Ipv4Addr, Vec<u8>, Counter)> = Vec::new();
    let mut bad_sum = good.clone();
    bad_sum[21] ^= 0x40;
    cases.push(("bad checksum", CLIENT, SERVER, bad_sum, |s| {
        s.rx_bad_checksum
    }));
    cases.push((
        "truncated header",
        CLIENT,
        SERVER,
        good[..19].to_vec(),
        |s| s.rx_truncated,
    ));
    cases.push((
        "data offset 4",
        CLIENT,
        SERVER,
        with_offset(good.clone(), 4),
        |s| s.rx_bad_header_len,
    ));
    cases.push((
        "data offset 0",
        CLIENT,
        SERVER,
        with_offset(good.clone(), 0),
        |s| s.rx_bad_header_len,
    ));
    cases.push((
        "data offset beyond the segment",
        CLIENT,
        SERVER,
        with_offset(good.clone(), 15),
        |s| s.rx_truncated,
    ));
    for (name, opts) in [
        ("option length 0", [0x22u8, 0, 1, 1]),
        ("option length 1", [0x22, 1, 1, 1]),
        ("option overrunning the header", [1, 1, 0x22, 8]),
        ("MSS of the wrong length", [2, 3, 5, 1]),
    ] {
        cases.push((name, CLIENT, SERVER, with_options(&valid, &opts), |s| {
            s.rx_bad_options
        }));
    }
    for (name, flags) in [("SYN+FIN", SYN | FIN | ACK), ("SYN+RST", SYN | RST)] {
        let b = seg(flags, r, s).data(b"data").bytes(CLIENT, SERVER);
        cases.push((name, CLIENT, SERVER, b, |s| s.rx_bad_flags));
    }
    for (name, src, dst) in [
        ("broadcast source", Ipv4Addr::BROADCAST, SERVER),
        ("multicast source", Ipv4Addr::new(224, 0, 0, 1), SERVER),
        ("unspecified source", Ipv4Addr::UNSPECIFIED, SERVER),
        ("multicast destination", CLIENT, Ipv4Addr::new(239, 1, 2, 3)),
        ("broadcast destination", CLIENT, Ipv4Addr::BROADCAST),
    ] {
        cases.push((name, src, dst, valid.bytes(src, dst), |s| s.rx_broadcast));
    }
    for (name, src, dst, bytes, counter) in cases {
        let before = *h.core.stats();
        let events = h.app.events.len();
        let out = h.send_raw(src, dst, &bytes);
        let after = *h.core.stats();
        assert!(out.is_empty(), "{name}: answered {out:?}");
        assert_eq!(counter(&after), counter(&before) + 1, "{name}: its counter");
        assert_eq!(
            after.rx_malformed(),
            before.rx_malformed() + 1,
            "{name}: one counter only"
        );
        assert_eq!(after.tx_segments, before.tx_segments, "{name}");
        assert_eq!(h.app.events.len(), events, "{name}: the app heard of it");
        assert_eq!(h.core.state(c), Some(State::Established), "{name}");
        assert_eq!(h.core.connections(), 1, "{name}");
    }
    let out = h.send_raw(CLIENT, SERVER, &good);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].fsa(), (ACK, s, r + 4));
    assert_eq!(h.app.data(c), b"data");
}

/// The client's connection to the server, as seen by each side.
fn client_port<C: tcpip::TcpApp, S: tcpip::TcpApp>(net: &mut Net<C, S>, h: Handle) -> u16 {
    net.client_act(h, |c| c.local().port()).unwrap()
}

/// RFC 5961: 1,000 RSTs, 1,000 SYNs and 1,000 data segments with random sequence and
/// acknowledgment numbers, injected both ways into a connection in the middle of a
/// transfer, with the core's answers (challenge ACKs) put on the link. No reset is
/// accepted, no byte is corrupted, and the transfer completes.
#[test]
fn blind_injection_does_not_disturb_a_transfer() {
    let seed = 21;
    let obj = object(16 << 20, seed);
    let mut net = Net::new(
        TcpConfig::default(),
        TcpConfig::default(),
        Collector::default(),
        ObjectServer::new(obj.clone(), Mode::Stream),
        seed,
    );
    net.server.listen(PORT).unwrap();
    let link = Impair {
        delay: Duration::from_millis(5),
        ..Impair::default()
    };
    net.to_server = link;
    net.to_client = link;
    let h = net.connect();
    let got = |n: &Net<Collector, ObjectServer>| n.capp.data.get(&h).map_or(0, Vec::len);
    assert!(net.run_until(Duration::from_secs(10), |n| got(n) > 100_000));
    let cport = client_port(&mut net, h);
    let mut rng = Rng::new(seed);
    let mut injected = 0;
    while injected < 3000 {
        for _ in 0..60 {
            let (seq, ack) = (Seq(rng.next() as u32), Seq(rng.next() as u32));
            let b = match injected % 3 {
                0 => seg(RST, seq, Seq(0)),
                1 => seg(SYN, seq, Seq(0)).mss(1460),
                _ => seg(PA, seq, ack).data(&object(64, rng.next())),
            };
            // Half towards the client (as the server), half towards the server.
            let (to, from, src, dst, b) = if injected % 2 == 0 {
                (
                    Side::Client,
                    Side::Client,
                    SERVER,
                    CLIENT,
                    b.ports(PORT, cport),
                )
            } else {
                (
                    Side::Server,
                    Side::Server,
                    CLIENT,
                    SERVER,
                    b.ports(cport, PORT),
                )
            };
            let answers = net.inject(to, src, dst, &b.bytes(src, dst));
            let mut sink = VecSink::new(16);
            sink.segments = answers
                .into_iter()
                .map(|p| (p.src, p.dst, p.bytes))
                .collect();
            net.transmit(from, &mut sink);
            injected += 1;
        }
        net.step(net.now + Duration::from_secs(1));
    }
    assert!(
        got(&net) < obj.len(),
        "the injection ended after the transfer"
    );
    let ok = net.run_until(Duration::from_secs(120), |n| {
        n.capp.closed.iter().any(|(c, _)| *c == h)
    });
    assert!(ok, "seed {seed}: not finished");
    assert_eq!(net.capp.closed, [(h, CloseReason::Normal)], "seed {seed}");
    let data = net.capp.data.get(&h).unwrap();
    assert_eq!(data.len(), obj.len(), "seed {seed}");
    assert!(*data == obj, "seed {seed}: bytes differ");
    assert_eq!(net.client.stats().rx_rst, 0);
    assert_eq!(net.server.stats().rx_rst, 0);
}

/// RFC 4987: 100,000 SYNs from spoofed sources (nobody answers them) while five real
/// clients fetch 100 KiB each. The backlog fills and SYN cookies take over; the table
/// never holds more than the backlog and the real connections; every transfer completes
/// byte-exact; once the SYN-ACK retries and TIME-WAIT are over the table is empty.
#[test]
fn syn_flood_does_not_stop_legitimate_transfers() {
    const FLOOD: usize = 100_000;
    const PER_MS: usize = 10;
    const CLIENTS: usize = 5;
    let seed = 31;
    let cfg = TcpConfig::default();
    let obj = object(100 * 1024, seed);
    let mut net = Net::new(
        cfg.clone(),
        cfg.clone(),
        Collector::default(),
        ObjectServer::new(obj.clone(), Mode::Stream),
        seed,
    );
    net.server.listen(PORT).unwrap();
    let link = Impair {
        delay: Duration::from_millis(5),
        ..Impair::default()
    };
    net.to_server = link;
    net.to_client = link;
    // Only the two real hosts are on the link: SYN-ACKs to spoofed sources vanish.
    net.on_link = Some(|_, p| p.dst == CLIENT || p.dst == SERVER);
    let mut rng = Rng::new(seed);
    let mut handles = Vec::new();
    let mut peak = 0;
    for ms in 0..FLOOD / PER_MS {
        // Two clients early (one may still get a real TCB), the rest under a full backlog.
        if [100, 101, 3000, 6000, 9000].contains(&ms) {
            handles.push(net.connect());
        }
        for _ in 0..PER_MS {
            let src = Ipv4Addr::from(0xC612_0000 | (rng.next() as u32 & 0x1_ffff));
            let mut b = seg(SYN, Seq(rng.next() as u32), Seq(0))
                .ports(1024 + (rng.next() % 60_000) as u16, PORT)
                .mss(1460);
            if rng.chance(0.5) {
                b = b.ws(7).sack_ok().ts(rng.next() as u32, 0);
            }
            net.inject(Side::Server, src, SERVER, &b.bytes(src, SERVER));
        }
        net.run_for(Duration::from_millis(1));
        peak = peak.max(net.server.connections());
    }
    let s = *net.server.stats();
    assert!(s.syn_cookies_sent > 0);
    assert_eq!(s.syn_received, (FLOOD + CLIENTS) as u64);
    assert!(peak <= cfg.syn_backlog + 2 * CLIENTS, "peak {peak}");
    assert!(peak <= cfg.max_connections);
    let ok = net.run_until(Duration::from_secs(60), |n| n.capp.closed.len() == CLIENTS);
    assert!(ok, "transfers did not finish: {:?}", net.capp.closed);
    for h in &handles {
        let data = net.capp.data.get(h).cloned().unwrap_or_default();
        assert_eq!(data.len(), obj.len(), "client {h:?}");
        assert!(data == obj, "client {h:?}: bytes differ");
    }
    assert!(net
        .capp
        .closed
        .iter()
        .all(|(_, r)| *r == CloseReason::Normal));
    assert!(net.server.stats().syn_cookies_accepted >= 3);
    // SYN-ACK retries (1 + 2 + ... + 32 s) and TIME-WAIT (60 s) run out.
    net.run_for(Duration::from_secs(130));
    assert_eq!(net.server.connections(), 0, "{}", net.server.stats());
    assert_eq!(net.client.connections(), 0);
    // Every half-open TCB the flood made timed out (only the real clients completed).
    assert!(
        net.server.stats().synack_timeouts as usize >= cfg.syn_backlog - CLIENTS,
        "{}",
        net.server.stats()
    );
}

/// One random input for the garbage test.
#[derive(Clone, Debug)]
enum Garbage {
    /// Bytes as they come, checksum not checked (so they reach the parser's later steps).
    Raw(Vec<u8>),
    /// A header with a valid checksum and random fields, aimed at the established
    /// connection (0), the listener from a new port (1) or a closed port (2).
    Shaped {
        target: u8,
        flags: u8,
        seq: i32,
        ack: i32,
        far: bool,
        window: u16,
        options: Vec<u8>,
        payload: usize,
    },
    /// An ACK around SND.UNA with SACK blocks around what we sent (offsets from it).
    Sack { ack: i32, blocks: Vec<(i32, u16)> },
    /// Let time pass (timers run).
    Wait(u16),
    /// The application sends or closes.
    App(u8),
}

fn garbage() -> impl Strategy<Value = Garbage> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..80).prop_map(Garbage::Raw),
        (
            0u8..3,
            any::<u8>(),
            -70_000i32..70_000,
            -70_000i32..70_000,
            any::<bool>(),
            any::<u16>(),
            prop::collection::vec(any::<u8>(), 0..40),
            0usize..1500,
        )
            .prop_map(|(target, flags, seq, ack, far, window, options, payload)| {
                Garbage::Shaped {
                    target,
                    flags,
                    seq,
                    ack,
                    far,
                    window,
                    options,
                    payload,
                }
            }),
        (
            -3000i32..40_000,
            prop::collection::vec((-3000i32..40_000, 0u16..5000), 1..5)
        )
            .prop_map(|(ack, blocks)| Garbage::Sack { ack, blocks }),
        (0u16..5000).prop_map(Garbage::Wait),
        any::<u8>().prop_map(Garbage::App),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever arrives, in whatever order, with timers running in between: no panic, and
    /// the table stays within its bounds.
    #[test]
    fn random_garbage_never_panics(items in prop::collection::vec(garbage(), 1..80)) {
        let (mut h, c, s, r) = established();
        h.act(c, |c| c.send(&object(30_000, 9)));
        for item in items {
            let mut sink = VecSink::new(4096);
            match item {
                Garbage::Raw(bytes) => h.core.on_segment_checked(
                    h.now, CLIENT, SERVER, &bytes, false, &mut h.app, &mut sink,
                ),
                Garbage::Shaped { target, flags, seq, ack, far, window, options, payload } => {
                    let (sport, dport) = match target {
                        0 => (PEER_PORT, PORT),
                        1 => (PEER_PORT + 1 + (payload % 7) as u16, PORT),
                        _ => (PEER_PORT, PORT + 1),
                    };
                    let (seq, ack) = if far {
                        (Seq(seq as u32), Seq(ack as u32))
                    } else {
                        (r + seq as u32, s + ack as u32)
                    };
                    let b = seg(TcpFlags::from_bits_retain(flags), seq, ack)
                        .ports(sport, dport)
                        .window(window)
                        .data(&vec![0x5a; payload]);
                    let mut opts = options;
                    opts.truncate(opts.len() / 4 * 4);
                    let bytes = with_options(&b, &opts);
                    h.core.on_segment(h.now, CLIENT, SERVER, &bytes, &mut h.app, &mut sink);
                }
                Garbage::Sack { ack, blocks } => {
                    let blocks: Vec<(Seq, Seq)> = blocks
                        .iter()
                        .map(|&(at, len)| (s + at as u32, s + at as u32 + u32::from(len)))
                        .collect();
                    let b = seg(ACK, r, s + ack as u32).sack(&blocks);
                    h.core.on_segment(
                        h.now, CLIENT, SERVER, &b.bytes(CLIENT, SERVER), &mut h.app, &mut sink,
                    );
                }
                Garbage::Wait(ms) => {
                    h.advance(Duration::from_millis(u64::from(ms)));
                }
                Garbage::App(what) => {
                    for handle in [h.handle(), Some(c)].into_iter().flatten() {
                        let _ = h.core.act(h.now, handle, &mut h.app, &mut sink, |conn| {
                            match what % 4 {
                                0 => { conn.close(); }
                                1 => { conn.abort(); }
                                _ => { conn.send(&[what; 3000]); }
                            }
                        });
                    }
                }
            }
            sink.drain();
            let cfg = h.core.config();
            let tw = h.core.time_wait_count();
            prop_assert!(tw <= cfg.max_time_wait);
            prop_assert!(h.core.connections() - tw <= cfg.max_connections);
        }
        // Timers keep running on whatever is left, and TIME-WAIT ends.
        h.advance(Duration::from_secs(3600));
        prop_assert_eq!(h.core.time_wait_count(), 0);
    }
}
