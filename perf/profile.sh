#!/usr/bin/env bash
# Record a CPU profile of one benchmark run and render it as a flame graph.
#
#   perf/profile.sh [ringtcp|smoltcp] MODE [SECONDS [FLAG...]]
#
# MODE is download, upload, pingpong or connect; SECONDS defaults to 5;
# FLAGs go to the program (e.g. --no-offloads) and name the output. The
# program runs in its own lab namespace against the kernel peer, exactly as
# `compare` runs it, under `perf record -g`; the whole process is sampled
# (the stack's thread and the in-process kernel peer's threads), with kernel
# stacks. Output:
#
#   perf/results/flamegraph-MODE.svg            (ringtcp)
#   perf/results/flamegraph-MODE-no-offloads.svg (ringtcp --no-offloads)
#   perf/results/flamegraph-smoltcp-MODE.svg    (smoltcp)
#   perf/results/perf-TOOL-MODE.data            (the raw samples, not committed)
#
# Environment:
#   CALLGRAPH=dwarf (default) unwinds user stacks from DWARF: the release
#             builds have no frame pointers. CALLGRAPH=fp uses frame pointers
#             only (cheaper, good kernel stacks, truncated Rust stacks).
#   FREQ=499  sampling frequency, Hz.
#
# Installs what is missing: linux-perf (apt-get) and inferno's
# inferno-collapse-perf / inferno-flamegraph (cargo install into perf/.tools).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
results=$here/results
tools=$here/.tools

usage() {
    echo "usage: $0 [ringtcp|smoltcp] download|upload|pingpong|connect [SECONDS]" >&2
    exit 2
}

tool=ringtcp
case "${1:-}" in
    ringtcp | smoltcp) tool=$1; shift ;;
esac
mode=${1:-}
secs=${2:-5}
shift 2 2>/dev/null || shift $#
extra=("$@")
suffix=""
for f in "${extra[@]}"; do
    suffix+="-$(printf '%s' "$f" | tr -c 'A-Za-z0-9' '-' | sed 's/^-*//; s/-*$//')"
done
case "$mode" in
    download | upload | pingpong | connect) ;;
    *) usage ;;
esac
[[ "$secs" =~ ^[0-9]+(\.[0-9]+)?$ ]] || usage

if ! perf --version >/dev/null 2>&1; then
    echo "profile.sh: installing linux-perf" >&2
    apt-get update -qq
    apt-get install -y -qq linux-perf
fi
if [[ ! -x "$tools/bin/inferno-flamegraph" || ! -x "$tools/bin/inferno-collapse-perf" ]]; then
    echo "profile.sh: installing inferno into $tools" >&2
    cargo install inferno --locked --root "$tools"
fi

case "$tool" in
    ringtcp)
        (cd "$root" && cargo build --release --example bench)
        bin=${CARGO_TARGET_DIR:-$root/target}/release/examples/bench
        args=(--lab --seconds "$secs" "${extra[@]}" "$mode")
        svg=$results/flamegraph-$mode$suffix.svg
        ;;
    smoltcp)
        cargo build --release --manifest-path "$here/Cargo.toml" --bin smol-bench
        bin=${CARGO_TARGET_DIR:-$here/target}/release/smol-bench
        args=(--seconds "$secs" "${extra[@]}" "$mode")
        svg=$results/flamegraph-smoltcp-$mode$suffix.svg
        ;;
esac

mkdir -p "$results"
data=$results/perf-$tool-$mode$suffix.data
case "${CALLGRAPH:-dwarf}" in
    dwarf) callgraph=(--call-graph dwarf,16384) ;;
    fp) callgraph=(--call-graph fp) ;;
    *) echo "profile.sh: CALLGRAPH must be dwarf or fp" >&2; exit 2 ;;
esac

echo "profile.sh: perf record -g ${callgraph[*]} -F ${FREQ:-499} -- $bin ${args[*]}" >&2
perf record -g "${callgraph[@]}" -F "${FREQ:-499}" -o "$data" -- "$bin" "${args[@]}"

echo "profile.sh: rendering $svg" >&2
# --no-inline: resolving inlined frames through addr2line takes minutes on
# a fat-LTO binary; function-level frames are enough for a flame graph.
no_inline=()
if perf script -h 2>&1 | grep -q -- '--no-inline\|--inline'; then
    no_inline=(--no-inline)
fi
tmp=$(mktemp "$results/.collapsed.XXXXXX")
trap 'rm -f "$tmp"' EXIT
perf script "${no_inline[@]}" -i "$data" 2>/dev/null | "$tools/bin/inferno-collapse-perf" >"$tmp"
"$tools/bin/inferno-flamegraph" --title "$tool $mode${extra[*]:+ ${extra[*]}} (${secs} s, perf -F ${FREQ:-499}, ${CALLGRAPH:-dwarf})" \
    <"$tmp" >"$svg"
echo "profile.sh: wrote $svg ($(wc -l <"$tmp") distinct stacks; raw samples in $data)" >&2
