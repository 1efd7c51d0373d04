//! TCP over the IPv4 layer of [`eth`].
//!
//! So far the crate holds the parts every TCP piece builds on:
//!
//! * [`seq`]: sequence numbers with the modular comparisons of RFC 9293 3.4.
//! * [`wire`]: the TCP header and its options (RFC 9293 3.1-3.2, RFC 7323, RFC 2018), a
//!   checked view ([`wire::TcpPacket`]) and a value ([`wire::TcpRepr`]).
//!
//! The sans-IO TCP core arrives with the tcpip issue.
//!
//! ```
//! use eth::wire::Ipv4Addr;
//! use tcpip::seq::Seq;
//! use tcpip::wire::{TcpFlags, TcpOptions, TcpPacket, TcpRepr};
//!
//! let (src, dst) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
//! let syn = TcpRepr {
//!     src_port: 40000,
//!     dst_port: 80,
//!     seq: Seq(u32::MAX), // the first data byte wraps to 0
//!     ack: Seq(0),
//!     flags: TcpFlags::SYN,
//!     window: 64240,
//!     urgent: 0,
//!     options: TcpOptions { mss: Some(1460), ..TcpOptions::default() },
//!     payload_len: 0,
//! };
//! let mut buf = vec![0; syn.buffer_len()];
//! syn.emit(&mut TcpPacket::new_unchecked(&mut buf[..]), src, dst, &[]);
//! let seg = TcpPacket::new_checked(&buf[..]).unwrap();
//! assert_eq!(TcpRepr::parse(&seg, src, dst), Ok(syn));
//! assert_eq!(seg.seq() + seg.segment_len() as u32, Seq(0));
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
pub mod wire;

pub use app::{Conn, SendError, TcpApp};
pub use config::TcpConfig;
pub use endpoint::{TcpCore, TcpError};
pub use prepared::ObjectId;
pub use stack::Tcp;
pub use table::Handle;
pub use tcb::{CloseReason, State};

pub use eth;
