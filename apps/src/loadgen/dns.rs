//! DNS load: queries over UDP from the stack itself, with a window of outstanding queries
//! (closed loop, like dnsperf's `-q`) and an optional rate cap (open loop, `-Q`).
//!
//! ```text
//! loadgen dns --backend afpacket --iface veth0 --addr 10.0.0.9/24 --duration 10 \
//!     --server 10.0.0.2 --queries names.txt --outstanding 512 --sources 8
//! ```
//!
//! Every distinct query (a `NAME TYPE` line of dnsperf's data file format, or `--query`)
//! is built once at start-up; per query only the template is copied into the TX slot and
//! its id written. Queries go out in the order given, cycling, from `--sources` UDP ports
//! in turn, with RD clear (the server is authoritative).
//!
//! Outstanding queries live in a fixed table of `--outstanding` entries. The DNS id is the
//! entry's index in its low bits and a per-entry generation above them, so the id of an
//! answer finds its entry at once; the entry records the source port and the template, and
//! an answer counts only when the id, the port it came to, the server's address and port,
//! and the question (name compared case-insensitively, RFC 4343; type and class exactly)
//! all match. Anything else is counted as unexpected and dropped. Timeouts are found by a
//! sweep of the table on a timer, not by a timer per query.
//!
//! The report ([`DnsReport`]) prints the labels dnsperf prints, so a script parses either.

use crate::dns::wire::{Class, DnsPacket, HeaderRepr, MessageBuilder, Name, Opcode, Rcode, Rtype};
use crate::dns::wire::{Counts, HEADER_LEN};
use crate::stack_cli::StackSettings;
use eth::{NextHop, SendStatus, Stack};
use nmio::{Clock, EventLoop, Instant, MonotonicClock, Port, TxQueue};
use std::fmt;
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use udpip::{Datagram, Udp, UdpApp, UdpOut};

/// Longest slice of the event loop between checks of the stop conditions.
const SLICE: Duration = Duration::from_millis(100);
/// Most queries in flight: the id's 16 bits index the table.
const MAX_OUTSTANDING: usize = 1 << 16;
/// Most source ports.
const MAX_SOURCES: usize = 4096;
/// The rate cap's bucket holds this much sending time, so a pass that comes late (the
/// timer wheel's 1 ms tick, a busy pass) catches up, but a stall does not end in a flood.
const RATE_BURST: Duration = Duration::from_millis(2);

/// Options of `loadgen dns` (next to the backend and stack options).
#[derive(clap::Args, Clone, Debug)]
pub struct DnsArgs {
    /// The server to query (port 53 unless given).
    #[arg(long, value_name = "IP[:PORT]")]
    pub server: String,
    /// Queries in dnsperf's data file format: one `NAME TYPE` per line, `#` comments.
    #[arg(long, value_name = "FILE")]
    pub queries: Option<PathBuf>,
    /// A query, "NAME TYPE" (repeatable; after those of --queries).
    #[arg(long = "query", value_name = "NAME TYPE")]
    pub query: Vec<String>,
    /// Most queries in flight at once (dnsperf -q).
    #[arg(long, value_name = "N", default_value_t = 512)]
    pub outstanding: usize,
    /// Source UDP ports, used in turn (dnsperf -c).
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub sources: usize,
    /// Send at most this many queries per second [default: as fast as the window allows].
    #[arg(long, value_name = "QPS")]
    pub rate: Option<f64>,
    /// Seconds after which an unanswered query counts as lost.
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    pub timeout: f64,
    /// Stop after sending this many queries.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Add an EDNS(0) OPT record advertising this UDP payload size (0: none).
    #[arg(long, value_name = "BYTES")]
    pub edns: Option<u16>,
}

/// What a run did, printed (`Display`) with dnsperf's labels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DnsReport {
    /// Queries handed to the stack (sent, or held for ARP).
    pub sent: u64,
    /// Answers that matched an outstanding query in time.
    pub completed: u64,
    /// Queries not answered within the timeout (also those still out at the end).
    pub lost: u64,
    /// Datagrams to our source ports that matched no outstanding query.
    pub unexpected: u64,
    /// Completed answers with TC set.
    pub truncated: u64,
    /// Completed answers by the header's RCODE (0..=15).
    pub rcodes: [u64; 16],
    /// From the first query sent to the last (dnsperf's run time).
    pub run_time: Duration,
    /// Sum of the completed queries' latencies.
    pub latency_total: Duration,
    /// Sum of their squares, in seconds squared (for the standard deviation).
    pub latency_squares: f64,
    /// Smallest latency (zero before the first answer).
    pub latency_min: Duration,
    /// Largest latency.
    pub latency_max: Duration,
    /// DNS payload bytes of the queries sent.
    pub request_bytes: u64,
    /// DNS payload bytes of the completed answers.
    pub response_bytes: u64,
}

impl DnsReport {
    /// Completed answers with `rcode` (its header bits).
    pub fn rcode(&self, rcode: Rcode) -> u64 {
        self.rcodes[usize::from(rcode.header_bits() & 15)]
    }

    /// Completed answers with an RCODE other than NOERROR, FORMERR, SERVFAIL, NXDOMAIN,
    /// NOTIMP and REFUSED.
    pub fn other_rcodes(&self) -> u64 {
        self.rcodes[6..].iter().sum()
    }

    /// Completed queries per second of run time (dnsperf's "Queries per second").
    pub fn queries_per_second(&self) -> f64 {
        let secs = self.run_time.as_secs_f64();
        if secs > 0.0 {
            self.completed as f64 / secs
        } else {
            0.0
        }
    }

    /// Mean latency of the completed queries.
    pub fn average_latency(&self) -> Duration {
        match self.completed {
            0 => Duration::ZERO,
            n => self.latency_total / n.min(u64::from(u32::MAX)) as u32,
        }
    }

    /// Standard deviation of the latency, in seconds.
    pub fn latency_stddev(&self) -> f64 {
        if self.completed < 2 {
            return 0.0;
        }
        let n = self.completed as f64;
        let mean = self.latency_total.as_secs_f64() / n;
        let var = (self.latency_squares - n * mean * mean) / (n - 1.0);
        var.max(0.0).sqrt()
    }
}

/// Percent of `part` in `whole`, 0 for an empty whole.
fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// RCODE names as dnsperf prints them (RFC 1035 4.1.1, RFC 2136 2.2).
fn rcode_name(code: usize) -> String {
    const NAMES: [&str; 11] = [
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
        "NXRRSET", "NOTAUTH", "NOTZONE",
    ];
    NAMES
        .get(code)
        .map_or_else(|| format!("RCODE{code}"), |n| n.to_string())
}

impl fmt::Display for DnsReport {
    /// dnsperf's "Statistics:" block, same labels and number formats, plus our
    /// `Unexpected answers:` and `Truncated:` lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Statistics:")?;
        writeln!(f)?;
        writeln!(f, "  Queries sent:         {}", self.sent)?;
        writeln!(
            f,
            "  Queries completed:    {} ({:.2}%)",
            self.completed,
            percent(self.completed, self.sent)
        )?;
        writeln!(
            f,
            "  Queries lost:         {} ({:.2}%)",
            self.lost,
            percent(self.lost, self.sent)
        )?;
        writeln!(f, "  Unexpected answers:   {}", self.unexpected)?;
        writeln!(f, "  Truncated:            {}", self.truncated)?;
        writeln!(f)?;
        if self.completed > 0 {
            let codes: Vec<String> = (0..16)
                .filter(|&c| self.rcodes[c] > 0)
                .map(|c| {
                    format!(
                        "{} {} ({:.2}%)",
                        rcode_name(c),
                        self.rcodes[c],
                        percent(self.rcodes[c], self.completed)
                    )
                })
                .collect();
            writeln!(f, "  Response codes:       {}", codes.join(", "))?;
        }
        writeln!(
            f,
            "  Average packet size:  request {}, response {}",
            self.request_bytes.checked_div(self.sent).unwrap_or(0),
            self.response_bytes.checked_div(self.completed).unwrap_or(0)
        )?;
        writeln!(
            f,
            "  Run time (s):         {:.6}",
            self.run_time.as_secs_f64()
        )?;
        writeln!(
            f,
            "  Queries per second:   {:.6}",
            self.queries_per_second()
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "  Average Latency (s):  {:.6} (min {:.6}, max {:.6})",
            self.average_latency().as_secs_f64(),
            self.latency_min.as_secs_f64(),
            self.latency_max.as_secs_f64()
        )?;
        writeln!(f, "  Latency StdDev (s):   {:.6}", self.latency_stddev())
    }
}

// ---------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------

/// Every distinct query's wire bytes (id 0), back to back.
#[derive(Clone, Debug, Default)]
struct Queries {
    bytes: Vec<u8>,
    /// Start and length of each query in `bytes`, and its question's length.
    spans: Vec<Span>,
}

#[derive(Clone, Copy, Debug)]
struct Span {
    start: u32,
    len: u16,
    question_len: u16,
}

impl Queries {
    fn len(&self) -> usize {
        self.spans.len()
    }

    /// Query `i`'s wire bytes.
    #[inline]
    fn wire(&self, i: usize) -> &[u8] {
        let s = self.spans[i];
        &self.bytes[s.start as usize..s.start as usize + usize::from(s.len)]
    }

    /// Query `i`'s question section (name, type, class).
    #[inline]
    fn question(&self, i: usize) -> &[u8] {
        let s = self.spans[i];
        let at = s.start as usize + HEADER_LEN;
        &self.bytes[at..at + usize::from(s.question_len)]
    }

    /// Add a query for `name` `qtype` IN, with an OPT record of `edns` bytes if given.
    fn push(&mut self, name: &Name, qtype: Rtype, edns: Option<u16>) {
        let mut buf = [0u8; HEADER_LEN + 255 + 4 + 11];
        let len = template(&mut buf, name, qtype, edns);
        self.spans.push(Span {
            start: self.bytes.len() as u32,
            len: len as u16,
            question_len: (name.len() + 4) as u16,
        });
        self.bytes.extend_from_slice(&buf[..len]);
    }
}

/// Write a query for `name` `qtype` IN into `buf` (at least 282 bytes: header, the
/// longest name, type and class, an OPT record): id 0, opcode QUERY, RD clear (RFC 1035
/// 4.1.1; an authoritative server does not recurse), one question, and an OPT record
/// (RFC 6891 6.1.2, version 0, DO clear) with `edns`'s UDP size when given and not 0.
/// Returns the length.
fn template(buf: &mut [u8], name: &Name, qtype: Rtype, edns: Option<u16>) -> usize {
    let mut b = MessageBuilder::new(buf).expect("the buffer holds a header");
    b.header(&HeaderRepr {
        id: 0,
        qr: false,
        opcode: Opcode::QUERY,
        aa: false,
        tc: false,
        rd: false,
        ra: false,
        ad: false,
        cd: false,
        rcode: Rcode::NOERROR,
        counts: Counts::default(),
    });
    b.question(name, qtype, Class::IN)
        .expect("the buffer holds the longest question");
    if let Some(size) = edns.filter(|&s| s != 0) {
        b.opt(size, 0, 0, false)
            .expect("the buffer holds the OPT record");
    }
    b.finish()
}

/// One `NAME TYPE` query (a line of a data file or a `--query`).
fn parse_query(text: &str) -> Result<(Name, Rtype), String> {
    let mut words = text.split_whitespace();
    let (Some(name), Some(qtype), None) = (words.next(), words.next(), words.next()) else {
        return Err(format!("expected NAME TYPE, got {:?}", text.trim()));
    };
    let name = Name::from_ascii(name).map_err(|e| format!("name {name:?}: {e}"))?;
    let qtype = qtype
        .parse::<Rtype>()
        .map_err(|_| format!("unknown query type {qtype:?} (a mnemonic like AAAA, or TYPEnnn)"))?;
    Ok((name, qtype))
}

/// The queries of a data file's text (`path` names it in errors): one `NAME TYPE` per
/// line; blank lines and lines starting with `#` are skipped.
fn parse_data_file(text: &str, path: &Path) -> Result<Vec<(Name, Rtype)>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let q = parse_query(line).map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?;
        out.push(q);
    }
    Ok(out)
}

/// The queries `args` ask for, built (the file's first, then each `--query`).
fn load_queries(args: &DnsArgs) -> Result<Queries, String> {
    let mut list = Vec::new();
    if let Some(path) = &args.queries {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--queries {}: {e}", path.display()))?;
        list = parse_data_file(&text, path)?;
        if list.is_empty() {
            return Err(format!("--queries {}: no queries in it", path.display()));
        }
    }
    for q in &args.query {
        list.push(parse_query(q).map_err(|e| format!("--query {q:?}: {e}"))?);
    }
    if list.is_empty() {
        return Err("no queries: give --queries FILE or --query \"NAME TYPE\"".into());
    }
    let mut queries = Queries::default();
    for (name, qtype) in &list {
        queries.push(name, *qtype, args.edns);
    }
    Ok(queries)
}

/// `IP` or `IP:PORT` (port 53 by default).
fn parse_server(s: &str) -> Result<SocketAddrV4, String> {
    let bad = || format!("--server {s:?}: expected IP or IP:PORT, like 10.0.0.2:53");
    let addr = match s.parse::<SocketAddrV4>() {
        Ok(a) => a,
        Err(_) => SocketAddrV4::new(s.parse().map_err(|_| bad())?, 53),
    };
    if addr.port() == 0 {
        return Err(format!("--server {s:?}: port 0 cannot be queried"));
    }
    Ok(addr)
}

// ---------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------

/// [`DnsArgs`] checked, with the queries built.
#[derive(Clone, Debug)]
struct Settings {
    server: SocketAddrV4,
    queries: Queries,
    outstanding: usize,
    sources: usize,
    rate: Option<f64>,
    timeout: Duration,
    count: Option<u64>,
}

impl Settings {
    fn from_args(args: &DnsArgs, stack: &StackSettings) -> Result<Settings, String> {
        let server = parse_server(&args.server)?;
        if stack.duration.is_none() && args.count.is_none() {
            return Err("give --duration SECS or --count N (or both)".into());
        }
        if args.count == Some(0) {
            return Err("--count must be at least 1".into());
        }
        if !(1..=MAX_OUTSTANDING).contains(&args.outstanding) {
            return Err(format!(
                "--outstanding {} is not in 1..={MAX_OUTSTANDING} (the DNS id is 16 bits)",
                args.outstanding
            ));
        }
        if !(1..=MAX_SOURCES).contains(&args.sources) {
            return Err(format!(
                "--sources {} is not in 1..={MAX_SOURCES}",
                args.sources
            ));
        }
        let rate = match args.rate {
            Some(r) if !(r.is_finite() && r > 0.0) => {
                return Err(format!("--rate {r}: not a positive number of queries/s"))
            }
            r => r,
        };
        let timeout = crate::stack_cli::seconds("--timeout", Some(args.timeout))?
            .filter(|t| !t.is_zero())
            .ok_or_else(|| format!("--timeout {}: must be more than 0 s", args.timeout))?;
        Ok(Settings {
            server,
            queries: load_queries(args)?,
            outstanding: args.outstanding,
            sources: args.sources,
            rate,
            timeout,
            count: args.count,
        })
    }
}

// ---------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------

/// An outstanding query.
#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    /// Send time (the pass's), ns.
    sent: u64,
    /// The template it was copied from.
    query: u32,
    /// Its id.
    id: u16,
    /// Its source port's index.
    source: u16,
    /// Bumped at every use, so a reused entry gets another id.
    generation: u16,
    busy: bool,
}

/// The fixed table of outstanding queries, indexed by the id's low bits.
#[derive(Debug)]
struct Table {
    entries: Vec<Entry>,
    /// Free entries (a stack: the entry just freed is the warmest in cache).
    free: Vec<u16>,
    /// The id's bits that index `entries`.
    index_mask: u16,
    index_bits: u32,
}

impl Table {
    fn new(capacity: usize) -> Table {
        let size = capacity.next_power_of_two();
        Table {
            entries: vec![Entry::default(); capacity],
            free: (0..capacity).rev().map(|i| i as u16).collect(),
            index_mask: (size - 1) as u16,
            index_bits: size.trailing_zeros(),
        }
    }

    fn in_flight(&self) -> usize {
        self.entries.len() - self.free.len()
    }

    /// Take a free entry for query `query` from source `source` at `now`; its id.
    #[inline]
    fn take(&mut self, query: u32, source: u16, now: Instant) -> Option<u16> {
        let i = self.free.pop()?;
        let e = &mut self.entries[usize::from(i)];
        e.generation = e.generation.wrapping_add(1);
        // With 16 index bits there are no generation bits (the shift is 16).
        let generation = (u32::from(e.generation) << self.index_bits) as u16;
        e.id = generation | i;
        e.query = query;
        e.source = source;
        e.sent = now.as_nanos();
        e.busy = true;
        Some(e.id)
    }

    /// The busy entry `id` names, if any.
    #[inline]
    fn get(&self, id: u16) -> Option<&Entry> {
        self.entries
            .get(usize::from(id & self.index_mask))
            .filter(|e| e.busy && e.id == id)
    }

    /// Free the entry of `id` (which must be busy).
    #[inline]
    fn release(&mut self, id: u16) {
        let i = id & self.index_mask;
        self.entries[usize::from(i)].busy = false;
        self.free.push(i);
    }

    /// Free every entry sent before `cutoff` (ns); how many.
    fn expire(&mut self, cutoff: u64) -> u64 {
        let mut n = 0;
        for (i, e) in self.entries.iter_mut().enumerate() {
            if e.busy && e.sent < cutoff {
                e.busy = false;
                self.free.push(i as u16);
                n += 1;
            }
        }
        n
    }
}

/// The rate cap: a token bucket refilled at the rate, holding [`RATE_BURST`] of it.
#[derive(Debug)]
struct Pacer {
    per_ns: f64,
    burst: f64,
    tokens: f64,
    last: u64,
}

impl Pacer {
    fn new(rate: f64) -> Pacer {
        let per_ns = rate / 1e9;
        Pacer {
            per_ns,
            burst: (per_ns * RATE_BURST.as_nanos() as f64).max(1.0),
            tokens: 1.0,
            last: 0,
        }
    }

    fn refill(&mut self, now: Instant) {
        let now = now.as_nanos();
        if self.last != 0 {
            let add = now.saturating_sub(self.last) as f64 * self.per_ns;
            self.tokens = (self.tokens + add).min(self.burst);
        }
        self.last = now;
    }

    #[inline]
    fn take(&mut self) -> bool {
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The DNS client, a [`UdpApp`].
#[derive(Debug)]
struct Client {
    server: SocketAddrV4,
    queries: Queries,
    /// Source ports are `base_port..base_port + sources`.
    base_port: u16,
    sources: u16,
    table: Table,
    next_query: usize,
    next_source: u16,
    /// Queries still to send when `--count` was given.
    remaining: Option<u64>,
    sending: bool,
    /// A query was held for ARP: send no more until the server's next hop is known.
    awaiting_arp: bool,
    pacer: Option<Pacer>,
    timeout: Duration,
    /// The timer's period, and when to sweep the table next.
    tick: Duration,
    sweep_every: Duration,
    next_sweep: Instant,
    first_send: Option<Instant>,
    last_send: Instant,
    report: DnsReport,
}

impl Client {
    fn new(s: &Settings, base_port: u16) -> Client {
        // A tenth of the timeout, so a loss is seen at most 10 % late.
        let sweep_every = (s.timeout / 10).clamp(Duration::from_millis(1), SLICE);
        Client {
            server: s.server,
            queries: s.queries.clone(),
            base_port,
            sources: s.sources as u16,
            table: Table::new(s.outstanding),
            next_query: 0,
            next_source: 0,
            remaining: s.count,
            sending: true,
            awaiting_arp: false,
            pacer: s.rate.map(Pacer::new),
            timeout: s.timeout,
            tick: if s.rate.is_some() {
                Duration::from_millis(1)
            } else {
                sweep_every
            },
            sweep_every,
            next_sweep: Instant::ZERO,
            first_send: None,
            last_send: Instant::ZERO,
            report: DnsReport::default(),
        }
    }

    fn in_flight(&self) -> usize {
        self.table.in_flight()
    }

    /// Whether it will send no more (the count is reached, or it was told to stop).
    fn done_sending(&self) -> bool {
        !self.sending
    }

    fn stop_sending(&mut self) {
        self.sending = false;
    }

    /// The report so far; queries still outstanding count as lost.
    fn report(&self) -> DnsReport {
        let mut r = self.report.clone();
        r.lost += self.in_flight() as u64;
        if let Some(first) = self.first_send {
            r.run_time = self.last_send - first;
        }
        r
    }

    /// Send queries while the window, the rate, the count and the TX ring allow.
    #[inline]
    fn fill<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>) {
        if !self.sending {
            return;
        }
        let now = out.now();
        if self.awaiting_arp {
            // Once the held query is answered or lost, another may ask again.
            if !self.next_hop_known(out) && self.in_flight() > 0 {
                return;
            }
            self.awaiting_arp = false;
        }
        if let Some(p) = &mut self.pacer {
            p.refill(now);
        }
        let mut room = out.tx_space();
        while room > 0 {
            if self.remaining == Some(0) {
                self.sending = false;
                break;
            }
            if self.pacer.as_mut().is_some_and(|p| !p.take()) {
                break;
            }
            let (query, source) = (self.next_query, self.next_source);
            let Some(id) = self.table.take(query as u32, source, now) else {
                // The window is full; a token taken is given back.
                if let Some(p) = &mut self.pacer {
                    p.tokens += 1.0;
                }
                break;
            };
            let wire = self.queries.wire(query);
            let st = out.send_with(self.base_port + source, self.server, |buf| {
                let Some(slot) = buf.get_mut(..wire.len()) else {
                    return usize::MAX; // never: a query is at most 282 bytes
                };
                slot.copy_from_slice(wire);
                slot[..2].copy_from_slice(&id.to_be_bytes());
                wire.len()
            });
            if st == SendStatus::Dropped {
                self.table.release(id);
                break;
            }
            room -= 1;
            self.report.sent += 1;
            self.report.request_bytes += wire.len() as u64;
            self.first_send.get_or_insert(now);
            self.last_send = now;
            if let Some(r) = &mut self.remaining {
                *r -= 1;
            }
            self.next_query += 1;
            if self.next_query == self.queries.len() {
                self.next_query = 0;
            }
            self.next_source += 1;
            if self.next_source == self.sources {
                self.next_source = 0;
            }
            if st == SendStatus::Held {
                // The first queries wait for ARP; the hold queue takes only a few.
                self.awaiting_arp = true;
                break;
            }
        }
    }

    /// Whether the server's next hop has a MAC (sends go out at once).
    fn next_hop_known<Tx: TxQueue>(&self, out: &UdpOut<'_, '_, Tx>) -> bool {
        match out.iface().route(*self.server.ip()) {
            Some(NextHop::Unicast(ip)) => out.iface().arp().lookup(ip).is_some(),
            Some(NextHop::Broadcast) | None => true,
        }
    }

    /// Match an answer that came from `src` to our port `dst_port` at `now`.
    #[inline]
    fn on_answer(&mut self, now: Instant, src: SocketAddrV4, dst_port: u16, msg: &[u8]) {
        let source = dst_port.wrapping_sub(self.base_port);
        let matched = if src == self.server && source < self.sources {
            self.match_answer(source, msg)
        } else {
            None
        };
        let Some((id, sent)) = matched else {
            self.report.unexpected += 1;
            return;
        };
        self.table.release(id);
        let latency = now.saturating_since(Instant::from_nanos(sent));
        let r = &mut self.report;
        if latency > self.timeout {
            // dnsperf counts it lost too: the sweep could have freed it already.
            r.lost += 1;
            return;
        }
        let p = DnsPacket::new_unchecked(msg);
        r.completed += 1;
        r.rcodes[usize::from(p.rcode() & 15)] += 1;
        r.truncated += u64::from(p.tc());
        r.response_bytes += msg.len() as u64;
        r.latency_total += latency;
        r.latency_squares += latency.as_secs_f64() * latency.as_secs_f64();
        if r.completed == 1 || latency < r.latency_min {
            r.latency_min = latency;
        }
        r.latency_max = r.latency_max.max(latency);
    }

    /// The id and send time of the outstanding query `msg` answers, if any: a response
    /// (QR) with one question, whose id names a busy entry sent from `source`, and whose
    /// question is the query's (the name in any case, RFC 4343; type and class exact).
    #[inline]
    fn match_answer(&self, source: u16, msg: &[u8]) -> Option<(u16, u64)> {
        let p = DnsPacket::new_checked(msg).ok()?;
        if !p.qr() || p.qdcount() != 1 {
            return None;
        }
        let e = self.table.get(p.id())?;
        if e.source != source {
            return None;
        }
        let asked = self.queries.question(e.query as usize);
        let got = msg.get(HEADER_LEN..HEADER_LEN + asked.len())?;
        let name_len = asked.len() - 4;
        let same = got[..name_len].eq_ignore_ascii_case(&asked[..name_len])
            && got[name_len..] == asked[name_len..];
        same.then_some((e.id, e.sent))
    }

    /// Count as lost every query sent more than the timeout before `now`.
    fn sweep(&mut self, now: Instant) {
        let cutoff = now
            .as_nanos()
            .saturating_sub(self.timeout.as_nanos() as u64);
        self.report.lost += self.table.expire(cutoff);
    }
}

impl UdpApp for Client {
    fn on_start<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>) {
        let now = out.now();
        self.next_sweep = now + self.sweep_every;
        out.set_timer(now + self.tick, 0);
        self.fill(out);
    }

    #[inline]
    fn on_datagram<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>, d: Datagram<'_>) {
        self.on_answer(out.now(), d.src, d.dst.port(), d.payload);
    }

    fn on_timer<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>, _: u64) {
        let now = out.now();
        if now >= self.next_sweep {
            self.sweep(now);
            self.next_sweep = now + self.sweep_every;
        }
        if self.sending || self.in_flight() > 0 {
            out.set_timer(now + self.tick, 0);
        }
        // The loop calls `on_batch_end` after the timers, which sends.
    }

    #[inline]
    fn on_batch_end<Tx: TxQueue>(&mut self, out: &mut UdpOut<'_, '_, Tx>) {
        self.fill(out);
    }
}

/// Bind `n` consecutive ports of the ephemeral range; the first.
fn bind_sources<A>(udp: &mut Udp<A>, n: usize) -> Result<u16, String> {
    let (lo, hi) = (
        *udpip::ports::EPHEMERAL.start(),
        *udpip::ports::EPHEMERAL.end(),
    );
    let mut base = u32::from(lo);
    while base + n as u32 - 1 <= u32::from(hi) {
        let range = base..base + n as u32;
        match range.clone().find(|&p| udp.ports().contains(p as u16)) {
            Some(taken) => base = taken + 1,
            None => {
                for p in range {
                    udp.bind(p as u16).map_err(|e| e.to_string())?;
                }
                return Ok(base as u16);
            }
        }
    }
    Err(format!("no {n} consecutive free UDP ports for --sources"))
}

/// [`DnsArgs`] checked and the query file read: what [`run_job`] runs.
pub struct DnsJob(Settings);

/// Check `args` (and read the query file) before a port is opened, so bad input is one
/// error line and touches no device.
pub fn check(args: &DnsArgs, stack: &StackSettings) -> Result<DnsJob, String> {
    Settings::from_args(args, stack).map(DnsJob)
}

/// Run the load on `port` with the interface `stack` describes: send until the duration
/// passes, `--count` queries are sent or `stop` is set, then wait up to `--timeout` for the
/// answers still out, and report. Set-up errors are one line.
pub fn run<P: Port>(
    port: P,
    stack: &StackSettings,
    args: &DnsArgs,
    stop: &AtomicBool,
) -> Result<DnsReport, String> {
    run_job(port, stack, &check(args, stack)?, stop)
}

/// [`run`] for arguments already [`check`]ed.
pub fn run_job<P: Port>(
    port: P,
    stack: &StackSettings,
    job: &DnsJob,
    stop: &AtomicBool,
) -> Result<DnsReport, String> {
    let s = &job.0;
    let cfg = stack.iface_config_for(port.caps());
    let rings = (port.caps().rx_ring_size, port.caps().tx_ring_size);
    let mut udp = Udp::new(Client::new(s, 0));
    let base = bind_sources(&mut udp, s.sources)?;
    udp.app_mut().base_port = base;
    let mut net = Stack::new(cfg, udp, MonotonicClock.now()).map_err(|e| e.to_string())?;
    if net.iface().route(*s.server.ip()).is_none() {
        return Err(format!(
            "--server {}: not on {}/{} and no --gateway",
            s.server.ip(),
            stack.addr,
            stack.prefix_len
        ));
    }
    let mut ev = EventLoop::new(port, MonotonicClock, stack.loop_config());
    eprintln!(
        "loadgen dns: {}/{} -> {}, {} distinct queries, {} outstanding from {} ports{}, rings rx {} tx {}",
        stack.addr,
        stack.prefix_len,
        s.server,
        s.queries.len(),
        s.outstanding,
        s.sources,
        s.rate.map(|r| format!(", at most {r} q/s")).unwrap_or_default(),
        rings.0,
        rings.1
    );
    net.start_on(&mut ev);

    let start = std::time::Instant::now();
    let end = stack.duration.map(|d| start + d);
    let mut last = (start, DnsReport::default());
    let print_stats = |net: &Stack<Udp<Client>>, last: &mut (std::time::Instant, DnsReport)| {
        if stack.quiet || last.0.elapsed() < Duration::from_secs(1) {
            return;
        }
        let c = net.upper().app();
        let r = &c.report;
        let secs = last.0.elapsed().as_secs_f64();
        eprintln!(
            "{:.0} queries/s sent, {:.0} answered, {} lost, {} unexpected, {} in flight",
            (r.sent - last.1.sent) as f64 / secs,
            (r.completed - last.1.completed) as f64 / secs,
            r.lost - last.1.lost,
            r.unexpected - last.1.unexpected,
            c.in_flight()
        );
        *last = (std::time::Instant::now(), r.clone());
    };
    // Sending.
    loop {
        let now = std::time::Instant::now();
        if stop.load(Ordering::Relaxed)
            || end.is_some_and(|e| now >= e)
            || net.upper().app().done_sending()
        {
            break;
        }
        let slice = end.map_or(SLICE, |e| e.saturating_duration_since(now).min(SLICE));
        ev.run_for(&mut net, slice);
        print_stats(&net, &mut last);
    }
    net.upper_mut().app_mut().stop_sending();
    // The answers still out, for at most the timeout.
    let drain_end = std::time::Instant::now() + s.timeout;
    while net.upper().app().in_flight() > 0 {
        let now = std::time::Instant::now();
        if now >= drain_end {
            break;
        }
        ev.run_for(&mut net, (drain_end - now).min(SLICE));
        print_stats(&net, &mut last);
    }
    ev.flush();
    if !stack.quiet {
        eprintln!(
            "stats: {} {} {}",
            net.stats(),
            net.upper().stats(),
            ev.stats().port
        );
    }
    Ok(net.upper().app().report())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::prepare::prepare;
    use crate::dns::server::DnsServer;
    use crate::dns::zone;
    use eth::wire::Ipv4Addr;
    use eth::IfaceConfig;
    use nmio::backend::pipe::{self, PipeConfig};
    use nmio::LoopConfig;
    use std::rc::Rc;
    use std::sync::Arc;

    const SERVER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 53);

    fn args(queries: &[&str]) -> DnsArgs {
        DnsArgs {
            server: "192.0.2.1".into(),
            queries: None,
            query: queries.iter().map(|q| q.to_string()).collect(),
            outstanding: 512,
            sources: 8,
            rate: None,
            timeout: 1.0,
            count: Some(1),
            edns: None,
        }
    }

    fn stack_settings() -> StackSettings {
        StackSettings {
            addr: Ipv4Addr::new(192, 0, 2, 2),
            prefix_len: 24,
            gateway: None,
            static_arp: Vec::new(),
            reachable: None,
            expire: None,
            duration: None,
            quiet: true,
            busy_poll: false,
            idle_spin: Duration::ZERO,
        }
    }

    fn client(queries: &[&str], outstanding: usize) -> Client {
        let mut a = args(queries);
        a.outstanding = outstanding;
        let s = Settings::from_args(&a, &stack_settings()).unwrap();
        Client::new(&s, 50_000)
    }

    fn at(ms: u64) -> Instant {
        Instant::from_millis(1_000 + ms)
    }

    /// The answer a server would send to the query of `c`'s entry `id`: the query with QR,
    /// AA and `rcode` set.
    fn answer(c: &Client, id: u16, rcode: u8) -> Vec<u8> {
        let e = c.table.get(id).expect("outstanding");
        let mut msg = c.queries.wire(e.query as usize).to_vec();
        let mut p = DnsPacket::new_unchecked(&mut msg[..]);
        p.set_id(id);
        p.set_qr(true);
        p.set_aa(true);
        p.set_rcode(Rcode(u16::from(rcode)));
        msg
    }

    // ---- queries ----------------------------------------------------------------------

    #[test]
    fn a_data_file_gives_one_query_per_line_skipping_comments_and_blank_lines() {
        let text = "# dnsperf input\n\nwww.example.com A\n  Example.COM.   aaaa  \n\
                    # another comment\n_sip._tcp.example.com SRV\nx.test TYPE65\nx.test caa\n";
        let got = parse_data_file(text, Path::new("q.txt")).unwrap();
        let got: Vec<String> = got.iter().map(|(n, t)| format!("{n} {t}")).collect();
        assert_eq!(
            got,
            [
                "www.example.com. A",
                "Example.COM. AAAA",
                "_sip._tcp.example.com. SRV",
                "x.test. TYPE65",
                "x.test. CAA"
            ]
        );
    }

    #[test]
    fn every_dnsperf_type_mnemonic_is_known() {
        for t in [
            "A", "AAAA", "NS", "CNAME", "SOA", "MX", "TXT", "SRV", "PTR", "CAA", "DS", "ANY",
            "TYPE999",
        ] {
            assert!(parse_query(&format!("example.com {t}")).is_ok(), "{t}");
        }
    }

    #[test]
    fn a_bad_line_is_named_by_file_and_line_with_the_reason() {
        let bad = |text: &str| parse_data_file(text, Path::new("q.txt")).unwrap_err();
        assert_eq!(
            bad("a.test A\n\nwww.example.com\n"),
            "q.txt:3: expected NAME TYPE, got \"www.example.com\""
        );
        assert_eq!(
            bad("# c\nwww.example.com A MX\n"),
            "q.txt:2: expected NAME TYPE, got \"www.example.com A MX\""
        );
        assert_eq!(
            bad("www.example.com QQ\n"),
            "q.txt:1: unknown query type \"QQ\" (a mnemonic like AAAA, or TYPEnnn)"
        );
        assert_eq!(
            bad("a.test A\na..test A\n"),
            "q.txt:2: name \"a..test\": empty label in name"
        );
        let long = format!("{}.test A", "x".repeat(64));
        assert!(bad(&long).starts_with("q.txt:1: name \"xxxx"));
        assert!(bad(&long).ends_with("label longer than 63 octets"));
    }

    #[test]
    fn queries_come_from_the_file_then_each_query_option_and_at_least_one_is_needed() {
        let dir = std::env::temp_dir().join(format!("lgdns-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("q.txt");
        std::fs::write(&file, "one.test A\ntwo.test MX\n").unwrap();
        let mut a = args(&["three.test NS"]);
        a.queries = Some(file.clone());
        let q = load_queries(&a).unwrap();
        assert_eq!(q.len(), 3);
        assert_eq!(q.question(2), b"\x05three\x04test\x00\x00\x02\x00\x01");
        std::fs::write(&file, "# nothing\n").unwrap();
        assert!(load_queries(&a).unwrap_err().contains("no queries in it"));
        a.queries = Some(dir.join("missing.txt"));
        assert!(load_queries(&a).unwrap_err().starts_with("--queries "));
        let none = args(&[]);
        assert!(load_queries(&none).unwrap_err().starts_with("no queries"));
        assert_eq!(
            load_queries(&args(&["a.test"])).unwrap_err(),
            "--query \"a.test\": expected NAME TYPE, got \"a.test\""
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_template_is_a_plain_query_with_rd_clear_and_the_name_as_given() {
        let mut q = Queries::default();
        q.push(
            &Name::from_ascii("Www.Example.com").unwrap(),
            Rtype::AAAA,
            None,
        );
        #[rustfmt::skip]
        let want: &[u8] = &[
            0, 0,       // id: written per query
            0x00, 0x00, // QR=0, opcode QUERY, RD=0
            0, 1, 0, 0, 0, 0, 0, 0, // one question
            3, b'W', b'w', b'w', 7, b'E', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0,
            0, 28, 0, 1, // AAAA IN
        ];
        assert_eq!(q.wire(0), want);
        assert_eq!(q.question(0), &want[12..]);
    }

    #[test]
    fn with_edns_the_template_ends_with_an_opt_record() {
        let mut q = Queries::default();
        q.push(&Name::from_ascii("a.test").unwrap(), Rtype::A, Some(1232));
        q.push(&Name::from_ascii("a.test").unwrap(), Rtype::A, Some(0));
        #[rustfmt::skip]
        let want: &[u8] = &[
            0, 0, 0x00, 0x00,
            0, 1, 0, 0, 0, 0, 0, 1, // one question, one additional
            1, b'a', 4, b't', b'e', b's', b't', 0, 0, 1, 0, 1,
            // RFC 6891 6.1.2: root owner, OPT, UDP size 1232, rcode/version/flags 0, no data
            0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(q.wire(0), want);
        assert_eq!(q.question(0), &want[12..24]);
        // --edns 0: no OPT.
        assert_eq!(q.wire(1).len(), 24);
        assert_eq!(q.wire(1)[11], 0);
    }

    #[test]
    fn server_takes_port_53_unless_given() {
        assert_eq!(parse_server("10.0.0.2"), Ok("10.0.0.2:53".parse().unwrap()));
        assert_eq!(
            parse_server("10.0.0.2:5353"),
            Ok("10.0.0.2:5353".parse().unwrap())
        );
        assert!(parse_server("ns.example")
            .unwrap_err()
            .contains("expected IP or IP:PORT"));
        assert!(parse_server("10.0.0.2:0").unwrap_err().contains("port 0"));
    }

    #[test]
    fn settings_need_a_duration_or_a_count_and_sane_limits() {
        let st = stack_settings();
        let mut a = args(&["a.test A"]);
        a.count = None;
        assert!(Settings::from_args(&a, &st)
            .unwrap_err()
            .contains("--duration SECS or --count N"));
        let mut timed = st.clone();
        timed.duration = Some(Duration::from_secs(1));
        assert!(Settings::from_args(&a, &timed).is_ok());
        let mut a = args(&["a.test A"]);
        a.outstanding = 0;
        assert!(Settings::from_args(&a, &st)
            .unwrap_err()
            .starts_with("--outstanding 0"));
        a.outstanding = 65_537;
        assert!(Settings::from_args(&a, &st).is_err());
        let mut a = args(&["a.test A"]);
        a.sources = 0;
        assert!(Settings::from_args(&a, &st)
            .unwrap_err()
            .starts_with("--sources 0"));
        let mut a = args(&["a.test A"]);
        a.rate = Some(0.0);
        assert!(Settings::from_args(&a, &st)
            .unwrap_err()
            .starts_with("--rate 0"));
        let mut a = args(&["a.test A"]);
        a.timeout = 0.0;
        assert!(Settings::from_args(&a, &st)
            .unwrap_err()
            .starts_with("--timeout 0"));
    }

    // ---- matching ---------------------------------------------------------------------

    #[test]
    fn an_answer_matches_by_id_port_and_question_in_any_case() {
        let mut c = client(&["www.Example.com A"], 16);
        let id = c.table.take(0, 3, at(0)).unwrap();
        let mut msg = answer(&c, id, 0);
        // The server may change the question's case (0x20 randomisation, RFC 4343).
        msg[13..16].copy_from_slice(b"WwW");
        msg[17..24].copy_from_slice(b"EXAMPLE");
        c.on_answer(at(2), SERVER, 50_003, &msg);
        let r = c.report();
        assert_eq!((r.completed, r.unexpected, r.lost), (1, 0, 0));
        assert_eq!(r.rcode(Rcode::NOERROR), 1);
        assert_eq!(r.latency_min, Duration::from_millis(2));
        assert_eq!(r.latency_max, Duration::from_millis(2));
        assert_eq!(c.in_flight(), 0);
        // The same answer again: nothing is outstanding for it any more.
        c.on_answer(at(3), SERVER, 50_003, &msg);
        assert_eq!(c.report().unexpected, 1);
        assert_eq!(c.report().completed, 1);
    }

    #[test]
    fn answers_that_differ_in_id_port_server_question_or_qr_are_unexpected() {
        let mut c = client(&["www.example.com A"], 16);
        let id = c.table.take(0, 1, at(0)).unwrap();
        let good = answer(&c, id, 3);
        let mut cases: Vec<(&str, SocketAddrV4, u16, Vec<u8>)> = Vec::new();
        let mut other_id = good.clone();
        other_id[..2].copy_from_slice(&(id ^ 0x8000).to_be_bytes());
        cases.push(("another id", SERVER, 50_001, other_id));
        cases.push(("another source port", SERVER, 50_002, good.clone()));
        cases.push(("not one of ours", SERVER, 40_000, good.clone()));
        cases.push((
            "another server",
            SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 9), 53),
            50_001,
            good.clone(),
        ));
        cases.push((
            "the server's other port",
            SocketAddrV4::new(*SERVER.ip(), 5353),
            50_001,
            good.clone(),
        ));
        let mut other_name = good.clone();
        other_name[13] = b'x';
        cases.push(("another name", SERVER, 50_001, other_name));
        let mut other_type = good.clone();
        let t = 12 + 17;
        other_type[t..t + 2].copy_from_slice(&Rtype::AAAA.0.to_be_bytes());
        cases.push(("another type", SERVER, 50_001, other_type));
        let mut type_by_case = good.clone();
        // Type 0x0061 is not type 0x0041 even though b'a' and b'A' fold.
        type_by_case[t..t + 2].copy_from_slice(&[0, b'a']);
        let mut asked_65 = client(&["a.test TYPE65"], 4);
        let id65 = asked_65.table.take(0, 0, at(0)).unwrap();
        let mut msg65 = answer(&asked_65, id65, 0);
        let t65 = 12 + 8;
        msg65[t65..t65 + 2].copy_from_slice(&[0, b'a']);
        asked_65.on_answer(at(1), SERVER, 50_000, &msg65);
        assert_eq!(asked_65.report().unexpected, 1, "TYPE97 answering TYPE65");
        let mut other_class = good.clone();
        other_class[t + 3] = 3; // CH
        cases.push(("another class", SERVER, 50_001, other_class));
        let mut query = good.clone();
        query[2] &= 0x7f; // QR clear: a query, not an answer
        cases.push(("QR clear", SERVER, 50_001, query));
        let mut no_question = good.clone();
        no_question[5] = 0;
        cases.push(("QDCOUNT 0", SERVER, 50_001, no_question));
        cases.push(("cut in the question", SERVER, 50_001, good[..20].to_vec()));
        cases.push(("under a header", SERVER, 50_001, good[..11].to_vec()));
        for (i, (what, src, port, msg)) in cases.iter().enumerate() {
            c.on_answer(at(1), *src, *port, msg);
            let r = c.report();
            assert_eq!(r.unexpected, i as u64 + 1, "{what}");
            assert_eq!(r.completed, 0, "{what}");
        }
        assert_eq!(c.in_flight(), 1);
        c.on_answer(at(1), SERVER, 50_001, &good);
        let r = c.report();
        assert_eq!((r.completed, r.rcode(Rcode::NXDOMAIN)), (1, 1));
    }

    #[test]
    fn rcodes_and_truncation_are_counted() {
        let mut c = client(&["a.test A"], 64);
        for rcode in [0u8, 0, 1, 2, 3, 3, 3, 4, 5, 9] {
            let id = c.table.take(0, 0, at(0)).unwrap();
            c.on_answer(at(1), SERVER, 50_000, &answer(&c, id, rcode));
        }
        let id = c.table.take(0, 0, at(0)).unwrap();
        let mut tc = answer(&c, id, 0);
        DnsPacket::new_unchecked(&mut tc[..]).set_tc(true);
        c.on_answer(at(1), SERVER, 50_000, &tc);
        let r = c.report();
        assert_eq!(r.completed, 11);
        assert_eq!(r.truncated, 1);
        assert_eq!(&r.rcodes[..6], &[3, 1, 1, 3, 1, 1]);
        assert_eq!(r.other_rcodes(), 1);
        assert_eq!(r.rcodes[9], 1);
    }

    #[test]
    fn a_reused_entry_gets_another_id_so_a_stale_answer_does_not_match() {
        let mut c = client(&["a.test A"], 4);
        let first = c.table.take(0, 0, at(0)).unwrap();
        let stale = answer(&c, first, 0);
        c.sweep(at(1_500));
        assert_eq!(c.report().lost, 1);
        let second = c.table.take(0, 0, at(1_500)).unwrap();
        assert_ne!(first, second);
        assert_eq!(first & 3, second & 3, "the same entry");
        c.on_answer(at(1_501), SERVER, 50_000, &stale);
        assert_eq!(c.report().unexpected, 1);
        let mut ids = std::collections::HashSet::new();
        let mut c = client(&["a.test A"], 4);
        for _ in 0..100 {
            let id = c.table.take(0, 0, at(0)).unwrap();
            ids.insert(id);
            c.table.release(id);
        }
        assert!(ids.len() > 50, "ids vary: {}", ids.len());
    }

    #[test]
    fn every_entry_of_a_full_table_has_a_distinct_id() {
        let mut c = client(&["a.test A"], MAX_OUTSTANDING);
        let mut seen = vec![false; MAX_OUTSTANDING];
        for _ in 0..MAX_OUTSTANDING {
            let id = c.table.take(0, 0, at(0)).unwrap();
            assert!(!seen[usize::from(id)]);
            seen[usize::from(id)] = true;
        }
        assert!(c.table.take(0, 0, at(0)).is_none());
    }

    // ---- timeouts ---------------------------------------------------------------------

    #[test]
    fn the_sweep_loses_only_queries_older_than_the_timeout() {
        let mut c = client(&["a.test A"], 8);
        for _ in 0..3 {
            c.table.take(0, 0, at(0)).unwrap();
        }
        let young = c.table.take(0, 0, at(600)).unwrap();
        c.sweep(at(999));
        assert_eq!((c.report.lost, c.in_flight()), (0, 4), "not yet");
        c.sweep(at(1_100));
        assert_eq!(c.in_flight(), 1);
        assert_eq!(c.report.lost, 3);
        // Freed entries are taken again.
        for _ in 0..7 {
            c.table.take(0, 0, at(1_100)).unwrap();
        }
        assert!(c.table.take(0, 0, at(1_100)).is_none());
        // An answer later than the timeout that the sweep has not seen yet is lost, too.
        let late = answer(&c, young, 0);
        c.on_answer(at(1_700), SERVER, 50_000, &late);
        let r = c.report();
        assert_eq!((r.completed, r.unexpected), (0, 0));
        assert_eq!(c.report.lost, 4);
        // Whatever is still out at the end counts as lost.
        assert_eq!(r.lost, 4 + 7);
    }

    #[test]
    fn the_rate_cap_allows_the_rate_with_a_small_burst() {
        let mut p = Pacer::new(1000.0);
        p.refill(at(0));
        let mut sent = 0;
        for ms in 0..=100 {
            p.refill(at(ms));
            while p.take() {
                sent += 1;
            }
        }
        assert!((100..=102).contains(&sent), "{sent} in 100 ms at 1000/s");
        // A 50 ms stall catches up at most the burst (2 ms worth).
        p.refill(at(150));
        let mut burst = 0;
        while p.take() {
            burst += 1;
        }
        assert_eq!(burst, 2);
    }

    // ---- the report -------------------------------------------------------------------

    #[test]
    fn the_report_prints_dnsperfs_labels() {
        let mut rcodes = [0; 16];
        rcodes[0] = 7180;
        rcodes[3] = 7179;
        let r = DnsReport {
            sent: 14361,
            completed: 14359,
            lost: 2,
            unexpected: 1,
            truncated: 3,
            rcodes,
            run_time: Duration::from_micros(2_000_212),
            latency_total: Duration::from_nanos(65 * 14359 * 1000),
            latency_squares: 0.0,
            latency_min: Duration::from_micros(6),
            latency_max: Duration::from_micros(630),
            request_bytes: 32 * 14361,
            response_bytes: 48 * 14359,
        };
        let text = r.to_string();
        let want = "Statistics:\n\n\
                    \x20 Queries sent:         14361\n\
                    \x20 Queries completed:    14359 (99.99%)\n\
                    \x20 Queries lost:         2 (0.01%)\n\
                    \x20 Unexpected answers:   1\n\
                    \x20 Truncated:            3\n\n\
                    \x20 Response codes:       NOERROR 7180 (50.00%), NXDOMAIN 7179 (50.00%)\n\
                    \x20 Average packet size:  request 32, response 48\n\
                    \x20 Run time (s):         2.000212\n\
                    \x20 Queries per second:   7178.739054\n\n\
                    \x20 Average Latency (s):  0.000065 (min 0.000006, max 0.000630)\n\
                    \x20 Latency StdDev (s):   0.000000\n";
        assert_eq!(text, want);
        // What a script does: awk '/Queries sent:/ {print $3}'.
        let field = |label: &str, n: usize| {
            text.lines()
                .find(|l| l.contains(label))
                .and_then(|l| l.split_whitespace().nth(n))
                .map(str::to_string)
        };
        assert_eq!(field("Queries sent:", 2).as_deref(), Some("14361"));
        assert_eq!(field("Queries lost:", 2).as_deref(), Some("2"));
        assert_eq!(
            field("Queries per second:", 3).as_deref(),
            Some("7178.739054")
        );
        assert_eq!(field("Unexpected answers:", 2).as_deref(), Some("1"));
    }

    #[test]
    fn an_empty_report_prints_zeros_not_nans() {
        let text = DnsReport::default().to_string();
        assert!(text.contains("  Queries completed:    0 (0.00%)"));
        assert!(text.contains("  Queries per second:   0.000000"));
        assert!(!text.contains("NaN") && !text.contains("inf"));
        assert!(!text.contains("Response codes:"));
    }

    // ---- end to end on the pipe -------------------------------------------------------

    /// Our DNS server on one end of an in-memory wire in its own thread, `run` on the
    /// other: every query answered, none lost, RCODEs as the zone says.
    #[test]
    fn twenty_thousand_queries_to_our_server_over_the_pipe_are_all_answered() {
        let (client_port, server_port) = pipe::pair(PipeConfig::default()).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let server_done = done.clone();
        let server = std::thread::spawn(move || {
            let zone_file =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/zones/example.com.zone");
            let zones = [zone::load(&zone_file, None).unwrap()];
            let prepared = Rc::new(prepare(&zones).unwrap());
            let mut cfg = IfaceConfig::for_port(server_port.caps(), *SERVER.ip(), 24);
            cfg.arp.announcements = 0;
            let app = DnsServer::new(prepared, SERVER.port()).with_mode(nmio::PrepMode::PreCopy);
            let mut net = Stack::new(cfg, Udp::new(app), MonotonicClock.now()).unwrap();
            let lc = LoopConfig {
                idle_block: Some(Duration::from_millis(1)),
                ..LoopConfig::default()
            };
            let mut ev = EventLoop::new(server_port, MonotonicClock, lc);
            net.start_on(&mut ev);
            let limit = std::time::Instant::now() + Duration::from_secs(60);
            while !server_done.load(Ordering::Relaxed) && std::time::Instant::now() < limit {
                ev.run_for(&mut net, Duration::from_millis(20));
            }
            net.upper().app().stats()
        });
        let mut a = args(&[
            "www.example.com A",
            "nope.example.com A",
            "HOST.Example.COM A",
        ]);
        a.count = Some(20_000);
        a.outstanding = 128;
        a.sources = 4;
        let mut st = stack_settings();
        st.duration = Some(Duration::from_secs(30)); // a bound, not the stop
        let stop = AtomicBool::new(false);
        let started = std::time::Instant::now();
        let r = run(client_port, &st, &a, &stop);
        done.store(true, Ordering::Relaxed);
        let stats = server.join().unwrap();
        let r = r.unwrap();
        eprintln!("{r}\nserver: {stats:?}\nin {:?}", started.elapsed());
        assert_eq!(r.sent, 20_000);
        assert_eq!((r.completed, r.lost, r.unexpected), (20_000, 0, 0));
        // The queries cycle: 6667 www, 6667 nope (NXDOMAIN), 6666 Host.
        assert_eq!(r.rcode(Rcode::NXDOMAIN), 6667);
        assert_eq!(r.rcode(Rcode::NOERROR), 13_333);
        assert_eq!(r.truncated, 0);
        assert!(r.run_time > Duration::ZERO && r.queries_per_second() > 0.0);
        assert!(r.latency_min <= r.average_latency() && r.average_latency() <= r.latency_max);
        assert_eq!(stats.noerror + stats.nxdomain, 20_000);
    }

    #[test]
    fn a_server_that_never_answers_loses_the_queries_after_the_timeout() {
        let (client_port, _silent) = pipe::pair(PipeConfig::default()).unwrap();
        let mut a = args(&["a.test A"]);
        a.count = Some(5);
        a.timeout = 0.2;
        let stop = AtomicBool::new(false);
        let started = std::time::Instant::now();
        let r = run(client_port, &stack_settings(), &a, &stop).unwrap();
        // Held for ARP, which is never answered: one query at a time, all lost.
        assert_eq!(r.completed, 0);
        assert_eq!(r.lost, r.sent);
        assert!(r.sent >= 1);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
