# Helpers shared by bench/reflector.sh, bench/web.sh and bench/dns.sh; sourced, not run
# (bash; the callers run with `set -euo pipefail`).
# shellcheck shell=bash

# bench_features BACKEND... -> the value for cargo's --features that these backends need
# (afxdp, dpdk, or both as "afxdp,dpdk"); empty when none does.
bench_features() {
    local b afxdp='' dpdk=''
    for b in "$@"; do
        case $b in
            afxdp) afxdp=afxdp ;;
            dpdk) dpdk=dpdk ;;
        esac
    done
    local f="$afxdp${afxdp:+${dpdk:+,}}$dpdk"
    echo "$f"
}

# with_dpdk BACKENDS -> BACKENDS plus dpdk when DPDK can be built here (pkg-config finds
# libdpdk), else BACKENDS as given: the scripts' defaults, so a machine without libdpdk-dev
# still runs them. (dpdk adds under 2 minutes per script: two reflector runs, eight web
# cases, two DNS rows per zone.)
with_dpdk() {
    if command -v pkg-config >/dev/null && pkg-config --exists libdpdk; then
        echo "$1 dpdk"
    else
        echo "${ME:-bench}: no libdpdk (pkg-config), so no dpdk rows by default" >&2
        echo "$1"
    fi
}

# need_dpdk_build: DPDK's build needs pkg-config and libdpdk-dev (and libclang for the
# bindings); say so before cargo fails with a page of build-script output.
need_dpdk_build() {
    if ! command -v pkg-config >/dev/null || ! pkg-config --exists libdpdk; then
        echo "${ME:-bench}: BACKENDS has dpdk: needs pkg-config and libdpdk-dev (and libclang-dev) to build" >&2
        exit 1
    fi
}

# check_backends ALLOWED BACKEND...: stop the script unless every BACKEND is one of ALLOWED
# (space-separated) and can be built here; set the array `features` to the cargo arguments
# that build them (empty, or --features LIST).
check_backends() {
    local allowed=$1 b f
    shift
    for b in "$@"; do
        case " $allowed " in
            *" $b "*) ;;
            *)
                echo "${ME:-bench}: unknown backend '$b' in BACKENDS (${allowed// /, })" >&2
                exit 1
                ;;
        esac
        [ "$b" != dpdk ] || need_dpdk_build
    done
    f=$(bench_features "$@")
    # shellcheck disable=SC2034 # read by the sourcing script
    if [ -n "$f" ]; then features=(--features "$f"); else features=(); fi
}

# dpdk_eal CPU -> the apps' default EAL arguments with DPDK's main lcore on CPU. The EAL
# pins the thread that initialises it to the first lcore of `-l`, whatever taskset said,
# so `-l` must name the CPU the script pins the server to.
dpdk_eal() {
    echo "--no-huge -m 256 --no-pci --no-shconf --no-telemetry -l $1 --log-level=notice"
}

# thread_cpus PID -> "name=CPUS" for each thread of PID (its Cpus_allowed_list), on one line.
thread_cpus() {
    local t name list cpus=()
    for t in /proc/"$1"/task/*; do
        name=$(cat "$t/comm" 2>/dev/null) || continue
        list=$(awk '/^Cpus_allowed_list:/ { print $2 }' "$t/status" 2>/dev/null) || continue
        cpus+=("$name=$list")
    done
    echo "${cpus[*]}"
}

# check_pinned PID CPU WHAT: every thread of PID may run on CPU only, or the script stops
# (a DPDK EAL with another `-l` would have moved the server off the CPU it was given).
check_pinned() {
    local cpus t
    cpus=$(thread_cpus "$1")
    [ -n "$cpus" ] || { echo "${ME:-bench}: $3 (pid $1) is gone" >&2; exit 1; }
    for t in $cpus; do
        if [ "${t##*=}" != "$2" ]; then
            echo "${ME:-bench}: $3 (pid $1) is not pinned to CPU $2 only: threads $cpus" >&2
            exit 1
        fi
    done
}

# stack_drop NS DEV ADDR: in namespace NS, have the kernel drop IPv4 frames for ADDR (an
# address one of our stacks answers at on DEV, which the kernel does not own) at the start
# of its IP layer (nftables, prerouting at raw priority). AF_PACKET takes its copy of a
# frame before the kernel's IP layer sees it, and the kernel would otherwise look each one
# up (TCP early demux, a route lookup that allocates and frees a dst entry per frame) only
# to drop it: some 10% of a CPU that sends our stack frames on veth (perf of loadgen). Our
# AF_PACKET ports now have the kernel drop those frames at tc ingress themselves
# (`--kernel-drop`, earlier than this rule, which then sees none of them); the rule still
# serves DPDK's net_af_packet port, which has no such drop. Installs nftables if missing.
stack_drop() {
    if ! command -v nft >/dev/null; then
        echo "${ME:-bench}: installing nftables" >&2
        DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq --no-install-recommends nftables >/dev/null
    fi
    ip netns exec "$1" nft -f - <<NFT
table ip stackdrop {
    chain pre {
        type filter hook prerouting priority raw; policy accept;
        iifname "$2" ip daddr $3 drop
    }
}
NFT
}
