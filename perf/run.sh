#!/usr/bin/env bash
# The benchmark in one command: every scenario for dpswitch, and with --baselines OVS-DPDK
# and dpdk-testpmd io too, alternated round by round on one forwarding core.
#   perf/run.sh [--baselines] [--rounds N] [--window S] [--warmup S] [--scenarios S1,S4,..]
#               [--out DIR] [--profile] [--dpswitch BIN --dpctl BIN | --no-build] ...
# Everything is in bench.py (Python 3 standard library); `perf/run.sh --help` lists the options.
# Run as root on an otherwise idle machine: the figures are only as quiet as core 1 is.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 perf/bench.py "$@"
