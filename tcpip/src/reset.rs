//! Resets for segments that reach no connection (RFC 9293 3.10.7.1, CLOSED state).
//!
//! "If the state is CLOSED (i.e., TCB does not exist), then all data in the incoming segment
//! is discarded. An incoming segment containing a RST is discarded. An incoming segment not
//! containing a RST causes a RST to be sent in response. The acknowledgment and sequence
//! field values are selected to make the reset sequence acceptable to the TCP endpoint that
//! sent the offending segment":
//!
//! ```text
//! If the ACK bit is off:  <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
//! If the ACK bit is on:   <SEQ=SEG.ACK><CTL=RST>
//! ```
//!
//! The same reply answers a non-SYN segment to a listener without an acceptable ACK
//! (3.10.7.2: an ACK to LISTEN gets `<SEQ=SEG.ACK><CTL=RST>`).

use crate::seq::Seq;
use crate::wire::{TcpFlags, TcpOptions, TcpRepr};

/// The reset answering `seg` (received with `payload_len` bytes), or `None` when `seg` is
/// itself a reset.
pub fn reset_for(seg: &TcpRepr) -> Option<TcpRepr> {
    if seg.flags.contains(TcpFlags::RST) {
        return None;
    }
    let (seq, ack, flags) = if seg.flags.contains(TcpFlags::ACK) {
        (seg.ack, Seq(0), TcpFlags::RST)
    } else {
        (
            Seq(0),
            seg.seq + seg.segment_len() as u32,
            TcpFlags::RST | TcpFlags::ACK,
        )
    };
    Some(TcpRepr {
        src_port: seg.dst_port,
        dst_port: seg.src_port,
        seq,
        ack,
        flags,
        window: 0,
        urgent: 0,
        options: TcpOptions::default(),
        payload_len: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(flags: TcpFlags, seq: u32, ack: u32, payload_len: usize) -> TcpRepr {
        TcpRepr {
            src_port: 40000,
            dst_port: 81,
            seq: Seq(seq),
            ack: Seq(ack),
            flags,
            window: 1000,
            urgent: 0,
            options: TcpOptions {
                mss: Some(1460),
                ..TcpOptions::default()
            },
            payload_len,
        }
    }

    #[test]
    fn syn_to_closed_port_gets_rst_ack_covering_the_syn() {
        let r = reset_for(&seg(TcpFlags::SYN, 1000, 0, 0)).unwrap();
        assert_eq!(r.flags, TcpFlags::RST | TcpFlags::ACK);
        assert_eq!((r.seq, r.ack), (Seq(0), Seq(1001)));
        assert_eq!((r.src_port, r.dst_port), (81, 40000));
        assert_eq!(r.options, TcpOptions::default(), "no options on a reset");
        assert_eq!((r.window, r.payload_len), (0, 0));
    }

    #[test]
    fn data_and_fin_without_ack_are_covered_by_the_ack_number() {
        let r = reset_for(&seg(TcpFlags::FIN | TcpFlags::PSH, u32::MAX - 1, 0, 10)).unwrap();
        assert_eq!(
            r.ack,
            Seq(u32::MAX - 1) + 11,
            "SEG.LEN counts the FIN; wraps"
        );
    }

    #[test]
    fn segment_with_ack_gets_rst_at_its_ack_number() {
        let r = reset_for(&seg(TcpFlags::ACK | TcpFlags::PSH, 5, 777, 20)).unwrap();
        assert_eq!(r.flags, TcpFlags::RST);
        assert_eq!((r.seq, r.ack), (Seq(777), Seq(0)));
    }

    #[test]
    fn reset_is_never_answered_with_a_reset() {
        assert!(reset_for(&seg(TcpFlags::RST, 1, 0, 0)).is_none());
        assert!(reset_for(&seg(TcpFlags::RST | TcpFlags::ACK, 1, 2, 0)).is_none());
    }
}
