#![doc = include_str!("../README.md")]
//!
//! ## Example: two ports on the simulated wire, driven by the event loop
//!
//! ```
//! use nmio::backend::pipe::{self, PipeConfig};
//! use nmio::event_loop::{Context, EventLoop, Handler, LoopConfig};
//! use nmio::{Instant, Port, RxMeta, RxQueue, TxQueue, VirtualClock};
//!
//! /// Echo every frame with the MAC addresses swapped; works on any backend.
//! struct Echo;
//!
//! impl<Tx: TxQueue> Handler<Tx> for Echo {
//!     fn on_frame(&mut self, cx: &mut Context<'_, Tx>, frame: &mut [u8], _m: &RxMeta) {
//!         let (dst, src) = frame[..12].split_at_mut(6);
//!         dst.swap_with_slice(src);
//!         let len = frame.len();
//!         cx.tx.send(|slot| {
//!             slot[..len].copy_from_slice(frame);
//!             len
//!         });
//!     }
//! }
//!
//! let clock = VirtualClock::new(Instant::ZERO);
//! let (mut a, b) = pipe::pair(PipeConfig { clock: Some(clock.clone()), ..Default::default() })?;
//! let mut ev = EventLoop::new(b, clock.clone(), LoopConfig::default());
//!
//! let mut frame = [0u8; 60];
//! frame[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0xb]);
//! frame[6..12].copy_from_slice(&a.caps().mac);
//! a.tx().send(|slot| {
//!     slot[..60].copy_from_slice(&frame);
//!     60
//! });
//! a.tx().flush()?;
//! ev.run_once(&mut Echo); // receives, echoes, kicks
//!
//! let mut back = Vec::new();
//! a.rx().recv_burst(8, |f, _| back.push(f.to_vec()));
//! assert_eq!(back.len(), 1);
//! assert_eq!(back[0][..6], a.caps().mac);
//! # Ok::<(), nmio::Error>(())
//! ```

pub mod backend;
pub mod clock;
pub mod csum;
pub mod error;
pub mod event_loop;
pub mod port;
pub mod prepared;
pub mod select;
pub mod stats;
pub mod timer;
pub mod tso;

pub use backend::sys::prefetch_ref as prefetch;
pub use clock::{Clock, CoarseClock, Instant, MonotonicClock, VirtualClock};
pub use error::Error;
pub use event_loop::{Context, EventLoop, FnHandler, Handler, KickPolicy, LoopConfig, LoopStats};
pub use port::{Capabilities, Port, RxFlags, RxMeta, RxQueue, TxQueue};
pub use prepared::{PrepMode, PreparedId, PreparedPool};
pub use stats::PortStats;
pub use timer::{TimerHandle, TimerStats, TimerWheel};
