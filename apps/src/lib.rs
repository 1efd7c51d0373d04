//! Servers and tools built from the stack's crates.
//!
//! * `reflector`: an L2 reflector (swap MACs, send back), the raw backend ceiling.
//! * `ipstack`: the IPv4 layer alone (ARP, ping) on any backend.
//! * `udp-echo`: a UDP echo server on any backend.
//! * `tcp-serve`, `tcp-fetch`: a TCP test server and client ([`tcp_test`]).
//! * `web`: the static web server ([`web`]).
//! * `dns`: the authoritative DNS server ([`dns`]).
//! * `loadgen`: HTTP and DNS load on the stack ([`loadgen`]).
//!
//! No code here names a backend: `nmio::select` turns the common command-line options
//! into an opened [`nmio::Port`], and each app is generic over it; [`stack_cli`] holds
//! the interface options and run plumbing the stack apps share.

pub mod dns;
pub mod loadgen;
pub mod stack_cli;
pub mod tcp_test;
pub mod web;
