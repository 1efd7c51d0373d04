//! The transmission control block: one connection's state and the RFC 9293 event
//! processing that moves it.
//!
//! A [`Tcb`] knows nothing of the table, the listeners or the application. The
//! [`TcpCore`](crate::TcpCore) finds it, feeds it segments ([`Tcb::on_segment`]) and timer
//! expiries ([`Tcb::on_timer`]), asks it to send what it may ([`Tcb::output`]) and turns the
//! [`Events`] it reports into application callbacks. Every step of RFC 9293 3.10.7.3
//! (SYN-SENT) and 3.10.7.4 (the other states) is here, in the RFC's order, with the
//! RFC 5961 changes (challenge ACKs for in-window RST and SYN, the ACK check), PAWS
//! (RFC 7323 5), SACK (RFC 2018) on both sides, loss detection by RACK with tail loss
//! probes (RFC 8985) with SACK and by duplicate ACKs (RFC 6582 NewReno) without, undo of
//! spurious retransmissions (RFC 3522 Eifel detection with timestamps, RFC 2883 DSACK), and
//! the timers of RFC 6298 and RFC 9293 3.8.
//!
//! # Sending
//!
//! The send queue holds the bytes from the first unacknowledged one on, as a short list of
//! chunks: stream bytes (copied into a bounded ring by [`crate::Conn::send`]) and ranges of
//! prepared objects ([`crate::Conn::send_prepared`]), in the order queued. Nothing is copied
//! for retransmission: a segment is rebuilt from the queue at its offset.
//!
//! Each segment sent is recorded ([`crate::rack`]): its range, when it left, whether it
//! was SACKed, deemed lost or retransmitted. With SACK the bytes in flight are always the
//! RFC 6675 pipe: outstanding bytes not SACKed, less those deemed lost and not yet
//! retransmitted. RACK marks a segment lost when one sent after it has been delivered and
//! the reordering window has passed; a retransmission timeout marks everything not SACKed
//! lost. Lost segments are retransmitted first, in sequence order, as the pipe allows.
//! Without SACK, fast recovery is NewReno's (one retransmission per partial ACK) and the
//! pipe counts duplicate ACKs.
//!
//! # Reordering and spurious retransmissions
//!
//! A retransmission turns out unnecessary when the ACK that covers it echoes the
//! timestamp of the original (Eifel, RFC 3522) or when DSACKs (RFC 2883) report every
//! retransmission of the episode as a duplicate. The congestion state before the episode
//! is then restored, lost marks are cleared and RACK counts the path as reordering, which
//! widens its reordering window; DSACKs widen it further (RFC 8985 6.2).

use crate::accept::{ack_verdict, paws_rejects, rst_verdict, segment_acceptable};
use crate::accept::{AckVerdict, RstVerdict};
use crate::assembler::Assembler;
use crate::cc::{Cc, CcKind, CongestionControl};
use crate::config::TcpConfig;
use crate::prepared::{ObjectId, PreparedObject};
use crate::rack::{TxLog, TxSeg};
use crate::ringbuf::RingBuf;
use crate::rtt::RttEstimator;
use crate::seq::Seq;
use crate::sink::SegmentSink;
use crate::stats::TcpStats;
use crate::wire::{SackBlock, TcpFlags, TcpOptions, TcpPacket, TcpRepr};
use eth::ratelimit::TokenBucket;
use nmio::Instant;
use smallvec::SmallVec;
use std::collections::VecDeque;
use std::net::SocketAddrV4;
use std::time::Duration;

/// RFC 9293 3.3.2 connection states (LISTEN lives in the core, not in a TCB).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Our SYN sent, waiting for the peer's.
    SynSent,
    /// SYN received and answered, waiting for the ACK of ours.
    SynReceived,
    /// Open both ways.
    Established,
    /// We closed; our FIN not yet acknowledged.
    FinWait1,
    /// We closed and our FIN is acknowledged; the peer may still send.
    FinWait2,
    /// The peer closed; we may still send.
    CloseWait,
    /// Both closed at once; our FIN not yet acknowledged.
    Closing,
    /// The peer closed, then we did; waiting for the ACK of our FIN.
    LastAck,
    /// Both FINs acknowledged; waiting out old duplicates (2 MSL).
    TimeWait,
    /// Gone (the core frees the TCB).
    Closed,
}

impl State {
    /// Past the handshake (RFC 9293's "synchronized" states).
    pub fn is_synchronized(self) -> bool {
        !matches!(self, State::SynSent | State::SynReceived | State::Closed)
    }

    /// The application may still queue data.
    pub fn can_send(self) -> bool {
        matches!(
            self,
            State::SynSent | State::SynReceived | State::Established | State::CloseWait
        )
    }
}

/// Why a connection ended, as the application hears it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// Both sides closed and every byte was acknowledged.
    Normal,
    /// The peer reset the connection.
    Reset,
    /// An active open was refused (reset in SYN-SENT) or its SYN retries ran out.
    Refused,
    /// Retransmissions (or keep-alive probes, or the FIN-WAIT-2 wait) ran out.
    TimedOut,
    /// The application aborted it (a reset was sent).
    Aborted,
}

/// Chunks a send queue holds at most (stream bytes next to each other share one).
pub const MAX_CHUNKS: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Src {
    Stream,
    Object(ObjectId, u32),
}

#[derive(Clone, Copy, Debug)]
struct Chunk {
    src: Src,
    len: u32,
}

/// Where the bytes at one queue offset come from.
#[derive(Clone, Copy, Debug)]
enum Piece {
    /// `len` bytes at offset `at` of the stream ring.
    Stream { at: u32, len: u32 },
    /// `len` bytes at `offset` of an object.
    Object { id: ObjectId, offset: u32, len: u32 },
}

impl Piece {
    fn len(&self) -> u32 {
        match *self {
            Piece::Stream { len, .. } | Piece::Object { len, .. } => len,
        }
    }
}

/// The unacknowledged and unsent bytes of a connection.
#[derive(Default)]
pub(crate) struct SendQueue {
    chunks: SmallVec<[Chunk; MAX_CHUNKS]>,
    len: u32,
    pub(crate) ring: Option<RingBuf>,
}

impl SendQueue {
    pub(crate) fn len(&self) -> u32 {
        self.len
    }

    fn push(&mut self, src: Src, len: u32) -> bool {
        if len == 0 {
            return true;
        }
        if let (Src::Stream, Some(last)) = (src, self.chunks.last_mut()) {
            if last.src == Src::Stream {
                last.len += len;
                self.len += len;
                return true;
            }
        }
        if self.chunks.len() == MAX_CHUNKS {
            return false;
        }
        self.chunks.push(Chunk { src, len });
        self.len += len;
        true
    }

    pub(crate) fn has_room_for_chunk(&self) -> bool {
        self.chunks.len() < MAX_CHUNKS || self.chunks.last().is_some_and(|c| c.src == Src::Stream)
    }

    /// Append stream bytes already written to the ring.
    pub(crate) fn push_stream(&mut self, len: u32) -> bool {
        self.push(Src::Stream, len)
    }

    pub(crate) fn push_object(&mut self, id: ObjectId, offset: u32, len: u32) -> bool {
        self.push(Src::Object(id, offset), len)
    }

    /// The piece at queue offset `o`, at most `max` bytes, not crossing a chunk.
    fn piece(&self, o: u32, max: u32) -> Option<Piece> {
        let mut start = 0u32;
        let mut ring_at = 0u32;
        for c in &self.chunks {
            if o < start + c.len {
                let within = o - start;
                let len = (c.len - within).min(max);
                return Some(match c.src {
                    Src::Stream => Piece::Stream {
                        at: ring_at + within,
                        len,
                    },
                    Src::Object(id, off) => Piece::Object {
                        id,
                        offset: off + within,
                        len,
                    },
                });
            }
            start += c.len;
            if c.src == Src::Stream {
                ring_at += c.len;
            }
        }
        None
    }

    /// Drop the first `n` bytes (acknowledged).
    fn pop(&mut self, mut n: u32) {
        n = n.min(self.len);
        self.len -= n;
        let mut gone = 0;
        for c in self.chunks.iter_mut() {
            if n == 0 {
                break;
            }
            let take = c.len.min(n);
            if c.src == Src::Stream {
                if let Some(r) = self.ring.as_mut() {
                    r.dequeue(take as usize);
                }
            } else if let Src::Object(_, off) = &mut c.src {
                *off += take;
            }
            c.len -= take;
            n -= take;
            if c.len == 0 {
                gone += 1;
            }
        }
        self.chunks.drain(..gone);
    }
}

/// What a segment or a timer did, for the core to tell the application.
#[derive(Debug, Default)]
pub(crate) struct Events {
    /// The connection reached ESTABLISHED (accepted or connected).
    pub established: bool,
    /// Data bytes newly acknowledged.
    pub acked: u32,
    /// In-order payload of the segment to deliver: `payload[deliver.0..deliver.1]`.
    pub deliver: Option<(usize, usize)>,
    /// Then this many bytes from the reassembly ring.
    pub deliver_ring: u32,
    /// The peer's FIN arrived (in order).
    pub peer_fin: bool,
    /// The connection ended.
    pub closed: Option<CloseReason>,
}

/// What a TCB needs of its owner while it works.
pub(crate) struct Env<'a> {
    pub now: Instant,
    pub cfg: &'a TcpConfig,
    pub stats: &'a mut TcpStats,
    pub challenge: &'a mut TokenBucket,
    pub objects: &'a [PreparedObject],
    /// Buffers for the in-flight records, pooled across connections.
    pub seg_pool: &'a mut Vec<VecDeque<TxSeg>>,
}

/// Sanity bound on RTT samples from echoed timestamps (a peer echoing garbage).
const MAX_RTT_SAMPLE: Duration = Duration::from_secs(60);
/// RFC 6675 DupThresh.
const DUP_THRESH: u32 = 3;
/// RFC 8985 7.2: the probe timeout allows for a delayed ACK when one segment is in flight
/// (WCDelAckT).
const WC_DEL_ACK: Duration = Duration::from_millis(200);
/// The shortest probe timeout (Linux's floor: a probe sooner than this is mostly noise).
const MIN_PTO: Duration = Duration::from_millis(10);
/// With no RTT sample yet, RFC 8985 7.2's PTO.
const PTO_NO_RTT: Duration = Duration::from_secs(1);

/// The smallest path MTU an ICMP "fragmentation needed" may set (RFC 1191 allows 68;
/// Linux's floor against forged errors is 552).
const MIN_PMTU: u32 = 552;

/// What an ICMP error said, for TCP (RFC 5927, RFC 1122 4.2.3.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpKind {
    /// Protocol or port unreachable: nobody listens there.
    Hard,
    /// Net or host unreachable, time exceeded and the rest: perhaps transient.
    Soft,
    /// Fragmentation needed, with the next-hop MTU (RFC 1191).
    FragNeeded(u16),
}

/// A tail loss probe in flight (RFC 8985 7.4).
#[derive(Clone, Copy, Debug)]
struct TlpEpisode {
    /// SND.MAX when the probe left.
    end: Seq,
    /// The probe resent data (not new data).
    retrans: bool,
    /// Bytes in flight when it left, for the window reduction if it repaired a loss.
    flight: u32,
}

/// What to restore if a loss recovery or timeout turns out spurious.
#[derive(Clone, Debug)]
struct Undo {
    /// The congestion state before the episode.
    cc: Cc,
    /// SND.UNA when the episode began: the first byte retransmitted.
    marker: Seq,
    /// TSval of the episode's first retransmission (RFC 3522).
    retrans_ts: Option<u32>,
    /// Retransmissions in the episode, and those no DSACK has reported unnecessary yet.
    retrans: u32,
    retrans_left: u32,
    /// Once the episode is over: SND.UNA reaching this ends the chance to undo it.
    expire: Option<Seq>,
}
/// Longest persist interval (RFC 9293 3.8.6.1 leaves it open; Linux uses 120 s).
const MAX_PERSIST: Duration = Duration::from_secs(60);
/// Bytes of the timestamp option block as we send it (NOP, NOP, kind, length, 8 bytes).
const TS_LEN: u16 = 12;

/// One connection. See the [module docs](self).
pub struct Tcb {
    pub(crate) state: State,
    pub(crate) local: SocketAddrV4,
    pub(crate) remote: SocketAddrV4,
    /// Opened by a listener (else by `connect`).
    pub(crate) passive: bool,

    // Send sequence space (RFC 9293 3.3.1).
    iss: Seq,
    snd_una: Seq,
    snd_nxt: Seq,
    /// Highest sequence number sent plus one.
    snd_max: Seq,
    snd_wnd: u32,
    max_snd_wnd: u32,
    snd_wl1: Seq,
    snd_wl2: Seq,
    /// The peer's window shift (applied to windows it sends).
    snd_shift: u8,
    /// Payload bytes per segment we send (peer's MSS, less our options).
    smss: u32,
    /// Sequence number of the first queued byte.
    q_seq: Seq,
    pub(crate) queue: SendQueue,
    /// The application closed: a FIN follows the queued data.
    fin_queued: bool,

    // Receive sequence space.
    irs: Seq,
    rcv_nxt: Seq,
    /// The window we advertise (constant: in-order data goes straight to the application,
    /// out-of-order data into a ring of this size).
    rcv_wnd: u32,
    rcv_shift: u8,
    reasm: Assembler,
    pub(crate) rx_ring: Option<RingBuf>,
    /// Sequence number of a FIN that arrived ahead of data still missing.
    fin_at: Option<Seq>,

    // Options.
    ts_ok: bool,
    ts_recent: u32,
    ts_recent_at: Instant,
    ts_offset: u32,
    last_ack_sent: Seq,
    sack_ok: bool,
    /// The peer offered window scaling (so our SYN-ACK carries the option).
    ws_ok: bool,
    /// Every segment in flight, and RACK's state (RFC 8985).
    txlog: TxLog,

    // Timers (the core keeps the earliest in its wheel).
    rto_at: Option<Instant>,
    delack_at: Option<Instant>,
    persist_at: Option<Instant>,
    keepalive_at: Option<Instant>,
    /// TIME-WAIT end, or the FIN-WAIT-2 limit.
    wait_at: Option<Instant>,
    rtt: RttEstimator,
    /// RACK's reordering timer (RFC 8985 6.2 step 5).
    rack_at: Option<Instant>,
    /// The tail loss probe timer (RFC 8985 7.2), and a probe due.
    pto_at: Option<Instant>,
    tlp_pending: bool,
    /// Recompute the probe timer after this output (new data sent or acknowledged).
    pto_dirty: bool,
    /// A probe in flight: SND.MAX when it left, and whether it was a retransmission.
    tlp_end: Option<TlpEpisode>,
    /// The SYN or SYN-ACK being timed (Karn: dropped on retransmission); data segments
    /// are timed from their records.
    rtt_seq: Option<(Seq, Instant)>,
    retries: u32,
    persist_backoff: u32,
    ka_probes: u32,
    /// A window or keep-alive probe is due.
    send_probe_pending: bool,
    last_sent: Instant,

    // Congestion control and recovery.
    cc: Cc,
    dupacks: u32,
    in_recovery: bool,
    recover: Seq,
    high_rxt: Seq,
    /// Send the first retransmission of a recovery whatever the pipe says (RFC 6675 5 (3)).
    rexmit_now: bool,
    undo: Option<Undo>,

    // ACK policy.
    ack_now: bool,
    /// An ACK is owed for every second full-sized segment: sent at once, or inside a
    /// receive batch ([`crate::TcpCore::begin_batch`]) once at the batch's end, for all the
    /// segments the batch brought.
    pub(crate) ack_batch: bool,
    /// The core has this connection on its list of ACKs owed at the batch's end.
    pub(crate) ack_listed: bool,
    /// SYN-RECEIVED: send a plain ACK (not the SYN-ACK again).
    bare_ack: bool,
    unacked_segs: u32,

    // Owner's bookkeeping.
    pub(crate) abort_requested: bool,
    pub(crate) app_visible: bool,
    /// A reset to send from this TCB's addresses: `(seq, ack)`.
    pending_rst: Option<(Seq, Option<Seq>)>,
}

/// What a connection in TIME-WAIT still needs once its full [`Tcb`] is given back: the
/// sequence spaces, window and timestamp state that the TIME-WAIT rules read (RFC 9293
/// 3.10.7.4: answer a retransmitted FIN and restart the wait, challenge ACKs for RST and
/// SYN, PAWS; RFC 6191 and 7323 for a new SYN on the four-tuple) and the end of the wait.
/// About a tenth of a TCB, so thousands of closed connections do not push the live ones
/// out of the cache (Linux keeps a small `tcp_timewait_sock` for the same reason). A
/// segment for it rebuilds a TCB ([`Tcb::from_time_wait`]) that runs the ordinary rules.
///
/// `repr(C)`, in this order: what a new SYN's check and the end of the wait read (and the
/// flags, whose spare bit patterns mark an empty table slot) come first, so that with the
/// table entry's header they share one cache line of a cold record.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(crate) struct TimeWaitState {
    ts_ok: bool,
    sack_ok: bool,
    ws_ok: bool,
    passive: bool,
    fin_queued: bool,
    snd_shift: u8,
    rcv_shift: u8,
    ts_recent: u32,
    rcv_nxt: Seq,
    pub(crate) wait_at: Instant,
    ts_recent_at: Instant,
    iss: Seq,
    snd_una: Seq,
    snd_nxt: Seq,
    snd_max: Seq,
    snd_wl1: Seq,
    snd_wl2: Seq,
    q_seq: Seq,
    irs: Seq,
    last_ack_sent: Seq,
    fin_at: Option<Seq>,
    snd_wnd: u32,
    max_snd_wnd: u32,
    smss: u32,
    rcv_wnd: u32,
    ts_offset: u32,
}

impl TimeWaitState {
    /// RFC 6191: a new SYN may reuse the four-tuple when its timestamp is newer, or
    /// (without timestamps) its sequence number is beyond the old connection's.
    pub(crate) fn accepts_new_syn(&self, seg: &TcpRepr) -> bool {
        match (self.ts_ok, seg.options.timestamps) {
            (true, Some((tsval, _))) => (tsval.wrapping_sub(self.ts_recent) as i32) > 0,
            _ => seg.seq.gt(self.rcv_nxt),
        }
    }
}

/// What the peer's SYN told us.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PeerSyn {
    pub isn: Seq,
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    pub timestamps: Option<(u32, u32)>,
    pub window: u16,
}

impl PeerSyn {
    pub(crate) fn from_repr(seg: &TcpRepr) -> Self {
        PeerSyn {
            isn: seg.seq,
            mss: seg.options.mss,
            window_scale: seg.options.window_scale,
            sack_permitted: seg.options.sack_permitted,
            timestamps: seg.options.timestamps,
            window: seg.window,
        }
    }
}

impl Tcb {
    pub(crate) fn blank(
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: Seq,
        cfg: &TcpConfig,
        cc: CcKind,
        now: Instant,
    ) -> Self {
        Tcb {
            state: State::Closed,
            local,
            remote,
            passive: false,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: Seq(0),
            snd_wl2: iss,
            snd_shift: 0,
            smss: 536,
            q_seq: iss + 1,
            queue: SendQueue::default(),
            fin_queued: false,
            irs: Seq(0),
            rcv_nxt: Seq(0),
            rcv_wnd: cfg.recv_window,
            rcv_shift: 0,
            reasm: Assembler::new(),
            rx_ring: None,
            fin_at: None,
            ts_ok: false,
            ts_recent: 0,
            ts_recent_at: now,
            // RFC 7323 5.4: a random-looking offset; the endpoint sets the four-tuple's
            // own (`set_ts_offset`), this one serves tests that build a TCB alone.
            ts_offset: iss.0.rotate_left(13),
            last_ack_sent: Seq(0),
            sack_ok: false,
            ws_ok: false,
            txlog: TxLog::default(),
            rto_at: None,
            delack_at: None,
            persist_at: None,
            keepalive_at: None,
            wait_at: None,
            rack_at: None,
            pto_at: None,
            tlp_pending: false,
            pto_dirty: false,
            tlp_end: None,
            rtt: RttEstimator::new(cfg.rto),
            rtt_seq: None,
            retries: 0,
            persist_backoff: 0,
            ka_probes: 0,
            send_probe_pending: false,
            last_sent: now,
            cc: Cc::new(cc),
            dupacks: 0,
            in_recovery: false,
            recover: iss,
            high_rxt: iss,
            rexmit_now: false,
            undo: None,
            ack_now: false,
            ack_batch: false,
            ack_listed: false,
            bare_ack: false,
            unacked_segs: 0,
            abort_requested: false,
            app_visible: false,
            pending_rst: None,
        }
    }

    /// What TIME-WAIT keeps of this connection (it must be in TIME-WAIT, its wait set).
    pub(crate) fn time_wait_state(&self, now: Instant) -> TimeWaitState {
        TimeWaitState {
            wait_at: self.wait_at.unwrap_or(now),
            ts_recent_at: self.ts_recent_at,
            iss: self.iss,
            snd_una: self.snd_una,
            snd_nxt: self.snd_nxt,
            snd_max: self.snd_max,
            snd_wl1: self.snd_wl1,
            snd_wl2: self.snd_wl2,
            q_seq: self.q_seq,
            irs: self.irs,
            rcv_nxt: self.rcv_nxt,
            last_ack_sent: self.last_ack_sent,
            fin_at: self.fin_at,
            snd_wnd: self.snd_wnd,
            max_snd_wnd: self.max_snd_wnd,
            smss: self.smss,
            rcv_wnd: self.rcv_wnd,
            ts_recent: self.ts_recent,
            ts_offset: self.ts_offset,
            snd_shift: self.snd_shift,
            rcv_shift: self.rcv_shift,
            ts_ok: self.ts_ok,
            sack_ok: self.sack_ok,
            ws_ok: self.ws_ok,
            passive: self.passive,
            fin_queued: self.fin_queued,
        }
    }

    /// A TCB in TIME-WAIT again from what [`time_wait_state`](Self::time_wait_state)
    /// kept, for a segment to it: nothing in flight, nothing to deliver, the application
    /// long told, the wait ending when it did.
    pub(crate) fn from_time_wait(
        tw: &TimeWaitState,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        cfg: &TcpConfig,
        now: Instant,
    ) -> Self {
        let mut t = Tcb::blank(local, remote, tw.iss, cfg, cfg.cc, now);
        t.state = State::TimeWait;
        t.passive = tw.passive;
        t.snd_una = tw.snd_una;
        t.snd_nxt = tw.snd_nxt;
        t.snd_max = tw.snd_max;
        t.snd_wnd = tw.snd_wnd;
        t.max_snd_wnd = tw.max_snd_wnd;
        t.snd_wl1 = tw.snd_wl1;
        t.snd_wl2 = tw.snd_wl2;
        t.snd_shift = tw.snd_shift;
        t.smss = tw.smss;
        t.q_seq = tw.q_seq;
        t.fin_queued = tw.fin_queued;
        t.irs = tw.irs;
        t.rcv_nxt = tw.rcv_nxt;
        t.rcv_wnd = tw.rcv_wnd;
        t.rcv_shift = tw.rcv_shift;
        t.fin_at = tw.fin_at;
        t.ts_ok = tw.ts_ok;
        t.ts_recent = tw.ts_recent;
        t.ts_recent_at = tw.ts_recent_at;
        t.ts_offset = tw.ts_offset;
        t.last_ack_sent = tw.last_ack_sent;
        t.sack_ok = tw.sack_ok;
        t.ws_ok = tw.ws_ok;
        t.wait_at = Some(tw.wait_at);
        t
    }

    /// Use `offset` for this connection's timestamp clock (before its first segment).
    pub(crate) fn set_ts_offset(&mut self, offset: u32) {
        self.ts_offset = offset;
    }

    /// An active open: SYN-SENT, the SYN goes out with the next [`output`](Self::output).
    pub(crate) fn connect(
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: Seq,
        cfg: &TcpConfig,
        cc: CcKind,
        now: Instant,
    ) -> Self {
        let mut t = Tcb::blank(local, remote, iss, cfg, cc, now);
        t.state = State::SynSent;
        t.app_visible = true;
        t.rcv_shift = cfg.window_shift();
        t
    }

    /// A passive open from a SYN: SYN-RECEIVED, the SYN-ACK goes out with the next output.
    /// With `established` (a returning SYN cookie) the handshake is already done.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn accept(
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: Seq,
        peer: &PeerSyn,
        cfg: &TcpConfig,
        cc: CcKind,
        now: Instant,
        established: bool,
    ) -> Self {
        let mut t = Tcb::blank(local, remote, iss, cfg, cc, now);
        t.passive = true;
        t.state = State::SynReceived;
        t.irs = peer.isn;
        t.rcv_nxt = peer.isn + 1;
        t.negotiate(peer, cfg, now);
        // RFC 9293 3.10.7.2: SND.WND is set from the SYN's window, unscaled (RFC 7323 2.2).
        t.snd_wnd = u32::from(peer.window);
        t.max_snd_wnd = t.snd_wnd;
        t.snd_wl1 = peer.isn;
        if established {
            t.snd_una = iss + 1;
            t.snd_nxt = iss + 1;
            t.snd_max = iss + 1;
            t.state = State::Established;
            t.cc.init(t.smss, now);
        }
        t
    }

    /// Adopt the peer's SYN options (RFC 7323 2.2 / 3.2, RFC 2018 2, RFC 9293 3.7.1).
    fn negotiate(&mut self, peer: &PeerSyn, cfg: &TcpConfig, now: Instant) {
        match (cfg.window_scaling, peer.window_scale) {
            (true, Some(s)) => {
                self.ws_ok = true;
                self.snd_shift = s;
                self.rcv_shift = cfg.window_shift();
            }
            _ => {
                self.snd_shift = 0;
                self.rcv_shift = 0;
                // Without scaling we cannot advertise more than 65,535.
                self.rcv_wnd = self.rcv_wnd.min(65_535);
            }
        }
        self.sack_ok = cfg.sack && peer.sack_permitted;
        self.ts_ok = cfg.timestamps && peer.timestamps.is_some();
        if let Some((tsval, _)) = peer.timestamps {
            self.ts_recent = tsval;
            self.ts_recent_at = now;
        }
        let peer_mss = u32::from(peer.mss.unwrap_or(536));
        let ours = u32::from(cfg.mss);
        let opts = if self.ts_ok { u32::from(TS_LEN) } else { 0 };
        self.smss = peer_mss.min(ours).saturating_sub(opts).max(64);
    }

    // ---- accessors ----

    /// The state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Payload bytes per full segment we send.
    pub fn smss(&self) -> u32 {
        self.smss
    }

    /// Bytes queued and not yet acknowledged.
    pub fn queued(&self) -> u32 {
        self.queue.len()
    }

    /// Sequence numbers sent and not yet acknowledged.
    pub fn in_flight(&self) -> u32 {
        self.snd_nxt.dist_from(self.snd_una)
    }

    /// The congestion window.
    pub fn cwnd(&self) -> u32 {
        self.cc.cwnd()
    }

    /// The peer's window as last advertised (scaled).
    pub fn snd_wnd(&self) -> u32 {
        self.snd_wnd
    }

    /// Whether timestamps / SACK were negotiated.
    pub fn options(&self) -> (bool, bool) {
        (self.ts_ok, self.sack_ok)
    }

    /// The current retransmission timeout.
    pub fn rto(&self) -> Duration {
        self.rtt.rto()
    }

    /// The earliest timer deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        [
            self.rto_at,
            self.delack_at,
            self.persist_at,
            self.keepalive_at,
            self.wait_at,
            self.rack_at,
            self.pto_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Whether the in-flight records hold a buffer (for the core's pool).
    pub(crate) fn txlog_has_buffer(&self) -> bool {
        self.txlog.has_buffer()
    }

    /// The in-flight records' buffer, emptied, for the core's pool.
    pub(crate) fn take_txlog_buffer(&mut self) -> VecDeque<TxSeg> {
        self.txlog.take_buffer()
    }

    /// An ICMP error quoting our segment at `seq` (RFC 5927; the core checked the four-tuple).
    /// Returns whether it was accepted: the quoted sequence number must be one in flight
    /// (RFC 5927 4.1), which a blind attacker has to guess.
    pub(crate) fn on_icmp(
        &mut self,
        env: &mut Env<'_>,
        seq: Seq,
        kind: IcmpKind,
        ev: &mut Events,
    ) -> bool {
        let in_flight = if self.state == State::SynSent {
            seq == self.iss
        } else {
            seq.ge(self.snd_una) && seq.lt(self.snd_max)
        };
        if !in_flight {
            env.stats.rx_icmp_out_of_window += 1;
            return false;
        }
        env.stats.rx_icmp_errors += 1;
        match kind {
            // RFC 1122 4.2.3.9 and RFC 5461: a hard error ends a connection being opened;
            // an established one treats it as soft (routes come back).
            IcmpKind::Hard if self.state == State::SynSent => {
                env.stats.icmp_aborts += 1;
                self.state = State::Closed;
                ev.closed = Some(CloseReason::Refused);
            }
            IcmpKind::Hard | IcmpKind::Soft => {}
            IcmpKind::FragNeeded(mtu) => {
                // RFC 1191: segments of this size do not fit the path; never below the
                // 552-byte floor Linux keeps against forged errors.
                let mtu = u32::from(mtu).max(MIN_PMTU);
                let opts = if self.ts_ok { u32::from(TS_LEN) } else { 0 };
                let mss = mtu.saturating_sub(40 + opts);
                if mss < self.smss {
                    env.stats.icmp_pmtu_reductions += 1;
                    self.smss = mss;
                    // The segment was dropped: send it again, in the new size.
                    self.txlog.mark_lost_from(seq);
                }
            }
        }
        true
    }

    /// The window of the ACK that completed a cookie handshake (scaled: it is not a SYN).
    pub(crate) fn set_window_from_ack(&mut self, seg: &TcpRepr) {
        self.snd_wnd = u32::from(seg.window) << self.snd_shift;
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = seg.seq;
        self.snd_wl2 = seg.ack;
    }

    /// The application closed its side.
    pub(crate) fn fin_queued(&self) -> bool {
        self.fin_queued
    }

    fn fin_seq(&self) -> Seq {
        self.q_seq + self.queue.len()
    }

    fn fin_sent(&self) -> bool {
        self.fin_queued && self.snd_max.gt(self.fin_seq())
    }

    fn fin_acked(&self) -> bool {
        self.fin_queued && self.snd_una.gt(self.fin_seq())
    }

    fn ts_now(&self, now: Instant) -> u32 {
        crate::rack::ts_val(now, self.ts_offset)
    }

    // ---- application requests ----

    /// Queue a FIN after the data (RFC 9293 3.10.4 CLOSE).
    pub(crate) fn close(&mut self) {
        match self.state {
            State::SynSent => self.state = State::Closed,
            State::SynReceived | State::Established => {
                self.fin_queued = true;
                if self.state == State::Established {
                    self.state = State::FinWait1;
                }
            }
            State::CloseWait => {
                self.fin_queued = true;
                self.state = State::LastAck;
            }
            _ => {}
        }
    }

    /// Room in the stream send buffer.
    pub(crate) fn send_space(&self, send_buffer: u32) -> u32 {
        if !self.state.can_send() || self.fin_queued || !self.queue.has_room_for_chunk() {
            return 0;
        }
        match &self.queue.ring {
            Some(r) => r.free() as u32,
            None => send_buffer,
        }
    }

    // ---- input ----

    /// Process a segment for this connection (RFC 9293 3.10.7.3 / 3.10.7.4).
    pub(crate) fn on_segment(
        &mut self,
        env: &mut Env<'_>,
        seg: &TcpRepr,
        payload: &[u8],
        ev: &mut Events,
        rx_pool: &mut Vec<RingBuf>,
        rx_budget: &mut usize,
    ) {
        if self.state == State::SynSent {
            self.on_segment_syn_sent(env, seg, ev);
            return;
        }
        let now = env.now;
        let seg_len = seg.segment_len() as u32;
        let is_rst = seg.flags.contains(TcpFlags::RST);

        // First: sequence number check, PAWS inside it (RFC 7323 5.3).
        if self.ts_ok && !is_rst {
            if let Some((tsval, _)) = seg.options.timestamps {
                if paws_rejects(
                    tsval,
                    self.ts_recent,
                    now.saturating_since(self.ts_recent_at),
                ) && !self.disordered_ack(seg, tsval)
                {
                    env.stats.rx_paws += 1;
                    // RFC 7323 5.3 R1 answers with an ACK; to a pure ACK that answer tells
                    // the peer nothing and, between two such ends, would never stop.
                    if seg_len > 0 {
                        self.ack_now = true;
                    }
                    return;
                }
            }
        }
        let wnd = self.rcv_wnd;
        if !segment_acceptable(seg.seq, seg_len, self.rcv_nxt, wnd) {
            if is_rst {
                env.stats.rx_out_of_window += 1;
                return;
            }
            if seg_len > 0 && (seg.seq + seg_len).le(self.rcv_nxt) {
                env.stats.rx_duplicate += 1;
            } else {
                env.stats.rx_out_of_window += 1;
            }
            // TIME-WAIT: a retransmitted FIN restarts the wait (3.10.7.4, eighth).
            if self.state == State::TimeWait && seg.flags.contains(TcpFlags::FIN) {
                self.wait_at = Some(now + env.cfg.time_wait);
            }
            // RFC 9293 3.10.7.4 first: the reply is <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>. In
            // SYN-RECEIVED `ack_now` resends the SYN-ACK, right for a retransmitted SYN but
            // not for the peer's SYN-ACK crossing ours in a simultaneous open (3.5 figure
            // 7): two such ends would trade SYN-ACKs forever.
            if self.state == State::SynReceived && seg.flags.contains(TcpFlags::ACK) {
                self.bare_ack = true;
            } else {
                self.ack_now = true;
            }
            return;
        }

        // Second: RST (RFC 5961 3.2).
        if is_rst {
            match rst_verdict(seg.seq, self.rcv_nxt, wnd) {
                RstVerdict::Reset => {
                    env.stats.rx_rst += 1;
                    let reason = if self.state == State::SynReceived && !self.passive {
                        CloseReason::Refused
                    } else {
                        CloseReason::Reset
                    };
                    self.state = State::Closed;
                    ev.closed = Some(reason);
                }
                RstVerdict::Challenge => {
                    env.stats.rx_rst_challenged += 1;
                    self.challenge_ack(env);
                }
                RstVerdict::Drop => env.stats.rx_out_of_window += 1,
            }
            return;
        }

        // Fourth: SYN (RFC 5961 4.2: a challenge ACK, whatever its sequence number).
        if seg.flags.contains(TcpFlags::SYN) {
            if self.state == State::SynReceived && self.passive && seg.seq == self.irs {
                // A retransmitted SYN: answer with the SYN-ACK again.
                self.ack_now = true;
                return;
            }
            env.stats.rx_syn_challenged += 1;
            self.challenge_ack(env);
            return;
        }

        // Fifth: ACK.
        if !seg.flags.contains(TcpFlags::ACK) {
            env.stats.rx_no_ack += 1;
            return;
        }
        if self.state == State::SynReceived {
            if seg.ack.gt(self.snd_una) && seg.ack.le(self.snd_max) {
                self.state = State::Established;
                self.snd_una += 1;
                self.q_seq = self.iss + 1;
                self.snd_wnd = u32::from(seg.window) << self.snd_shift;
                self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
                self.snd_wl1 = seg.seq;
                self.snd_wl2 = seg.ack;
                self.cc.init(self.smss, now);
                self.rto_at = None;
                self.retries = 0;
                if self.rtt_seq.is_some_and(|(s, _)| s == self.iss) {
                    if let Some((_, at)) = self.rtt_seq.take() {
                        self.rtt.sample(now.saturating_since(at));
                    }
                }
                ev.established = true;
                if self.fin_queued {
                    self.state = State::FinWait1;
                }
            } else {
                env.stats.rx_bad_ack += 1;
                self.pending_rst = Some((seg.ack, None));
                return;
            }
        }

        self.update_ts_recent(seg, now);

        let verdict = ack_verdict(seg.ack, self.snd_una, self.snd_max, self.max_snd_wnd);
        if verdict == AckVerdict::Unacceptable {
            env.stats.rx_bad_ack += 1;
            self.challenge_ack(env);
            return;
        }
        let una_before = self.snd_una;
        // SACK first (blocks above the new cumulative ACK stay meaningful either way).
        let dsack = if self.sack_ok && !seg.options.sack.is_empty() {
            self.on_sack(env, seg)
        } else {
            None
        };
        match verdict {
            AckVerdict::New => self.on_new_ack(env, seg, ev),
            AckVerdict::Duplicate => self.on_dup_ack(env, seg, payload.len()),
            AckVerdict::Old | AckVerdict::Unacceptable => {}
        }
        // RFC 9293 3.10.7.4 fifth: only an ACK in [SND.UNA, SND.NXT] updates the window.
        if verdict != AckVerdict::Old {
            self.update_window(seg);
        }
        self.after_ack(env, seg, una_before, dsack);
        if let Some(k) = env.cfg.keepalive {
            self.keepalive_at = Some(now + k.idle);
            self.ka_probes = 0;
        }

        // Our FIN acknowledged?
        if self.fin_acked() {
            match self.state {
                State::FinWait1 => {
                    self.state = State::FinWait2;
                    self.wait_at = Some(now + env.cfg.time_wait);
                }
                State::Closing => self.enter_time_wait(env, ev),
                State::LastAck => {
                    self.state = State::Closed;
                    ev.closed = Some(CloseReason::Normal);
                    return;
                }
                _ => {}
            }
        }
        if self.state == State::TimeWait {
            // Only a retransmitted FIN can arrive here (eighth step below restarts the wait).
            if seg.flags.contains(TcpFlags::FIN) {
                self.ack_now = true;
                self.wait_at = Some(now + env.cfg.time_wait);
            }
            return;
        }

        // Seventh: segment text.
        let receiving = matches!(
            self.state,
            State::Established | State::FinWait1 | State::FinWait2
        );
        if receiving && !payload.is_empty() {
            self.receive_text(env, seg, payload, ev, rx_pool, rx_budget);
        }

        // Eighth: FIN.
        if seg.flags.contains(TcpFlags::FIN) && receiving {
            let fin = seg.seq + payload.len() as u32;
            if fin.gt(self.rcv_nxt) {
                // Ahead of missing data: remember it (if the data lands within the window).
                self.fin_at = Some(fin);
                self.ack_now = true;
            } else if fin == self.rcv_nxt {
                self.fin_at = Some(fin);
            }
        }
        if receiving {
            if let Some(fin) = self.fin_at {
                if fin == self.rcv_nxt {
                    self.fin_at = None;
                    self.rcv_nxt += 1;
                    self.ack_now = true;
                    ev.peer_fin = true;
                    match self.state {
                        State::Established => self.state = State::CloseWait,
                        State::FinWait1 => {
                            if self.fin_acked() {
                                self.enter_time_wait(env, ev);
                            } else {
                                self.state = State::Closing;
                            }
                        }
                        State::FinWait2 => self.enter_time_wait(env, ev),
                        _ => {}
                    }
                }
            }
        }
    }

    fn enter_time_wait(&mut self, env: &mut Env<'_>, ev: &mut Events) {
        self.state = State::TimeWait;
        self.wait_at = Some(env.now + env.cfg.time_wait);
        self.rto_at = None;
        self.persist_at = None;
        self.keepalive_at = None;
        self.delack_at = None;
        ev.closed = Some(CloseReason::Normal);
    }

    /// RFC 5961 7: challenge ACKs are rate limited per instance.
    fn challenge_ack(&mut self, env: &mut Env<'_>) {
        if env.challenge.take(env.now) {
            self.ack_now = true;
        } else {
            env.stats.challenge_ack_limited += 1;
        }
    }

    /// RFC 7323 4.3: TS.Recent follows the segment that covers Last.ACK.sent.
    fn update_ts_recent(&mut self, seg: &TcpRepr, now: Instant) {
        if !self.ts_ok {
            return;
        }
        if let Some((tsval, _)) = seg.options.timestamps {
            let end = seg.seq + seg.segment_len() as u32;
            if seg.seq.le(self.last_ack_sent)
                && self.last_ack_sent.le(end)
                && (tsval.wrapping_sub(self.ts_recent) as i32) >= 0
            {
                self.ts_recent = tsval;
                self.ts_recent_at = now;
            }
        }
    }

    /// RFC 9293 3.10.7.4 fifth, window update part.
    fn update_window(&mut self, seg: &TcpRepr) {
        if self.snd_wl1.lt(seg.seq) || (self.snd_wl1 == seg.seq && self.snd_wl2.le(seg.ack)) {
            let was_zero = self.snd_wnd == 0;
            self.snd_wnd = u32::from(seg.window) << self.snd_shift;
            self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = seg.ack;
            if was_zero && self.snd_wnd > 0 {
                self.persist_at = None;
                self.persist_backoff = 0;
            }
        }
    }

    /// Linux's `tcp_disordered_ack`: a duplicate ACK that left before a newer segment,
    /// overtaken on the way. It fails PAWS only for its older timestamp, carries SACK
    /// information the sender needs, and no old duplicate from an earlier incarnation can
    /// match SND.UNA, RCV.NXT and the window this exactly.
    fn disordered_ack(&self, seg: &TcpRepr, tsval: u32) -> bool {
        let rto_ms = self.rtt.rto().as_millis().min(u128::from(u32::MAX)) as u32;
        seg.segment_len() == 0
            && seg.flags.contains(TcpFlags::ACK)
            && !seg.flags.contains(TcpFlags::RST)
            && seg.seq == self.rcv_nxt
            && seg.ack == self.snd_una
            && (u32::from(seg.window) << self.snd_shift) == self.snd_wnd
            && self.ts_recent.wrapping_sub(tsval) <= rto_ms
    }

    /// `(TSecr, our TS offset)` of an ACK, for telling transmissions apart.
    fn ack_ts(&self, seg: &TcpRepr) -> Option<(u32, u32)> {
        if !self.ts_ok {
            return None;
        }
        seg.options.timestamps.map(|(_, ecr)| (ecr, self.ts_offset))
    }

    /// Mark what the SACK blocks report; returns a DSACK block if the ACK had one.
    fn on_sack(&mut self, env: &mut Env<'_>, seg: &TcpRepr) -> Option<(Seq, Seq)> {
        let mut blocks: [(Seq, Seq); 4] = [(Seq(0), Seq(0)); 4];
        let mut n = 0;
        for b in seg.options.sack.iter() {
            let SackBlock { left, right } = *b;
            blocks[n] = (left, right);
            n += 1;
        }
        let ts = self.ack_ts(seg);
        let d = self.txlog.on_sack(
            &blocks[..n],
            seg.ack,
            self.snd_una,
            self.snd_max,
            env.now,
            ts,
        );
        if d.dsack.is_some() {
            env.stats.rx_dsacks += 1;
        }
        d.dsack
    }

    /// After an acceptable ACK: undo a spurious episode, adapt and run RACK, settle a tail
    /// loss probe.
    fn after_ack(
        &mut self,
        env: &mut Env<'_>,
        seg: &TcpRepr,
        una_before: Seq,
        dsack: Option<(Seq, Seq)>,
    ) {
        let now = env.now;
        let advanced = self.snd_una.gt(una_before);
        let ack_ts = self.ack_ts(seg);
        if let Some(u) = self.undo.as_mut() {
            if let Some((_, right)) = dsack {
                if right.gt(u.marker) && u.retrans_left > 0 {
                    u.retrans_left -= 1;
                }
            }
            let mut spurious = u.retrans > 0 && u.retrans_left == 0;
            // RFC 3522: the first ACK to cover the first retransmitted byte echoes the
            // timestamp of the transmission that filled the hole.
            if advanced && una_before.le(u.marker) && self.snd_una.gt(u.marker) {
                if let Some((tsecr, _)) = ack_ts {
                    let before_rexmit = u
                        .retrans_ts
                        .is_none_or(|r| (tsecr.wrapping_sub(r) as i32) < 0);
                    if tsecr != 0 && before_rexmit {
                        spurious = true;
                    }
                }
            }
            if spurious {
                self.undo_episode(env);
            } else if u.expire.is_some_and(|e| self.snd_una.gt(e)) {
                // Past the window after the episode: late DSACKs are in by now.
                self.undo = None;
            }
        }
        if self.sack_ok {
            self.txlog
                .on_ack_round(dsack.is_some(), self.snd_una, self.snd_max);
            self.rack_detect(env);
        }
        // RFC 8985 7.4.2: did the probe repair a loss? Undecided while the ACK stops at its
        // end (the original's late ACK looks the same); decided by a DSACK or a pure
        // duplicate ACK (both arrived: no loss) or an ACK beyond it (loss).
        if let Some(t) = self.tlp_end.filter(|t| !self.snd_una.lt(t.end)) {
            let pure_dup = !advanced && dsack.is_none() && seg.options.sack.is_empty();
            if !t.retrans || dsack.is_some() {
                self.tlp_end = None;
            } else if self.snd_una.gt(t.end) {
                self.tlp_end = None;
                if !self.in_recovery {
                    env.stats.tlp_recoveries += 1;
                    self.cc.on_congestion(now, t.flight);
                    self.cc.on_recovery_end(now);
                }
            } else if pure_dup {
                self.tlp_end = None;
            }
        }
        if advanced {
            self.pto_dirty = true;
        }
    }

    /// RFC 8985 6.2 step 5 and the reordering timer; enter recovery on a new loss.
    fn rack_detect(&mut self, env: &mut Env<'_>) {
        let reo = self.txlog.reo_wnd(self.in_recovery, self.rtt.srtt());
        let (marked, wait) = self.txlog.detect_loss(env.now, reo);
        self.rack_at = wait.map(|w| env.now + w);
        if marked > 0 {
            env.stats.rack_marked_lost += 1;
            if !self.in_recovery && self.snd_una.ge(self.recover) {
                self.enter_recovery(env);
            }
        }
    }

    /// Fast recovery begins (RFC 6675 5, RFC 6582 3.2): once per window of data.
    fn enter_recovery(&mut self, env: &mut Env<'_>) {
        let flight = self.in_flight();
        self.arm_undo();
        self.in_recovery = true;
        self.recover = self.snd_max;
        self.high_rxt = self.snd_una;
        self.rexmit_now = true;
        self.rtt_seq = None;
        self.tlp_end = None;
        self.pto_at = None;
        self.cc.on_congestion(env.now, flight);
        env.stats.fast_retransmits += 1;
    }

    /// Snapshot what an undo restores, unless an episode in progress already holds the
    /// state from before it.
    fn arm_undo(&mut self) {
        if self.undo.as_ref().is_some_and(|u| u.expire.is_none()) {
            return;
        }
        self.undo = Some(Undo {
            cc: self.cc.clone(),
            marker: self.snd_una,
            retrans_ts: None,
            retrans: 0,
            retrans_left: 0,
            expire: None,
        });
    }

    /// The episode was spurious: restore the congestion state, nothing is lost.
    fn undo_episode(&mut self, env: &mut Env<'_>) {
        let Some(u) = self.undo.take() else { return };
        env.stats.spurious_undone += 1;
        self.cc = u.cc;
        self.txlog.unmark_lost();
        self.txlog.set_reordering();
        if self.in_recovery {
            self.in_recovery = false;
            self.txlog.on_recovery_end();
        }
        self.rexmit_now = false;
        self.recover = self.snd_una;
        self.rtt.clear_backoff();
    }

    /// The episode ends: an undo stays possible for one more window (late DSACKs).
    fn end_episode(&mut self) {
        if let Some(u) = self.undo.as_mut() {
            if u.expire.is_none() {
                u.expire = Some(self.snd_max);
            }
        }
    }

    /// Bytes in the network: with SACK, or with segments deemed lost, the RFC 6675 pipe
    /// (outstanding, less SACKed, less lost and not retransmitted); else SND.NXT - SND.UNA,
    /// and in NewReno recovery that less a segment per duplicate ACK.
    fn pipe(&self) -> u32 {
        let outstanding = self.snd_max.dist_from(self.snd_una);
        if self.sack_ok || self.txlog.lost() > 0 {
            return outstanding.saturating_sub(self.txlog.sacked() + self.txlog.lost());
        }
        if !self.in_recovery {
            return self.in_flight();
        }
        {
            // Each duplicate ACK says a segment left the network (RFC 5681 3.2 step 4).
            let left = self.dupacks.saturating_mul(self.smss);
            let rxt = self.high_rxt.max(self.snd_una).dist_from(self.snd_una);
            outstanding.saturating_sub(left).saturating_add(rxt)
        }
    }

    fn on_new_ack(&mut self, env: &mut Env<'_>, seg: &TcpRepr, ev: &mut Events) {
        let now = env.now;
        let flight_before = self.pipe();
        // Data bytes: the queue from q_seq on; a FIN's sequence number is not data.
        let data_acked = if seg.ack.gt(self.q_seq) {
            seg.ack.dist_from(self.q_seq).min(self.queue.len())
        } else {
            0
        };
        self.queue.pop(data_acked);
        self.q_seq += data_acked;
        let ts = self.ack_ts(seg);
        let sent_at = self.txlog.on_cum_ack(seg.ack, now, ts);
        self.snd_una = seg.ack;
        if self.snd_nxt.lt(self.snd_una) {
            self.snd_nxt = self.snd_una;
        }
        ev.acked += data_acked;
        self.retries = 0;
        self.dupacks = 0;

        // RTT: from the send time of the newest segment acknowledged, if it was sent only
        // once (Karn's rule; nanosecond clock, where the timestamp option has
        // milliseconds); else from the echoed timestamp (RFC 7323 4), which also times
        // retransmissions.
        let mut sample = None;
        if let Some(at) = sent_at {
            sample = Some(now.saturating_since(at));
        } else if self.ts_ok {
            if let Some((_, tsecr)) = seg.options.timestamps {
                if tsecr != 0 {
                    let ms = self.ts_now(now).wrapping_sub(tsecr);
                    let d = Duration::from_millis(u64::from(ms));
                    if d <= MAX_RTT_SAMPLE {
                        sample = Some(d);
                    }
                }
            }
        }
        if let Some(d) = sample {
            self.rtt.sample(d);
            self.txlog.note_rtt(d);
        }

        if self.in_recovery {
            if seg.ack.ge(self.recover) {
                self.in_recovery = false;
                self.cc.on_recovery_end(now);
                self.txlog.on_recovery_end();
                self.end_episode();
            } else if !self.sack_ok {
                // RFC 6582 3.2 step 4: a partial ACK retransmits the next hole.
                self.high_rxt = self.snd_una;
                self.rexmit_now = true;
            }
        } else {
            if seg.ack.ge(self.recover) {
                // The end of a timeout's retransmissions.
                self.end_episode();
            }
            if data_acked > 0 {
                self.cc.on_ack(now, data_acked, flight_before, sample);
            }
        }

        // RFC 6298 5.2 / 5.3.
        if self.snd_una == self.snd_max {
            self.rto_at = None;
        } else {
            self.rto_at = Some(now + self.rtt.rto());
        }
    }

    fn on_dup_ack(&mut self, env: &mut Env<'_>, seg: &TcpRepr, payload_len: usize) {
        // RFC 5681 2 "duplicate acknowledgment": outstanding data, no payload, no SYN/FIN,
        // the same window.
        let outstanding = self.snd_max != self.snd_una;
        let same_window = (u32::from(seg.window) << self.snd_shift) == self.snd_wnd;
        let sack_news = self.sack_ok && !seg.options.sack.is_empty();
        if !outstanding
            || payload_len > 0
            || seg.flags.intersects(TcpFlags::SYN | TcpFlags::FIN)
            || (!same_window && !sack_news)
        {
            return;
        }
        env.stats.rx_dup_acks += 1;
        self.dupacks += 1;
        // With SACK, RACK decides what is lost (after_ack).
        if self.in_recovery || self.sack_ok {
            return;
        }
        if self.dupacks >= DUP_THRESH && self.snd_una.ge(self.recover) {
            // RFC 6582 3.2: enter fast recovery.
            self.enter_recovery(env);
        }
    }

    fn on_segment_syn_sent(&mut self, env: &mut Env<'_>, seg: &TcpRepr, ev: &mut Events) {
        let now = env.now;
        let has_ack = seg.flags.contains(TcpFlags::ACK);
        // First: the ACK must cover our SYN and nothing more.
        if has_ack && (seg.ack.le(self.iss) || seg.ack.gt(self.snd_max)) {
            if !seg.flags.contains(TcpFlags::RST) {
                self.pending_rst = Some((seg.ack, None));
            }
            env.stats.rx_bad_ack += 1;
            return;
        }
        // Second: RST, only with an acceptable ACK.
        if seg.flags.contains(TcpFlags::RST) {
            if has_ack {
                env.stats.rx_rst += 1;
                self.state = State::Closed;
                ev.closed = Some(CloseReason::Refused);
            } else {
                env.stats.rx_out_of_window += 1;
            }
            return;
        }
        // Fourth: SYN.
        if !seg.flags.contains(TcpFlags::SYN) {
            env.stats.rx_no_ack += 1;
            return;
        }
        let peer = PeerSyn::from_repr(seg);
        self.irs = seg.seq;
        self.rcv_nxt = seg.seq + 1;
        self.negotiate(&peer, env.cfg, now);
        self.ack_now = true;
        if has_ack {
            self.snd_una = seg.ack;
            self.q_seq = self.iss + 1;
            // RFC 7323 2.2: the window of a SYN-ACK is never scaled.
            self.snd_wnd = u32::from(seg.window);
            self.max_snd_wnd = self.snd_wnd;
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = seg.ack;
            self.state = State::Established;
            self.rto_at = None;
            self.retries = 0;
            if let Some((_, at)) = self.rtt_seq.take() {
                self.rtt.sample(now.saturating_since(at));
            } else if let (true, Some((_, tsecr))) = (self.ts_ok, seg.options.timestamps) {
                let ms = self.ts_now(now).wrapping_sub(tsecr);
                self.rtt
                    .sample(Duration::from_millis(u64::from(ms)).min(MAX_RTT_SAMPLE));
            }
            self.cc.init(self.smss, now);
            // RFC 9293 3.8.4: idle time counts from here, as a passive open's does from the
            // handshake's ACK (else an active open that never hears again is never probed).
            if let Some(k) = env.cfg.keepalive {
                self.keepalive_at = Some(now + k.idle);
            }
            ev.established = true;
            if self.fin_queued {
                self.state = State::FinWait1;
            }
        } else {
            // Simultaneous open: SYN-RECEIVED, answer with SYN-ACK.
            self.state = State::SynReceived;
            self.snd_wnd = u32::from(seg.window);
            self.max_snd_wnd = self.snd_wnd;
            self.snd_wl1 = seg.seq;
            self.snd_nxt = self.iss;
        }
    }

    /// Seventh step: in-order bytes go to the application, others into reassembly.
    fn receive_text(
        &mut self,
        env: &mut Env<'_>,
        seg: &TcpRepr,
        payload: &[u8],
        ev: &mut Events,
        rx_pool: &mut Vec<RingBuf>,
        rx_budget: &mut usize,
    ) {
        // Trim to the window: before RCV.NXT (already received) and past its right edge.
        let mut start = 0usize;
        let mut seq = seg.seq;
        if seq.lt(self.rcv_nxt) {
            start = (self.rcv_nxt.dist_from(seq) as usize).min(payload.len());
            seq = self.rcv_nxt;
        }
        let room = self.rcv_wnd.saturating_sub(seq.dist_from(self.rcv_nxt)) as usize;
        let end = payload.len().min(start + room);
        if start >= end {
            self.ack_now = true;
            return;
        }
        let len = (end - start) as u32;
        if seq == self.rcv_nxt {
            let had_gap = !self.reasm.is_empty();
            self.rcv_nxt += len;
            env.stats.rx_bytes += u64::from(len);
            ev.deliver = Some((start, end));
            if had_gap {
                self.reasm.advance(len);
                if let Some(r) = self.rx_ring.as_mut() {
                    r.commit(len as usize);
                    r.dequeue(len as usize);
                }
                let ready = self.reasm.front_len();
                if ready > 0 {
                    if let Some(r) = self.rx_ring.as_mut() {
                        r.commit(ready as usize);
                    }
                    self.reasm.advance(ready);
                    self.rcv_nxt += ready;
                    env.stats.rx_bytes += u64::from(ready);
                    ev.deliver_ring = ready;
                }
                // RFC 5681 4.2: ACK at once when a segment fills a gap.
                self.ack_now = true;
            } else {
                self.unacked_segs += 1;
                if len < self.smss.min(536) {
                    // A short segment is often the end of a message: do not make the
                    // sender wait for it.
                    self.ack_now = true;
                } else if self.unacked_segs >= 2 {
                    // Every second full segment (RFC 9293 3.8.6.3): at once, or at the end
                    // of the receive batch (the core decides, see `ack_batch`).
                    self.ack_batch = true;
                } else if self.delack_at.is_none() {
                    self.delack_at = Some(env.now + env.cfg.delayed_ack);
                }
            }
            if seg.flags.contains(TcpFlags::PSH) {
                self.ack_now = true;
            }
        } else {
            // Out of order: hold it if we can, and ACK at once (RFC 5681 4.2) with SACK.
            self.ack_now = true;
            let offset = seq.dist_from(self.rcv_nxt);
            if self.rx_ring.is_none() {
                if let Some(mut r) = rx_pool.pop() {
                    r.clear();
                    self.rx_ring = Some(r);
                } else if *rx_budget > 0 {
                    *rx_budget -= 1;
                    // Pooled rings serve every connection: size them for the largest window
                    // (RFC 7323 2.2: without scaling ours is clamped to 65,535).
                    self.rx_ring = Some(RingBuf::new(env.cfg.recv_window as usize));
                }
            }
            let Some(ring) = self.rx_ring.as_mut() else {
                env.stats.rx_reassembly_full += 1;
                return;
            };
            if self.reasm.add(offset, len).is_err() {
                env.stats.rx_reassembly_full += 1;
                return;
            }
            ring.write_at(offset as usize, &payload[start..end]);
            env.stats.rx_out_of_order += 1;
        }
    }

    /// Hand the reassembly ring's ready bytes over (the core delivers them, then calls
    /// [`ring_delivered`](Self::ring_delivered)).
    pub(crate) fn ring_delivered(&mut self, n: u32, rx_pool: &mut Vec<RingBuf>) {
        if let Some(r) = self.rx_ring.as_mut() {
            r.dequeue(n as usize);
        }
        if self.reasm.is_empty() {
            if let Some(r) = self.rx_ring.take() {
                rx_pool.push(r);
            }
        }
    }

    // ---- timers ----

    /// Handle every timer due at `now`.
    pub(crate) fn on_timer(&mut self, env: &mut Env<'_>, ev: &mut Events) {
        let now = env.now;
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        if due(self.wait_at) {
            self.wait_at = None;
            match self.state {
                State::TimeWait => {
                    self.state = State::Closed;
                    // The application heard of it when TIME-WAIT began.
                }
                State::FinWait2 => {
                    // The peer never closed: give up (Linux's tcp_fin_timeout).
                    env.stats.aborted += 1;
                    self.state = State::Closed;
                    ev.closed = Some(CloseReason::TimedOut);
                }
                _ => {}
            }
            return;
        }
        if due(self.pto_at) {
            self.pto_at = None;
            if self.state.is_synchronized()
                && self.snd_una != self.snd_max
                && !self.in_recovery
                && self.tlp_end.is_none()
            {
                // The probe goes instead of the retransmission timeout (RFC 8985 7.2).
                self.tlp_pending = true;
                self.rto_at = Some(now + self.rtt.rto());
            }
        }
        if due(self.rto_at) {
            self.rto_at = None;
            self.on_rto(env, ev);
            if self.state == State::Closed {
                return;
            }
        }
        if due(self.delack_at) {
            self.delack_at = None;
            self.ack_now = true;
        }
        if due(self.rack_at) {
            self.rack_at = None;
            if self.sack_ok && self.state.is_synchronized() {
                self.rack_detect(env);
            }
        }
        if due(self.persist_at) {
            self.persist_at = None;
            if self.snd_wnd == 0 && (self.has_unsent() || self.txlog.lost() > 0) {
                env.stats.window_probes += 1;
                self.send_probe_pending = true;
                self.persist_backoff = self.persist_backoff.saturating_add(1);
            }
        }
        if due(self.keepalive_at) {
            self.keepalive_at = None;
            if let Some(k) = env.cfg.keepalive {
                if self.ka_probes >= k.probes {
                    env.stats.keepalive_timeouts += 1;
                    self.pending_rst = Some((self.snd_nxt, Some(self.rcv_nxt)));
                    self.state = State::Closed;
                    ev.closed = Some(CloseReason::TimedOut);
                    return;
                }
                if self.state.is_synchronized() {
                    self.ka_probes += 1;
                    env.stats.keepalive_probes += 1;
                    self.send_probe_pending = true;
                }
                self.keepalive_at = Some(now + k.interval);
            }
        }
    }

    fn on_rto(&mut self, env: &mut Env<'_>, ev: &mut Events) {
        let now = env.now;
        env.stats.rto_expired += 1;
        self.retries += 1;
        let limit = match self.state {
            State::SynSent => env.cfg.syn_retries,
            State::SynReceived => env.cfg.synack_retries,
            _ => env.cfg.max_retransmits,
        };
        if self.retries > limit {
            match self.state {
                State::SynSent => {
                    self.state = State::Closed;
                    ev.closed = Some(CloseReason::Refused);
                }
                State::SynReceived => {
                    env.stats.synack_timeouts += 1;
                    self.state = State::Closed;
                    ev.closed = Some(CloseReason::TimedOut);
                }
                _ => {
                    env.stats.retransmit_timeouts += 1;
                    self.pending_rst = Some((self.snd_nxt, Some(self.rcv_nxt)));
                    self.state = State::Closed;
                    ev.closed = Some(CloseReason::TimedOut);
                }
            }
            return;
        }
        self.rtt.backoff();
        self.rtt_seq = None;
        if matches!(self.state, State::SynSent | State::SynReceived) {
            env.stats.syn_retransmits += 1;
            self.snd_nxt = self.iss;
            return;
        }
        // RFC 5681 3.1 / RFC 6298 5.4-5.6 / RFC 8985 6.3: the loss window; everything
        // not SACKed is lost and goes again, in order, in slow start.
        let flight = self.pipe();
        self.arm_undo();
        self.cc.on_timeout(now, flight);
        self.in_recovery = false;
        self.recover = self.snd_max;
        self.dupacks = 0;
        self.txlog.on_timeout();
        self.high_rxt = self.snd_una;
        self.tlp_end = None;
        self.pto_at = None;
        self.rack_at = None;
    }

    fn has_unsent(&self) -> bool {
        let data_end = self.q_seq + self.queue.len();
        self.snd_nxt.lt(data_end) || (self.fin_queued && !self.fin_sent())
    }

    /// Send an ACK at the next output.
    pub(crate) fn set_ack_now(&mut self) {
        self.ack_now = true;
    }

    // ---- output ----

    /// Send what the state, the windows and the sink allow: SYN or SYN-ACK, new data,
    /// retransmissions, FIN, probes, ACKs, resets.
    pub(crate) fn output(&mut self, env: &mut Env<'_>, sink: &mut impl SegmentSink) {
        let now = env.now;
        if let Some((seq, ack)) = self.pending_rst.take() {
            self.send_rst(env, sink, seq, ack);
        }
        if self.abort_requested {
            return;
        }
        match self.state {
            State::Closed => return,
            State::SynSent | State::SynReceived => {
                if std::mem::take(&mut self.bare_ack) && self.snd_nxt != self.iss {
                    self.emit(env, sink, self.snd_nxt, TcpFlags::ACK, None);
                }
                if self.snd_nxt == self.iss || self.ack_now {
                    let mut flags = TcpFlags::SYN;
                    if self.state == State::SynReceived {
                        flags |= TcpFlags::ACK;
                    }
                    if self.snd_nxt != self.iss {
                        // A retransmission asked for by the peer: same SYN again.
                        self.snd_nxt = self.iss;
                    }
                    if self.emit(env, sink, self.iss, flags, None) {
                        if self.rtt_seq.is_none() && self.retries == 0 {
                            self.rtt_seq = Some((self.iss, now));
                        }
                        self.snd_nxt = self.iss + 1;
                        self.snd_max = self.snd_max.max(self.snd_nxt);
                        if self.rto_at.is_none() {
                            self.rto_at = Some(now + self.rtt.rto());
                        }
                    }
                }
                return;
            }
            State::TimeWait => {
                if self.ack_now {
                    self.emit(env, sink, self.snd_nxt, TcpFlags::ACK, None);
                }
                return;
            }
            _ => {}
        }

        // Idle restart (RFC 5681 4.1).
        if self.snd_una == self.snd_max
            && self.has_unsent()
            && now.saturating_since(self.last_sent) > self.rtt.rto()
        {
            self.cc.on_idle_restart(now);
        }

        // Retransmissions of what is lost first.
        if self.in_recovery || self.txlog.lost() > 0 {
            self.recovery_output(env, sink);
        }

        let data_end = self.q_seq + self.queue.len();
        if std::mem::take(&mut self.tlp_pending) && sink.space() > 0 {
            self.send_probe(env, sink, data_end);
        }

        // New data, then the FIN. With TSO a segment carries up to `seg_max` bytes, cut
        // into MSS-sized segments by the port.
        let tso = self.tso_payload(env, sink);
        let seg_max = if tso > 0 { tso } else { self.smss };
        loop {
            if sink.space() == 0 {
                break;
            }
            let wnd_end = self.snd_una + self.snd_wnd;
            let cwnd_room = self.cc.cwnd().saturating_sub(self.pipe());
            let wnd_room = if wnd_end.gt(self.snd_nxt) {
                wnd_end.dist_from(self.snd_nxt)
            } else {
                0
            };
            if self.snd_nxt.lt(data_end) {
                let remaining = data_end.dist_from(self.snd_nxt);
                let room = wnd_room.min(cwnd_room);
                let mut len = remaining.min(seg_max).min(room);
                if len > self.smss && len < remaining {
                    // Whole MSS segments only, but the last of the data.
                    len -= len % self.smss;
                }
                if len == 0 || !self.txlog.has_room() {
                    break;
                }
                // Sender SWS avoidance (RFC 9293 3.8.6.2.1): a short segment only at the
                // end of the data, with nothing in flight, or for half the peer's window.
                if len < self.smss
                    && len < remaining
                    && self.snd_nxt != self.snd_una
                    && len < self.max_snd_wnd / 2
                {
                    break;
                }
                if !self.send_data(env, sink, self.snd_nxt, len, data_end) {
                    break;
                }
                continue;
            }
            if self.fin_queued
                && self.snd_nxt == data_end
                && self.emit(env, sink, data_end, TcpFlags::FIN | TcpFlags::ACK, None)
            {
                self.record_send(env, data_end, 1);
                self.advance_nxt(data_end + 1, now);
            }
            break;
        }

        // Zero window: persist (RFC 9293 3.8.6.1); the probe itself is an old-sequence
        // segment the peer must answer with its window.
        if self.send_probe_pending {
            self.send_probe_pending = false;
            self.emit(env, sink, self.snd_una - 1, TcpFlags::ACK, None);
        }
        let nothing_in_flight = self.pipe() == 0;
        let waiting = self.has_unsent() || self.txlog.lost() > 0;
        if self.snd_wnd == 0 && waiting && nothing_in_flight {
            if self.persist_at.is_none() {
                let d = self
                    .rtt
                    .rto()
                    .saturating_mul(1 << self.persist_backoff.min(10))
                    .min(MAX_PERSIST);
                self.persist_at = Some(now + d);
            }
        } else if !nothing_in_flight {
            self.persist_at = None;
        }

        if self.ack_now {
            self.emit(env, sink, self.snd_nxt, TcpFlags::ACK, None);
        }
        // Outstanding data always has a timer running (a send the sink refused must not
        // leave the connection without one).
        if self.snd_una != self.snd_max && self.rto_at.is_none() && self.persist_at.is_none() {
            self.rto_at = Some(now + self.rtt.rto());
        }
        if std::mem::take(&mut self.pto_dirty) {
            self.arm_pto(now);
        }
        debug_assert!(
            !self.state.is_synchronized()
                || self.snd_una == self.iss
                || self.txlog.covers(self.snd_una, self.snd_max),
            "in-flight records out of step with [SND.UNA, SND.MAX)"
        );
    }

    /// Payload bytes one super-segment may carry (a multiple of the MSS, at least two), or 0
    /// when TSO is off or the sink cannot cut segments.
    fn tso_payload(&self, env: &Env<'_>, sink: &mut impl SegmentSink) -> u32 {
        if !env.cfg.tso || self.smss == 0 {
            return 0;
        }
        let room = sink.tso_max().saturating_sub(crate::sink::MAX_HEADER);
        let segs = u32::try_from(room).unwrap_or(u32::MAX) / self.smss;
        if segs < 2 || self.smss > u32::from(u16::MAX) {
            0
        } else {
            segs * self.smss
        }
    }

    /// RFC 8985 7.2: the probe timer, while new data is in flight outside recovery.
    fn arm_pto(&mut self, now: Instant) {
        self.pto_at = None;
        let open = matches!(
            self.state,
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::Closing
                | State::LastAck
        );
        if !self.sack_ok
            || !open
            || self.in_recovery
            || self.txlog.lost() > 0
            || self.tlp_end.is_some()
            || self.snd_una == self.snd_max
            || self.snd_wnd == 0
        {
            return;
        }
        let mut pto = self.rtt.srtt().map_or(PTO_NO_RTT, |s| s * 2);
        if self.in_flight() <= self.smss {
            pto += WC_DEL_ACK;
        }
        // Never later than the retransmission timeout it stands in for.
        let at = now + pto.max(MIN_PTO);
        self.pto_at = Some(self.rto_at.map_or(at, |r| at.min(r)));
    }

    /// RFC 8985 7.3: the probe is a new segment if there is one the peer's window takes,
    /// else the last segment again.
    fn send_probe(&mut self, env: &mut Env<'_>, sink: &mut impl SegmentSink, data_end: Seq) {
        let wnd_end = self.snd_una + self.snd_wnd;
        let (sent, retrans) =
            if self.snd_nxt.lt(data_end) && wnd_end.gt(self.snd_nxt) && self.txlog.has_room() {
                let len = data_end
                    .dist_from(self.snd_nxt)
                    .min(self.smss)
                    .min(wnd_end.dist_from(self.snd_nxt));
                (
                    self.send_data(env, sink, self.snd_nxt, len, data_end),
                    false,
                )
            } else if let Some((seq, len)) = self.txlog.last().filter(|&(seq, _)| seq.lt(wnd_end)) {
                (self.resend(env, sink, seq, len, data_end), true)
            } else {
                (false, false)
            };
        if sent {
            env.stats.tlp_probes += 1;
            self.tlp_end = Some(TlpEpisode {
                end: self.snd_max,
                retrans,
                flight: self.in_flight(),
            });
            self.rto_at = Some(env.now + self.rtt.rto());
        }
    }

    /// Send `[seq, seq + len)` again (data up to `data_end`, the FIN past it).
    fn resend(
        &mut self,
        env: &mut Env<'_>,
        sink: &mut impl SegmentSink,
        seq: Seq,
        len: u32,
        data_end: Seq,
    ) -> bool {
        let data_len = if seq.lt(data_end) {
            len.min(data_end.dist_from(seq)).min(self.smss)
        } else {
            0
        };
        if data_len > 0 {
            self.send_data(env, sink, seq, data_len, data_end)
        } else if self.fin_sent() && seq == data_end {
            let ok = self.emit(env, sink, seq, TcpFlags::FIN | TcpFlags::ACK, None);
            if ok {
                self.record_send(env, seq, 1);
                env.stats.retransmits += 1;
            }
            ok
        } else {
            false
        }
    }

    /// Note a segment sent at `seq` covering `len` sequence numbers.
    fn record_send(&mut self, env: &mut Env<'_>, seq: Seq, len: u32) {
        if !self.txlog.has_buffer() {
            if let Some(b) = env.seg_pool.pop() {
                self.txlog.adopt(b);
            }
        }
        let retransmit = seq.lt(self.snd_max);
        self.txlog.on_send(seq, len, self.snd_max, env.now);
        if retransmit {
            if let Some(u) = self.undo.as_mut().filter(|u| u.expire.is_none()) {
                if u.retrans_ts.is_none() {
                    u.retrans_ts = Some(crate::rack::ts_val(env.now, self.ts_offset));
                }
                u.retrans += 1;
                u.retrans_left += 1;
            }
        } else {
            self.pto_dirty = true;
        }
    }

    /// RFC 6675 5 (NextSeg) / RFC 6582: retransmit holes while the pipe allows.
    fn recovery_output(&mut self, env: &mut Env<'_>, sink: &mut impl SegmentSink) {
        let data_end = self.q_seq + self.queue.len();
        loop {
            if sink.space() == 0 {
                return;
            }
            if !self.rexmit_now && self.pipe() + self.smss > self.cc.cwnd() {
                return;
            }
            let Some((seq, len)) = self.next_hole() else {
                self.rexmit_now = false;
                return;
            };
            // Only into the peer's window (a window that shrank to zero is probed).
            if !seq.lt(self.snd_una + self.snd_wnd) {
                self.rexmit_now = false;
                return;
            }
            let sent = self.resend(env, sink, seq, len, data_end);
            self.rexmit_now = false;
            if !sent {
                return;
            }
            self.high_rxt = seq + len.min(self.smss).max(1);
        }
    }

    /// The next range to retransmit, if any: the first segment deemed lost; in NewReno
    /// recovery the segment at SND.UNA, once per partial ACK.
    fn next_hole(&self) -> Option<(Seq, u32)> {
        if let Some(hole) = self.txlog.first_lost() {
            return Some(hole);
        }
        let from = self.high_rxt.max(self.snd_una);
        if !self.sack_ok
            && self.in_recovery
            && from == self.snd_una
            && self.snd_una.lt(self.snd_max)
        {
            return Some((
                self.snd_una,
                self.smss.min(self.snd_max.dist_from(self.snd_una)),
            ));
        }
        None
    }

    fn advance_nxt(&mut self, to: Seq, now: Instant) {
        if to.gt(self.snd_nxt) {
            self.snd_nxt = to;
        }
        if self.snd_nxt.gt(self.snd_max) {
            self.snd_max = self.snd_nxt;
        }
        if self.rto_at.is_none() {
            self.rto_at = Some(now + self.rtt.rto());
        }
        self.last_sent = now;
    }

    /// Send `len` bytes at `seq` from the queue (one piece: a prepared segment when it is
    /// one whole, else a copy). Advances SND.NXT when it sends beyond it.
    fn send_data(
        &mut self,
        env: &mut Env<'_>,
        sink: &mut impl SegmentSink,
        seq: Seq,
        len: u32,
        data_end: Seq,
    ) -> bool {
        let now = env.now;
        let o = seq.dist_from(self.q_seq);
        let Some(mut piece) = self.queue.piece(o, len) else {
            return false;
        };
        // A prepared object goes out in its own segments whenever they fit the MSS (a
        // peer without timestamps has 12 bytes more room than the object was cut for),
        // unless a super-segment carries a copy of many of them.
        let tso = piece.len() > self.smss;
        if let (Piece::Object { id, offset, len }, false) = (&mut piece, tso) {
            let seg = env.objects.get(id.0 as usize).map_or(0, |o| o.seg_size());
            if seg > 0 && seg <= self.smss {
                *len = (*len).min(seg - *offset % seg);
            }
        }
        let plen = piece.len();
        let end = seq + plen;
        let retransmit = seq.lt(self.snd_max);
        let mut flags = TcpFlags::ACK;
        if end == data_end {
            flags |= TcpFlags::PSH;
            // Piggyback the FIN on the last segment.
            if self.fin_queued && (!retransmit || self.fin_sent()) {
                flags |= TcpFlags::FIN;
            }
        }
        if !self.emit(env, sink, seq, flags, Some(piece)) {
            return false;
        }
        env.stats.tx_bytes += u64::from(plen);
        if retransmit {
            env.stats.retransmits += 1;
        }
        let fin = u32::from(flags.contains(TcpFlags::FIN));
        // One record per wire segment, as the peer sees them: SACK, RACK and the segment
        // bound work as without TSO.
        let mut at = seq;
        let mut left = plen;
        while left > self.smss {
            self.record_send(env, at, self.smss);
            at += self.smss;
            left -= self.smss;
        }
        self.record_send(env, at, left + fin);
        self.advance_nxt(end + fin, now);
        true
    }

    /// Build one segment into the sink. `piece` is its payload.
    fn emit(
        &mut self,
        env: &mut Env<'_>,
        sink: &mut impl SegmentSink,
        seq: Seq,
        flags: TcpFlags,
        piece: Option<Piece>,
    ) -> bool {
        let now = env.now;
        let syn = flags.contains(TcpFlags::SYN);
        let mut options = TcpOptions::default();
        if syn {
            options.mss = Some(env.cfg.mss);
            let offer_ws = env.cfg.window_scaling && (self.state == State::SynSent || self.ws_ok);
            if offer_ws {
                options.window_scale = Some(self.rcv_shift);
            }
            let offer_sack = env.cfg.sack && (self.state == State::SynSent || self.sack_ok);
            options.sack_permitted = offer_sack;
            let offer_ts = env.cfg.timestamps && (self.state == State::SynSent || self.ts_ok);
            if offer_ts {
                options.timestamps = Some((self.ts_now(now), self.ts_recent_if_any()));
            }
        } else {
            if self.ts_ok {
                options.timestamps = Some((self.ts_now(now), self.ts_recent));
            }
            if self.sack_ok && !self.reasm.is_empty() {
                let max = if self.ts_ok { 3 } else { 4 };
                options.sack = self.reasm.sack_blocks(self.rcv_nxt, max);
            }
        }
        let window = if syn {
            self.rcv_wnd.min(65_535) as u16
        } else {
            (self.rcv_wnd >> self.rcv_shift).min(65_535) as u16
        };
        let ack_flag = flags.contains(TcpFlags::ACK);
        let payload_len = piece.map_or(0, |p| p.len() as usize);
        // Longer than one MSS only when the sink cuts segments (`tso_payload`).
        let tso = payload_len > self.smss as usize;
        let mss = self.smss as u16;
        let repr = TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq,
            ack: if ack_flag { self.rcv_nxt } else { Seq(0) },
            flags,
            window,
            urgent: 0,
            options,
            payload_len,
        };
        let (src, dst) = (*self.local.ip(), *self.remote.ip());
        let sent = match piece {
            None => sink.send(src, dst, repr.header_len(), |buf| {
                repr.emit_header(&mut TcpPacket::new_unchecked(&mut *buf), src, dst);
                repr.header_len()
            }),
            Some(Piece::Stream { at, len }) if tso => {
                let Some(ring) = self.queue.ring.as_ref() else {
                    return false;
                };
                let h = repr.header_len();
                sink.send_tso(src, dst, h + len as usize, mss, |buf| {
                    let n = ring.copy_out(at as usize, &mut buf[h..h + len as usize]);
                    if n != len as usize {
                        return 0;
                    }
                    repr.emit_header_unsummed(&mut TcpPacket::new_unchecked(&mut *buf));
                    h + len as usize
                })
            }
            Some(Piece::Object { id, offset, len }) if tso => {
                let Some(obj) = env.objects.get(id.0 as usize) else {
                    return false;
                };
                let Some(data) = obj.data().get(offset as usize..(offset + len) as usize) else {
                    return false;
                };
                let h = repr.header_len();
                sink.send_tso(src, dst, h + data.len(), mss, |buf| {
                    buf[h..h + data.len()].copy_from_slice(data);
                    repr.emit_header_unsummed(&mut TcpPacket::new_unchecked(&mut *buf));
                    h + data.len()
                })
            }
            Some(Piece::Stream { at, len }) => {
                let Some(ring) = self.queue.ring.as_ref() else {
                    return false;
                };
                let h = repr.header_len();
                sink.send(src, dst, h + len as usize, |buf| {
                    let n = ring.copy_out(at as usize, &mut buf[h..h + len as usize]);
                    if n != len as usize {
                        return 0;
                    }
                    repr.emit_header(&mut TcpPacket::new_unchecked(&mut *buf), src, dst);
                    h + len as usize
                })
            }
            Some(Piece::Object { id, offset, len }) => {
                let Some(obj) = env.objects.get(id.0 as usize) else {
                    return false;
                };
                match obj.whole_segment(offset, len) {
                    Some(k) => {
                        env.stats.tx_prepared += 1;
                        sink.send_prepared(src, dst, &repr, id, obj, k)
                    }
                    _ => {
                        env.stats.tx_prepared_resegmented += 1;
                        let data = &obj.data()[offset as usize..(offset + len) as usize];
                        let h = repr.header_len();
                        sink.send(src, dst, h + data.len(), |buf| {
                            buf[h..h + data.len()].copy_from_slice(data);
                            repr.emit_header(&mut TcpPacket::new_unchecked(&mut *buf), src, dst);
                            h + data.len()
                        })
                    }
                }
            }
        };
        if !sent {
            env.stats.tx_dropped += 1;
            return false;
        }
        env.stats.tx_segments += 1;
        env.stats.tx_tso += u64::from(tso);
        if ack_flag {
            self.ack_now = false;
            self.ack_batch = false;
            self.delack_at = None;
            self.unacked_segs = 0;
            self.last_ack_sent = self.rcv_nxt;
        }
        true
    }

    fn ts_recent_if_any(&self) -> u32 {
        if self.state == State::SynSent {
            0
        } else {
            self.ts_recent
        }
    }

    fn send_rst(
        &mut self,
        env: &mut Env<'_>,
        sink: &mut impl SegmentSink,
        seq: Seq,
        ack: Option<Seq>,
    ) {
        let repr = TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq,
            ack: ack.unwrap_or(Seq(0)),
            flags: if ack.is_some() {
                TcpFlags::RST | TcpFlags::ACK
            } else {
                TcpFlags::RST
            },
            window: 0,
            urgent: 0,
            options: TcpOptions::default(),
            payload_len: 0,
        };
        let (src, dst) = (*self.local.ip(), *self.remote.ip());
        if sink.send(src, dst, repr.header_len(), |buf| {
            repr.emit_header(&mut TcpPacket::new_unchecked(&mut *buf), src, dst);
            repr.header_len()
        }) {
            env.stats.tx_rst += 1;
            env.stats.tx_segments += 1;
        } else {
            env.stats.tx_dropped += 1;
        }
    }

    /// Abort: a reset now (RFC 9293 3.10.5 ABORT), if the connection got far enough to
    /// need one.
    pub(crate) fn abort(&mut self, env: &mut Env<'_>, sink: &mut impl SegmentSink) {
        if matches!(self.state, State::SynSent | State::TimeWait | State::Closed) {
            self.state = State::Closed;
            return;
        }
        self.send_rst(env, sink, self.snd_nxt, Some(self.rcv_nxt));
        self.state = State::Closed;
    }
}

#[cfg(test)]
mod layout {
    use super::TimeWaitState;
    use std::mem::offset_of;

    /// What a new SYN's check and the end of the wait read lies in the record's first 40
    /// bytes: with the table entry's 24-byte header, the first cache line.
    #[test]
    fn a_time_wait_record_is_checked_from_its_first_line() {
        for end in [
            offset_of!(TimeWaitState, ts_ok) + 1,
            offset_of!(TimeWaitState, ts_recent) + 4,
            offset_of!(TimeWaitState, rcv_nxt) + 4,
            offset_of!(TimeWaitState, wait_at) + 8,
        ] {
            assert!(end <= 40, "{end}");
        }
        assert!(std::mem::size_of::<TimeWaitState>() <= 104);
    }
}
