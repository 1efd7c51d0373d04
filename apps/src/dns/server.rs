//! The DNS server's query path: one query in, one response written straight into the
//! caller's buffer (the UDP TX slot), from the responses [`prepare`](super::prepare) built.
//!
//! Per query: header checks, [`question_key`] (the lowercased wire name, no allocation),
//! the OPT record if any, one [`Prepared::lookup_question`], and [`Answer::write`] (header,
//! the question exactly as sent, the prepared tail, cut at a record boundary with TC when
//! it does not fit). Then the OPT record of our own when the query had one.
//!
//! With prepared frames, a UDP query is read and hashed in the receive callback and held;
//! the burst's queries are answered together at its end, in stages that ask for what the
//! next stage reads (name-table bucket, record, frame slot, image) for every query first,
//! so that in a large zone their cache misses overlap (`DnsServer::answer_held`).
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

use super::prepare::{question_name, Answer, Found, Prepared};
use super::rrl::{Rrl, Verdict};
use super::wire::{
    parse_additional_opt, parse_question, question_key, Class, DnsPacket, Opcode, Question, Rcode,
    Rtype, WireError, HEADER_LEN, MAX_NAME_LEN,
};
use nmio::{PrepMode, TxQueue};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;
use udpip::{Datagram, Patch, PrepareError, PreparedDatagram, UdpApp, UdpOut};

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
    /// Responses sent as prepared frames (the rest were written into a TX slot).
    pub prepared: u64,
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
    /// Send answers at existing names as prepared frames, in this mode.
    mode: Option<PrepMode>,
    /// Per [`Prepared::frame`]: the frame without EDNS and the one with our OPT.
    frames: Vec<[Option<PreparedDatagram>; 2]>,
    /// Why not every frame could be prepared.
    frame_error: Option<String>,
    /// With prepared frames: the queries of the receive burst read so far, answered at
    /// its end ([`DnsServer::answer_held`]); allocated once.
    held: Box<[Held]>,
    held_len: usize,
    /// Whether queries are held and answered in stages (a table too large for the caches).
    staged: bool,
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
            mode: None,
            frames: Vec::new(),
            frame_error: None,
            held: Box::new([]),
            held_len: 0,
            staged: false,
        }
    }

    /// Answer over UDP with prepared frames sent in `mode` (pre-copy or memcpy): every
    /// answer at a name that exists is a whole packet built at start-up, patched per query
    /// (id, RD, the question as sent; addresses and port with incremental checksums).
    /// Other answers, and all of them without this, are written into the TX slot.
    pub fn with_mode(mut self, mode: PrepMode) -> Self {
        self.mode = Some(mode);
        self.held = vec![Held::EMPTY; HELD].into_boxed_slice();
        self.staged = self.prepared.name_count() >= STAGED_NAMES;
        self
    }

    /// Frames prepared (each of up to two variants counted), and why preparation stopped
    /// early if it did (the port's prepared pool was full).
    pub fn frames_prepared(&self) -> (usize, Option<&str>) {
        let n = self.frames.iter().flatten().flatten().count();
        (n, self.frame_error.as_deref())
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
        if out.len() < HEADER_LEN + OPT_LEN {
            self.stats.dropped += 1;
            return None;
        }
        let mut scratch = [0u8; MAX_NAME_LEN + 4];
        match self.read(query, &mut scratch) {
            Read::Drop => {
                self.stats.dropped += 1;
                None
            }
            Read::Bare(b) => Some(b.write(&mut self.stats, out)),
            Read::Query(q) => {
                let answer = self.prepared.lookup_question(&q.question, &self.key);
                Some(write_answer(&mut self.stats, &q, &answer, transport, out))
            }
        }
    }

    /// Read and check `query`: what the response depends on. A compressed question is
    /// decoded into `scratch` and read on as if the client had sent it uncompressed: that
    /// is what goes back. Leaves the lowercased name in `self.key`.
    fn read<'q>(&mut self, query: &'q [u8], scratch: &'q mut [u8; MAX_NAME_LEN + 4]) -> Read<'q> {
        let Ok(header) = DnsPacket::new_checked(query) else {
            return Read::Drop;
        };
        if header.qr() {
            return Read::Drop;
        }
        let (id, rd, opcode) = (header.id(), header.rd(), header.opcode());
        let bare = |rcode| {
            Read::Bare(Bare {
                id,
                rd,
                opcode,
                rcode,
            })
        };
        if opcode != Opcode::QUERY {
            return bare(Rcode::NOTIMP);
        }
        let bare = |rcode| {
            Read::Bare(Bare {
                id,
                rd,
                opcode: Opcode::QUERY,
                rcode,
            })
        };
        let counts = header.counts();
        let question = match question_key(query, &mut self.key) {
            Ok(q) => q,
            Err(WireError::SlowPath) => {
                let Ok((q, end)) = parse_question(query, HEADER_LEN) else {
                    return bare(Rcode::FORMERR);
                };
                self.stats.slow_path += 1;
                let wire = q.name.as_wire();
                let n = wire.len();
                scratch[..n].copy_from_slice(wire);
                scratch[n..n + 2].copy_from_slice(&q.qtype.0.to_be_bytes());
                scratch[n + 2..n + 4].copy_from_slice(&q.qclass.0.to_be_bytes());
                self.key[..n].copy_from_slice(q.name.to_lowercase().as_wire());
                Question {
                    raw: &scratch[..n + 4],
                    name_len: n,
                    qtype: q.qtype,
                    qclass: q.qclass,
                    end,
                }
            }
            Err(_) => return bare(Rcode::FORMERR),
        };
        match question.qtype.0 {
            // Zone transfers and the obsolete mailbox meta-types: not implemented here
            // (RFC 1035 4.1.1; AXFR and IXFR need TCP and a transfer policy anyway).
            251..=254 => return bare(Rcode::NOTIMP),
            // Meta-types that never appear in a question (RFC 6895 3.1: OPT, TKEY, TSIG),
            // and type 0.
            0 | 41 | 249 | 250 => return bare(Rcode::FORMERR),
            _ => {}
        }
        let edns = match parse_additional_opt(query, question.end, counts) {
            Ok(Some(e)) if e.version > 0 => return bare(Rcode::BADVERS),
            Ok(e) => e.map(|e| e.udp_size),
            Err(_) => return bare(Rcode::FORMERR),
        };
        Read::Query(Query {
            id,
            rd,
            question,
            edns,
        })
    }

    /// Answer the held queries in stages, each a short loop over all of them that starts
    /// loading what the next stage reads: name-table records, then frame slots, then
    /// frame images, then the sends. With many names every step of a lookup is a cache
    /// miss; one query at a time they come one after another, here the misses of the
    /// burst's queries overlap (the buckets were asked for as the queries were read).
    fn answer_held<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>, mode: PrepMode) {
        let n = std::mem::take(&mut self.held_len);
        let DnsServer {
            prepared,
            held,
            frames,
            stats,
            ..
        } = self;
        let (prepared, frames, held) = (&**prepared, &**frames, &mut held[..n]);
        for h in held.iter() {
            prepared.prefetch_record(h.hash);
        }
        for h in held.iter_mut() {
            let key = &h.key[..h.name_len];
            h.found = prepared.find_question(&h.question(), key, h.hash);
            if let Some(slot) = h.found.frame().and_then(|f| frames.get(f)) {
                nmio::prefetch(slot);
            }
        }
        for h in held.iter() {
            if let Some(p) = frame_for(frames, h.edns, &h.found) {
                out.prefetch_prepared(p);
            }
        }
        for h in held.iter() {
            let q = Query {
                id: h.id,
                rd: h.rd,
                question: h.question(),
                edns: h.edns,
            };
            let to = (h.port, h.src);
            send_found(out, stats, prepared, frames, mode, to, &q, h.found);
        }
    }

    /// Build every frame's response in both variants (without EDNS, up to 512 octets;
    /// with our OPT, up to our EDNS size) in the port's prepared pool. A response over the
    /// variant's size gets no frame (the copy path truncates it). Stops at the first
    /// frame the pool refuses and says so once: the rest go through the copy path.
    fn prepare_frames<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>) {
        let mut image = [0u8; EDNS_UDP_SIZE as usize];
        let mut question = [0u8; MAX_NAME_LEN + 4];
        self.frames.clear();
        self.frame_error = None;
        for i in 0..self.prepared.frame_count() {
            let Some((answer, qlen)) = self.prepared.frame(i) else {
                break;
            };
            let mut slot = [None, None];
            for (edns, frame) in slot.iter_mut().enumerate() {
                let limit = if edns == 1 {
                    usize::from(EDNS_UDP_SIZE) - OPT_LEN
                } else {
                    512
                };
                if answer.response_len(qlen) > limit {
                    continue;
                }
                // The question is patched whole on every send; its bytes here are zeros.
                let Some(mut len) = answer.write(0, false, &question[..qlen], limit, &mut image)
                else {
                    continue;
                };
                if edns == 1 {
                    let arcount = DnsPacket::new_unchecked(&image[..HEADER_LEN]).arcount();
                    len += put_opt(&mut image[len..], 0);
                    DnsPacket::new_unchecked(&mut image[..HEADER_LEN]).set_arcount(arcount + 1);
                }
                match out.prepare(self.port, &image[..len]) {
                    Ok(p) => *frame = Some(p),
                    // Over the link's MTU: this variant goes through the copy path.
                    Err(PrepareError::TooBig { .. }) => {}
                    Err(e) => {
                        self.frame_error = Some(e.to_string());
                        break;
                    }
                }
            }
            self.frames.push(slot);
            if self.frame_error.is_some() {
                return;
            }
        }
        question.fill(0);
    }
}

/// Sends the answer to `q` that the lookup `found` from our port to the client `to`: its
/// prepared frame when it has one that fits, else written into the TX slot.
#[allow(clippy::too_many_arguments)]
#[inline]
fn send_found<Tx: TxQueue>(
    out: &mut UdpOut<'_, '_, Tx>,
    stats: &mut DnsStats,
    prepared: &Prepared,
    frames: &[[Option<PreparedDatagram>; 2]],
    mode: PrepMode,
    (port, src): (u16, SocketAddrV4),
    q: &Query<'_>,
    found: Found,
) {
    if let Some(frame) = frame_for(frames, q.edns, &found) {
        let flags = found.flags() | if q.rd { RD_BIT } else { 0 };
        let [i0, i1] = q.id.to_be_bytes();
        let [f0, f1] = flags.to_be_bytes();
        let head = [i0, i1, f0, f1];
        let patches = [Patch::new(0, &head), Patch::new(HEADER_LEN, q.question.raw)];
        if out.send_prepared(frame, src, &patches, mode).is_ok() {
            stats.prepared += 1;
            count_rcode(stats, found.rcode());
        }
        return;
    }
    let answer = prepared.answer_for(found);
    out.send_with(port, src, |buf| {
        if buf.len() < HEADER_LEN + OPT_LEN {
            return 0;
        }
        write_answer(stats, q, &answer, Transport::Udp, buf)
    });
}

/// The frame among `frames` to send for a query with `edns` whose lookup `found`, if one
/// was prepared and fits.
#[inline]
fn frame_for<'f>(
    frames: &'f [[Option<PreparedDatagram>; 2]],
    edns: Option<u16>,
    found: &Found,
) -> Option<&'f PreparedDatagram> {
    let slot = frames.get(found.frame()?)?;
    match edns {
        None => slot[0].as_ref(),
        Some(size) => slot[1]
            .as_ref()
            .filter(|p| p.payload_len() <= usize::from(size.max(512))),
    }
}

/// Names from which queries are answered in stages. Measured (AF_PACKET, loadgen, server
/// CPU per query): 1,000 names break even, 10,000 take a third less time staged, one name
/// a few percent more (its tables stay in the caches: staging only copies).
const STAGED_NAMES: usize = 1024;

/// Queries held per burst at most; a longer burst is answered this many at a time.
const HELD: usize = 32;

/// A query read in the receive callback and held for [`DnsServer::answer_held`]: what
/// its answer needs, copied out of the frame (which is gone after the callback).
#[derive(Clone, Copy)]
struct Held {
    src: SocketAddrV4,
    /// Ours: the answer's source port.
    port: u16,
    id: u16,
    rd: bool,
    edns: Option<u16>,
    qtype: Rtype,
    qclass: Class,
    name_len: usize,
    raw_len: usize,
    /// The name's [`Prepared::hash`].
    hash: u64,
    /// The lookup's result, once made.
    found: Found,
    /// The question as sent.
    raw: [u8; MAX_NAME_LEN + 4],
    /// The lowercased name.
    key: [u8; MAX_NAME_LEN],
}

impl Held {
    const EMPTY: Held = Held {
        src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
        port: 0,
        id: 0,
        rd: false,
        edns: None,
        qtype: Rtype(0),
        qclass: Class(0),
        name_len: 0,
        raw_len: 0,
        hash: 0,
        found: Found::NONE,
        raw: [0; MAX_NAME_LEN + 4],
        key: [0; MAX_NAME_LEN],
    };

    fn question(&self) -> Question<'_> {
        Question {
            raw: &self.raw[..self.raw_len],
            name_len: self.name_len,
            qtype: self.qtype,
            qclass: self.qclass,
            end: 0,
        }
    }
}

/// A query that gets a header-only response.
#[derive(Clone, Copy)]
struct Bare {
    id: u16,
    rd: bool,
    opcode: Opcode,
    rcode: Rcode,
}

impl Bare {
    fn write(self, stats: &mut DnsStats, out: &mut [u8]) -> usize {
        match self.rcode {
            Rcode::NOTIMP => stats.notimp += 1,
            Rcode::FORMERR => stats.formerr += 1,
            Rcode::BADVERS => stats.badvers += 1,
            _ => {}
        }
        if self.rcode == Rcode::BADVERS {
            let mut len = bare(out, self.id, self.rd, self.opcode, Rcode::BADVERS);
            len += put_opt(&mut out[len..], Rcode::BADVERS.extended_bits());
            DnsPacket::new_unchecked(&mut out[..HEADER_LEN]).set_arcount(1);
            return len;
        }
        bare(out, self.id, self.rd, self.opcode, self.rcode)
    }
}

/// A query read and checked, to be answered from the prepared answers.
struct Query<'q> {
    id: u16,
    rd: bool,
    question: Question<'q>,
    /// The client's EDNS UDP size when the query had an OPT record (version 0).
    edns: Option<u16>,
}

/// What [`DnsServer::read`] made of a message.
enum Read<'q> {
    /// A runt or a response: nothing goes back.
    Drop,
    Bare(Bare),
    Query(Query<'q>),
}

/// Writes the response to `q` from `answer` into `out` (at least a header and an OPT
/// record long), cut to the transport's size with TC, with our OPT when the query had one.
fn write_answer(
    stats: &mut DnsStats,
    q: &Query<'_>,
    answer: &Answer<'_>,
    transport: Transport,
    out: &mut [u8],
) -> usize {
    let limit = match (transport, q.edns) {
        (Transport::Tcp, Some(_)) => out.len().min(usize::from(u16::MAX)) - OPT_LEN,
        (Transport::Tcp, None) => out.len().min(usize::from(u16::MAX)),
        // The TX slot may be smaller than the client's size (a small MTU): our OPT must
        // still fit behind the answer.
        (Transport::Udp, Some(size)) => {
            usize::from(size.clamp(512, EDNS_UDP_SIZE)).min(out.len()) - OPT_LEN
        }
        (Transport::Udp, None) => 512,
    };
    let Some(mut len) = answer.write(q.id, q.rd, q.question.raw, limit, out) else {
        stats.formerr += 1;
        return bare(out, q.id, q.rd, Opcode::QUERY, Rcode::FORMERR);
    };
    let packet = DnsPacket::new_unchecked(&out[..HEADER_LEN]);
    if packet.tc() {
        stats.truncated += 1;
    }
    count_rcode(stats, answer.rcode());
    if q.edns.is_some() {
        let arcount = packet.arcount();
        len += put_opt(&mut out[len..], 0);
        DnsPacket::new_unchecked(&mut out[..HEADER_LEN]).set_arcount(arcount + 1);
    }
    len
}

fn count_rcode(stats: &mut DnsStats, rcode: Rcode) {
    match rcode {
        Rcode::NOERROR => stats.noerror += 1,
        Rcode::NXDOMAIN => stats.nxdomain += 1,
        Rcode::REFUSED => stats.refused += 1,
        _ => {}
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
            return;
        }
        if self.mode.is_some() {
            self.prepare_frames(out);
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
            Verdict::Send => {}
            Verdict::Slip => {
                out.send_with(port, d.src, |buf| self.slip(query, buf).unwrap_or(0));
                return;
            }
            Verdict::Drop => {
                self.stats.rrl_dropped += 1;
                return;
            }
        }
        let Some(mode) = self.mode else {
            out.send_with(port, d.src, |buf| self.answer(query, buf).unwrap_or(0));
            return;
        };
        let mut scratch = [0u8; MAX_NAME_LEN + 4];
        let q = match self.read(query, &mut scratch) {
            Read::Drop => {
                self.stats.dropped += 1;
                return;
            }
            Read::Bare(b) => {
                let stats = &mut self.stats;
                out.send_with(port, d.src, |buf| b.write(stats, buf));
                return;
            }
            Read::Query(q) => q,
        };
        let key = question_name(&q.question, &self.key);
        let hash = self.prepared.hash(key);
        if !self.staged {
            let found = self.prepared.find_question(&q.question, key, hash);
            let (prepared, frames) = (&*self.prepared, &*self.frames);
            send_found(
                out,
                &mut self.stats,
                prepared,
                frames,
                mode,
                (port, d.src),
                &q,
                found,
            );
            return;
        }
        // Held to the end of the burst; the bucket the name hashes to is asked for now.
        self.prepared.prefetch_bucket(hash);
        let h = &mut self.held[self.held_len];
        h.src = d.src;
        h.port = port;
        h.id = q.id;
        h.rd = q.rd;
        h.edns = q.edns;
        h.qtype = q.question.qtype;
        h.qclass = q.question.qclass;
        h.name_len = key.len();
        h.raw_len = q.question.raw.len();
        h.hash = hash;
        h.raw[..h.raw_len].copy_from_slice(q.question.raw);
        h.key[..key.len()].copy_from_slice(key);
        self.held_len += 1;
        if self.held_len == self.held.len() {
            self.answer_held(out, mode);
        }
    }

    fn on_batch_end<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>) {
        match self.mode {
            Some(mode) if self.held_len > 0 => self.answer_held(out, mode),
            _ => {}
        }
    }
}

/// RD in the header's flags word.
const RD_BIT: u16 = 0x0100;

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
