#!/usr/bin/env bash
# Reflector packets/s over a veth pair, per backend, against a kernel-side trafgen sender.
#
#   sudo bench/reflector.sh            # DUR=5 seconds per run, 64-byte frames
#
# Layout: one namespace, veth rb0 <-> rb1. The reflector runs on rb0 (afpacket) or on a TAP
# device rt0 (tap), pinned to CPU 1; trafgen sends 64-byte frames into rb1 / rt0 from CPU 0
# (trafgen pins its one worker to CPU 0 itself, whatever taskset says), bounded by `timeout`.
# On veth the kernel's receive work for a frame runs on the sending CPU, so trafgen's CPU
# pays for delivering frames into the reflector's ring, and the reflector's CPU pays for
# its own sends and their delivery to rb1. Each backend runs twice: `count` (a plain TPACKET_V3 / read()
# receiver that only counts, the baseline) and `reflect` (swap MACs, send back). The pipe
# row is the in-process wire with the built-in generator (both threads share the 2 CPUs).
# Everything is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-5}
[ "$(id -u)" = 0 ] || { echo "bench/reflector.sh: needs root (network namespaces, raw sockets)"; exit 1; }
command -v trafgen >/dev/null || { echo "bench/reflector.sh: needs trafgen (apt-get install netsniff-ng)"; exit 1; }
cargo build --release -q -p apps --bin reflector
BIN=${CARGO_TARGET_DIR:-target}/release/reflector
NS=nmb-$$
cleanup() {
    [ -n "${RPID:-}" ] && kill "$RPID" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$NS"
nsx() { ip netns exec "$NS" "$@"; }
nsx sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
nsx ip link add rb0 type veth peer name rb1
for d in rb0 rb1; do
    nsx ip link set "$d" up
    nsx ethtool -K "$d" tx off tso off gso off gro off >/dev/null 2>&1 || true
done

# 64-byte frames (60 + FCS) to `mac`, a private EtherType, varying payload.
frame() {
    local mac=$1
    echo "{ $(echo "$mac" | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g; s/:/ /g') 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, c16(0x88b5), drnd(4), fill(0x00, 42) }"
}

# run BACKEND IFACE MODE -> prints "rx_pps tx_pps sent"
run() {
    local backend=$1 dev=$2 mode=$3 extra=()
    [ "$mode" = count ] && extra=(--count-only)
    local out=/tmp/nmb-$$-out
    taskset -c 1 ip netns exec "$NS" "$BIN" --backend "$backend" --iface "$dev" \
        --duration "$((DUR + 1))" --quiet ${REFLECT_ARGS:-} "${extra[@]}" >"$out" 2>/dev/null &
    RPID=$!
    # Wait for the device (tap) and the reflector's rings.
    for _ in $(seq 50); do nsx ip link show "$dev" >/dev/null 2>&1 && break; sleep 0.1; done
    sleep 0.5
    local mac
    if [ "$backend" = tap ]; then mac=ff:ff:ff:ff:ff:ff; else mac=$(nsx cat /sys/class/net/rb0/address); fi
    local tdev=rb1
    [ "$backend" = tap ] && tdev=$dev
    frame "$mac" >/tmp/nmb-$$-cfg
    local c0
    c0=$(grep '^cpu1 ' /proc/stat)
    nsx timeout --signal=INT "$DUR" trafgen --dev "$tdev" --conf /tmp/nmb-$$-cfg \
        --cpus 1 --no-sock-mem --notouch-irq --no-cpu-stats >/tmp/nmb-$$-tg 2>&1 || true
    local c1
    c1=$(grep '^cpu1 ' /proc/stat)
    # CPU 1 (the reflector's) during the traffic: busy % and the user-space part of it.
    local cpu
    cpu=$(printf '%s\n%s\n' "$c0" "$c1" | awk '
        NR == 1 { for (i = 2; i <= 11; i++) a[i] = $i }
        NR == 2 { for (i = 2; i <= 11; i++) d[i] = $i - a[i]; t = 0; for (i = 2; i <= 11; i++) t += d[i]
                  printf "%.0f %.0f", 100 * (t - d[5] - d[6]) / t, 100 * (d[2] + d[3]) / t }')
    wait "$RPID" || true
    RPID=
    local res
    res=$(grep '^RESULT' "$out" || echo "RESULT rx_pps=0 tx_pps=0")
    local rx tx drops sent
    rx=$(echo "$res" | sed -n 's/.*rx_pps=\([0-9]*\).*/\1/p')
    tx=$(echo "$res" | sed -n 's/.*tx_pps=\([0-9]*\).*/\1/p')
    drops=$(echo "$res" | sed -n 's/.*rx_ring_full=\([0-9]*\).*/\1/p')
    sent=$(tr '\r' '\n' </tmp/nmb-$$-tg | sed -n 's/^ *\([0-9]*\) packets outgoing.*/\1/p' | head -1)
    rm -f "$out" /tmp/nmb-$$-cfg /tmp/nmb-$$-tg
    echo "$rx $tx ${drops:-0} $(( ${sent:-0} / DUR )) $cpu" >/tmp/nmb-$$-res
}

fmt='%-9s %-8s %12s %12s %12s %12s %9s %9s %9s\n'
printf "$fmt" backend mode offered_pps rx_pps tx_pps ring_drops rx/count cpu1_busy cpu1_user
for backend in afpacket tap; do
    dev=rb0
    [ "$backend" = tap ] && dev=rt0
    run "$backend" "$dev" count
    read -r crx _ cdrop csent cbusy cuser </tmp/nmb-$$-res
    run "$backend" "$dev" reflect
    read -r rrx rtx rdrop rsent rbusy ruser </tmp/nmb-$$-res
    rm -f /tmp/nmb-$$-res
    ratio=$(awk -v a="$rrx" -v b="$crx" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
    printf "$fmt" "$backend" count "$csent" "$crx" - "$cdrop" 1.00 "$cbusy%" "$cuser%"
    printf "$fmt" "$backend" reflect "$rsent" "$rrx" "$rtx" "$rdrop" "$ratio" "$rbusy%" "$ruser%"
done
res=$("$BIN" --duration "$DUR" --quiet 2>/dev/null | grep '^RESULT')
prx=$(echo "$res" | sed -n 's/.*rx_pps=\([0-9]*\).*/\1/p')
ptx=$(echo "$res" | sed -n 's/.*tx_pps=\([0-9]*\).*/\1/p')
printf "$fmt" pipe reflect - "$prx" "$ptx" - - - -
