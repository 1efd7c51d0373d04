//! Two sans-IO cores joined by a simulated link with a virtual clock, seeded impairments,
//! and small server/client applications for transfers; and one core driven by hand with
//! built segments ([`Host`], [`seg`], [`handshake`]) for packet-level rule tests.

#![allow(dead_code)]

use nmio::Instant;
use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;
use tcpip::seq::Seq;
use tcpip::sink::VecSink;
use tcpip::siphash::Key;
use tcpip::wire::{SackBlock, SackBlocks, TcpFlags, TcpOptions, TcpPacket, TcpRepr};
use tcpip::State;
use tcpip::{CloseReason, Conn, Handle, ObjectId, TcpApp, TcpConfig, TcpCore};

pub const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const PORT: u16 = 80;

/// Cut a TCP super-segment into segments of `mss` payload bytes as a NIC's TSO does:
/// headers copied, sequence advanced, FIN and PSH on the last only, CWR on the first only,
/// each checksummed in full.
pub fn segment(src: Ipv4Addr, dst: Ipv4Addr, bytes: &[u8], mss: u16, out: &mut Vec<Vec<u8>>) {
    let packet = TcpPacket::new_checked(bytes).expect("super-segment header");
    let repr = TcpRepr::parse(&packet, src, dst).expect("super-segment checksum");
    let payload = packet.payload();
    assert!(
        payload.len() > usize::from(mss),
        "a super-segment carries more than one MSS"
    );
    let pieces = payload.chunks(usize::from(mss)).count();
    for (k, piece) in payload.chunks(usize::from(mss)).enumerate() {
        let mut r = repr;
        r.seq = repr.seq + (k * usize::from(mss)) as u32;
        r.payload_len = piece.len();
        if k + 1 < pieces {
            r.flags.remove(TcpFlags::FIN | TcpFlags::PSH);
        }
        if k > 0 {
            r.flags.remove(TcpFlags::CWR);
        }
        let mut buf = vec![0u8; r.header_len() + piece.len()];
        r.emit(&mut TcpPacket::new_unchecked(&mut buf[..]), src, dst, piece);
        out.push(buf);
    }
}

/// xorshift64*: deterministic, good enough for impairments.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// What the link does to each segment, per direction.
#[derive(Clone, Copy, Debug, Default)]
pub struct Impair {
    pub loss: f64,
    pub duplicate: f64,
    /// Probability that a segment is held back by `reorder_delay` extra.
    pub reorder: f64,
    pub reorder_delay: Duration,
    pub corrupt: f64,
    pub delay: Duration,
    pub jitter: Duration,
}

/// A segment in flight.
#[derive(Clone, Debug)]
pub struct Packet {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub bytes: Vec<u8>,
}

/// Which side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

pub fn keys(seed: u64) -> [Key; 3] {
    [
        Key([seed, 1]),
        Key([seed ^ 0x5555, 2]),
        Key([seed ^ 0xAAAA, 3]),
    ]
}

/// Two cores, their apps, and the link.
pub struct Net<C: TcpApp, S: TcpApp> {
    pub now: Instant,
    pub client: TcpCore,
    pub server: TcpCore,
    pub capp: C,
    pub sapp: S,
    pub to_server: Impair,
    pub to_client: Impair,
    pub rng: Rng,
    /// (deliver at, sequence, side it goes to) -> packet.
    queue: BTreeMap<(Instant, u64), (Side, Packet)>,
    serial: u64,
    /// Every segment that left a core, in order (side that sent it).
    pub trace: Vec<(Side, Packet)>,
    pub keep_trace: bool,
    pub delivered: u64,
    /// When set, a segment leaving a core goes on the link only if this returns true (the
    /// trace still records it). `None`, the default, keeps everything.
    pub on_link: Option<fn(Side, &Packet) -> bool>,
    /// What both sides' sinks offer as [`tcpip::sink::SegmentSink::tso_max`] (0, the
    /// default: no TSO). Super-segments are cut into MSS-sized ones on transmit, as a NIC
    /// would, before the link's impairments; the trace keeps the cut segments.
    pub tso: usize,
    /// Super-segments cut on transmit, and the wire segments they became.
    pub tso_sent: (u64, u64),
}

impl<C: TcpApp, S: TcpApp> Net<C, S> {
    pub fn new(ccfg: TcpConfig, scfg: TcpConfig, capp: C, sapp: S, seed: u64) -> Self {
        let now = Instant::from_millis(1_000);
        Net {
            now,
            client: TcpCore::with_keys(ccfg, now, keys(seed)).unwrap(),
            server: TcpCore::with_keys(scfg, now, keys(seed.wrapping_add(77))).unwrap(),
            capp,
            sapp,
            to_server: Impair::default(),
            to_client: Impair::default(),
            rng: Rng::new(seed),
            queue: BTreeMap::new(),
            serial: 0,
            trace: Vec::new(),
            keep_trace: false,
            delivered: 0,
            on_link: None,
            tso: 0,
            tso_sent: (0, 0),
        }
    }

    /// A sink for one side's output, with the link's TSO offer.
    pub fn sink(&self, capacity: usize) -> VecSink {
        let mut s = VecSink::new(capacity);
        s.tso_max = self.tso;
        s
    }

    /// Put the sink's segments on the wire from `from`.
    pub fn transmit(&mut self, from: Side, sink: &mut VecSink) {
        let tso = std::mem::take(&mut sink.tso);
        let mut cut = Vec::new();
        for (i, (src, dst, bytes)) in sink.drain().into_iter().enumerate() {
            cut.clear();
            match tso.iter().find(|(at, _)| *at == i) {
                Some(&(_, mss)) => {
                    segment(src, dst, &bytes, mss, &mut cut);
                    self.tso_sent.0 += 1;
                    self.tso_sent.1 += cut.len() as u64;
                }
                None => cut.push(bytes),
            }
            for bytes in cut.drain(..) {
                self.transmit_one(from, Packet { src, dst, bytes });
            }
        }
    }

    fn transmit_one(&mut self, from: Side, pkt: Packet) {
        if self.keep_trace {
            self.trace.push((from, pkt.clone()));
        }
        if self.on_link.is_some_and(|f| !f(from, &pkt)) {
            return;
        }
        let imp = match from {
            Side::Client => self.to_server,
            Side::Server => self.to_client,
        };
        let to = match from {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        };
        self.enqueue(to, pkt, imp);
    }

    fn enqueue(&mut self, to: Side, mut pkt: Packet, imp: Impair) {
        if self.rng.chance(imp.loss) {
            return;
        }
        let copies = if self.rng.chance(imp.duplicate) { 2 } else { 1 };
        for _ in 0..copies {
            let mut d = imp.delay;
            if !imp.jitter.is_zero() {
                d += Duration::from_nanos(self.rng.below(imp.jitter.as_nanos() as u64 + 1));
            }
            if self.rng.chance(imp.reorder) {
                d += imp.reorder_delay;
            }
            if self.rng.chance(imp.corrupt) && !pkt.bytes.is_empty() {
                let i = self.rng.below(pkt.bytes.len() as u64) as usize;
                pkt.bytes[i] ^= 1 << self.rng.below(8);
            }
            self.serial += 1;
            self.queue
                .insert((self.now + d, self.serial), (to, pkt.clone()));
        }
    }

    /// Hand a segment to one side now, as if from the wire; returns what that side sent
    /// in answer (not put on the link).
    pub fn inject(&mut self, to: Side, src: Ipv4Addr, dst: Ipv4Addr, bytes: &[u8]) -> Vec<Packet> {
        let mut sink = self.sink(1024);
        match to {
            Side::Server => {
                self.server
                    .on_segment(self.now, src, dst, bytes, &mut self.sapp, &mut sink)
            }
            Side::Client => {
                self.client
                    .on_segment(self.now, src, dst, bytes, &mut self.capp, &mut sink)
            }
        }
        sink.drain()
            .into_iter()
            .map(|(src, dst, bytes)| Packet { src, dst, bytes })
            .collect()
    }

    /// Client side: connect to the server's port.
    pub fn connect(&mut self) -> Handle {
        let mut sink = self.sink(1024);
        let h = self
            .client
            .connect(
                self.now,
                SocketAddrV4::new(CLIENT, 0),
                SocketAddrV4::new(SERVER, PORT),
                &mut sink,
            )
            .unwrap();
        self.transmit(Side::Client, &mut sink);
        h
    }

    /// Act on a client connection.
    pub fn client_act<R>(&mut self, h: Handle, f: impl FnOnce(&mut Conn<'_>) -> R) -> Option<R> {
        let mut sink = self.sink(1024);
        let r = self.client.act(self.now, h, &mut self.capp, &mut sink, f);
        self.transmit(Side::Client, &mut sink);
        r
    }

    /// Act on a server connection.
    pub fn server_act<R>(&mut self, h: Handle, f: impl FnOnce(&mut Conn<'_>) -> R) -> Option<R> {
        let mut sink = self.sink(1024);
        let r = self.server.act(self.now, h, &mut self.sapp, &mut sink, f);
        self.transmit(Side::Server, &mut sink);
        r
    }

    /// One event: the next delivery or timer, whichever is first, if before `limit`.
    /// Returns false when nothing is left before `limit`.
    pub fn step(&mut self, limit: Instant) -> bool {
        let next_pkt = self.queue.keys().next().map(|k| k.0);
        let next_timer = [self.client.poll_timeout(), self.server.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let next = match (next_pkt, next_timer) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => return false,
        };
        if next > limit {
            self.now = limit;
            return false;
        }
        if next > self.now {
            self.now = next;
        }
        let mut csink = self.sink(4096);
        let mut ssink = self.sink(4096);
        // Deliver everything due now, then timers.
        while let Some((&key, _)) = self.queue.iter().next() {
            if key.0 > self.now {
                break;
            }
            let (to, pkt) = self.queue.remove(&key).unwrap();
            self.delivered += 1;
            match to {
                Side::Server => self.server.on_segment(
                    self.now,
                    pkt.src,
                    pkt.dst,
                    &pkt.bytes,
                    &mut self.sapp,
                    &mut ssink,
                ),
                Side::Client => self.client.on_segment(
                    self.now,
                    pkt.src,
                    pkt.dst,
                    &pkt.bytes,
                    &mut self.capp,
                    &mut csink,
                ),
            }
        }
        self.client.on_timeout(self.now, &mut self.capp, &mut csink);
        self.server.on_timeout(self.now, &mut self.sapp, &mut ssink);
        self.transmit(Side::Client, &mut csink);
        self.transmit(Side::Server, &mut ssink);
        true
    }

    /// Run until `done` holds or nothing is left, for at most `max` of virtual time.
    /// Returns whether `done` held.
    pub fn run_until(&mut self, max: Duration, mut done: impl FnMut(&Self) -> bool) -> bool {
        let limit = self.now + max;
        loop {
            if done(self) {
                return true;
            }
            if !self.step(limit) {
                return done(self);
            }
        }
    }

    /// Run for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let limit = self.now + d;
        while self.step(limit) {}
        self.now = limit;
    }
}

/// How the server sends its object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Stream,
    Prepared,
}

/// Serves `object` to every connection as soon as it is accepted (stream: refilled on
/// every ACK; prepared: one `send_prepared`), then closes.
pub struct ObjectServer {
    pub object: Vec<u8>,
    pub mode: Mode,
    pub prepared: Option<ObjectId>,
    /// Bytes of the object queued so far, per connection index.
    pub sent: Vec<usize>,
    pub closed: Vec<CloseReason>,
    pub accepted: usize,
}

impl ObjectServer {
    pub fn new(object: Vec<u8>, mode: Mode) -> Self {
        ObjectServer {
            object,
            mode,
            prepared: None,
            sent: vec![0; 1 << 16],
            closed: Vec::new(),
            accepted: 0,
        }
    }

    fn pump(&mut self, conn: &mut Conn<'_>) {
        let i = conn.handle().index();
        if self.sent[i] == usize::MAX {
            return;
        }
        let n = conn.send(&self.object[self.sent[i]..]);
        self.sent[i] += n;
        if self.sent[i] == self.object.len() {
            self.sent[i] = usize::MAX;
            conn.close();
        }
    }
}

impl TcpApp for ObjectServer {
    fn on_accept(&mut self, conn: &mut Conn<'_>) {
        self.accepted += 1;
        let i = conn.handle().index();
        match (self.mode, self.prepared) {
            (Mode::Prepared, Some(id)) => {
                conn.send_prepared(id).unwrap();
                self.sent[i] = usize::MAX;
                conn.close();
            }
            _ => {
                self.sent[i] = 0;
                self.pump(conn);
            }
        }
    }
    fn on_acked(&mut self, conn: &mut Conn<'_>, _bytes: usize) {
        self.pump(conn);
    }
    fn on_closed(&mut self, _h: Handle, reason: CloseReason) {
        self.closed.push(reason);
    }
}

/// Receives everything, closes when the peer does, remembers what it got.
#[derive(Default)]
pub struct Collector {
    /// Bytes received, by connection (handles, not slot indices: a slot is reused).
    pub data: HashMap<Handle, Vec<u8>>,
    pub connected: usize,
    pub closed: Vec<(Handle, CloseReason)>,
    /// Send this after connecting.
    pub request: Vec<u8>,
}

impl TcpApp for Collector {
    fn on_connected(&mut self, conn: &mut Conn<'_>) {
        self.connected += 1;
        if !self.request.is_empty() {
            let r = self.request.clone();
            conn.send(&r);
        }
    }
    fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
        self.data
            .entry(conn.handle())
            .or_default()
            .extend_from_slice(data);
    }
    fn on_closed(&mut self, h: Handle, reason: CloseReason) {
        self.closed.push((h, reason));
    }
}

/// An object of `len` bytes that differs at every position for the first 2^32 bytes.
pub fn object(len: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng::new(seed);
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        v.extend_from_slice(&r.next().to_le_bytes());
    }
    v.truncate(len);
    v
}

// ---- Hand-made segments and a core driven by hand (rules.rs, hostile.rs) ----

/// The scripted peer's port (its address is [`CLIENT`]; the core under test is
/// [`SERVER`]:[`PORT`]).
pub const PEER_PORT: u16 = 40000;

/// A segment a core sent, parsed (checksum verified).
#[derive(Clone, Debug)]
pub struct Seg {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub repr: TcpRepr,
    pub payload: Vec<u8>,
}

impl Seg {
    /// Parse what a core sent; panics on anything malformed, which is a core bug.
    pub fn parse(src: Ipv4Addr, dst: Ipv4Addr, bytes: &[u8]) -> Seg {
        let packet = TcpPacket::new_checked(bytes).expect("core sent a malformed header");
        let repr = TcpRepr::parse(&packet, src, dst).expect("core sent a bad segment");
        Seg {
            src,
            dst,
            repr,
            payload: packet.payload().to_vec(),
        }
    }

    pub fn flags(&self) -> TcpFlags {
        self.repr.flags
    }
    pub fn seq(&self) -> Seq {
        self.repr.seq
    }
    pub fn ack(&self) -> Seq {
        self.repr.ack
    }
    pub fn window(&self) -> u16 {
        self.repr.window
    }
    pub fn options(&self) -> &TcpOptions {
        &self.repr.options
    }
    /// `(flags, seq, ack)`: one exchange of a trace, to compare in one assertion.
    pub fn fsa(&self) -> (TcpFlags, Seq, Seq) {
        (self.repr.flags, self.repr.seq, self.repr.ack)
    }
    /// `(seq, payload length)` of a data segment.
    pub fn data(&self) -> (Seq, usize) {
        (self.repr.seq, self.payload.len())
    }
    /// SACK blocks as `(left, right)`.
    pub fn sack(&self) -> Vec<(Seq, Seq)> {
        self.repr
            .options
            .sack
            .iter()
            .map(|b| (b.left, b.right))
            .collect()
    }
}

/// Segments out of a sink, parsed.
pub fn parse_all(sink: &mut VecSink) -> Vec<Seg> {
    sink.drain()
        .into_iter()
        .map(|(src, dst, bytes)| Seg::parse(src, dst, &bytes))
        .collect()
}

/// A segment to hand to a core, field by field; [`bytes`](Self::bytes) emits it with
/// `TcpRepr::emit`. Defaults: [`PEER_PORT`] -> [`PORT`], window 65535, no options.
#[derive(Clone, Debug)]
pub struct SegBuilder {
    pub repr: TcpRepr,
    pub payload: Vec<u8>,
}

/// A segment from the scripted peer: `flags`, `seq`, `ack`.
pub fn seg(flags: TcpFlags, seq: Seq, ack: Seq) -> SegBuilder {
    SegBuilder {
        repr: TcpRepr {
            src_port: PEER_PORT,
            dst_port: PORT,
            seq,
            ack,
            flags,
            window: 65535,
            urgent: 0,
            options: TcpOptions::default(),
            payload_len: 0,
        },
        payload: Vec::new(),
    }
}

impl SegBuilder {
    pub fn ports(mut self, src: u16, dst: u16) -> Self {
        self.repr.src_port = src;
        self.repr.dst_port = dst;
        self
    }
    pub fn window(mut self, w: u16) -> Self {
        self.repr.window = w;
        self
    }
    pub fn mss(mut self, mss: u16) -> Self {
        self.repr.options.mss = Some(mss);
        self
    }
    pub fn ws(mut self, shift: u8) -> Self {
        self.repr.options.window_scale = Some(shift);
        self
    }
    pub fn sack_ok(mut self) -> Self {
        self.repr.options.sack_permitted = true;
        self
    }
    pub fn ts(mut self, tsval: u32, tsecr: u32) -> Self {
        self.repr.options.timestamps = Some((tsval, tsecr));
        self
    }
    /// SACK blocks `[left, right)`.
    pub fn sack(mut self, blocks: &[(Seq, Seq)]) -> Self {
        let b: Vec<SackBlock> = blocks
            .iter()
            .map(|&(left, right)| SackBlock { left, right })
            .collect();
        self.repr.options.sack = SackBlocks::from_slice(&b);
        self
    }
    pub fn data(mut self, d: &[u8]) -> Self {
        self.payload = d.to_vec();
        self.repr.payload_len = d.len();
        self
    }
    /// The segment's bytes, checksummed for `src -> dst`.
    pub fn bytes(&self, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
        let mut buf = vec![0u8; self.repr.buffer_len()];
        self.repr.emit(
            &mut TcpPacket::new_unchecked(&mut buf[..]),
            src,
            dst,
            &self.payload,
        );
        buf
    }
}

/// What a [`Recorder`] heard, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Accepted(Handle),
    Connected(Handle),
    Data(Handle, Vec<u8>),
    Acked(Handle, usize),
    PeerClosed(Handle),
    Closed(Handle, CloseReason),
}

/// An application that records every callback. It closes when the peer does only if
/// `close_on_peer_fin`.
#[derive(Default)]
pub struct Recorder {
    pub events: Vec<Event>,
    pub close_on_peer_fin: bool,
}

impl Recorder {
    /// Every byte delivered on `h`, joined.
    pub fn data(&self, h: Handle) -> Vec<u8> {
        let mut v = Vec::new();
        for e in &self.events {
            if let Event::Data(x, d) = e {
                if *x == h {
                    v.extend_from_slice(d);
                }
            }
        }
        v
    }
    /// Every byte delivered, on any connection.
    pub fn all_data(&self) -> Vec<u8> {
        let mut v = Vec::new();
        for e in &self.events {
            if let Event::Data(_, d) = e {
                v.extend_from_slice(d);
            }
        }
        v
    }
    pub fn closed(&self) -> Vec<(Handle, CloseReason)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Closed(h, r) => Some((*h, *r)),
                _ => None,
            })
            .collect()
    }
    pub fn count(&self, f: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|e| f(e)).count()
    }
}

impl TcpApp for Recorder {
    fn on_accept(&mut self, conn: &mut Conn<'_>) {
        self.events.push(Event::Accepted(conn.handle()));
    }
    fn on_connected(&mut self, conn: &mut Conn<'_>) {
        self.events.push(Event::Connected(conn.handle()));
    }
    fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
        self.events.push(Event::Data(conn.handle(), data.to_vec()));
    }
    fn on_acked(&mut self, conn: &mut Conn<'_>, bytes: usize) {
        self.events.push(Event::Acked(conn.handle(), bytes));
    }
    fn on_peer_closed(&mut self, conn: &mut Conn<'_>) {
        self.events.push(Event::PeerClosed(conn.handle()));
        if self.close_on_peer_fin {
            conn.close();
        }
    }
    fn on_closed(&mut self, handle: Handle, reason: CloseReason) {
        self.events.push(Event::Closed(handle, reason));
    }
}

/// One core, [`SERVER`]:[`PORT`], driven by hand: segments in from a scripted peer at
/// [`CLIENT`]:[`PEER_PORT`], its answers parsed. Time moves only through
/// [`advance`](Self::advance).
pub struct Host<A: TcpApp = Recorder> {
    pub now: Instant,
    pub core: TcpCore,
    pub app: A,
}

impl Host<Recorder> {
    /// A core with a [`Recorder`], not listening.
    pub fn new(cfg: TcpConfig) -> Self {
        Host::with_app(cfg, Recorder::default())
    }
    /// A core with a [`Recorder`], listening on [`PORT`].
    pub fn listening(cfg: TcpConfig) -> Self {
        let mut h = Host::new(cfg);
        h.core.listen(PORT).unwrap();
        h
    }
}

impl<A: TcpApp> Host<A> {
    pub fn with_app(cfg: TcpConfig, app: A) -> Self {
        let now = Instant::from_millis(1_000);
        Host {
            now,
            core: TcpCore::with_keys(cfg, now, keys(7)).unwrap(),
            app,
        }
    }

    /// Hand `b` to the core from [`CLIENT`]; what it sent in answer.
    pub fn send(&mut self, b: &SegBuilder) -> Vec<Seg> {
        self.send_raw(CLIENT, SERVER, &b.bytes(CLIENT, SERVER))
    }

    /// Hand raw bytes to the core as from `src` to `dst`; what it sent in answer.
    pub fn send_raw(&mut self, src: Ipv4Addr, dst: Ipv4Addr, bytes: &[u8]) -> Vec<Seg> {
        let mut sink = VecSink::new(4096);
        self.core
            .on_segment(self.now, src, dst, bytes, &mut self.app, &mut sink);
        parse_all(&mut sink)
    }

    /// Start a receive batch ([`TcpCore::begin_batch`]).
    pub fn begin_batch(&mut self) {
        self.core.begin_batch();
    }

    /// End the receive batch; what the core sent then.
    pub fn end_batch(&mut self) -> Vec<Seg> {
        let mut sink = VecSink::new(4096);
        self.core.end_batch(self.now, &mut self.app, &mut sink);
        parse_all(&mut sink)
    }

    /// Let `d` of time pass, running every timer on its deadline; what the core sent, with
    /// when.
    pub fn advance(&mut self, d: Duration) -> Vec<(Instant, Seg)> {
        let end = self.now + d;
        let mut out = Vec::new();
        let mut rounds = 0u32;
        while let Some(t) = self.core.poll_timeout() {
            if t > end {
                break;
            }
            rounds += 1;
            assert!(rounds < 1_000_000, "timers never settle");
            self.now = self.now.max(t);
            let mut sink = VecSink::new(4096);
            self.core.on_timeout(self.now, &mut self.app, &mut sink);
            out.extend(parse_all(&mut sink).into_iter().map(|s| (self.now, s)));
        }
        self.now = end;
        out
    }

    /// Act on a connection; the result and what the core sent.
    pub fn act<R>(&mut self, h: Handle, f: impl FnOnce(&mut Conn<'_>) -> R) -> (R, Vec<Seg>) {
        let mut sink = VecSink::new(4096);
        let r = self
            .core
            .act(self.now, h, &mut self.app, &mut sink, f)
            .expect("stale handle");
        (r, parse_all(&mut sink))
    }

    /// Active open from [`SERVER`]:[`PORT`] to [`CLIENT`]:[`PEER_PORT`]; the handle and
    /// what was sent (the SYN).
    pub fn connect(&mut self) -> (Handle, Vec<Seg>) {
        let mut sink = VecSink::new(16);
        let h = self
            .core
            .connect(self.now, host_addr(), peer_addr(), &mut sink)
            .unwrap();
        (h, parse_all(&mut sink))
    }

    /// The connection with the scripted peer, if any.
    pub fn handle(&self) -> Option<Handle> {
        self.core.find(host_addr(), peer_addr())
    }

    /// The state of the connection with the scripted peer, TIME-WAIT included.
    pub fn state(&self) -> Option<State> {
        self.core.state_of(host_addr(), peer_addr())
    }

    /// The state of the connection with the peer at [`CLIENT`]:`port`.
    pub fn state_with(&self, port: u16) -> Option<State> {
        self.core
            .state_of(host_addr(), SocketAddrV4::new(CLIENT, port))
    }
}

/// The core under test's address.
pub fn host_addr() -> SocketAddrV4 {
    SocketAddrV4::new(SERVER, PORT)
}

/// The scripted peer's address.
pub fn peer_addr() -> SocketAddrV4 {
    SocketAddrV4::new(CLIENT, PEER_PORT)
}

/// A passive open completed by hand: the peer's SYN (`syn`, whose seq is the peer's ISN)
/// and the ACK of our SYN-ACK (carrying `syn`'s window, and its timestamp option if it
/// had one). Returns the handle and `(our ISS, peer's ISN)`.
pub fn handshake<A: TcpApp>(host: &mut Host<A>, syn: SegBuilder) -> (Handle, Seq, Seq) {
    let irs = syn.repr.seq;
    let out = host.send(&syn);
    assert_eq!(out.len(), 1, "one SYN-ACK: {out:?}");
    let sa = &out[0];
    assert_eq!(sa.flags(), TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(sa.ack(), irs + 1);
    let iss = sa.seq();
    let mut ack = seg(TcpFlags::ACK, irs + 1, iss + 1)
        .ports(syn.repr.src_port, syn.repr.dst_port)
        .window(syn.repr.window);
    if let (Some((tsval, _)), Some((their, _))) =
        (syn.repr.options.timestamps, sa.options().timestamps)
    {
        ack = ack.ts(tsval, their);
    }
    let out = host.send(&ack);
    assert!(
        out.iter().all(|s| !s.flags().contains(TcpFlags::RST)),
        "handshake ACK refused: {out:?}"
    );
    let local = SocketAddrV4::new(SERVER, syn.repr.dst_port);
    let remote = SocketAddrV4::new(CLIENT, syn.repr.src_port);
    let h = host
        .core
        .find(local, remote)
        .expect("connection after handshake");
    assert_eq!(host.core.state(h), Some(State::Established));
    (h, iss, irs)
}
