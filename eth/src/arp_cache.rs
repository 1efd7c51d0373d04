//! The ARP neighbour cache (RFC 826, RFC 1122 2.3.2, RFC 5227).
//!
//! # Shape
//!
//! A fixed table of `capacity` entries (a power of two) allocated at start-up. An address
//! hashes to a bucket of [`BUCKET`] consecutive slots; entries never move, so a lookup
//! compares at most eight addresses and there are no tombstones. A new neighbour takes a free
//! slot of its bucket, else evicts the least recently confirmed dynamic entry there.
//!
//! Packets for a neighbour being resolved wait in a shared pool of frame buffers (also
//! allocated at start-up), at most `hold_per_neighbor` per neighbour: when that queue is
//! full the oldest is dropped, as Linux does. When the reply comes the held frames get the
//! neighbour's MAC and go out in order.
//!
//! # Life of an entry
//!
//! - *Incomplete*: created when we must send to an unknown neighbour. A broadcast request
//!   goes out at once and every `retry_interval` after, `max_probes` in all; then the
//!   resolution fails and the held packets are dropped (counted).
//! - *Reachable*: learned from a request for our address or a reply. For `reachable` after
//!   its last confirmation it is used without question. The first use after that sends a
//!   unicast request (RFC 1122 2.3.2.1 "unicast poll") while the entry stays in use; a reply
//!   confirms it again, `max_probes` unanswered requests remove it. An entry not confirmed
//!   for `expire` is removed even if nobody used it, which frees its slot.
//! - *Static*: configured; never expires, never overwritten by what arrives.
//!
//! Time only moves through the `now` arguments: the stack's tick calls [`ArpCache::tick`].

use crate::config::{ArpConfig, ConfigError, MAX_HOLD};
use crate::link::{self, Local};
use crate::stats::{ArpStats, EthStats};
use crate::wire::{ArpOp, ArpRepr, Ipv4Addr, MacAddr};
use nmio::{Instant, TxQueue};

/// Slots probed per lookup.
pub const BUCKET: usize = 8;

/// State of a neighbour entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeighborState {
    /// Being resolved; packets are held.
    Incomplete,
    /// Resolved. `refreshing` is set while unicast requests confirm a stale entry.
    Reachable {
        /// A refresh is in progress.
        refreshing: bool,
    },
    /// Configured; permanent.
    Static,
}

/// A neighbour as seen from outside the cache (for tests, tools and the stats line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Neighbor {
    /// Its IPv4 address.
    pub ip: Ipv4Addr,
    /// Its MAC (zero while incomplete).
    pub mac: MacAddr,
    /// Its state.
    pub state: NeighborState,
    /// When it was last confirmed (created, for an incomplete entry).
    pub confirmed: Instant,
    /// Requests sent in the current resolution or refresh.
    pub probes: u32,
    /// Packets held for it.
    pub held: usize,
}

/// What [`ArpCache::resolve`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Send to this MAC.
    Mac(MacAddr),
    /// Resolution in progress: hold the packet in this entry (see [`ArpCache::hold`]).
    Pending(usize),
    /// No entry could be made (its bucket is all static or pending); drop.
    Failed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Free,
    Incomplete,
    Reachable,
    Static,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    ip: Ipv4Addr,
    mac: MacAddr,
    slot: Slot,
    refreshing: bool,
    confirmed: Instant,
    probes: u32,
    next_probe: Instant,
    held: [u16; MAX_HOLD],
    n_held: u8,
}

const FREE: Entry = Entry {
    ip: Ipv4Addr::UNSPECIFIED,
    mac: MacAddr::ZERO,
    slot: Slot::Free,
    refreshing: false,
    confirmed: Instant::ZERO,
    probes: 0,
    next_probe: Instant::ZERO,
    held: [0; MAX_HOLD],
    n_held: 0,
};

/// The neighbour cache of one interface. See the [module docs](self).
pub struct ArpCache {
    cfg: ArpConfig,
    entries: Vec<Entry>,
    shift: u32,
    used: usize,
    statics: usize,
    frame_cap: usize,
    pool: Vec<u8>,
    pool_len: Vec<u16>,
    pool_free: Vec<u16>,
    stats: ArpStats,
}

impl ArpCache {
    /// A cache sized by `cfg`, holding frames of up to `frame_cap` bytes, with the static
    /// entries in place. All memory it will ever use is allocated here.
    pub fn new(cfg: &ArpConfig, frame_cap: usize) -> Result<Self, ConfigError> {
        let capacity = cfg.capacity.clamp(BUCKET, 1 << 20).next_power_of_two();
        let hold_total = cfg.hold_total.min(usize::from(u16::MAX));
        let mut cache = ArpCache {
            cfg: cfg.clone(),
            entries: vec![FREE; capacity],
            shift: 32 - capacity.trailing_zeros(),
            used: 0,
            statics: 0,
            frame_cap,
            pool: vec![0; hold_total * frame_cap],
            pool_len: vec![0; hold_total],
            pool_free: (0..hold_total as u16).rev().collect(),
            stats: ArpStats::default(),
        };
        for &(ip, mac) in &cfg.static_entries {
            cache.set_static(ip, mac)?;
        }
        Ok(cache)
    }

    /// Add or replace a permanent entry.
    pub fn set_static(&mut self, ip: Ipv4Addr, mac: MacAddr) -> Result<(), ConfigError> {
        let i = match self.find(ip) {
            Some(i) => i,
            None => self
                .free_slot(ip)
                .or_else(|| self.victim(ip))
                .ok_or(ConfigError::StaticTableFull(ip))?,
        };
        self.clear(i);
        self.entries[i] = Entry {
            ip,
            mac,
            slot: Slot::Static,
            ..FREE
        };
        self.used += 1;
        self.statics += 1;
        Ok(())
    }

    /// The MAC for `ip` if resolved (no side effects: no refresh, no request).
    pub fn lookup(&self, ip: Ipv4Addr) -> Option<MacAddr> {
        let e = &self.entries[self.find(ip)?];
        (e.slot != Slot::Incomplete).then_some(e.mac)
    }

    /// The entry for `ip`, if any.
    pub fn neighbor(&self, ip: Ipv4Addr) -> Option<Neighbor> {
        self.find(ip).map(|i| self.describe(i))
    }

    /// Every entry in use, in table order.
    pub fn neighbors(&self) -> impl Iterator<Item = Neighbor> + '_ {
        (0..self.entries.len())
            .filter(|&i| self.entries[i].slot != Slot::Free)
            .map(|i| self.describe(i))
    }

    /// Entries in use.
    pub fn len(&self) -> usize {
        self.used
    }

    /// Whether no entry is in use.
    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// Slots in the table.
    pub fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// Counters.
    pub fn stats(&self) -> ArpStats {
        self.stats
    }

    /// Hold buffers free now.
    pub fn hold_free(&self) -> usize {
        self.pool_free.len()
    }

    fn describe(&self, i: usize) -> Neighbor {
        let e = &self.entries[i];
        Neighbor {
            ip: e.ip,
            mac: e.mac,
            state: match e.slot {
                Slot::Incomplete | Slot::Free => NeighborState::Incomplete,
                Slot::Reachable => NeighborState::Reachable {
                    refreshing: e.refreshing,
                },
                Slot::Static => NeighborState::Static,
            },
            confirmed: e.confirmed,
            probes: e.probes,
            held: usize::from(e.n_held),
        }
    }

    #[inline]
    fn bucket(&self, ip: Ipv4Addr) -> usize {
        // Fibonacci hashing: the multiply spreads the low-order host bits of a subnet.
        (u32::from(ip).wrapping_mul(0x9E37_79B9) >> self.shift) as usize
    }

    #[inline]
    fn bucket_slots(&self, ip: Ipv4Addr) -> impl Iterator<Item = usize> {
        let start = self.bucket(ip);
        let mask = self.entries.len() - 1;
        (0..BUCKET).map(move |k| (start + k) & mask)
    }

    #[inline]
    fn find(&self, ip: Ipv4Addr) -> Option<usize> {
        self.bucket_slots(ip)
            .find(|&i| self.entries[i].slot != Slot::Free && self.entries[i].ip == ip)
    }

    fn free_slot(&self, ip: Ipv4Addr) -> Option<usize> {
        self.bucket_slots(ip)
            .find(|&i| self.entries[i].slot == Slot::Free)
    }

    /// The dynamic entry of `ip`'s bucket confirmed longest ago, resolved entries first
    /// (a pending resolution is more likely to be wanted soon).
    fn victim(&self, ip: Ipv4Addr) -> Option<usize> {
        let oldest = |slot: Slot| {
            self.bucket_slots(ip)
                .filter(|&i| self.entries[i].slot == slot)
                .min_by_key(|&i| self.entries[i].confirmed)
        };
        oldest(Slot::Reachable).or_else(|| oldest(Slot::Incomplete))
    }

    /// Free entry `i` and any packets it holds (counted as dropped).
    fn clear(&mut self, i: usize) {
        let e = self.entries[i];
        if e.slot == Slot::Free {
            return;
        }
        for &b in &e.held[..usize::from(e.n_held)] {
            self.pool_free.push(b);
        }
        self.stats.held_dropped += u64::from(e.n_held);
        if e.slot == Slot::Static {
            self.statics -= 1;
        }
        self.entries[i] = FREE;
        self.used -= 1;
    }

    /// A slot for a new dynamic entry for `ip`, evicting if its bucket is full.
    fn make_room(&mut self, ip: Ipv4Addr) -> Option<usize> {
        if let Some(i) = self.free_slot(ip) {
            return Some(i);
        }
        match self.victim(ip) {
            Some(i) => {
                self.stats.evictions += 1;
                self.clear(i);
                Some(i)
            }
            None => {
                self.stats.table_full += 1;
                None
            }
        }
    }

    /// Find the MAC to send to next hop `ip`, starting a resolution (broadcast request) or a
    /// refresh (unicast request) when needed.
    pub fn resolve<Tx: TxQueue>(
        &mut self,
        ip: Ipv4Addr,
        now: Instant,
        local: &Local,
        tx: &mut Tx,
        eth: &mut EthStats,
    ) -> Resolution {
        if let Some(i) = self.find(ip) {
            let e = &mut self.entries[i];
            return match e.slot {
                Slot::Static => Resolution::Mac(e.mac),
                Slot::Incomplete => Resolution::Pending(i),
                Slot::Reachable => {
                    let mac = e.mac;
                    if !e.refreshing && now >= e.confirmed + self.cfg.reachable {
                        e.refreshing = true;
                        e.probes = 1;
                        e.next_probe = now + self.cfg.retry_interval;
                        self.stats.refresh_sent += 1;
                        send_request(tx, eth, local, ip, mac);
                    }
                    Resolution::Mac(mac)
                }
                Slot::Free => Resolution::Failed,
            };
        }
        let Some(i) = self.make_room(ip) else {
            return Resolution::Failed;
        };
        self.entries[i] = Entry {
            ip,
            slot: Slot::Incomplete,
            confirmed: now,
            probes: 1,
            next_probe: now + self.cfg.retry_interval,
            ..FREE
        };
        self.used += 1;
        self.stats.requests_sent += 1;
        send_request(tx, eth, local, ip, MacAddr::BROADCAST);
        Resolution::Pending(i)
    }

    /// A hold buffer for a packet to pending entry `i`: `(buffer id, frame_cap bytes)`.
    /// When the pool is empty, the entry's own oldest held packet makes room (dropped,
    /// counted); `None` when there is nothing to reuse either (counted).
    pub fn hold(&mut self, i: usize) -> Option<(u16, &mut [u8])> {
        let limit = self.cfg.hold_per_neighbor;
        let e = self.entries.get(i)?;
        if e.slot != Slot::Incomplete || limit == 0 {
            self.stats.held_dropped += 1;
            return None;
        }
        let b = match self.pool_free.pop() {
            Some(b) => b,
            None if e.n_held > 0 => {
                self.stats.held_dropped += 1;
                self.pop_oldest(i)
            }
            None => {
                self.stats.held_dropped += 1;
                return None;
            }
        };
        let off = usize::from(b) * self.frame_cap;
        Some((b, &mut self.pool[off..off + self.frame_cap]))
    }

    fn pop_oldest(&mut self, i: usize) -> u16 {
        let e = &mut self.entries[i];
        let b = e.held[0];
        e.held.copy_within(1.., 0);
        e.n_held -= 1;
        b
    }

    /// Queue hold buffer `b`, filled with a `len`-byte frame, on entry `i` (after
    /// [`hold`](Self::hold)); `len` 0 gives the buffer back.
    pub fn commit_hold(&mut self, i: usize, b: u16, len: usize) {
        let limit = self.cfg.hold_per_neighbor;
        let ok = len > 0 && len <= self.frame_cap;
        match self.entries.get(i) {
            Some(e) if ok && e.slot == Slot::Incomplete => {}
            _ => {
                self.pool_free.push(b);
                return;
            }
        }
        if usize::from(self.entries[i].n_held) >= limit {
            let old = self.pop_oldest(i);
            self.pool_free.push(old);
            self.stats.held_dropped += 1;
        }
        let e = &mut self.entries[i];
        e.held[usize::from(e.n_held)] = b;
        e.n_held += 1;
        self.pool_len[usize::from(b)] = len as u16;
        self.stats.held += 1;
    }

    /// Handle a received ARP packet (RFC 826 "packet reception", with RFC 5227's probe and
    /// conflict rules): learn or update the sender, answer requests for our address.
    /// `sender_on_link` is the interface's verdict on the sender address: a host of our
    /// subnet, not its broadcast address.
    pub fn input<Tx: TxQueue>(
        &mut self,
        repr: &ArpRepr,
        now: Instant,
        local: &Local,
        sender_on_link: bool,
        tx: &mut Tx,
        eth: &mut EthStats,
    ) {
        let for_us = repr.target_ip == local.ip;
        if repr.sender_mac.is_multicast() || repr.sender_mac == MacAddr::ZERO {
            self.stats.rx_bad_sender += 1;
            return;
        }
        if repr.sender_ip == local.ip {
            // Someone else uses our address (or our own frame came back).
            if repr.sender_mac != local.mac {
                self.stats.rx_conflict += 1;
            } else {
                self.stats.rx_ignored += 1;
            }
            return;
        }
        if repr.sender_ip.is_unspecified() {
            // RFC 5227 2.1.1 probe: nothing to learn; answer if it asks for our address so
            // the prober knows it is taken.
            if for_us && repr.op == ArpOp::Request {
                self.reply(repr, local, tx, eth);
            } else {
                self.stats.rx_ignored += 1;
            }
            return;
        }
        if !sender_on_link {
            self.stats.rx_bad_sender += 1;
            return;
        }
        // RFC 826: "If the pair <protocol type, sender protocol address> is already in my
        // translation table, update the sender hardware address field of the entry".
        let mut merged = false;
        if let Some(i) = self.find(repr.sender_ip) {
            merged = true;
            self.confirm(i, repr.sender_mac, now, tx, eth);
        }
        if for_us {
            if !merged {
                if let Some(i) = self.make_room(repr.sender_ip) {
                    self.entries[i] = Entry {
                        ip: repr.sender_ip,
                        mac: repr.sender_mac,
                        slot: Slot::Reachable,
                        confirmed: now,
                        ..FREE
                    };
                    self.used += 1;
                    self.stats.entries_learned += 1;
                }
            }
            if repr.op == ArpOp::Request {
                self.reply(repr, local, tx, eth);
            }
        } else if !merged {
            self.stats.rx_ignored += 1;
        }
    }

    fn confirm<Tx: TxQueue>(
        &mut self,
        i: usize,
        mac: MacAddr,
        now: Instant,
        tx: &mut Tx,
        eth: &mut EthStats,
    ) {
        let e = &mut self.entries[i];
        match e.slot {
            Slot::Static | Slot::Free => return,
            Slot::Reachable if e.refreshing => self.stats.entries_refreshed += 1,
            Slot::Reachable => self.stats.entries_updated += 1,
            Slot::Incomplete => self.stats.entries_learned += 1,
        }
        let was_pending = e.slot == Slot::Incomplete;
        e.mac = mac;
        e.slot = Slot::Reachable;
        e.refreshing = false;
        e.probes = 0;
        e.confirmed = now;
        if was_pending {
            self.release(i, tx, eth);
        }
    }

    /// Send entry `i`'s held frames to its MAC, oldest first.
    fn release<Tx: TxQueue>(&mut self, i: usize, tx: &mut Tx, eth: &mut EthStats) {
        let e = self.entries[i];
        self.entries[i].n_held = 0;
        for &b in &e.held[..usize::from(e.n_held)] {
            let off = usize::from(b) * self.frame_cap;
            let len = usize::from(self.pool_len[usize::from(b)]);
            let frame = &self.pool[off..off + len];
            let sent = link::send_frame(tx, eth, |slot| {
                if slot.len() < len {
                    return 0;
                }
                slot[..len].copy_from_slice(frame);
                slot[..6].copy_from_slice(&e.mac.0);
                len
            });
            if sent {
                self.stats.held_sent += 1;
            } else {
                self.stats.held_dropped += 1;
            }
            self.pool_free.push(b);
        }
    }

    fn reply<Tx: TxQueue>(
        &mut self,
        req: &ArpRepr,
        local: &Local,
        tx: &mut Tx,
        eth: &mut EthStats,
    ) {
        let reply = ArpRepr {
            op: ArpOp::Reply,
            sender_mac: local.mac,
            sender_ip: local.ip,
            target_mac: req.sender_mac,
            target_ip: req.sender_ip,
        };
        if link::send_arp(tx, eth, local.mac, req.sender_mac, &reply) {
            self.stats.requests_answered += 1;
        }
    }

    /// Retries, refreshes and expiry due at `now`. Cost is one pass over the table, so the
    /// stack calls it on its housekeeping tick, not per packet.
    pub fn tick<Tx: TxQueue>(
        &mut self,
        now: Instant,
        local: &Local,
        tx: &mut Tx,
        eth: &mut EthStats,
    ) {
        if self.used == self.statics {
            return; // nothing dynamic
        }
        for i in 0..self.entries.len() {
            let e = self.entries[i];
            match e.slot {
                Slot::Free | Slot::Static => {}
                Slot::Incomplete if now >= e.next_probe => {
                    if e.probes >= self.cfg.max_probes {
                        self.stats.resolve_failed += 1;
                        self.clear(i);
                    } else {
                        self.entries[i].probes += 1;
                        self.entries[i].next_probe = now + self.cfg.retry_interval;
                        self.stats.requests_sent += 1;
                        send_request(tx, eth, local, e.ip, MacAddr::BROADCAST);
                    }
                }
                Slot::Incomplete => {}
                Slot::Reachable if e.refreshing && now >= e.next_probe => {
                    if e.probes >= self.cfg.max_probes {
                        self.stats.entries_expired += 1;
                        self.clear(i);
                    } else {
                        self.entries[i].probes += 1;
                        self.entries[i].next_probe = now + self.cfg.retry_interval;
                        self.stats.refresh_sent += 1;
                        send_request(tx, eth, local, e.ip, e.mac);
                    }
                }
                Slot::Reachable if now >= e.confirmed + self.cfg.expire => {
                    self.stats.entries_expired += 1;
                    self.clear(i);
                }
                Slot::Reachable => {}
            }
        }
    }

    /// Send a gratuitous ARP announcement of our address (RFC 5227 2.3: a request with
    /// sender and target both our address, broadcast).
    pub fn announce<Tx: TxQueue>(&mut self, local: &Local, tx: &mut Tx, eth: &mut EthStats) {
        let repr = ArpRepr {
            op: ArpOp::Request,
            sender_mac: local.mac,
            sender_ip: local.ip,
            target_mac: MacAddr::ZERO,
            target_ip: local.ip,
        };
        if link::send_arp(tx, eth, local.mac, MacAddr::BROADCAST, &repr) {
            self.stats.announcements_sent += 1;
        }
    }

    /// Count a received ARP packet the wire layer rejected.
    pub(crate) fn count_malformed(&mut self, truncated: bool) {
        if truncated {
            self.stats.rx_truncated += 1;
        } else {
            self.stats.rx_unsupported += 1;
        }
    }

    pub(crate) fn count_rx(&mut self) {
        self.stats.rx_packets += 1;
    }
}

/// A request for `ip`, broadcast to resolve or unicast to `dst` to refresh.
fn send_request<Tx: TxQueue>(
    tx: &mut Tx,
    eth: &mut EthStats,
    local: &Local,
    ip: Ipv4Addr,
    dst: MacAddr,
) {
    let repr = ArpRepr {
        op: ArpOp::Request,
        sender_mac: local.mac,
        sender_ip: local.ip,
        target_mac: MacAddr::ZERO,
        target_ip: ip,
    };
    link::send_arp(tx, eth, local.mac, dst, &repr);
}
