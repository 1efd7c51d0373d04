//! DNS over TCP (RFC 7766, RFC 1035 4.2.2) on the project's TCP: each message is preceded
//! by its length in two octets; a connection may carry many queries, pipelined, answered
//! in order (RFC 7766 6.2.1.1 allows any order; in order is simplest). Answers come from
//! the same prepared responses as UDP ([`DnsServer::respond`] with [`Transport::Tcp`]:
//! never truncated below 65,535 octets).
//!
//! Per connection the server keeps the bytes of an incomplete message (at most one
//! message and its prefix, 65,537 octets) and the second it last heard from the client.
//! [`DnsTcp::sweep`], called once a second, names the connections idle longer than the
//! timeout (RFC 7766 6.2.3: servers should close idle connections; default 10 s) for the
//! caller to close. When TCP's send buffer has no room for an answer, the rest wait for
//! `on_acked`.

use super::server::{DnsServer, Transport};
use tcpip::{CloseReason, Conn, Handle, TcpApp};

/// The largest DNS message plus its length prefix.
const MAX_FRAME: usize = 2 + 65_535;

#[derive(Default)]
struct ConnState {
    handle: Option<Handle>,
    buf: Vec<u8>,
    last_heard: u64,
}

/// What the TCP side counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DnsTcpStats {
    /// Connections accepted.
    pub accepted: u64,
    /// Messages answered.
    pub answered: u64,
    /// Messages dropped unanswered (runts, responses).
    pub dropped: u64,
    /// Connections closed for idling past the timeout.
    pub idle_closed: u64,
    /// Times an answer waited for room in the send buffer.
    pub send_waits: u64,
}

/// The DNS-over-TCP application.
pub struct DnsTcp {
    server: DnsServer,
    conns: Vec<ConnState>,
    idle_timeout: u64,
    now_secs: u64,
    stats: DnsTcpStats,
    scratch: Vec<u8>,
    idle: Vec<Handle>,
}

impl DnsTcp {
    /// A TCP side answering with `server` (its own counters; the prepared answers are
    /// shared with UDP), for up to `max_connections`, closing connections idle for
    /// `idle_timeout` seconds.
    pub fn new(server: DnsServer, max_connections: usize, idle_timeout: u64) -> Self {
        let mut conns = Vec::new();
        conns.resize_with(max_connections, ConnState::default);
        DnsTcp {
            server,
            conns,
            idle_timeout: idle_timeout.max(1),
            now_secs: 0,
            stats: DnsTcpStats::default(),
            scratch: vec![0; MAX_FRAME],
            idle: Vec::new(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> DnsTcpStats {
        self.stats
    }

    /// The query counters of the TCP side (by RCODE).
    pub fn server(&self) -> &DnsServer {
        &self.server
    }

    /// Once a second: the time in whole seconds; the connections idle past the timeout
    /// (the caller closes them).
    pub fn sweep(&mut self, now_secs: u64) -> &[Handle] {
        self.now_secs = now_secs;
        self.idle.clear();
        for c in self.conns.iter_mut() {
            // Whole seconds as of the last sweep: wait until the timeout has surely passed.
            if now_secs.saturating_sub(c.last_heard) <= self.idle_timeout {
                continue;
            }
            if let Some(h) = c.handle.take() {
                c.buf.clear();
                self.stats.idle_closed += 1;
                self.idle.push(h);
            }
        }
        &self.idle
    }

    /// Answer every complete message buffered on the connection, while the send buffer
    /// has room.
    fn drain(&mut self, conn: &mut Conn<'_>) {
        let i = conn.handle().index();
        let mut used = 0;
        loop {
            let buf = &self.conns[i].buf[used..];
            if buf.len() < 2 {
                break;
            }
            let n = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
            if buf.len() < 2 + n {
                break;
            }
            let query = &buf[2..2 + n];
            match self
                .server
                .respond(query, &mut self.scratch[2..], Transport::Tcp)
            {
                Some(len) => {
                    if conn.send_space() < 2 + len {
                        self.stats.send_waits += 1;
                        break;
                    }
                    self.scratch[..2].copy_from_slice(&(len as u16).to_be_bytes());
                    conn.send(&self.scratch[..2 + len]);
                    self.stats.answered += 1;
                }
                None => self.stats.dropped += 1,
            }
            used += 2 + n;
        }
        self.conns[i].buf.drain(..used);
    }
}

impl TcpApp for DnsTcp {
    fn on_accept(&mut self, conn: &mut Conn<'_>) {
        let now = self.now_secs;
        match self.conns.get_mut(conn.handle().index()) {
            Some(c) => {
                c.handle = Some(conn.handle());
                c.buf.clear();
                c.last_heard = now;
                self.stats.accepted += 1;
            }
            None => conn.abort(),
        }
    }

    fn on_data(&mut self, conn: &mut Conn<'_>, data: &[u8]) {
        let now = self.now_secs;
        let Some(c) = self.conns.get_mut(conn.handle().index()) else {
            conn.abort();
            return;
        };
        if c.handle.is_none() {
            return;
        }
        c.last_heard = now;
        // Bounded: one whole message and its prefix, plus what pipelined behind it may
        // wait for the send buffer; beyond that the client is not reading its answers.
        if c.buf.len() + data.len() > 2 * MAX_FRAME {
            c.buf.clear();
            c.handle = None;
            conn.abort();
            return;
        }
        c.buf.extend_from_slice(data);
        self.drain(conn);
    }

    fn on_acked(&mut self, conn: &mut Conn<'_>, _bytes: usize) {
        let i = conn.handle().index();
        if self
            .conns
            .get(i)
            .is_some_and(|c| c.handle.is_some() && c.buf.len() >= 2)
        {
            self.drain(conn);
        }
    }

    fn on_closed(&mut self, handle: Handle, _reason: CloseReason) {
        if let Some(c) = self.conns.get_mut(handle.index()) {
            c.handle = None;
            c.buf.clear();
        }
    }
}
