#!/usr/bin/env python3
"""Write the benchmark's pcap files (minimum-size Ethernet/IPv4/UDP frames) and the matching
flow sets: ODP flows for `dpctl add-flows` (dpswitch) and OpenFlow rules for `ovs-ofctl
add-flows` (OVS-DPDK).  Every kind is a fixed formula (below), so the same arguments always
give byte-identical files.

No third-party dependencies: the pcap and the frames are built byte by byte.

Frame: 60 bytes in the file (14 Eth + 20 IPv4 + 8 UDP + 18 payload) = a 64-byte frame
on the wire once the NIC appends the 4-byte FCS (the usual "64B" in Mpps figures).
Use --frame-len 64 to store 64 bytes instead.

Kinds:
  5tuple  flow i has src_ip = 10.0.0.1 + i, dst_ip = 11.0.0.1 + i*7919 mod 2^24,
          sport = 1024 + i % 60000, dport = 2000 + (i * 13) % 60000;
          MACs fixed (src 02:00:00:00:00:01, dst 02:00:00:00:00:02)
  dstmac  flow i has dst MAC 02:10:00:HH:MM:LL (i as 24-bit) AND the 5-tuple of 5tuple flow i
          (src MAC fixed 02:00:00:00:00:01)
  dstmac-fixed5t  dst MAC as in dstmac, everything else fixed (10.0.0.1:1024 -> 11.0.0.1:2000).
          Pathological for OVS: its EMC and SMC index by the 5-tuple RSS hash, so all of these
          flows share one hash.
  m32     10,000 (--flows) flows in 32 classes, one megaflow mask per class (see m32_flow()).
          Frames are drawn i.i.d. from a Zipf(--zipf, default 1.0) popularity over the flows,
          whose ranks are a seeded shuffle, so hot flows land in random classes and the 32
          masks get skewed hit shares (printed by --describe).
The file holds `--packets` frames that cycle through the flows in order
(packet k carries flow k % flows), except m32 (Zipf draws, --seed).
--list-macs prints the dst MACs of a dstmac set.
--rules odp|ofctl writes the flow set (one flow per line) instead of a pcap:
  odp    for `dpctl add-flows DP FILE`: "KEY ACTIONS", in_port(--in-port) -> --out-port
  ofctl  for `ovs-ofctl add-flows BR FILE`: priority=10,...,actions=output:--out-port
  (kinds dstmac and m32; dstmac gives one megaflow per dst MAC, like OVS NORMAL would)
"""
import argparse
import struct
import sys


def csum16(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def mac_bytes(s: str) -> bytes:
    return bytes(int(x, 16) for x in s.split(":"))


def ip_bytes(v: int) -> bytes:
    return struct.pack("!I", v & 0xFFFFFFFF)


def frame(dmac: bytes, smac: bytes, sip: int, dip: int, sport: int, dport: int,
          frame_len: int) -> bytes:
    payload_len = frame_len - 14 - 20 - 8
    assert payload_len >= 0
    payload = bytes((0x41 + i) & 0xFF for i in range(payload_len))
    udp_len = 8 + payload_len
    ip_len = 20 + udp_len
    iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, ip_len, 0, 0x4000, 64, 17, 0,
                      ip_bytes(sip), ip_bytes(dip))
    iph = iph[:10] + struct.pack("!H", csum16(iph)) + iph[12:]
    udph = struct.pack("!HHHH", sport, dport, udp_len, 0)
    pseudo = ip_bytes(sip) + ip_bytes(dip) + struct.pack("!BBH", 0, 17, udp_len)
    uc = csum16(pseudo + udph + payload) or 0xFFFF
    udph = udph[:6] + struct.pack("!H", uc)
    return dmac + smac + b"\x08\x00" + iph + udph + payload


SRC_MAC = mac_bytes("02:00:00:00:00:01")
DST_MAC = mac_bytes("02:00:00:00:00:02")
IP_SRC0 = (10 << 24) + 1
IP_DST0 = (11 << 24) + 1


def dstmac(i: int) -> bytes:
    return bytes([0x02, 0x10, 0x00, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF])


# ---- m32: 32 masks -------------------------------------------------------------------------
# Class c (0..31) owns dst MAC 02:20:00:00:00:cc and always matches in_port, eth dst,
# eth_type=IPv4, ip proto=UDP, frag=no and the exact IPv4 dst 11.c.hi.lo (unique per flow, so
# a class holds any number of flows and no packet matches two flows).  Bit b of c adds one more
# exact field: b0 ipv4 src, b1 udp src, b2 udp dst, b3 DSCP (tos/0xfc), b4 ttl.  So the 32
# classes have 32 distinct masks.  OVS: all rules at one priority with a distinct dl_dst per
# class, so a lookup in another class's subtable fails at the L2 stage (staged lookup) and only
# unwildcards dl_dst/dl_type, which every class has anyway: each packet's megaflow is exactly
# its class's fields -> 32 datapath masks (the harness counts them in dpctl/dump-flows).
M32_CLASSES = 32


def m32_flow(f: int, n_flows: int):
    """Flow f -> (class, dict of header values). Flows are dealt round-robin to classes."""
    c, j = f % M32_CLASSES, f // M32_CLASSES
    return c, {
        "dmac": bytes([0x02, 0x20, 0x00, 0x00, 0x00, c]),
        "sip": (10 << 24) + (c << 16) + j + 1,
        "dip": (11 << 24) + (c << 16) + j,
        "sport": 1024 + j,
        "dport": 2000 + (j * 7) % 60000,
        "dscp": j % 64,
        "ttl": 64 - (j % 32),
    }


def m32_frame(f: int, n_flows: int, frame_len: int) -> bytes:
    _, v = m32_flow(f, n_flows)
    fr = bytearray(frame(v["dmac"], SRC_MAC, v["sip"], v["dip"], v["sport"], v["dport"],
                         frame_len))
    # set TOS and TTL, then redo the IPv4 header checksum (UDP's pseudo header excludes both)
    fr[15] = v["dscp"] << 2
    fr[22] = v["ttl"]
    fr[24:26] = b"\0\0"
    fr[24:26] = struct.pack("!H", csum16(bytes(fr[14:34])))
    return bytes(fr)


def ip_str(v: int) -> str:
    return ".".join(str((v >> s) & 0xFF) for s in (24, 16, 8, 0))


def mac_str(b: bytes) -> str:
    return ":".join("%02x" % x for x in b)


def m32_rule(f: int, n_flows: int, fmt: str, in_port: int, out_port: int) -> str:
    c, v = m32_flow(f, n_flows)
    if fmt == "odp":
        ip = ["src=%s" % ip_str(v["sip"])] if c & 1 else []
        ip.append("dst=%s" % ip_str(v["dip"]))
        ip.append("proto=17")
        if c & 8:
            ip.append("tos=0x%x/0xfc" % (v["dscp"] << 2))
        if c & 16:
            ip.append("ttl=%d" % v["ttl"])
        ip.append("frag=no")
        udp = []
        if c & 2:
            udp.append("src=%d" % v["sport"])
        if c & 4:
            udp.append("dst=%d" % v["dport"])
        return "in_port(%d),eth(dst=%s),eth_type(0x0800),ipv4(%s),udp(%s) %d" % (
            in_port, mac_str(v["dmac"]), ",".join(ip), ",".join(udp), out_port)
    m = ["priority=10", "udp", "dl_dst=%s" % mac_str(v["dmac"]), "nw_dst=%s" % ip_str(v["dip"])]
    if c & 1:
        m.append("nw_src=%s" % ip_str(v["sip"]))
    if c & 2:
        m.append("tp_src=%d" % v["sport"])
    if c & 4:
        m.append("tp_dst=%d" % v["dport"])
    if c & 8:
        m.append("nw_tos=%d" % (v["dscp"] << 2))
    if c & 16:
        m.append("nw_ttl=%d" % v["ttl"])
    return ",".join(m) + ",actions=output:%d" % out_port


def dstmac_rule(i: int, fmt: str, in_port: int, out_port: int) -> str:
    # what the standalone bridge / OVS NORMAL installs for a known dst MAC: in_port, both MACs
    # exact, IPv4 (frag=no: the kernel requires the ipv4 key once eth_type is exact 0x0800)
    if fmt == "odp":
        return "in_port(%d),eth(src=%s,dst=%s),eth_type(0x0800),ipv4(frag=no) %d" % (
            in_port, mac_str(SRC_MAC), mac_str(dstmac(i)), out_port)
    return "priority=10,dl_src=%s,dl_dst=%s,actions=output:%d" % (
        mac_str(SRC_MAC), mac_str(dstmac(i)), out_port)


def zipf_sequence(n_flows: int, n_packets: int, s: float, seed: int):
    """n_packets flow ids drawn i.i.d. from Zipf(s) over ranks; rank -> flow is a seeded
    shuffle.  Deterministic for a given (n_flows, n_packets, s, seed)."""
    import bisect
    import random
    rng = random.Random(seed)
    order = list(range(n_flows))
    rng.shuffle(order)
    cdf, acc = [], 0.0
    for r in range(1, n_flows + 1):
        acc += 1.0 / r ** s
        cdf.append(acc)
    return [order[min(bisect.bisect_left(cdf, rng.random() * acc), n_flows - 1)]
            for _ in range(n_packets)]


def flow_frame(kind: str, i: int, frame_len: int) -> bytes:
    tup = (IP_SRC0 + i, IP_DST0 + (i * 7919) % (1 << 24), 1024 + i % 60000,
           2000 + (i * 13) % 60000)
    if kind == "5tuple":
        return frame(DST_MAC, SRC_MAC, *tup, frame_len)
    if kind == "dstmac":
        return frame(dstmac(i), SRC_MAC, *tup, frame_len)
    if kind == "dstmac-fixed5t":
        return frame(dstmac(i), SRC_MAC, IP_SRC0, IP_DST0, 1024, 2000, frame_len)
    if kind == "ctbidir":
        # Connection i//2, original direction for even i, its reply for odd i: both arrive
        # on the one source port, so every connection is established after one pass.
        c = i // 2
        cli, srv = (IP_SRC0 + c, IP_DST0 + (c * 7919) % (1 << 24))
        sport, dport = 1024 + c % 60000, 2000 + (c * 13) % 60000
        if i % 2 == 0:
            return frame(DST_MAC, SRC_MAC, cli, srv, sport, dport, frame_len)
        return frame(SRC_MAC, DST_MAC, srv, cli, dport, sport, frame_len)
    raise ValueError(kind)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kind", choices=["5tuple", "dstmac", "dstmac-fixed5t", "m32", "ctbidir"],
                    default="5tuple")
    ap.add_argument("--flows", type=int, default=1)
    ap.add_argument("--packets", type=int, default=0,
                    help="frames in the file (default: max(flows, 10000))")
    ap.add_argument("--frame-len", type=int, default=60)
    ap.add_argument("--list-macs", action="store_true",
                    help="print the dst MACs of --flows dstmac flows and exit")
    ap.add_argument("--zipf", type=float, default=1.0, help="m32: Zipf exponent")
    ap.add_argument("--seed", type=int, default=1, help="m32: random seed")
    ap.add_argument("--rules", choices=["odp", "ofctl"],
                    help="write the flow set in this syntax instead of a pcap")
    ap.add_argument("--in-port", type=int, default=1)
    ap.add_argument("--out-port", type=int, default=2)
    ap.add_argument("--describe", action="store_true",
                    help="m32: print the per-class (per-mask) share of the frames and exit")
    ap.add_argument("-o", "--out")
    a = ap.parse_args()
    if a.list_macs:
        for i in range(a.flows):
            print(":".join("%02x" % b for b in dstmac(i)))
        return 0
    n = a.packets or max(a.flows, 10000)
    if a.describe:
        if a.kind != "m32":
            ap.error("--describe is for --kind m32")
        seq = zipf_sequence(a.flows, n, a.zipf, a.seed)
        per = [0] * M32_CLASSES
        for fl in seq:
            per[fl % M32_CLASSES] += 1
        shares = sorted(((v / n, c) for c, v in enumerate(per)), reverse=True)
        print("m32: %d frames, %d distinct flows hit, Zipf s=%.2f seed=%d" % (
            n, len(set(seq)), a.zipf, a.seed))
        print("per-mask share (class: %): " + ", ".join("%d: %.1f" % (c, 100 * v)
                                                       for v, c in shares))
        return 0
    if not a.out:
        ap.error("-o is required")
    if a.rules:
        with open(a.out, "w") as f:
            for i in range(a.flows):
                if a.kind == "m32":
                    f.write(m32_rule(i, a.flows, a.rules, a.in_port, a.out_port) + "\n")
                elif a.kind == "dstmac":
                    f.write(dstmac_rule(i, a.rules, a.in_port, a.out_port) + "\n")
                else:
                    ap.error("--rules is for --kind dstmac or m32")
        print("%s: %d %s flows (%s)" % (a.out, a.flows, a.rules, a.kind))
        return 0
    if a.kind == "m32":
        frames = [m32_frame(i, a.flows, a.frame_len) for i in range(a.flows)]
        seq = zipf_sequence(a.flows, n, a.zipf, a.seed)
    elif a.kind == "ctbidir":
        # --flows connections, two frames each.
        frames = [flow_frame(a.kind, i, a.frame_len) for i in range(2 * a.flows)]
        n = a.packets or len(frames)
        seq = [k % len(frames) for k in range(n)]
    else:
        frames = [flow_frame(a.kind, i, a.frame_len) for i in range(min(a.flows, n))]
        seq = [k % len(frames) for k in range(n)]
    tmp = a.out + ".tmp"  # written aside and renamed: an interrupted run leaves no short pcap
    with open(tmp, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for k in range(n):
            fr = frames[seq[k]]
            f.write(struct.pack("<IIII", k // 1000000, k % 1000000, len(fr), len(fr)))
            f.write(fr)
    import os
    os.replace(tmp, a.out)
    print("%s: %d frames of %d B, %d distinct %s flows" % (a.out, n, a.frame_len,
                                                       len(set(seq)), a.kind))
    return 0


if __name__ == "__main__":
    sys.exit(main())
