#!/usr/bin/env bash
# Reserve, show and release the 2 MiB hugepages DPDK runs on.
#
#   ./hugepages.sh [setup] [SIZE]   reserve SIZE of 2 MiB pages (default 1G) and mount hugetlbfs
#   ./hugepages.sh status           reserved / free / in use, and hugetlbfs mounts
#   ./hugepages.sh release          give every 2 MiB page back to the kernel
#
# SIZE: a number with an optional M or G suffix (MiB when bare), e.g. 512M, 2G.
# Idempotent: setup never shrinks a larger reservation and mounts only once.
set -euo pipefail

MOUNT=${HUGEPAGES_MOUNT:-/dev/hugepages}
SYSFS=/sys/kernel/mm/hugepages/hugepages-2048kB
PAGE_MB=2

die() { echo "hugepages.sh: $*" >&2; exit 1; }
need_root() { [ "$(id -u)" -eq 0 ] || die "must run as root to $1 hugepages (try: sudo $0 $1)"; }
[ -d "$SYSFS" ] || die "this kernel has no 2 MiB hugepage support ($SYSFS missing)"

nr() { cat "$SYSFS/nr_hugepages"; }
free_pages() { cat "$SYSFS/free_hugepages"; }

size_to_pages() {
  local s=${1^^} mb
  case "$s" in
    *G) mb=$(( ${s%G} * 1024 )) ;;
    *M) mb=${s%M} ;;
    *[!0-9]*|"") die "bad SIZE '$1' (use e.g. 512M or 1G)" ;;
    *) mb=$s ;;
  esac
  [[ "$mb" =~ ^[0-9]+$ ]] && [ "$mb" -ge "$PAGE_MB" ] || die "bad SIZE '$1' (at least ${PAGE_MB}M)"
  echo $(( (mb + PAGE_MB - 1) / PAGE_MB ))
}

mounted() { awk -v m="$MOUNT" '$2 == m && $3 == "hugetlbfs" { found = 1 } END { exit !found }' /proc/mounts; }

setup() {
  local want; want=$(size_to_pages "${1:-1G}")
  need_root setup
  if [ "$(nr)" -lt "$want" ]; then
    echo "$want" > "$SYSFS/nr_hugepages"
    if [ "$(nr)" -lt "$want" ]; then
      # Fragmented memory: free the page cache and compact, then ask once more.
      sync; echo 3 > /proc/sys/vm/drop_caches; echo 1 > /proc/sys/vm/compact_memory 2>/dev/null || true
      echo "$want" > "$SYSFS/nr_hugepages"
    fi
    local got; got=$(nr)
    [ "$got" -ge "$want" ] || die "the kernel granted only $got of $want 2 MiB pages ($((got * PAGE_MB)) of $((want * PAGE_MB)) MiB); free memory or ask for less"
  fi
  if ! mounted; then
    mkdir -p "$MOUNT"
    mount -t hugetlbfs -o pagesize=2M nodev "$MOUNT" || die "cannot mount hugetlbfs at $MOUNT"
  fi
  echo "hugepages: $(nr) x 2 MiB reserved ($(free_pages) free), hugetlbfs at $MOUNT"
}

status() {
  local total free rsvd
  total=$(nr); free=$(free_pages); rsvd=$(cat "$SYSFS/resv_hugepages")
  echo "2 MiB pages: reserved $total ($((total * PAGE_MB)) MiB), free $free, in use $((total - free)), committed-not-faulted $rsvd"
  local mounts; mounts=$(awk '$3 == "hugetlbfs" { print "  " $2 " (" $4 ")" }' /proc/mounts)
  if [ -n "$mounts" ]; then echo "hugetlbfs mounts:"; echo "$mounts"; else echo "hugetlbfs mounts: none"; fi
}

release() {
  need_root release
  echo 0 > "$SYSFS/nr_hugepages"
  local left; left=$(nr)
  if [ "$left" -ne 0 ]; then
    echo "hugepages.sh: $left pages are still in use and stay reserved until their owners exit:" >&2
    find "$MOUNT" -maxdepth 3 -type f 2>/dev/null | head -20 >&2
    exit 1
  fi
  echo "hugepages: released (0 reserved)"
}

case "${1:-setup}" in
  setup) shift || true; setup "${1:-1G}" ;;
  status) status ;;
  release) release ;;
  -h|--help|help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' ;;
  [0-9]*) setup "$1" ;;
  *) die "unknown command '$1' (setup [SIZE] | status | release)" ;;
esac
