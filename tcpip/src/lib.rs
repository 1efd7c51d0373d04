//! TCP over the IPv4 layer of [`eth`]: a complete TCP whose core does no I/O.
//!
//! * [`TcpCore`] ([`endpoint`]) is the sans-IO TCP of one core: segments and a timestamp
//!   in ([`TcpCore::on_segment`], [`TcpCore::on_timeout`]), segments out into a
//!   caller-provided [`sink::SegmentSink`], application events through a [`TcpApp`]. No
//!   clock, no backend, no locks, no allocation per segment. It holds the connection
//!   table, listeners, timers, ISN and SYN-cookie keys and prepared objects; run one per
//!   core. Segments that arrive together can be handed in as a batch
//!   ([`TcpCore::begin_batch`] .. [`TcpCore::end_batch`]): full segments are then
//!   acknowledged once per batch, as a receiver with GRO acknowledges an aggregate.
//! * [`tcb`]: one connection's RFC 9293 state machine with RFC 5961, RFC 7323, SACK,
//!   RACK-TLP loss detection (RFC 8985), undo of spurious retransmissions, and the RFC 6298
//!   timers; [`cc`]: congestion control behind a trait (NewReno, CUBIC).
//! * [`prepared`] and [`frame`]: objects cut into segments once, with payload checksums
//!   (and whole frames in the stack), sent to many clients by rewriting headers only.
//! * [`Tcp`] ([`stack`]): the core as an [`eth::Transport`], driven by the `nmio` event
//!   loop on any backend.
//! * [`seq`], [`wire`]: sequence arithmetic and the header codec.
//!
//! Two cores wired by hand, without `nmio` or any I/O:
//!
//! ```
//! use nmio::Instant;
//! use std::net::{Ipv4Addr, SocketAddrV4};
//! use tcpip::sink::VecSink;
//! use tcpip::{Conn, TcpApp, TcpConfig, TcpCore};
//!
//! /// Answers every request with "hello" and closes.
//! struct Hello;
//! impl TcpApp for Hello {
//!     fn on_data(&mut self, conn: &mut Conn<'_>, _request: &[u8]) {
//!         conn.send(b"hello");
//!         conn.close();
//!     }
//! }
//!
//! let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
//! let mut server = TcpCore::new(TcpConfig::default(), Instant::ZERO).unwrap();
//! let mut client = TcpCore::new(TcpConfig::default(), Instant::ZERO).unwrap();
//! server.listen(80).unwrap();
//!
//! // Wire the two cores together by hand: whatever one sends, the other receives.
//! let (mut to_server, mut to_client) = (VecSink::new(64), VecSink::new(64));
//! let h = client
//!     .connect(Instant::ZERO, SocketAddrV4::new(b, 0), SocketAddrV4::new(a, 80), &mut to_server)
//!     .unwrap();
//! client.act(Instant::ZERO, h, &mut (), &mut to_server, |c| c.send(b"GET /"));
//! for _ in 0..10 {
//!     for (src, dst, seg) in to_server.drain() {
//!         server.on_segment(Instant::ZERO, src, dst, &seg, &mut Hello, &mut to_client);
//!     }
//!     for (src, dst, seg) in to_client.drain() {
//!         client.on_segment(Instant::ZERO, src, dst, &seg, &mut (), &mut to_server);
//!     }
//! }
//! assert_eq!(server.stats().accepted, 1);
//! assert_eq!(client.stats().rx_bytes, 5);
//! ```

pub mod accept;
pub mod app;
pub mod assembler;
pub mod cc;
pub mod config;
pub mod endpoint;
pub mod frame;
pub mod isn;
pub mod prepared;
pub(crate) mod rack;
pub mod reset;
pub mod ringbuf;
pub mod rtt;
pub mod seq;
pub mod sink;
pub mod siphash;
pub mod stack;
pub mod stats;
pub mod table;
pub mod tcb;
pub(crate) mod timewait;
pub mod wire;

pub use app::{Conn, SendError, TcpApp};
pub use config::TcpConfig;
pub use endpoint::{TcpCore, TcpError};
pub use prepared::ObjectId;
pub use stack::Tcp;
pub use table::Handle;
pub use tcb::{CloseReason, IcmpKind, State};

pub use eth;
