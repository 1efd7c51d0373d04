//! Start-up settings of an interface, and their validation.

use crate::wire::{Ipv4Addr, MacAddr};
use std::fmt;
use std::time::Duration;

/// ARP settings. The defaults follow Linux's neighbour defaults where they exist
/// (`base_reachable_time` 30 s, `retrans_time` 1 s, `mcast_solicit`/`ucast_solicit` 3) and
/// RFC 5227 for announcements (two, two seconds apart).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArpConfig {
    /// Neighbour entries, rounded up to a power of two (at least 8).
    pub capacity: usize,
    /// How long a confirmed entry is used without question. Past it the entry is still used,
    /// but the next use sends a unicast request to refresh it (RFC 1122 2.3.2.1).
    pub reachable: Duration,
    /// An entry not confirmed for this long is removed, used or not.
    pub expire: Duration,
    /// Interval between requests while resolving or refreshing.
    pub retry_interval: Duration,
    /// Requests sent before a resolution or a refresh is given up (at least 1).
    pub max_probes: u32,
    /// Packets held per unresolved neighbour (0..=[`MAX_HOLD`]); the oldest goes first when
    /// the queue is full (as Linux does).
    pub hold_per_neighbor: usize,
    /// Hold buffers shared by all neighbours (each one frame).
    pub hold_total: usize,
    /// Gratuitous ARP announcements sent at start (RFC 5227 2.3), 0 for none.
    pub announcements: u32,
    /// Interval between announcements.
    pub announce_interval: Duration,
    /// Permanent entries: never expire, never overwritten by received ARP.
    pub static_entries: Vec<(Ipv4Addr, MacAddr)>,
}

/// Largest `hold_per_neighbor`.
pub const MAX_HOLD: usize = 8;

impl Default for ArpConfig {
    fn default() -> Self {
        ArpConfig {
            capacity: 256,
            reachable: Duration::from_secs(30),
            expire: Duration::from_secs(60),
            retry_interval: Duration::from_secs(1),
            max_probes: 3,
            hold_per_neighbor: 4,
            hold_total: 64,
            announcements: 2,
            announce_interval: Duration::from_secs(2),
            static_entries: Vec::new(),
        }
    }
}

/// Settings of one interface: addresses, routing, and the knobs of each layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfaceConfig {
    /// Our MAC (the port's, from [`nmio::Capabilities::mac`], unless the backend lets us
    /// pick).
    pub mac: MacAddr,
    /// Our IPv4 address.
    pub addr: Ipv4Addr,
    /// Prefix length of the on-link subnet (1..=32).
    pub prefix_len: u8,
    /// Next hop for destinations outside the subnet; `None` means only on-link
    /// destinations are reachable (others are counted as `tx_no_route`).
    pub gateway: Option<Ipv4Addr>,
    /// IP MTU: the largest IPv4 packet sent.
    pub mtu: usize,
    /// TTL of the packets we send (RFC 1700 recommends 64).
    pub ttl: u8,
    /// Set DF on everything we send (RFC 1191 path MTU discovery; we never fragment).
    pub dont_fragment: bool,
    /// Drop packets received with a lower TTL. 0 (the default) accepts all: RFC 1122
    /// 3.2.1.7 says a host must not discard a datagram for a low TTL. 255 gives GTSM
    /// (RFC 5082) for peers one hop away.
    pub min_ttl: u8,
    /// Answer echo requests sent to a broadcast address (Linux's
    /// `icmp_echo_ignore_broadcasts=0`); off by default.
    pub answer_broadcast_echo: bool,
    /// Destination unreachable messages per second (token bucket rate), 0 to never send.
    pub icmp_rate: u32,
    /// Burst of the unreachable token bucket.
    pub icmp_burst: u32,
    /// Period of the housekeeping tick (ARP retries, refreshes, expiry, announcements).
    pub tick: Duration,
    /// ARP settings.
    pub arp: ArpConfig,
}

impl IfaceConfig {
    /// Defaults for `addr/prefix_len` on a port with MAC `mac` and a 1500-byte MTU.
    pub fn new(mac: MacAddr, addr: Ipv4Addr, prefix_len: u8) -> Self {
        IfaceConfig {
            mac,
            addr,
            prefix_len,
            gateway: None,
            mtu: 1500,
            ttl: 64,
            dont_fragment: true,
            min_ttl: 0,
            answer_broadcast_echo: false,
            // Linux: net.ipv4.icmp_msgs_per_sec 1000, icmp_msgs_burst 50.
            icmp_rate: 1000,
            icmp_burst: 50,
            tick: Duration::from_millis(100),
            arp: ArpConfig::default(),
        }
    }

    /// Defaults for `addr/prefix_len` on `port`'s MAC and MTU.
    pub fn for_port(caps: &nmio::Capabilities, addr: Ipv4Addr, prefix_len: u8) -> Self {
        let mut c = Self::new(MacAddr(caps.mac), addr, prefix_len);
        c.mtu = caps.mtu.min(
            caps.max_frame
                .saturating_sub(crate::wire::ethernet::HEADER_LEN),
        );
        c
    }

    /// The subnet mask as a host-order integer.
    pub fn mask(&self) -> u32 {
        match self.prefix_len {
            0 => 0,
            p => u32::MAX << (32 - u32::from(p.min(32))),
        }
    }

    /// Whether `ip` is inside our subnet.
    pub fn on_link(&self, ip: Ipv4Addr) -> bool {
        (u32::from(ip) ^ u32::from(self.addr)) & self.mask() == 0
    }

    /// The subnet's directed broadcast address (RFC 919/922).
    pub fn subnet_broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    /// Checks the settings; the error names what is wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=32).contains(&self.prefix_len) {
            return Err(ConfigError::Prefix(self.prefix_len));
        }
        if !self.mac.is_unicast() || self.mac == MacAddr::ZERO {
            return Err(ConfigError::Mac(self.mac));
        }
        let a = self.addr;
        let host_bits = u32::from(a) & !self.mask();
        let is_net_or_bcast = self.prefix_len < 31 && (host_bits == 0 || host_bits == !self.mask());
        if a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback() {
            return Err(ConfigError::Addr(a, "not a unicast address"));
        }
        if is_net_or_bcast {
            return Err(ConfigError::Addr(
                a,
                "is the subnet's network or broadcast address",
            ));
        }
        if let Some(gw) = self.gateway {
            if !self.on_link(gw) || gw == a {
                return Err(ConfigError::Gateway(gw));
            }
        }
        let min_mtu = 68; // RFC 791: every host must accept 68-byte datagrams
        if self.mtu < min_mtu || self.mtu > usize::from(u16::MAX) {
            return Err(ConfigError::Mtu(self.mtu));
        }
        if self.ttl == 0 {
            return Err(ConfigError::Ttl);
        }
        if self.tick.is_zero() {
            return Err(ConfigError::Arp("tick must be above zero"));
        }
        let arp = &self.arp;
        if arp.max_probes == 0 {
            return Err(ConfigError::Arp("max_probes must be at least 1"));
        }
        if arp.hold_per_neighbor > MAX_HOLD {
            return Err(ConfigError::Arp("hold_per_neighbor above 8"));
        }
        if arp.hold_total > usize::from(u16::MAX) {
            return Err(ConfigError::Arp("hold_total above 65535"));
        }
        if arp.capacity == 0 || arp.capacity > 1 << 20 {
            return Err(ConfigError::Arp("capacity must be 1..=1048576"));
        }
        if arp.retry_interval.is_zero() || arp.reachable.is_zero() {
            return Err(ConfigError::Arp("intervals must be above zero"));
        }
        if arp.expire < arp.reachable {
            return Err(ConfigError::Arp(
                "expire must not be shorter than reachable",
            ));
        }
        for &(ip, mac) in &arp.static_entries {
            if !self.on_link(ip) || ip == a || !mac.is_unicast() {
                return Err(ConfigError::StaticEntry(ip, mac));
            }
        }
        Ok(())
    }
}

/// A setting that cannot work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// Prefix length outside 1..=32.
    Prefix(u8),
    /// Our MAC is a group address or zero.
    Mac(MacAddr),
    /// Our IPv4 address cannot be a host's.
    Addr(Ipv4Addr, &'static str),
    /// The gateway is not on-link (or is our own address).
    Gateway(Ipv4Addr),
    /// MTU outside 68..=65535.
    Mtu(usize),
    /// TTL 0 (RFC 1122 3.2.1.7: a host must not send it).
    Ttl,
    /// An ARP setting (the text says which).
    Arp(&'static str),
    /// A static entry off-link, for our own address, or with a group MAC.
    StaticEntry(Ipv4Addr, MacAddr),
    /// Too many static entries hash to one bucket of the neighbour table.
    StaticTableFull(Ipv4Addr),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Prefix(p) => write!(f, "prefix length /{p} is not in 1..=32"),
            ConfigError::Mac(m) => write!(f, "MAC {m} is not a unicast address"),
            ConfigError::Addr(a, why) => write!(f, "address {a} {why}"),
            ConfigError::Gateway(g) => {
                write!(
                    f,
                    "gateway {g} is not another address of the on-link subnet"
                )
            }
            ConfigError::Mtu(m) => write!(f, "MTU {m} is not in 68..=65535"),
            ConfigError::Ttl => f.write_str("TTL 0 may not be sent (RFC 1122 3.2.1.7)"),
            ConfigError::Arp(what) => write!(f, "ARP setting: {what}"),
            ConfigError::StaticEntry(ip, mac) => write!(
                f,
                "static ARP entry {ip} -> {mac}: must be another on-link address with a unicast MAC"
            ),
            ConfigError::StaticTableFull(ip) => write!(
                f,
                "static ARP entry {ip}: its bucket of the neighbour table is full (raise capacity)"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> IfaceConfig {
        IfaceConfig::new(
            MacAddr([2, 0, 0, 0, 0, 1]),
            Ipv4Addr::new(192, 0, 2, 10),
            24,
        )
    }

    #[test]
    fn defaults_validate_and_describe_the_subnet() {
        let c = cfg();
        c.validate().unwrap();
        assert_eq!(c.mask(), 0xffff_ff00);
        assert!(c.on_link(Ipv4Addr::new(192, 0, 2, 200)));
        assert!(!c.on_link(Ipv4Addr::new(192, 0, 3, 1)));
        assert_eq!(c.subnet_broadcast(), Ipv4Addr::new(192, 0, 2, 255));
    }

    #[test]
    fn bad_settings_are_named() {
        let mut c = cfg();
        c.prefix_len = 33;
        assert_eq!(c.validate(), Err(ConfigError::Prefix(33)));
        let mut c = cfg();
        c.addr = Ipv4Addr::new(192, 0, 2, 255);
        assert!(matches!(c.validate(), Err(ConfigError::Addr(..))));
        let mut c = cfg();
        c.gateway = Some(Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(
            c.validate(),
            Err(ConfigError::Gateway(Ipv4Addr::new(10, 0, 0, 1)))
        );
        let mut c = cfg();
        c.mac = MacAddr::BROADCAST;
        assert!(c.validate().unwrap_err().to_string().contains("unicast"));
        let mut c = cfg();
        c.arp.hold_per_neighbor = 9;
        assert!(matches!(c.validate(), Err(ConfigError::Arp(_))));
        let mut c = cfg();
        c.arp
            .static_entries
            .push((Ipv4Addr::new(8, 8, 8, 8), MacAddr([2, 0, 0, 0, 0, 9])));
        assert!(matches!(c.validate(), Err(ConfigError::StaticEntry(..))));
    }

    #[test]
    fn point_to_point_prefixes_allow_every_address() {
        let mut c = cfg();
        c.prefix_len = 32;
        c.validate().unwrap();
        c.prefix_len = 31;
        c.addr = Ipv4Addr::new(192, 0, 2, 0);
        c.validate().unwrap();
    }
}
