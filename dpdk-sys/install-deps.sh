#!/usr/bin/env bash
# Installs the Debian 12 packages dpswitch builds and runs against, if any is missing:
# DPDK 22.11 (libraries, PMD plugins, headers), libclang for bindgen, pkg-config, and
# iproute2 and ping for the end-to-end tests' network namespaces. With --tests also what only
# the test suite uses: promtool (prometheus) to check the /metrics exposition format, and the
# stock ovs-dpctl as a second netlink client. Debian 12 ships ovs-dpctl in openvswitch-switch,
# whose maintainer scripts start ovs-vswitchd and load the openvswitch kernel module, so that
# package is never installed: it is downloaded and unpacked into $OVS_CACHE (only
# usr/bin/ovs-dpctl is used), and only the shared libraries ovs-dpctl links are installed.
set -euo pipefail

OVS_CACHE=${DPSWITCH_OVS_CACHE:-/var/cache/dpswitch-tests/ovs}
OVS_PKG=openvswitch-switch
OVS_LIBS=(libssl3 libnuma1 libxdp1 libbpf1 libunbound8 libcap-ng0)

tests=0
if [ "${1:-}" = "--tests" ]; then
  tests=1
fi
need_ovs=0
if [ $tests -eq 1 ] && [ ! -x /usr/bin/ovs-dpctl ] && [ ! -x "$OVS_CACHE/usr/bin/ovs-dpctl" ]; then
  need_ovs=1
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
  [ $need_ovs -eq 1 ] && todo+=("ovs-dpctl (unpacked from $OVS_PKG into $OVS_CACHE)")
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
  echo "install-deps.sh: unpacking ovs-dpctl from $OVS_PKG into $OVS_CACHE"
  [ $updated -eq 1 ] || apt-get update -qq
  work=$(mktemp -d)
  # apt downloads as the _apt user when it exists.
  chown _apt "$work" 2>/dev/null || true
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get download -qq "$OVS_PKG")
  rm -rf "$OVS_CACHE.new"
  mkdir -p "$OVS_CACHE.new"
  dpkg -x "$work"/"$OVS_PKG"_*.deb "$OVS_CACHE.new"
  rm -rf "$OVS_CACHE"
  mv "$OVS_CACHE.new" "$OVS_CACHE"
  if ldd "$OVS_CACHE/usr/bin/ovs-dpctl" | grep -q 'not found'; then
    echo "install-deps.sh: $OVS_CACHE/usr/bin/ovs-dpctl lacks libraries:" >&2
    ldd "$OVS_CACHE/usr/bin/ovs-dpctl" | grep 'not found' >&2
    exit 1
  fi
fi
