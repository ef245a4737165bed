#!/usr/bin/env bash
# `make bench-sweep`: the whole job a user compares. The demo's study
# (examples/fashion-mnist.json: conditional space, median pruner, 3 epochs,
# Fashion-MNIST with the last 10,000 training images for validation) run by
# hpsearch (daemon, --jobs 2) and the same study in Optuna 5 + PyTorch
# (bench/sweep_optuna.py: define-by-run, 2 worker processes on one SQLite
# study), one after the other in one run; then wall time to N trials, best
# validation accuracy and its trial's test accuracy, and the best so far
# against time for both. Then the goal read with a deadline: the same
# hpsearch study again with half Optuna's measured wall time as its
# time_budget (no n_trials), its best by that deadline against Optuna's
# final best. Both readings and their verdicts are printed.
# usage: bench/sweep.sh [BUILD_DIR]   (env: SWEEP_TRIALS=N, default the
#        example's n_trials; SWEEP_SEED=S, both samplers' seed, default the
#        example's; HP_OPTUNA5 = the folder holding Optuna 5's optuna/;
#        SWEEP_OUT=DIR keeps the spec, both sides' trials (hp.json,
#        optuna.json: with each Optuna trial's seconds) and the daemon's log
#        there, e.g. for bench/sweep_trials.py; SWEEP_DEADLINE=0 skips the
#        deadline run; OPENBLAS_CORETYPE: see below)
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

# run_hp SPEC OUT: the study of SPEC in a fresh daemon (--jobs 2) on a fresh
# database until it finishes; its trials to OUT; sets hp_wall (seconds from
# just before the submit to the study's end), hp_cpu (the daemon's and its
# finished workers' CPU seconds: utime, stime, cutime, cstime of
# /proc/PID/stat, on a shared machine the robust comparison) and hp_t0 (the
# epoch second just before the submit).
run_hp() {
  local spec=$1 out=$2 db sock
  db=$(mktemp -u "$tmp/hp.XXXXXX.db")
  sock=$tmp/run/d.sock
  "$bin" daemon --db "$db" --socket "$sock" --jobs 2 2>>"$tmp/daemon.log" &
  dpid=$!
  for _ in $(seq 200); do "$bin" status --socket "$sock" >/dev/null 2>&1 && break; sleep 0.05; done
  hp_t0=$(date +%s.%N)
  "$bin" submit "$spec" --wait --socket "$sock" >/dev/null
  hp_wall=$(awk -v a="$hp_t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')
  hp_cpu=$(awk -v hz="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); printf "%.2f", ($12 + $13 + $14 + $15) / hz}' "/proc/$dpid/stat")
  "$bin" trials "$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["name"])' "$spec")" \
    --json --socket "$sock" >"$out"
  "$bin" shutdown --socket "$sock" >/dev/null
  wait "$dpid" 2>/dev/null || true
  dpid=""
}

echo "== hpsearch: $n trials, 2 workers"
run_hp "$tmp/spec.json" "$tmp/hp.json"
echo "   took ${hp_wall} s (${hp_cpu} CPU s); load: $(cut -d' ' -f1-3 /proc/loadavg)"
eq_wall=$hp_wall eq_cpu=$hp_cpu

echo "== Optuna 5 + PyTorch: $n trials, 2 worker processes"
OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 PYTHONPATH="$o5" \
  "$py" bench/sweep_optuna.py run "$tmp/optuna.db" "$n" 2 "$tmp/spec.json" >"$tmp/optuna.json"
echo "   took $("$py" -c 'import json,sys; print("%.2f" % json.load(open(sys.argv[1]))["wall"])' "$tmp/optuna.json") s; load: $(cut -d' ' -f1-3 /proc/loadavg)"

# The goal read with a deadline: the same study in hpsearch given half
# Optuna's measured wall time as its time budget (the spec's time_budget,
# no n_trials: no new trial starts once the budget is spent, running trials
# finish), a fresh daemon and database. SWEEP_DEADLINE=0 skips it.
deadline=""
if [ "${SWEEP_DEADLINE:-1}" != 0 ]; then
  deadline=$("$py" -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["wall"] / 2))' "$tmp/optuna.json")
  "$py" - "$tmp/spec.json" "$deadline" >"$tmp/spec-deadline.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["name"] = "sweep-deadline"
del s["n_trials"]
s["time_budget"] = float(sys.argv[2])
json.dump(s, sys.stdout)
PY
  echo "== hpsearch: time_budget ${deadline} s (half Optuna's wall time), no n_trials, 2 workers"
  run_hp "$tmp/spec-deadline.json" "$tmp/hp-deadline.json"
  echo "   took ${hp_wall} s (${hp_cpu} CPU s); load: $(cut -d' ' -f1-3 /proc/loadavg)"
fi
"$py" bench/sweep_optuna.py report "$tmp/hp.json" "$eq_wall" "$eq_cpu" "$tmp/optuna.json" \
  ${deadline:+"$tmp/hp-deadline.json" "$hp_wall" "$hp_cpu" "$hp_t0" "$deadline"}
if [ -n "${SWEEP_OUT:-}" ]; then
  mkdir -p "$SWEEP_OUT"
  cp "$tmp"/spec*.json "$tmp"/hp*.json "$tmp/optuna.json" "$tmp/daemon.log" "$SWEEP_OUT/"
fi
