//! Where the sans-IO core's output goes.
//!
//! The core never touches a port: it hands each segment to a [`SegmentSink`] the caller
//! provides. In the stack, the sink wraps the segment in IPv4 and Ethernet straight into a
//! TX slot; a program that uses the core on its own (tests, another I/O layer) can collect
//! the segments with [`VecSink`].

use crate::prepared::{ObjectId, PreparedObject};
use crate::wire::{TcpPacket, TcpRepr};
use std::net::Ipv4Addr;

/// Largest TCP header; the core asks a sink for at most this plus one MSS of payload.
pub const MAX_HEADER: usize = crate::wire::MAX_HEADER_LEN;

/// The output of the core.
pub trait SegmentSink {
    /// Room for more segments now (the core stops sending, without losing anything, when
    /// it is 0; what it could not send goes out later).
    fn space(&mut self) -> usize;

    /// Queue a segment from `local` to `remote`: `fill` writes the TCP header and payload
    /// at the start of the buffer it gets (at least `len` bytes) and returns the segment
    /// length (0 abandons it). Returns whether a segment was queued.
    fn send(
        &mut self,
        local: Ipv4Addr,
        remote: Ipv4Addr,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> bool;

    /// Queue segment `segment` of the prepared object `id` with `header` (whose
    /// `payload_len` is that segment's length). The default copies the payload behind the
    /// header through [`send`](Self::send) and checksums the header only, with the
    /// segment's precomputed payload sum; a sink holding the object's frames in its port
    /// (the stack) sends those instead, rewriting the per-connection fields.
    fn send_prepared(
        &mut self,
        local: Ipv4Addr,
        remote: Ipv4Addr,
        header: &TcpRepr,
        id: ObjectId,
        object: &PreparedObject,
        segment: usize,
    ) -> bool {
        let _ = id;
        send_prepared_by_copy(self, local, remote, header, object, segment)
    }
}

/// Send segment `segment` of `object` behind `header` through [`SegmentSink::send`]: the
/// payload is copied and only the header is checksummed, with the segment's precomputed
/// payload sum.
pub fn send_prepared_by_copy<S: SegmentSink + ?Sized>(
    sink: &mut S,
    local: Ipv4Addr,
    remote: Ipv4Addr,
    header: &TcpRepr,
    object: &PreparedObject,
    segment: usize,
) -> bool {
    let payload = object.segment(segment);
    if header.payload_len != payload.len() {
        return false;
    }
    let sum = object.segment_sum(segment);
    let h = header.header_len();
    sink.send(local, remote, h + payload.len(), |buf| {
        buf[h..h + payload.len()].copy_from_slice(payload);
        header.emit_header_summed(&mut TcpPacket::new_unchecked(&mut *buf), local, remote, sum);
        h + payload.len()
    })
}

/// A sink that keeps every segment in memory, for tests and for programs driving the core
/// themselves. `capacity` bounds it like a TX ring.
#[derive(Debug, Default)]
pub struct VecSink {
    /// `(local, remote, segment)` in the order queued.
    pub segments: Vec<(Ipv4Addr, Ipv4Addr, Vec<u8>)>,
    /// Most segments held; `space()` is what is left.
    pub capacity: usize,
}

impl VecSink {
    /// An empty sink holding at most `capacity` segments.
    pub fn new(capacity: usize) -> Self {
        VecSink {
            segments: Vec::new(),
            capacity,
        }
    }

    /// Take the segments out.
    pub fn drain(&mut self) -> Vec<(Ipv4Addr, Ipv4Addr, Vec<u8>)> {
        std::mem::take(&mut self.segments)
    }
}

impl SegmentSink for VecSink {
    fn space(&mut self) -> usize {
        self.capacity.saturating_sub(self.segments.len())
    }

    fn send(
        &mut self,
        local: Ipv4Addr,
        remote: Ipv4Addr,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> bool {
        if self.space() == 0 {
            return false;
        }
        let mut buf = vec![0u8; len];
        let n = fill(&mut buf);
        if n == 0 || n > len {
            return false;
        }
        buf.truncate(n);
        self.segments.push((local, remote, buf));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vec_sink_keeps_segments_in_order_and_is_bounded() {
        let (a, b) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
        let mut s = VecSink::new(2);
        assert!(s.send(a, b, 4, |buf| {
            buf[..2].copy_from_slice(b"hi");
            2
        }));
        assert!(!s.send(a, b, 4, |_| 0), "0 abandons");
        assert!(
            !s.send(a, b, 4, |_| 5),
            "a length beyond the buffer is refused"
        );
        assert!(s.send(b, a, 1, |buf| {
            buf[0] = 7;
            1
        }));
        assert_eq!(s.space(), 0);
        assert!(!s.send(a, b, 1, |_| 1), "full");
        let segs = s.drain();
        assert_eq!(segs, vec![(a, b, b"hi".to_vec()), (b, a, vec![7])]);
        assert_eq!(s.space(), 2);
    }
}
