//! Servers and tools built from the stack's crates.
//!
//! * `reflector`: an L2 reflector (swap MACs, send back), the raw backend ceiling.
//!
//! [`backend`] turns the common command-line options into an opened [`nmio::Port`].

pub mod backend;
