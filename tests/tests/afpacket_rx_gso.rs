//! Receiving GSO super-frames on the AF_PACKET port (`AfPacketConfig::rx_gso`), over a veth
//! pair inside a private namespace. Port A sends TCP super-frames with TSO; the veth does
//! not cut them, so port B receives each one whole, with the kernel's `virtio_net_hdr`
//! saying how to cut it. With `rx_gso`, B hands up MSS-sized segments as a NIC would have
//! put them on the wire: every payload byte once and in order, consecutive sequence
//! numbers, valid IPv4 and TCP checksums, FIN and PSH on the last segment only and CWR on
//! the first only. Ordinary frames pass unchanged; without `rx_gso` a super-frame is
//! counted in `rx_truncated`, as before.
//!
//! Checksums are verified with a plain RFC 1071 sum written here, not with the code under
//! test.

use nmio::backend::afpacket::{AfPacketConfig, AfPacketPort, RxRingKind};
use nmio::{Port, RxFlags, RxQueue, TxQueue};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};
use tests::netns::{require_root, NetNs, NsGuard};
use tests::packet_socket::PacketSocket;
use tests::tso::{commit_tso, flush_all, payload_byte, Flow, HDRS, IP_HLEN, TCP_HLEN};

const DEADLINE: Duration = Duration::from_secs(2);
const SRC_IP: [u8; 4] = [10, 89, 0, 1];
const DST_IP: [u8; 4] = [10, 89, 0, 2];
const SRC_PORT: u16 = 40_001;
const DST_PORT: u16 = 80;
const IP_ID: u16 = 0xfff0;
const MSS: u16 = 1448;
const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;
const TCP_CWR: u8 = 0x80;
/// The largest super-frame: IPv4 total length 65,535.
const MAX_PAYLOAD: usize = 65_535 - IP_HLEN - TCP_HLEN;

/// Sender `a` (TSO) and receiver `b` on the two ends of a veth pair. Fields drop in order:
/// ports, then the thread leaves the namespace, then the namespace goes.
struct Link {
    a: AfPacketPort,
    b: AfPacketPort,
    _ns: NetNs,
    _inside: NsGuard,
}

fn link(test: &str, cfg_b: AfPacketConfig) -> Option<Link> {
    if !require_root(test, &["ip", "ethtool"]) {
        return None;
    }
    let ns = NetNs::new("rxgso").unwrap();
    ns.veth_pair("rga", "rgb").unwrap();
    ns.tso_on("rga").unwrap();
    // CWR super-frames need the device to keep CWR to the first segment.
    ns.exec(&["ethtool", "-K", "rga", "tx-tcp-ecn-segmentation", "on"])
        .unwrap();
    let inside = ns.enter().unwrap();
    let a = AfPacketPort::open(AfPacketConfig {
        tso: true,
        tso_tx_frames: 15,
        // Ordinary frames keep the checksums the tests put in them, to be compared whole
        // (afpacket_smoke covers the checksums left to the device).
        tx_csum_offload: false,
        ..AfPacketConfig::new("rga")
    })
    .unwrap();
    assert_eq!(a.tso_unavailable(), None, "the sender needs TSO");
    let b = AfPacketPort::open(AfPacketConfig {
        ifname: "rgb".into(),
        ..cfg_b
    })
    .unwrap();
    Some(Link {
        a,
        b,
        _ns: ns,
        _inside: inside,
    })
}

fn rx_gso(ring: RxRingKind) -> AfPacketConfig {
    AfPacketConfig {
        rx_gso: true,
        rx_gso_frames: 32,
        rx_ring: ring,
        ..AfPacketConfig::new("")
    }
}

/// RFC 1071 ones-complement sum of `data`, folded.
fn ones_sum(data: &[u8]) -> u16 {
    let mut s: u64 = 0;
    for c in data.chunks(2) {
        s += u64::from(c[0]) << 8 | u64::from(*c.get(1).unwrap_or(&0));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// The pseudo-header (RFC 9293 3.1) for a TCP segment of `tcp_len` bytes.
fn pseudo(src: &[u8], dst: &[u8], tcp_len: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(12);
    p.extend_from_slice(src);
    p.extend_from_slice(dst);
    p.extend_from_slice(&[0, 6]);
    p.extend_from_slice(&(tcp_len as u16).to_be_bytes());
    p
}

/// A TCP super-frame a -> b with `payload` bytes, as `commit_tso` takes it.
fn super_frame(l: &Link, seq: u32, payload: usize, flags: u8) -> Vec<u8> {
    let flow = Flow {
        macs: (l.b.caps().mac, l.a.caps().mac),
        ips: (SRC_IP, DST_IP),
        ports: (SRC_PORT, DST_PORT),
        ip_id: IP_ID,
    };
    flow.super_frame(seq, payload, flags, 6)
}

fn send_plain(port: &mut AfPacketPort, f: &[u8]) {
    assert!(port.tx().send(|buf| {
        buf[..f.len()].copy_from_slice(f);
        f.len()
    }));
}

/// One frame of our flow as b handed it up.
struct Seen {
    frame: Vec<u8>,
    flags: RxFlags,
}

impl Seen {
    fn ip(&self) -> &[u8] {
        &self.frame[14..14 + IP_HLEN]
    }
    fn tcp(&self) -> &[u8] {
        &self.frame[14 + IP_HLEN..]
    }
    fn seq(&self) -> u32 {
        u32::from_be_bytes(self.tcp()[4..8].try_into().unwrap())
    }
    fn payload(&self) -> &[u8] {
        &self.tcp()[TCP_HLEN..]
    }
}

/// Frames of our flow handed up until `bytes` payload bytes came or the deadline passed,
/// `max` per burst; also the largest burst seen.
fn recv_flow(port: &mut AfPacketPort, bytes: usize, max: usize) -> (Vec<Seen>, usize) {
    let end = Instant::now() + DEADLINE;
    let (mut got, mut most) = (Vec::<Seen>::new(), 0);
    loop {
        let n = port.rx().recv_burst(max, |f, m| {
            assert_eq!(m.len as usize, f.len());
            let ours = f.len() >= HDRS && f[23] == 6 && f[26..30] == SRC_IP;
            if ours {
                got.push(Seen {
                    frame: f.to_vec(),
                    flags: m.flags,
                });
            }
        });
        most = most.max(n);
        let have: usize = got.iter().map(|s| s.payload().len()).sum();
        let now = Instant::now();
        if have >= bytes || now >= end {
            return (got, most);
        }
        if n == 0 {
            port.wait(end - now).unwrap();
        }
    }
}

/// `got` is `sent` cut as a NIC cuts it at `MSS`.
fn assert_cut(sent: &[u8], got: &[Seen]) {
    let payload_len = sent.len() - HDRS;
    assert_eq!(
        got.len(),
        payload_len.div_ceil(usize::from(MSS)),
        "segments"
    );
    let seq0 = u32::from_be_bytes(sent[38..42].try_into().unwrap());
    let mut payload = Vec::new();
    for (i, s) in got.iter().enumerate() {
        let last = i + 1 == got.len();
        assert!(s.frame.len() <= 14 + 1500, "segment {i}: over the MTU");
        if !last {
            assert_eq!(s.payload().len(), usize::from(MSS), "segment {i}: not full");
        }
        assert_eq!(
            s.seq(),
            seq0.wrapping_add(payload.len() as u32),
            "segment {i}: sequence"
        );
        let total = usize::from(u16::from_be_bytes([s.ip()[2], s.ip()[3]]));
        assert_eq!(total, s.frame.len() - 14, "segment {i}: IPv4 total length");
        let id = u16::from_be_bytes([s.ip()[4], s.ip()[5]]);
        assert_eq!(id, IP_ID.wrapping_add(i as u16), "segment {i}: IPv4 id");
        assert_eq!(ones_sum(s.ip()), 0xffff, "segment {i}: IPv4 checksum");
        let mut sum = pseudo(&s.ip()[12..16], &s.ip()[16..20], s.tcp().len());
        sum.extend_from_slice(s.tcp());
        assert_eq!(ones_sum(&sum), 0xffff, "segment {i}: TCP checksum");
        // Headers as sent but for what the cut changes.
        assert_eq!(s.frame[..14], sent[..14], "segment {i}: Ethernet");
        assert_eq!(s.ip()[12..20], sent[26..34], "segment {i}: addresses");
        assert_eq!(s.tcp()[8..13], sent[42..47], "segment {i}: ack, offset");
        assert_eq!(s.tcp()[14..16], sent[48..50], "segment {i}: window");
        assert_eq!(
            s.tcp()[18..TCP_HLEN],
            sent[52..HDRS],
            "segment {i}: options"
        );
        let mut want = sent[47];
        if !last {
            want &= !(TCP_FIN | TCP_PSH);
        }
        if i > 0 {
            want &= !TCP_CWR;
        }
        assert_eq!(s.tcp()[13], want, "segment {i}: flags");
        assert!(
            s.flags.contains(RxFlags::CSUM_VALID) && !s.flags.contains(RxFlags::CSUM_PARTIAL),
            "segment {i}: {:?}",
            s.flags
        );
        payload.extend_from_slice(s.payload());
    }
    assert!(payload == sent[HDRS..], "payload bytes differ");
}

fn super_frames_arrive_as_segments(test: &str, ring: RxRingKind) {
    let Some(mut l) = link(test, rx_gso(ring)) else {
        return;
    };
    assert!(
        l.b.caps().max_frame < 2100,
        "frames handed up stay ordinary"
    );
    // 20 KB with PSH; the largest super-frame the sender takes (the veth's gso_max_size,
    // 65,536 with the Ethernet header, keeps it under the largest IPv4 packet); one
    // ending with FIN, sequence numbers wrapping; one with CWR.
    let largest = l.a.tx().tso_max() - HDRS;
    assert!(largest > 65_000 && largest <= MAX_PAYLOAD);
    let cases = [
        (1_000_000u32, 20_000, TCP_ACK | TCP_PSH),
        (2_000_000, largest, TCP_ACK | TCP_PSH),
        (u32::MAX - 5000, 30_000, TCP_ACK | TCP_PSH | TCP_FIN),
        (3_000_000, 10_000, TCP_ACK | TCP_CWR),
    ];
    let mut segments = 0;
    for (k, (seq, payload, flags)) in cases.into_iter().enumerate() {
        let f = super_frame(&l, seq, payload, flags);
        assert!(commit_tso(&mut l.a, &f, MSS), "case {k}: commit_tso");
        flush_all(&mut l.a, DEADLINE);
        // Odd burst limits: a super-frame's segments span bursts, none lost or repeated.
        let max = [64, 7, 1, 45][k];
        let (got, most) = recv_flow(&mut l.b, payload, max);
        assert!(most <= max, "case {k}: burst of {most} over {max}");
        assert_cut(&f, &got);
        segments += got.len();
        eprintln!(
            "{ring:?}: {payload} B with flags {flags:#04x} -> {} segments",
            got.len()
        );
    }
    assert_eq!(l.b.rx_gso_frames(), 4);
    assert_eq!(l.b.rx_gso_segments(), segments as u64);
    // A V2 ring's slots are ordinary: each super-frame came whole through the socket.
    let queued = if ring == RxRingKind::V2 { 4 } else { 0 };
    assert_eq!(l.b.rx_gso_queued(), queued);
    let st = l.b.stats();
    assert_eq!(st.rx_truncated, 0);
    assert_eq!(st.rx_other_drops, 0);
    assert!(st.rx_frames >= segments as u64);
}

#[test]
fn super_frames_arrive_as_checksummed_mss_segments_v2() {
    super_frames_arrive_as_segments(
        "super_frames_arrive_as_checksummed_mss_segments_v2",
        RxRingKind::V2,
    );
}

#[test]
fn super_frames_arrive_as_checksummed_mss_segments_v3() {
    super_frames_arrive_as_segments(
        "super_frames_arrive_as_checksummed_mss_segments_v3",
        RxRingKind::V3,
    );
}

/// A V2 ring's super-frames wait in the socket's queue, which `rx_gso_frames` bounds: with
/// room for about one, four sent before any is read are either handed up whole (cut into
/// all their segments) or counted in `rx_truncated`, never half handed up or stuck, and
/// the port goes on receiving.
#[test]
fn a_full_socket_queue_counts_the_super_frames_it_cannot_take() {
    let test = "a_full_socket_queue_counts_the_super_frames_it_cannot_take";
    let Some(mut l) = link(
        test,
        AfPacketConfig {
            rx_gso_frames: 1,
            ..rx_gso(RxRingKind::V2)
        },
    ) else {
        return;
    };
    const PAYLOAD: usize = 60_000;
    let frames: Vec<Vec<u8>> = (0..4u32)
        .map(|k| super_frame(&l, 1_000_000 + k * 100_000, PAYLOAD, TCP_ACK))
        .collect();
    for f in &frames {
        assert!(commit_tso(&mut l.a, f, MSS));
    }
    flush_all(&mut l.a, DEADLINE);
    let (got, _) = recv_flow(&mut l.b, 4 * PAYLOAD, 64);
    let st = l.b.stats();
    let whole = l.b.rx_gso_queued();
    eprintln!("{whole} super-frames queued, {} truncated", st.rx_truncated);
    assert!(whole >= 1, "the first one fits");
    assert_eq!(whole + st.rx_truncated, 4);
    assert_eq!(l.b.rx_gso_frames(), whole);
    // The segments handed up are the whole super-frames that were queued, each intact.
    let per = PAYLOAD.div_ceil(usize::from(MSS));
    assert_eq!(got.len(), whole as usize * per);
    for (k, seen) in got.chunks(per).enumerate() {
        let seq = seen[0].seq();
        let f = frames
            .iter()
            .find(|f| f[38..42] == seq.to_be_bytes())
            .unwrap_or_else(|| panic!("segment run {k} starts no sent super-frame"));
        assert_cut(f, seen);
    }
    // The port still takes the next super-frame whole.
    let next = super_frame(&l, 9_000_000, PAYLOAD, TCP_ACK);
    assert!(commit_tso(&mut l.a, &next, MSS));
    flush_all(&mut l.a, DEADLINE);
    let (got, _) = recv_flow(&mut l.b, PAYLOAD, 64);
    assert_cut(&next, &got);
    assert_eq!(l.b.rx_gso_queued(), whole + 1);
}

#[test]
fn ordinary_frames_pass_unchanged_with_rx_gso() {
    for ring in [RxRingKind::V2, RxRingKind::V3] {
        let Some(mut l) = link("ordinary_frames_pass_unchanged_with_rx_gso", rx_gso(ring)) else {
            return;
        };
        // A full-size segment with its checksum filled in, then a short one.
        let mut full = super_frame(&l, 7, usize::from(MSS), TCP_ACK);
        full[50..52].fill(0);
        let mut sum = pseudo(&SRC_IP, &DST_IP, TCP_HLEN + usize::from(MSS));
        sum.extend_from_slice(&full[34..]);
        let c = !ones_sum(&sum);
        full[50..52].copy_from_slice(&c.to_be_bytes());
        let mut short = full[..HDRS + 10].to_vec();
        short[16..18].copy_from_slice(&((IP_HLEN + TCP_HLEN + 10) as u16).to_be_bytes());
        short[24..26].fill(0);
        let c = !ones_sum(&short[14..34]);
        short[24..26].copy_from_slice(&c.to_be_bytes());
        send_plain(&mut l.a, &full);
        send_plain(&mut l.a, &short);
        flush_all(&mut l.a, DEADLINE);
        let (got, _) = recv_flow(&mut l.b, usize::from(MSS) + 10, 64);
        assert_eq!(got.len(), 2, "{ring:?}");
        assert!(got[0].frame == full && got[1].frame == short, "{ring:?}");
        // A super-frame of one segment goes without GSO, its checksum left to the device:
        // handed up as it is, CSUM_PARTIAL, as without rx_gso.
        let lone = super_frame(&l, 9, 1000, TCP_ACK | TCP_PSH);
        assert!(commit_tso(&mut l.a, &lone, MSS));
        flush_all(&mut l.a, DEADLINE);
        let (got, _) = recv_flow(&mut l.b, 1000, 64);
        assert_eq!(got.len(), 1);
        assert!(got[0].frame == lone, "{ring:?}: one-segment frame changed");
        assert!(got[0].flags.contains(RxFlags::CSUM_PARTIAL));
        assert_eq!(l.b.rx_gso_frames(), 0);
        let st = l.b.stats();
        assert_eq!(st.rx_csum_partial, 1);
        assert_eq!((st.rx_truncated, st.rx_other_drops), (0, 0));
    }
}

#[test]
fn without_rx_gso_a_super_frame_is_counted_truncated() {
    let Some(mut l) = link(
        "without_rx_gso_a_super_frame_is_counted_truncated",
        AfPacketConfig::new(""),
    ) else {
        return;
    };
    let f = super_frame(&l, 1, 20_000, TCP_ACK);
    assert!(commit_tso(&mut l.a, &f, MSS));
    flush_all(&mut l.a, DEADLINE);
    let end = Instant::now() + DEADLINE;
    while l.b.stats().rx_truncated == 0 && Instant::now() < end {
        l.b.rx().recv_burst(64, |_, _| {});
        l.b.wait(Duration::from_millis(10)).unwrap();
    }
    let (got, _) = recv_flow(&mut l.b, 1, 64);
    assert!(got.is_empty(), "nothing of it handed up");
    assert_eq!(l.b.stats().rx_truncated, 1);
    assert_eq!(l.b.rx_gso_frames(), 0);
}

/// What the kernel writes in front of a received super-frame (`virtio_net_hdr_from_skb`),
/// read with a plain packet socket: printed, and checked for what the cut relies on.
#[test]
fn the_kernel_describes_a_received_super_frame_in_its_vnet_header() {
    let Some(mut l) = link(
        "the_kernel_describes_a_received_super_frame_in_its_vnet_header",
        AfPacketConfig::new(""),
    ) else {
        return;
    };
    let sock = PacketSocket::bind_vnet("rgb", libc::ETH_P_ALL as u16);
    let f = super_frame(&l, 1, 20_000, TCP_ACK | TCP_CWR);
    assert!(commit_tso(&mut l.a, &f, MSS));
    flush_all(&mut l.a, DEADLINE);
    let mut buf = vec![0u8; 70_000];
    let n = loop {
        let n = sock.recv(&mut buf).expect("the super-frame did not arrive");
        if buf[10 + 26..10 + 30] == SRC_IP {
            break n;
        }
    };
    drop(sock);
    let u16_at = |i: usize| u16::from_ne_bytes([buf[i], buf[i + 1]]);
    let (flags, gso_type) = (buf[0], buf[1]);
    let (hdr_len, gso_size, csum_start, csum_offset) = (u16_at(2), u16_at(4), u16_at(6), u16_at(8));
    eprintln!(
        "received {} bytes: virtio_net_hdr flags {flags:#x} gso_type {gso_type:#x} \
         hdr_len {hdr_len} gso_size {gso_size} csum_start {csum_start} csum_offset \
         {csum_offset}",
        n - 10
    );
    assert_eq!(n - 10, f.len(), "whole");
    assert_eq!(gso_type, 0x81, "TCPV4 | ECN");
    assert_eq!(gso_size, MSS);
    assert_eq!(flags & 1, 1, "NEEDS_CSUM");
    assert_eq!((csum_start, csum_offset), (34, 16));
}

/// A kernel TCP socket with TSO sends 1 MiB in one write over a veth to a kernel listener
/// in another namespace; our port beside the listener, with `rx_gso`, sees the flow as
/// ordinary segments: none above the MTU, every checksum valid, the bytes all there.
#[test]
fn a_kernel_senders_tso_flow_is_seen_as_ordinary_segments_v2() {
    kernel_tso_flow(
        "a_kernel_senders_tso_flow_is_seen_as_ordinary_segments_v2",
        RxRingKind::V2,
    );
}

#[test]
fn a_kernel_senders_tso_flow_is_seen_as_ordinary_segments_v3() {
    kernel_tso_flow(
        "a_kernel_senders_tso_flow_is_seen_as_ordinary_segments_v3",
        RxRingKind::V3,
    );
}

fn kernel_tso_flow(test: &str, ring: RxRingKind) {
    use std::io::{Read, Write};
    use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
    if !require_root(test, &["ip", "ethtool"]) {
        return;
    }
    const BYTES: usize = 1 << 20;
    let (ka, kb) = ([10, 90, 0, 1], [10, 90, 0, 2]);
    let tag = if ring == RxRingKind::V2 { "2" } else { "3" };
    let ns_a = NetNs::new(&format!("rxgsoa{tag}")).unwrap();
    let ns_b = NetNs::new(&format!("rxgsob{tag}")).unwrap();
    ns_a.veth_to("kga", &ns_b, "kgb").unwrap();
    ns_a.tso_on("kga").unwrap();
    ns_a.exec(&["ip", "addr", "add", "10.90.0.1/24", "dev", "kga"])
        .unwrap();
    ns_b.exec(&["ip", "addr", "add", "10.90.0.2/24", "dev", "kgb"])
        .unwrap();
    let inside = ns_b.enter().unwrap();
    // A passive observer cannot slow the sender down: a ring room for the whole flow
    // (1 MiB is some 550 frames), so a busy machine's scheduling cannot make it overflow.
    let mut port = AfPacketPort::open(AfPacketConfig {
        ifname: "kgb".into(),
        rx_gso_frames: 1024,
        ..rx_gso(ring)
    })
    .unwrap();
    let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::from(kb), 5001)).unwrap();
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut n = 0;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let k = s.read(&mut buf).unwrap();
            if k == 0 {
                return n;
            }
            n += k;
        }
    });
    let a_name = ns_a.name().to_string();
    let writer = std::thread::spawn(move || {
        let ns = File::open(format!("/run/netns/{a_name}")).unwrap();
        // SAFETY: an open namespace file; changes only this thread's namespace.
        let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0);
        let mut s = TcpStream::connect(SocketAddrV4::new(Ipv4Addr::from(kb), 5001)).unwrap();
        let data: Vec<u8> = (0..BYTES).map(payload_byte).collect();
        // In 64 KiB writes a few ms apart: still TSO super-frames, at a pace the reader
        // keeps up with on a loaded machine.
        for chunk in data.chunks(64 << 10) {
            s.write_all(chunk).unwrap();
            std::thread::sleep(Duration::from_millis(3));
        }
    });
    // Payload by offset from the first data byte (SYN's sequence number + 1).
    let mut isn = None;
    let mut data = vec![None::<u8>; BYTES];
    let (mut frames, mut have) = (0usize, 0usize);
    let end = Instant::now() + DEADLINE * 5;
    while have < BYTES && Instant::now() < end {
        port.rx().recv_burst(64, |f, m| {
            assert!(f.len() <= 14 + 1500, "a frame of {} bytes", f.len());
            if f.len() < 54 || f[12..14] != [8, 0] || f[23] != 6 || f[26..30] != ka {
                return;
            }
            let ihl = usize::from(f[14] & 0xf) * 4;
            let ip = &f[14..14 + ihl];
            let tcp = &f[14 + ihl..];
            assert_eq!(ones_sum(ip), 0xffff, "IPv4 checksum");
            if !m.flags.contains(RxFlags::CSUM_PARTIAL) {
                let mut sum = pseudo(&ip[12..16], &ip[16..20], tcp.len());
                sum.extend_from_slice(tcp);
                assert_eq!(ones_sum(&sum), 0xffff, "TCP checksum");
            }
            frames += 1;
            let seq = u32::from_be_bytes(tcp[4..8].try_into().unwrap());
            if tcp[13] & 0x02 != 0 {
                isn = Some(seq);
                return;
            }
            let Some(isn) = isn else { return };
            let payload = &tcp[usize::from(tcp[12] >> 4) * 4..];
            let off = seq.wrapping_sub(isn).wrapping_sub(1) as usize;
            for (i, b) in payload.iter().enumerate() {
                if let Some(slot) = data.get_mut(off + i) {
                    if slot.replace(*b).is_none() {
                        have += 1;
                    }
                }
            }
        });
        port.wait(Duration::from_millis(10)).unwrap();
    }
    writer.join().unwrap();
    assert_eq!(
        reader.join().unwrap(),
        BYTES,
        "the kernel listener got it all"
    );
    drop(inside);
    eprintln!(
        "{ring:?}: {frames} frames of the flow, {} super-frames cut into {} segments ({} through the socket queue), {} dropped on a full ring",
        port.rx_gso_frames(),
        port.rx_gso_segments(),
        port.rx_gso_queued(),
        port.stats().rx_ring_full
    );
    assert_eq!(have, BYTES, "bytes seen");
    assert!(data
        .iter()
        .enumerate()
        .all(|(i, b)| *b == Some(payload_byte(i))));
    assert!(port.rx_gso_frames() > 0, "the kernel sent super-frames");
    if ring == RxRingKind::V2 {
        assert!(port.rx_gso_queued() >= port.rx_gso_frames());
    }
    let st = port.stats();
    assert_eq!(
        (st.rx_truncated, st.rx_other_drops, st.rx_ring_full),
        (0, 0, 0)
    );
}
