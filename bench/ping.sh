#!/usr/bin/env bash
# ICMP echo service: the kernel's stack against ipstack (afpacket), on the same veth end.
#
#   sudo bench/ping.sh            # N=20000 flood pings per size
#
# Layout: two namespaces joined by veth pc (client, 10.92.0.1/24) <-> ps (server). The
# kernel case puts 10.92.0.2 on ps; the stack case leaves ps without an address and runs
# ipstack on it as 10.92.0.3, pinned to CPU 1, once with each AF_PACKET receive ring (V3
# blocks, the default; V2 per-frame slots, the latency option; V2 with a spinning loop). The client is `ping -f` (flood: the next
# request leaves when the reply arrives, or after 10 ms), pinned to CPU 0, so the rate is
# bounded by the round trip: this compares latency, not capacity. On veth the kernel
# answers in the softirq of the sending CPU, so its reply costs no context switch at all;
# the stack's process has to be woken from poll() for each request.
# Everything is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-20000}
[ "$(id -u)" = 0 ] || { echo "bench/ping.sh: needs root (network namespaces, raw sockets)"; exit 1; }
cargo build --release -q -p apps --bin ipstack
BIN=${CARGO_TARGET_DIR:-target}/release/ipstack
C=pgc-$$
S=pgs-$$
cleanup() {
    [ -n "${SPID:-}" ] && kill "$SPID" 2>/dev/null || true
    ip netns del "$C" 2>/dev/null || true
    ip netns del "$S" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$C"
ip netns add "$S"
ip -n "$C" link add pc type veth peer name ps netns "$S"
for ns_dev in "$C pc" "$S ps"; do
    set -- $ns_dev
    ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "$1" link set "$2" up
    ip -n "$1" link set lo up
    ip netns exec "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1 || true
done
ip -n "$C" addr add 10.92.0.1/24 dev pc

# flood SIZE DST -> "pings_per_s avg_rtt_us lost"
flood() {
    local out
    out=$(taskset -c 0 ip netns exec "$C" timeout 120 ping -f -q -c "$N" -s "$1" "$2" 2>&1 || true)
    # ping's "time" has 1 ms resolution; its mean inter-packet gap (ipg) is finer.
    echo "$out" | awk -v n="$N" '
        / packets transmitted/ { for (i = 1; i <= NF; i++) if ($(i+1) == "received,") rx = $i }
        /^rtt/ { split($4, r, "/"); avg = r[2]; split($7, g, "/"); ipg = g[1] }
        END { printf "%.0f %.1f %d\n", (ipg > 0 ? 1000 / ipg : 0), avg * 1000, n - rx }'
}

printf '| server | payload | pings/s | avg RTT | lost |\n|---|---:|---:|---:|---:|\n'
declare -A RATE
for size in 56 1400; do
    ip -n "$S" addr add 10.92.0.2/24 dev ps
    read -r rate rtt lost < <(flood "$size" 10.92.0.2)
    ip -n "$S" addr flush dev ps
    RATE[kernel-$size]=$rate
    printf '| kernel | %s B | %s | %s us | %s |\n' "$size" "$rate" "$rtt" "$lost"

    for variant in v3 v2 v2-busy; do
        ring=${variant%-busy}
        extra=()
        [ "$variant" = v2-busy ] && extra=(--busy-poll)
        taskset -c 1 ip netns exec "$S" "$BIN" --backend afpacket --iface ps --addr 10.92.0.3/24 \
            --rx-ring "$ring" "${extra[@]}" --quiet >/dev/null 2>&1 &
        SPID=$!
        sleep 0.5
        ip netns exec "$C" ping -c 1 -W 2 10.92.0.3 >/dev/null 2>&1 || true # ARP warm-up
        read -r rate rtt lost < <(flood "$size" 10.92.0.3)
        kill -INT "$SPID"; wait "$SPID" 2>/dev/null || true; SPID=
        RATE[$variant-$size]=$rate
        printf '| ipstack (afpacket, %s) | %s B | %s | %s us | %s |\n' "$variant" "$size" "$rate" "$rtt" "$lost"
    done
done
for size in 56 1400; do
    for variant in v3 v2 v2-busy; do
        awk -v s="${RATE[$variant-$size]}" -v k="${RATE[kernel-$size]}" -v z="$size" -v r="$variant" \
            'BEGIN { if (k > 0) printf "stack (%s) / kernel pings/s at %s B: %.3g\n", r, z, s / k }'
    done
done
