#!/usr/bin/env bash
# The soak: full-rate forwarding (pcap -> null) with random flow add/mod/del at >= 10k/s,
# a port hot-added and removed every 3 s, and dump-flows + show -s every second,
# for SECONDS (default 1800). Prints and saves the curve (RSS, mbufs in use, longest PMD poll
# round, Mpps, flows, flow changes/s), the PMD's long rounds by the wall clock and by its
# CPU time, and where RSS moved; fails on growth, a counter that does not add up, an mbuf not
# returned, rounds applying commands being long much more often than others, or a hang
# (SOAK_MAX_GAP_US tightens the bound on the longest round, e.g. 1000 on an isolated core).
# As root, it first moves what can be moved off core 1 (perf/quiet_core.sh: interrupts,
# unbound workqueues, other tasks; SOAK_QUIET_CORE=0 leaves the core as it is, and the
# settings come back at the end), and traces what the kernel runs on core 1 throughout
# (perf/trace_core.sh) to name, for each PMD round and each bare-loop gap over 1 ms, what
# held the core: the guest's tasks or interrupts, or the host (perf/gap_attribution.py;
# attribution.txt).
# Optimised build; run it on a quiet machine (core 1 is the PMD's).
#
#   perf/soak.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-1800}
out=perf/results/soak-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
cargo build --release --workspace --bins
traced=0 quiet=0
# An interrupted run leaves no tracing and no moved work behind.
cleanup() {
    ((traced)) && perf/trace_core.sh stop /dev/null
    ((quiet)) && perf/quiet_core.sh restore
    true
}
trap cleanup EXIT
if [[ $(id -u) == 0 ]]; then
    if [[ ${SOAK_QUIET_CORE:-1} == 1 ]]; then
        perf/quiet_core.sh apply 1 | tee "$out/quiet-core.txt" && quiet=1
    fi
    if perf/trace_core.sh start 1 2>"$out/trace-error.txt"; then
        traced=1
        rm -f "$out/trace-error.txt"
    fi
fi
# The floor under the PMD's poll gaps: a bare clock loop on core 1 for a minute, before and
# after (the hypervisor's and the kernel's interruptions of the core; see core_jitter.rs).
jitter() {
    taskset -c 1 target/release/core_jitter 60 1 2>"$out/core-jitter-$1.gaps" |
        tee "$out/core-jitter-$1.txt"
}
echo "core 1 before the soak:"; jitter before
# Everything but the PMD on core 0 (the daemon's EAL pins its PMD to core 1 itself), so the
# longest poll round measures dpswitch and the machine, not the test's own threads.
rc=0
SOAK_SECS=$secs SOAK_CSV=$PWD/$out/curve.csv SOAK_LONG_ROUNDS=$PWD/$out/long-rounds.log \
    taskset -c 0 cargo test --release -p dpswitch-e2e --test runtime_churn soak -- --nocapture 2>&1 |
    tee "$out/soak.log" || rc=$?
echo "core 1 after the soak:"; jitter after
echo "curve: $out/curve.csv"
if ((traced)); then
    perf/trace_core.sh stop "$out/core1.trace"
    traced=0
    {
        echo "== PMD rounds over 1 ms during the soak"
        perf/gap_attribution.py "$out/long-rounds.log" "$out/core1.trace" || true
        for when in before after; do
            echo; echo "== bare loop gaps over 1 ms, the minute $when"
            perf/gap_attribution.py "$out/core-jitter-$when.gaps" "$out/core1.trace" \
                --comm core_jitter --list 5 || true
        done
    } | tee "$out/attribution.txt"
    gzip -f "$out/core1.trace"
fi
exit $rc
