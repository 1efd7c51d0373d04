#!/usr/bin/env bash
# Static web serving: our `web` server (once per backend: afpacket, afxdp, dpdk) against
# nginx, on the same veth end and the same pinned CPU, driven from another namespace on the
# other CPU by wrk and by our own load generator (`loadgen http`, on the stack over
# AF_PACKET), in turn.
#
#   sudo bench/web.sh                 # DUR=10 s per run, CONN=64 connections
#   sudo DUR=5 SIZES="1024" bench/web.sh
#   sudo BACKENDS=afxdp XDP_MODE=generic bench/web.sh
#   sudo DUR=5 BACKENDS="afpacket dpdk" bench/web.sh
#   sudo CLIENTS=loadgen BACKENDS=afpacket bench/web.sh
#   sudo ROUNDS=3 CLIENTS=loadgen BACKENDS=afpacket bench/web.sh   # medians of 3 rounds
#
# Layout: namespaces wbc-* (client, 10.93.0.1/24 on wc) and wbs-* (server end ws). nginx
# gets 10.93.0.2 on ws (one process: master_process off, sendfile on, access_log off,
# files on a tmpfs), run twice per case, with tcp_nopush on and off (Debian's default `on`
# stalls 16 KiB replies by ~4 ms on veth), keeping its better figure. Our server runs on ws
# with no kernel address as 10.93.0.3, `--mode pre-copy` (MODE=memcpy to change), once per
# backend in BACKENDS (default "afpacket afxdp dpdk", without dpdk where pkg-config finds no
# libdpdk): afpacket with its V2 receive ring; afxdp on queue 0 of ws in copy mode (veth has
# no zero-copy) with its XDP program in XDP_MODE (native, the default: veth's own XDP hook;
# generic: after the skb is built; auto); dpdk (`--features dpdk`: libdpdk-dev, pkg-config,
# libclang-dev) on ws through DPDK's net_af_packet PMD (DPDK on a TPACKET_V2 AF_PACKET
# socket; an idle port naps 50 us between polls, WEB_ARGS=--busy-poll spins) with the EAL's
# main lcore on CPU 1 (`--eal "... -l 1 ..."`: the EAL pins its thread there whatever
# taskset said). Our server must answer a probe (curl) before it is measured, and every
# thread of it may run on CPU 1 only, or the script stops. Both servers are pinned to CPU 1,
# the client to CPU 0. Each file size is measured in keep-alive mode and with a new
# connection per request (`Connection: close`).
#
# Clients (CLIENTS, default "wrk loadgen"): wrk -t1 with CONN connections, on the kernel's
# stack at 10.93.0.1; and `loadgen http` with as many connections, on AF_PACKET (V2 ring)
# on wc as 10.93.0.4, an address the kernel there does not own. wrk spends most of its CPU
# in the kernel's connect, close and socket work, so with a new connection per request it
# is the limit; loadgen costs a few microseconds per request, so the servers are.
#
# ROUNDS (default 1) repeats the whole set of runs that many times, the servers taking turns
# within each round, and reports the median of each figure over the rounds (this machine's
# figures move by 3-7% from one run to the next); with more than one round the ratio table
# gets a last column, the whole-machine CPU ratio of each round, so the spread is in the
# record too.
#
# Reported per run: requests/s; server-process CPU-seconds per 10,000 requests (the
# scheduler's run time of the server's threads); whole-machine CPU-seconds per 10,000
# requests (wall-clock time less idle time over all CPUs; see busy_ticks). On veth the kernel's receive work runs on the
# sending CPU, so the whole-machine figure is the fair one. Ratios: ours / nginx for
# requests/s, nginx / ours for CPU per request (above 1: we use less).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC1091
. bench/lib.sh
DUR=${DUR:-10}
CONN=${CONN:-64}
SIZES=${SIZES:-"64 1024 16384 262144"}
MODE=${MODE:-pre-copy}
ROUNDS=${ROUNDS:-1}
BACKENDS=${BACKENDS:-$(with_dpdk "afpacket afxdp")}
XDP_MODE=${XDP_MODE:-native}
# Extra options for our server, e.g. WEB_ARGS="--rx-ring v3" (its default is v2: per-frame
# wake-ups, the latency mode, which request/response traffic needs).
WEB_ARGS=${WEB_ARGS:-}
# Extra options for loadgen, which drives both servers, e.g. LOADGEN_ARGS="--rx-blocks 4"
# (a smaller receive ring: see the README on ring size).
LOADGEN_ARGS=${LOADGEN_ARGS:-}
STACK_DROP=${STACK_DROP:-1}
# The servers' CPU: their taskset, and DPDK's main lcore (`-l`).
PIN=1
ME=bench/web.sh
die() { echo "$ME: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, AF_PACKET, AF_XDP)"
case $ROUNDS in '' | *[!0-9]*) die "ROUNDS must be a whole number of at least 1" ;; esac
ROUNDS=$((10#$ROUNDS))
[ "$ROUNDS" -ge 1 ] || die "ROUNDS must be a whole number of at least 1"
CLIENTS=${CLIENTS:-"wrk loadgen"}
for client in $CLIENTS; do
    case $client in wrk | loadgen) ;; *) die "CLIENTS: unknown client '$client' (wrk, loadgen)" ;; esac
done
case " $CLIENTS " in *" wrk "*) command -v wrk >/dev/null || die "needs wrk (apt-get install wrk)" ;; esac
command -v curl >/dev/null || die "needs curl (apt-get install curl)"
# shellcheck disable=SC2086 # BACKENDS is a word list
check_backends "afpacket afxdp dpdk" $BACKENDS
case $XDP_MODE in native | generic | auto) ;; *) die "XDP_MODE must be native, generic or auto" ;; esac
if ! command -v nginx >/dev/null; then
    echo "bench/web.sh: installing nginx-light" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light >/dev/null
fi
cargo build --release -q -p apps "${features[@]}" --bin web --bin loadgen
BIN=$(realpath "${CARGO_TARGET_DIR:-target}/release/web")
LOADGEN=$(realpath "${CARGO_TARGET_DIR:-target}/release/loadgen")
C=wbc-$$
S=wbs-$$
ROOT=/tmp/webbench-$$
TCK=$(getconf CLK_TCK)
cleanup() {
    if [ -n "${SPID:-}" ]; then kill "$SPID" 2>/dev/null || true; fi
    ip netns del "$C" 2>/dev/null || true
    ip netns del "$S" 2>/dev/null || true
    umount "$ROOT" 2>/dev/null || true
    rm -rf "$ROOT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$ROOT"
mount -t tmpfs -o size=64m tmpfs "$ROOT"
mkdir -p "$ROOT/www" "$ROOT/nginx"
for size in $SIZES; do
    head -c "$size" /dev/urandom >"$ROOT/www/$size"
done
ip netns add "$C"
ip netns add "$S"
ip -n "$C" link add wc type veth peer name ws netns "$S"
for ns_dev in "$C wc" "$S ws"; do
    read -r ns dev <<<"$ns_dev"
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "$ns" link set "$dev" up
    ip -n "$ns" link set lo up
done
# The client's end sends complete checksums and plain frames (an XDP program sees no
# CHECKSUM_PARTIAL mark, and the requests are small either way). The server's end keeps
# veth's defaults, checksum offload, TSO and GSO on and GRO off, as a kernel server runs:
# nginx's sendfile then leaves in 64 KiB GSO frames, and ours in TSO super-frames where the
# backend has them (afpacket; WEB_ARGS="--tso false" to compare without).
ip netns exec "$C" ethtool -K wc tx off tso off gso off gro off >/dev/null 2>&1 || true
ip netns exec "$S" ethtool -K ws gro off >/dev/null 2>&1 || true
ip -n "$C" addr add 10.93.0.1/24 dev wc
ip netns exec "$C" sysctl -qw net.ipv4.ip_local_port_range="10000 65000" net.ipv4.tcp_tw_reuse=1
# The kernel drops frames for our stacks' addresses (our server's on ws, loadgen's on wc)
# before its IP layer looks them up (STACK_DROP=0 to leave it doing that; see stack_drop).
if [ "$STACK_DROP" = 1 ]; then
    stack_drop "$S" ws 10.93.0.3
    stack_drop "$C" wc 10.93.0.4
fi

nginx_conf() { # nopush
    cat >"$ROOT/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $ROOT/nginx/nginx.pid;
error_log $ROOT/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush $1;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 60;
    client_body_temp_path $ROOT/nginx;
    proxy_temp_path $ROOT/nginx;
    fastcgi_temp_path $ROOT/nginx;
    uwsgi_temp_path $ROOT/nginx;
    scgi_temp_path $ROOT/nginx;
    types { }
    default_type application/octet-stream;
    server {
        listen 10.93.0.2:80 backlog=4096;
        root $ROOT/www;
    }
}
EOF
}

# CPU time in ticks. The kernel here samples user and system time at each timer tick, which
# misses work that wakes just after a tick and sleeps before the next (AF_PACKET block timers
# do just that); idle time and the scheduler's per-task run time are exact. So: the machine's
# busy time is wall-clock time less idle and iowait over all CPUs, and a process's is the sum
# of its threads' run time from /proc/PID/task/*/schedstat (ns).
busy_ticks() {
    awk -v tck="$TCK" '
        FNR == NR { wall = $1 * tck; next }
        /^cpu[0-9]+ / { n++; idle += $5 + $6 }
        END { printf "%.0f\n", n * wall - idle }
    ' /proc/uptime /proc/stat
}
proc_ticks() {
    cat /proc/"$1"/task/*/schedstat 2>/dev/null |
        awk -v tck="$TCK" '{ s += $1 } END { printf "%.0f\n", s * tck / 1e9 }'
}

# client CLIENT CONNCLOSE IP PATH CONNECTIONS SECS: one run of the client, its report on
# stdout (wrk's labels from both).
client() {
    local who=$1 close=$2 ip=$3 path=$4 conns=$5 secs=$6 hdr=() lg=()
    if [ "$who" = wrk ]; then
        [ "$close" = 1 ] && hdr=(-H "Connection: close")
        taskset -c 0 ip netns exec "$C" timeout $((secs + 30)) wrk -t1 -c"$conns" -d"${secs}s" "${hdr[@]}" "http://$ip$path" 2>&1 || true
    else
        [ "$close" = 1 ] && lg=(--close)
        # shellcheck disable=SC2206
        lg+=($LOADGEN_ARGS)
        taskset -c 0 ip netns exec "$C" timeout $((secs + 30)) "$LOADGEN" http --backend afpacket --iface wc \
            --addr 10.93.0.4/24 --server "$ip:80" --path "$path" --connections "$conns" "${lg[@]}" \
            --duration "$secs" --quiet 2>&1 || true
    fi
}

# measure CLIENT PID IP PATH CONNCLOSE -> "req_per_s server_cpu_per_10k machine_cpu_per_10k errors"
measure() {
    local who=$1 pid=$2 ip=$3 path=$4 close=$5 out p0 p1 m0 m1
    # Warm-up (ARP, caches), not counted.
    client "$who" "$close" "$ip" "$path" 8 1 >/dev/null
    p0=$(proc_ticks "$pid"); m0=$(busy_ticks)
    out=$(client "$who" "$close" "$ip" "$path" "$CONN" "$DUR")
    p1=$(proc_ticks "$pid"); m1=$(busy_ticks)
    echo "$out" >"$ROOT/nginx/client.last"
    echo "$out" | awk -v p=$((p1 - p0)) -v m=$((m1 - m0)) -v tck="$TCK" '
        / requests in / { n = $1 }
        /^Requests\/sec:/ { rps = $2 }
        /Socket errors|Non-2xx/ { err = 1 }
        END {
            if (n > 0) printf "%.0f %.4f %.4f %s\n", rps, p / tck / n * 10000, m / tck / n * 10000, (err ? "errors" : "ok")
            else print "0 0 0 failed"
        }'
}

# probe PID URL: wait (at most ~10 s) until URL answers 200; fails if PID is gone.
probe() {
    for _ in $(seq 40); do
        kill -0 "$1" 2>/dev/null || return 1
        [ "$(ip netns exec "$C" curl -s -o /dev/null -m 1 -w '%{http_code}' "$2" || true)" = 200 ] && return 0
        sleep 0.25
    done
    return 1
}

# R[KEY]: one line per round, "req/s server-CPU machine-CPU status [(nopush X)]".
declare -A R
add_result() {
    R[$1]="${R[$1]:+${R[$1]}$'\n'}$2"
}
for close in 0 1; do
    for round in $(seq "$ROUNDS"); do
        # nginx, tcp_nopush on and off: keep the better requests/s per size in each round.
        unset BEST
        declare -A BEST=()
        ip -n "$S" addr add 10.93.0.2/24 dev ws
        for nopush in on off; do
            nginx_conf "$nopush"
            taskset -c "$PIN" ip netns exec "$S" nginx -c "$ROOT/nginx/nginx.conf" -p "$ROOT/nginx" >/dev/null 2>&1 &
            SPID=$!
            sleep 0.5
            for size in $SIZES; do
                for cl in $CLIENTS; do
                    res=$(measure "$cl" "$SPID" 10.93.0.2 "/$size" "$close")
                    old=${BEST[$cl-$size]:-"0 0 0 none"}
                    if [ "${res%% *}" -gt "${old%% *}" ]; then BEST[$cl-$size]="$res (nopush $nopush)"; fi
                done
            done
            kill "$SPID"; wait "$SPID" 2>/dev/null || true; SPID=
        done
        ip -n "$S" addr flush dev ws
        for size in $SIZES; do
            for cl in $CLIENTS; do
                add_result "$cl-nginx-$close-$size" "${BEST[$cl-$size]:-0 0 0 failed (nopush none)}"
            done
        done
        # Ours, once per backend.
        for backend in $BACKENDS; do
            args=(--backend "$backend" --iface ws --addr 10.93.0.3/24 --root "$ROOT/www" --mode "$MODE")
            [ "$backend" = afxdp ] && args+=(--xdp-mode "$XDP_MODE")
            [ "$backend" = dpdk ] && args+=(--eal "$(dpdk_eal "$PIN")")
            # shellcheck disable=SC2206
            args+=($WEB_ARGS --quiet)
            log=$ROOT/nginx/web-$backend-$close.log
            taskset -c "$PIN" ip netns exec "$S" "$BIN" "${args[@]}" >"$log" 2>&1 &
            SPID=$!
            probe "$SPID" "http://10.93.0.3/${SIZES%% *}" || { cat "$log" >&2; die "our server ($backend) at 10.93.0.3 did not answer"; }
            check_pinned "$SPID" "$PIN" "our server ($backend)"
            if [ "$round" = 1 ] && [ "$backend" = afxdp ] && [ "$close" = 0 ]; then grep '^afxdp: ' "$log" >>"$ROOT/nginx/notes" || true; fi
            if [ "$round" = 1 ] && [ "$backend" = dpdk ] && [ "$close" = 0 ]; then
                echo "$(grep '^dpdk: ' "$log" || echo 'dpdk: no start-up line') (net_af_packet), EAL \"$(dpdk_eal "$PIN")\";" \
                    "threads' CPUs: $(thread_cpus "$SPID")" >>"$ROOT/nginx/notes"
            fi
            for size in $SIZES; do
                for cl in $CLIENTS; do
                    add_result "$cl-web-$backend-$close-$size" "$(measure "$cl" "$SPID" 10.93.0.3 "/$size" "$close")"
                done
            done
            kill -INT "$SPID"; wait "$SPID" 2>/dev/null || true; SPID=
        done
    done
done

# cell KEY -> "req/s server-CPU machine-CPU status [note]": the median of each figure over
# the rounds (the mean of the middle two for an even count); status "ok" only if every
# round was; for nginx the note lists the tcp_nopush setting that won each round.
cell() {
    printf '%s\n' "${R[$1]:-0 0 0 none}" | awk '
        function median(c,    i, j, t, a) {
            for (i = 1; i <= NR; i++) a[i] = v[c, i]
            for (i = 2; i <= NR; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
            return NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
        }
        {
            for (c = 1; c <= 3; c++) v[c, NR] = $c
            if (status == "" || status == "ok") status = $4
            if ($6 != "") { n = $6; sub(/\)$/, "", n); won = won (won == "" ? "" : ",") n }
        }
        END {
            printf "%.0f %.4f %.4f %s%s\n", median(1), median(2), median(3), status, (won == "" ? "" : " (nopush " won ")")
        }'
}

label() { if [ "$1" = afxdp ]; then echo "web (afxdp $XDP_MODE)"; else echo "web ($1)"; fi; }
echo "command: ROUNDS=$ROUNDS DUR=$DUR CONN=$CONN SIZES=\"$SIZES\" MODE=$MODE BACKENDS=\"$BACKENDS\" XDP_MODE=$XDP_MODE CLIENTS=\"$CLIENTS\" STACK_DROP=$STACK_DROP${WEB_ARGS:+ WEB_ARGS=\"$WEB_ARGS\"}${LOADGEN_ARGS:+ LOADGEN_ARGS=\"$LOADGEN_ARGS\"} $ME"
echo "clients: wrk -t1 -c$CONN -d${DUR}s (kernel stack) / loadgen http --connections $CONN --duration $DUR${LOADGEN_ARGS:+ $LOADGEN_ARGS} (afpacket); servers pinned to CPU 1, the client to CPU 0; ours: --mode $MODE $WEB_ARGS"
[ -s "$ROOT/nginx/notes" ] && cat "$ROOT/nginx/notes"
printf '| size | connections | client | server | requests/s | server CPU-s / 10k req | machine CPU-s / 10k req | client errors |\n'
printf '|---:|---|---|---|---:|---:|---:|---|\n'
for cl in $CLIENTS; do
    for close in 0 1; do
        kind=$([ "$close" = 1 ] && echo "new per request" || echo "keep-alive")
        for size in $SIZES; do
            read -r a b c d rest <<<"$(cell "$cl-nginx-$close-$size")"
            printf '| %s B | %s | %s | nginx %s | %s | %s | %s | %s |\n' "$size" "$kind" "$cl" "${rest:-}" "$a" "$b" "$c" "$d"
            for backend in $BACKENDS; do
                read -r a b c d <<<"$(cell "$cl-web-$backend-$close-$size")"
                printf '| %s B | %s | %s | %s | %s | %s | %s | %s |\n' "$size" "$kind" "$cl" "$(label "$backend")" "$a" "$b" "$c" "$d"
            done
        done
    done
done
echo
# With more than one round, a last column: each round's machine-CPU ratio.
head='| size | connections | client | server | req/s ours/nginx | server CPU nginx/ours | machine CPU nginx/ours |'
rule='|---:|---|---|---|---:|---:|---:|'
if [ "$ROUNDS" -gt 1 ]; then head+=' machine CPU nginx/ours, round by round |'; rule+='---|'; fi
printf '%s\n%s\n' "$head" "$rule"
for cl in $CLIENTS; do
    for close in 0 1; do
        kind=$([ "$close" = 1 ] && echo "new per request" || echo "keep-alive")
        for size in $SIZES; do
            read -r na nb nc _ <<<"$(cell "$cl-nginx-$close-$size")"
            for backend in $BACKENDS; do
                read -r wa wb wc _ <<<"$(cell "$cl-web-$backend-$close-$size")"
                row=$(awk -v na="$na" -v nb="$nb" -v nc="$nc" -v wa="$wa" -v wb="$wb" -v wc="$wc" -v s="$size" -v k="$kind" \
                    -v cl="$cl" -v who="$(label "$backend")" '
                    function r(x, y) { return y > 0 ? sprintf("%.2f", x / y) : "n/a" }
                    BEGIN { printf "| %s B | %s | %s | %s | %s | %s | %s |", s, k, cl, who, r(wa, na), r(nb, wb), r(nc, wc) }')
                if [ "$ROUNDS" -gt 1 ]; then
                    # nginx's lines end "(nopush X)", ours "status": machine CPU is field 3
                    # of nginx's and the last but one of ours.
                    row+=" $(paste -d' ' <(printf '%s\n' "${R[$cl-nginx-$close-$size]}") \
                        <(printf '%s\n' "${R[$cl-web-$backend-$close-$size]}") |
                        awk '{ printf "%s%s", (NR > 1 ? " " : ""), ($(NF - 1) > 0 ? sprintf("%.2f", $3 / $(NF - 1)) : "n/a") }') |"
                fi
                echo "$row"
            done
        done
    done
done
