#!/usr/bin/env bash
# `make bench-sweep`: the whole job a user compares. The demo's study
# (examples/fashion-mnist.json: conditional space, median pruner, 3 epochs,
# Fashion-MNIST with the last 10,000 training images for validation) run by
# hpsearch (daemon, --jobs 2) and the same study in Optuna 5 + PyTorch
# (bench/sweep_optuna.py: define-by-run, 2 worker processes on one SQLite
# study), one after the other in one run; then wall time to N trials, best
# validation accuracy and its trial's test accuracy, and the best so far
# against time for both.
# usage: bench/sweep.sh [BUILD_DIR]   (env: SWEEP_TRIALS=N, default the
#        example's n_trials; SWEEP_SEED=S, both samplers' seed, default the
#        example's; HP_OPTUNA5 = the folder holding Optuna 5's optuna/;
#        SWEEP_OUT=DIR keeps the spec, both sides' trials (hp.json,
#        optuna.json: with each Optuna trial's seconds) and the daemon's log
#        there, e.g. for bench/sweep_trials.py; OPENBLAS_CORETYPE: see below)
set -euo pipefail
B=${1:-build}
cd "$(dirname "$0")/.."
py=/usr/bin/python3
o5=${HP_OPTUNA5:-../shared/vendor/optuna-5.0.0.dev}
[ -f "$o5/optuna/__init__.py" ] || { echo "bench/sweep.sh: Optuna 5 is not at $o5 (set HP_OPTUNA5)" >&2; exit 2; }
"$py" -c 'import torch' 2>/dev/null || { echo "bench/sweep.sh: PyTorch is missing (scripts/install-deps --bench)" >&2; exit 2; }
make -j2 --no-print-directory "$B/hpsearch" >/dev/null
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hpsearch-sweep.XXXXXX")
cp "$B/hpsearch" "$tmp/hpsearch"   # a rebuild during the run must not change it
bin=$tmp/hpsearch
dpid=""
cleanup() {
  if [ -n "$dpid" ]; then kill "$dpid" 2>/dev/null || true; wait "$dpid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
n=${SWEEP_TRIALS:-$("$py" -c 'import json; print(json.load(open("examples/fashion-mnist.json"))["n_trials"])')}
"$py" - "$n" "${SWEEP_SEED:-}" >"$tmp/spec.json" <<'PY'
import json, sys
s = json.load(open("examples/fashion-mnist.json"))
s["name"] = "sweep"
s["n_trials"] = int(sys.argv[1])
if sys.argv[2]:
    s["sampler"]["seed"] = int(sys.argv[2])
json.dump(s, sys.stdout)
PY
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load: $(cut -d' ' -f1-3 /proc/loadavg)"
# OPENBLAS_CORETYPE, when set, wins for both sides (both use OpenBLAS; with
# it hpsearch's fp32 products also leave oneDNN for OpenBLAS, docs/engine.md
# "Which library runs which product"): a user's machine usually has it
# unset, so say which it was.
if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
  echo "== BLAS: OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE is set and wins for both sides (unset it for each library's own choice)"
else
  echo "== BLAS: each library's own choice (OPENBLAS_CORETYPE unset)"
fi

echo "== hpsearch: $n trials, 2 workers"
sock=$tmp/run/d.sock
"$bin" daemon --db "$tmp/hp.db" --socket "$sock" --jobs 2 2>"$tmp/daemon.log" &
dpid=$!
for _ in $(seq 200); do "$bin" status --socket "$sock" >/dev/null 2>&1 && break; sleep 0.05; done
t0=$(date +%s.%N)
"$bin" submit "$tmp/spec.json" --wait --socket "$sock" >/dev/null
hp_wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')
# CPU seconds of the daemon and its finished workers (utime, stime, cutime,
# cstime of /proc/PID/stat): on a shared machine the robust comparison.
hp_cpu=$(awk -v hz="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); printf "%.2f", ($12 + $13 + $14 + $15) / hz}' "/proc/$dpid/stat")
"$bin" trials sweep --json --socket "$sock" >"$tmp/hp.json"
"$bin" shutdown --socket "$sock" >/dev/null
wait "$dpid" 2>/dev/null || true
dpid=""
echo "   took ${hp_wall} s (${hp_cpu} CPU s); load: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== Optuna 5 + PyTorch: $n trials, 2 worker processes"
OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 PYTHONPATH="$o5" \
  "$py" bench/sweep_optuna.py run "$tmp/optuna.db" "$n" 2 "$tmp/spec.json" >"$tmp/optuna.json"
echo "   took $("$py" -c 'import json,sys; print("%.2f" % json.load(open(sys.argv[1]))["wall"])' "$tmp/optuna.json") s; load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$py" bench/sweep_optuna.py report "$tmp/hp.json" "$hp_wall" "$hp_cpu" "$tmp/optuna.json"
if [ -n "${SWEEP_OUT:-}" ]; then
  mkdir -p "$SWEEP_OUT"
  cp "$tmp/spec.json" "$tmp/hp.json" "$tmp/optuna.json" "$tmp/daemon.log" "$SWEEP_OUT/"
fi
