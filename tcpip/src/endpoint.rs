//! [`TcpCore`]: the sans-IO TCP of one core. Segments and a timestamp in, segments out into
//! a [`SegmentSink`], application events through [`TcpApp`].
//!
//! It owns the connection table ([`Table`], sized at start-up), the listeners, one timer
//! wheel for every connection's timers (a TCB keeps its earliest deadline in the wheel under
//! its [`Handle`] token), the ISN and SYN-cookie keys, the prepared objects, and recycled
//! buffers. Nothing in it allocates per segment; buffers are taken on first need and
//! recycled when connections end. No clock: every call takes `now`.
//!
//! A table entry is small: the TCB itself (over a kilobyte) lives in a box from a pool. A
//! connection entering TIME-WAIT leaves the table and gives its TCB back, keeping only
//! what that state needs (`TimeWaitState`) in a table of TIME-WAIT records of its own
//! (`timewait`; a segment for it gets a TCB again, in TIME-WAIT, for the ordinary rules).
//! A server that closes thousands of connections a second so keeps thousands of
//! TIME-WAIT records while its open connections keep reusing the same few table slots,
//! TCBs (the pool hands out the most recently freed first) and buffers, all in the cache.
//!
//! The crate documentation shows two cores wired together by hand.

use crate::app::{Conn, TcpApp, TxPool};
use crate::cc::CcKind;
use crate::config::{ConfigError, TcpConfig};
use crate::isn::{IsnGenerator, SynCookies};
use crate::prepared::{ObjectId, PreparedObject};
use crate::rack::TxSeg;
use crate::reset::reset_for;
use crate::ringbuf::RingBuf;
use crate::seq::Seq;
use crate::sink::SegmentSink;
use crate::siphash::Key;
use crate::stats::TcpStats;
use crate::table::{FourTuple, Handle, InsertError, Table};
use crate::tcb::{CloseReason, Env, Events, IcmpKind, PeerSyn, State, Tcb};
use crate::timewait::TimeWaits;
use crate::wire::{TcpFlags, TcpOptions, TcpPacket, TcpRepr};
use eth::ratelimit::TokenBucket;
use eth::wire::WireError;
use nmio::{Instant, TimerHandle, TimerWheel};
use std::collections::VecDeque;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

/// RFC 5961 7: challenge ACKs per second, all connections together (Linux's old
/// `tcp_challenge_ack_limit` default was 1000).
const CHALLENGE_ACKS_PER_SEC: u32 = 1000;
/// Out-of-order reassembly rings in use at once, all connections together (each
/// `recv_window` bytes); segments beyond that are dropped and counted.
const DEFAULT_REASSEMBLY_RINGS: usize = 256;
/// First ephemeral port (RFC 6335).
const EPHEMERAL: u16 = 49152;
/// Room kept for the ACKs one receive batch may owe (more grows the list once).
const BATCH_ACKS_RESERVED: usize = 256;

/// The [`Env`] a TCB works in, borrowing only the core's fields it needs (a macro, not a
/// method, so the borrow of a TCB in `self.table` can stay alive next to it).
macro_rules! env {
    ($core:ident, $now:expr) => {
        Env {
            now: $now,
            cfg: &$core.cfg,
            stats: &mut $core.stats,
            challenge: &mut $core.challenge,
            objects: &$core.objects,
            seg_pool: &mut $core.seg_pool,
        }
    };
}

/// Run a segment through a TCB with the core's receive pools (`$tcb` may live in the
/// table: the macro borrows only the other fields of the core).
macro_rules! run_segment {
    ($core:ident, $tcb:expr, $now:expr, $seg:expr, $payload:expr, $ev:expr) => {{
        let mut env = env!($core, $now);
        $tcb.on_segment(
            &mut env,
            $seg,
            $payload,
            $ev,
            &mut $core.rx_pool,
            &mut $core.rx_budget,
        );
    }};
}

/// A listening port.
#[derive(Clone, Copy, Debug)]
struct Listener {
    port: u16,
    cc: CcKind,
}

/// Why a listen or connect failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpError {
    /// Port 0, or already listening.
    BadPort,
    /// The connection table is full.
    TableFull,
    /// No free ephemeral port for this destination.
    NoPort,
    /// The four-tuple is in use.
    InUse,
}

impl fmt::Display for TcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TcpError::BadPort => "tcp: port 0 or already listening",
            TcpError::TableFull => "tcp: connection table full",
            TcpError::NoPort => "tcp: no free ephemeral port",
            TcpError::InUse => "tcp: address and port pair in use",
        })
    }
}

impl std::error::Error for TcpError {}

/// An open connection in the table: its TCB (in a box from the core's pool, so the
/// table's entries stay small) and the core's bookkeeping for it.
struct Slot {
    tcb: Box<Tcb>,
    /// The wheel entry at the connection's earliest deadline.
    timer: Option<(TimerHandle, Instant)>,
    /// Counted in `half_open`.
    half_open: bool,
}

impl Slot {
    fn new(tcb: Box<Tcb>, half_open: bool) -> Slot {
        Slot {
            tcb,
            timer: None,
            half_open,
        }
    }

    fn tcb(&self) -> &Tcb {
        &self.tcb
    }

    fn tcb_mut(&mut self) -> &mut Tcb {
        &mut self.tcb
    }
}

/// Full TCBs not in use, most recently freed last: a new connection takes the one most
/// likely still in the cache, and none is allocated once the pool has grown to the most
/// connections open at once.
#[derive(Default)]
struct TcbPool {
    // Boxes, not TCBs: each moves between the pool and a table entry as a pointer.
    #[allow(clippy::vec_box)]
    free: Vec<Box<Tcb>>,
    allocated: usize,
}

impl TcbPool {
    fn boxed(&mut self, tcb: Tcb) -> Box<Tcb> {
        match self.free.pop() {
            Some(mut b) => {
                *b = tcb;
                b
            }
            None => {
                self.allocated += 1;
                Box::new(tcb)
            }
        }
    }

    fn give_back(&mut self, b: Box<Tcb>) {
        self.free.push(b);
    }
}

/// The sans-IO TCP of one core. See the [module docs](self).
pub struct TcpCore {
    cfg: TcpConfig,
    table: Table<Slot>,
    listeners: Vec<Listener>,
    timers: TimerWheel<u64>,
    isn: IsnGenerator,
    cookies: SynCookies,
    stats: TcpStats,
    challenge: TokenBucket,
    half_open: usize,
    time_waits: TimeWaits,
    tcbs: TcbPool,
    objects: Vec<PreparedObject>,
    rx_pool: Vec<RingBuf>,
    rx_budget: usize,
    tx_pool: TxPool,
    /// In-flight record buffers of closed connections, for the next ones.
    seg_pool: Vec<VecDeque<TxSeg>>,
    next_port: u16,
    /// Inside a receive batch (`begin_batch` .. `end_batch`).
    batching: bool,
    /// Connections owed an ACK at the batch's end.
    batch_acks: Vec<Handle>,
}

impl TcpCore {
    /// A core with random keys.
    pub fn new(cfg: TcpConfig, now: Instant) -> Result<Self, ConfigError> {
        Self::with_keys(cfg, now, [Key::random(), Key::random(), Key::random()])
    }

    /// A core with the given keys (table hash, ISNs, cookies): for reproducible tests.
    pub fn with_keys(cfg: TcpConfig, now: Instant, keys: [Key; 3]) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let timers = TimerWheel::new(cfg.max_connections + 1, Duration::from_millis(1), 4096, now);
        Ok(TcpCore {
            table: Table::new(cfg.max_connections, keys[0]),
            listeners: Vec::new(),
            timers,
            isn: IsnGenerator::new(keys[1]),
            cookies: SynCookies::new(keys[2]),
            stats: TcpStats::default(),
            challenge: TokenBucket::new(CHALLENGE_ACKS_PER_SEC, CHALLENGE_ACKS_PER_SEC, now),
            half_open: 0,
            time_waits: TimeWaits::new(cfg.max_time_wait, keys[0]),
            tcbs: TcbPool::default(),
            objects: Vec::new(),
            rx_pool: Vec::new(),
            rx_budget: DEFAULT_REASSEMBLY_RINGS,
            tx_pool: TxPool::default(),
            seg_pool: Vec::new(),
            next_port: EPHEMERAL + (keys[1].0[0] % u64::from(u16::MAX - EPHEMERAL + 1)) as u16,
            batching: false,
            batch_acks: Vec::with_capacity(BATCH_ACKS_RESERVED),
            cfg,
        })
    }

    /// The settings.
    pub fn config(&self) -> &TcpConfig {
        &self.cfg
    }

    /// Counters.
    pub fn stats(&self) -> &TcpStats {
        &self.stats
    }

    /// Connections held: open ones and those in TIME-WAIT.
    pub fn connections(&self) -> usize {
        self.table.len() + self.time_waits.len()
    }

    /// Connections in TIME-WAIT.
    pub fn time_wait_count(&self) -> usize {
        self.time_waits.len()
    }

    /// Full TCBs allocated so far, in use or pooled for reuse: at most the connections open
    /// at once, TIME-WAIT not counted (it keeps a small record instead).
    pub fn full_tcbs(&self) -> usize {
        self.tcbs.allocated
    }

    /// The state of an open connection; `None` once it is closed or in TIME-WAIT, where
    /// it keeps only a record by four-tuple (see [`state_of`](Self::state_of)). The
    /// application hears [`TcpApp::on_closed`] when either begins.
    pub fn state(&self, h: Handle) -> Option<State> {
        self.table.get(h).map(|s| s.tcb.state)
    }

    /// The state of the connection on a four-tuple, TIME-WAIT included.
    pub fn state_of(&self, local: SocketAddrV4, remote: SocketAddrV4) -> Option<State> {
        let t = FourTuple { local, remote };
        let hash = self.table.hash_of(&t);
        match self.table.find_hashed(&t, hash) {
            Some(h) => self.state(h),
            None => self
                .time_waits
                .find_hashed(&t, hash)
                .map(|_| State::TimeWait),
        }
    }

    /// An open connection's TCB, to look at.
    pub fn tcb(&self, h: Handle) -> Option<&Tcb> {
        self.table.get(h).map(Slot::tcb)
    }

    /// The handle of the open connection on this four-tuple (not one in TIME-WAIT: see
    /// [`state_of`](Self::state_of)).
    pub fn find(&self, local: SocketAddrV4, remote: SocketAddrV4) -> Option<Handle> {
        self.table.find(&FourTuple { local, remote })
    }

    /// Accept connections on `port` (any local address), with the default congestion
    /// control.
    pub fn listen(&mut self, port: u16) -> Result<(), TcpError> {
        self.listen_with(port, self.cfg.cc)
    }

    /// Accept connections on `port`, their congestion control being `cc`.
    pub fn listen_with(&mut self, port: u16, cc: CcKind) -> Result<(), TcpError> {
        if port == 0 || self.listeners.iter().any(|l| l.port == port) {
            return Err(TcpError::BadPort);
        }
        self.listeners.push(Listener { port, cc });
        Ok(())
    }

    /// Stop listening on `port` (connections already accepted go on).
    pub fn unlisten(&mut self, port: u16) -> bool {
        let before = self.listeners.len();
        self.listeners.retain(|l| l.port != port);
        before != self.listeners.len()
    }

    /// Register an object for [`Conn::send_prepared`], cut at `seg_size` bytes per segment
    /// (pick the MSS the peers are expected to have, less 12 for timestamps: 1448 on
    /// Ethernet).
    pub fn prepare(&mut self, data: &[u8], seg_size: u16) -> ObjectId {
        self.objects.push(PreparedObject::new(data, seg_size));
        ObjectId(self.objects.len() as u32 - 1)
    }

    /// Overwrite part of a prepared object (see [`PreparedObject::patch`]); false if `id`
    /// is unknown or the span not inside it.
    pub fn patch_prepared(&mut self, id: ObjectId, offset: usize, bytes: &[u8]) -> bool {
        self.objects
            .get_mut(id.0 as usize)
            .is_some_and(|o| o.patch(offset, bytes))
    }

    /// A registered object.
    pub fn object(&self, id: ObjectId) -> Option<&PreparedObject> {
        self.objects.get(id.0 as usize)
    }

    /// The objects, by [`ObjectId`] index.
    pub fn objects(&self) -> &[PreparedObject] {
        &self.objects
    }

    /// When [`on_timeout`](Self::on_timeout) next has work (`None`: no timer pending).
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.timers.next_deadline(), self.time_waits.next_end()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Open a connection from `local` (port 0: an ephemeral port) to `remote`; the SYN goes
    /// into `sink`. The application hears [`TcpApp::on_connected`] or `on_closed`.
    pub fn connect(
        &mut self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        sink: &mut impl SegmentSink,
    ) -> Result<Handle, TcpError> {
        self.connect_with(now, local, remote, self.cfg.cc, sink)
    }

    /// [`connect`](Self::connect) with a congestion control of its own.
    pub fn connect_with(
        &mut self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        cc: CcKind,
        sink: &mut impl SegmentSink,
    ) -> Result<Handle, TcpError> {
        if self.table.is_full() {
            self.stats.table_full += 1;
            return Err(TcpError::TableFull);
        }
        let (tuple, hash) = if local.port() == 0 {
            self.ephemeral(*local.ip(), remote)?
        } else {
            let tuple = FourTuple { local, remote };
            let hash = self.table.hash_of(&tuple);
            if self.time_waits.find_hashed(&tuple, hash).is_some() {
                return Err(TcpError::InUse);
            }
            (tuple, hash)
        };
        let local = tuple.local;
        let (iss, ts_offset) = self.isn.isn_and_ts_offset(now, local, remote);
        let mut tcb = Tcb::connect(local, remote, iss, &self.cfg, cc, now);
        tcb.set_ts_offset(ts_offset);
        let slot = Slot::new(self.tcbs.boxed(tcb), false);
        let h = match self.table.insert_hashed(tuple, hash, slot) {
            Ok(h) => h,
            Err(e) => {
                let full = matches!(e, InsertError::Full(_));
                self.tcbs.give_back(e.into_value().tcb);
                return Err(if full {
                    TcpError::TableFull
                } else {
                    TcpError::InUse
                });
            }
        };
        self.finish(now, h, Events::default(), &[], &mut (), sink);
        Ok(h)
    }

    /// A four-tuple from `ip` on a free ephemeral port to `remote`, in neither table, and
    /// its hash.
    fn ephemeral(
        &mut self,
        ip: Ipv4Addr,
        remote: SocketAddrV4,
    ) -> Result<(FourTuple, u32), TcpError> {
        let span = u32::from(u16::MAX - EPHEMERAL) + 1;
        for _ in 0..span {
            let port = self.next_port;
            self.next_port = if port == u16::MAX {
                EPHEMERAL
            } else {
                port + 1
            };
            let local = SocketAddrV4::new(ip, port);
            if self.listeners.iter().any(|l| l.port == port) {
                continue;
            }
            let t = FourTuple { local, remote };
            let hash = self.table.hash_of(&t);
            if self.table.find_hashed(&t, hash).is_none()
                && self.time_waits.find_hashed(&t, hash).is_none()
            {
                return Ok((t, hash));
            }
        }
        Err(TcpError::NoPort)
    }

    /// Act on a connection outside a callback (send, close, abort): `f` gets its [`Conn`],
    /// then the core sends what it may. `None` if the handle is stale.
    pub fn act<A: TcpApp, R>(
        &mut self,
        now: Instant,
        h: Handle,
        app: &mut A,
        sink: &mut impl SegmentSink,
        f: impl FnOnce(&mut Conn<'_>) -> R,
    ) -> Option<R> {
        let tcb = self.table.get_mut(h)?.tcb_mut();
        if tcb.state == State::Closed || !tcb.app_visible {
            return None;
        }
        let mut conn = Conn {
            handle: h,
            tcb,
            tx_pool: &mut self.tx_pool,
            objects: &self.objects,
            cfg: &self.cfg,
        };
        let r = f(&mut conn);
        self.finish(now, h, Events::default(), &[], app, sink);
        Some(r)
    }

    /// Process one received TCP segment (`bytes`: header and payload, as the IPv4 layer
    /// delivered it) from `src` to `dst`.
    pub fn on_segment<A: TcpApp>(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        bytes: &[u8],
        app: &mut A,
        sink: &mut impl SegmentSink,
    ) {
        self.on_segment_checked(now, src, dst, bytes, true, app, sink);
    }

    /// An ICMP error quoting a segment we sent from `local` to `remote` with sequence
    /// number `seq`. Hard errors end a connection still in SYN-SENT; "fragmentation
    /// needed" lowers the MSS and resends; everything else is counted (RFC 5927, RFC 5461).
    #[allow(clippy::too_many_arguments)]
    pub fn on_icmp_error<A: TcpApp>(
        &mut self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        seq: Seq,
        kind: IcmpKind,
        app: &mut A,
        sink: &mut impl SegmentSink,
    ) {
        let Some(h) = self.table.find(&FourTuple { local, remote }) else {
            self.stats.rx_icmp_out_of_window += 1;
            return;
        };
        // Not for a connection in TIME-WAIT either: nothing of ours is in flight there.
        let Some(tcb) = self.table.get_mut(h).map(Slot::tcb_mut) else {
            return;
        };
        let mut ev = Events::default();
        let mut env = env!(self, now);
        if tcb.on_icmp(&mut env, seq, kind, &mut ev) {
            self.finish(now, h, ev, &[], app, sink);
        }
    }

    /// Count a segment the IPv4 layer received on a broadcast address (dropped, RFC 1122
    /// 4.2.3.10).
    pub fn count_broadcast(&mut self) {
        self.stats.rx_segments += 1;
        self.stats.rx_broadcast += 1;
    }

    /// [`on_segment`](Self::on_segment), with the checksum check skipped when `verify` is
    /// false (the NIC verified it, or left it to offload on a local path).
    #[allow(clippy::too_many_arguments)]
    pub fn on_segment_checked<A: TcpApp>(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        bytes: &[u8],
        verify: bool,
        app: &mut A,
        sink: &mut impl SegmentSink,
    ) {
        self.stats.rx_segments += 1;
        let packet = match TcpPacket::new_checked(bytes) {
            Ok(p) => p,
            Err(WireError::BadHeaderLen) => {
                self.stats.rx_bad_header_len += 1;
                return;
            }
            Err(_) => {
                self.stats.rx_truncated += 1;
                return;
            }
        };
        if verify && !packet.verify_checksum(src, dst) {
            self.stats.rx_bad_checksum += 1;
            return;
        }
        let seg = match TcpOptions::parse(packet.options()) {
            Ok(options) => TcpRepr {
                src_port: packet.src_port(),
                dst_port: packet.dst_port(),
                seq: packet.seq(),
                ack: packet.ack(),
                flags: packet.flags(),
                window: packet.window(),
                urgent: packet.urgent(),
                options,
                payload_len: packet.payload().len(),
            },
            Err(_) => {
                self.stats.rx_bad_options += 1;
                return;
            }
        };
        let flags = seg.flags;
        if flags.contains(TcpFlags::SYN) && flags.intersects(TcpFlags::FIN | TcpFlags::RST) {
            self.stats.rx_bad_flags += 1;
            return;
        }
        if is_group(src) || is_group(dst) || seg.src_port == 0 || seg.dst_port == 0 {
            self.stats.rx_broadcast += 1;
            return;
        }
        let payload = packet.payload();
        let local = SocketAddrV4::new(dst, seg.dst_port);
        let remote = SocketAddrV4::new(src, seg.src_port);
        let tuple = FourTuple { local, remote };
        // One hash for both tables (the TIME-WAIT table has the same key).
        let hash = self.table.hash_of(&tuple);
        if let Some(h) = self.table.find_hashed(&tuple, hash) {
            self.on_connection(now, h, &seg, payload, app, sink);
            return;
        }
        if let Some(h) = self.time_waits.find_hashed(&tuple, hash) {
            if !self.time_wait_reuse(h, &seg) {
                self.on_time_wait(now, h, &seg, payload, sink);
                return;
            }
        }
        match self.listeners.iter().find(|l| l.port == seg.dst_port) {
            Some(&l) => self.on_listen(now, l, tuple, hash, &seg, payload, app, sink),
            None => self.no_connection(&seg, local, remote, sink),
        }
    }

    /// RFC 6191 / RFC 9293 3.10.7.4: a SYN to a TIME-WAIT connection whose sequence number
    /// (or timestamp) is beyond the old one opens a new connection. Ends the old record.
    fn time_wait_reuse(&mut self, h: Handle, seg: &TcpRepr) -> bool {
        let Some(tw) = self.time_waits.get(h) else {
            return false;
        };
        if !seg.flags.contains(TcpFlags::SYN)
            || seg.flags.contains(TcpFlags::ACK)
            || !tw.accepts_new_syn(seg)
        {
            return false;
        }
        self.time_waits.remove(h);
        true
    }

    /// A segment for a connection in TIME-WAIT (other than a new SYN taking its
    /// four-tuple): the ordinary rules answer it from a TCB rebuilt from the record, in
    /// that state (a retransmitted FIN is acknowledged and restarts the wait, an old
    /// timestamp fails PAWS, an in-window reset ends the wait). The record then keeps its
    /// place, goes to the back of the queue (the wait restarted), or goes.
    fn on_time_wait(
        &mut self,
        now: Instant,
        h: Handle,
        seg: &TcpRepr,
        payload: &[u8],
        sink: &mut impl SegmentSink,
    ) {
        let (Some(t), Some(&before)) = (self.time_waits.tuple(h), self.time_waits.get(h)) else {
            return;
        };
        let tcb = Tcb::from_time_wait(&before, t.local, t.remote, &self.cfg, now);
        let mut tcb = self.tcbs.boxed(tcb);
        let mut ev = Events::default();
        run_segment!(self, tcb, now, seg, payload, &mut ev);
        tcb.output(&mut env!(self, now), sink);
        if tcb.state == State::TimeWait {
            let after = tcb.time_wait_state(now);
            if after.wait_at == before.wait_at {
                self.time_waits.update(h, after);
            } else {
                self.time_waits.remove(h);
                let hash = self.table.hash_of(&t);
                self.stats.time_wait_recycled += self.time_waits.insert_hashed(t, hash, after);
            }
        } else {
            // A reset ended the wait (the application heard of the close long ago).
            self.time_waits.remove(h);
            self.count_close(ev.closed.unwrap_or(CloseReason::Normal));
        }
        self.give_back_buffers(&mut tcb);
        self.tcbs.give_back(tcb);
    }

    fn count_close(&mut self, reason: CloseReason) {
        match reason {
            CloseReason::Normal => self.stats.closed += 1,
            CloseReason::Refused => self.stats.connect_failed += 1,
            CloseReason::Reset | CloseReason::TimedOut => self.stats.aborted += 1,
            CloseReason::Aborted => {}
        }
    }

    fn no_connection(
        &mut self,
        seg: &TcpRepr,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        sink: &mut impl SegmentSink,
    ) {
        if seg.flags.contains(TcpFlags::RST) {
            self.stats.rx_rst_no_connection += 1;
            return;
        }
        self.stats.rx_no_listener += 1;
        self.send_reset_for(seg, local, remote, sink);
    }

    fn send_reset_for(
        &mut self,
        seg: &TcpRepr,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        sink: &mut impl SegmentSink,
    ) {
        let Some(rst) = reset_for(seg) else {
            return;
        };
        self.send_bare(&rst, local, remote, sink);
        self.stats.tx_rst += 1;
    }

    /// Send a header-only segment that belongs to no connection.
    fn send_bare(
        &mut self,
        repr: &TcpRepr,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        sink: &mut impl SegmentSink,
    ) -> bool {
        let (src, dst) = (*local.ip(), *remote.ip());
        let ok = sink.send(src, dst, repr.header_len(), |buf| {
            repr.emit_header(&mut TcpPacket::new_unchecked(&mut *buf), src, dst);
            repr.header_len()
        });
        if ok {
            self.stats.tx_segments += 1;
        } else {
            self.stats.tx_dropped += 1;
        }
        ok
    }

    /// RFC 9293 3.10.7.2, LISTEN.
    #[allow(clippy::too_many_arguments)]
    fn on_listen<A: TcpApp>(
        &mut self,
        now: Instant,
        l: Listener,
        tuple: FourTuple,
        hash: u32,
        seg: &TcpRepr,
        payload: &[u8],
        app: &mut A,
        sink: &mut impl SegmentSink,
    ) {
        let FourTuple { local, remote } = tuple;
        let flags = seg.flags;
        if flags.contains(TcpFlags::RST) {
            self.stats.rx_rst_no_connection += 1;
            return;
        }
        if flags.contains(TcpFlags::ACK) {
            if !flags.contains(TcpFlags::SYN) && self.cfg.syn_cookies {
                if self.cookie_ack(now, l, local, remote, seg, payload, app, sink) {
                    return;
                }
                self.stats.syn_cookies_rejected += 1;
            } else {
                self.stats.rx_no_listener += 1;
            }
            self.send_reset_for(seg, local, remote, sink);
            return;
        }
        if !flags.contains(TcpFlags::SYN) {
            self.stats.rx_no_ack += 1;
            return;
        }
        self.stats.syn_received += 1;
        let peer = PeerSyn::from_repr(seg);
        if self.half_open >= self.cfg.syn_backlog {
            if self.cfg.syn_cookies {
                self.send_cookie(now, local, remote, &peer, sink);
            } else {
                self.stats.syn_backlog_full += 1;
            }
            return;
        }
        if self.table.is_full() {
            self.stats.table_full += 1;
            return;
        }
        let (iss, ts_offset) = self.isn.isn_and_ts_offset(now, local, remote);
        let mut tcb = Tcb::accept(local, remote, iss, &peer, &self.cfg, l.cc, now, false);
        tcb.set_ts_offset(ts_offset);
        let slot = Slot::new(self.tcbs.boxed(tcb), true);
        match self.table.insert_hashed(tuple, hash, slot) {
            Ok(h) => {
                self.half_open += 1;
                self.finish(now, h, Events::default(), &[], app, sink);
            }
            Err(e) => {
                self.tcbs.give_back(e.into_value().tcb);
                self.stats.table_full += 1;
            }
        }
    }

    /// Answer a SYN with a cookie SYN-ACK and keep nothing (RFC 4987 3.6). Timestamps are
    /// not offered: the cookie cannot remember them.
    fn send_cookie(
        &mut self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        peer: &PeerSyn,
        sink: &mut impl SegmentSink,
    ) {
        let ws = if self.cfg.window_scaling {
            peer.window_scale
        } else {
            None
        };
        let sack = self.cfg.sack && peer.sack_permitted;
        let mss = peer.mss.unwrap_or(536).min(self.cfg.mss);
        let cookie = self
            .cookies
            .make(now, local, remote, peer.isn, mss, ws, sack);
        let repr = TcpRepr {
            src_port: local.port(),
            dst_port: remote.port(),
            seq: cookie,
            ack: peer.isn + 1,
            flags: TcpFlags::SYN | TcpFlags::ACK,
            window: self.cfg.recv_window.min(65_535) as u16,
            urgent: 0,
            options: TcpOptions {
                mss: Some(self.cfg.mss),
                window_scale: ws.map(|_| self.cfg.window_shift()),
                sack_permitted: sack,
                timestamps: None,
                ..TcpOptions::default()
            },
            payload_len: 0,
        };
        if self.send_bare(&repr, local, remote, sink) {
            self.stats.syn_cookies_sent += 1;
        }
    }

    /// An ACK to a listener: a returning cookie makes the connection (ESTABLISHED at once)
    /// and the segment is then processed on it. Returns whether it was a valid cookie.
    #[allow(clippy::too_many_arguments)]
    fn cookie_ack<A: TcpApp>(
        &mut self,
        now: Instant,
        l: Listener,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        seg: &TcpRepr,
        payload: &[u8],
        app: &mut A,
        sink: &mut impl SegmentSink,
    ) -> bool {
        let peer_isn = seg.seq - 1;
        let Some(data) = self
            .cookies
            .check(now, local, remote, peer_isn, seg.ack - 1)
        else {
            return false;
        };
        if self.table.is_full() {
            self.stats.table_full += 1;
            return true; // valid, but nowhere to put it: drop, the peer retries
        }
        let peer = PeerSyn {
            isn: peer_isn,
            mss: Some(data.mss),
            window_scale: data.window_scale,
            sack_permitted: data.sack_permitted,
            timestamps: None,
            window: seg.window,
        };
        let mut tcb = Tcb::accept(
            local,
            remote,
            seg.ack - 1,
            &peer,
            &self.cfg,
            l.cc,
            now,
            true,
        );
        tcb.set_ts_offset(self.isn.ts_offset(local, remote));
        tcb.set_window_from_ack(seg);
        let slot = Slot::new(self.tcbs.boxed(tcb), false);
        let h = match self.table.insert(FourTuple { local, remote }, slot) {
            Ok(h) => h,
            Err(e) => {
                self.tcbs.give_back(e.into_value().tcb);
                self.stats.table_full += 1;
                return true;
            }
        };
        self.stats.syn_cookies_accepted += 1;
        let mut ev = Events {
            established: true,
            ..Events::default()
        };
        if let Some(tcb) = self.table.get_mut(h).map(Slot::tcb_mut) {
            run_segment!(self, tcb, now, seg, payload, &mut ev);
        }
        self.finish(now, h, ev, payload, app, sink);
        true
    }

    fn on_connection<A: TcpApp>(
        &mut self,
        now: Instant,
        h: Handle,
        seg: &TcpRepr,
        payload: &[u8],
        app: &mut A,
        sink: &mut impl SegmentSink,
    ) {
        let mut ev = Events::default();
        let Some(tcb) = self.table.get_mut(h).map(Slot::tcb_mut) else {
            return;
        };
        run_segment!(self, tcb, now, seg, payload, &mut ev);
        self.finish(now, h, ev, payload, app, sink);
    }

    /// The segments handed to [`Self::on_segment`] from now until [`Self::end_batch`]
    /// arrived together (one receive burst of the I/O loop): the ACK that every second
    /// full-sized segment asks for (RFC 9293 3.8.6.3, RFC 5681 4.2) is sent once, at the
    /// batch's end, for all of a connection's segments in the batch, as a receiver with
    /// GRO/LRO acknowledges an aggregate. A sender then sees one ACK per burst instead of
    /// one per two segments. Other ACKs (a short segment, PSH, out of order, a gap filled,
    /// a window update) still go at once. Without a batch every ACK goes at once.
    pub fn begin_batch(&mut self) {
        self.batching = true;
    }

    /// The receive batch has ended: send the ACKs it owes.
    pub fn end_batch<A: TcpApp>(&mut self, now: Instant, app: &mut A, sink: &mut impl SegmentSink) {
        self.batching = false;
        let mut owed = std::mem::take(&mut self.batch_acks);
        for &h in &owed {
            let Some(slot) = self.table.get_mut(h) else {
                continue;
            };
            slot.tcb.ack_listed = false;
            if slot.tcb.ack_batch {
                self.finish(now, h, Events::default(), &[], app, sink);
            }
        }
        owed.clear();
        self.batch_acks = owed;
    }

    /// Run the timers due at `now`.
    pub fn on_timeout<A: TcpApp>(
        &mut self,
        now: Instant,
        app: &mut A,
        sink: &mut impl SegmentSink,
    ) {
        while self.time_waits.end_next(now) {
            // The application heard of the close when the wait began.
            self.stats.closed += 1;
        }
        self.timers.advance(now);
        while let Some((th, token)) = self.timers.pop_expired() {
            let Some(h) = Handle::from_token(token) else {
                continue;
            };
            let Some(slot) = self.table.get_mut(h) else {
                continue;
            };
            if slot.timer.is_some_and(|(t, _)| t == th) {
                slot.timer = None;
            }
            let mut ev = Events::default();
            let mut env = env!(self, now);
            slot.tcb.on_timer(&mut env, &mut ev);
            self.finish(now, h, ev, &[], app, sink);
        }
    }

    /// After a segment, a timer or an application call: tell the application, send, and
    /// free or re-arm the TCB.
    fn finish<A: TcpApp>(
        &mut self,
        now: Instant,
        h: Handle,
        mut ev: Events,
        payload: &[u8],
        app: &mut A,
        sink: &mut impl SegmentSink,
    ) {
        // Callbacks, in RFC order: established, ACK, text, FIN.
        if ev.established {
            let Some(tcb) = self.table.get_mut(h).map(Slot::tcb_mut) else {
                return;
            };
            tcb.app_visible = true;
            if tcb.passive {
                self.stats.accepted += 1;
            } else {
                self.stats.connected += 1;
            }
            let passive = tcb.passive;
            self.callback(h, app, |app, conn| {
                if passive {
                    app.on_accept(conn)
                } else {
                    app.on_connected(conn)
                }
            });
        }
        if ev.acked > 0 {
            let n = ev.acked as usize;
            self.callback(h, app, |app, conn| app.on_acked(conn, n));
        }
        if let Some((a, b)) = ev.deliver {
            let data = &payload[a..b];
            self.callback(h, app, |app, conn| app.on_data(conn, data));
        }
        if ev.deliver_ring > 0 {
            self.deliver_ring(h, ev.deliver_ring, app);
        }
        if ev.peer_fin {
            self.callback(h, app, |app, conn| app.on_peer_closed(conn));
        }

        let Some(slot) = self.table.get_mut(h) else {
            return;
        };
        let tcb = &mut slot.tcb;
        if slot.half_open && tcb.state != State::SynReceived {
            slot.half_open = false;
            self.half_open -= 1;
        }
        if tcb.ack_batch {
            // An ACK owed for every second full segment: inside a receive batch it waits
            // for the batch's end (one ACK for all the batch brought, unless a segment
            // sent before then carries it), otherwise it goes now.
            if self.batching {
                if !tcb.ack_listed {
                    tcb.ack_listed = true;
                    self.batch_acks.push(h);
                }
            } else {
                tcb.set_ack_now();
            }
        }
        let mut env = env!(self, now);
        if tcb.abort_requested {
            tcb.abort(&mut env, sink);
            env.stats.aborted += 1;
            ev.closed = Some(CloseReason::Aborted);
        } else {
            tcb.output(&mut env, sink);
        }
        if tcb.state == State::Closed && ev.closed.is_none() {
            // Closed without an event: TIME-WAIT ended, or an active open the application
            // closed before it completed.
            ev.closed = Some(CloseReason::Normal);
        }
        let state = tcb.state;
        if let Some(reason) = ev.closed {
            let visible = std::mem::replace(&mut tcb.app_visible, false);
            if reason != CloseReason::Normal || state == State::Closed {
                self.count_close(reason);
            }
            if visible {
                app.on_closed(h, reason);
            }
        }
        match state {
            State::Closed => self.free(h),
            State::TimeWait => self.enter_time_wait(now, h),
            _ => self.rearm(h),
        }
    }

    fn callback<A: TcpApp>(
        &mut self,
        h: Handle,
        app: &mut A,
        f: impl FnOnce(&mut A, &mut Conn<'_>),
    ) {
        let Some(tcb) = self.table.get_mut(h).map(Slot::tcb_mut) else {
            return;
        };
        if tcb.abort_requested || !tcb.app_visible {
            return;
        }
        let mut conn = Conn {
            handle: h,
            tcb,
            tx_pool: &mut self.tx_pool,
            objects: &self.objects,
            cfg: &self.cfg,
        };
        f(app, &mut conn);
    }

    fn deliver_ring<A: TcpApp>(&mut self, h: Handle, n: u32, app: &mut A) {
        let Some(ring) = self
            .table
            .get_mut(h)
            .map(Slot::tcb_mut)
            .and_then(|t| t.rx_ring.take())
        else {
            return;
        };
        let (a, b) = ring.peek(0, n as usize);
        for part in [a, b] {
            if !part.is_empty() {
                self.callback(h, app, |app, conn| app.on_data(conn, part));
            }
        }
        if let Some(tcb) = self.table.get_mut(h).map(Slot::tcb_mut) {
            tcb.rx_ring = Some(ring);
            tcb.ring_delivered(n, &mut self.rx_pool);
        }
    }

    /// A connection now in TIME-WAIT leaves the table for a record of what that state
    /// needs; its buffers and full TCB go back to the pools for the next connections.
    fn enter_time_wait(&mut self, now: Instant, h: Handle) {
        let (Some(t), Some(hash), Some(slot)) = (
            self.table.tuple(h),
            self.table.hash_at(h),
            self.table.get(h),
        ) else {
            return;
        };
        let tw = slot.tcb.time_wait_state(now);
        self.free(h);
        self.stats.time_wait_recycled += self.time_waits.insert_hashed(t, hash, tw);
    }

    /// Give a TCB's buffers back to the pools.
    fn give_back_buffers(&mut self, tcb: &mut Tcb) {
        if let Some(r) = tcb.rx_ring.take() {
            self.rx_pool.push(r);
        }
        if let Some(mut r) = tcb.queue.ring.take() {
            r.clear();
            self.tx_pool.free.push(r);
        }
        if tcb.txlog_has_buffer() {
            self.seg_pool.push(tcb.take_txlog_buffer());
        }
    }

    fn free(&mut self, h: Handle) {
        if let Some((_, mut slot)) = self.table.remove(h) {
            if let Some((th, _)) = slot.timer {
                self.timers.cancel(th);
            }
            if slot.half_open {
                self.half_open -= 1;
            }
            self.give_back_buffers(&mut slot.tcb);
            self.tcbs.give_back(slot.tcb);
        }
    }

    /// Keep the wheel entry at the TCB's earliest deadline.
    fn rearm(&mut self, h: Handle) {
        let Some(slot) = self.table.get_mut(h) else {
            return;
        };
        let want = slot.tcb.next_deadline();
        match (slot.timer, want) {
            (None, None) => {}
            (Some((th, _)), None) => {
                self.timers.cancel(th);
                slot.timer = None;
            }
            (Some((_, at)), Some(w)) if at == w => {}
            (Some((th, _)), Some(w)) => {
                if self.timers.reschedule(th, w) {
                    slot.timer = Some((th, w));
                } else {
                    slot.timer = self.timers.schedule(w, h.to_token()).map(|t| (t, w));
                }
            }
            (None, Some(w)) => {
                slot.timer = self.timers.schedule(w, h.to_token()).map(|t| (t, w));
            }
        }
    }
}

/// Limited broadcast, multicast or unspecified: never a TCP endpoint (RFC 9293 3.9.1.1,
/// RFC 1122 4.2.3.10). Directed broadcasts are the IPv4 layer's to filter.
fn is_group(ip: Ipv4Addr) -> bool {
    ip.is_broadcast() || ip.is_multicast() || ip.is_unspecified()
}

#[cfg(test)]
mod layout {
    /// An open connection's table entry is one cache line; a TIME-WAIT record's two.
    #[test]
    fn table_entries_fit_their_lines() {
        assert_eq!(crate::table::entry_size::<super::Slot>(), 64);
        assert_eq!(crate::table::entry_size::<crate::tcb::TimeWaitState>(), 128);
    }
}
