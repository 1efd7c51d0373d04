//! The UDP transport: demux by destination port to the application, and the output side
//! ([`UdpOut`]) it sends through.
//!
//! [`Udp<A>`] implements [`eth::Transport`], so it goes into an [`eth::Stack`] on its own or
//! in a tuple with TCP. Receive checks, each counted when it fails: length (RFC 768),
//! checksum (RFC 1122 4.1.3.4; a zero field means none was sent and is accepted unless
//! [`UdpConfig::accept_zero_checksum`] says no), destination port 0, then the port bitmap;
//! an unbound port makes the stack send an ICMP port unreachable (RFC 1122 4.1.3.1, rate
//! limited, never for broadcasts). Output is batched: every send reserves a slot in the TX
//! ring and commits it, and the loop kicks the ring once per batch.

use crate::app::{Datagram, UdpApp, UdpError};
use crate::ports::{BindError, PortSet};
use crate::prepared::{rewrite, Patch, PrepareError, PreparedDatagram, PAYLOAD_AT};
use crate::stats::UdpStats;
use crate::wire::{UdpPacket, UdpRepr, HEADER_LEN};
use eth::wire::{IpProtocol, WireError};
use eth::{timer_token, Delivery, IcmpError, Iface, IpContext, IpInput, SendStatus, Transport};
use nmio::{Context, Instant, PrepMode, TimerHandle, TxQueue};
use std::net::SocketAddrV4;

/// UDP settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpConfig {
    /// Accept datagrams whose sender computed no checksum (field 0, allowed over IPv4 by
    /// RFC 768). Default true, as Linux does; RFC 1122 4.1.3.4 lets a host refuse them.
    pub accept_zero_checksum: bool,
}

impl Default for UdpConfig {
    fn default() -> Self {
        UdpConfig {
            accept_zero_checksum: true,
        }
    }
}

/// The state UDP keeps besides the application: bindings, counters, the slow path's
/// buffer. Split from the app so callbacks can borrow both.
#[derive(Debug)]
struct Core {
    cfg: UdpConfig,
    ports: PortSet,
    stats: UdpStats,
    /// Payload of a prepared datagram sent by copy while ARP resolves (allocated once).
    scratch: Vec<u8>,
}

/// UDP over IPv4 with the application `A` on top. See the [module docs](self).
#[derive(Debug)]
pub struct Udp<A> {
    app: A,
    core: Core,
}

impl<A> Udp<A> {
    /// UDP with default settings and no port bound.
    pub fn new(app: A) -> Self {
        Self::with_config(app, UdpConfig::default())
    }

    /// UDP with settings `cfg`.
    pub fn with_config(app: A, cfg: UdpConfig) -> Self {
        Udp {
            app,
            core: Core {
                cfg,
                ports: PortSet::new(),
                stats: UdpStats::default(),
                scratch: Vec::new(),
            },
        }
    }

    /// Bind `port` (the app can also bind from its callbacks).
    pub fn bind(&mut self, port: u16) -> Result<(), BindError> {
        self.core.ports.bind(port)
    }

    /// Bind a free ephemeral port and return it.
    pub fn bind_ephemeral(&mut self) -> Result<u16, BindError> {
        self.core.ports.bind_ephemeral()
    }

    /// Release `port`; returns whether it was bound.
    pub fn unbind(&mut self, port: u16) -> bool {
        self.core.ports.unbind(port)
    }

    /// The bound ports.
    pub fn ports(&self) -> &PortSet {
        &self.core.ports
    }

    /// The settings.
    pub fn config(&self) -> &UdpConfig {
        &self.core.cfg
    }

    /// The counters.
    pub fn stats(&self) -> UdpStats {
        self.core.stats
    }

    /// The application.
    pub fn app(&self) -> &A {
        &self.app
    }

    /// The application, mutably.
    pub fn app_mut(&mut self) -> &mut A {
        &mut self.app
    }

    /// Run `f` with the application and an output handle outside the callbacks (with
    /// [`eth::Stack::with_upper`], to send between passes).
    pub fn with_out<Tx: TxQueue, R>(
        &mut self,
        ip: &mut IpContext<'_, '_, Tx>,
        f: impl FnOnce(&mut A, &mut UdpOut<'_, '_, Tx>) -> R,
    ) -> R {
        let mut out = UdpOut {
            cx: &mut *ip.cx,
            iface: &mut *ip.iface,
            core: &mut self.core,
        };
        f(&mut self.app, &mut out)
    }
}

/// What UDP callbacks send through: the TX half, the interface's output path, the
/// bindings and timers.
pub struct UdpOut<'a, 'c, Tx> {
    cx: &'a mut Context<'c, Tx>,
    iface: &'a mut Iface,
    core: &'a mut Core,
}

impl<Tx: TxQueue> UdpOut<'_, '_, Tx> {
    /// The time of this pass.
    #[inline]
    pub fn now(&self) -> Instant {
        self.cx.now
    }

    /// The interface (our address, MTU, its counters).
    pub fn iface(&self) -> &Iface {
        self.iface
    }

    /// UDP's counters.
    pub fn stats(&self) -> &UdpStats {
        &self.core.stats
    }

    /// Free TX slots: a server answering a burst can stop early rather than count drops.
    #[inline]
    pub fn tx_space(&mut self) -> usize {
        self.cx.tx.tx_space()
    }

    /// Largest payload one datagram can carry on this interface (no fragmentation).
    #[inline]
    pub fn max_payload(&self) -> usize {
        self.iface.max_payload() - HEADER_LEN
    }

    /// Bind `port`.
    pub fn bind(&mut self, port: u16) -> Result<(), BindError> {
        self.core.ports.bind(port)
    }

    /// Bind a free ephemeral port and return it.
    pub fn bind_ephemeral(&mut self) -> Result<u16, BindError> {
        self.core.ports.bind_ephemeral()
    }

    /// Release `port`.
    pub fn unbind(&mut self, port: u16) -> bool {
        self.core.ports.unbind(port)
    }

    /// Whether `port` is bound.
    pub fn is_bound(&self, port: u16) -> bool {
        self.core.ports.contains(port)
    }

    /// Arm a timer that calls [`UdpApp::on_timer`] with `value` (its low 56 bits) at `at`.
    /// `None` when the loop's timer wheel is full.
    pub fn set_timer(&mut self, at: Instant, value: u64) -> Option<TimerHandle> {
        self.cx
            .timers
            .schedule(at, timer_token(IpProtocol::UDP, value))
    }

    /// Cancel a timer; returns whether it was still armed.
    pub fn cancel_timer(&mut self, h: TimerHandle) -> bool {
        self.cx.timers.cancel(h)
    }

    /// Ask the loop to return after this pass.
    pub fn stop(&mut self) {
        self.cx.stop();
    }

    /// Send `payload` from our bound port `src_port` to `dst`.
    #[inline]
    pub fn send_to(&mut self, src_port: u16, dst: SocketAddrV4, payload: &[u8]) -> SendStatus {
        if payload.len() > self.max_payload() {
            self.core.stats.tx_too_big += 1;
            return SendStatus::Dropped;
        }
        self.send_with(src_port, dst, |buf| {
            buf[..payload.len()].copy_from_slice(payload);
            payload.len()
        })
    }

    /// Send a datagram whose payload `fill` writes straight into the TX slot: it gets a
    /// buffer of [`max_payload`](Self::max_payload) bytes and returns the payload length
    /// (a length beyond the buffer abandons the datagram, counted as `tx_too_big`).
    #[inline]
    pub fn send_with(
        &mut self,
        src_port: u16,
        dst: SocketAddrV4,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> SendStatus {
        if dst.port() == 0 || !self.core.ports.contains(src_port) {
            self.core.stats.tx_bad_port += 1;
            return SendStatus::Dropped;
        }
        let src = self.iface.addr();
        let dst_ip = *dst.ip();
        let mut too_big = false;
        let mut sent_len = 0;
        let status =
            self.iface
                .send_ipv4(self.cx.tx, self.cx.now, dst_ip, IpProtocol::UDP, |seg| {
                    let Some(room) = seg.len().checked_sub(HEADER_LEN) else {
                        return 0;
                    };
                    let len = fill(&mut seg[HEADER_LEN..]);
                    if len > room {
                        too_big = true;
                        return 0;
                    }
                    let mut p = UdpPacket::new_unchecked(&mut seg[..HEADER_LEN + len]);
                    UdpRepr {
                        src_port,
                        dst_port: dst.port(),
                        payload_len: len,
                    }
                    .emit_header(&mut p, src, dst_ip);
                    sent_len = len;
                    HEADER_LEN + len
                });
        let st = &mut self.core.stats;
        if status.is_ok() {
            st.tx_datagrams += 1;
            st.tx_bytes += sent_len as u64;
        } else if too_big {
            st.tx_too_big += 1;
        } else {
            st.tx_dropped += 1;
        }
        status
    }

    /// Answer `dgram` with `payload` (from the port it was sent to, to its sender).
    #[inline]
    pub fn reply(&mut self, dgram: &Datagram<'_>, payload: &[u8]) -> SendStatus {
        self.send_to(dgram.dst.port(), dgram.src, payload)
    }

    /// Build a prepared datagram from our bound port `src_port` (see [`PreparedDatagram`]).
    pub fn prepare(
        &mut self,
        src_port: u16,
        payload: &[u8],
    ) -> Result<PreparedDatagram, PrepareError> {
        PreparedDatagram::new(self.cx.tx, self.iface, src_port, payload)
    }

    /// Start loading `p`'s image into the caches ([`nmio::prefetch`]): a server answering
    /// a burst asks for every image first, so their misses overlap instead of each send
    /// waiting for its own.
    #[inline]
    pub fn prefetch_prepared(&self, p: &PreparedDatagram) {
        if let Some(image) = self.cx.tx.prepared(p.id()) {
            nmio::prefetch(image);
        }
    }

    /// Send a prepared datagram to `dst`, its payload patched with `patches`, through the
    /// port's prepared path in `mode`. While the next hop is still being resolved the
    /// datagram is copied through the IPv4 output path instead and held for ARP (counted
    /// as `tx_prepared_held`).
    #[inline]
    pub fn send_prepared(
        &mut self,
        p: &PreparedDatagram,
        dst: SocketAddrV4,
        patches: &[Patch<'_>],
        mode: PrepMode,
    ) -> SendStatus {
        let st = &mut self.core.stats;
        if dst.port() == 0 || !self.core.ports.contains(p.src_port()) {
            st.tx_bad_port += 1;
            return SendStatus::Dropped;
        }
        if !p.patches_fit(patches) {
            st.tx_bad_patch += 1;
            return SendStatus::Dropped;
        }
        let Some(mac) = self.iface.resolve(self.cx.tx, self.cx.now, *dst.ip()) else {
            return self.send_prepared_held(p, dst, patches);
        };
        let ident = self.iface.next_ident();
        let sent = self.cx.tx.send_prepared(p.id(), mode, |frame| {
            rewrite(frame, mac, ident, dst, patches);
        });
        let st = &mut self.core.stats;
        if sent {
            st.tx_prepared += 1;
            st.tx_datagrams += 1;
            st.tx_bytes += p.payload_len() as u64;
            self.iface.count_prepared_sent();
            SendStatus::Sent
        } else {
            st.tx_dropped += 1;
            SendStatus::Dropped
        }
    }

    /// The slow path of [`send_prepared`](Self::send_prepared): copy the payload out of
    /// the image, patch it and send it like any datagram (the output path holds it).
    #[cold]
    fn send_prepared_held(
        &mut self,
        p: &PreparedDatagram,
        dst: SocketAddrV4,
        patches: &[Patch<'_>],
    ) -> SendStatus {
        let Some(image) = self.cx.tx.prepared(p.id()) else {
            self.core.stats.tx_dropped += 1;
            return SendStatus::Dropped;
        };
        let Some(payload) = image.get(PAYLOAD_AT..PAYLOAD_AT + p.payload_len()) else {
            self.core.stats.tx_dropped += 1;
            return SendStatus::Dropped;
        };
        let mut scratch = std::mem::take(&mut self.core.scratch);
        scratch.clear();
        scratch.extend_from_slice(payload);
        for patch in patches {
            scratch[patch.offset..patch.offset + patch.bytes.len()].copy_from_slice(patch.bytes);
        }
        let status = self.send_to(p.src_port(), dst, &scratch);
        self.core.scratch = scratch;
        if status == SendStatus::Held {
            self.core.stats.tx_prepared_held += 1;
        }
        status
    }
}

impl<Tx: TxQueue, A: UdpApp> Transport<Tx> for Udp<A> {
    #[inline]
    fn accepts(&self, protocol: IpProtocol) -> bool {
        protocol == IpProtocol::UDP
    }

    #[inline]
    fn on_packet(&mut self, ip: &mut IpContext<'_, '_, Tx>, pkt: IpInput<'_>) -> Delivery {
        let st = &mut self.core.stats;
        st.rx_datagrams += 1;
        let verify = pkt.verify_checksum();
        let (src_port, dst_port, len) = match UdpPacket::new_checked(&*pkt.payload) {
            Ok(p) => {
                if p.checksum() == 0 {
                    if !self.core.cfg.accept_zero_checksum {
                        st.rx_no_checksum_refused += 1;
                        return Delivery::Accepted;
                    }
                    st.rx_no_checksum += 1;
                } else if verify && !p.verify_checksum(pkt.src, pkt.dst) {
                    st.rx_bad_checksum += 1;
                    return Delivery::Accepted;
                }
                (p.src_port(), p.dst_port(), usize::from(p.len()))
            }
            Err(WireError::BadLength) => {
                st.rx_bad_length += 1;
                return Delivery::Accepted;
            }
            Err(_) => {
                st.rx_truncated += 1;
                return Delivery::Accepted;
            }
        };
        if dst_port == 0 {
            st.rx_dst_port_zero += 1;
            return Delivery::Accepted;
        }
        if !self.core.ports.contains(dst_port) {
            st.rx_no_port += 1;
            return Delivery::PortUnreachable;
        }
        st.rx_delivered += 1;
        st.rx_bytes += (len - HEADER_LEN) as u64;
        let dgram = Datagram {
            src: SocketAddrV4::new(pkt.src, src_port),
            dst: SocketAddrV4::new(pkt.dst, dst_port),
            broadcast: pkt.broadcast,
            ttl: pkt.ttl,
            dscp_ecn: pkt.dscp_ecn,
            payload: &mut pkt.payload[HEADER_LEN..len],
        };
        self.with_out(ip, |app, out| app.on_datagram(out, dgram));
        Delivery::Accepted
    }

    fn on_icmp_error(&mut self, ip: &mut IpContext<'_, '_, Tx>, err: &IcmpError<'_>) {
        let (Some(local), Some(remote)) = (
            err.transport
                .get(0..2)
                .map(|b| u16::from_be_bytes([b[0], b[1]])),
            err.transport
                .get(2..4)
                .map(|b| u16::from_be_bytes([b[0], b[1]])),
        ) else {
            self.core.stats.rx_icmp_unmatched += 1;
            return;
        };
        if !self.core.ports.contains(local) {
            self.core.stats.rx_icmp_unmatched += 1;
            return;
        }
        self.core.stats.rx_icmp_errors += 1;
        let e = UdpError {
            msg_type: err.msg_type,
            code: err.code,
            next_hop_mtu: err.next_hop_mtu,
            reporter: err.reporter,
            local_port: local,
            remote: SocketAddrV4::new(err.dst, remote),
        };
        self.with_out(ip, |app, out| app.on_error(out, &e));
    }

    fn on_start(&mut self, ip: &mut IpContext<'_, '_, Tx>) {
        if self.core.scratch.capacity() == 0 {
            self.core.scratch = Vec::with_capacity(ip.iface.max_payload());
        }
        self.with_out(ip, |app, out| app.on_start(out));
    }

    fn on_timer(&mut self, ip: &mut IpContext<'_, '_, Tx>, token: u64) {
        let value = token & ((1 << 56) - 1);
        self.with_out(ip, |app, out| app.on_timer(out, value));
    }

    #[inline]
    fn on_batch_end(&mut self, ip: &mut IpContext<'_, '_, Tx>) {
        self.with_out(ip, |app, out| app.on_batch_end(out));
    }
}
