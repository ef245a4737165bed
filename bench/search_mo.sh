#!/bin/sh
# `make bench-search`, several objectives and constraints: hpsearch's
# multi-objective TPE and NSGA-II (and random) against Optuna 5's default
# sampler for several objectives (TPE) and its NSGA-II; constrained TPE
# against Optuna 5's on Branin in a disk; C2-DTLZ2 (several objectives and a
# constraint) against Optuna 5's constrained TPE and NSGA-II; ask+tell time at
# 1,000 trials (docs/search.md).
# usage: bench/search_mo.sh BUILD_DIR
#   env: SEEDS=20 (hpsearch and Optuna's NSGA-II), TPE_SEEDS=5 and
#        TPE_TRIALS=200 (Optuna's TPE takes about a second per trial at a few
#        hundred trials of ZDT: 1,000 trials x 20 seeds would take days),
#        TRIALS=1000, JOBS=2, OPTUNA5=../shared/vendor/optuna-5.0.0.dev
set -eu
build=${1:-build}
bin="$build/bench_search_mo"
[ -x "$bin" ] || { echo "bench/search_mo.sh: $bin not built (run make bench-search)" >&2; exit 2; }
o5=${OPTUNA5:-$(dirname "$0")/../../shared/vendor/optuna-5.0.0.dev}
[ -f "$o5/optuna/__init__.py" ] || { echo "bench/search_mo.sh: Optuna 5 is not at $o5 (set OPTUNA5)" >&2; exit 2; }
seeds=${SEEDS:-20}
trials=${TRIALS:-1000}
jobs=${JOBS:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "== hpsearch: several objectives, $seeds seeds x $trials trials x 5 problems x tpe/nsga2/random; constrained Branin"
start=$(date +%s.%N)
for p in zdt1 zdt2 zdt3 dtlz2 wfg4; do
  for s in tpe nsga2 random; do
    nice "$bin" quality "$s" "$p" 0 "$seeds" "$trials" >> "$tmp/hp.tsv" &
    [ "$jobs" -le 1 ] && wait
    if [ "$(jobs -p | wc -l)" -ge "$jobs" ]; then wait; fi
  done
done
wait
for s in tpe nsga2 random; do
  nice "$bin" c2dtlz2 "$s" 0 "$seeds" "$trials" >> "$tmp/hp.tsv"
done
"$bin" constrained 0 "$seeds" 100 >> "$tmp/hp.tsv"
"$bin" speed 1000 >> "$tmp/hp.tsv"
awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "   (took %.1f s)\n", e-s}'
awk '$1=="mo" && $3=="random" {n[$2]++; a[$2]+=$6} END {for (p in n) printf "   random search, mean hypervolume after %s trials: %s %.4f\n", "'"$trials"'", p, a[p]/n[p]}' "$tmp/hp.tsv"
echo "== Optuna $(PYTHONPATH="$o5" /usr/bin/python3 -c 'import optuna; print(optuna.__version__)'): same problems (takes a while)"
PYTHONPATH="$o5" /usr/bin/python3 "$(dirname "$0")/search_mo_optuna.py" --hp "$tmp/hp.tsv" \
  --seeds "$seeds" --tpe-seeds "${TPE_SEEDS:-5}" --tpe-trials "${TPE_TRIALS:-200}" \
  --nsga2-trials "$trials" --con-seeds "$seeds" --jobs "$jobs"
