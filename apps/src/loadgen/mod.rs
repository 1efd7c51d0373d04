//! The load generator (`loadgen`): HTTP and DNS clients on the stack itself, so a server
//! can be measured where the client is not the limit (a kernel-socket client such as wrk or
//! dnsperf spends most of its CPU in the kernel's connection and socket work).
//!
//! * [`http`]: many HTTP/1.1 connections, keep-alive or a new connection per request.
//! * [`dns`]: DNS queries over UDP with a window of outstanding queries.

pub mod dns;
pub mod http;
