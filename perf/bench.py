#!/usr/bin/env python3
"""dpswitch benchmark harness: dpswitch, and with --baselines OVS-DPDK and dpdk-testpmd io,
on the same pcap source, sink and core layout, alternated round by round.

    perf/run.sh [--baselines] [--rounds N] [--window S] [--warmup S] [--scenarios S1,S4,...]
                [--out DIR] [--profile] ...          (perf/run.sh --help for all options)

Method (perf/README.md): 64-byte frames from net_pcap0,rx_pcap=FILE,infinite_rx=1 into
net_null0,no-rx=1; one forwarding lcore (1), everything else on core 0 (taskset); Mpps from
the sink port's tx counter delta over the window after warm-up; TSC cycles/packet = TSC Hz /
pps; every repetition a fresh process.  Python 3.11 standard library only.

Outputs in --out: runs.csv and runs.json (one row per run), summary.json, table.md (what is
printed at the end), logs/ (per-run daemon logs, metric scrapes, flow-count series, profiles).
"""
import argparse
import csv
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import vsw
from benchlib import (CTL_CORE, FWD_CORE, HERE, REPO, RUNNING, STAGE_NAMES, comm_of, delta,
                      free_tcp_port, log, mget, pmd_window, scrape, stop_ours)

# ---------------------------------------------------------------------------------------------
# Traffic: pcap name -> gen_pcap.py arguments (generated once, cached in --pcapdir).
PCAPS = {
    "flows1": "--kind 5tuple --flows 1 --packets 10000",
    "flows1k": "--kind 5tuple --flows 1000 --packets 10000",
    "flows100k": "--kind 5tuple --flows 100000 --packets 100000",
    "macs10k": "--kind dstmac --flows 10000 --packets 10000",
    "ct1k": "--kind ctbidir --flows 1000",
    "ct100k": "--kind ctbidir --flows 100000",
    "macs100k": "--kind dstmac --flows 100000 --packets 100000",
    "m32": "--kind m32 --flows 10000 --packets 100000 --zipf 1.0 --seed 1",
}

# dpswitch port numbers (port 0 is the datapath's local TAP port).  With the source on the
# command line it is added first (1) and the sink second (2).  With --dpswitch-source add-if
# (the default for scenarios with a flow set) the sink is on the command line (1) and the
# source is added by dpctl once the flows are in, as port 2.  The harness checks the numbers
# in the daemon's "port added" log lines.
PORTS = {"cmdline": (1, 2), "add-if": (2, 1)}  # mode -> (source port, sink port)
ONE_MEGAFLOW = "in_port(SRC),eth(),eth_type(0x0800),ipv4(frag=no) SINK"

# Scenario table.  dpswitch side: pcap, flows (None: none installed by the harness; the
# standalone bridge installs what it decides), daemon options, mode.  ovs: OVS variants whose
# best result in the same round is the ratio's denominator (perf/ovs.sh implements them).
# goal: the target ratio against that best (the table's `met` column).
SCENARIOS = {
    "S1": dict(pcap="flows1", flows=("line", ONE_MEGAFLOW), n_flows=1, opts=[],
               ovs=["S1", "S1e"], goal=1.5, heavy=False, io_goal=0.5,
               desc="1 flow, one megaflow (in_port,eth_type,frag), EMC hits"),
    "S2": dict(pcap="flows1k", flows=("line", ONE_MEGAFLOW), n_flows=1, opts=[],
               ovs=["S2", "S2e"], goal=1.5, heavy=False,
               desc="1,000 5-tuples, one megaflow"),
    "S3": dict(pcap="flows100k", flows=("line", ONE_MEGAFLOW), n_flows=1, opts=[],
               ovs=["S3", "S3e"], goal=1.5, heavy=True,
               desc="100,000 5-tuples, one megaflow (EMC thrash)"),
    "S4": dict(pcap="macs10k", flows=("gen", "--kind dstmac --flows 10000"), n_flows=10000,
               opts=["--emc-insert-inv-prob", "0"], ovs=["S4"], goal=2.0, heavy=True,
               desc="10,000 megaflows (one per dst MAC), EMC off"),
    "S4e": dict(pcap="macs10k", flows=("gen", "--kind dstmac --flows 10000"), n_flows=10000,
                opts=[], ovs=["S4", "S4e"], goal=2.0, heavy=True,
                desc="S4 with the default EMC (1/100 insertion)"),
    "M32": dict(pcap="m32", flows=("gen", "--kind m32 --flows 10000"), n_flows=10000, opts=[],
                ovs=["M32"], goal=2.0, heavy=True,
                desc="10,000 flows over 32 masks, Zipf(1.0) traffic"),
    "S6a": dict(pcap="macs100k", flows=None, n_flows=100000, opts=[], ovs=["S6a"], goal=3.0,
                heavy=True, mode="setup",
                desc="flow setup: 100k new dst MACs from an empty datapath (standalone bridge)"),
    "S6b": dict(pcap="macs100k", flows=None, n_flows=None, opts=["--flow-limit", "1000"],
                ovs=["S6b"], goal=2.0, heavy=True, mode="misses",
                desc="sustained misses without install (--flow-limit 1000)"),
}
# The V scenarios: dpswitch driven by the stock ovs-vswitchd through the preload library
# (vsw.py), against OVS-DPDK run by the same vswitchd binary with the same OpenFlow.  "vsw" is
# the mode of the dpswitch side: steady (Mpps), setup (megaflows/s), latency (first packet).
V1_RULES = {"S1": ["priority=10,in_port=1,actions=output:2"],
            "NORMAL": ["priority=0,actions=NORMAL"]}
# The classic conntrack pipeline (ovs.sh's CT1 has the same rules).
CT1_RULES = ["table=0,priority=10,ip,actions=ct(zone=1,table=1)",
             "table=0,priority=0,actions=drop",
             "table=1,priority=10,ct_state=+trk+new,ip,actions=ct(commit,zone=1),output:2",
             "table=1,priority=10,ct_state=+trk+est,ip,actions=output:2",
             "table=1,priority=0,actions=drop"]
# CT3: CT1 with DNAT of every new connection to one of 4 backends (ovs.sh's CT3 has the same
# rules). Its traffic is one-way (flows1k): replies would have to come from the backends each
# side picked, so connections stay +new and every packet is translated and passes the
# committing rule again (a no-op commit on a known connection), on both sides alike.
CT3_RULES = ["table=0,priority=10,ip,actions=ct(zone=1,nat,table=1)",
             "table=0,priority=0,actions=drop",
             "table=1,priority=10,ct_state=+trk+new,ip,"
             "actions=ct(commit,zone=1,nat(dst=10.2.0.1-10.2.0.4)),output:2",
             "table=1,priority=10,ct_state=+trk+est,ip,actions=output:2",
             "table=1,priority=0,actions=drop"]
SCENARIOS.update({
    "V1-S1": dict(pcap="flows1", vsw="steady", rules=V1_RULES["S1"], opts=[], min_flows=1,
                  ovs=["S1"], goal=1.5, heavy=False,
                  desc="via vswitchd: in_port=1,actions=output:2 (flows1)"),
    "V1-S4": dict(pcap="macs10k", vsw="steady", rules=V1_RULES["NORMAL"], fdb=True,
                  opts=["--emc-insert-inv-prob", "0"], min_flows=10000, ovs=["S4"], goal=1.5,
                  heavy=True, desc="via vswitchd: NORMAL, 10k static FDB entries (macs10k), "
                                   "EMC off as OVS's emc-insert-inv-prob=0"),
    "V1-M32": dict(pcap="m32", vsw="steady", rules="M32", opts=[], masks=32, ovs=["M32"],
                   goal=1.5, heavy=True,
                   desc="via vswitchd: the 10k M32 rules over 32 field sets (m32)"),
    "CT1-1k": dict(pcap="ct1k", vsw="steady", rules=CT1_RULES, opts=[], min_flows=2,
                   purge=False,
                   ovs=["CT1"], goal=2.0, heavy=True,
                   desc="via vswitchd: ct(zone=1,table=1); +new: ct(commit),out; +est: out; "
                        "1k bidirectional UDP connections"),
    "CT1-100k": dict(pcap="ct100k", vsw="steady", rules=CT1_RULES, opts=[], min_flows=2,
                     purge=False,
                     ovs=["CT1"], goal=2.0, heavy=True,
                     desc="CT1 with 100k bidirectional UDP connections"),
    "CT3-1k": dict(pcap="flows1k", vsw="steady", rules=CT3_RULES, opts=[], min_flows=2,
                   purge=False, ovs=["CT3"], goal=2.0, heavy=True,
                   desc="via vswitchd: CT1 with DNAT to 4 backends; 1k one-way UDP "
                        "connections"),
    "V2": dict(pcap="flows100k", vsw="setup", mode="setup", n_flows=100000, opts=[],
               ovs=["V2"], goal=1.0, heavy=True,
               desc="via vswitchd: 100k new 5-tuple megaflows (multipath rule) from empty"),
    "V2-lat": dict(pcap=None, vsw="latency", mode="latency", opts=[], ovs=["V2L"], goal=None,
                   heavy=True, desc="via vswitchd: first-packet latency, one new 5-tuple at "
                                    "a time over net_tap (probe.py)"),
})
ORDER = ["S1", "S2", "S3", "S4", "S4e", "M32", "S6a", "S6b"]
V_ORDER = ["V1-S1", "V1-S4", "V1-M32", "V2", "V2-lat"]
CT_ORDER = ["CT1-1k", "CT1-100k", "CT3-1k"]
ALIASES = {"S": ORDER, "V": V_ORDER, "V1": V_ORDER[:3], "CT": CT_ORDER,
           "all": ORDER + V_ORDER + CT_ORDER}

CSV_COLS = ["ts", "round", "tool", "scenario", "pcap", "value", "unit", "mpps",
            "tsc_cycles_per_pkt", "window_s", "pmd_busy_cycles_per_pkt", "pmd_idle_pct",
            "pmd_cycles_per_packet_gauge", "emc_hits", "megaflow_hits", "upcalls", "dp_flows",
            "dp_masks", "lookups_per_megaflow_hit", "batch_size", "src_rx_mpps",
            "sink_tx_dropped", "scrapes_in_window", "dump_flows", "dump_masks",
            "upcalls_lost", "lat_p50_us", "lat_p90_us", "lat_p99_us", "lat_max_us",
            "warm_p50_us", "warm_p99_us", "lat_lost", "lat_n", "ok", "note", "log_dir"]


# ---------------------------------------------------------------------------------------------
# Machine set-up

def tsc_hz():
    """The kernel's TSC calibration (DPDK, OVS and dpswitch count cycles with the TSC)."""
    try:
        text = subprocess.run(["dmesg"], capture_output=True, text=True, check=False).stdout
    except OSError:
        text = ""
    for pat in (r"tsc: Refined TSC clocksource calibration: ([0-9.]+) MHz",
                r"tsc: Detected ([0-9.]+) MHz processor"):
        m = re.findall(pat, text)
        if m:
            return int(float(m[-1]) * 1e6)
    for line in open("/proc/cpuinfo"):
        if line.startswith("cpu MHz"):
            return int(float(line.split(":")[1]) * 1e6)
    raise SystemExit("cannot find the TSC frequency")


class Hugepages:
    """Raise vm.nr_hugepages to `want` for the run and put the old value back at exit (the
    kernel only releases pages nobody uses).  want=0: leave the machine alone."""
    PATH = "/proc/sys/vm/nr_hugepages"

    def __init__(self, want):
        self.old = None
        have = int(open(self.PATH).read())
        if want and have < want:
            log("hugepages: %d -> %d (2 MiB)" % (have, want))
            open(self.PATH, "w").write(str(want))
            self.old = have
            got = int(open(self.PATH).read())
            if got < want:
                log("warning: the kernel granted only %d hugepages" % got)
        if not os.path.ismount("/dev/hugepages"):
            os.makedirs("/dev/hugepages", exist_ok=True)
            subprocess.run(["mount", "-t", "hugetlbfs", "nodev", "/dev/hugepages"], check=True)

    def restore(self):
        if self.old is not None:
            log("hugepages: back to %d" % self.old)
            open(self.PATH, "w").write(str(self.old))
            self.old = None


def ensure_pcap(pcapdir, name):
    if name is None:
        return None
    f = pcapdir / (name + ".pcap")
    if not f.exists() or f.stat().st_size == 0:
        pcapdir.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(HERE / "gen_pcap.py"), *PCAPS[name].split(),
                        "-o", str(f)], check=True, stdout=sys.stderr)
    return f


def flows_file(pcapdir, spec, fmt, in_port, out_port):
    kind, arg = spec
    if kind == "line":
        arg = arg.replace("SRC", str(in_port)).replace("SINK", str(out_port))
    f = pcapdir / ("flows-%s-%s-%d-%d.txt" % (fmt, re.sub(r"[^a-z0-9]+", "_", arg.lower()),
                                              in_port, out_port))
    if kind == "line":
        f.write_text(arg + "\n")
    elif not f.exists() or f.stat().st_size == 0:
        subprocess.run([sys.executable, str(HERE / "gen_pcap.py"), *arg.split(), "--rules", fmt,
                        "--in-port", str(in_port), "--out-port", str(out_port), "-o", str(f)],
                       check=True, stdout=sys.stderr)
    return f


# ---------------------------------------------------------------------------------------------
# dpswitch

class Dpswitch:
    """One dpswitch process for one run: own --file-prefix, --netlink-pid and metrics port."""
    seq = 0

    def __init__(self, args, sc, pcap, logdir):
        Dpswitch.seq += 1
        self.args, self.sc, self.logdir = args, sc, logdir
        self.prefix = "dpsw-perf-%d-%d" % (os.getpid(), Dpswitch.seq)
        # a netlink port id nobody else uses: far above pids, apart from dpswitch's default
        self.nl_pid = 0x50460000 + ((os.getpid() & 0xFFF) << 4) + (Dpswitch.seq & 0xF)
        self.metrics = "127.0.0.1:%d" % free_tcp_port()
        # the datapath's local port is a TAP netdev named after it: a name no other dpswitch
        # on the machine uses (engineers' and tests' daemons say dp0)
        self.dp = "pdp%d" % ((os.getpid() * 16 + Dpswitch.seq) % 100000)
        self.src = "net_pcap0,rx_pcap=%s,infinite_rx=1" % pcap
        # Scenarios without a flow set keep the source on the command line and use no dpctl:
        # the standalone bridge installs their flows.
        self.mode = args.dpswitch_source if sc.get("flows") is not None else "cmdline"
        self.src_no, self.sink_no = PORTS[self.mode]
        ports = ["--port", "p1=net_null0,no-rx=1"]
        if self.mode == "cmdline":
            ports = ["--port", "p0=" + self.src] + ports
        self.cmd = ["taskset", "-c", str(CTL_CORE), args.dpswitch,
                    "-l", "%d-%d" % (CTL_CORE, FWD_CORE), "--main-lcore", str(CTL_CORE),
                    "--in-memory", "--no-pci", "--file-prefix", self.prefix,
                    # as OVS's bridge here: LOCAL (the datapath's TAP port) is no-flood, so
                    # the standalone bridge's floods go to the sink only, not the kernel
                    "--dp", self.dp, "--no-flood", self.dp, *ports,
                    "--pmd-cores", str(FWD_CORE), "--netlink-pid", str(self.nl_pid),
                    "--metrics", self.metrics, "--mbufs", str(args.mbufs),
                    "--status-interval", "5", *sc["opts"]]
        if args.stages:
            self.cmd.append("--pmd-perf-metrics")
        if sc.get("flows") is not None:
            # Flows come from dpctl after start.  Any miss before they are all in (with the
            # source on the command line traffic starts with the process) would make the
            # standalone bridge install its own, different and overlapping megaflows;
            # --flow-limit 0 keeps it from installing any, while flows added over netlink are
            # not subject to the slow path's limit.  The run checks dp_flows == the flow set
            # and reports upcalls inside the window.
            self.cmd += ["--flow-limit", "0"]
        # the process name to check before signalling: --dpswitch may be a renamed binary
        self.comm = Path(args.dpswitch).name[:15]
        self.proc = None
        self.logf = None

    def check_ports(self):
        """The flow sets name ports by number: check the daemon gave p0/p1 the numbers they
        assume (its "port added" log lines, ANSI colours stripped)."""
        text = re.sub(r"\x1b\[[0-9;]*m", "", (self.logdir / "dpswitch.log").read_text(
            errors="replace"))
        got = dict((name, int(no)) for no, name in re.findall(
            r"port added.*?port_no=(\d+).*?port=(\w+)", text))
        want = {"p0": self.src_no, "p1": self.sink_no}
        if any(got.get(k) not in (None, v) for k, v in want.items()):
            raise RuntimeError("port numbers %s, the flow sets assume %s" % (got, want))
        return got

    def start(self):
        self.logf = open(self.logdir / "dpswitch.log", "w")
        self.logf.write(" ".join(self.cmd) + "\n")
        self.logf.flush()
        self.proc = subprocess.Popen(self.cmd, stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        RUNNING.append((self.proc, self.comm))
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dpswitch exited with %s; see %s" % (
                    self.proc.returncode, self.logdir / "dpswitch.log"))
            try:
                _, vals, _ = scrape(self.metrics, 1.0)
                if mget(vals, "dpswitch_port_tx_packets_total", port="p1") is not None:
                    self.check_ports()
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("dpswitch metrics at %s never showed port p1" % self.metrics)

    def add_source(self):
        """add-if mode: the pcap source joins once the flows are in, so no packet misses."""
        self.dpctl("add-if", self.dp, "p0,type=dpdk,port_no=%d,devargs=%s" % (self.src_no,
                                                                               self.src))
        deadline = time.time() + 30
        while time.time() < deadline:
            _, vals, _ = scrape(self.metrics)
            if mget(vals, "dpswitch_port_rx_packets_total", port="p0") is not None:
                return self.check_ports()
            time.sleep(0.1)
        raise RuntimeError("p0 never showed up in the metrics after add-if")

    def dpctl(self, *a, timeout=None):
        timeout = timeout or self.args.dpctl_timeout
        cmd = [self.args.dpctl, "--netlink-pid", str(self.nl_pid), *a]
        r = subprocess.run(["taskset", "-c", str(CTL_CORE), *cmd], capture_output=True,
                           text=True, timeout=timeout, check=False)
        (self.logdir / ("dpctl-%s.txt" % a[0])).write_text(
            "$ %s\nrc=%d\n%s%s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
        if r.returncode != 0:
            raise RuntimeError("dpctl %s failed (%d): %s" % (a[0], r.returncode,
                                                              r.stderr.strip()[:300]))
        return r.stdout

    def pmd_tid(self):
        """The PMD thread: DPDK names worker lcores lcore-worker-N; fall back to the thread
        pinned to the forwarding core alone."""
        pid = self.dpswitch_pid()
        if pid is None:
            return None
        tasks = Path("/proc/%d/task" % pid)
        for t in tasks.iterdir():
            if (t / "comm").read_text().strip() == "lcore-worker-%d" % FWD_CORE:
                return int(t.name)
        for t in tasks.iterdir():
            for line in (t / "status").read_text().splitlines():
                if line.startswith("Cpus_allowed_list:") and line.split()[1] == str(FWD_CORE):
                    return int(t.name)
        return None

    def dpswitch_pid(self):
        # taskset execs the program, so the child pid is dpswitch itself
        return self.proc.pid if comm_of(self.proc.pid) == self.comm else None

    def stop(self):
        stop_ours(self.proc, self.comm, signal.SIGINT)
        if self.logf:
            self.logf.close()


def scrape_during(addr, secs, hz):
    """Sleeps `secs`, or with `hz` > 0 scrapes /metrics `hz` times a second meanwhile (to
    measure what scraping costs forwarding). Returns the number of scrapes."""
    if not hz:
        time.sleep(secs)
        return 0
    n, end = 0, time.time() + secs
    while time.time() < end:
        t = time.time()
        scrape(addr)
        n += 1
        time.sleep(max(0.0, min(1.0 / hz - (time.time() - t), end - time.time())))
    return n


def stages_line(row):
    """'rx 40, extract 30, ...' cycles/packet, or '' without --stages figures."""
    names = STAGE_NAMES + ["other"]
    if not all(("stage_" + n) in row for n in names):
        return ""
    return ", ".join("%s %.0f" % (n, row["stage_" + n]) for n in names)


def run_dpswitch(args, sid, rnd, pcap, hz, logdir):
    sc = SCENARIOS[sid]
    d = Dpswitch(args, sc, pcap, logdir)
    row = dict(tool="dpswitch", scenario=sid, pcap=sc["pcap"], round=rnd, ok=True, note="")
    log("dpswitch %s round %d: %s" % (sid, rnd, sc["desc"]))
    try:
        if sc.get("mode") == "setup":
            return run_dpswitch_setup(args, d, sc, row, hz, logdir)
        d.start()
        if sc.get("flows") is not None:
            f = flows_file(Path(args.pcapdir), sc["flows"], "odp", d.src_no, d.sink_no)
            t = time.time()
            d.dpctl("add-flows", d.dp, str(f))
            # wait until the control thread has installed all of them (give up after 10 s
            # without progress)
            n, last, t_last = None, None, time.time()
            while time.time() - t_last < 10:
                _, v, _ = scrape(d.metrics)
                n = mget(v, "dpswitch_dp_flows", dp=d.dp)
                if n is not None and n >= sc["n_flows"]:
                    break
                if n != last:
                    last, t_last = n, time.time()
                time.sleep(0.1)
            log("  %s flows installed in %.1f s" % (n, time.time() - t))
            if n != sc["n_flows"]:
                row["ok"] = False
                row["note"] += "dp_flows=%s expected %d;" % (n, sc["n_flows"])
            if d.mode == "add-if":
                log("  ports %s" % d.add_source())
        time.sleep(args.warmup)
        if sc.get("mode") != "misses" and row["ok"]:
            # keep warming while the upcall counter still moves (max 60 s), as for OVS; not
            # when the flow set is incomplete: the misses would never stop
            _, prev, _ = scrape(d.metrics)
            for _ in range(60):
                time.sleep(1)
                _, cur, _ = scrape(d.metrics)
                if delta(prev, cur, "dpswitch_pmd_upcalls_total", pmd=str(FWD_CORE)) == 0:
                    break
                prev = cur
        t0, a, ta = scrape(d.metrics)
        n_scrapes = scrape_during(d.metrics, args.window, args.scrape_load)
        t1, b, tb = scrape(d.metrics)
        (logdir / "metrics-start.txt").write_text(ta)
        (logdir / "metrics-end.txt").write_text(tb)
        if args.profile:
            profile(args, d, logdir, b, hz)
        dt = t1 - t0
        tx = delta(a, b, "dpswitch_port_tx_packets_total", port="p1")
        rx = delta(a, b, "dpswitch_port_rx_packets_total", port="p0")
        if tx is None:
            raise RuntimeError("no dpswitch_port_tx_packets_total{port=\"p1\"} in the scrape")
        pps = tx / dt
        row.update(value=round(pps / 1e6, 3), unit="Mpps", mpps=round(pps / 1e6, 3),
                   tsc_cycles_per_pkt=round(hz / pps, 1) if pps else None,
                   window_s=round(dt, 2),
                   src_rx_mpps=round(rx / dt / 1e6, 3) if rx is not None else None)
        row.update(pmd_window(a, b, d.dp))
        row["scrapes_in_window"] = n_scrapes
        # a few upcalls are the kernel's own packets on the local TAP port (IPv6 ND/RS)
        if sc.get("flows") is not None and (row.get("upcalls") or 0) > 100:
            row["note"] += "upcalls in window: %d;" % row["upcalls"]
        log("  %.3f Mpps, %s TSC cyc/pkt, PMD busy %s cyc/pkt, idle %s%%, flows %s, masks %s, "
            "emc %s mf %s upcalls %s" % (pps / 1e6, row["tsc_cycles_per_pkt"],
                                         row["pmd_busy_cycles_per_pkt"], row["pmd_idle_pct"],
                                         row["dp_flows"], row["dp_masks"], row["emc_hits"],
                                         row["megaflow_hits"], row["upcalls"]))
        if stages_line(row):
            log("  PMD cycles/packet by stage: " + stages_line(row))
        return row
    finally:
        d.stop()


def run_dpswitch_setup(args, d, sc, row, hz, logdir):
    """S6a: sample dpswitch_dp_flows every --sample-interval from before traffic starts (the
    metrics server is up before the datapath's ports are added) until the flow count stops
    growing. Rate = flows at the first sample with >= 99 % of the final count / time since
    the last sample with none, as ovs.sh computes it for OVS from its upcall counter."""
    series = []
    stop = threading.Event()

    def sampler():
        while not stop.is_set():
            try:
                t, v, _ = scrape(d.metrics, 2.0)
                n = mget(v, "dpswitch_dp_flows", dp=d.dp)
                if n is not None:
                    series.append((t, n, mget(v, "dpswitch_pmd_upcalls_total",
                                              pmd=str(FWD_CORE)) or 0))
            except OSError:
                pass
            stop.wait(args.sample_interval)

    d.logf = open(logdir / "dpswitch.log", "w")
    d.logf.write(" ".join(d.cmd) + "\n")
    d.logf.flush()
    th = threading.Thread(target=sampler, daemon=True)
    try:
        d.proc = subprocess.Popen(d.cmd, stdout=d.logf, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
        RUNNING.append((d.proc, d.comm))
        th.start()
        deadline = time.time() + args.setup_timeout
        last_change = time.time()
        prev = -1
        while time.time() < deadline:
            if d.proc.poll() is not None:
                raise RuntimeError("dpswitch exited with %s" % d.proc.returncode)
            time.sleep(0.2)
            if series and series[-1][1] != prev:
                prev, last_change = series[-1][1], time.time()
            if prev >= sc["n_flows"] or (prev > 0 and time.time() - last_change > 3):
                break
    finally:
        stop.set()
        if th.is_alive():
            th.join()
    with open(logdir / "flow-series.txt", "w") as f:
        f.write("# epoch dp_flows pmd_upcalls\n")
        for s in series:
            f.write("%.4f %d %d\n" % s)
    first = next((i for i, s in enumerate(series) if s[1] > 0), None)
    if first is None:
        raise RuntimeError("no flow was installed; see %s" % (logdir / "dpswitch.log"))
    final = series[-1][1]
    t0 = series[first - 1][0] if first > 0 else series[0][0]
    if first == 0:
        row["note"] += "first sample already had %d flows;" % series[0][1]
    end = next(s for s in series if s[1] >= 0.99 * final)
    rate = end[1] / (end[0] - t0) if end[0] > t0 else float("nan")
    steps = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(series, series[1:]) if b[0] > a[0]]
    row.update(value=round(rate / 1e6, 4), unit="M setups/s", tsc_cycles_per_pkt=round(hz / rate)
               if rate else None, window_s=round(end[0] - t0, 3), dp_flows=final,
               note=row["note"] + "setup_s=%.3f;final_flows=%d;peak_per_s=%.0f;samples=%d;" % (
                   end[0] - t0, final, max(steps) if steps else 0, len(series)))
    if final < sc["n_flows"]:
        row["ok"] = False
        row["note"] += "only %d of %d flows;" % (final, sc["n_flows"])
    log("  setup: %d flows in %.3f s = %.0f setups/s (final %d)" % (end[1], end[0] - t0, rate,
                                                                    final))
    return row


# ---------------------------------------------------------------------------------------------
# Profile: the VM has no hardware PMU (perf stat -e cycles: <not supported>), so the profile is
# software-clock sampling (perf record -e cpu-clock) of the PMD thread, taken AFTER the
# measuring window so it does not perturb the figures.  Samples are mapped to pipeline stages
# by symbol name; with fat LTO much is inlined into the PMD loop, so "pmd loop (inlined)" can be
# large -- the stage split is approximate, the busy cycles/packet from the daemon are exact.
STAGES = [  # (stage, DSO pattern, symbol pattern): first match wins
    ("rx (pcap source)", r"librte_net_pcap", r"."),
    ("tx (null sink)", r"librte_net_null", r"."),
    ("mbuf alloc/free", r"librte_(mempool|mbuf|ring)", r"."),
    ("memcpy (pcap source copy)", r"libc", r"mem(cpy|move)"),
    ("rx", r".", r"rx_burst"),
    ("tx", r".", r"tx_burst|TxBatch|flush|pktmbuf_free"),
    ("upcall", r".", r"upcall|Upcall|::miss|ArrayQueue|slow_path|bridge"),
    ("extract", r".", r"extract|parse|fast_ipv4|fast_ipv6|flow_key|FlowKey"),
    ("emc", r".", r"emc|Emc"),
    ("dpcls", r".", r"dpcls|Dpcls|subtable|Subtable|lookup_batch"),
    ("actions", r".", r"actions|Action|exec"),
    ("pmd loop (inlined)", r".", r"pmd|Pmd|process_burst|rdtsc"),
]


def profile(args, d, logdir, last_scrape, hz):
    tid = d.pmd_tid()
    if tid is None:
        log("  profile: PMD thread not found")
        return
    data = logdir / "perf.data"
    cmds = [["perf", "stat", "-e", "task-clock,context-switches,cpu-migrations,page-faults",
             "-t", str(tid), "-o", str(logdir / "perf-stat.txt"), "--", "sleep",
             str(args.profile_secs)],
            ["perf", "record", "-e", "cpu-clock", "-F", "4000", "-t", str(tid), "-o", str(data),
             "--", "sleep", str(args.profile_secs)]]
    for c in cmds:
        r = subprocess.run(["taskset", "-c", str(CTL_CORE), *c], capture_output=True, text=True,
                           check=False)
        if r.returncode:
            log("  profile: %s failed: %s" % (c[1], r.stderr.strip()[:200]))
            return
    rep = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children",
                          "--sort", "dso,symbol", "--percent-limit", "0.1"],
                         capture_output=True, text=True, check=False).stdout
    (logdir / "perf-report.txt").write_text(rep)
    busy = mget(last_scrape, "dpswitch_pmd_cycles_per_packet", pmd=str(FWD_CORE)) or 0
    shares = {}
    for line in rep.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[.\]\s+(.*)", line)
        if not m:
            continue
        pct, dso, sym = float(m.group(1)), m.group(2), m.group(3).strip()
        stage = next((s for s, dp, sp in STAGES if re.search(dp, dso) and re.search(sp, sym)),
                     "other (%s)" % dso)
        shares[stage] = shares.get(stage, 0) + pct
    out = {s: {"pct": round(p, 1), "cycles_per_pkt": round(busy * p / 100, 1)}
           for s, p in sorted(shares.items(), key=lambda x: -x[1])}
    (logdir / "stages.json").write_text(json.dumps(out, indent=1))
    log("  profile (cpu-clock samples, %d s, busy %.0f cyc/pkt): %s" % (
        args.profile_secs, busy, ", ".join("%s %.0f%% ~%.0f cyc" % (s, v["pct"],
                                                                   v["cycles_per_pkt"])
                                          for s, v in out.items())))


# ---------------------------------------------------------------------------------------------
# testpmd io on the same pcap

def parse_testpmd(text, warm, window, hz):
    """testpmd prints a stats block every --stats-period; each block has the cumulative port
    counter and the rate since the previous block (clock_gettime), so a block's length is
    delta/rate (on this VM blocks come every ~2 s, not 1 s: EAL's TSC estimate is off).  The
    window is the first run of whole blocks starting >= warm s in that covers >= window s."""
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)
    seq = []
    for b in text.split("Port statistics ====")[1:]:
        parts = re.split(r"NIC statistics for port (\d+)", b)
        per = {int(parts[i]): parts[i + 1] for i in range(1, len(parts) - 1, 2)}
        body = per.get(1, "")
        mc, mr = re.search(r"TX-packets:\s+(\d+)", body), re.search(r"Tx-pps:\s+(\d+)", body)
        if mc and mr:
            seq.append((int(mc.group(1)), int(mr.group(1))))
    t = pk = dur = 0.0
    for (c0, _), (c1, pps) in zip(seq, seq[1:]):
        if pps <= 0:
            continue
        dd = (c1 - c0) / pps
        if t >= warm and dur < window:
            pk += c1 - c0
            dur += dd
        t += dd
    if dur < window * 0.95 or not pk:
        return None, dur
    return pk / dur, dur


def run_testpmd(args, rnd, pcapname, pcap, hz, logdir):
    log("testpmd io %s round %d" % (pcapname, rnd))
    prefix = "tpmd-perf-%d-%d" % (os.getpid(), rnd)
    cmd = ["taskset", "-c", str(CTL_CORE), args.testpmd, "-l", "%d-%d" % (CTL_CORE, FWD_CORE),
           "--main-lcore", str(CTL_CORE), "--no-pci", "--in-memory", "--file-prefix", prefix,
           "--vdev", "net_pcap0,rx_pcap=%s,infinite_rx=1" % pcap, "--vdev", "net_null0,no-rx=1",
           "--", "--forward-mode=io", "--stats-period", "1",
           "--total-num-mbufs=%d" % args.mbufs, "--nb-cores=1"]
    lf = logdir / "testpmd.log"
    with open(lf, "w") as f:
        f.write(" ".join(cmd) + "\n")
        f.flush()
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        RUNNING.append((p, "dpdk-testpmd"))
        try:
            for _ in range(120):
                if p.poll() is not None or "Port statistics" in lf.read_text(errors="replace"):
                    break
                time.sleep(0.5)
            # blocks come every ~2 s: leave room for warm-up + window + two blocks
            time.sleep(args.warmup + args.window + 5)
        finally:
            stop_ours(p, "dpdk-testpmd", signal.SIGINT)
            # testpmd leaves its (empty) EAL runtime directory behind; ours only.
            shutil.rmtree("/var/run/dpdk/" + prefix, ignore_errors=True)
    pps, dur = parse_testpmd(lf.read_text(errors="replace"), args.warmup, args.window, hz)
    row = dict(tool="testpmd", scenario="io", pcap=pcapname, round=rnd, unit="Mpps",
               window_s=round(dur, 2), ok=pps is not None, note="")
    if pps is None:
        row["note"] = "stats blocks covered only %.1f s" % dur
        log("  testpmd: no full window (%.1f s)" % dur)
        return row
    row.update(value=round(pps / 1e6, 3), mpps=round(pps / 1e6, 3),
               tsc_cycles_per_pkt=round(hz / pps, 1))
    log("  %.3f Mpps, %.1f TSC cyc/pkt" % (pps / 1e6, hz / pps))
    return row


# ---------------------------------------------------------------------------------------------
# OVS-DPDK: perf/ovs.sh does one run and writes key=value lines.

def run_ovs(args, ovs_id, rnd, pcapname, pcap, hz, logdir):
    log("ovs %s round %d" % (ovs_id, rnd))
    res = logdir / "result.txt"
    env = dict(os.environ, OVS_PCAP=str(pcap), OVS_LOGDIR=str(logdir), OVS_RESULT=str(res),
               WARM_S=str(args.warmup), WINDOW_S=str(args.window), TSC_HZ=str(hz),
               OVS_SCRATCH=str(Path(args.out) / "ovsrun"),
               OVS_M32_RULES=str(flows_file(Path(args.pcapdir), SCENARIOS["M32"]["flows"],
                                            "ofctl", 1, 2)),
               OVS_MACS=str(Path(args.pcapdir) / "macs10k.txt"),
               # V2L: OVS's two net_tap interfaces, in this namespace, so names of our own
               OVS_LAT_TX="pvl%da" % (os.getpid() % 10000),
               OVS_LAT_RX="pvl%db" % (os.getpid() % 10000),
               LAT_COUNT=str(args.lat_count), LAT_GAP=str(args.lat_gap))
    # ovs.sh's output goes to the terminal as before and to logdir/ovs.sh.log, whose last
    # line becomes the note of a failed run (set -e stops it on the first failing command).
    p = subprocess.Popen(["taskset", "-c", str(CTL_CORE), str(HERE / "ovs.sh"), "run", ovs_id],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, errors="replace")
    last = ""
    try:
        logdir.mkdir(parents=True, exist_ok=True)
        with open(logdir / "ovs.sh.log", "w") as out:
            for line in p.stdout:
                sys.stderr.write(line)
                out.write(line)
                last = line.strip() or last
        rc = p.wait()
    except KeyboardInterrupt:
        # ovs.sh stops the ovsdb-server and ovs-vswitchd it detached in its EXIT trap; the
        # SIGKILL subprocess.run would send left ovs-vswitchd polling core 1 after an abort.
        p.terminate()
        p.wait(timeout=60)
        raise
    note = "" if rc == 0 else "ovs.sh exited with %d: %s" % (rc, last[-200:])
    row = dict(tool="ovs", scenario=ovs_id, pcap=pcapname, round=rnd, ok=rc == 0, note=note)
    if res.exists():
        kv = dict(l.split("=", 1) for l in res.read_text().split("\n") if "=" in l)
        for k, v in kv.items():
            try:
                kv[k] = float(v) if "." in v or v.isdigit() else v
            except ValueError:
                pass
        row.update({k: v for k, v in kv.items() if k in CSV_COLS})
    if "value" not in row:
        row["ok"] = False
    if ovs_id in ("V2", "V2L") and (logdir / "dp-flows.txt").exists():
        # the V2 rule must give one megaflow per 5-tuple on this side too
        lines = [l for l in (logdir / "dp-flows.txt").read_text().splitlines() if "ipv4(" in l]
        row["note"] = (row.get("note") or "") + ";5tuple_megaflows=%d/%d" % (
            sum(1 for l in lines if vsw.is_5tuple_megaflow(l)), len(lines))
    return row


# ---------------------------------------------------------------------------------------------
# dpswitch under ovs-vswitchd (the V scenarios): vsw.py

def run_vsw(args, sid, rnd, pcap, hz, logdir):
    sc = SCENARIOS[sid]
    log("dpswitch+vswitchd %s round %d: %s" % (sid, rnd, sc["desc"]))
    if sc["vsw"] == "setup":
        return vsw.run_setup(args, sid, sc, rnd, pcap, hz, logdir)
    if sc["vsw"] == "latency":
        return vsw.run_latency(args, sid, sc, rnd, hz, logdir)
    rules = sc["rules"]
    if rules == "M32":
        rules = flows_file(Path(args.pcapdir), SCENARIOS["M32"]["flows"], "ofctl", 1,
                           2).read_text().split()
    return vsw.run_steady(args, sid, sc, rnd, pcap, rules, hz, logdir)


# ---------------------------------------------------------------------------------------------
# Driver

def plan(args):
    """Per round, per pcap group: testpmd io once, the dpswitch scenarios, the OVS variants
    (each once per round).  The order of the three tools rotates every round."""
    groups = []
    for sid in args.scenarios:
        p = SCENARIOS[sid]["pcap"]
        g = next((g for g in groups if g["pcap"] == p), None)
        if g is None:
            g = {"pcap": p, "dpswitch": [], "ovs": []}
            groups.append(g)
        g["dpswitch"].append(sid)
        for o in SCENARIOS[sid]["ovs"]:
            if o not in g["ovs"]:
                g["ovs"].append(o)
    rounds = []
    for rnd in range(1, args.rounds + 1):
        jobs = []
        for g in groups:
            heavy = any(SCENARIOS[s]["heavy"] for s in g["dpswitch"])
            if not heavy and rnd > args.light_rounds:
                continue
            # testpmd io only where some scenario of the pcap is measured in Mpps
            mpps = g["pcap"] is not None and any(SCENARIOS[s].get("mode") in (None, "misses")
                                                 for s in g["dpswitch"])
            tools = [t for t in ("dpswitch", "ovs", "testpmd") if t in args.tools and
                     (t != "testpmd" or mpps)]
            k = (rnd - 1) % len(tools)
            for tool in tools[k:] + tools[:k]:
                if tool == "dpswitch":
                    jobs += [("dpswitch", s, g["pcap"]) for s in g["dpswitch"]]
                elif tool == "ovs":
                    jobs += [("ovs", o, g["pcap"]) for o in g["ovs"]]
                else:
                    jobs.append(("testpmd", "io", g["pcap"]))
        rounds.append(jobs)
    return rounds


def fmt_mmm(v, f="%.2f"):
    if not v:
        return "-"
    return (f + " (" + f + "-" + f + ")") % (statistics.median(v), min(v), max(v))


def summarize(rows, args, hz):
    ok = [r for r in rows if r.get("ok") and r.get("value") is not None]

    def vals(tool, sc, pcap=None, col="value"):
        return [r[col] for r in ok if r["tool"] == tool and r["scenario"] == sc and
                (pcap is None or r["pcap"] == pcap) and r.get(col) is not None]

    def by_round(tool, sc, pcap=None, col="value"):
        return {r["round"]: r[col] for r in ok if r["tool"] == tool and r["scenario"] == sc
                and (pcap is None or r["pcap"] == pcap) and r.get(col) is not None}

    def ratios(num, den):
        return [round(num[k] / den[k], 2) for k in sorted(num) if den.get(k)]

    def cell(r):
        return ("%s (%.2f)" % (" ".join(map(str, r)), statistics.median(r))) if r else "-"

    summary = {"tsc_hz": hz, "args": {k: v for k, v in vars(args).items()}, "scenarios": {}}
    lines = ["| id | tool | variant | n | median (min-max) | unit | TSC cyc/pkt median (min-max) "
             "| PMD busy cyc/pkt | dpswitch/OVS-best per round (median) | dpswitch/testpmd-io "
             "per round (median) | goal | met |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for sid in args.scenarios:
        sc = SCENARIOS[sid]
        mode = sc.get("mode")
        unit = {"setup": "M setups/s", "latency": "us"}.get(mode, "Mpps")
        fmt = {"setup": "%.3f", "latency": "%.0f"}.get(mode, "%.2f")
        dvariant = ("via vswitchd, " if "vsw" in sc else "") + (sc["pcap"] or "net_tap")
        # the value columns: one line per measure; latency has p50 (the value) and p99
        measures = [("value", "")]
        if mode == "latency":
            measures = [("value", "first packet p50 "), ("lat_p99_us", "first packet p99 "),
                        ("warm_p50_us", "flow in place p50 ")]
        entry = {"desc": sc["desc"], "pcap": sc["pcap"], "unit": unit, "goal": sc["goal"]}
        for col, label in measures:
            d = vals("dpswitch", sid, col=col)
            dr = by_round("dpswitch", sid, col=col)
            best = {}  # per round, the best OVS variant: the fastest, or the lowest latency
            pick = min if mode == "latency" else max
            # An OVS variant may run on several pcaps (CT1): compare on this one's.
            for o in sc["ovs"]:
                for rnd, v in by_round("ovs", o, sc["pcap"], col=col).items():
                    best[rnd] = pick(best.get(rnd, v), v)
            tp = by_round("testpmd", "io", sc["pcap"]) if sc["pcap"] else {}
            r_ovs = ratios(dr, best)
            r_tp = ratios(dr, tp) if unit == "Mpps" else []
            met = ""
            if r_ovs and sc["goal"] is not None:
                met = "yes" if statistics.median(r_ovs) >= sc["goal"] else "no"
            if r_tp and sc.get("io_goal"):
                # S1 has a second target: within 2x of testpmd io
                met += "%sio >= %.1f: %s" % ("; " if met else "", sc["io_goal"],
                                             "yes" if statistics.median(r_tp) >= sc["io_goal"]
                                             else "no")
            if mode == "latency" and r_ovs:
                met = "lower is better"
            lines.append("| %s | dpswitch | %s%s | %d | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                sid, label, dvariant, len(d), fmt_mmm(d, fmt), unit,
                fmt_mmm(vals("dpswitch", sid, col="tsc_cycles_per_pkt"), "%.0f")
                if col == "value" and mode != "latency" else "-",
                fmt_mmm(vals("dpswitch", sid, col="pmd_busy_cycles_per_pkt"), "%.0f")
                if col == "value" else "-", cell(r_ovs), cell(r_tp),
                (">= %.1fx" % sc["goal"]) if sc["goal"] is not None else "-", met))
            for o in sc["ovs"]:
                v = vals("ovs", o, sc["pcap"], col=col)
                if v:
                    lines.append("| %s | ovs | %s%s | %d | %s | %s | %s | %s | | | | |" % (
                        sid, label, o, len(v), fmt_mmm(v, fmt), unit,
                        fmt_mmm(vals("ovs", o, sc["pcap"], col="tsc_cycles_per_pkt"), "%.0f")
                        if col == "value" and mode != "latency" else "-",
                        fmt_mmm(vals("ovs", o, sc["pcap"], col="pmd_busy_cycles_per_pkt"),
                                "%.0f")
                        if col == "value" else "-"))
            key = "" if col == "value" else "_" + col
            entry.update({"dpswitch" + key: d,
                          "ovs" + key: {o: vals("ovs", o, sc["pcap"], col=col) for o in sc["ovs"]},
                          "ratio_vs_ovs_best_per_round" + key: r_ovs})
            if col == "value":
                entry.update(testpmd_io=vals("testpmd", "io", sc["pcap"]) if sc["pcap"] else [],
                             ratio_vs_testpmd_io_per_round=r_tp, goal_met=met or None)
        if sc["pcap"]:
            t = vals("testpmd", "io", sc["pcap"])
            if t:
                lines.append("| %s | testpmd | io on %s | %d | %s | Mpps | %s | - | | | | |" % (
                    sid, sc["pcap"], len(t), fmt_mmm(t),
                    fmt_mmm(vals("testpmd", "io", sc["pcap"], "tsc_cycles_per_pkt"), "%.0f")))
        summary["scenarios"][sid] = entry
    staged = [sid for sid in args.scenarios if vals("dpswitch", sid, col="stage_other")]
    if staged:
        names = STAGE_NAMES + ["other"]
        lines += ["", "dpswitch PMD cycles per packet by stage (--stages; medians):", "",
                  "| id | " + " | ".join(names) + " | busy |",
                  "|---|" + "---|" * (len(names) + 1)]
        for sid in staged:
            cells = [statistics.median(vals("dpswitch", sid, col="stage_" + n)) for n in names]
            busy = vals("dpswitch", sid, col="pmd_busy_cycles_per_pkt")
            lines.append("| %s | %s | %.0f |" % (sid, " | ".join("%.0f" % c for c in cells),
                                                 statistics.median(busy) if busy else 0))
            summary["scenarios"][sid]["stage_cycles_per_pkt"] = dict(zip(names, cells))
    for sid in args.scenarios:
        profs = [r["cpu_profile"] for r in ok if r["tool"] == "dpswitch" and
                 r["scenario"] == sid and r.get("cpu_profile")]
        if profs:
            lines += ["", "%s, dpswitch+vswitchd: CPU time per flow set up, by thread, from "
                      "add-port p0 until the flow count stopped (medians of %d runs; core 0 "
                      "carries all but the PMD):" % (sid, len(profs)), ""]
            lines += v2_profile_table(profs)
            summary["scenarios"][sid]["cpu_profile"] = profs
    failed = [r for r in rows if not r.get("ok")]
    if failed:
        lines.append("")
        lines.append("Runs not counted (ok=false): " + "; ".join(
            "%s %s r%s: %s" % (r["tool"], r["scenario"], r["round"], r.get("note", ""))
            for r in failed))
    lines.append("")
    lines.append("TSC %.3f MHz; window %s s after %s s warm-up; rounds %d (light scenarios "
                 "S1/S2/V1-S1: %d)." % (hz / 1e6, args.window, args.warmup, args.rounds,
                                        min(args.rounds, args.light_rounds)))
    return summary, "\n".join(lines)


def v2_profile_table(profs):
    """Markdown lines: per thread the median us of CPU per flow and its share of core 0, then
    the netlink requests and upcalls per flow."""
    med = statistics.median
    threads = sorted({k for p in profs for k in p["threads_us_per_flow"]},
                     key=lambda k: -med([p["threads_us_per_flow"].get(k, 0) for p in profs]))
    out = ["| thread | CPU us per flow (median) | share of core 0's busy time |", "|---|---|---|"]
    for k in threads:
        per = med([p["threads_us_per_flow"].get(k, 0) for p in profs])
        share = med([p["threads_ms"].get(k, 0) / (p["core0_busy_s"] * 1000)
                     for p in profs if p["core0_busy_s"]]) if not k.endswith("/pmd") else None
        if per >= 0.05:
            out.append("| %s | %.2f | %s |" % (k, per, "%.0f %%" % (100 * share)
                                                if share is not None else "(core 1)"))
    out.append("| other processes on core 0 | %.2f | %.0f %% |" % (
        med([p["other_on_core0_ms"] * 1000 / max(p["flows"], 1) for p in profs]),
        100 * med([p["other_on_core0_ms"] / (p["core0_busy_s"] * 1000) for p in profs
                   if p["core0_busy_s"]])))
    out.append("| core 0 busy / span | %s | |" % " ".join(
        "%.2f/%.2f s" % (p["core0_busy_s"], p["span_s"]) for p in profs))
    out.append("| upcalls queued by the PMD / lost (queue full) per flow | %.2f / %.2f | |" % (
        med([(p.get("upcalls") or 0) / max(p["flows"], 1) for p in profs]),
        med([(p.get("upcalls_lost") or 0) / max(p["flows"], 1) for p in profs])))
    calls = sorted({k for p in profs for k in p.get("syscalls_per_flow", {})})
    if calls:
        out += ["", "| system calls in the span (--profile) | per flow (median) |", "|---|---|"]
        for k in calls:
            out.append("| %s | %.2f |" % (k, med([p.get("syscalls_per_flow", {}).get(k, 0)
                                                 for p in profs])))
    reqs = sorted({k for p in profs for k in p["control_requests"]})
    out += ["", "| netlink requests to dpswitch in the span | per flow (median) |", "|---|---|"]
    for k in reqs:
        out.append("| %s | %.2f |" % (k, med([p["control_requests"].get(k, 0) / max(p["flows"], 1)
                                            for p in profs])))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baselines", action="store_true",
                    help="also run OVS-DPDK (installs openvswitch-switch-dpdk via apt if "
                         "missing) and testpmd io on the same pcaps")
    ap.add_argument("--tools", default=None,
                    help="comma-separated subset of dpswitch,ovs,testpmd (default: dpswitch, "
                         "or all three with --baselines)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    ap.add_argument("--light-rounds", type=int, default=3,
                    help="rounds for the cache-light scenarios S1/S2 (default 3)")
    ap.add_argument("--window", type=float, default=10, help="measuring window, s (default 10)")
    ap.add_argument("--warmup", type=float, default=5, help="warm-up, s (default 5)")
    ap.add_argument("--scenarios", default=",".join(ORDER),
                    help="comma-separated subset of %s (default: the S ones); the groups S, "
                         "V (%s), V1 and all" % (",".join(ORDER), ",".join(V_ORDER)))
    ap.add_argument("--out", help="output dir (default perf/results/UTC-TIMESTAMP)")
    ap.add_argument("--pcapdir", default=str(HERE / "results" / "pcap"))
    ap.add_argument("--dpswitch", help="dpswitch binary (default: build target/release)")
    ap.add_argument("--dpctl", help="dpctl binary (default: build target/release)")
    ap.add_argument("--no-build", action="store_true", help="use the binaries as they are")
    ap.add_argument("--testpmd", default="dpdk-testpmd")
    ap.add_argument("--dpswitch-source", choices=["add-if", "cmdline"], default="add-if",
                    help="scenarios with a flow set: add the pcap source with dpctl add-if "
                         "after the flows (default), or give it on the command line (traffic "
                         "misses while the flows go in)")
    ap.add_argument("--dpctl-timeout", type=float, default=900,
                    help="seconds one dpctl command may take (add-flows of 10k flows)")
    ap.add_argument("--mbufs", type=int, default=262144,
                    help="mbufs for dpswitch --mbufs and testpmd --total-num-mbufs; the pcap "
                         "PMD keeps the whole file in mbufs (default 262144)")
    ap.add_argument("--hugepages", type=int, default=1024,
                    help="raise vm.nr_hugepages to this for the run, 0 = leave as is")
    ap.add_argument("--profile", action="store_true",
                    help="after each dpswitch window, sample the PMD thread with perf")
    ap.add_argument("--profile-secs", type=int, default=5)
    ap.add_argument("--scrape-load", type=float, default=0, metavar="HZ",
                    help="scrape dpswitch's /metrics HZ times a second during each window, to "
                         "measure what scraping costs forwarding (compare with a run without)")
    ap.add_argument("--stages", action="store_true",
                    help="run dpswitch with --pmd-perf-metrics and report its PMD cycles per "
                         "packet by stage (rx, extract, emc, dpcls, actions, tx, other); the "
                         "TSC reads cost a few cycles per packet, so compare rates without it")
    ap.add_argument("--sample-interval", type=float, default=0.01,
                    help="S6a flow-count sampling interval, s")
    ap.add_argument("--setup-timeout", type=float, default=60)
    ap.add_argument("--preload", help="V scenarios: the preload library (default: build "
                                      "target/release/libdpswitch_preload.so)")
    ap.add_argument("--v2-sample-interval", type=float, default=0.05,
                    help="V2: how often dpswitch_dp_flows is sampled, s (default 0.05: the "
                         "samples share core 0 with vswitchd and dpswitch's control thread)")
    ap.add_argument("--lat-count", type=int, default=1000,
                    help="V2-lat: probes per run (default 1000)")
    ap.add_argument("--lat-gap", type=float, default=0.005,
                    help="V2-lat: mean pause after each probe, s, drawn uniformly from "
                         "0.5-1.5x (default 0.005)")
    args = ap.parse_args()
    args.scenarios = [x for s in args.scenarios.split(",") if s.strip()
                      for x in ALIASES.get(s.strip(), [s.strip()])]
    args.tools = [t.strip() for t in (args.tools or ("dpswitch,ovs,testpmd" if args.baselines
                                                     else "dpswitch")).split(",") if t.strip()]
    if not set(args.tools) <= {"dpswitch", "ovs", "testpmd"}:
        ap.error("--tools: dpswitch, ovs, testpmd")
    bad = [s for s in args.scenarios if s not in SCENARIOS]
    if bad:
        ap.error("unknown scenario(s) %s; have %s" % (bad, ",".join(ORDER + V_ORDER)))
    if os.geteuid() != 0:
        ap.error("run as root (hugepages, DPDK)")
    # Absolute: ovs.sh changes directory, so a relative OVS_SCRATCH/OVS_LOGDIR would make
    # every OVS run fail at once (set -e, no message) whenever --out is relative.
    args.out = str(Path(args.out or HERE / "results" / time.strftime(
        "%Y%m%dT%H%M%SZ", time.gmtime())).resolve())
    args.pcapdir = str(Path(args.pcapdir).resolve())
    out = Path(args.out)
    (out / "logs").mkdir(parents=True, exist_ok=True)

    if "dpswitch" in args.tools and (not args.dpswitch or not args.dpctl):
        if not args.no_build:
            log("building dpswitch and dpctl (release)")
            subprocess.run(["cargo", "build", "--release", "--bin", "dpswitch", "--bin", "dpctl"],
                           cwd=REPO, check=True)
        tgt = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "release"
        args.dpswitch = args.dpswitch or str(tgt / "dpswitch")
        args.dpctl = args.dpctl or str(tgt / "dpctl")
    if "dpswitch" in args.tools and any("vsw" in SCENARIOS[s] for s in args.scenarios) and \
            not args.preload:
        if not args.no_build:
            log("building the preload library (release)")
            subprocess.run(["cargo", "build", "--release", "-p", "dpswitch-preload"], cwd=REPO,
                           check=True)
        args.preload = str(Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) /
                           "release" / "libdpswitch_preload.so")
    if args.preload:
        args.preload = str(Path(args.preload).resolve())
        if not Path(args.preload).exists():
            ap.error("no preload library at %s" % args.preload)
    if any("vsw" in SCENARIOS[s] for s in args.scenarios) and "dpswitch" in args.tools and \
            not Path(vsw.VSWITCHD).exists():
        # the V scenarios run OVS-DPDK's vswitchd binary for dpswitch too
        subprocess.run([str(HERE / "ovs.sh"), "install"], check=True)
    if "ovs" in args.tools:
        subprocess.run([str(HERE / "ovs.sh"), "install"], check=True)

    hz = tsc_hz()
    pcapdir = Path(args.pcapdir)
    pcaps = {SCENARIOS[s]["pcap"]: ensure_pcap(pcapdir, SCENARIOS[s]["pcap"])
             for s in args.scenarios}
    if ("ovs" in args.tools and any("S4" in SCENARIOS[s]["ovs"] for s in args.scenarios)) or \
            ("dpswitch" in args.tools and any(SCENARIOS[s].get("fdb") for s in args.scenarios)):
        macs = pcapdir / "macs10k.txt"
        if not macs.exists():
            macs.write_text(subprocess.run(
                [sys.executable, str(HERE / "gen_pcap.py"), "--list-macs", "--flows", "10000"],
                capture_output=True, text=True, check=True).stdout)
    versions = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "uname": os.uname().release, "tsc_hz": hz,
                "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                             if l.startswith("model name")), ""), "nproc": os.cpu_count(),
                "git": subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                                      capture_output=True, text=True).stdout.strip(),
                "dpswitch": args.dpswitch, "dpctl": args.dpctl, "preload": args.preload,
                "vswitchd": vsw.VSWITCHD,
                "packages": subprocess.run(
                    ["dpkg-query", "-W", "-f=${Package} ${Version}\n", "dpdk",
                     "openvswitch-switch-dpdk"], capture_output=True, text=True).stdout}
    (out / "versions.json").write_text(json.dumps(versions, indent=1))

    huge = Hugepages(args.hugepages)
    rows = []

    def on_signal(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    csvf = open(out / "runs.csv", "w", newline="")
    w = csv.DictWriter(csvf, fieldnames=CSV_COLS, extrasaction="ignore")
    w.writeheader()
    try:
        rounds = plan(args)
        log("%d runs in %d rounds -> %s" % (sum(map(len, rounds)), len(rounds), out))
        for rnd, jobs in enumerate(rounds, 1):
            for tool, sid, pcapname in jobs:
                ld = out / "logs" / ("r%d-%s-%s" % (rnd, tool, sid if tool != "testpmd"
                                                    else pcapname))
                ld.mkdir(parents=True, exist_ok=True)
                try:
                    if tool == "dpswitch" and "vsw" in SCENARIOS[sid]:
                        row = run_vsw(args, sid, rnd, pcaps[pcapname], hz, ld)
                    elif tool == "dpswitch":
                        row = run_dpswitch(args, sid, rnd, pcaps[pcapname], hz, ld)
                    elif tool == "ovs":
                        row = run_ovs(args, sid, rnd, pcapname, pcaps[pcapname], hz, ld)
                    else:
                        row = run_testpmd(args, rnd, pcapname, pcaps[pcapname], hz, ld)
                except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                    log("  FAILED: %s" % e)
                    row = dict(tool=tool, scenario=sid, pcap=pcapname, round=rnd, ok=False,
                               note=str(e)[:300])
                row["ts"] = int(time.time())
                row["log_dir"] = str(ld)
                rows.append(row)
                w.writerow(row)
                csvf.flush()
    except KeyboardInterrupt:
        log("interrupted: stopping what we started")
    finally:
        for p, comm in RUNNING:
            stop_ours(p, comm, signal.SIGINT)
        csvf.close()
        huge.restore()
    (out / "runs.json").write_text(json.dumps(rows, indent=1))
    summary, table = summarize(rows, args, hz)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    (out / "table.md").write_text(table + "\n")
    print(table)
    print("\nresults: %s (runs.csv, runs.json, summary.json, table.md, logs/)" % out)
    return 0 if rows and all(r.get("ok") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
