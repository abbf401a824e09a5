#!/usr/bin/env bash
# OVS-DPDK baseline for perf/bench.py: one run of one scenario per call, with a fresh
# ovsdb-server and ovs-vswitchd, the bridge, rules and other_config below, and bench.py's
# warm-up and window; driven by environment variables so bench.py owns the pcaps,
# the rounds and the output.
#
#   ovs.sh install            install openvswitch-switch-dpdk with apt if it is missing
#   ovs.sh run SCENARIO       one run (fresh ovsdb-server + ovs-vswitchd), result to $OVS_RESULT
#   ovs.sh stop               stop the OVS this script started (pidfiles in $OVS_SCRATCH)
#   ovs.sh list               the scenarios
#
# env: OVS_PCAP (pcap file), OVS_RESULT (key=value output), OVS_LOGDIR, OVS_SCRATCH (run dir),
#      WARM_S, WINDOW_S, TSC_HZ, OVS_MACS (10k dst MACs for S4/S4e), OVS_M32_RULES (M32 rules),
#      V2L: OVS_LAT_TX/OVS_LAT_RX (names of the two net_tap interfaces), LAT_COUNT, LAT_GAP
# p0 = net_pcap (port 1) -> one PMD on core 1 -> p1 = net_null (port 2); ovsdb-server and the
# vswitchd main/handler/revalidator threads on core 0.  Mpps = delta of p1 tx packets
# (ovs-ofctl dump-ports reads live netdev counters) over WINDOW_S s.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUN="${OVS_SCRATCH:-/var/tmp/dpswitch-perf-ovs}/run"
DB="unix:$RUN/db.sock"
VSCTL=(ovs-vsctl --db="$DB" --timeout=60)
APPCTL=(ovs-appctl -t "$RUN/ovs-vswitchd.ctl" --timeout=60)
OFCTL_BR="unix:$RUN/br0.mgmt"
OVS_VSWITCHD="${OVS_VSWITCHD:-/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk}"
OVS_SCHEMA="${OVS_SCHEMA:-/usr/share/openvswitch/vswitch.ovsschema}"
SOCKET_MEM="${SOCKET_MEM:-1024}"
FWD_CORE=1
CTL_CORE=0
WARM_S="${WARM_S:-5}"
WINDOW_S="${WINDOW_S:-10}"
PARSE=(python3 "$HERE/ovs_parse.py")

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
now() { date +%s.%N; }

# signal a pid we started, only while it is still the program we think it is
kill_ours() {  # pid expected-comm-prefix [signal]
  local pid="$1" comm="$2" sig="${3:-TERM}" i
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 0
  case "$(cat "/proc/$pid/comm" 2>/dev/null)" in "$comm"*) ;; *) return 0 ;; esac
  kill -s "$sig" "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do [ -d "/proc/$pid" ] || return 0; sleep 0.1; done
  kill -s KILL "$pid" 2>/dev/null || true
}

# Rules (p0 = 1, p1 = 2)
RULES_INPORT="priority=10,in_port=1,actions=output:2"
# + udp: a megaflow that is not "simple match", so OVS 3.1 uses its EMC path
RULES_INPORT_UDP="priority=10,in_port=1,udp,actions=output:2"
RULES_NORMAL="priority=0,actions=NORMAL"
# a never-matching exact dl_dst rule above a catch-all: no prefix trie covers MACs, so every
# dst MAC gets its own megaflow (one flow setup per new dst MAC)
RULES_DLDST=$'priority=10,dl_dst=ff:ff:ff:ff:ff:fe,actions=drop\npriority=0,actions=output:2'
# CT1: the classic conntrack pipeline (bench.py's CT1_RULES for dpswitch under vswitchd)
RULES_CT1=$'table=0,priority=10,ip,actions=ct(zone=1,table=1)\ntable=0,priority=0,actions=drop\ntable=1,priority=10,ct_state=+trk+new,ip,actions=ct(commit,zone=1),output:2\ntable=1,priority=10,ct_state=+trk+est,ip,actions=output:2\ntable=1,priority=0,actions=drop'
# V2: multipath hashes the 5-tuple, so translation unwildcards nw_src, nw_dst, nw_proto and
# both UDP ports: one megaflow per 5-tuple (vsw.py has the same rules for dpswitch)
# CT3: CT1 with DNAT to 4 backends (bench.py's CT3_RULES)
RULES_CT3=$'table=0,priority=10,ip,actions=ct(zone=1,nat,table=1)\ntable=0,priority=0,actions=drop\ntable=1,priority=10,ct_state=+trk+new,ip,actions=ct(commit,zone=1,nat(dst=10.2.0.1-10.2.0.4)),output:2\ntable=1,priority=10,ct_state=+trk+est,ip,actions=output:2\ntable=1,priority=0,actions=drop'
RULES_5TUPLE=$'priority=10,udp,actions=multipath(symmetric_l3l4+udp,0,hrw,1,0,NXM_NX_REG0[0..1]),output:2\npriority=0,actions=drop'

SCENARIOS="S1 S1e S2 S2e S3 S3e S4 S4e M32 S6a S6b V2 V2L CT1 CT3"
scenario() {  # sets RULES OTHERCFG FDB MODE DESC SRC_DEVARGS SINK_DEVARGS PORT_OPTS
  RULES="" OTHERCFG="" FDB=0 MODE=steady DESC=""
  SRC_DEVARGS="net_pcap0,rx_pcap=${OVS_PCAP:-},infinite_rx=1" SINK_DEVARGS="net_null0,no-rx=1"
  PORT_OPTS=() SETUP_N=""
  case "$1" in
    S1|S2|S3) RULES="$RULES_INPORT"; DESC="in_port=p0 -> p1 (OVS simple-match path)" ;;
    S1e|S2e|S3e) RULES="$RULES_INPORT_UDP"; DESC="in_port=p0,udp -> p1 (EMC path)" ;;
    S4) RULES="$RULES_NORMAL"; FDB=1; OTHERCFG="other_config:emc-insert-inv-prob=0"
        DESC="NORMAL, 10k dst MACs in the FDB on p1, EMC off" ;;
    S4e) RULES="$RULES_NORMAL"; FDB=1; DESC="NORMAL, 10k dst MACs in the FDB on p1, EMC default" ;;
    M32) RULES="$(cat "${OVS_M32_RULES:?OVS_M32_RULES: the M32 OpenFlow rules file}")"
         DESC="10k rules in 32 field sets (32 dp masks), default caches" ;;
    S6a) RULES="$RULES_DLDST"; MODE=setup
         DESC="flow setup: 100k new dst-MAC megaflows from an empty datapath" ;;
    S6b) RULES="$RULES_DLDST"; OTHERCFG="other_config:flow-limit=1000"
         DESC="sustained misses: flow-limit=1000 -> upcall without install" ;;
    CT1) RULES="$RULES_CT1"; DESC="ct(zone=1,table=1); +new: ct(commit),out; +est: out" ;;
    CT3) RULES="$RULES_CT3"; DESC="CT1 with DNAT of new connections to 4 backends" ;;
    V2) RULES="$RULES_5TUPLE"; MODE=setup; SETUP_N=100000
        DESC="flow setup: one megaflow per 5-tuple (multipath), 100k from an empty datapath" ;;
    V2L) RULES="$RULES_5TUPLE"; MODE=latency
         SRC_DEVARGS="net_tap0,iface=${OVS_LAT_TX:-lat0}" SINK_DEVARGS="net_tap1,iface=${OVS_LAT_RX:-lat1}"
         # net_tap wants as many rx as tx queues, and OVS gives a port a tx queue per PMD + 1
         PORT_OPTS=(options:n_rxq=2)
         DESC="first-packet latency: new 5-tuples one at a time, net_tap in and out (probe.py)" ;;
    *) echo "unknown scenario $1 (have: $SCENARIOS)" >&2; exit 2 ;;
  esac
}

ovs_install() {
  [ -x "$OVS_VSWITCHD" ] && return 0
  log "installing openvswitch-switch-dpdk (apt)"
  # this VM runs no init: keep the package scripts from trying to start services
  local made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openvswitch-switch-dpdk ||
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openvswitch-switch-dpdk; }
  [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ -x "$OVS_VSWITCHD" ] || { echo "no $OVS_VSWITCHD after install" >&2; exit 1; }
}

ovs_stop() {
  local f pf
  for f in ovs-vswitchd ovsdb-server; do
    pf="$RUN/$f.pid"
    # comm of the DPDK binary is "ovs-vswitchd-dp" (15 chars): matched by the prefix
    [ -s "$pf" ] && kill_ours "$(cat "$pf")" "$f" TERM
  done
  rm -rf "$RUN"
}

ovs_start() {  # extra Open_vSwitch other_config settings as args
  ovs_stop
  mkdir -p "$RUN"
  ovsdb-tool create "$RUN/conf.db" "$OVS_SCHEMA"
  taskset -c "$CTL_CORE" ovsdb-server "$RUN/conf.db" --remote="punix:$RUN/db.sock" \
    --pidfile="$RUN/ovsdb-server.pid" --unixctl="$RUN/ovsdb-server.ctl" \
    --log-file="$RUN/ovsdb-server.log" --detach --no-chdir 2> "$RUN/ovsdb-server.stderr"
  "${VSCTL[@]}" --no-wait init
  "${VSCTL[@]}" --no-wait set Open_vSwitch . other_config:dpdk-init=true \
    other_config:dpdk-socket-mem="$SOCKET_MEM" other_config:dpdk-socket-limit="$SOCKET_MEM" \
    other_config:pmd-cpu-mask="$(printf '0x%x' $((1 << FWD_CORE)))" \
    other_config:dpdk-extra="--no-pci" "$@"
  # started pinned to core 0, so OVS hands EAL "-l 0" and every non-PMD thread stays there
  OVS_RUNDIR="$RUN" OVS_LOGDIR="$RUN" OVS_DBDIR="$RUN" \
  taskset -c "$CTL_CORE" "$OVS_VSWITCHD" "$DB" --pidfile="$RUN/ovs-vswitchd.pid" \
    --unixctl="$RUN/ovs-vswitchd.ctl" --log-file="$RUN/ovs-vswitchd.log" --detach --no-chdir \
    2> "$RUN/ovs-vswitchd.stderr"
  "${VSCTL[@]}" add-br br0 -- set bridge br0 datapath_type=netdev fail-mode=secure \
    other-config:mac-table-size=65536
  # the dynamic flow limit starts at 10000: lift it so 10k-100k megaflows install at once
  "${APPCTL[@]}" upcall/set-flow-limit 200000 >/dev/null
}

pmdstats() { "${APPCTL[@]}" dpif-netdev/pmd-stats-show -pmd "$FWD_CORE"; }
upcalls_now() { pmdstats | awk -F: '/miss with (success|failed) upcall/{s+=$2} END{print s+0}'; }
ports_now() {  # "epoch p0_rx p1_tx"
  local t out; t=$(now); out=$(ovs-ofctl dump-ports "$OFCTL_BR")
  echo "$t $("${PARSE[@]}" dumpports /dev/stdin 1 <<<"$out" | cut -d' ' -f1) \
$("${PARSE[@]}" dumpports /dev/stdin 2 <<<"$out" | cut -d' ' -f2)"
}
add_source() {
  "${VSCTL[@]}" add-port br0 p0 -- set Interface p0 type=dpdk \
    "options:dpdk-devargs=$SRC_DEVARGS" ofport_request=1 "${PORT_OPTS[@]}"
}
dp_flows() {  # writes $L/dp-flows.txt, prints "flows masks"
  "${APPCTL[@]}" dpctl/dump-flows > "$L/dp-flows.txt"
  local n; n=$(( $(wc -l < "$L/dp-flows.txt") - $(grep -c '^flow-dump from' "$L/dp-flows.txt" || true) ))
  echo "$n $("${PARSE[@]}" masks "$L/dp-flows.txt")"
}
getkv() { sed -n "s/^$1=//p" "$L/pmd.kv"; }
result() { printf '%s\n' "$@" > "$OVS_RESULT"; }

run_one() {
  local sc="$1"
  : "${OVS_RESULT:?}" "${TSC_HZ:?}"
  scenario "$sc"
  [ "$MODE" = latency ] || : "${OVS_PCAP:?}"
  L="${OVS_LOGDIR:-$RUN.logs}"; mkdir -p "$L"
  log "ovs $sc: $DESC"
  # shellcheck disable=SC2086
  ovs_start $OTHERCFG
  "${VSCTL[@]}" add-port br0 p1 -- set Interface p1 type=dpdk \
    "options:dpdk-devargs=$SINK_DEVARGS" ofport_request=2 "${PORT_OPTS[@]}"
  printf '%s\n' "$RULES" > "$L/rules.txt"
  ovs-ofctl add-flows "$OFCTL_BR" "$L/rules.txt"
  ovs-ofctl mod-port "$OFCTL_BR" br0 no-flood
  if [ "$FDB" = 1 ]; then
    sed 's/^/fdb\/add br0 p1 0 /' "${OVS_MACS:?}" | python3 "$HERE/unixctl_bulk.py" "$RUN/ovs-vswitchd.ctl"
  fi
  case "$MODE" in
    setup) run_setup "$sc" ;;
    latency) run_latency "$sc" ;;
    *) run_steady "$sc" ;;
  esac
  "${APPCTL[@]}" coverage/show > "$L/coverage.txt" 2>&1 || true
  "${APPCTL[@]}" upcall/show > "$L/upcall-show.txt" 2>&1 || true
  ovs-ofctl dump-flows "$OFCTL_BR" > "$L/of-flows.txt" 2>&1 || true
  cp "$RUN/ovs-vswitchd.log" "$L/" 2>/dev/null || true
  ovs_stop
}

run_steady() {
  local sc="$1" u0 u1 i t0 rx0 tx0 t1 rx1 tx1
  add_source                              # traffic starts here
  sleep "$WARM_S"
  # megaflow scenarios: warm until the upcall counter stops moving (max 60 s)
  u0=$(upcalls_now)
  for i in $(seq 1 60); do
    sleep 1; u1=$(upcalls_now)
    [ "$sc" = S6b ] && break
    [ "$u1" = "$u0" ] && break
    u0=$u1
  done
  "${APPCTL[@]}" dpif-netdev/pmd-stats-clear >/dev/null
  read -r t0 rx0 tx0 <<<"$(ports_now)"
  sleep "$WINDOW_S"
  read -r t1 rx1 tx1 <<<"$(ports_now)"
  pmdstats > "$L/pmd-stats.txt"
  "${PARSE[@]}" pmdstats "$L/pmd-stats.txt" > "$L/pmd.kv"
  local fm; fm=$(dp_flows)
  python3 - "$t0" "$t1" "$rx0" "$rx1" "$tx0" "$tx1" "$TSC_HZ" > "$L/window.kv" <<'PY'
import sys
t0, t1, rx0, rx1, tx0, tx1, hz = map(float, sys.argv[1:])
pps = (tx1 - tx0) / (t1 - t0)
print("mpps=%.3f" % (pps / 1e6))
print("src_rx_mpps=%.3f" % ((rx1 - rx0) / (t1 - t0) / 1e6))
print("tsc_cycles_per_pkt=%.1f" % (hz / pps if pps else float("nan")))
print("window_s=%.2f" % (t1 - t0))
PY
  local mpps; mpps=$(sed -n 's/^mpps=//p' "$L/window.kv")
  local ok fl up; ok=$(getkv upcall_ok); fl=$(getkv upcall_fail)
  up=$(( ${ok:-0} + ${fl:-0} ))
  local path="simple=$(getkv simple);smc=$(getkv smc);upcall_fail=$(getkv upcall_fail)"
  result "value=$mpps" "unit=Mpps" $(cat "$L/window.kv") \
    "pmd_busy_cycles_per_pkt=$(getkv cyc)" "pmd_idle_pct=$(getkv idle_pct)" \
    "emc_hits=$(getkv emc)" "megaflow_hits=$(getkv megaflow)" "upcalls=$up" \
    "dp_flows=${fm% *}" "dp_masks=${fm#* }" "lookups_per_megaflow_hit=$(getkv subtbl)" \
    "note=$path"
  log "ovs $sc: $mpps Mpps, pmd-stats $(getkv cyc) cyc/pkt, dp flows ${fm% *}, masks ${fm#* }"
}

# S6a: sample the upcall counter every ~20-50 ms from an empty datapath while the first pass
# over 100k new dst MACs installs one megaflow each (the PMD runs the upcall itself).
run_setup() {
  local sc="$1" series="$L/upcall-series.txt"; : > "$series"
  "${APPCTL[@]}" dpif-netdev/pmd-stats-clear >/dev/null
  ( end=$(( ${EPOCHREALTIME%.*} + 15 ))
    while [ "${EPOCHREALTIME%.*}" -lt "$end" ]; do
      t=$EPOCHREALTIME
      "${APPCTL[@]}" dpif-netdev/pmd-stats-show -pmd "$FWD_CORE" |
        awk -v t="$t" -F: '/packets received/{p=$2} /miss with success/{o=$2} /miss with failed/{f=$2} END{print t, p+0, o+0, f+0}'
      sleep 0.02
    done ) >> "$series" &
  local spid=$!
  sleep 1
  add_source
  wait "$spid" || true
  pmdstats > "$L/pmd-stats.txt"
  local fm; fm=$(dp_flows)
  local avg peak dur tot
  read -r avg peak dur tot <<<"$("${PARSE[@]}" setup "$series" $SETUP_N)"
  local v cyc
  v=$(python3 -c "print('%.4f' % ($avg/1e6))"); cyc=$(python3 -c "print('%.0f' % ($TSC_HZ/$avg))")
  result "value=$v" "unit=M setups/s" "tsc_cycles_per_pkt=$cyc" "window_s=$dur" \
    "dp_flows=${fm% *}" "dp_masks=${fm#* }" "upcalls=$tot" "note=peak_per_s=$peak;setup_s=$dur"
  log "ovs $sc: ${dur}s for $tot upcalls: $avg setups/s, dp flows ${fm% *}"
}

# V2L: the same probe as for dpswitch (vsw.py), from this namespace into OVS's two net_tap
# interfaces.
run_latency() {
  local sc="$1" tx="${OVS_LAT_TX:-lat0}" rx="${OVS_LAT_RX:-lat1}" i
  add_source
  for i in $(seq 1 100); do
    ip link show "$tx" >/dev/null 2>&1 && ip link show "$rx" >/dev/null 2>&1 && break; sleep 0.1
  done
  # the kernel's own IPv6 packets stay off the ports
  sysctl -qw "net.ipv6.conf.$tx.disable_ipv6=1" "net.ipv6.conf.$rx.disable_ipv6=1" || true
  sleep 1
  "${APPCTL[@]}" dpif-netdev/pmd-stats-clear >/dev/null
  taskset -c "$CTL_CORE" python3 "$HERE/probe.py" --tx "$tx" --rx "$rx" --count "${LAT_COUNT:-1000}" \
    --gap "${LAT_GAP:-0.005}" --out "$L/probe.json" > "$L/probe.txt"
  pmdstats > "$L/pmd-stats.txt"
  "${PARSE[@]}" pmdstats "$L/pmd-stats.txt" > "$L/pmd.kv"
  local fm; fm=$(dp_flows)
  python3 - "$L/probe.txt" <<'PY' > "$L/latency.kv"
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
f, w = r["first"], r["warm"]
for k, v in (("value", f.get("p50_us")), ("lat_p50_us", f.get("p50_us")),
             ("lat_p90_us", f.get("p90_us")), ("lat_p99_us", f.get("p99_us")),
             ("lat_max_us", f.get("max_us")), ("warm_p50_us", w.get("p50_us")),
             ("warm_p99_us", w.get("p99_us")), ("lat_lost", r["lost"]), ("lat_n", f.get("n"))):
    print("%s=%s" % (k, v))
PY
  local ok fl; ok=$(getkv upcall_ok); fl=$(getkv upcall_fail)
  result $(cat "$L/latency.kv") "unit=us" "dp_flows=${fm% *}" "dp_masks=${fm#* }" \
    "upcalls=$(( ${ok:-0} + ${fl:-0} ))"
  log "ovs $sc: first packet $(grep -E '^lat_p(50|99)' "$L/latency.kv" | tr '\n' ' ')dp flows ${fm% *}, masks ${fm#* }"
}

# a failed run keeps vswitchd's log too (set -e ends it before run_one copies it)
on_exit() {
  if [ -n "${L:-}" ] && [ -d "$L" ] && [ -e "$RUN/ovs-vswitchd.log" ]; then
    cp "$RUN/ovs-vswitchd.log" "$L/" || true
  fi
  ovs_stop
}

case "${1:-}" in
  install) ovs_install ;;
  run) shift; trap on_exit EXIT; run_one "$@" ;;
  stop) ovs_stop ;;
  list) for s in $SCENARIOS; do scenario "$s" 2>/dev/null || true; echo "$s  $DESC"; done ;;
  *) sed -n '2,18p' "$0"; exit 2 ;;
esac
