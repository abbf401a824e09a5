#!/usr/bin/env python3
"""What held up each of a PMD's long poll rounds: dpswitch's own work, another task or an
interrupt of the guest kernel on the PMD's core, or the host.

Inputs:
  - dpswitch's long-round log (`--log info,dpswitch::long_rounds=debug`): one line per poll
    round over 1 ms with its end (CLOCK_MONOTONIC ns), length by the TSC and the PMD
    thread's CPU time over it (or core_jitter's stderr, the same for a bare clock loop;
    then `--comm core_jitter`);
  - an ftrace capture of the PMD's core with the `mono` trace clock (the same clock):
    sched_switch, irq and softirq handlers, the x86 interrupt vectors and workqueue items
    (`perf/soak.sh` records one when it can write /sys/kernel/tracing).

Each round's time is split into: the PMD switched out for another guest task; guest
interrupt handlers (hard, soft, local timer, IPIs); and the rest. Guest work is what
the trace shows. The rest is the PMD running (its CPU time: its own work, or host time the
hypervisor did not report as steal) or the vCPU not running at all (the host's, reported as
steal): the trace shows nothing in either case.

    perf/gap_attribution.py DPSWITCH_LOG TRACE [--comm rte-worker-1] [--list N]
"""

import argparse
import bisect
import re
import sys
from collections import defaultdict, namedtuple

ANSI = re.compile(r"\x1b\[[0-9;]*m")
FIELD = re.compile(r"(\w+)=(\S+)")
EVENT = re.compile(r"^\s*(.+?)-(\d+)\s+\[(\d+)\]\s+\S+\s+([\d.]+):\s+(\w+):\s*(.*)$")
SWITCH = re.compile(r"prev_comm=(.*?) prev_pid=\d+ .*next_comm=(.*?) next_pid=\d+")

HOST = "host: vCPU not running (steal)"
CHARGED = "charged as its CPU time, no commands (host time not reported as steal)"
CHARGED_COMMANDS = "charged as its CPU time, applying commands"
GUEST_TASK = "guest: another task"
GUEST_INTERRUPTS = "guest: interrupts"
CAUSES = [HOST, CHARGED, CHARGED_COMMANDS, GUEST_TASK, GUEST_INTERRUPTS]

# One long round, its times in seconds: guest task and interrupt time inside it, the cause,
# the (up to 3) longest things the guest ran with their times, and the work items started.
Row = namedtuple("Row", "wall cpu task intr commands cause top works end")

# The field that names a handler, per entry event.
HANDLER_NAME = {"irq_handler_entry": ("irq", r"name=(\S+)"),
                "softirq_entry": ("softirq", r"action=(\w+)")}


def long_rounds(path):
    """(start_s, end_s, wall_s, cpu_s, commands) of every logged round, in mono seconds."""
    rounds = []
    with open(path, errors="replace") as f:
        for line in f:
            if "long poll round" not in line and "long gap" not in line:
                continue
            fields = dict(FIELD.findall(ANSI.sub("", line)))
            end = int(fields["end_mono_ns"]) / 1e9
            wall = int(fields["wall_ns"]) / 1e9
            rounds.append((end - wall, end, wall, int(fields["cpu_ns"]) / 1e9,
                           fields.get("commands") == "true"))
    return rounds


def guest_intervals(path, comm):
    """Intervals (start, end, kind, what) in which the guest ran something other than the
    PMD on its core; and the span of the trace."""
    out, open_handlers, away = [], {}, None
    first = last = None
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("#"):
                continue
            m = EVENT.match(line)
            if not m:
                continue
            ts, name, rest = m.group(4, 5, 6)
            ts = float(ts)
            first = ts if first is None else first
            last = ts
            if name == "sched_switch":
                s = SWITCH.search(rest)
                if not s:
                    continue
                prev, nxt = s.group(1), s.group(2)
                if prev == comm and nxt != comm:
                    away = (ts, nxt)
                elif nxt == comm and away is not None:
                    out.append((away[0], ts, "task", away[1]))
                    away = None
            elif name.endswith("_entry"):
                base = name[: -len("_entry")]
                what = base
                if name in HANDLER_NAME:
                    kind, pattern = HANDLER_NAME[name]
                    found = re.search(pattern, rest)
                    what = f"{kind} {found.group(1) if found else rest}"
                open_handlers[base] = (ts, what)
            elif name.endswith("_exit"):
                base = name[: -len("_exit")]
                if base in open_handlers:
                    start, what = open_handlers.pop(base)
                    out.append((start, ts, "interrupt", what))
            elif name == "workqueue_execute_start":
                fn = re.search(r"function (\S+)", rest)
                if fn:
                    out.append((ts, ts, "work", fn.group(1)))
    return out, first, last


def union_length(spans):
    total, cur_s, cur_e = 0.0, None, None
    for s, e in sorted(spans):
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None:
        total += cur_e - cur_s
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log")
    ap.add_argument("trace")
    ap.add_argument("--comm", default="rte-worker-1", help="the PMD thread's name in the trace")
    ap.add_argument("--list", type=int, default=20, help="print the N longest rounds")
    a = ap.parse_args()

    rounds = long_rounds(a.log)
    ivs, first, last = guest_intervals(a.trace, a.comm)
    if first is None:
        sys.exit(f"{a.trace}: no trace events")
    ivs.sort()
    starts = [iv[0] for iv in ivs]
    rows = []
    longest_iv = max((e - s for s, e, _, _ in ivs), default=0.0)
    for start, end, wall, cpu, commands in rounds:
        if start < first or end > last:
            continue
        lo = bisect.bisect_left(starts, start - longest_iv)
        task, intr, works, what = [], [], [], defaultdict(float)
        for s, e, kind, name in ivs[lo:]:
            if s > end:
                break
            if kind == "work":
                if start <= s <= end:
                    works.append(name)
                continue
            s2, e2 = max(s, start), min(e, end)
            if e2 <= s2:
                continue
            (task if kind == "task" else intr).append((s2, e2))
            what[name] += e2 - s2
        t, i = union_length(task), union_length(intr)
        if t >= wall / 2:
            cause = GUEST_TASK
        elif i >= wall / 2:
            cause = GUEST_INTERRUPTS
        elif cpu >= wall / 2:
            cause = CHARGED_COMMANDS if commands else CHARGED
        else:
            cause = HOST
        top = sorted(what.items(), key=lambda kv: -kv[1])[:3]
        rows.append(Row(wall, cpu, t, i, commands, cause, top, works, end))

    span = last - first
    outside = len(rounds) - len(rows)
    print(f"trace: {span:.1f} s; long rounds logged: {len(rounds)}, "
          f"{len(rows)} inside the trace ({outside} outside)")
    if not rows:
        return
    by = defaultdict(list)
    for r in rows:
        by[r.cause].append(r)
    print()
    print("| cause | rounds | longest | total |")
    print("|---|---|---|---|")
    for cause in CAUSES + sorted(set(by) - set(CAUSES)):
        rs = by.get(cause, [])
        longest = max((r.wall for r in rs), default=0.0)
        total = sum(r.wall for r in rs)
        print(f"| {cause} | {len(rs)} | {longest * 1e3:.2f} ms | {total * 1e3:.1f} ms |")
    # Per main guest cause: rounds, the longest it ran, and the work items of those rounds.
    guest_what = defaultdict(lambda: [0, 0.0, set()])
    for r in rows:
        if r.cause.startswith("guest") and r.top:
            name, d = r.top[0]
            g = guest_what[name]
            g[0] += 1
            g[1] = max(g[1], d)
            g[2].update(r.works)
    if guest_what:
        print()
        print("guest causes (the main one per round):")
        for name, (n, longest, works) in sorted(guest_what.items(), key=lambda kv: -kv[1][0]):
            extra = f"; work items: {', '.join(sorted(works))}" if works else ""
            print(f"  {name}: {n} rounds, longest {longest * 1e3:.2f} ms{extra}")
    print()
    print(f"the {min(a.list, len(rows))} longest rounds:")
    print("  end (mono s)     wall ms   cpu ms  task ms  intr ms  cmds  cause; what ran")
    for r in sorted(rows, key=lambda r: -r.wall)[: a.list]:
        ran = ", ".join(f"{n} {d * 1e3:.2f} ms" for n, d in r.top)
        if r.works:
            ran += " [work: " + ", ".join(sorted(set(r.works))) + "]"
        print(f"  {r.end:15.6f} {r.wall * 1e3:8.2f} {r.cpu * 1e3:8.2f} {r.task * 1e3:8.2f} "
              f"{r.intr * 1e3:8.2f}  {'yes' if r.commands else 'no ':4} {r.cause}"
              f"{'; ' + ran if ran else ''}")


if __name__ == "__main__":
    main()
