//! Per-layer counters. Every frame the stack drops is counted under exactly one reason.

use std::fmt;
use std::ops::AddAssign;

/// Declares a plain struct of `u64` counters with `AddAssign`, `fields()` (name, value
/// pairs in declaration order) and `write_nonzero` (the non-zero ones as `prefix.name=v`).
/// Every layer of the stack declares its `Stats` with it, so they print alike.
///
/// With `display "prefix",` first, it also implements `Display`: the non-zero counters as
/// `prefix.name=value`, or `(all zero)`.
#[macro_export]
macro_rules! counters {
    (display $prefix:literal, $(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident,)* }) => {
        $crate::counters! { $(#[$doc])* $name { $($(#[$fdoc])* $field,)* } }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                let mut first = true;
                self.write_nonzero(f, $prefix, &mut first)?;
                if first {
                    f.write_str("(all zero)")?;
                }
                Ok(())
            }
        }
    };
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name {
            $($(#[$fdoc])* pub $field: u64,)*
        }

        impl ::core::ops::AddAssign for $name {
            fn add_assign(&mut self, o: Self) {
                $(self.$field += o.$field;)*
            }
        }

        impl $name {
            /// `(name, value)` for every counter, in declaration order.
            pub fn fields(&self) -> impl Iterator<Item = (&'static str, u64)> {
                [$((stringify!($field), self.$field),)*].into_iter()
            }

            /// Write the non-zero counters as `prefix.name=value`, space-separated; `first`
            /// says whether anything was written before (and is cleared once something is).
            pub fn write_nonzero(
                &self,
                f: &mut ::core::fmt::Formatter<'_>,
                prefix: &str,
                first: &mut bool,
            ) -> ::core::fmt::Result {
                for (name, v) in self.fields().filter(|&(_, v)| v != 0) {
                    if !*first {
                        f.write_str(" ")?;
                    }
                    *first = false;
                    write!(f, "{prefix}.{name}={v}")?;
                }
                Ok(())
            }
        }
    };
}

counters! {
    /// Ethernet demux counters.
    EthStats {
        /// Frames handed to the stack.
        rx_frames,
        /// Dropped: shorter than an Ethernet header (tags included).
        rx_truncated,
        /// Dropped: destination MAC neither ours, broadcast, nor a group we listen to.
        rx_not_ours,
        /// Dropped: frame carried a VLAN tag (in the frame or stripped by the NIC); the stack
        /// serves untagged traffic only.
        rx_vlan,
        /// Dropped: source MAC is a group address (IEEE 802 forbids it) or our own.
        rx_bad_src,
        /// Dropped: an EtherType the stack does not speak (IPv6, LLDP, ...).
        rx_unknown_ethertype,
        /// Frames queued to the TX half (replies, requests, transport output).
        tx_frames,
        /// Output dropped: the TX ring had no free slot.
        tx_ring_full,
        /// Output dropped: the port refused to commit the frame (length it cannot send).
        tx_commit_failed,
    }
}

counters! {
    /// ARP counters.
    ArpStats {
        /// ARP packets received.
        rx_packets,
        /// Dropped: shorter than 28 bytes or hardware/protocol lengths not 6/4.
        rx_truncated,
        /// Dropped: not Ethernet/IPv4 ARP, or an operation other than request/reply.
        rx_unsupported,
        /// Dropped: sender hardware address is a group address, or the sender protocol
        /// address is not a unicast address of our subnet.
        rx_bad_sender,
        /// Someone else claims our address (RFC 5227 2.4 conflict); counted, not defended.
        rx_conflict,
        /// Requests for our address answered.
        requests_answered,
        /// Packets about other hosts that updated nothing (not for us, no entry).
        rx_ignored,
        /// Requests sent to resolve an unknown neighbour (first try and retries).
        requests_sent,
        /// Unicast requests sent to refresh an entry past its reachable time.
        refresh_sent,
        /// Gratuitous announcements sent (RFC 5227 2.3).
        announcements_sent,
        /// Entries created, or resolved from incomplete, by a received packet.
        entries_learned,
        /// Resolved entries confirmed again (or given a new MAC) by a received packet.
        entries_updated,
        /// Stale entries confirmed again by a reply.
        entries_refreshed,
        /// Entries removed: unused past their lifetime, or a refresh went unanswered.
        entries_expired,
        /// Resolutions given up after every retry.
        resolve_failed,
        /// Entries evicted to make room for a new neighbour.
        evictions,
        /// New neighbour refused: every slot of its bucket holds a static or pending entry.
        table_full,
        /// Packets held while their next hop was resolved.
        held,
        /// Held packets sent after resolution.
        held_sent,
        /// Held packets dropped: resolution failed, the entry was evicted, the neighbour's
        /// queue overflowed (oldest dropped), the hold pool was empty, or TX was full.
        held_dropped,
    }
}

counters! {
    /// IPv4 counters.
    Ipv4Stats {
        /// IPv4 packets received.
        rx_packets,
        /// Dropped: shorter than the header, or the total length exceeds the frame.
        rx_truncated,
        /// Dropped: version is not 4.
        rx_bad_version,
        /// Dropped: IHL below 5.
        rx_bad_header_len,
        /// Dropped: total length below the header length.
        rx_bad_length,
        /// Dropped: header checksum does not verify.
        rx_bad_checksum,
        /// Dropped: TTL below the configured minimum (GTSM, RFC 5082; off by default).
        rx_ttl,
        /// Dropped: the packet carries IP options.
        rx_options,
        /// Dropped: a fragment (no reassembly).
        rx_fragments,
        /// Dropped: destination is not our address nor a broadcast we accept.
        rx_not_ours,
        /// Dropped: source is broadcast, multicast, loopback or our own address
        /// (RFC 1122 3.2.1.3).
        rx_bad_src,
        /// Dropped: no transport for the protocol (protocol unreachable sent if allowed).
        rx_unknown_protocol,
        /// Dropped by a transport: nobody on the port (port unreachable sent if allowed).
        rx_port_unreachable,
        /// Packets handed to a transport.
        rx_delivered,
        /// Packets sent (or held for ARP).
        tx_packets,
        /// Output dropped: off-link destination and no default gateway.
        tx_no_route,
        /// Output dropped: next hop could not be resolved or held.
        tx_unresolved,
        /// Output dropped: the payload did not fit the MTU, or the filler wrote nothing.
        tx_bad_len,
    }
}

counters! {
    /// ICMPv4 counters.
    IcmpStats {
        /// ICMP messages received.
        rx_messages,
        /// Dropped: shorter than the 8-byte header.
        rx_truncated,
        /// Dropped: checksum does not verify.
        rx_bad_checksum,
        /// Echo requests answered.
        echo_replied,
        /// Echo requests to a broadcast address, ignored (RFC 1122 3.2.2.6 allows it).
        echo_broadcast_ignored,
        /// Echo requests not answered: no TX slot or no route back.
        echo_reply_failed,
        /// Echo replies received (answers to our own requests).
        echo_replies_in,
        /// Error messages (unreachable, time exceeded, ...) handed to a transport.
        errors_delivered,
        /// Error messages quoting a packet no transport of ours could have sent.
        errors_ignored,
        /// Other types (timestamp, redirect, ...), ignored.
        rx_other,
        /// Echo requests sent.
        echo_requests_sent,
        /// Destination unreachable messages sent.
        unreachable_sent,
        /// Unreachables not sent: over the rate limit.
        unreachable_rate_limited,
        /// Unreachables not sent: RFC 1122 3.2.2 forbids an error about this packet.
        unreachable_suppressed,
    }
}

/// All counters of one stack instance, one struct per layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Ethernet.
    pub eth: EthStats,
    /// ARP.
    pub arp: ArpStats,
    /// IPv4.
    pub ip: Ipv4Stats,
    /// ICMPv4.
    pub icmp: IcmpStats,
}

impl AddAssign for Stats {
    fn add_assign(&mut self, o: Self) {
        self.eth += o.eth;
        self.arp += o.arp;
        self.ip += o.ip;
        self.icmp += o.icmp;
    }
}

impl Stats {
    /// Sum of every drop counter (for a one-number health check).
    pub fn rx_dropped(&self) -> u64 {
        let e = &self.eth;
        let a = &self.arp;
        let i = &self.ip;
        let c = &self.icmp;
        e.rx_truncated
            + e.rx_not_ours
            + e.rx_vlan
            + e.rx_bad_src
            + e.rx_unknown_ethertype
            + a.rx_truncated
            + a.rx_unsupported
            + a.rx_bad_sender
            + i.rx_truncated
            + i.rx_bad_version
            + i.rx_bad_header_len
            + i.rx_bad_length
            + i.rx_bad_checksum
            + i.rx_ttl
            + i.rx_options
            + i.rx_fragments
            + i.rx_not_ours
            + i.rx_bad_src
            + i.rx_unknown_protocol
            + i.rx_port_unreachable
            + c.rx_truncated
            + c.rx_bad_checksum
    }
}

/// Prints the non-zero counters as `layer.name=value` pairs on one line.
impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        self.eth.write_nonzero(f, "eth", &mut first)?;
        self.arp.write_nonzero(f, "arp", &mut first)?;
        self.ip.write_nonzero(f, "ip", &mut first)?;
        self.icmp.write_nonzero(f, "icmp", &mut first)?;
        if first {
            f.write_str("(all zero)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_lists_only_nonzero_counters() {
        let mut s = Stats::default();
        assert_eq!(s.to_string(), "(all zero)");
        s.ip.rx_bad_checksum = 3;
        s.arp.requests_answered = 1;
        assert_eq!(
            s.to_string(),
            "arp.requests_answered=1 ip.rx_bad_checksum=3"
        );
        assert_eq!(s.rx_dropped(), 3);
    }

    #[test]
    fn add_assign_sums_every_layer() {
        let mut a = Stats::default();
        a.eth.rx_frames = 2;
        a.icmp.echo_replied = 1;
        let mut b = a;
        b += a;
        assert_eq!(b.eth.rx_frames, 4);
        assert_eq!(b.icmp.echo_replied, 2);
    }
}
