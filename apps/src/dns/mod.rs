//! The Namestorm-style authoritative DNS server's parts (issue 7): the DNS wire format
//! ([`wire`]), zone loading ([`zone`]) and every response prepared at start-up, looked up
//! by the lowercased wire-format question ([`prepare`]). The server itself comes next.

pub mod prepare;
pub mod rrl;
pub mod server;
pub mod tcp;
pub mod wire;
pub mod zone;
