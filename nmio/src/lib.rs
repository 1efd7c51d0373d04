//! Packet I/O for a userspace network stack: ports, backends and the event loop.
//!
//! (Crate docs, with the buffer-mapping diagram, are written in `doc.md`.)

pub mod backend;
pub mod clock;
pub mod error;
pub mod port;
pub mod prepared;
pub mod stats;

pub use clock::{Clock, CoarseClock, Instant, MonotonicClock, VirtualClock};
pub use error::Error;
pub use port::{Capabilities, Port, RxFlags, RxMeta, RxQueue, TxQueue};
pub use prepared::{PrepMode, PreparedId, PreparedPool};
pub use stats::PortStats;
