//! The TAP port against the real kernel, each test in a namespace of its own.
//!
//! The kernel is the peer on the other end of the TAP: it pings a stack that is answered
//! by hand here, and a raw AF_PACKET socket on the TAP interface checks frame bytes and
//! sizes in both directions.

use nmio::backend::tap::{TapConfig, TapMode, TapPort};
use nmio::{Error, Port, PrepMode, RxQueue, TxQueue};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tests::netns::{require_root, run, NetNs};
use tests::packet_socket::PacketSocket;

/// An IEEE 802 local experimental ethertype, so no kernel protocol handler claims the frames.
const ETH_P_TEST: u16 = 0x88B5;
const STACK_IP: [u8; 4] = [10, 0, 0, 2];
const KERNEL_CIDR: &str = "10.0.0.1/24";
const TOOLS: &[&str] = &["ip"];

fn tap_cfg(name: &str) -> TapConfig {
    TapConfig {
        ifname: name.into(),
        ..TapConfig::default()
    }
}

fn ns_exists(name: &str) -> bool {
    run(&["ip", "netns", "list"])
        .unwrap()
        .lines()
        .any(|l| l.split_whitespace().next() == Some(name))
}

/// Internet checksum (RFC 1071) of `data`.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The reply a host at [`STACK_IP`] with MAC `mac` owes `frame` (ARP request for it, or
/// ICMP echo request to it), written into `out`; its length, or 0 for none.
fn answer(frame: &[u8], mac: [u8; 6], out: &mut [u8]) -> usize {
    if frame.len() < 14 {
        return 0;
    }
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    let peer_mac = &frame[6..12];
    match ethertype {
        // RFC 826: answer a request for our protocol address with our hardware address.
        0x0806 if frame.len() >= 42 && frame[20..22] == [0, 1] && frame[38..42] == STACK_IP => {
            out[..42].copy_from_slice(&frame[..42]);
            out[0..6].copy_from_slice(peer_mac);
            out[6..12].copy_from_slice(&mac);
            out[21] = 2;
            out[22..28].copy_from_slice(&mac);
            out[28..32].copy_from_slice(&STACK_IP);
            out[32..42].copy_from_slice(&frame[22..32]);
            42
        }
        // RFC 792: an echo reply carries the request's identifier, sequence and data.
        0x0800 if frame.len() >= 34 => {
            let ip = &frame[14..];
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            if ip[0] >> 4 != 4
                || ip[9] != 1
                || ip[16..20] != STACK_IP
                || total > ip.len()
                || total < ihl + 8
                || ip[ihl] != 8
            {
                return 0;
            }
            let len = 14 + total;
            out[..len].copy_from_slice(&frame[..len]);
            out[0..6].copy_from_slice(peer_mac);
            out[6..12].copy_from_slice(&mac);
            let rip = &mut out[14..len];
            rip[12..16].copy_from_slice(&ip[16..20]);
            rip[16..20].copy_from_slice(&ip[12..16]);
            rip[10..12].fill(0);
            let c = checksum(&rip[..ihl]);
            rip[10..12].copy_from_slice(&c.to_be_bytes());
            let icmp = &mut rip[ihl..total];
            icmp[0] = 0;
            icmp[2..4].fill(0);
            let c = checksum(icmp);
            icmp[2..4].copy_from_slice(&c.to_be_bytes());
            len
        }
        _ => 0,
    }
}

/// Receive from `port` until `want` frames with `ethertype` came in or 2 s pass.
fn collect(port: &mut TapPort, ethertype: u16, want: usize) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < deadline {
        port.wait(Duration::from_millis(50)).unwrap();
        port.rx().recv_burst(64, |f, meta| {
            assert_eq!(meta.len as usize, f.len());
            if f[12..14] == ethertype.to_be_bytes() {
                got.push(f.to_vec());
            }
        });
    }
    got
}

fn test_frame(dst: [u8; 6], src: [u8; 6], len: usize) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
    f[0..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&ETH_P_TEST.to_be_bytes());
    f
}

#[test]
fn kernel_pings_the_tap_port_and_gets_five_replies() {
    let test = "kernel_pings_the_tap_port_and_gets_five_replies";
    if !require_root(test, &["ip", "ping"]) {
        return;
    }
    let ns = NetNs::new("tap").unwrap();
    let ns_name = ns.name().to_string();
    {
        let _in = ns.enter().unwrap();
        // The kernel's address comes from the port itself (`host_addr`), so the pings
        // below also prove it was set with the right prefix.
        let mut port = TapPort::open(TapConfig {
            host_addr: Some(([10, 0, 0, 1], 24)),
            ..tap_cfg("tp0")
        })
        .unwrap();
        assert!(port.created());
        let link = ns.exec(&["ip", "link", "show", "tp0"]).unwrap();
        assert!(link.contains(",UP"), "bring_up did not set IFF_UP: {link}");
        let addr = ns
            .exec(&["ip", "-4", "addr", "show", "dev", "tp0"])
            .unwrap();
        assert!(addr.contains(&format!("inet {KERNEL_CIDR} ")), "{addr}");
        let route = ns
            .exec(&["ip", "-4", "route", "show", "dev", "tp0"])
            .unwrap();
        assert!(route.contains("10.0.0.0/24"), "no subnet route: {route}");
        let mac = port.caps().mac;

        let mut ping = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns.name(),
                "ping",
                "-n",
                "-c",
                "5",
                "-i",
                "0.2",
            ])
            .args(["-W", "1", "-I", "tp0", "10.0.0.2"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut answered = 0;
        let status = loop {
            if let Some(status) = ping.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                ping.kill().unwrap();
                ping.wait().unwrap();
                panic!("ping did not finish in 10 s; answered {answered}");
            }
            port.wait(Duration::from_millis(50)).unwrap();
            let (rx, tx) = port.split();
            rx.recv_burst(64, |frame, _| {
                if tx.send(|out| answer(frame, mac, out)) {
                    answered += 1;
                }
            });
            tx.flush().unwrap();
        };
        let out = ping.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            status.success() && text.contains(" 5 received"),
            "ping: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let st = port.stats();
        assert!(answered >= 6, "one ARP reply and five echo replies");
        assert_eq!(st.tx_frames, answered);
        assert_eq!(st.tx_errors, 0);
        assert!(st.rx_frames >= 6);
        assert_eq!((st.rx_truncated, st.rx_other_drops), (0, 0));

        drop(port);
        assert!(
            ns.exec(&["ip", "link", "show", "tp0"]).is_err(),
            "a TAP the port created goes away with it"
        );
    }
    drop(ns);
    assert!(!ns_exists(&ns_name), "namespace {ns_name} left behind");
}

#[test]
fn frames_keep_their_exact_bytes_and_size_in_both_directions() {
    let test = "frames_keep_their_exact_bytes_and_size_in_both_directions";
    if !require_root(test, TOOLS) {
        return;
    }
    let ns = NetNs::new("tapsz").unwrap();
    let _in = ns.enter().unwrap();
    let mut port = TapPort::open(tap_cfg("tp0")).unwrap();
    let caps = port.caps().clone();
    assert_eq!(caps.mtu, 1500);
    assert_eq!(caps.max_frame, 1518);
    assert_eq!(port.tx().slot_size(), caps.max_frame);
    let sock = PacketSocket::bind("tp0", ETH_P_TEST);
    let kernel_mac = [0x02, 0, 0, 0, 0, 0x01];

    assert!(
        !port.wait(Duration::from_millis(20)).unwrap(),
        "nothing to read yet"
    );

    // Kernel to port: the largest frame a packet socket may send is MTU + 14.
    let sizes = [14, 15, 42, 60, 61, 333, 1000, 1513, 1514];
    let sent: Vec<Vec<u8>> = sizes
        .iter()
        .map(|&n| test_frame(caps.mac, kernel_mac, n))
        .collect();
    for f in &sent {
        sock.send(f);
    }
    assert!(port.wait(Duration::from_secs(1)).unwrap());
    let got = collect(&mut port, ETH_P_TEST, sent.len());
    assert_eq!(got.len(), sent.len());
    for (g, s) in got.iter().zip(&sent) {
        assert_eq!(g.len(), s.len());
        assert_eq!(g, s, "frame of {} bytes changed", s.len());
    }
    let st = port.stats();
    assert_eq!(st.rx_bytes, sizes.iter().sum::<usize>() as u64);

    // Port to kernel, up to a full slot (MTU + 18: room for an 802.1Q tag).
    let sizes = [14, 15, 42, 60, 61, 333, 1000, 1514, caps.max_frame];
    let frames: Vec<Vec<u8>> = sizes
        .iter()
        .map(|&n| test_frame([0xff; 6], caps.mac, n))
        .collect();
    let tx = port.tx();
    for f in &frames {
        assert!(tx.send(|slot| {
            slot[..f.len()].copy_from_slice(f);
            f.len()
        }));
    }
    assert_eq!(tx.pending(), frames.len());
    assert_eq!(tx.flush().unwrap(), frames.len());
    assert_eq!(tx.pending(), 0);
    let mut buf = vec![0u8; 65536];
    for f in &frames {
        let n = sock.recv(&mut buf).expect("frame from the port");
        assert_eq!(n, f.len());
        assert_eq!(&buf[..n], &f[..], "frame of {} bytes changed", f.len());
    }
    let st = port.stats();
    assert_eq!(st.tx_bytes, sizes.iter().sum::<usize>() as u64);
    assert_eq!((st.tx_errors, st.tx_kicks), (0, 1));
}

#[test]
fn prepared_packets_reach_the_kernel_in_both_modes() {
    if !require_root("prepared_packets_reach_the_kernel_in_both_modes", TOOLS) {
        return;
    }
    let ns = NetNs::new("tapprep").unwrap();
    let _in = ns.enter().unwrap();
    let mut port = TapPort::open(tap_cfg("tp0")).unwrap();
    let mac = port.caps().mac;
    let sock = PacketSocket::bind("tp0", ETH_P_TEST);
    let image = test_frame([0xff; 6], mac, 100);
    let tx = port.tx();
    let id = tx.prepare(&image).unwrap();
    assert!(tx.send_prepared(id, PrepMode::Memcpy, |b| b[20] = 0xaa));
    assert!(tx.send_prepared(id, PrepMode::PreCopy, |b| b[21] = 0xbb));
    assert_eq!(tx.flush().unwrap(), 2);
    let mut buf = vec![0u8; 2048];
    let mut want = image.clone();
    want[20] = 0xaa;
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], &want[..]);
    let mut want = image.clone();
    want[21] = 0xbb;
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], &want[..]);
    assert_eq!(
        tx.prepared(id).unwrap()[21],
        0xbb,
        "pre-copy rewrote the image"
    );
    let st = port.stats();
    assert_eq!((st.prepared_memcpy, st.prepared_precopy), (1, 1));
}

#[test]
fn frames_larger_than_a_slot_are_counted_not_handed_up() {
    if !require_root("frames_larger_than_a_slot_are_counted_not_handed_up", TOOLS) {
        return;
    }
    let ns = NetNs::new("taptr").unwrap();
    let _in = ns.enter().unwrap();
    let mut port = TapPort::open(TapConfig {
        mtu: Some(1280),
        ..tap_cfg("tp0")
    })
    .unwrap();
    let caps = port.caps().clone();
    assert_eq!((caps.mtu, caps.max_frame), (1280, 1298));
    assert!(ns
        .exec(&["ip", "link", "show", "tp0"])
        .unwrap()
        .contains("mtu 1280"));
    // Raise the MTU behind the port's back, so the kernel sends frames its slots do not fit.
    ns.exec(&["ip", "link", "set", "tp0", "mtu", "9000"])
        .unwrap();
    let sock = PacketSocket::bind("tp0", ETH_P_TEST);
    for n in [1298, 1299, 2000, 9014] {
        sock.send(&test_frame(caps.mac, [2, 0, 0, 0, 0, 1], n));
    }
    let got = collect(&mut port, ETH_P_TEST, 1);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].len(), 1298);
    // Let the rest arrive and be counted.
    let deadline = Instant::now() + Duration::from_secs(2);
    while port.stats().rx_truncated < 3 && Instant::now() < deadline {
        port.wait(Duration::from_millis(50)).unwrap();
        port.rx()
            .recv_burst(64, |f, _| panic!("{}-byte frame handed up", f.len()));
    }
    let st = port.stats();
    assert_eq!((st.rx_frames, st.rx_truncated), (1, 3));
}

#[test]
fn full_local_tx_ring_refuses_and_counts() {
    if !require_root("full_local_tx_ring_refuses_and_counts", TOOLS) {
        return;
    }
    let ns = NetNs::new("tapfull").unwrap();
    let _in = ns.enter().unwrap();
    let mut port = TapPort::open(TapConfig {
        tx_slots: 4,
        ..tap_cfg("tp0")
    })
    .unwrap();
    assert_eq!(port.caps().tx_ring_size, 4);
    let frame = test_frame([0xff; 6], port.caps().mac, 60);
    let tx = port.tx();
    let id = tx.prepare(&frame).unwrap();
    assert_eq!(tx.tx_space(), 4);
    for _ in 0..4 {
        let slot = tx.reserve().expect("free slot");
        slot[..60].copy_from_slice(&frame);
        tx.commit(60);
    }
    assert_eq!((tx.tx_space(), tx.pending()), (0, 4));
    assert!(tx.reserve().is_none());
    assert!(!tx.send_prepared(id, PrepMode::Memcpy, |_| {}));
    tx.commit(60);
    let st = port.stats();
    assert_eq!((st.tx_ring_full, st.tx_bad_len, st.tx_frames), (2, 1, 4));

    let tx = port.tx();
    assert_eq!(tx.flush().unwrap(), 4);
    assert_eq!((tx.tx_space(), tx.pending()), (4, 0));
    assert!(tx.reserve().is_some());
    tx.commit(tx.slot_size() + 1);
    assert_eq!(port.stats().tx_bad_len, 2);
}

#[test]
fn frames_flushed_while_the_tap_is_down_are_dropped_and_counted() {
    if !require_root(
        "frames_flushed_while_the_tap_is_down_are_dropped_and_counted",
        TOOLS,
    ) {
        return;
    }
    let ns = NetNs::new("tapdown").unwrap();
    let _in = ns.enter().unwrap();
    let mut port = TapPort::open(TapConfig {
        bring_up: false,
        ..tap_cfg("tp0")
    })
    .unwrap();
    assert!(!ns
        .exec(&["ip", "link", "show", "tp0"])
        .unwrap()
        .contains(",UP"));
    let frame = test_frame([0xff; 6], port.caps().mac, 60);
    let tx = port.tx();
    for _ in 0..3 {
        assert!(tx.send(|s| {
            s[..60].copy_from_slice(&frame);
            60
        }));
    }
    assert_eq!(tx.flush().unwrap(), 0);
    assert_eq!(tx.pending(), 0);
    assert_eq!(port.stats().tx_errors, 3);
}

#[test]
fn attach_mode_needs_an_existing_tap() {
    if !require_root("attach_mode_needs_an_existing_tap", TOOLS) {
        return;
    }
    let ns = NetNs::new("tapatt").unwrap();
    let _in = ns.enter().unwrap();
    let attach = |name: &str| {
        TapPort::open(TapConfig {
            mode: TapMode::AttachExisting,
            ..tap_cfg(name)
        })
    };

    let e = attach("tpx0").unwrap_err();
    assert!(matches!(e, Error::NoSuchDevice { .. }), "{e}");
    assert_eq!(e.to_string(), "no such network device \"tpx0\"");
    assert!(
        ns.exec(&["ip", "link", "show", "tpx0"]).is_err(),
        "attach mode created a device"
    );

    // A persistent TAP made beforehand is attached to and outlives the port.
    ns.exec(&["ip", "tuntap", "add", "dev", "tpp0", "mode", "tap"])
        .unwrap();
    let port = attach("tpp0").unwrap();
    assert!(!port.created());
    let e = attach("tpp0").unwrap_err();
    assert!(
        e.to_string().contains("already open in another process"),
        "{e}"
    );
    drop(port);
    assert!(ns.exec(&["ip", "link", "show", "tpp0"]).is_ok());
    attach("tpp0").expect("reattach after the first port closed");

    // A device of that name that is not a TAP.
    ns.exec(&[
        "ip", "link", "add", "tpv0", "type", "veth", "peer", "name", "tpv1",
    ])
    .unwrap();
    for e in [
        attach("tpv0").unwrap_err(),
        TapPort::open(tap_cfg("tpv0")).unwrap_err(),
    ] {
        assert!(matches!(e, Error::InvalidConfig { .. }), "{e}");
        assert!(e.to_string().contains("not a single-queue TAP"), "{e}");
    }
}

/// An Ethernet/IPv4/TCP frame from the stack to the kernel's end with `payload` bytes
/// (IPv4 header checksum valid; the TCP checksum is the kernel's to fill in).
fn tcp_super_frame(dst: [u8; 6], src: [u8; 6], payload: usize) -> Vec<u8> {
    const HDRS: usize = 14 + 20 + 20;
    let mut f: Vec<u8> = (0..HDRS + payload).map(|i| (i * 31 + 7) as u8).collect();
    f[0..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((20 + 20 + payload) as u16).to_be_bytes());
    ip[6..8].fill(0);
    ip[8] = 64;
    ip[9] = 6;
    ip[10..12].fill(0);
    ip[12..16].copy_from_slice(&STACK_IP);
    ip[16..20].copy_from_slice(&[10, 0, 0, 1]);
    let c = checksum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f[34 + 12] = 5 << 4;
    f[34 + 13] = 0x10;
    f
}

#[test]
fn with_tso_a_super_frame_reaches_the_kernel_whole() {
    if !require_root("with_tso_a_super_frame_reaches_the_kernel_whole", TOOLS) {
        return;
    }
    let ns = NetNs::new("taptso").unwrap();
    let _in = ns.enter().unwrap();
    let mut port = TapPort::open(TapConfig {
        tso: true,
        ..tap_cfg("tp0")
    })
    .unwrap();
    let mac = port.caps().mac;
    assert_eq!(port.caps().max_frame, 1518, "ordinary frames as before");
    let sock = PacketSocket::bind("tp0", 0x0800);
    let tx = port.tx();
    let max = tx.tso_max();
    assert_eq!(max, 14 + 65_535);
    assert!(tx.slot_size() >= max);
    let frames = [
        tcp_super_frame([0xff; 6], mac, 40 * 1460),
        tcp_super_frame([0xff; 6], mac, max - 54),
    ];
    for f in &frames {
        let slot = tx.reserve().unwrap();
        slot[..f.len()].copy_from_slice(f);
        assert!(tx.commit_tso(f.len(), 1460));
    }
    // An ordinary frame between them and after them is unchanged.
    let plain = test_frame([0xff; 6], mac, 1514);
    assert!(tx.send(|s| {
        s[..plain.len()].copy_from_slice(&plain);
        plain.len()
    }));
    assert_eq!(tx.flush().unwrap(), 3);

    // The kernel took each super-frame as one packet (a packet socket sees the skb before
    // anything would cut it).
    let mut buf = vec![0u8; 1 << 17];
    for f in &frames {
        let n = sock.recv(&mut buf).expect("super-frame on the kernel side");
        assert_eq!(n, f.len());
        assert_eq!(&buf[..n], &f[..], "{}-byte super-frame changed", f.len());
    }
    let st = port.stats();
    assert_eq!((st.tx_tso, st.tx_frames, st.tx_errors), (2, 3, 0));
    let sock = PacketSocket::bind("tp0", ETH_P_TEST);
    assert!(port.tx().send(|s| {
        s[..plain.len()].copy_from_slice(&plain);
        plain.len()
    }));
    port.tx().flush().unwrap();
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], &plain[..]);
}

#[test]
fn without_tso_the_port_takes_no_super_frames() {
    if !require_root("without_tso_the_port_takes_no_super_frames", TOOLS) {
        return;
    }
    let ns = NetNs::new("tapnotso").unwrap();
    let _in = ns.enter().unwrap();
    let mut port = TapPort::open(tap_cfg("tp0")).unwrap();
    let mac = port.caps().mac;
    let tx = port.tx();
    assert_eq!(tx.tso_max(), 0);
    assert_eq!(tx.slot_size(), 1518);
    let f = tcp_super_frame([0xff; 6], mac, 1000);
    let slot = tx.reserve().unwrap();
    slot[..f.len()].copy_from_slice(&f);
    assert!(!tx.commit_tso(f.len(), 1460));
    assert!(
        !tx.commit_tso(f.len(), 1460),
        "and not without a reservation"
    );
    assert_eq!(tx.pending(), 0);
    let st = port.stats();
    assert_eq!((st.tx_bad_len, st.tx_tso, st.tx_frames), (2, 0, 0));
}

/// `ioctl(fd, req, arg)` on a TUN descriptor, asserting success.
fn tun_ioctl(fd: &OwnedFd, req: libc::Ioctl, arg: libc::c_ulong) {
    // SAFETY: the requests used here take their argument by value.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), req, arg) };
    assert_eq!(rc, 0, "ioctl: {}", std::io::Error::last_os_error());
}

#[test]
fn attaching_turns_off_offloads_a_persistent_tap_kept() {
    let test = "attaching_turns_off_offloads_a_persistent_tap_kept";
    if !require_root(test, &["ip", "ethtool"]) {
        return;
    }
    let ns = NetNs::new("tapoff").unwrap();
    let _in = ns.enter().unwrap();
    let tso_state = || {
        let out = ns.exec(&["ethtool", "-k", "tpp0"]).unwrap();
        out.lines()
            .find_map(|l| l.trim().strip_prefix("tcp-segmentation-offload: "))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no TSO line in {out}"))
    };
    // A previous user (a VM's virtio back end, say) left checksum offload and TSO on a
    // persistent TAP: the kernel would then send it partial checksums and super-frames.
    {
        // SAFETY: a plain open(2) of a constant, NUL-terminated path.
        let fd = unsafe { libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        assert!(fd >= 0);
        // SAFETY: `fd` is fresh and owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: ifreq is plain old data; all-zero is valid.
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        for (d, s) in ifr.ifr_name.iter_mut().zip(b"tpp0") {
            *d = *s as libc::c_char;
        }
        ifr.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_VNET_HDR) as i16;
        // SAFETY: TUNSETIFF reads and writes one `struct ifreq`, which `ifr` is.
        let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut ifr) };
        assert_eq!(rc, 0, "TUNSETIFF: {}", std::io::Error::last_os_error());
        let on = libc::TUN_F_CSUM | libc::TUN_F_TSO4;
        tun_ioctl(&fd, libc::TUNSETOFFLOAD, libc::c_ulong::from(on));
        tun_ioctl(&fd, libc::TUNSETPERSIST, 1);
    }
    assert_eq!(tso_state(), "on");
    for tso in [false, true] {
        let port = TapPort::open(TapConfig {
            mode: TapMode::AttachExisting,
            tso,
            ..tap_cfg("tpp0")
        })
        .unwrap();
        assert_eq!(tso_state(), "off", "attached with tso {tso}");
        drop(port);
    }
}

#[test]
fn bad_interface_name_is_one_clear_line() {
    // Refused before any system call, so this needs no root.
    for name in ["", "has space", "a/b", "sixteen-chars-xx"] {
        let e = TapPort::open(tap_cfg(name)).unwrap_err();
        assert!(matches!(e, Error::InvalidInterfaceName { .. }), "{e}");
        let line = e.to_string();
        assert!(
            line.starts_with(&format!("invalid interface name {name:?}: ")),
            "{line}"
        );
        assert!(!line.contains('\n'));
    }
}
