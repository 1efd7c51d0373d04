//! Cross-crate integration tests and shared test fixtures.
