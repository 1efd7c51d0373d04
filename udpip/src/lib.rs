//! UDP over the IPv4 layer of [`eth`] (the Rust analogue of Namestorm's libudpip).
//!
//! * [`wire`]: the RFC 768 header, a checked view and a value, with the pseudo-header
//!   checksum.
//! * [`Udp`]: the transport. It goes into an [`eth::Stack`] (alone, or in a tuple with
//!   TCP), demuxes by destination port through a bitmap of bound ports ([`ports`]) to the
//!   application's [`UdpApp`] callbacks, and sends through [`UdpOut`]: copies into TX slots,
//!   batched and kicked once per batch by the loop.
//! * [`prepared`]: reply datagrams built once with every header and sent many times,
//!   rewriting only the destination and chosen payload bytes with incremental checksums,
//!   in the port's pre-copy or memcpy mode.
//! * [`UdpStats`]: a counter per drop reason.
//!
//! # Example: an echo server on the simulated wire
//!
//! ```
//! use eth::{IfaceConfig, Stack};
//! use nmio::backend::pipe::{self, PipeConfig};
//! use nmio::{Clock, EventLoop, LoopConfig, MonotonicClock, Port, TxQueue};
//! use udpip::{Datagram, Udp, UdpApp, UdpOut};
//!
//! struct Echo;
//!
//! impl UdpApp for Echo {
//!     fn on_start<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>) {
//!         out.bind(7).expect("port 7 is free");
//!     }
//!
//!     fn on_datagram<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>, d: Datagram<'_>) {
//!         out.reply(&d, d.payload);
//!     }
//! }
//!
//! let (_peer, port) = pipe::pair(PipeConfig::default()).unwrap();
//! let cfg = IfaceConfig::for_port(port.caps(), "192.0.2.2".parse().unwrap(), 24);
//! let mut stack = Stack::new(cfg, Udp::new(Echo), MonotonicClock.now()).unwrap();
//! let mut ev = EventLoop::new(port, MonotonicClock, LoopConfig::default());
//! stack.start_on(&mut ev);
//! assert!(stack.upper().ports().contains(7));
//! ev.run_once(&mut stack); // then `ev.run(&mut stack)` serves until stopped
//! ```

pub mod app;
pub mod ports;
pub mod prepared;
pub mod stats;
pub mod testing;
pub mod udp;
pub mod wire;

pub use app::{Datagram, UdpApp, UdpError};
pub use ports::{BindError, PortSet};
pub use prepared::{Patch, PrepareError, PreparedDatagram};
pub use stats::UdpStats;
pub use udp::{Udp, UdpConfig, UdpOut};

pub use eth;
pub use nmio;
