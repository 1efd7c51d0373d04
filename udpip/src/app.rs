//! What an application sees: the [`UdpApp`] callbacks and the values they receive.

use crate::udp::UdpOut;
use eth::wire::icmp::unreachable;
use eth::wire::{IcmpType, Ipv4Addr};
use nmio::TxQueue;
use std::net::SocketAddrV4;

/// A received datagram, borrowed from the receive ring for the length of the callback.
#[derive(Debug)]
pub struct Datagram<'a> {
    /// Who sent it.
    pub src: SocketAddrV4,
    /// Where it was sent: our address (or a broadcast address when `broadcast`) and a bound
    /// port.
    pub dst: SocketAddrV4,
    /// Sent to a broadcast address. A reply goes from our unicast address.
    pub broadcast: bool,
    /// TTL as received.
    pub ttl: u8,
    /// DSCP and ECN bits as received.
    pub dscp_ecn: u8,
    /// The payload, cut at the UDP length. Mutable so the application can work on it in
    /// place (lowercase a DNS question to look it up, say); it is gone after the callback.
    pub payload: &'a mut [u8],
}

/// An ICMP error about a datagram we sent (RFC 1122 4.1.3.3: UDP passes them up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpError {
    /// The ICMP type (destination unreachable, time exceeded, parameter problem, ...).
    pub msg_type: IcmpType,
    /// The ICMP code (3 with destination unreachable: port unreachable).
    pub code: u8,
    /// Next-hop MTU of a "fragmentation needed", else 0.
    pub next_hop_mtu: u16,
    /// Who reported it (the destination, or a router on the way).
    pub reporter: Ipv4Addr,
    /// Our port the datagram was sent from.
    pub local_port: u16,
    /// Where the datagram was going.
    pub remote: SocketAddrV4,
}

impl UdpError {
    /// The destination said nothing listens on that port (ICMP type 3, code 3).
    pub fn is_port_unreachable(&self) -> bool {
        self.msg_type == IcmpType::DST_UNREACHABLE && self.code == unreachable::PORT
    }
}

/// The events of a UDP application. Every method but `on_datagram` defaults to doing
/// nothing. `out` sends (batched into the TX ring, kicked once per batch by the loop),
/// binds ports and arms timers.
pub trait UdpApp {
    /// A datagram arrived on a bound port.
    fn on_datagram<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>, dgram: Datagram<'_>);

    /// The stack is starting: bind ports, prepare datagrams, arm timers.
    fn on_start<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>) {
        let _ = out;
    }

    /// An ICMP error about a datagram sent from one of our bound ports.
    fn on_error<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>, err: &UdpError) {
        let _ = (out, err);
    }

    /// A timer armed with [`UdpOut::set_timer`] fired with its `value`.
    fn on_timer<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>, value: u64) {
        let _ = (out, value);
    }

    /// End of a receive burst or a round of timers.
    fn on_batch_end<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>) {
        let _ = out;
    }
}
