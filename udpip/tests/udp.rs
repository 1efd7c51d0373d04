//! UDP on the simulated wire: the test is a host on one end of a `pipe`, the stack with a
//! UDP application on the other, a virtual clock. Each test sends literal datagrams and
//! asserts what comes back and the counters, so a failure reads as a packet trace.

use eth::testing::{arp_reply, arp_request, drain, inject, ipv4_frame, parse_arp, parse_icmp};
use eth::wire::icmp::unreachable;
use eth::wire::{ArpOp, IcmpPacket, IcmpRepr, IcmpType, IpProtocol, Ipv4Addr, MacAddr};
use eth::{IfaceConfig, SendStatus, Stack};
use nmio::backend::pipe::{self, PipeConfig, PipePort};
use nmio::{Clock, EventLoop, Instant, LoopConfig, Port, PrepMode, TxQueue, VirtualClock};
use std::net::SocketAddrV4;
use std::time::Duration;
use udpip::testing::{parse_udp, udp_frame};
use udpip::{Datagram, Patch, PreparedDatagram, Udp, UdpApp, UdpConfig, UdpError, UdpOut};

const US: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const OTHER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 77);
const ECHO: u16 = 7;
const PREPARED: u16 = 53;
const CLIENT: u16 = 40000;
/// The prepared reply: two bytes the query's first two overwrite, then fixed text.
const ANSWER: &[u8] = b"\0\0prepared answer";

/// Port 7 echoes; port 53 answers every datagram with the prepared `ANSWER`, its first two
/// bytes patched from the query (a DNS id, say). Everything is recorded.
struct App {
    mode: PrepMode,
    prepared: Option<PreparedDatagram>,
    received: Vec<(SocketAddrV4, SocketAddrV4, bool, Vec<u8>)>,
    errors: Vec<UdpError>,
    fired: Vec<u64>,
    timer_at_start: Option<(Duration, u64)>,
    statuses: Vec<SendStatus>,
}

impl App {
    fn new(mode: PrepMode) -> App {
        App {
            mode,
            prepared: None,
            received: Vec::new(),
            errors: Vec::new(),
            fired: Vec::new(),
            timer_at_start: None,
            statuses: Vec::new(),
        }
    }
}

impl UdpApp for App {
    fn on_start<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>) {
        out.bind(ECHO).unwrap();
        out.bind(PREPARED).unwrap();
        self.prepared = Some(out.prepare(PREPARED, ANSWER).unwrap());
        if let Some((after, value)) = self.timer_at_start {
            let at = out.now() + after;
            out.set_timer(at, value).unwrap();
        }
    }

    fn on_datagram<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>, d: Datagram<'_>) {
        self.received
            .push((d.src, d.dst, d.broadcast, d.payload.to_vec()));
        let st = match d.dst.port() {
            ECHO => out.reply(&d, d.payload),
            _ => {
                let p = self.prepared.unwrap();
                let id = [0, 1].map(|i| d.payload.get(i).copied().unwrap_or(0));
                out.send_prepared(&p, d.src, &[Patch::new(0, &id)], self.mode)
            }
        };
        self.statuses.push(st);
    }

    fn on_error<Tx: TxQueue>(&mut self, _: &mut UdpOut<'_, '_, Tx>, err: &UdpError) {
        self.errors.push(*err);
    }

    fn on_timer<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>, value: u64) {
        self.fired.push(value);
        // A timer can send: announce ourselves to the peer.
        out.send_to(ECHO, SocketAddrV4::new(PEER, CLIENT), b"tick");
    }
}

struct Net {
    clock: VirtualClock,
    peer: PipePort,
    peer_mac: MacAddr,
    our_mac: MacAddr,
    ev: EventLoop<PipePort, VirtualClock>,
    stack: Stack<Udp<App>>,
}

fn net_with(mode: PrepMode, edit: impl FnOnce(&mut IfaceConfig, &mut App, &mut UdpConfig)) -> Net {
    let clock = VirtualClock::new(Instant::from_millis(1_000));
    let (peer, port) = pipe::pair(PipeConfig {
        clock: Some(clock.clone()),
        ..Default::default()
    })
    .unwrap();
    let mut cfg = IfaceConfig::for_port(port.caps(), US, 24);
    cfg.arp.announcements = 0;
    let mut app = App::new(mode);
    let mut ucfg = UdpConfig::default();
    edit(&mut cfg, &mut app, &mut ucfg);
    let peer_mac = MacAddr(peer.caps().mac);
    let our_mac = MacAddr(port.caps().mac);
    let udp = Udp::with_config(app, ucfg);
    let stack = Stack::new(cfg, udp, clock.now()).unwrap();
    let ev = EventLoop::new(port, clock.clone(), LoopConfig::default());
    let mut net = Net {
        clock,
        peer,
        peer_mac,
        our_mac,
        ev,
        stack,
    };
    net.stack.start_on(&mut net.ev);
    net
}

fn net() -> Net {
    net_with(PrepMode::Memcpy, |_, _, _| {})
}

impl Net {
    /// Put `frames` on the wire, let the stack run one pass, return what it sent.
    fn exchange_all(&mut self, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
        for f in frames {
            inject(&mut self.peer, f);
        }
        while self.ev.run_once(&mut self.stack) > 0 {}
        self.ev.flush();
        drain(&mut self.peer)
    }

    fn exchange(&mut self, frame: &[u8]) -> Vec<Vec<u8>> {
        self.exchange_all(&[frame.to_vec()])
    }

    /// The peer ARPs for us (teaching us its MAC, as a kernel client does first).
    fn introduce(&mut self) {
        let out = self.exchange(&arp_request(self.peer_mac, PEER, US));
        assert_eq!(out.len(), 1);
    }

    fn query(&self, dst_port: u16, payload: &[u8]) -> Vec<u8> {
        udp_frame(
            self.peer_mac,
            self.our_mac,
            SocketAddrV4::new(PEER, CLIENT),
            SocketAddrV4::new(US, dst_port),
            payload,
        )
    }

    fn udp(&self) -> udpip::UdpStats {
        self.stack.upper().stats()
    }

    fn app(&self) -> &App {
        self.stack.upper().app()
    }
}

/// The frame's UDP checksum field (a zero one means "none").
fn set_udp_checksum(frame: &mut [u8], c: u16) {
    frame[40..42].copy_from_slice(&c.to_be_bytes());
}

// ---- receive ---------------------------------------------------------------------------

#[test]
fn datagram_to_a_bound_port_is_delivered_and_echoed_byte_exact() {
    let mut n = net();
    n.introduce();
    let out = n.exchange(&n.query(ECHO, b"hello"));
    assert_eq!(out.len(), 1);
    let r = parse_udp(&out[0]).unwrap();
    assert!(r.checksums_ok);
    assert_eq!((r.src_mac, r.dst_mac), (n.our_mac, n.peer_mac));
    assert_eq!(r.src, SocketAddrV4::new(US, ECHO));
    assert_eq!(r.dst, SocketAddrV4::new(PEER, CLIENT));
    assert_eq!(r.payload, b"hello");
    assert_eq!((r.ip.ttl, r.ip.dont_frag), (64, true));
    let (src, dst, bcast, payload) = &n.app().received[0];
    assert_eq!(*src, SocketAddrV4::new(PEER, CLIENT));
    assert_eq!(*dst, SocketAddrV4::new(US, ECHO));
    assert!(!bcast);
    assert_eq!(payload, b"hello");
    let s = n.udp();
    assert_eq!((s.rx_datagrams, s.rx_delivered, s.rx_bytes), (1, 1, 5));
    assert_eq!((s.tx_datagrams, s.tx_bytes), (1, 5));
}

#[test]
fn empty_and_largest_datagrams_round_trip() {
    let mut n = net();
    n.introduce();
    for len in [0usize, 1, 17, 1471, 1472] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        let out = n.exchange(&n.query(ECHO, &payload));
        assert_eq!(out.len(), 1, "len {len}");
        let r = parse_udp(&out[0]).unwrap();
        assert!(r.checksums_ok, "len {len}");
        assert_eq!(r.payload, payload, "len {len}");
    }
}

#[test]
fn zero_checksum_is_accepted_by_default() {
    let mut n = net();
    n.introduce();
    let mut f = n.query(ECHO, b"no checksum");
    set_udp_checksum(&mut f, 0);
    let out = n.exchange(&f);
    assert_eq!(out.len(), 1);
    let r = parse_udp(&out[0]).unwrap();
    assert_ne!(r.checksum, 0, "we never send a zero checksum");
    assert!(r.checksums_ok);
    assert_eq!((n.udp().rx_no_checksum, n.udp().rx_delivered), (1, 1));
}

#[test]
fn zero_checksum_is_dropped_when_configured_to_refuse() {
    let mut n = net_with(PrepMode::Memcpy, |_, _, u| u.accept_zero_checksum = false);
    n.introduce();
    let mut f = n.query(ECHO, b"no checksum");
    set_udp_checksum(&mut f, 0);
    assert!(n.exchange(&f).is_empty());
    assert_eq!(n.udp().rx_no_checksum_refused, 1);
    assert!(n.app().received.is_empty());
}

#[test]
fn bad_checksum_is_dropped_and_counted_without_icmp() {
    let mut n = net();
    n.introduce();
    for port in [ECHO, 9999] {
        let mut f = n.query(port, b"corrupt");
        f[42] ^= 0x40; // the first payload byte (the frame is padded to 60 after it)
        assert!(n.exchange(&f).is_empty(), "port {port}");
    }
    assert_eq!(n.udp().rx_bad_checksum, 2);
    assert_eq!(n.udp().rx_no_port, 0, "checksum is checked before the port");
    assert!(n.app().received.is_empty());
}

#[test]
fn truncated_and_bad_length_datagrams_are_dropped() {
    let mut n = net();
    n.introduce();
    // Length field beyond the IP payload.
    let mut long = n.query(ECHO, b"abcd");
    long[38..40].copy_from_slice(&20u16.to_be_bytes());
    // Length field below the header.
    let mut short = n.query(ECHO, b"abcd");
    short[38..40].copy_from_slice(&7u16.to_be_bytes());
    // Fewer than 8 bytes of UDP at all.
    let runt = ipv4_frame(
        n.peer_mac,
        n.our_mac,
        PEER,
        US,
        IpProtocol::UDP,
        &[0, 1, 0, 7],
    );
    assert!(n.exchange_all(&[long, short, runt]).is_empty());
    let s = n.udp();
    assert_eq!((s.rx_truncated, s.rx_bad_length, s.rx_delivered), (2, 1, 0));
}

#[test]
fn bytes_after_the_udp_length_are_not_delivered() {
    let mut n = net();
    n.introduce();
    // A UDP length of 8 + 2 inside a larger IP payload: RFC 768 says the datagram ends
    // at its length. The checksum covers those 10 bytes only.
    let mut seg = vec![0u8; 8 + 6];
    seg[0..2].copy_from_slice(&CLIENT.to_be_bytes());
    seg[2..4].copy_from_slice(&ECHO.to_be_bytes());
    seg[4..6].copy_from_slice(&10u16.to_be_bytes());
    seg[8..].copy_from_slice(b"hiXXXX");
    let c = eth::checksum::udp_checksum(PEER.octets(), US.octets(), &seg[..10]);
    seg[6..8].copy_from_slice(&c.to_be_bytes());
    let f = ipv4_frame(n.peer_mac, n.our_mac, PEER, US, IpProtocol::UDP, &seg);
    let out = n.exchange(&f);
    assert_eq!(parse_udp(&out[0]).unwrap().payload, b"hi");
}

#[test]
fn closed_port_gets_icmp_port_unreachable_quoting_the_datagram() {
    let mut n = net();
    n.introduce();
    let f = n.query(9999, b"anyone?");
    let out = n.exchange(&f);
    assert_eq!(out.len(), 1);
    let (ip, icmp, data) = parse_icmp(&out[0]).unwrap();
    assert_eq!((ip.src, ip.dst), (US, PEER));
    assert!(matches!(
        icmp,
        IcmpRepr::DstUnreachable {
            code: unreachable::PORT,
            ..
        }
    ));
    // RFC 792: the IP header and at least the first 8 bytes of the datagram.
    assert_eq!(&data[..20 + 8], &f[14..14 + 20 + 8]);
    assert_eq!(n.udp().rx_no_port, 1);
    assert_eq!(n.stack.stats().ip.rx_port_unreachable, 1);
}

#[test]
fn port_unreachables_are_rate_limited() {
    let mut n = net();
    n.introduce();
    let frames: Vec<Vec<u8>> = (0..80).map(|_| n.query(9999, b"flood")).collect();
    let out = n.exchange_all(&frames);
    let burst = IfaceConfig::new(n.our_mac, US, 24).icmp_burst as usize;
    assert_eq!(
        out.len(),
        burst,
        "no more than the burst while time stands still"
    );
    assert_eq!(n.udp().rx_no_port, 80, "every one is still counted");
    assert_eq!(
        n.stack.stats().icmp.unreachable_rate_limited,
        80 - burst as u64
    );
    // Tokens come back with time.
    n.clock.advance(Duration::from_millis(10));
    assert!(!n.exchange(&n.query(9999, b"later")).is_empty());
}

#[test]
fn broadcast_to_a_closed_port_gets_no_icmp() {
    let mut n = net();
    n.introduce();
    let bcast = Ipv4Addr::new(192, 0, 2, 255);
    let f = udp_frame(
        n.peer_mac,
        MacAddr::BROADCAST,
        SocketAddrV4::new(PEER, CLIENT),
        SocketAddrV4::new(bcast, 9999),
        b"who",
    );
    assert!(
        n.exchange(&f).is_empty(),
        "RFC 1122 3.2.2: no error for broadcasts"
    );
    assert_eq!(n.udp().rx_no_port, 1);
}

#[test]
fn broadcast_to_a_bound_port_is_delivered_and_answered_from_our_address() {
    let mut n = net();
    n.introduce();
    let f = udp_frame(
        n.peer_mac,
        MacAddr::BROADCAST,
        SocketAddrV4::new(PEER, CLIENT),
        SocketAddrV4::new(Ipv4Addr::BROADCAST, ECHO),
        b"all",
    );
    let out = n.exchange(&f);
    assert!(n.app().received[0].2, "flagged as broadcast");
    let r = parse_udp(&out[0]).unwrap();
    assert_eq!(r.src, SocketAddrV4::new(US, ECHO));
}

#[test]
fn destination_port_zero_is_dropped_without_icmp() {
    let mut n = net();
    n.introduce();
    assert!(n.exchange(&n.query(0, b"zero")).is_empty());
    assert_eq!(n.udp().rx_dst_port_zero, 1);
}

#[test]
fn icmp_port_unreachable_about_our_datagram_reaches_the_app() {
    let mut n = net_with(PrepMode::Memcpy, |_, app, _| {
        app.timer_at_start = Some((Duration::from_millis(5), 42));
    });
    n.introduce();
    // The timer fires and the app sends "tick" from port 7 to the peer's port 40000.
    let out = {
        n.clock.advance(Duration::from_millis(10));
        n.exchange_all(&[])
    };
    assert_eq!(n.app().fired, vec![42]);
    let sent = out.iter().find_map(|f| parse_udp(f)).expect("the tick");
    assert_eq!(sent.payload, b"tick");
    // The peer answers with a port unreachable quoting it.
    let quoted = &out[0][14..14 + 28];
    let icmp = IcmpRepr::DstUnreachable {
        code: unreachable::PORT,
        data_len: quoted.len(),
    };
    let mut msg = vec![0; icmp.buffer_len()];
    icmp.emit(&mut IcmpPacket::new_unchecked(&mut msg[..]), quoted);
    let f = ipv4_frame(n.peer_mac, n.our_mac, PEER, US, IpProtocol::ICMP, &msg);
    n.exchange(&f);
    let e = n.app().errors[0];
    assert!(e.is_port_unreachable());
    assert_eq!(e.msg_type, IcmpType::DST_UNREACHABLE);
    assert_eq!(
        (e.local_port, e.remote),
        (ECHO, SocketAddrV4::new(PEER, CLIENT))
    );
    assert_eq!(e.reporter, PEER);
    assert_eq!(n.udp().rx_icmp_errors, 1);
}

// ---- send ------------------------------------------------------------------------------

#[test]
fn sends_from_unbound_ports_to_port_zero_or_too_big_are_refused() {
    let mut n = net();
    n.introduce();
    let peer = SocketAddrV4::new(PEER, CLIENT);
    let results = n.ev.with_context(|cx| {
        n.stack.with_upper(cx, |udp, ip| {
            udp.with_out(ip, |_, out| {
                [
                    out.send_to(1234, peer, b"unbound"),
                    out.send_to(ECHO, SocketAddrV4::new(PEER, 0), b"port 0"),
                    out.send_to(ECHO, peer, &[0; 1473]),
                    out.send_with(ECHO, peer, |buf| buf.len() + 1),
                    out.send_to(ECHO, peer, &[1; 1472]),
                ]
            })
        })
    });
    assert_eq!(
        results,
        [
            SendStatus::Dropped,
            SendStatus::Dropped,
            SendStatus::Dropped,
            SendStatus::Dropped,
            SendStatus::Sent
        ]
    );
    let s = n.udp();
    assert_eq!((s.tx_bad_port, s.tx_too_big, s.tx_datagrams), (2, 2, 1));
    n.ev.flush();
    let out = drain(&mut n.peer);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].len(), 1514, "a full-MTU frame");
}

#[test]
fn a_burst_of_replies_leaves_in_one_kick() {
    let mut n = net();
    n.introduce();
    let before = n.ev.stats().port.tx_kicks;
    let frames: Vec<Vec<u8>> = (0..32u8).map(|i| n.query(ECHO, &[i; 100])).collect();
    let out = n.exchange_all(&frames);
    assert_eq!(out.len(), 32);
    for (i, f) in out.iter().enumerate() {
        assert_eq!(
            parse_udp(f).unwrap().payload,
            vec![i as u8; 100],
            "in order"
        );
    }
    let kicks = n.ev.stats().port.tx_kicks - before;
    assert!(kicks <= 2, "32 replies took {kicks} kicks: not batched");
}

#[test]
fn reply_to_an_unknown_neighbour_is_held_until_arp_answers() {
    let mut n = net();
    // No introduction: the stack must resolve the peer first.
    let out = n.exchange(&n.query(ECHO, b"who are you"));
    assert_eq!(out.len(), 1);
    let a = parse_arp(&out[0]).expect("an ARP request first");
    assert_eq!((a.op, a.target_ip), (ArpOp::Request, PEER));
    assert_eq!(n.app().statuses, vec![SendStatus::Held]);
    let out = n.exchange(&arp_reply(n.peer_mac, PEER, n.our_mac, US));
    let r = parse_udp(&out[0]).unwrap();
    assert_eq!(
        (r.dst_mac, r.payload.as_slice()),
        (n.peer_mac, &b"who are you"[..])
    );
}

// ---- prepared datagrams -----------------------------------------------------------------

fn prepared_answers(mode: PrepMode) {
    let mut n = net_with(mode, |_, _, _| {});
    n.introduce();
    // Two clients in turn: the second reply must carry none of the first one's fields.
    let other_mac = MacAddr([2, 0, 0, 0, 0, 0x77]);
    n.exchange(&arp_request(other_mac, OTHER, US));
    let q1 = n.query(PREPARED, b"AB?");
    let q2 = udp_frame(
        other_mac,
        n.our_mac,
        SocketAddrV4::new(OTHER, 5353),
        SocketAddrV4::new(US, PREPARED),
        b"CD??",
    );
    let out = n.exchange_all(&[q1, q2]);
    assert_eq!(out.len(), 2);
    let (r1, r2) = (parse_udp(&out[0]).unwrap(), parse_udp(&out[1]).unwrap());
    assert!(r1.checksums_ok && r2.checksums_ok, "{mode:?}");
    assert_eq!(r1.dst_mac, n.peer_mac);
    assert_eq!(r1.dst, SocketAddrV4::new(PEER, CLIENT));
    assert_eq!(&r1.payload[..2], b"AB");
    assert_eq!(&r1.payload[2..], &ANSWER[2..]);
    assert_eq!(r2.dst_mac, other_mac);
    assert_eq!(r2.dst, SocketAddrV4::new(OTHER, 5353));
    assert_eq!(&r2.payload[..2], b"CD");
    assert_eq!(r2.src, SocketAddrV4::new(US, PREPARED));
    assert_ne!(r1.ip.ident, r2.ip.ident, "each send gets its own IPv4 id");
    assert_eq!(n.udp().tx_prepared, 2);
    let port = n.ev.stats().port;
    match mode {
        PrepMode::Memcpy => assert_eq!(port.prepared_memcpy, 2),
        PrepMode::PreCopy => assert_eq!(port.prepared_precopy, 2),
    }
    assert_eq!(
        n.stack.stats().ip.tx_packets,
        2,
        "counted by the IPv4 layer too"
    );
}

#[test]
fn prepared_answers_are_rewritten_per_client_in_memcpy_mode() {
    prepared_answers(PrepMode::Memcpy);
}

#[test]
fn prepared_answers_are_rewritten_per_client_in_precopy_mode() {
    prepared_answers(PrepMode::PreCopy);
}

#[test]
fn prepared_answer_to_an_unknown_neighbour_is_held_by_copy() {
    for mode in [PrepMode::Memcpy, PrepMode::PreCopy] {
        let mut n = net_with(mode, |_, _, _| {});
        let out = n.exchange(&n.query(PREPARED, b"XY"));
        assert!(parse_arp(&out[0]).is_some());
        assert_eq!(n.udp().tx_prepared_held, 1);
        let out = n.exchange(&arp_reply(n.peer_mac, PEER, n.our_mac, US));
        let r = parse_udp(&out[0]).unwrap();
        assert!(r.checksums_ok);
        assert_eq!(&r.payload[..2], b"XY");
        assert_eq!(&r.payload[2..], &ANSWER[2..]);
    }
}

#[test]
fn prepared_sends_with_bad_patches_are_refused() {
    let mut n = net();
    n.introduce();
    let peer = SocketAddrV4::new(PEER, CLIENT);
    let st = n.ev.with_context(|cx| {
        n.stack.with_upper(cx, |udp, ip| {
            udp.with_out(ip, |app, out| {
                let p = app.prepared.unwrap();
                let far = Patch::new(ANSWER.len() - 1, b"xx");
                out.send_prepared(&p, peer, &[far], PrepMode::Memcpy)
            })
        })
    });
    assert_eq!(st, SendStatus::Dropped);
    assert_eq!(n.udp().tx_bad_patch, 1);
}

// ---- hostile input ----------------------------------------------------------------------

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    /// A UDP segment that is mostly well-formed, with one field or the payload mangled.
    fn segment() -> impl Strategy<Value = (Vec<u8>, u8, u16)> {
        (
            proptest::collection::vec(any::<u8>(), 0..64),
            0u8..6,
            any::<u16>(),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Arbitrary datagrams (valid, bad lengths, bad checksums, zero checksums, closed
        /// and bound ports, raw garbage) never panic, and each is either delivered or
        /// counted under one drop reason.
        #[test]
        fn every_datagram_is_delivered_or_counted(cases in proptest::collection::vec(segment(), 1..20)) {
            let mut n = net();
            n.introduce();
            let mut frames = Vec::new();
            for (payload, how, v) in &cases {
                let port = [ECHO, PREPARED, *v, 0][usize::from(*v % 4)];
                let mut f = n.query(port, payload);
                match how {
                    0 => {}
                    1 => f[38..40].copy_from_slice(&v.to_be_bytes()), // length field
                    2 => f[40..42].copy_from_slice(&v.to_be_bytes()), // checksum field
                    3 => set_udp_checksum(&mut f, 0),
                    4 => {
                        // Raw bytes where the UDP header should be.
                        let seg: Vec<u8> = payload.iter().map(|b| b ^ (*v as u8)).collect();
                        f = ipv4_frame(n.peer_mac, n.our_mac, PEER, US, IpProtocol::UDP, &seg);
                    }
                    _ => f[34..36].copy_from_slice(&v.to_be_bytes()), // source port
                }
                frames.push(f);
            }
            n.exchange_all(&frames);
            let s = n.udp();
            prop_assert_eq!(s.rx_datagrams, cases.len() as u64);
            prop_assert_eq!(s.rx_datagrams, s.rx_delivered + s.rx_dropped());
            prop_assert_eq!(s.rx_delivered, n.app().received.len() as u64);
        }
    }
}
