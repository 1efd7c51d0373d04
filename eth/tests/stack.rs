//! The stack on the simulated wire: a peer (the test) on one end of a `pipe`, the stack on
//! the other, a virtual clock. Each test sends literal frames and asserts the frames that
//! come back and the counters, so a failure reads as a packet trace.

use eth::testing::{self, arp_reply, arp_request, echo_request, ipv4_frame, parse_arp, parse_icmp};
use eth::wire::icmp::unreachable;
use eth::wire::{ArpOp, IcmpRepr, IcmpType, IpProtocol, Ipv4Addr, MacAddr};
use eth::{
    Delivery, IcmpError, IfaceConfig, IpContext, IpInput, NeighborState, SendStatus, Stack,
    Transport,
};
use nmio::backend::pipe::{self, PipeConfig, PipePort, PipeTx};
use nmio::{Clock, EventLoop, Instant, LoopConfig, Port, TxQueue, VirtualClock};
use std::time::Duration;

const US: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const OTHER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 77);
const GATEWAY: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);
const REMOTE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 9);

/// A UDP-like transport for protocol 17 that records what it gets; port 7 is "open",
/// anything else is unreachable.
#[derive(Default)]
struct Recorder {
    packets: Vec<(Ipv4Addr, Vec<u8>)>,
    errors: Vec<(IcmpType, u8, Ipv4Addr, Vec<u8>)>,
}

impl<Tx: TxQueue> Transport<Tx> for Recorder {
    fn accepts(&self, protocol: IpProtocol) -> bool {
        protocol == IpProtocol::UDP
    }

    fn on_packet(&mut self, _: &mut IpContext<'_, '_, Tx>, pkt: IpInput<'_>) -> Delivery {
        let port = u16::from_be_bytes([pkt.payload[2], pkt.payload[3]]);
        self.packets.push((pkt.src, pkt.payload.to_vec()));
        if port == 7 {
            Delivery::Accepted
        } else {
            Delivery::PortUnreachable
        }
    }

    fn on_icmp_error(&mut self, _: &mut IpContext<'_, '_, Tx>, err: &IcmpError<'_>) {
        self.errors
            .push((err.msg_type, err.code, err.dst, err.transport.to_vec()));
    }
}

struct Net {
    clock: VirtualClock,
    peer: PipePort,
    peer_mac: MacAddr,
    our_mac: MacAddr,
    ev: EventLoop<PipePort, VirtualClock>,
    stack: Stack<Recorder>,
}

fn cfg_for(port: &PipePort) -> IfaceConfig {
    let mut cfg = IfaceConfig::for_port(port.caps(), US, 24);
    cfg.gateway = Some(GATEWAY);
    cfg.arp.announcements = 0;
    cfg
}

fn net_with(edit: impl FnOnce(&mut IfaceConfig)) -> Net {
    let clock = VirtualClock::new(Instant::from_millis(1_000));
    let (peer, port) = pipe::pair(PipeConfig {
        clock: Some(clock.clone()),
        ..Default::default()
    })
    .unwrap();
    let mut cfg = cfg_for(&port);
    edit(&mut cfg);
    let peer_mac = MacAddr(peer.caps().mac);
    let our_mac = MacAddr(port.caps().mac);
    let stack = Stack::new(cfg, Recorder::default(), clock.now()).unwrap();
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
    net_with(|_| {})
}

impl Net {
    /// Put `frame` on the wire, let the stack run one pass, return what it sent.
    fn exchange(&mut self, frame: &[u8]) -> Vec<Vec<u8>> {
        testing::inject(&mut self.peer, frame);
        self.ev.run_once(&mut self.stack);
        self.ev.flush();
        testing::drain(&mut self.peer)
    }

    /// Move the clock and run the stack's timers.
    fn advance(&mut self, d: Duration) -> Vec<Vec<u8>> {
        let end = self.clock.now() + d;
        // Step by the tick so every housekeeping round runs at its time.
        while self.clock.now() < end {
            let step = Duration::from_millis(50).min(end - self.clock.now());
            self.clock.advance(step);
            self.ev.run_once(&mut self.stack);
        }
        self.ev.flush();
        testing::drain(&mut self.peer)
    }

    /// The stack sends `payload` as protocol 17 to `dst` (as a transport would).
    fn send_udp(&mut self, dst: Ipv4Addr, payload: &[u8]) -> SendStatus {
        let now = self.clock.now();
        let tx: &mut PipeTx = self.ev.port_mut().tx();
        let st = self
            .stack
            .iface_mut()
            .send_ipv4(tx, now, dst, IpProtocol::UDP, |buf| {
                buf[..payload.len()].copy_from_slice(payload);
                payload.len()
            });
        self.ev.flush();
        st
    }

    /// The peer learned of us: it ARPs for our address (which also teaches us its MAC).
    fn introduce(&mut self) {
        let out = self.exchange(&arp_request(self.peer_mac, PEER, US));
        assert_eq!(out.len(), 1);
    }

    fn echo(&self, seq: u16, len: usize) -> Vec<u8> {
        echo_request(self.peer_mac, self.our_mac, PEER, US, 0x77, seq, len)
    }

    fn udp(&self, dst_port: u16) -> Vec<u8> {
        let mut seg = vec![0u8; 12];
        seg[2..4].copy_from_slice(&dst_port.to_be_bytes());
        seg[4..6].copy_from_slice(&12u16.to_be_bytes());
        ipv4_frame(self.peer_mac, self.our_mac, PEER, US, IpProtocol::UDP, &seg)
    }
}

// ---- ARP -------------------------------------------------------------------------------

#[test]
fn arp_request_for_our_address_gets_a_unicast_reply_and_teaches_us_the_sender() {
    let mut n = net();
    let out = n.exchange(&arp_request(n.peer_mac, PEER, US));
    assert_eq!(out.len(), 1);
    let f = &out[0];
    assert_eq!(f.len(), 60, "padded to the minimum frame");
    assert_eq!(
        &f[0..6],
        &n.peer_mac.0,
        "reply goes to the asker, not broadcast"
    );
    assert_eq!(&f[6..12], &n.our_mac.0);
    let a = parse_arp(f).unwrap();
    assert_eq!(a.op, ArpOp::Reply);
    assert_eq!((a.sender_mac, a.sender_ip), (n.our_mac, US));
    assert_eq!((a.target_mac, a.target_ip), (n.peer_mac, PEER));
    assert_eq!(n.stack.iface().arp().lookup(PEER), Some(n.peer_mac));
    let s = n.stack.stats().arp;
    assert_eq!((s.requests_answered, s.entries_learned), (1, 1));
    // Asked again: the same entry is confirmed, not learned twice.
    n.exchange(&arp_request(n.peer_mac, PEER, US));
    let s = n.stack.stats().arp;
    assert_eq!((s.entries_learned, s.entries_updated), (1, 1));
    assert_eq!(n.stack.iface().arp().len(), 1);
}

#[test]
fn arp_request_for_another_host_is_ignored_and_learns_nothing() {
    let mut n = net();
    let out = n.exchange(&arp_request(n.peer_mac, PEER, OTHER));
    assert!(out.is_empty());
    assert_eq!(n.stack.iface().arp().lookup(PEER), None);
    assert_eq!(n.stack.stats().arp.rx_ignored, 1);
}

#[test]
fn arp_probe_for_our_address_is_answered_without_learning() {
    let mut n = net();
    // RFC 5227 2.1.1 probe: sender IP all zeros.
    let out = n.exchange(&arp_request(n.peer_mac, Ipv4Addr::UNSPECIFIED, US));
    assert_eq!(out.len(), 1);
    assert_eq!(parse_arp(&out[0]).unwrap().op, ArpOp::Reply);
    assert!(n.stack.iface().arp().is_empty());
}

#[test]
fn someone_claiming_our_address_is_counted_as_a_conflict() {
    let mut n = net();
    let out = n.exchange(&arp_request(n.peer_mac, US, US));
    assert!(out.is_empty());
    assert_eq!(n.stack.stats().arp.rx_conflict, 1);
}

#[test]
fn off_link_or_group_senders_are_not_learned() {
    let mut n = net();
    n.exchange(&arp_request(n.peer_mac, REMOTE, US));
    // A group address as the ARP sender, in a frame from a unicast source.
    let mut f = arp_request(MacAddr([0x01, 0, 0x5e, 0, 0, 1]), PEER, US);
    f[6..12].copy_from_slice(&n.peer_mac.0);
    n.exchange(&f);
    assert!(n.stack.iface().arp().is_empty());
    assert_eq!(n.stack.stats().arp.rx_bad_sender, 2);
}

#[test]
fn gratuitous_announcements_are_sent_at_start_and_two_seconds_later() {
    let mut n = net_with(|c| c.arp.announcements = 2);
    let first = testing::drain(&mut n.peer);
    assert_eq!(first.len(), 1);
    let a = parse_arp(&first[0]).unwrap();
    assert_eq!(&first[0][0..6], &[0xff; 6]);
    assert_eq!((a.op, a.sender_ip, a.target_ip), (ArpOp::Request, US, US));
    assert_eq!(a.target_mac, MacAddr::ZERO);
    assert!(n.advance(Duration::from_millis(1_900)).is_empty());
    let second = n.advance(Duration::from_millis(200));
    assert_eq!(second.len(), 1);
    assert!(n.advance(Duration::from_secs(5)).is_empty());
    assert_eq!(n.stack.stats().arp.announcements_sent, 2);
}

#[test]
fn sending_to_an_unknown_neighbour_holds_the_packet_until_the_reply() {
    let mut n = net();
    assert_eq!(n.send_udp(PEER, b"first"), SendStatus::Held);
    assert_eq!(n.send_udp(PEER, b"second"), SendStatus::Held);
    let out = testing::drain(&mut n.peer);
    assert_eq!(
        out.len(),
        1,
        "one request, no duplicate for the second packet"
    );
    let req = parse_arp(&out[0]).unwrap();
    assert_eq!(&out[0][0..6], &[0xff; 6]);
    assert_eq!(
        (req.op, req.target_ip, req.sender_ip),
        (ArpOp::Request, PEER, US)
    );
    let st = n.stack.iface().arp().neighbor(PEER).unwrap();
    assert_eq!((st.state, st.held), (NeighborState::Incomplete, 2));

    let out = n.exchange(&arp_reply(n.peer_mac, PEER, n.our_mac, US));
    assert_eq!(out.len(), 2, "both held packets, in order");
    for (f, want) in out.iter().zip([&b"first"[..], b"second"]) {
        assert_eq!(&f[0..6], &n.peer_mac.0, "held frame got the resolved MAC");
        assert_eq!(&f[34..34 + want.len()], want);
        assert!(eth::checksum::verify(&f[14..34]), "IPv4 header checksum");
    }
    assert_eq!(n.stack.stats().arp.held_sent, 2);
    // Now resolved: the next packet goes straight out.
    assert_eq!(n.send_udp(PEER, b"third"), SendStatus::Sent);
    assert_eq!(testing::drain(&mut n.peer).len(), 1);
}

#[test]
fn at_most_hold_per_neighbor_packets_wait_and_the_oldest_go_first() {
    let mut n = net_with(|c| c.arp.hold_per_neighbor = 2);
    for p in [b"p1", b"p2", b"p3"] {
        n.send_udp(PEER, p);
    }
    testing::drain(&mut n.peer);
    let out = n.exchange(&arp_reply(n.peer_mac, PEER, n.our_mac, US));
    let payloads: Vec<&[u8]> = out.iter().map(|f| &f[34..36]).collect();
    assert_eq!(payloads, [b"p2", b"p3"]);
    assert_eq!(n.stack.stats().arp.held_dropped, 1);
}

#[test]
fn unanswered_resolution_retries_then_fails_and_drops_what_it_held() {
    let mut n = net();
    n.send_udp(PEER, b"lost");
    assert_eq!(testing::drain(&mut n.peer).len(), 1);
    // Two retries, one second apart, then give up (max_probes 3).
    let retries = n.advance(Duration::from_millis(2_100));
    assert_eq!(retries.len(), 2);
    assert!(retries
        .iter()
        .all(|f| parse_arp(f).unwrap().target_ip == PEER));
    assert!(n.advance(Duration::from_secs(2)).is_empty());
    assert!(n.stack.iface().arp().neighbor(PEER).is_none());
    let s = n.stack.stats().arp;
    assert_eq!(
        (s.requests_sent, s.resolve_failed, s.held_dropped),
        (3, 1, 1)
    );
}

#[test]
fn off_link_destinations_go_through_the_gateway() {
    let mut n = net();
    n.send_udp(REMOTE, b"far");
    let out = testing::drain(&mut n.peer);
    assert_eq!(parse_arp(&out[0]).unwrap().target_ip, GATEWAY);
    let gw_mac = MacAddr([0x02, 0, 0, 0, 0, 0xfe]);
    let out = n.exchange(&arp_reply(gw_mac, GATEWAY, n.our_mac, US));
    assert_eq!(out.len(), 1);
    assert_eq!(&out[0][0..6], &gw_mac.0);
    assert_eq!(
        &out[0][30..34],
        &REMOTE.octets(),
        "IP destination stays the remote host"
    );
}

#[test]
fn without_a_gateway_off_link_is_no_route() {
    let mut n = net_with(|c| c.gateway = None);
    assert_eq!(n.send_udp(REMOTE, b"x"), SendStatus::Dropped);
    assert_eq!(n.stack.stats().ip.tx_no_route, 1);
    assert!(testing::drain(&mut n.peer).is_empty());
}

#[test]
fn static_entries_need_no_resolution_and_are_never_overwritten() {
    let fixed = MacAddr([0x02, 0xaa, 0, 0, 0, 1]);
    let mut n = net_with(|c| c.arp.static_entries.push((PEER, fixed)));
    assert_eq!(n.send_udp(PEER, b"s"), SendStatus::Sent);
    let out = testing::drain(&mut n.peer);
    assert_eq!(&out[0][0..6], &fixed.0);
    n.exchange(&arp_reply(n.peer_mac, PEER, n.our_mac, US));
    assert_eq!(n.stack.iface().arp().lookup(PEER), Some(fixed));
    assert!(n.advance(Duration::from_secs(120)).is_empty());
    assert_eq!(
        n.stack.iface().arp().neighbor(PEER).unwrap().state,
        NeighborState::Static
    );
}

#[test]
fn a_stale_entry_in_use_is_refreshed_by_unicast_request() {
    let mut n = net_with(|c| {
        c.arp.reachable = Duration::from_secs(5);
        c.arp.expire = Duration::from_secs(10);
    });
    n.introduce();
    n.advance(Duration::from_secs(6));
    assert_eq!(
        n.send_udp(PEER, b"a"),
        SendStatus::Sent,
        "stale entries stay usable"
    );
    let out = testing::drain(&mut n.peer);
    assert_eq!(out.len(), 2, "the refresh request and the packet");
    let req = out
        .iter()
        .find_map(|f| parse_arp(f).map(|a| (f, a)))
        .unwrap();
    assert_eq!(
        &req.0[0..6],
        &n.peer_mac.0,
        "refresh is unicast (RFC 1122 2.3.2.1)"
    );
    assert_eq!(req.1.target_ip, PEER);
    n.exchange(&arp_reply(n.peer_mac, PEER, n.our_mac, US));
    let s = n.stack.stats().arp;
    assert_eq!((s.refresh_sent, s.entries_refreshed), (1, 1));
    // Confirmed again: no request for the next 5 s of use.
    n.advance(Duration::from_secs(4));
    n.send_udp(PEER, b"b");
    assert_eq!(testing::drain(&mut n.peer).len(), 1);
}

#[test]
fn an_unanswered_refresh_removes_the_entry() {
    let mut n = net_with(|c| {
        c.arp.reachable = Duration::from_secs(5);
        c.arp.expire = Duration::from_secs(30);
    });
    n.introduce();
    n.advance(Duration::from_secs(6));
    n.send_udp(PEER, b"a");
    testing::drain(&mut n.peer);
    let retries = n.advance(Duration::from_millis(3_100));
    assert_eq!(retries.len(), 2, "two more unicast probes");
    assert!(n.stack.iface().arp().neighbor(PEER).is_none());
    assert_eq!(n.stack.stats().arp.entries_expired, 1);
}

#[test]
fn unused_entries_expire() {
    let mut n = net_with(|c| {
        c.arp.reachable = Duration::from_secs(5);
        c.arp.expire = Duration::from_secs(10);
    });
    n.introduce();
    n.advance(Duration::from_millis(9_900));
    assert!(n.stack.iface().arp().lookup(PEER).is_some());
    n.advance(Duration::from_millis(200));
    assert!(n.stack.iface().arp().lookup(PEER).is_none());
    assert_eq!(n.stack.stats().arp.entries_expired, 1);
}

#[test]
fn a_full_bucket_evicts_its_least_recently_confirmed_entry() {
    let mut n = net_with(|c| c.arp.capacity = 8); // one bucket
    for i in 0..9u8 {
        n.advance(Duration::from_millis(10));
        let ip = Ipv4Addr::new(192, 0, 2, 100 + i);
        n.exchange(&arp_request(MacAddr([2, 0, 0, 1, 0, i]), ip, US));
    }
    let arp = n.stack.iface().arp();
    assert_eq!(arp.len(), 8);
    assert!(
        arp.lookup(Ipv4Addr::new(192, 0, 2, 100)).is_none(),
        "oldest went"
    );
    assert!(arp.lookup(Ipv4Addr::new(192, 0, 2, 108)).is_some());
    assert_eq!(n.stack.stats().arp.evictions, 1);
}

// ---- ICMP echo -------------------------------------------------------------------------

#[test]
fn echo_request_gets_a_reply_with_the_same_ident_seq_and_data() {
    let mut n = net();
    n.introduce();
    for (seq, len) in [(1u16, 0usize), (2, 56), (3, 1472)] {
        let out = n.exchange(&n.echo(seq, len));
        assert_eq!(out.len(), 1, "seq {seq}");
        let (ip, icmp, data) = parse_icmp(&out[0]).expect("valid IPv4 + ICMP checksums");
        assert_eq!((ip.src, ip.dst, ip.ttl, ip.dont_frag), (US, PEER, 64, true));
        assert_eq!(
            icmp,
            IcmpRepr::EchoReply {
                ident: 0x77,
                seq,
                data_len: len
            }
        );
        assert_eq!(data, (0..len).map(|i| i as u8).collect::<Vec<_>>());
    }
    assert_eq!(n.stack.stats().icmp.echo_replied, 3);
}

#[test]
fn echo_reply_identifications_differ() {
    let mut n = net();
    n.introduce();
    let a = n.exchange(&n.echo(1, 8));
    let b = n.exchange(&n.echo(2, 8));
    assert_ne!(&a[0][18..20], &b[0][18..20]);
}

#[test]
fn echo_to_broadcast_is_ignored_by_default() {
    let mut n = net();
    n.introduce();
    let bcast = echo_request(
        n.peer_mac,
        MacAddr::BROADCAST,
        PEER,
        Ipv4Addr::new(192, 0, 2, 255),
        1,
        1,
        8,
    );
    assert!(n.exchange(&bcast).is_empty());
    assert_eq!(n.stack.stats().icmp.echo_broadcast_ignored, 1);
}

#[test]
fn echo_from_an_unresolved_host_is_answered_after_resolving_it() {
    let mut n = net();
    let out = n.exchange(&n.echo(9, 16));
    assert_eq!(out.len(), 1);
    assert_eq!(parse_arp(&out[0]).unwrap().target_ip, PEER);
    let out = n.exchange(&arp_reply(n.peer_mac, PEER, n.our_mac, US));
    let (_, icmp, _) = parse_icmp(&out[0]).unwrap();
    assert!(matches!(icmp, IcmpRepr::EchoReply { seq: 9, .. }));
}

// ---- Transports and ICMP errors --------------------------------------------------------

#[test]
fn packets_for_a_transport_are_delivered_with_their_payload() {
    let mut n = net();
    n.introduce();
    let f = n.udp(7);
    assert!(n.exchange(&f).is_empty());
    let got = &n.stack.upper().packets;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, PEER);
    assert_eq!(
        got[0].1,
        &f[34..46],
        "payload cut at the IPv4 total length, not the padding"
    );
    assert_eq!(n.stack.stats().ip.rx_delivered, 1);
}

#[test]
fn closed_port_gets_a_port_unreachable_quoting_the_datagram() {
    let mut n = net();
    n.introduce();
    let f = n.udp(9);
    let out = n.exchange(&f);
    assert_eq!(out.len(), 1);
    let (ip, icmp, quote) = parse_icmp(&out[0]).unwrap();
    assert_eq!(ip.dst, PEER);
    assert_eq!(
        icmp,
        IcmpRepr::DstUnreachable {
            code: unreachable::PORT,
            data_len: 32
        }
    );
    assert_eq!(
        quote,
        &f[14..46],
        "the whole original datagram (RFC 1812 4.3.2.3)"
    );
    let s = n.stack.stats();
    assert_eq!((s.ip.rx_port_unreachable, s.ip.rx_delivered), (1, 0));
}

#[test]
fn unknown_protocol_gets_a_protocol_unreachable() {
    let mut n = net();
    n.introduce();
    let f = ipv4_frame(
        n.peer_mac,
        n.our_mac,
        PEER,
        US,
        IpProtocol(99),
        &[1, 2, 3, 4],
    );
    let out = n.exchange(&f);
    let (_, icmp, _) = parse_icmp(&out[0]).unwrap();
    assert!(matches!(
        icmp,
        IcmpRepr::DstUnreachable {
            code: unreachable::PROTOCOL,
            ..
        }
    ));
    assert_eq!(n.stack.stats().ip.rx_unknown_protocol, 1);
}

#[test]
fn unreachables_are_rate_limited() {
    let mut n = net_with(|c| {
        c.icmp_rate = 10;
        c.icmp_burst = 3;
    });
    n.introduce();
    let f = n.udp(9);
    let sent: usize = (0..10).map(|_| n.exchange(&f).len()).sum();
    assert_eq!(sent, 3, "the burst, then nothing");
    n.advance(Duration::from_millis(100));
    assert_eq!(n.exchange(&f).len(), 1, "one token per 100 ms");
    let s = n.stack.stats().icmp;
    assert_eq!((s.unreachable_sent, s.unreachable_rate_limited), (4, 7));
}

#[test]
fn no_unreachable_about_a_broadcast() {
    let mut n = net();
    n.introduce();
    let mut seg = vec![0u8; 8];
    seg[2..4].copy_from_slice(&9u16.to_be_bytes());
    let f = ipv4_frame(
        n.peer_mac,
        MacAddr::BROADCAST,
        PEER,
        Ipv4Addr::BROADCAST,
        IpProtocol::UDP,
        &seg,
    );
    assert!(n.exchange(&f).is_empty());
    assert_eq!(n.stack.stats().icmp.unreachable_suppressed, 1);
}

#[test]
fn icmp_errors_about_our_packets_reach_the_transport() {
    let mut n = net();
    n.introduce();
    // A router says our UDP datagram to REMOTE needs fragmenting, next-hop MTU 1400.
    let mut quote = ipv4_frame(
        n.our_mac,
        n.peer_mac,
        US,
        REMOTE,
        IpProtocol::UDP,
        &[0, 7, 0, 53, 0, 8, 0, 0],
    )[14..42]
        .to_vec();
    quote.truncate(28);
    let mut msg = vec![3, 4, 0, 0, 0, 0, 0x05, 0x78];
    msg.extend_from_slice(&quote);
    let c = eth::checksum::checksum(&msg);
    msg[2..4].copy_from_slice(&c.to_be_bytes());
    let f = ipv4_frame(n.peer_mac, n.our_mac, PEER, US, IpProtocol::ICMP, &msg);
    assert!(n.exchange(&f).is_empty());
    let errs = &n.stack.upper().errors;
    assert_eq!(errs.len(), 1);
    assert_eq!(
        (errs[0].0, errs[0].1, errs[0].2),
        (IcmpType::DST_UNREACHABLE, 4, REMOTE)
    );
    assert_eq!(&errs[0].3[..4], &[0, 7, 0, 53]);
    assert_eq!(n.stack.stats().icmp.errors_delivered, 1);
}

// ---- Malformed input -------------------------------------------------------------------

/// Each malformed variant of a valid echo request, and the counter it must land in.
#[test]
fn malformed_frames_are_counted_per_reason() {
    let mut n = net();
    n.introduce();
    let good = n.echo(1, 32);
    type Mutate = fn(&mut Vec<u8>);
    type Counter = fn(&eth::Stats) -> u64;
    let cases: &[(&str, Mutate, Counter)] = &[
        ("runt", |f| f.truncate(10), |s| s.eth.rx_truncated),
        (
            "vlan",
            |f| {
                f.splice(12..12, [0x81, 0x00, 0x00, 0x05]);
            },
            |s| s.eth.rx_vlan,
        ),
        (
            "not ours",
            |f| f[0..6].copy_from_slice(&[2, 9, 9, 9, 9, 9]),
            |s| s.eth.rx_not_ours,
        ),
        (
            "multicast dst",
            |f| f[0..6].copy_from_slice(&[1, 0, 0x5e, 0, 0, 1]),
            |s| s.eth.rx_not_ours,
        ),
        ("group src", |f| f[6] = 0x01, |s| s.eth.rx_bad_src),
        (
            "ipv6",
            |f| f[12..14].copy_from_slice(&[0x86, 0xdd]),
            |s| s.eth.rx_unknown_ethertype,
        ),
        (
            "ip truncated",
            |f| f.truncate(14 + 19),
            |s| s.ip.rx_truncated,
        ),
        ("version 6", |f| f[14] = 0x65, |s| s.ip.rx_bad_version),
        ("ihl 4", |f| f[14] = 0x44, |s| s.ip.rx_bad_header_len),
        (
            "total length over frame",
            |f| f[16..18].copy_from_slice(&2000u16.to_be_bytes()),
            |s| s.ip.rx_truncated,
        ),
        (
            "total length under header",
            |f| f[16..18].copy_from_slice(&12u16.to_be_bytes()),
            |s| s.ip.rx_bad_length,
        ),
        ("ip checksum", |f| f[24] ^= 0xff, |s| s.ip.rx_bad_checksum),
        (
            "options",
            |f| {
                f.splice(34..34, [1, 1, 1, 0]); // NOP NOP NOP EOL
                f[14] = 0x46;
                let tl = u16::from_be_bytes([f[16], f[17]]) + 4;
                f[16..18].copy_from_slice(&tl.to_be_bytes());
                refill_ip_checksum(f);
            },
            |s| s.ip.rx_options,
        ),
        (
            "fragment",
            |f| {
                f[20] = 0x20; // MF
                refill_ip_checksum(f);
            },
            |s| s.ip.rx_fragments,
        ),
        (
            "not our address",
            |f| {
                f[30..34].copy_from_slice(&[192, 0, 2, 3]);
                refill_ip_checksum(f);
            },
            |s| s.ip.rx_not_ours,
        ),
        (
            "broadcast source",
            |f| {
                f[26..30].copy_from_slice(&[255; 4]);
                refill_ip_checksum(f);
            },
            |s| s.ip.rx_bad_src,
        ),
        ("icmp checksum", |f| f[40] ^= 1, |s| s.icmp.rx_bad_checksum),
        (
            "icmp truncated",
            |f| {
                f[16..18].copy_from_slice(&24u16.to_be_bytes());
                refill_ip_checksum(f);
            },
            |s| s.icmp.rx_truncated,
        ),
    ];
    for (name, mutate, counter) in cases {
        let mut f = good.clone();
        mutate(&mut f);
        let before = n.stack.stats();
        let out = n.exchange(&f);
        let after = n.stack.stats();
        assert!(out.is_empty(), "{name}: nothing is sent back");
        assert_eq!(counter(&after) - counter(&before), 1, "{name}: counted");
        assert_eq!(
            after.rx_dropped() - before.rx_dropped(),
            1,
            "{name}: counted once"
        );
    }
    // The untouched frame still works.
    assert_eq!(n.exchange(&good).len(), 1);
}

fn refill_ip_checksum(f: &mut [u8]) {
    let hl = usize::from(f[14] & 0x0f) * 4;
    f[24..26].fill(0);
    let c = eth::checksum::checksum(&f[14..14 + hl]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
}

#[test]
fn bad_configuration_is_refused_with_a_reason() {
    let (_, port) = pipe::pair(PipeConfig::default()).unwrap();
    let mut cfg = cfg_for(&port);
    cfg.gateway = Some(Ipv4Addr::new(10, 0, 0, 1));
    let err = Stack::new(cfg, (), Instant::ZERO).err().unwrap();
    assert!(err.to_string().contains("gateway 10.0.0.1"), "{err}");
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Arbitrary bytes never panic the receive path, and every frame is accounted for.
        #[test]
        fn arbitrary_frames_never_panic(frames in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 1..200), 1..8)) {
            let mut n = net();
            for f in &frames {
                n.exchange(f);
            }
            prop_assert_eq!(n.stack.stats().eth.rx_frames, frames.len() as u64);
        }

        /// Any byte of a valid echo request flipped: no panic, and either a reply or one
        /// counted drop.
        #[test]
        fn corrupted_echo_requests_are_answered_or_counted(pos in 0usize..74, xor in 1u8..) {
            let mut n = net();
            n.introduce();
            let mut f = n.echo(5, 32);
            f[pos] ^= xor;
            let before = n.stack.stats();
            let out = n.exchange(&f);
            let after = n.stack.stats();
            let replied = after.icmp.echo_replied - before.icmp.echo_replied;
            let dropped = after.rx_dropped() - before.rx_dropped();
            let other = (after.icmp.rx_other - before.icmp.rx_other)
                + (after.icmp.echo_replies_in - before.icmp.echo_replies_in)
                + (after.icmp.errors_ignored - before.icmp.errors_ignored)
                + (after.icmp.echo_broadcast_ignored - before.icmp.echo_broadcast_ignored);
            prop_assert_eq!(replied + dropped + other, 1, "pos {} xor {:#x}", pos, xor);
            prop_assert!(out.len() <= 2);
        }
    }
}
