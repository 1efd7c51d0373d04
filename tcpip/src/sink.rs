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

    /// The longest TCP segment (header and payload) this sink takes whole and has its port
    /// cut into MSS-sized segments (TSO, [`send_tso`](Self::send_tso)); 0, the default,
    /// when it has no such offload.
    fn tso_max(&mut self) -> usize {
        0
    }

    /// Queue a super-segment of `len` bytes (header and payload) that the port cuts into
    /// segments of `mss` payload bytes: `fill` writes header and payload at the start of the
    /// buffer it gets and returns the length (0 abandons); the checksum field is the sink's
    /// to set. Returns whether it was queued. The default (no offload) queues nothing.
    fn send_tso(
        &mut self,
        local: Ipv4Addr,
        remote: Ipv4Addr,
        len: usize,
        mss: u16,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> bool {
        let _ = (local, remote, len, mss, fill);
        false
    }

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
    /// What [`SegmentSink::tso_max`] answers: 0 (the default) for no offload.
    pub tso_max: usize,
    /// `(index in segments, mss)` of every super-segment queued with
    /// [`SegmentSink::send_tso`] (kept whole, with the checksum of the whole segment).
    pub tso: Vec<(usize, u16)>,
}

impl VecSink {
    /// An empty sink holding at most `capacity` segments.
    pub fn new(capacity: usize) -> Self {
        VecSink {
            segments: Vec::new(),
            capacity,
            tso_max: 0,
            tso: Vec::new(),
        }
    }

    /// Take the segments out (and forget which were super-segments).
    pub fn drain(&mut self) -> Vec<(Ipv4Addr, Ipv4Addr, Vec<u8>)> {
        self.tso.clear();
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

    fn tso_max(&mut self) -> usize {
        self.tso_max
    }

    fn send_tso(
        &mut self,
        local: Ipv4Addr,
        remote: Ipv4Addr,
        len: usize,
        mss: u16,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> bool {
        if self.tso_max == 0 || len > self.tso_max || mss == 0 {
            return false;
        }
        let at = self.segments.len();
        let ok = self.send(local, remote, len, |buf| {
            let n = fill(buf);
            if n >= crate::wire::HEADER_LEN {
                // What the port would leave on the wire for the segment taken whole.
                let mut p = TcpPacket::new_unchecked(&mut buf[..n]);
                p.set_checksum(0);
                let c = eth::checksum::l4_checksum(
                    local.octets(),
                    remote.octets(),
                    eth::checksum::PROTO_TCP,
                    &buf[..n],
                );
                TcpPacket::new_unchecked(&mut buf[..n]).set_checksum(c);
            }
            n
        });
        if ok {
            self.tso.push((at, mss));
        }
        ok
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
