//! Counters of a port. Plain `u64`s, read by the app and printed by the servers.

use std::ops::AddAssign;

/// Counters kept by a port's two halves. Every frame that is not delivered is counted under
/// exactly one drop reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Frames handed up by `recv_burst`.
    pub rx_frames: u64,
    /// Bytes handed up.
    pub rx_bytes: u64,
    /// Non-empty `recv_burst` calls.
    pub rx_bursts: u64,
    /// Frames the kernel or NIC dropped because the RX ring was full (AF_PACKET `tp_drops`,
    /// a pipe receive queue overflow).
    pub rx_ring_full: u64,
    /// Frames not handed up because they were truncated to the slot size (e.g. GRO
    /// super-frames larger than the MTU).
    pub rx_truncated: u64,
    /// Frames arriving with `CHECKSUM_PARTIAL` (handed up with [`crate::RxFlags::CSUM_PARTIAL`]).
    pub rx_csum_partial: u64,
    /// Frames the wire corrupted or dropped on purpose (impairments).
    pub rx_impaired: u64,
    /// Frames not handed up for other reasons (our own outgoing frames seen by a tap,
    /// runts, read errors).
    pub rx_other_drops: u64,
    /// Frames committed for transmit.
    pub tx_frames: u64,
    /// Bytes committed for transmit.
    pub tx_bytes: u64,
    /// `reserve` or `send_prepared` found the TX ring full.
    pub tx_ring_full: u64,
    /// `commit` without a reservation or with a bad length.
    pub tx_bad_len: u64,
    /// `send_prepared` with an unknown id.
    pub tx_bad_prepared: u64,
    /// Frames the backend failed to hand to the NIC at flush (device down, send error).
    pub tx_errors: u64,
    /// Frames lost or altered on the way out by impairments (pipe, impair wrapper).
    pub tx_impaired: u64,
    /// Kicks (flushes that handed frames to the NIC).
    pub tx_kicks: u64,
    /// TCP super-frames committed for segmentation offload (each also counts once in
    /// `tx_frames`, with all its bytes in `tx_bytes`; a wrapper that cuts them in software,
    /// such as `impair`, counts the wire segments there instead).
    pub tx_tso: u64,
    /// Ordinary frames sent with their TCP or UDP checksum left to the device
    /// ([`crate::Capabilities::tx_csum_offload`]; each also counts in `tx_frames`).
    pub tx_csum_offloaded: u64,
    /// Prepared sends, by mode.
    pub prepared_precopy: u64,
    /// Prepared sends that copied into a slot.
    pub prepared_memcpy: u64,
    /// Pre-copy sends whose buffer was still in flight, served from a spare copy.
    pub prepared_clones: u64,
}

impl AddAssign for PortStats {
    fn add_assign(&mut self, o: Self) {
        let PortStats {
            rx_frames,
            rx_bytes,
            rx_bursts,
            rx_ring_full,
            rx_truncated,
            rx_csum_partial,
            rx_impaired,
            rx_other_drops,
            tx_frames,
            tx_bytes,
            tx_ring_full,
            tx_bad_len,
            tx_bad_prepared,
            tx_errors,
            tx_impaired,
            tx_kicks,
            tx_tso,
            tx_csum_offloaded,
            prepared_precopy,
            prepared_memcpy,
            prepared_clones,
        } = o;
        self.rx_frames += rx_frames;
        self.rx_bytes += rx_bytes;
        self.rx_bursts += rx_bursts;
        self.rx_ring_full += rx_ring_full;
        self.rx_truncated += rx_truncated;
        self.rx_csum_partial += rx_csum_partial;
        self.rx_impaired += rx_impaired;
        self.rx_other_drops += rx_other_drops;
        self.tx_frames += tx_frames;
        self.tx_bytes += tx_bytes;
        self.tx_ring_full += tx_ring_full;
        self.tx_bad_len += tx_bad_len;
        self.tx_bad_prepared += tx_bad_prepared;
        self.tx_errors += tx_errors;
        self.tx_impaired += tx_impaired;
        self.tx_kicks += tx_kicks;
        self.tx_tso += tx_tso;
        self.tx_csum_offloaded += tx_csum_offloaded;
        self.prepared_precopy += prepared_precopy;
        self.prepared_memcpy += prepared_memcpy;
        self.prepared_clones += prepared_clones;
    }
}
