//! The port interface: one RX/TX queue pair, split into an RX half and a TX half.
//!
//! Every backend implements [`Port`], [`RxQueue`] and [`TxQueue`]; nothing above `nmio`
//! names a backend. The traits are generic (no `dyn`), so a whole receive path written
//! against them is monomorphized and inlined for the backend the application picked.

use crate::prepared::{PrepMode, PreparedId};
use crate::stats::PortStats;
use crate::Error;
use std::time::Duration;

bitflags::bitflags! {
    /// Per-frame facts a backend learned from the NIC or the kernel.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct RxFlags: u32 {
        /// The L4 checksum was left for offload and is not filled in (the Linux peer of a
        /// veth or a TAP sent with `CHECKSUM_PARTIAL`; `TP_STATUS_CSUMNOTREADY`). Upper
        /// layers must not reject the frame for a bad checksum.
        const CSUM_PARTIAL = 1 << 0;
        /// The NIC or kernel verified the L4 checksum (`TP_STATUS_CSUM_VALID`).
        const CSUM_VALID = 1 << 1;
        /// An 802.1Q tag was removed by the NIC or kernel; see [`RxMeta::vlan_tci`].
        const VLAN_STRIPPED = 1 << 2;
    }
}

/// Metadata that comes with each received frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxMeta {
    /// Length of the frame handed to the callback, in bytes.
    pub len: u32,
    /// RSS / flow hash if the backend knows it (AF_PACKET fanout, NIC RSS), else `None`.
    pub rss_hash: Option<u32>,
    /// Receive timestamp in nanoseconds on the backend's clock, 0 if unknown.
    pub timestamp_ns: u64,
    /// VLAN TCI when [`RxFlags::VLAN_STRIPPED`] is set.
    pub vlan_tci: u16,
    /// See [`RxFlags`].
    pub flags: RxFlags,
}

/// What a port can do, discoverable at run time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// MAC address the stack should use as its own on this port.
    pub mac: [u8; 6],
    /// IP MTU of the link (the largest L3 packet; the largest frame is `mtu + 14`, plus 4
    /// with a VLAN tag).
    pub mtu: usize,
    /// The largest ordinary frame sent or received (RX hands up no larger one). TX slots
    /// ([`TxQueue::slot_size`]) may be larger on a port with TSO.
    pub max_frame: usize,
    /// RX queues of the device and the one this port serves.
    pub rx_queues: u16,
    /// TX queues of the device.
    pub tx_queues: u16,
    /// Queue index (or fanout member) this port instance serves.
    pub queue_id: u16,
    /// Frames the RX ring holds.
    pub rx_ring_size: usize,
    /// Slots in the TX ring.
    pub tx_ring_size: usize,
    /// `send_prepared` in [`PrepMode::PreCopy`] hands the prepared buffer itself to the
    /// NIC (descriptor, mbuf reference or buffer swap) instead of copying it.
    pub zero_copy_prepared: bool,
    /// Received frames may carry [`RxFlags::CSUM_PARTIAL`] / [`RxFlags::CSUM_VALID`].
    pub rx_csum_offload: bool,
    /// Ordinary TCP and UDP frames over IPv4 leave with their checksum for the device to
    /// fill in (the port stores the pseudo-header sum over whatever the upper layers
    /// computed, [`crate::csum::offload_l4`]): a peer on the same host (veth, TAP) then
    /// need not verify it, as with the kernel's own `CHECKSUM_PARTIAL` frames. Upper
    /// layers still compute every checksum, so nothing changes for them.
    pub tx_csum_offload: bool,
    /// [`RxMeta::rss_hash`] is filled in.
    pub rss: bool,
}

/// The receive half of a port.
pub trait RxQueue {
    /// Hand up to `max` received frames to `f`, oldest first, and return how many.
    ///
    /// Each frame is a mutable borrow of the backend's buffer (ring slot, UMEM frame, mbuf),
    /// valid only for that call: copy what must outlive it. Never blocks; returns 0 when
    /// nothing is waiting. Malformed or truncated frames are counted and not handed up.
    fn recv_burst<F: FnMut(&mut [u8], &RxMeta)>(&mut self, max: usize, f: F) -> usize;

    /// Block until a frame may be waiting or `timeout` passes (the idle path of the loop).
    /// Returns `true` when RX looks ready. Backends on a virtual clock never block.
    fn wait(&mut self, timeout: Duration) -> Result<bool, Error>;

    /// Counters of this half (the RX fields of [`PortStats`]).
    fn stats(&self) -> PortStats;
}

/// The transmit half of a port.
///
/// Sending is reserve, fill, commit: [`reserve`](Self::reserve) lends the next free slot's
/// buffer, [`commit`](Self::commit) queues the first `len` bytes of it as a frame. Committed
/// frames leave on [`flush`](Self::flush) (the kick), which the event loop calls per batch or
/// per interval. A slot reserved and not committed is simply handed out again by the next
/// `reserve`.
pub trait TxQueue {
    /// Slots free now (completed slots are reclaimed first). Upper layers check this before
    /// building packets, so a full ring is never discovered half way through a reply.
    fn tx_space(&mut self) -> usize;

    /// Capacity of one slot in bytes (the largest frame this port sends).
    fn slot_size(&self) -> usize;

    /// Lend the next free slot's buffer (`slot_size()` bytes, old contents). `None` when the
    /// ring is full; that is counted as a `tx_ring_full` drop.
    fn reserve(&mut self) -> Option<&mut [u8]>;

    /// Queue the reserved slot with its first `len` bytes as a frame and return `true`.
    /// Without a reservation, or with a length the port cannot send (0, above
    /// `slot_size()`, a runt or over-MTU frame where the backend checks), nothing is queued,
    /// the reason is counted (`tx_bad_len`, `tx_errors`) and it returns `false`.
    fn commit(&mut self, len: usize) -> bool;

    /// Largest frame [`commit_tso`](Self::commit_tso) accepts (TCP segmentation offload),
    /// 0 when the port has none. At most [`slot_size`](Self::slot_size).
    #[inline]
    fn tso_max(&self) -> usize {
        0
    }

    /// Queue the reserved slot's first `len` bytes as one TCP super-frame for the device to
    /// cut into segments of `mss` payload bytes (TSO). The frame is untagged Ethernet II,
    /// IPv4 (header checksum valid, total length covering the whole packet, at most 65,535)
    /// and TCP whose checksum field holds the pseudo-header sum over the whole TCP length,
    /// folded and not complemented (Linux's `CHECKSUM_PARTIAL` convention). Each segment
    /// leaves with the headers copied, the sequence number advanced, the IPv4 total length,
    /// identification (+1 per segment) and both checksums filled in; FIN and PSH only on
    /// the last segment, CWR only on the first. The headers plus `mss` must fit the MTU.
    ///
    /// Returns `false`, counted (`tx_bad_len`), when the port has no TSO, `len` exceeds
    /// [`tso_max`](Self::tso_max), or the frame is not such a packet; nothing is queued.
    #[inline]
    fn commit_tso(&mut self, len: usize, mss: u16) -> bool {
        let _ = (len, mss);
        false
    }

    /// From now on send every frame with the checksums the upper layers computed, none
    /// left to the device (see [`Capabilities::tx_csum_offload`]): for a wrapper that
    /// changes frames between the upper layers and the port, such as an impairment that
    /// corrupts them, which must reach the peer with checksums that no longer verify.
    /// Does nothing on a port that leaves none to the device.
    #[inline]
    fn disable_csum_offload(&mut self) {}

    /// Frames committed and not yet kicked.
    fn pending(&self) -> usize;

    /// Kick the NIC: hand every committed frame to it in one go. Returns how many went.
    fn flush(&mut self) -> Result<usize, Error>;

    /// Copy `image` into the port's prepared-packet pool (UMEM frames, mbufs, netmap extra
    /// buffers or plain memory, depending on the backend) and return its handle.
    fn prepare(&mut self, image: &[u8]) -> Result<PreparedId, Error>;

    /// The current bytes of a prepared packet (after pre-copy sends, the last rewrite).
    fn prepared(&self, id: PreparedId) -> Option<&[u8]>;

    /// The bytes of a prepared packet, to change for every later send (a server updating
    /// a field such as an HTTP `Date`; the caller keeps the frame's checksums right). A
    /// send already queued may or may not see the change, whole: never half of it.
    fn prepared_mut(&mut self, id: PreparedId) -> Option<&mut [u8]>;

    /// Send a prepared packet, letting `rewrite` patch the per-destination fields.
    ///
    /// [`PrepMode::Memcpy`] copies the image into a TX slot and rewrites the copy.
    /// [`PrepMode::PreCopy`] rewrites the prepared buffer in place and hands that buffer to
    /// the NIC where the backend can ([`Capabilities::zero_copy_prepared`]); if the buffer
    /// is still in flight from an earlier send, a spare copy is used (counted as
    /// `prepared_clones`). Returns `false`, counted, when the ring is full or `id` unknown.
    fn send_prepared<R: FnOnce(&mut [u8])>(
        &mut self,
        id: PreparedId,
        mode: PrepMode,
        rewrite: R,
    ) -> bool;

    /// Counters of this half (the TX and prepared fields of [`PortStats`]).
    fn stats(&self) -> PortStats;

    /// Reserve, fill with `fill` (which returns the frame length; 0 abandons the slot) and
    /// commit. Returns whether a frame was queued.
    #[inline]
    fn send<F: FnOnce(&mut [u8]) -> usize>(&mut self, fill: F) -> bool {
        let Some(buf) = self.reserve() else {
            return false;
        };
        let len = fill(buf);
        if len == 0 {
            return false;
        }
        self.commit(len)
    }
}

/// One RX/TX queue pair of a NIC (or of a simulated wire).
///
/// Each half owns its resources (ring mappings, sockets, buffers), so a port can also be
/// taken apart with [`into_parts`](Self::into_parts): that is how wrappers such as the
/// `impair` backend stack on any port without knowing its type.
pub trait Port {
    /// The receive half.
    type Rx: RxQueue;
    /// The transmit half.
    type Tx: TxQueue;

    /// Borrow both halves at once, so a receive callback can transmit.
    fn split(&mut self) -> (&mut Self::Rx, &mut Self::Tx);

    /// Both halves, shared (for counters and inspection).
    fn halves(&self) -> (&Self::Rx, &Self::Tx);

    /// What this port can do.
    fn caps(&self) -> &Capabilities;

    /// Take the port apart into its halves and capabilities.
    fn into_parts(self) -> (Self::Rx, Self::Tx, Capabilities);

    /// Block until a frame may be waiting or `timeout` passes. See [`RxQueue::wait`].
    fn wait(&mut self, timeout: Duration) -> Result<bool, Error> {
        self.split().0.wait(timeout)
    }

    /// Counters of both halves.
    fn stats(&self) -> PortStats {
        let (rx, tx) = self.halves();
        let mut s = rx.stats();
        s += tx.stats();
        s
    }

    /// The receive half alone.
    fn rx(&mut self) -> &mut Self::Rx {
        self.split().0
    }

    /// The transmit half alone.
    fn tx(&mut self) -> &mut Self::Tx {
        self.split().1
    }
}

/// Implements [`Port`] for a port struct whose halves and capabilities are its fields `rx`,
/// `tx` and `caps` (every backend and wrapper in this crate): `port_from_fields!(impl[P:
/// Port] Wrapper<P> => RxHalf<P::Rx>, TxHalf<P::Tx>)`, with `impl[]` when not generic.
macro_rules! port_from_fields {
    (impl[$($gen:tt)*] $port:ty => $rx:ty, $tx:ty) => {
        impl<$($gen)*> $crate::port::Port for $port {
            type Rx = $rx;
            type Tx = $tx;

            #[inline]
            fn split(&mut self) -> (&mut $rx, &mut $tx) {
                (&mut self.rx, &mut self.tx)
            }

            fn halves(&self) -> (&$rx, &$tx) {
                (&self.rx, &self.tx)
            }

            fn caps(&self) -> &$crate::port::Capabilities {
                &self.caps
            }

            fn into_parts(self) -> ($rx, $tx, $crate::port::Capabilities) {
                (self.rx, self.tx, self.caps)
            }
        }
    };
}
pub(crate) use port_from_fields;
