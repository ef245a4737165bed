#!/usr/bin/env bash
# `make bench-gp-engine`: issue 12's engine study. The demo's Fashion-MNIST
# recipe with its categoricals fixed (Adam, cosine schedule, Kaiming normal,
# no batch norm, batch 128) leaves eight numeric parameters (lr, beta1, beta2,
# warmup, width, depth, dropout, clip_norm); hpsearch's GP and TPE samplers
# each run it for N trials (3 epochs each, no pruner, two workers) with
# seeds 1..S. Printed: per seed, each sampler's best validation accuracy after
# 8, 12, 16, ... trials, and the trial at which GP first reaches TPE's final
# best (or "never"); then the medians over seeds.
# usage: bench/gp_engine.sh [BUILD_DIR]   (env: GP_ENGINE_TRIALS=N, default 24;
#        GP_ENGINE_SEEDS=S, default 3)
set -euo pipefail
B=${1:-build}
cd "$(dirname "$0")/.."
py=/usr/bin/python3
n=${GP_ENGINE_TRIALS:-24}
seeds=${GP_ENGINE_SEEDS:-3}
make -j2 --no-print-directory "$B/hpsearch" >/dev/null
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hpsearch-gpeng.XXXXXX")
cp "$B/hpsearch" "$tmp/hpsearch"   # a rebuild during the run must not change it
bin=$tmp/hpsearch
dpid=""
cleanup() {
  if [ -n "$dpid" ]; then kill "$dpid" 2>/dev/null || true; wait "$dpid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
echo "== machine: $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg); $n trials x $seeds seeds per sampler"
sock=$tmp/run/d.sock
"$bin" daemon --db "$tmp/hp.db" --socket "$sock" --jobs 2 2>"$tmp/daemon.log" &
dpid=$!
for _ in $(seq 200); do "$bin" status --socket "$sock" >/dev/null 2>&1 && break; sleep 0.05; done
for seed in $(seq "$seeds"); do
  for sampler in gp tpe; do
    "$py" - "$n" "$seed" "$sampler" >"$tmp/spec.json" <<'PY'
import json, sys
n, seed, sampler = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
s = json.load(open("examples/fashion-mnist.json"))
space = s["space"]
fixed = {"optimizer": "adam", "schedule": "cosine", "initializer": "kaiming_normal",
         "batch_norm": False, "batch_size": 128}
for k in list(space):
    if k in fixed or "when" in space[k] and not any(
            fixed.get(p) == v or isinstance(v, list) and fixed.get(p) in v
            for p, v in space[k]["when"].items()):
        del space[k]
for k in space.values():
    k.pop("when", None)
eng = json.dumps(s["objective"]["engine"])
for k, v in fixed.items():
    eng = eng.replace('"$%s"' % k, json.dumps(v))
def prune(o):  # members naming a parameter no longer in the space go
    if isinstance(o, dict):
        return {k: prune(v) for k, v in o.items()
                if not (isinstance(v, str) and v.startswith("$") and v[1:] not in space)}
    if isinstance(o, list):
        return [prune(v) for v in o]
    return o
s["objective"]["engine"] = prune(json.loads(eng))
s.update(name="%s-%d" % (sampler, seed), n_trials=n, parallelism=2,
         description="bench/gp_engine.sh: the demo's recipe with its categoricals fixed "
                     "(Adam, cosine, Kaiming normal, no batch norm, batch 128)")
s.pop("pruner", None)
s["sampler"] = {"type": sampler, "seed": seed}
if sampler == "tpe":
    s["sampler"].update(n_startup_trials=8)
json.dump(s, sys.stdout)
PY
    t0=$(date +%s.%N)
    "$bin" submit "$tmp/spec.json" --wait --socket "$sock" >/dev/null
    echo "   $sampler seed $seed: $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s; load: $(cut -d' ' -f1-3 /proc/loadavg)"
    "$bin" trials "$sampler-$seed" --json --socket "$sock" >"$tmp/$sampler-$seed.json"
  done
done
"$bin" shutdown --socket "$sock" >/dev/null
wait "$dpid" 2>/dev/null || true
dpid=""
"$py" - "$tmp" "$seeds" "$n" <<'PY'
import json, statistics, sys
tmp, seeds, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def curve(path):
    trials = sorted(json.load(open(path))["trials"], key=lambda t: t["trial"])
    best, out = float("-inf"), []
    for t in trials:
        if t["state"] == "COMPLETE" and t["value"] is not None:
            best = max(best, t["value"])
        out.append(best)
    return out
marks = list(range(8, n + 1, 4))
if not marks or marks[-1] != n:
    marks.append(n)
print("best validation accuracy after k trials (the trial that first reaches TPE's final best)")
print("%-10s %s  %s" % ("seed", "  ".join("k=%-6d" % k for k in marks), "GP reaches TPE's final"))
reach, finals = [], {"gp": [], "tpe": []}
for s in range(1, seeds + 1):
    c = {smp: curve("%s/%s-%d.json" % (tmp, smp, s)) for smp in ("gp", "tpe")}
    for smp in ("gp", "tpe"):
        finals[smp].append(c[smp][-1])
    tpe_final = c["tpe"][-1]
    r = next((i + 1 for i, v in enumerate(c["gp"]) if v >= tpe_final), None)
    reach.append(r)
    for smp in ("gp", "tpe"):
        print("%-10s %s  %s" % ("%s %d" % (smp, s), "  ".join("%.4f  " % c[smp][k - 1] for k in marks),
                                ("trial %d" % r if r else "never") if smp == "gp" else ""))
print("median final best: GP %.4f, TPE %.4f; GP reached TPE's final best in %d of %d seeds%s" % (
    statistics.median(finals["gp"]), statistics.median(finals["tpe"]),
    sum(1 for r in reach if r), seeds,
    (", at trial %s (TPE used %d)" % (", ".join(str(r) for r in reach if r), n)) if any(reach) else ""))
PY
