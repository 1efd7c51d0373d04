//! TCP segmentation offload on the AF_PACKET port, over a veth pair inside a private
//! namespace: a hand-built TCP super-frame committed with `commit_tso` reaches the other
//! end with every payload byte once and in order and its headers intact, and frames the
//! device could not cut are refused and counted at commit rather than lost in the kernel.
//! When the device loses TSO (or lowers its limits) while the port is open, the pending
//! super-frames it can no longer take are given up and counted instead of blocking the
//! ring; congestion with TSO still on loses nothing.
//!
//! The fixture turns the veth's offloads off; the sending end gets checksum offload and
//! TSO back on (`ethtool -K DEV tx on tso on`). The receiving end takes frames of up to
//! 64 KiB, so a super-frame that crosses the veth whole (the veth peer does not segment)
//! is handed up as one frame flagged `CSUM_PARTIAL`; segments would be accepted too.

use eth::checksum;
use nmio::backend::afpacket::{AfPacketConfig, AfPacketPort};
use nmio::{Port, RxFlags, RxQueue, TxQueue};
use std::time::{Duration, Instant};
use tests::netns::{require_root, NetNs, NsGuard};
use tests::tso::{commit_tso, flush_all, Flow, HDRS, IP_HLEN, TCP_HLEN};

const DEADLINE: Duration = Duration::from_secs(2);
const SRC_IP: [u8; 4] = [10, 88, 0, 1];
const DST_IP: [u8; 4] = [10, 88, 0, 2];
const SRC_PORT: u16 = 40_000;
const DST_PORT: u16 = 80;
const SEQ: u32 = 1_000_000;
const IP_ID: u16 = 0x1000;
const MSS: u16 = 1448;
const TCP_ACK: u8 = 0x10;
const TCP_PSH: u8 = 0x08;
const TCP_FIN: u8 = 0x01;
const TCP_CWR: u8 = 0x80;

/// The sending port `a` (TSO asked for) and the receiving port `b` on the two ends of a
/// veth pair. Fields drop in order: ports, then the thread leaves the namespace, then the
/// namespace (and the veth pair with it) is deleted, also when the test panics.
struct Link {
    a: AfPacketPort,
    b: AfPacketPort,
    ns: NetNs,
    _inside: NsGuard,
}

/// `setup` runs in the namespace before `a` is opened (ethtool, ip link settings).
fn link(
    test: &str,
    setup: &[&[&str]],
    cfg_a: impl FnOnce(AfPacketConfig) -> AfPacketConfig,
) -> Option<Link> {
    if !require_root(test, &["ip", "ethtool"]) {
        return None;
    }
    let ns = NetNs::new("tso").unwrap();
    ns.veth_pair("tsa", "tsb").unwrap();
    ns.exec(&["ethtool", "-K", "tsa", "tx", "on", "tso", "on"])
        .unwrap();
    for cmd in setup {
        ns.exec(cmd).unwrap();
    }
    let inside = ns.enter().unwrap();
    let a = AfPacketPort::open(cfg_a(AfPacketConfig {
        tso: true,
        tso_tx_frames: 32,
        // Ordinary frames keep the checksums the tests put in them, to be compared whole
        // (afpacket_smoke covers the checksums left to the device).
        tx_csum_offload: false,
        ..AfPacketConfig::new("tsa")
    }))
    .unwrap();
    // Room to hand up a 64 KiB super-frame (RX frames and, since a frame handed up must
    // fit a TX slot, TX slots too).
    let b = AfPacketPort::open(AfPacketConfig {
        rx_frame_size: 69_632,
        tx_frame_size: 69_632,
        tx_frames: 8,
        ..AfPacketConfig::new("tsb")
    })
    .unwrap();
    Some(Link {
        a,
        b,
        ns,
        _inside: inside,
    })
}

fn keep(c: AfPacketConfig) -> AfPacketConfig {
    c
}

/// Port A with `tx_linear` forced on (the kernel copies a frame whole) or off (it lends the
/// payload from the ring, as for a NIC).
fn linear_tx(linear: bool) -> impl FnOnce(AfPacketConfig) -> AfPacketConfig {
    move |c| AfPacketConfig {
        tx_linear: Some(linear),
        ..c
    }
}

/// A super-frame a -> b (see [`Flow::super_frame`]); `proto` other than 6 makes it not
/// TCP.
fn super_frame(l: &Link, payload: usize, flags: u8, proto: u8) -> Vec<u8> {
    frame_between(
        l.b.caps().mac,
        l.a.caps().mac,
        DST_IP,
        payload,
        flags,
        proto,
    )
}

/// A super-frame as [`super_frame`] between given MACs, to `dst_ip`.
fn frame_between(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    dst_ip: [u8; 4],
    payload: usize,
    flags: u8,
    proto: u8,
) -> Vec<u8> {
    let flow = Flow {
        macs: (dst_mac, src_mac),
        ips: (SRC_IP, dst_ip),
        ports: (SRC_PORT, DST_PORT),
        ip_id: IP_ID,
    };
    flow.super_frame(SEQ, payload, flags, proto)
}

/// A full-size ordinary TCP segment a -> b with its checksum filled in.
fn ordinary_segment(l: &Link) -> Vec<u8> {
    let mut plain = super_frame(l, usize::from(MSS), TCP_ACK, 6);
    plain[HDRS - TCP_HLEN + 16..HDRS - TCP_HLEN + 18].fill(0);
    let c = checksum::l4_checksum(SRC_IP, DST_IP, 6, &plain[14 + IP_HLEN..]);
    plain[HDRS - TCP_HLEN + 16..HDRS - TCP_HLEN + 18].copy_from_slice(&c.to_be_bytes());
    plain
}

/// Send `f` as an ordinary frame.
fn send_plain(port: &mut AfPacketPort, f: &[u8]) -> bool {
    port.tx().send(|buf| {
        buf[..f.len()].copy_from_slice(f);
        f.len()
    })
}

/// Kick until nothing is pending or `within` passed; how many kicks it took, or `None`.
fn flush_within(port: &mut AfPacketPort, within: Duration) -> Option<usize> {
    let end = Instant::now() + within;
    let mut kicks = 0;
    while port.tx().pending() > 0 {
        if Instant::now() >= end {
            return None;
        }
        port.tx().flush().unwrap();
        kicks += 1;
        if port.tx().pending() > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    Some(kicks)
}

/// Wait until every TX slot is free again.
fn ring_drains(port: &mut AfPacketPort) -> bool {
    let ring = port.caps().tx_ring_size;
    let end = Instant::now() + DEADLINE;
    while port.tx().tx_space() < ring {
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// One TCP frame of our flow as b received it.
#[derive(Debug)]
struct Seen {
    frame: Vec<u8>,
    csum_partial: bool,
}

impl Seen {
    fn ip(&self) -> &[u8] {
        &self.frame[14..14 + IP_HLEN]
    }
    fn tcp(&self) -> &[u8] {
        let ip_len = usize::from(u16::from_be_bytes([self.ip()[2], self.ip()[3]]));
        &self.frame[14 + IP_HLEN..14 + ip_len]
    }
    fn seq(&self) -> u32 {
        u32::from_be_bytes(self.tcp()[4..8].try_into().unwrap())
    }
    fn flags(&self) -> u8 {
        self.tcp()[13]
    }
    fn payload(&self) -> &[u8] {
        &self.tcp()[TCP_HLEN..]
    }
}

/// Receive frames of our flow (IPv4/TCP from SRC_IP:SRC_PORT) until `bytes` payload bytes
/// arrived or `within` passed.
fn recv_flow(port: &mut AfPacketPort, bytes: usize, within: Duration) -> Vec<Seen> {
    let end = Instant::now() + within;
    let mut got: Vec<Seen> = Vec::new();
    loop {
        port.rx().recv_burst(64, |f, m| {
            let ours = f.len() >= HDRS
                && f[12..14] == [0x08, 0x00]
                && f[23] == 6
                && f[26..30] == SRC_IP
                && f[34..36] == SRC_PORT.to_be_bytes();
            if ours {
                got.push(Seen {
                    frame: f.to_vec(),
                    csum_partial: m.flags.contains(RxFlags::CSUM_PARTIAL),
                });
            }
        });
        let have: usize = got.iter().map(|s| s.payload().len()).sum();
        let now = Instant::now();
        if have >= bytes || now >= end {
            return got;
        }
        port.wait(end - now).unwrap();
    }
}

/// Check that `got` carries `sent`'s payload exactly once, in order, with headers a
/// device's segmentation may produce from it; return a line saying how it arrived.
fn assert_delivered(sent: &[u8], got: &[Seen]) -> String {
    assert_arrived(sent, got, 0)
}

/// As [`assert_delivered`], for frames that crossed `hops` routers (new Ethernet header,
/// TTL less by `hops`).
fn assert_arrived(sent: &[u8], got: &[Seen], hops: u8) -> String {
    assert!(!got.is_empty(), "nothing of the super-frame arrived");
    let mut payload = Vec::new();
    for (i, s) in got.iter().enumerate() {
        let last = i + 1 == got.len();
        assert_eq!(
            s.seq(),
            SEQ.wrapping_add(payload.len() as u32),
            "frame {i}: bytes lost, repeated or out of order"
        );
        payload.extend_from_slice(s.payload());
        // Ethernet and the IP addresses as sent; IP header valid; id +1 per segment.
        if hops == 0 {
            assert_eq!(s.frame[..14], sent[..14], "frame {i}: Ethernet header");
        }
        assert!(checksum::verify(s.ip()), "frame {i}: IPv4 header checksum");
        assert_eq!(s.ip()[12..20], sent[26..34], "frame {i}: addresses");
        assert_eq!(s.ip()[8], sent[22] - hops, "frame {i}: TTL");
        assert_eq!(s.ip()[9], sent[23], "frame {i}: protocol");
        let id = u16::from_be_bytes([s.ip()[4], s.ip()[5]]);
        assert_eq!(id, IP_ID.wrapping_add(i as u16), "frame {i}: IP id");
        // TCP: ports, ack, window and options copied; PSH only on the last segment.
        assert_eq!(s.tcp()[..4], sent[34..38], "frame {i}: ports");
        assert_eq!(s.tcp()[8..12], sent[42..46], "frame {i}: ack");
        assert_eq!(s.tcp()[14..16], sent[48..50], "frame {i}: window");
        assert_eq!(s.tcp()[20..TCP_HLEN], sent[54..HDRS], "frame {i}: options");
        let want_flags = if last { sent[47] } else { sent[47] & !TCP_PSH };
        assert_eq!(s.flags(), want_flags, "frame {i}: flags");
        let tcp_len = s.tcp().len() as u16;
        let dst_ip: [u8; 4] = s.ip()[16..20].try_into().unwrap();
        if s.csum_partial {
            // Still to be filled in: the field holds the pseudo-header sum of this frame.
            let pseudo = checksum::pseudo_header_sum(SRC_IP, dst_ip, 6, tcp_len);
            let field = u16::from_be_bytes([s.tcp()[16], s.tcp()[17]]);
            assert_eq!(field, pseudo as u16, "frame {i}: partial checksum");
        } else {
            assert!(
                checksum::l4_verify(SRC_IP, dst_ip, 6, s.tcp()),
                "frame {i}: TCP checksum"
            );
        }
    }
    assert_eq!(payload.len(), sent.len() - HDRS, "payload length");
    assert!(payload == sent[HDRS..], "payload bytes differ");
    if got.len() == 1 {
        format!(
            "one super-frame of {} bytes{}",
            got[0].frame.len(),
            if got[0].csum_partial {
                ", CSUM_PARTIAL"
            } else {
                ""
            }
        )
    } else {
        format!("{} segments", got.len())
    }
}

#[test]
fn a_super_frame_arrives_whole_once_and_in_order_copied_or_lent() {
    // tx_linear on: the kernel copies the frame whole; off (as for a NIC): it copies the
    // headers and lends the payload from the ring.
    for linear in [true, false] {
        let Some(mut l) = link(
            "a_super_frame_arrives_whole_once_and_in_order_copied_or_lent",
            &[],
            linear_tx(linear),
        ) else {
            return;
        };
        assert_eq!(l.a.tso_unavailable(), None);
        let tso_max = l.a.tx().tso_max();
        assert!(tso_max >= 65_000, "linear {linear}: tso_max {tso_max}");
        assert!(tso_max <= l.a.tx().slot_size());
        let ring = l.a.caps().tx_ring_size;
        assert_eq!(ring, 45, "32 slots rounded up to 3 blocks of 15");
        let sent = super_frame(&l, 20_000, TCP_ACK | TCP_PSH, 6);
        assert!(commit_tso(&mut l.a, &sent, MSS), "linear {linear}");
        assert_eq!(flush_all(&mut l.a, DEADLINE), 1);
        let got = recv_flow(&mut l.b, 20_000, DEADLINE);
        let how = assert_delivered(&sent, &got);
        println!("linear {linear}: 20,000 bytes at mss {MSS} arrived as {how}");
        let s = l.a.stats();
        assert_eq!((s.tx_tso, s.tx_frames), (1, 1), "linear {linear}");
        assert_eq!(s.tx_bytes, sent.len() as u64);
        assert_eq!(s.tx_bad_len + s.tx_errors, 0, "linear {linear}");
        // The slot comes back once the kernel is done with the frame.
        let end = Instant::now() + DEADLINE;
        while l.a.tx().tx_space() < ring {
            assert!(
                Instant::now() < end,
                "linear {linear}: slot never reclaimed"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(l.b.stats().rx_truncated, 0);
    }
}

#[test]
fn the_largest_super_frame_and_a_one_segment_one_arrive_intact() {
    // Copied whole or with the payload lent, the veth's gso_max_size of 65,536 caps a
    // frame, its Ethernet header included, at 65,535 bytes.
    for linear in [true, false] {
        let Some(mut l) = link(
            "the_largest_super_frame_and_a_one_segment_one_arrive_intact",
            &[],
            linear_tx(linear),
        ) else {
            return;
        };
        let max = l.a.tx().tso_max();
        assert_eq!(max, 65_535, "linear {linear}");
        // FIN goes on the last segment only; one segment is sent without GSO, its
        // checksum still left to the device.
        let big = super_frame(&l, max - HDRS, TCP_ACK | TCP_FIN, 6);
        let one = super_frame(&l, 1000, TCP_ACK | TCP_PSH, 6);
        assert!(commit_tso(&mut l.a, &big, MSS));
        flush_all(&mut l.a, DEADLINE);
        let got = recv_flow(&mut l.b, max - HDRS, DEADLINE);
        assert_eq!(
            l.b.stats().rx_truncated,
            0,
            "the receiver's frames are large enough"
        );
        let how = assert_delivered(&big, &got);
        println!(
            "linear {linear}: {} bytes of payload arrived as {how}",
            max - HDRS
        );
        assert!(commit_tso(&mut l.a, &one, MSS));
        flush_all(&mut l.a, DEADLINE);
        assert_delivered(&one, &recv_flow(&mut l.b, 1000, DEADLINE));
        assert_eq!(l.a.stats().tx_tso, 2);
    }
}

#[test]
fn a_router_without_tso_cuts_the_super_frame_into_valid_segments() {
    // Our port on tsa -> tsb in a router namespace, which forwards out of tsc (TSO and
    // checksum offload off) -> tsd, back here: the router's kernel cuts the super-frame
    // into segments and fills in each checksum from the partial sum we gave, as a device
    // would. Every segment must arrive with valid checksums.
    const TEST: &str = "a_router_without_tso_cuts_the_super_frame_into_valid_segments";
    if !require_root(TEST, &["ip", "ethtool"]) {
        return;
    }
    let here = NetNs::new("tso").unwrap();
    let router = NetNs::new("tsor").unwrap();
    here.veth_to("tsa", &router, "tsb").unwrap();
    router.veth_to("tsc", &here, "tsd").unwrap();
    here.exec(&["ethtool", "-K", "tsa", "tx", "on", "tso", "on"])
        .unwrap();
    let far_ip = [10, 88, 1, 2];
    for cmd in [
        &["ip", "addr", "add", "10.88.0.254/24", "dev", "tsb"][..],
        &["ip", "addr", "add", "10.88.1.254/24", "dev", "tsc"],
        &["sysctl", "-qw", "net.ipv4.ip_forward=1"],
        &["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0"],
        &["sysctl", "-qw", "net.ipv4.conf.tsb.rp_filter=0"],
    ] {
        router.exec(cmd).unwrap();
    }
    let mac_of = |ns: &NetNs, dev: &str| -> [u8; 6] {
        let text = ns.exec(&["cat", &format!("/sys/class/net/{dev}/address")]);
        let bytes: Vec<u8> = text
            .unwrap()
            .trim()
            .split(':')
            .map(|h| u8::from_str_radix(h, 16).unwrap())
            .collect();
        bytes.try_into().unwrap()
    };
    let (tsb_mac, tsd_mac) = (mac_of(&router, "tsb"), mac_of(&here, "tsd"));
    let tsd_mac_text: Vec<String> = tsd_mac.iter().map(|b| format!("{b:02x}")).collect();
    router
        .exec(&[
            "ip",
            "neigh",
            "add",
            "10.88.1.2",
            "lladdr",
            &tsd_mac_text.join(":"),
            "dev",
            "tsc",
            "nud",
            "permanent",
        ])
        .unwrap();
    let _inside = here.enter().unwrap();
    let mut a = AfPacketPort::open(AfPacketConfig {
        tso: true,
        tso_tx_frames: 15,
        ..AfPacketConfig::new("tsa")
    })
    .unwrap();
    let mut d = AfPacketPort::open(AfPacketConfig::new("tsd")).unwrap();
    assert_eq!(a.tso_unavailable(), None);
    let sent = frame_between(tsb_mac, a.caps().mac, far_ip, 20_000, TCP_ACK | TCP_PSH, 6);
    assert!(commit_tso(&mut a, &sent, MSS));
    flush_all(&mut a, DEADLINE);
    let got = recv_flow(&mut d, 20_000, DEADLINE);
    let how = assert_arrived(&sent, &got, 1);
    println!("routed through a device without TSO: {how}");
    assert_eq!(got.len(), 14, "20,000 bytes in segments of 1448");
    assert!(got.iter().all(|s| !s.csum_partial && s.frame.len() <= 1514));
    // CWR stays on the first segment only (RFC 3168 6.1.2: once per window).
    let cwr = frame_between(tsb_mac, a.caps().mac, far_ip, 5000, TCP_ACK | TCP_CWR, 6);
    assert!(commit_tso(&mut a, &cwr, MSS));
    flush_all(&mut a, DEADLINE);
    let got = recv_flow(&mut d, 5000, DEADLINE);
    assert_eq!(got.len(), 4);
    assert_eq!(got[0].flags(), TCP_ACK | TCP_CWR);
    assert!(
        got[1..].iter().all(|s| s.flags() == TCP_ACK),
        "CWR repeated"
    );
    let payload: Vec<u8> = got.iter().flat_map(|s| s.payload().to_vec()).collect();
    assert!(payload == cwr[HDRS..]);
    assert_eq!(d.stats().rx_truncated, 0);
}

#[test]
fn ordinary_frames_share_the_ring_in_order_and_keep_the_mtu_check() {
    // In the same ring as super-frames, an ordinary frame is copied whole (tx_linear) or
    // has its tail lent from the ring (without), as on a port without TSO.
    for linear in [true, false] {
        let Some(mut l) = link(
            "ordinary_frames_share_the_ring_in_order_and_keep_the_mtu_check",
            &[],
            linear_tx(linear),
        ) else {
            return;
        };
        // A full-size segment with its checksum filled in, a super-frame, the segment
        // again.
        let plain = ordinary_segment(&l);
        assert_eq!(plain.len(), 1514);
        assert!(send_plain(&mut l.a, &plain));
        let sent = super_frame(&l, 5000, TCP_ACK | TCP_PSH, 6);
        assert!(commit_tso(&mut l.a, &sent, MSS));
        assert!(send_plain(&mut l.a, &plain));
        // An ordinary frame above the MTU is still refused at commit.
        let over = super_frame(&l, usize::from(MSS) + 1, TCP_ACK, 6);
        assert!(!send_plain(&mut l.a, &over));
        assert_eq!(l.a.stats().tx_errors, 1);
        assert_eq!(flush_all(&mut l.a, DEADLINE), 3);
        let want = 2 * usize::from(MSS) + 5000;
        let got = recv_flow(&mut l.b, want, DEADLINE);
        assert!(got.len() >= 3, "linear {linear}: {} frames", got.len());
        assert!(got[0].frame == plain, "linear {linear}: first frame");
        assert!(
            got[got.len() - 1].frame == plain,
            "linear {linear}: last frame"
        );
        assert!(!got[0].csum_partial);
        assert_delivered(&sent, &got[1..got.len() - 1]);
        let bytes: usize = got.iter().map(|s| s.payload().len()).sum();
        assert_eq!(bytes, want, "linear {linear}");
        let s = l.a.stats();
        assert_eq!((s.tx_frames, s.tx_tso), (3, 1), "linear {linear}");
    }
}

#[test]
fn frames_the_device_cannot_cut_are_refused_and_counted() {
    let Some(mut l) = link(
        "frames_the_device_cannot_cut_are_refused_and_counted",
        &[],
        keep,
    ) else {
        return;
    };
    let good = super_frame(&l, 20_000, TCP_ACK, 6);
    let tso_max = l.a.tx().tso_max();
    let mut bad_len = 0;
    let mut refused = |l: &mut Link, what: &str, ok: bool| {
        assert!(!ok, "{what} was accepted");
        bad_len += 1;
        let s = l.a.stats();
        assert_eq!(s.tx_bad_len, bad_len, "{what}");
        assert_eq!((s.tx_tso, s.tx_frames), (0, 0), "{what}");
        assert_eq!(l.a.tx().pending(), 0, "{what} was queued");
    };
    // Headers + mss above the MTU: 20 + 32 + 1449 = 1501.
    let ok = commit_tso(&mut l.a, &good, MSS + 1);
    refused(&mut l, "mss one byte too large", ok);
    let ok = commit_tso(&mut l.a, &good, 0);
    refused(&mut l, "mss 0", ok);
    let udp = super_frame(&l, 20_000, TCP_ACK, 17);
    let ok = commit_tso(&mut l.a, &udp, MSS);
    refused(&mut l, "a UDP frame", ok);
    let mut arp = good.clone();
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    let ok = commit_tso(&mut l.a, &arp, MSS);
    refused(&mut l, "an ARP frame", ok);
    let mut short_ip = good.clone();
    short_ip[16..18].copy_from_slice(&1000u16.to_be_bytes());
    let ok = commit_tso(&mut l.a, &short_ip, MSS);
    refused(&mut l, "an IPv4 total length short of the frame", ok);
    // Longer than tso_max: refused before the frame is looked at.
    let ok = {
        let tx = l.a.tx();
        let buf = tx.reserve().unwrap();
        buf[..good.len()].copy_from_slice(&good);
        tx.commit_tso(tso_max + 1, MSS)
    };
    refused(&mut l, "a frame above tso_max", ok);
    let ok = l.a.tx().commit_tso(good.len(), MSS);
    refused(&mut l, "a commit without a reservation", ok);
    assert!(
        recv_flow(&mut l.b, 1, Duration::from_millis(50)).is_empty(),
        "a refused frame went out"
    );
    // The ring is not disturbed: a good frame goes next.
    assert!(commit_tso(&mut l.a, &good, MSS));
    flush_all(&mut l.a, DEADLINE);
    assert_delivered(&good, &recv_flow(&mut l.b, 20_000, DEADLINE));
}

#[test]
fn the_device_gso_limits_bound_the_super_frames() {
    // gso_max_size 16384 caps tso_max at 16383 (the kernel counts the Ethernet header and
    // takes GSO away from an skb of that size); gso_max_segs 8 refuses a ninth segment.
    // Read through netlink, so right inside the namespace.
    let Some(mut l) = link(
        "the_device_gso_limits_bound_the_super_frames",
        &[
            &["ip", "link", "set", "tsa", "gso_max_size", "16384"],
            &["ip", "link", "set", "tsa", "gso_max_segs", "8"],
        ],
        keep,
    ) else {
        return;
    };
    assert_eq!(l.a.tx().tso_max(), 16_383);
    let nine = super_frame(&l, 8 * usize::from(MSS) + 1, TCP_ACK, 6);
    assert!(nine.len() <= 16_383);
    assert!(!commit_tso(&mut l.a, &nine, MSS), "nine segments");
    assert_eq!(l.a.stats().tx_bad_len, 1);
    let eight = super_frame(&l, 8 * usize::from(MSS), TCP_ACK, 6);
    assert!(commit_tso(&mut l.a, &eight, MSS));
    flush_all(&mut l.a, DEADLINE);
    assert_delivered(&eight, &recv_flow(&mut l.b, eight.len() - HDRS, DEADLINE));
}

#[test]
fn cwr_needs_a_device_that_clears_it_after_the_first_segment() {
    // Without tx-tcp-ecn-segmentation the kernel would segment a CWR super-frame in
    // software, which the qdisc bypass drops: refused at commit instead. A lone segment
    // with CWR needs no cutting and goes.
    let Some(mut l) = link(
        "cwr_needs_a_device_that_clears_it_after_the_first_segment",
        &[&["ethtool", "-K", "tsa", "tx-tcp-ecn-segmentation", "off"]],
        keep,
    ) else {
        return;
    };
    let cwr = super_frame(&l, 20_000, TCP_ACK | TCP_CWR, 6);
    assert!(!commit_tso(&mut l.a, &cwr, MSS));
    assert_eq!(l.a.stats().tx_bad_len, 1);
    let lone = super_frame(&l, 1000, TCP_ACK | TCP_CWR, 6);
    assert!(commit_tso(&mut l.a, &lone, MSS));
    flush_all(&mut l.a, DEADLINE);
    assert_delivered(&lone, &recv_flow(&mut l.b, 1000, DEADLINE));
    // With ECN segmentation on, CWR goes on the first segment only (or the frame arrives
    // whole with CWR, for the receiver's GSO to handle).
    l.ns.exec(&["ethtool", "-K", "tsa", "tx-tcp-ecn-segmentation", "on"])
        .unwrap();
    let mut a = AfPacketPort::open(AfPacketConfig {
        tso: true,
        tso_tx_frames: 15,
        ..AfPacketConfig::new("tsa")
    })
    .unwrap();
    let tx = a.tx();
    let buf = tx.reserve().unwrap();
    buf[..cwr.len()].copy_from_slice(&cwr);
    assert!(tx.commit_tso(cwr.len(), MSS));
    flush_all(&mut a, DEADLINE);
    let got = recv_flow(&mut l.b, 20_000, DEADLINE);
    let payload: usize = got.iter().map(|s| s.payload().len()).sum();
    assert_eq!(payload, 20_000);
    assert!(got[0].flags() & TCP_CWR != 0);
    assert!(got[1..].iter().all(|s| s.flags() & TCP_CWR == 0));
}

#[test]
fn without_tso_commit_tso_refuses_and_the_port_says_why() {
    let Some(mut l) = link(
        "without_tso_commit_tso_refuses_and_the_port_says_why",
        &[],
        |c| AfPacketConfig { tso: false, ..c },
    ) else {
        return;
    };
    // Not asked for: nothing to say, ordinary slots.
    assert_eq!(l.a.tso_unavailable(), None);
    assert_eq!(l.a.tx().tso_max(), 0);
    assert_eq!(l.a.tx().slot_size(), 2006);
    let small = super_frame(&l, 1000, TCP_ACK, 6);
    assert!(
        !commit_tso(&mut l.a, &small, MSS),
        "no TSO, not even one segment"
    );
    assert_eq!(l.a.stats().tx_bad_len, 1);
    // Asked for on a device with TSO off (the fixture turned it off on tsb): the port
    // opens without it and says why.
    let mut b = AfPacketPort::open(AfPacketConfig {
        tso: true,
        ..AfPacketConfig::new("tsb")
    })
    .unwrap();
    let why = b.tso_unavailable().expect("a reason").to_string();
    println!("tsb: {why}");
    assert!(why.contains("\"tsb\"") && why.contains("tso"), "{why}");
    assert!(!why.contains('\n'));
    assert_eq!(b.tx().tso_max(), 0);
    assert_eq!(b.tx().slot_size(), 2006, "ordinary slots");
    assert_eq!(b.caps().tx_ring_size, 1024, "tx_frames, not tso_tx_frames");
    let buf = b.tx().reserve().unwrap();
    buf[..1000].fill(0);
    assert!(!b.tx().commit_tso(1000, MSS));
    assert_eq!(b.stats().tx_bad_len, 1);
}

#[test]
fn tso_turned_off_while_open_drops_the_stuck_super_frame_and_the_ring_moves_on() {
    // With the qdisc bypass, a super-frame the device can no longer cut is dropped at the
    // driver and put back in the ring by the kernel (ENOBUFS on every kick), holding up
    // everything behind it. The port notices, gives the super-frame up (tx_errors) and
    // stops taking super-frames; the ordinary frames behind it go, in order.
    for linear in [true, false] {
        let Some(mut l) = link(
            "tso_turned_off_while_open_drops_the_stuck_super_frame_and_the_ring_moves_on",
            &[],
            linear_tx(linear),
        ) else {
            return;
        };
        assert_eq!(l.a.tso_unavailable(), None);
        l.ns.exec(&["ethtool", "-K", "tsa", "tso", "off"]).unwrap();
        let plain = ordinary_segment(&l);
        let sent = super_frame(&l, 20_000, TCP_ACK | TCP_PSH, 6);
        assert!(commit_tso(&mut l.a, &sent, MSS), "linear {linear}");
        assert!(send_plain(&mut l.a, &plain));
        let kicks = flush_within(&mut l.a, DEADLINE);
        assert!(kicks.is_some(), "linear {linear}: the ring stayed blocked");
        println!("linear {linear}: unblocked after {kicks:?} kicks");
        let got = recv_flow(&mut l.b, usize::from(MSS), DEADLINE);
        assert_eq!(got.len(), 1, "linear {linear}: only the ordinary frame");
        assert!(got[0].frame == plain, "linear {linear}");
        let s = l.a.stats();
        assert_eq!(s.tx_errors, 1, "linear {linear}: the super-frame, counted");
        assert_eq!((s.tx_frames, s.tx_tso), (2, 1), "linear {linear}");
        assert_eq!(l.a.tx().tso_max(), 0, "linear {linear}");
        let why = l.a.tso_unavailable().expect("a reason").to_string();
        println!("linear {linear}: {why}");
        assert!(why.contains("\"tsa\"") && why.contains("while the port was open"));
        assert!(!why.contains('\n'));
        assert!(
            ring_drains(&mut l.a),
            "linear {linear}: slots not given back"
        );
        // Super-frames are refused from now on, counted; ordinary frames still go.
        assert!(!commit_tso(&mut l.a, &sent, MSS));
        assert_eq!(l.a.stats().tx_bad_len, 1);
        assert!(send_plain(&mut l.a, &plain));
        flush_all(&mut l.a, DEADLINE);
        let got = recv_flow(&mut l.b, usize::from(MSS), DEADLINE);
        assert!(got.len() == 1 && got[0].frame == plain, "linear {linear}");
    }
}

#[test]
fn a_super_frame_held_up_by_congestion_waits_for_the_device_and_is_not_dropped() {
    // The peer going down takes the carrier away: the driver drops every frame and the
    // kernel puts it back (ENOBUFS on each kick), a super-frame first in line included. TSO
    // is still on, so the port must keep both frames and send them once the link is back,
    // however many kicks that took (more than one re-reading of the device here).
    let Some(mut l) = link(
        "a_super_frame_held_up_by_congestion_waits_for_the_device_and_is_not_dropped",
        &[],
        keep,
    ) else {
        return;
    };
    let tso_max = l.a.tx().tso_max();
    l.ns.exec(&["ip", "link", "set", "tsb", "down"]).unwrap();
    let plain = ordinary_segment(&l);
    let sent = super_frame(&l, 20_000, TCP_ACK | TCP_PSH, 6);
    assert!(commit_tso(&mut l.a, &sent, MSS));
    assert!(send_plain(&mut l.a, &plain));
    for _ in 0..200 {
        assert_eq!(l.a.tx().flush().unwrap(), 0, "sent without a carrier");
    }
    assert_eq!(l.a.tx().pending(), 2, "both frames kept");
    let s = l.a.stats();
    assert_eq!((s.tx_errors, s.tx_bad_len), (0, 0));
    assert_eq!(l.a.tx().tso_max(), tso_max, "TSO kept");
    assert_eq!(l.a.tso_unavailable(), None);
    l.ns.exec(&["ip", "link", "set", "tsb", "up"]).unwrap();
    // The receiving socket lost its device for a while; a fresh one sees what comes next.
    l.b = AfPacketPort::open(AfPacketConfig {
        rx_frame_size: 69_632,
        tx_frame_size: 69_632,
        tx_frames: 8,
        ..AfPacketConfig::new("tsb")
    })
    .unwrap();
    let kicks = flush_within(&mut l.a, DEADLINE).expect("sent once the carrier is back");
    println!("sent {kicks} kicks after the carrier came back");
    let got = recv_flow(&mut l.b, 20_000 + usize::from(MSS), DEADLINE);
    let (last, firsts) = got.split_last().expect("frames");
    assert_delivered(&sent, firsts);
    assert!(last.frame == plain, "the ordinary frame last");
    assert_eq!(l.a.stats().tx_errors, 0);
    assert!(ring_drains(&mut l.a));
}

#[test]
fn gso_limits_lowered_while_open_drop_only_the_super_frames_past_them() {
    // gso_max_size lowered under a pending 20,000-byte super-frame: the device would never
    // take it (the kernel segments it in software and the qdisc bypass drops the list).
    // It is given up; a smaller super-frame and an ordinary frame behind it go, and
    // tso_max follows the new limit while TSO stays in use.
    let Some(mut l) = link(
        "gso_limits_lowered_while_open_drop_only_the_super_frames_past_them",
        &[],
        keep,
    ) else {
        return;
    };
    l.ns.exec(&["ip", "link", "set", "tsa", "gso_max_size", "16384"])
        .unwrap();
    let big = super_frame(&l, 20_000, TCP_ACK, 6);
    let small = super_frame(&l, 5000, TCP_ACK | TCP_PSH, 6);
    let plain = ordinary_segment(&l);
    assert!(commit_tso(&mut l.a, &big, MSS));
    assert!(commit_tso(&mut l.a, &small, MSS));
    assert!(send_plain(&mut l.a, &plain));
    assert!(
        flush_within(&mut l.a, DEADLINE).is_some(),
        "the ring stayed blocked"
    );
    let got = recv_flow(&mut l.b, 5000 + usize::from(MSS), DEADLINE);
    let (last, firsts) = got.split_last().expect("frames");
    assert_delivered(&small, firsts);
    assert!(last.frame == plain);
    assert_eq!(l.a.stats().tx_errors, 1, "the big one, counted");
    assert_eq!(l.a.tx().tso_max(), 16_383);
    assert_eq!(l.a.tso_unavailable(), None, "TSO still in use");
    assert!(!commit_tso(&mut l.a, &big, MSS), "past the new limit");
    assert!(ring_drains(&mut l.a));
}

#[test]
fn ecn_segmentation_turned_off_while_open_drops_pending_cwr_super_frames() {
    // Without tx-tcp-ecn-segmentation a CWR super-frame is segmented in software and
    // dropped by the qdisc bypass: one pending when it goes off is given up, later ones
    // are refused at commit, and super-frames without CWR still go.
    let Some(mut l) = link(
        "ecn_segmentation_turned_off_while_open_drops_pending_cwr_super_frames",
        &[],
        keep,
    ) else {
        return;
    };
    l.ns.exec(&["ethtool", "-K", "tsa", "tx-tcp-ecn-segmentation", "off"])
        .unwrap();
    let cwr = super_frame(&l, 20_000, TCP_ACK | TCP_CWR, 6);
    let plain = super_frame(&l, 20_000, TCP_ACK | TCP_PSH, 6);
    assert!(commit_tso(&mut l.a, &cwr, MSS));
    assert!(commit_tso(&mut l.a, &plain, MSS));
    assert!(
        flush_within(&mut l.a, DEADLINE).is_some(),
        "the ring stayed blocked"
    );
    assert_delivered(&plain, &recv_flow(&mut l.b, 20_000, DEADLINE));
    assert_eq!(l.a.stats().tx_errors, 1);
    assert_eq!(l.a.tso_unavailable(), None);
    assert!(
        !commit_tso(&mut l.a, &cwr, MSS),
        "CWR refused at commit now"
    );
    assert!(commit_tso(&mut l.a, &plain, MSS));
    flush_all(&mut l.a, DEADLINE);
    assert_delivered(&plain, &recv_flow(&mut l.b, 20_000, DEADLINE));
    assert!(ring_drains(&mut l.a));
}
