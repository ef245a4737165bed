#!/usr/bin/python3
"""The Optuna side of `make bench-sweep` (bench/sweep.sh), and its report.

run: the study of examples/fashion-mnist.json written for Optuna 5 and
PyTorch as an Optuna user would write it: the same conditional space
suggested define-by-run in the same order (momentum only for momentum and
Nesterov, rho for RMSProp, beta1/beta2 for Adam, step size and decay only
for the step schedule), the same sampler settings (TPE, multivariate with
group decomposition, constant liar, 8 startup trials, seed 42 + worker),
the same median pruner (4 startup trials, no warm-up steps) on validation
accuracy after each epoch, the same network (the engine's `mlp` block:
dense -> [batch norm] -> ReLU -> dropout, per hidden layer, then a dense
output), initializers, optimizers with the engine's constants, schedules
(warm-up, cosine to lr/100 over the run, step decay), gradient clipping by
global norm, data (the last 10,000 training images for validation, pixels
/ 255, a fresh shuffle every epoch, one torch thread), epochs (3) and the
test accuracy of every trial, with WORKERS processes sharing one SQLite
study until it has N trials (MaxTrialsCallback).

    sweep_optuna.py run DB N WORKERS SPEC.json   -> JSON on stdout
    sweep_optuna.py report HP_TRIALS.json HP_WALL HP_CPU OPTUNA.json \
        [HP_DEADLINE_TRIALS.json WALL CPU T0 DEADLINE]

Both sides' times are measured from their first trial's start.
"""
import datetime
import json
import math
import multiprocessing as mp
import os
import resource
import sys
import time
import warnings

import numpy as np


def spec_space(path):
    with open(path) as f:
        spec = json.load(f)
    return spec


def train_params(p, data, eng, on_epoch=None):
    """One trial's training with parameters p (a define-by-run trial's
    params: only the active ones): the engine's `mlp` network, optimizer,
    schedule and clipping, `epochs` epochs from a fresh shuffle each, the
    validation accuracy after each epoch passed to on_epoch(epoch, va)
    (a true answer stops the run: status "stopped", as the pruner does),
    then the test accuracy.
    Returns {"status", "val_accuracy", "test_accuracy", "epochs"} and the
    seconds spent: "build" (network and optimizer), "train" and "val" per
    epoch, "test"."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    epochs = eng["epochs"]
    xtr, ytr, xva, yva, xte, yte = data
    clock = time.perf_counter
    t0 = clock()
    out = {"status": "ok", "val_accuracy": None, "test_accuracy": None, "epochs": 0,
           "build": 0.0, "train": [], "val": [], "test": 0.0}

    def init_(w, kind):
        if kind == "glorot_uniform":
            nn.init.xavier_uniform_(w)
        elif kind == "kaiming_normal":
            nn.init.kaiming_normal_(w, nonlinearity="relu")
        elif kind == "uniform":
            nn.init.uniform_(w, -0.05, 0.05)
        else:
            nn.init.normal_(w, 0.0, 0.01)

    torch.manual_seed(eng.get("seed", 1))
    layers, width = [], 784
    for _ in range(p["depth"]):
        lin = nn.Linear(width, p["width"])
        init_(lin.weight, p["initializer"])
        nn.init.zeros_(lin.bias)
        layers.append(lin)
        if p["batch_norm"]:
            layers.append(nn.BatchNorm1d(p["width"], momentum=0.1, eps=1e-5))
        layers.append(nn.ReLU())
        if p["dropout"] > 0:
            layers.append(nn.Dropout(p["dropout"]))
        width = p["width"]
    out_layer = nn.Linear(width, 10)
    init_(out_layer.weight, p["initializer"])
    nn.init.zeros_(out_layer.bias)
    model = nn.Sequential(nn.Flatten(), *layers, out_layer)
    params, o, lr0 = model.parameters(), p["optimizer"], p["lr"]
    # The engine's constants (docs/engine-optim-data.md): AdaGrad delta
    # 1e-7 as delta + sqrt(r); RMSProp sqrt(delta + r) with delta 1e-6,
    # whose value at r = 0 torch's sqrt(r) + eps matches with eps 1e-3.
    if o == "sgd":
        opt = torch.optim.SGD(params, lr=lr0)
    elif o in ("momentum", "nesterov"):
        opt = torch.optim.SGD(params, lr=lr0, momentum=p["momentum"], nesterov=o == "nesterov")
    elif o == "adagrad":
        opt = torch.optim.Adagrad(params, lr=lr0, eps=1e-7)
    elif o == "rmsprop":
        opt = torch.optim.RMSprop(params, lr=lr0, alpha=p["rho"], eps=1e-3)
    else:
        opt = torch.optim.Adam(params, lr=lr0, betas=(p["beta1"], p["beta2"]), eps=1e-8)
    n, bs = len(xtr), p["batch_size"]
    per_epoch = (n + bs - 1) // bs
    w = p["warmup"]
    total = max(1, epochs * per_epoch - w)

    def lr_at(k):  # hp_schedule_lr: warm-up, then the schedule on k - W
        if k < w:
            return lr0 * (k + 1) / w
        k -= w
        if p["schedule"] == "cosine":
            end = lr0 / 100
            return end if k >= total else end + (lr0 - end) * 0.5 * (1 + math.cos(math.pi * k / total))
        if p["schedule"] == "step":
            return lr0 * p["gamma"] ** (k // p["step_size"])
        return lr0

    def accuracy(x, y):
        model.eval()
        with torch.no_grad():
            c = sum((model(x[i:i + 2000]).argmax(1) == y[i:i + 2000]).sum().item()
                    for i in range(0, len(x), 2000))
        model.train()
        return c / len(x)

    out["build"] = clock() - t0
    k = 0
    for epoch in range(1, epochs + 1):
        t0 = clock()
        order = torch.randperm(n)
        for i in range(0, n, bs):
            idx = order[i:i + bs]
            for g in opt.param_groups:
                g["lr"] = lr_at(k)
            k += 1
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            if not torch.isfinite(loss):
                out["status"] = "diverged"
                out["train"].append(clock() - t0)
                return out
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), p["clip_norm"])
            opt.step()
        t1 = clock()
        out["train"].append(t1 - t0)
        va = accuracy(xva, yva)
        out["val"].append(clock() - t1)
        out["val_accuracy"], out["epochs"] = va, epoch
        if on_epoch is not None and on_epoch(epoch, va):
            out["status"] = "stopped"
            return out
    t0 = clock()
    out["test_accuracy"] = accuracy(xte, yte)
    out["test"] = clock() - t0
    return out


def objective_factory(data, spec, times=None):
    import optuna

    sp = spec["space"]
    eng = spec["objective"]["engine"]

    def flt(t, name):
        s = sp[name]
        return t.suggest_float(name, s["low"], s["high"], log=s.get("log", False))

    def intp(t, name):
        s = sp[name]
        return t.suggest_int(name, s["low"], s["high"], log=s.get("log", False))

    def cat(t, name):
        return t.suggest_categorical(name, sp[name]["choices"])

    def suggest(trial):
        """Define-by-run, in the order of the hpsearch space."""
        p = {"optimizer": cat(trial, "optimizer"), "lr": flt(trial, "lr")}
        if p["optimizer"] in ("momentum", "nesterov"):
            p["momentum"] = flt(trial, "momentum")
        if p["optimizer"] == "rmsprop":
            p["rho"] = flt(trial, "rho")
        if p["optimizer"] == "adam":
            p["beta1"] = flt(trial, "beta1")
            p["beta2"] = flt(trial, "beta2")
        p["schedule"] = cat(trial, "schedule")
        if p["schedule"] == "step":
            p["step_size"] = intp(trial, "step_size")
            p["gamma"] = flt(trial, "gamma")
        p["warmup"] = intp(trial, "warmup")
        for name in ("initializer", "batch_norm"):
            p[name] = cat(trial, name)
        p["width"] = intp(trial, "width")
        p["depth"] = intp(trial, "depth")
        p["batch_size"] = cat(trial, "batch_size")
        p["dropout"] = flt(trial, "dropout")
        p["clip_norm"] = flt(trial, "clip_norm")
        return p

    def objective(trial):
        t_begin = time.time()
        p = suggest(trial)
        t_suggested = time.time()

        def on_epoch(epoch, va):
            trial.report(va, epoch)
            return trial.should_prune()

        out = train_params(p, data, eng, on_epoch)
        if times is not None:  # where a trial's seconds go (not in the study: no extra writes)
            times.write(json.dumps(dict(out, number=trial.number, params=p, begin=t_begin,
                                        suggest=t_suggested - t_begin, end=time.time())) + "\n")
            times.flush()
        if out["status"] == "stopped":
            raise optuna.TrialPruned()
        if out["status"] == "diverged":
            return float("nan")  # Optuna stores it FAIL, as hpsearch does
        trial.set_user_attr("test_accuracy", out["test_accuracy"])
        return out["val_accuracy"]

    return objective


def worker(db, n, wid, spec_path, data, times_path):
    import optuna
    import torch
    warnings.simplefilter("ignore")  # group=True is "experimental"
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = spec_space(spec_path)
    # The hpsearch study's settings (SWEEP_SEED sets the seed; worker w
    # seeds its sampler with seed + w).
    ss, ps = spec["sampler"], spec["pruner"]
    if ss["type"] != "tpe" or ps["type"] != "median" or not ss.get("multivariate", True) or \
            not ss.get("constant_liar", True) or not ss.get("group", True):
        sys.exit("sweep_optuna.py: the study's sampler/pruner is not mirrored here: %s %s" % (ss, ps))
    sampler = optuna.samplers.TPESampler(seed=ss.get("seed", 42) + wid,
                                         n_startup_trials=ss.get("n_startup_trials", 10),
                                         multivariate=True, group=True, constant_liar=True)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=ps.get("n_startup_trials", 5),
                                         n_warmup_steps=ps.get("n_warmup_steps", 0),
                                         interval_steps=ps.get("interval_steps", 1),
                                         n_min_trials=ps.get("n_min_trials", 1))
    study = optuna.load_study(study_name="sweep", storage="sqlite:///" + db, sampler=sampler,
                              pruner=pruner)
    times = open(times_path, "a") if times_path else None
    study.optimize(objective_factory(data, spec, times),
                   callbacks=[optuna.study.MaxTrialsCallback(n, states=None)])


def run(db, n, workers, spec_path):
    import optuna
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import engine_torch  # the same IDX reading and split as bench-engine
    import torch
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    t0 = time.perf_counter()
    xtr, ytr, xva, yva, xte, yte = engine_torch.load("unit")
    data = (xtr.reshape(len(xtr), -1), ytr, xva.reshape(len(xva), -1), yva,
            xte.reshape(len(xte), -1), yte)
    t_data = time.perf_counter() - t0
    optuna.create_study(study_name="sweep", storage="sqlite:///" + db, direction="maximize")
    ctx = mp.get_context("fork")  # the workers share the loaded data
    times_path = db + ".times"
    procs = [ctx.Process(target=worker, args=(db, n, i, spec_path, data, times_path))
             for i in range(workers)]
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t1 = time.perf_counter()
    for pr in procs:
        pr.start()
    for pr in procs:
        pr.join()
    wall = time.perf_counter() - t1
    ru_c, ru_s = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
    # the workers' CPU time and the parent's from their start (not the data load)
    cpu = ru_c.ru_utime + ru_c.ru_stime + ru_s.ru_utime + ru_s.ru_stime - r0.ru_utime - r0.ru_stime
    study = optuna.load_study(study_name="sweep", storage="sqlite:///" + db)
    trials = [{"number": t.number, "state": t.state.name, "value": t.value,
               "params": t.params, "user_attrs": t.user_attrs,
               "datetime_start": str(t.datetime_start), "datetime_complete": str(t.datetime_complete)}
              for t in study.get_trials(deepcopy=False)]
    with open(times_path) as f:
        times = [json.loads(line) for line in f]
    print(json.dumps({"optuna": optuna.__version__, "torch": torch.__version__, "wall": wall, "cpu": cpu,
                      "data_seconds": t_data, "trials": trials, "times": times}))


def parse_time(s):
    if not s or s == "None":
        return None
    s = s.replace("T", " ")
    return datetime.datetime.fromisoformat(s).timestamp()


def curve(trials):
    """(seconds from the first start, value, test accuracy) of COMPLETE
    trials by completion, and the first start."""
    starts = [parse_time(t.get("datetime_start")) for t in trials]
    starts = [s for s in starts if s is not None]
    t0 = min(starts) if starts else 0.0
    pts = []
    for t in trials:
        if t["state"] != "COMPLETE" or t.get("value") is None:
            continue
        end = parse_time(t.get("datetime_complete"))
        pts.append((end - t0, t["value"], (t.get("user_attrs") or {}).get("test_accuracy"), t))
    pts.sort(key=lambda x: x[0])
    last_end = max((parse_time(t.get("datetime_complete")) or t0 for t in trials), default=t0)
    return pts, last_end - t0


def macs(p):
    """Multiply-adds per sample of a forward pass of the sweep's MLP."""
    w, d = p["width"], p["depth"]
    return 784 * w + (d - 1) * w * w + 10 * w


def trained_epochs(t, times):
    """Epochs a trial trained: Optuna's from the worker's record, hpsearch's
    from its state ("pruned at step E"; COMPLETE: all)."""
    if times is not None:
        r = times.get(t.get("number"))
        return len(r["train"]) if r else 0
    if t["state"] == "COMPLETE":
        return int(t.get("user_attrs", {}).get("epochs", 3))
    why = t.get("reason") or ""
    return int(why.split()[-1]) if why.startswith("pruned at step") else 0


def work_report(hp, op, cpu):
    """The two sides sample different recipes, so their wall times mix the
    engines' speed with what was sampled. This puts a number on the
    second: the training work each side's trials did (epochs trained x
    forward+backward multiply-adds ~ 3 x forward x training samples) and
    that work per CPU second of the whole side (daemon or Optuna, workers,
    evaluation: everything)."""
    n_train = 50000
    times = {r["number"]: r for r in op.get("times", [])}
    print("What was sampled: epochs trained, training work (forward+backward multiply-adds),")
    print("per CPU second, width/depth/batch of the trials (mean, # depth 3, # batch 64, # batch norm):")
    rate = {}
    for name, trials, tm in (("hpsearch", hp["trials"], None), ("optuna+pytorch", op["trials"], times)):
        ep = [trained_epochs(t, tm) for t in trials]
        work = sum(e * 3 * macs(t["params"]) * n_train for e, t in zip(ep, trials)) / 1e12
        ps = [t["params"] for t in trials if t.get("params")]
        rate[name] = work * 1e3 / cpu[name]
        print("%-16s epochs %3d  work %6.2f T  %5.1f G/CPU s  width %4.0f  depth-3 %2d  batch-64 %2d  bn %2d" % (
            name, sum(ep), work, rate[name], sum(p["width"] for p in ps) / max(1, len(ps)),
            sum(p["depth"] == 3 for p in ps), sum(p["batch_size"] == 64 for p in ps),
            sum(bool(p["batch_norm"]) for p in ps)))
    print("training work per CPU second, hpsearch / optuna+pytorch: %.2fx" % (
        rate["hpsearch"] / rate["optuna+pytorch"]))
    if times:
        rs = list(times.values())
        tr = sum(sum(r["train"]) for r in rs)
        parts = [sum(r["suggest"] for r in rs), sum(r["build"] for r in rs), tr,
                 sum(sum(r["val"]) for r in rs), sum(r["test"] for r in rs)]
        rest = sum(r["end"] - r["begin"] for r in rs) - sum(parts)
        print("optuna+pytorch, seconds summed over its trials: suggest (TPE) %.1f, build %.1f, "
              "train %.1f, validation %.1f, test %.1f, report + should_prune %.1f" % tuple(parts + [rest]))


def deadline_report(hpd, wall, cpu, t0, deadline, op_best):
    """The goal read with a deadline: hpsearch's run of the same study with
    a time budget of half Optuna's wall time (no n_trials). Only trials
    that completed by the deadline, counted from just before the submit
    (t0, epoch seconds), are in its best; trials running when the budget
    was spent finish after it and are shown apart. Returns the best by
    the deadline."""
    trials = hpd["trials"]
    states = [t["state"] for t in trials]
    rows = []
    for t in trials:
        a, z = parse_time(t.get("datetime_start")), parse_time(t.get("datetime_complete"))
        rows.append((None if a is None else a - t0, None if z is None else z - t0, t))
    done = [(z, t) for a, z, t in rows if t["state"] == "COMPLETE" and t.get("value") is not None]
    by = [(z, t) for z, t in done if z <= deadline]
    after = [(z, t) for z, t in done if z > deadline]

    def best_of(xs):
        if not xs:
            return None
        z, t = max(xs, key=lambda x: x[1]["value"])
        return t["value"], (t.get("user_attrs") or {}).get("test_accuracy"), z, t

    def fmt(b):
        if b is None:
            return "none"
        return "%.4f (test %s, trial #%d, done at %.1f s)" % (
            b[0], "%.4f" % b[1] if b[1] is not None else "-", b[3].get("trial", -1), b[2])

    b_by, b_all = best_of(by), best_of(done)
    starts = [a for a, _, _ in rows if a is not None]
    ends = [z for _, z, _ in rows if z is not None]
    durs = [z - a for a, z, _ in rows if a is not None and z is not None]
    print()
    print("Reading 2, a deadline: hpsearch given half Optuna's wall time, %.1f s, as the study's" % deadline)
    print("time_budget (no n_trials; running trials finish after it), a fresh daemon, one run:")
    print("hpsearch         %d trials (%d complete, %d pruned, %d fail), wall %.1f s, CPU %.1f s;" % (
        len(trials), states.count("COMPLETE"), states.count("PRUNED"), states.count("FAIL"),
        wall, cpu))
    print("                 last trial started at %.1f s, last ended at %.1f s (%.1f s past the deadline;"
          " longest trial %.1f s)" % (max(starts, default=0), max(ends, default=0),
                                      max(ends, default=0) - deadline, max(durs, default=0)))
    print("                 by the deadline: %d trials done, best %s" % (
        sum(1 for z in ends if z <= deadline), fmt(b_by)))
    print("                 with the %d trials that finished after it: best %s" % (
        sum(1 for z in ends if z > deadline), fmt(b_all)))
    if b_by is not None and b_by[0] >= op_best:
        v = "met"
    else:
        v = "NOT met"
    print("goal, deadline reading (Optuna's best %.4f by half its wall time, %.1f s): hpsearch's best "
          "by then %s: %s" % (op_best, deadline, "%.4f" % b_by[0] if b_by else "none", v))
    return b_by


def report(hp_path, hp_wall, hp_cpu, op_path, hpd_path=None, hpd_wall=None, hpd_cpu=None,
           hpd_t0=None, deadline=None):
    with open(hp_path) as f:
        hp = json.load(f)
    with open(op_path) as f:
        op = json.load(f)
    hpd = None
    if hpd_path:
        with open(hpd_path) as f:
            hpd = json.load(f)
    sides = [("hpsearch", hp["trials"], float(hp_wall), float(hp_cpu)),
             ("optuna+pytorch", op["trials"], op["wall"], op["cpu"])]
    print()
    print("The demo's study (examples/fashion-mnist.json: conditional space, median pruner,")
    print("3 epochs, the last 10,000 training images for validation), 2 workers each, one run;")
    print("Optuna %s + PyTorch %s (one torch thread per worker)." % (op["optuna"], op["torch"]))
    print("Reading 1, the same number of trials each (%d):" % len(op["trials"]))
    print("%-16s %7s %9s %7s %6s %9s %9s %12s %9s %9s" % (
        "", "trials", "complete", "pruned", "fail", "wall s", "CPU s", "first->last", "best val", "its test"))
    summary = {}
    for name, trials, wall, cpu in sides:
        pts, span = curve(trials)
        states = [t["state"] for t in trials]
        best = max(pts, key=lambda x: x[1]) if pts else (0, float("nan"), None, None)
        summary[name] = (wall, best, pts, span, cpu)
        print("%-16s %7d %9d %7d %6d %9.1f %9.1f %12.1f %9.4f %9s" % (
            name, len(trials), states.count("COMPLETE"), states.count("PRUNED"),
            states.count("FAIL"), wall, cpu, span, best[1],
            "%.4f" % best[2] if best[2] is not None else "-"))
    hw, ow = summary["hpsearch"][0], summary["optuna+pytorch"][0]
    print("optuna+pytorch / hpsearch: wall time %.2fx, CPU time %.2fx" % (
        ow / hw, summary["optuna+pytorch"][4] / summary["hpsearch"][4]))
    work_report(hp, op, {k: v[4] for k, v in summary.items()})
    # The goal: the same or better best accuracy in at most half the
    # wall time, read off the curves: when did hpsearch first reach Optuna's
    # final best validation accuracy (seconds from its first trial's start)?
    # Counted on hpsearch's whole wall clock: its time outside the trials
    # (start-up, data, shutdown) is added, so the comparison cannot flatter it.
    target = summary["optuna+pytorch"][1][1]
    offset = max(0.0, hw - summary["hpsearch"][3])
    reach = [t + offset for t, v, _, _ in summary["hpsearch"][2] if v >= target]
    if reach:
        print("goal (Optuna's best in at most half its wall time): hpsearch reached Optuna's best "
              "%.4f after %.1f s = %.2f of Optuna's %.1f s: %s" % (
                  target, reach[0], reach[0] / ow, ow, "met" if reach[0] <= ow / 2 else "NOT met"))
    else:
        print("goal (Optuna's best in at most half its wall time): hpsearch never reached Optuna's "
              "best %.4f (its own %.4f): NOT met" % (target, summary["hpsearch"][1][1]))
    if hpd is not None:
        deadline_report(hpd, float(hpd_wall), float(hpd_cpu), float(hpd_t0), float(deadline), target)
    print()
    print("Best validation accuracy so far against seconds from the first trial's start:")
    curves = {name: summary[name][2] for name in ("hpsearch", "optuna+pytorch")}
    spans = [s[3] for s in summary.values()]
    if hpd is not None:
        curves["hpsearch, deadline"], span = curve(hpd["trials"])
        spans.append(span)
    marks = sorted({round(x) for x in np.linspace(0, max(spans), 13)[1:]})
    print("%8s" % "seconds" + "".join(" %18s" % name for name in curves))
    for m in marks:
        row = []
        for pts in curves.values():
            vals = [v for t, v, _, _ in pts if t <= m]
            row.append("%.4f" % max(vals) if vals else "-")
        print("%8d" % m + "".join(" %18s" % x for x in row))
    for name in ("hpsearch", "optuna+pytorch"):
        b = summary[name][1]
        if b[3] is not None:
            print("best %s trial #%d: %s" % (name, b[3].get("number", b[3].get("trial", -1)), json.dumps(b[3]["params"])))


if __name__ == "__main__":
    if sys.argv[1] == "run":
        run(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    elif sys.argv[1] == "report":
        report(*sys.argv[2:11])
    else:
        sys.exit(__doc__)
