#!/bin/sh
# `make bench-dashboard`: the dashboard on a 100,000-trial study beside
# Debian's Optuna reading the same trials (bench/dashboard.js prints the
# numbers with their targets). Builds nothing itself.
# usage: bench/dashboard.sh BUILD_DIR   (env: TRIALS=100000; ANCHOR=0 skips Optuna, which
# takes minutes on 100,000 trials)
set -eu
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
[ -x "$build/bench_dashboard_gen" ] || { echo "bench/dashboard.sh: $build/bench_dashboard_gen not built (run make bench-dashboard)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=${TRIALS:-100000}
echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== writing a study of $n trials (6 parameters, 5 epochs each)"
start=$(date +%s.%N)
"$build/bench_dashboard_gen" "$tmp/big.db" "$n" big
awk -v s="$start" -v e="$(date +%s.%N)" -v f="$(du -m "$tmp/big.db" | cut -f1)" 'BEGIN{printf "   (%.1f s, %d MB)\n", e-s, f}'
HP_BUILD_DIR="$build" node "$here/dashboard.js" "$tmp/big.db" big
echo "== machine load after: $(cut -d' ' -f1-3 /proc/loadavg)"
