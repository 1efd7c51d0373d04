//! Cross-crate integration tests and shared test fixtures.
//!
//! [`cli`] checks what programs print on bad input. [`netns`] creates uniquely named network namespaces and veth pairs that are removed on
//! drop (even when the test panics), and decides whether root-only tests run or say why
//! they skip.

pub mod cli;
pub mod conformance;
pub mod netns;
