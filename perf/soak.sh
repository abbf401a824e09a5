#!/usr/bin/env bash
# The soak of issue 9: full-rate forwarding (pcap -> null) with random flow add/mod/del at
# >= 10k/s, a port hot-added and removed every 3 s, and dump-flows + show -s every second,
# for SECONDS (default 1800). Prints and saves the curve (RSS, mbufs in use, longest PMD poll
# round, Mpps, flows, flow changes/s) and fails on growth, a stall over 1 ms, a counter that
# does not add up, or an mbuf not returned. Optimised build; run it on a quiet machine
# (core 1 is the PMD's).
#
#   perf/soak.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-1800}
out=perf/results/soak-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
cargo build --release --workspace --bins
SOAK_SECS=$secs SOAK_CSV=$PWD/$out/curve.csv \
    cargo test --release -p dpswitch-e2e --test runtime_churn soak -- --nocapture 2>&1 |
    tee "$out/soak.log"
echo "curve: $out/curve.csv"
