#!/usr/bin/env bash
# The soak of issue 9: full-rate forwarding (pcap -> null) with random flow add/mod/del at
# >= 10k/s, a port hot-added and removed every 3 s, and dump-flows + show -s every second,
# for SECONDS (default 1800). Prints and saves the curve (RSS, mbufs in use, longest PMD poll
# round, Mpps, flows, flow changes/s), the PMD's long rounds by the wall clock and by its
# CPU time, and where RSS moved; fails on growth, a counter that does not add up, an mbuf not
# returned, rounds applying commands being long much more often than others, or a hang
# (SOAK_MAX_GAP_US tightens the bound on the longest round, e.g. 1000 on an isolated core).
# Optimised build; run it on a quiet machine (core 1 is the PMD's).
#
#   perf/soak.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-1800}
out=perf/results/soak-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
cargo build --release --workspace --bins
# The floor under the PMD's poll gaps: a bare clock loop on core 1 for a minute, before and
# after (the hypervisor's and the kernel's interruptions of the core; see core_jitter.rs).
jitter() { taskset -c 1 target/release/core_jitter 60 1 | tee "$out/core-jitter-$1.txt"; }
echo "core 1 before the soak:"; jitter before
# Everything but the PMD on core 0 (the daemon's EAL pins its PMD to core 1 itself), so the
# longest poll round measures dpswitch and the machine, not the test's own threads.
rc=0
SOAK_SECS=$secs SOAK_CSV=$PWD/$out/curve.csv \
    taskset -c 0 cargo test --release -p dpswitch-e2e --test runtime_churn soak -- --nocapture 2>&1 |
    tee "$out/soak.log" || rc=$?
echo "core 1 after the soak:"; jitter after
echo "curve: $out/curve.csv"
exit $rc
