#!/usr/bin/env bash
# Installs the Debian 12 packages dpswitch builds and runs against, if any is missing:
# DPDK 22.11 (libraries, PMD plugins, headers), libclang for bindgen, pkg-config, and
# iproute2 and ping for the end-to-end tests' network namespaces. With --tests also what only
# the test suite uses: promtool (prometheus) to check the /metrics exposition format, and the
# stock Open vSwitch 3.1 (ovs-dpctl as a second netlink client; ovsdb-server, ovs-vswitchd
# and their tools to drive dpswitch as a `system` datapath). Debian 12 ships them in
# openvswitch-common and openvswitch-switch, whose maintainer scripts start ovs-vswitchd and
# load the openvswitch kernel module, so those packages are never installed: they are
# downloaded and unpacked into $OVS_CACHE, and only the shared libraries their binaries link
# are installed (checked with ldd).
set -euo pipefail

OVS_CACHE=${DPSWITCH_OVS_CACHE:-/var/cache/dpswitch-tests/ovs}
OVS_PKGS=(openvswitch-common openvswitch-switch)
OVS_LIBS=(libssl3 libnuma1 libxdp1 libbpf1 libunbound8 libcap-ng0)
# What the tests run from $OVS_CACHE (tests/src/ovs/install.rs names the same paths).
OVS_BINS=(usr/sbin/ovsdb-server usr/bin/ovsdb-tool usr/lib/openvswitch-switch/ovs-vswitchd
  usr/bin/ovs-vsctl usr/bin/ovs-ofctl usr/bin/ovs-appctl usr/bin/ovs-dpctl)
OVS_FILES=("${OVS_BINS[@]}" usr/share/openvswitch/vswitch.ovsschema)

tests=0
if [ "${1:-}" = "--tests" ]; then
  tests=1
fi
need_ovs=0
if [ $tests -eq 1 ]; then
  for f in "${OVS_FILES[@]}"; do
    [ -e "$OVS_CACHE/$f" ] || need_ovs=1
  done
fi

pkgs=(dpdk dpdk-dev libdpdk-dev libclang-dev pkg-config iproute2 iputils-ping)
if [ $tests -eq 1 ]; then
  pkgs+=(prometheus "${OVS_LIBS[@]}")
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ] && [ $need_ovs -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  todo=("${missing[@]}")
  [ $need_ovs -eq 1 ] && todo+=("Open vSwitch (unpacked from ${OVS_PKGS[*]} into $OVS_CACHE)")
  echo "install-deps.sh: missing ${todo[*]}; run as root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
updated=0
if [ ${#missing[@]} -ne 0 ]; then
  echo "install-deps.sh: installing ${missing[*]}"
  apt-get update -qq
  updated=1
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ $need_ovs -eq 1 ]; then
  echo "install-deps.sh: unpacking ${OVS_PKGS[*]} into $OVS_CACHE"
  [ $updated -eq 1 ] || apt-get update -qq
  work=$(mktemp -d)
  # apt downloads as the _apt user when it exists.
  chown _apt "$work" 2>/dev/null || true
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get download -qq "${OVS_PKGS[@]}")
  rm -rf "$OVS_CACHE.new"
  mkdir -p "$OVS_CACHE.new"
  for p in "${OVS_PKGS[@]}"; do
    dpkg -x "$work"/"$p"_*.deb "$OVS_CACHE.new"
  done
  for f in "${OVS_FILES[@]}"; do
    if [ ! -e "$OVS_CACHE.new/$f" ]; then
      echo "install-deps.sh: ${OVS_PKGS[*]} has no $f" >&2
      exit 1
    fi
  done
  for b in "${OVS_BINS[@]}"; do
    if ldd "$OVS_CACHE.new/$b" | grep -q 'not found'; then
      echo "install-deps.sh: $b lacks libraries:" >&2
      ldd "$OVS_CACHE.new/$b" | grep 'not found' >&2
      exit 1
    fi
  done
  # Swapped in whole, so an interrupted run leaves no half-unpacked cache that looks complete.
  rm -rf "$OVS_CACHE"
  mv "$OVS_CACHE.new" "$OVS_CACHE"
fi
