#!/usr/bin/env bash
# Forwarding rate of one PMD between two net_ring ports, no I/O device in the way.
#
# A net_ring vdev given no nodeaction (`net_ring0`) creates its rings itself and uses the same
# ring for rx queue q and tx queue q (DPDK 22.11 drivers/net/ring, eth_dev_ring_create passes
# one ring array as both), so each port receives back what the PMD transmits on it. With flows
# in_port(A)->output(B) and in_port(B)->output(A), a fixed set of packets circulates forever.
#
# The set is seeded through the fast path: a third port, net_pcap with a finite rx_pcap of
# --packets frames and a flow into A, is added, drained and removed. (PACKET EXECUTE would
# transmit on the control thread's own tx queue, whose ring no rx queue reads.) The ring holds
# 1024 mbufs, so at most 1023 packets circulate.
#
# Cases: (a) one flow per direction (in_port, eth_type) with the default EMC; (b) --flows
# flows (default 10,000, half per direction, matching in_port and both MACs) with the EMC off
# (--emc-insert-inv-prob 0); the circulating packets carry --packets distinct source MACs,
# so 2 x --packets of those flows are hit.
#
# Mpps = (tx packets of both ring ports over --window seconds) / window; cycles/packet =
# TSC Hz / pps (--tsc-hz, default 2.0e9).
#
# usage: perf/ring.sh [--window S] [--warmup S] [--packets N] [--flows N] [--tsc-hz HZ]
#                     [--bin-dir DIR | --no-build] [--cases a,b]
set -euo pipefail

WINDOW=10
WARMUP=2
PACKETS=1000
FLOWS=10000
TSC_HZ=2.0e9
CASES=a,b
BIN_DIR=
BUILD=1
ROOT=$(cd "$(dirname "$0")/.." && pwd)

while [ $# -gt 0 ]; do
    case "$1" in
        --window) WINDOW=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --packets) PACKETS=$2; shift 2 ;;
        --flows) FLOWS=$2; shift 2 ;;
        --tsc-hz) TSC_HZ=$2; shift 2 ;;
        --cases) CASES=$2; shift 2 ;;
        --bin-dir) BIN_DIR=$2; BUILD=0; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "ring.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ "$PACKETS" -ge 1 ] && [ "$PACKETS" -le 1023 ] || { echo "ring.sh: --packets must be 1..1023 (one ring holds 1024)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "ring.sh: run as root (hugepages)" >&2; exit 2; }

if [ -z "$BIN_DIR" ]; then
    BIN_DIR=$ROOT/target/release
    if [ "$BUILD" = 1 ]; then
        (cd "$ROOT" && cargo build --release -p dpswitch -p dpctl --bins)
    fi
fi
DPSWITCH=$BIN_DIR/dpswitch
DPCTL=$BIN_DIR/dpctl
[ -x "$DPSWITCH" ] && [ -x "$DPCTL" ] || { echo "ring.sh: $DPSWITCH or $DPCTL missing" >&2; exit 2; }

WORK=$(mktemp -d /tmp/ring.XXXXXX)
SW_PID=
cleanup() {
    if [ -n "$SW_PID" ] && kill -0 "$SW_PID" 2>/dev/null; then
        kill -TERM "$SW_PID" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$SW_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SW_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Frames: Ethernet, local experimental ethertype 0x88b5, 60 bytes; source MAC 02:10:00:HH:MM:LL
# for packet i, destination 02:00:00:00:00:02.
python3 - "$WORK/seed.pcap" "$PACKETS" <<'EOF'
import struct, sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for i in range(n):
        frame = bytes([2, 0, 0, 0, 0, 2, 2, 0x10, 0, (i >> 16) & 255, (i >> 8) & 255, i & 255])
        frame += b"\x88\xb5" + b"ring" + bytes(42)
        f.write(struct.pack("<IIII", 0, 0, len(frame), len(frame)) + frame)
EOF

mac() { printf '02:10:00:%02x:%02x:%02x' $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }

# "TX packets:N" of port NAME in `dpctl show -s`.
port_tx() {
    "$DPCTL" --netlink-pid="$NLPID" show -s "$DP" | awk -v p="$1" '
        $1 == "port" && $3 == p { on = 1; next }
        $1 == "port" { on = 0 }
        on && $1 == "TX" { sub("packets:", "", $2); print $2; exit }'
}
port_rx() {
    "$DPCTL" --netlink-pid="$NLPID" show -s "$DP" | awk -v p="$1" '
        $1 == "port" && $3 == p { on = 1; next }
        $1 == "port" { on = 0 }
        on && $1 == "RX" && $2 ~ /^packets:/ { sub("packets:", "", $2); print $2; exit }'
}

run_case() {
    local case=$1 emc flows_file="$WORK/flows.$1"
    DP=ring$$$case
    NLPID=$((0x52000000 | ($$ & 0xffff) << 8 | $(printf '%d' "'$case")))
    if [ "$case" = a ]; then
        emc=100
        printf 'in_port(1),eth(),eth_type(0x88b5) 2\nin_port(2),eth(),eth_type(0x88b5) 1\n' > "$flows_file"
    else
        emc=0
        python3 - "$flows_file" "$FLOWS" <<'EOF'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    for i in range(n):
        in_port, out = (1, 2) if i % 2 == 0 else (2, 1)
        j = i // 2
        src = "02:10:00:%02x:%02x:%02x" % (j >> 16 & 255, j >> 8 & 255, j & 255)
        f.write("in_port(%d),eth(src=%s,dst=02:00:00:00:00:02),eth_type(0x88b5) %d\n"
                % (in_port, src, out))
EOF
    fi
    "$DPSWITCH" -l 0-1 --main-lcore 0 --in-memory --no-pci --no-telemetry \
        --file-prefix "ring$$$case" --dp "$DP" --no-flood "$DP" \
        --port ra=net_ring_ra --port rb=net_ring_rb --pmd-cores 1 \
        --netlink-pid "$NLPID" --metrics off --status-interval 0 \
        --emc-insert-inv-prob "$emc" > "$WORK/log.$case" 2>&1 &
    SW_PID=$!
    for _ in $(seq 200); do
        grep -q "netlink control plane serving" "$WORK/log.$case" && break
        kill -0 "$SW_PID" 2>/dev/null || { cat "$WORK/log.$case" >&2; exit 1; }
        sleep 0.1
    done
    # The local port's kernel side would send IPv6 noise into the datapath (extra masks).
    sysctl -qw "net.ipv6.conf.$DP.disable_ipv6=1" || true
    local ctl=("$DPCTL" "--netlink-pid=$NLPID")
    "${ctl[@]}" add-flows "$DP" "$flows_file"
    "${ctl[@]}" add-flow "$DP" "in_port(3),eth(),eth_type(0x88b5)" 1
    "${ctl[@]}" add-if "$DP" "seed,type=dpdk,port_no=3,devargs=net_pcap_seed,rx_pcap=$WORK/seed.pcap"
    for _ in $(seq 100); do
        [ "$(port_rx seed)" = "$PACKETS" ] && break
        sleep 0.1
    done
    [ "$(port_rx seed)" = "$PACKETS" ] || { echo "ring.sh: seeding stalled at $(port_rx seed) of $PACKETS" >&2; exit 1; }
    "${ctl[@]}" del-if "$DP" seed
    "${ctl[@]}" del-flow "$DP" "in_port(3),eth(),eth_type(0x88b5)"
    sleep "$WARMUP"
    local a0 b0 a1 b1 t0 t1
    t0=$(date +%s.%N); a0=$(port_tx ra); b0=$(port_tx rb)
    sleep "$WINDOW"
    t1=$(date +%s.%N); a1=$(port_tx ra); b1=$(port_tx rb)
    local nflows
    nflows=$("${ctl[@]}" show "$DP" | awk '$1 == "flows:" { print $2 }')
    python3 - "$case" "$t0" "$t1" "$a0" "$b0" "$a1" "$b1" "$TSC_HZ" "$nflows" "$emc" "$PACKETS" <<'EOF'
import sys
case, t0, t1, a0, b0, a1, b1, hz, nflows, emc, packets = sys.argv[1:]
secs = float(t1) - float(t0)
pkts = int(a1) - int(a0) + int(b1) - int(b0)
pps = pkts / secs
cyc = float(hz) / pps if pps else float("inf")
print("case %s: %s flows, emc-insert-inv-prob %s, %s packets circulating: %.3f Mpps, %.1f cycles/packet (%d packets in %.2f s)"
      % (case, nflows, emc, packets, pps / 1e6, cyc, pkts, secs))
EOF
    kill -TERM "$SW_PID"
    wait "$SW_PID" || { echo "ring.sh: dpswitch exited with $?; log:" >&2; cat "$WORK/log.$case" >&2; exit 1; }
    SW_PID=
}

IFS=, read -ra want <<< "$CASES"
for c in "${want[@]}"; do
    case "$c" in a|b) run_case "$c" ;; *) echo "ring.sh: unknown case $c" >&2; exit 2 ;; esac
done
