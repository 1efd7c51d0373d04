#!/usr/bin/env bash
# Install what the project needs on a fresh Debian 12 machine (as root; idempotent).
# Rust itself comes from rustup and is expected on PATH.
set -euo pipefail
PKGS=(iproute2 ethtool iputils-ping iputils-arping netsniff-ng procps curl python3 wrk bind9-dnsutils tshark dnsperf libdpdk-dev pkg-config libclang-dev)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "setup: missing Debian packages ${missing[*]}: run as root to install them" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "setup: cargo not found (install Rust with rustup)" >&2; exit 1; }
