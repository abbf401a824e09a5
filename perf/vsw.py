"""dpswitch driven by the stock ovs-vswitchd (the V scenarios of bench.py).

One run = a fresh network namespace holding dpswitch in managed mode (`--port-map` names the
DPDK devices of p0 and p1; it keeps stand-in TAPs of those names) and ovs-vswitchd under the
preload library (`LD_PRELOAD=libdpswitch_preload.so DPSWITCH_NETLINK_PID=N`), with
`datapath_type=system`, plus a fresh ovsdb-server.  The vswitchd binary is the one ovs.sh runs
for OVS-DPDK (`ovs-vswitchd-dpdk`, here with `dpdk-init=false`; it has the netlink dpif too),
so the datapath is the only difference.  Every process runs under `taskset -c 0` except the
PMD (`--pmd-cores 1`).  The namespace keeps the TAPs (p0, p1, br0, ovs-system) and netlink
port ids apart from anything else on the machine; dpswitch's metrics are scraped inside it.

Modes (SCENARIOS[...]["mode"] in bench.py):
  steady   V1: bridge, rules, FDB; traffic starts with `add-port p0`; warm-up until the
           upcall counter stops; Mpps over the window from dpswitch's p1 tx counter.
  setup    V2: megaflows per second from an empty datapath, dp_flows sampled every
           --v2-sample-interval; CPU time by thread over the set-up phase.
  latency  V2: first-packet latency with probe.py over two net_tap ports.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchlib import (CTL_CORE, FWD_CORE, HERE, RUNNING, delta, log, mget, pmd_window, scrape,
                      stop_ours)

VSWITCHD = os.environ.get("OVS_VSWITCHD", "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk")
SCHEMA = os.environ.get("OVS_SCHEMA", "/usr/share/openvswitch/vswitch.ovsschema")
DP = "ovs-system"  # the one datapath vswitchd creates for every system bridge
METRICS = "127.0.0.1:9476"  # inside the run's own namespace: nothing else listens there
DAEMON_TIMEOUT = 30

# The V2 rule: multipath hashes the 5-tuple (symmetric_l3l4+udp), so translation unwildcards
# nw_src, nw_dst, nw_proto, tp_src and tp_dst: one megaflow per 5-tuple.  One link: the
# result goes to a register nobody reads; no datapath action comes of it.
RULES_5TUPLE = ["priority=10,udp,actions=multipath(symmetric_l3l4+udp,0,hrw,1,0,"
                "NXM_NX_REG0[0..1]),output:2", "priority=0,actions=drop"]


class Vsw:
    """dpswitch + ovsdb-server + ovs-vswitchd for one run, in namespace self.ns."""
    seq = 0

    def __init__(self, args, logdir, p0, p1, dp_opts):
        Vsw.seq += 1
        self.args, self.logdir = args, logdir
        tag = "%d-%d" % (os.getpid() % 100000, Vsw.seq)
        self.ns = "pvsw-" + tag
        self.prefix = "dpsw-vsw-" + tag
        self.nl_pid = 0x50560000 + ((os.getpid() & 0xFFF) << 4) + (Vsw.seq & 0xF)
        # unix socket paths must stay short (108 bytes): a scratch dir, logs copied at the end
        self.dir = Path("/var/tmp/dpsw-perf-vsw-" + tag)
        self.p0, self.p1 = p0, p1
        self.dp_cmd = ["ip", "netns", "exec", self.ns, "taskset", "-c", str(CTL_CORE),
                       args.dpswitch, "--managed", "--port-map", "p0=" + p0, "--port-map",
                       "p1=" + p1, "-l", "%d-%d" % (CTL_CORE, FWD_CORE), "--main-lcore",
                       str(CTL_CORE), "--pmd-cores", str(FWD_CORE), "--in-memory", "--no-pci",
                       "--file-prefix", self.prefix, "--netlink-pid", str(self.nl_pid),
                       "--metrics", METRICS, "--mbufs", str(args.mbufs),
                       "--status-interval", "5", *dp_opts]
        if args.stages:
            self.dp_cmd.append("--pmd-perf-metrics")
        self.dp_comm = Path(args.dpswitch).name[:15]
        self.procs = {}  # name -> (Popen, comm, log file)
        self.env = dict(os.environ, OVS_RUNDIR=str(self.dir), OVS_LOGDIR=str(self.dir),
                        OVS_DBDIR=str(self.dir), OVS_SYSCONFDIR=str(self.dir))
        self.env.pop("LD_PRELOAD", None)

    # -- processes ------------------------------------------------------------------------
    def _spawn(self, name, cmd, comm, env=None):
        f = open(self.logdir / ("%s.log" % name), "w")
        f.write(" ".join(cmd) + "\n")
        f.flush()
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=env or self.env)
        RUNNING.append((p, comm))
        self.procs[name] = (p, comm, f)
        return p

    def _wait(self, what, check, proc_name):
        deadline = time.time() + DAEMON_TIMEOUT
        while time.time() < deadline:
            p = self.procs[proc_name][0]
            if p.poll() is not None:
                raise RuntimeError("%s exited with %s; see %s" % (
                    proc_name, p.returncode, self.logdir / ("%s.log" % proc_name)))
            try:
                if check():
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("%s: %s did not happen within %d s" % (proc_name, what,
                                                                  DAEMON_TIMEOUT))

    def run(self, *cmd, timeout=120, check=True, stdin=None):
        r = subprocess.run(["taskset", "-c", str(CTL_CORE), *cmd], capture_output=True,
                           text=True, timeout=timeout, env=self.env, input=stdin)
        if check and r.returncode != 0:
            raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd[:3]), r.returncode,
                                                       (r.stderr or r.stdout).strip()[:300]))
        return r.stdout

    def vsctl(self, *a):
        return self.run("ovs-vsctl", "--db=unix:%s/db.sock" % self.dir, "--timeout=60", *a)

    def appctl(self, *a, check=True):
        return self.run("ovs-appctl", "-t", str(self.dir / "ovs-vswitchd.ctl"), "--timeout=60",
                        *a, check=check)

    def ofctl(self, *a, check=True):
        return self.run("ovs-ofctl", a[0], "unix:%s/br0.mgmt" % self.dir, *a[1:], check=check)

    def scrape(self, timeout=5.0):
        return scrape(METRICS, timeout, netns=self.ns)

    def start(self):
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        subprocess.run(["ip", "-n", self.ns, "link", "set", "lo", "up"], check=True)
        # no IPv6 on the namespace's interfaces: nothing of the kernel's own reaches the switch
        subprocess.run(["ip", "netns", "exec", self.ns, "sysctl", "-qw",
                        "net.ipv6.conf.default.disable_ipv6=1",
                        "net.ipv6.conf.all.disable_ipv6=1"], check=True)
        # dpswitch first: vswitchd looks the generic-netlink families up once, at its start
        self._spawn("dpswitch", self.dp_cmd, self.dp_comm, env=dict(os.environ))
        dplog = self.logdir / "dpswitch.log"
        self._wait("netlink serving", lambda: "netlink control plane serving" in
                   dplog.read_text(errors="replace") and self.scrape(1.0), "dpswitch")
        self.run("ovsdb-tool", "create", str(self.dir / "conf.db"), SCHEMA)
        self._spawn("ovsdb-server", ["taskset", "-c", str(CTL_CORE), "ovsdb-server",
                                     str(self.dir / "conf.db"),
                                     "--remote=punix:%s/db.sock" % self.dir,
                                     "--unixctl=%s/ovsdb-server.ctl" % self.dir,
                                     "--log-file=%s/ovsdb-server.log" % self.dir,
                                     "--no-chdir", "-vconsole:off"], "ovsdb-server")
        self._wait("db.sock", lambda: (self.dir / "db.sock").exists(), "ovsdb-server")
        self.vsctl("--no-wait", "init")
        self.vsctl("--no-wait", "set", "Open_vSwitch", ".", "other_config:dpdk-init=false")
        env = dict(self.env, LD_PRELOAD=str(self.args.preload),
                   DPSWITCH_NETLINK_PID=str(self.nl_pid))
        self._spawn("ovs-vswitchd", ["ip", "netns", "exec", self.ns, "taskset", "-c",
                                     str(CTL_CORE), VSWITCHD, "unix:%s/db.sock" % self.dir,
                                     "--unixctl=%s/ovs-vswitchd.ctl" % self.dir,
                                     "--log-file=%s/ovs-vswitchd.log" % self.dir,
                                     "--no-chdir", "-vconsole:off"], "ovs-vswitchd", env=env)
        self._wait("ovs-vswitchd.ctl", lambda: (self.dir / "ovs-vswitchd.ctl").exists(),
                   "ovs-vswitchd")

    def bridge(self, rules, macs=None):
        """br0 (system datapath) with p1 (OpenFlow port 2), the rules, no-flood on LOCAL and
        the static FDB entries, as ovs.sh builds OVS-DPDK's; p0 (port 1) comes later."""
        self.vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=system",
                   "fail-mode=secure", "other-config:mac-table-size=65536")
        self.appctl("upcall/set-flow-limit", "200000")
        self.vsctl("add-port", "br0", "p1", "--", "set", "interface", "p1", "ofport_request=2")
        rf = self.logdir / "rules.txt"
        rf.write_text("\n".join(rules) + "\n")
        self.ofctl("add-flows", str(rf))
        self.ofctl("mod-port", "br0", "no-flood")
        if macs:
            cmds = "".join("fdb/add br0 p1 0 %s\n" % m for m in
                           Path(macs).read_text().split())
            self.run(sys.executable, str(HERE / "unixctl_bulk.py"),
                     str(self.dir / "ovs-vswitchd.ctl"), stdin=cmds)

    def add_source(self):
        """Traffic starts: vswitchd adds p0, dpswitch opens its device."""
        self.vsctl("add-port", "br0", "p0", "--", "set", "interface", "p0", "ofport_request=1")

    def pids(self):
        return {n: p.pid for n, (p, comm, _) in self.procs.items() if p.poll() is None}

    def collect(self):
        """Flow dumps and OVS's own views, into the run's log directory."""
        out = {}
        for name, fn in (("dp-flows.txt", lambda: self.appctl("dpctl/dump-flows", check=False)),
                         ("upcall-show.txt", lambda: self.appctl("upcall/show", check=False)),
                         ("coverage.txt", lambda: self.appctl("coverage/show", check=False)),
                         ("dpctl-show.txt", lambda: self.appctl("dpctl/show", check=False)),
                         ("of-flows.txt", lambda: self.ofctl("dump-flows", "br0", check=False)),
                         ("dump-ports.txt", lambda: self.ofctl("dump-ports", "br0",
                                                               check=False))):
            try:
                text = fn()
            except (RuntimeError, subprocess.SubprocessError) as e:
                text = "failed: %s\n" % e
            (self.logdir / name).write_text(text)
            out[name] = text
        return out

    def stop(self):
        # vswitchd first (it would otherwise see dpswitch vanish), then dpswitch, ovsdb
        for name, sig in (("ovs-vswitchd", signal.SIGTERM), ("dpswitch", signal.SIGINT),
                          ("ovsdb-server", signal.SIGTERM)):
            if name in self.procs:
                p, comm, f = self.procs[name]
                stop_ours(p, comm, sig)
                f.close()
        for f in ("ovs-vswitchd.log", "ovsdb-server.log"):
            try:
                shutil.copy(self.dir / f, self.logdir / f.replace(".log", ".vlog"))
            except OSError:
                pass
        subprocess.run(["ip", "netns", "del", self.ns], check=False,
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)


# -- per-thread CPU time ------------------------------------------------------------------------

def thread_times(pids):
    """{(process, thread label): ns on CPU} from /proc/PID/task/TID/schedstat."""
    out = {}
    for pname, pid in pids.items():
        try:
            tids = os.listdir("/proc/%d/task" % pid)
        except OSError:
            continue
        for tid in tids:
            try:
                comm = Path("/proc/%d/task/%s/comm" % (pid, tid)).read_text().strip()
                ns = int(Path("/proc/%d/task/%s/schedstat" % (pid, tid)).read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
            label = thread_label(pname, comm, int(tid) == pid)
            out[(pname, label)] = out.get((pname, label), 0) + ns
    return out


def thread_label(pname, comm, is_main):
    if pname == "dpswitch":
        if is_main:
            return "control"
        if re.match(r"(lcore|rte)-worker-%d" % FWD_CORE, comm):
            return "pmd"
        return comm
    if pname == "ovs-vswitchd":
        if is_main:
            return "main"
        return re.sub(r"\d+$", "", comm)  # handler, revalidator, urcu, ...
    return comm if not is_main else "main"


def cpu0_busy_ns():
    """(busy, total) ns of core 0 from /proc/stat (USER_HZ ticks)."""
    hz = os.sysconf("SC_CLK_TCK")
    for line in open("/proc/stat"):
        if line.startswith("cpu%d " % CTL_CORE):
            v = list(map(int, line.split()[1:]))
            idle = v[3] + v[4]
            return (sum(v[:8]) - idle) * 10**9 // hz, sum(v[:8]) * 10**9 // hz
    return 0, 0


def own_times():
    """ns on CPU of this harness process (all its threads: the sampler scrapes)."""
    return {("harness", "bench.py"): sum(
        int(Path("/proc/self/task/%s/schedstat" % t).read_text().split()[0])
        for t in os.listdir("/proc/self/task"))}


SYSCALLS = ["syscalls:sys_enter_%s" % c for c in ("recvmsg", "sendmsg", "sendto", "recvfrom",
                                                  "poll", "ppoll", "futex", "mprotect")]


def syscalls_per_flow(path, flows):
    """{"thread syscall": calls per flow} from `perf stat -x, --per-thread` (threads by comm:
    dpswitch's control thread is its one busy "dpswitch")."""
    out = {}
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        f = line.split(",")
        if len(f) < 4 or not f[1].strip().isdigit():
            continue
        thread, count, event = f[0].strip(), int(f[1]), f[3].split(":")[-1].replace(
            "sys_enter_", "")
        comm = thread.rpartition("-")[0]
        key = "%s %s" % (comm, event)
        out[key] = out.get(key, 0) + count
    return {k: round(v / max(flows, 1), 2) for k, v in sorted(out.items()) if v}


# -- the runs -----------------------------------------------------------------------------------

def dump_shape(text):
    """(flows, distinct masks, one example line) of a dpctl/dump-flows text."""
    lines = [l for l in text.splitlines() if l.strip() and not l.startswith("flow-dump")]
    r = subprocess.run([sys.executable, str(HERE / "ovs_parse.py"), "masks", "/dev/stdin"],
                       input=text, capture_output=True, text=True)
    try:
        masks = int(r.stdout.strip())
    except ValueError:
        masks = None
    return len(lines), masks, (lines[0] if lines else "")


def is_5tuple_megaflow(line):
    """A dump line whose key matches the IPv4 addresses, the protocol and both UDP ports
    exactly (no /mask) and nothing wider than that."""
    key = line.split(", packets:")[0]
    ip = re.search(r"ipv4\(([^)]*)\)", key)
    udp = re.search(r"udp\(([^)]*)\)", key)
    if not ip or not udp:
        return False
    f = dict(kv.split("=", 1) for kv in (ip.group(1) + "," + udp.group(1)).split(",")
             if "=" in kv)
    return all(k in f and "/" not in f[k] for k in ("src", "dst", "proto")) and \
        all("/" not in v for v in f.values())


def start(args, sc, logdir, p0, p1, rules):
    v = Vsw(args, logdir, p0, p1, sc.get("opts", []))
    v.start()
    macs = None
    if sc.get("fdb"):
        macs = Path(args.pcapdir) / "macs10k.txt"
    v.bridge(rules, macs)
    return v


def run_steady(args, sid, sc, rnd, pcap, rules, hz, logdir):
    row = dict(tool="dpswitch", scenario=sid, pcap=sc["pcap"], round=rnd, ok=True, note="")
    v = None
    try:
        v = start(args, sc, logdir, "net_pcap0,rx_pcap=%s,infinite_rx=1" % pcap,
                  "net_null0,no-rx=1", rules)
        v.add_source()
        t_src = time.time()
        # Traffic starts when dpswitch opens p0's device, a moment before vswitchd has
        # associated the new datapath port with its OpenFlow port.  vswitchd answers those
        # first upcalls with an exact-match drop flow under the packet's UFID, and the proper
        # megaflow for the same packet, which gets the same UFID, then fails with EEXIST
        # (as with the kernel module): the drop flow stays while traffic keeps it alive.
        # So once the port is associated, drop every flow and ukey and let them come again.
        # Not with ct (sc["purge"] False): its first second leaves thousands of upcalls of
        # the same few megaflows in flight, and a purge that deletes the ukey of a put still
        # being answered makes OVS 3.1's vswitchd abort when the answer comes back ("Invalid
        # ukey transition 5->4"); a kernel answers inside sendmsg(), which hides the race.
        # Those scenarios match on recirculation state, which the early drop flow lacks.
        time.sleep(1.0)
        if sc.get("purge", True):
            v.appctl("revalidator/purge")
        time.sleep(args.warmup)
        # warm until the upcall counter stops moving (max 60 s), as ovs.sh does for OVS
        _, prev, _ = v.scrape()
        for _ in range(60):
            time.sleep(1)
            _, cur, _ = v.scrape()
            if delta(prev, cur, "dpswitch_pmd_upcalls_total", pmd=str(FWD_CORE)) == 0:
                break
            prev = cur
        warm_s = time.time() - t_src
        t0, a, ta = v.scrape()
        time.sleep(args.window)
        t1, b, tb = v.scrape()
        (logdir / "metrics-start.txt").write_text(ta)
        (logdir / "metrics-end.txt").write_text(tb)
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
        row.update(pmd_window(a, b, DP))
        row["upcalls_lost"] = delta(a, b, "dpswitch_upcalls_lost_total", dp=DP)
        got = v.collect()
        n, masks, example = dump_shape(got["dp-flows.txt"])
        row["dump_flows"], row["dump_masks"] = n, masks
        row["note"] += "warm-up %.0f s;" % warm_s
        drops = sum(1 for l in got["dp-flows.txt"].splitlines() if l.endswith("actions:drop"))
        if drops:
            row["note"] += "%d drop flows;" % drops
        if (row.get("upcalls") or 0) > 100:
            row["note"] += "upcalls in window: %d;" % row["upcalls"]
        if sc.get("masks") and row.get("dp_masks") != sc["masks"]:
            row["note"] += "dp_masks %s, expected %d;" % (row.get("dp_masks"), sc["masks"])
        if sc.get("min_flows") and (row.get("dp_flows") or 0) < sc["min_flows"]:
            row["ok"] = False
            row["note"] += "dp_flows %s < %d;" % (row.get("dp_flows"), sc["min_flows"])
        log("  %.3f Mpps, %s TSC cyc/pkt, PMD busy %s cyc/pkt, idle %s%%, flows %s, masks %s, "
            "emc %s mf %s simple %s upcalls %s; warm-up %.0f s; e.g. %s" % (
                pps / 1e6, row["tsc_cycles_per_pkt"], row["pmd_busy_cycles_per_pkt"],
                row["pmd_idle_pct"], row["dp_flows"], row["dp_masks"], row["emc_hits"],
                row["megaflow_hits"], delta(a, b, "dpswitch_pmd_simple_match_hits_total",
                                            pmd=str(FWD_CORE)),
                row["upcalls"], warm_s, example[:160]))
        return row
    finally:
        if v:
            v.stop()


def run_setup(args, sid, sc, rnd, pcap, hz, logdir):
    """V2 rate: dp_flows sampled from before `add-port p0` until it stops growing; rate =
    new flows at the first sample with >= 99 % of the final count / time since the last sample
    before the first new flow (the S6a method).  CPU time by thread over the same span."""
    row = dict(tool="dpswitch", scenario=sid, pcap=sc["pcap"], round=rnd, ok=True, note="")
    v = None
    series = []
    stop = threading.Event()

    def sampler():
        while not stop.is_set():
            try:
                t, m, _ = v.scrape(2.0)
                series.append((t, mget(m, "dpswitch_dp_flows", dp=DP) or 0,
                               mget(m, "dpswitch_pmd_upcalls_total", pmd=str(FWD_CORE)) or 0))
            except OSError:
                pass
            stop.wait(args.v2_sample_interval)

    th = threading.Thread(target=sampler, daemon=True)
    perf = pstat = None
    try:
        v = start(args, sc, logdir, "net_pcap0,rx_pcap=%s,infinite_rx=1" % pcap,
                  "net_null0,no-rx=1", RULES_5TUPLE)
        _, m0, text0 = v.scrape()
        base = mget(m0, "dpswitch_dp_flows", dp=DP) or 0
        th.start()
        time.sleep(0.5)
        if args.profile:
            perf = subprocess.Popen(["taskset", "-c", str(CTL_CORE), "perf", "record", "-e",
                                     "cpu-clock", "-F", "1000", "-C", str(CTL_CORE),
                                     "--call-graph", "dwarf,16384",
                                     "-o", str(logdir / "perf-core0.data")],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        pids = v.pids()
        if args.profile:
            # system calls by thread (tracepoints count without a PMU)
            pstat = subprocess.Popen(["taskset", "-c", str(CTL_CORE), "perf", "stat", "-x,",
                                      "--per-thread", "-e", ",".join(SYSCALLS), "-p",
                                      ",".join(str(pids[k]) for k in ("dpswitch",
                                                                      "ovs-vswitchd")),
                                      "-o", str(logdir / "perf-stat-syscalls.csv")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        c0 = {**thread_times(pids), **own_times()}
        b0 = cpu0_busy_ns()
        t_add = time.time()
        v.add_source()
        deadline = time.time() + args.setup_timeout
        last_change, prev = time.time(), -1
        while time.time() < deadline:
            time.sleep(0.1)
            if series and series[-1][1] != prev:
                prev, last_change = series[-1][1], time.time()
            if prev - base >= sc["n_flows"] or (prev > base and time.time() - last_change > 3):
                break
        c1 = {**thread_times(pids), **own_times()}
        b1 = cpu0_busy_ns()
        t_end = time.time()
        for p in (perf, pstat):
            if p:
                stop_ours(p, "perf", signal.SIGINT)
        stop.set()
        th.join()
        _, m1, text1 = v.scrape()
        (logdir / "metrics-start.txt").write_text(text0)
        (logdir / "metrics-end.txt").write_text(text1)
        got = v.collect()
    finally:
        stop.set()
        for p in (perf, pstat):
            if p:
                stop_ours(p, "perf", signal.SIGINT)
        if v:
            v.stop()
    with open(logdir / "flow-series.txt", "w") as f:
        f.write("# epoch dp_flows pmd_upcalls\n")
        for s in series:
            f.write("%.4f %d %d\n" % s)
    pre = [s for s in series if s[0] < t_add]
    post = [s for s in series if s[0] >= t_add]
    first = next((i for i, s in enumerate(post) if s[1] > base), None)
    if first is None:
        raise RuntimeError("no flow was installed; see %s" % (logdir / "dpswitch.log"))
    t0 = post[first - 1][0] if first > 0 else (pre[-1][0] if pre else t_add)
    final = post[-1][1] - base
    # flows evicted and set up again after the first pass do not move the end
    end = next(s for s in post if s[1] - base >= 0.99 * min(final, sc["n_flows"]))
    rate = (end[1] - base) / (end[0] - t0)
    n, masks, example = dump_shape(got["dp-flows.txt"])
    lines = [l for l in got["dp-flows.txt"].splitlines() if "ipv4(" in l]
    exact = sum(1 for l in lines if is_5tuple_megaflow(l))
    row.update(value=round(rate / 1e6, 4), unit="M setups/s",
               tsc_cycles_per_pkt=round(hz / rate), window_s=round(end[0] - t0, 3),
               dp_flows=final, dump_flows=n, dump_masks=masks, dp_masks=mget(m1, "dpswitch_dp_masks", dp=DP),
               upcalls=delta(m0, m1, "dpswitch_pmd_upcalls_total", pmd=str(FWD_CORE)),
               upcalls_lost=delta(m0, m1, "dpswitch_upcalls_lost_total", dp=DP))
    drops = sum(1 for l in lines if l.endswith("actions:drop"))
    row["note"] += "setup_s=%.3f;final_flows=%d;5tuple_megaflows=%d/%d;drop_flows=%d;" \
        "samples=%d;" % (end[0] - t0, final, exact, len(lines), drops, len(series))
    if final < sc["n_flows"]:
        row["ok"] = False
        row["note"] += "only %d of %d flows;" % (final, sc["n_flows"])
    if masks != 1 or exact != len(lines):
        row["note"] += "not one 5-tuple mask: %s masks, %d of %d exact;" % (masks, exact,
                                                                           len(lines))
    # where the time went: CPU time by thread over [add-port, end], per flow set up
    span = t_end - t_add
    busy = (b1[0] - b0[0]) / 1e9
    prof = {"span_s": round(span, 3), "core0_busy_s": round(busy, 3),
            "flows": final, "threads_ms": {}, "threads_us_per_flow": {}}
    for k in sorted(set(c0) | set(c1), key=lambda k: -(c1.get(k, 0) - c0.get(k, 0))):
        d = (c1.get(k, 0) - c0.get(k, 0)) / 1e6
        if d >= 1:
            prof["threads_ms"]["%s/%s" % k] = round(d, 1)
            prof["threads_us_per_flow"]["%s/%s" % k] = round(d * 1000 / max(final, 1), 2)
    on_core0 = sum(v_ for k, v_ in prof["threads_ms"].items() if not k.endswith("/pmd"))
    prof["other_on_core0_ms"] = round(busy * 1000 - on_core0, 1)
    ctl = {}
    for (name, labels), val in m1.items():
        if name == "dpswitch_control_requests_total":
            lb = dict(labels)
            ctl["%s %s %s" % (lb.get("family"), lb.get("command"), lb.get("result"))] = \
                val - (m0.get((name, labels)) or 0)
    prof["control_requests"] = {k: v_ for k, v_ in sorted(ctl.items()) if v_}
    h = {dict(lb).get("le"): val for (nm, lb), val in m1.items()
         if nm == "dpswitch_upcall_handling_seconds_bucket"}
    prof["upcall_handling_le_s"] = h
    prof["upcalls"], prof["upcalls_lost"] = row["upcalls"], row["upcalls_lost"]
    if pstat:
        prof["syscalls_per_flow"] = syscalls_per_flow(logdir / "perf-stat-syscalls.csv", final)
    row["cpu_profile"] = prof
    (logdir / "cpu-profile.json").write_text(json.dumps(prof, indent=1))
    if perf:
        rep = subprocess.run(["perf", "report", "-i", str(logdir / "perf-core0.data"),
                              "--stdio", "--no-children", "--sort", "comm,dso,symbol",
                              "--percent-limit", "0.5", "-g", "none"],
                             capture_output=True, text=True, check=False).stdout
        (logdir / "perf-core0.txt").write_text(rep)
    log("  setup: %d flows in %.3f s = %.0f setups/s (final %d, %d/%d exact 5-tuple, masks "
        "%s); upcalls %s lost %s; core 0 busy %.2f of %.2f s; by thread (ms): %s" % (
            end[1] - base, end[0] - t0, rate, final, exact, len(lines), masks, row["upcalls"],
            row["upcalls_lost"], busy, span,
            ", ".join("%s %s" % kv for kv in list(prof["threads_ms"].items())[:8])))
    return row


def run_latency(args, sid, sc, rnd, hz, logdir):
    """V2 first-packet latency: p0 and p1 are net_tap devices in the namespace; probe.py
    sends new 5-tuples into one TAP and times them out of the other."""
    row = dict(tool="dpswitch", scenario=sid, pcap="-", round=rnd, ok=True, note="")
    v = None
    try:
        v = start(args, sc, logdir, "net_tap0,iface=lat0", "net_tap1,iface=lat1",
                  RULES_5TUPLE)
        v.add_source()
        # the PMD polls p0 once vswitchd has added it; give the ports a moment to settle
        time.sleep(1.0)
        _, m0, _ = v.scrape()
        r = subprocess.run(["ip", "netns", "exec", v.ns, "taskset", "-c", str(CTL_CORE),
                            sys.executable, str(HERE / "probe.py"), "--tx", "lat0", "--rx",
                            "lat1", "--count", str(args.lat_count), "--gap",
                            str(args.lat_gap), "--out", str(logdir / "probe.json")],
                           capture_output=True, text=True, timeout=600)
        (logdir / "probe.txt").write_text(r.stdout + r.stderr)
        _, m1, text1 = v.scrape()
        (logdir / "metrics-end.txt").write_text(text1)
        got = v.collect()
        if r.returncode != 0:
            raise RuntimeError("probe.py failed: %s" % (r.stderr or r.stdout).strip()[-300:])
        res = json.loads(r.stdout.strip().splitlines()[-1])
        row.update(latency_row(res))
        n, masks, example = dump_shape(got["dp-flows.txt"])
        row.update(dump_flows=n, dump_masks=masks,
                   upcalls=delta(m0, m1, "dpswitch_pmd_upcalls_total", pmd=str(FWD_CORE)))
        # how long the upcalls waited for dpswitch's control thread (PMD queue -> sent to
        # vswitchd), the first leg of the first-packet latency
        hs = delta(m0, m1, "dpswitch_upcall_handling_seconds_sum")
        hc = delta(m0, m1, "dpswitch_upcall_handling_seconds_count")
        buckets = {dict(lb).get("le"): val - (m0.get((nm, lb)) or 0) for (nm, lb), val in
                   m1.items() if nm == "dpswitch_upcall_handling_seconds_bucket"}
        if hc:
            row["note"] += "upcall wait mean %.0f us, <=256us %d, <=1.024ms %d of %d;" % (
                1e6 * hs / hc, buckets.get("0.000256", 0), buckets.get("0.001024", 0), hc)
        log("  first packet p50 %s us p99 %s us; warm p50 %s us p99 %s us; lost %s; flows %s "
            "masks %s; upcalls %s; %s" % (row["value"], row["lat_p99_us"], row["warm_p50_us"],
                                          row["warm_p99_us"], row["lat_lost"], n, masks,
                                          row["upcalls"], row["note"]))
        return row
    finally:
        if v:
            v.stop()


def latency_row(res):
    f, w = res["first"], res["warm"]
    return dict(value=f.get("p50_us"), unit="us", lat_p50_us=f.get("p50_us"),
                lat_p90_us=f.get("p90_us"), lat_p99_us=f.get("p99_us"),
                lat_max_us=f.get("max_us"), warm_p50_us=w.get("p50_us"),
                warm_p99_us=w.get("p99_us"), lat_lost=res["lost"], lat_n=f.get("n"))
