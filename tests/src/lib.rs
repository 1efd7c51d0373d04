//! Cross-crate integration tests and shared test fixtures.
//!
//! [`cli`] checks what programs print on bad input. [`netns`] creates uniquely named network namespaces and veth pairs that are removed on
//! drop (even when the test panics), and decides whether root-only tests run or say why
//! they skip. [`packet_socket`] is a raw AF_PACKET socket to inject and watch frames. [`tso`] builds the TCP super-frames the AF_PACKET TSO tests send.

pub mod cli;
pub mod conformance;
pub mod netns;
pub mod packet_socket;
pub mod tso;

/// The backend the server-level interop tests (apps' `web_interop`, `dns_interop`,
/// `tcp_interop`) run their servers on: `APPS_TEST_BACKEND` (e.g. `afxdp`, for a build
/// with that feature), `afpacket` when unset. The tests themselves do not change.
pub fn interop_backend() -> String {
    std::env::var("APPS_TEST_BACKEND").unwrap_or_else(|_| "afpacket".into())
}
