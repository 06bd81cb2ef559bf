#!/usr/bin/env bash
# Runs ringtcp's whole test suite: formatting, lints, API docs, unit,
# simulator, property and (as root, or where user namespaces allow) kernel
# tests, the kernel tests both with TUN offloads (default) and without,
# then a short coverage-guided fuzz run of every target (scripts/fuzz.sh).
#
# Usage: scripts/test.sh            # everything
#        scripts/test.sh --quick    # skip fmt, clippy and the doc build
#
# RINGTCP_FUZZ_SECONDS=N fuzzes each target N seconds (default 60);
# RINGTCP_SKIP_FUZZ=1 skips fuzzing on a developer's machine, never in CI.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
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
RINGTCP_OFFLOADS=0 cargo test --test kernel --test kernel_inloop --test kernel_async --test alloc \
  --test alloc_async \
  --test lab_smoke --test programs --test programs_hyper --test kernel_synflood \
  --test kernel_fragments
RINGTCP_OFFLOADS=0 cargo test --lib lab::

# Coverage-guided fuzzing, about a minute per target (issue 12): cargo-fuzz
# install, build and runs take some 7 minutes on a fresh machine.
if [ "${RINGTCP_SKIP_FUZZ:-0}" = 1 ] && [ -z "${CI:-}" ]; then
  echo "test.sh: fuzzing skipped (RINGTCP_SKIP_FUZZ=1)"
else
  scripts/fuzz.sh --seconds "${RINGTCP_FUZZ_SECONDS:-60}"
fi
