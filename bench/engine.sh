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
run_torch() { OPENBLAS_CORETYPE="$torch_core" "$PY" bench/engine_torch.py "$@"; }
run_hp() { "$B/hpsearch" train "$1" --set "epochs=$2"; }

# the same batch sizes as the hpsearch examples
batch_of() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("batch_size", 128))' "$1"; }
MLP_BATCH=$(batch_of examples/train-mlp.json)
CNN_BATCH=$(batch_of examples/train-cnn.json)

run_torch mlp "$MLP_EPOCHS" adam "$MLP_BATCH" >"$out/torch-mlp-adam.json"
run_torch mlp "$MLP_EPOCHS" momentum "$MLP_BATCH" >"$out/torch-mlp-momentum.json"
run_hp examples/train-mlp.json "$MLP_EPOCHS" >"$out/hpsearch-mlp.json"
if [ "${BENCH_SKIP_CNN:-0}" != 1 ]; then
  run_torch cnn "$CNN_EPOCHS" adam "$CNN_BATCH" >"$out/torch-cnn-adam.json"
  run_hp examples/train-cnn.json "$CNN_EPOCHS" >"$out/hpsearch-cnn.json"
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
print(f"sgemm probe: {float(probe['gflops']):.1f} GFLOP/s on the MLP step's products "
      f"({float(probe['mflop_per_sample']):.2f} MFLOP/sample) -> sgemm-bound limit "
      f"{limit:,.0f} samples/s; per step: sgemm {float(probe['sgemm_ms_per_step']):.2f} ms, "
      f"Adam update {float(probe['adam_ms_per_step']):.2f} ms")
print(f"{'model':6} {'run':24} {'samples/s':>10} {'test acc':>9} {'epochs':>6} {'batch':>5}")
def row(model, run, r):
    if r is None:
        print(f"{model:6} {run:24} {'(failed)':>10}")
        return
    print(f"{model:6} {run:24} {r['samples_per_sec']:>10,.0f} {r.get('test_accuracy', float('nan')):>9.4f} "
          f"{r.get('epochs', '?'):>6} {r.get('batch_size', batch[model]):>5}")
for model, files in (("MLP", ("mlp-adam", "mlp-momentum", "mlp")), ("CNN", ("cnn-adam", None, "cnn"))):
    ta = load(f"torch-{files[0]}.json")
    hp = load(f"hpsearch-{files[2]}.json")
    if ta is None and hp is None:
        continue
    row(model, "pytorch adam", ta)
    if files[1]:
        row(model, "pytorch sgd+momentum", load(f"torch-{files[1]}.json"))
    row(model, "hpsearch adam", hp)
    if ta and hp:
        line = f"{'':6} ratio hpsearch/pytorch (adam): {hp['samples_per_sec'] / ta['samples_per_sec']:.2f}x"
        if model == "MLP":
            line += f"; hpsearch at {100 * hp['samples_per_sec'] / limit:.0f}% of the sgemm-bound limit"
        print(line)
EOF
