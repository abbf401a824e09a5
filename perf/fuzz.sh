#!/usr/bin/env bash
# Run every cargo-fuzz target for a fixed time and print one table (executions, exec/s,
# coverage, crashes per target). Crash inputs land in <crate>/fuzz/artifacts/ and make the
# script exit 1; keep each as a regression test before fixing it.
#
#   perf/fuzz.sh                       # every target, 1800 s each, 2 at a time, nice 19
#   perf/fuzz.sh --time 60 --jobs 1 parse text
#
# Targets: odp/fuzz {netlink,key_mask,actions,text}, fastpath/fuzz {parse,execute,conntrack},
# switch/fuzz {netlink_live}.
# netlink_live starts a release dpswitch (built here) and runs in a network namespace of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

time_s=1800
jobs=2
targets=()
while (($#)); do
    case $1 in
    --time) time_s=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    -h | --help) sed -n 2,11p "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
    esac
done
all=(odp:netlink odp:key_mask odp:actions odp:text fastpath:parse fastpath:execute
     fastpath:conntrack switch:netlink_live)
if ((${#targets[@]} == 0)); then
    targets=("${all[@]}")
else
    for i in "${!targets[@]}"; do
        for t in "${all[@]}"; do [[ ${t#*:} == "${targets[$i]}" ]] && targets[$i]=$t; done
    done
fi

# cargo-fuzz's flags, spelled out so a plain nightly cargo is enough; --target keeps them
# away from build scripts.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
triple=x86_64-unknown-linux-gnu
for crate in odp fastpath switch; do
    (cd "$crate/fuzz" && nice -n 10 cargo +nightly build --release --target $triple)
done
unset RUSTFLAGS
if [[ " ${targets[*]} " == *" switch:netlink_live "* ]]; then
    nice -n 10 cargo build --release -p dpswitch
fi

out=$root/perf/results/fuzz-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
echo "fuzzing ${#targets[@]} targets for ${time_s} s each, $jobs at a time; logs in $out"

run_one() {
    local crate=${1%%:*} name=${1#*:}
    local dir=$root/$crate/fuzz
    mkdir -p "$dir/corpus/$name" "$dir/artifacts"
    # Seed inputs checked into the repo, if any, join the working corpus.
    [[ -d $dir/seeds/$name ]] && cp -n "$dir/seeds/$name"/* "$dir/corpus/$name/" 2>/dev/null || true
    # The live target creates network devices: give it a namespace of its own.
    local netns=()
    [[ $name == netlink_live ]] && netns=(unshare --net)
    (cd "$dir" && nice -n 19 "${netns[@]}" "./target/$triple/release/$name" "corpus/$name" \
        -max_total_time="$time_s" -print_final_stats=1 \
        -artifact_prefix="artifacts/$name-" >"$out/$name.log" 2>&1) || true
}

running=0
for t in "${targets[@]}"; do
    run_one "$t" &
    running=$((running + 1))
    if ((running >= jobs)); then wait -n; running=$((running - 1)); fi
done
wait

crashes=0
{
printf '| target | time (s) | executions | exec/s | cov / ft | crashes |\n|---|---|---|---|---|---|\n'
for t in "${targets[@]}"; do
    crate=${t%%:*} name=${t#*:}
    log=$out/$name.log
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1 | awk '{print $2 " / " $4}')
    secs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | tail -1 | awk '{print $5}')
    n=$(grep -c '^==[0-9]*== ERROR\|panicked at\|Test unit written to' "$log" || true)
    crashes=$((crashes + n))
    printf '| %s/%s | %s | %s | %s | %s | %s |\n' "$crate" "$name" "${secs:-?}" "${execs:-?}" \
        "${rate:-?}" "${cov:-?}" "$n"
done
} >"$out/summary.md"
cat "$out/summary.md"
if ((crashes > 0)); then
    echo "crash inputs: ls $root/*/fuzz/artifacts/" >&2
    exit 1
fi
