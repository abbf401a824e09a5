#!/usr/bin/env python3
"""First-packet latency through a switch (V2): one probe at a time, each a UDP frame with a
5-tuple the switch has not seen, sent into --tx and awaited on --rx.

    probe.py --tx IFACE --rx IFACE [--count N] [--gap S] [--timeout S] [--out FILE]

The switch forwards --tx's traffic (a TAP whose other end is the switch's input port) to --rx
(the TAP of its output port).  For probe i:
  1. frame A_i (new 5-tuple: src 10.128.x.y:(1024 + i mod 60000) -> 11.128.0.1:7000) is sent
     on --tx; the time is taken just before send();
  2. its arrival on --rx is timed by the kernel (SO_TIMESTAMPNS, the same CLOCK_REALTIME);
     "first" latency = arrival - send: miss, the slow path, the flow install, the packet out;
  3. frame B_i, the same 5-tuple, is sent and timed the same way: "warm" latency, the fast
     path with its flow in place, which is the floor of what the TAPs and the PMD's polling
     cost;
  4. then a rest drawn uniformly from [gap/2, 3*gap/2] seconds (seeded), so every probe
     finds the switch idle and arrives at a random point of any periodic timer the switch's
     threads wait on (a fixed rest can lock onto that period and always hit the same point).
A probe not back within --timeout counts as lost.  Frames carry a magic and the probe's
number, so anything else on --rx (the kernel's own IPv6 packets) is ignored.

Prints one JSON object: counts and lost, p50/p90/p99/max/mean in microseconds for "first" and
"warm"; --out also gets every sample.  Run it in the switch's network namespace.  Python 3.11
standard library only; root (AF_PACKET).
"""
import argparse
import json
import random
import select
import socket
import statistics
import struct
import sys
import time

ETH_P_ALL = 0x0003
SO_TIMESTAMPNS = 35
PACKET_OUTGOING = 4
MAGIC = b"DPSWLAT1"


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def frame(i, kind):
    """Eth/IPv4/UDP, 60 bytes: src 10.128.(i>>8).(i&255), sport 1024 + i % 60000."""
    payload = MAGIC + struct.pack("!IB", i, kind) + b"\0" * 5
    udp_len = 8 + len(payload)
    src = bytes([10, 128 + ((i >> 16) & 0x3F), (i >> 8) & 255, i & 255])
    dst = bytes([11, 128, 0, 1])
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, i & 0xFFFF, 0, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    udp = struct.pack("!HHHH", 1024 + i % 60000, 7000, udp_len, 0) + payload
    eth = bytes.fromhex("020000000002" "020000000001") + b"\x08\x00"
    return eth + ip + udp


def parse(buf):
    """-> (probe number, kind) of one of our frames, else None."""
    off = 14 + 20 + 8
    if len(buf) < off + len(MAGIC) + 5 or buf[off:off + len(MAGIC)] != MAGIC:
        return None
    return struct.unpack("!IB", buf[off + len(MAGIC):off + len(MAGIC) + 5])


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def summary(v):
    if not v:
        return {"n": 0}
    return {"n": len(v), "p50_us": round(pct(v, 50), 1), "p90_us": round(pct(v, 90), 1),
            "p99_us": round(pct(v, 99), 1), "max_us": round(max(v), 1),
            "mean_us": round(statistics.mean(v), 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tx", required=True)
    ap.add_argument("--rx", required=True)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--gap", type=float, default=0.005)
    ap.add_argument("--timeout", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out")
    a = ap.parse_args()

    tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    tx.bind((a.tx, 0))
    rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    rx.bind((a.rx, 0))
    rx.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    rx.setblocking(False)

    def await_probe(want, deadline):
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if not select.select([rx], [], [], left)[0]:
                continue
            while True:
                try:
                    buf, anc, _flags, addr = rx.recvmsg(2048, 64)
                except BlockingIOError:
                    break
                if addr[2] == PACKET_OUTGOING or parse(buf) != want:
                    continue
                for lvl, typ, data in anc:
                    if lvl == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
                        sec, nsec = struct.unpack("qq", data[:16])
                        return sec * 10**9 + nsec
                return time.time_ns()

    first, warm, lost = [], [], 0
    rng = random.Random(a.seed)
    for i in range(a.count):
        for kind, out in ((0, first), (1, warm)):
            f = frame(i, kind)
            t0 = time.time_ns()
            tx.send(f)
            t1 = await_probe((i, kind), time.monotonic() + a.timeout)
            if t1 is None:
                lost += 1
                break
            out.append((t1 - t0) / 1000)
        time.sleep(a.gap * (0.5 + rng.random()))
    res = {"count": a.count, "lost": lost, "first": summary(first), "warm": summary(warm)}
    if a.out:
        with open(a.out, "w") as f:
            json.dump(dict(res, first_samples_us=first, warm_samples_us=warm), f)
    print(json.dumps(res))
    return 0 if first else 1


if __name__ == "__main__":
    sys.exit(main())
