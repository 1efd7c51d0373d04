//! The TCP test server and client (`tcp-serve`, `tcp-fetch`): just enough HTTP/1.x for
//! `curl` and kernel web servers, over [`tcpip`], to test transfers end to end.
//!
//! The server holds objects in memory, one per size, and answers `GET /<size>` with that
//! object (`Connection: close`), sent as a byte stream ([`tcpip::Conn::send`], refilled on
//! every ACK) or as a prepared object ([`tcpip::Conn::send_prepared`]: head and body cut
//! into segments at start-up). Object bytes come from [`object`], so a test can check what
//! it downloaded without a copy of the server's memory.
//!
//! The client ([`Fetcher`]) fetches a list of paths one connection each, keeps every body,
//! and reports status, length and completeness.

use std::time::Duration;
use tcpip::{CloseReason, Conn, Handle, ObjectId, TcpApp};

/// The bytes of the test object of `len` bytes: a xorshift stream seeded by the length,
/// so objects of different sizes differ and a shifted copy never matches.
pub fn object(len: usize) -> Vec<u8> {
    let mut x = (len as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        v.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    v.truncate(len);
    v
}

/// The whole response for an object: head and body.
pub fn response(body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

const NOT_FOUND: &[u8] =
    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
/// Longest request head accepted.
const MAX_REQUEST: usize = 8192;

/// How the server sends objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SendMode {
    /// Through the send buffer.
    Stream,
    /// From prepared segments.
    Prepared,
}

/// One object the server offers.
pub struct Served {
    /// Body size (the path is `/<size>`).
    pub size: usize,
    /// Head and body.
    pub response: Vec<u8>,
    /// The prepared copy, in prepared mode.
    pub prepared: Option<ObjectId>,
}

#[derive(Default)]
struct ServerConn {
    request: Vec<u8>,
    /// The response being streamed: (object index or usize::MAX for an error reply,
    /// bytes queued so far).
    sending: Option<(usize, usize)>,
}

/// The test server application.
pub struct Server {
    /// The objects, by size.
    pub objects: Vec<Served>,
    /// How bodies go out.
    pub mode: SendMode,
    conns: Vec<ServerConn>,
    /// Responses begun.
    pub requests: u64,
    /// Requests not understood or for unknown paths.
    pub errors: u64,
    /// Connections that ended.
    pub closed: u64,
    /// Connections that ended with a reset or timeout.
    pub failed: u64,
}

impl Server {
    /// A server for objects of these sizes; `max_connections` sizes the per-connection
    /// state (the TCP table's capacity).
    pub fn new(sizes: &[usize], mode: SendMode, max_connections: usize) -> Self {
        let objects = sizes
            .iter()
            .map(|&size| Served {
                size,
                response: response(&object(size)),
                prepared: None,
            })
            .collect();
        Server {
            objects,
            mode,
            conns: (0..max_connections)
                .map(|_| ServerConn::default())
                .collect(),
            requests: 0,
            errors: 0,
            closed: 0,
            failed: 0,
        }
    }

    fn pump(&mut self, conn: &mut Conn<'_>) {
        let Some(state) = self.conns.get_mut(conn.handle().index()) else {
            return;
        };
        let Some((idx, sent)) = state.sending else {
            return;
        };
        let bytes: &[u8] = match self.objects.get(idx) {
            Some(o) => &o.response,
            None => NOT_FOUND,
        };
        let bytes = if idx == usize::MAX - 1 {
            BAD_REQUEST
        } else {
            bytes
        };
        let n = conn.send(&bytes[sent..]);
        let sent = sent + n;
        state.sending = Some((idx, sent));
        if sent == bytes.len() {
            state.sending = None;
            conn.close();
        }
    }

    fn answer(&mut self, conn: &mut Conn<'_>, idx: Option<usize>) {
        let i = conn.handle().index();
        self.requests += 1;
        match idx {
            Some(idx) => {
                if let (SendMode::Prepared, Some(id)) = (self.mode, self.objects[idx].prepared) {
                    if conn.send_prepared(id).is_ok() {
                        conn.close();
                        return;
                    }
                }
                self.conns[i].sending = Some((idx, 0));
            }
            None => {
                self.errors += 1;
                self.conns[i].sending = Some((usize::MAX, 0));
            }
        }
        self.pump(conn);
    }
}

/// A request head that is not `GET <target> HTTP/1.x`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadRequest;

/// The object index a request head asks for (`None`: not found), or `Err` if malformed.
pub fn parse_request(head: &[u8], objects: &[Served]) -> Result<Option<usize>, BadRequest> {
    let line_end = head
        .windows(2)
        .position(|w| w == b"\r\n")
        .ok_or(BadRequest)?;
    let line = std::str::from_utf8(&head[..line_end]).map_err(|_| BadRequest)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(BadRequest);
    };
    if method != "GET" || !version.starts_with("HTTP/1.") {
        return Err(BadRequest);
    }
    let size = target
        .strip_prefix('/')
        .and_then(|s| s.parse::<usize>().ok());
    Ok(size.and_then(|s| objects.iter().position(|o| o.size == s)))
}

impl TcpApp for Server {
    fn on_accept(&mut self, conn: &mut Conn<'_>) {
        if let Some(s) = self.conns.get_mut(conn.handle().index()) {
            s.request.clear();
            s.sending = None;
        }
    }

    fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
        let i = conn.handle().index();
        let Some(state) = self.conns.get_mut(i) else {
            conn.abort();
            return;
        };
        if state.sending.is_some() || state.request.len() + data.len() > MAX_REQUEST {
            if state.request.len() + data.len() > MAX_REQUEST {
                conn.abort();
            }
            return;
        }
        state.request.extend_from_slice(data);
        if !state.request.windows(4).any(|w| w == b"\r\n\r\n") {
            return;
        }
        match parse_request(&state.request, &self.objects) {
            Ok(idx) => self.answer(conn, idx),
            Err(BadRequest) => {
                self.errors += 1;
                self.requests += 1;
                self.conns[i].sending = Some((usize::MAX - 1, 0));
                self.pump(conn);
            }
        }
    }

    fn on_acked(&mut self, conn: &mut Conn<'_>, _bytes: usize) {
        self.pump(conn);
    }

    fn on_closed(&mut self, _h: Handle, reason: CloseReason) {
        self.closed += 1;
        if reason != CloseReason::Normal {
            self.failed += 1;
        }
    }
}

/// One fetch's outcome.
#[derive(Clone, Debug, Default)]
pub struct Fetch {
    /// The path asked for.
    pub path: String,
    /// Status code (0: no response head).
    pub status: u16,
    /// Content-Length, if given.
    pub content_length: Option<usize>,
    /// The body received.
    pub body: Vec<u8>,
    /// How the connection ended.
    pub closed: Option<CloseReason>,
    /// Wall or virtual time from connect to close.
    pub elapsed: Duration,
    head: Vec<u8>,
    head_done: bool,
}

impl Fetch {
    /// Complete: status 200, the whole body per Content-Length, closed normally.
    pub fn ok(&self) -> bool {
        self.status == 200
            && self.content_length == Some(self.body.len())
            && self.closed == Some(CloseReason::Normal)
    }
}

/// The test client: fetches paths, one connection each (see the module docs). The driver
/// opens the connections and registers them with [`Fetcher::started`].
#[derive(Default)]
pub struct Fetcher {
    /// Finished and running fetches, in the order started.
    pub fetches: Vec<Fetch>,
    /// Handle index -> fetch index of running fetches.
    running: Vec<(Handle, usize)>,
    /// Host header value.
    pub host: String,
}

impl Fetcher {
    /// A client sending `host` as the Host header.
    pub fn new(host: String) -> Self {
        Fetcher {
            host,
            ..Fetcher::default()
        }
    }

    /// Record that connection `h` fetches `path`.
    pub fn started(&mut self, h: Handle, path: &str) {
        self.fetches.push(Fetch {
            path: path.to_string(),
            ..Fetch::default()
        });
        self.running.push((h, self.fetches.len() - 1));
    }

    /// Fetches not finished.
    pub fn in_flight(&self) -> usize {
        self.running.len()
    }

    fn fetch_mut(&mut self, h: Handle) -> Option<&mut Fetch> {
        let i = self.running.iter().find(|(rh, _)| *rh == h)?.1;
        self.fetches.get_mut(i)
    }
}

impl TcpApp for Fetcher {
    fn on_connected(&mut self, conn: &mut Conn<'_>) {
        let host = self.host.clone();
        let Some(f) = self.fetch_mut(conn.handle()) else {
            conn.abort();
            return;
        };
        let req = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: tcp-fetch\r\nConnection: close\r\n\r\n",
            f.path, host
        );
        if conn.send(req.as_bytes()) != req.len() {
            conn.abort();
        }
    }

    fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
        let Some(f) = self.fetch_mut(conn.handle()) else {
            return;
        };
        if f.head_done {
            f.body.extend_from_slice(data);
            return;
        }
        f.head.extend_from_slice(data);
        let Some(end) = f.head.windows(4).position(|w| w == b"\r\n\r\n") else {
            if f.head.len() > MAX_REQUEST {
                conn.abort();
            }
            return;
        };
        f.head_done = true;
        let head = String::from_utf8_lossy(&f.head[..end]).into_owned();
        let body = f.head.split_off(end + 4);
        f.body = body;
        let mut lines = head.split("\r\n");
        f.status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                if k.trim().eq_ignore_ascii_case("content-length") {
                    f.content_length = v.trim().parse().ok();
                }
            }
        }
        if let Some(len) = f.content_length {
            f.body
                .reserve(len.saturating_sub(f.body.len()).min(64 << 20));
        }
    }

    fn on_closed(&mut self, h: Handle, reason: CloseReason) {
        if let Some(pos) = self.running.iter().position(|(rh, _)| *rh == h) {
            let (_, i) = self.running.swap_remove(pos);
            self.fetches[i].closed = Some(reason);
        }
    }
}

/// Drive a client stack until every path is fetched (at most `parallel` at once), `stop`
/// says so, or `deadline` passes. `other` runs between passes (the pipe demo's server
/// loop). Returns whether all fetches finished.
#[allow(clippy::too_many_arguments)]
pub fn run_fetches<P: nmio::Port, C: nmio::Clock>(
    stack: &mut eth::Stack<tcpip::Tcp<Fetcher>>,
    ev: &mut nmio::EventLoop<P, C>,
    local: std::net::Ipv4Addr,
    server: std::net::SocketAddrV4,
    paths: &[String],
    parallel: usize,
    deadline: std::time::Instant,
    stop: &std::sync::atomic::AtomicBool,
    mut other: impl FnMut(),
) -> Result<bool, String> {
    let mut next = 0;
    let mut started_at: Vec<std::time::Instant> = Vec::new();
    loop {
        while next < paths.len() && stack.upper().app().in_flight() < parallel.max(1) {
            let path = &paths[next];
            let h = ev
                .with_context(|cx| {
                    stack.with_upper(cx, |tcp, ip| {
                        tcp.connect(ip, std::net::SocketAddrV4::new(local, 0), server)
                    })
                })
                .map_err(|e| e.to_string())?;
            stack.upper_mut().app_mut().started(h, path);
            started_at.push(std::time::Instant::now());
            next += 1;
        }
        ev.flush();
        let app = stack.upper_mut().app_mut();
        for (i, f) in app.fetches.iter_mut().enumerate() {
            if f.closed.is_some() && f.elapsed.is_zero() {
                f.elapsed = started_at[i].elapsed();
            }
        }
        if next == paths.len() && app.in_flight() == 0 {
            return Ok(true);
        }
        if std::time::Instant::now() >= deadline || stop.load(std::sync::atomic::Ordering::Relaxed)
        {
            return Ok(false);
        }
        ev.run_once(stack);
        other();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_differ_by_size_and_are_stable() {
        assert_eq!(object(0), Vec::<u8>::new());
        assert_eq!(object(1449).len(), 1449);
        assert_eq!(object(1449), object(1449));
        assert_ne!(object(1448)[..1000], object(1449)[..1000]);
    }

    #[test]
    fn requests_are_parsed() {
        let objs: Vec<Served> = [0usize, 1448]
            .iter()
            .map(|&size| Served {
                size,
                response: response(&object(size)),
                prepared: None,
            })
            .collect();
        assert_eq!(
            parse_request(b"GET /1448 HTTP/1.1\r\nHost: x\r\n\r\n", &objs),
            Ok(Some(1))
        );
        assert_eq!(
            parse_request(b"GET /0 HTTP/1.0\r\n\r\n", &objs),
            Ok(Some(0))
        );
        assert_eq!(parse_request(b"GET /7 HTTP/1.1\r\n\r\n", &objs), Ok(None));
        assert_eq!(
            parse_request(b"GET /../x HTTP/1.1\r\n\r\n", &objs),
            Ok(None)
        );
        assert_eq!(
            parse_request(b"POST /0 HTTP/1.1\r\n\r\n", &objs),
            Err(BadRequest)
        );
        assert_eq!(parse_request(b"garbage\r\n\r\n", &objs), Err(BadRequest));
        let r = response(b"abc");
        assert!(r.ends_with(b"\r\n\r\nabc"));
        assert!(String::from_utf8_lossy(&r).contains("Content-Length: 3\r\n"));
    }
}
