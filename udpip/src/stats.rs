//! UDP counters: every datagram dropped is counted under exactly one reason.

eth::counters! {
    display "udp",
    /// Counters of the UDP layer.
    UdpStats {
        /// Datagrams handed to UDP by the IPv4 layer.
        rx_datagrams,
        /// Dropped: shorter than the UDP header, or than its length field says.
        rx_truncated,
        /// Dropped: length field below 8.
        rx_bad_length,
        /// Dropped: checksum does not verify.
        rx_bad_checksum,
        /// Accepted without verification: the sender computed no checksum (field 0, RFC
        /// 768). Dropped instead when the configuration refuses them.
        rx_no_checksum,
        /// Dropped: zero checksum refused by configuration.
        rx_no_checksum_refused,
        /// Dropped: destination port 0 (reserved, never bound; no ICMP error for it).
        rx_dst_port_zero,
        /// Dropped: nothing bound on the destination port (an ICMP port unreachable goes
        /// back unless the datagram was broadcast or the rate limit says no).
        rx_no_port,
        /// Datagrams delivered to the application.
        rx_delivered,
        /// Bytes of payload delivered.
        rx_bytes,
        /// ICMP errors about datagrams we sent, handed to the application.
        rx_icmp_errors,
        /// ICMP errors quoting a port we have no binding on (stale or forged).
        rx_icmp_unmatched,
        /// Datagrams sent (or held while ARP resolves the next hop).
        tx_datagrams,
        /// Bytes of payload sent.
        tx_bytes,
        /// Not sent: payload larger than the interface's MTU allows (no fragmentation).
        tx_too_big,
        /// Not sent: source port 0 or destination port 0, or not bound to the source port.
        tx_bad_port,
        /// Not sent: no route, next hop unresolvable, or the TX ring was full (the IPv4 and
        /// Ethernet counters say which).
        tx_dropped,
        /// Prepared datagrams sent through the port's prepared path.
        tx_prepared,
        /// Prepared datagrams sent by copy through the IPv4 output path because the next hop
        /// was still being resolved (held until ARP answers).
        tx_prepared_held,
        /// Not sent: a prepared datagram's patch falls outside its payload.
        tx_bad_patch,
    }
}

impl UdpStats {
    /// Datagrams dropped on receive, all reasons together. Every datagram received is
    /// either delivered or dropped: `rx_datagrams == rx_delivered + rx_dropped()`.
    pub fn rx_dropped(&self) -> u64 {
        self.rx_truncated
            + self.rx_bad_length
            + self.rx_bad_checksum
            + self.rx_no_checksum_refused
            + self.rx_dst_port_zero
            + self.rx_no_port
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_lists_only_nonzero_counters() {
        let mut s = UdpStats::default();
        assert_eq!(s.to_string(), "(all zero)");
        s.rx_datagrams = 3;
        s.rx_bad_checksum = 1;
        assert_eq!(s.to_string(), "udp.rx_datagrams=3 udp.rx_bad_checksum=1");
    }
}
