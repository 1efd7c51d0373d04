//! The conformance suite run against every backend.
//!
//! `pipe` always runs. `afpacket` and `afpacket_v2` (veth pair, with the default
//! `TPACKET_V3` and with the `TPACKET_V2` receive ring) and `tap` (a TAP device with an
//! AF_PACKET port on its kernel side) run inside a fresh test namespace and need root;
//! without root they say so and skip, and in CI (root) they must run.
//!
//! With the `afxdp` feature, `afxdp_generic` and `afxdp_native` run the suite on an AF_XDP
//! port (copy mode, the XDP program in generic or native mode) on one end of a veth pair
//! and an AF_PACKET port on the other: `cargo test -p tests --features afxdp --test
//! conformance afxdp` as root.

use tests::conformance::*;

/// Expand the list of checks for one backend. `$make` returns `Option<(A, B, Env)>`
/// (`None`: skipped, reason printed); `$drops` says whether the receiver can see its own
/// ring overflows.
macro_rules! suite {
    ($name:ident, $make:expr, $drops:expr) => {
        mod $name {
            use super::*;

            #[test]
            fn every_size_arrives_byte_exact_both_ways() {
                let Some((mut a, mut b, _env)) = $make("every_size") else {
                    return;
                };
                every_size_arrives_byte_exact(&mut a, &mut b);
                every_size_arrives_byte_exact(&mut b, &mut a);
            }

            #[test]
            fn bursts_up_to_the_ring_size_arrive_both_ways() {
                let Some((mut a, mut b, _env)) = $make("bursts") else {
                    return;
                };
                bursts_up_to_the_ring_size_arrive(&mut a, &mut b);
                bursts_up_to_the_ring_size_arrive(&mut b, &mut a);
            }

            #[test]
            fn tx_ring_full_is_a_counted_drop_both_ways() {
                let Some((mut a, mut b, _env)) = $make("txfull") else {
                    return;
                };
                tx_ring_full_is_a_counted_drop(&mut a, &mut b);
                tx_ring_full_is_a_counted_drop(&mut b, &mut a);
            }

            #[test]
            fn rx_overflow_never_hangs_both_ways() {
                let Some((mut a, mut b, _env)) = $make("rxfull") else {
                    return;
                };
                let (ab, ba): (bool, bool) = $drops;
                rx_overflow_never_hangs(&mut a, &mut b, ab);
                rx_overflow_never_hangs(&mut b, &mut a, ba);
            }

            #[test]
            fn loop_timers_fire_on_time_on_a_virtual_clock() {
                let Some((a, b, _env)) = $make("timers") else {
                    return;
                };
                let a = loop_timers_fire_on_time(a);
                let _ = loop_timers_fire_on_time(b);
                drop(a);
            }

            #[test]
            fn prepared_send_works_in_both_modes_both_ways() {
                let Some((mut a, mut b, _env)) = $make("prepared") else {
                    return;
                };
                prepared_send_works_in_both_modes(&mut a, &mut b);
                prepared_send_works_in_both_modes(&mut b, &mut a);
            }
        }
    };
}

mod make {
    use nmio::backend::afpacket::{AfPacketConfig, AfPacketPort, RxRingKind};
    #[cfg(feature = "afxdp")]
    use nmio::backend::afxdp::{AfXdpConfig, AfXdpPort, XdpMode};
    #[cfg(feature = "dpdk")]
    use nmio::backend::dpdk::{DpdkConfig, DpdkPort};
    use nmio::backend::impair::{ImpairConfig, ImpairedPort};
    #[cfg(feature = "netmap")]
    use nmio::backend::netmap::mem::{self as netmap_mem, MemConfig, MemNetmap, MemWire};
    #[cfg(feature = "netmap")]
    use nmio::backend::netmap::NetmapPort;
    use nmio::backend::pipe::{self, PipeConfig, PipePort};
    use nmio::backend::tap::{TapConfig, TapPort};
    use nmio::MonotonicClock;
    use nmio::{Instant, VirtualClock};
    use tests::netns::{require_root, NetNs};

    /// AF_PACKET settings for the suite: a small RX ring (16 blocks of 16 KiB) so that the
    /// overflow check really overflows it, and a 256-slot TX ring.
    fn small(dev: &str) -> AfPacketConfig {
        AfPacketConfig {
            rx_block_size: 16 * 1024,
            rx_block_count: 16,
            tx_frames: 256,
            ..AfPacketConfig::new(dev)
        }
    }

    fn veth_pair(
        suite: &str,
        tag: &str,
        ring: RxRingKind,
    ) -> Option<(AfPacketPort, AfPacketPort, NetNs)> {
        if !require_root(&format!("conformance::{suite}::{tag}"), &["ip", "ethtool"]) {
            return None;
        }
        let ns = NetNs::new(&format!("ca{tag}")).expect("namespace");
        ns.veth_pair("c0", "c1").expect("veth");
        let _in = ns.enter().expect("enter");
        let open = |dev: &str| {
            AfPacketPort::open(AfPacketConfig {
                rx_ring: ring,
                ..small(dev)
            })
            .unwrap_or_else(|e| panic!("afpacket {dev}: {e}"))
        };
        Some((open("c0"), open("c1"), ns))
    }

    pub fn afpacket(tag: &str) -> Option<(AfPacketPort, AfPacketPort, NetNs)> {
        veth_pair("afpacket", tag, RxRingKind::V3)
    }

    /// The same pair with per-frame `TPACKET_V2` receive rings (128 slots of 2 KiB).
    pub fn afpacket_v2(tag: &str) -> Option<(AfPacketPort, AfPacketPort, NetNs)> {
        veth_pair("afpacket_v2", tag, RxRingKind::V2)
    }

    /// An AF_PACKET port behind the `impair` wrapper with no impairment configured: the
    /// wrapper must be transparent.
    pub fn impair(
        tag: &str,
    ) -> Option<(
        ImpairedPort<AfPacketPort, MonotonicClock>,
        AfPacketPort,
        NetNs,
    )> {
        let (a, b, ns) = afpacket(&format!("i{tag}"))?;
        let a = ImpairedPort::new(a, MonotonicClock, ImpairConfig::default()).expect("impair");
        Some((a, b, ns))
    }

    /// A TAP port and, as its peer, an AF_PACKET port on the TAP's kernel side.
    pub fn tap(tag: &str) -> Option<(TapPort, AfPacketPort, NetNs)> {
        if !require_root(&format!("conformance::tap::{tag}"), &["ip", "ethtool"]) {
            return None;
        }
        let ns = NetNs::new(&format!("ct{tag}")).expect("namespace");
        let _in = ns.enter().expect("enter");
        let a = TapPort::open(TapConfig {
            ifname: "ct0".into(),
            ..Default::default()
        })
        .expect("tap ct0");
        let b = AfPacketPort::open(small("ct0")).expect("afpacket on ct0");
        Some((a, b, ns))
    }

    /// An AF_XDP port (copy mode, XDP program in `mode`) on `c0` of a veth pair and, as
    /// its peer, an AF_PACKET port on `c1`. Rings of 256: small enough for the overflow
    /// check, large enough for the burst check.
    #[cfg(feature = "afxdp")]
    pub fn xdp_pair(
        suite: &str,
        tag: &str,
        mode: XdpMode,
    ) -> Option<(AfXdpPort, AfPacketPort, NetNs)> {
        if !require_root(&format!("conformance::{suite}::{tag}"), &["ip", "ethtool"]) {
            return None;
        }
        let ns = NetNs::new(&format!("cx{tag}")).expect("namespace");
        ns.veth_pair("c0", "c1").expect("veth");
        let _in = ns.enter().expect("enter");
        let a = AfXdpPort::open(AfXdpConfig {
            xdp_mode: mode,
            rx_ring: 256,
            tx_ring: 256,
            prepared_capacity: 64,
            ..AfXdpConfig::new("c0")
        })
        .unwrap_or_else(|e| panic!("afxdp c0 ({mode}): {e}"));
        assert_eq!(a.xdp_mode(), mode, "the program runs where asked");
        let b = AfPacketPort::open(small("c1")).expect("afpacket on c1");
        Some((a, b, ns))
    }

    /// The XDP program in generic (skb) mode.
    #[cfg(feature = "afxdp")]
    pub fn afxdp_generic(tag: &str) -> Option<(AfXdpPort, AfPacketPort, NetNs)> {
        xdp_pair("afxdp_generic", &format!("g{tag}"), XdpMode::Generic)
    }

    /// The XDP program in veth's native mode (the socket still in copy mode).
    #[cfg(feature = "afxdp")]
    pub fn afxdp_native(tag: &str) -> Option<(AfXdpPort, AfPacketPort, NetNs)> {
        xdp_pair("afxdp_native", &format!("n{tag}"), XdpMode::Native)
    }

    /// DPDK ports of the suite: the EAL on `--no-huge` (one EAL serves every test of this
    /// binary), small rings so the overflow check overflows them.
    #[cfg(feature = "dpdk")]
    fn dpdk_open(device: String) -> DpdkPort {
        DpdkPort::open(DpdkConfig {
            rx_ring: 256,
            tx_desc: 256,
            tx_ring: 256,
            prepared_capacity: 64,
            ..DpdkConfig::new(device.as_str(), DpdkConfig::virtual_eal_args())
        })
        .unwrap_or_else(|e| panic!("dpdk {device}: {e}"))
    }

    /// A DPDK port on `c0` of a veth pair through a `net_af_packet` device hot-plugged in
    /// the test namespace and, as its peer, an AF_PACKET port on `c1`.
    #[cfg(feature = "dpdk")]
    pub fn dpdk(tag: &str) -> Option<(DpdkPort, AfPacketPort, NetNs)> {
        if !require_root(&format!("conformance::dpdk::{tag}"), &["ip", "ethtool"]) {
            return None;
        }
        let ns = NetNs::new(&format!("cd{tag}")).expect("namespace");
        ns.veth_pair("c0", "c1").expect("veth");
        let _in = ns.enter().expect("enter");
        let a = dpdk_open(format!("net_af_packet_{tag},iface=c0"));
        let b = AfPacketPort::open(small("c1")).expect("afpacket on c1");
        Some((a, b, ns))
    }

    /// A DPDK port on a TAP device `ct0` that its `net_tap` driver creates and, as its
    /// peer, an AF_PACKET port on the TAP's kernel side.
    #[cfg(feature = "dpdk")]
    pub fn dpdk_tap(tag: &str) -> Option<(DpdkPort, AfPacketPort, NetNs)> {
        if !require_root(&format!("conformance::dpdk_tap::{tag}"), &["ip", "ethtool"]) {
            return None;
        }
        let ns = NetNs::new(&format!("cdt{tag}")).expect("namespace");
        let _in = ns.enter().expect("enter");
        let a = dpdk_open(format!("net_tap_{tag},iface=ct0"));
        let b = AfPacketPort::open(small("ct0")).expect("afpacket on ct0");
        Some((a, b, ns))
    }

    /// Two in-memory netmap ports wired back to back: netmap's kernel module cannot be
    /// loaded here (see nmio/src/backend/netmap/mod.rs).
    #[cfg(feature = "netmap")]
    pub fn netmap(_tag: &str) -> Option<(NetmapPort<MemNetmap>, NetmapPort<MemNetmap>, MemWire)> {
        Some(netmap_mem::pair(MemConfig::default()).expect("in-memory netmap pair"))
    }

    pub fn pipe(_tag: &str) -> Option<(PipePort, PipePort, VirtualClock)> {
        let clock = VirtualClock::new(Instant::ZERO);
        let (a, b) = pipe::pair(PipeConfig {
            clock: Some(clock.clone()),
            ..Default::default()
        })
        .expect("pipe pair");
        Some((a, b, clock))
    }
}

suite!(pipe, make::pipe, (true, true));
suite!(afpacket, make::afpacket, (true, true));
suite!(afpacket_v2, make::afpacket_v2, (true, true));
suite!(impair, make::impair, (true, true));
// The kernel's TAP queue overflows in the kernel, where the TAP port cannot see it.
suite!(tap, make::tap, (true, false));
// DPDK 22.11's net_af_packet and net_tap do not count the kernel's drops on their
// sockets and queues: a DPDK receiver cannot see its ring overflow.
#[cfg(feature = "dpdk")]
suite!(dpdk, make::dpdk, (true, false));
#[cfg(feature = "dpdk")]
suite!(dpdk_tap, make::dpdk_tap, (true, false));
#[cfg(feature = "afxdp")]
suite!(afxdp_generic, make::afxdp_generic, (true, true));
#[cfg(feature = "afxdp")]
suite!(afxdp_native, make::afxdp_native, (true, true));
#[cfg(feature = "netmap")]
suite!(netmap, make::netmap, (true, true));

/// What AF_XDP promises beyond the suite: pre-copy sends the UMEM frame itself, and the
/// XDP program goes away with the port.
#[cfg(feature = "afxdp")]
mod afxdp_only {
    use super::*;
    use nmio::backend::afxdp::{AfXdpConfig, AfXdpPort, XdpMode};
    use nmio::{Port, PrepMode, TxQueue};
    use std::time::{Duration, Instant};
    use tests::netns::{require_root, NetNs};

    fn with_seq(image: &[u8], n: u32) -> Vec<u8> {
        let mut v = image.to_vec();
        v[14..18].copy_from_slice(&n.to_be_bytes());
        v
    }

    #[test]
    fn precopy_sends_the_umem_frame_and_clones_only_while_it_is_in_flight() {
        let Some((mut a, mut b, _ns)) = make::afxdp_generic("precopy") else {
            return;
        };
        assert!(a.caps().zero_copy_prepared);
        let (src, dst) = (a.caps().mac, b.caps().mac);
        let image = expected_frame(200, dst, src, 0);
        let id = a.tx().prepare(&image).expect("prepare");
        let seq = |n: u32| move |f: &mut [u8]| f[14..18].copy_from_slice(&n.to_be_bytes());
        assert!(a.tx().send_prepared(id, PrepMode::PreCopy, seq(1)));
        assert!(a.tx().send_prepared(id, PrepMode::PreCopy, seq(2)));
        let s = a.stats();
        assert_eq!(
            (s.prepared_precopy, s.prepared_clones),
            (2, 1),
            "the second send found the frame in flight and went from a copy"
        );
        a.tx().flush().expect("flush");
        let got = recv_frames(&mut b, 2);
        assert_eq!(got, vec![with_seq(&image, 1), with_seq(&image, 2)]);
        // Once the completion ring hands the frame back, pre-copy sends it by reference
        // again.
        let start = Instant::now();
        while a.tx().tx_space() < a.caps().tx_ring_size && start.elapsed() < DEADLINE {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(a.tx().send_prepared(id, PrepMode::PreCopy, seq(3)));
        assert_eq!(a.stats().prepared_clones, 1, "sent by reference");
        assert_eq!(
            a.tx().prepared(id),
            Some(&with_seq(&image, 3)[..]),
            "the image itself was rewritten"
        );
        a.tx().flush().expect("flush");
        assert_eq!(recv_frames(&mut b, 1), vec![with_seq(&image, 3)]);
    }

    #[test]
    fn auto_mode_takes_native_xdp_on_veth_and_the_program_leaves_with_the_port() {
        if !require_root("conformance::afxdp_only::auto", &["ip", "ethtool"]) {
            return;
        }
        let ns = NetNs::new("cxauto").expect("namespace");
        ns.veth_pair("c0", "c1").expect("veth");
        let port = {
            let _in = ns.enter().expect("enter");
            AfXdpPort::open(AfXdpConfig {
                rx_ring: 64,
                tx_ring: 64,
                prepared_capacity: 0,
                ..AfXdpConfig::new("c0")
            })
            .expect("afxdp on c0")
        };
        assert_eq!(port.xdp_mode(), XdpMode::Native);
        assert_eq!(port.xdp_fallback(), None);
        assert!(!port.zero_copy(), "veth has no AF_XDP zero-copy");
        let shown = ns.exec(&["ip", "link", "show", "c0"]).expect("ip link");
        assert!(shown.contains("prog/xdp"), "{shown}");
        drop(port);
        let shown = ns.exec(&["ip", "link", "show", "c0"]).expect("ip link");
        assert!(!shown.contains("prog/xdp"), "detached on drop: {shown}");
    }
}
