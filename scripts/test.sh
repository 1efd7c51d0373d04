#!/usr/bin/env bash
# The test command: set up, then format check, lints and the whole test suite.
# As root the namespace / veth / TAP tests run; without root they print why they skip.
set -euo pipefail
cd "$(dirname "$0")/.."
# Optional backends built and tested here (each needs only what setup.sh installs).
FEATURES=apps/afxdp,apps/netmap,apps/dpdk,tests/afxdp,tests/netmap,tests/dpdk
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -q -- -D warnings
cargo clippy --workspace --all-targets -q --features "$FEATURES" -- -D warnings
cargo test --workspace --features "$FEATURES"
# The server interop tests once more, unchanged, with the servers on AF_XDP.
INTEROP=(--test web_interop --test dns_interop --test tcp_interop)
APPS_TEST_BACKEND=afxdp cargo test --workspace --features "$FEATURES" "${INTEROP[@]}"
# And on DPDK (net_af_packet on the same veth end, EAL without huge pages).
APPS_TEST_BACKEND=dpdk cargo test --workspace --features "$FEATURES" "${INTEROP[@]}"
