//! Servers and tools built from the stack's crates.
