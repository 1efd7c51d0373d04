//! TCP in the [`eth`] stack: [`Tcp`] is an [`eth::Transport`] around a [`TcpCore`] and an
//! application, so it goes into a `Stack` alone or in a tuple with UDP.
//!
//! Received segments come from the IPv4 layer (already checked, cut at the IPv4 length);
//! segments out go straight into TX slots through [`eth::Iface::send_ipv4`], which adds
//! IPv4 and Ethernet and holds them while ARP resolves the next hop. The core's timer
//! wheel is driven by one timer in the loop's wheel, re-armed after every call.
//!
//! Prepared objects ([`Tcp::prepare`]) are also kept as whole frames in the port's
//! prepared pool, one per segment ([`crate::frame`]); a prepared segment then leaves
//! through the port's `send_prepared` in the chosen [`PrepMode`], with only the
//! per-connection fields rewritten. When the frame layout cannot carry the header (SACK
//! blocks ride on it) or the next hop is unresolved, the segment is built by copy instead.

use crate::app::{Conn, TcpApp};
use crate::endpoint::{TcpCore, TcpError};
use crate::frame::{self, FrameFields};
use crate::prepared::{ObjectId, PreparedObject};
use crate::seq::Seq;
use crate::sink::{send_prepared_by_copy, SegmentSink};
use crate::stats::TcpStats;
use crate::table::Handle;
use crate::tcb::IcmpKind;
use crate::wire::{TcpOptions, TcpPacket, TcpRepr};
use eth::checksum;
use eth::stack::{timer_token, IcmpError, IpContext, IpInput};
use eth::wire::icmp::IcmpType;
use eth::wire::{IpProtocol, Ipv4Addr};
use eth::{Delivery, SendStatus, Transport};
use nmio::{Instant, PrepMode, PreparedId, TimerHandle, TxQueue};
use std::net::SocketAddrV4;

/// Why [`Tcp::prepare`] failed.
#[derive(Debug)]
pub enum PrepareError {
    /// The port refused a frame (its prepared pool is full, or the frame is larger than
    /// its slots).
    Port(nmio::Error),
    /// A segment does not fit the interface MTU.
    TooBig,
}

impl std::fmt::Display for PrepareError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrepareError::Port(e) => write!(f, "tcp: prepared frame refused by the port: {e}"),
            PrepareError::TooBig => f.write_str("tcp: prepared segment larger than the MTU"),
        }
    }
}

impl std::error::Error for PrepareError {}

/// TCP with application `A`, as a transport of an [`eth::Stack`].
pub struct Tcp<A> {
    core: TcpCore,
    app: A,
    mode: PrepMode,
    /// Frame ids in the port's prepared pool, per object, per segment.
    frames: Vec<Vec<PreparedId>>,
    timer: Option<(TimerHandle, Instant)>,
    /// Segments arrived since the loop timer was last set: it is set once at the end of
    /// the receive batch (`on_batch_end`), not per segment.
    rearm_pending: bool,
}

impl<A: TcpApp> Tcp<A> {
    /// TCP over `core` with `app`; prepared segments go out in `mode`.
    pub fn new(core: TcpCore, app: A, mode: PrepMode) -> Self {
        Tcp {
            core,
            app,
            mode,
            frames: Vec::new(),
            timer: None,
            rearm_pending: false,
        }
    }

    /// The core (listeners, counters, connections).
    pub fn core(&self) -> &TcpCore {
        &self.core
    }

    /// The core, mutably (to listen before the stack runs).
    pub fn core_mut(&mut self) -> &mut TcpCore {
        &mut self.core
    }

    /// Counters.
    pub fn stats(&self) -> &TcpStats {
        self.core.stats()
    }

    /// The application.
    pub fn app(&self) -> &A {
        &self.app
    }

    /// The application, mutably.
    pub fn app_mut(&mut self) -> &mut A {
        &mut self.app
    }

    /// Register `data` as a prepared object cut at `seg_size`, and build its frames in the
    /// port's pool (with [`eth::Stack::with_upper`]).
    pub fn prepare<Tx: TxQueue>(
        &mut self,
        ip: &mut IpContext<'_, '_, Tx>,
        data: &[u8],
        seg_size: u16,
    ) -> Result<ObjectId, PrepareError> {
        let seg_size = seg_size.max(1);
        if frame::frame_len(usize::from(seg_size)) > ip.iface.max_payload() + eth::HEADERS_LEN {
            return Err(PrepareError::TooBig);
        }
        let (mac, addr, ttl) = (ip.iface.mac(), ip.iface.addr(), ip.iface.config().ttl);
        let object = PreparedObject::new(data, seg_size);
        let mut ids = Vec::with_capacity(object.segments());
        let mut buf = vec![0u8; frame::frame_len(usize::from(seg_size))];
        for k in 0..object.segments() {
            let seg = object.segment(k);
            let n =
                frame::build(&mut buf, mac, addr, ttl, seg).map_err(|_| PrepareError::TooBig)?;
            ids.push(ip.tx().prepare(&buf[..n]).map_err(PrepareError::Port)?);
        }
        let id = self.core.prepare(data, seg_size);
        debug_assert_eq!(id.0 as usize, self.frames.len());
        self.frames.push(ids);
        Ok(id)
    }

    /// Overwrite `bytes.len()` bytes at `offset` of prepared object `id`, in the core's copy
    /// and in the port's prepared frames (their TCP checksums updated, RFC 1624). False, and
    /// nothing changed, if `id` is unknown, the span is not inside the object or a frame is
    /// missing.
    pub fn patch_prepared<Tx: TxQueue>(
        &mut self,
        ip: &mut IpContext<'_, '_, Tx>,
        id: ObjectId,
        offset: usize,
        bytes: &[u8],
    ) -> bool {
        let (Some(obj), Some(frames)) = (self.core.object(id), self.frames.get(id.0 as usize))
        else {
            return false;
        };
        let end = offset.saturating_add(bytes.len());
        if end > obj.len() || bytes.is_empty() {
            return end <= obj.len() && self.core.patch_prepared(id, offset, bytes);
        }
        let seg = obj.seg_size() as usize;
        let (first, last) = (offset / seg, (end - 1) / seg);
        if last >= frames.len()
            || frames[first..=last]
                .iter()
                .any(|&f| ip.tx().prepared(f).is_none())
        {
            return false;
        }
        for (k, &fid) in frames.iter().enumerate().take(last + 1).skip(first) {
            let (from, to) = (offset.max(k * seg), end.min((k + 1) * seg));
            let Some(img) = ip.tx().prepared_mut(fid) else {
                return false;
            };
            // RFC 1624 over the changed span widened to whole 16-bit words (the payload
            // starts at an even offset of the TCP segment): the sums before and after.
            let at = frame::PAYLOAD_AT + (from - k * seg);
            // At the frame's end an odd byte is summed padded with zero, as the checksum
            // itself does.
            let (a, b) = (at & !1, ((at + (to - from) + 1) & !1).min(img.len()));
            let words = |img: &[u8]| !checksum::finish(checksum::sum(&img[a..b], 0));
            let before = words(img);
            img[at..at + (to - from)].copy_from_slice(&bytes[from - offset..to - offset]);
            let after = words(img);
            let mut tcp = TcpPacket::new_unchecked(&mut img[frame::TCP_AT..]);
            let c = checksum::update16(tcp.checksum(), before, after);
            tcp.set_checksum(c);
        }
        self.core.patch_prepared(id, offset, bytes)
    }

    /// Open a connection (see [`TcpCore::connect`]); `local` port 0 picks an ephemeral one.
    pub fn connect<Tx: TxQueue>(
        &mut self,
        ip: &mut IpContext<'_, '_, Tx>,
        local: SocketAddrV4,
        remote: SocketAddrV4,
    ) -> Result<Handle, TcpError> {
        let now = ip.now();
        let mut sink = IpSink {
            ip: &mut *ip,
            frames: &self.frames,
            mode: self.mode,
        };
        let r = self.core.connect(now, local, remote, &mut sink);
        self.rearm(ip);
        r
    }

    /// Act on a connection between passes (see [`TcpCore::act`]).
    pub fn act<Tx: TxQueue, R>(
        &mut self,
        ip: &mut IpContext<'_, '_, Tx>,
        h: Handle,
        f: impl FnOnce(&mut Conn<'_>) -> R,
    ) -> Option<R> {
        let now = ip.now();
        let mut sink = IpSink {
            ip: &mut *ip,
            frames: &self.frames,
            mode: self.mode,
        };
        let r = self.core.act(now, h, &mut self.app, &mut sink, f);
        self.rearm(ip);
        r
    }

    /// Keep one loop timer at the core's next deadline.
    fn rearm<Tx: TxQueue>(&mut self, ip: &mut IpContext<'_, '_, Tx>) {
        self.rearm_pending = false;
        let want = self.core.poll_timeout();
        match (self.timer, want) {
            (None, None) => {}
            (Some((_, at)), Some(w)) if at == w => {}
            (Some((th, _)), None) => {
                ip.timers().cancel(th);
                self.timer = None;
            }
            (Some((th, _)), Some(w)) => {
                if ip.timers().reschedule(th, w) {
                    self.timer = Some((th, w));
                } else {
                    self.timer = ip
                        .timers()
                        .schedule(w, timer_token(IpProtocol::TCP, 0))
                        .map(|t| (t, w));
                }
            }
            (None, Some(w)) => {
                self.timer = ip
                    .timers()
                    .schedule(w, timer_token(IpProtocol::TCP, 0))
                    .map(|t| (t, w));
            }
        }
    }
}

impl<Tx: TxQueue, A: TcpApp> Transport<Tx> for Tcp<A> {
    #[inline]
    fn accepts(&self, protocol: IpProtocol) -> bool {
        protocol == IpProtocol::TCP
    }

    fn on_packet(&mut self, ip: &mut IpContext<'_, '_, Tx>, pkt: IpInput<'_>) -> Delivery {
        if pkt.broadcast {
            self.core.count_broadcast();
            return Delivery::Accepted;
        }
        let now = ip.now();
        let verify = pkt.verify_checksum();
        let mut sink = IpSink {
            ip: &mut *ip,
            frames: &self.frames,
            mode: self.mode,
        };
        // The loop's receive burst is the core's receive batch: ACKs owed for every
        // second segment go once, at `on_batch_end`.
        self.core.begin_batch();
        self.core.on_segment_checked(
            now,
            pkt.src,
            pkt.dst,
            pkt.payload,
            verify,
            &mut self.app,
            &mut sink,
        );
        // The loop calls `on_batch_end` after the frames of a pass (nmio's Handler
        // contract): the next deadline is looked up once per batch.
        self.rearm_pending = true;
        Delivery::Accepted
    }

    fn on_icmp_error(&mut self, ip: &mut IpContext<'_, '_, Tx>, err: &IcmpError<'_>) {
        use eth::wire::icmp::unreachable;
        // The quoted header: ports, then the sequence number (RFC 792 quotes 8 bytes).
        let Some(q) = err.transport.get(..8) else {
            return;
        };
        let local_port = u16::from_be_bytes([q[0], q[1]]);
        let remote_port = u16::from_be_bytes([q[2], q[3]]);
        let seq = Seq(u32::from_be_bytes([q[4], q[5], q[6], q[7]]));
        let kind = match (err.msg_type, err.code) {
            (IcmpType::DST_UNREACHABLE, unreachable::PROTOCOL | unreachable::PORT) => {
                IcmpKind::Hard
            }
            (IcmpType::DST_UNREACHABLE, unreachable::FRAG_NEEDED) if err.next_hop_mtu > 0 => {
                IcmpKind::FragNeeded(err.next_hop_mtu)
            }
            _ => IcmpKind::Soft,
        };
        let local = SocketAddrV4::new(ip.iface.addr(), local_port);
        let remote = SocketAddrV4::new(err.dst, remote_port);
        let now = ip.now();
        let mut sink = IpSink {
            ip: &mut *ip,
            frames: &self.frames,
            mode: self.mode,
        };
        self.core
            .on_icmp_error(now, local, remote, seq, kind, &mut self.app, &mut sink);
        self.rearm(ip);
    }

    fn on_timer(&mut self, ip: &mut IpContext<'_, '_, Tx>, _token: u64) {
        self.timer = None;
        let now = ip.now();
        let mut sink = IpSink {
            ip: &mut *ip,
            frames: &self.frames,
            mode: self.mode,
        };
        self.core.on_timeout(now, &mut self.app, &mut sink);
        self.rearm(ip);
    }

    fn on_batch_end(&mut self, ip: &mut IpContext<'_, '_, Tx>) {
        let now = ip.now();
        let mut sink = IpSink {
            ip: &mut *ip,
            frames: &self.frames,
            mode: self.mode,
        };
        self.core.end_batch(now, &mut self.app, &mut sink);
        if self.rearm_pending {
            self.rearm(ip);
        }
    }
}

/// The core's output into the IPv4 layer.
struct IpSink<'s, 'a, 'c, Tx> {
    ip: &'s mut IpContext<'a, 'c, Tx>,
    frames: &'s [Vec<PreparedId>],
    mode: PrepMode,
}

impl<Tx: TxQueue> SegmentSink for IpSink<'_, '_, '_, Tx> {
    #[inline]
    fn space(&mut self) -> usize {
        self.ip.tx().tx_space()
    }

    #[inline]
    fn send(
        &mut self,
        _local: Ipv4Addr,
        remote: Ipv4Addr,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> bool {
        let status = self.ip.send_ipv4(remote, IpProtocol::TCP, |buf| {
            if buf.len() < len {
                return 0;
            }
            fill(buf)
        });
        matches!(status, SendStatus::Sent | SendStatus::Held)
    }

    #[inline]
    fn tso_max(&mut self) -> usize {
        self.ip.tso_max_payload()
    }

    fn send_tso(
        &mut self,
        _local: Ipv4Addr,
        remote: Ipv4Addr,
        len: usize,
        mss: u16,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> bool {
        let status = self.ip.send_tcp_tso(remote, mss, len, |buf| {
            if buf.len() < len {
                return 0;
            }
            fill(buf)
        });
        status == SendStatus::Sent
    }

    fn send_prepared(
        &mut self,
        local: Ipv4Addr,
        remote: Ipv4Addr,
        header: &TcpRepr,
        id: ObjectId,
        object: &PreparedObject,
        segment: usize,
    ) -> bool {
        let frame_id = self
            .frames
            .get(id.0 as usize)
            .and_then(|f| f.get(segment).copied());
        let plain = header.options
            == TcpOptions {
                timestamps: header.options.timestamps,
                ..TcpOptions::default()
            };
        let mac = if plain { self.ip.resolve(remote) } else { None };
        let (Some(frame_id), Some(dst_mac)) = (frame_id, mac) else {
            return send_prepared_by_copy(self, local, remote, header, object, segment);
        };
        let fields = FrameFields {
            dst_mac,
            ip_ident: self.ip.iface.next_ident(),
            dst_ip: remote,
            src_port: header.src_port,
            dst_port: header.dst_port,
            seq: header.seq,
            ack: header.ack,
            flags: header.flags,
            window: header.window,
            timestamps: header.options.timestamps,
        };
        let mut ok = true;
        let sent = self
            .ip
            .tx()
            .send_prepared(frame_id, self.mode, |f| ok = frame::rewrite(f, &fields));
        if sent && ok {
            self.ip.iface.count_prepared_sent();
        }
        sent && ok
    }
}
