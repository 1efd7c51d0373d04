//! The DNS server's query path: one query in, one response written straight into the
//! caller's buffer (the UDP TX slot), from the responses [`prepare`](super::prepare) built.
//!
//! Per query: header checks, [`question_key`] (the lowercased wire name, no allocation),
//! the OPT record if any, one [`Prepared::lookup_question`], and [`Answer::write`] (header,
//! the question exactly as sent, the prepared tail, cut at a record boundary with TC when
//! it does not fit). Then the OPT record of our own when the query had one.
//!
//! Protocol edges (RFC 1035, RFC 6891, RFC 8482 is in the preparation):
//! * a message with QR set, or shorter than a header, is dropped and counted (answering a
//!   response invites loops; a runt has no id to answer with);
//! * opcodes other than QUERY get NOTIMP (RFC 1035 4.1.1), header only;
//! * QDCOUNT != 1, a malformed question or a malformed/duplicate OPT get FORMERR
//!   (RFC 1035 4.1.1, RFC 6891 6.1.1), header and id only; so do the meta-types that never
//!   appear in a question (OPT, TKEY, TSIG, type 0); AXFR, IXFR, MAILA and MAILB get NOTIMP;
//! * a question with a compression pointer (legal, never sent by real clients) goes to the
//!   slow path: decoded, answered with the question written uncompressed;
//! * EDNS0: our OPT echoes the version we speak (0) with our UDP size; the answer is limited
//!   to the client's size (at least 512, at most ours); version > 0 gets BADVERS
//!   (RFC 6891 6.1.3) with an OPT carrying the extended RCODE; without OPT the limit is
//!   512 (RFC 1035 4.2.1).

use super::prepare::Prepared;
use super::rrl::{Rrl, Verdict};
use super::wire::{
    parse_additional_opt, parse_question, question_key, DnsPacket, Opcode, Question, Rcode,
    WireError, HEADER_LEN, MAX_NAME_LEN,
};
use std::rc::Rc;
use udpip::{Datagram, UdpApp, UdpOut};

use nmio::TxQueue;

/// Our EDNS UDP payload size (RFC 6891 6.2.5; 1232 avoids fragmentation on common paths).
pub const EDNS_UDP_SIZE: u16 = 1232;
/// Bytes of an OPT record without options.
const OPT_LEN: usize = 11;

/// What the server counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DnsStats {
    /// Queries answered, by RCODE.
    pub noerror: u64,
    pub nxdomain: u64,
    pub refused: u64,
    pub formerr: u64,
    pub notimp: u64,
    pub badvers: u64,
    /// Answers cut with TC set.
    pub truncated: u64,
    /// Queries taken through the slow path (compressed question).
    pub slow_path: u64,
    /// Messages dropped unanswered: runts and responses.
    pub dropped: u64,
    /// Responses withheld by rate limiting, and those sent as TC=1 slips instead.
    pub rrl_dropped: u64,
    pub rrl_slipped: u64,
}

/// How a query came: the size rules differ (RFC 1035 4.2.1, RFC 7766 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// UDP: 512 bytes, or the client's EDNS size up to ours; TC when cut.
    Udp,
    /// TCP: up to 65,535 bytes, never cut short of that.
    Tcp,
}

/// The DNS server application: prepared responses and counters.
pub struct DnsServer {
    prepared: Rc<Prepared>,
    port: u16,
    stats: DnsStats,
    key: [u8; MAX_NAME_LEN],
    rrl: Rrl,
}

impl DnsServer {
    /// A server answering from `prepared` on UDP `port` (the TCP side shares the same
    /// prepared answers through the `Rc`).
    pub fn new(prepared: Rc<Prepared>, port: u16) -> Self {
        DnsServer {
            prepared,
            port,
            stats: DnsStats::default(),
            key: [0; MAX_NAME_LEN],
            rrl: Rrl::new(0, 0, 1),
        }
    }

    /// Limit UDP responses per client /24 (see [`Rrl`]); off unless called.
    pub fn with_rrl(mut self, rrl: Rrl) -> Self {
        self.rrl = rrl;
        self
    }

    /// The TC=1 "slip" for a rate-limited query: header and question, no records, so a
    /// real client retries over TCP. `None` if the query has no readable question.
    pub fn slip(&mut self, query: &[u8], out: &mut [u8]) -> Option<usize> {
        let q = question_key(query, &mut self.key).ok()?;
        let header = DnsPacket::new_checked(query).ok()?;
        let n = HEADER_LEN + q.raw.len();
        if out.len() < n {
            return None;
        }
        bare(out, header.id(), header.rd(), Opcode::QUERY, Rcode::NOERROR);
        out[HEADER_LEN..n].copy_from_slice(q.raw);
        let mut p = DnsPacket::new_unchecked(&mut out[..HEADER_LEN]);
        p.set_qdcount(1);
        p.set_tc(true);
        self.stats.rrl_slipped += 1;
        Some(n)
    }

    /// The counters.
    pub fn stats(&self) -> DnsStats {
        self.stats
    }

    /// Answer a UDP `query` into `out`; the response's length, or `None` to drop it.
    pub fn answer(&mut self, query: &[u8], out: &mut [u8]) -> Option<usize> {
        self.respond(query, out, Transport::Udp)
    }

    /// Answer `query`, which came over `transport`, into `out`.
    pub fn respond(&mut self, query: &[u8], out: &mut [u8], transport: Transport) -> Option<usize> {
        let Ok(header) = DnsPacket::new_checked(query) else {
            self.stats.dropped += 1;
            return None;
        };
        if header.qr() || out.len() < HEADER_LEN + OPT_LEN {
            self.stats.dropped += 1;
            return None;
        }
        let (id, rd, opcode) = (header.id(), header.rd(), header.opcode());
        if opcode != Opcode::QUERY {
            self.stats.notimp += 1;
            return Some(bare(out, id, rd, opcode, Rcode::NOTIMP));
        }
        let counts = header.counts();
        // The slow path (a compressed question) decodes it and continues as if the client
        // had sent it uncompressed: that is what goes back.
        let mut slow_q = [0u8; MAX_NAME_LEN + 4];
        let question = match question_key(query, &mut self.key) {
            Ok(q) => q,
            Err(WireError::SlowPath) => {
                let Ok((q, end)) = parse_question(query, HEADER_LEN) else {
                    return Some(self.formerr(out, id, rd));
                };
                self.stats.slow_path += 1;
                let wire = q.name.as_wire();
                let n = wire.len();
                slow_q[..n].copy_from_slice(wire);
                slow_q[n..n + 2].copy_from_slice(&q.qtype.0.to_be_bytes());
                slow_q[n + 2..n + 4].copy_from_slice(&q.qclass.0.to_be_bytes());
                self.key[..n].copy_from_slice(q.name.to_lowercase().as_wire());
                Question {
                    raw: &slow_q[..n + 4],
                    name_len: n,
                    qtype: q.qtype,
                    qclass: q.qclass,
                    end,
                }
            }
            Err(_) => return Some(self.formerr(out, id, rd)),
        };
        match question.qtype.0 {
            // Zone transfers and the obsolete mailbox meta-types: not implemented here
            // (RFC 1035 4.1.1; AXFR and IXFR need TCP and a transfer policy anyway).
            251..=254 => {
                self.stats.notimp += 1;
                return Some(bare(out, id, rd, Opcode::QUERY, Rcode::NOTIMP));
            }
            // Meta-types that never appear in a question (RFC 6895 3.1: OPT, TKEY, TSIG),
            // and type 0.
            0 | 41 | 249 | 250 => return Some(self.formerr(out, id, rd)),
            _ => {}
        }
        let edns = match parse_additional_opt(query, question.end, counts) {
            Ok(e) => e,
            Err(_) => return Some(self.formerr(out, id, rd)),
        };
        if let Some(e) = edns {
            if e.version > 0 {
                self.stats.badvers += 1;
                let mut len = bare(out, id, rd, Opcode::QUERY, Rcode::BADVERS);
                len += put_opt(&mut out[len..], Rcode::BADVERS.extended_bits());
                DnsPacket::new_unchecked(&mut out[..HEADER_LEN]).set_arcount(1);
                return Some(len);
            }
        }
        let limit = match (transport, edns) {
            (Transport::Tcp, Some(_)) => out.len().min(usize::from(u16::MAX)) - OPT_LEN,
            (Transport::Tcp, None) => out.len().min(usize::from(u16::MAX)),
            (Transport::Udp, Some(e)) => {
                usize::from(e.udp_size.clamp(512, EDNS_UDP_SIZE)) - OPT_LEN
            }
            (Transport::Udp, None) => 512,
        };
        let answer = self.prepared.lookup_question(&question, &self.key);
        let Some(mut len) = answer.write(id, rd, question.raw, limit, out) else {
            return Some(self.formerr(out, id, rd));
        };
        let packet = DnsPacket::new_unchecked(&out[..HEADER_LEN]);
        if packet.tc() {
            self.stats.truncated += 1;
        }
        match Rcode(u16::from(packet.rcode())) {
            Rcode::NOERROR => self.stats.noerror += 1,
            Rcode::NXDOMAIN => self.stats.nxdomain += 1,
            Rcode::REFUSED => self.stats.refused += 1,
            _ => {}
        }
        if edns.is_some() {
            let arcount = packet.arcount();
            len += put_opt(&mut out[len..], 0);
            DnsPacket::new_unchecked(&mut out[..HEADER_LEN]).set_arcount(arcount + 1);
        }
        Some(len)
    }

    fn formerr(&mut self, out: &mut [u8], id: u16, rd: bool) -> usize {
        self.stats.formerr += 1;
        bare(out, id, rd, Opcode::QUERY, Rcode::FORMERR)
    }
}

/// A header-only response.
fn bare(out: &mut [u8], id: u16, rd: bool, opcode: Opcode, rcode: Rcode) -> usize {
    out[..HEADER_LEN].fill(0);
    let mut p = DnsPacket::new_unchecked(&mut out[..HEADER_LEN]);
    p.set_id(id);
    p.set_qr(true);
    p.set_opcode(opcode);
    p.set_rd(rd);
    p.set_rcode(rcode);
    HEADER_LEN
}

/// Our OPT record (RFC 6891 6.1.2): root owner, our UDP size, the upper RCODE bits,
/// version 0, no flags, no options.
fn put_opt(out: &mut [u8], ext_rcode: u8) -> usize {
    let [s0, s1] = EDNS_UDP_SIZE.to_be_bytes();
    out[..OPT_LEN].copy_from_slice(&[0, 0, 41, s0, s1, ext_rcode, 0, 0, 0, 0, 0]);
    OPT_LEN
}

impl UdpApp for DnsServer {
    fn on_start<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>) {
        // The binary checks the port is free before it starts; a failure here is counted.
        if out.bind(self.port).is_err() {
            self.stats.dropped += 1;
        }
    }

    fn on_datagram<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>, d: Datagram<'_>) {
        // Drops are decided on the header alone, before a TX slot is taken.
        let drop = DnsPacket::new_checked(&*d.payload).map_or(true, |p| p.qr());
        if drop {
            self.stats.dropped += 1;
            return;
        }
        let query: &[u8] = d.payload;
        let port = d.dst.port();
        match self.rrl.check(*d.src.ip(), out.now()) {
            Verdict::Send => {
                out.send_with(port, d.src, |buf| self.answer(query, buf).unwrap_or(0));
            }
            Verdict::Slip => {
                out.send_with(port, d.src, |buf| self.slip(query, buf).unwrap_or(0));
            }
            Verdict::Drop => self.stats.rrl_dropped += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::prepare::prepare;
    use crate::dns::wire::{parse_record, Class, HeaderRepr, MessageBuilder, Name, Rtype};
    use crate::dns::zone;
    use std::path::Path;

    fn server() -> DnsServer {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/zones/example.com.zone");
        let z = zone::load(&path, None).expect("fixture zone");
        DnsServer::new(Rc::new(prepare(&[z]).expect("prepare")), 53)
    }

    /// A query for `name` `qtype`, optionally with EDNS (size, version).
    fn query(id: u16, name: &str, qtype: Rtype, edns: Option<(u16, u8)>) -> Vec<u8> {
        let mut buf = vec![0u8; 512];
        let mut b = MessageBuilder::new(&mut buf).unwrap();
        b.header(&HeaderRepr {
            id,
            qr: false,
            opcode: Opcode::QUERY,
            aa: false,
            tc: false,
            rd: true,
            ra: false,
            ad: false,
            cd: false,
            rcode: Rcode::NOERROR,
            counts: Default::default(),
        });
        b.question(&Name::from_ascii(name).unwrap(), qtype, Class::IN)
            .unwrap();
        if let Some((size, version)) = edns {
            b.opt(size, 0, version, false).unwrap();
        }
        let n = b.finish();
        buf.truncate(n);
        buf
    }

    fn ask(s: &mut DnsServer, q: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; 1500];
        let n = s.answer(q, &mut out).expect("an answer");
        out.truncate(n);
        out
    }

    /// The records of the answer, authority and additional sections, as (type, section).
    fn records(r: &[u8]) -> Vec<(u16, u8)> {
        let p = DnsPacket::new_checked(r).unwrap();
        let c = p.counts();
        let (_, mut at) = parse_question(r, HEADER_LEN).unwrap();
        let mut out = Vec::new();
        for (sec, n) in [(1u8, c.an), (2, c.ns), (3, c.ar)] {
            for _ in 0..n {
                let (rr, next) = parse_record(r, at).unwrap();
                out.push((rr.rtype.0, sec));
                at = next;
            }
        }
        assert_eq!(at, r.len(), "nothing after the last record");
        out
    }

    #[test]
    fn a_query_is_answered_with_the_question_case_and_id() {
        let mut s = server();
        let q = query(0x1234, "ExAmPlE.CoM.", Rtype::SOA, None);
        let r = ask(&mut s, &q);
        let p = DnsPacket::new_checked(&r[..]).unwrap();
        assert_eq!(p.id(), 0x1234);
        assert!(p.qr() && p.aa() && p.rd());
        assert_eq!(p.rcode(), 0);
        assert_eq!(
            &r[HEADER_LEN..q.len()],
            &q[HEADER_LEN..],
            "question as sent"
        );
        assert_eq!(records(&r)[0], (Rtype::SOA.0, 1));
        assert_eq!(s.stats().noerror, 1);
    }

    #[test]
    fn nxdomain_and_refused() {
        let mut s = server();
        let r = ask(&mut s, &query(1, "nope.example.com.", Rtype::A, None));
        assert_eq!(DnsPacket::new_checked(&r[..]).unwrap().rcode(), 3);
        assert!(records(&r).contains(&(Rtype::SOA.0, 2)), "SOA in authority");
        let r = ask(&mut s, &query(2, "example.org.", Rtype::A, None));
        assert_eq!(DnsPacket::new_checked(&r[..]).unwrap().rcode(), 5);
        assert_eq!((s.stats().nxdomain, s.stats().refused), (1, 1));
    }

    #[test]
    fn edns_is_echoed_and_badvers_for_version_1() {
        let mut s = server();
        let r = ask(
            &mut s,
            &query(3, "example.com.", Rtype::SOA, Some((4096, 0))),
        );
        let recs = records(&r);
        assert_eq!(recs.last(), Some(&(Rtype::OPT.0, 3)), "our OPT last");
        let r = ask(
            &mut s,
            &query(4, "example.com.", Rtype::SOA, Some((4096, 1))),
        );
        let p = DnsPacket::new_checked(&r[..]).unwrap();
        // BADVERS = 16: 0 in the header, 1 in the OPT's extended RCODE.
        assert_eq!(p.rcode(), 0);
        assert_eq!(p.arcount(), 1);
        assert_eq!(r.len(), HEADER_LEN + OPT_LEN);
        assert_eq!(r[HEADER_LEN + 5], 1, "extended RCODE bits");
        assert_eq!(s.stats().badvers, 1);
    }

    #[test]
    fn malformed_queries_get_formerr_and_responses_are_dropped() {
        let mut s = server();
        let mut out = vec![0u8; 1500];
        // A runt.
        assert_eq!(s.answer(&[1, 2, 3], &mut out), None);
        // QR set: a response.
        let mut q = query(5, "example.com.", Rtype::A, None);
        q[2] |= 0x80;
        assert_eq!(s.answer(&q, &mut out), None);
        // QDCOUNT 2.
        let mut q = query(6, "example.com.", Rtype::A, None);
        q[5] = 2;
        let n = s.answer(&q, &mut out).unwrap();
        assert_eq!(n, HEADER_LEN);
        assert_eq!(DnsPacket::new_checked(&out[..n]).unwrap().rcode(), 1);
        // A 64-byte label.
        let mut q = vec![0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 64];
        q.extend([b'a'; 64]);
        q.extend([0, 0, 1, 0, 1]);
        let n = s.answer(&q, &mut out).unwrap();
        assert_eq!(DnsPacket::new_checked(&out[..n]).unwrap().rcode(), 1);
        // A question pointing at itself.
        let q = [0, 8, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1];
        let n = s.answer(&q, &mut out).unwrap();
        assert_eq!(DnsPacket::new_checked(&out[..n]).unwrap().rcode(), 1);
        // Another opcode.
        let mut q = query(9, "example.com.", Rtype::A, None);
        q[2] |= 2 << 3;
        let n = s.answer(&q, &mut out).unwrap();
        assert_eq!(DnsPacket::new_checked(&out[..n]).unwrap().rcode(), 4);
        let st = s.stats();
        assert_eq!((st.dropped, st.formerr, st.notimp), (2, 3, 1));
    }

    #[test]
    fn a_slip_is_the_question_with_tc_and_no_records() {
        let mut s = server();
        let q = query(13, "Example.COM.", Rtype::A, None);
        let mut out = vec![0u8; 1500];
        let n = s.slip(&q, &mut out).unwrap();
        let p = DnsPacket::new_checked(&out[..n]).unwrap();
        assert!(p.qr() && p.tc() && p.rd());
        assert_eq!(p.id(), 13);
        assert_eq!(
            (p.qdcount(), p.ancount(), p.nscount(), p.arcount()),
            (1, 0, 0, 0)
        );
        assert_eq!(
            &out[HEADER_LEN..n],
            &q[HEADER_LEN..HEADER_LEN + (n - HEADER_LEN)]
        );
        assert_eq!(s.stats().rrl_slipped, 1);
    }

    #[test]
    fn meta_qtypes_get_notimp_or_formerr() {
        let mut s = server();
        for (t, rcode) in [(252u16, 4u8), (251, 4), (255, 0), (41, 1), (250, 1), (0, 1)] {
            let r = ask(&mut s, &query(12, "example.com.", Rtype(t), None));
            let p = DnsPacket::new_checked(&r[..]).unwrap();
            assert_eq!(p.rcode(), rcode, "qtype {t}");
        }
    }

    #[test]
    fn a_large_answer_is_truncated_without_edns_and_whole_with_it() {
        let mut s = server();
        // Every record type at the apex is well under 512; ask for what the fixture has
        // most of and check the limits hold whatever the size.
        for qtype in [Rtype::TXT, Rtype::NS, Rtype::MX, Rtype::ANY] {
            let r = ask(&mut s, &query(10, "example.com.", qtype, None));
            assert!(r.len() <= 512);
            records(&r);
            let r = ask(&mut s, &query(11, "example.com.", qtype, Some((4096, 0))));
            assert!(r.len() <= usize::from(EDNS_UDP_SIZE));
            records(&r);
        }
    }
}
