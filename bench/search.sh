#!/bin/sh
# `make bench-search`: hpsearch's samplers and Optuna 3.1 side by side, then
# the GP benchmark against Optuna 5 (../shared/vendor) when it is there.
# hpsearch's defaults against Optuna 5's default TPE (the vendored copy,
# $HP_OPTUNA5 or ../shared/vendor/optuna-5.0.0.dev) on the same functions
# and a conditional benchmark against Optuna 5's TPE with group=True.
# Builds nothing itself (the Makefile builds BUILD/bench_search first).
# usage: bench/search.sh BUILD_DIR   (env: SEEDS=20 JOBS=2 OPTUNA_TRIALS=1010;
#        GP_SEEDS=20; GP_ONLY=1 skips the TPE part; OPTUNA5_CACHE=FILE keeps
#        Optuna 5's results between runs, see bench/search_gp.py)
set -eu
build=${1:-build}
bin="$build/bench_search"
[ -x "$bin" ] || { echo "bench/search.sh: $bin not built (run make bench-search)" >&2; exit 2; }
py=/usr/bin/python3
"$py" -c 'import optuna' 2>/dev/null || { echo "bench/search.sh: python3-optuna is not installed" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
seeds=${SEEDS:-20}
here=$(dirname "$0")
if [ -z "${GP_ONLY:-}" ]; then
echo "== hpsearch: TPE speed (to 10,010 trials, univariate and multivariate)"
"$bin" speed 10010 | tee "$tmp/speed.tsv"
echo "== hpsearch: quality, $seeds seeds x 100 trials x 4 functions x 4 samplers"
start=$(date +%s.%N)
"$bin" quality "$seeds" > "$tmp/quality.tsv"
awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "   (took %.1f s)\n", e-s}'
echo "== Optuna $("$py" -c 'import optuna; print(optuna.__version__)' 2>/dev/null): same runs (takes a few minutes)"
"$py" "$(dirname "$0")/search_optuna.py" --hp-speed "$tmp/speed.tsv" --hp-quality "$tmp/quality.tsv" \
  --seeds "$seeds" --jobs "${JOBS:-2}" --optuna-trials "${OPTUNA_TRIALS:-1010}"
o5=${HP_OPTUNA5:-$(dirname "$0")/../../shared/vendor/optuna-5.0.0.dev}
if [ -f "$o5/optuna/__init__.py" ]; then
  echo
  echo "== hpsearch: default TPE and the conditional benchmark, $seeds seeds"
  "$bin" quality "$seeds" 0 default > "$tmp/q5.tsv"
  cat "$tmp/quality.tsv" >> "$tmp/q5.tsv"
  "$bin" cond "$seeds" 0 tpe,tpe-mv-flat,default >> "$tmp/q5.tsv"
  echo "== Optuna 5 ($o5): default TPE and TPE group=True (takes a few minutes)"
  PYTHONPATH="$o5" "$py" "$(dirname "$0")/search_optuna.py" --o5 --hp-quality "$tmp/q5.tsv" \
    --seeds "$seeds" --jobs "${JOBS:-2}"
else
  echo "bench/search.sh: the vendored Optuna 5 is not at $o5 (set HP_OPTUNA5): its part is skipped" >&2
fi
fi


gp_seeds=${GP_SEEDS:-20}
echo "== hpsearch: GP benchmark, $gp_seeds seeds x 100 trials x 6 functions (gp, auto, tpe, tpe-mv)"
"$bin" gp "$gp_seeds" > "$tmp/gp.tsv"
"$bin" asktime 100,250,500 > "$tmp/ask.tsv"
vendor=$(cd "$here/../.." && pwd)/shared/vendor/optuna-5.0.0.dev
if [ ! -d "$vendor" ]; then
  echo "bench/search.sh: $vendor is absent: skipping the comparison with Optuna 5's GPSampler"
  cat "$tmp/gp.tsv" "$tmp/ask.tsv"
  exit 0
fi
echo "== Optuna 5 ($vendor): GPSampler and TPESampler on the same functions (takes long: ~10 CPU s per GP study)"
PYTHONPATH="$vendor" "$py" "$here/search_gp.py" --hp "$tmp/gp.tsv" --hp-ask "$tmp/ask.tsv" \
  --seeds "$gp_seeds" --jobs "${JOBS:-2}" ${OPTUNA5_CACHE:+--optuna-cache "$OPTUNA5_CACHE"}
