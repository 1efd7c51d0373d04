//! Two sans-IO cores joined by a simulated link with a virtual clock, seeded impairments,
//! and small server/client applications for transfers.

#![allow(dead_code)]

use nmio::Instant;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;
use tcpip::sink::VecSink;
use tcpip::siphash::Key;
use tcpip::{CloseReason, Conn, Handle, ObjectId, TcpApp, TcpConfig, TcpCore};

pub const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const PORT: u16 = 80;

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
        }
    }

    /// Put the sink's segments on the wire from `from`.
    pub fn transmit(&mut self, from: Side, sink: &mut VecSink) {
        for (src, dst, bytes) in sink.drain() {
            let pkt = Packet { src, dst, bytes };
            if self.keep_trace {
                self.trace.push((from, pkt.clone()));
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
        let mut sink = VecSink::new(1024);
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
        let mut sink = VecSink::new(1024);
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
        let mut sink = VecSink::new(1024);
        let r = self.client.act(self.now, h, &mut self.capp, &mut sink, f);
        self.transmit(Side::Client, &mut sink);
        r
    }

    /// Act on a server connection.
    pub fn server_act<R>(&mut self, h: Handle, f: impl FnOnce(&mut Conn<'_>) -> R) -> Option<R> {
        let mut sink = VecSink::new(1024);
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
        let mut csink = VecSink::new(4096);
        let mut ssink = VecSink::new(4096);
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
    pub data: BTreeMap<usize, Vec<u8>>,
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
            .entry(conn.handle().index())
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
