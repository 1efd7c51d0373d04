//! The acceptability tests a synchronized connection applies to each segment, as pure
//! functions of the segment and the connection's variables, so each rule is tested alone.
//!
//! In the order RFC 9293 3.10.7.4 applies them: PAWS (RFC 7323 5.3) within the sequence
//! check, the sequence number check itself, the RST check (RFC 5961 3.2), the SYN check
//! (RFC 5961 4.2), the ACK check (RFC 5961 5.2).

use crate::seq::Seq;

/// RFC 9293 3.10.7.4, first: is a segment of `seg_len` (SEG.LEN, SYN and FIN included)
/// starting at `seq` acceptable for the receive window `[rcv_nxt, rcv_nxt + rcv_wnd)`?
///
/// | SEG.LEN | RCV.WND | test |
/// |---|---|---|
/// | 0 | 0 | SEG.SEQ = RCV.NXT |
/// | 0 | >0 | RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND |
/// | >0 | 0 | not acceptable |
/// | >0 | >0 | the first or the last byte is in the window |
#[inline]
pub fn segment_acceptable(seq: Seq, seg_len: u32, rcv_nxt: Seq, rcv_wnd: u32) -> bool {
    match (seg_len, rcv_wnd) {
        (0, 0) => seq == rcv_nxt,
        (0, _) => seq.in_window(rcv_nxt, rcv_wnd),
        (_, 0) => false,
        (_, _) => {
            seq.in_window(rcv_nxt, rcv_wnd) || (seq + (seg_len - 1)).in_window(rcv_nxt, rcv_wnd)
        }
    }
}

/// What to do with a segment carrying RST on a synchronized connection (RFC 5961 3.2,
/// which replaces RFC 9293's "in the window" rule to defeat blind resets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RstVerdict {
    /// SEG.SEQ = RCV.NXT exactly: reset the connection.
    Reset,
    /// In the window but not exact: send a challenge ACK, change nothing.
    Challenge,
    /// Outside the window: drop silently.
    Drop,
}

/// RFC 5961 3.2 for a RST with sequence number `seq`.
#[inline]
pub fn rst_verdict(seq: Seq, rcv_nxt: Seq, rcv_wnd: u32) -> RstVerdict {
    if seq == rcv_nxt {
        RstVerdict::Reset
    } else if seq.in_window(rcv_nxt, rcv_wnd.max(1)) {
        RstVerdict::Challenge
    } else {
        RstVerdict::Drop
    }
}

/// What to do with an ACK field on a synchronized connection (RFC 5961 5.2 and RFC 9293
/// 3.10.7.4, fifth check).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckVerdict {
    /// SND.UNA < SEG.ACK =< SND.NXT: new data acknowledged.
    New,
    /// SEG.ACK = SND.UNA: nothing new (a duplicate ACK, or a window update).
    Duplicate,
    /// Older than SND.UNA but within MAX.SND.WND of it: ignore the ACK field, process the
    /// rest of the segment.
    Old,
    /// Acknowledges data not yet sent, or older than SND.UNA - MAX.SND.WND: send an ACK
    /// (a challenge ACK, RFC 5961 5.2) and drop the segment.
    Unacceptable,
}

/// RFC 5961 5.2: the ACK value is acceptable only if `(SND.UNA - MAX.SND.WND) =< SEG.ACK
/// =< SND.NXT`, which rejects blind data injection with a guessed ACK.
#[inline]
pub fn ack_verdict(ack: Seq, snd_una: Seq, snd_nxt: Seq, max_snd_wnd: u32) -> AckVerdict {
    if ack.gt(snd_nxt) {
        AckVerdict::Unacceptable
    } else if ack.gt(snd_una) {
        AckVerdict::New
    } else if ack == snd_una {
        AckVerdict::Duplicate
    } else if ack.ge(snd_una - max_snd_wnd) {
        AckVerdict::Old
    } else {
        AckVerdict::Unacceptable
    }
}

/// RFC 7323 5.3 (PAWS): a segment whose timestamp `tsval` is older than TS.Recent is an
/// old duplicate and is dropped (with an ACK), unless TS.Recent itself is stale: idle for
/// more than 24 days (5.5), then it is accepted. RST segments are exempt (the caller does
/// not call this for them). `ts_recent_age` is how long since TS.Recent was set.
#[inline]
pub fn paws_rejects(tsval: u32, ts_recent: u32, ts_recent_age: std::time::Duration) -> bool {
    const STALE: std::time::Duration = std::time::Duration::from_secs(24 * 24 * 3600);
    (tsval.wrapping_sub(ts_recent) as i32) < 0 && ts_recent_age <= STALE
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const NXT: Seq = Seq(1000);

    #[test]
    fn empty_segment_in_zero_window_must_be_exactly_at_rcv_nxt() {
        assert!(segment_acceptable(NXT, 0, NXT, 0));
        assert!(!segment_acceptable(NXT + 1, 0, NXT, 0));
        assert!(!segment_acceptable(NXT - 1, 0, NXT, 0));
    }

    #[test]
    fn empty_segment_must_start_in_the_window() {
        assert!(segment_acceptable(NXT, 0, NXT, 10));
        assert!(segment_acceptable(NXT + 9, 0, NXT, 10));
        assert!(!segment_acceptable(NXT + 10, 0, NXT, 10));
        assert!(!segment_acceptable(NXT - 1, 0, NXT, 10));
    }

    #[test]
    fn data_is_never_acceptable_in_a_zero_window() {
        assert!(!segment_acceptable(NXT, 1, NXT, 0));
    }

    #[test]
    fn data_is_acceptable_if_its_first_or_last_byte_is_in_the_window() {
        assert!(segment_acceptable(NXT + 5, 100, NXT, 10), "first byte in");
        assert!(segment_acceptable(NXT - 50, 51, NXT, 10), "last byte in");
        assert!(
            !segment_acceptable(NXT - 50, 50, NXT, 10),
            "ends just before"
        );
        assert!(
            !segment_acceptable(NXT + 10, 5, NXT, 10),
            "starts just after"
        );
        // Across the wrap.
        let nxt = Seq(u32::MAX - 2);
        assert!(segment_acceptable(Seq(1), 3, nxt, 10));
    }

    #[test]
    fn rst_exactly_at_rcv_nxt_resets() {
        assert_eq!(rst_verdict(NXT, NXT, 100), RstVerdict::Reset);
        assert_eq!(rst_verdict(NXT, NXT, 0), RstVerdict::Reset);
    }

    #[test]
    fn rst_with_inexact_seq_in_the_window_gets_a_challenge_ack() {
        assert_eq!(rst_verdict(NXT + 1, NXT, 100), RstVerdict::Challenge);
        assert_eq!(rst_verdict(NXT + 99, NXT, 100), RstVerdict::Challenge);
    }

    #[test]
    fn rst_outside_the_window_is_dropped() {
        assert_eq!(rst_verdict(NXT + 100, NXT, 100), RstVerdict::Drop);
        assert_eq!(rst_verdict(NXT - 1, NXT, 100), RstVerdict::Drop);
    }

    #[test]
    fn ack_of_unsent_data_is_unacceptable() {
        assert_eq!(
            ack_verdict(Seq(501), Seq(100), Seq(500), 1000),
            AckVerdict::Unacceptable
        );
    }

    #[test]
    fn ack_classes_between_una_and_nxt() {
        let (una, nxt) = (Seq(100), Seq(500));
        assert_eq!(ack_verdict(Seq(500), una, nxt, 1000), AckVerdict::New);
        assert_eq!(ack_verdict(Seq(101), una, nxt, 1000), AckVerdict::New);
        assert_eq!(ack_verdict(Seq(100), una, nxt, 1000), AckVerdict::Duplicate);
    }

    #[test]
    fn old_ack_within_max_window_is_ignored_and_older_is_challenged() {
        let (una, nxt) = (Seq(5000), Seq(6000));
        assert_eq!(ack_verdict(Seq(4000), una, nxt, 1000), AckVerdict::Old);
        assert_eq!(
            ack_verdict(Seq(3999), una, nxt, 1000),
            AckVerdict::Unacceptable
        );
        // Across the wrap.
        assert_eq!(
            ack_verdict(Seq(u32::MAX), Seq(10), Seq(20), 100),
            AckVerdict::Old
        );
    }

    #[test]
    fn paws_drops_older_timestamps_and_accepts_equal_or_newer() {
        let age = Duration::from_secs(1);
        assert!(paws_rejects(99, 100, age));
        assert!(!paws_rejects(100, 100, age));
        assert!(!paws_rejects(101, 100, age));
        // Timestamps wrap too (RFC 7323 5.2: compared modulo 2^32).
        assert!(!paws_rejects(5, u32::MAX - 5, age));
        assert!(paws_rejects(u32::MAX - 5, 5, age));
    }

    #[test]
    fn paws_accepts_anything_after_ts_recent_goes_stale() {
        assert!(!paws_rejects(1, 100, Duration::from_secs(25 * 24 * 3600)));
    }
}
