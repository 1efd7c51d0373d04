//! The whole receive path on arbitrary frames: the input is split into frames at 0xFE 0xFE
//! markers and fed to a stack on the simulated wire (a virtual clock, so timers are
//! deterministic). No frame may panic, and every frame must be counted as received.

#![no_main]

use eth::wire::{Ipv4Addr, MacAddr};
use eth::{IfaceConfig, Stack};
use libfuzzer_sys::fuzz_target;
use nmio::backend::pipe::{self, PipeConfig};
use nmio::{Clock, EventLoop, Instant, LoopConfig, Port, TxQueue, VirtualClock};
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let clock = VirtualClock::new(Instant::from_millis(1));
    let (mut peer, port) = pipe::pair(PipeConfig {
        clock: Some(clock.clone()),
        ..Default::default()
    })
    .unwrap();
    let mut cfg = IfaceConfig::for_port(port.caps(), Ipv4Addr::new(192, 0, 2, 2), 24);
    cfg.gateway = Some(Ipv4Addr::new(192, 0, 2, 1));
    let mut stack = Stack::new(cfg, (), clock.now()).unwrap();
    // A small timer wheel: building the default 65,536-entry one dominated each run.
    let loop_cfg = LoopConfig {
        timer_capacity: 1024,
        ..LoopConfig::default()
    };
    let mut ev = EventLoop::new(port, clock.clone(), loop_cfg);
    stack.start_on(&mut ev);
    let our_mac = MacAddr(ev.port().caps().mac);
    let mut frames = 0u64;
    for chunk in data.split(|&b| b == 0xfe).filter(|c| !c.is_empty()) {
        // Address most frames to us so they get past the MAC filter.
        let mut f = chunk.to_vec();
        if f.len() >= 6 && f[0] & 1 == 0 {
            f[..6].copy_from_slice(&our_mac.0);
        }
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
        clock.advance(Duration::from_millis(300));
        frames += 1;
    }
    ev.run_once(&mut stack);
    assert_eq!(stack.stats().eth.rx_frames, frames);
});
