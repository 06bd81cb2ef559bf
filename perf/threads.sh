#!/usr/bin/env bash
# How the sender and the receiver threads spend a download: share of time
# running, waiting for a CPU, and how often each goes to sleep.
#
#   perf/threads.sh [ringtcp|kernel-veth] [SECONDS [FLAG...]]
#
# ringtcp (default) runs `examples/bench --lab download` (FLAGs go to it,
# e.g. --bulk-spin 0); kernel-veth runs perf/'s kernel-bench download. Both
# have the kernel peer's sending thread (peer-5201-conn) in the same process.
# After one second of warm-up it reads /proc/PID/task/TID/schedstat and the
# context-switch counts of the sender and of the receiving thread (ringtcp's
# loop, or the kernel client's thread) twice, two seconds apart, and prints
# per-second figures: these are the ones quoted in perf/results/offloads.md.
# Needs root (a private network namespace), like the benchmarks.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")

tool=ringtcp
case "${1:-}" in
    ringtcp | kernel-veth) tool=$1; shift ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
esac
seconds=${1:-4}
shift || true
if [ "$seconds" -lt 4 ] 2>/dev/null; then
    echo "threads.sh: give at least 4 seconds (1 of warm-up, 2 measured)" >&2
    exit 2
fi

case "$tool" in
    ringtcp)
        (cd "$root" && cargo build --release --example bench -q)
        cmd=("$root/target/release/examples/bench" --lab download --seconds "$seconds" "$@")
        ;;
    kernel-veth)
        (cd "$here" && cargo build --release --bin kernel-bench -q)
        cmd=("$here/target/release/kernel-bench" download --seconds "$seconds" "$@")
        ;;
esac

out=$(mktemp)
trap 'rm -f "$out"' EXIT
"${cmd[@]}" >"$out" 2>&1 &
pid=$!

# One line per thread of interest: name, run ns, wait ns, voluntary and
# involuntary context switches.
snap() {
    local t name
    for t in /proc/"$pid"/task/*; do
        name=$(cat "$t/comm" 2>/dev/null) || continue
        case "$name" in
            peer-5201-conn) ;;
            bench | kernel-bench) [ "${t##*/}" = "$pid" ] || continue ;;
            *) continue ;;
        esac
        read -r run wait _ <"$t/schedstat"
        echo "$name $run $wait $(awk '/^voluntary_ctxt/ {v=$2} /^nonvoluntary_ctxt/ {n=$2} END {print v, n}' "$t/status")"
    done
}

sleep 1
a=$(snap)
sleep 2
b=$(snap)
wait "$pid" || { cat "$out" >&2; exit 1; }

grep -E "throughput|Gbit/s" "$out" | head -1
join <(sort <<<"$a") <(sort <<<"$b") | awk '{
    role = ($1 == "peer-5201-conn") ? "kernel sender" : "receiver (" $1 ")"
    printf "%-26s running %3.0f%%  waiting for a CPU %2.0f%%  sleeps %6.0f/s  preempted %5.0f/s\n",
        role, ($6 - $2) / 2e7, ($7 - $3) / 2e7, ($8 - $4) / 2, ($9 - $5) / 2
}'
