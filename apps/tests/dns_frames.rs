//! The DNS server's prepared-frame path on the simulated wire (issue 7).
//!
//! Three servers answer from the same prepared zones, each a whole stack (Ethernet, ARP,
//! IPv4, UDP, `DnsServer`) at one end of a `pipe` with a virtual clock: `pre-copy` and
//! `memcpy` send answers at existing names as prepared frames patched per query, `write`
//! writes every answer into the TX slot and is the reference. The test plays two clients
//! (different MACs, addresses and ports) at the other end of each wire.
//!
//! For every query the three UDP payloads are byte-identical, and equal to
//! [`DnsServer::answer`] called without a stack; every frame has correct IPv4 and UDP
//! checksums, our MAC, address and port as source and the asking client's as destination.
//! A query goes through the prepared path exactly when the rules say so: the answer is at a
//! name that exists, the query is a plain version-0 (or no-EDNS) IN query, and the whole
//! response fits 512 octets without EDNS, or with our OPT both our 1232 and the client's
//! size (at least 512). Glue owners below a zone cut exist too (their answer is the
//! referral, at a name of fixed length); names that do not exist never have a frame.
//!
//! Two tests cover links with an MTU under 1260 (a UDP payload under our EDNS size): the
//! answer is cut to the link with our OPT behind it, and frames too large for the link are
//! skipped one by one.

use apps::dns::prepare::{prepare, Prepared};
use apps::dns::server::{DnsServer, DnsStats, Transport, EDNS_UDP_SIZE};
use apps::dns::wire::{
    Class, Counts, DnsPacket, HeaderRepr, MessageBuilder, Name, Opcode, Rcode, Rtype, HEADER_LEN,
};
use apps::dns::zone::{self, Zone};
use eth::testing::{arp_reply, arp_request, drain, inject, is_arp_reply_from, parse_arp};
use eth::wire::{ArpOp, Ipv4Addr, MacAddr};
use eth::{IfaceConfig, Stack};
use nmio::backend::pipe::{self, PipeConfig, PipePort};
use nmio::{Clock, EventLoop, Instant, LoopConfig, Port, PortStats, PrepMode, VirtualClock};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddrV4;
use std::path::Path;
use std::rc::Rc;
use udpip::testing::{parse_udp, udp_frame};
use udpip::Udp;

const US: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const OUR_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x53]);
const DNS_PORT: u16 = 53;
/// Bytes of our OPT record (no options).
const OPT_LEN: usize = 11;

/// A client on the test's end of the wire.
#[derive(Clone, Copy, Debug)]
struct Client {
    mac: MacAddr,
    addr: SocketAddrV4,
}

const CLIENTS: [Client; 2] = [
    Client {
        mac: MacAddr([0x02, 0, 0, 0, 0, 0x0a]),
        addr: SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 40000),
    },
    Client {
        mac: MacAddr([0x02, 0, 0, 0, 0, 0x77]),
        addr: SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 77), 5353),
    },
];

/// The EDNS variants every question is asked with: none, version 0 at several sizes (one
/// below 512, read as 512), and version 1 (BADVERS).
const EDNS: [Option<(u16, u8)>; 7] = [
    None,
    Some((100, 0)),
    Some((512, 0)),
    Some((600, 0)),
    Some((1232, 0)),
    Some((4096, 0)),
    Some((4096, 1)),
];

// ---- the servers -----------------------------------------------------------------------

/// One server: a stack with a `DnsServer` on one end of a pipe, the test on the other.
struct Server {
    mode: Option<PrepMode>,
    peer: PipePort,
    ev: EventLoop<PipePort, VirtualClock>,
    stack: Stack<Udp<DnsServer>>,
}

impl Server {
    /// A server in `mode` (`None`: write) whose port's prepared pool holds `pool` frames,
    /// both clients already known to its ARP cache.
    fn start(prepared: &Rc<Prepared>, mode: Option<PrepMode>, pool: usize) -> Server {
        Server::on_link(prepared, mode, pool, 1500)
    }

    /// [`Server::start`] on a link of IP MTU `mtu`.
    fn on_link(prepared: &Rc<Prepared>, mode: Option<PrepMode>, pool: usize, mtu: usize) -> Server {
        let clock = VirtualClock::new(Instant::from_millis(1_000));
        let (peer, port) = pipe::pair(PipeConfig {
            clock: Some(clock.clone()),
            macs: [CLIENTS[0].mac.0, OUR_MAC.0],
            prepared_capacity: pool,
            mtu,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(port.caps().mac, OUR_MAC.0);
        let mut cfg = IfaceConfig::for_port(port.caps(), US, 24);
        cfg.arp.announcements = 0;
        let mut app = DnsServer::new(prepared.clone(), DNS_PORT);
        if let Some(mode) = mode {
            app = app.with_mode(mode);
        }
        let stack = Stack::new(cfg, Udp::new(app), clock.now()).unwrap();
        let ev = EventLoop::new(port, clock, LoopConfig::default());
        let mut s = Server {
            mode,
            peer,
            ev,
            stack,
        };
        s.stack.start_on(&mut s.ev);
        for c in CLIENTS {
            let out = s.exchange(&[arp_request(c.mac, *c.addr.ip(), US)]);
            assert!(
                out.len() == 1 && is_arp_reply_from(&out[0], OUR_MAC),
                "{}: ARP reply to {c:?}",
                s.name()
            );
        }
        s
    }

    /// The three servers: pre-copy, memcpy, write.
    fn trio(prepared: &Rc<Prepared>, pool: usize) -> [Server; 3] {
        [
            Server::start(prepared, Some(PrepMode::PreCopy), pool),
            Server::start(prepared, Some(PrepMode::Memcpy), pool),
            Server::start(prepared, None, pool),
        ]
    }

    fn name(&self) -> &'static str {
        match self.mode {
            Some(PrepMode::PreCopy) => "pre-copy",
            Some(PrepMode::Memcpy) => "memcpy",
            None => "write",
        }
    }

    /// Put `frames` on the wire in one burst, run the loop until it is idle, return what
    /// the server sent.
    fn exchange(&mut self, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
        for f in frames {
            inject(&mut self.peer, f);
        }
        while self.ev.run_once(&mut self.stack) > 0 {}
        self.ev.flush();
        drain(&mut self.peer)
    }

    fn app(&self) -> &DnsServer {
        self.stack.upper().app()
    }

    fn dns(&self) -> DnsStats {
        self.app().stats()
    }

    fn port_stats(&self) -> PortStats {
        self.ev.port().stats()
    }

    /// `query` from `client`: the response's UDP payload (its frame checked) and whether it
    /// went out as a prepared frame.
    fn ask(&mut self, client: Client, query: &[u8], what: &str) -> (Vec<u8>, bool) {
        let before = self.dns().prepared;
        let out = self.exchange(&[to_server(client, query)]);
        let went = self.dns().prepared - before;
        assert_eq!(out.len(), 1, "{}: {what}: one response", self.name());
        assert!(went <= 1);
        let payload = check_frame(&out[0], client, &format!("{}: {what}", self.name()));
        (payload, went == 1)
    }
}

/// `query` as a frame from `client` to our DNS port.
fn to_server(client: Client, query: &[u8]) -> Vec<u8> {
    udp_frame(
        client.mac,
        OUR_MAC,
        client.addr,
        SocketAddrV4::new(US, DNS_PORT),
        query,
    )
}

/// Checks a response frame's addresses and checksums; returns its UDP payload.
fn check_frame(frame: &[u8], client: Client, what: &str) -> Vec<u8> {
    let r = parse_udp(frame).unwrap_or_else(|| panic!("{what}: not a UDP frame"));
    assert!(r.checksums_ok, "{what}: IPv4 and UDP checksums");
    assert_ne!(r.checksum, 0, "{what}: a UDP checksum is always sent");
    assert_eq!(
        (r.src_mac, r.dst_mac),
        (OUR_MAC, client.mac),
        "{what}: MACs"
    );
    assert_eq!(r.src, SocketAddrV4::new(US, DNS_PORT), "{what}: source");
    assert_eq!(r.dst, client.addr, "{what}: destination");
    assert_eq!(
        (r.ip.ttl, r.ip.dont_frag),
        (64, true),
        "{what}: IPv4 header"
    );
    r.payload
}

// ---- queries ---------------------------------------------------------------------------

/// Per-query header and EDNS choices.
#[derive(Clone, Copy, Debug)]
struct Ask {
    id: u16,
    rd: bool,
    /// (UDP size, version) of an OPT record.
    edns: Option<(u16, u8)>,
}

/// A question to ask, and whether its answer is at a name that exists.
#[derive(Clone, Debug)]
struct Spec {
    what: String,
    /// Wire-format name, in the case it is sent.
    name: Vec<u8>,
    qtype: u16,
    qclass: u16,
    /// The question's root octet sent as a pointer into the header (the slow path).
    compressed: bool,
    /// The name exists (a frame is expected when the response fits and the query is
    /// plain); otherwise never a frame.
    exists: bool,
}

impl Spec {
    fn new(what: impl Into<String>, name: &[u8], qtype: u16, exists: bool) -> Spec {
        Spec {
            what: what.into(),
            name: name.to_vec(),
            qtype,
            qclass: Class::IN.0,
            compressed: false,
            exists,
        }
    }

    fn class(mut self, qclass: u16) -> Spec {
        self.qclass = qclass;
        self
    }

    fn compressed(mut self) -> Spec {
        self.compressed = true;
        self.what.push_str(" (compressed question)");
        self
    }

    /// The query message.
    fn query(&self, a: Ask) -> Vec<u8> {
        let mut buf = vec![0u8; 512];
        let mut b = MessageBuilder::new(&mut buf).unwrap();
        b.header(&HeaderRepr {
            id: a.id,
            qr: false,
            opcode: Opcode::QUERY,
            aa: false,
            tc: false,
            rd: a.rd,
            ra: false,
            ad: false,
            cd: false,
            rcode: Rcode::NOERROR,
            counts: Counts::default(),
        });
        let name = Name::from_wire(&self.name).unwrap();
        b.question(&name, Rtype(self.qtype), Class(self.qclass))
            .unwrap();
        if let Some((size, version)) = a.edns {
            b.opt(size, 0, version, false).unwrap();
        }
        let n = b.finish();
        buf.truncate(n);
        if !self.compressed {
            return buf;
        }
        // The root octet becomes a pointer to offset 4, QDCOUNT's high octet: 0, the root
        // (RFC 1035 4.1.4; legal, strictly backwards).
        let root = HEADER_LEN + self.name.len() - 1;
        let mut q = buf[..root].to_vec();
        q.extend_from_slice(&[0xc0, 4]);
        q.extend_from_slice(&buf[root + 1..]);
        q
    }

    /// Whether the rules send the answer as a prepared frame, given the length of the
    /// whole response without EDNS.
    fn expect_prepared(&self, edns: Option<(u16, u8)>, full_len: usize) -> bool {
        if !self.exists {
            return false;
        }
        match edns {
            None => full_len <= 512,
            Some((_, version)) if version > 0 => false,
            Some((size, _)) => {
                let payload = full_len + OPT_LEN;
                payload <= usize::from(EDNS_UDP_SIZE) && payload <= usize::from(size.max(512))
            }
        }
    }
}

/// A wire name from dotted text (no escapes), case kept.
fn wire(text: &str) -> Vec<u8> {
    Name::from_ascii(text).unwrap().as_wire().to_vec()
}

/// The name in alternating case, so that no byte is as the zone wrote it (length octets
/// are below `A` and stay).
fn mixed_case(name: &[u8]) -> Vec<u8> {
    name.iter()
        .enumerate()
        .map(|(i, b)| {
            if i % 2 == 0 {
                b.to_ascii_uppercase()
            } else {
                b.to_ascii_lowercase()
            }
        })
        .collect()
}

fn lower(name: &[u8]) -> Vec<u8> {
    name.to_ascii_lowercase()
}

/// The parent of a wire name; `None` for the root.
fn parent(name: &[u8]) -> Option<&[u8]> {
    (name[0] != 0).then(|| &name[1 + usize::from(name[0])..])
}

/// Whether `name` is strictly below `other` (lowercase wire names).
fn strictly_below(name: &[u8], other: &[u8]) -> bool {
    let mut n = parent(name);
    while let Some(p) = n {
        if p == other {
            return true;
        }
        n = parent(p);
    }
    false
}

fn fixture(file: &str) -> Zone {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/zones")
        .join(file);
    zone::load(&path, None).expect("fixture zone")
}

/// The fixture zones: example.com (with its `$INCLUDE`), prepare.test (delegations,
/// wildcards, CNAME chains, a large TXT) and its child zone.
fn fixture_zones() -> Vec<Zone> {
    [
        "example.com.zone",
        "prepare.test.zone",
        "child.prepare.test.zone",
    ]
    .map(fixture)
    .into()
}

/// Every name that exists in `zones` (owners, glue included, and empty non-terminals, in
/// the deepest zone that holds them), keyed by lowercase wire name: the name as first
/// written and its types.
struct Names {
    names: BTreeMap<Vec<u8>, (Vec<u8>, BTreeSet<u16>)>,
}

impl Names {
    fn of(zones: &[Zone]) -> Names {
        let apexes: Vec<Vec<u8>> = zones.iter().map(|z| lower(&z.origin)).collect();
        // The deepest apex at or above a name is its zone's.
        let zone_of = |name: &[u8]| {
            apexes
                .iter()
                .filter(|a| name == a.as_slice() || strictly_below(name, a))
                .max_by_key(|a| a.len())
                .cloned()
        };
        let mut names: BTreeMap<Vec<u8>, (Vec<u8>, BTreeSet<u16>)> = BTreeMap::new();
        for (z, apex) in zones.iter().zip(&apexes) {
            for r in &z.records {
                let key = lower(&r.owner);
                if zone_of(&key).as_ref() != Some(apex) {
                    continue; // occluded by a deeper zone
                }
                let mut at = Some(key.as_slice());
                let mut first = true;
                while let Some(n) = at {
                    let entry = names.entry(n.to_vec()).or_insert_with(|| {
                        let written = r.owner[r.owner.len() - n.len()..].to_vec();
                        (written, BTreeSet::new())
                    });
                    if first {
                        entry.1.insert(r.rtype);
                        first = false;
                    }
                    if n == apex.as_slice() {
                        break;
                    }
                    at = parent(n);
                }
            }
        }
        Names { names }
    }
}

/// A type `types` lacks, for a NODATA answer.
fn missing_type(types: &BTreeSet<u16>) -> u16 {
    [Rtype::MX, Rtype::TXT, Rtype::AAAA, Rtype::SRV, Rtype::A]
        .into_iter()
        .map(|t| t.0)
        .find(|t| !types.contains(t))
        .unwrap()
}

/// Every existing name x each of its types, a type it lacks and ANY, as written and in
/// mixed case; then the answers that never have a frame.
fn fixture_specs(names: &Names) -> Vec<Spec> {
    let mut specs = Vec::new();
    for (written, types) in names.names.values() {
        let text = Name::from_wire(written).unwrap().to_string();
        let mut qtypes: Vec<u16> = types.iter().copied().collect();
        qtypes.push(missing_type(types));
        qtypes.push(Rtype::ANY.0);
        for t in qtypes {
            let what = format!("{text} {}", Rtype(t));
            specs.push(Spec::new(&what, written, t, true));
            specs.push(Spec::new(
                format!("{what} (mixed case)"),
                &mixed_case(written),
                t,
                true,
            ));
        }
    }
    let w = |s: &str| wire(s);
    let a = Rtype::A.0;
    specs.extend([
        // Slow path at names that exist (frames) and that do not.
        Spec::new("ExAmPlE.cOm SOA", &w("ExAmPlE.cOm"), Rtype::SOA.0, true).compressed(),
        Spec::new("www.example.com A", &w("www.example.com"), a, true).compressed(),
        Spec::new("nope.example.com A", &w("nope.example.com"), a, false).compressed(),
        // NXDOMAIN, also below a CNAME and below a name that exists.
        Spec::new("NXDOMAIN", &w("nope.example.com"), a, false),
        Spec::new("NXDOMAIN", &w("a.b.NoPe.example.com"), a, false),
        Spec::new("NXDOMAIN below a CNAME", &w("x.www.example.com"), a, false),
        Spec::new("NXDOMAIN occluded", &w("old.child.prepare.test"), a, false),
        // Wildcards (shared tails, any query name length).
        Spec::new("wildcard", &w("a.wild.example.com"), a, false),
        Spec::new("wildcard", &w("X.y.WILD.example.com"), Rtype::MX.0, false),
        Spec::new("wildcard", &w("foo.blk.prepare.test"), Rtype::MX.0, false),
        Spec::new(
            "wildcard CNAME",
            &w("Foo.Wc.prepare.test"),
            Rtype::AAAA.0,
            false,
        ),
        // Referrals below a cut.
        Spec::new("referral", &w("www.sub.example.com"), a, false),
        Spec::new("referral", &w("a.b.sub.example.com"), Rtype::DS.0, false),
        Spec::new("referral", &w("host.SEC.prepare.test"), a, false),
        // Not ours: other zones and other classes.
        Spec::new("outside", &w("example.org"), a, false),
        Spec::new("outside", &w("com"), a, false),
        Spec::new("outside", &w("xexample.com"), a, false),
        Spec::new("outside", &[0], Rtype::NS.0, false),
        Spec::new("class CH", &w("example.com"), a, false).class(Class::CH.0),
        Spec::new("class ANY", &w("example.com"), a, false).class(Class::ANY.0),
        // Header-only answers: NOTIMP and FORMERR meta-types.
        Spec::new("AXFR", &w("example.com"), 252, false),
        Spec::new("MAILB", &w("example.com"), 253, false),
        Spec::new("OPT as QTYPE", &w("example.com"), Rtype::OPT.0, false),
        Spec::new("type 0", &w("example.com"), 0, false),
    ]);
    specs
}

/// Ids and RD bits that differ from query to query.
struct Ids(u32);

impl Ids {
    fn next(&mut self) -> (u16, bool) {
        self.0 = self.0.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let x = self.0 >> 8;
        (x as u16, x & 0x10000 != 0)
    }
}

// ---- the comparison --------------------------------------------------------------------

/// What one query did.
#[derive(Debug)]
struct Outcome {
    what: String,
    edns: Option<(u16, u8)>,
    /// Whether it went as a prepared frame in the prepared modes.
    prepared: bool,
    expected: bool,
    /// RCODE (header bits) and TC of the response.
    rcode: u8,
    tc: bool,
}

/// Asks every spec in every EDNS variant, from the two clients in turn, of all `servers`
/// (the last is the write server) and checks the responses agree byte for byte with
/// each other and with `DnsServer::answer`; with `rules`, that each query took the path
/// the rules say.
fn compare(
    prepared: &Rc<Prepared>,
    servers: &mut [Server],
    specs: &[Spec],
    variants: &[Option<(u16, u8)>],
    rules: bool,
) -> Vec<Outcome> {
    let mut direct = DnsServer::new(prepared.clone(), DNS_PORT);
    let mut whole = DnsServer::new(prepared.clone(), DNS_PORT);
    let mut ids = Ids(7);
    let mut out = vec![0u8; 1500];
    let mut outcomes = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        for (j, &edns) in variants.iter().enumerate() {
            let client = CLIENTS[(i + j) % 2];
            let (id, rd) = ids.next();
            let ask = Ask { id, rd, edns };
            let query = spec.query(ask);
            let what = format!(
                "{} id {id} rd {rd} edns {edns:?} from {client:?}",
                spec.what
            );
            let n = direct.answer(&query, &mut out).expect("answered");
            let reference = out[..n].to_vec();
            // The whole response, as TCP would carry it, without EDNS.
            let plain = spec.query(Ask { edns: None, ..ask });
            let full_len = whole
                .respond(&plain, &mut vec![0u8; 65_535], Transport::Tcp)
                .expect("answered");
            let expected = spec.expect_prepared(edns, full_len);
            let mut went = Vec::new();
            for s in servers.iter_mut() {
                let (payload, prepared) = s.ask(client, &query, &what);
                assert_eq!(payload, reference, "{}: {what}: payload", s.name());
                if s.mode.is_none() {
                    assert!(!prepared, "{what}: the write server sends no frame");
                }
                went.push(prepared);
            }
            let prepared_modes = &went[..servers.len() - 1];
            assert!(
                prepared_modes.iter().all(|&w| w == went[0]),
                "{what}: both prepared modes take the same path: {went:?}"
            );
            if rules {
                assert_eq!(
                    went[0], expected,
                    "{what}: prepared frame expected: {expected} \
                     (response of {full_len} octets without EDNS)"
                );
            }
            let header = DnsPacket::new_checked(&reference[..]).unwrap();
            outcomes.push(Outcome {
                what: spec.what.clone(),
                edns,
                prepared: went[0],
                expected,
                rcode: header.rcode(),
                tc: header.tc(),
            });
        }
    }
    outcomes
}

/// The counters but `prepared` agree with the write server's.
fn assert_same_counters(servers: &[Server]) {
    let reference = servers.last().unwrap().dns();
    assert_eq!(reference.prepared, 0, "write: nothing prepared");
    for s in servers {
        let st = s.dns();
        assert_eq!(
            DnsStats { prepared: 0, ..st },
            reference,
            "{}: counters as the write path's",
            s.name()
        );
        let udp = s.stack.upper().stats();
        assert_eq!(
            (udp.tx_bad_patch, udp.tx_dropped, udp.tx_too_big),
            (0, 0, 0),
            "{}: UDP send errors",
            s.name()
        );
    }
}

fn fixture_prepared() -> Rc<Prepared> {
    Rc::new(prepare(&fixture_zones()).expect("prepare"))
}

// ---- tests -----------------------------------------------------------------------------

#[test]
fn every_fixture_answer_is_the_same_in_the_three_modes() {
    let prepared = fixture_prepared();
    let names = Names::of(&fixture_zones());
    let specs = fixture_specs(&names);
    let mut servers = Server::trio(&prepared, 2 * prepared.frame_count() + 8);
    for s in &servers[..2] {
        let (frames, error) = s.app().frames_prepared();
        assert_eq!(error, None, "{}: every frame prepared", s.name());
        assert!(frames > 0 && frames <= 2 * prepared.frame_count());
    }
    let outcomes = compare(&prepared, &mut servers, &specs, &EDNS, true);
    assert!(outcomes.len() > 1_000, "{} queries", outcomes.len());

    let sent = outcomes.iter().filter(|o| o.prepared).count() as u64;
    let expected = outcomes.iter().filter(|o| o.expected).count() as u64;
    assert!(sent > 0);
    assert_eq!(sent, expected, "prepared frames sent as the rules say");
    for s in &servers[..2] {
        assert_eq!(s.dns().prepared, sent, "{}: prepared count", s.name());
    }
    assert_same_counters(&servers);

    // Every kind of answer came up.
    let st = servers[2].dns();
    assert!(st.noerror > 0 && st.nxdomain > 0 && st.refused > 0);
    assert!(st.formerr > 0 && st.notimp > 0 && st.badvers > 0);
    assert!(st.truncated > 0 && st.slow_path > 0);
    assert!(outcomes.iter().any(|o| o.tc && o.edns.is_none()));
    // Some answers at existing names are written: truncated ones, and those over a
    // client's smaller size.
    assert!(outcomes
        .iter()
        .any(|o| !o.expected && o.rcode == 0 && o.what.starts_with("big.")));
}

/// What a line of the rules table says: the query (question, EDNS) and whether it goes as
/// a prepared frame.
type Rule = (&'static str, Spec, Option<(u16, u8)>, bool);

/// One line per rule, as a packet trace: which queries go as prepared frames.
#[test]
fn each_kind_of_query_takes_the_path_the_rules_say() {
    let prepared = fixture_prepared();
    let mut servers = Server::trio(&prepared, 2 * prepared.frame_count() + 8);
    let q = |name: &str, qtype: Rtype| Spec::new("", &wire(name), qtype.0, true);
    let e = |size: u16| Some((size, 0));
    let (a, txt, big) = (Rtype::A, Rtype::TXT, "big.prepare.test");
    #[rustfmt::skip]
    let table: [Rule; 24] = [
        ("exact A, no EDNS", q("ns1.example.com", a), None, true),
        ("exact A, EDNS 512", q("ns1.example.com", a), e(512), true),
        ("exact A, EDNS 4096", q("ns1.example.com", a), e(4096), true),
        ("exact A, EDNS size 0 (read as 512)", q("ns1.example.com", a), e(0), true),
        ("exact A, EDNS version 1: BADVERS", q("ns1.example.com", a), Some((4096, 1)), false),
        ("mixed case", q("NS1.ExAmPlE.cOm", a), None, true),
        ("NODATA", q("ns1.example.com", Rtype::MX), None, true),
        ("NODATA at an empty non-terminal", q("_tcp.example.com", a), None, true),
        ("ANY (RFC 8482: one RRset)", q("example.com", Rtype::ANY), None, true),
        ("CNAME chain", q("www.example.com", a), None, true),
        ("referral at the cut", q("sub.example.com", a), None, true),
        ("DS at the cut, from the parent", q("SEC.prepare.test", Rtype::DS), None, true),
        ("the wildcard's own name", q("*.wild.example.com", a), None, true),
        ("compressed question", q("ns1.example.com", a).compressed(), None, true),
        ("large TXT, no EDNS: TC", q(big, txt), None, false),
        ("large TXT, EDNS 600: TC", q(big, txt), e(600), false),
        ("large TXT, EDNS 1232: whole", q(big, txt), e(1232), true),
        ("NXDOMAIN", q("nope.example.com", a), None, false),
        ("wildcard", q("a.wild.example.com", a), None, false),
        ("referral below the cut", q("www.sub.example.com", a), None, false),
        ("dangling CNAME: NXDOMAIN at a node", q("dangling.prepare.test", a), None, true),
        ("class CH: REFUSED", q("example.com", a).class(Class::CH.0), None, false),
        ("outside our zones: REFUSED", q("example.org", a), None, false),
        ("AXFR: NOTIMP", q("example.com", Rtype(252)), None, false),
    ];
    for (i, (what, spec, edns, expect)) in table.into_iter().enumerate() {
        let ask = Ask {
            id: 1000 + i as u16,
            rd: i % 2 == 0,
            edns,
        };
        let query = spec.query(ask);
        let mut payloads = Vec::new();
        for s in servers.iter_mut() {
            let (payload, went) = s.ask(CLIENTS[i % 2], &query, what);
            let expect = expect && s.mode.is_some();
            assert_eq!(went, expect, "{}: {what}: prepared", s.name());
            payloads.push(payload);
        }
        assert_eq!(payloads[0], payloads[2], "pre-copy: {what}");
        assert_eq!(payloads[1], payloads[2], "memcpy: {what}");
        let p = DnsPacket::new_checked(&payloads[2][..]).unwrap();
        assert_eq!((p.id(), p.rd(), p.qr()), (ask.id, ask.rd, true), "{what}");
    }
}

#[test]
fn same_question_from_two_clients_goes_to_each_with_its_own_checksums() {
    let prepared = fixture_prepared();
    let spec = Spec::new("", &wire("www.example.com"), Rtype::A.0, true);
    let queries: Vec<(Client, Vec<u8>)> = (0..16u16)
        .map(|i| {
            let edns = (i % 4 == 3).then_some((1232, 0));
            let ask = Ask {
                id: 0x5000 + i,
                rd: i % 3 == 0,
                edns,
            };
            (CLIENTS[usize::from(i % 2)], spec.query(ask))
        })
        .collect();
    let mut direct = DnsServer::new(prepared.clone(), DNS_PORT);
    let mut buf = vec![0u8; 1500];
    let reference: Vec<Vec<u8>> = queries
        .iter()
        .map(|(_, q)| {
            let n = direct.answer(q, &mut buf).unwrap();
            buf[..n].to_vec()
        })
        .collect();
    for mode in [PrepMode::PreCopy, PrepMode::Memcpy] {
        let mut s = Server::start(&prepared, Some(mode), 2 * prepared.frame_count());
        // One at a time, alternating clients: pre-copy rewrites the image in place each
        // time, from the previous client's fields.
        for (i, (client, q)) in queries.iter().enumerate() {
            let (payload, went) = s.ask(*client, q, &format!("query {i}"));
            assert!(went, "{}: query {i} prepared", s.name());
            assert_eq!(payload, reference[i], "{}: query {i}", s.name());
        }
        let before = s.port_stats();
        // All in one burst: pre-copy finds the image still queued and sends the later
        // ones from spare copies.
        let frames: Vec<Vec<u8>> = queries.iter().map(|(c, q)| to_server(*c, q)).collect();
        let out = s.exchange(&frames);
        assert_eq!(out.len(), queries.len(), "{}: burst answered", s.name());
        for (i, f) in out.iter().enumerate() {
            let what = format!("{}: burst query {i}", s.name());
            let payload = check_frame(f, queries[i].0, &what);
            assert_eq!(payload, reference[i], "{what}");
        }
        let after = s.port_stats();
        let n = queries.len() as u64;
        match mode {
            PrepMode::PreCopy => {
                assert_eq!(after.prepared_precopy - before.prepared_precopy, n);
                // Two images (with and without EDNS), each sent once by reference.
                assert_eq!(after.prepared_clones - before.prepared_clones, n - 2);
            }
            PrepMode::Memcpy => assert_eq!(after.prepared_memcpy - before.prepared_memcpy, n),
        }
        assert_eq!(s.dns().prepared, 2 * n);
        // And one at a time again, after the burst.
        for (i, (client, q)) in queries.iter().enumerate().rev() {
            let (payload, went) = s.ask(*client, q, &format!("query {i} again"));
            assert!(went);
            assert_eq!(payload, reference[i], "{}: query {i} again", s.name());
        }
    }
}

#[test]
fn ten_thousand_names_each_get_frames_and_answer_as_the_write_path() {
    let text = zone::synthetic(10_000);
    let z = zone::load_str(&text, Path::new("synthetic.zone"), None).expect("synthetic zone");
    let prepared = Rc::new(prepare(&[z]).expect("prepare"));
    let frames = prepared.frame_count();
    // At least an A answer per name, distinct by its address.
    assert!(frames >= 10_000, "{frames} frames");
    let mut servers = Server::trio(&prepared, 2 * frames);
    for s in &servers[..2] {
        // Every answer is small: both variants of every frame.
        assert_eq!(
            s.app().frames_prepared(),
            (2 * frames, None),
            "{}",
            s.name()
        );
    }
    let mut specs = Vec::new();
    for i in (0..10_000).step_by(97).chain([1, 10, 100, 1000, 9_999]) {
        let name = wire(&format!("h{i}.synthetic.test"));
        let name = if i % 2 == 1 { mixed_case(&name) } else { name };
        for t in [Rtype::A, Rtype::MX, Rtype::ANY] {
            specs.push(Spec::new(format!("h{i} {t}"), &name, t.0, true));
        }
    }
    let apex = wire("synthetic.test");
    specs.push(Spec::new("apex SOA", &apex, Rtype::SOA.0, true));
    specs.push(Spec::new("apex NS", &apex, Rtype::NS.0, true));
    let nx = wire("h10000.synthetic.test");
    specs.push(Spec::new("NXDOMAIN", &nx, Rtype::A.0, false));
    let variants = [None, Some((1232, 0)), Some((512, 0))];
    let outcomes = compare(&prepared, &mut servers, &specs, &variants, true);
    let sent = outcomes.iter().filter(|o| o.prepared).count() as u64;
    assert_eq!(sent, (outcomes.len() - variants.len()) as u64);
    assert_eq!(servers[0].dns().prepared, sent);
    assert_same_counters(&servers);
}

#[test]
fn a_pool_too_small_stops_preparation_and_the_rest_is_written() {
    let prepared = fixture_prepared();
    let names = Names::of(&fixture_zones());
    let specs = fixture_specs(&names);
    let variants = [None, Some((1232, 0))];
    // What a full pool sends prepared, for comparison.
    let mut full = Server::trio(&prepared, 2 * prepared.frame_count());
    let all = compare(&prepared, &mut full, &specs, &variants, true);
    let all = all.iter().filter(|o| o.prepared).count() as u64;
    for pool in [0usize, 5] {
        for mode in [PrepMode::PreCopy, PrepMode::Memcpy] {
            let mut servers = [
                Server::start(&prepared, Some(mode), pool),
                Server::start(&prepared, None, pool),
            ];
            let (frames, error) = servers[0].app().frames_prepared();
            let what = format!("{mode:?} mode, pool of {pool}");
            assert!(frames <= pool, "{what}: {frames} frames");
            let error = error.unwrap_or_else(|| panic!("{what}: the error is reported"));
            assert!(
                error.contains(&format!("pool is full ({pool} packets)")),
                "{what}: {error}"
            );
            compare(&prepared, &mut servers, &specs, &variants, false);
            let sent = servers[0].dns().prepared;
            if pool == 0 {
                assert_eq!((frames, sent), (0, 0), "{what}");
            } else {
                assert!(
                    frames > 0 && sent > 0 && sent < all,
                    "{what}: {sent} of {all}"
                );
            }
            assert_same_counters(&servers);
        }
    }
}

#[test]
fn an_answer_to_a_client_not_yet_resolved_waits_for_arp() {
    let prepared = fixture_prepared();
    let newcomer = Client {
        mac: MacAddr([0x02, 0, 0, 0, 0, 0x99]),
        addr: SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 99), 33333),
    };
    let spec = Spec::new("", &wire("Mail.Example.com"), Rtype::A.0, true);
    let first = spec.query(Ask {
        id: 1,
        rd: true,
        edns: None,
    });
    let query = spec.query(Ask {
        id: 2,
        rd: false,
        edns: None,
    });
    let mut buf = vec![0u8; 1500];
    let mut direct = DnsServer::new(prepared.clone(), DNS_PORT);
    let n = direct.answer(&query, &mut buf).unwrap();
    let reference = buf[..n].to_vec();
    for mut s in Server::trio(&prepared, 2 * prepared.frame_count()) {
        // A known client first: pre-copy leaves its fields in the image.
        s.ask(CLIENTS[0], &first, "known client");
        let before = s.dns().prepared;
        let out = s.exchange(&[to_server(newcomer, &query)]);
        assert_eq!(out.len(), 1, "{}: an ARP request only", s.name());
        let arp = parse_arp(&out[0]).expect("ARP");
        assert_eq!(
            (arp.op, arp.target_ip),
            (ArpOp::Request, *newcomer.addr.ip())
        );
        let out = s.exchange(&[arp_reply(newcomer.mac, *newcomer.addr.ip(), OUR_MAC, US)]);
        assert_eq!(out.len(), 1, "{}: the held answer", s.name());
        let payload = check_frame(&out[0], newcomer, s.name());
        assert_eq!(payload, reference, "{}", s.name());
        let went = s.dns().prepared - before;
        assert_eq!(went, u64::from(s.mode.is_some()), "{}", s.name());
        assert_eq!(s.stack.upper().stats().tx_prepared_held, went);
    }
}

// ---- bugs on links with an MTU under 1260 ----------------------------------------------

/// A zone whose `t.test. TXT` response is 540 octets without EDNS: over 512, and within 11
/// octets (our OPT) of the 548-octet UDP payload of a 576-octet IP MTU.
fn zone_with_540_octet_answer() -> Rc<Prepared> {
    let text = format!(
        "$ORIGIN test.\n$TTL 60\n@ SOA ns hostmaster 1 7200 3600 1209600 60\n@ NS ns\n\
         ns A 192.0.2.1\nt TXT \"{}\" \"{}\"\n",
        "a".repeat(250),
        "b".repeat(252)
    );
    let z = zone::load_str(&text, Path::new("t.zone"), None).expect("zone");
    Rc::new(prepare(&[z]).expect("prepare"))
}

/// RFC 6891 7: the response fits the smaller of the client's size and what the link can
/// carry, with TC when records are left out, and our OPT.
#[test]
fn edns_answer_on_a_small_mtu_link_is_cut_to_fit_with_its_opt() {
    let prepared = zone_with_540_octet_answer();
    let spec = Spec::new("", &wire("t.test"), Rtype::TXT.0, true);
    let mut whole = DnsServer::new(prepared.clone(), DNS_PORT);
    let plain = spec.query(Ask {
        id: 1,
        rd: false,
        edns: None,
    });
    let full = whole
        .respond(&plain, &mut vec![0u8; 65_535], Transport::Tcp)
        .unwrap();
    assert_eq!(full, 540);
    let query = spec.query(Ask {
        id: 2,
        rd: false,
        edns: Some((1232, 0)),
    });
    for mode in [None, Some(PrepMode::PreCopy)] {
        let mut s = Server::on_link(&prepared, mode, 64, 576);
        let (payload, _) = s.ask(CLIENTS[0], &query, "t.test TXT, EDNS 1232");
        assert!(
            payload.len() <= 548,
            "{}: {} octets",
            s.name(),
            payload.len()
        );
        let p = DnsPacket::new_checked(&payload[..]).unwrap();
        assert!(p.tc() && p.arcount() == 1, "{}: TC and our OPT", s.name());
    }
}

/// A frame too large for the link is one answer that goes through the write path, not a
/// reason to stop preparing every frame after it (nor a full pool, which is what the `dns`
/// binary then reports).
#[test]
fn a_frame_too_large_for_the_link_does_not_stop_preparation() {
    let prepared = zone_with_540_octet_answer();
    let mut s = Server::on_link(&prepared, Some(PrepMode::Memcpy), 64, 576);
    let (frames, error) = s.app().frames_prepared();
    // Only t.test TXT has no frame: 540 octets without EDNS (over 512), 551 with our OPT
    // (over the link's 548).
    assert_eq!(frames, 2 * prepared.frame_count() - 2, "{error:?}");
    let spec = Spec::new("", &wire("ns.test"), Rtype::A.0, true);
    for (id, edns) in [(1, None), (2, Some((1232, 0)))] {
        let query = spec.query(Ask {
            id,
            rd: false,
            edns,
        });
        let (_, went) = s.ask(CLIENTS[0], &query, "ns.test A");
        assert!(went, "ns.test A with EDNS {edns:?} prepared");
    }
}
