#!/usr/bin/env python3
"""Parsers for perf/ovs.sh.

  ovs_parse.py pmdstats FILE          key=value lines from dpif-netdev/pmd-stats-show (PMD only)
  ovs_parse.py dumpports FILE PORTNO  "rx_pkts tx_pkts" from ovs-ofctl dump-ports
  ovs_parse.py masks FILE             distinct megaflow masks in dpctl/dump-flows output
  ovs_parse.py setup FILE [N]         S6a/V2: "rate peak seconds upcalls" from the upcall series;
                                      the set-up ends at 99 % of N upcalls (default: of the last
                                      sample's count)
"""
import re
import sys


def pmdstats(path):
    sec = open(path).read().split("main thread:")[0]  # the PMD section only
    pats = {
        "packets": r"packets received:\s+(\d+)",
        "simple": r"simple match hits:\s+(\d+)",
        "emc": r"emc hits:\s+(\d+)",
        "smc": r"smc hits:\s+(\d+)",
        "megaflow": r"megaflow hits:\s+(\d+)",
        "subtbl": r"avg\. subtable lookups per megaflow hit:\s+([\d.]+)",
        "upcall_ok": r"miss with success upcall:\s+(\d+)",
        "upcall_fail": r"miss with failed upcall:\s+(\d+)",
        "idle_pct": r"idle cycles:\s+\d+\s+\(([\d.]+)%\)",
        "cyc": r"avg cycles per packet:\s+([\d.]+)",
        "proc_cyc": r"avg processing cycles per packet:\s+([\d.]+)",
    }
    for k, p in pats.items():
        m = re.search(p, sec)
        print("%s=%s" % (k, m.group(1) if m else ""))


def dumpports(path, portno):
    text = open(path).read()
    m = re.search(r"port\s+%s:\s+rx pkts=(\d+).*?tx pkts=(\d+)" % re.escape(portno), text, re.S)
    print("%s %s" % (m.group(1), m.group(2)) if m else "nan nan")


def mask_shape(key):
    """A flow key's mask as a string: each field's name, plus its mask where one is printed
    (value/mask); fully wildcarded fields are not printed by dump-flows at all."""
    shape = []
    for attr, body in re.findall(r"([a-z_0-9]+)\(([^()]*)\)", key):
        fields = []
        for f in body.split(","):
            if "=" in f:
                k, v = f.split("=", 1)
                fields.append(k + ("/" + v.split("/", 1)[1] if "/" in v else ""))
            elif f:
                fields.append("/" + f.split("/", 1)[1] if "/" in f else "v")
        shape.append("%s(%s)" % (attr, ",".join(fields)))
    return ",".join(shape)


def masks(path):
    shapes = set()
    for line in open(path):
        if line.startswith("flow-dump") or not line.strip():
            continue
        key = line.split(", packets:")[0]
        key = re.sub(r"^ufid:[0-9a-f-]+,\s*", "", key.strip())
        shapes.add(mask_shape(key))
    print(len(shapes))


def setup(path, expected=None):
    rows = [tuple(map(float, l.split())) for l in open(path) if len(l.split()) == 4]
    up = lambda r: r[2] + r[3]
    if not rows:
        print("nan nan nan nan")
        return
    tot = up(rows[-1])
    i0 = next((i for i, r in enumerate(rows) if up(r) > 0), None)
    if i0 is None or i0 == 0:
        print("nan nan nan nan")
        return
    t0 = rows[i0 - 1][0]  # last sample before the first upcall
    # with N given, flows evicted and set up again after the first pass do not move the end
    ref = min(tot, float(expected)) if expected else tot
    end = next(r for r in rows if up(r) >= 0.99 * ref)
    dur = end[0] - t0
    peak = max((up(b) - up(a)) / (b[0] - a[0]) for a, b in zip(rows, rows[1:]) if b[0] > a[0])
    print("%.0f %.0f %.3f %.0f" % (up(end) / dur, peak, dur, tot))


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "pmdstats":
        pmdstats(sys.argv[2])
    elif cmd == "dumpports":
        dumpports(sys.argv[2], sys.argv[3])
    elif cmd == "masks":
        masks(sys.argv[2])
    elif cmd == "setup":
        setup(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    else:
        sys.exit(__doc__)
