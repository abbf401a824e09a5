#!/usr/bin/env bash
# Builds libdpswitch_preload.so (release) and installs it as
# $DESTDIR$PREFIX/lib/libdpswitch_preload.so (PREFIX defaults to /usr/local); prints the path.
# See docs/preload.md.
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=${PREFIX:-/usr/local}
dest="${DESTDIR:-}$prefix/lib/libdpswitch_preload.so"

cargo build --release -p dpswitch-preload
install -D -m 0644 target/release/libdpswitch_preload.so "$dest"
echo "$dest"
