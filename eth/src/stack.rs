//! The receive path and its composition: Ethernet demux, ARP, IPv4 checks, ICMP, and the
//! transports above, as one [`nmio::Handler`].
//!
//! A [`Stack<U>`] owns the interface ([`Iface`]) and the transports `U`. Transports are a
//! generic parameter implementing [`Transport`]; two or more are composed as a tuple
//! (`(Tcp, Udp)`), which demuxes by protocol number at compile time, so the whole path from
//! the backend's burst to a transport's handler is monomorphized.
//!
//! # Order of the checks
//!
//! Each frame is dropped at the first failed check and counted under that reason:
//! Ethernet (length, VLAN, destination MAC, source MAC, EtherType), then IPv4 in the order
//! RFC 1122 3.2.1 lists them (length, version, IHL, total length against the frame,
//! checksum), then what we choose not to handle (options, fragments), TTL (only with
//! `min_ttl`), destination (ours or broadcast), source (one host), protocol.
//!
//! # Timer tokens
//!
//! The loop's timer wheel is shared. Tokens whose top byte is an IP protocol number belong
//! to the transport serving that protocol (build them with [`timer_token`]); a tuple of
//! transports routes `on_timer` by it. [`TICK_TOKEN`] is the stack's own housekeeping.

use crate::config::{ConfigError, IfaceConfig};
use crate::iface::{Iface, SendStatus};
use crate::wire::ethernet::HEADER_LEN as ETH_LEN;
use crate::wire::icmp::unreachable;
use crate::wire::{ArpPacket, ArpRepr};
use crate::wire::{
    EtherType, EthernetFrame, IcmpPacket, IcmpType, IpProtocol, Ipv4Addr, Ipv4Packet, MacAddr,
    WireError,
};
use crate::Stats;
use nmio::{Clock, Context, EventLoop, Handler, Instant, Port, RxFlags, RxMeta, TimerHandle};
use nmio::{TimerWheel, TxQueue};

/// The stack's housekeeping timer token (top byte 0xff, not an IP protocol in use).
pub const TICK_TOKEN: u64 = 0xff << 56;

/// A timer token for the transport of `protocol` carrying `value` (its low 56 bits).
#[inline]
pub const fn timer_token(protocol: IpProtocol, value: u64) -> u64 {
    ((protocol.0 as u64) << 56) | (value & ((1 << 56) - 1))
}

/// The protocol a timer token belongs to (see [`timer_token`]).
#[inline]
pub const fn token_protocol(token: u64) -> IpProtocol {
    IpProtocol((token >> 56) as u8)
}

/// A received IPv4 packet handed to a transport.
#[derive(Debug)]
pub struct IpInput<'a> {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address (ours, or a broadcast when `broadcast`).
    pub dst: Ipv4Addr,
    /// The protocol field.
    pub protocol: IpProtocol,
    /// TTL as received.
    pub ttl: u8,
    /// DSCP and ECN bits.
    pub dscp_ecn: u8,
    /// Sent to a broadcast address (limited or directed): answer with care.
    pub broadcast: bool,
    /// The sender's MAC (the last hop: a router for off-link sources).
    pub src_mac: MacAddr,
    /// Backend facts: [`RxFlags::CSUM_PARTIAL`] means the transport checksum was left to
    /// offload and must not be verified; [`RxFlags::CSUM_VALID`] that it was verified.
    pub flags: RxFlags,
    /// The transport header and payload, cut at the IPv4 total length.
    pub payload: &'a mut [u8],
}

impl IpInput<'_> {
    /// Whether the transport checksum still needs verifying in software.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        !self
            .flags
            .intersects(RxFlags::CSUM_PARTIAL | RxFlags::CSUM_VALID)
    }
}

/// What a transport did with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Handled (or dropped and counted by the transport itself).
    Accepted,
    /// Nobody listens on the destination port: the stack counts it and sends an ICMP port
    /// unreachable (RFC 1122 3.2.2.1, rate limited).
    PortUnreachable,
}

/// An ICMP error about a packet we sent (RFC 792: destination unreachable, time exceeded,
/// parameter problem, source quench), handed to the transport that sent it.
#[derive(Debug, Clone, Copy)]
pub struct IcmpError<'a> {
    /// The ICMP type.
    pub msg_type: IcmpType,
    /// The ICMP code.
    pub code: u8,
    /// The next-hop MTU of a "fragmentation needed" (RFC 1191), else 0.
    pub next_hop_mtu: u16,
    /// Who sent the error (a router, or the destination).
    pub reporter: Ipv4Addr,
    /// Destination of the quoted packet (its source is us).
    pub dst: Ipv4Addr,
    /// Protocol of the quoted packet.
    pub protocol: IpProtocol,
    /// The quoted transport header: at least 8 bytes (ports, and TCP's sequence number).
    pub transport: &'a [u8],
}

/// What a transport reaches while it handles an event: the loop's context (TX half,
/// timers, `now`) and the interface (output path, addresses, counters).
pub struct IpContext<'a, 'c, Tx> {
    /// The event loop's context.
    pub cx: &'a mut Context<'c, Tx>,
    /// The interface.
    pub iface: &'a mut Iface,
}

impl<Tx: TxQueue> IpContext<'_, '_, Tx> {
    /// The time of this pass.
    #[inline]
    pub fn now(&self) -> Instant {
        self.cx.now
    }

    /// The TX half (for prepared sends).
    #[inline]
    pub fn tx(&mut self) -> &mut Tx {
        self.cx.tx
    }

    /// The loop's timers (use [`timer_token`] for the tokens).
    #[inline]
    pub fn timers(&mut self) -> &mut TimerWheel<u64> {
        self.cx.timers
    }

    /// See [`Iface::send_ipv4`].
    #[inline]
    pub fn send_ipv4(
        &mut self,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> SendStatus {
        self.iface
            .send_ipv4(self.cx.tx, self.cx.now, dst, protocol, fill)
    }

    /// See [`Iface::tso_max_payload`].
    #[inline]
    pub fn tso_max_payload(&self) -> usize {
        self.iface.tso_max_payload(&*self.cx.tx)
    }

    /// See [`Iface::send_tcp_tso`].
    #[inline]
    pub fn send_tcp_tso(
        &mut self,
        dst: Ipv4Addr,
        mss: u16,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> SendStatus {
        self.iface
            .send_tcp_tso(self.cx.tx, self.cx.now, dst, mss, len, fill)
    }

    /// See [`Iface::resolve`].
    #[inline]
    pub fn resolve(&mut self, dst: Ipv4Addr) -> Option<MacAddr> {
        self.iface.resolve(self.cx.tx, self.cx.now, dst)
    }
}

/// A transport protocol above IPv4 (TCP, UDP, or a test's own). See the
/// [module docs](self) for composition and timer tokens.
pub trait Transport<Tx: TxQueue> {
    /// Whether this transport serves `protocol`. Called per packet: keep it a comparison.
    fn accepts(&self, protocol: IpProtocol) -> bool;

    /// A packet for a protocol this transport accepts.
    fn on_packet(&mut self, ip: &mut IpContext<'_, '_, Tx>, pkt: IpInput<'_>) -> Delivery;

    /// An ICMP error quoting a packet of this transport's protocol.
    fn on_icmp_error(&mut self, ip: &mut IpContext<'_, '_, Tx>, err: &IcmpError<'_>) {
        let _ = (ip, err);
    }

    /// The stack is starting (from [`Stack::start`]): bind, prepare packets, arm timers.
    fn on_start(&mut self, ip: &mut IpContext<'_, '_, Tx>) {
        let _ = ip;
    }

    /// A timer with this transport's protocol in its token fired.
    fn on_timer(&mut self, ip: &mut IpContext<'_, '_, Tx>, token: u64) {
        let _ = (ip, token);
    }

    /// End of an RX burst or a round of timers (flush coalesced work here).
    fn on_batch_end(&mut self, ip: &mut IpContext<'_, '_, Tx>) {
        let _ = ip;
    }
}

/// No transport: the stack answers ARP and ping and sends protocol unreachables.
impl<Tx: TxQueue> Transport<Tx> for () {
    #[inline]
    fn accepts(&self, _: IpProtocol) -> bool {
        false
    }

    fn on_packet(&mut self, _: &mut IpContext<'_, '_, Tx>, _: IpInput<'_>) -> Delivery {
        Delivery::Accepted
    }
}

/// Two transports, tried in order.
impl<Tx: TxQueue, A: Transport<Tx>, B: Transport<Tx>> Transport<Tx> for (A, B) {
    #[inline]
    fn accepts(&self, protocol: IpProtocol) -> bool {
        self.0.accepts(protocol) || self.1.accepts(protocol)
    }

    #[inline]
    fn on_packet(&mut self, ip: &mut IpContext<'_, '_, Tx>, pkt: IpInput<'_>) -> Delivery {
        if self.0.accepts(pkt.protocol) {
            self.0.on_packet(ip, pkt)
        } else {
            self.1.on_packet(ip, pkt)
        }
    }

    fn on_icmp_error(&mut self, ip: &mut IpContext<'_, '_, Tx>, err: &IcmpError<'_>) {
        if self.0.accepts(err.protocol) {
            self.0.on_icmp_error(ip, err)
        } else {
            self.1.on_icmp_error(ip, err)
        }
    }

    fn on_start(&mut self, ip: &mut IpContext<'_, '_, Tx>) {
        self.0.on_start(ip);
        self.1.on_start(ip);
    }

    fn on_timer(&mut self, ip: &mut IpContext<'_, '_, Tx>, token: u64) {
        if self.0.accepts(token_protocol(token)) {
            self.0.on_timer(ip, token)
        } else {
            self.1.on_timer(ip, token)
        }
    }

    fn on_batch_end(&mut self, ip: &mut IpContext<'_, '_, Tx>) {
        self.0.on_batch_end(ip);
        self.1.on_batch_end(ip);
    }
}

/// An interface and its transports, driven by the event loop. See the [module docs](self).
pub struct Stack<U> {
    iface: Iface,
    upper: U,
    tick: Option<TimerHandle>,
}

impl<U> Stack<U> {
    /// A stack with the settings `cfg` and the transports `upper`, at time `now`.
    pub fn new(cfg: IfaceConfig, upper: U, now: Instant) -> Result<Self, ConfigError> {
        Ok(Stack {
            iface: Iface::new(cfg, now)?,
            upper,
            tick: None,
        })
    }

    /// The interface.
    pub fn iface(&self) -> &Iface {
        &self.iface
    }

    /// The interface, mutably.
    pub fn iface_mut(&mut self) -> &mut Iface {
        &mut self.iface
    }

    /// The transports.
    pub fn upper(&self) -> &U {
        &self.upper
    }

    /// The transports, mutably.
    pub fn upper_mut(&mut self) -> &mut U {
        &mut self.upper
    }

    /// Every layer's counters (the transports keep their own).
    pub fn stats(&self) -> Stats {
        self.iface.stats()
    }

    /// Announce our address, schedule the housekeeping tick and start the transports
    /// ([`Transport::on_start`]). Call once before running the loop (the first batch does
    /// it otherwise, without the early announcement).
    pub fn start<Tx: TxQueue>(&mut self, cx: &mut Context<'_, Tx>)
    where
        U: Transport<Tx>,
    {
        if self.tick.is_none() {
            self.iface.start(cx.tx, cx.now);
            self.schedule_tick(cx.timers, cx.now);
            let mut ip = IpContext {
                cx,
                iface: &mut self.iface,
            };
            self.upper.on_start(&mut ip);
        }
    }

    /// [`start`](Self::start) on a loop's port and timers, and kick the announcement out.
    pub fn start_on<P: Port, C: Clock>(&mut self, ev: &mut EventLoop<P, C>)
    where
        U: Transport<P::Tx>,
    {
        ev.with_context(|cx| self.start(cx));
        ev.flush();
    }

    /// Run `f` on the transports with an [`IpContext`] outside the loop's callbacks (to send
    /// on the application's behalf between passes; see [`EventLoop::with_context`]).
    pub fn with_upper<Tx: TxQueue, R>(
        &mut self,
        cx: &mut Context<'_, Tx>,
        f: impl FnOnce(&mut U, &mut IpContext<'_, '_, Tx>) -> R,
    ) -> R {
        let mut ip = IpContext {
            cx,
            iface: &mut self.iface,
        };
        f(&mut self.upper, &mut ip)
    }

    fn schedule_tick(&mut self, timers: &mut TimerWheel<u64>, now: Instant) {
        self.tick = timers.schedule(now + self.iface.config().tick, TICK_TOKEN);
    }
}

impl<U> Stack<U> {
    /// Handle one received frame: the whole receive path.
    #[inline]
    pub fn receive<Tx: TxQueue>(
        &mut self,
        cx: &mut Context<'_, Tx>,
        frame: &mut [u8],
        meta: &RxMeta,
    ) where
        U: Transport<Tx>,
    {
        let my_mac = self.iface.mac();
        let st = &mut self.iface.stats.eth;
        st.rx_frames += 1;
        let f = match EthernetFrame::new_checked(&*frame) {
            Ok(f) => f,
            Err(_) => {
                st.rx_truncated += 1;
                return;
            }
        };
        if f.tag_count() != 0 || meta.flags.contains(RxFlags::VLAN_STRIPPED) {
            st.rx_vlan += 1;
            return;
        }
        let dst = f.dst();
        let link_broadcast = dst.is_broadcast();
        if dst != my_mac && !link_broadcast {
            st.rx_not_ours += 1;
            return;
        }
        let src = f.src();
        if src.is_multicast() || src == my_mac {
            st.rx_bad_src += 1;
            return;
        }
        match f.ethertype() {
            EtherType::IPV4 => {
                self.ipv4_input(cx, &mut frame[ETH_LEN..], src, link_broadcast, meta.flags)
            }
            EtherType::ARP => self.arp_input(cx, &frame[ETH_LEN..]),
            _ => st.rx_unknown_ethertype += 1,
        }
    }

    fn arp_input<Tx: TxQueue>(&mut self, cx: &mut Context<'_, Tx>, payload: &[u8]) {
        let iface = &mut self.iface;
        iface.arp.count_rx();
        let repr = match ArpPacket::new_checked(payload).and_then(|p| ArpRepr::parse(&p)) {
            Ok(r) => r,
            Err(e) => {
                iface.arp.count_malformed(e == WireError::Truncated);
                return;
            }
        };
        let local = *iface.local();
        let ip = repr.sender_ip;
        let on_link = iface.on_link(ip) && !iface.is_broadcast(ip);
        iface
            .arp
            .input(&repr, cx.now, &local, on_link, cx.tx, &mut iface.stats.eth);
    }

    #[inline]
    fn ipv4_input<Tx: TxQueue>(
        &mut self,
        cx: &mut Context<'_, Tx>,
        packet: &mut [u8],
        src_mac: MacAddr,
        link_broadcast: bool,
        flags: RxFlags,
    ) where
        U: Transport<Tx>,
    {
        let iface = &mut self.iface;
        let min_ttl = iface.config().min_ttl;
        let st = &mut iface.stats.ip;
        st.rx_packets += 1;
        let p = match Ipv4Packet::new_checked(&*packet) {
            Ok(p) => p,
            Err(e) => {
                match e {
                    WireError::BadVersion => st.rx_bad_version += 1,
                    WireError::BadHeaderLen => st.rx_bad_header_len += 1,
                    WireError::BadLength => st.rx_bad_length += 1,
                    _ => st.rx_truncated += 1,
                }
                return;
            }
        };
        if !p.verify_checksum() {
            st.rx_bad_checksum += 1;
            return;
        }
        if p.has_options() {
            st.rx_options += 1;
            return;
        }
        if p.is_fragment() {
            st.rx_fragments += 1;
            return;
        }
        let ttl = p.ttl();
        if ttl < min_ttl {
            st.rx_ttl += 1;
            return;
        }
        let (src, dst) = (p.src(), p.dst());
        let broadcast = dst != iface.addr();
        if broadcast && !iface.is_broadcast(dst) {
            iface.stats.ip.rx_not_ours += 1;
            return;
        }
        if !iface.is_unicast_host(src) {
            iface.stats.ip.rx_bad_src += 1;
            return;
        }
        let protocol = p.protocol();
        let dscp_ecn = p.dscp_ecn();
        let total = usize::from(p.total_len());
        let packet = &mut packet[..total];
        if protocol == IpProtocol::ICMP {
            self.icmp_input(cx, packet, broadcast || link_broadcast, flags);
            return;
        }
        if !self.upper.accepts(protocol) {
            self.iface.stats.ip.rx_unknown_protocol += 1;
            self.iface.send_unreachable(
                cx.tx,
                cx.now,
                unreachable::PROTOCOL,
                packet,
                link_broadcast,
            );
            return;
        }
        self.iface.stats.ip.rx_delivered += 1;
        let (_, payload) = packet.split_at_mut(crate::wire::ipv4::HEADER_LEN);
        let pkt = IpInput {
            src,
            dst,
            protocol,
            ttl,
            dscp_ecn,
            broadcast,
            src_mac,
            flags,
            payload,
        };
        let mut ip = IpContext {
            cx,
            iface: &mut self.iface,
        };
        if self.upper.on_packet(&mut ip, pkt) == Delivery::PortUnreachable {
            self.iface.stats.ip.rx_delivered -= 1;
            self.iface.stats.ip.rx_port_unreachable += 1;
            self.iface
                .send_unreachable(cx.tx, cx.now, unreachable::PORT, packet, link_broadcast);
        }
    }

    fn icmp_input<Tx: TxQueue>(
        &mut self,
        cx: &mut Context<'_, Tx>,
        packet: &mut [u8],
        broadcast: bool,
        flags: RxFlags,
    ) where
        U: Transport<Tx>,
    {
        let iface = &mut self.iface;
        let answer_broadcast = iface.config().answer_broadcast_echo;
        let our_addr = iface.addr();
        let st = &mut iface.stats.icmp;
        st.rx_messages += 1;
        let (ip_header, msg) = packet.split_at(crate::wire::ipv4::HEADER_LEN);
        let src = Ipv4Packet::new_unchecked(ip_header).src();
        let icmp = match IcmpPacket::new_checked(msg) {
            Ok(p) => p,
            Err(_) => {
                st.rx_truncated += 1;
                return;
            }
        };
        if !flags.contains(RxFlags::CSUM_PARTIAL) && !icmp.verify_checksum() {
            st.rx_bad_checksum += 1;
            return;
        }
        match icmp.msg_type() {
            IcmpType::ECHO_REQUEST if icmp.code() == 0 => {
                if broadcast && !answer_broadcast {
                    st.echo_broadcast_ignored += 1;
                    return;
                }
                // RFC 792 / RFC 1122 3.2.2.6: the reply carries the request's identifier,
                // sequence number and data; only the type (and so the checksum) changes.
                let sent = iface.send_ipv4(cx.tx, cx.now, src, IpProtocol::ICMP, |buf| {
                    let len = msg.len();
                    if buf.len() < len {
                        return 0;
                    }
                    buf[..len].copy_from_slice(msg);
                    let mut reply = IcmpPacket::new_unchecked(&mut buf[..len]);
                    let old = reply.checksum();
                    reply.set_msg_type(IcmpType::ECHO_REPLY);
                    reply.set_checksum(crate::checksum::update16(
                        old,
                        u16::from(IcmpType::ECHO_REQUEST.0) << 8,
                        u16::from(IcmpType::ECHO_REPLY.0) << 8,
                    ));
                    len
                });
                if sent.is_ok() {
                    iface.stats.icmp.echo_replied += 1;
                } else {
                    iface.stats.icmp.echo_reply_failed += 1;
                }
            }
            IcmpType::ECHO_REPLY if icmp.code() == 0 => st.echo_replies_in += 1,
            t @ (IcmpType::DST_UNREACHABLE
            | IcmpType::TIME_EXCEEDED
            | PARAM_PROBLEM
            | SOURCE_QUENCH) => {
                let quoted = Ipv4Packet::new_unchecked(icmp.data());
                let hl = usize::from(quoted.ihl()) * 4;
                let ok = icmp.data().len() >= hl + 8
                    && quoted.version() == 4
                    && hl >= crate::wire::ipv4::HEADER_LEN
                    && quoted.src() == our_addr
                    && self.upper.accepts(quoted.protocol());
                if !ok {
                    st.errors_ignored += 1;
                    return;
                }
                st.errors_delivered += 1;
                let err = IcmpError {
                    msg_type: t,
                    code: icmp.code(),
                    next_hop_mtu: if t == IcmpType::DST_UNREACHABLE {
                        icmp.next_hop_mtu()
                    } else {
                        0
                    },
                    reporter: src,
                    dst: quoted.dst(),
                    protocol: quoted.protocol(),
                    transport: &icmp.data()[hl..],
                };
                let mut ip = IpContext {
                    cx,
                    iface: &mut self.iface,
                };
                self.upper.on_icmp_error(&mut ip, &err);
            }
            _ => st.rx_other += 1,
        }
    }

    fn on_tick<Tx: TxQueue>(&mut self, cx: &mut Context<'_, Tx>) {
        self.iface.tick(cx.tx, cx.now);
        self.tick = None;
        self.schedule_tick(cx.timers, cx.now);
    }
}

/// RFC 792 parameter problem.
const PARAM_PROBLEM: IcmpType = IcmpType(12);
/// RFC 792 source quench (deprecated by RFC 6633, still quoted in old networks).
const SOURCE_QUENCH: IcmpType = IcmpType(4);

impl<Tx: TxQueue, U: Transport<Tx>> Handler<Tx> for Stack<U> {
    #[inline]
    fn on_frame(&mut self, cx: &mut Context<'_, Tx>, frame: &mut [u8], meta: &RxMeta) {
        self.receive(cx, frame, meta);
    }

    fn on_timer(&mut self, cx: &mut Context<'_, Tx>, token: u64) {
        if token == TICK_TOKEN {
            self.on_tick(cx);
        } else {
            let mut ip = IpContext {
                cx,
                iface: &mut self.iface,
            };
            self.upper.on_timer(&mut ip, token);
        }
    }

    fn on_batch_end(&mut self, cx: &mut Context<'_, Tx>) {
        self.start(cx);
        let mut ip = IpContext {
            cx,
            iface: &mut self.iface,
        };
        self.upper.on_batch_end(&mut ip);
    }
}
