//! TCP rules, one test each: a [`tcpip::TcpCore`] driven with hand-made segments from a scripted
//! peer, its answers parsed and compared with what the RFC says. Each exchange is one line
//! (segment in, segments out), so a failure reads as a packet trace.
//!
//! Names: `s` is our next sequence number (ISS + 1 after the handshake), `r` the peer's
//! (its ISN + 1): our RCV.NXT.

mod common;

use common::*;
use nmio::Instant;
use std::time::Duration;
use tcpip::accept::segment_acceptable;
use tcpip::config::Keepalive;
use tcpip::isn::{CookieData, SynCookies};
use tcpip::seq::Seq;
use tcpip::sink::VecSink;
use tcpip::wire::{TcpFlags, TcpOptions};
use tcpip::{CloseReason, Handle, IcmpKind, State, TcpConfig};

const SYN: TcpFlags = TcpFlags::SYN;
const ACK: TcpFlags = TcpFlags::ACK;
const RST: TcpFlags = TcpFlags::RST;
const FIN: TcpFlags = TcpFlags::FIN;
const PSH: TcpFlags = TcpFlags::PSH;
const SA: TcpFlags = TcpFlags::SYN.union(TcpFlags::ACK);
const RA: TcpFlags = TcpFlags::RST.union(TcpFlags::ACK);
const FA: TcpFlags = TcpFlags::FIN.union(TcpFlags::ACK);
const PA: TcpFlags = TcpFlags::PSH.union(TcpFlags::ACK);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `(flags, seq, ack)` of every segment, for one-line trace comparisons.
fn fsa(out: &[Seg]) -> Vec<(TcpFlags, Seq, Seq)> {
    out.iter().map(Seg::fsa).collect()
}

/// A SYN offering only an MSS of 1460 (no scaling, SACK or timestamps).
fn plain_syn(isn: u32) -> SegBuilder {
    seg(SYN, Seq(isn), Seq(0)).mss(1460)
}

/// A listening core and a connection completed with `syn`; `(host, handle, s, r)`.
fn open_with(cfg: TcpConfig, syn: SegBuilder) -> (Host, Handle, Seq, Seq) {
    let mut host = Host::listening(cfg);
    let (h, iss, irs) = handshake(&mut host, syn);
    (host, h, iss + 1, irs + 1)
}

fn open(cfg: TcpConfig) -> (Host, Handle, Seq, Seq) {
    open_with(cfg, plain_syn(1000))
}

fn small_window(window: u32) -> TcpConfig {
    TcpConfig {
        recv_window: window,
        ..TcpConfig::default()
    }
}

/// The data segments in `out` as `(seq, len)`.
fn data_of(out: &[Seg]) -> Vec<(Seq, usize)> {
    out.iter()
        .filter(|s| !s.payload.is_empty())
        .map(Seg::data)
        .collect()
}

// ---- RFC 9293 3.10.7.1: CLOSED ----

/// "If the ACK bit is off, sequence number zero is used, <SEQ=0><ACK=SEG.SEQ+SEG.LEN>
/// <CTL=RST,ACK>".
#[test]
fn closed_port_segment_without_ack_gets_rst_ack_covering_it() {
    let mut h = Host::new(TcpConfig::default());
    let out = h.send(&plain_syn(1000));
    assert_eq!(fsa(&out), [(RA, Seq(0), Seq(1001))]);
    assert_eq!((out[0].src, out[0].dst), (SERVER, CLIENT));
    assert_eq!(
        (out[0].repr.src_port, out[0].repr.dst_port),
        (PORT, PEER_PORT)
    );
    // SEG.LEN counts the data and the FIN.
    let out = h.send(&seg(FIN | PSH, Seq(5000), Seq(0)).data(b"0123456789"));
    assert_eq!(fsa(&out), [(RA, Seq(0), Seq(5011))]);
    assert_eq!(h.core.stats().rx_no_listener, 2);
    assert_eq!(h.core.stats().tx_rst, 2);
    assert_eq!(h.core.connections(), 0);
}

/// "If the ACK bit is on, <SEQ=SEG.ACK><CTL=RST>".
#[test]
fn closed_port_segment_with_ack_gets_rst_at_its_ack() {
    let mut h = Host::new(TcpConfig::default());
    let out = h.send(&seg(PA, Seq(1), Seq(777)).data(b"xyz"));
    assert_eq!(fsa(&out), [(RST, Seq(777), Seq(0))]);
    let out = h.send(&seg(FA, Seq(1), Seq(u32::MAX)));
    assert_eq!(fsa(&out), [(RST, Seq(u32::MAX), Seq(0))]);
    assert_eq!(h.core.connections(), 0);
}

/// "An incoming segment containing a RST is discarded."
#[test]
fn closed_port_rst_is_never_answered() {
    let mut h = Host::new(TcpConfig::default());
    assert!(h.send(&seg(RST, Seq(1), Seq(0))).is_empty());
    assert!(h.send(&seg(RA, Seq(1), Seq(5))).is_empty());
    assert_eq!(h.core.stats().rx_rst_no_connection, 2);
    assert_eq!(h.core.stats().tx_rst, 0);
    assert_eq!(h.core.stats().rx_no_listener, 0);
}

// ---- RFC 9293 3.10.7.2: LISTEN ----

/// "first, check for a RST: an incoming RST should be ignored."
#[test]
fn listen_ignores_rst() {
    let mut h = Host::listening(TcpConfig::default());
    assert!(h.send(&seg(RST, Seq(1), Seq(0))).is_empty());
    assert!(h.send(&seg(RA, Seq(1), Seq(9))).is_empty());
    assert_eq!(h.core.stats().rx_rst_no_connection, 2);
    assert_eq!(h.core.connections(), 0);
}

/// "second, check for an ACK: ... form a reset segment <SEQ=SEG.ACK><CTL=RST>".
#[test]
fn listen_answers_ack_with_rst_at_seg_ack() {
    let mut h = Host::listening(TcpConfig::default());
    let out = h.send(&seg(ACK, Seq(100), Seq(5555)));
    assert_eq!(fsa(&out), [(RST, Seq(5555), Seq(0))]);
    let out = h.send(&seg(PA, Seq(100), Seq(6666)).data(b"GET /"));
    assert_eq!(fsa(&out), [(RST, Seq(6666), Seq(0))]);
    assert_eq!(h.core.connections(), 0);
    assert!(h.app.events.is_empty());
}

/// "third, check for a SYN: ... <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>", with our MSS and the
/// options the peer offered (RFC 7323 2.2, 3.2; RFC 2018 2).
#[test]
fn listen_answers_syn_with_syn_ack_mirroring_offered_options() {
    let mut h = Host::listening(TcpConfig::default());
    let syn = seg(SYN, Seq(1000), Seq(0))
        .mss(1400)
        .ws(7)
        .sack_ok()
        .ts(4242, 0)
        .window(29200);
    let out = h.send(&syn);
    assert_eq!(out.len(), 1);
    let sa = &out[0];
    assert_eq!((sa.flags(), sa.ack()), (SA, Seq(1001)));
    let o = sa.options();
    assert_eq!(o.mss, Some(1460), "our MSS");
    assert_eq!(o.window_scale, Some(3), "our shift for a 256 KiB window");
    assert!(o.sack_permitted);
    assert_eq!(o.timestamps.map(|t| t.1), Some(4242), "TSecr echoes TSval");
    assert_eq!(sa.window(), 65535, "the window of a SYN is never scaled");
    assert_eq!(h.state(), Some(State::SynReceived));
    let tcb = h.core.tcb(h.handle().unwrap()).unwrap();
    assert_eq!(tcb.options(), (true, true));
    assert_eq!(
        tcb.smss(),
        1400 - 12,
        "peer's MSS less the timestamp option"
    );
}

/// Options are only sent back when the peer offered them (RFC 7323 2.2: a SYN-ACK carries
/// the window scale only in answer to one; likewise SACK-permitted and timestamps).
#[test]
fn listen_answers_syn_without_options_with_syn_ack_without_them() {
    let mut h = Host::listening(TcpConfig::default());
    let out = h.send(&seg(SYN, Seq(1000), Seq(0)));
    assert_eq!(fsa(&out), [(SA, out[0].seq(), Seq(1001))]);
    assert_eq!(
        *out[0].options(),
        TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        }
    );
    assert_eq!(h.core.tcb(h.handle().unwrap()).unwrap().smss(), 536);
    // Each option offered alone comes back alone: (SACK-permitted, timestamps, scale).
    let alone: [(u16, SegBuilder, (bool, bool, bool)); 3] = [
        (
            40001,
            seg(SYN, Seq(1), Seq(0)).sack_ok(),
            (true, false, false),
        ),
        (
            40002,
            seg(SYN, Seq(1), Seq(0)).ts(9, 0),
            (false, true, false),
        ),
        (40003, seg(SYN, Seq(1), Seq(0)).ws(2), (false, false, true)),
    ];
    for (port, syn, want) in alone {
        let out = h.send(&syn.ports(port, PORT));
        let o = out[0].options();
        let got = (
            o.sack_permitted,
            o.timestamps.is_some(),
            o.window_scale.is_some(),
        );
        assert_eq!(got, want, "port {port}");
    }
}

/// SYN-RECEIVED: a retransmitted SYN (our SYN-ACK was lost) gets the same SYN-ACK again;
/// the ACK completing the handshake may carry data, delivered after `on_accept`.
#[test]
fn syn_received_resends_syn_ack_and_accepts_data_on_the_handshake_ack() {
    let mut h = Host::listening(TcpConfig::default());
    let first = h.send(&plain_syn(1000));
    let again = h.send(&plain_syn(1000));
    assert_eq!(fsa(&again), fsa(&first));
    let iss = first[0].seq();
    let out = h.send(&seg(PA, Seq(1001), iss + 1).data(b"GET /"));
    assert_eq!(fsa(&out), [(ACK, iss + 1, Seq(1006))]);
    let c = h.handle().unwrap();
    assert_eq!(
        h.app.events,
        [Event::Accepted(c), Event::Data(c, b"GET /".to_vec())]
    );
}

// ---- RFC 9293 3.10.7.3: SYN-SENT ----

#[test]
fn syn_sent_sends_syn_with_our_options() {
    let mut h = Host::new(TcpConfig::default());
    let (_, out) = h.connect();
    assert_eq!(out.len(), 1);
    let syn = &out[0];
    assert_eq!((syn.flags(), syn.ack()), (SYN, Seq(0)));
    let o = syn.options();
    assert_eq!(o.mss, Some(1460));
    assert_eq!(o.window_scale, Some(3));
    assert!(o.sack_permitted);
    assert_eq!(o.timestamps.map(|t| t.1), Some(0), "TSecr 0 on a SYN");
    assert_eq!(h.state(), Some(State::SynSent));
}

/// "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset (unless the RST bit is set, if so
/// drop the segment and return) <SEQ=SEG.ACK><CTL=RST>".
#[test]
fn syn_sent_bad_ack_gets_rst_and_the_connection_waits() {
    let mut h = Host::new(TcpConfig::default());
    let (c, out) = h.connect();
    let iss = out[0].seq();
    let out = h.send(&seg(ACK, Seq(5000), iss));
    assert_eq!(fsa(&out), [(RST, iss, Seq(0))], "SEG.ACK = ISS");
    let out = h.send(&seg(SA, Seq(5000), iss + 2));
    assert_eq!(fsa(&out), [(RST, iss + 2, Seq(0))], "SEG.ACK > SND.NXT");
    assert!(
        h.send(&seg(RA, Seq(5000), iss + 9)).is_empty(),
        "a RST with a bad ACK is dropped"
    );
    assert_eq!(h.core.state(c), Some(State::SynSent));
    assert_eq!(h.core.stats().rx_bad_ack, 3);
    assert!(h.app.events.is_empty());
    // The right SYN-ACK still completes it.
    let out = h.send(&seg(SA, Seq(5000), iss + 1).mss(1460));
    assert_eq!(fsa(&out), [(ACK, iss + 1, Seq(5001))]);
}

/// "If the ACK was acceptable, then signal to the user 'error: connection reset', drop the
/// segment, enter CLOSED state".
#[test]
fn syn_sent_rst_with_acceptable_ack_refuses_the_connection() {
    let mut h = Host::new(TcpConfig::default());
    let (c, out) = h.connect();
    let iss = out[0].seq();
    assert!(h.send(&seg(RA, Seq(0), iss + 1)).is_empty());
    assert_eq!(h.app.closed(), [(c, CloseReason::Refused)]);
    assert_eq!(h.core.connections(), 0);
    assert_eq!(h.core.stats().connect_failed, 1);
}

/// "If the ACK bit is not set ... a RST ... drop the segment and return": only a RST with
/// an acceptable ACK ends SYN-SENT.
#[test]
fn syn_sent_rst_without_ack_is_ignored() {
    let mut h = Host::new(TcpConfig::default());
    let (c, out) = h.connect();
    let iss = out[0].seq();
    assert!(h.send(&seg(RST, Seq(0), Seq(0))).is_empty());
    assert!(h.send(&seg(RST, Seq(77), iss + 1)).is_empty());
    assert_eq!(h.core.state(c), Some(State::SynSent));
    assert!(h.app.events.is_empty());
}

/// "If SND.UNA > ISS (our SYN has been ACKed), change the connection state to ESTABLISHED,
/// form an ACK segment <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and send it."
#[test]
fn syn_sent_syn_ack_establishes_and_is_acked() {
    let mut h = Host::new(TcpConfig::default());
    let (c, out) = h.connect();
    let iss = out[0].seq();
    let out = h.send(&seg(SA, Seq(7000), iss + 1).mss(1460));
    assert_eq!(fsa(&out), [(ACK, iss + 1, Seq(7001))]);
    assert_eq!(h.core.state(c), Some(State::Established));
    assert_eq!(h.app.events, [Event::Connected(c)]);
    assert_eq!(h.core.stats().connected, 1);
}

/// "Otherwise, enter SYN-RECEIVED, form a SYN,ACK segment <SEQ=ISS><ACK=RCV.NXT>
/// <CTL=SYN,ACK> and send it." The peer's own SYN-ACK then crosses ours: it is not
/// acceptable (its SYN is below RCV.NXT), so it gets an ACK (3.10.7.4 first check); the
/// peer's ACK of our SYN-ACK completes the open (fifth check, SYN-RECEIVED).
#[test]
fn simultaneous_open_goes_through_syn_received_to_established() {
    let mut h = Host::new(TcpConfig::default());
    let (c, out) = h.connect();
    let iss = out[0].seq();
    let out = h.send(&seg(SYN, Seq(7000), Seq(0)).mss(1460));
    assert_eq!(fsa(&out), [(SA, iss, Seq(7001))]);
    assert_eq!(h.core.state(c), Some(State::SynReceived));
    let out = h.send(&seg(SA, Seq(7000), iss + 1).mss(1460));
    assert_eq!(fsa(&out), [(ACK, iss + 1, Seq(7001))]);
    assert!(h.send(&seg(ACK, Seq(7001), iss + 1)).is_empty());
    assert_eq!(h.core.state(c), Some(State::Established));
    assert_eq!(h.app.events, [Event::Connected(c)]);
}

/// The same between two cores: both connect at once, the SYNs cross, and both end
/// ESTABLISHED (RFC 9293 3.5, figure 7) without a retransmission.
#[test]
fn simultaneous_open_between_two_cores() {
    use tcpip::sink::VecSink;
    use tcpip::TcpCore;
    let now = Instant::from_millis(1_000);
    let a_addr = std::net::SocketAddrV4::new(CLIENT, 5000);
    let b_addr = std::net::SocketAddrV4::new(SERVER, 6000);
    let mut a = TcpCore::with_keys(TcpConfig::default(), now, keys(1)).unwrap();
    let mut b = TcpCore::with_keys(TcpConfig::default(), now, keys(2)).unwrap();
    let (mut to_b, mut to_a) = (VecSink::new(64), VecSink::new(64));
    let ha = a.connect(now, a_addr, b_addr, &mut to_b).unwrap();
    let hb = b.connect(now, b_addr, a_addr, &mut to_a).unwrap();
    let (mut ra, mut rb) = (Recorder::default(), Recorder::default());
    let mut exchanged = 0;
    for _ in 0..20 {
        let (for_b, for_a) = (to_b.drain(), to_a.drain());
        if for_a.is_empty() && for_b.is_empty() {
            break;
        }
        exchanged += for_a.len() + for_b.len();
        for (src, dst, s) in for_b {
            b.on_segment(now, src, dst, &s, &mut rb, &mut to_a);
        }
        for (src, dst, s) in for_a {
            a.on_segment(now, src, dst, &s, &mut ra, &mut to_b);
        }
    }
    assert_eq!(a.state(ha), Some(State::Established));
    assert_eq!(b.state(hb), Some(State::Established));
    assert_eq!(ra.events, [Event::Connected(ha)]);
    assert_eq!(rb.events, [Event::Connected(hb)]);
    // SYN, SYN-ACK and ACK each way.
    assert_eq!(exchanged, 6);
}

// ---- RFC 9293 3.10.7.4, first check: the acceptability table ----

/// RCV.WND > 0 rows: a segment is acceptable when it starts in the window (SEG.LEN = 0), or
/// its first or last byte is in it (SEG.LEN > 0). "If an incoming segment is not
/// acceptable, an acknowledgment should be sent in reply ... <SEQ=SND.NXT><ACK=RCV.NXT>
/// <CTL=ACK>. After sending the acknowledgment, drop the unacceptable segment".
#[test]
fn unacceptable_segments_get_an_ack_and_are_dropped() {
    const W: u32 = 8192;
    let (mut h, c, s, r) = open(small_window(W));
    // SEG.LEN = 0: RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND.
    assert!(h.send(&seg(ACK, r + (W - 1), s)).is_empty(), "last in");
    for bad in [r + W, r - 1] {
        let out = h.send(&seg(ACK, bad, s));
        assert_eq!(fsa(&out), [(ACK, s, r)], "empty segment at {bad:?}");
    }
    assert_eq!(h.core.stats().rx_out_of_window, 2);
    // SEG.LEN > 0, first byte in the window.
    let out = h.send(&seg(PA, r, s).data(b"abcd"));
    assert_eq!(fsa(&out), [(ACK, s, r + 4)]);
    let r = r + 4;
    // Only the last bytes in the window: accepted, and only the new bytes delivered.
    let out = h.send(&seg(PA, r - 2, s).data(b"cdef"));
    assert_eq!(fsa(&out), [(ACK, s, r + 2)]);
    let r = r + 2;
    assert_eq!(h.app.data(c), b"abcdef");
    // Wholly old: a duplicate.
    let out = h.send(&seg(PA, r - 6, s).data(b"abcdef"));
    assert_eq!(fsa(&out), [(ACK, s, r)]);
    assert_eq!(h.core.stats().rx_duplicate, 1);
    // Wholly beyond the right edge.
    let out = h.send(&seg(PA, r + W, s).data(b"zz"));
    assert_eq!(fsa(&out), [(ACK, s, r)]);
    assert_eq!(h.core.stats().rx_out_of_window, 3);
    assert_eq!(h.app.data(c), b"abcdef");
    assert_eq!(h.core.state(c), Some(State::Established));
}

/// RCV.WND = 0 rows. The core's receive window never closes (in-order data goes straight
/// to the application, out-of-order data into a ring of the window's size), so these rows
/// are checked on the rule the core applies.
#[test]
fn zero_window_accepts_only_an_empty_segment_at_rcv_nxt() {
    let nxt = Seq(1000);
    assert!(segment_acceptable(nxt, 0, nxt, 0));
    assert!(!segment_acceptable(nxt + 1, 0, nxt, 0));
    assert!(!segment_acceptable(nxt, 1, nxt, 0));
    assert!(!segment_acceptable(nxt - 1, 2, nxt, 0));
}

// ---- RFC 5961 ----

/// RFC 5961 3.2: "If the RST bit is set and the sequence number exactly matches the next
/// expected sequence number (RCV.NXT), then TCP MUST reset the connection."
#[test]
fn rst_exactly_at_rcv_nxt_resets() {
    let (mut h, c, _s, r) = open(TcpConfig::default());
    assert!(h.send(&seg(RST, r, Seq(0))).is_empty());
    assert_eq!(h.app.closed(), [(c, CloseReason::Reset)]);
    assert_eq!(h.core.connections(), 0);
    assert_eq!(h.core.stats().rx_rst, 1);
}

/// RFC 5961 3.2: "If the RST bit is set and the sequence number does not exactly match the
/// next expected sequence value, yet is within the current receive window, TCP MUST send an
/// acknowledgment (challenge ACK): <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>".
#[test]
fn rst_in_window_but_not_exact_gets_a_challenge_ack() {
    const W: u32 = 8192;
    let (mut h, c, s, r) = open(small_window(W));
    for at in [r + 1, r + (W - 1)] {
        let out = h.send(&seg(RST, at, Seq(0)));
        assert_eq!(fsa(&out), [(ACK, s, r)], "RST at {at:?}");
    }
    assert_eq!(h.core.state(c), Some(State::Established));
    assert_eq!(h.core.stats().rx_rst_challenged, 2);
    assert_eq!(h.core.stats().rx_rst, 0);
    assert!(h.app.closed().is_empty());
}

/// RFC 5961 3.2: "If the RST bit is set and the sequence number is outside the current
/// receive window, silently drop the segment."
#[test]
fn rst_outside_the_window_is_dropped_silently() {
    const W: u32 = 8192;
    let (mut h, c, _s, r) = open(small_window(W));
    for at in [r + W, r - 1, r + 0x8000_0000] {
        assert!(h.send(&seg(RST, at, Seq(0))).is_empty(), "RST at {at:?}");
        assert!(h.send(&seg(RA, at, Seq(0))).is_empty(), "RST,ACK at {at:?}");
    }
    assert_eq!(h.core.state(c), Some(State::Established));
    assert_eq!(h.core.stats().rx_rst, 0);
}

/// RFC 5961 4.2: a SYN on a synchronized connection, "regardless of the sequence number",
/// gets a challenge ACK and the connection goes on.
#[test]
fn syn_on_an_established_connection_gets_a_challenge_ack() {
    let (mut h, c, s, r) = open(TcpConfig::default());
    for at in [r, r + 100, r - 5000, Seq(12345)] {
        let out = h.send(&seg(SYN, at, Seq(0)).mss(1460));
        assert_eq!(fsa(&out), [(ACK, s, r)], "SYN at {at:?}");
    }
    assert_eq!(
        h.core.stats().rx_syn_challenged,
        3,
        "the three in the window"
    );
    assert_eq!(h.core.state(c), Some(State::Established));
    assert!(h.app.closed().is_empty());
    // Still usable.
    h.send(&seg(PA, r, s).data(b"ok"));
    assert_eq!(h.app.data(c), b"ok");
}

/// RFC 5961 5.2 / RFC 9293 3.10.7.4 fifth: "If the ACK acknowledges something not yet
/// sent (SEG.ACK > SND.NXT), then send an ACK, drop the segment, and return."
#[test]
fn ack_beyond_snd_nxt_is_answered_and_the_segment_dropped() {
    let (mut h, c, s, r) = open(TcpConfig::default());
    let out = h.send(&seg(PA, r, s + 100).data(b"blind"));
    assert_eq!(fsa(&out), [(ACK, s, r)]);
    assert!(h.app.data(c).is_empty(), "its data is not delivered");
    assert_eq!(h.core.stats().rx_bad_ack, 1);
    assert_eq!(h.core.state(c), Some(State::Established));
}

/// RFC 5961 5.2: the ACK is acceptable only if "(SND.UNA - MAX.SND.WND) =< SEG.ACK =<
/// SND.NXT"; an older one is discarded (with an ACK). Between the two, the ACK field is
/// ignored and the segment processed.
#[test]
fn ack_older_than_the_max_window_is_dropped() {
    let (mut h, c, s, r) = open_with(TcpConfig::default(), plain_syn(1000).window(1000));
    let out = h.send(&seg(PA, r, s - 1001).window(1000).data(b"old"));
    assert_eq!(fsa(&out), [(ACK, s, r)]);
    assert!(h.app.data(c).is_empty());
    let out = h.send(&seg(PA, r, s - 1000).window(1000).data(b"old"));
    assert_eq!(fsa(&out), [(ACK, s, r + 3)]);
    assert_eq!(h.app.data(c), b"old");
}

/// RFC 9293 3.10.7.4 fifth: "If SND.UNA =< SEG.ACK =< SND.NXT, the send window should be
/// updated"; an old ACK (below SND.UNA) is ignored, its window with it.
#[test]
fn old_ack_does_not_update_the_send_window() {
    let (mut h, c, s, r) = open(TcpConfig::default());
    h.act(c, |c| c.send(&[1; 100]));
    h.send(&seg(PA, r, s + 100).data(b"a"));
    assert_eq!(h.core.tcb(c).unwrap().snd_wnd(), 65535);
    h.send(&seg(PA, r + 1, s + 50).window(0).data(b"b"));
    assert_eq!(h.app.data(c), b"ab", "the segment itself is processed");
    assert_eq!(h.core.tcb(c).unwrap().snd_wnd(), 65535, "its window is not");
}

/// RFC 5961 7: challenge ACKs are rate limited (1000 a second here, as Linux once had).
#[test]
fn challenge_acks_are_rate_limited() {
    let (mut h, _c, s, r) = open(TcpConfig::default());
    let mut acks = 0;
    for _ in 0..1500 {
        let out = h.send(&seg(RST, r + 1, Seq(0)));
        assert!(fsa(&out).iter().all(|x| *x == (ACK, s, r)));
        acks += out.len();
    }
    assert_eq!(acks, 1000);
    assert_eq!(h.core.stats().challenge_ack_limited, 500);
    assert_eq!(h.core.stats().rx_rst_challenged, 1500);
    // The bucket refills: one token per millisecond.
    h.advance(ms(1));
    assert_eq!(h.send(&seg(RST, r + 1, Seq(0))).len(), 1);
    assert_eq!(h.send(&seg(RST, r + 1, Seq(0))).len(), 0);
}

// ---- Data (RFC 9293 3.10.7.4 seventh) ----

#[test]
fn in_order_data_is_delivered_at_once() {
    let (mut h, c, s, r) = open(TcpConfig::default());
    let out = h.send(&seg(PA, r, s).data(b"hello"));
    assert_eq!(fsa(&out), [(ACK, s, r + 5)]);
    assert_eq!(
        h.app.events.last(),
        Some(&Event::Data(c, b"hello".to_vec()))
    );
    assert_eq!(h.core.stats().rx_bytes, 5);
}

/// Out-of-order data is held and ACKed at once with the old ACK (RFC 5681 4.2), then
/// delivered in order when the gap fills, with an ACK covering all of it.
#[test]
fn out_of_order_data_is_held_until_the_gap_fills() {
    let (mut h, c, s, r) = open(TcpConfig::default());
    let data = object(3000, 1);
    let out = h.send(&seg(ACK, r + 2000, s).data(&data[2000..]));
    assert_eq!(fsa(&out), [(ACK, s, r)]);
    let out = h.send(&seg(ACK, r + 1000, s).data(&data[1000..2000]));
    assert_eq!(fsa(&out), [(ACK, s, r)]);
    assert!(h.app.data(c).is_empty());
    assert_eq!(h.core.stats().rx_out_of_order, 2);
    let out = h.send(&seg(ACK, r, s).data(&data[..1000]));
    assert_eq!(fsa(&out), [(ACK, s, r + 3000)]);
    assert_eq!(h.app.data(c), data);
}

#[test]
fn duplicate_data_is_delivered_once() {
    let (mut h, c, s, r) = open(TcpConfig::default());
    let data = object(1500, 2);
    h.send(&seg(ACK, r, s).data(&data[..1000]));
    let out = h.send(&seg(ACK, r, s).data(&data[..1000]));
    assert_eq!(fsa(&out), [(ACK, s, r + 1000)]);
    // Overlapping: only the new part.
    h.send(&seg(ACK, r + 500, s).data(&data[500..1500]));
    assert_eq!(h.app.data(c), data);
    // Out of order, twice.
    let extra = object(100, 3);
    h.send(&seg(ACK, r + 1600, s).data(&extra));
    h.send(&seg(ACK, r + 1600, s).data(&extra));
    h.send(&seg(ACK, r + 1500, s).data(&extra));
    let mut want = data.clone();
    want.extend_from_slice(&extra);
    want.extend_from_slice(&extra);
    assert_eq!(h.app.data(c), want);
    assert_eq!(h.core.stats().rx_duplicate, 1);
}

/// RFC 9293 3.10.7.4 seventh: segment text beyond the window is trimmed ("If a segment's
/// contents straddle the boundary between old and new, only the new parts are processed";
/// the same on the right edge: only what fits the window is kept).
#[test]
fn data_beyond_the_window_is_trimmed() {
    const W: u32 = 4096;
    let (mut h, c, s, r) = open(small_window(W));
    let data = object(20_000, 4);
    let out = h.send(&seg(PA, r, s).data(&data[..6000]));
    assert_eq!(fsa(&out), [(ACK, s, r + W)], "only a window's worth taken");
    assert_eq!(h.app.data(c), &data[..W as usize]);
    // Out of order, straddling the right edge: the part inside is held.
    let r2 = r + W;
    let out = h.send(&seg(ACK, r2 + 4000, s).data(&data[8096..8596]));
    assert_eq!(fsa(&out), [(ACK, s, r2)]);
    let out = h.send(&seg(ACK, r2, s).data(&data[4096..8096]));
    assert_eq!(fsa(&out), [(ACK, s, r2 + W)]);
    assert_eq!(h.app.data(c), &data[..8192]);
}

/// A reassembly ring is recycled between connections: one first used by a connection
/// whose window was clamped to 65,535 (no window scaling) must still hold a scaled
/// connection's out-of-order data anywhere in its 256 KiB window.
#[test]
fn out_of_order_data_far_in_a_scaled_window_after_an_unscaled_connection() {
    let mut h = Host::listening(TcpConfig::default());
    let (c1, iss1, irs1) = handshake(&mut h, plain_syn(1000).ports(40001, PORT));
    let (s1, r1) = (iss1 + 1, irs1 + 1);
    h.send(&seg(ACK, r1 + 100, s1).ports(40001, PORT).data(&[1; 100]));
    h.send(&seg(ACK, r1, s1).ports(40001, PORT).data(&[2; 100]));
    assert_eq!(h.app.data(c1).len(), 200);

    let (c2, iss2, irs2) = handshake(&mut h, plain_syn(5000).ws(7));
    let (s2, r2) = (iss2 + 1, irs2 + 1);
    let data = object(101_000, 5);
    let out = h.send(&seg(ACK, r2 + 100_000, s2).data(&data[100_000..]));
    assert_eq!(fsa(&out), [(ACK, s2, r2)]);
    for at in (0..100_000).step_by(1000) {
        h.send(&seg(ACK, r2 + at as u32, s2).data(&data[at..at + 1000]));
    }
    let got = h.app.data(c2);
    assert_eq!(got.len(), data.len());
    assert!(got == data, "the held segment came back corrupted");
}

// ---- FIN (RFC 9293 3.10.7.4 eighth, 3.6) ----

/// 3.6 case 2: the peer closes first; we ACK its FIN (CLOSE-WAIT), close (LAST-ACK), and
/// are done when our FIN is ACKed.
#[test]
fn passive_close_goes_close_wait_last_ack_closed() {
    let (mut h, c, s, r) = open(TcpConfig::default());
    let out = h.send(&seg(FA, r, s));
    assert_eq!(fsa(&out), [(ACK, s, r + 1)]);
    assert_eq!(h.core.state(c), Some(State::CloseWait));
    assert_eq!(h.app.events.last(), Some(&Event::PeerClosed(c)));
    let (_, out) = h.act(c, |c| c.close());
    assert_eq!(fsa(&out), [(FA, s, r + 1)]);
    assert_eq!(h.core.state(c), Some(State::LastAck));
    assert!(h.send(&seg(ACK, r + 1, s + 1)).is_empty());
    assert_eq!(h.core.connections(), 0);
    assert_eq!(h.app.closed(), [(c, CloseReason::Normal)]);
    assert_eq!(h.core.stats().closed, 1);
}

/// 3.6 case 1: we close first: FIN-WAIT-1, FIN-WAIT-2 when our FIN is ACKed, TIME-WAIT on
/// the peer's FIN, freed after 2 MSL (`time_wait`).
#[test]
fn active_close_goes_fin_wait_time_wait_then_freed() {
    let cfg = TcpConfig::default();
    let tw = cfg.time_wait;
    let (mut h, c, s, r) = open(cfg);
    let (_, out) = h.act(c, |c| c.close());
    assert_eq!(fsa(&out), [(FA, s, r)]);
    assert_eq!(h.core.state(c), Some(State::FinWait1));
    assert!(h.send(&seg(ACK, r, s + 1)).is_empty());
    assert_eq!(h.core.state(c), Some(State::FinWait2));
    let out = h.send(&seg(FA, r, s + 1));
    assert_eq!(fsa(&out), [(ACK, s + 1, r + 1)]);
    assert_eq!(h.state(), Some(State::TimeWait));
    assert!(
        h.core.tcb(c).is_none(),
        "TIME-WAIT keeps a small record, not the TCB"
    );
    assert_eq!(h.app.closed(), [(c, CloseReason::Normal)]);
    assert!(h.advance(tw - ms(1)).is_empty());
    assert_eq!(h.core.time_wait_count(), 1);
    h.advance(ms(1));
    assert_eq!(h.core.connections(), 0);
    assert_eq!(h.core.stats().closed, 1);
}

/// TIME-WAIT connections hold no full TCB: 300 connections closed one after another all
/// wait, and every one of them used the same pooled TCB.
#[test]
fn time_wait_connections_give_their_tcb_back() {
    let mut h = Host::listening(TcpConfig::default());
    for port in 42000u16..42300 {
        let (c, iss, irs) = handshake(&mut h, plain_syn(1000).ports(port, PORT));
        let (s, r) = (iss + 1, irs + 1);
        h.act(c, |c| c.close());
        h.send(&seg(ACK, r, s + 1).ports(port, PORT));
        let out = h.send(&seg(FA, r, s + 1).ports(port, PORT));
        assert_eq!(fsa(&out), [(ACK, s + 1, r + 1)]);
        assert_eq!(h.state_with(port), Some(State::TimeWait));
    }
    assert_eq!(h.core.time_wait_count(), 300);
    assert_eq!(h.core.connections(), 300);
    assert_eq!(h.core.full_tcbs(), 1);
}

/// A connection closed by us into TIME-WAIT, timestamps on (the peer's last TSval 120).
fn time_wait_with_timestamps() -> (Host, Handle, Seq, Seq) {
    let (mut h, c, s, r) = open_with(TcpConfig::default(), plain_syn(1000).ts(100, 0));
    h.act(c, |c| c.close());
    h.send(&seg(ACK, r, s + 1).ts(110, 0));
    h.send(&seg(FA, r, s + 1).ts(120, 0));
    assert_eq!(h.state(), Some(State::TimeWait));
    (h, c, s, r)
}

/// A segment to a TIME-WAIT connection is answered by the ordinary rules from what the
/// small record kept: the peer's retransmitted FIN gets an ACK echoing TS.Recent (PAWS
/// state kept), an old timestamp is refused (PAWS), and an in-window RST ends the wait.
#[test]
fn time_wait_answers_from_its_record_with_timestamps_and_resets() {
    let (mut h, c, s, r) = time_wait_with_timestamps();
    let out = h.send(&seg(FA, r, s + 1).ts(130, 0));
    assert_eq!(fsa(&out), [(ACK, s + 1, r + 1)]);
    // TS.Recent is the first FIN's (RFC 7323 4.3: a duplicate does not update it).
    assert_eq!(out[0].options().timestamps.map(|t| t.1), Some(120), "TSecr");
    assert_eq!(h.state(), Some(State::TimeWait));
    let paws = h.core.stats().rx_paws;
    h.send(&seg(FA, r, s + 1).ts(50, 0));
    assert_eq!(
        h.core.stats().rx_paws,
        paws + 1,
        "an older timestamp fails PAWS"
    );
    assert!(h.send(&seg(RST, r + 1, Seq(0))).is_empty());
    assert_eq!(h.core.state(c), None);
    assert_eq!(h.core.connections(), 0);
    assert_eq!(h.core.full_tcbs(), 1);
}

/// Close a connection from `port` actively (our FIN first) into TIME-WAIT.
fn close_into_time_wait(h: &mut Host, port: u16, isn: u32) {
    let (c, iss, irs) = handshake(h, plain_syn(isn).ports(port, PORT));
    let (s, r) = (iss + 1, irs + 1);
    h.act(c, |c| c.close());
    h.send(&seg(ACK, r, s + 1).ports(port, PORT));
    h.send(&seg(FA, r, s + 1).ports(port, PORT));
    assert_eq!(h.core.state(c), None, "no longer an open connection");
    assert_eq!(h.state_with(port), Some(State::TimeWait));
}

/// TIME-WAIT has a bounded cost and never keeps an open connection out: its records are
/// kept apart from the `max_connections` open ones, at most `max_time_wait` of them, the
/// oldest ending early (and counted) when a new one needs the room.
#[test]
fn time_wait_has_its_own_bounded_table() {
    let cfg = TcpConfig {
        max_connections: 2,
        max_time_wait: 2,
        ..TcpConfig::default()
    };
    let mut h = Host::listening(cfg);
    close_into_time_wait(&mut h, 41000, 1000);
    close_into_time_wait(&mut h, 41001, 1000);
    assert_eq!(h.core.time_wait_count(), 2);
    // Both open slots are still free for new connections.
    for port in [41002u16, 41003] {
        let out = h.send(&plain_syn(5000).ports(port, PORT));
        assert_eq!(out[0].flags(), SA, "the SYN is answered");
    }
    assert_eq!(h.core.stats().table_full, 0);
    assert_eq!(h.core.stats().time_wait_recycled, 0);
    assert_eq!(h.core.connections(), 4);
    // The open table is full now: a fifth connection is refused, TIME-WAIT untouched.
    assert!(h.send(&plain_syn(5000).ports(41004, PORT)).is_empty());
    assert_eq!(h.core.stats().table_full, 1);
    assert_eq!(h.core.time_wait_count(), 2);
    // Finish the two half-open ones by closing them into TIME-WAIT: each new record
    // ends the oldest wait early.
    let mut h = Host::listening(TcpConfig {
        max_connections: 2,
        max_time_wait: 2,
        ..TcpConfig::default()
    });
    for (k, port) in [42000u16, 42001, 42002, 42003].into_iter().enumerate() {
        close_into_time_wait(&mut h, port, 1000);
        assert_eq!(
            h.core.stats().time_wait_recycled,
            k.saturating_sub(1) as u64
        );
    }
    assert_eq!(h.core.time_wait_count(), 2);
    assert_eq!(h.state_with(42000), None, "ended early");
    assert_eq!(h.state_with(42001), None, "ended early");
    assert_eq!(h.state_with(42003), Some(State::TimeWait));
}

/// With no TIME-WAIT kept (`max_time_wait` 0) a closed connection is gone at once, counted.
#[test]
fn no_time_wait_kept_when_its_budget_is_zero() {
    let mut h = Host::listening(TcpConfig {
        max_time_wait: 0,
        ..TcpConfig::default()
    });
    let (c, iss, irs) = handshake(&mut h, plain_syn(1000));
    let (s, r) = (iss + 1, irs + 1);
    h.act(c, |c| c.close());
    h.send(&seg(ACK, r, s + 1));
    h.send(&seg(FA, r, s + 1));
    assert_eq!(h.state(), None);
    assert_eq!(h.core.connections(), 0);
    assert_eq!(h.core.stats().time_wait_recycled, 1);
}

/// Waits end in order at their own time, a restarted one (retransmitted FIN) later than
/// those that began after it, and other segments (a plain ACK) do not move a wait.
#[test]
fn time_wait_records_end_at_their_own_time() {
    let cfg = TcpConfig::default();
    let tw = cfg.time_wait;
    let mut h = Host::listening(cfg);
    let mut seqs = Vec::new();
    for port in [43000u16, 43001, 43002] {
        let (c, iss, irs) = handshake(&mut h, plain_syn(1000).ports(port, PORT));
        let (s, r) = (iss + 1, irs + 1);
        h.act(c, |c| c.close());
        h.send(&seg(ACK, r, s + 1).ports(port, PORT));
        h.send(&seg(FA, r, s + 1).ports(port, PORT));
        seqs.push((s, r));
        h.advance(ms(10));
    }
    // 43000's wait restarts; 43001 gets an ACK, which changes nothing.
    let (s0, r0) = seqs[0];
    let out = h.send(&seg(FA, r0, s0 + 1).ports(43000, PORT));
    assert_eq!(fsa(&out), [(ACK, s0 + 1, r0 + 1)]);
    let (s1, r1) = seqs[1];
    h.send(&seg(ACK, r1 + 1, s1 + 1).ports(43001, PORT));
    // The waits began 30, 20 and 10 ms ago; 43000's restarted now.
    h.advance(tw - ms(20));
    assert_eq!(h.state_with(43001), None, "its wait is over");
    assert_eq!(h.state_with(43002), Some(State::TimeWait));
    h.advance(ms(10));
    assert_eq!(h.state_with(43002), None);
    assert_eq!(h.state_with(43000), Some(State::TimeWait), "restarted");
    h.advance(ms(10) - ms(1));
    assert_eq!(h.state_with(43000), Some(State::TimeWait));
    h.advance(ms(1));
    assert_eq!(h.state_with(43000), None);
    assert_eq!(h.core.connections(), 0);
    assert_eq!(h.core.stats().closed, 3);
    assert_eq!(h.core.poll_timeout(), None);
}

/// A server closing connection after connection keeps reusing the same open-table slot
/// (and so the application's state indexed by it) while the TIME-WAIT records pile up.
#[test]
fn closed_connections_leave_their_slot_to_the_next_one() {
    let mut h = Host::listening(TcpConfig::default());
    let mut slots = std::collections::HashSet::new();
    for port in 44000u16..44200 {
        let (c, iss, irs) = handshake(&mut h, plain_syn(1000).ports(port, PORT));
        slots.insert(c.index());
        let (s, r) = (iss + 1, irs + 1);
        h.act(c, |c| c.close());
        h.send(&seg(ACK, r, s + 1).ports(port, PORT));
        h.send(&seg(FA, r, s + 1).ports(port, PORT));
    }
    assert_eq!(slots.len(), 1, "{slots:?}");
    assert_eq!(h.core.time_wait_count(), 200);
}

/// 3.6 case 3: both close at once: FIN-WAIT-1, CLOSING on the peer's FIN, TIME-WAIT when
/// our FIN is ACKed.
#[test]
fn simultaneous_close_goes_closing_then_time_wait() {
    let (mut h, c, s, r) = open(TcpConfig::default());
    let (_, out) = h.act(c, |c| c.close());
    assert_eq!(fsa(&out), [(FA, s, r)]);
    let out = h.send(&seg(FA, r, s));
    assert_eq!(fsa(&out), [(ACK, s + 1, r + 1)]);
    assert_eq!(h.core.state(c), Some(State::Closing));
    assert!(h.send(&seg(ACK, r + 1, s + 1)).is_empty());
    assert_eq!(h.state(), Some(State::TimeWait));
}

/// A FIN that arrives ahead of missing data takes effect when the data before it does.
#[test]
fn fin_out_of_order_is_processed_when_the_gap_fills() {
    let (mut h, c, s, r) = open(TcpConfig::default());
    let out = h.send(&seg(FIN | PA, r + 5, s).data(b"world"));
    assert_eq!(fsa(&out), [(ACK, s, r)]);
    assert_eq!(h.core.state(c), Some(State::Established));
    let out = h.send(&seg(ACK, r, s).data(b"hello"));
    assert_eq!(fsa(&out), [(ACK, s, r + 11)]);
    assert_eq!(h.app.data(c), b"helloworld");
    assert_eq!(h.core.state(c), Some(State::CloseWait));
    assert_eq!(h.app.events.last(), Some(&Event::PeerClosed(c)));
}

/// TIME-WAIT: "The only thing that can arrive in this state is a retransmission of the
/// remote FIN. Acknowledge it, and restart the 2 MSL timeout."
#[test]
fn retransmitted_fin_in_time_wait_is_acked_and_restarts_the_wait() {
    let cfg = TcpConfig::default();
    let tw = cfg.time_wait;
    let (mut h, c, s, r) = open(cfg);
    h.act(c, |c| c.close());
    h.send(&seg(ACK, r, s + 1));
    h.send(&seg(FA, r, s + 1));
    assert_eq!(h.state(), Some(State::TimeWait));
    h.advance(tw / 2);
    let out = h.send(&seg(FA, r, s + 1));
    assert_eq!(fsa(&out), [(ACK, s + 1, r + 1)]);
    h.advance(tw / 2 + ms(1));
    assert_eq!(h.state(), Some(State::TimeWait), "the wait restarted");
    h.advance(tw / 2);
    assert_eq!(h.core.connections(), 0);
}

/// RFC 6191 / RFC 9293 3.10.7.4: a SYN for a TIME-WAIT four-tuple with a sequence number
/// beyond the old connection's opens a new one; an older SYN gets an ACK.
#[test]
fn syn_with_higher_seq_in_time_wait_opens_a_new_connection() {
    let (mut h, c, s, r) = open(TcpConfig::default());
    h.act(c, |c| c.close());
    h.send(&seg(ACK, r, s + 1));
    h.send(&seg(FA, r, s + 1));
    assert_eq!(h.state(), Some(State::TimeWait));
    let out = h.send(&seg(SYN, r - 10, Seq(0)).mss(1460));
    assert_eq!(fsa(&out), [(ACK, s + 1, r + 1)], "old SYN: an ACK");
    assert_eq!(h.state(), Some(State::TimeWait));
    let isn = r + 100_000;
    let out = h.send(&seg(SYN, isn, Seq(0)).mss(1460));
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].flags(), out[0].ack()), (SA, isn + 1));
    assert_eq!(h.core.connections(), 1);
    assert_eq!(h.state(), Some(State::SynReceived));
    // And it completes.
    let sa = out[0].seq();
    h.send(&seg(ACK, isn + 1, sa + 1));
    assert_eq!(h.state(), Some(State::Established));
}

/// RFC 6191 2: with timestamps on both incarnations the timestamp decides: a newer one
/// opens the new connection whatever its sequence number; an older one does not.
#[test]
fn syn_with_newer_timestamp_in_time_wait_opens_a_new_connection() {
    let (mut h, _, s, r) = time_wait_with_timestamps();
    let out = h.send(&seg(SYN, r + 100_000, Seq(0)).mss(1460).ts(90, 0));
    assert_eq!(fsa(&out), [(ACK, s + 1, r + 1)], "older timestamp");
    assert_eq!(h.state(), Some(State::TimeWait));
    let out = h.send(&seg(SYN, r - 100, Seq(0)).mss(1460).ts(130, 0));
    assert_eq!(
        (out[0].flags(), out[0].ack()),
        (SA, r - 99),
        "newer timestamp"
    );
    assert_eq!(h.state(), Some(State::SynReceived));
}

// ---- SYN cookies (RFC 4987 3.6) ----

fn cookie_cfg() -> TcpConfig {
    TcpConfig {
        syn_backlog: 1,
        ..TcpConfig::default()
    }
}

/// With the backlog full, a SYN gets a SYN-ACK whose ISN is a cookie and no TCB; the ACK
/// returning the cookie creates the connection, ESTABLISHED, with the MSS class, window
/// scale and SACK the cookie encoded.
#[test]
fn syn_cookie_when_the_backlog_is_full() {
    let mut h = Host::listening(cookie_cfg());
    let out = h.send(&plain_syn(1).ports(40001, PORT));
    assert_eq!(out[0].flags(), SA);
    assert_eq!(h.core.connections(), 1, "a real half-open TCB");

    let syn = seg(SYN, Seq(5000), Seq(0))
        .mss(1400)
        .ws(5)
        .sack_ok()
        .ts(77, 0)
        .window(1000);
    let out = h.send(&syn);
    assert_eq!(out.len(), 1);
    let sa = &out[0];
    assert_eq!((sa.flags(), sa.ack()), (SA, Seq(5001)));
    let o = sa.options();
    assert_eq!(
        (o.mss, o.window_scale, o.sack_permitted, o.timestamps),
        (Some(1460), Some(3), true, None),
        "a cookie SYN-ACK cannot remember timestamps"
    );
    assert_eq!(h.core.connections(), 1, "no TCB for a cookie");
    assert_eq!(h.core.stats().syn_cookies_sent, 1);
    let cookie = sa.seq();
    let cookies = SynCookies::new(keys(7)[2]);
    assert_eq!(
        cookies.check(h.now, host_addr(), peer_addr(), Seq(5000), cookie),
        Some(CookieData {
            mss: 1220,
            window_scale: Some(5),
            sack_permitted: true
        })
    );

    assert!(h
        .send(&seg(ACK, Seq(5001), cookie + 1).window(1000))
        .is_empty());
    let c = h.handle().expect("the cookie made a connection");
    assert_eq!(h.core.state(c), Some(State::Established));
    assert_eq!(h.app.events, [Event::Accepted(c)]);
    assert_eq!(h.core.stats().syn_cookies_accepted, 1);
    let tcb = h.core.tcb(c).unwrap();
    assert_eq!(tcb.smss(), 1220, "the MSS class not above the peer's 1400");
    assert_eq!(tcb.options(), (false, true), "SACK on, timestamps off");
    assert_eq!(tcb.snd_wnd(), 1000 << 5, "the peer's shift applies");
    // Our shift applies to the window we advertise.
    let out = h.send(&seg(PA, Seq(5001), cookie + 1).window(1000).data(b"hi"));
    assert_eq!(fsa(&out), [(ACK, cookie + 1, Seq(5003))]);
    assert_eq!(out[0].window(), ((256 * 1024) >> 3) as u16);
    assert_eq!(h.app.data(c), b"hi");
}

/// RFC 4987 3.6: an ACK whose cookie does not check is refused like any ACK to a
/// listener: <SEQ=SEG.ACK><CTL=RST>.
#[test]
fn forged_cookie_ack_gets_rst() {
    let mut h = Host::listening(cookie_cfg());
    h.send(&plain_syn(1).ports(40001, PORT));
    let out = h.send(&plain_syn(5000));
    let cookie = out[0].seq();
    let out = h.send(&seg(ACK, Seq(5001), cookie + 2));
    assert_eq!(fsa(&out), [(RST, cookie + 2, Seq(0))], "wrong cookie");
    let out = h.send(&seg(ACK, Seq(6001), cookie + 1));
    assert_eq!(fsa(&out), [(RST, cookie + 1, Seq(0))], "wrong peer ISN");
    assert_eq!(h.core.stats().syn_cookies_rejected, 2);
    assert_eq!(h.core.connections(), 1);
    // The genuine one still works, and its ACK may carry data.
    let out = h.send(&seg(PA, Seq(5001), cookie + 1).data(b"GET /"));
    assert_eq!(fsa(&out), [(ACK, cookie + 1, Seq(5006))]);
    assert_eq!(h.core.connections(), 2);
    let c = h.handle().unwrap();
    assert_eq!(h.app.data(c), b"GET /");
}

/// RFC 4987 3.6: a cookie carries a timestamp and expires (here after 64 to 128 s).
#[test]
fn expired_cookie_ack_gets_rst() {
    let mut h = Host::listening(cookie_cfg());
    h.send(&plain_syn(1).ports(40001, PORT));
    let out = h.send(&plain_syn(5000));
    let cookie = out[0].seq();
    h.advance(Duration::from_secs(129));
    let out = h.send(&seg(ACK, Seq(5001), cookie + 1));
    assert_eq!(fsa(&out), [(RST, cookie + 1, Seq(0))]);
    assert_eq!(h.core.stats().syn_cookies_rejected, 1);
    assert!(h.handle().is_none());
}

// ---- PAWS (RFC 7323 5) ----

/// RFC 7323 5.3 R1: "If ... SEG.TSval < TS.Recent ... and if the RST bit is not set, then
/// treat the arriving segment as not acceptable: Send an acknowledgment in reply ... and
/// drop the segment."
#[test]
fn paws_drops_an_old_timestamp_with_an_ack_but_not_a_rst() {
    let (mut h, c, s, r) = open_with(TcpConfig::default(), plain_syn(1000).ts(100, 0));
    let out = h.send(&seg(PA, r, s).ts(200, 0).data(b"a"));
    assert_eq!(fsa(&out), [(ACK, s, r + 1)]);
    let r = r + 1;
    let out = h.send(&seg(PA, r, s).ts(150, 0).data(b"b"));
    assert_eq!(fsa(&out), [(ACK, s, r)]);
    assert_eq!(out[0].options().timestamps.map(|t| t.1), Some(200));
    assert_eq!(h.app.data(c), b"a");
    assert_eq!(h.core.stats().rx_paws, 1);
    // Not older: accepted.
    h.send(&seg(PA, r, s).ts(200, 0).data(b"b"));
    assert_eq!(h.app.data(c), b"ab");
    let r = r + 1;
    assert!(h.send(&seg(RST, r, Seq(0)).ts(1, 0)).is_empty());
    assert_eq!(h.app.closed(), [(c, CloseReason::Reset)]);
}

// ---- Zero window and persist (RFC 9293 3.8.6.1) ----

/// "The sending TCP MUST regularly retransmit to the receiving TCP even when the window is
/// zero" (MUST-36), at intervals that back off; sending resumes when the window opens.
#[test]
fn zero_window_stops_sending_and_probes_with_backoff() {
    let (mut h, c, s, r) = open_with(TcpConfig::default(), plain_syn(1000).window(0));
    let data = object(5000, 6);
    let (n, out) = h.act(c, |c| c.send(&data));
    assert_eq!(n, 5000);
    assert!(out.is_empty(), "nothing fits a zero window");
    let t0 = h.now;
    let out = h.advance(Duration::from_secs(13));
    assert!(out.len() >= 5, "{out:?}");
    let mut last = t0;
    let mut gaps = Vec::new();
    for (t, p) in &out {
        assert_eq!(p.fsa(), (ACK, s - 1, r), "a probe");
        assert!(p.payload.is_empty());
        gaps.push(*t - last);
        last = *t;
    }
    for i in 1..gaps.len() {
        assert_eq!(gaps[i], gaps[i - 1] * 2, "intervals double: {gaps:?}");
    }
    assert_eq!(h.core.stats().window_probes, out.len() as u64);
    // The peer answers a probe with an open window: the data goes out.
    let out = h.send(&seg(ACK, r, s).window(65535));
    let sent: usize = data_of(&out).iter().map(|d| d.1).sum();
    assert_eq!(sent, 5000);
    assert_eq!(out[0].seq(), s);
    let mut got = Vec::new();
    for p in &out {
        got.extend_from_slice(&p.payload);
    }
    assert_eq!(got, data);
    h.send(&seg(ACK, r, s + 5000));
    let acked: usize = h
        .app
        .events
        .iter()
        .map(|e| match e {
            Event::Acked(_, n) => *n,
            _ => 0,
        })
        .sum();
    assert_eq!(acked, 5000);
    assert!(
        h.advance(Duration::from_secs(120)).is_empty(),
        "no more probes"
    );
}

/// The window closes with data in flight (the peer took half and has no room for the
/// rest): the unacknowledged data waits, probes keep asking, and when the window opens
/// the rest goes out and the transfer completes byte-exact.
#[test]
fn window_closing_mid_transfer_resumes_when_it_opens() {
    let (mut h, c, s, r) = open(TcpConfig::default());
    let data = object(14_600, 10);
    let (_, out) = h.act(c, |c| c.send(&data));
    assert_eq!(data_of(&out).len(), 10);
    let half = s + 7300;
    assert!(data_of(&h.send(&seg(ACK, r, half).window(0))).is_empty());
    let out = h.advance(Duration::from_secs(10));
    assert!(
        out.iter().all(|(_, p)| p.payload.is_empty()),
        "nothing beyond a zero window: {out:?}"
    );
    assert!(h.core.stats().window_probes > 0);
    // ACK what comes (the RTO during the wait shrank cwnd: RFC 5681 3.1 loss window).
    let mut got = data[..7300].to_vec();
    let mut out = h.send(&seg(ACK, r, half).window(65535));
    for _ in 0..20 {
        if out.is_empty() {
            break;
        }
        for p in &out {
            assert_eq!(p.seq(), s + got.len() as u32, "in order, once");
            got.extend_from_slice(&p.payload);
        }
        out = h.send(&seg(ACK, r, s + got.len() as u32).window(65535));
    }
    assert!(got == data);
    assert_eq!(h.core.tcb(c).unwrap().queued(), 0);
    assert_eq!(h.core.state(c), Some(State::Established));
}

// ---- Window scale (RFC 7323 2) ----

/// RFC 7323 2.2: the SYN carries our shift; "The window field in a segment where the SYN
/// bit is set (i.e., a <SYN> or <SYN,ACK>) MUST NOT be scaled"; later windows are shifted.
#[test]
fn window_scale_applies_to_non_syn_segments_only() {
    let mut h = Host::new(TcpConfig::default());
    let (c, out) = h.connect();
    let iss = out[0].seq();
    assert_eq!(out[0].options().window_scale, Some(3));
    assert_eq!(out[0].window(), 65535);
    let out = h.send(&seg(SA, Seq(9000), iss + 1).mss(1460).ws(4).window(1000));
    assert_eq!(fsa(&out), [(ACK, iss + 1, Seq(9001))]);
    assert_eq!(
        out[0].window(),
        ((256 * 1024) >> 3) as u16,
        "our window, scaled"
    );
    assert_eq!(
        h.core.tcb(c).unwrap().snd_wnd(),
        1000,
        "SYN window not scaled"
    );
    h.send(&seg(ACK, Seq(9001), iss + 1).window(1000));
    assert_eq!(h.core.tcb(c).unwrap().snd_wnd(), 16_000);
}

/// RFC 7323 2.2: without the option from both sides neither shifts, and we cannot
/// advertise more than 65,535.
#[test]
fn without_window_scale_on_both_sides_nothing_is_scaled() {
    // We offer it, the peer does not.
    let mut h = Host::new(TcpConfig::default());
    let (c, out) = h.connect();
    let iss = out[0].seq();
    let out = h.send(&seg(SA, Seq(9000), iss + 1).mss(1460).window(1000));
    assert_eq!(out[0].window(), 65535);
    h.send(&seg(ACK, Seq(9001), iss + 1).window(1000));
    assert_eq!(h.core.tcb(c).unwrap().snd_wnd(), 1000);
    let out = h.send(&seg(PA, Seq(9001), iss + 1).window(1000).data(b"x"));
    assert_eq!(out[0].window(), 65535);

    // The peer offers it, we do not.
    let cfg = TcpConfig {
        window_scaling: false,
        recv_window: 65535,
        ..TcpConfig::default()
    };
    let mut h = Host::listening(cfg);
    let out = h.send(&plain_syn(1000).ws(7).window(1000));
    assert_eq!(out[0].options().window_scale, None);
    let iss = out[0].seq();
    let out = h.send(&seg(PA, Seq(1001), iss + 1).window(1000).data(b"x"));
    assert_eq!(out[0].window(), 65535);
    let c = h.handle().unwrap();
    assert_eq!(h.core.tcb(c).unwrap().snd_wnd(), 1000);
}

// ---- SACK (RFC 2018) ----

/// RFC 2018 4: "The first SACK block ... MUST specify the contiguous block of data
/// containing the segment which triggered this ACK"; the others follow most recent first,
/// as many as fit: 3 with timestamps.
#[test]
fn out_of_order_data_is_sacked_most_recent_first() {
    let syn = plain_syn(1000).sack_ok().ts(100, 0);
    let (mut h, _c, s, r) = open_with(TcpConfig::default(), syn);
    let block = |a: u32, b: u32| (r + a, r + b);
    let mut expect = Vec::new();
    for (i, at) in [100u32, 300, 500, 700].into_iter().enumerate() {
        let out = h.send(&seg(ACK, r + at, s).ts(101, 0).data(&[9; 100]));
        assert_eq!(fsa(&out), [(ACK, s, r)]);
        expect.insert(0, block(at, at + 100));
        expect.truncate(3);
        assert_eq!(out[0].sack(), expect, "after segment {i}");
    }
    // A segment bridging two blocks makes the merged block the first.
    let out = h.send(&seg(ACK, r + 200, s).ts(102, 0).data(&[9; 100]));
    assert_eq!(
        out[0].sack(),
        [block(100, 400), block(700, 800), block(500, 600)]
    );
    // Filling the front: delivered, and the blocks left move up.
    let out = h.send(&seg(ACK, r, s).ts(103, 0).data(&[9; 100]));
    assert_eq!(fsa(&out), [(ACK, s, r + 400)]);
    assert_eq!(out[0].sack(), [block(700, 800), block(500, 600)]);
}

/// Without timestamps four SACK blocks fit (RFC 2018 3: 40 option bytes).
#[test]
fn sack_without_timestamps_carries_four_blocks() {
    let (mut h, _c, s, r) = open_with(TcpConfig::default(), plain_syn(1000).sack_ok());
    let mut last = Vec::new();
    for at in [100u32, 300, 500, 700, 900] {
        last = h.send(&seg(ACK, r + at, s).data(&[9; 100]));
    }
    let want: Vec<_> = [900u32, 700, 500, 300]
        .iter()
        .map(|&a| (r + a, r + a + 100))
        .collect();
    assert_eq!(last[0].sack(), want);
}

/// Ten segments sent, segments 1 and 4 lost. The peer's SACKs name what arrived; the
/// sender retransmits exactly the two holes (RFC 6675), nothing SACKed.
#[test]
fn sack_sender_retransmits_only_the_holes() {
    let (mut h, c, s, r) = open_with(TcpConfig::default(), plain_syn(1000).sack_ok());
    let data = object(14_600, 7);
    let (_, out) = h.act(c, |c| c.send(&data));
    let sent = data_of(&out);
    assert_eq!(sent.len(), 10, "IW10");
    let at = |k: u32| s + k * 1460;
    assert_eq!(sent[4], (at(4), 1460));
    let mut rexmit = Vec::new();
    let mut ack = |h: &mut Host, b: SegBuilder| rexmit.extend(data_of(&h.send(&b)));
    ack(&mut h, seg(ACK, r, at(1)));
    let mut high = vec![(at(2), at(3))];
    for k in [2u32, 3, 5, 6, 7, 8, 9] {
        match k {
            2 => {}
            3 => high[0].1 = at(4),
            5 => high.insert(0, (at(5), at(6))),
            _ => high[0].1 = at(k + 1),
        }
        ack(&mut h, seg(ACK, r, at(1)).sack(&high));
    }
    ack(&mut h, seg(ACK, r, at(10)));
    assert_eq!(rexmit, [(at(1), 1460), (at(4), 1460)]);
    assert_eq!(h.core.stats().fast_retransmits, 1);
    assert_eq!(h.core.stats().retransmits, 2);
    assert_eq!(h.core.tcb(c).unwrap().queued(), 0);
}

/// RFC 6582 3.2 step 4: without SACK, a partial ACK (one that acknowledges some but not
/// all of what was outstanding when recovery began) retransmits the next segment at once.
#[test]
fn newreno_partial_ack_retransmits_the_next_hole() {
    let (mut h, c, s, r) = open(TcpConfig::default());
    let data = object(14_600, 8);
    let (_, out) = h.act(c, |c| c.send(&data));
    assert_eq!(data_of(&out).len(), 10);
    let at = |k: u32| s + k * 1460;
    let mut rexmit = Vec::new();
    let mut ack = |h: &mut Host, b: SegBuilder| rexmit.extend(data_of(&h.send(&b)));
    ack(&mut h, seg(ACK, r, at(1)));
    for _ in [2, 3, 5] {
        ack(&mut h, seg(ACK, r, at(1)));
    }
    assert_eq!(h.core.stats().fast_retransmits, 1);
    for _ in 6..10 {
        ack(&mut h, seg(ACK, r, at(1)));
    }
    // The retransmitted segment 1 filled the peer's gap up to segment 4.
    ack(&mut h, seg(ACK, r, at(4)));
    ack(&mut h, seg(ACK, r, at(10)));
    assert_eq!(rexmit, [(at(1), 1460), (at(4), 1460)]);
    assert_eq!(h.core.tcb(c).unwrap().queued(), 0);
}

// ---- Retransmission timeout (RFC 6298, RFC 9293 3.8.3) ----

/// RFC 6298 5.4-5.5: on expiry, retransmit the earliest unacknowledged segment and double
/// the RTO; RFC 9293 3.8.3 R2: after `max_retransmits`, give up and reset.
#[test]
fn lost_segment_is_retransmitted_with_backoff_then_the_connection_reset() {
    let cfg = TcpConfig {
        max_retransmits: 4,
        ..TcpConfig::default()
    };
    let (mut h, c, s, r) = open(cfg);
    let (_, out) = h.act(c, |c| c.send(&[5; 100]));
    assert_eq!(data_of(&out), [(s, 100)]);
    let t0 = h.now;
    let rto0 = h.core.tcb(c).unwrap().rto();
    let out = h.advance(Duration::from_secs(120));
    let times: Vec<Instant> = out.iter().map(|(t, _)| *t).collect();
    let trace: Vec<_> = out
        .iter()
        .map(|(_, p)| (p.fsa(), p.payload.len()))
        .collect();
    assert_eq!(
        trace,
        [
            ((PA, s, r), 100),
            ((PA, s, r), 100),
            ((PA, s, r), 100),
            ((PA, s, r), 100),
            ((RA, s + 100, r), 0)
        ]
    );
    let mut last = t0;
    for (i, t) in times.iter().enumerate() {
        assert_eq!(*t - last, rto0 * (1 << i), "expiry {i}");
        last = *t;
    }
    assert_eq!(h.app.closed(), [(c, CloseReason::TimedOut)]);
    assert_eq!(h.core.stats().retransmit_timeouts, 1);
    assert_eq!(h.core.connections(), 0);
}

/// Karn (RFC 6298 5, 3): an ACK for retransmitted data gives no RTT sample, so the
/// backed-off RTO stays until a segment sent once is ACKed.
#[test]
fn karn_keeps_the_backed_off_rto_until_a_clean_sample() {
    let (mut h, c, s, r) = open(TcpConfig::default());
    let rto0 = h.core.tcb(c).unwrap().rto();
    h.act(c, |c| c.send(&[5; 100]));
    let out = h.advance(rto0);
    assert_eq!(out.len(), 1, "one retransmission");
    assert_eq!(h.core.tcb(c).unwrap().rto(), rto0 * 2);
    h.advance(ms(30));
    h.send(&seg(ACK, r, s + 100));
    assert_eq!(
        h.core.tcb(c).unwrap().rto(),
        rto0 * 2,
        "no sample from a retransmission"
    );
    h.act(c, |c| c.send(&[6; 100]));
    h.advance(ms(30));
    h.send(&seg(ACK, r, s + 200));
    assert_eq!(
        h.core.tcb(c).unwrap().rto(),
        rto0,
        "a clean sample collapses it"
    );
}

// ---- Delayed ACK (RFC 9293 3.8.6.3, RFC 5681 4.2) ----

#[test]
fn one_full_segment_is_acked_after_the_delayed_ack_timer() {
    let cfg = TcpConfig::default();
    let delay = cfg.delayed_ack;
    let (mut h, _c, s, r) = open(cfg);
    assert!(h.send(&seg(ACK, r, s).data(&[1; 1460])).is_empty());
    assert!(h.advance(delay - ms(1)).is_empty());
    let out = h.advance(ms(1));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1.fsa(), (ACK, s, r + 1460));
}

#[test]
fn second_full_segment_is_acked_at_once() {
    let (mut h, _c, s, r) = open(TcpConfig::default());
    assert!(h.send(&seg(ACK, r, s).data(&[1; 1460])).is_empty());
    let out = h.send(&seg(ACK, r + 1460, s).data(&[2; 1460]));
    assert_eq!(fsa(&out), [(ACK, s, r + 2920)]);
    assert!(h.advance(ms(500)).is_empty(), "and no delayed ACK after it");
}

#[test]
fn a_receive_batch_acks_its_full_segments_once_at_its_end() {
    let (mut h, _c, s, r) = open(TcpConfig::default());
    h.begin_batch();
    for i in 0..6u32 {
        let out = h.send(&seg(ACK, r + i * 1460, s).data(&[i as u8; 1460]));
        assert!(
            out.is_empty(),
            "segment {i}: nothing before the batch ends: {out:?}"
        );
    }
    assert_eq!(fsa(&h.end_batch()), [(ACK, s, r + 6 * 1460)]);
    assert!(h.end_batch().is_empty(), "owed once");
    assert!(h.advance(ms(500)).is_empty(), "and no delayed ACK after it");
    // A single full segment in a batch still waits for the delayed-ACK timer.
    let delay = TcpConfig::default().delayed_ack;
    h.begin_batch();
    assert!(h
        .send(&seg(ACK, r + 6 * 1460, s).data(&[7; 1460]))
        .is_empty());
    assert!(h.end_batch().is_empty());
    let out = h.advance(delay);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1.fsa(), (ACK, s, r + 7 * 1460));
}

#[test]
fn in_a_batch_short_pushed_and_out_of_order_segments_are_acked_at_once() {
    let (mut h, _c, s, r) = open(TcpConfig::default());
    h.begin_batch();
    // A short segment ends a message: at once.
    assert_eq!(
        fsa(&h.send(&seg(ACK, r, s).data(&[1; 100]))),
        [(ACK, s, r + 100)]
    );
    // PSH: at once.
    let psh = TcpFlags::ACK | TcpFlags::PSH;
    assert_eq!(
        fsa(&h.send(&seg(psh, r + 100, s).data(&[2; 1460]))),
        [(ACK, s, r + 1560)]
    );
    // Out of order: a duplicate ACK at once (with SACK when agreed).
    let out = h.send(&seg(ACK, r + 1560 + 1460, s).data(&[3; 1460]));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].fsa(), (ACK, s, r + 1560));
    // Filling the gap: at once.
    assert_eq!(
        fsa(&h.send(&seg(ACK, r + 1560, s).data(&[4; 1460]))),
        [(ACK, s, r + 1560 + 2 * 1460)]
    );
    assert!(h.end_batch().is_empty(), "nothing left owed");
}

#[test]
fn data_sent_inside_a_batch_carries_the_owed_ack() {
    let (mut h, c, s, r) = open(TcpConfig::default());
    h.begin_batch();
    assert!(h.send(&seg(ACK, r, s).data(&[1; 1460])).is_empty());
    assert!(h.send(&seg(ACK, r + 1460, s).data(&[2; 1460])).is_empty());
    let (_, out) = h.act(c, |c| c.send(&[9; 10]));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].fsa(), (TcpFlags::ACK | TcpFlags::PSH, s, r + 2920));
    assert!(h.end_batch().is_empty(), "the data segment carried it");
}

// ---- Keep-alive (RFC 9293 3.8.4, RFC 1122 4.2.3.6) ----

#[test]
fn keepalive_probes_after_idle_and_resets_when_unanswered() {
    let ka = Keepalive {
        idle: Duration::from_secs(10),
        interval: Duration::from_secs(1),
        probes: 3,
    };
    let cfg = TcpConfig {
        keepalive: Some(ka),
        ..TcpConfig::default()
    };
    let (mut h, c, s, r) = open(cfg);
    let probe = (ACK, s - 1, r);
    assert!(h.advance(ka.idle - ms(1)).is_empty());
    let out = h.advance(ms(1));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1.fsa(), probe, "<SEQ=SND.NXT-1>");
    // Answered: the idle time starts again.
    h.send(&seg(ACK, r, s));
    let t = h.now;
    let out = h.advance(Duration::from_secs(20));
    let trace: Vec<_> = out.iter().map(|(at, p)| (*at - t, p.fsa())).collect();
    let sec = Duration::from_secs;
    assert_eq!(
        trace,
        [
            (sec(10), probe),
            (sec(11), probe),
            (sec(12), probe),
            (sec(13), (RA, s, r))
        ]
    );
    assert_eq!(h.app.closed(), [(c, CloseReason::TimedOut)]);
    assert_eq!(h.core.stats().keepalive_probes, 4);
    assert_eq!(h.core.stats().keepalive_timeouts, 1);
    assert_eq!(h.core.connections(), 0);
}

/// Keep-alive starts with the connection, on an active open too: nothing received after
/// the SYN-ACK still means probes after `idle`.
#[test]
fn keepalive_runs_on_an_active_open_that_never_hears_again() {
    let ka = Keepalive {
        idle: Duration::from_secs(10),
        interval: Duration::from_secs(1),
        probes: 3,
    };
    let cfg = TcpConfig {
        keepalive: Some(ka),
        ..TcpConfig::default()
    };
    let mut h = Host::new(cfg);
    let (c, out) = h.connect();
    let iss = out[0].seq();
    h.send(&seg(SA, Seq(7000), iss + 1).mss(1460));
    assert_eq!(h.core.state(c), Some(State::Established));
    let t = h.now;
    let out = h.advance(Duration::from_secs(20));
    let trace: Vec<_> = out.iter().map(|(at, p)| (*at - t, p.fsa())).collect();
    let sec = Duration::from_secs;
    let probe = (ACK, iss, Seq(7001));
    assert_eq!(
        trace,
        [
            (sec(10), probe),
            (sec(11), probe),
            (sec(12), probe),
            (sec(13), (RA, iss + 1, Seq(7001)))
        ]
    );
}

// ---- SYN-RECEIVED retries ----

/// The SYN-ACK is retransmitted `synack_retries` times with backoff, then the half-open
/// connection is dropped and its backlog place freed.
#[test]
fn syn_ack_is_retried_then_the_half_open_connection_dropped() {
    let cfg = TcpConfig {
        synack_retries: 2,
        syn_backlog: 1,
        ..TcpConfig::default()
    };
    let rto = cfg.rto.initial;
    let mut h = Host::listening(cfg);
    let out = h.send(&plain_syn(1000));
    let sa = out[0].fsa();
    assert_eq!(sa.0, SA);
    let t0 = h.now;
    // While it is half-open, the backlog is full: a cookie.
    h.send(&plain_syn(2000).ports(40001, PORT));
    assert_eq!(h.core.stats().syn_cookies_sent, 1);
    assert_eq!(h.core.connections(), 1);
    let out = h.advance(Duration::from_secs(30));
    let trace: Vec<_> = out.iter().map(|(t, p)| (*t - t0, p.fsa())).collect();
    assert_eq!(trace, [(rto, sa), (rto * 3, sa)]);
    assert_eq!(h.core.stats().synack_timeouts, 1);
    assert_eq!(h.core.connections(), 0);
    assert!(h.app.events.is_empty(), "the application never heard of it");
    // The backlog has room again: a real TCB, not a cookie.
    let out = h.send(&plain_syn(3000).ports(40002, PORT));
    assert_eq!(out[0].flags(), SA);
    assert_eq!(h.core.connections(), 1);
    assert_eq!(h.core.stats().syn_cookies_sent, 1);
}

// ---- Prepared objects (issue 4, send path 8) ----

/// A peer without timestamps has an MSS of 1460, 12 bytes more than an object cut for
/// headers with timestamps: each prepared segment still goes out whole, as prepared.
#[test]
fn prepared_segments_go_out_whole_to_a_peer_without_timestamps() {
    let (mut h, c, s, _r) = open(TcpConfig::default());
    let data = object(14_480, 11);
    let id = h.core.prepare(&data, 1448);
    let (res, out) = h.act(c, |c| c.send_prepared(id));
    res.unwrap();
    let sent = data_of(&out);
    assert_eq!(sent.len(), 10);
    for (k, d) in sent.iter().enumerate() {
        assert_eq!(*d, (s + 1448 * k as u32, 1448));
    }
    assert_eq!(h.core.stats().tx_prepared, 10);
    assert_eq!(h.core.stats().tx_prepared_resegmented, 0);
}

/// A peer whose MSS is below the prepared segment size gets the object cut on the fly.
#[test]
fn prepared_object_is_resegmented_for_a_smaller_mss() {
    let (mut h, c, s, _r) = open_with(TcpConfig::default(), seg(SYN, Seq(1000), Seq(0)).mss(1000));
    let data = object(5_000, 12);
    let id = h.core.prepare(&data, 1448);
    let (res, out) = h.act(c, |c| c.send_prepared(id));
    res.unwrap();
    assert_eq!(
        data_of(&out),
        (0..5u32).map(|k| (s + 1000 * k, 1000)).collect::<Vec<_>>()
    );
    let mut got = Vec::new();
    for p in &out {
        got.extend_from_slice(&p.payload);
    }
    assert_eq!(got, data);
    assert_eq!(h.core.stats().tx_prepared, 0);
    assert_eq!(h.core.stats().tx_prepared_resegmented, 5);
}

// ---- ICMP errors (RFC 5927, RFC 1122 4.2.3.9, RFC 5461, RFC 1191) ----

/// Hand the core an ICMP error quoting our segment with sequence number `seq`.
fn icmp(h: &mut Host, seq: Seq, kind: IcmpKind) -> Vec<Seg> {
    let mut sink = VecSink::new(64);
    h.core.on_icmp_error(
        h.now,
        host_addr(),
        peer_addr(),
        seq,
        kind,
        &mut h.app,
        &mut sink,
    );
    parse_all(&mut sink)
}

/// A port unreachable for our SYN ends the connection being opened (refused); one that
/// quotes a sequence number we never sent is ignored (RFC 5927 4.1).
#[test]
fn hard_icmp_error_ends_a_connection_being_opened() {
    let mut h = Host::new(TcpConfig::default());
    let (c, out) = h.connect();
    let iss = out[0].seq();
    assert!(icmp(&mut h, iss + 7, IcmpKind::Hard).is_empty());
    assert_eq!(h.core.state(c), Some(State::SynSent));
    assert_eq!(h.core.stats().rx_icmp_out_of_window, 1);
    icmp(&mut h, iss, IcmpKind::Hard);
    assert_eq!(h.core.state(c), None);
    assert_eq!(h.app.closed(), [(c, CloseReason::Refused)]);
    assert_eq!(h.core.stats().icmp_aborts, 1);
    // Soft errors never end it.
    let (c, out) = h.connect();
    icmp(&mut h, out[0].seq(), IcmpKind::Soft);
    assert_eq!(h.core.state(c), Some(State::SynSent));
}

/// RFC 5461: an established connection survives a hard error (routes come back).
#[test]
fn hard_icmp_error_does_not_end_an_established_connection() {
    let (mut h, c, s, _r) = open(TcpConfig::default());
    let (_, out) = h.act(c, |c| c.send(&[7; 100]));
    assert_eq!(data_of(&out), [(s, 100)]);
    icmp(&mut h, s, IcmpKind::Hard);
    assert_eq!(h.core.state(c), Some(State::Established));
    assert_eq!(h.core.stats().rx_icmp_errors, 1);
}

/// RFC 1191: "fragmentation needed" lowers the MSS and the dropped segment goes again at
/// once in the new size; an MTU below 552 is taken as 552 (forged errors cannot shrink
/// segments to nothing).
#[test]
fn fragmentation_needed_lowers_the_mss_and_resends() {
    let (mut h, c, s, r) = open(TcpConfig::default());
    let data = object(4 * 1460, 13);
    let (_, out) = h.act(c, |c| c.send(&data));
    assert_eq!(data_of(&out).len(), 4);
    let out = icmp(&mut h, s, IcmpKind::FragNeeded(1000));
    assert_eq!(h.core.tcb(c).unwrap().smss(), 960);
    assert_eq!(h.core.stats().icmp_pmtu_reductions, 1);
    let sent = data_of(&out);
    assert!(!sent.is_empty());
    assert_eq!(sent[0], (s, 960));
    assert!(sent.iter().all(|&(_, len)| len <= 960));
    // An error for a segment not in flight changes nothing.
    icmp(&mut h, s + 100_000, IcmpKind::FragNeeded(600));
    assert_eq!(h.core.tcb(c).unwrap().smss(), 960);
    // The transfer completes byte-exact in the new size.
    let mut got = Vec::new();
    let mut next = s;
    let mut pending: Vec<Seg> = out;
    for _ in 0..50 {
        for p in &pending {
            if p.seq() == next && !p.payload.is_empty() {
                got.extend_from_slice(&p.payload);
                next += p.payload.len() as u32;
            }
        }
        if got.len() == data.len() {
            break;
        }
        pending = h.send(&seg(ACK, r, next));
        if pending.is_empty() {
            pending = h
                .advance(Duration::from_secs(1))
                .into_iter()
                .map(|(_, p)| p)
                .collect();
        }
    }
    assert!(got == data);
    // Too small an MTU is clamped.
    h.send(&seg(ACK, r, next));
    let (_, out) = h.act(c, |c| c.send(&[1; 900]));
    assert_eq!(data_of(&out), [(next, 900)]);
    let out = icmp(&mut h, next, IcmpKind::FragNeeded(100));
    assert_eq!(h.core.tcb(c).unwrap().smss(), 552 - 40);
    assert_eq!(data_of(&out), [(next, 512), (next + 512, 388)]);
}
