//! The sender's record of what is in flight, segment by segment, and RACK loss detection
//! over it (RFC 8985).
//!
//! Every segment sent is one [`TxSeg`]: its sequence range, when it was last sent, and
//! whether the receiver SACKed it, we deem it lost, or we ever retransmitted it. The
//! records cover exactly `[SND.UNA, SND.MAX)`, in sequence order; a SACK block or a
//! retransmission that starts or ends inside a record splits it, so flags are exact.
//!
//! From the records come:
//!
//! * the bytes in the network (`outstanding - sacked - lost`, the quantity RFC 6675 calls
//!   pipe, kept as running sums so reading it is O(1));
//! * RACK (RFC 8985 6): a segment is lost when a segment sent after it has been delivered
//!   and more than `RACK.rtt + reo_wnd` has passed since it was sent. Time, not counts of
//!   duplicate ACKs, decides, so a path that reorders costs no spurious retransmission
//!   once the reordering window has adapted to it, and a lost retransmission is found
//!   without waiting for the retransmission timer;
//! * the reordering window and its adaptation to DSACKs (RFC 8985 6.2 step 4);
//! * the last segment, for the tail loss probe (RFC 8985 7), which the TCB runs.
//!
//! Records live in a `VecDeque` the core pools across connections, so a connection's
//! sends allocate nothing once the pool is warm; a connection never holds more than
//! [`MAX_SEGS`] records for new data (the sender stops sending new data at that count, as
//! if the window were full).

use std::collections::VecDeque;
use std::time::Duration;

use nmio::Instant;

use crate::seq::Seq;

/// The most records a connection holds before it stops sending new data: 2048 segments
/// of 1448 bytes is about 3 MB in flight, enough for 75 MB/s on a 40 ms path.
pub(crate) const MAX_SEGS: usize = 2048;
/// RFC 8985 6.2 step 4: DupThresh for the reordering window's "no reordering seen" rule.
const DUP_THRESH: u32 = 3;
/// RFC 8985 6.2 step 4: rounds the reordering window keeps its DSACK-grown size.
const REO_WND_PERSIST: u32 = 16;

const SACKED: u8 = 1;
const LOST: u8 = 2;
const RETRANS: u8 = 4;

/// One segment sent: `[start, start + len)` in sequence space (a FIN counts one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TxSeg {
    pub start: Seq,
    pub len: u32,
    /// When it was last (re)transmitted.
    pub xmit: Instant,
    flags: u8,
}

impl TxSeg {
    fn end(&self) -> Seq {
        self.start + self.len
    }
    fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
}

/// What an ACK told the log.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Delivery {
    /// Bytes newly SACKed.
    pub sacked: u32,
    /// The ACK carried a DSACK block (RFC 2883): `(left, right)`.
    pub dsack: Option<(Seq, Seq)>,
}

/// The in-flight records and RACK's state for one connection.
#[derive(Debug, Default)]
pub(crate) struct TxLog {
    segs: VecDeque<TxSeg>,
    sacked: u32,
    lost: u32,
    sacked_segs: u32,
    /// RACK.xmit_ts and RACK.end_seq: the most recently sent segment delivered.
    rack: Option<(Instant, Seq)>,
    /// RACK.rtt: the RTT of that segment.
    rack_rtt: Duration,
    /// RACK.fack: the highest end of a delivered segment.
    fack: Option<Seq>,
    min_rtt: Option<Duration>,
    /// RACK.reord: reordering has been seen on this connection.
    reord: bool,
    reo_wnd_mult: u32,
    reo_wnd_persist: u32,
    dsack_round: Option<Seq>,
}

/// `(t1, e1)` was sent after `(t2, e2)` (RFC 8985 6.2 RACK_sent_after).
fn sent_after(t1: Instant, e1: Seq, t2: Instant, e2: Seq) -> bool {
    t1 > t2 || (t1 == t2 && e1.gt(e2))
}

impl TxLog {
    /// Give the log a pooled buffer (empty).
    pub(crate) fn adopt(&mut self, mut buf: VecDeque<TxSeg>) {
        if self.segs.capacity() == 0 {
            buf.clear();
            self.segs = buf;
        }
    }

    /// The buffer, for the pool.
    pub(crate) fn take_buffer(&mut self) -> VecDeque<TxSeg> {
        let mut b = std::mem::take(&mut self.segs);
        b.clear();
        self.sacked = 0;
        self.lost = 0;
        self.sacked_segs = 0;
        b
    }

    /// Whether the log has a buffer with capacity yet.
    pub(crate) fn has_buffer(&self) -> bool {
        self.segs.capacity() > 0
    }

    /// Room to record another new segment.
    pub(crate) fn has_room(&self) -> bool {
        self.segs.len() < MAX_SEGS
    }

    /// Bytes SACKed above SND.UNA.
    pub(crate) fn sacked(&self) -> u32 {
        self.sacked
    }

    /// Bytes deemed lost and not retransmitted since.
    pub(crate) fn lost(&self) -> u32 {
        self.lost
    }

    /// Reordering has been seen (RACK.reord).
    #[cfg(test)]
    pub(crate) fn reordering_seen(&self) -> bool {
        self.reord
    }

    /// Note reordering found by other means (a spurious retransmission undone).
    pub(crate) fn set_reordering(&mut self) {
        self.reord = true;
    }

    /// An RTT sample (RFC 8985 6.2 step 1: RACK.min_RTT).
    pub(crate) fn note_rtt(&mut self, d: Duration) {
        if self.min_rtt.is_none_or(|m| d < m) {
            self.min_rtt = Some(d);
        }
    }

    /// Whether the records cover exactly `[una, max)` with consistent sums (for debug
    /// assertions).
    pub(crate) fn covers(&self, una: Seq, max: Seq) -> bool {
        let (mut sacked, mut lost, mut n, mut at) = (0, 0, 0, una);
        for s in &self.segs {
            if s.start != at || s.len == 0 || (s.has(SACKED) && s.has(LOST)) {
                return false;
            }
            if s.has(SACKED) {
                sacked += s.len;
                n += 1;
            }
            if s.has(LOST) {
                lost += s.len;
            }
            at = s.end();
        }
        at == max && (sacked, lost, n) == (self.sacked, self.lost, self.sacked_segs)
    }

    /// Index of the record containing `seq`, if any.
    fn find(&self, seq: Seq) -> Option<usize> {
        let i = self.segs.partition_point(|s| s.end().le(seq));
        (i < self.segs.len() && self.segs[i].start.le(seq)).then_some(i)
    }

    /// Make `seq` a record boundary (split the record containing it).
    fn split_at(&mut self, seq: Seq) {
        let Some(i) = self.find(seq) else { return };
        let s = self.segs[i];
        if s.start == seq {
            return;
        }
        let head = seq.dist_from(s.start);
        self.segs[i].len = head;
        self.segs.insert(
            i + 1,
            TxSeg {
                start: seq,
                len: s.len - head,
                ..s
            },
        );
        if s.has(SACKED) {
            self.sacked_segs += 1;
        }
    }

    /// `[start, start + len)` was just sent; `snd_max` is SND.MAX before the send. The part
    /// below it is a retransmission of recorded segments, the rest new.
    pub(crate) fn on_send(&mut self, start: Seq, len: u32, snd_max: Seq, now: Instant) {
        let end = start + len;
        if start.lt(snd_max) {
            let re_end = if end.lt(snd_max) { end } else { snd_max };
            self.split_at(start);
            self.split_at(re_end);
            if let Some(mut i) = self.find(start) {
                while i < self.segs.len() && self.segs[i].start.lt(re_end) {
                    let s = &mut self.segs[i];
                    if s.has(LOST) {
                        self.lost -= s.len;
                    }
                    s.flags = (s.flags & !LOST) | RETRANS;
                    s.xmit = now;
                    i += 1;
                }
            }
        }
        if end.gt(snd_max) {
            let from = if start.gt(snd_max) { start } else { snd_max };
            self.segs.push_back(TxSeg {
                start: from,
                len: end.dist_from(from),
                xmit: now,
                flags: 0,
            });
        }
    }

    /// RFC 8985 6.2 steps 2 and 3 for one delivered record.
    fn delivered(&mut self, s: TxSeg, now: Instant, ack_ts: Option<(u32, u32)>) {
        let rtt = now.saturating_since(s.xmit);
        let mut trust = true;
        if s.has(RETRANS) {
            // Which transmission did the ACK answer? With timestamps, an echo older than
            // the retransmission's own says the original; without, an RTT below the path's
            // minimum says the same.
            if let Some((tsecr, offset)) = ack_ts {
                let sent_ts = ts_val(s.xmit, offset);
                if tsecr != 0 && (tsecr.wrapping_sub(sent_ts) as i32) < 0 {
                    trust = false;
                }
            }
            if self.min_rtt.is_some_and(|m| rtt < m) {
                trust = false;
            }
        }
        if trust {
            self.rack_rtt = rtt;
            let newer = match self.rack {
                Some((t, e)) => sent_after(s.xmit, s.end(), t, e),
                None => true,
            };
            if newer {
                self.rack = Some((s.xmit, s.end()));
            }
        }
        match self.fack {
            Some(f) if !s.end().gt(f) => {
                if !s.has(RETRANS) {
                    self.reord = true;
                }
            }
            _ => self.fack = Some(s.end()),
        }
    }

    /// The cumulative ACK moved SND.UNA to `una`: drop what it covers.
    /// `ack_ts` is `(TSecr, our TS offset)` when the ACK carried timestamps. Returns when
    /// the oldest segment this ACK delivered was sent, unless the ACK covers a
    /// retransmission (Karn's rule: then it may answer either transmission, and what
    /// waited behind the hole waited for the retransmission).
    pub(crate) fn on_cum_ack(
        &mut self,
        una: Seq,
        now: Instant,
        ack_ts: Option<(u32, u32)>,
    ) -> Option<Instant> {
        let mut sample = None;
        let mut karn = false;
        while let Some(&s) = self.segs.front() {
            if !s.start.lt(una) {
                break;
            }
            if s.end().le(una) {
                self.segs.pop_front();
                if s.has(SACKED) {
                    self.sacked -= s.len;
                    self.sacked_segs -= 1;
                } else {
                    if s.has(LOST) {
                        self.lost -= s.len;
                    }
                    if s.has(RETRANS) {
                        karn = true;
                    } else if sample.is_none() {
                        sample = Some(s.xmit);
                    }
                    self.delivered(s, now, ack_ts);
                }
            } else {
                // Partly acknowledged: trim it.
                let n = una.dist_from(s.start);
                let f = &mut self.segs[0];
                f.start = una;
                f.len -= n;
                if s.has(SACKED) {
                    self.sacked -= n;
                } else {
                    if s.has(LOST) {
                        self.lost -= n;
                    }
                    karn |= s.has(RETRANS);
                    self.delivered(s, now, ack_ts);
                }
                break;
            }
        }
        if karn {
            None
        } else {
            sample
        }
    }

    /// SACK blocks of an ACK whose cumulative ACK is `ack`; records run from `una` (SND.UNA
    /// before this ACK) to `snd_max`. A first block below `ack`, or inside the second, is a
    /// DSACK (RFC 2883 4) and reported, not marked.
    pub(crate) fn on_sack(
        &mut self,
        blocks: &[(Seq, Seq)],
        ack: Seq,
        una: Seq,
        snd_max: Seq,
        now: Instant,
        ack_ts: Option<(u32, u32)>,
    ) -> Delivery {
        let mut out = Delivery::default();
        // Blocks come most recent first (RFC 2018 4); mark them in sequence order, so a
        // lower block listed after a higher one is not taken for reordering.
        let mut sorted: [(Seq, Seq); 4] = [(Seq(0), Seq(0)); 4];
        let mut n = 0;
        for (k, &(left, right)) in blocks.iter().enumerate().take(4) {
            if !left.lt(right) {
                continue;
            }
            if k == 0 {
                let inside_second = blocks
                    .get(1)
                    .is_some_and(|&(l2, r2)| l2.le(left) && right.le(r2));
                if right.le(ack) || inside_second {
                    out.dsack = Some((left, right));
                    continue;
                }
            }
            sorted[n] = (left, right);
            n += 1;
        }
        let sorted = &mut sorted[..n];
        sorted.sort_unstable_by_key(|b| b.0.dist_from(una) as i32);
        for &(left, right) in sorted.iter() {
            // Trust only what we sent and is not yet acknowledged.
            let left = if left.lt(una) { una } else { left };
            if !left.lt(right) || right.gt(snd_max) {
                continue;
            }
            self.split_at(left);
            self.split_at(right);
            let Some(mut i) = self.find(left) else {
                continue;
            };
            while i < self.segs.len() && self.segs[i].start.lt(right) {
                let s = self.segs[i];
                i += 1;
                if s.has(SACKED) {
                    continue;
                }
                self.segs[i - 1].flags = (s.flags & !LOST) | SACKED;
                self.sacked += s.len;
                self.sacked_segs += 1;
                out.sacked += s.len;
                if s.has(LOST) {
                    self.lost -= s.len;
                }
                self.delivered(s, now, ack_ts);
            }
        }
        out
    }

    /// RFC 8985 6.2 step 4: the DSACK-driven part of the reordering window's adaptation,
    /// once per ACK. `una` is SND.UNA after the ACK, `snd_max` SND.MAX.
    pub(crate) fn on_ack_round(&mut self, dsack: bool, una: Seq, snd_max: Seq) {
        if self.dsack_round.is_some_and(|r| una.ge(r)) {
            self.dsack_round = None;
        }
        if dsack && self.dsack_round.is_none() {
            self.dsack_round = Some(snd_max);
            self.reo_wnd_mult = self.reo_wnd_mult.max(1) + 1;
            self.reo_wnd_persist = REO_WND_PERSIST;
        }
    }

    /// A loss recovery ended: the DSACK-grown window shrinks back after 16 of them.
    pub(crate) fn on_recovery_end(&mut self) {
        if self.reo_wnd_persist > 0 {
            self.reo_wnd_persist -= 1;
            if self.reo_wnd_persist == 0 {
                self.reo_wnd_mult = 1;
            }
        }
    }

    /// RACK.reo_wnd (RFC 8985 6.2 step 4).
    pub(crate) fn reo_wnd(&self, in_recovery: bool, srtt: Option<Duration>) -> Duration {
        if !self.reord && (in_recovery || self.sacked_segs >= DUP_THRESH) {
            return Duration::ZERO;
        }
        let base = self.min_rtt.unwrap_or_default() / 4 * self.reo_wnd_mult.max(1);
        match srtt {
            Some(s) => base.min(s),
            None => base,
        }
    }

    /// RFC 8985 6.2 step 5: mark lost every segment sent before the RACK segment and more
    /// than `RACK.rtt + reo_wnd` ago. Returns the bytes newly marked and, if some segment
    /// may still be marked later, how long until then (the reordering timer).
    pub(crate) fn detect_loss(
        &mut self,
        now: Instant,
        reo_wnd: Duration,
    ) -> (u32, Option<Duration>) {
        let Some((rx, rend)) = self.rack else {
            return (0, None);
        };
        let mut marked = 0;
        let mut wait: Option<Duration> = None;
        for s in self.segs.iter_mut() {
            if s.has(SACKED | LOST) {
                continue;
            }
            // A retransmission sent in the same instant as the RACK segment cannot be
            // ordered against it by sequence: count it as not yet overtaken.
            let before = if s.has(RETRANS) {
                rx > s.xmit
            } else {
                sent_after(rx, rend, s.xmit, s.end())
            };
            if !before {
                if s.has(RETRANS) {
                    continue;
                }
                // Originals go out in sequence order: the rest were sent later still.
                break;
            }
            let due = s.xmit + self.rack_rtt + reo_wnd;
            if due <= now {
                s.flags |= LOST;
                self.lost += s.len;
                marked += s.len;
            } else {
                let left = due.saturating_since(now);
                wait = Some(wait.map_or(left, |w: Duration| w.max(left)));
            }
        }
        (marked, wait)
    }

    /// The first segment deemed lost (and not retransmitted since): `(start, len)`.
    pub(crate) fn first_lost(&self) -> Option<(Seq, u32)> {
        if self.lost == 0 {
            return None;
        }
        self.segs
            .iter()
            .find(|s| s.has(LOST))
            .map(|s| (s.start, s.len))
    }

    /// The last segment sent, for a tail loss probe: `(start, len)`.
    pub(crate) fn last(&self) -> Option<(Seq, u32)> {
        self.segs.back().map(|s| (s.start, s.len))
    }

    /// The retransmission timer fired (RFC 8985 6.3): everything not SACKed is lost. If
    /// the segment at SND.UNA was SACKed the receiver reneged (RFC 2018 8): forget SACKs.
    pub(crate) fn on_timeout(&mut self) {
        let reneged = self.segs.front().is_some_and(|s| s.has(SACKED));
        self.lost = 0;
        for s in self.segs.iter_mut() {
            if reneged {
                s.flags &= !SACKED;
            }
            if !s.has(SACKED) {
                s.flags |= LOST;
                self.lost += s.len;
            }
        }
        if reneged {
            self.sacked = 0;
            self.sacked_segs = 0;
        }
    }

    /// Everything from the segment holding `seq` on is lost (an ICMP "packet too big":
    /// what was sent in the old size does not fit).
    pub(crate) fn mark_lost_from(&mut self, seq: Seq) {
        let Some(i) = self.find(seq) else { return };
        for s in self.segs.iter_mut().skip(i) {
            if !s.has(SACKED | LOST) {
                s.flags |= LOST;
                self.lost += s.len;
            }
        }
    }

    /// A spurious retransmission was undone: nothing is lost after all.
    pub(crate) fn unmark_lost(&mut self) {
        if self.lost == 0 {
            return;
        }
        for s in self.segs.iter_mut() {
            s.flags &= !LOST;
        }
        self.lost = 0;
    }

    #[cfg(test)]
    fn check(&self) {
        let mut sacked = 0;
        let mut lost = 0;
        let mut n = 0;
        for w in self.segs.iter().zip(self.segs.iter().skip(1)) {
            assert_eq!(
                w.0.end(),
                w.1.start,
                "records are contiguous: {:?}",
                self.segs
            );
        }
        for s in &self.segs {
            assert!(s.len > 0);
            assert!(!(s.has(SACKED) && s.has(LOST)));
            if s.has(SACKED) {
                sacked += s.len;
                n += 1;
            }
            if s.has(LOST) {
                lost += s.len;
            }
        }
        assert_eq!(
            (sacked, lost, n),
            (self.sacked, self.lost, self.sacked_segs)
        );
    }
}

/// The TSval we sent at `t` (see the TCB: milliseconds plus a per-connection offset).
pub(crate) fn ts_val(t: Instant, offset: u32) -> u32 {
    ((t.as_nanos() / 1_000_000) as u32).wrapping_add(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1000;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    /// `n` segments of MSS from seq 0, one per millisecond from `t0`.
    fn sent(n: u32, t0: u64) -> TxLog {
        let mut log = TxLog::default();
        for i in 0..n {
            log.on_send(Seq(i * MSS), MSS, Seq(i * MSS), ms(t0 + u64::from(i)));
        }
        log.check();
        log
    }

    #[test]
    fn sack_marks_and_splits() {
        let mut log = sent(5, 0);
        let d = log.on_sack(
            &[(Seq(2500), Seq(4000))],
            Seq(0),
            Seq(0),
            Seq(5000),
            ms(30),
            None,
        );
        log.check();
        assert_eq!(d.sacked, 1500);
        assert_eq!(log.sacked(), 1500);
        assert_eq!(log.segs.len(), 6, "the record at 2000 split at 2500");
        // A cumulative ACK to 3000 drops what it covers, SACKed or not.
        log.on_cum_ack(Seq(3000), ms(31), None);
        log.check();
        assert_eq!(log.sacked(), 1000);
        assert_eq!(log.segs.front().unwrap().start, Seq(3000));
    }

    #[test]
    fn sack_outside_what_was_sent_is_ignored() {
        let mut log = sent(3, 0);
        let d = log.on_sack(
            &[(Seq(2000), Seq(9000))],
            Seq(0),
            Seq(0),
            Seq(3000),
            ms(5),
            None,
        );
        assert_eq!(d.sacked, 0);
        let d = log.on_sack(
            &[(Seq(500), Seq(400))],
            Seq(0),
            Seq(0),
            Seq(3000),
            ms(5),
            None,
        );
        assert_eq!(d.sacked, 0);
        log.check();
        assert_eq!(log.sacked(), 0);
    }

    #[test]
    fn dsack_is_reported_not_marked() {
        let mut log = sent(4, 0);
        log.on_cum_ack(Seq(1000), ms(10), None);
        // Below the cumulative ACK.
        let d = log.on_sack(
            &[(Seq(0), Seq(1000))],
            Seq(1000),
            Seq(1000),
            Seq(4000),
            ms(11),
            None,
        );
        assert_eq!(d.dsack, Some((Seq(0), Seq(1000))));
        // Inside the second block (RFC 2883 4.2).
        let blocks = [(Seq(2000), Seq(3000)), (Seq(2000), Seq(4000))];
        let d = log.on_sack(&blocks, Seq(1000), Seq(1000), Seq(4000), ms(12), None);
        assert_eq!(d.dsack, Some((Seq(2000), Seq(3000))));
        assert_eq!(log.sacked(), 2000, "the second block still counts");
        log.check();
    }

    #[test]
    fn rack_marks_lost_only_after_the_reordering_window() {
        // Segments at t=0..9 ms; segment 3 is missing, 4..9 SACKed at t=50.
        let mut log = sent(10, 0);
        log.note_rtt(Duration::from_millis(40));
        log.on_cum_ack(Seq(3000), ms(43), None);
        log.on_sack(
            &[(Seq(4000), Seq(5000))],
            Seq(3000),
            Seq(3000),
            Seq(10_000),
            ms(44),
            None,
        );
        log.check();
        // One SACKed segment, no reordering seen: the window is min_rtt/4 = 10 ms.
        let w = log.reo_wnd(false, Some(Duration::from_millis(40)));
        assert_eq!(w, Duration::from_millis(10));
        let (lost, wait) = log.detect_loss(ms(44), w);
        assert_eq!(lost, 0);
        // Segment 3 sent at 3 ms, RACK.rtt 40 ms: lost at 3 + 40 + 10 = 53 ms.
        assert_eq!(wait, Some(Duration::from_millis(9)));
        let (lost, _) = log.detect_loss(ms(53), w);
        assert_eq!(lost, MSS);
        assert_eq!(log.first_lost(), Some((Seq(3000), MSS)));
        log.check();
        // Retransmit it: no longer lost, in flight again.
        log.on_send(Seq(3000), MSS, Seq(10_000), ms(54));
        assert_eq!(log.lost(), 0);
        log.check();
    }

    #[test]
    fn three_sacked_segments_without_reordering_mean_loss_at_once() {
        let mut log = sent(6, 0);
        log.note_rtt(Duration::from_millis(40));
        log.on_sack(
            &[(Seq(1000), Seq(4000))],
            Seq(0),
            Seq(0),
            Seq(6000),
            ms(45),
            None,
        );
        let w = log.reo_wnd(false, Some(Duration::from_millis(40)));
        assert_eq!(w, Duration::ZERO);
        let (lost, _) = log.detect_loss(ms(45), w);
        assert_eq!(
            lost, MSS,
            "segment 0 only: 4 and 5 were sent after the RACK segment"
        );
    }

    #[test]
    fn late_original_means_reordering_and_dsack_widens_the_window() {
        let mut log = sent(6, 0);
        log.note_rtt(Duration::from_millis(40));
        log.on_sack(
            &[(Seq(2000), Seq(3000))],
            Seq(0),
            Seq(0),
            Seq(6000),
            ms(42),
            None,
        );
        assert!(!log.reordering_seen());
        // Segment 0 and 1 arrive after 2: reordering.
        log.on_cum_ack(Seq(3000), ms(43), None);
        assert!(log.reordering_seen());
        let srtt = Some(Duration::from_millis(40));
        assert_eq!(log.reo_wnd(true, srtt), Duration::from_millis(10));
        log.on_ack_round(true, Seq(3000), Seq(6000));
        assert_eq!(log.reo_wnd(true, srtt), Duration::from_millis(20));
        // Only once per round trip.
        log.on_ack_round(true, Seq(3000), Seq(6000));
        assert_eq!(log.reo_wnd(true, srtt), Duration::from_millis(20));
        // Never above SRTT.
        for _ in 0..10 {
            log.on_ack_round(false, Seq(7000), Seq(7000));
            log.on_ack_round(true, Seq(7000), Seq(7000));
        }
        assert_eq!(log.reo_wnd(true, srtt), Duration::from_millis(40));
        for _ in 0..REO_WND_PERSIST {
            log.on_recovery_end();
        }
        assert_eq!(log.reo_wnd(true, srtt), Duration::from_millis(10));
    }

    #[test]
    fn a_lost_retransmission_is_found_by_later_deliveries() {
        let mut log = sent(4, 0);
        log.note_rtt(Duration::from_millis(10));
        log.on_sack(
            &[(Seq(1000), Seq(4000))],
            Seq(0),
            Seq(0),
            Seq(4000),
            ms(13),
            None,
        );
        let (lost, _) = log.detect_loss(ms(13), Duration::ZERO);
        assert_eq!(lost, MSS);
        // Retransmit segment 0 at 13 ms, then send new data at 14 ms.
        log.on_send(Seq(0), MSS, Seq(4000), ms(13));
        log.on_send(Seq(4000), MSS, Seq(4000), ms(14));
        // The new segment is SACKed at 24 ms; the retransmission is not: lost again.
        log.on_sack(
            &[(Seq(1000), Seq(5000))],
            Seq(0),
            Seq(0),
            Seq(5000),
            ms(24),
            None,
        );
        let (lost, _) = log.detect_loss(ms(24), Duration::ZERO);
        assert_eq!(lost, MSS);
        log.check();
    }

    #[test]
    fn timestamps_tell_which_transmission_was_acked() {
        let mut log = sent(2, 0);
        log.note_rtt(Duration::from_millis(10));
        log.on_send(Seq(0), MSS, Seq(2000), ms(30));
        // The ACK echoes the original's TSval (0 ms): RACK must not take the
        // retransmission's 1 ms "RTT".
        log.on_cum_ack(Seq(1000), ms(31), Some((ts_val(ms(0), 7), 7)));
        assert_eq!(log.rack, None);
        log.on_cum_ack(Seq(2000), ms(31), Some((ts_val(ms(1), 7), 7)));
        assert_eq!(log.rack, Some((ms(1), Seq(2000))));
        assert_eq!(log.rack_rtt, Duration::from_millis(30));
    }

    #[test]
    fn timeout_marks_all_lost_and_detects_reneging() {
        let mut log = sent(4, 0);
        log.on_sack(
            &[(Seq(2000), Seq(3000))],
            Seq(0),
            Seq(0),
            Seq(4000),
            ms(5),
            None,
        );
        log.on_timeout();
        log.check();
        assert_eq!(log.lost(), 3000);
        assert_eq!(log.first_lost(), Some((Seq(0), MSS)));
        // Now the head is SACKed but not acknowledged: reneged.
        let mut log = sent(2, 0);
        log.on_sack(
            &[(Seq(0), Seq(1000))],
            Seq(0),
            Seq(0),
            Seq(2000),
            ms(5),
            None,
        );
        log.on_timeout();
        log.check();
        assert_eq!((log.sacked(), log.lost()), (0, 2000));
        log.unmark_lost();
        log.check();
        assert_eq!(log.lost(), 0);
    }

    #[test]
    fn retransmission_of_a_range_inside_records_splits_exactly() {
        let mut log = sent(3, 0);
        log.on_timeout();
        // A retransmission of 1500 bytes from 0 covers one record and half the next.
        log.on_send(Seq(0), 1500, Seq(3000), ms(9));
        log.check();
        assert_eq!(log.lost(), 1500);
        assert_eq!(log.first_lost(), Some((Seq(1500), 500)));
        // One that runs past SND.MAX records the new part.
        log.on_send(Seq(1500), 2500, Seq(3000), ms(10));
        log.check();
        assert_eq!(log.lost(), 0);
        assert_eq!(log.last(), Some((Seq(3000), 1000)));
    }

    #[test]
    fn pooled_buffers_come_back_empty() {
        let mut log = sent(3, 0);
        let buf = log.take_buffer();
        assert!(buf.is_empty() && buf.capacity() >= 3);
        let mut other = TxLog::default();
        other.adopt(buf);
        assert!(other.has_buffer());
        other.check();
    }
}
