//! The Namestorm-style authoritative DNS server's parts (issue 7): the DNS wire format
//! ([`wire`]) and zone loading ([`zone`]). Preparation of every response and the server
//! itself come next.

pub mod wire;
pub mod zone;
