//! Raw bindings to the system DPDK (22.11, found by pkg-config) for nmio's `dpdk` backend.
//!
//! Built only with the `required` feature (nmio's `dpdk` feature turns it on); without it
//! this crate is empty, so the rest of the workspace builds on machines without DPDK. With
//! it, a missing DPDK stops the build with `libdpdk not found: apt-get install
//! libdpdk-dev`.
//!
//! Two parts, both generated into one module at build time:
//!
//! - the control-path API the backend calls (EAL init, device probe, port configure and
//!   start, mempools, stats), bound by bindgen from DPDK's own headers;
//! - `dpdk_shim_*`: a small C shim (`src/shim.c`) for the fast path, which DPDK writes as
//!   `static inline` functions bindgen cannot bind: RX/TX burst, mbuf alloc/free/refcnt.
//!   The shim also reads the mbuf fields the RX path needs, so no Rust code depends on the
//!   layout of `struct rte_mbuf`.
//!
//! Linking: the shared `librte_*` libraries. DPDK's drivers (`net_af_packet`, `net_ring`,
//! `net_tap`, the ring mempool, PCI NIC drivers...) are not linked in: a shared-library EAL
//! loads every driver in its plugin directory (`/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0`
//! on Debian 12) at `rte_eal_init`, and `-d PATH` loads more.
//!
//! Everything here is `unsafe` FFI; the safe layer is `nmio::backend::dpdk`.

#[cfg(feature = "required")]
#[allow(
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code,
    unsafe_op_in_unsafe_fn,
    clippy::all,
    clippy::pedantic,
    clippy::undocumented_unsafe_blocks,
    missing_docs
)]
mod bindings {
    include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
}

#[cfg(feature = "required")]
pub use bindings::*;
