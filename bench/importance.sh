#!/bin/sh
# `make bench-importance`: parameter importance of hpsearch and of the
# vendored Optuna 5 on the same studies (10 parameters; 1,000 and 10,000
# trials), in one run. Builds nothing itself (the Makefile builds
# BUILD/bench_importance first).
# usage: bench/importance.sh BUILD_DIR  (env: HP_OPTUNA5, REPEATS=5,
#        OPTUNA_FANOVA_TRIALS=1000: Optuna's fANOVA is timed on this study
#        only, since at 10,000 trials it takes many minutes)
set -eu
build=${1:-build}
bin="$build/bench_importance"
[ -x "$bin" ] || { echo "bench/importance.sh: $bin not built (run make bench-importance)" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
o5=${HP_OPTUNA5:-$here/../../shared/vendor/optuna-5.0.0.dev}
[ -f "$o5/optuna/__init__.py" ] || { echo "bench/importance.sh: the vendored Optuna 5 is not at $o5 (set HP_OPTUNA5)" >&2; exit 2; }
py=/usr/bin/python3
reps=${REPEATS:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
db="$tmp/imp.db"
"$bin" make "$db" imp-1k 1000
"$bin" make "$db" imp-10k 10000
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "== hpsearch (median of $reps; total = read the trials + rank + JSON, as 'hpsearch importance --db')"
printf '%-10s %-10s %8s %10s %10s %10s %10s\n' study evaluator trials total_ms cpu_ms read_ms rank_ms
for s in imp-1k imp-10k; do
  for e in ped-anova fanova; do
    "$bin" time "$db" "$s" "$e" "$reps" > "$tmp/$s-$e.out"
    head -1 "$tmp/$s-$e.out" | awk -v s="$s" '{printf "%-10s %-10s %8s %10s %10s %10s %10s\n", s, $2, $3, $4, $7, $5, $6}'
    tail -1 "$tmp/$s-$e.out" > "$tmp/$s-$e.json"
  done
done
echo "== Optuna $(PYTHONPATH="$o5" "$py" -c 'import optuna; print(optuna.__version__)') (get_param_importances: load the study + rank)"
PYTHONPATH="$o5" "$py" "$here/../tests/view/optuna_importance.py" "$db" --only=ped-anova imp-1k imp-10k > "$tmp/o5-ped.json"
PYTHONPATH="$o5" "$py" "$here/../tests/view/optuna_importance.py" "$db" --only=fanova "imp-${OPTUNA_FANOVA_TRIALS:-1000}" 2>/dev/null > "$tmp/o5-fanova.json" ||
  PYTHONPATH="$o5" "$py" "$here/../tests/view/optuna_importance.py" "$db" --only=fanova imp-1k > "$tmp/o5-fanova.json"
"$py" - "$tmp" <<'PY'
import json, sys, os
tmp = sys.argv[1]
def spearman(a, b):
    def ranks(v):
        return [sum(x < y for x in v) + (sum(x == y for x in v) + 1) / 2 for y in v]
    ra, rb = ranks(a), ranks(b)
    n = len(a); ma = sum(ra) / n; mb = sum(rb) / n
    sab = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    saa = sum((x - ma) ** 2 for x in ra); sbb = sum((y - mb) ** 2 for y in rb)
    return sab / (saa * sbb) ** 0.5 if saa and sbb else 1.0
hp = {}
for f in os.listdir(tmp):
    if f.endswith(".out"):
        lines = open(os.path.join(tmp, f)).read().splitlines()
        t = lines[0].split()
        j = json.loads(lines[1])
        hp[(j["study"], t[1])] = (float(t[3]), float(t[5]), {e["param"]: e["importance"] for e in j["importances"]})
print("%-10s %-10s %12s %14s %10s %10s" % ("study", "evaluator", "optuna_ms", "hpsearch_ms", "speedup", "spearman"))
for fn in ("o5-ped.json", "o5-fanova.json"):
    o = json.load(open(os.path.join(tmp, fn)))
    for study, res in sorted(o["studies"].items()):
        for ev in ("ped-anova", "fanova"):
            if ev not in res:
                continue
            ms = res["seconds"][ev] * 1e3
            tot, rank, ours = hp[(study, ev)]
            names = list(res[ev])
            rho = spearman([res[ev][n] for n in names], [ours[n] for n in names])
            print("%-10s %-10s %12.1f %14.2f %9.0fx %10.3f" % (study, ev, ms, tot, ms / tot, rho))
PY
