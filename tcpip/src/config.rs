//! Start-up settings of a TCP instance (one per core), and their validation.
//!
//! Defaults follow Linux where it has a setting (`tcp_syn_retries` 6, `tcp_synack_retries`
//! 5, `tcp_retries2` 15, 200 ms minimum RTO, 40 ms delayed ACK) and the RFCs otherwise.
//! Everything that takes memory is bounded here: connections, half-open connections,
//! TIME-WAIT entries, per-connection buffers.

use crate::cc::CcKind;
use crate::rtt::RtoConfig;
use crate::wire::MAX_WINDOW_SCALE;
use std::fmt;
use std::time::Duration;

/// Keep-alive probing (RFC 9293 3.8.4; off by default, as the RFC requires).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe (RFC 9293: no less than two hours by default).
    pub idle: Duration,
    /// Between unanswered probes.
    pub interval: Duration,
    /// Unanswered probes before the connection is reset.
    pub probes: u32,
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive {
            idle: Duration::from_secs(2 * 3600),
            interval: Duration::from_secs(75),
            probes: 9,
        }
    }
}

/// Settings of one TCP instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpConfig {
    /// Open connections (every state but LISTEN and TIME-WAIT, which `max_time_wait`
    /// bounds) the table holds; sized at start-up.
    pub max_connections: usize,
    /// Half-open connections (SYN-RECEIVED) at once, all listeners together. Beyond it
    /// SYNs are answered with cookies (if `syn_cookies`) or dropped, counted either way.
    pub syn_backlog: usize,
    /// Answer SYNs with SYN cookies (RFC 4987) when the backlog is full.
    pub syn_cookies: bool,
    /// TIME-WAIT connections kept at most, in a table of their own beside the
    /// `max_connections` open ones (they never keep an open connection out). Past it the
    /// oldest wait ends early, counted in `time_wait_recycled`. A record is what
    /// TIME-WAIT needs, about 130 bytes with its table entry (0: none kept); the full TCB
    /// goes back to the core's pool when the wait begins (see
    /// [`TcpCore::full_tcbs`](crate::TcpCore::full_tcbs)).
    pub max_time_wait: usize,
    /// Our MSS: the interface MTU minus 40 (RFC 9293 3.7.1, RFC 6691).
    pub mss: u16,
    /// Receive window per connection in bytes: what we hold for out-of-order data and never
    /// advertise beyond.
    pub recv_window: u32,
    /// Stream send buffer per connection in bytes (the prepared path needs none).
    pub send_buffer: u32,
    /// Offer window scaling (RFC 7323 2); our shift follows from `recv_window`.
    pub window_scaling: bool,
    /// Offer timestamps (RFC 7323 3-5: RTT measurement and PAWS).
    pub timestamps: bool,
    /// Offer SACK (RFC 2018).
    pub sack: bool,
    /// Retransmission timeout bounds (RFC 6298).
    pub rto: RtoConfig,
    /// Delayed ACK timer (RFC 9293 3.8.6.3: under 0.5 s; ACK at least every second full
    /// segment).
    pub delayed_ack: Duration,
    /// SYN retransmissions before an active open fails.
    pub syn_retries: u32,
    /// SYN-ACK retransmissions before a half-open connection is dropped.
    pub synack_retries: u32,
    /// Data retransmissions (RTO expiries in a row) before the connection is reset (RFC
    /// 9293 3.8.3 R2).
    pub max_retransmits: u32,
    /// Keep-alive, off by default.
    pub keepalive: Option<Keepalive>,
    /// TIME-WAIT duration, 2 MSL (RFC 9293 3.4.2; Linux uses 60 s).
    pub time_wait: Duration,
    /// Congestion control for connections that do not choose (listeners can).
    pub cc: CcKind,
    /// Hand new data to the output in super-segments of up to 64 KiB when the sink's port
    /// cuts segments itself (TCP segmentation offload, [`crate::sink::SegmentSink::tso_max`]);
    /// retransmissions stay one MSS each.
    pub tso: bool,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            max_connections: 16_384,
            syn_backlog: 1024,
            syn_cookies: true,
            max_time_wait: 16_384,
            mss: 1460,
            recv_window: 256 * 1024,
            send_buffer: 256 * 1024,
            window_scaling: true,
            timestamps: true,
            sack: true,
            rto: RtoConfig::default(),
            delayed_ack: Duration::from_millis(40),
            syn_retries: 6,
            synack_retries: 5,
            max_retransmits: 15,
            keepalive: None,
            time_wait: Duration::from_secs(60),
            cc: CcKind::default(),
            tso: true,
        }
    }
}

/// Largest window without scaling.
const MAX_UNSCALED: u32 = 65_535;

impl TcpConfig {
    /// Defaults for an interface with this MTU.
    pub fn for_mtu(mtu: usize) -> Self {
        TcpConfig {
            mss: u16::try_from(mtu.saturating_sub(40)).unwrap_or(u16::MAX),
            ..TcpConfig::default()
        }
    }

    /// The window scale we offer: the smallest shift that lets `recv_window` be advertised
    /// (RFC 7323 2.3), 0 when scaling is off.
    pub fn window_shift(&self) -> u8 {
        if !self.window_scaling {
            return 0;
        }
        let mut shift = 0;
        while shift < MAX_WINDOW_SCALE && (self.recv_window >> shift) > MAX_UNSCALED {
            shift += 1;
        }
        shift
    }

    /// Check every setting; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |what: &'static str| Err(ConfigError(what));
        if self.max_connections == 0 || self.max_connections > crate::table::MAX_CAPACITY {
            return bad("max_connections must be in 1..=2^30");
        }
        if self.syn_backlog == 0 {
            return bad("syn_backlog must be at least 1");
        }
        if self.max_time_wait > crate::table::MAX_CAPACITY {
            return bad("max_time_wait must be at most 2^30");
        }
        // RFC 9293 3.7.1: 536 is the default; below 88 the headers would not fit an MTU of
        // 128, and nothing useful runs there.
        if self.mss < 88 {
            return bad("mss must be at least 88");
        }
        if self.recv_window < u32::from(self.mss) {
            return bad("recv_window must hold at least one segment");
        }
        if !self.window_scaling && self.recv_window > MAX_UNSCALED {
            return bad("recv_window above 65535 needs window_scaling");
        }
        if self.recv_window > (MAX_UNSCALED << MAX_WINDOW_SCALE) {
            return bad("recv_window above 65535 << 14 cannot be advertised");
        }
        // RFC 7323 2.3: the window must stay below 2^30 for sequence checks to work.
        if self.recv_window >= 1 << 30 || self.send_buffer >= 1 << 30 {
            return bad("recv_window and send_buffer must be below 2^30");
        }
        if self.send_buffer < u32::from(self.mss) {
            return bad("send_buffer must hold at least one segment");
        }
        let rto = &self.rto;
        if rto.min.is_zero() || rto.min > rto.max || rto.initial > rto.max {
            return bad("rto: need 0 < min <= max and initial <= max");
        }
        // RFC 9293 3.8.6.3: a delayed ACK must not wait 0.5 s or more.
        if self.delayed_ack >= Duration::from_millis(500) {
            return bad("delayed_ack must be under 500 ms");
        }
        if self.syn_retries == 0 || self.synack_retries == 0 || self.max_retransmits == 0 {
            return bad("syn_retries, synack_retries and max_retransmits must be at least 1");
        }
        if let Some(k) = &self.keepalive {
            if k.idle.is_zero() || k.interval.is_zero() || k.probes == 0 {
                return bad("keepalive idle, interval and probes must be non-zero");
            }
        }
        if self.time_wait.is_zero() {
            return bad("time_wait must be non-zero (2 MSL)");
        }
        Ok(())
    }
}

/// A setting that cannot work; the text says which and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigError(pub &'static str);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tcp: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_follow_the_mtu() {
        assert_eq!(TcpConfig::default().validate(), Ok(()));
        let c = TcpConfig::for_mtu(9000);
        assert_eq!(c.mss, 8960);
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(TcpConfig::for_mtu(1500).mss, 1460);
    }

    #[test]
    fn window_shift_is_the_smallest_that_fits() {
        let mut c = TcpConfig::default();
        for (window, shift) in [(65_535, 0), (65_536, 1), (256 * 1024, 3), (1 << 29, 14)] {
            c.recv_window = window;
            assert_eq!(c.window_shift(), shift, "window {window}");
        }
        c.window_scaling = false;
        assert_eq!(c.window_shift(), 0);
    }

    #[test]
    fn each_bad_setting_is_named() {
        type Edit = fn(&mut TcpConfig);
        let cases: [(Edit, &str); 10] = [
            (|c| c.max_connections = 0, "max_connections"),
            (|c| c.syn_backlog = 0, "syn_backlog"),
            (|c| c.mss = 40, "mss"),
            (|c| c.recv_window = 100, "recv_window must hold"),
            (|c| c.window_scaling = false, "needs window_scaling"),
            (|c| c.rto.min = Duration::ZERO, "rto"),
            (
                |c| c.delayed_ack = Duration::from_millis(500),
                "delayed_ack",
            ),
            (|c| c.synack_retries = 0, "synack_retries"),
            (
                |c| {
                    c.keepalive = Some(Keepalive {
                        probes: 0,
                        ..Keepalive::default()
                    })
                },
                "keepalive",
            ),
            (
                |c| c.max_time_wait = crate::table::MAX_CAPACITY + 1,
                "max_time_wait",
            ),
        ];
        for (edit, want) in cases {
            let mut c = TcpConfig::default();
            edit(&mut c);
            let e = c.validate().unwrap_err();
            assert!(e.to_string().contains(want), "{e} should name {want}");
            assert!(e.to_string().starts_with("tcp: "));
        }
    }
}
