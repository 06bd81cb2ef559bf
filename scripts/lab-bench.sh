#!/usr/bin/env bash
# The main job: ringtcp's throughput and latency against the Linux kernel,
# in a private network namespace this script's benchmark makes itself (no
# TUN set-up needed; needs root, or a system with unprivileged user
# namespaces). Installs what it needs first.
#
# Usage: scripts/lab-bench.sh [SECONDS]     (default 5 per workload)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
case "$seconds" in
  ''|*[!0-9.]*) echo "usage: $0 [SECONDS] (a number of seconds per workload)" >&2; exit 2 ;;
esac
scripts/install-deps.sh
cargo build --release --example bench
for mode in download upload pingpong connect; do
  target/release/examples/bench --lab --seconds "$seconds" "$mode"
  echo
done
