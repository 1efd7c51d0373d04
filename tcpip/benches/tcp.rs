//! The CPU cost of the sans-IO TCP core: two [`TcpCore`]s wired together by hand through
//! [`VecSink`]s, on a virtual clock that moves 10 µs per round (every segment sent in one
//! round is delivered in the next). No backend, no frames, no I/O; the numbers include the
//! harness's own cost, which is [`VecSink`]'s: one heap allocation per segment sent.
//!
//! Criterion prints the time of one iteration and the throughput in elements per second;
//! the elements are connections (`short_connection`) or data segments (`bulk`, 64 per
//! iteration), so the cost per element is 1/throughput, or the bulk time divided by 64.
//!
//! - `short_connection/{stream,prepared}`: one whole connection per iteration, in ns per
//!   connection. The client connects (ephemeral port), sends a 40-byte request and closes
//!   its side; the server answers 1 KiB (`stream`: [`Conn::send`], a copy into the send
//!   ring; `prepared`: [`Conn::send_prepared`] of an object prepared once) and closes. The
//!   iteration ends when the server's TCB is freed (LAST-ACK acknowledged) and the client
//!   is in TIME-WAIT: SYN, SYN-ACK, ACK with the request and FIN, the answer with FIN, the
//!   last ACK: three rounds. TIME-WAIT lasts 1 ms of virtual time (the timer wheel ticks
//!   every ms), so a few dozen client TCBs are in it at any moment and each iteration also
//!   pays for one TIME-WAIT expiry.
//! - `bulk/ack_processing`: an endless transfer of a prepared 4 MiB object (re-queued
//!   whenever less than one copy is left), in ns per data segment. Each iteration moves one
//!   flight of 64 full segments (the server's sink holds 64) to the client, which takes
//!   them in and acknowledges every second one, and the 32 ACKs back to the server, which
//!   frees what they acknowledge and sends the next flight. Both ends are counted.
//! - `bulk/ack_processing_stream`: the same with the server writing an endless stream
//!   through [`Conn::send`] (one copy into the send ring, another into each segment).
//! - `bulk/receive`: the receiver alone, in ns per data segment: a captured flight of 64
//!   segments is given again each iteration with its sequence numbers moved on (and its
//!   checksums redone, outside the timed part), and the ACKs the client sends are dropped.
//!   Each flight is timed on its own (two clock reads per 64 segments).
//!
//! `cargo bench -p tcpip --bench tcp`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use nmio::Instant;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;
use tcpip::seq::Seq;
use tcpip::sink::VecSink;
use tcpip::siphash::Key;
use tcpip::wire::TcpPacket;
use tcpip::{CloseReason, Conn, Handle, ObjectId, TcpApp, TcpConfig, TcpCore};

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 80;
/// Virtual time per round: each segment takes one round to cross.
const ROUND: Duration = Duration::from_micros(10);
/// A short request, about an HTTP GET line and a header or two.
const REQUEST: &[u8; 40] = b"GET /index.htm HTTP/1.0\r\nHost: bench\r\n\r\n";
const RESPONSE_LEN: usize = 1024;
/// Payload per segment: MSS 1460 less 12 bytes of timestamps.
const SEG: usize = 1448;
/// Data segments per flight in the bulk benches (the server's sink capacity).
const FLIGHT: usize = 64;
/// The bulk object: a whole number of segments, so every segment of every copy goes out
/// prepared.
const OBJECT_LEN: usize = SEG * 2896;
/// More rounds than any short connection needs: past it the bench is broken.
const MAX_ROUNDS: u32 = 64;

fn keys(seed: u64) -> [Key; 3] {
    [Key([seed, 1]), Key([seed, 2]), Key([seed, 3])]
}

/// Bytes that differ from one position to the next.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Two cores, their applications, and a sink per direction.
struct Pair<C: TcpApp, S: TcpApp> {
    now: Instant,
    client: TcpCore,
    server: TcpCore,
    capp: C,
    sapp: S,
    to_server: VecSink,
    to_client: VecSink,
}

impl<C: TcpApp, S: TcpApp> Pair<C, S> {
    /// `flight`: segments the server may queue per round.
    fn new(cfg: TcpConfig, capp: C, sapp: S, flight: usize) -> Self {
        let now = Instant::from_millis(1_000);
        let client = TcpCore::with_keys(cfg.clone(), now, keys(1)).expect("client config");
        let mut server = TcpCore::with_keys(cfg, now, keys(2)).expect("server config");
        server.listen(PORT).expect("listen");
        Pair {
            now,
            client,
            server,
            capp,
            sapp,
            to_server: VecSink::new(1024),
            to_client: VecSink::new(flight),
        }
    }

    fn connect(&mut self) -> Handle {
        self.client
            .connect(
                self.now,
                SocketAddrV4::new(CLIENT, 0),
                SocketAddrV4::new(SERVER, PORT),
                &mut self.to_server,
            )
            .expect("connect")
    }

    /// One round: time moves on, the client takes what the server sent, the server what
    /// the client sent (its answers included), then both run their timers.
    #[inline]
    fn round(&mut self) {
        self.now = self.now + ROUND;
        let now = self.now;
        for (src, dst, seg) in self.to_client.segments.drain(..) {
            self.client
                .on_segment(now, src, dst, &seg, &mut self.capp, &mut self.to_server);
        }
        for (src, dst, seg) in self.to_server.segments.drain(..) {
            self.server
                .on_segment(now, src, dst, &seg, &mut self.sapp, &mut self.to_client);
        }
        self.client
            .on_timeout(now, &mut self.capp, &mut self.to_server);
        self.server
            .on_timeout(now, &mut self.sapp, &mut self.to_client);
    }

    /// Let `d` of virtual time pass with nothing on the wire but what the timers send.
    fn settle(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.now = self.now + Duration::from_millis(1);
            self.round();
        }
    }
}

// ---- short connections ----

/// The client: on connecting, sends the request and closes its side.
#[derive(Default)]
struct Requester {
    received: u64,
    closed: u64,
    abnormal: u64,
}

impl TcpApp for Requester {
    fn on_connected(&mut self, conn: &mut Conn<'_>) {
        assert_eq!(conn.send(REQUEST), REQUEST.len(), "request queued whole");
        conn.close();
    }

    fn on_data(&mut self, _conn: &mut Conn<'_>, data: &[u8]) {
        self.received += data.len() as u64;
    }

    fn on_closed(&mut self, _handle: Handle, reason: CloseReason) {
        self.closed += 1;
        if reason != CloseReason::Normal {
            self.abnormal += 1;
        }
    }
}

/// The server: answers a request with 1 KiB and closes.
struct Responder {
    body: Vec<u8>,
    /// Answer with this object instead of copying `body`.
    prepared: Option<ObjectId>,
}

impl TcpApp for Responder {
    fn on_data(&mut self, conn: &mut Conn<'_>, request: &[u8]) {
        assert_eq!(
            request.len(),
            REQUEST.len(),
            "the request comes in one piece"
        );
        match self.prepared {
            Some(id) => conn.send_prepared(id).expect("prepared answer queued"),
            None => assert_eq!(conn.send(&self.body), RESPONSE_LEN, "answer queued whole"),
        }
        conn.close();
    }
}

fn short_config() -> TcpConfig {
    TcpConfig {
        max_connections: 1024,
        // Ends by its timer well before the cap; the cap only bounds a broken run.
        time_wait: Duration::from_millis(1),
        max_time_wait: 512,
        ..TcpConfig::default()
    }
}

impl Pair<Requester, Responder> {
    /// One whole connection; returns the rounds it took.
    #[inline]
    fn short_connection(&mut self) -> u32 {
        let closed = self.capp.closed + 1;
        self.connect();
        let mut rounds = 0;
        while self.capp.closed != closed || self.server.connections() != 0 {
            self.round();
            rounds += 1;
            assert!(rounds < MAX_ROUNDS, "connection never finished");
        }
        rounds
    }
}

fn short_connection(c: &mut Criterion) {
    let mut g = c.benchmark_group("short_connection");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    for prepared in [false, true] {
        let body = pattern(RESPONSE_LEN);
        let responder = Responder {
            body: body.clone(),
            prepared: None,
        };
        let mut p = Pair::new(short_config(), Requester::default(), responder, 64);
        if prepared {
            p.sapp.prepared = Some(p.server.prepare(&body, SEG as u16));
        }
        // A first connection, checked: the whole answer arrives and nothing stays behind
        // once TIME-WAIT is over.
        let rounds = p.short_connection();
        assert_eq!(p.capp.received, RESPONSE_LEN as u64);
        assert_eq!(
            p.client.time_wait_count(),
            1,
            "the client ends in TIME-WAIT"
        );
        p.settle(Duration::from_millis(5));
        assert_eq!(p.client.connections(), 0, "TIME-WAIT ended");

        let name = if prepared { "prepared" } else { "stream" };
        g.bench_function(name, |b| b.iter(|| black_box(p.short_connection())));

        p.settle(Duration::from_millis(5));
        let (cs, ss) = (p.client.stats(), p.server.stats());
        let n = cs.connected;
        assert_eq!(
            (p.client.connections(), p.server.connections()),
            (0, 0),
            "{name}: TCBs leaked"
        );
        assert_eq!(ss.accepted, n, "{name}: server accepted every connection");
        assert_eq!(
            (cs.closed, ss.closed),
            (n, n),
            "{name}: all closed normally"
        );
        assert_eq!(p.capp.closed, n);
        assert_eq!(p.capp.abnormal, 0, "{name}: abnormal closes");
        assert_eq!(
            p.capp.received,
            n * RESPONSE_LEN as u64,
            "{name}: bytes lost"
        );
        assert_eq!(
            (cs.retransmits, ss.retransmits, cs.tx_dropped, ss.tx_dropped),
            (0, 0, 0, 0),
            "{name}: a clean run retransmits and drops nothing"
        );
        if prepared {
            assert_eq!(ss.tx_prepared, n, "{name}: answers went out prepared");
        } else {
            assert_eq!(ss.tx_prepared, 0);
        }
        eprintln!(
            "short_connection/{name}: {n} connections, {rounds} rounds each, \
             {} TIME-WAIT recycled early",
            cs.time_wait_recycled
        );
    }
    g.finish();
}

// ---- bulk transfer ----

/// The bulk sender: keeps the connection's send queue full forever.
struct Source {
    /// Prepared: the object, queued again whenever less than one copy is left.
    object: Option<ObjectId>,
    /// Stream: written from `offset`, wrapping.
    data: Vec<u8>,
    offset: usize,
}

impl Source {
    #[inline]
    fn fill(&mut self, conn: &mut Conn<'_>) {
        match self.object {
            Some(id) => {
                while conn.queued() < OBJECT_LEN {
                    conn.send_prepared(id).expect("object queued");
                }
            }
            None => loop {
                let n = conn.send(&self.data[self.offset..]);
                if n == 0 {
                    break;
                }
                self.offset = (self.offset + n) % self.data.len();
            },
        }
    }
}

impl TcpApp for Source {
    fn on_accept(&mut self, conn: &mut Conn<'_>) {
        self.fill(conn);
    }

    #[inline]
    fn on_acked(&mut self, conn: &mut Conn<'_>, _bytes: usize) {
        self.fill(conn);
    }
}

/// The bulk receiver: counts what arrives.
#[derive(Default)]
struct Sink {
    received: u64,
}

impl TcpApp for Sink {
    #[inline]
    fn on_data(&mut self, _conn: &mut Conn<'_>, data: &[u8]) {
        self.received += data.len() as u64;
    }
}

/// A connection in steady state: past slow start, a flight of [`FLIGHT`] full segments
/// waiting for the client.
fn bulk_pair(prepared: bool) -> Pair<Sink, Source> {
    let data = pattern(OBJECT_LEN);
    let source = Source {
        object: None,
        data: if prepared { Vec::new() } else { data.clone() },
        offset: 0,
    };
    let mut p = Pair::new(TcpConfig::default(), Sink::default(), source, FLIGHT);
    if prepared {
        p.sapp.object = Some(p.server.prepare(&data, SEG as u16));
    }
    p.connect();
    for _ in 0..100 {
        p.round();
    }
    assert_eq!(p.to_client.segments.len(), FLIGHT, "a full flight waits");
    for (src, dst, seg) in &p.to_client.segments {
        let packet = TcpPacket::new_checked(&seg[..]).expect("a segment");
        assert_eq!(packet.payload().len(), SEG, "full segments");
        assert!(packet.verify_checksum(*src, *dst));
    }
    p
}

fn bulk(c: &mut Criterion) {
    let mut g = c.benchmark_group("bulk");
    g.throughput(Throughput::Elements(FLIGHT as u64));
    g.sample_size(20);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    for (name, prepared) in [("ack_processing", true), ("ack_processing_stream", false)] {
        let mut p = bulk_pair(prepared);
        let before = (
            p.server.stats().tx_segments,
            p.server.stats().tx_prepared,
            p.client.stats().tx_segments,
            p.capp.received,
        );
        let mut flights = 0u64;
        g.bench_function(name, |b| {
            b.iter(|| {
                p.round();
                flights += 1;
            })
        });
        let (cs, ss) = (p.client.stats(), p.server.stats());
        let sent = ss.tx_segments - before.0;
        let acks = cs.tx_segments - before.2;
        assert_eq!(
            sent,
            flights * FLIGHT as u64,
            "{name}: not a flight per round"
        );
        // The flight waiting before the first round was received in it.
        assert_eq!(
            p.capp.received - before.3,
            flights * (FLIGHT * SEG) as u64,
            "{name}: a flight received per round"
        );
        assert_eq!(
            (
                cs.retransmits,
                ss.retransmits,
                cs.rx_out_of_order,
                ss.tx_dropped
            ),
            (0, 0, 0, 0),
            "{name}: a clean run"
        );
        if prepared {
            assert_eq!(ss.tx_prepared - before.1, sent, "{name}: all data prepared");
            assert_eq!(ss.tx_prepared_resegmented, 0);
        } else {
            assert_eq!(ss.tx_prepared, 0);
        }
        eprintln!(
            "bulk/{name}: {flights} flights, {} MiB moved, {:.1} ACKs per flight",
            (p.capp.received - before.3) >> 20,
            acks as f64 / flights as f64
        );
    }

    // The receiver alone: a flight captured once, replayed with its sequence numbers moved
    // on by a flight each time.
    let mut p = bulk_pair(true);
    let template: Vec<(Ipv4Addr, Ipv4Addr, Vec<u8>)> = p.to_client.drain();
    let mut flight: Vec<Vec<u8>> = template.iter().map(|(_, _, s)| s.clone()).collect();
    let mut acks = VecSink::new(1024);
    let mut delta = 0u32;
    let (rx_before, acks_before) = (p.capp.received, p.client.stats().tx_segments);
    let mut flights = 0u64;
    g.bench_function("receive", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                for (buf, (src, dst, seg)) in flight.iter_mut().zip(&template) {
                    buf.copy_from_slice(seg);
                    let mut packet = TcpPacket::new_unchecked(&mut buf[..]);
                    let seq = packet.seq();
                    packet.set_seq(Seq(seq.0.wrapping_add(delta)));
                    packet.fill_checksum(*src, *dst);
                }
                p.now = p.now + ROUND;
                let now = p.now;
                let t = std::time::Instant::now();
                for (seg, (src, dst, _)) in flight.iter().zip(&template) {
                    p.client
                        .on_segment(now, *src, *dst, seg, &mut p.capp, &mut acks);
                }
                total += t.elapsed();
                acks.segments.clear();
                p.client.on_timeout(now, &mut p.capp, &mut acks);
                acks.segments.clear();
                delta = delta.wrapping_add((FLIGHT * SEG) as u32);
                flights += 1;
            }
            total
        })
    });
    let cs = p.client.stats();
    assert_eq!(
        p.capp.received - rx_before,
        flights * (FLIGHT * SEG) as u64,
        "receive: every replayed segment delivered in order"
    );
    assert_eq!(
        (
            cs.rx_duplicate,
            cs.rx_out_of_order,
            cs.rx_out_of_window,
            cs.rx_paws
        ),
        (0, 0, 0, 0),
        "receive: nothing dropped"
    );
    eprintln!(
        "bulk/receive: {flights} flights, {} ACKs sent",
        cs.tx_segments - acks_before
    );
    g.finish();
}

criterion_group!(benches, short_connection, bulk);
criterion_main!(benches);
