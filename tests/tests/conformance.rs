//! The conformance suite run against every backend.
//!
//! `pipe` always runs. `afpacket` (veth pair) and `tap` (a TAP device with an AF_PACKET
//! port on its kernel side) run inside a fresh test namespace and need root; without root
//! they say so and skip, and in CI (root) they must run.

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
    use nmio::backend::pipe::{self, PipeConfig, PipePort};
    use nmio::{Instant, VirtualClock};

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
