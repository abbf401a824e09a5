#!/usr/bin/env bash
# Hostile netlink traffic against a forwarding dpswitch (release build):
#   perf/hostile.sh [REQUESTS (1000000)] [SOCKETS (4)] [SEED (1)]
# Starts dpswitch with a net_pcap source (infinite replay of 64 UDP flows) and a net_null
# sink, runs tests' nlhostile with REQUESTS hostile requests on SOCKETS sockets (plus a 50k
# flow dump phase), then checks that the daemon is alive and that the source's RX and the
# sink's TX counters (`dpctl show -s`) rose during the run. Prints nlhostile's summary and
# the forwarding figures; exits non-zero on any violation. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${1:-1000000}
SOCKETS=${2:-4}
SEED=${3:-1}
BIN=target/release
if [[ ! -x $BIN/dpswitch || ! -x $BIN/dpctl || ! -x $BIN/nlhostile ]]; then
    nice -n 5 cargo build --release -p dpswitch -p dpctl -p dpswitch-e2e
fi

work=$(mktemp -d /tmp/hostile.XXXXXX)
prefix="hostile$$"
nlpid=$((0x47000000 + ($$ % 65536)))
dp="hdp$(($$ % 100000))"
daemon=""
cleanup() {
    if [[ -n $daemon ]] && kill -0 "$daemon" 2>/dev/null; then
        kill -TERM "$daemon"
        wait "$daemon" || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

python3 perf/gen_pcap.py --kind 5tuple --flows 64 --packets 1024 -o "$work/src.pcap" >/dev/null
"$BIN/dpswitch" -l 0-1 --in-memory --no-pci --no-telemetry --file-prefix "$prefix" \
    --netlink-pid "$nlpid" --metrics off --status-interval 10 --dp "$dp" \
    --port "src=net_pcap_src$$,rx_pcap=$work/src.pcap,infinite_rx=1" \
    --port "snk=net_null_snk$$,no-rx=1" >"$work/dpswitch.log" 2>&1 &
daemon=$!
for _ in $(seq 100); do
    grep -q "netlink control plane serving" "$work/dpswitch.log" && break
    kill -0 "$daemon" || { cat "$work/dpswitch.log"; exit 1; }
    sleep 0.2
done

# "RX TX" of the source (port 1) and the sink (port 2): src RX, snk TX.
counters() {
    "$BIN/dpctl" --netlink-pid="$nlpid" show -s "$dp" | awk '
        /^  port 1: src/ { p = 1; next }
        /^  port 2: snk/ { p = 2; next }
        /^  port /       { p = 0 }
        p == 1 && /RX packets:/ { sub(/.*RX packets:/, ""); split($0, a, " "); rx = a[1] }
        p == 2 && /TX packets:/ { sub(/.*TX packets:/, ""); split($0, a, " "); tx = a[1] }
        END { print rx + 0, tx + 0 }'
}
sleep 1
read -r rx0 tx0 < <(counters)
t0=$(date +%s.%N)
set +e
"$BIN/nlhostile" --netlink-pid "$nlpid" --daemon-pid "$daemon" --requests "$REQUESTS" \
    --sockets "$SOCKETS" --seed "$SEED" --dump-flows 50000 --liveness-every 1000
status=$?
set -e
t1=$(date +%s.%N)
fail=0
if ! kill -0 "$daemon" 2>/dev/null; then
    echo "hostile.sh: FAILED: dpswitch died"; tail -20 "$work/dpswitch.log"; exit 1
fi
read -r rx1 tx1 < <(counters)
secs=$(echo "$t1 - $t0" | bc)
echo "hostile.sh: forwarding during the run ($secs s): src RX $rx0 -> $rx1 ($(( (rx1 - rx0) )) packets, $(echo "($rx1 - $rx0) / $secs / 1000000" | bc -l | cut -c1-5) Mpps), snk TX $tx0 -> $tx1 ($(( tx1 - tx0 )) packets)"
if (( rx1 <= rx0 || tx1 <= tx0 )); then
    echo "hostile.sh: FAILED: forwarding stopped"; fail=1
fi
if ! grep -q "netlink control plane serving" "$work/dpswitch.log"; then fail=1; fi
warns=$(grep -c " WARN\| ERROR" "$work/dpswitch.log" || true)
echo "hostile.sh: dpswitch pid $daemon alive; $warns WARN/ERROR log lines:"
grep " WARN\| ERROR" "$work/dpswitch.log" | sed 's/\x1b\[[0-9;]*m//g' | sort | uniq -c | sort -rn | head -5 || true
if (( status != 0 )); then echo "hostile.sh: FAILED: nlhostile exited $status"; fail=1; fi
(( fail == 0 )) && echo "hostile.sh: OK"
exit $fail
