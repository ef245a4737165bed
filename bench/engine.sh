#!/usr/bin/env bash
# Engine benchmark: the MLP (784-512-256-10 ReLU, Kaiming, Adam 1e-3, batch
# 128) and the small CNN of examples/train-{mlp,cnn}.json, trained in one go
# on this machine by PyTorch (Debian python3-torch, one thread, FTZ, the same
# OpenBLAS kernel hpsearch uses) and by `hpsearch train`; prints samples/s,
# the hpsearch/PyTorch ratio and test accuracies, plus the MLP with
# SGD+momentum in PyTorch and the sgemm-bound limit measured by a probe.
#
# usage: bench/engine.sh BUILD_DIR      (make bench-engine calls it with build)
# env:   BENCH_MLP_EPOCHS (default 5), BENCH_CNN_EPOCHS (default 2),
#        BENCH_SKIP_CNN=1 to leave the CNN out, BENCH_PROBE_SECONDS (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
MLP_EPOCHS=${BENCH_MLP_EPOCHS:-5}
CNN_EPOCHS=${BENCH_CNN_EPOCHS:-2}
PY=/usr/bin/python3 # Debian's python, where python3-torch lives (not a pyenv shim)
out="$B/bench-engine"
mkdir -p "$out"

if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
  echo "bench/engine.sh: PyTorch not found; run scripts/install-deps --bench" >&2
  exit 2
fi
make -s B="$B" "$B/hpsearch" "$B/bench_engine_sgemm" >&2

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores" >&2

# 1. the sgemm-bound limit, with the kernel hpsearch picks (the probe runs
#    hpsearch's own kernel choice, so this is also how we learn that core)
probe=$("$B/bench_engine_sgemm" "${BENCH_PROBE_SECONDS:-2}")
echo "$probe" >"$out/probe.txt"
core=$(sed -n 's/.*core=\([^ ]*\).*/\1/p' <<<"$probe")

# 2. PyTorch: its CPU BLAS is the same Debian OpenBLAS (libblas.so.3 ->
#    openblas-pthread), which reads OPENBLAS_CORETYPE at load time; give it
#    the core hpsearch runs (a user's own setting wins; hpsearch itself is
#    left to choose on its own, as a user would run it). Convolutions go
#    through oneDNN (MKL-DNN), which picks its AVX-512 code by itself.
torch_core=${OPENBLAS_CORETYPE:-$core}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
# Each run: stdout JSON to NAME.json, progress to NAME.log (then the terminal),
# the whole process's CPU seconds (user+sys: loading, training, evaluation) to
# NAME.cpu. On a shared machine wall-clock samples/s swings with the load;
# the best epoch and the CPU seconds are steadier.
TIME=/usr/bin/time
[ -x "$TIME" ] || TIME=""
timed() {
  local name=$1 rc=0; shift
  if [ -n "$TIME" ]; then
    "$TIME" -o "$out/$name.cpu" -f '%U %S' "$@" >"$out/$name.json" 2>"$out/$name.log" || rc=$?
  else
    "$@" >"$out/$name.json" 2>"$out/$name.log" || rc=$?
  fi
  cat "$out/$name.log" >&2
  [ $rc -eq 0 ] || echo "bench/engine.sh: $name failed (exit $rc)" >&2
}
run_torch() { local name=$1; shift; OPENBLAS_CORETYPE="$torch_core" timed "$name" "$PY" bench/engine_torch.py "$@"; }
run_hp() { timed "$1" "$B/hpsearch" train "$2" --set "epochs=$3"; }

# the same batch sizes as the hpsearch examples
batch_of() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("batch_size", 128))' "$1"; }
MLP_BATCH=$(batch_of examples/train-mlp.json)
CNN_BATCH=$(batch_of examples/train-cnn.json)

rm -f "$out"/*.json "$out"/*.cpu "$out"/*.log
run_torch torch-mlp-adam mlp "$MLP_EPOCHS" adam "$MLP_BATCH"
run_torch torch-mlp-momentum mlp "$MLP_EPOCHS" momentum "$MLP_BATCH"
run_hp hpsearch-mlp examples/train-mlp.json "$MLP_EPOCHS"
if [ "${BENCH_SKIP_CNN:-0}" != 1 ]; then
  run_torch torch-cnn-adam cnn "$CNN_EPOCHS" adam "$CNN_BATCH"
  run_hp hpsearch-cnn examples/train-cnn.json "$CNN_EPOCHS"
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# 3. the table
"$PY" - "$out" <<'EOF'
import json, os, re, sys
out = sys.argv[1]
batch = {"MLP": json.load(open("examples/train-mlp.json")).get("batch_size", 128),
         "CNN": json.load(open("examples/train-cnn.json")).get("batch_size", 128)}
def load(name):
    p = os.path.join(out, name)
    return json.load(open(p)) if os.path.exists(p) and os.path.getsize(p) else None
probe = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', open(os.path.join(out, "probe.txt")).read()))
probe = {k: v.strip('"') for k, v in probe.items()}
limit = float(probe["limit"])
print(f"engine benchmark, one thread, FTZ; OpenBLAS core {probe['core']} ({probe['origin']})")
print(f"sgemm probe: {float(probe['gflops']):.1f} GFLOP/s wall-clock on the MLP step's products "
      f"({float(probe['mflop_per_sample']):.2f} MFLOP/sample) -> sgemm-bound limit "
      f"{limit:,.0f} samples/s (per CPU second: {float(probe['gflops_cpu']):.1f} GFLOP/s, "
      f"{float(probe['limit_cpu']):,.0f} samples/s); per step: sgemm "
      f"{float(probe['sgemm_ms_per_step']):.2f} ms, Adam update {float(probe['adam_ms_per_step']):.2f} ms")
tb = (load("torch-mlp-adam.json") or {}).get("blas")
if tb:
    print(f"PyTorch BLAS: BLAS_INFO={tb['blas_info']}, loaded {', '.join(tb['libraries'])}, "
          f"OPENBLAS_CORETYPE={tb['openblas_coretype'] or '(unset)'}; oneDNN (convolutions) "
          f"{'on' if tb['mkldnn'] else 'off'}")
print(f"{'model':6} {'run':22} {'samples/s':>10} {'best epoch':>10} {'CPU s':>7} {'test acc':>9} {'epochs':>6} {'batch':>5}")
def best_epoch(name, r):
    if "per_epoch" in r:
        return max(e["samples_per_sec"] for e in r["per_epoch"])
    try:  # hpsearch progress lines: "epoch 2/5 ... 4.3s  12421 samples/s"
        rates = [float(m) for m in re.findall(r"^epoch \d+/\d+ .* (\d+) samples/s", open(os.path.join(out, name + ".log")).read(), re.M)]
        return max(rates) if rates else float("nan")
    except OSError:
        return float("nan")
def cpu(name):
    try:
        return sum(float(v) for v in open(os.path.join(out, name + ".cpu")).read().split()[-2:])
    except (OSError, ValueError):
        return float("nan")
def row(model, run, name):
    r = load(name + ".json")
    if r is None:
        print(f"{model:6} {run:22} {'(failed)':>10}")
        return None
    b = best_epoch(name, r)
    print(f"{model:6} {run:22} {r['samples_per_sec']:>10,.0f} {b:>10,.0f} {cpu(name):>7.1f} "
          f"{r.get('test_accuracy', float('nan')):>9.4f} {r.get('epochs', '?'):>6} "
          f"{r.get('batch_size', batch[model]):>5}")
    return r, b
for model, names in (("MLP", ("torch-mlp-adam", "torch-mlp-momentum", "hpsearch-mlp")),
                     ("CNN", ("torch-cnn-adam", None, "hpsearch-cnn"))):
    if load(names[0] + ".json") is None and load(names[2] + ".json") is None:
        continue
    ta = row(model, "pytorch adam", names[0])
    if names[1]:
        row(model, "pytorch sgd+momentum", names[1])
    hp = row(model, "hpsearch adam", names[2])
    if ta and hp:
        line = (f"{'':6} hpsearch/pytorch (adam): {hp[0]['samples_per_sec'] / ta[0]['samples_per_sec']:.2f}x "
                f"overall, {hp[1] / ta[1]:.2f}x best epoch, "
                f"{cpu(names[0]) / cpu(names[2]):.2f}x less CPU time")
        if model == "MLP":
            line += (f"; hpsearch at {100 * hp[0]['samples_per_sec'] / limit:.0f}% "
                     f"(best epoch {100 * hp[1] / limit:.0f}%) of the sgemm-bound limit")
        print(line)
EOF
