#!/usr/bin/env bash
# Records what the guest kernel runs on one core (a PMD's): task switches, interrupt
# handlers (hard, soft, local timer, IPIs) and workqueue items, with ftrace's `mono` clock,
# which is CLOCK_MONOTONIC, the clock of dpswitch's long-round log. perf/gap_attribution.py
# then tells, for each long poll round, whether the guest or the host held the core.
# Uses its own ftrace instance, so other tracing is left alone. Needs root and tracefs.
# Nothing reads the trace while it records: a reader would be woken by an IPI from the
# traced core, and the VM exit that costs is a stall of its own (seen: up to 8.8 ms). The
# buffer (MB per core, default 256: about 40 minutes of a PMD core here) keeps the latest
# events if it fills.
#
#   perf/trace_core.sh start CORE [MB]   # records the core's events
#   perf/trace_core.sh stop FILE         # writes them to FILE, removes the instance
set -euo pipefail
tracefs=/sys/kernel/tracing
inst=$tracefs/instances/dpswitch-core
case ${1:-} in
start)
    core=$2 mb=${3:-256}
    [[ -d $tracefs/events ]] || mount -t tracefs nodev "$tracefs"
    [[ -d $inst ]] || mkdir "$inst"
    echo 0 >"$inst/tracing_on"
    echo mono >"$inst/trace_clock"
    printf '%x\n' $((1 << core)) >"$inst/tracing_cpumask"
    echo $((mb * 1024)) >"$inst/buffer_size_kb"
    : >"$inst/set_event"
    for e in sched:sched_switch irq:irq_handler_entry irq:irq_handler_exit irq:softirq_entry \
        irq:softirq_exit workqueue:workqueue_execute_start; do
        echo "$e" >>"$inst/set_event"
    done
    for v in local_timer call_function call_function_single reschedule irq_work; do
        for end in entry exit; do
            echo "irq_vectors:${v}_$end" >>"$inst/set_event" 2>/dev/null || true
        done
    done
    : >"$inst/trace"
    echo 1 >"$inst/tracing_on"
    ;;
stop)
    file=$2
    [[ -d $inst ]] || { echo "no trace recording" >&2; exit 1; }
    echo 0 >"$inst/tracing_on"
    cp "$inst/trace" "$file"
    rmdir "$inst"
    ;;
*)
    echo "usage: $0 start CORE [MB] | stop FILE" >&2
    exit 2
    ;;
esac
