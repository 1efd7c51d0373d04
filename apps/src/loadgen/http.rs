//! HTTP/1.1 load on the stack's own TCP: `--connections` connections kept busy with `GET`
//! requests, in keep-alive (the next request as soon as a response is complete) or with a
//! new connection per request (`--close`: the request carries `Connection: close`, and a
//! fresh connection starts as soon as the response is complete, as `wrk -H "Connection:
//! close"` does).
//!
//! Responses are framed by `Content-Length` (or by the server's close when it has none);
//! the head is parsed with `httparse`. A response that cannot be framed (chunked, a head
//! over 16 KiB, more bytes than announced) is a protocol error and its connection is
//! aborted. Every outcome is counted: status classes, connect / read / write / timeout
//! errors (wrk's categories), protocol errors, and latency from request to the last byte
//! of its response. The report prints wrk's labels (`N requests in`, `Requests/sec:`,
//! `Non-2xx or 3xx responses:`, `Socket errors:`), so a script reads either tool.
//!
//! The per-request path allocates nothing: requests are built at start-up, every
//! connection slot keeps its head buffer, and latencies go into a fixed histogram.

use crate::stack_cli::StackSettings;
use clap::Args;
use eth::Stack;
use nmio::{Clock, EventLoop, MonotonicClock, Port, PrepMode};
use std::fmt;
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tcpip::siphash::Key;
use tcpip::{CloseReason, Conn, Handle, Tcp, TcpApp, TcpConfig, TcpCore};

/// The ISN key of every run (see [`run`]).
const LOADGEN_ISN_KEY: Key = Key([0x6c6f_6164_6765_6e21, 0x6973_6e20_6b65_7921]);
/// Longest response head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Headers parsed per response.
const MAX_HEADERS: usize = 32;
/// How often timeouts are swept and the stats line considered.
const SLICE: Duration = Duration::from_millis(20);
/// After the run: how long responses in flight may still complete, at most.
const DRAIN: Duration = Duration::from_secs(1);
/// A connection whose response is complete but whose peer has not closed it this long
/// after is closed from our side (a server that ignores `Connection: close`).
const LINGER: Duration = Duration::from_secs(1);

/// `loadgen http` options.
#[derive(Args, Clone, Debug)]
pub struct HttpArgs {
    /// Server address and port.
    #[arg(long, value_name = "IP:PORT")]
    pub server: SocketAddrV4,
    /// Path to request (repeatable: requests cycle through them) [default: /].
    #[arg(long = "path", value_name = "PATH")]
    pub paths: Vec<String>,
    /// Host header [default: the server's address].
    #[arg(long)]
    pub host: Option<String>,
    /// Connections kept busy at once (wrk's -c).
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// A new connection per request (`Connection: close`).
    #[arg(long)]
    pub close: bool,
    /// Stop after this many requests (without it, --duration is required).
    #[arg(long)]
    pub count: Option<u64>,
    /// Seconds a connection attempt or a request may take before its connection is
    /// aborted and counted as a timeout.
    #[arg(long, default_value_t = 2.0, value_name = "SECS")]
    pub timeout: f64,
}

/// [`HttpArgs`], checked.
#[derive(Clone, Debug)]
struct Plan {
    server: SocketAddrV4,
    /// Whole request per path.
    requests: Vec<Vec<u8>>,
    connections: usize,
    close: bool,
    count: Option<u64>,
    timeout: Duration,
    duration: Option<Duration>,
}

impl Plan {
    fn new(args: &HttpArgs, duration: Option<Duration>) -> Result<Plan, String> {
        if args.connections == 0 {
            return Err("--connections must be at least 1".into());
        }
        if duration.is_none() && args.count.is_none() {
            return Err("needs --duration SECS or --count N".into());
        }
        let timeout = Duration::try_from_secs_f64(args.timeout)
            .ok()
            .filter(|t| !t.is_zero())
            .ok_or_else(|| {
                format!(
                    "--timeout {}: not a positive number of seconds",
                    args.timeout
                )
            })?;
        let host = args
            .host
            .clone()
            .unwrap_or_else(|| match args.server.port() {
                80 => args.server.ip().to_string(),
                _ => args.server.to_string(),
            });
        if host.is_empty()
            || host
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(format!("--host {host:?}: not a host name"));
        }
        let paths = if args.paths.is_empty() {
            vec!["/".to_string()]
        } else {
            args.paths.clone()
        };
        let requests = paths
            .iter()
            .map(|p| {
                if !p.starts_with('/') || p.bytes().any(|b| b <= b' ' || b == 0x7f) {
                    return Err(format!(
                        "--path {p:?}: needs a leading / and no spaces or control characters"
                    ));
                }
                let close = if args.close {
                    "Connection: close\r\n"
                } else {
                    ""
                };
                Ok(format!("GET {p} HTTP/1.1\r\nHost: {host}\r\n{close}\r\n").into_bytes())
            })
            .collect::<Result<_, String>>()?;
        Ok(Plan {
            server: args.server,
            requests,
            connections: args.connections,
            close: args.close,
            count: args.count,
            timeout,
            duration,
        })
    }
}

/// Where a connection slot is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Role {
    /// No connection.
    #[default]
    Idle,
    /// SYN sent.
    Connecting,
    /// A request sent, its response not complete.
    Waiting,
    /// Finished with (its response complete, or failed and counted); TCP is closing it.
    Done,
}

/// How the body of the response being read ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    /// Still reading the head.
    Head,
    /// This many bytes to go.
    Left(u64),
    /// Until the server closes.
    UntilClose,
}

/// One connection's state, indexed by [`Handle::index`].
#[derive(Clone, Debug)]
struct Slot {
    role: Role,
    handle: Option<Handle>,
    /// When the connect or the current request started.
    since: Instant,
    head: Vec<u8>,
    body: Body,
    status: u16,
    /// The response said the server closes after it.
    server_closes: bool,
}

impl Slot {
    fn new(now: Instant) -> Slot {
        Slot {
            role: Role::Idle,
            handle: None,
            since: now,
            head: Vec::new(),
            body: Body::Head,
            status: 0,
            server_closes: false,
        }
    }
}

/// Latencies in log-linear buckets: 16 per power of two of nanoseconds (a bucket is at
/// most 1/16 wide), so percentiles are within ~6%.
#[derive(Clone, Debug)]
pub struct Histogram {
    buckets: Vec<u64>,
    count: u64,
    sum_ns: u128,
    max_ns: u64,
}

const SUB: u32 = 16;

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: vec![0; (64 * SUB) as usize],
            count: 0,
            sum_ns: 0,
            max_ns: 0,
        }
    }
}

impl Histogram {
    fn bucket(ns: u64) -> usize {
        if ns < u64::from(SUB) {
            return ns as usize;
        }
        let exp = 63 - ns.leading_zeros();
        let mant = (ns >> (exp - 4)) & u64::from(SUB - 1);
        ((exp - 3) * SUB) as usize + mant as usize
    }

    /// Lower edge of bucket `b`, in ns.
    fn floor(b: usize) -> u64 {
        let b = b as u64;
        let sub = u64::from(SUB);
        if b < sub {
            return b;
        }
        let exp = b / sub + 3;
        (sub + b % sub) << (exp - 4)
    }

    /// Record one latency.
    pub fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[Self::bucket(ns)] += 1;
        self.count += 1;
        self.sum_ns += u128::from(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    /// Latencies recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Mean.
    pub fn mean(&self) -> Duration {
        match self.count {
            0 => Duration::ZERO,
            n => Duration::from_nanos((self.sum_ns / u128::from(n)) as u64),
        }
    }

    /// Largest.
    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max_ns)
    }

    /// The latency at quantile `q` (0..=1), as its bucket's lower edge.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let want = ((self.count as f64 * q).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (b, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= want {
                return Duration::from_nanos(Self::floor(b));
            }
        }
        self.max()
    }
}

/// What a run counted.
#[derive(Clone, Debug, Default)]
pub struct HttpCounts {
    /// Requests sent.
    pub sent: u64,
    /// Responses complete.
    pub completed: u64,
    /// By status class: 1xx (ignored, counted), 2xx, 3xx, 4xx, 5xx, other.
    pub status: [u64; 6],
    /// Response bytes read (heads and bodies).
    pub bytes: u64,
    /// Response heads recognised as the same bytes as the last one parsed (not parsed
    /// again).
    pub heads_recognised: u64,
    /// Connections that completed their handshake.
    pub connected: u64,
    /// Connection attempts refused, reset or unanswered, or no room to make one.
    pub connect_errors: u64,
    /// Connections reset or closed by the server before a response was complete.
    pub read_errors: u64,
    /// Requests the send buffer could not take whole.
    pub write_errors: u64,
    /// Connects or requests that took longer than --timeout.
    pub timeouts: u64,
    /// Responses that could not be framed (chunked, head too long or malformed, more
    /// bytes than announced).
    pub protocol_errors: u64,
}

impl HttpCounts {
    /// Responses outside 2xx and 3xx.
    pub fn non_2xx_3xx(&self) -> u64 {
        self.status[0] + self.status[3] + self.status[4] + self.status[5]
    }

    /// Every kind of socket error.
    pub fn socket_errors(&self) -> u64 {
        self.connect_errors + self.read_errors + self.write_errors + self.timeouts
    }
}

/// The load application: a [`TcpApp`] over the connection slots.
struct Load {
    plan: Plan,
    slots: Vec<Slot>,
    /// Slots in Connecting.
    connecting: usize,
    /// Slots in Waiting.
    waiting: usize,
    /// Next path to ask for.
    next_path: usize,
    /// Stop sending requests (the run is over).
    winding_down: bool,
    counts: HttpCounts,
    latency: Histogram,
    /// Slots finished in close mode whose connection TCP still holds, by index, with
    /// when: closed from our side after [`LINGER`] if the server has not.
    lingering: Vec<(usize, Instant)>,
    /// When the current pass of the loop began: the time for what is only compared with
    /// --timeout and [`LINGER`] (requests read the clock themselves, for their latency).
    pass_start: Instant,
    last_head: LastHead,
}

/// What a response head says: status, body framing, whether the server closes.
type Head = (u16, Body, bool);

/// The last whole response head that arrived in one segment and parsed, and what it said:
/// a server answers the same request with the same head (until its Date moves on), and
/// comparing bytes costs a fraction of parsing them again.
struct LastHead {
    bytes: Vec<u8>,
    parsed: Option<Head>,
}

impl LastHead {
    fn new() -> LastHead {
        LastHead {
            bytes: Vec::with_capacity(MAX_HEAD),
            parsed: None,
        }
    }

    /// If `data` starts with the remembered head: what it said, and its length. The
    /// remembered bytes end at their first blank line, so `data`'s first one ends there too.
    fn recognise(&self, data: &[u8]) -> Option<(Head, usize)> {
        let parsed = self.parsed?;
        data.starts_with(&self.bytes)
            .then_some((parsed, self.bytes.len()))
    }

    /// Remember `head` (a whole head, up to and including its first blank line), which
    /// parsed as `parsed`.
    fn remember(&mut self, head: &[u8], parsed: Head) {
        self.bytes.clear();
        self.bytes.extend_from_slice(head);
        self.parsed = Some(parsed);
    }
}

impl Load {
    fn new(plan: Plan, capacity: usize, now: Instant) -> Load {
        Load {
            plan,
            slots: vec![Slot::new(now); capacity],
            connecting: 0,
            waiting: 0,
            next_path: 0,
            winding_down: false,
            counts: HttpCounts::default(),
            latency: Histogram::default(),
            lingering: Vec::new(),
            pass_start: now,
            last_head: LastHead::new(),
        }
    }

    /// Whether another request may start (count and run length allowing).
    fn may_send(&self) -> bool {
        !self.winding_down && self.plan.count.is_none_or(|c| self.counts.sent < c)
    }

    /// Requests that may still start, counting connections on their way.
    fn may_connect(&self) -> bool {
        !self.winding_down
            && self
                .plan
                .count
                .is_none_or(|c| self.counts.sent + (self.connecting as u64) < c)
    }

    /// Connections busy (connecting or waiting for a response).
    fn live(&self) -> usize {
        self.connecting + self.waiting
    }

    /// Send the next request on slot `i` (Connecting or Waiting; it is Waiting after).
    fn send_request(&mut self, conn: &mut Conn<'_>, i: usize) {
        let path = self.next_path;
        self.next_path = (path + 1) % self.plan.requests.len();
        let req = &self.plan.requests[path];
        if conn.send(req) != req.len() {
            self.counts.write_errors += 1;
            self.finish(i);
            conn.abort();
            return;
        }
        let slot = &mut self.slots[i];
        if slot.role == Role::Connecting {
            self.connecting -= 1;
            self.waiting += 1;
        }
        slot.role = Role::Waiting;
        slot.since = Instant::now();
        slot.head.clear();
        slot.body = Body::Head;
        slot.status = 0;
        slot.server_closes = false;
        self.counts.sent += 1;
    }

    /// Slot `i` is done with: no longer live, a new connection may take its place.
    fn finish(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        match slot.role {
            Role::Waiting => self.waiting -= 1,
            Role::Connecting => self.connecting -= 1,
            Role::Idle | Role::Done => {}
        }
        slot.role = Role::Done;
    }

    /// The response on slot `i` is complete.
    fn complete(&mut self, conn: &mut Conn<'_>, i: usize) {
        let slot = &self.slots[i];
        let class = match slot.status / 100 {
            c @ 1..=5 => usize::from(c - 1),
            _ => 5,
        };
        self.counts.status[class] += 1;
        self.counts.completed += 1;
        self.latency.record(slot.since.elapsed());
        let server_closes = slot.server_closes;
        if !self.plan.close && !server_closes && self.may_send() {
            self.send_request(conn, i);
            return;
        }
        self.finish(i);
        if server_closes || self.plan.close {
            // Wait for the server's FIN (usually in this very segment) so that our close
            // is the second and leaves no TIME-WAIT here; close anyway after LINGER.
            self.lingering.push((i, self.pass_start));
        } else {
            conn.close();
        }
    }

    /// Bytes for slot `i`'s response.
    fn read(&mut self, conn: &mut Conn<'_>, i: usize, data: &[u8]) {
        self.counts.bytes += data.len() as u64;
        if self.slots[i].body == Body::Head {
            let slot = &mut self.slots[i];
            // The usual case, a whole head in one segment, is parsed where it lies (or
            // recognised as the last one parsed); only a head split across segments is
            // gathered in `slot.head`.
            if slot.head.is_empty() {
                if let Some((parsed, end)) = self.last_head.recognise(data) {
                    self.counts.heads_recognised += 1;
                    return self.head_parsed(conn, i, parsed, data.len() - end);
                }
            }
            let (end, gathered) = if slot.head.is_empty() {
                match head_end(data, 0) {
                    Some(end) => (end, false),
                    None => {
                        slot.head.extend_from_slice(data);
                        if slot.head.len() > MAX_HEAD {
                            self.protocol_error(conn, i);
                        }
                        return;
                    }
                }
            } else {
                let scan_from = slot.head.len().saturating_sub(3);
                slot.head.extend_from_slice(data);
                let Some(end) = head_end(&slot.head, scan_from) else {
                    if slot.head.len() > MAX_HEAD {
                        self.protocol_error(conn, i);
                    }
                    return;
                };
                (end, true)
            };
            if end > MAX_HEAD {
                return self.protocol_error(conn, i);
            }
            let buf = if gathered { &slot.head[..] } else { data };
            let Some(parsed) = parse_head(&buf[..end]) else {
                return self.protocol_error(conn, i);
            };
            let rest = buf.len() - end;
            if !gathered {
                self.last_head.remember(&data[..end], parsed);
            }
            return self.head_parsed(conn, i, parsed, rest);
        }
        self.body_bytes(conn, i, data.len());
    }

    /// Slot `i`'s response head said `parsed`; `rest` bytes of the body came with it.
    fn head_parsed(
        &mut self,
        conn: &mut Conn<'_>,
        i: usize,
        (status, body, closes): Head,
        rest: usize,
    ) {
        let slot = &mut self.slots[i];
        slot.status = status;
        slot.body = body;
        slot.server_closes = closes;
        self.body_bytes(conn, i, rest);
    }

    /// `len` body bytes for slot `i`, whose head has been read.
    fn body_bytes(&mut self, conn: &mut Conn<'_>, i: usize, len: usize) {
        let slot = &mut self.slots[i];
        let len = len as u64;
        match slot.body {
            Body::Left(n) if len > n => return self.protocol_error(conn, i),
            Body::Left(n) => slot.body = Body::Left(n - len),
            Body::UntilClose | Body::Head => {}
        }
        if slot.body == Body::Left(0) {
            self.complete(conn, i);
        }
    }

    fn protocol_error(&mut self, conn: &mut Conn<'_>, i: usize) {
        self.counts.protocol_errors += 1;
        self.finish(i);
        conn.abort();
    }

    /// Once per slice: connects and requests over --timeout are aborted, finished
    /// connections the server left open are closed. Returns the handles to act on.
    fn sweep(&mut self, now: Instant, abort: &mut Vec<Handle>, close: &mut Vec<Handle>) {
        abort.clear();
        close.clear();
        if self.live() > 0 {
            for i in 0..self.slots.len() {
                let slot = &self.slots[i];
                let late = now.saturating_duration_since(slot.since) >= self.plan.timeout;
                if matches!(slot.role, Role::Connecting | Role::Waiting) && late {
                    if let Some(h) = slot.handle {
                        abort.push(h);
                    }
                    self.counts.timeouts += 1;
                    self.finish(i);
                }
            }
        }
        let slots = &self.slots;
        self.lingering.retain(|&(i, at)| {
            let slot = &slots[i];
            if slot.role != Role::Done {
                return false;
            }
            if now.saturating_duration_since(at) < LINGER {
                return true;
            }
            if let Some(h) = slot.handle {
                close.push(h);
            }
            false
        });
    }
}

/// Status, body framing and whether the server closes, from a whole response head;
/// `None` if it is malformed or chunked (not framed by this client).
/// Just past the first CRLFCRLF of `buf` that starts at or after `from`: Horspool's
/// search, which for this pattern looks at about one byte in four of ordinary header text.
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(&last) = buf.get(i + 3) {
        match last {
            b'\n' if &buf[i..i + 4] == b"\r\n\r\n" => return Some(i + 4),
            // The window's last byte also occurs at pattern position 1 ('\n') or 2 ('\r').
            b'\n' => i += 2,
            b'\r' => i += 1,
            _ => i += 4,
        }
    }
    None
}

fn parse_head(head: &[u8]) -> Option<Head> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Response::new(&mut headers);
    match r.parse(head) {
        Ok(httparse::Status::Complete(n)) if n == head.len() => {}
        _ => return None,
    }
    let status = r.code?;
    let mut length = None;
    let mut closes = r.version == Some(0);
    for h in r.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<u64>()
                .ok()?;
            if length.is_some_and(|l| l != v) {
                return None;
            }
            length = Some(v);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return None;
        } else if h.name.eq_ignore_ascii_case("connection") {
            let v = std::str::from_utf8(h.value).ok()?;
            for token in v.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    closes = true;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    closes = false;
                }
            }
        }
    }
    // No body for 1xx, 204 and 304 (RFC 9112 6.3).
    let body = if (100..200).contains(&status) || status == 204 || status == 304 {
        Body::Left(0)
    } else {
        match length {
            Some(n) => Body::Left(n),
            None => {
                closes = true;
                Body::UntilClose
            }
        }
    };
    Some((status, body, closes))
}

impl TcpApp for Load {
    fn on_connected(&mut self, conn: &mut Conn<'_>) {
        let i = conn.handle().index();
        if self.slots.get(i).map(|s| s.role) != Some(Role::Connecting) {
            conn.abort();
            return;
        }
        self.counts.connected += 1;
        if !self.may_send() {
            self.finish(i);
            conn.close();
            return;
        }
        // Connecting -> Waiting keeps it live.
        self.send_request(conn, i);
    }

    fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
        let i = conn.handle().index();
        match self.slots.get(i).map(|s| s.role) {
            Some(Role::Waiting) => self.read(conn, i, data),
            // Bytes after a complete response, or on a connection we gave up on.
            Some(Role::Done) if !data.is_empty() => {
                self.counts.protocol_errors += 1;
                conn.abort();
            }
            _ => {}
        }
    }

    fn on_peer_closed(&mut self, conn: &mut Conn<'_>) {
        let i = conn.handle().index();
        if let Some(slot) = self.slots.get(i) {
            if slot.role == Role::Waiting {
                if slot.body == Body::UntilClose {
                    self.complete(conn, i);
                } else {
                    self.counts.read_errors += 1;
                    self.finish(i);
                }
            }
        }
        conn.close();
    }

    fn on_closed(&mut self, handle: Handle, _reason: CloseReason) {
        let i = handle.index();
        let Some(slot) = self.slots.get(i) else {
            return;
        };
        match slot.role {
            Role::Connecting => self.counts.connect_errors += 1,
            Role::Waiting => self.counts.read_errors += 1,
            Role::Idle | Role::Done => {}
        }
        self.finish(i);
        let slot = &mut self.slots[i];
        slot.role = Role::Idle;
        slot.handle = None;
    }
}

/// The outcome of a run.
#[derive(Clone, Debug)]
pub struct HttpReport {
    /// Counts over the whole run (including the drain after it).
    pub counts: HttpCounts,
    /// Responses completed within the measured time.
    pub in_window: u64,
    /// The measured time: from the first connect to the end of the run.
    pub elapsed: Duration,
    /// Request-to-response latency of every completed request.
    pub latency: Histogram,
    /// Connections kept busy.
    pub connections: usize,
    /// A new connection per request.
    pub close: bool,
    /// The stack's final counters (eth and TCP).
    pub stack_stats: String,
}

impl HttpReport {
    /// Responses completed per second of the measured time.
    pub fn requests_per_sec(&self) -> f64 {
        self.in_window as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn dur(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.2}us")
    } else if us < 1e6 {
        format!("{:.2}ms", us / 1e3)
    } else {
        format!("{:.2}s", us / 1e6)
    }
}

impl fmt::Display for HttpReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        let secs = self.elapsed.as_secs_f64();
        writeln!(
            f,
            "  {} connections, {}",
            self.connections,
            if self.close {
                "a new connection per request"
            } else {
                "keep-alive"
            }
        )?;
        writeln!(
            f,
            "  Latency: mean {}, p50 {}, p90 {}, p99 {}, max {}",
            dur(self.latency.mean()),
            dur(self.latency.quantile(0.5)),
            dur(self.latency.quantile(0.9)),
            dur(self.latency.quantile(0.99)),
            dur(self.latency.max())
        )?;
        writeln!(
            f,
            "  {} requests in {:.2}s, {} bytes read",
            self.in_window, secs, c.bytes
        )?;
        writeln!(
            f,
            "  Sent {}, completed {} (1xx {}, 2xx {}, 3xx {}, 4xx {}, 5xx {}, other {}), {} connections",
            c.sent,
            c.completed,
            c.status[0],
            c.status[1],
            c.status[2],
            c.status[3],
            c.status[4],
            c.status[5],
            c.connected
        )?;
        if c.socket_errors() > 0 {
            writeln!(
                f,
                "  Socket errors: connect {}, read {}, write {}, timeout {}",
                c.connect_errors, c.read_errors, c.write_errors, c.timeouts
            )?;
        }
        if c.protocol_errors > 0 {
            writeln!(f, "  Protocol errors: {}", c.protocol_errors)?;
        }
        if c.non_2xx_3xx() > 0 {
            writeln!(f, "  Non-2xx or 3xx responses: {}", c.non_2xx_3xx())?;
        }
        writeln!(f, "Requests/sec: {:.2}", self.requests_per_sec())?;
        write!(f, "stats: {}", self.stack_stats)
    }
}

/// [`HttpArgs`] checked: what [`run_job`] runs.
pub struct HttpJob(Plan);

/// Check `args` before a port is opened, so bad input is one error line and touches no
/// device.
pub fn check(args: &HttpArgs, stack: &StackSettings) -> Result<HttpJob, String> {
    Plan::new(args, stack.duration).map(HttpJob)
}

/// Run HTTP load on `port` as `args` and `stack` say, until the run length or request
/// count is reached or `stop` is set; responses in flight then get up to a second.
pub fn run<P: Port>(
    port: P,
    stack_settings: &StackSettings,
    args: &HttpArgs,
    stop: &AtomicBool,
) -> Result<HttpReport, String> {
    run_job(port, stack_settings, check(args, stack_settings)?, stop)
}

/// [`run`] for arguments already [`check`]ed.
pub fn run_job<P: Port>(
    port: P,
    stack_settings: &StackSettings,
    job: HttpJob,
    stop: &AtomicBool,
) -> Result<HttpReport, String> {
    let plan = job.0;
    let cfg = stack_settings.iface_config_for(port.caps());
    let mut tcp_cfg = TcpConfig::for_mtu(cfg.mtu);
    // Room for the busy connections and for those closing behind them.
    let capacity = (plan.connections * 4).max(1024);
    tcp_cfg.max_connections = capacity;
    tcp_cfg.max_time_wait = capacity;
    tcp_cfg.syn_retries = 2;
    // A fixed ISN key: a load generator needs no unpredictable ISNs, and with one key its
    // ISNs and timestamps for a four-tuple keep growing from one run to the next (the
    // clock is the machine's monotonic one), so a server still holding the tuple in
    // TIME-WAIT from the previous run takes the new SYN at once (RFC 6191) instead of
    // answering with an ACK that costs us a SYN retransmission a second later.
    let keys = [Key::random(), LOADGEN_ISN_KEY, Key::random()];
    let core =
        TcpCore::with_keys(tcp_cfg, MonotonicClock.now(), keys).map_err(|e| e.to_string())?;
    let now = Instant::now();
    let connections = plan.connections;
    let close = plan.close;
    let server = plan.server;
    let duration = plan.duration;
    let tcp = Tcp::new(core, Load::new(plan, capacity, now), PrepMode::Memcpy);
    let mut stack = Stack::new(cfg, tcp, MonotonicClock.now()).map_err(|e| e.to_string())?;
    let mut ev = EventLoop::new(port, MonotonicClock, stack_settings.loop_config());
    stack.start_on(&mut ev);
    let local = SocketAddrV4::new(stack_settings.addr, 0);
    let start = Instant::now();
    let end = duration.map(|d| start + d);
    let mut drain_until: Option<Instant> = None;
    let mut in_window = None;
    let (mut abort, mut close_list) = (Vec::new(), Vec::new());
    let mut last = (start, 0u64, 0u64);
    let mut window_end = start;
    let mut next_sweep = start + SLICE;
    loop {
        let now = Instant::now();
        let app = stack.upper_mut().app_mut();
        app.pass_start = now;
        let over = stop.load(Ordering::Relaxed)
            || end.is_some_and(|e| now >= e)
            || app
                .plan
                .count
                .is_some_and(|c| app.counts.sent >= c && app.live() == 0);
        if over && drain_until.is_none() {
            app.winding_down = true;
            in_window = Some(app.counts.completed);
            window_end = now;
            drain_until = Some(now + DRAIN);
        }
        if let Some(d) = drain_until {
            if now >= d || app.live() == 0 {
                break;
            }
        }
        // Keep --connections busy; one alone until the first handshake completes, so the
        // server's address is resolved before a burst of SYNs waits on ARP (which holds
        // only a few frames per neighbour).
        let busy = if app.counts.connected == 0 {
            1
        } else {
            connections
        };
        let want = busy.saturating_sub(app.live());
        if want > 0 && app.may_connect() {
            ev.with_context(|cx| {
                stack.with_upper(cx, |tcp, ip| {
                    for _ in 0..want {
                        if !tcp.app().may_connect() {
                            break;
                        }
                        match tcp.connect(ip, local, server) {
                            Ok(h) => {
                                let app = tcp.app_mut();
                                let slot = &mut app.slots[h.index()];
                                slot.role = Role::Connecting;
                                slot.handle = Some(h);
                                slot.since = now;
                                app.connecting += 1;
                            }
                            Err(_) => {
                                // Table full or no free port: counted, retried next pass.
                                tcp.app_mut().counts.connect_errors += 1;
                                break;
                            }
                        }
                    }
                })
            });
        }
        // One pass (it blocks only when idle), so connections are replaced as soon as
        // responses complete; the sweep and the stats line once per slice.
        ev.run_once(&mut stack);
        let now = Instant::now();
        if now < next_sweep {
            continue;
        }
        next_sweep = now + SLICE;
        stack
            .upper_mut()
            .app_mut()
            .sweep(now, &mut abort, &mut close_list);
        for &h in &abort {
            ev.with_context(|cx| stack.with_upper(cx, |tcp, ip| tcp.act(ip, h, |c| c.abort())));
        }
        for &h in &close_list {
            ev.with_context(|cx| stack.with_upper(cx, |tcp, ip| tcp.act(ip, h, |c| c.close())));
        }
        if !stack_settings.quiet && last.0.elapsed() >= Duration::from_secs(1) {
            let c = &stack.upper().app().counts;
            let dt = last.0.elapsed().as_secs_f64();
            eprintln!(
                "{:.0} req/s, {:.0} conn/s, errors: {} socket, {} protocol, {} non-2xx/3xx",
                (c.completed - last.1) as f64 / dt,
                (c.connected - last.2) as f64 / dt,
                c.socket_errors(),
                c.protocol_errors,
                c.non_2xx_3xx()
            );
            last = (Instant::now(), c.completed, c.connected);
        }
    }
    // Close what is left gracefully and give the FINs a moment to leave.
    let handles: Vec<Handle> = stack
        .upper()
        .app()
        .slots
        .iter()
        .filter(|s| s.role != Role::Idle)
        .filter_map(|s| s.handle)
        .collect();
    for h in handles {
        ev.with_context(|cx| stack.with_upper(cx, |tcp, ip| tcp.act(ip, h, |c| c.close())));
    }
    ev.run_for(&mut stack, Duration::from_millis(50));
    ev.flush();
    let app = stack.upper().app();
    Ok(HttpReport {
        counts: app.counts.clone(),
        in_window: in_window.unwrap_or(app.counts.completed),
        elapsed: window_end.saturating_duration_since(start),
        latency: app.latency.clone(),
        connections,
        close,
        stack_stats: format!(
            "{} {} {}",
            stack.stats(),
            stack.upper().stats(),
            ev.stats().port
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::response;
    use crate::web::server::{Responses, WebConfig, WebServer};
    use crate::web::site::Site;
    use eth::wire::Ipv4Addr;
    use nmio::backend::pipe::{pair, PipeConfig, PipePort};
    use std::sync::Arc;

    #[test]
    fn head_end_finds_the_first_blank_line_as_a_plain_scan_does() {
        // Every string of up to 9 bytes over CR, LF and one other byte, from every start.
        let naive = |b: &[u8], from: usize| {
            (from..b.len().saturating_sub(3))
                .find(|&k| &b[k..k + 4] == b"\r\n\r\n")
                .map(|k| k + 4)
        };
        let mut checked = 0;
        for len in 0..=9u32 {
            for mut code in 0..3u32.pow(len) {
                let mut b = Vec::new();
                for _ in 0..len {
                    b.push([b'\r', b'\n', b'a'][(code % 3) as usize]);
                    code /= 3;
                }
                for from in 0..=b.len() {
                    assert_eq!(head_end(&b, from), naive(&b, from), "{b:?} from {from}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 100_000);
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(head_end(resp, 0), Some(resp.len() - 2));
    }

    #[test]
    fn heads_are_framed_by_length_status_or_close() {
        let h = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n";
        assert_eq!(parse_head(h), Some((200, Body::Left(12), false)));
        let h = b"HTTP/1.1 404 Not Found\r\nconnection: Close\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(parse_head(h), Some((404, Body::Left(0), true)));
        // 304 has no body whatever it announces; 1.0 closes unless kept alive.
        let h = b"HTTP/1.0 304 Not Modified\r\nContent-Length: 99\r\n\r\n";
        assert_eq!(parse_head(h), Some((304, Body::Left(0), true)));
        let h = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n";
        assert_eq!(parse_head(h), Some((200, Body::Left(1), false)));
        // No length: the body runs to the close.
        let h = b"HTTP/1.1 200 OK\r\n\r\n";
        assert_eq!(parse_head(h), Some((200, Body::UntilClose, true)));
        // Not framed by this client: chunked, conflicting lengths, garbage.
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            None
        );
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            None
        );
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"),
            None
        );
        assert_eq!(parse_head(b"SMTP ready\r\n\r\n"), None);
    }

    #[test]
    fn a_head_is_recognised_only_by_the_same_bytes() {
        let mut last = LastHead::new();
        let a = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(last.recognise(a), None, "nothing remembered yet");
        let parsed = parse_head(a).unwrap();
        last.remember(a, parsed);
        let mut with_body = a.to_vec();
        with_body.extend_from_slice(b"hello");
        assert_eq!(last.recognise(&with_body), Some((parsed, a.len())));
        // The same start with a longer length, another status, a cut-off head.
        for other in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n"[..],
            b"HTTP/1.1 404 OK\r\nContent-Length: 5\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r",
        ] {
            assert_eq!(last.recognise(other), None);
        }
    }

    #[test]
    fn the_histogram_keeps_quantiles_within_a_sixteenth() {
        let mut h = Histogram::default();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        assert_eq!(h.count(), 1000);
        for (q, want_us) in [(0.5, 500.0), (0.9, 900.0), (0.99, 990.0)] {
            let got = h.quantile(q).as_secs_f64() * 1e6;
            assert!(
                got <= want_us && got >= want_us * (1.0 - 1.0 / 16.0),
                "q{q}: {got} us for {want_us}"
            );
        }
        assert_eq!(h.max(), Duration::from_micros(1000));
        assert!((h.mean().as_secs_f64() * 1e6 - 500.5).abs() < 0.01);
        // Bucket edges are monotonic and each value lies in its bucket.
        for ns in [0u64, 1, 15, 16, 17, 31, 32, 1000, 123_456, u64::MAX / 2] {
            let b = Histogram::bucket(ns);
            assert!(Histogram::floor(b) <= ns, "{ns}");
            assert!(Histogram::floor(b + 1) > ns, "{ns}");
        }
    }

    #[test]
    fn bad_options_are_refused_in_one_line() {
        let args = |f: &dyn Fn(&mut HttpArgs)| {
            let mut a = HttpArgs {
                server: "192.0.2.1:80".parse().unwrap(),
                paths: vec![],
                host: None,
                connections: 4,
                close: false,
                count: Some(1),
                timeout: 1.0,
            };
            f(&mut a);
            Plan::new(&a, None)
        };
        let plan = args(&|_| {}).unwrap();
        assert_eq!(
            plan.requests,
            vec![b"GET / HTTP/1.1\r\nHost: 192.0.2.1\r\n\r\n".to_vec()]
        );
        let plan = args(&|a| {
            a.close = true;
            a.server = "192.0.2.1:8080".parse().unwrap();
            a.paths = vec!["/a".into(), "/b?x=1".into()];
        })
        .unwrap();
        assert_eq!(
            plan.requests[1],
            b"GET /b?x=1 HTTP/1.1\r\nHost: 192.0.2.1:8080\r\nConnection: close\r\n\r\n".to_vec()
        );
        assert!(args(&|a| a.connections = 0)
            .unwrap_err()
            .contains("--connections"));
        assert!(args(&|a| a.count = None)
            .unwrap_err()
            .contains("--duration"));
        assert!(args(&|a| a.timeout = 0.0)
            .unwrap_err()
            .contains("--timeout"));
        assert!(args(&|a| a.paths = vec!["x".into()])
            .unwrap_err()
            .contains("--path"));
        assert!(args(&|a| a.paths = vec!["/a b".into()])
            .unwrap_err()
            .contains("--path"));
        assert!(args(&|a| a.host = Some("a b".into()))
            .unwrap_err()
            .contains("--host"));
    }

    const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    /// The web server with its bundled site on `port` until `stop`; returns its request
    /// count.
    fn serve(port: PipePort, stop: Arc<AtomicBool>) -> u64 {
        let cfg = eth::IfaceConfig::for_port(port.caps(), SERVER, 24);
        let tcp_cfg = TcpConfig::for_mtu(cfg.mtu);
        // Prepared segments carry the timestamps option (12 bytes) in every header.
        let seg_size = tcp_cfg.mss - 12;
        let core = TcpCore::new(tcp_cfg, MonotonicClock.now()).unwrap();
        let web_cfg = WebConfig {
            header_timeout: 30,
            max_connections: 4096,
        };
        let placeholder = WebServer::new(Site::empty(), Responses::empty(), web_cfg);
        let mut tcp = Tcp::new(core, placeholder, PrepMode::PreCopy);
        tcp.core_mut().listen(80).unwrap();
        let mut stack = Stack::new(cfg, tcp, MonotonicClock.now()).unwrap();
        let mut ev = EventLoop::new(port, MonotonicClock, nmio::LoopConfig::default());
        stack.start_on(&mut ev);
        let site = Site::bundled();
        let date = response::format_date(std::time::SystemTime::now());
        let responses = ev
            .with_context(|cx| {
                stack.with_upper(cx, |tcp, ip| {
                    Responses::prepare(&site, &date, |b| tcp.prepare(ip, b, seg_size))
                })
            })
            .unwrap();
        *stack.upper_mut().app_mut() = WebServer::new(site, responses, web_cfg);
        while !stop.load(Ordering::Relaxed) {
            ev.run_for(&mut stack, Duration::from_millis(20));
        }
        stack.upper().app().stats().requests
    }

    fn settings() -> StackSettings {
        StackSettings {
            addr: CLIENT,
            prefix_len: 24,
            gateway: None,
            static_arp: vec![],
            reachable: None,
            expire: None,
            duration: Some(Duration::from_secs(20)),
            quiet: true,
            busy_poll: false,
            idle_spin: Duration::ZERO,
        }
    }

    /// `count` requests, half for a page and half for a missing one, through the web
    /// server on an in-memory wire.
    fn load_the_web_server(close: bool, count: u64) -> (HttpReport, u64) {
        load_the_web_server_on(PipeConfig::default(), close, count)
    }

    fn load_the_web_server_on(wire: PipeConfig, close: bool, count: u64) -> (HttpReport, u64) {
        load_paths_on(wire, &["/", "/missing"], close, count)
    }

    fn load_paths_on(
        wire: PipeConfig,
        paths: &[&str],
        close: bool,
        count: u64,
    ) -> (HttpReport, u64) {
        let (a, b) = pair(wire).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let server = {
            let stop = stop.clone();
            std::thread::spawn(move || serve(a, stop))
        };
        let args = HttpArgs {
            server: SocketAddrV4::new(SERVER, 80),
            paths: paths.iter().map(|p| p.to_string()).collect(),
            host: None,
            connections: 16,
            close,
            count: Some(count),
            timeout: 5.0,
        };
        let report = run(b, &settings(), &args, &AtomicBool::new(false));
        stop.store(true, Ordering::Relaxed);
        let served = server.join().unwrap();
        (report.unwrap(), served)
    }

    #[test]
    fn heads_split_across_segments_are_gathered() {
        // An IP MTU of 140 makes the MSS 100: every response head (about 250 bytes) comes
        // in several segments, and some segments end inside the blank line.
        let wire = PipeConfig {
            mtu: 140,
            ..PipeConfig::default()
        };
        for close in [false, true] {
            let (r, served) = load_the_web_server_on(wire.clone(), close, 400);
            let c = &r.counts;
            assert_eq!((c.sent, c.completed, served), (400, 400, 400), "{r}");
            assert_eq!((c.status[1], c.status[3]), (200, 200), "{r}");
            assert_eq!(c.socket_errors() + c.protocol_errors, 0, "{r}");
            assert!(c.bytes > 400 * 250, "{r}");
        }
    }

    #[test]
    fn repeated_heads_are_recognised_and_framed_as_parsed_ones() {
        for close in [false, true] {
            let (r, served) = load_paths_on(PipeConfig::default(), &["/"], close, 600);
            let c = &r.counts;
            assert_eq!((c.sent, c.completed, served), (600, 600, 600), "{r}");
            assert_eq!(c.status[1], 600, "{r}");
            assert_eq!(c.socket_errors() + c.protocol_errors, 0, "{r}");
            // Every response is the same length (the Date header's is fixed).
            assert_eq!(c.bytes % 600, 0, "{r}");
            // Nearly all: a head is parsed again when the Date moves on (and while
            // responses with the old and new Date are both in flight).
            assert!(c.heads_recognised >= 500, "{}", c.heads_recognised);
        }
        // Alternating heads: each still framed by its own length and status.
        let (r, _) = load_the_web_server(true, 400);
        assert_eq!((r.counts.status[1], r.counts.status[3]), (200, 200), "{r}");
        assert_eq!(r.counts.protocol_errors, 0, "{r}");
    }

    #[test]
    fn keep_alive_load_completes_every_request_on_its_connections() {
        let (r, served) = load_the_web_server(false, 2000);
        let c = &r.counts;
        assert_eq!(
            (c.sent, c.completed, r.in_window),
            (2000, 2000, 2000),
            "{r}"
        );
        assert_eq!((c.status[1], c.status[3]), (1000, 1000), "{r}");
        assert_eq!(c.socket_errors() + c.protocol_errors, 0, "{r}");
        assert_eq!(c.connected, 16, "{r}");
        assert_eq!(served, 2000);
        assert_eq!(r.latency.count(), 2000);
        let text = r.to_string();
        assert!(text.contains("  2000 requests in "), "{text}");
        assert!(text.contains("Non-2xx or 3xx responses: 1000"), "{text}");
        assert!(text.contains("Requests/sec: "), "{text}");
        assert!(!text.contains("Socket errors"), "{text}");
    }

    #[test]
    fn close_mode_uses_a_connection_per_request() {
        let (r, served) = load_the_web_server(true, 1000);
        let c = &r.counts;
        assert_eq!((c.sent, c.completed), (1000, 1000), "{r}");
        assert_eq!((c.status[1], c.status[3]), (500, 500), "{r}");
        assert_eq!(c.socket_errors() + c.protocol_errors, 0, "{r}");
        assert_eq!(c.connected, 1000, "{r}");
        assert_eq!(served, 1000);
    }
}
