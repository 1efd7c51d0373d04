//! TCP counters: every segment dropped is counted under exactly one reason, and every
//! abnormal event (resets, retransmissions, cookies, timeouts) has a counter of its own.

eth::counters! {
    display "tcp",
    /// Counters of one TCP instance.
    TcpStats {
        /// Segments handed to TCP by the IPv4 layer.
        rx_segments,
        /// Dropped: shorter than 20 bytes or than the data offset says.
        rx_truncated,
        /// Dropped: data offset below 5.
        rx_bad_header_len,
        /// Dropped: checksum does not verify.
        rx_bad_checksum,
        /// Dropped: malformed options (length 0 or 1, overrunning the header, wrong length
        /// for the kind).
        rx_bad_options,
        /// Dropped: a flag combination no TCP sends (SYN with FIN or RST, no flags at all
        /// outside LISTEN-free probes).
        rx_bad_flags,
        /// Dropped: to a broadcast address, or from one (RFC 9293 3.9.1.1, RFC 1122 4.2.3.10).
        rx_broadcast,
        /// No connection and no listener: answered with a reset (RFC 9293 3.10.7.1) unless
        /// the segment was itself a reset.
        rx_no_listener,
        /// Dropped: not acceptable for the receive window (RFC 9293 3.10.7.4); an ACK was
        /// sent unless it was a reset.
        rx_out_of_window,
        /// Dropped: failed the PAWS test (RFC 7323 5.3).
        rx_paws,
        /// Dropped: ACK of data never sent, or too old (RFC 5961 5.2).
        rx_bad_ack,
        /// Dropped: no ACK bit on a segment that needs one (RFC 9293 3.10.7.4 fifth), or no
        /// SYN, ACK or RST at all to a listener or in SYN-SENT.
        rx_no_ack,
        /// ICMP errors accepted for a connection (RFC 5927).
        rx_icmp_errors,
        /// ICMP errors ignored: no such connection, or a quoted sequence number not in
        /// flight (RFC 5927 4.1).
        rx_icmp_out_of_window,
        /// Connections being opened ended by a hard ICMP error (port or protocol
        /// unreachable).
        icmp_aborts,
        /// Sender MSS lowered by "fragmentation needed" (RFC 1191).
        icmp_pmtu_reductions,
        /// Resets that reached no connection (dropped, never answered).
        rx_rst_no_connection,
        /// Resets accepted (connection closed).
        rx_rst,
        /// Resets in the window but not exactly at RCV.NXT: answered with a challenge ACK
        /// (RFC 5961 3.2).
        rx_rst_challenged,
        /// SYNs on a synchronized connection: answered with a challenge ACK (RFC 5961 4.2).
        rx_syn_challenged,
        /// Challenge ACKs not sent: over the rate limit (RFC 5961 7).
        challenge_ack_limited,
        /// Duplicate segments (entirely below RCV.NXT).
        rx_duplicate,
        /// Out-of-order segments held for reassembly.
        rx_out_of_order,
        /// Out-of-order segments dropped: no room to hold them.
        rx_reassembly_full,
        /// Payload bytes delivered to applications, in order.
        rx_bytes,
        /// Duplicate ACKs received.
        rx_dup_acks,
        /// SYNs to a listener.
        syn_received,
        /// SYNs dropped: the backlog was full and cookies are off.
        syn_backlog_full,
        /// SYN-ACKs sent carrying a cookie instead of keeping state.
        syn_cookies_sent,
        /// ACKs that brought back a valid cookie (connection created).
        syn_cookies_accepted,
        /// ACKs to a listener with an invalid or expired cookie (answered with a reset).
        syn_cookies_rejected,
        /// Connections refused: the connection table was full.
        table_full,
        /// Passive opens completed.
        accepted,
        /// Active opens completed.
        connected,
        /// Active opens that failed (reset, unreachable, or SYN retries used up).
        connect_failed,
        /// Half-open connections dropped after their SYN-ACK retries.
        synack_timeouts,
        /// Connections closed normally (both FINs acknowledged).
        closed,
        /// Connections aborted: reset received, by the application, or by a timeout.
        aborted,
        /// Connections reset after `max_retransmits` RTO expiries in a row.
        retransmit_timeouts,
        /// Keep-alive probes sent.
        keepalive_probes,
        /// Connections reset for not answering keep-alive probes.
        keepalive_timeouts,
        /// TIME-WAIT connections ended early because `max_time_wait` records were held.
        time_wait_recycled,
        /// Segments queued for sending.
        tx_segments,
        /// Payload bytes sent (first transmissions and retransmissions).
        tx_bytes,
        /// Segments not sent: the output had no room.
        tx_dropped,
        /// Resets sent.
        tx_rst,
        /// Retransmitted segments, all causes.
        retransmits,
        /// Retransmission timer expiries.
        rto_expired,
        /// Fast recoveries entered (RACK with SACK, RFC 8985; duplicate ACKs without,
        /// RFC 6582).
        fast_retransmits,
        /// ACKs or reordering timer expiries on which RACK marked segments lost.
        rack_marked_lost,
        /// Tail loss probes sent (RFC 8985 7).
        tlp_probes,
        /// Tail loss probes that repaired a loss (the window was reduced).
        tlp_recoveries,
        /// DSACK blocks received (RFC 2883).
        rx_dsacks,
        /// Recoveries and timeouts undone as spurious (RFC 3522 timestamps, or DSACKs for
        /// every retransmission).
        spurious_undone,
        /// SYN and SYN-ACK retransmissions.
        syn_retransmits,
        /// Zero-window probes sent (RFC 9293 3.8.6.1).
        window_probes,
        /// Segments sent from prepared objects.
        tx_prepared,
        /// Prepared segments re-cut on the fly for a peer with a smaller MSS.
        tx_prepared_resegmented,
        /// Super-segments handed to a port that cuts them (TSO); each also counts once in
        /// `tx_segments`.
        tx_tso,
    }
}

impl TcpStats {
    /// Segments dropped on receive before reaching a connection, all reasons together.
    pub fn rx_malformed(&self) -> u64 {
        self.rx_truncated
            + self.rx_bad_header_len
            + self.rx_bad_checksum
            + self.rx_bad_options
            + self.rx_bad_flags
            + self.rx_broadcast
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_lists_only_nonzero_counters() {
        let mut s = TcpStats::default();
        assert_eq!(s.to_string(), "(all zero)");
        s.rx_segments = 4;
        s.rx_bad_checksum = 1;
        s.rx_truncated = 2;
        assert_eq!(
            s.to_string(),
            "tcp.rx_segments=4 tcp.rx_truncated=2 tcp.rx_bad_checksum=1"
        );
        assert_eq!(s.rx_malformed(), 3);
    }
}
