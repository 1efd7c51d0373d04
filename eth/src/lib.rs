//! Ethernet, ARP and the IPv4 layer shared by both transports.
//!
//! - [`wire`]: Ethernet II (802.1Q recognized), ARP, IPv4 and ICMPv4, each a checked view
//!   plus a value type; [`checksum`]: RFC 1071 sums, RFC 1624 incremental updates,
//!   TCP/UDP pseudo-headers.
//! - [`arp_cache`]: the bounded neighbour cache with expiry, refresh, held packets and
//!   static entries.
//! - [`iface`]: addresses, routing (on-link or default gateway) and the IPv4 output path.
//! - [`stack`]: the receive path as an [`nmio::Handler`], with transports as generic
//!   parameters ([`Transport`]).
//! - [`stats`]: a counter for every drop reason, per layer.
//!
//! ## Example: a stack that answers ARP and ping, on the simulated wire
//!
//! ```
//! use eth::wire::{Ipv4Addr, MacAddr};
//! use eth::{IfaceConfig, Stack};
//! use nmio::backend::pipe::{self, PipeConfig};
//! use nmio::{Clock, EventLoop, Instant, LoopConfig, Port, VirtualClock};
//!
//! let clock = VirtualClock::new(Instant::ZERO);
//! let (mut peer, port) = pipe::pair(PipeConfig { clock: Some(clock.clone()), ..Default::default() })?;
//! let cfg = IfaceConfig::for_port(port.caps(), Ipv4Addr::new(192, 0, 2, 2), 24);
//! let mut stack = Stack::new(cfg, (), clock.now())?; // `()`: no transports, ICMP only
//! let mut ev = EventLoop::new(port, clock.clone(), LoopConfig::default());
//! stack.start_on(&mut ev); // gratuitous ARP announcement
//!
//! // The peer asks who has 192.0.2.2; the stack answers with its MAC.
//! let peer_mac = MacAddr(peer.caps().mac);
//! let request = eth::testing::arp_request(peer_mac, Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
//! eth::testing::inject(&mut peer, &request);
//! ev.run_once(&mut stack);
//! let frames = eth::testing::drain(&mut peer);
//! assert!(frames.iter().any(|f| eth::testing::is_arp_reply_from(f, MacAddr(ev.port().caps().mac))));
//! assert_eq!(stack.stats().arp.requests_answered, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod arp_cache;
pub mod checksum;
pub mod config;
pub mod iface;
pub mod link;
pub mod ratelimit;
pub mod stack;
pub mod stats;
pub mod testing;
pub mod wire;

pub use arp_cache::{ArpCache, Neighbor, NeighborState};
pub use config::{ArpConfig, ConfigError, IfaceConfig};
pub use iface::{Iface, NextHop, SendStatus, HEADERS_LEN};
pub use stack::{
    timer_token, Delivery, IcmpError, IpContext, IpInput, Stack, Transport, TICK_TOKEN,
};
pub use stats::{ArpStats, EthStats, IcmpStats, Ipv4Stats, Stats};

pub use nmio;
