//! The whole receive path with UDP on top: arbitrary frames through a `Stack<Udp<Echo>>`
//! on the simulated wire (a virtual clock, so timers are deterministic). No frame may
//! panic, every datagram UDP is handed is counted under exactly one outcome, and every
//! datagram the stack sends is valid.
//!
//! Input layout: byte 0 is the configuration (bit 0 refuses zero checksums); the rest is
//! split into frames at 0xFE. A frame starting with 0xFD is built as a UDP datagram instead:
//! the next byte says to whom and how to break it ([`Shape`]), the rest is the payload.

#![no_main]

use eth::testing::{arp_request, drain, inject, ipv4_frame};
use eth::wire::{IpProtocol, Ipv4Addr, MacAddr};
use eth::{IfaceConfig, Stack};
use libfuzzer_sys::fuzz_target;
use nmio::backend::pipe::{self, PipeConfig};
use nmio::{Clock, EventLoop, Instant, LoopConfig, Port, PrepMode, TxQueue, VirtualClock};
use std::net::SocketAddrV4;
use std::time::Duration;
use udpip::testing::{parse_udp, udp_frame};
use udpip::wire::UdpPacket;
use udpip::{Datagram, Patch, PreparedDatagram, Udp, UdpApp, UdpConfig, UdpOut};

const US: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// On-link, and introduces itself before the frames, so answers to it go out at once.
const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// On-link, never resolved: answers wait for ARP.
const OTHER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 77);
/// Off-link, through a gateway that never answers ARP.
const FAR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const GATEWAY: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);
const DIRECTED_BROADCAST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 255);
const ECHO: u16 = 7;
/// Answers with a prepared datagram, its first two bytes patched from the query.
const PREPARED: u16 = 53;
const CLOSED: u16 = 4242;
const CLIENT: u16 = 40000;
/// First byte of a frame to be built as a UDP datagram.
const UDP_MARK: u8 = 0xfd;

/// Echoes on port 7; answers on port 53 through the prepared path, alternating modes.
#[derive(Default)]
struct Echo {
    prepared: Option<PreparedDatagram>,
    delivered: u64,
    bytes: u64,
}

impl UdpApp for Echo {
    fn on_start<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>) {
        out.bind(ECHO).unwrap();
        out.bind(PREPARED).unwrap();
        self.prepared = Some(out.prepare(PREPARED, &[0x5a; 100]).unwrap());
    }

    fn on_datagram<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>, d: Datagram<'_>) {
        self.delivered += 1;
        self.bytes += d.payload.len() as u64;
        if d.dst.port() == ECHO {
            out.reply(&d, d.payload);
            return;
        }
        let p = self.prepared.expect("prepared at start");
        let id = &d.payload[..d.payload.len().min(2)];
        let mode = if self.delivered.is_multiple_of(2) {
            PrepMode::PreCopy
        } else {
            PrepMode::Memcpy
        };
        out.send_prepared(&p, d.src, &[Patch::new(0, id)], mode);
    }
}

/// How a marked frame is built, from its second byte: bits 0-1 the destination port,
/// bits 2-4 the damage, bits 5-6 the addresses.
struct Shape(u8);

impl Shape {
    fn dst_port(&self) -> u16 {
        [ECHO, PREPARED, CLOSED, 0][usize::from(self.0 & 3)]
    }

    fn addrs(&self) -> (Ipv4Addr, Ipv4Addr) {
        match (self.0 >> 5) & 3 {
            0 => (PEER, US),
            1 => (OTHER, US),
            2 => (FAR, US),
            _ => (PEER, DIRECTED_BROADCAST),
        }
    }

    /// The datagram carrying `payload`, damaged as the shape says.
    fn frame(&self, peer_mac: MacAddr, our_mac: MacAddr, payload: &[u8]) -> Vec<u8> {
        let (src, dst) = self.addrs();
        let (src, dst) = (
            SocketAddrV4::new(src, CLIENT),
            SocketAddrV4::new(dst, self.dst_port()),
        );
        let mut f = udp_frame(peer_mac, our_mac, src, dst, payload);
        // Offsets in an option-less frame: the UDP header at 34, its length at 38, its
        // checksum at 40.
        let seg_len = f.len() - 34;
        let set_len =
            |f: &mut Vec<u8>, v: usize| f[38..40].copy_from_slice(&(v as u16).to_be_bytes());
        match (self.0 >> 2) & 7 {
            1 => f[40] ^= 1 << (payload.len() % 8),
            2 => f[40..42].fill(0),
            3 => set_len(&mut f, payload.len() % 8),
            4 => set_len(&mut f, seg_len + 1 + payload.len() % 64),
            5 => {
                // Shorter than the IPv4 payload, the rest being padding, with a checksum
                // that is right for the shorter datagram: it must be delivered.
                set_len(&mut f, 8 + payload.len() / 2);
                UdpPacket::new_unchecked(&mut f[34..]).fill_checksum(*src.ip(), *dst.ip());
            }
            6 => {
                let cut = payload.len() % 8;
                let seg = f[34..34 + cut].to_vec();
                f = ipv4_frame(
                    peer_mac,
                    our_mac,
                    *src.ip(),
                    *dst.ip(),
                    IpProtocol::UDP,
                    &seg,
                );
            }
            _ => {}
        }
        f
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&config, data)) = data.split_first() else {
        return;
    };
    let clock = VirtualClock::new(Instant::from_millis(1));
    // Small rings, pool and timer wheel: a run sends a few frames, and allocating the
    // defaults would dominate the time per input.
    let (mut peer, port) = pipe::pair(PipeConfig {
        ring_size: 32,
        wire_capacity: 64,
        prepared_capacity: 2,
        clock: Some(clock.clone()),
        ..Default::default()
    })
    .unwrap();
    let mut cfg = IfaceConfig::for_port(port.caps(), US, 24);
    cfg.gateway = Some(GATEWAY);
    let udp_cfg = UdpConfig {
        accept_zero_checksum: config & 1 == 0,
    };
    let udp = Udp::with_config(Echo::default(), udp_cfg);
    let mut stack = Stack::new(cfg, udp, clock.now()).unwrap();
    let loop_cfg = LoopConfig {
        timer_capacity: 1024,
        timer_slots: 256,
        ..LoopConfig::default()
    };
    let mut ev = EventLoop::new(port, clock.clone(), loop_cfg);
    stack.start_on(&mut ev);
    let our_mac = MacAddr(ev.port().caps().mac);
    let peer_mac = MacAddr(peer.caps().mac);

    let mut sent = Vec::new();
    inject(&mut peer, &arp_request(peer_mac, PEER, US));
    ev.run_once(&mut stack);
    sent.extend(drain(&mut peer));
    let mut frames = 1u64;
    for chunk in data.split(|&b| b == 0xfe).filter(|c| !c.is_empty()) {
        let f = match chunk {
            [UDP_MARK, shape, payload @ ..] => Shape(*shape).frame(peer_mac, our_mac, payload),
            _ => {
                // Address most raw frames to us so they get past the MAC filter.
                let mut f = chunk.to_vec();
                if f.len() >= 6 && f[0] & 1 == 0 {
                    f[..6].copy_from_slice(&our_mac.0);
                }
                f
            }
        };
        // The wire refuses what no NIC would carry (empty, above the MTU): not our input.
        let queued = peer.tx().send(|slot| match slot.get_mut(..f.len()) {
            Some(dst) => {
                dst.copy_from_slice(&f);
                f.len()
            }
            None => 0,
        });
        if !queued {
            continue;
        }
        peer.tx().flush().unwrap();
        ev.run_once(&mut stack);
        sent.extend(drain(&mut peer));
        clock.advance(Duration::from_millis(300));
        frames += 1;
    }
    ev.run_once(&mut stack);
    ev.flush();
    sent.extend(drain(&mut peer));

    let st = stack.stats();
    assert_eq!(st.eth.rx_frames, frames);
    let u = stack.upper().stats();
    // Every datagram handed to UDP ends in exactly one outcome (`rx_no_checksum` is not
    // one: such a datagram goes on to the port checks).
    let outcomes = u.rx_truncated
        + u.rx_bad_length
        + u.rx_bad_checksum
        + u.rx_no_checksum_refused
        + u.rx_dst_port_zero
        + u.rx_no_port
        + u.rx_delivered;
    assert_eq!(u.rx_datagrams, outcomes, "{u}");
    if udp_cfg.accept_zero_checksum {
        assert_eq!(u.rx_no_checksum_refused, 0);
    } else {
        assert_eq!(u.rx_no_checksum, 0);
    }
    // UDP is the only transport: the IPv4 layer's view must agree.
    assert_eq!(
        st.ip.rx_delivered + st.ip.rx_port_unreachable,
        u.rx_datagrams
    );
    assert_eq!(st.ip.rx_port_unreachable, u.rx_no_port);
    assert_eq!(
        u.rx_icmp_errors + u.rx_icmp_unmatched,
        st.icmp.errors_delivered
    );
    let app = stack.upper().app();
    assert_eq!((app.delivered, app.bytes), (u.rx_delivered, u.rx_bytes));
    for f in &sent {
        if let Some(d) = parse_udp(f) {
            assert!(d.checksums_ok, "sent an invalid datagram: {d:?}");
            assert_eq!(*d.src.ip(), US);
            assert!(d.src.port() == ECHO || d.src.port() == PREPARED);
        }
    }
});
