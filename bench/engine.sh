#!/usr/bin/env bash
# Engine benchmark: the MLP (784-512-256-10 ReLU, Kaiming, Adam, batch 128)
# and the small CNN of examples/train-{mlp,cnn}.json trained on this machine
# by PyTorch (Debian python3-torch) and by `hpsearch train`, in fp32 and in
# bf16, side by side:
#   pytorch fp32   one thread: torch.set_num_threads(1) AND
#                  OPENBLAS_NUM_THREADS=1 (set_num_threads does not limit
#                  PyTorch's OpenBLAS, which otherwise runs two threads),
#                  the same OpenBLAS kernel hpsearch runs
#   pytorch bf16   the same under torch.autocast("cpu", torch.bfloat16)
#   hpsearch fp32  "precision": "fp32" (default)
#   hpsearch bf16  "precision": "bf16" (oneDNN bf16 products)
# The four run in alternating order, once per seed (so a change of the
# machine's load hits all of them), and the table gives medians and spreads
# (min-max) of samples/s and CPU seconds, test accuracy per seed, the ratios
# the issue sets goals for, and the load average (uptime) around every run.
# First the products probe (bench/engine_sgemm.c: the MLP step's products
# as the engine issues them, OpenBLAS vs oneDNN fp32 vs oneDNN bf16), and
# the step probe (bench/engine_step.c: the whole training step of the MLP
# and of the CNN, phase by phase, fp32 vs bf16 in alternating rounds in one
# process, thread CPU time).
# OPENBLAS_CORETYPE, when set, wins for hpsearch and PyTorch alike (on the
# Zen 4 machine of docs/engine.md, "Haswell" runs the MLP's fp32 products
# ~1.6x slower than the Cooperlake kernel OpenBLAS picks by itself): unset
# it to measure the library's own choice.
#
# usage: bench/engine.sh BUILD_DIR      (make bench-engine calls it with build)
# env:   BENCH_SEEDS (default "1 2 3": MLP rounds), BENCH_CNN_SEEDS (default
#        "1"), BENCH_MLP_EPOCHS (5), BENCH_CNN_EPOCHS (2), BENCH_SKIP_CNN=1,
#        BENCH_PROBE_SECONDS (0.25 per round), BENCH_PROBE_ROUNDS (9),
#        BENCH_STEP_STEPS (40 MLP steps per round), BENCH_STEP_STEPS_CNN (10),
#        BENCH_STEP_ROUNDS (15)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
MLP_EPOCHS=${BENCH_MLP_EPOCHS:-5}
CNN_EPOCHS=${BENCH_CNN_EPOCHS:-2}
SEEDS=${BENCH_SEEDS:-1 2 3}
CNN_SEEDS=${BENCH_CNN_SEEDS:-1}
PY=/usr/bin/python3 # Debian's python, where python3-torch lives (not a pyenv shim)
out="$B/bench-engine"
mkdir -p "$out"

if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
  echo "bench/engine.sh: PyTorch not found; run scripts/install-deps --bench" >&2
  exit 2
fi
make -s B="$B" "$B/hpsearch" "$B/bench_engine_sgemm" "$B/bench_engine_step" >&2
[ -z "${OPENBLAS_CORETYPE:-}" ] || echo "bench/engine.sh: OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE is set and wins" >&2
load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "load average before: $(load) on $(nproc) cores" >&2

# 1. the products probe, with the kernel hpsearch picks
probe=$("$B/bench_engine_sgemm" "${BENCH_PROBE_SECONDS:-0.25}" "${BENCH_PROBE_ROUNDS:-9}")
echo "$probe load=\"$(load)\"" >"$out/probe.txt"
core=$(sed -n 's/.*core=\([^ ]*\).*/\1/p' <<<"$probe")
# the step probe: MLP, then CNN (fewer steps per round: a CNN step is ~4x
# longer)
{
  echo "load before: $(load)"
  "$B/bench_engine_step" examples/train-mlp.json "${BENCH_STEP_STEPS:-40}" "${BENCH_STEP_ROUNDS:-15}"
  [ "${BENCH_SKIP_CNN:-0}" = 1 ] ||
    "$B/bench_engine_step" examples/train-cnn.json "${BENCH_STEP_STEPS_CNN:-10}" "${BENCH_STEP_ROUNDS:-15}"
  echo "load after: $(load)"
} >"$out/step.txt"

# 2. training runs. PyTorch's CPU BLAS is the same Debian OpenBLAS; it reads
#    OPENBLAS_CORETYPE at load time: give it the core hpsearch runs (a user's
#    own setting wins). Its convolutions and bf16 products go through its own
#    oneDNN (MKL-DNN).
torch_core=${OPENBLAS_CORETYPE:-$core}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
TIME=/usr/bin/time
[ -x "$TIME" ] || TIME=""
# Each run: stdout JSON to NAME.json, progress to NAME.log, CPU seconds
# (user+sys of the whole process) to NAME.cpu, load averages to NAME.load.
timed() {
  local name=$1 rc=0; shift
  echo "$(load)" >"$out/$name.load"
  if [ -n "$TIME" ]; then
    "$TIME" -o "$out/$name.cpu" -f '%U %S' "$@" >"$out/$name.json" 2>"$out/$name.log" || rc=$?
  else
    "$@" >"$out/$name.json" 2>"$out/$name.log" || rc=$?
  fi
  echo "$(load)" >>"$out/$name.load"
  tail -n 1 "$out/$name.log" >&2
  [ $rc -eq 0 ] || echo "bench/engine.sh: $name failed (exit $rc)" >&2
}
batch_of() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("batch_size", 128))' "$1"; }
MLP_BATCH=$(batch_of examples/train-mlp.json)
CNN_BATCH=$(batch_of examples/train-cnn.json)

# run MODEL KIND PRECISION SEED EPOCHS
run() {
  local model=$1 kind=$2 prec=$3 seed=$4 epochs=$5 batch
  [ "$model" = mlp ] && batch=$MLP_BATCH || batch=$CNN_BATCH
  local name="$model-$kind-$prec-s$seed"
  echo "[$(date +%H:%M:%S) load $(load)] $name" >&2
  if [ "$kind" = torch ]; then
    OPENBLAS_CORETYPE="$torch_core" timed "$name" "$PY" bench/engine_torch.py "$model" "$epochs" \
      adam "$batch" "$seed" "$prec"
  else
    timed "$name" "$B/hpsearch" train "examples/train-$model.json" --set "epochs=$epochs" \
      --set "seed=$seed" --set "precision=$prec"
  fi
}

rm -f "$out"/*.json "$out"/*.cpu "$out"/*.log "$out"/*.load
round=0
for seed in $SEEDS; do
  # rotate the order every round
  runs=("torch fp32" "torch bf16" "hpsearch fp32" "hpsearch bf16")
  for k in 0 1 2 3; do
    r=${runs[$(((k + round) % 4))]}
    run mlp ${r% *} ${r#* } "$seed" "$MLP_EPOCHS"
  done
  round=$((round + 1))
done
if [ "${BENCH_SKIP_CNN:-0}" != 1 ]; then
  for seed in $CNN_SEEDS; do
    for r in "hpsearch fp32" "torch fp32" "hpsearch bf16" "torch bf16"; do
      run cnn ${r% *} ${r#* } "$seed" "$CNN_EPOCHS"
    done
  done
fi
echo "load average after: $(load)" >&2

# 3. the table
"$PY" - "$out" "$MLP_EPOCHS" "$CNN_EPOCHS" <<'EOF'
import glob, json, os, re, statistics, sys
out = sys.argv[1]
probe = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', open(os.path.join(out, "probe.txt")).read()))
probe = {k: v.strip('"') for k, v in probe.items()}
def f(k):
    return float(probe[k]) if k in probe else float("nan")
print(f"engine benchmark, one thread each (PyTorch: torch.set_num_threads(1) and "
      f"OPENBLAS_NUM_THREADS=1), FTZ; OpenBLAS core {probe['core']} ({probe['origin']}); "
      f"oneDNN {probe['onednn']}; hpsearch fp32 products by {probe['fp32_backend']} ({probe['why']})")
print(f"products probe (MLP step as the engine issues them, {probe['rounds']} alternating rounds, "
      f"load {probe['load']}): median ms/step [min-max]")
for m in ("openblas", "onednn", "bf16"):
    if m + "_ms" in probe:
        print(f"  {m:9} {f(m + '_ms'):7.3f} [{f(m + '_ms_min'):.3f}-{f(m + '_ms_max'):.3f}]  "
              f"{f(m + '_gflops'):6.1f} GFLOP/s  limit {f(m + '_limit'):8,.0f} samples/s   "
              f"(CPU time: {f(m + '_cpu_ms'):.3f} ms, limit {f(m + '_limit_cpu'):,.0f})")
if "bf16_conv_ms" in probe:
    print(f"  rounding the step's operands to bf16: {f('bf16_conv_ms'):.3f} ms/step; "
          f"impl f32 {probe.get('impl_f32')}, bf16 {probe.get('impl_bf16')}")
runs = {}
for p in glob.glob(os.path.join(out, "*.json")):
    name = os.path.basename(p)[:-5]
    try:
        r = json.load(open(p))
    except ValueError:
        continue
    model, kind, prec, seed = name.split("-")
    try:
        cpu = sum(float(v) for v in open(os.path.join(out, name + ".cpu")).read().split()[-2:])
    except (OSError, ValueError):
        cpu = float("nan")
    try:
        ld = [l.split()[0] for l in open(os.path.join(out, name + ".load"))]
    except OSError:
        ld = ["?", "?"]
    runs.setdefault((model, kind, prec), []).append(
        (int(seed[1:]), r["samples_per_sec"], cpu, r.get("test_accuracy", float("nan")), ld,
         r.get("cpu_samples_per_sec", float("nan"))))
print("samples/s: training samples per wall-clock second of the training loop; per CPU second "
      "in the next column (steadier when other jobs share the cores)")
print(f"{'model':5} {'run':14} {'samples/s median [min-max]':>30} {'per CPU s median [min-max]':>30} "
      f"{'CPU s':>6} {'test accuracy per seed':>30}  load (1-min avg, before/after each run)")
med, medc = {}, {}
for model in ("mlp", "cnn"):
    for kind in ("torch", "hpsearch"):
        for prec in ("fp32", "bf16"):
            rs = sorted(runs.get((model, kind, prec), []))
            if not rs:
                continue
            sps = [r[1] for r in rs]
            cps = [r[5] for r in rs]
            med[(model, kind, prec)] = statistics.median(sps)
            medc[(model, kind, prec)] = statistics.median(cps)
            accs = " ".join(f"s{r[0]}:{r[3]:.4f}" for r in rs)
            loads = " ".join(f"{r[4][0]}/{r[4][-1]}" for r in rs)
            label = ("pytorch" if kind == "torch" else kind) + " " + prec
            w = f"{statistics.median(sps):,.0f} [{min(sps):,.0f}-{max(sps):,.0f}]"
            c = f"{statistics.median(cps):,.0f} [{min(cps):,.0f}-{max(cps):,.0f}]"
            print(f"{model:5} {label:14} {w:>30} {c:>30} {statistics.median([r[2] for r in rs]):>6.1f} "
                  f"{accs:>30}  {loads}")
def ratio(a, b, goal):
    if a in med and b in med:
        return (f"{med[a] / med[b]:.2f}x wall, {medc[a] / medc[b]:.2f}x per CPU s (goal {goal})")
    return "n/a"
for model in ("mlp", "cnn"):
    if (model, "hpsearch", "fp32") not in med:
        continue
    print(f"{model}: hpsearch fp32 / pytorch fp32 {ratio((model, 'hpsearch', 'fp32'), (model, 'torch', 'fp32'), '>= 1.5' if model == 'mlp' else '2.8')}; "
          f"hpsearch bf16 / hpsearch fp32 {ratio((model, 'hpsearch', 'bf16'), (model, 'hpsearch', 'fp32'), '>= 1.6' if model == 'mlp' else '-')}; "
          f"hpsearch bf16 / pytorch bf16 {ratio((model, 'hpsearch', 'bf16'), (model, 'torch', 'bf16'), '>= 2' if model == 'mlp' else '2.8')}")
EOF
echo
cat "$out/step.txt"
