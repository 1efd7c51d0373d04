//! Issue 4 acceptance: 500 seeded transfers between our client and our server over the
//! simulated wire.
//!
//! Each side is a whole stack, `eth::Stack<tcpip::Tcp<_>>` on its own `nmio::EventLoop`;
//! the two loops sit on the ends of one `pipe` pair and share one `VirtualClock`. The
//! client's end is wrapped in the `impair` backend, so both directions suffer loss (up to
//! 10%), delay, jitter, reordering, duplication and bit flips, drawn per transfer from its
//! seed (the server's end stays a bare pipe port, so its prepared segments take the pipe's
//! zero-copy path). Every transfer must arrive byte-exact, finish within [`VIRTUAL_LIMIT`]
//! of virtual time, and leave both connection tables empty.
//!
//! The driver ([`Sim`]) runs both loops until nothing moves, then moves the clock to the
//! next thing that can happen: a loop timer, a frame on the wire, or, while the impair
//! backend may hold frames back (it does not say when they are due), the next
//! [`QUANTUM`]. Nothing sleeps; a transfer is a pure function of its seed.
//!
//! A failure names its seed and plan. Replay one transfer alone with
//! `PIPE_SIM_SEED=<seed> cargo test -p tcpip --test pipe_sim replay -- --nocapture`.

use eth::wire::MacAddr;
use eth::{IfaceConfig, Stack};
use nmio::backend::impair::{ImpairConfig, ImpairedPort};
use nmio::backend::impair_model::{ImpairStats, Impairments};
use nmio::backend::pipe::{self, PipeConfig, PipePort};
use nmio::{Clock, EventLoop, Instant, LoopConfig, Port, PrepMode, VirtualClock};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;
use tcpip::cc::CcKind;
use tcpip::siphash::Key;
use tcpip::stats::TcpStats;
use tcpip::{CloseReason, Conn, Handle, ObjectId, Tcp, TcpApp, TcpConfig, TcpCore};

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 80;
const MIB4: usize = 4 << 20;

/// Transfers in the acceptance run.
const TRANSFERS: u64 = 500;
/// The run is split into this many tests, seeds interleaved, so they use both cores.
const PARTS: u64 = 4;
/// From the connect to both tables empty (TIME-WAIT included). The slowest of the run take
/// about 100 s: 3 MiB through 6-10% loss each way without timestamps, where Karn's rule
/// keeps the RTO backed off.
const VIRTUAL_LIMIT: Duration = Duration::from_secs(300);
/// TIME-WAIT in the simulation instead of 60 s. It must outlast the client's LAST-ACK
/// retransmissions, or a lost final ACK ends in a reset instead of a clean close: 5 s covers
/// four consecutive losses of the FIN or its ACK from a 200 ms RTO.
const TIME_WAIT: Duration = Duration::from_secs(5);
/// Clock step while the impair backend may still hold frames.
const QUANTUM: Duration = Duration::from_micros(500);
/// Payload of a prepared segment: MSS 1460 less 12 for timestamps.
const SEG_SIZE: u16 = 1448;
/// Sizes every run includes (each once streamed, once prepared).
const SPECIAL_SIZES: [usize; 9] = [0, 1, 1448, 1449, 2896, 65_536, MIB4 - 1449, MIB4 - 1, MIB4];

/// SplitMix64, for plans and objects.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed ^ 0x51_7cc1_b727_220a)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    fn millis(&mut self, max: u64) -> Duration {
        Duration::from_micros(self.below(max * 1000 + 1))
    }
}

/// `len` bytes that depend on `seed` and on the position.
fn object(len: usize, seed: u64) -> Rc<[u8]> {
    let mut r = Rng::new(seed);
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        v.extend_from_slice(&r.next().to_le_bytes());
    }
    v.truncate(len);
    v.into()
}

/// How the server sends its object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `Conn::send`, refilled from `on_acked`.
    Stream,
    /// `Tcp::prepare` once, then `Conn::send_prepared`; frames leave in this mode.
    Prepared(PrepMode),
}

/// Everything a transfer does, drawn from its seed.
#[derive(Clone, Debug)]
struct Plan {
    seed: u64,
    len: usize,
    request: usize,
    mode: Mode,
    static_arp: bool,
    /// Client to server (the client port's TX).
    to_server: Impairments,
    /// Server to client (the client port's RX).
    to_client: Impairments,
    client_tcp: TcpConfig,
    server_tcp: TcpConfig,
    /// The server's port cuts TCP super-segments itself (the pipe's software TSO); the
    /// client's impair wrapper always does.
    tso: bool,
}

impl Plan {
    fn new(seed: u64) -> Plan {
        let mut r = Rng::new(seed.wrapping_mul(0x2545_f491_4f6c_dd1d));
        let specials = 2 * SPECIAL_SIZES.len() as u64;
        // Log-uniform below 4 MiB: most transfers are small, which keeps the run short,
        // and every size class up to 4 MiB gets its share.
        let len = if seed < specials {
            SPECIAL_SIZES[(seed / 2) as usize]
        } else {
            ((MIB4 as f64).powf(r.unit()) as usize - 1).min(MIB4)
        };
        let mode = match (seed % 2, (seed / 2) % 2) {
            (0, _) => Mode::Stream,
            (_, 0) => Mode::Prepared(PrepMode::PreCopy),
            _ => Mode::Prepared(PrepMode::Memcpy),
        };
        Plan {
            seed,
            len,
            request: 1 + r.below(3000) as usize,
            mode,
            static_arp: !r.chance(0.25),
            to_server: impairments(&mut r),
            to_client: impairments(&mut r),
            client_tcp: tcp_config(&mut r),
            server_tcp: tcp_config(&mut r),
            // From the seed, not `r`, so adding it left every other draw as it was.
            tso: (seed / 4) % 2 == 1,
        }
    }

    /// The same transfer on a link that only delays.
    fn clean(mut self) -> Plan {
        let delay = Impairments {
            delay: Duration::from_millis(5),
            ..Impairments::none()
        };
        self.to_server = delay.clone();
        self.to_client = delay;
        self
    }
}

/// Every impairment, each at a random rate.
fn impairments(r: &mut Rng) -> Impairments {
    Impairments {
        loss: r.unit() * 0.10,
        delay: r.millis(20),
        jitter: if r.chance(0.5) {
            r.millis(5)
        } else {
            Duration::ZERO
        },
        reorder: r.unit() * 0.2,
        reorder_gap: Duration::from_millis(1 + r.below(10)),
        duplicate: r.unit() * 0.03,
        corrupt: r.unit() * 0.02,
        rate_bps: 0,
    }
}

/// Defaults with a short TIME-WAIT, a small table, and the options each side offers drawn
/// at random (negotiation then decides what the connection uses).
fn tcp_config(r: &mut Rng) -> TcpConfig {
    let mut c = TcpConfig::for_mtu(1500);
    c.max_connections = 16;
    c.max_time_wait = 16;
    c.time_wait = TIME_WAIT;
    c.cc = if r.chance(0.5) {
        CcKind::Cubic
    } else {
        CcKind::NewReno
    };
    c.sack = r.chance(0.75);
    c.timestamps = r.chance(0.75);
    if r.chance(0.2) {
        c.window_scaling = false;
        c.recv_window = 65_535;
    }
    c
}

/// Sends a request, checks every byte of the answer as it arrives, closes after the peer.
struct Client {
    expect: Rc<[u8]>,
    request: Rc<[u8]>,
    request_sent: usize,
    got: usize,
    /// First offset where the answer differed, or went past the object.
    mismatch: Option<usize>,
    connected: u32,
    closed: Option<CloseReason>,
}

impl Client {
    fn pump(&mut self, conn: &mut Conn<'_>) {
        if self.request_sent < self.request.len() {
            self.request_sent += conn.send(&self.request[self.request_sent..]);
        }
    }
}

impl TcpApp for Client {
    fn on_connected(&mut self, conn: &mut Conn<'_>) {
        self.connected += 1;
        self.pump(conn);
    }
    fn on_acked(&mut self, conn: &mut Conn<'_>, _bytes: usize) {
        self.pump(conn);
    }
    fn on_data(&mut self, _conn: &mut Conn<'_>, data: &[u8]) {
        let end = self.got + data.len();
        if self.mismatch.is_none() {
            match self.expect.get(self.got..end) {
                Some(want) if want == data => {}
                Some(want) => {
                    let i = want.iter().zip(data).position(|(a, b)| a != b);
                    self.mismatch = Some(self.got + i.unwrap_or(0));
                }
                None => self.mismatch = Some(self.got.max(self.expect.len())),
            }
        }
        self.got = end;
    }
    fn on_closed(&mut self, _h: Handle, reason: CloseReason) {
        self.closed = Some(reason);
    }
}

/// Where the server is with its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    /// The request is not complete yet.
    Waiting,
    /// Streaming; this many bytes of the object are queued.
    Streaming(usize),
    /// All queued and the FIN requested.
    Queued,
}

/// Reads the whole request, checks it, answers with the object and closes.
struct Server {
    object: Rc<[u8]>,
    request: Rc<[u8]>,
    mode: Mode,
    prepared: Option<ObjectId>,
    received: usize,
    bad_request: bool,
    answer: Answer,
    send_error: Option<tcpip::SendError>,
    accepted: u32,
    closed: Option<CloseReason>,
}

impl Server {
    fn pump(&mut self, conn: &mut Conn<'_>) {
        let Answer::Streaming(sent) = self.answer else {
            return;
        };
        let n = sent + conn.send(&self.object[sent..]);
        if n == self.object.len() {
            self.answer = Answer::Queued;
            conn.close();
        } else {
            self.answer = Answer::Streaming(n);
        }
    }

    fn serve(&mut self, conn: &mut Conn<'_>) {
        match (self.mode, self.prepared) {
            (Mode::Prepared(_), Some(id)) => {
                self.answer = Answer::Queued;
                if let Err(e) = conn.send_prepared(id) {
                    self.send_error = Some(e);
                }
                conn.close();
            }
            _ => {
                self.answer = Answer::Streaming(0);
                self.pump(conn);
            }
        }
    }
}

impl TcpApp for Server {
    fn on_accept(&mut self, _conn: &mut Conn<'_>) {
        self.accepted += 1;
    }
    fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
        let end = self.received + data.len();
        if self.request.get(self.received..end) != Some(data) {
            self.bad_request = true;
        }
        let complete = self.received < self.request.len() && end >= self.request.len();
        self.received = end;
        if complete {
            self.serve(conn);
        }
    }
    fn on_acked(&mut self, conn: &mut Conn<'_>, _bytes: usize) {
        self.pump(conn);
    }
    fn on_closed(&mut self, _h: Handle, reason: CloseReason) {
        self.closed = Some(reason);
    }
}

type ClientPort = ImpairedPort<PipePort, VirtualClock>;

/// Two stacks on the two ends of a pipe, one clock.
struct Sim {
    clock: VirtualClock,
    client: Stack<Tcp<Client>>,
    cev: EventLoop<ClientPort, VirtualClock>,
    server: Stack<Tcp<Server>>,
    sev: EventLoop<PipePort, VirtualClock>,
    /// Longest a frame can be held back by the impair backend.
    max_hold: Duration,
    /// Frames the impair backend has judged so far.
    judged: u64,
    /// Until when the impair backend may hold frames.
    held_until: Instant,
    passes: u64,
}

fn keys(seed: u64, side: u64) -> [Key; 3] {
    [
        Key([seed, side]),
        Key([seed ^ 0x5555, side + 2]),
        Key([seed ^ 0xaaaa, side + 4]),
    ]
}

fn max_hold(im: &Impairments) -> Duration {
    im.delay + im.jitter + im.reorder_gap.max(Duration::from_millis(1))
}

impl Sim {
    fn new(plan: &Plan) -> Sim {
        let clock = VirtualClock::new(Instant::from_millis(1_000));
        let segments = plan.len.div_ceil(usize::from(SEG_SIZE));
        let (a, b) = pipe::pair(PipeConfig {
            wire_capacity: 512,
            seed: plan.seed,
            prepared_capacity: segments + 16,
            clock: Some(clock.clone()),
            tso_max: if plan.tso { nmio::tso::MAX_FRAME } else { 0 },
            ..PipeConfig::default()
        })
        .unwrap();
        let a = ImpairedPort::new(
            a,
            clock.clone(),
            ImpairConfig {
                rx: plan.to_client.clone(),
                tx: plan.to_server.clone(),
                seed: plan.seed,
                hold: 512,
            },
        )
        .unwrap();
        let lcfg = LoopConfig {
            timer_capacity: 1024,
            ..LoopConfig::default()
        };
        let mut cev = EventLoop::new(a, clock.clone(), lcfg);
        let mut sev = EventLoop::new(b, clock.clone(), lcfg);
        let (cmac, smac) = (cev.port().caps().mac, sev.port().caps().mac);
        let mut ccfg = IfaceConfig::for_port(cev.port().caps(), CLIENT, 24);
        let mut scfg = IfaceConfig::for_port(sev.port().caps(), SERVER, 24);
        if plan.static_arp {
            ccfg.arp.static_entries = vec![(SERVER, MacAddr(smac))];
            scfg.arp.static_entries = vec![(CLIENT, MacAddr(cmac))];
        }

        let now = clock.now();
        let expect = object(plan.len, plan.seed);
        let request = object(plan.request, !plan.seed);
        let capp = Client {
            expect: expect.clone(),
            request: request.clone(),
            request_sent: 0,
            got: 0,
            mismatch: None,
            connected: 0,
            closed: None,
        };
        let sapp = Server {
            object: expect.clone(),
            request,
            mode: plan.mode,
            prepared: None,
            received: 0,
            bad_request: false,
            answer: Answer::Waiting,
            send_error: None,
            accepted: 0,
            closed: None,
        };
        let ccore = TcpCore::with_keys(plan.client_tcp.clone(), now, keys(plan.seed, 1)).unwrap();
        let mut score =
            TcpCore::with_keys(plan.server_tcp.clone(), now, keys(plan.seed, 2)).unwrap();
        score.listen(PORT).unwrap();
        let prep_mode = match plan.mode {
            Mode::Prepared(m) => m,
            Mode::Stream => PrepMode::Memcpy,
        };
        let mut client = Stack::new(ccfg, Tcp::new(ccore, capp, PrepMode::Memcpy), now).unwrap();
        let mut server = Stack::new(scfg, Tcp::new(score, sapp, prep_mode), now).unwrap();
        client.start_on(&mut cev);
        server.start_on(&mut sev);

        if let Mode::Prepared(_) = plan.mode {
            let id = sev
                .with_context(|cx| {
                    server.with_upper(cx, |tcp, ip| tcp.prepare(ip, &expect, SEG_SIZE))
                })
                .unwrap();
            server.upper_mut().app_mut().prepared = Some(id);
        }
        cev.with_context(|cx| {
            client.with_upper(cx, |tcp, ip| {
                tcp.connect(
                    ip,
                    SocketAddrV4::new(CLIENT, 0),
                    SocketAddrV4::new(SERVER, PORT),
                )
            })
        })
        .unwrap();
        cev.flush();

        Sim {
            clock,
            client,
            cev,
            server,
            sev,
            max_hold: max_hold(&plan.to_server).max(max_hold(&plan.to_client)),
            judged: 0,
            held_until: now,
            passes: 0,
        }
    }

    fn impair_stats(&self) -> (ImpairStats, ImpairStats) {
        let p = self.cev.port();
        (p.tx_impair_stats(), p.rx_impair_stats())
    }

    /// Run both loops until neither has anything left to do at this instant.
    fn settle(&mut self) -> Result<(), String> {
        for _ in 0..1_000_000 {
            self.passes += 1;
            let n = self.cev.run_once(&mut self.client) + self.sev.run_once(&mut self.server);
            if n == 0 && !self.sev.port().wire_busy() {
                let (tx, rx) = self.impair_stats();
                if tx.frames + rx.frames != self.judged {
                    self.judged = tx.frames + rx.frames;
                    self.held_until = self.clock.now() + self.max_hold;
                }
                return Ok(());
            }
        }
        Err("the loops never went idle".into())
    }

    /// Move the clock to the next moment something can happen.
    fn advance(&mut self) {
        let now = self.clock.now();
        let mut next = [
            self.cev.next_deadline(),
            self.sev.next_deadline(),
            self.sev.port().next_arrival(),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now + Duration::from_millis(100));
        if now < self.held_until {
            next = next.min(now + QUANTUM);
        }
        // A timer wheel may name an instant it then finds nothing at; never stand still.
        if next <= now {
            next = now + Duration::from_millis(1);
        }
        self.clock.advance_to(next);
    }

    fn done(&self) -> bool {
        self.client.upper().app().closed.is_some()
            && self.server.upper().app().closed.is_some()
            && self.client.upper().core().connections() == 0
            && self.server.upper().core().connections() == 0
    }
}

/// What a transfer did.
#[derive(Debug, Default, Clone, Copy)]
struct Outcome {
    bytes: u64,
    virtual_time: Duration,
    /// Longest virtual time without a byte delivered to the client, until the last.
    stall: Duration,
    client: TcpStats,
    server: TcpStats,
    to_server: ImpairStats,
    to_client: ImpairStats,
    passes: u64,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} bytes in {:.3} s virtual, longest stall {:.3} s ({} passes)\n  client {}\n  \
             server {}\n  impair to server {:?}\n  impair to client {:?}",
            self.bytes,
            self.virtual_time.as_secs_f64(),
            self.stall.as_secs_f64(),
            self.passes,
            self.client,
            self.server,
            self.to_server,
            self.to_client
        )
    }
}

/// Run one transfer and check everything the issue asks of it.
fn transfer(plan: &Plan) -> Result<Outcome, String> {
    let mut sim = Sim::new(plan);
    let start = sim.clock.now();
    let limit = start + VIRTUAL_LIMIT;
    let (mut got, mut progress, mut stall) = (0, start, Duration::ZERO);
    let finished = loop {
        sim.settle()?;
        let now = sim.clock.now();
        if sim.client.upper().app().got != got || got == plan.len {
            got = sim.client.upper().app().got;
            stall = stall.max(now - progress);
            progress = now;
        }
        if sim.done() {
            break true;
        }
        if sim.clock.now() >= limit {
            break false;
        }
        sim.advance();
    };
    let (to_server, to_client) = sim.impair_stats();
    let (ctcp, stcp) = (sim.client.upper(), sim.server.upper());
    let (capp, sapp) = (ctcp.app(), stcp.app());
    let out = Outcome {
        bytes: capp.got as u64,
        virtual_time: sim.clock.now() - start,
        stall,
        client: *ctcp.stats(),
        server: *stcp.stats(),
        to_server,
        to_client,
        passes: sim.passes,
    };
    let fail = |what: String| {
        Err(format!(
            "{what}\n  client app: connected {} got {} mismatch {:?} closed {:?}, \
             {} connection(s) left\n  server app: accepted {} request {}/{} bad {} answer {:?} \
             error {:?} closed {:?}, {} connection(s) left\n  client eth {}\n  \
             server eth {}\n  {out}",
            capp.connected,
            capp.got,
            capp.mismatch,
            capp.closed,
            ctcp.core().connections(),
            sapp.accepted,
            sapp.received,
            plan.request,
            sapp.bad_request,
            sapp.answer,
            sapp.send_error,
            sapp.closed,
            stcp.core().connections(),
            sim.client.stats(),
            sim.server.stats(),
        ))
    };
    if !finished {
        return fail(format!(
            "not finished after {VIRTUAL_LIMIT:?} of virtual time"
        ));
    }
    if capp.got != plan.len || capp.mismatch.is_some() {
        return fail(format!(
            "client got {} of {} bytes, first difference at {:?}",
            capp.got, plan.len, capp.mismatch
        ));
    }
    if sapp.received != plan.request || sapp.bad_request {
        return fail("the server did not get the request intact".into());
    }
    if sapp.send_error.is_some() {
        return fail("send_prepared refused".into());
    }
    if capp.closed != Some(CloseReason::Normal) || sapp.closed != Some(CloseReason::Normal) {
        return fail("not a normal close on both sides".into());
    }
    let (c, s) = (&out.client, &out.server);
    // A corrupted frame that is then duplicated fails its checksum twice.
    let corrupted = 2 * (to_server.corrupted + to_client.corrupted);
    // The server closes first and waits in TIME-WAIT. A stale duplicate from the client
    // arriving then is answered with an ACK, the client (already closed) answers that with
    // a reset at exactly RCV.NXT, and RFC 9293 3.10.7.4 (like Linux's default,
    // tcp_rfc1337=0) lets that reset end TIME-WAIT early: counted as aborted, after the
    // application already heard a normal close.
    let server_closed = (s.closed == 1 && s.aborted == 0 && s.rx_rst == 0)
        || (s.closed == 0 && s.aborted == 1 && s.rx_rst == 1 && c.tx_rst > 0);
    let sane = [
        (
            "client connected once",
            c.connected == 1 && capp.connected == 1,
        ),
        (
            "server accepted once",
            s.accepted == 1 && sapp.accepted == 1,
        ),
        (
            "client closed normally",
            c.closed == 1 && c.aborted + c.connect_failed + c.rx_rst == 0,
        ),
        ("server closed normally (or TIME-WAIT reset)", server_closed),
        (
            "client rx_bytes is the object",
            c.rx_bytes == plan.len as u64,
        ),
        (
            "server rx_bytes is the request",
            s.rx_bytes == plan.request as u64,
        ),
        ("server sent the object", s.tx_bytes >= plan.len as u64),
        (
            "bad checksums only from corruption",
            c.rx_bad_checksum + s.rx_bad_checksum <= corrupted,
        ),
        (
            "prepared segments (or super-segments) used",
            plan.len == 0
                || matches!(plan.mode, Mode::Stream)
                || s.tx_prepared + s.tx_prepared_resegmented + s.tx_tso > 0,
        ),
    ];
    if let Some((what, _)) = sane.iter().find(|(_, ok)| !ok) {
        return fail(format!("counters: {what}"));
    }
    Ok(out)
}

/// Run the transfers of `seeds`, print one summary line, fail with every failing seed.
fn run(name: &str, seeds: impl Iterator<Item = u64>) {
    let wall = std::time::Instant::now();
    let mut outs = Vec::new();
    let mut failures = Vec::new();
    for seed in seeds {
        let plan = Plan::new(seed);
        match catch_unwind(AssertUnwindSafe(|| transfer(&plan))) {
            Ok(Ok(o)) => outs.push((seed, o)),
            Ok(Err(e)) => failures.push(format!("seed {seed}: {e}\n  plan {plan:?}")),
            Err(_) => failures.push(format!("seed {seed}: panicked\n  plan {plan:?}")),
        }
    }
    let sum = |f: fn(&Outcome) -> u64| outs.iter().map(|(_, o)| f(o)).sum::<u64>();
    let max = |f: fn(&Outcome) -> Duration| {
        outs.iter()
            .map(|(seed, o)| (f(o), *seed))
            .max()
            .unwrap_or_default()
    };
    let (slowest, stalled) = (max(|o| o.virtual_time), max(|o| o.stall));
    println!(
        "{name}: {} transfers, {} bytes, {} TSO super-segments, {} retransmits ({} RTO expiries, {} fast), \
         {} frames lost, {} corrupted, {} TIME-WAITs ended by a reset, slowest {:.1} s \
         virtual (seed {}), longest stall {:.1} s (seed {}), {:.1} s wall",
        outs.len(),
        sum(|o| o.bytes),
        sum(|o| o.server.tx_tso),
        sum(|o| o.client.retransmits + o.server.retransmits),
        sum(|o| o.client.rto_expired + o.server.rto_expired),
        sum(|o| o.client.fast_retransmits + o.server.fast_retransmits),
        sum(|o| o.to_server.lost + o.to_client.lost),
        sum(|o| o.to_server.corrupted + o.to_client.corrupted),
        sum(|o| o.server.aborted),
        slowest.0.as_secs_f64(),
        slowest.1,
        stalled.0.as_secs_f64(),
        stalled.1,
        wall.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} of {} transfers failed:\n{}",
        failures.len(),
        failures.len() + outs.len(),
        failures.join("\n")
    );
}

fn part(k: u64) {
    let per = TRANSFERS / PARTS;
    run(
        &format!("pipe_sim part {}/{PARTS}", k + 1),
        (0..per).map(|i| i * PARTS + k),
    );
}

#[test]
fn seeded_transfers_part_1_byte_exact_and_all_tcbs_freed() {
    part(0);
}

#[test]
fn seeded_transfers_part_2_byte_exact_and_all_tcbs_freed() {
    part(1);
}

#[test]
fn seeded_transfers_part_3_byte_exact_and_all_tcbs_freed() {
    part(2);
}

#[test]
fn seeded_transfers_part_4_byte_exact_and_all_tcbs_freed() {
    part(3);
}

#[test]
fn tso_cuts_big_answers_into_super_segments_on_a_clean_link() {
    for seed in 0..2 * SPECIAL_SIZES.len() as u64 {
        let mut plan = Plan::new(seed).clean();
        plan.tso = true;
        let o = transfer(&plan).unwrap_or_else(|e| panic!("seed {seed} (TSO): {e}"));
        assert_eq!(o.server.retransmits, 0, "seed {seed}: {o}");
        if plan.len >= 65_536 {
            assert!(o.server.tx_tso > 0, "seed {seed}, {} bytes: {o}", plan.len);
        }
        plan.tso = false;
        let o = transfer(&plan).unwrap_or_else(|e| panic!("seed {seed} (no TSO): {e}"));
        assert_eq!(o.server.tx_tso, 0, "seed {seed}: {o}");
    }
}

#[test]
fn clean_link_transfers_never_retransmit() {
    for seed in 0..2 * SPECIAL_SIZES.len() as u64 {
        let plan = Plan::new(seed).clean();
        let o = transfer(&plan).unwrap_or_else(|e| panic!("seed {seed} (clean): {e}"));
        assert_eq!(
            o.client.retransmits + o.server.retransmits,
            0,
            "seed {seed} (clean), {} bytes: {o}",
            plan.len
        );
    }
}

/// `PIPE_SIM_SEED=<seed>` replays one transfer and prints what it did.
#[test]
fn replay() {
    let Ok(s) = std::env::var("PIPE_SIM_SEED") else {
        println!("replay: skipped (set PIPE_SIM_SEED to replay one transfer)");
        return;
    };
    let seed: u64 = s.parse().expect("PIPE_SIM_SEED must be a number");
    let plan = Plan::new(seed);
    println!("seed {seed}: {plan:?}");
    match transfer(&plan) {
        Ok(o) => println!("seed {seed}: ok, {o}"),
        Err(e) => panic!("seed {seed}: {e}"),
    }
}
