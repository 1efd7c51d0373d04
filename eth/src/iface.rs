//! One interface's network layer: addresses and routing, the neighbour cache, and the IPv4
//! output path the transports use.
//!
//! Output builds every header in place in the TX slot (or, while the next hop is being
//! resolved, in an ARP hold buffer): Ethernet, then the 20-byte IPv4 header with a fresh
//! identification, DF, our TTL and the header checksum, after the transport has written its
//! payload. Nothing is copied twice and nothing is allocated.

use crate::arp_cache::{ArpCache, Resolution};
use crate::checksum;
use crate::config::{ConfigError, IfaceConfig};
use crate::link::{self, Local};
use crate::ratelimit::TokenBucket;
use crate::stats::Stats;
use crate::wire::ethernet::HEADER_LEN as ETH_LEN;
use crate::wire::icmp::HEADER_LEN as ICMP_LEN;
use crate::wire::ipv4::HEADER_LEN as IP_LEN;
use crate::wire::{
    EtherType, IcmpPacket, IcmpRepr, IcmpType, IpProtocol, Ipv4Addr, Ipv4Packet, Ipv4Repr, MacAddr,
};
use nmio::{Instant, TxQueue};

/// Bytes of Ethernet plus IPv4 header in front of a transport's payload.
pub const HEADERS_LEN: usize = ETH_LEN + IP_LEN;
/// A TCP header without options.
const TCP_MIN_HEADER: usize = 20;
/// Offset of the checksum in a TCP header.
const TCP_CSUM_AT: usize = 16;

/// RFC 1812 4.3.2.3: an ICMP error should quote as much of the original datagram as fits
/// in 576 bytes.
const ICMP_ERROR_MAX: usize = 576;

/// What became of a packet handed to the output path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendStatus {
    /// Queued to the TX half.
    Sent,
    /// Held until its next hop is resolved.
    Held,
    /// Dropped; the reason is counted in [`Stats`].
    Dropped,
}

impl SendStatus {
    /// Sent or held.
    pub fn is_ok(self) -> bool {
        self != SendStatus::Dropped
    }
}

/// Where a packet to some destination goes on the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextHop {
    /// To the MAC of this address (the destination itself, or the gateway).
    Unicast(Ipv4Addr),
    /// To the broadcast MAC (limited or directed broadcast).
    Broadcast,
}

/// The network layer of one interface. See the [module docs](self).
pub struct Iface {
    cfg: IfaceConfig,
    local: Local,
    net: u32,
    mask: u32,
    bcast: Ipv4Addr,
    pub(crate) arp: ArpCache,
    pub(crate) stats: Stats,
    ident: u16,
    icmp_limit: TokenBucket,
    announce_left: u32,
    next_announce: Instant,
}

impl Iface {
    /// Check `cfg` and allocate everything the interface will use (neighbour table, hold
    /// pool).
    pub fn new(cfg: IfaceConfig, now: Instant) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let frame_cap = ETH_LEN + cfg.mtu;
        let arp = ArpCache::new(&cfg.arp, frame_cap)?;
        let mask = cfg.mask();
        Ok(Iface {
            local: Local {
                mac: cfg.mac,
                ip: cfg.addr,
            },
            net: u32::from(cfg.addr) & mask,
            mask,
            bcast: cfg.subnet_broadcast(),
            arp,
            stats: Stats::default(),
            // Start the identification somewhere not predictable from the start time alone.
            ident: (u32::from(cfg.addr) as u16) ^ (now.as_nanos() as u16),
            icmp_limit: TokenBucket::new(cfg.icmp_rate, cfg.icmp_burst, now),
            announce_left: cfg.arp.announcements,
            next_announce: now,
            cfg,
        })
    }

    /// The settings.
    pub fn config(&self) -> &IfaceConfig {
        &self.cfg
    }

    /// Our IPv4 address.
    #[inline]
    pub fn addr(&self) -> Ipv4Addr {
        self.local.ip
    }

    /// Our MAC.
    #[inline]
    pub fn mac(&self) -> MacAddr {
        self.local.mac
    }

    /// The neighbour cache.
    pub fn arp(&self) -> &ArpCache {
        &self.arp
    }

    /// The neighbour cache, to add static entries at run time.
    pub fn arp_mut(&mut self) -> &mut ArpCache {
        &mut self.arp
    }

    /// Every layer's counters.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        s.arp = self.arp.stats();
        s
    }

    /// Largest transport payload one IPv4 packet carries (MTU minus the IPv4 header).
    #[inline]
    pub fn max_payload(&self) -> usize {
        self.cfg.mtu - IP_LEN
    }

    /// Whether `ip` is a broadcast address of ours (limited, or the subnet's directed one).
    #[inline]
    pub fn is_broadcast(&self, ip: Ipv4Addr) -> bool {
        ip.is_broadcast() || (ip == self.bcast && self.cfg.prefix_len < 31)
    }

    /// Whether `ip` is inside our subnet.
    #[inline]
    pub fn on_link(&self, ip: Ipv4Addr) -> bool {
        (u32::from(ip) ^ self.net) & self.mask == 0
    }

    pub(crate) fn local(&self) -> &Local {
        &self.local
    }

    /// The next hop towards `dst`: itself when on-link, else the default gateway; `None`
    /// when off-link without a gateway.
    #[inline]
    pub fn route(&self, dst: Ipv4Addr) -> Option<NextHop> {
        if self.is_broadcast(dst) {
            Some(NextHop::Broadcast)
        } else if self.on_link(dst) {
            Some(NextHop::Unicast(dst))
        } else {
            self.cfg.gateway.map(NextHop::Unicast)
        }
    }

    /// The next identification value (RFC 6864: with DF set the field only has to be
    /// unique enough for duplicate detection; a counter is what most stacks use).
    #[inline]
    pub fn next_ident(&mut self) -> u16 {
        self.ident = self.ident.wrapping_add(1);
        self.ident
    }

    /// The destination MAC for `dst`, or `None` while its next hop is being resolved (a
    /// request goes out, counted) or when there is no route. For senders that build their
    /// own frames (the prepared paths); [`send_ipv4`](Self::send_ipv4) holds packets
    /// instead.
    pub fn resolve<Tx: TxQueue>(
        &mut self,
        tx: &mut Tx,
        now: Instant,
        dst: Ipv4Addr,
    ) -> Option<MacAddr> {
        match self.route(dst)? {
            NextHop::Broadcast => Some(MacAddr::BROADCAST),
            NextHop::Unicast(hop) => {
                match self
                    .arp
                    .resolve(hop, now, &self.local, tx, &mut self.stats.eth)
                {
                    Resolution::Mac(mac) => Some(mac),
                    Resolution::Pending(_) | Resolution::Failed => None,
                }
            }
        }
    }

    /// Write the Ethernet and IPv4 headers of a packet from us to `dst` in front of a
    /// `payload_len`-byte payload already at `frame[HEADERS_LEN..]`; returns the frame
    /// length, or 0 (nothing written) when `frame` is shorter than `HEADERS_LEN +
    /// payload_len` or the payload exceeds [`max_payload`](Self::max_payload).
    #[inline]
    pub fn write_headers(
        &mut self,
        frame: &mut [u8],
        dst_mac: MacAddr,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        payload_len: usize,
    ) -> usize {
        if frame.len() < HEADERS_LEN + payload_len || payload_len > self.max_payload() {
            return 0;
        }
        let ident = self.next_ident();
        let h = self.header_template(dst, protocol, ident);
        emit_headers(frame, dst_mac, &h, payload_len)
    }

    /// Count a frame a transport built and queued itself (the prepared paths, after
    /// [`resolve`](Self::resolve) and a rewrite), as the output path counts its own.
    #[inline]
    pub fn count_prepared_sent(&mut self) {
        self.stats.ip.tx_packets += 1;
        self.stats.eth.tx_frames += 1;
    }

    /// Send an IPv4 packet from us to `dst`: route, resolve the next hop (holding the packet
    /// while ARP works), then `fill` writes the transport payload into the buffer it is
    /// given (at most [`max_payload`](Self::max_payload) bytes) and returns its length (0
    /// abandons the packet); the headers are written around it.
    pub fn send_ipv4<Tx: TxQueue>(
        &mut self,
        tx: &mut Tx,
        now: Instant,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> SendStatus {
        let Some(hop) = self.route(dst) else {
            self.stats.ip.tx_no_route += 1;
            return SendStatus::Dropped;
        };
        let dst_mac = match hop {
            NextHop::Broadcast => MacAddr::BROADCAST,
            NextHop::Unicast(ip) => {
                match self
                    .arp
                    .resolve(ip, now, &self.local, tx, &mut self.stats.eth)
                {
                    Resolution::Mac(mac) => mac,
                    Resolution::Pending(entry) => return self.hold(entry, dst, protocol, fill),
                    Resolution::Failed => {
                        self.stats.ip.tx_unresolved += 1;
                        return SendStatus::Dropped;
                    }
                }
            }
        };
        let max = self.max_payload();
        let ident = self.next_ident();
        let hdr = self.header_template(dst, protocol, ident);
        let mut bad_len = false;
        let sent = link::send_frame(tx, &mut self.stats.eth, |slot| {
            let len = build(slot, dst_mac, &hdr, max, fill);
            bad_len = len == 0;
            len
        });
        if sent {
            self.stats.ip.tx_packets += 1;
            SendStatus::Sent
        } else {
            if bad_len {
                self.stats.ip.tx_bad_len += 1;
            }
            SendStatus::Dropped
        }
    }

    /// Largest transport payload one TCP super-frame carries on `tx` (0 when the port has
    /// no segmentation offload): the port's [`TxQueue::tso_max`] less the Ethernet and IPv4
    /// headers, at most what an IPv4 total length allows.
    #[inline]
    pub fn tso_max_payload<Tx: TxQueue>(&self, tx: &Tx) -> usize {
        tx.tso_max()
            .saturating_sub(HEADERS_LEN)
            .min(usize::from(u16::MAX) - IP_LEN)
    }

    /// Send a TCP super-frame for the port to cut into segments of `mss` payload bytes
    /// ([`TxQueue::commit_tso`]): `fill` writes the TCP header and payload (`len` bytes at
    /// most, its return value the TCP length; 0 abandons) and leaves the checksum field to
    /// this function, which stores the pseudo-header sum there (folded, not complemented: the
    /// device sums the rest). The next hop must be resolved already (a super-frame is never
    /// held for ARP: `Dropped`, with a request sent, until it is); a port without TSO, a
    /// length beyond [`tso_max_payload`](Self::tso_max_payload) or an `mss` whose segments
    /// exceed the MTU are `Dropped` and counted.
    pub fn send_tcp_tso<Tx: TxQueue>(
        &mut self,
        tx: &mut Tx,
        now: Instant,
        dst: Ipv4Addr,
        mss: u16,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> SendStatus {
        let max = self.tso_max_payload(tx);
        if len > max || usize::from(mss) + IP_LEN + TCP_MIN_HEADER > self.cfg.mtu {
            self.stats.ip.tx_bad_len += 1;
            return SendStatus::Dropped;
        }
        let Some(dst_mac) = self.resolve(tx, now, dst) else {
            self.stats.ip.tx_unresolved += 1;
            return SendStatus::Dropped;
        };
        let ident = self.next_ident();
        let hdr = self.header_template(dst, IpProtocol::TCP, ident);
        let Some(slot) = tx.reserve() else {
            self.stats.eth.tx_ring_full += 1;
            return SendStatus::Dropped;
        };
        let frame_len = build(slot, dst_mac, &hdr, max, fill);
        let tcp_len = frame_len.saturating_sub(HEADERS_LEN);
        if tcp_len < TCP_MIN_HEADER {
            self.stats.ip.tx_bad_len += 1;
            return SendStatus::Dropped;
        }
        // Only the pseudo-header: the device sums header and payload per segment.
        let pseudo = checksum::pseudo_header_sum(
            self.local.ip.octets(),
            dst.octets(),
            IpProtocol::TCP.0,
            tcp_len as u16,
        );
        let at = HEADERS_LEN + TCP_CSUM_AT;
        slot[at..at + 2].copy_from_slice(&(!checksum::finish(pseudo)).to_be_bytes());
        if tx.commit_tso(frame_len, mss) {
            self.stats.eth.tx_frames += 1;
            self.stats.ip.tx_packets += 1;
            SendStatus::Sent
        } else {
            self.stats.eth.tx_commit_failed += 1;
            SendStatus::Dropped
        }
    }

    fn hold(
        &mut self,
        entry: usize,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> SendStatus {
        let max = self.max_payload();
        let ident = self.next_ident();
        let hdr = self.header_template(dst, protocol, ident);
        let Some((b, buf)) = self.arp.hold(entry) else {
            self.stats.ip.tx_unresolved += 1;
            return SendStatus::Dropped;
        };
        // The destination MAC is written when the neighbour answers.
        let len = build(buf, MacAddr::ZERO, &hdr, max, fill);
        self.arp.commit_hold(entry, b, len);
        if len == 0 {
            self.stats.ip.tx_bad_len += 1;
            return SendStatus::Dropped;
        }
        self.stats.ip.tx_packets += 1;
        SendStatus::Held
    }

    fn header_template(&self, dst: Ipv4Addr, protocol: IpProtocol, ident: u16) -> Header {
        Header {
            src_mac: self.local.mac,
            src: self.local.ip,
            dst,
            protocol,
            ident,
            ttl: self.cfg.ttl,
            df: self.cfg.dont_fragment,
        }
    }

    /// Send an echo request to `dst` (the stack as a ping client), `data` as its payload.
    pub fn send_echo_request<Tx: TxQueue>(
        &mut self,
        tx: &mut Tx,
        now: Instant,
        dst: Ipv4Addr,
        ident: u16,
        seq: u16,
        data: &[u8],
    ) -> SendStatus {
        let repr = IcmpRepr::EchoRequest {
            ident,
            seq,
            data_len: data.len(),
        };
        let st = self.send_ipv4(tx, now, dst, IpProtocol::ICMP, |buf| {
            let len = repr.buffer_len();
            if buf.len() < len {
                return 0;
            }
            repr.emit(&mut IcmpPacket::new_unchecked(&mut buf[..len]), data);
            len
        });
        if st.is_ok() {
            self.stats.icmp.echo_requests_sent += 1;
        }
        st
    }

    /// Send a destination unreachable (`code`, see [`crate::wire::icmp::unreachable`]) about `original`,
    /// a datagram we received (its IPv4 header and payload). Follows RFC 1122 3.2.2: no
    /// error about an ICMP error, a broadcast or multicast, a non-initial fragment, or a
    /// source that is not one host; then the token bucket. Returns whether one was sent.
    pub fn send_unreachable<Tx: TxQueue>(
        &mut self,
        tx: &mut Tx,
        now: Instant,
        code: u8,
        original: &[u8],
        link_broadcast: bool,
    ) -> bool {
        let Ok(orig) = Ipv4Packet::new_checked(original) else {
            self.stats.icmp.unreachable_suppressed += 1;
            return false;
        };
        let src = orig.src();
        let is_icmp_error = orig.protocol() == IpProtocol::ICMP && {
            let t = orig.payload().first().copied().unwrap_or(0);
            !matches!(IcmpType(t), IcmpType::ECHO_REQUEST | IcmpType::ECHO_REPLY)
                && !matches!(t, 13 | 15 | 17) // timestamp, information, address mask requests
        };
        let forbidden = is_icmp_error
            || link_broadcast
            || self.is_broadcast(orig.dst())
            || orig.dst().is_multicast()
            || orig.frag_offset() != 0
            || !self.is_unicast_host(src);
        if forbidden {
            self.stats.icmp.unreachable_suppressed += 1;
            return false;
        }
        if !self.icmp_limit.take(now) {
            self.stats.icmp.unreachable_rate_limited += 1;
            return false;
        }
        let total = usize::from(orig.total_len()).min(original.len());
        let quote = &original[..total.min(ICMP_ERROR_MAX - IP_LEN - ICMP_LEN)];
        let repr = IcmpRepr::DstUnreachable {
            code,
            data_len: quote.len(),
        };
        let st = self.send_ipv4(tx, now, src, IpProtocol::ICMP, |buf| {
            let len = repr.buffer_len();
            if buf.len() < len {
                return 0;
            }
            repr.emit(&mut IcmpPacket::new_unchecked(&mut buf[..len]), quote);
            len
        });
        if st.is_ok() {
            self.stats.icmp.unreachable_sent += 1;
        }
        st.is_ok()
    }

    /// RFC 1122 3.2.1.3: a source address must name one host.
    #[inline]
    pub(crate) fn is_unicast_host(&self, ip: Ipv4Addr) -> bool {
        !(ip.is_unspecified()
            || ip.is_loopback()
            || ip.is_multicast()
            || self.is_broadcast(ip)
            || ip.octets()[0] >= 240
            || ip == self.local.ip)
    }

    /// Start-up: the first gratuitous announcement (RFC 5227 2.3), so neighbours with a
    /// stale entry for our address learn our MAC.
    pub fn start<Tx: TxQueue>(&mut self, tx: &mut Tx, now: Instant) {
        self.next_announce = now;
        self.announce(tx, now);
    }

    fn announce<Tx: TxQueue>(&mut self, tx: &mut Tx, now: Instant) {
        if self.announce_left > 0 && now >= self.next_announce {
            self.announce_left -= 1;
            self.next_announce = now + self.cfg.arp.announce_interval;
            self.arp.announce(&self.local, tx, &mut self.stats.eth);
        }
    }

    /// Housekeeping due at `now`: announcements, ARP retries, refreshes and expiry.
    pub fn tick<Tx: TxQueue>(&mut self, tx: &mut Tx, now: Instant) {
        self.announce(tx, now);
        self.arp.tick(now, &self.local, tx, &mut self.stats.eth);
    }
}

/// The per-packet values of an IPv4 header we send.
struct Header {
    src_mac: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: IpProtocol,
    ident: u16,
    ttl: u8,
    df: bool,
}

/// Let `fill` write the payload after the headers in `buf`, then write the headers; the
/// frame length, or 0 if the payload was empty-handed or too long.
#[inline]
fn build(
    buf: &mut [u8],
    dst_mac: MacAddr,
    h: &Header,
    max_payload: usize,
    fill: impl FnOnce(&mut [u8]) -> usize,
) -> usize {
    if buf.len() < HEADERS_LEN {
        return 0;
    }
    let room = (buf.len() - HEADERS_LEN).min(max_payload);
    let n = fill(&mut buf[HEADERS_LEN..HEADERS_LEN + room]);
    if n == 0 || n > room {
        return 0;
    }
    emit_headers(buf, dst_mac, h, n)
}

/// Write the Ethernet and IPv4 headers in front of an `n`-byte payload; the frame length.
#[inline]
fn emit_headers(buf: &mut [u8], dst_mac: MacAddr, h: &Header, n: usize) -> usize {
    link::write_header(buf, dst_mac, h.src_mac, EtherType::IPV4);
    let repr = Ipv4Repr {
        src: h.src,
        dst: h.dst,
        protocol: h.protocol,
        payload_len: n,
        ttl: h.ttl,
        ident: h.ident,
        dont_frag: h.df,
        dscp_ecn: 0,
    };
    repr.emit(&mut Ipv4Packet::new_unchecked(
        &mut buf[ETH_LEN..HEADERS_LEN],
    ));
    HEADERS_LEN + n
}
