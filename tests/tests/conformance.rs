//! The conformance suite run against every backend.
//!
//! `pipe` always runs. `afpacket` and `afpacket_v2` (veth pair, with the default
//! `TPACKET_V3` and with the `TPACKET_V2` receive ring) and `tap` (a TAP device with an
//! AF_PACKET port on its kernel side) run inside a fresh test namespace and need root;
//! without root they say so and skip, and in CI (root) they must run.

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
    use nmio::backend::impair::{ImpairConfig, ImpairedPort};
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
