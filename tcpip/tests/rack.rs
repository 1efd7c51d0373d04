//! Loss detection rules, one test each: RACK (RFC 8985 6), the tail loss probe (RFC 8985
//! 7), undo of spurious retransmissions (RFC 3522 Eifel, RFC 2883 / RFC 3708 DSACK) and the
//! PAWS exemption for reordered duplicate ACKs (RFC 7323 5.3). A [`tcpip::TcpCore`] sends
//! data to a scripted peer that ACKs (and SACKs) by hand, on a virtual clock, so every
//! retransmission is checked on the wire, with the time it left.
//!
//! Names: `s` is our next sequence number after a warm-up exchange, `r` the peer's (our
//! RCV.NXT); `at(k)` is the start of the k-th full segment of a burst sent from `s`. Every
//! connection is opened by [`open_warm`]: one round trip of [`RTT`] for the handshake and
//! one for a short segment, so SRTT and RACK's min RTT are both [`RTT`] and the RTO is the
//! 200 ms floor.

mod common;

use common::*;
use nmio::Instant;
use std::time::Duration;
use tcpip::rtt::RtoConfig;
use tcpip::seq::Seq;
use tcpip::stats::TcpStats;
use tcpip::wire::TcpFlags;
use tcpip::{Handle, TcpConfig};

const SYN: TcpFlags = TcpFlags::SYN;
const ACK: TcpFlags = TcpFlags::ACK;
const PA: TcpFlags = TcpFlags::PSH.union(TcpFlags::ACK);

/// The path's round trip, as the scripted peer answers.
const RTT: Duration = Duration::from_millis(40);
/// RFC 8985 7.2 WCDelAckT: what a probe allows for a delayed ACK of a lone segment.
const WC_DEL_ACK: Duration = Duration::from_millis(200);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `(flags, seq, ack)` of every segment, for one-line trace comparisons.
fn fsa(out: &[Seg]) -> Vec<(TcpFlags, Seq, Seq)> {
    out.iter().map(Seg::fsa).collect()
}

/// The data segments in `out` as `(seq, len)`.
fn data_of(out: &[Seg]) -> Vec<(Seq, usize)> {
    out.iter()
        .filter(|s| !s.payload.is_empty())
        .map(Seg::data)
        .collect()
}

/// The data segments of a timed trace as `(time since t0, seq, len)`.
fn timed_data(out: &[(Instant, Seg)], t0: Instant) -> Vec<(Duration, Seq, usize)> {
    out.iter()
        .filter(|(_, s)| !s.payload.is_empty())
        .map(|(t, s)| (*t - t0, s.seq(), s.payload.len()))
        .collect()
}

/// The peer's timestamp clock: milliseconds of the virtual clock.
fn peer_ts(h: &Host) -> u32 {
    (h.now.as_nanos() / 1_000_000) as u32
}

/// The TSval a segment we sent carries.
fn tsval(s: &Seg) -> u32 {
    s.options().timestamps.expect("timestamps on").0
}

fn stats(h: &Host) -> &TcpStats {
    h.core.stats()
}

fn cwnd(h: &Host, c: Handle) -> u32 {
    h.core.tcb(c).unwrap().cwnd()
}

/// Which options the peer offers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Peer {
    /// SACK, no timestamps (four SACK blocks fit).
    Sack,
    /// SACK and timestamps.
    SackTs,
}

/// A connection to a listening core, the peer offering `peer`'s options, with a round
/// trip of `rtt` for the handshake and for one 100-byte segment, so SRTT and RACK's
/// minimum RTT are `rtt`. Returns `(host, handle, s, r, last TSval we sent)` (0 without
/// timestamps).
fn open_warm_rtt(cfg: TcpConfig, peer: Peer, rtt: Duration) -> (Host, Handle, Seq, Seq, u32) {
    let ts = peer == Peer::SackTs;
    let mut h = Host::listening(cfg);
    let mut syn = seg(SYN, Seq(1000), Seq(0)).mss(1460).sack_ok();
    if ts {
        syn = syn.ts(peer_ts(&h), 0);
    }
    let out = h.send(&syn);
    assert_eq!(out.len(), 1, "one SYN-ACK: {out:?}");
    let iss = out[0].seq();
    let (s, r) = (iss + 1, Seq(1001));
    h.advance(rtt);
    let mut hs_ack = seg(ACK, r, s);
    if ts {
        hs_ack = hs_ack.ts(peer_ts(&h), tsval(&out[0]));
    }
    assert!(h.send(&hs_ack).is_empty());
    let c = h.handle().expect("established");
    let (n, out) = h.act(c, |c| c.send(&[7; 100]));
    assert_eq!((n, data_of(&out)), (100, vec![(s, 100)]));
    let our_ts = if ts { tsval(&out[0]) } else { 0 };
    h.advance(rtt);
    let mut ack = seg(ACK, r, s + 100);
    if ts {
        ack = ack.ts(peer_ts(&h), our_ts);
    }
    assert!(h.send(&ack).is_empty());
    assert_eq!(h.core.tcb(c).unwrap().options(), (ts, true));
    (h, c, s + 100, r, our_ts)
}

fn open_warm(cfg: TcpConfig, peer: Peer) -> (Host, Handle, Seq, Seq, u32) {
    open_warm_rtt(cfg, peer, RTT)
}

/// Queue `n` full segments of data; what went out at once.
fn send_segments(h: &mut Host, c: Handle, n: usize) -> Vec<Seg> {
    let mss = h.core.tcb(c).unwrap().smss() as usize;
    let (queued, out) = h.act(c, |conn| conn.send(&object(n * mss, 99)));
    assert_eq!(queued, n * mss);
    out
}

/// `at(k)`: the start of segment `k` of a burst of full segments from `s`.
fn segments_from(h: &Host, c: Handle, s: Seq) -> impl Fn(u32) -> Seq {
    let mss = h.core.tcb(c).unwrap().smss();
    move |k| s + k * mss
}

// ---- RACK: the reordering window (RFC 8985 6.2) ----

/// RFC 8985 6.2 step 5: a segment is lost only when one sent after it was delivered AND
/// RACK.rtt + RACK.reo_wnd has passed since it was sent; with one segment SACKed and no
/// reordering seen, reo_wnd = min_RTT / 4 (step 4). A hole whose ACK comes inside that
/// window was reordering, not loss: nothing is retransmitted and cwnd is not reduced.
#[test]
fn one_segment_sacked_above_a_hole_waits_out_the_reordering_window() {
    let (mut h, c, s, r, _) = open_warm(TcpConfig::default(), Peer::Sack);
    let at = segments_from(&h, c, s);
    assert_eq!(data_of(&send_segments(&mut h, c, 10)).len(), 10, "IW10");
    let cwnd0 = cwnd(&h, c);
    h.advance(RTT);
    assert!(data_of(&h.send(&seg(ACK, r, at(1)))).is_empty());
    // Segment 1 is missing, segment 2 arrived.
    let out = h.send(&seg(ACK, r, at(1)).sack(&[(at(2), at(3))]));
    assert!(
        data_of(&out).is_empty(),
        "not retransmitted at once: {out:?}"
    );
    assert!(h.advance(ms(9)).is_empty(), "inside min_RTT / 4 = 10 ms");
    // Segment 1 was only late.
    assert!(data_of(&h.send(&seg(ACK, r, at(3)))).is_empty());
    assert!(data_of(&h.send(&seg(ACK, r, at(10)))).is_empty());
    assert!(h.advance(Duration::from_secs(5)).is_empty());
    let st = stats(&h);
    assert_eq!(
        (st.retransmits, st.fast_retransmits, st.rack_marked_lost),
        (0, 0, 0)
    );
    assert!(cwnd(&h, c) >= cwnd0, "cwnd not reduced");
    assert_eq!(h.core.tcb(c).unwrap().queued(), 0);
}

/// RFC 8985 6.2 step 5 and 6.3 (the reordering timer): when the hole's ACK never comes,
/// the segment is deemed lost exactly RACK.rtt + reo_wnd after it was sent (40 + 10 ms
/// here) and that hole alone is retransmitted, as one fast recovery.
#[test]
fn reordering_timer_retransmits_the_hole_after_rack_rtt_plus_reo_wnd() {
    let (mut h, c, s, r, _) = open_warm(TcpConfig::default(), Peer::Sack);
    let at = segments_from(&h, c, s);
    let t0 = h.now;
    assert_eq!(data_of(&send_segments(&mut h, c, 10)).len(), 10);
    h.advance(RTT);
    h.send(&seg(ACK, r, at(1)));
    let out = h.send(&seg(ACK, r, at(1)).sack(&[(at(2), at(3))]));
    assert!(data_of(&out).is_empty());
    let out = h.advance(ms(30));
    assert_eq!(
        timed_data(&out, t0),
        [(RTT + RTT / 4, at(1), 1460)],
        "only the hole, at send time + RACK.rtt + min_RTT/4"
    );
    let st = stats(&h);
    assert_eq!(
        (st.fast_retransmits, st.retransmits, st.rack_marked_lost),
        (1, 1, 1)
    );
    assert_eq!(st.rto_expired, 0);
}

/// RFC 8985 6.2 step 4: with no reordering seen (RACK.reord false) and at least DupThresh
/// (3) segments SACKed, reo_wnd is 0: the third segment SACKed above a hole retransmits it
/// at once, as three duplicate ACKs would (RFC 6675).
#[test]
fn three_segments_sacked_above_a_hole_retransmit_it_at_once() {
    let (mut h, c, s, r, _) = open_warm(TcpConfig::default(), Peer::Sack);
    let at = segments_from(&h, c, s);
    assert_eq!(data_of(&send_segments(&mut h, c, 10)).len(), 10);
    h.advance(RTT);
    h.send(&seg(ACK, r, at(1)));
    for k in [3u32, 4] {
        let out = h.send(&seg(ACK, r, at(1)).sack(&[(at(2), at(k))]));
        assert!(data_of(&out).is_empty(), "{} SACKed: {out:?}", k - 2);
    }
    let out = h.send(&seg(ACK, r, at(1)).sack(&[(at(2), at(5))]));
    assert_eq!(data_of(&out), [(at(1), 1460)], "the hole, at once");
    assert_eq!(stats(&h).fast_retransmits, 1);
    assert_eq!(stats(&h).retransmits, 1);
}

/// RFC 8985 6.2 step 3 walks the segments an ACK newly delivers in ascending order, so one
/// ACK SACKing three segments of one flight is not reordering, in whatever order its
/// blocks are listed (RFC 2018 4 lists the most recent first). Holes at 0, 2 and 4; the
/// peer's ACK for segment 5 names 5, 3 and 1 (its ACKs for 1 and 3 were lost): three
/// SACKed, no reordering, so the first hole goes at once (step 4's DupThresh rule).
#[test]
fn sack_blocks_listed_most_recent_first_are_not_reordering() {
    let (mut h, c, s, r, _) = open_warm(TcpConfig::default(), Peer::Sack);
    let at = segments_from(&h, c, s);
    send_segments(&mut h, c, 10);
    h.advance(RTT);
    let out = h.send(&seg(ACK, r, at(0)).sack(&[(at(5), at(6)), (at(3), at(4)), (at(1), at(2))]));
    assert_eq!(
        data_of(&out).first(),
        Some(&(at(0), 1460)),
        "at once: {out:?}"
    );
    assert_eq!(stats(&h).fast_retransmits, 1);
}

/// RFC 8985 6.2 step 4: once reordering has been seen (RACK.reord), the DupThresh rule
/// no longer applies: three SACKed segments above a hole still wait min_RTT / 4.
#[test]
fn after_reordering_is_seen_three_sacked_segments_wait_for_the_window() {
    let (mut h, c, s, r, _) = open_warm(TcpConfig::default(), Peer::Sack);
    let at = segments_from(&h, c, s);
    send_segments(&mut h, c, 10);
    h.advance(RTT);
    // Segment 1 arrives after segment 2: reordering.
    h.send(&seg(ACK, r, at(1)).sack(&[(at(2), at(3))]));
    h.send(&seg(ACK, r, at(3)));
    h.send(&seg(ACK, r, at(10)));
    assert_eq!(stats(&h).retransmits, 0);
    // The next burst: segment 10 is missing, 11-13 arrive.
    let t1 = h.now;
    assert_eq!(data_of(&send_segments(&mut h, c, 10)).len(), 10);
    h.advance(RTT);
    for k in [12u32, 13, 14] {
        let out = h.send(&seg(ACK, r, at(10)).sack(&[(at(11), at(k))]));
        assert!(data_of(&out).is_empty(), "{out:?}");
    }
    let out = h.advance(ms(30));
    assert_eq!(
        timed_data(&out, t1),
        [(RTT + RTT / 4, at(10), 1460)],
        "lost after the reordering window, not at once"
    );
}

/// RFC 8985 6.2 step 4: each round trip with a DSACK widens the reordering window by
/// min_RTT / 4 ("RACK.reo_wnd_mult += 1"). A network duplicate DSACKed once makes the next
/// lone hole wait RACK.rtt + 2 * min_RTT / 4.
#[test]
fn dsack_widens_the_reordering_window() {
    let (mut h, c, s, r, _) = open_warm(TcpConfig::default(), Peer::Sack);
    let at = segments_from(&h, c, s);
    send_segments(&mut h, c, 10);
    h.advance(RTT);
    h.send(&seg(ACK, r, at(10)));
    // The network duplicated segment 0: the receiver reports it.
    h.send(&seg(ACK, r, at(10)).sack(&[(at(0), at(1))]));
    assert_eq!(stats(&h).rx_dsacks, 1);
    let t1 = h.now;
    send_segments(&mut h, c, 10);
    h.advance(RTT);
    h.send(&seg(ACK, r, at(11)));
    let out = h.send(&seg(ACK, r, at(11)).sack(&[(at(12), at(13))]));
    assert!(data_of(&out).is_empty());
    let out = h.advance(ms(30));
    assert_eq!(
        timed_data(&out, t1),
        [(RTT + 2 * (RTT / 4), at(11), 1460)],
        "RACK.rtt + 2 * min_RTT / 4"
    );
    assert_eq!(stats(&h).retransmits, 1);
}

/// RFC 8985 6.2 step 5 applies to retransmissions too: a lost retransmission is found
/// without waiting for the RTO. Once data sent after the retransmission is SACKed and
/// RACK.rtt has passed since the retransmission, it is deemed lost again and resent.
#[test]
fn lost_retransmission_is_resent_without_an_rto() {
    let (mut h, c, s, r, _) = open_warm(TcpConfig::default(), Peer::Sack);
    let at = segments_from(&h, c, s);
    let t0 = h.now;
    let rto = h.core.tcb(c).unwrap().rto();
    assert_eq!(data_of(&send_segments(&mut h, c, 20)).len(), 10, "IW10");
    h.advance(RTT);
    // Segment 0 is lost; 1-3 SACKed: it goes again at once (each SACK also lets one new
    // segment out, RFC 6675's pipe).
    let mut sent = Vec::new();
    for k in [2u32, 3, 4] {
        sent.extend(data_of(
            &h.send(&seg(ACK, r, at(0)).sack(&[(at(1), at(k))])),
        ));
    }
    let rexmit: Vec<_> = sent.iter().filter(|d| d.0.lt(at(10))).collect();
    assert_eq!(rexmit, [&(at(0), 1460)], "{sent:?}");
    // A millisecond later the rest of the flight is SACKed: new data goes out, after the
    // retransmission.
    h.advance(ms(1));
    let out = h.send(&seg(ACK, r, at(0)).sack(&[(at(1), at(10))]));
    let new = data_of(&out);
    assert!(!new.is_empty(), "new data in recovery");
    assert!(new.iter().all(|&(q, _)| q.ge(at(10))), "{new:?}");
    let high = new.last().map(|&(q, n)| q + n as u32).unwrap();
    // Nothing is due until the new data's SACKs.
    assert!(h.advance(RTT - ms(1)).is_empty());
    h.advance(ms(1));
    // The new data arrived, the retransmission of segment 0 did not.
    let out = h.send(&seg(ACK, r, at(0)).sack(&[(at(1), high)]));
    assert_eq!(
        data_of(&out).first(),
        Some(&(at(0), 1460)),
        "segment 0 again: {out:?}"
    );
    assert!(h.now - t0 < rto + RTT, "before any RTO");
    let st = stats(&h);
    assert_eq!(st.rto_expired, 0);
    assert_eq!(st.rack_marked_lost, 2);
    assert_eq!(st.fast_retransmits, 1, "one recovery");
    assert_eq!(
        data_of(&out).iter().filter(|d| d.0 == at(0)).count(),
        1,
        "once"
    );
}

// ---- Undo (RFC 3522 Eifel detection, RFC 2883 DSACK) ----

/// A flight of 10 from `s` with timestamps; segment 0 held back, 1-3 SACKed: recovery.
/// Returns `(TSval of the original segment 0, of its retransmission, cwnd before)`.
fn recovery_with_timestamps(h: &mut Host, c: Handle, s: Seq, r: Seq, echo: u32) -> (u32, u32, u32) {
    let at = segments_from(h, c, s);
    let out = send_segments(h, c, 10);
    assert_eq!(data_of(&out).len(), 10);
    let orig_ts = tsval(&out[0]);
    h.advance(RTT);
    let before = cwnd(h, c);
    let mut rexmit = Vec::new();
    for k in [2u32, 3, 4] {
        let ack = seg(ACK, r, at(0))
            .ts(peer_ts(h), echo)
            .sack(&[(at(1), at(k))]);
        rexmit.extend(h.send(&ack).into_iter().filter(|p| !p.payload.is_empty()));
    }
    assert_eq!(data_of(&rexmit), [(at(0), 1448)]);
    let rexmit_ts = tsval(&rexmit[0]);
    assert!(rexmit_ts > orig_ts);
    assert!(cwnd(h, c) < before, "recovery reduced cwnd");
    assert_eq!(stats(h).fast_retransmits, 1);
    (orig_ts, rexmit_ts, before)
}

/// RFC 3522 3.2: "if the value of the Timestamp Echo Reply field of the acceptable ACK
/// ... is smaller than the value of RetransmitTS, then ... the retransmit was spurious";
/// the congestion state from before the recovery is restored (RFC 4015).
#[test]
fn eifel_ack_echoing_the_original_undoes_the_recovery() {
    let (mut h, c, s, r, echo) = open_warm(TcpConfig::default(), Peer::SackTs);
    let at = segments_from(&h, c, s);
    let (orig_ts, _, before) = recovery_with_timestamps(&mut h, c, s, r, echo);
    // The original segment 0 was only late: the ACK covering it echoes its TSval.
    h.advance(ms(1));
    h.send(&seg(ACK, r, at(4)).ts(peer_ts(&h), orig_ts));
    assert_eq!(stats(&h).spurious_undone, 1);
    assert_eq!(cwnd(&h, c), before, "cwnd as before the recovery");
}

/// RFC 3522 3.2: an ACK echoing the retransmission's TSval (or a later one) says the
/// retransmission filled the hole: the recovery stands.
#[test]
fn eifel_ack_echoing_the_retransmission_does_not_undo() {
    let (mut h, c, s, r, echo) = open_warm(TcpConfig::default(), Peer::SackTs);
    let at = segments_from(&h, c, s);
    let (_, rexmit_ts, before) = recovery_with_timestamps(&mut h, c, s, r, echo);
    let reduced = cwnd(&h, c);
    h.advance(RTT);
    h.send(&seg(ACK, r, at(4)).ts(peer_ts(&h), rexmit_ts));
    assert_eq!(stats(&h).spurious_undone, 0);
    assert_eq!(cwnd(&h, c), reduced);
    assert!(cwnd(&h, c) < before);
}

/// RFC 2883 4.1 / RFC 3708 3: a DSACK (first SACK block below the cumulative ACK) for
/// the only retransmission of the episode says it was unnecessary: the congestion state
/// from before the recovery is restored. Here the sender had more data, so new segments
/// went out during the recovery and the DSACK follows the ACK that ended it.
#[test]
fn dsack_for_the_only_retransmission_undoes_the_recovery() {
    let (mut h, c, s, r, _) = open_warm(TcpConfig::default(), Peer::Sack);
    let at = segments_from(&h, c, s);
    send_segments(&mut h, c, 20);
    h.advance(RTT);
    let before = cwnd(&h, c);
    let mut sent = Vec::new();
    for k in [2u32, 3, 4] {
        sent.extend(data_of(
            &h.send(&seg(ACK, r, at(0)).sack(&[(at(1), at(k))])),
        ));
    }
    // Segments 10 and 11 went out on the first two SACKs (RFC 6675 pipe), then segment 0.
    assert_eq!(sent, [(at(10), 1460), (at(11), 1460), (at(0), 1460)]);
    assert!(cwnd(&h, c) < before);
    // The rest of the flight arrives; new data goes out in the recovery.
    let out = h.send(&seg(ACK, r, at(0)).sack(&[(at(1), at(10))]));
    assert!(!data_of(&out).is_empty());
    // The original segment 0 arrives (late) with 10 and 11: the ACK ends the recovery.
    // Then the retransmission arrives: a DSACK.
    h.advance(ms(1));
    h.send(&seg(ACK, r, at(12)));
    assert_eq!(stats(&h).spurious_undone, 0);
    h.advance(ms(20));
    h.send(&seg(ACK, r, at(12)).sack(&[(at(0), at(1))]));
    assert_eq!(stats(&h).rx_dsacks, 1);
    assert_eq!(stats(&h).spurious_undone, 1);
    assert_eq!(cwnd(&h, c), before, "cwnd as before the recovery");
}

/// The same at the tail of the data: the late original's ACK covers everything sent, and
/// the DSACK for the retransmission can only come after it. The undo must survive that
/// ACK (the module's "an undo stays possible for one more window (late DSACKs)"; Linux's
/// `tcp_try_undo_dsack` in the Open state).
#[test]
fn dsack_after_the_full_ack_at_the_tail_still_undoes() {
    let (mut h, c, s, r, _) = open_warm(TcpConfig::default(), Peer::Sack);
    let at = segments_from(&h, c, s);
    send_segments(&mut h, c, 10);
    h.advance(RTT);
    let before = cwnd(&h, c);
    for k in [2u32, 3, 4] {
        h.send(&seg(ACK, r, at(0)).sack(&[(at(1), at(k))]));
    }
    assert_eq!(stats(&h).retransmits, 1);
    h.send(&seg(ACK, r, at(0)).sack(&[(at(1), at(10))]));
    h.advance(ms(1));
    h.send(&seg(ACK, r, at(10)));
    h.advance(ms(20));
    h.send(&seg(ACK, r, at(10)).sack(&[(at(0), at(1))]));
    assert_eq!(stats(&h).rx_dsacks, 1);
    assert_eq!(stats(&h).spurious_undone, 1);
    assert_eq!(cwnd(&h, c), before);
}

// ---- Tail loss probe (RFC 8985 7) ----

/// RFC 8985 7.2-7.3: with one segment left in flight, the probe timeout is 2 * SRTT +
/// WCDelAckT; when it fires before the RTO, the probe (no new data to send) is the last
/// segment again. RFC 6298 2.4's 1 s minimum RTO keeps the RTO later than the PTO.
#[test]
fn tail_loss_probe_resends_the_last_segment_after_two_srtt_plus_delack() {
    let cfg = TcpConfig {
        rto: RtoConfig {
            min: Duration::from_secs(1),
            ..RtoConfig::default()
        },
        ..TcpConfig::default()
    };
    let (mut h, c, s, r, _) = open_warm(cfg, Peer::Sack);
    let at = segments_from(&h, c, s);
    send_segments(&mut h, c, 10);
    h.advance(RTT);
    assert!(h.send(&seg(ACK, r, at(9))).is_empty(), "the first 9 only");
    let t = h.now;
    let rto = h.core.tcb(c).unwrap().rto();
    let out = h.advance(ms(900));
    let pto = 2 * RTT + WC_DEL_ACK;
    assert_eq!(timed_data(&out, t), [(pto, at(9), 1460)]);
    assert!(pto >= ms(10) && pto < rto, "{pto:?} vs RTO {rto:?}");
    let st = stats(&h);
    assert_eq!(
        (st.tlp_probes, st.rto_expired, st.fast_retransmits),
        (1, 0, 0)
    );
}

/// RFC 8985 7.2: with more than one segment in flight the PTO is 2 * SRTT, well before
/// the (default, 200 ms) RTO; the probe is the last segment sent.
#[test]
fn tail_loss_probe_after_two_srtt_with_two_segments_in_flight() {
    let (mut h, c, s, r, _) = open_warm(TcpConfig::default(), Peer::Sack);
    let at = segments_from(&h, c, s);
    send_segments(&mut h, c, 10);
    h.advance(RTT);
    h.send(&seg(ACK, r, at(8)));
    let t = h.now;
    let out = h.advance(ms(150));
    assert_eq!(timed_data(&out, t), [(2 * RTT, at(9), 1460)]);
    assert_eq!(stats(&h).tlp_probes, 1);
    assert_eq!(stats(&h).rto_expired, 0);
}

/// The PTO has a floor (10 ms, Linux's) on a short path: 2 * SRTT = 4 ms here.
#[test]
fn tail_loss_probe_timeout_is_at_least_ten_milliseconds() {
    let rtt = ms(2);
    let (mut h, c, s, r, _) = open_warm_rtt(TcpConfig::default(), Peer::Sack, rtt);
    let at = segments_from(&h, c, s);
    send_segments(&mut h, c, 10);
    h.advance(rtt);
    h.send(&seg(ACK, r, at(8)));
    let t = h.now;
    let out = h.advance(ms(50));
    assert_eq!(timed_data(&out, t), [(ms(10), at(9), 1460)]);
}

/// RFC 8985 7.3: the probe is a new segment when one is unsent and the receive window
/// allows it (cwnd notwithstanding). A probe of new data that is then ACKed is no loss
/// (7.4.2: "TLP of new data delivered").
#[test]
fn tail_loss_probe_sends_new_data_when_the_window_allows() {
    let (mut h, c, s, r, _) = open_warm(TcpConfig::default(), Peer::Sack);
    let at = segments_from(&h, c, s);
    let t0 = h.now;
    assert_eq!(
        data_of(&send_segments(&mut h, c, 20)).len(),
        10,
        "cwnd-limited"
    );
    let before = cwnd(&h, c);
    // No ACK at all (they were lost): after 2 * SRTT, segment 10, never sent, is the probe.
    let out = h.advance(2 * RTT);
    assert_eq!(timed_data(&out, t0), [(2 * RTT, at(10), 1460)]);
    let st = stats(&h);
    assert_eq!((st.tlp_probes, st.retransmits), (1, 0));
    h.send(&seg(ACK, r, at(11)));
    assert_eq!(stats(&h).tlp_recoveries, 0);
    assert!(cwnd(&h, c) >= before);
}

/// RFC 8985 7.2: "If Now() + PTO > TCP_RTO_expiration(): PTO = TCP_RTO_expiration() -
/// Now()": when 2 * SRTT + WCDelAckT is later than the RTO (one segment in flight, the
/// 200 ms default floor), the probe goes at the RTO's time instead of the RTO, and
/// rearms it (7.3): no timeout, no collapse to one segment.
#[test]
fn tail_loss_probe_is_clamped_to_the_rto_not_replaced_by_it() {
    let (mut h, c, s, r, _) = open_warm(TcpConfig::default(), Peer::Sack);
    let at = segments_from(&h, c, s);
    send_segments(&mut h, c, 10);
    h.advance(RTT);
    h.send(&seg(ACK, r, at(9)));
    let t = h.now;
    let rto = h.core.tcb(c).unwrap().rto();
    assert!(2 * RTT + WC_DEL_ACK > rto);
    let out = h.advance(rto + ms(1));
    assert_eq!(timed_data(&out, t), [(rto, at(9), 1460)]);
    let st = stats(&h);
    assert_eq!((st.tlp_probes, st.rto_expired), (1, 0));
}

/// `(host, handle, s, r, cwnd before)` after a probe retransmitted segment 9 of 10 (1 s
/// minimum RTO so the probe precedes the RTO), with `extra` more segments queued behind a
/// window that has room for none until the probe is answered (the peer advertised exactly
/// what is in flight).
fn probed(extra: usize) -> (Host, Handle, Seq, Seq, u32) {
    let cfg = TcpConfig {
        rto: RtoConfig {
            min: Duration::from_secs(1),
            ..RtoConfig::default()
        },
        ..TcpConfig::default()
    };
    let (mut h, c, s, r, _) = open_warm(cfg, Peer::Sack);
    let at = segments_from(&h, c, s);
    send_segments(&mut h, c, 10);
    h.advance(RTT);
    h.send(&seg(ACK, r, at(9)).window(1460));
    let before = cwnd(&h, c);
    if extra > 0 {
        let mss = h.core.tcb(c).unwrap().smss() as usize;
        let (_, out) = h.act(c, |conn| conn.send(&object(extra * mss, 5)));
        assert!(data_of(&out).is_empty(), "window full");
    }
    let out = h.advance(ms(900));
    assert_eq!(
        data_of(&out.into_iter().map(|x| x.1).collect::<Vec<_>>()),
        [(at(9), 1460)]
    );
    assert_eq!(stats(&h).tlp_probes, 1);
    (h, c, s, r, before)
}

/// RFC 8985 7.4.2: the probe was a retransmission, and ACKs beyond it come without a DSACK
/// for it: the probe repaired a loss, and congestion control reacts once.
#[test]
fn tail_loss_probe_that_repaired_a_loss_reduces_cwnd_once() {
    let (mut h, c, s, r, before) = probed(3);
    let at = segments_from(&h, c, s);
    // The probe filled the hole; the window opens and new data follows, ACKed in turn.
    let mut out = h.send(&seg(ACK, r, at(10)));
    assert_eq!(data_of(&out).first().map(|d| d.0), Some(at(10)), "{out:?}");
    for _ in 0..10 {
        let Some(&(q, n)) = data_of(&out).last() else {
            break;
        };
        h.advance(RTT);
        out = h.send(&seg(ACK, r, q + n as u32));
    }
    assert_eq!(stats(&h).tlp_recoveries, 1);
    assert!(cwnd(&h, c) < before, "cwnd reduced");
    assert_eq!(h.core.tcb(c).unwrap().queued(), 0);
}

/// RFC 8985 7.4.1 case 1: the ACK covering the probe carries a DSACK for it: the original
/// arrived too, nothing was lost, cwnd stays.
#[test]
fn tail_loss_probe_answered_by_a_dsack_does_not_reduce_cwnd() {
    let (mut h, c, s, r, before) = probed(0);
    let at = segments_from(&h, c, s);
    h.send(&seg(ACK, r, at(10)).sack(&[(at(9), at(10))]));
    assert_eq!(stats(&h).rx_dsacks, 1);
    assert_eq!(stats(&h).tlp_recoveries, 0);
    assert!(cwnd(&h, c) >= before);
}

/// RFC 8985 7.4.2, TLP_process_ack: an ACK exactly at TLP.end_seq without a DSACK is not
/// yet proof of a loss ("Else If ACK's ack. number > TLP.end_seq: ... Repaired the single
/// loss"): a receiver that got both copies ACKs the original first (here, late: a
/// delayed ACK) and then DSACKs the probe, and that is "Case 1": no reduction.
#[test]
fn tail_loss_probe_original_acked_then_dsack_does_not_reduce_cwnd() {
    let (mut h, c, s, r, before) = probed(0);
    let at = segments_from(&h, c, s);
    h.send(&seg(ACK, r, at(10)));
    h.send(&seg(ACK, r, at(10)).sack(&[(at(9), at(10))]));
    assert_eq!(stats(&h).rx_dsacks, 1);
    assert_eq!(stats(&h).tlp_recoveries, 0);
    assert!(cwnd(&h, c) >= before);
}

// ---- PAWS and reordered duplicate ACKs (RFC 7323 5.3) ----

/// RFC 7323 5.3 fails a segment whose TSval is older than TS.Recent, but a pure duplicate
/// ACK overtaken by a newer one (SEG.SEQ = RCV.NXT, SEG.ACK = SND.UNA, the same window, a
/// TSval older by less than an RTO: Linux's `tcp_disordered_ack`) is kept: its SACK
/// blocks may be news. Here segments 0, 2, 4 and 6 are lost and the rest arrive in the
/// order 1, 7, 5, 3; the peer's ACK for segment 1 (SACK 1) is overtaken by its ACK for
/// segment 3, whose three blocks (RFC 2018 4: 3, 5, 7) no longer name segment 1. The late
/// ACK's SACK of segment 1 frees room in the pipe: the next hole goes out.
#[test]
fn overtaken_duplicate_ack_with_an_older_timestamp_still_counts() {
    let (mut h, c, s, r, echo) = open_warm(TcpConfig::default(), Peer::SackTs);
    let at = segments_from(&h, c, s);
    let mss = h.core.tcb(c).unwrap().smss() as usize;
    send_segments(&mut h, c, 10);
    h.advance(RTT - ms(5));
    let old = seg(ACK, r, at(0))
        .ts(peer_ts(&h), echo)
        .sack(&[(at(1), at(2))]);
    h.advance(ms(5));
    let newer = seg(ACK, r, at(0)).ts(peer_ts(&h), echo).sack(&[
        (at(3), at(4)),
        (at(5), at(6)),
        (at(7), at(8)),
    ]);
    let out = h.send(&newer);
    assert_eq!(
        data_of(&out),
        [(at(0), mss), (at(1), mss), (at(2), mss)],
        "RACK: 0, 1, 2, 4, 6 lost; the pipe takes three"
    );
    let out = h.send(&old);
    assert_eq!(
        data_of(&out),
        [(at(4), mss)],
        "segment 1 SACKed: room for one more"
    );
    assert_eq!(stats(&h).rx_paws, 0);
}

/// RFC 7323 5.3 R1 drops a segment failing PAWS; the ACK it asks for tells a pure ACK's
/// sender nothing (and two such ends would trade them forever), so an old pure ACK is
/// dropped silently: one below SND.UNA, one at SND.UNA with another window, and one whose
/// TSval is more than an RTO older than TS.Recent.
#[test]
fn old_pure_ack_failing_paws_is_dropped_without_a_reply() {
    let (mut h, c, s, r, echo) = open_warm(TcpConfig::default(), Peer::SackTs);
    let at = segments_from(&h, c, s);
    send_segments(&mut h, c, 4);
    h.advance(RTT - ms(1));
    let old_ts = peer_ts(&h);
    h.send(&seg(ACK, r, at(1)).ts(old_ts, echo));
    h.advance(ms(1));
    h.send(&seg(ACK, r, at(2)).ts(peer_ts(&h), echo));
    let rto_ms = h.core.tcb(c).unwrap().rto().as_millis() as u32;
    let stale = [
        ("below SND.UNA", seg(ACK, r, at(1)).ts(old_ts, echo)),
        (
            "another window",
            seg(ACK, r, at(2)).window(1000).ts(old_ts, echo),
        ),
        (
            "older than an RTO",
            seg(ACK, r, at(2)).ts(peer_ts(&h) - rto_ms - 1, echo),
        ),
    ];
    for (i, (what, b)) in stale.iter().enumerate() {
        let out = h.send(b);
        assert!(out.is_empty(), "{what}: {out:?}");
        assert_eq!(stats(&h).rx_paws, i as u64 + 1, "{what}");
    }
    assert_eq!(h.core.tcb(c).unwrap().snd_wnd(), 65535, "window not taken");
    assert_eq!(h.core.tcb(c).unwrap().queued(), 2 * 1448);
}

/// RFC 7323 5.3 R1: a segment with data failing PAWS is answered with an ACK
/// (<SEQ=SND.NXT><ACK=RCV.NXT>) and its data dropped.
#[test]
fn data_failing_paws_still_gets_an_ack() {
    let (mut h, c, s, r, echo) = open_warm(TcpConfig::default(), Peer::SackTs);
    let now_ts = peer_ts(&h);
    let out = h.send(&seg(PA, r, s).ts(now_ts, echo).data(b"new"));
    assert_eq!(fsa(&out), [(ACK, s, r + 3)]);
    let out = h.send(&seg(PA, r + 3, s).ts(now_ts - 1, echo).data(b"old"));
    assert_eq!(fsa(&out), [(ACK, s, r + 3)], "an ACK, the data dropped");
    assert_eq!(stats(&h).rx_paws, 1);
    assert_eq!(h.app.data(c), b"new");
}

// ---- Zero window (RFC 9293 3.8.6) ----

/// The window closes with data in flight (the peer took half): with SACK, neither the
/// tail loss probe nor the RTO's retransmissions put payload beyond the zero window; the
/// persist timer probes until it opens. (rules.rs checks the same without SACK, where no
/// probe is armed.)
#[test]
fn zero_window_with_sack_sends_no_payload_until_it_opens() {
    let (mut h, c, s, r, _) = open_warm(TcpConfig::default(), Peer::Sack);
    let at = segments_from(&h, c, s);
    send_segments(&mut h, c, 10);
    h.advance(RTT);
    assert!(data_of(&h.send(&seg(ACK, r, at(5)).window(0))).is_empty());
    let out = h.advance(Duration::from_secs(10));
    let payload: Vec<_> = out.iter().filter(|(_, p)| !p.payload.is_empty()).collect();
    assert!(
        payload.is_empty(),
        "nothing beyond a zero window: {payload:?}"
    );
    assert!(stats(&h).window_probes > 0);
    let out = h.send(&seg(ACK, r, at(5)).window(65535));
    assert_eq!(data_of(&out).first(), Some(&(at(5), 1460)));
}
