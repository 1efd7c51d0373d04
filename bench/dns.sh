#!/usr/bin/env bash
# Authoritative DNS over UDP: our `dns` server (once per backend: afpacket, afxdp, dpdk)
# against NSD, on the same veth end and the same pinned CPU, driven from another namespace
# on the other CPU by dnsperf and by our own load generator (`loadgen dns`, on the stack
# over AF_PACKET), in turn.
#
#   sudo bench/dns.sh                       # DUR=10 s per run, zones of 1 and 10,000 names
#   sudo DUR=5 NAMES="10000" bench/dns.sh
#   sudo BACKENDS=afxdp XDP_MODE=generic MODES=pre-copy bench/dns.sh
#   sudo BACKENDS="afpacket dpdk" bench/dns.sh
#   sudo LOADERS=loadgen BACKENDS=afpacket MODES=pre-copy bench/dns.sh
#
# Layout: namespaces dbc-* (client, 10.94.0.1/24 on dc) and dbs-* (server end ds). NSD gets
# 10.94.0.2 on ds (its own nsd.conf in a temp dir: one server process, no chroot, no
# database, response rate limiting off with `rrl-ratelimit: 0`, `minimal-responses: yes` so
# both servers send the same answer section only), run in the foreground (`nsd -d`). Our
# server runs on ds with no kernel address as 10.94.0.3, once per backend in BACKENDS
# (default "afpacket afxdp dpdk", without dpdk where pkg-config finds no libdpdk):
# afpacket with its default ring (V2 since 98e267e; DNS_ARGS="--rx-ring v3" for the block
# ring, which costs dnsperf's CPU less per query but holds answers up to 1 ms), and the
# kernel told to drop frames for 10.94.0.3 at tc ingress (--kernel-drop); afxdp on queue 0 of ds in copy mode, veth having no
# zero-copy, with its XDP program in XDP_MODE (native, the default, veth's own XDP hook, or
# generic, after the skb is built, or auto); dpdk, built with `--features dpdk`
# (libdpdk-dev, pkg-config, libclang-dev), on ds through DPDK's net_af_packet PMD (DPDK on a
# TPACKET_V2 AF_PACKET socket; an idle port naps 50 us between polls, DNS_ARGS=--busy-poll
# spins) with the EAL's main lcore on CPU 1 (`--eal "... -l 1 ..."`: the EAL pins its thread
# there whatever taskset said). Each backend runs once per `--mode` when the binary has that
# option (pre-copy, then memcpy), else once. Both servers are pinned to CPU 1 (every thread
# of ours is checked, or the script stops), dnsperf to CPU 0, and load the same generated
# zone: `bench.test.` with SOA, NS and glue, plus either `www` or `h0`..`h<N-1>` A records.
# dnsperf asks `www.bench.test A`, or every name of the zone once per pass in a fixed
# shuffled order. Each server must answer a probe (dig) before it is measured, or the script
# stops with an error.
#
# Load (LOADERS, default "dnsperf loadgen"): dnsperf on the kernel's stack at 10.94.0.1,
# and `loadgen dns` on AF_PACKET (V2 ring) on dc as 10.94.0.4, an address the kernel there
# does not own, with the same query file, sockets (source ports), queries in flight and
# timeout. dnsperf costs some 3 us of CPU per query in the kernel's socket work and is the
# limit of every row; loadgen costs well under one, so the servers are.
#
# Reported per run: queries/s and lost queries (dnsperf's figures); server-process
# CPU-seconds per million answered queries (the scheduler's run time of the server's pid
# and its children, /proc/PID/task/*/schedstat: NSD answers from a forked child);
# whole-machine CPU-seconds per million (wall-clock time less idle time, see cpu_ticks); how busy each CPU was. On veth the kernel
# delivers a frame on the sending CPU, so dnsperf's CPU also pays for putting the queries
# into NSD's socket or our ring, and the server's CPU for putting the answers into dnsperf's
# socket: the whole-machine figure is the fair one. Ratios: ours / NSD for queries/s, NSD /
# ours for CPU per query (above 1: we use less). The machine may be shared, so each run
# waits (up to QUIET_WAIT s) for a quiet second first, and the table shows the CPU time not
# charged to the server's or dnsperf's processes during the run ("other load": other jobs,
# kernel threads, interrupts taken while a CPU was idle): a row with much of it measured
# another job too.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC1091
. bench/lib.sh
DUR=${DUR:-10}
NAMES=${NAMES:-"1 10000"}
# dnsperf: sockets (-c), queries in flight (-q), seconds before a query counts as lost (-t).
# 8 and 512 gave NSD its best rate here (-c 1..16, -q 100..1024 all within ~10%, dnsperf's
# CPU the limit); ours needs a few hundred in flight to fill its receive ring's blocks.
CLIENTS=${CLIENTS:-8}
LOADERS=${LOADERS:-"dnsperf loadgen"}
for ld in $LOADERS; do
    case $ld in dnsperf | loadgen) ;; *) echo "$ME: LOADERS: unknown load generator '$ld' (dnsperf, loadgen)"; exit 1 ;; esac
done
INFLIGHT=${INFLIGHT:-512}
TIMEOUT=${TIMEOUT:-1}
# Before each run, wait up to QUIET_WAIT seconds for a second with the machine below QUIET %
# busy (it may be shared with builds); a run during which more than NOISY % of a CPU went to
# other processes is done once more (the quieter of the two is kept; on a quiet machine this
# "other load" is 5-10 %: interrupts and kernel threads). Waits and repeats stop once the
# script has spent BUDGET seconds, which bounds the whole run to about BUDGET s plus
# DUR + 3 s per row (7 rows per zone with the defaults: NSD, 3 backends x 2 modes).
QUIET=${QUIET:-10}
NOISY=${NOISY:-20}
QUIET_WAIT=${QUIET_WAIT:-15}
BUDGET=${BUDGET:-140}
# Extra options for our server, e.g. DNS_ARGS="--rx-ring v3" or "--prepared-frames 65536".
DNS_ARGS=${DNS_ARGS:-}
STACK_DROP=${STACK_DROP:-1}
BACKENDS=${BACKENDS:-$(with_dpdk "afpacket afxdp")}
XDP_MODE=${XDP_MODE:-native}
# The servers' CPU: their taskset, and DPDK's main lcore (`-l`); the CPU1 column reads CPU 1.
PIN=1
ME="bench/dns.sh"
DNSPERF_ARGS=(-l "$DUR" -c "$CLIENTS" -q "$INFLIGHT" -t "$TIMEOUT")
[ "$(id -u)" = 0 ] || { echo "$ME: needs root (network namespaces, AF_PACKET, AF_XDP)"; exit 1; }
# shellcheck disable=SC2086 # BACKENDS is a word list
check_backends "afpacket afxdp dpdk" $BACKENDS
case $XDP_MODE in native | generic | auto) ;; *) echo "$ME: XDP_MODE must be native, generic or auto"; exit 1 ;; esac
for tool in taskset ethtool awk; do
    command -v "$tool" >/dev/null || { echo "$ME: needs $tool"; exit 1; }
done
pkgs=()
command -v nsd >/dev/null || pkgs+=(nsd)
command -v dnsperf >/dev/null || pkgs+=(dnsperf)
command -v dig >/dev/null || pkgs+=(bind9-dnsutils)
if [ ${#pkgs[@]} -gt 0 ]; then
    echo "$ME: installing ${pkgs[*]}" >&2
    DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi
NSD=$(command -v nsd)
cargo build --release -q -p apps "${features[@]}" --bin dns --bin loadgen
BIN=$(realpath "${CARGO_TARGET_DIR:-target}/release/dns")
LOADGEN=$(realpath "${CARGO_TARGET_DIR:-target}/release/loadgen")
if "$BIN" --help | grep -q -- '--mode'; then
    MODES=${MODES:-"pre-copy memcpy"}
else
    MODES=-
fi
echo "command: DUR=$DUR NAMES=\"$NAMES\" LOADERS=\"$LOADERS\" CLIENTS=$CLIENTS INFLIGHT=$INFLIGHT TIMEOUT=$TIMEOUT" \
    "QUIET=$QUIET QUIET_WAIT=$QUIET_WAIT NOISY=$NOISY BUDGET=$BUDGET BACKENDS=\"$BACKENDS\" XDP_MODE=$XDP_MODE STACK_DROP=$STACK_DROP" \
    "${MODES:+MODES=\"$MODES\" }${DNS_ARGS:+DNS_ARGS=\"$DNS_ARGS\" }$ME"
echo "client: taskset -c 0 ip netns exec CLIENT dnsperf -s ADDR -d QUERYFILE ${DNSPERF_ARGS[*]}"
echo "        taskset -c 0 ip netns exec CLIENT loadgen dns --backend afpacket --iface dc --addr 10.94.0.4/24" \
    "--server ADDR --queries QUERYFILE --sources $CLIENTS --outstanding $INFLIGHT --timeout $TIMEOUT --duration $DUR --quiet"
echo "nsd:    taskset -c $PIN ip netns exec SERVER nsd -d -c nsd.conf   ($("$NSD" -v 2>&1 | head -1)," \
    "server-count 1, rrl-ratelimit 0, minimal-responses yes)"
# backend_args BACKEND -> the backend's options, one a line
backend_args() {
    printf '%s\n' --backend "$1" --iface ds
    if [ "$1" = afxdp ]; then printf '%s\n' --xdp-mode "$XDP_MODE"; fi
    if [ "$1" = dpdk ]; then printf '%s\n' --eal "$(dpdk_eal "$PIN")"; fi
}
for backend in $BACKENDS; do
    # As a command line: words with spaces (the EAL's) quoted.
    ba=$(backend_args "$backend" | awk '{ printf (/ / ? "\"%s\" " : "%s "), $0 }')
    if [ "$MODES" = - ]; then
        echo "ours:   taskset -c $PIN ip netns exec SERVER dns $ba--addr 10.94.0.3/24" \
            "--zone ZONEFILE --quiet${DNS_ARGS:+ $DNS_ARGS}   (this build has no --mode)"
    else
        echo "ours:   taskset -c $PIN ip netns exec SERVER dns $ba--addr 10.94.0.3/24" \
            "--zone ZONEFILE --quiet --mode MODE${DNS_ARGS:+ $DNS_ARGS}   (MODE: $MODES)"
    fi
done
C=dbc-$$
S=dbs-$$
ROOT=/tmp/dnsbench-$$
TCK=$(getconf CLK_TCK)
NCPU=$(grep -c '^cpu[0-9]' /proc/stat)
T0=$SECONDS

# A pid and every process below it (NSD forks its xfrd and server processes).
tree_pids() {
    local p
    for p in "$@"; do
        echo "$p"
        # shellcheck disable=SC2046
        tree_pids $(pgrep -P "$p" || true)
    done
}
# Stop a pid and its children: TERM to all, KILL to what is left after 5 s. (Stopping only
# NSD's first process, its xfrd, leaves the server process running.)
stop_tree() { # pid
    local pids p alive
    pids=$(tree_pids "$1")
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for _ in $(seq 50); do
        alive=0
        for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" = 1 ] || break
        sleep 0.1
    done
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
cleanup() {
    if [ -n "${SPID:-}" ]; then stop_tree "$SPID"; fi
    ip netns del "$C" 2>/dev/null || true
    ip netns del "$S" 2>/dev/null || true
    rm -rf "$ROOT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() {
    echo "$ME: $*" >&2
    exit 1
}

mkdir -p "$ROOT/nsd"
# Zone of N names and dnsperf's query file for it.
for n in $NAMES; do
    awk -v n="$n" 'BEGIN {
        print "$ORIGIN bench.test."
        print "$TTL 3600"
        print "@ IN SOA ns1 hostmaster 1 3600 900 604800 300"
        print "@ IN NS ns1"
        print "ns1 IN A 10.94.0.2"
        if (n == 1) print "www IN A 192.0.2.1"
        else for (i = 0; i < n; i++)
            printf "h%d IN A 10.%d.%d.%d\n", i, 100 + int(i / 65536), int(i / 256) % 256, i % 256
    }' >"$ROOT/zone-$n"
    # Every name once, Fisher-Yates with a fixed seed so each run asks the same sequence.
    awk -v n="$n" 'BEGIN {
        if (n == 1) { print "www.bench.test A"; exit }
        srand(1)
        for (i = 0; i < n; i++) a[i] = i
        for (i = n - 1; i > 0; i--) { j = int(rand() * (i + 1)); t = a[i]; a[i] = a[j]; a[j] = t }
        for (i = 0; i < n; i++) printf "h%d.bench.test A\n", a[i]
    }' >"$ROOT/queries-$n"
done
backend_label() { if [ "$1" = afxdp ]; then echo "afxdp $XDP_MODE "; else echo "$1 "; fi; }
zone_label() { if [ "$1" = 1 ]; then echo "1 name"; else echo "$1 names"; fi; }
probe_name() { if [ "$1" = 1 ]; then echo www.bench.test; else echo "h$(($1 - 1)).bench.test"; fi; }

ip netns add "$C"
ip netns add "$S"
ip -n "$C" link add dc type veth peer name ds netns "$S"
for ns_dev in "$C dc" "$S ds"; do
    read -r ns dev <<<"$ns_dev"
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "$ns" link set "$dev" up
    ip -n "$ns" link set lo up
done
# The client's end sends complete checksums (an XDP program sees no CHECKSUM_PARTIAL mark);
# the server's end keeps veth's default offloads, as a kernel server runs (NSD's UDP
# checksums are then left to the "device").
ip netns exec "$C" ethtool -K dc tx off tso off gso off gro off >/dev/null 2>&1 || true
ip netns exec "$S" ethtool -K ds gro off >/dev/null 2>&1 || true
ip -n "$C" addr add 10.94.0.1/24 dev dc
# The kernel drops frames for our stacks' addresses (our server's on ds, loadgen's on dc)
# before its IP layer looks them up (STACK_DROP=0 to leave it doing that; see stack_drop).
if [ "$STACK_DROP" = 1 ]; then
    stack_drop "$S" ds 10.94.0.3
    stack_drop "$C" dc 10.94.0.4
fi

nsd_conf() { # zonefile
    cat >"$ROOT/nsd/nsd.conf" <<EOF
server:
    server-count: 1
    ip-address: 10.94.0.2
    port: 53
    do-ip6: no
    username: ""
    chroot: ""
    zonesdir: ""
    database: ""
    zonelistfile: "$ROOT/nsd/zone.list"
    xfrdfile: ""
    xfrdir: "$ROOT/nsd"
    pidfile: "$ROOT/nsd/nsd.pid"
    logfile: "$ROOT/nsd/nsd.log"
    verbosity: 0
    hide-version: yes
    minimal-responses: yes
    rrl-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: bench.test
    zonefile: "$1"
EOF
}

# Wait until ADDR answers NAME A (NOERROR with an answer), at most ~15 s; print the answer's
# size in bytes. Fails if the server process is gone or never answers.
probe() { # addr name pid
    local out
    for _ in $(seq 30); do
        kill -0 "$3" 2>/dev/null || return 1
        out=$(ip netns exec "$C" dig +time=1 +tries=1 +norecurse "@$1" "$2" A 2>/dev/null || true)
        if echo "$out" | grep -q 'status: NOERROR' && echo "$out" | grep -q 'ANSWER: [1-9]'; then
            echo "$out" | awk '/MSG SIZE/ { print $NF }'
            return 0
        fi
        sleep 0.3
    done
    return 1
}

# -> "busy_all wall busy0 busy1" in ticks. The kernel here samples user and system time at
# each timer tick, which misses work that wakes up just after a tick and sleeps before the
# next (AF_PACKET block timers do just that), while idle time is measured exactly: busy is
# wall-clock time less idle and iowait.
cpu_ticks() {
    awk -v tck="$TCK" '
        FNR == NR { wall = $1 * tck; next }
        /^cpu[0-9]+ / { n++; idle[$1] = $5 + $6; all += $5 + $6 }
        END { printf "%.0f %.0f %.0f %.0f\n", n * wall - all, wall, wall - idle["cpu0"], wall - idle["cpu1"] }
    ' /proc/uptime /proc/stat
}
tree_ticks() { # pid -> CPU time of it and its children, all threads, in ticks
    # From the scheduler's exact run time (/proc/PID/task/TID/schedstat, in ns), not the
    # tick-sampled utime and stime, which miss most of a process that wakes just after a
    # tick and sleeps before the next.
    local p ns=0 t
    for p in $(tree_pids "$1"); do
        t=$(cat /proc/"$p"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }')
        ns=$((ns + ${t:-0}))
    done
    echo $((ns * TCK / 1000000000))
}
# This machine may be shared: wait (at most QUIET_WAIT s) for a second in which it is less
# than QUIET % busy, and print the last second's figure.
wait_quiet() {
    local a b pct end=$((SECONDS + QUIET_WAIT))
    [ "$end" -le $((T0 + BUDGET)) ] || end=$((T0 + BUDGET))
    while :; do
        a=$(cpu_ticks)
        sleep 1
        b=$(cpu_ticks)
        pct=$(awk -v a="$a" -v b="$b" -v ncpu="$NCPU" 'BEGIN {
            split(a, x, " "); split(b, y, " ")
            printf "%.0f", (y[2] > x[2] ? 100 * (y[1] - x[1]) / (y[2] - x[2]) / ncpu : 0) }')
        if [ "$pct" -lt "$QUIET" ] || [ "$SECONDS" -ge "$end" ]; then break; fi
    done
    echo "$pct"
}

# load LOADER ADDR QUERYFILE SECS: one run of the load generator; its report (dnsperf's
# labels from both) on stdout.
load() {
    if [ "$1" = dnsperf ]; then
        taskset -c 0 ip netns exec "$C" timeout $(($4 + 30)) dnsperf -s "$2" -d "$3" -l "$4" \
            -c "$CLIENTS" -q "$INFLIGHT" -t "$TIMEOUT" 2>&1 || true
    else
        taskset -c 0 ip netns exec "$C" timeout $(($4 + 30)) "$LOADGEN" dns --backend afpacket \
            --iface dc --addr 10.94.0.4/24 --server "$2" --queries "$3" --sources "$CLIENTS" \
            --outstanding "$INFLIGHT" --timeout "$TIMEOUT" --duration "$4" --quiet 2>&1 || true
    fi
}

# measure LOADER PID ADDR QUERYFILE -> "qps lost server_cpu_per_M machine_cpu_per_M cpu0%
# cpu1% other% before%": other is the busy CPU time (in % of one CPU) not charged to the
# server or the load generator during the run, before the machine's busy % in the second
# before it.
measure() {
    local ld=$1 pid=$2 addr=$3 qf=$4 out p0 p1 m0 m1 before
    # Warm-up (ARP, caches, NSD's first packets), not counted.
    load "$ld" "$addr" "$qf" 1 >/dev/null
    before=$(wait_quiet)
    p0=$(tree_ticks "$pid"); m0=$(cpu_ticks)
    # `times` adds the load generator's own CPU time (its children's line) to the output.
    out=$(load "$ld" "$addr" "$qf" "$DUR"; times)
    p1=$(tree_ticks "$pid"); m1=$(cpu_ticks)
    echo "$out" >"$ROOT/dnsperf.last"
    echo "$out" | awk -v p=$((p1 - p0)) -v tck="$TCK" -v m0="$m0" -v m1="$m1" -v before="$before" '
        function secs(s) { split(s, x, /[ms]/); return x[1] * 60 + x[2] }
        /Queries sent:/ { sent = $3 }
        /Queries completed:/ { done = $3 }
        /Queries lost:/ { lost = $3 }
        /Queries per second:/ { qps = $4 }
        /^[0-9]+m[0-9.]+s [0-9]+m[0-9.]+s$/ { client = secs($1) + secs($2) }
        END {
            split(m0, a, " "); split(m1, b, " ")
            m = b[1] - a[1]
            wall = b[2] - a[2]
            other = wall > 0 ? 100 * (m - p - client * tck) / wall : 0
            c0 = wall > 0 ? 100 * (b[3] - a[3]) / wall : 0
            c1 = wall > 0 ? 100 * (b[4] - a[4]) / wall : 0
            if (done > 0)
                printf "%.0f %d %.3f %.3f %.0f %.0f %.0f %d\n", qps, lost, p / tck / done * 1e6,
                    m / tck / done * 1e6, c0, c1, (other > 0 ? other : 0), before
            else print "0 " (sent > 0 ? sent : 0) " 0 0 0 0 0 " before
        }'
}

# measure, and once more if other processes were busy during it and the budget allows;
# keep the run with less of that other load.
run() { # loader pid addr queryfile
    local a b
    a=$(measure "$@")
    if [ "$(echo "$a" | awk '{ print $7 }')" -gt "$NOISY" ] && [ $((SECONDS - T0)) -lt "$BUDGET" ]; then
        echo "$ME:   other processes were busy during that run; once more" >&2
        b=$(measure "$@")
        [ "$(echo "$b" | awk '{ print $7 }')" -ge "$(echo "$a" | awk '{ print $7 }')" ] || a=$b
    fi
    if [ "${a%% *}" = 0 ]; then
        cat "$ROOT/dnsperf.last" >&2
        die "$1 got no answers from $3"
    fi
    echo "$a"
}

declare -A R SIZE
ROWS=()
for n in $NAMES; do
    zf=$ROOT/zone-$n
    qf=$ROOT/queries-$n
    name=$(probe_name "$n")
    # NSD.
    ip -n "$S" addr add 10.94.0.2/24 dev ds
    nsd_conf "$zf"
    taskset -c "$PIN" ip netns exec "$S" "$NSD" -d -c "$ROOT/nsd/nsd.conf" >"$ROOT/nsd/stdout" 2>&1 &
    SPID=$!
    if ! SIZE[nsd-$n]=$(probe 10.94.0.2 "$name" "$SPID"); then
        cat "$ROOT/nsd/stdout" "$ROOT/nsd/nsd.log" >&2 2>/dev/null || true
        die "NSD at 10.94.0.2 did not answer $name A ($(zone_label "$n"))"
    fi
    echo "$ME: NSD, $(zone_label "$n")" >&2
    for ld in $LOADERS; do
        R[$ld-nsd-$n]=$(run "$ld" "$SPID" 10.94.0.2 "$qf")
    done
    ROWS+=("$n nsd")
    stop_tree "$SPID"; SPID=
    ip -n "$S" addr flush dev ds
    # Ours, once per backend and mode.
    for backend in $BACKENDS; do
        for mode in $MODES; do
            mapfile -t args < <(backend_args "$backend")
            args+=(--addr 10.94.0.3/24 --zone "$zf" --quiet)
            [ "$mode" = - ] || args+=(--mode "$mode")
            # shellcheck disable=SC2206
            args+=($DNS_ARGS)
            key=ours-$backend-$mode
            who="ours $(backend_label "$backend")${mode#-}"
            who=${who% }
            log=$ROOT/$key-$n.log
            taskset -c "$PIN" ip netns exec "$S" "$BIN" "${args[@]}" >"$log" 2>&1 &
            SPID=$!
            if ! SIZE[$key-$n]=$(probe 10.94.0.3 "$name" "$SPID"); then
                cat "$log" >&2
                die "our server ($backend, --mode $mode) at 10.94.0.3 did not answer $name A ($(zone_label "$n"))"
            fi
            check_pinned "$SPID" "$PIN" "our server ($backend, --mode $mode)"
            cpus=$(thread_cpus "$SPID")
            echo "$ME: $who, $(zone_label "$n")" >&2
            for ld in $LOADERS; do
                R[$ld-$key-$n]=$(run "$ld" "$SPID" 10.94.0.3 "$qf")
            done
            ROWS+=("$n $key")
            stop_tree "$SPID"; SPID=
            # Its final counters: answers prepared and sent, queries dropped.
            awk -v who="$who, $(zone_label "$n")" -v cpus="$cpus" '
                /^afxdp: / { bound = " [" $0 "]" }
                /^dpdk: / { bound = " [" $0 " (net_af_packet); threads\047 CPUs: " cpus "]" }
                /prepared answers/ { sub(/.*zones?, /, ""); prep = $0 }
                /^dns: DnsStats/ {
                    gsub(/[{},]/, "")
                    for (i = 3; i < NF; i += 2) v[$i] = $(i + 1)
                }
                END {
                    printf "  %s: %s; answered %d (%d from prepared frames), dropped %d%s\n", who, prep,
                        v["noerror:"] + v["nxdomain:"], v["prepared:"], v["dropped:"], bound
                }' "$log" >>"$ROOT/counters"
        done
    done
done

echo
printf '| zone | load | server | answer B | queries/s | lost | server CPU-s / 1M q | machine CPU-s / 1M q | CPU0 busy | CPU1 busy | other load | q/s ours/nsd | server CPU nsd/ours | machine CPU nsd/ours |\n'
printf '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for ld in $LOADERS; do
for row in "${ROWS[@]}"; do
    read -r n who <<<"$row"
    if [ "$who" = nsd ]; then
        label=NSD
    else
        b=${who#ours-}
        m=${b#*-}
        label="ours $(backend_label "${b%%-*}")${m#-}"
        label=${label% }
    fi
    awk -v o="${R[$ld-$who-$n]}" -v r="${R[$ld-nsd-$n]}" -v who="$who" -v label="$label" -v zl="$(zone_label "$n")" -v ld="$ld" \
        -v sz="${SIZE[$who-$n]}" '
        function ratio(x, y) { return x > 0 && y > 0 ? sprintf("%.2f", x / y) : "n/a" }
        BEGIN {
            split(o, a, " "); split(r, b, " ")
            if (who == "nsd") { q = sc = mc = "-" }
            else { q = ratio(a[1], b[1]); sc = ratio(b[3], a[3]); mc = ratio(b[4], a[4]) }
            printf "| %s | %s | %s | %s | %d | %d | %.2f | %.2f | %d%% | %d%% | %d%% (%d%%) | %s | %s | %s |\n",
                zl, ld, label, sz, a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], q, sc, mc
        }'
done
done
echo
echo "CPU0 runs the load generator, CPU1 the server. Other load: busy CPU time not charged to the server's"
echo "or the load generator's processes during the run, in % of one CPU (in brackets: the whole machine's"
echo "busy % in the second before the run); 5-10% is the quiet baseline, above $NOISY% another job"
echo "was running and the row is not trustworthy. Answer B: size of the answer to dig's probe (with EDNS)."
if [ -s "$ROOT/counters" ]; then
    echo "Our server's counters at exit:"
    cat "$ROOT/counters"
fi
echo "run time: $((SECONDS - T0)) s"
