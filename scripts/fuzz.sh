#!/usr/bin/env bash
# Coverage-guided fuzzing of ringtcp with cargo-fuzz (libFuzzer): the
# IPv4, TCP and ICMP parsers and the whole stack (see fuzz/README.md).
# Installs cargo-fuzz if missing, writes fresh seed corpora, builds every
# target, runs each for a while, and exits non-zero if any crashed, naming
# the input that did.
#
# Usage: scripts/fuzz.sh [--seconds N] [--sanitizer none|address] [TARGET...]
#   --seconds N     run each target N seconds (default 60)
#   --sanitizer S   none (default) or address; see fuzz/README.md
#   TARGET...       only these targets (default: every one)
#
# Works on a machine with only the stable toolchain: cargo-fuzz's nightly
# compiler flags are allowed there with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
seconds=60
sanitizer=none
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="${2:?--seconds needs a number}"; shift 2 ;;
    --seconds=*) seconds="${1#*=}"; shift ;;
    --sanitizer) sanitizer="${2:?--sanitizer needs none or address}"; shift 2 ;;
    --sanitizer=*) sanitizer="${1#*=}"; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    -*) echo "unknown option: $1 (try --help)" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
case "$seconds" in ''|*[!0-9]*) echo "--seconds takes a whole number" >&2; exit 2 ;; esac
case "$sanitizer" in none|address) ;; *) echo "--sanitizer: none or address" >&2; exit 2 ;; esac

if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

# cargo-fuzz passes -Z flags (sanitizer coverage, sanitizers); a stable
# compiler takes them with RUSTC_BOOTSTRAP=1. A nightly one needs nothing.
if ! rustc --version | grep -q nightly; then
  export RUSTC_BOOTSTRAP=1
fi

if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi

# Seeds from the simulator and the stack fixture, made by the main crate's
# tests (the build `cargo test` already made), so they match today's code.
RINGTCP_FUZZ_SEEDS="$PWD/fuzz/corpus" cargo test --quiet --test fuzz_harness seed_corpora

cargo fuzz build --sanitizer "$sanitizer"

mkdir -p fuzz/logs
failed=()
summary=()
for t in "${targets[@]}"; do
  log="fuzz/logs/$t.log"
  echo "fuzz: $t for ${seconds}s (log: $log)"
  # -timeout: an input that runs this long is a hang, reported as a crash.
  if cargo fuzz run --sanitizer "$sanitizer" "$t" "fuzz/corpus/$t" -- \
      -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    summary+=("$t: ${runs:-?} runs, ${rate:-?} exec/s, no crash")
  else
    failed+=("$t")
    summary+=("$t: FAILED")
    echo "fuzz: $t FAILED; the end of its log:" >&2
    tail -n 40 "$log" >&2
    grep -Eo 'fuzz/artifacts/[^ /]+/(crash|timeout|oom|leak)-[0-9a-f]+' "$log" | sort -u |
      while read -r a; do
        echo "fuzz: crashing input: $a" >&2
        echo "fuzz: reproduce with: RUSTC_BOOTSTRAP=1 cargo fuzz run -s $sanitizer $t $a" >&2
      done
  fi
done

printf 'fuzz: %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
  exit 1
fi
