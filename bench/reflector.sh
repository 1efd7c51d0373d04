#!/usr/bin/env bash
# Reflector packets/s over a veth pair, per backend, against a kernel-side trafgen sender.
#
#   sudo bench/reflector.sh            # DUR=5 seconds per run, 64-byte frames
#   sudo BACKENDS="afxdp" XDP_MODE=generic bench/reflector.sh
#   sudo BACKENDS="afpacket dpdk" bench/reflector.sh
#
# Layout: one namespace, veth rb0 <-> rb1. The reflector runs on rb0 (afpacket, afxdp,
# dpdk) or on a TAP device rt0 (tap), pinned to CPU 1; trafgen sends 64-byte frames into
# rb1 / rt0 from CPU 0 (trafgen pins its one worker to CPU 0 itself, whatever taskset says),
# bounded by `timeout`. On veth the kernel's receive work for a frame runs on the sending CPU, so
# trafgen's CPU pays for delivering frames into the reflector's ring, and the reflector's
# CPU pays for its own sends and their delivery to rb1. Each backend runs twice: `count`
# (the reflector's --count-only, a plain receiver that only counts: TPACKET_V3 ring,
# read() on the TAP, the AF_XDP RX ring; the baseline) and `reflect` (swap MACs, send back).
# afxdp binds queue 0 of rb0 in copy mode (veth has no zero-copy) with its XDP program in
# XDP_MODE: native (veth's own XDP hook, in its NAPI poll) or generic (after the skb is
# built). dpdk opens rb0 through DPDK's net_af_packet PMD (DPDK on a TPACKET_V2 AF_PACKET
# socket, which copies each frame between the kernel's ring and an mbuf, both ways), its
# count row also the reflector's --count-only; the EAL gets `-l 1`, since it pins its thread
# to its main lcore whatever taskset said (each run checks that every thread of the reflector
# may run on CPU 1 only, or stops). net_af_packet (DPDK 22.11) reports no drops of its
# socket, so the dpdk ring_drops are the frames rb0 received less those the reflector got.
# The pipe row is the in-process wire with the built-in generator (both threads share the 2
# CPUs). Everything is removed on exit.
#
# BACKENDS: any of afpacket afxdp tap dpdk (default "afpacket afxdp tap dpdk", without dpdk
# where pkg-config finds no libdpdk; afxdp builds with `--features afxdp`, dpdk with
# `--features dpdk`, which needs libdpdk-dev, pkg-config and libclang-dev).
# REFLECT_ARGS: extra reflector options for every run, e.g. "--busy-poll".
set -euo pipefail
cd "$(dirname "$0")/.."
ME=bench/reflector.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC1091
. bench/lib.sh
DUR=${DUR:-5}
BACKENDS=${BACKENDS:-$(with_dpdk "afpacket afxdp tap")}
XDP_MODE=${XDP_MODE:-native}
REFLECT_ARGS=${REFLECT_ARGS:-}
# The reflector's CPU: its taskset, and DPDK's main lcore (`-l`); the cpu1 columns read CPU 1.
PIN=1
die() { echo "$ME: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, raw sockets)"
command -v trafgen >/dev/null || die "needs trafgen (apt-get install netsniff-ng)"
# shellcheck disable=SC2086 # BACKENDS is a word list
check_backends "afpacket afxdp tap dpdk" $BACKENDS
case $XDP_MODE in native | generic | auto) ;; *) die "XDP_MODE must be native, generic or auto" ;; esac
cargo build --release -q -p apps "${features[@]}" --bin reflector
BIN=${CARGO_TARGET_DIR:-target}/release/reflector
HAVE_COUNT=1
"$BIN" --help | grep -q -- '--count-only' || HAVE_COUNT=0
NS=nmb-$$
TMP=/tmp/nmb-$$
cleanup() {
    if [ -n "${RPID:-}" ]; then kill "$RPID" 2>/dev/null || true; fi
    ip netns del "$NS" 2>/dev/null || true
    rm -f "$TMP"-*
}
trap cleanup EXIT
trap 'exit 130' INT TERM
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

# run BACKEND IFACE MODE -> writes "rx_pps tx_pps drops sent_pps cpu1_busy cpu1_user" to $TMP-res
run() {
    local backend=$1 dev=$2 mode=$3 extra=()
    [ "$mode" = count ] && extra=(--count-only)
    [ "$backend" = afxdp ] && extra+=(--xdp-mode "$XDP_MODE")
    [ "$backend" = dpdk ] && extra+=(--eal "$(dpdk_eal "$PIN")")
    # shellcheck disable=SC2206
    extra+=($REFLECT_ARGS)
    local out=$TMP-out err=$TMP-err
    : >"$err"
    taskset -c "$PIN" ip netns exec "$NS" "$BIN" --backend "$backend" --iface "$dev" \
        --duration "$((DUR + 2))" --quiet "${extra[@]}" >"$out" 2>"$err" &
    RPID=$!
    # Wait (at most 5 s) for its start-up line: the device (tap), rings and XDP program are set.
    for _ in $(seq 50); do
        grep -q '^reflector: ' "$err" && break
        kill -0 "$RPID" 2>/dev/null || break
        sleep 0.1
    done
    if ! grep -q '^reflector: ' "$err"; then
        cat "$err" >&2
        die "the $backend reflector ($mode) did not start on $dev"
    fi
    check_pinned "$RPID" "$PIN" "the $backend reflector ($mode)"
    if [ "$backend" = dpdk ]; then
        echo "  ($mode) $(grep '^dpdk: ' "$err" || echo 'dpdk: no start-up line'); threads' CPUs: $(thread_cpus "$RPID")" >>"$TMP-dnotes"
    fi
    sleep 0.3
    local mac
    if [ "$backend" = tap ]; then mac=ff:ff:ff:ff:ff:ff; else mac=$(nsx cat /sys/class/net/rb0/address); fi
    local tdev=rb1
    [ "$backend" = tap ] && tdev=$dev
    frame "$mac" >"$TMP-cfg"
    local got0
    got0=$(nsx cat /sys/class/net/rb0/statistics/rx_packets)
    local c0
    c0=$(grep '^cpu1 ' /proc/stat)
    nsx timeout --signal=INT "$DUR" trafgen --dev "$tdev" --conf "$TMP-cfg" \
        --cpus 1 --no-sock-mem --notouch-irq --no-cpu-stats >"$TMP-tg" 2>&1 || true
    local c1
    c1=$(grep '^cpu1 ' /proc/stat)
    # CPU 1 (the reflector's) during the traffic: busy % and the user-space part of it.
    local cpu
    cpu=$(printf '%s\n%s\n' "$c0" "$c1" | awk '
        NR == 1 { for (i = 2; i <= 11; i++) a[i] = $i }
        NR == 2 { for (i = 2; i <= 11; i++) d[i] = $i - a[i]; t = 0; for (i = 2; i <= 11; i++) t += d[i]
                  printf "%.0f %.0f", 100 * (t - d[5] - d[6]) / t, 100 * (d[2] + d[3]) / t }')
    local rc=0
    wait "$RPID" || rc=$?
    RPID=
    local res
    if ! res=$(grep '^RESULT' "$out"); then
        cat "$err" >&2
        die "the $backend reflector ($mode) exited ($rc) without a RESULT line"
    fi
    if [ "$backend" = afxdp ]; then
        grep '^afxdp: ' "$err" | sed "s/^/  ($mode) /" >>"$TMP-notes" || true
    fi
    local rx tx drops sent
    rx=$(echo "$res" | sed -n 's/.*rx_pps=\([0-9]*\).*/\1/p')
    tx=$(echo "$res" | sed -n 's/.*tx_pps=\([0-9]*\).*/\1/p')
    drops=$(echo "$res" | sed -n 's/.*rx_ring_full=\([0-9]*\).*/\1/p')
    if [ "$backend" = dpdk ]; then
        # The PMD counts none: frames delivered to rb0 that the reflector never got.
        local got1 frames
        got1=$(nsx cat /sys/class/net/rb0/statistics/rx_packets)
        frames=$(echo "$res" | sed -n 's/.*rx_frames=\([0-9]*\).*/\1/p')
        drops=$((got1 - got0 - frames))
        [ "$drops" -ge 0 ] || drops=0
    fi
    sent=$(tr '\r' '\n' <"$TMP-tg" | sed -n 's/^ *\([0-9]*\) packets outgoing.*/\1/p' | head -1)
    [ -n "$sent" ] || { cat "$TMP-tg" >&2; die "trafgen sent nothing into $tdev ($backend, $mode)"; }
    rm -f "$out" "$err" "$TMP-cfg" "$TMP-tg"
    echo "$rx $tx ${drops:-0} $((sent / DUR)) $cpu" >"$TMP-res"
}

label() { if [ "$1" = afxdp ]; then echo "afxdp-$XDP_MODE"; else echo "$1"; fi; }
echo "command: DUR=$DUR BACKENDS=\"$BACKENDS\" XDP_MODE=$XDP_MODE${REFLECT_ARGS:+ REFLECT_ARGS=\"$REFLECT_ARGS\"} $ME"
row() { printf '%-14s %-8s %12s %12s %12s %12s %9s %9s %9s\n' "$@"; }
row backend mode offered_pps rx_pps tx_pps ring_drops rx/count cpu1_busy cpu1_user
for backend in $BACKENDS; do
    dev=rb0
    [ "$backend" = tap ] && dev=rt0
    crx=0
    if [ "$HAVE_COUNT" = 1 ]; then
        run "$backend" "$dev" count
        read -r crx _ cdrop csent cbusy cuser <"$TMP-res"
    fi
    run "$backend" "$dev" reflect
    read -r rrx rtx rdrop rsent rbusy ruser <"$TMP-res"
    rm -f "$TMP-res"
    ratio=$(awk -v a="$rrx" -v b="$crx" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
    if [ "$HAVE_COUNT" = 1 ]; then
        row "$(label "$backend")" count "$csent" "$crx" - "$cdrop" 1.00 "$cbusy%" "$cuser%"
    else
        row "$(label "$backend")" count - - - - - - -
    fi
    row "$(label "$backend")" reflect "$rsent" "$rrx" "$rtx" "$rdrop" "$ratio" "$rbusy%" "$ruser%"
done
res=$("$BIN" --duration "$DUR" --quiet 2>/dev/null | grep '^RESULT') || die "the pipe reflector gave no RESULT line"
prx=$(echo "$res" | sed -n 's/.*rx_pps=\([0-9]*\).*/\1/p')
ptx=$(echo "$res" | sed -n 's/.*tx_pps=\([0-9]*\).*/\1/p')
row pipe reflect - "$prx" "$ptx" - - - -
[ "$HAVE_COUNT" = 1 ] || echo "count rows skipped: this reflector has no --count-only"
if [ -s "$TMP-notes" ]; then
    echo "afxdp as bound:"
    cat "$TMP-notes"
fi
if [ -s "$TMP-dnotes" ]; then
    echo "dpdk (net_af_packet), EAL \"$(dpdk_eal "$PIN")\"; its ring_drops: frames rb0 received less frames the reflector received:"
    cat "$TMP-dnotes"
fi
