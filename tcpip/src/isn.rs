//! Initial sequence numbers (RFC 6528) and SYN cookies (RFC 4987).
//!
//! RFC 6528 3: `ISN = M + F(localip, localport, remoteip, remoteport, secretkey)`, where M
//! is a timer ticking every 4 microseconds and F a keyed pseudorandom function (here
//! SipHash-2-4). Each connection's sequence space is thus unpredictable to off-path
//! attackers, while a new incarnation of the same four-tuple still starts above the old
//! one (M keeps running).
//!
//! A SYN cookie is an ISN that carries the state of a half-open connection, so a server
//! whose SYN backlog is full can answer without keeping anything (RFC 4987 3.6). Ours packs
//! 32 bits as follows:
//!
//! ```text
//!  31 30 29 28 27    24  23  22                                  0
//! +-----+-----+--------+----+-------------------------------------+
//! | t%4 | mss | wscale |sack|   MAC: 23 bits of SipHash           |
//! +-----+-----+--------+----+-------------------------------------+
//! ```
//!
//! `t` counts 64-second periods; a cookie is accepted in its own period and the next, so it
//! lives 64 to 128 seconds. `mss` indexes [`COOKIE_MSS`] (the largest entry not above the
//! peer's MSS), `wscale` is the peer's window scale (15: none) and `sack` its
//! SACK-permitted option. The MAC covers the four-tuple, the peer's ISN, the full period
//! number and the nine encoded bits, so none can be altered; a blind attacker guesses it
//! with probability 2^-23 per try (Linux uses 24 bits and keeps the options in the
//! timestamp instead, losing them when the peer sends none).

use crate::seq::Seq;
use crate::siphash::{siphash24, Key};
use crate::table::FourTuple;
use nmio::Instant;
use std::net::SocketAddrV4;

/// MSS values a cookie can encode (RFC 4987 3.6: a few common ones). 536 is the IPv4
/// default (RFC 9293 3.7.1), 1220 fits tunnels, 1440 and 1460 common Ethernet paths.
pub const COOKIE_MSS: [u16; 4] = [536, 1220, 1440, 1460];

/// Length of a cookie period.
const PERIOD_SECS: u64 = 64;
/// Bits of MAC in a cookie.
const MAC_BITS: u32 = 23;

/// RFC 6528 ISNs for one stack instance.
#[derive(Clone, Debug)]
pub struct IsnGenerator {
    key: Key,
}

impl IsnGenerator {
    /// With the secret `key`.
    pub fn new(key: Key) -> Self {
        IsnGenerator { key }
    }

    /// The ISN for a connection `local <-> remote` opened at `now`.
    #[inline]
    pub fn isn(&self, now: Instant, local: SocketAddrV4, remote: SocketAddrV4) -> Seq {
        self.isn_and_ts_offset(now, local, remote).0
    }

    /// [`isn`](Self::isn) and [`ts_offset`](Self::ts_offset) of one connection from one
    /// SipHash of its four-tuple (its low half is the ISN's F, its high half the offset).
    #[inline]
    pub fn isn_and_ts_offset(
        &self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
    ) -> (Seq, u32) {
        let m = (now.as_nanos() / 4_000) as u32;
        let h = siphash24(&self.key, &tuple_bytes(local, remote));
        (Seq(m.wrapping_add(h as u32)), (h >> 32) as u32)
    }

    /// The timestamp clock offset of the four-tuple (RFC 7323 5.4: random-looking per
    /// connection). It is fixed per four-tuple, like F in the ISN, so a new incarnation of
    /// a tuple sends timestamps above the old one's and a peer holding the tuple in
    /// TIME-WAIT accepts its SYN (RFC 6191; Linux checks the timestamp first).
    #[inline]
    pub fn ts_offset(&self, local: SocketAddrV4, remote: SocketAddrV4) -> u32 {
        self.isn_and_ts_offset(Instant::ZERO, local, remote).1
    }
}

/// What a SYN cookie remembers of the SYN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookieData {
    /// The MSS to use (one of [`COOKIE_MSS`], not above what the peer sent).
    pub mss: u16,
    /// The peer's window scale option (clamped to 14), if it sent one.
    pub window_scale: Option<u8>,
    /// The peer sent SACK-permitted.
    pub sack_permitted: bool,
}

/// SYN cookies for one stack instance.
#[derive(Clone, Debug)]
pub struct SynCookies {
    key: Key,
}

impl SynCookies {
    /// With the secret `key` (use another key than the ISN generator's).
    pub fn new(key: Key) -> Self {
        SynCookies { key }
    }

    /// The cookie (our ISN) answering a SYN from `remote` with sequence number `peer_isn`,
    /// MSS option `peer_mss` (536 when absent, RFC 9293 3.7.1), window scale and SACK.
    pub fn make(
        &self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        peer_isn: Seq,
        peer_mss: u16,
        window_scale: Option<u8>,
        sack_permitted: bool,
    ) -> Seq {
        let period = period(now);
        let mss_idx = COOKIE_MSS.iter().rposition(|&m| m <= peer_mss).unwrap_or(0) as u32;
        let ws = window_scale.map_or(15, |w| u32::from(w.min(14)));
        let bits = ((period as u32 & 3) << 30)
            | (mss_idx << 28)
            | (ws << 24)
            | (u32::from(sack_permitted) << 23);
        Seq(bits | self.mac(period, local, remote, peer_isn, bits))
    }

    /// Check the cookie an ACK returns (`ack - 1`, for the SYN we answered whose sequence
    /// number was `peer_isn` = the ACK's `seq - 1`); what it encodes, if genuine and fresh.
    pub fn check(
        &self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        peer_isn: Seq,
        cookie: Seq,
    ) -> Option<CookieData> {
        let c = cookie.0;
        let bits = c & !((1 << MAC_BITS) - 1);
        let now_period = period(now);
        let period = [now_period, now_period.wrapping_sub(1)]
            .into_iter()
            .find(|p| (*p as u32 & 3) == c >> 30)?;
        if self.mac(period, local, remote, peer_isn, bits) != c & ((1 << MAC_BITS) - 1) {
            return None;
        }
        let ws = ((c >> 24) & 0xf) as u8;
        Some(CookieData {
            mss: COOKIE_MSS[((c >> 28) & 3) as usize],
            window_scale: (ws != 15).then_some(ws),
            sack_permitted: c & (1 << 23) != 0,
        })
    }

    fn mac(
        &self,
        period: u64,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        peer_isn: Seq,
        bits: u32,
    ) -> u32 {
        let mut msg = [0u8; 12 + 4 + 8 + 4];
        msg[..12].copy_from_slice(&tuple_bytes(local, remote));
        msg[12..16].copy_from_slice(&peer_isn.0.to_be_bytes());
        msg[16..24].copy_from_slice(&period.to_be_bytes());
        msg[24..].copy_from_slice(&bits.to_be_bytes());
        (siphash24(&self.key, &msg) as u32) & ((1 << MAC_BITS) - 1)
    }
}

fn period(now: Instant) -> u64 {
    now.as_nanos() / 1_000_000_000 / PERIOD_SECS
}

fn tuple_bytes(local: SocketAddrV4, remote: SocketAddrV4) -> [u8; 12] {
    FourTuple { local, remote }.bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const L: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 80);
    const R: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 40000);

    fn secs(s: u64) -> Instant {
        Instant::from_millis(s * 1000)
    }

    #[test]
    fn isn_advances_with_the_4us_clock_and_differs_per_tuple() {
        let g = IsnGenerator::new(Key([1, 2]));
        let a = g.isn(Instant::from_nanos(0), L, R);
        let b = g.isn(Instant::from_nanos(4_000 * 1000), L, R);
        assert_eq!(b - a, 1000, "M ticks every 4 us (RFC 6528 3)");
        let other = SocketAddrV4::new(*R.ip(), 40001);
        assert_ne!(g.isn(Instant::ZERO, L, other), a);
        let g2 = IsnGenerator::new(Key([1, 3]));
        assert_ne!(g2.isn(Instant::ZERO, L, R), a, "the key matters");
    }

    #[test]
    fn the_timestamp_offset_is_fixed_per_tuple_and_independent_of_the_isn() {
        let g = IsnGenerator::new(Key([1, 2]));
        let other = SocketAddrV4::new(*R.ip(), 40001);
        assert_eq!(g.ts_offset(L, R), g.ts_offset(L, R));
        assert_ne!(g.ts_offset(L, R), g.ts_offset(L, other));
        // Not the ISN's F (the low half of the same hash): one does not give the other.
        let f = g.isn(Instant::ZERO, L, R).0;
        assert_ne!(g.ts_offset(L, R), f);
        assert_ne!(
            IsnGenerator::new(Key([1, 3])).ts_offset(L, R),
            g.ts_offset(L, R)
        );
        // The combined call gives both from one hash, equal to the separate ones.
        for t in [0, 4_000 * 77, 9_999_999_999] {
            let now = Instant::from_nanos(t);
            assert_eq!(
                g.isn_and_ts_offset(now, L, other),
                (g.isn(now, L, other), g.ts_offset(L, other))
            );
        }
    }

    #[test]
    fn cookie_round_trips_what_the_syn_said() {
        let c = SynCookies::new(Key([7, 8]));
        let isn = Seq(123_456);
        for (mss, ws, sack, want_mss) in [
            (1460, Some(7), true, 1460),
            (1400, None, false, 1220),
            (9000, Some(20), true, 1460),
            (100, Some(0), false, 536),
        ] {
            let cookie = c.make(secs(1000), L, R, isn, mss, ws, sack);
            let d = c.check(secs(1000), L, R, isn, cookie).unwrap();
            assert_eq!(
                d,
                CookieData {
                    mss: want_mss,
                    window_scale: ws.map(|w| w.min(14)),
                    sack_permitted: sack
                }
            );
        }
    }

    #[test]
    fn cookie_lives_one_to_two_periods() {
        let c = SynCookies::new(Key([7, 8]));
        let cookie = c.make(secs(64 * 10 + 63), L, R, Seq(1), 1460, None, true);
        assert!(c.check(secs(64 * 10 + 63), L, R, Seq(1), cookie).is_some());
        assert!(c.check(secs(64 * 11 + 63), L, R, Seq(1), cookie).is_some());
        assert!(
            c.check(secs(64 * 12), L, R, Seq(1), cookie).is_none(),
            "expired"
        );
        assert!(
            c.check(secs(64 * 9), L, R, Seq(1), cookie).is_none(),
            "from the future"
        );
    }

    #[test]
    fn forged_or_misdirected_cookies_are_refused() {
        let c = SynCookies::new(Key([7, 8]));
        let now = secs(5000);
        let cookie = c.make(now, L, R, Seq(99), 1460, Some(7), true);
        assert!(
            c.check(now, L, R, Seq(98), cookie).is_none(),
            "other peer ISN"
        );
        let other = SocketAddrV4::new(*R.ip(), 40001);
        assert!(
            c.check(now, L, other, Seq(99), cookie).is_none(),
            "other port"
        );
        // Flipping any encoded bit (MSS, window scale, SACK) breaks the MAC.
        for bit in 23..30 {
            assert!(
                c.check(now, L, R, Seq(99), Seq(cookie.0 ^ (1 << bit)))
                    .is_none(),
                "bit {bit}"
            );
        }
        let mut accepted = 0;
        for guess in 0..20_000u32 {
            accepted += c
                .check(now, L, R, Seq(99), Seq(guess.wrapping_mul(2_654_435_761)))
                .is_some() as u32;
        }
        assert!(accepted <= 1, "blind guesses accepted: {accepted}");
    }
}
