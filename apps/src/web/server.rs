//! The web server as a [`TcpApp`]: requests in, prepared responses out.
//!
//! At start-up [`Responses::prepare`] turns every response the site can give into a
//! prepared object of the TCP layer (head and body cut into segments with their checksums,
//! once): per file the 200 for GET and for HEAD and the 304, per directory redirect the
//! 301s, and every error; each in the variants a request can ask for (keep-alive for
//! HTTP/1.1, keep-alive for HTTP/1.0, closing). A request then costs a parse, a path
//! normalisation, a hash lookup and one [`Conn::send_prepared`].
//!
//! Per connection the server keeps a receive buffer only while a request is incomplete
//! (a request that arrives whole in one segment is parsed in place), bounded by the
//! parser's limits. Pipelined requests are answered in order; when TCP's send queue is full
//! the rest wait for [`TcpApp::on_acked`]. A connection that has not completed a request
//! within the header timeout (counted from its accept or its previous response: slow
//! senders and idle keep-alive connections alike) is aborted by [`WebServer::sweep`], which
//! the event loop calls once per second with the time in whole seconds; the server never
//! reads a clock itself.

use super::http::{self, HttpError, Method, Parsed, Request, Version};
use super::path;
use super::response::{self, ErrorStatus};
use super::site::{Lookup, Site};
use std::collections::HashMap;
use tcpip::{CloseReason, Conn, Handle, ObjectId, TcpApp};

/// The three forms of one response, by what the request asked of the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variants {
    /// HTTP/1.1, connection kept (no `Connection` field).
    pub keep11: ObjectId,
    /// HTTP/1.0 with `Connection: keep-alive`.
    pub keep10: ObjectId,
    /// `Connection: close`.
    pub close: ObjectId,
}

impl Variants {
    fn pick(&self, keep_alive: bool, version: Version) -> ObjectId {
        match (keep_alive, version) {
            (false, _) => self.close,
            (true, Version::Http11) => self.keep11,
            (true, Version::Http10) => self.keep10,
        }
    }
}

/// GET and HEAD forms of a response.
#[derive(Clone, Copy, Debug)]
struct ByMethod {
    get: Variants,
    head: Variants,
}

impl ByMethod {
    fn pick(&self, method: Method, keep_alive: bool, version: Version) -> ObjectId {
        match method {
            Method::Get => self.get.pick(keep_alive, version),
            Method::Head => self.head.pick(keep_alive, version),
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct FileResponses {
    ok: ByMethod,
    not_modified: Variants,
}

/// Every response the site can give, as prepared objects.
pub struct Responses {
    files: Vec<FileResponses>,
    by_path: HashMap<String, usize>,
    redirects: HashMap<String, ByMethod>,
    errors: Vec<(ErrorStatus, ByMethod)>,
    /// Bytes of all prepared responses (for the start-up line).
    pub bytes: usize,
    /// Where each prepared response keeps its `Date` value: `(object, offset)`.
    dates: Vec<(ObjectId, usize)>,
}

impl Responses {
    /// Prepare every response of `site`; `prepare` hands bytes to the TCP layer and returns
    /// the object (in the stack: `Tcp::prepare`), `date` is the 29-byte `Date` value to
    /// put in every head.
    pub fn prepare<E>(
        site: &Site,
        date: &[u8; response::DATE_LEN],
        mut prepare: impl FnMut(&[u8]) -> Result<ObjectId, E>,
    ) -> Result<Responses, E> {
        let mut bytes = 0usize;
        let mut dates = Vec::new();
        let mut one = |mut r: Vec<u8>| {
            response::set_date(&mut r, date);
            bytes += r.len();
            let id = prepare(&r)?;
            if let Some(at) = response::date_offset(&r) {
                dates.push((id, at));
            }
            Ok(id)
        };
        let mut variants = |build: &dyn Fn(bool, bool) -> Vec<u8>| -> Result<Variants, E> {
            let close = one(build(false, false))?;
            Ok(Variants {
                keep11: one(build(true, false))?,
                keep10: one(build(true, true))?,
                close,
            })
        };
        let mut files = Vec::with_capacity(site.files().len());
        let mut by_path = HashMap::with_capacity(site.files().len());
        for (i, f) in site.files().iter().enumerate() {
            let ok = ByMethod {
                get: variants(&|k, v10| response::file_response(f, Method::Get, k, v10))?,
                head: variants(&|k, v10| response::file_response(f, Method::Head, k, v10))?,
            };
            let not_modified = variants(&|k, v10| response::not_modified(f, k, v10))?;
            files.push(FileResponses { ok, not_modified });
            by_path.insert(f.path().to_string(), i);
        }
        let mut redirects = HashMap::new();
        for (_, location) in site.redirects() {
            if redirects.contains_key(location) {
                continue;
            }
            let r = ByMethod {
                get: variants(&|k, v10| response::redirect(location, Method::Get, k, v10))?,
                head: variants(&|k, v10| response::redirect(location, Method::Head, k, v10))?,
            };
            redirects.insert(location.to_string(), r);
        }
        let mut errors = Vec::with_capacity(ErrorStatus::ALL.len());
        for status in ErrorStatus::ALL {
            let r = ByMethod {
                get: variants(&|k, v10| response::error_response(status, Method::Get, k, v10))?,
                head: variants(&|k, v10| response::error_response(status, Method::Head, k, v10))?,
            };
            errors.push((status, r));
        }
        Ok(Responses {
            files,
            by_path,
            redirects,
            errors,
            bytes,
            dates,
        })
    }

    /// Every prepared response's `Date` value, `(object, offset)`: the server rewrites
    /// them once per second (`tcpip::Tcp::patch_prepared`).
    pub fn date_fields(&self) -> &[(ObjectId, usize)] {
        &self.dates
    }

    /// No responses at all, for a server that is not serving yet (every lookup is a miss;
    /// do not serve with it).
    pub fn empty() -> Responses {
        Responses {
            files: Vec::new(),
            by_path: HashMap::new(),
            redirects: HashMap::new(),
            errors: Vec::new(),
            bytes: 0,
            dates: Vec::new(),
        }
    }

    /// The error response for `status` in the form the request asks for (`None` only in
    /// [`Responses::empty`]).
    fn error(
        &self,
        status: ErrorStatus,
        method: Method,
        keep_alive: bool,
        version: Version,
    ) -> Option<ObjectId> {
        let (_, r) = self.errors.iter().find(|(s, _)| *s == status)?;
        Some(r.pick(method, keep_alive, version))
    }
}

/// The server's configuration.
#[derive(Clone, Copy, Debug)]
pub struct WebConfig {
    /// Seconds a connection may take to complete a request (from its accept or its last
    /// response) before it is aborted.
    pub header_timeout: u64,
    /// Connections the per-connection state is sized for (the TCP table's capacity).
    pub max_connections: usize,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            header_timeout: 30,
            max_connections: 16_384,
        }
    }
}

/// What the server counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WebStats {
    /// Requests answered (including errors).
    pub requests: u64,
    /// Responses by class.
    pub ok: u64,
    pub not_modified: u64,
    pub redirects: u64,
    pub not_found: u64,
    /// 400, 405, 414, 431, 501, 505.
    pub client_errors: u64,
    /// Connections aborted for not completing a request in time.
    pub header_timeouts: u64,
    /// Connections accepted and ended.
    pub accepted: u64,
    pub closed: u64,
    /// Connections that ended in a reset or a TCP timeout.
    pub failed: u64,
    /// Times a pipelined response had to wait for room in the send queue.
    pub send_queue_full: u64,
    /// Connections aborted for pipelining more than [`BUF_LIMIT`] bytes ahead.
    pub buffer_overflows: u64,
}

#[derive(Default)]
struct ConnState {
    /// An incomplete request's bytes (and any pipelined ones after a full send queue).
    buf: Vec<u8>,
    /// When the connection began waiting for its current request (seconds).
    waiting_since: u64,
    /// A closing response was queued: ignore whatever else arrives.
    closing: bool,
    /// The connection, while it is open.
    handle: Option<Handle>,
}

/// The web server application.
pub struct WebServer {
    site: Site,
    responses: Responses,
    cfg: WebConfig,
    conns: Vec<ConnState>,
    now_secs: u64,
    stats: WebStats,
    /// Reused by [`sweep`](Self::sweep).
    expired: Vec<Handle>,
}

/// How one request went.
enum Answer {
    /// Sent; the connection stays open for the next request.
    Sent,
    /// Sent, and the connection closes.
    Closing,
    /// The send queue is full: try again after an ACK.
    Blocked,
}

impl WebServer {
    /// A server for `site` with its prepared `responses`.
    pub fn new(site: Site, responses: Responses, cfg: WebConfig) -> Self {
        let mut conns = Vec::new();
        conns.resize_with(cfg.max_connections, ConnState::default);
        WebServer {
            site,
            responses,
            cfg,
            conns,
            now_secs: 0,
            stats: WebStats::default(),
            expired: Vec::new(),
        }
    }

    /// The site served.
    pub fn site(&self) -> &Site {
        &self.site
    }

    /// The prepared responses.
    pub fn responses(&self) -> &Responses {
        &self.responses
    }

    /// The counters.
    pub fn stats(&self) -> WebStats {
        self.stats
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.conns.iter().filter(|c| c.handle.is_some()).count()
    }

    /// Once per second: the time in whole seconds, and the connections past the header
    /// timeout (the caller aborts them; they are counted here).
    pub fn sweep(&mut self, now_secs: u64) -> &[Handle] {
        self.now_secs = now_secs;
        self.expired.clear();
        let limit = self.cfg.header_timeout;
        for c in self.conns.iter_mut() {
            // Times are whole seconds as of the last sweep: a connection that began waiting
            // late in second `w` has waited at least `limit` seconds only once
            // `now - w > limit`.
            if c.closing || now_secs.saturating_sub(c.waiting_since) <= limit {
                continue;
            }
            if let Some(h) = c.handle.take() {
                c.buf.clear();
                self.stats.header_timeouts += 1;
                self.expired.push(h);
            }
        }
        &self.expired
    }

    /// Answer what `data` (preceded by the connection's buffered bytes) holds.
    fn serve(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
        let i = conn.handle().index();
        let Some(state) = self.conns.get_mut(i) else {
            conn.abort();
            return;
        };
        if state.closing || state.handle.is_none() {
            return;
        }
        if state.buf.is_empty() {
            // The usual case: whole requests in this segment, parsed where they lie.
            let used = self.answer_all(conn, data);
            let state = &mut self.conns[i];
            if used < data.len() && !state.closing {
                state.buf.extend_from_slice(&data[used..]);
            }
            return;
        }
        if state.buf.len() + data.len() > BUF_LIMIT {
            // Pipelined requests pile up faster than their answers drain: there is no
            // receive window to push back with (TCP hands us everything), so give up.
            self.stats.buffer_overflows += 1;
            state.buf.clear();
            state.handle = None;
            conn.abort();
            return;
        }
        state.buf.extend_from_slice(data);
        self.drain_buffer(conn);
    }

    fn drain_buffer(&mut self, conn: &mut Conn<'_>) {
        let i = conn.handle().index();
        let buf = std::mem::take(&mut self.conns[i].buf);
        let used = self.answer_all(conn, &buf);
        let mut buf = buf;
        buf.drain(..used);
        let state = &mut self.conns[i];
        if state.closing {
            buf.clear();
        }
        state.buf = buf;
    }

    /// Answer every complete request at the start of `data`; how many bytes were used.
    fn answer_all(&mut self, conn: &mut Conn<'_>, data: &[u8]) -> usize {
        let mut used = 0;
        while used < data.len() {
            let (answer, len) = match http::parse(&data[used..]) {
                Parsed::Partial => break,
                Parsed::Complete { request, len } => (self.answer(conn, &request), len),
                Parsed::Error(e) => {
                    // A 405 answered a whole request; any other error ends the stream.
                    let len = match e {
                        HttpError::MethodNotAllowed { len, .. } => len,
                        _ => data.len() - used,
                    };
                    (self.refuse(conn, &e), len)
                }
            };
            match answer {
                Answer::Blocked => {
                    self.stats.send_queue_full += 1;
                    break;
                }
                Answer::Sent => {
                    used += len;
                    self.conns[conn.handle().index()].waiting_since = self.now_secs;
                }
                Answer::Closing => {
                    let state = &mut self.conns[conn.handle().index()];
                    state.closing = true;
                    conn.close();
                    return data.len();
                }
            }
        }
        used
    }

    fn send(&mut self, conn: &mut Conn<'_>, id: ObjectId, keep: bool) -> Answer {
        match conn.send_prepared(id) {
            Ok(()) => {
                self.stats.requests += 1;
                if keep {
                    Answer::Sent
                } else {
                    Answer::Closing
                }
            }
            Err(tcpip::SendError::QueueFull) => Answer::Blocked,
            Err(_) => Answer::Closing,
        }
    }

    fn answer(&mut self, conn: &mut Conn<'_>, req: &Request<'_>) -> Answer {
        let keep = req.keep_alive;
        let path = match path::normalize(req.target) {
            Ok(p) => p,
            Err(_) => {
                self.stats.client_errors += 1;
                let bad = ErrorStatus::BadRequest;
                return match self.responses.error(bad, req.method, false, req.version) {
                    Some(id) => self.send(conn, id, false),
                    None => Answer::Closing,
                };
            }
        };
        let id = match self.site.lookup(&path) {
            Lookup::File(f) => {
                let Some(&k) = self.responses.by_path.get(f.path()) else {
                    return Answer::Closing;
                };
                let r = self.responses.files[k];
                let fresh = req
                    .if_none_match
                    .is_some_and(|h| response::etag_matches(h, f.etag()));
                if fresh {
                    self.stats.not_modified += 1;
                    r.not_modified.pick(keep, req.version)
                } else {
                    self.stats.ok += 1;
                    r.ok.pick(req.method, keep, req.version)
                }
            }
            Lookup::Redirect(location) => match self.responses.redirects.get(location) {
                Some(r) => {
                    self.stats.redirects += 1;
                    r.pick(req.method, keep, req.version)
                }
                None => return Answer::Closing,
            },
            Lookup::NotFound => {
                self.stats.not_found += 1;
                let missing = ErrorStatus::NotFound;
                match self.responses.error(missing, req.method, keep, req.version) {
                    Some(id) => id,
                    None => return Answer::Closing,
                }
            }
        };
        self.send(conn, id, keep)
    }

    /// A request the parser refused: its error response.
    fn refuse(&mut self, conn: &mut Conn<'_>, e: &HttpError) -> Answer {
        let status = ErrorStatus::from_code(e.status()).unwrap_or(ErrorStatus::BadRequest);
        self.stats.client_errors += 1;
        let keep = match e {
            HttpError::MethodNotAllowed { keep_alive, .. } => *keep_alive,
            _ => false,
        };
        match self
            .responses
            .error(status, Method::Get, keep, Version::Http11)
        {
            Some(id) => self.send(conn, id, keep),
            None => Answer::Closing,
        }
    }
}

/// The most a connection buffers: an incomplete head is refused by the parser at
/// [`http::MAX_HEAD`] (431); beyond that only pipelined requests waiting for room in the
/// send queue are held, up to this.
const BUF_LIMIT: usize = 64 * 1024;

impl TcpApp for WebServer {
    fn on_accept(&mut self, conn: &mut Conn<'_>) {
        let now = self.now_secs;
        match self.conns.get_mut(conn.handle().index()) {
            Some(state) => {
                state.buf.clear();
                state.closing = false;
                state.handle = Some(conn.handle());
                state.waiting_since = now;
                self.stats.accepted += 1;
            }
            None => conn.abort(),
        }
    }

    fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
        self.serve(conn, data);
    }

    fn on_acked(&mut self, conn: &mut Conn<'_>, _bytes: usize) {
        let i = conn.handle().index();
        if self
            .conns
            .get(i)
            .is_some_and(|s| s.handle.is_some() && !s.closing && !s.buf.is_empty())
        {
            self.drain_buffer(conn);
        }
    }

    fn on_closed(&mut self, handle: Handle, reason: CloseReason) {
        if let Some(state) = self.conns.get_mut(handle.index()) {
            state.handle = None;
            state.closing = false;
            state.buf.clear();
        }
        self.stats.closed += 1;
        if reason != CloseReason::Normal {
            self.stats.failed += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nmio::Instant;
    use std::net::{Ipv4Addr, SocketAddrV4};
    use std::time::Duration;
    use tcpip::sink::VecSink;
    use tcpip::{TcpConfig, TcpCore};

    const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    /// A client that sends its chunks one `act` at a time and keeps what comes back.
    #[derive(Default)]
    struct Client {
        local: Option<SocketAddrV4>,
        got: Vec<u8>,
        peer_closed: bool,
        closed: Option<CloseReason>,
    }

    impl TcpApp for Client {
        fn on_connected(&mut self, conn: &mut Conn<'_>) {
            self.local = Some(conn.local());
        }
        fn on_data(&mut self, _conn: &mut Conn<'_>, data: &[u8]) {
            self.got.extend_from_slice(data);
        }
        fn on_peer_closed(&mut self, conn: &mut Conn<'_>) {
            self.peer_closed = true;
            conn.close();
        }
        fn on_closed(&mut self, _h: Handle, reason: CloseReason) {
            self.closed = Some(reason);
        }
    }

    struct Pair {
        now: Instant,
        server: TcpCore,
        web: WebServer,
        client: TcpCore,
        capp: Client,
        h: Handle,
    }

    impl Pair {
        fn new(cfg: WebConfig) -> Pair {
            let now = Instant::from_millis(1000);
            let tcp = TcpConfig {
                max_connections: cfg.max_connections,
                ..TcpConfig::default()
            };
            let mut server = TcpCore::new(tcp.clone(), now).unwrap();
            let site = Site::bundled();
            let date = response::format_date(std::time::SystemTime::now());
            let responses =
                Responses::prepare(&site, &date, |b| Ok::<_, ()>(server.prepare(b, 1448))).unwrap();
            let web = WebServer::new(site, responses, cfg);
            server.listen(80).unwrap();
            let mut client = TcpCore::new(tcp, now).unwrap();
            let mut sink = VecSink::new(64);
            let h = client
                .connect(
                    now,
                    SocketAddrV4::new(CLIENT, 0),
                    SocketAddrV4::new(SERVER, 80),
                    &mut sink,
                )
                .unwrap();
            let mut p = Pair {
                now,
                server,
                web,
                client,
                capp: Client::default(),
                h,
            };
            p.deliver_to_server(sink);
            p.settle();
            p
        }

        fn deliver_to_server(&mut self, mut sink: VecSink) {
            let segs = sink.drain();
            if segs.is_empty() {
                return;
            }
            let mut back = VecSink::new(4096);
            for (src, dst, seg) in segs {
                self.server
                    .on_segment(self.now, src, dst, &seg, &mut self.web, &mut back);
            }
            self.deliver_to_client(back);
        }

        fn deliver_to_client(&mut self, mut sink: VecSink) {
            let segs = sink.drain();
            if segs.is_empty() {
                return;
            }
            let mut back = VecSink::new(4096);
            for (src, dst, seg) in segs {
                self.client
                    .on_segment(self.now, src, dst, &seg, &mut self.capp, &mut back);
            }
            self.deliver_to_server(back);
        }

        /// Run timers (delayed ACKs) until nothing moves for a while.
        fn settle(&mut self) {
            for _ in 0..200 {
                self.now = self.now + Duration::from_millis(10);
                let mut s = VecSink::new(4096);
                self.server.on_timeout(self.now, &mut self.web, &mut s);
                self.deliver_to_client(s);
                let mut c = VecSink::new(4096);
                self.client.on_timeout(self.now, &mut self.capp, &mut c);
                self.deliver_to_server(c);
            }
        }

        fn send(&mut self, bytes: &[u8]) {
            let mut sink = VecSink::new(4096);
            let h = self.h;
            self.client
                .act(self.now, h, &mut self.capp, &mut sink, |c| {
                    assert_eq!(c.send(bytes), bytes.len());
                });
            self.deliver_to_server(sink);
        }

        /// The responses received so far, split (`head` tells which had no body).
        fn responses(&self, head: &[bool]) -> Vec<(u16, String, Vec<u8>)> {
            let mut out = Vec::new();
            let mut at = 0;
            let g = &self.capp.got;
            for &is_head in head {
                let Some(end) = g[at..].windows(4).position(|w| w == b"\r\n\r\n") else {
                    break;
                };
                let text = String::from_utf8_lossy(&g[at..at + end + 4]).to_string();
                let status: u16 = text[9..12].parse().unwrap();
                let len: usize = text
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .map_or(0, |v| v.trim().parse().unwrap());
                let body_at = at + end + 4;
                let blen = if is_head || status == 304 { 0 } else { len };
                out.push((status, text, g[body_at..body_at + blen].to_vec()));
                at = body_at + blen;
            }
            assert_eq!(at, g.len(), "bytes after the responses expected");
            out
        }
    }

    fn index_html() -> Vec<u8> {
        match Site::bundled().lookup("/") {
            Lookup::File(f) => f.body().to_vec(),
            _ => panic!("bundled site has no index"),
        }
    }

    #[test]
    fn get_and_head_of_the_index_on_one_kept_connection() {
        let mut p = Pair::new(WebConfig::default());
        p.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        p.send(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
        p.settle();
        let r = p.responses(&[false, true]);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].0, 200);
        assert_eq!(r[0].2, index_html());
        assert!(r[0].1.contains("Content-Type: text/html"));
        assert_eq!(r[1].0, 200);
        assert!(r[1].2.is_empty());
        assert!(!p.capp.peer_closed, "1.1 keeps the connection");
        assert_eq!(p.web.stats().requests, 2);
    }

    #[test]
    fn pipelined_requests_are_answered_in_order() {
        let mut p = Pair::new(WebConfig::default());
        p.send(
            b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /missing HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /docs HTTP/1.1\r\nHost: x\r\n\r\nGET /docs/ HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        p.settle();
        let r = p.responses(&[false; 4]);
        let codes: Vec<u16> = r.iter().map(|r| r.0).collect();
        assert_eq!(codes, [200, 404, 301, 200]);
        assert!(r[2].1.contains("Location: /docs/\r\n"));
    }

    #[test]
    fn a_request_split_byte_by_byte_gets_one_answer() {
        let mut p = Pair::new(WebConfig::default());
        for b in b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" {
            p.send(&[*b]);
        }
        p.settle();
        let r = p.responses(&[false]);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].2, index_html());
    }

    #[test]
    fn http10_without_keep_alive_is_answered_and_closed() {
        let mut p = Pair::new(WebConfig::default());
        p.send(b"GET / HTTP/1.0\r\n\r\n");
        p.settle();
        let r = p.responses(&[false]);
        assert_eq!(r[0].0, 200);
        assert!(r[0].1.contains("Connection: close"));
        assert!(p.capp.peer_closed);
        assert_eq!(p.capp.closed, Some(CloseReason::Normal));
        assert_eq!(p.web.open_connections(), 0);
    }

    #[test]
    fn http10_keep_alive_stays_open() {
        let mut p = Pair::new(WebConfig::default());
        p.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        p.send(b"GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        p.settle();
        let r = p.responses(&[false, false]);
        assert!(r[0].1.contains("Connection: keep-alive"));
        assert_eq!((r[0].0, r[1].0), (200, 200));
        assert!(!p.capp.peer_closed);
    }

    #[test]
    fn traversal_gets_400_and_the_connection_closes() {
        let mut p = Pair::new(WebConfig::default());
        p.send(b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n");
        p.settle();
        let r = p.responses(&[false]);
        assert_eq!(r[0].0, 400);
        assert!(p.capp.peer_closed);
    }

    #[test]
    fn matching_etag_gets_304_and_other_methods_get_405_with_allow() {
        let mut p = Pair::new(WebConfig::default());
        let etag = match p.web.site().lookup("/hello.txt") {
            Lookup::File(f) => f.etag().to_string(),
            _ => panic!(),
        };
        let req = format!("GET /hello.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n");
        p.send(req.as_bytes());
        p.send(b"DELETE /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        p.send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        p.settle();
        let r = p.responses(&[false, false, false]);
        assert_eq!(r[0].0, 304);
        assert!(r[0].2.is_empty());
        assert_eq!(r[1].0, 405);
        assert!(r[1].1.contains("Allow: GET, HEAD\r\n"));
        assert_eq!(r[2].0, 200, "a 405 keeps the connection");
    }

    #[test]
    fn a_connection_that_never_completes_a_request_times_out() {
        let cfg = WebConfig {
            header_timeout: 10,
            ..WebConfig::default()
        };
        // Accepted at second 0; a slow client sends part of a request at 5.
        let mut p = Pair::new(cfg);
        assert!(p.web.sweep(5).is_empty());
        p.send(b"GET / HTTP/1.1\r\nHo");
        assert!(p.web.sweep(10).is_empty(), "at least the full timeout");
        let expired = p.web.sweep(11).to_vec();
        assert_eq!(expired, [p.h_server()]);
        assert_eq!(p.web.stats().header_timeouts, 1);
        assert!(p.web.sweep(12).is_empty(), "counted once");
    }

    impl Pair {
        fn h_server(&self) -> Handle {
            self.server
                .find(SocketAddrV4::new(SERVER, 80), self.client_addr())
                .unwrap()
        }
        fn client_addr(&self) -> SocketAddrV4 {
            self.capp.local.unwrap()
        }
    }
}
