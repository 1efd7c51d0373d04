//! Two groups.
//!
//! `dns` (time per query): the DNS query path alone: one query in, one response written
//! into a buffer (what the server does per datagram, minus the frame headers and the I/O).
//!
//! - `dns/exact_a`: an A query for an existing name of a 10,000-name zone (one hash
//!   probe, a prepared answer copied behind the question).
//! - `dns/exact_a_edns`: the same with an EDNS0 OPT record (parsed, and ours appended).
//! - `dns/nxdomain`: a name that does not exist (a walk up the labels to the apex).
//! - `dns/mixed_case`: an existing name in mixed case (the key is lowercased, the
//!   question goes back as sent).
//!
//! `dns_stack` (time per batch of 32 queries; the throughput line is queries/s): the
//! whole UDP path through the stack, in each server mode (`pre-copy` and
//! `memcpy`: answers at existing names sent as prepared frames patched per query; `write`:
//! every answer written into the TX slot). The server is a `Stack<Udp<DnsServer>>` on one
//! end of a `pipe` with a virtual clock (no clock or system calls), the bench is the
//! client on the other end. One iteration, for a batch of 32 queries (already built as
//! Ethernet frames, 32 different names of the 10,000-name zone, from one client already in
//! the ARP cache):
//!
//! 1. the client copies the 32 frames into its TX slots and flushes once (the wire moves
//!    the buffers, no copy);
//! 2. one `EventLoop::run_once`: one RX burst of 32 through Ethernet, IPv4 and UDP checks,
//!    the DNS server (header checks, lookup, then a prepared frame patched with id, RD and
//!    the question plus destination MAC, address and port with incremental checksums, or
//!    the response written into a TX slot with full UDP and IPv4 headers), and one kick;
//!    at the kick the pipe copies each pre-copy image out (standing in for the NIC's DMA)
//!    while memcpy and write frames move without a copy;
//! 3. the client receives the 32 responses (a callback per frame, no copy).
//!
//! So steps 1 and 3, the harness's side, are counted in; `wire_only` measures them alone
//! (the 32 frames injected and received on the server's port with no stack, no
//! responses) to subtract. Each query set: `exact_a` (A at an existing name, no EDNS: a
//! frame in the prepared modes), `exact_a_edns` (the same with EDNS 1232: the frame with
//! our OPT), `nxdomain` (no frame: every mode writes), `txt_1k_edns` (a 1,004-octet TXT
//! record with EDNS 1232, a response of about 1,060 octets: the write path copies the
//! records and checksums them, a prepared frame patches a few bytes). With 32 distinct
//! names no pre-copy image is sent twice in a batch (no spare copies).
//!
//! `cargo bench -p apps --bench dns` (`-- --warm-up-time 1 --measurement-time 3` to keep
//! it short)

use apps::dns::prepare::{prepare, Prepared};
use apps::dns::server::DnsServer;
use apps::dns::wire::{Class, Counts, HeaderRepr, MessageBuilder, Name, Opcode, Rcode, Rtype};
use apps::dns::zone;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use eth::testing::{arp_request, drain, inject};
use eth::wire::{Ipv4Addr, MacAddr};
use eth::{IfaceConfig, Stack};
use nmio::backend::pipe::{self, PipeConfig, PipePort};
use nmio::{Clock, EventLoop, Instant, LoopConfig, Port, PrepMode, RxQueue, TxQueue, VirtualClock};
use std::net::SocketAddrV4;
use std::path::Path;
use std::rc::Rc;
use udpip::testing::udp_frame;
use udpip::Udp;

fn query(name: &str, qtype: Rtype, edns: bool) -> Vec<u8> {
    query_with_id(0x4242, name, qtype, edns)
}

fn query_with_id(id: u16, name: &str, qtype: Rtype, edns: bool) -> Vec<u8> {
    let mut buf = vec![0u8; 512];
    let mut b = MessageBuilder::new(&mut buf).unwrap();
    b.header(&HeaderRepr {
        id,
        qr: false,
        opcode: Opcode::QUERY,
        aa: false,
        tc: false,
        rd: true,
        ra: false,
        ad: false,
        cd: false,
        rcode: Rcode::NOERROR,
        counts: Counts::default(),
    });
    b.question(&Name::from_ascii(name).unwrap(), qtype, Class::IN)
        .unwrap();
    if edns {
        b.opt(1232, 0, 0, false).unwrap();
    }
    let n = b.finish();
    buf.truncate(n);
    buf
}

fn synthetic() -> Prepared {
    synthetic_with(0)
}

/// The 10,000-name zone, plus `big` names `t<i>` with a 1,004-octet TXT record (four
/// strings of 250 octets).
fn synthetic_with(big: usize) -> Prepared {
    let mut text = zone::synthetic(10_000);
    let s = "x".repeat(250);
    for i in 0..big {
        text.push_str(&format!("t{i}\tTXT\t\"{s}\" \"{s}\" \"{s}\" \"{s}\"\n"));
    }
    let z = zone::load_str(&text, Path::new("synthetic.zone"), None).expect("synthetic zone");
    prepare(&[z]).expect("prepare")
}

fn bench(c: &mut Criterion) {
    let mut server = DnsServer::new(Rc::new(synthetic()), 53);
    let mut out = vec![0u8; 1500];
    let mut g = c.benchmark_group("dns");
    g.throughput(Throughput::Elements(1));
    for (name, q) in [
        ("exact_a", query("h4242.synthetic.test.", Rtype::A, false)),
        (
            "exact_a_edns",
            query("h4242.synthetic.test.", Rtype::A, true),
        ),
        ("nxdomain", query("nope.x.synthetic.test.", Rtype::A, false)),
        (
            "mixed_case",
            query("H4242.SyNtHeTiC.TeSt.", Rtype::A, false),
        ),
    ] {
        let n = server.answer(&q, &mut out).expect("answered");
        assert!(n > q.len());
        g.bench_function(name, |b| {
            b.iter(|| black_box(server.answer(black_box(&q), &mut out)))
        });
    }
    g.finish();
    let st = server.stats();
    assert!(st.noerror > 0 && st.nxdomain > 0 && st.formerr == 0);
}

/// Queries per iteration of `dns_stack`.
const BATCH: usize = 32;
const US: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const CLIENT: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 40000);

/// A server stack on one end of a pipe, the client on the other.
struct Rig {
    client: PipePort,
    client_mac: MacAddr,
    our_mac: MacAddr,
    ev: EventLoop<PipePort, VirtualClock>,
    stack: Stack<Udp<DnsServer>>,
    sent: u64,
    received: u64,
}

impl Rig {
    fn new(prepared: &Rc<Prepared>, mode: Option<PrepMode>) -> Rig {
        let clock = VirtualClock::new(Instant::from_millis(1_000));
        let (client, port) = pipe::pair(PipeConfig {
            clock: Some(clock.clone()),
            prepared_capacity: 2 * prepared.frame_count() + 64,
            ..Default::default()
        })
        .expect("pipe");
        let mut cfg = IfaceConfig::for_port(port.caps(), US, 24);
        cfg.arp.announcements = 0;
        let (client_mac, our_mac) = (MacAddr(client.caps().mac), MacAddr(port.caps().mac));
        let mut server = DnsServer::new(prepared.clone(), 53);
        if let Some(mode) = mode {
            server = server.with_mode(mode);
        }
        let mut stack = Stack::new(cfg, Udp::new(server), clock.now()).expect("stack");
        let loop_cfg = LoopConfig {
            idle_block: None,
            ..Default::default()
        };
        let mut ev = EventLoop::new(port, clock, loop_cfg);
        stack.start_on(&mut ev);
        if mode.is_some() {
            let (frames, error) = stack.upper().app().frames_prepared();
            assert!(error.is_none() && frames > 0, "{frames} frames: {error:?}");
        }
        let mut rig = Rig {
            client,
            client_mac,
            our_mac,
            ev,
            stack,
            sent: 0,
            received: 0,
        };
        // The client is in the ARP cache before the first query.
        inject(&mut rig.client, &arp_request(client_mac, *CLIENT.ip(), US));
        while rig.ev.run_once(&mut rig.stack) > 0 {}
        assert_eq!(drain(&mut rig.client).len(), 1, "ARP reply");
        rig
    }

    /// `queries` as frames from the client to port 53.
    fn frames(&self, queries: &[Vec<u8>]) -> Vec<Vec<u8>> {
        queries
            .iter()
            .map(|q| {
                let dst = SocketAddrV4::new(US, 53);
                udp_frame(self.client_mac, self.our_mac, CLIENT, dst, q)
            })
            .collect()
    }

    /// One batch: frames in, one loop pass, responses out.
    #[inline]
    fn round(&mut self, frames: &[Vec<u8>]) {
        send_burst(&mut self.client, frames);
        self.ev.run_once(&mut self.stack);
        self.received += recv_all(&mut self.client);
        self.sent += frames.len() as u64;
    }
}

/// Copies `frames` into `port`'s TX slots and kicks once.
#[inline]
fn send_burst(port: &mut PipePort, frames: &[Vec<u8>]) {
    let tx = port.tx();
    for f in frames {
        let queued = tx.send(|slot| {
            slot[..f.len()].copy_from_slice(f);
            f.len()
        });
        debug_assert!(queued);
    }
    tx.flush().expect("flush");
}

/// Receives every waiting frame without copying it; returns how many.
#[inline]
fn recv_all(port: &mut PipePort) -> u64 {
    let mut n = 0;
    while port.rx().recv_burst(64, |f, _| {
        black_box(f.len());
        n += 1;
    }) > 0
    {}
    n
}

fn bench_stack(c: &mut Criterion) {
    let prepared = Rc::new(synthetic_with(BATCH));
    let set = |edns: bool, prefix: &str| -> Vec<Vec<u8>> {
        (0..BATCH)
            .map(|i| {
                let name = format!("{prefix}h{}.synthetic.test.", (i * 313) % 10_000);
                query_with_id(0x1000 + i as u16, &name, Rtype::A, edns)
            })
            .collect()
    };
    let big: Vec<Vec<u8>> = (0..BATCH)
        .map(|i| {
            let name = format!("t{i}.synthetic.test.");
            query_with_id(0x2000 + i as u16, &name, Rtype::TXT, true)
        })
        .collect();
    let sets = [
        ("exact_a", set(false, ""), true),
        ("exact_a_edns", set(true, ""), true),
        ("nxdomain", set(false, "nope."), false),
        ("txt_1k_edns", big, true),
    ];
    let mut g = c.benchmark_group("dns_stack");
    g.throughput(Throughput::Elements(BATCH as u64));
    for (set_name, queries, has_frames) in &sets {
        for (mode_name, mode) in [
            ("pre-copy", Some(PrepMode::PreCopy)),
            ("memcpy", Some(PrepMode::Memcpy)),
            ("write", None),
        ] {
            let mut rig = Rig::new(&prepared, mode);
            let frames = rig.frames(queries);
            g.bench_function(format!("{set_name}/{mode_name}"), |b| {
                b.iter(|| rig.round(&frames))
            });
            assert_eq!(
                rig.received, rig.sent,
                "{set_name}/{mode_name}: every query answered"
            );
            let st = rig.stack.upper().app().stats();
            let framed = mode.is_some() && *has_frames;
            assert_eq!(
                st.prepared,
                if framed { rig.sent } else { 0 },
                "{set_name}/{mode_name}"
            );
        }
    }
    // The harness alone: the same frames into the server's port and out of its RX ring.
    let (mut client, mut server) = pipe::pair(PipeConfig {
        clock: Some(VirtualClock::new(Instant::from_millis(1_000))),
        ..Default::default()
    })
    .expect("pipe");
    let frames = Rig::new(&prepared, None).frames(&sets[0].1);
    g.bench_function("wire_only", |b| {
        b.iter(|| {
            send_burst(&mut client, &frames);
            recv_all(&mut server)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = bench, bench_stack
}
criterion_main!(benches);
