#!/usr/bin/env bash
# Installs the Debian 12 packages dpswitch builds and runs against, if any is missing:
# DPDK 22.11 (libraries, PMD plugins, headers), libclang for bindgen, pkg-config, and
# iproute2 and ping for the end-to-end tests' network namespaces. With --tests also what only
# the test suite uses: the stock ovs-dpctl (openvswitch-common) as a second netlink client, and
# promtool (prometheus) to check the /metrics exposition format.
set -euo pipefail

pkgs=(dpdk dpdk-dev libdpdk-dev libclang-dev pkg-config iproute2 iputils-ping)
if [ "${1:-}" = "--tests" ]; then
  pkgs+=(openvswitch-common prometheus)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: missing ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
