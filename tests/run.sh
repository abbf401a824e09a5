#!/usr/bin/env bash
# The whole test suite, from nothing: system packages, hugepages, format and lint checks,
# then every crate's tests (real EAL, real PMDs, real netlink, real dpswitch processes, and
# the stock ovsdb-server and ovs-vswitchd driving dpswitch: tests/tests/vswitchd.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

dpdk-sys/install-deps.sh --tests
./hugepages.sh setup 1G
export DPSWITCH_REQUIRE_HUGEPAGES=1

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# Every binary and library: the tests run the daemons, and ovs-vswitchd runs under the
# preload cdylib, which cargo never builds for tests.
cargo build --workspace
cargo test --workspace
