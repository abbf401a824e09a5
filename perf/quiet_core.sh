#!/usr/bin/env bash
# Keeps what can be moved at run time off a PMD's core, as tuned's cpu-partitioning profile
# does without a reboot: device interrupts, unbound workqueues, and every task that may run
# elsewhere (kernel threads such as rcu_preempt and kcompactd, and user processes). What
# stays is what only boot options move (isolcpus=, nohz_full=, rcu_nocbs=, irqaffinity=):
# per-CPU kernel threads and work (the kworkers running block-layer and conntrack work),
# the timer tick, and managed interrupts. The previous settings are saved and `restore`
# puts them back (tasks that have exited are skipped). Needs root.
#
#   perf/quiet_core.sh apply CORE   # prints what it moved
#   perf/quiet_core.sh restore
set -uo pipefail
state=${QUIET_CORE_STATE:-/run/dpswitch-quiet-core}

other_cpus() { # every online CPU but $1, as a list
    local core=$1 out=() c
    for c in $(seq 0 $(($(nproc --all) - 1))); do
        [[ $c == "$core" ]] && continue
        [[ $(cat /sys/devices/system/cpu/cpu$c/online 2>/dev/null || echo 1) == 1 ]] && out+=("$c")
    done
    local IFS=,
    echo "${out[*]}"
}

includes() { # whether CPU list $1 (e.g. 0-1,3) includes CPU $2
    local part lo hi
    for part in ${1//,/ }; do
        lo=${part%-*} hi=${part#*-}
        ((lo <= $2 && $2 <= hi)) && return 0
    done
    return 1
}

case ${1:-} in
apply)
    core=${2:?usage: $0 apply CORE}
    [[ -e $state ]] && { echo "already applied ($state); restore first" >&2; exit 1; }
    rest=$(other_cpus "$core")
    [[ -n $rest ]] || { echo "no other CPU to move work to" >&2; exit 1; }
    mkdir -p "$(dirname "$state")"
    : >"$state"
    irqs=0 irqs_kept=0 tasks=0 tasks_kept=0
    for f in /proc/irq/*/smp_affinity_list; do
        old=$(cat "$f" 2>/dev/null) || continue
        includes "$old" "$core" || continue
        if echo "$rest" >"$f" 2>/dev/null; then
            echo "irq $f $old" >>"$state"
            irqs=$((irqs + 1))
        else
            irqs_kept=$((irqs_kept + 1))
        fi
    done
    wq=/sys/devices/virtual/workqueue/cpumask
    if [[ -w $wq ]]; then
        old=$(cat "$wq")
        mask=0
        for c in ${rest//,/ }; do mask=$((mask | 1 << c)); done
        printf '%x\n' "$mask" >"$wq" 2>/dev/null && echo "wq $wq $old" >>"$state"
    fi
    # Thread by thread, so each gets its own mask back; per-CPU kernel threads refuse, and
    # stay. Start dpswitch after this: its EAL pins its PMD threads itself.
    for dir in /proc/[0-9]*/task/[0-9]*; do
        tid=${dir##*/}
        old=$(taskset -pc "$tid" 2>/dev/null | sed 's/.*: //') || continue
        [[ -n $old ]] && includes "$old" "$core" || continue
        if taskset -pc "$rest" "$tid" >/dev/null 2>&1; then
            echo "task $tid $old" >>"$state"
            tasks=$((tasks + 1))
        else
            tasks_kept=$((tasks_kept + 1))
        fi
    done
    echo "core $core: moved $irqs interrupts ($irqs_kept could not move), the unbound" \
        "workqueues and $tasks threads ($tasks_kept could not move) to CPUs $rest"
    ;;
restore)
    [[ -e $state ]] || exit 0
    while read -r kind what old; do
        case $kind in
        irq | wq) echo "$old" >"$what" 2>/dev/null ;;
        task) taskset -pc "$old" "$what" >/dev/null 2>&1 ;;
        esac
    done <"$state"
    rm -f "$state"
    ;;
*)
    echo "usage: $0 apply CORE | restore" >&2
    exit 2
    ;;
esac
