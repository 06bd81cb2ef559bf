#!/usr/bin/env bash
# Runs ringtcp's whole test suite: formatting, lints, API docs, unit,
# simulator, property and (as root, or where user namespaces allow) kernel
# tests, the kernel tests both with TUN offloads (default) and without.
#
# Usage: scripts/test.sh            # everything
#        scripts/test.sh --quick    # skip fmt, clippy and the doc build
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

scripts/install-deps.sh

if [ "$quick" = 0 ]; then
  cargo fmt --all -- --check
  cargo clippy --all-targets -- -D warnings
  # The API docs build without a warning: every public item documented
  # (`missing_docs`), every intra-doc link resolves.
  RUSTDOCFLAGS="-D warnings" cargo doc --no-deps
fi
cargo test --all-targets
cargo test --doc
# Every test that runs over a real TUN device again, without offloads (the
# first pass used checksum offload and TSO, the default).
RINGTCP_OFFLOADS=0 cargo test --test kernel --test kernel_inloop --test alloc \
  --test lab_smoke --test programs
RINGTCP_OFFLOADS=0 cargo test --lib lab::
