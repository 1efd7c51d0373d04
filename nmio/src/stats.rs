//! Counters of a port. Plain `u64`s, read by the app and printed by the servers.

use std::fmt;
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
        for ((_, a), (_, b)) in self.fields_mut().into_iter().zip(o.fields()) {
            *a += b;
        }
    }
}

impl PortStats {
    /// `(name, counter)` for every counter, in declaration order (the one list both
    /// [`Self::fields`] and `+=` go by, so a new counter cannot be left out of either).
    fn fields_mut(&mut self) -> [(&'static str, &mut u64); 21] {
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
        } = self;
        [
            ("rx_frames", rx_frames),
            ("rx_bytes", rx_bytes),
            ("rx_bursts", rx_bursts),
            ("rx_ring_full", rx_ring_full),
            ("rx_truncated", rx_truncated),
            ("rx_csum_partial", rx_csum_partial),
            ("rx_impaired", rx_impaired),
            ("rx_other_drops", rx_other_drops),
            ("tx_frames", tx_frames),
            ("tx_bytes", tx_bytes),
            ("tx_ring_full", tx_ring_full),
            ("tx_bad_len", tx_bad_len),
            ("tx_bad_prepared", tx_bad_prepared),
            ("tx_errors", tx_errors),
            ("tx_impaired", tx_impaired),
            ("tx_kicks", tx_kicks),
            ("tx_tso", tx_tso),
            ("tx_csum_offloaded", tx_csum_offloaded),
            ("prepared_precopy", prepared_precopy),
            ("prepared_memcpy", prepared_memcpy),
            ("prepared_clones", prepared_clones),
        ]
    }

    /// `(name, value)` for every counter, in declaration order.
    pub fn fields(&self) -> [(&'static str, u64); 21] {
        let mut copy = *self;
        copy.fields_mut().map(|(name, v)| (name, *v))
    }
}

/// The non-zero counters as `port.name=value` pairs on one line, as the eth and tcpip
/// counters print, or `port: all zero`.
impl fmt::Display for PortStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, v) in self.fields() {
            if v != 0 {
                if !first {
                    f.write_str(" ")?;
                }
                write!(f, "port.{name}={v}")?;
                first = false;
            }
        }
        if first {
            f.write_str("port: all zero")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_prints_the_non_zero_counters_in_order() {
        let s = PortStats {
            rx_frames: 7,
            rx_ring_full: 3,
            tx_errors: 1,
            ..PortStats::default()
        };
        assert_eq!(
            s.to_string(),
            "port.rx_frames=7 port.rx_ring_full=3 port.tx_errors=1"
        );
        assert_eq!(PortStats::default().to_string(), "port: all zero");
    }

    #[test]
    fn fields_name_every_counter_once_and_sum_like_add_assign() {
        let mut a = PortStats::default();
        for (i, f) in [
            &mut a.rx_frames,
            &mut a.rx_bytes,
            &mut a.rx_bursts,
            &mut a.rx_ring_full,
            &mut a.rx_truncated,
            &mut a.rx_csum_partial,
            &mut a.rx_impaired,
            &mut a.rx_other_drops,
            &mut a.tx_frames,
            &mut a.tx_bytes,
            &mut a.tx_ring_full,
            &mut a.tx_bad_len,
            &mut a.tx_bad_prepared,
            &mut a.tx_errors,
            &mut a.tx_impaired,
            &mut a.tx_kicks,
            &mut a.tx_tso,
            &mut a.tx_csum_offloaded,
            &mut a.prepared_precopy,
            &mut a.prepared_memcpy,
            &mut a.prepared_clones,
        ]
        .into_iter()
        .enumerate()
        {
            *f = i as u64 + 1;
        }
        let values: Vec<u64> = a.fields().iter().map(|&(_, v)| v).collect();
        assert_eq!(values, (1..=21).collect::<Vec<u64>>());
        let mut names: Vec<&str> = a.fields().iter().map(|&(n, _)| n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 21);
        let mut b = a;
        b += a;
        let doubled: Vec<u64> = b.fields().iter().map(|&(_, v)| v).collect();
        assert_eq!(doubled, (1..=21).map(|v| 2 * v).collect::<Vec<u64>>());
    }
}
