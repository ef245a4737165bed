#!/usr/bin/python3
"""Where a trial's seconds go: the SAME parameter sets trained by hpsearch's
worker process (`hpsearch worker`, exactly what the daemon starts per
trial) and by bench/sweep_optuna.py's PyTorch training (the function its
Optuna objective calls), one thread each, all epochs (no pruning), one
after the other per parameter set so the machine's load hits both alike.

    sweep_trials.py HPSEARCH SPEC.json PARAMS.json [MAX] > OUT.json

`make bench-sweep-trials` runs it on bench/sweep_recipes.json (16 recipes
varying one factor at a time around Adam, width 256, depth 2, batch 128,
cosine schedule; the last two: width 64 and 512, depth 3, batch 64 with
batch norm and dropout) with the demo's spec; SWEEP_PARAMS=FILE for others.

PARAMS.json: a list of parameter objects (a trial's active parameters), or
the output of `hpsearch trials --json`, or of `sweep_optuna.py run` (their
trials' params are taken). Each set is timed on both sides:
  hpsearch: start (process start, config, data mapping: wall to exit minus
            the engine's own seconds), train s per epoch (samples /
            samples_per_sec), val s per epoch (epoch seconds - train), test
            (the rest: network build and the test set), wall and CPU s of
            the process (wait4's rusage);
  PyTorch:  build (network, optimizer), train s per epoch, val s per
            epoch, test, wall and CPU s (the data set is loaded once, as
            the Optuna workers share it).
A table on stderr, the records as JSON on stdout.
"""
import os

# One thread on both sides, as bench/sweep.sh runs them: set before numpy
# and torch load their BLAS (torch.set_num_threads alone leaves OpenBLAS's).
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sweep_optuna  # noqa: E402  (train_params: the Optuna side's training)

ABSENT = object()


def substitute(v, params):
    """The daemon's substitution of an engine objective (docs/study-spec.md,
    "Parameters a trial does not have"): "$name" is the value, and a
    reference to a parameter the trial does not have drops its key."""
    if isinstance(v, str) and v.startswith("$") and not v.startswith("$$"):
        return params.get(v[1:], ABSENT)
    if isinstance(v, list):
        return [x for x in (substitute(x, params) for x in v) if x is not ABSENT]
    if isinstance(v, dict):
        return {k: x for k, x in ((k, substitute(x, params)) for k, x in v.items()) if x is not ABSENT}
    return v


def param_sets(path):
    with open(path) as f:
        doc = json.load(f)
    if isinstance(doc, dict):
        doc = doc.get("trials", [])
    return [t["params"] if "params" in t else t for t in doc if not ("params" in t and not t["params"])]


def run_hpsearch(binary, cfg, n_train):
    """One `hpsearch worker` process, as the daemon starts it."""
    t0 = time.perf_counter()
    pr = subprocess.Popen([binary, "worker", "--config-json", json.dumps(cfg), "--metric",
                           "val_accuracy"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = pr.stdout.read().decode()
    _, status, ru = os.wait4(pr.pid, 0)
    wall = time.perf_counter() - t0
    pr.returncode = status
    lines = [json.loads(x) for x in out.splitlines() if x.strip()]
    epochs = [x for x in lines if "step" in x]
    final = [x for x in lines if "step" not in x]
    final = final[-1] if final else {}
    rec = {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "train": [], "val": [],
           "val_accuracy": None, "test_accuracy": final.get("test_accuracy"),
           "status": "ok" if "error" not in final else final["error"]}
    for e in epochs:
        tr = n_train / e["samples_per_sec"] if e.get("samples_per_sec") else float("nan")
        rec["train"].append(tr)
        rec["val"].append(e["seconds"] - tr)
        rec["val_accuracy"] = e["value"]
    inside = final.get("seconds", sum(e["seconds"] for e in epochs))
    rec["test"] = max(0.0, inside - sum(e["seconds"] for e in epochs))
    rec["start"] = wall - inside
    return rec


def run_torch(p, data, eng):
    c0, t0 = time.process_time(), time.perf_counter()
    out = sweep_optuna.train_params(p, data, eng, None)
    out["wall"] = time.perf_counter() - t0
    out["cpu"] = time.process_time() - c0
    out["start"] = out.pop("build")
    return out


def label(p):
    opt = p["optimizer"][:4]
    return "%-4s w%-3d d%d b%-3d %s %s" % (opt, p["width"], p["depth"], p["batch_size"],
                                          "bn" if p["batch_norm"] else "--",
                                          "dr" if p["dropout"] > 0 else "--")


def mean(xs):
    xs = [x for x in xs if x == x]
    return sum(xs) / len(xs) if xs else float("nan")


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    binary, spec_path, params_path = sys.argv[1:4]
    limit = int(sys.argv[4]) if len(sys.argv) > 4 else None
    import torch
    import engine_torch
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    spec = sweep_optuna.spec_space(spec_path)
    eng = spec["objective"]["engine"]
    t0 = time.perf_counter()
    xtr, ytr, xva, yva, xte, yte = engine_torch.load("unit")
    data = (xtr.reshape(len(xtr), -1), ytr, xva.reshape(len(xva), -1), yva,
            xte.reshape(len(xte), -1), yte)
    t_data = time.perf_counter() - t0
    sets = param_sets(params_path)[:limit]
    print("PyTorch data load (once per run, shared by forked workers): %.2f s; load %s; %s" % (
        t_data, open("/proc/loadavg").read().split()[:3],
        "OPENBLAS_CORETYPE=%s wins for both sides" % os.environ["OPENBLAS_CORETYPE"]
        if os.environ.get("OPENBLAS_CORETYPE") else "each library's own BLAS choice"),
        file=sys.stderr)
    hdr = ("%-26s | %6s %7s %6s %6s %6s %6s | %6s %7s %6s %6s %6s %6s | %5s %5s" % (
        "params", "start", "train/e", "val/e", "test", "wall", "cpu",
        "build", "train/e", "val/e", "test", "wall", "cpu", "tr x", "cpu x"))
    print("%-26s | %-46s | %-46s |" % ("", "hpsearch worker (s)", "PyTorch (s)"), file=sys.stderr)
    print(hdr, file=sys.stderr)
    recs = []
    for p in sets:
        cfg = substitute(eng, p)
        hp = run_hpsearch(binary, cfg, len(xtr))
        th = run_torch(p, data, eng)
        r = {"params": p, "hpsearch": hp, "torch": th}
        recs.append(r)
        print("%-26s | %6.2f %7.2f %6.2f %6.2f %6.2f %6.2f | %6.2f %7.2f %6.2f %6.2f %6.2f %6.2f | %5.2f %5.2f" % (
            label(p), hp["start"], mean(hp["train"]), mean(hp["val"]), hp["test"], hp["wall"],
            hp["cpu"], th["start"], mean(th["train"]), mean(th["val"]), th["test"], th["wall"],
            th["cpu"], mean(th["train"]) / mean(hp["train"]), th["cpu"] / hp["cpu"]),
            file=sys.stderr, flush=True)
    tot = {s: sum(r[s]["cpu"] for r in recs) for s in ("hpsearch", "torch")}
    walls = {s: sum(r[s]["wall"] for r in recs) for s in ("hpsearch", "torch")}
    print("total: hpsearch %.1f s wall %.1f CPU s, PyTorch %.1f s wall %.1f CPU s: "
          "PyTorch / hpsearch %.2fx wall, %.2fx CPU; load %s" % (
              walls["hpsearch"], tot["hpsearch"], walls["torch"], tot["torch"],
              walls["torch"] / walls["hpsearch"], tot["torch"] / tot["hpsearch"],
              open("/proc/loadavg").read().split()[:3]), file=sys.stderr)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    json.dump({"data_seconds": t_data, "self_cpu": ru.ru_utime + ru.ru_stime, "records": recs},
              sys.stdout)
    print()


if __name__ == "__main__":
    main()
