//! The application side: callbacks ([`TcpApp`]) and what a callback may do with its
//! connection ([`Conn`]).
//!
//! Everything runs on the core's thread, inside [`crate::TcpCore`] calls: a callback gets a
//! `Conn` for the connection the event is about, queues data or closes it, and returns; the
//! core then sends what the windows allow. There is no receive buffer between TCP and the
//! application: [`TcpApp::on_data`] gets in-order bytes straight from the received segment
//! (or from reassembly when a gap was filled) and must take them all.
//!
//! An application keeps its per-connection state wherever it likes, for example in a
//! `Vec` indexed by [`Handle::index`], which is below the table capacity and is reused only
//! after [`TcpApp::on_closed`].

use crate::config::TcpConfig;
use crate::prepared::{ObjectId, PreparedObject};
use crate::ringbuf::RingBuf;
use crate::table::Handle;
use crate::tcb::{CloseReason, State, Tcb};
use std::fmt;
use std::net::SocketAddrV4;

/// What an application does on connection events. Every method has a default: accept,
/// ignore data and acknowledgments, close when the peer closes, forget closed connections.
pub trait TcpApp {
    /// A passive open completed (ESTABLISHED). Refuse with [`Conn::abort`].
    fn on_accept(&mut self, conn: &mut Conn<'_>) {
        let _ = conn;
    }

    /// An active open ([`crate::TcpCore::connect`]) completed.
    fn on_connected(&mut self, conn: &mut Conn<'_>) {
        let _ = conn;
    }

    /// In-order bytes from the peer. They are consumed: TCP does not keep them.
    fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
        let _ = (conn, data);
    }

    /// The peer acknowledged `bytes` more of what was sent: room to queue more.
    fn on_acked(&mut self, conn: &mut Conn<'_>, bytes: usize) {
        let _ = (conn, bytes);
    }

    /// The peer will send nothing more (its FIN arrived in order). By default, close too.
    fn on_peer_closed(&mut self, conn: &mut Conn<'_>) {
        conn.close();
    }

    /// The connection is over for the application (TIME-WAIT, if any, continues inside
    /// TCP). `handle` is stale from here on.
    fn on_closed(&mut self, handle: Handle, reason: CloseReason) {
        let _ = (handle, reason);
    }
}

/// An application that accepts and discards everything (for tests and examples).
impl TcpApp for () {}

/// Why [`Conn::send_prepared`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The connection no longer sends (closed, or being closed).
    Closed,
    /// The send queue holds its maximum number of separate pieces
    /// ([`crate::tcb::MAX_CHUNKS`]); retry after `on_acked`.
    QueueFull,
    /// No such object, or the range lies outside it.
    BadObject,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::Closed => "connection closed for sending",
            SendError::QueueFull => "send queue full",
            SendError::BadObject => "no such prepared object or range",
        })
    }
}

impl std::error::Error for SendError {}

/// Send rings handed out on first use and recycled when connections end.
#[derive(Default)]
pub(crate) struct TxPool {
    pub free: Vec<RingBuf>,
}

/// One connection, lent to a callback or to [`crate::TcpCore::act`].
pub struct Conn<'a> {
    pub(crate) handle: Handle,
    pub(crate) tcb: &'a mut Tcb,
    pub(crate) tx_pool: &'a mut TxPool,
    pub(crate) objects: &'a [PreparedObject],
    pub(crate) cfg: &'a TcpConfig,
}

impl Conn<'_> {
    /// This connection's handle.
    pub fn handle(&self) -> Handle {
        self.handle
    }

    /// Our address and port.
    pub fn local(&self) -> SocketAddrV4 {
        self.tcb.local
    }

    /// The peer's address and port.
    pub fn remote(&self) -> SocketAddrV4 {
        self.tcb.remote
    }

    /// The connection state.
    pub fn state(&self) -> State {
        self.tcb.state()
    }

    /// Bytes [`send`](Self::send) would take now.
    pub fn send_space(&self) -> usize {
        self.tcb.send_space(self.cfg.send_buffer) as usize
    }

    /// Bytes queued and not yet acknowledged (stream and prepared).
    pub fn queued(&self) -> usize {
        self.tcb.queued() as usize
    }

    /// Copy as much of `data` as fits into the send buffer; returns how much. The rest can
    /// be offered again after [`TcpApp::on_acked`].
    pub fn send(&mut self, data: &[u8]) -> usize {
        let space = self.send_space().min(data.len());
        if space == 0 {
            return 0;
        }
        if self.tcb.queue.ring.is_none() {
            let ring = self
                .tx_pool
                .free
                .pop()
                .unwrap_or_else(|| RingBuf::new(self.cfg.send_buffer as usize));
            self.tcb.queue.ring = Some(ring);
        }
        let Some(ring) = self.tcb.queue.ring.as_mut() else {
            return 0;
        };
        let n = ring.enqueue(&data[..space]);
        if !self.tcb.queue.push_stream(n as u32) {
            // Cannot happen (send_space checked for a chunk), but never lose bytes silently.
            return 0;
        }
        n
    }

    /// Queue the whole prepared object `id` after what is queued already.
    pub fn send_prepared(&mut self, id: ObjectId) -> Result<(), SendError> {
        let len = self
            .objects
            .get(id.0 as usize)
            .ok_or(SendError::BadObject)?
            .len();
        self.send_prepared_range(id, 0, len)
    }

    /// Queue `len` bytes of object `id` from `offset`. Segments that line up with the
    /// object's own go out prepared; the rest is cut on the fly.
    pub fn send_prepared_range(
        &mut self,
        id: ObjectId,
        offset: usize,
        len: usize,
    ) -> Result<(), SendError> {
        let obj = self
            .objects
            .get(id.0 as usize)
            .ok_or(SendError::BadObject)?;
        match offset.checked_add(len) {
            Some(end) if end <= obj.len() => {}
            _ => return Err(SendError::BadObject),
        }
        if !self.tcb.state.can_send() || self.tcb.fin_queued() {
            return Err(SendError::Closed);
        }
        if (self.tcb.queued() as usize).saturating_add(len) >= 1 << 30 {
            return Err(SendError::QueueFull);
        }
        if !self.tcb.queue.push_object(id, offset as u32, len as u32) {
            return Err(SendError::QueueFull);
        }
        Ok(())
    }

    /// Close our side (RFC 9293 3.10.4): a FIN follows the queued data. Receiving goes on
    /// until the peer closes too.
    pub fn close(&mut self) {
        self.tcb.close();
    }

    /// Abort (RFC 9293 3.10.5): queued data is dropped and a reset is sent.
    /// [`TcpApp::on_closed`] follows with [`CloseReason::Aborted`].
    pub fn abort(&mut self) {
        self.tcb.abort_requested = true;
    }
}
