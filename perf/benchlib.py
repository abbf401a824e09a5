"""Helpers bench.py and vsw.py share: logging, the processes the harness started, Prometheus
scrapes (also into a network namespace), the PMD figures of a window.  Python 3.11 standard
library only."""
import ctypes
import http.client
import os
import re
import signal
import socket
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FWD_CORE, CTL_CORE = 1, 0

def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Processes: we only ever signal pids we started, after checking they are still that program.

def comm_of(pid):
    try:
        return Path("/proc/%d/comm" % pid).read_text().strip()
    except OSError:
        return None


def stop_ours(proc, comm_prefix, sig=signal.SIGINT, grace=15.0):
    if proc is None or proc.poll() is not None:
        return
    c = comm_of(proc.pid)
    if c is None or not c.startswith(comm_prefix[:15]):
        log("not signalling pid %d: comm %r is not %r" % (proc.pid, c, comm_prefix))
        return
    proc.send_signal(sig)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        if (comm_of(proc.pid) or "").startswith(comm_prefix[:15]):
            log("pid %d ignored %s, killing" % (proc.pid, sig.name))
            proc.kill()
        proc.wait(5)


RUNNING = []  # (proc, comm) of live children, stopped by the exit handler


def free_tcp_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# Prometheus scrapes

METRIC_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
LABEL_RE = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


# A network namespace for one connection: setns(2) moves only the calling thread, and a socket
# stays in the namespace it was created in, so the thread goes in, makes the socket and comes
# back.  (Python 3.11 has no os.setns.)
CLONE_NEWNET = 0x40000000
_LIBC = ctypes.CDLL(None, use_errno=True)


def _setns(fd):
    if _LIBC.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: %s" % os.strerror(e))


def connect_in_netns(netns, addr, timeout):
    """A TCP connection to addr=(host, port) made inside the named namespace (/run/netns)."""
    with open("/proc/thread-self/ns/net") as home, open("/run/netns/" + netns) as target:
        _setns(target.fileno())
        try:
            return socket.create_connection(addr, timeout)
        finally:
            _setns(home.fileno())


class NetnsHTTPConnection(http.client.HTTPConnection):
    def __init__(self, netns, host, port, timeout):
        super().__init__(host, port, timeout=timeout)
        self.netns = netns

    def connect(self):
        self.sock = connect_in_netns(self.netns, (self.host, self.port), self.timeout)


def scrape(addr, timeout=5.0, netns=None):
    """-> (time at the middle of the request, {(name, ((label, value), ...)): float}, text).
    netns: the namespace the server listens in (None: this process's)."""
    host, port = addr.rsplit(":", 1)
    t0 = time.time()
    conn = (http.client.HTTPConnection(host, int(port), timeout=timeout) if netns is None
            else NetnsHTTPConnection(netns, host, int(port), timeout))
    try:
        conn.request("GET", "/metrics")
        body = conn.getresponse().read().decode()
    finally:
        conn.close()
    t1 = time.time()
    vals = {}
    for line in body.splitlines():
        if not line or line[0] == "#":
            continue
        m = METRIC_RE.match(line)
        if not m:
            continue
        labels = tuple(sorted(LABEL_RE.findall(m.group(2) or "")))
        try:
            vals[(m.group(1), labels)] = float(m.group(3))
        except ValueError:
            pass
    return (t0 + t1) / 2, vals, body


def mget(vals, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`."""
    want = set(labels.items())
    hit = [v for (n, ls), v in vals.items() if n == name and want <= set(ls)]
    return sum(hit) if hit else None


def delta(a, b, name, **labels):
    x, y = mget(a, name, **labels), mget(b, name, **labels)
    return None if x is None or y is None else y - x


def pmd_window(a, b, dp):
    """Per-window PMD figures from two scrapes (counters are cumulative since start)."""
    pmd = str(FWD_CORE)
    busy = delta(a, b, "dpswitch_pmd_cycles_total", pmd=pmd, state="busy")
    idle = delta(a, b, "dpswitch_pmd_cycles_total", pmd=pmd, state="idle")
    pk = delta(a, b, "dpswitch_pmd_packets_total", pmd=pmd)
    r = {
        "pmd_busy_cycles_per_pkt": round(busy / pk, 1) if busy is not None and pk else None,
        "pmd_idle_pct": round(100 * idle / (busy + idle), 2)
        if busy is not None and idle is not None and busy + idle else None,
        "pmd_cycles_per_packet_gauge": mget(b, "dpswitch_pmd_cycles_per_packet", pmd=pmd),
        "emc_hits": delta(a, b, "dpswitch_pmd_emc_hits_total", pmd=pmd),
        "megaflow_hits": delta(a, b, "dpswitch_pmd_megaflow_hits_total", pmd=pmd),
        "upcalls": delta(a, b, "dpswitch_pmd_upcalls_total", pmd=pmd),
        "dp_flows": mget(b, "dpswitch_dp_flows", dp=dp),
        "dp_masks": mget(b, "dpswitch_dp_masks", dp=dp),
        "lookups_per_megaflow_hit": mget(b, "dpswitch_pmd_subtable_lookups_per_megaflow_hit",
                                         pmd=pmd),
        "batch_size": mget(b, "dpswitch_pmd_batch_size", pmd=pmd),
        "sink_tx_dropped": delta(a, b, "dpswitch_port_tx_dropped_total", port="p1"),
    }
    # --stages: the PMD's own rdtsc sections, per packet; "other" is the rest of its busy
    # cycles (loop overhead, stats publication, recirculation bookkeeping)
    if pk and busy is not None:
        staged = 0
        for st in STAGE_NAMES:
            c = delta(a, b, "dpswitch_pmd_stage_cycles_total", pmd=pmd, stage=st)
            if c is None:
                break
            r["stage_" + st] = round(c / pk, 1)
            staged += c
        else:
            r["stage_other"] = round((busy - staged) / pk, 1)
    return r


STAGE_NAMES = ["rx", "extract", "emc", "dpcls", "actions", "tx"]

