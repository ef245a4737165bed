#!/usr/bin/python3
"""Optuna 5 side of `make bench-search`'s GP part, and its report.

Runs Optuna 5's GPSampler and its default TPESampler (multivariate and
constant liar on, Optuna 5's defaults) on the six GP benchmark functions of
bench/search.c (`bench_search gp`; the formulas below must stay identical to
the C ones), times a GP ask after 100, 250 and 500 trials, reads hpsearch's
TSV results and prints: quality (median [q1, q3] of the best value after 25,
50 and 100 trials, one-sided Mann-Whitney U p-values), speed (CPU seconds of
a whole 100-trial study, Optuna's GP over hpsearch's GP), ask times, and
the automatic sampler against the best of hpsearch's GP and TPEs.

usage: search_gp.py --hp FILE [--hp-ask FILE] [--seeds N] [--jobs N]
       [--ask 100,250,500] [--optuna-cache FILE]
With --optuna-cache, Optuna's results are appended to FILE as they come in
and reused from it on the next run (Optuna's GP takes about 10 CPU seconds
per study here): only the runs it lacks are made.
Needs Optuna 5 on PYTHONPATH (bench/search.sh points it at
../shared/vendor/optuna-5.0.0.dev) with Debian's python3-torch and
python3-scipy.
"""
import argparse
import math
import multiprocessing as mp
import os
import sys
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as Optuna's docs advise for GPSampler
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import optuna  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from search_optuna import (FUNCS as BASE_FUNCS, hartmann6, mann_whitney_less,  # noqa: E402
                           quartiles, read_tsv)

optuna.logging.set_verbosity(optuna.logging.ERROR)
warnings.filterwarnings("ignore")


def levy(p):
    x = [p["x%d" % j] for j in range(len(p))]
    w = [1 + (v - 1) / 4 for v in x]
    s = math.sin(math.pi * w[0]) ** 2
    for i in range(len(x) - 1):
        s += (w[i] - 1) ** 2 * (1 + 10 * math.sin(math.pi * w[i] + 1) ** 2)
    return s + (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)


def styblinski(p):
    return 0.5 * sum(v ** 4 - 16 * v * v + 5 * v for v in p.values())


def box(d, lo, hi):
    return lambda t: {"x%d" % j: t.suggest_float("x%d" % j, lo, hi) for j in range(d)}


FUNCS = dict(BASE_FUNCS)
FUNCS["levy5"] = (box(5, -10, 10), levy)
FUNCS["styblinski4"] = (box(4, -5, 5), styblinski)
FUNC_ORDER = ["branin", "hartmann6", "rosenbrock5", "mixed", "levy5", "styblinski4"]


def make_sampler(name, seed):
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)  # Optuna 5 defaults


def quality_job(args):
    func, sampler, seed = args
    suggest, f = FUNCS[func]
    study = optuna.create_study(sampler=make_sampler(sampler, seed))
    best, marks = math.inf, {}
    c0 = time.process_time()
    for n in range(100):
        trial = study.ask()
        v = f(suggest(trial))
        study.tell(trial, v)
        best = min(best, v)
        if n + 1 in (25, 50, 100):
            marks[n + 1] = best
    return func, sampler, seed, marks[25], marks[50], marks[100], time.process_time() - c0


def ask_job(n):
    """CPU ms of one GPSampler ask after n random COMPLETE trials on
    Hartmann-6 (mean of 3 asks, each on the same n trials)."""
    import numpy as np
    rng = np.random.RandomState(7)
    dists = {"x%d" % j: optuna.distributions.FloatDistribution(0, 1) for j in range(6)}
    study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=1))
    trials = []
    for _ in range(n):
        p = {k: float(rng.uniform()) for k in dists}
        trials.append(optuna.trial.create_trial(params=p, distributions=dists,
                                                value=hartmann6(p)))
    study.add_trials(trials)
    total = 0.0
    for _ in range(3):
        c0 = time.process_time()
        t = study.ask()
        for k in dists:
            t.suggest_float(k, 0, 1)
        total += time.process_time() - c0
        study.tell(t, state=optuna.trial.TrialState.FAIL)
    return n, 1e3 * total / 3


def fmt(q):
    return "%.4g [%.3g, %.3g]" % (q[1], q[0], q[2])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hp", required=True)
    ap.add_argument("--hp-ask")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--ask", default="100,250,500")
    ap.add_argument("--optuna-cache")
    args = ap.parse_args()

    t_start = time.time()
    opt, asks = [], []
    if args.optuna_cache and os.path.exists(args.optuna_cache):
        for r in read_tsv(args.optuna_cache):
            if r[0] == "optuna" and int(r[3]) < args.seeds:
                opt.append((r[1], r[2], int(r[3])) + tuple(float(v) for v in r[4:8]))
            elif r[0] == "optuna-ask":
                asks.append((int(r[1]), float(r[2])))
    have = {(f, s, seed) for f, s, seed, *_ in opt}
    jobs = [(f, s, seed) for f in FUNC_ORDER for s in ("gp", "tpe") for seed in range(args.seeds)
            if (f, s, seed) not in have]
    # Seed by seed (TPE, then GP, over every function), so that a run cut
    # short has every function for the seeds it did.
    jobs.sort(key=lambda j: (j[2], j[1] == "gp", FUNC_ORDER.index(j[0])))
    want_ask = [int(n) for n in args.ask.split(",") if n] if args.ask else []
    want_ask = [n for n in want_ask if n not in {a[0] for a in asks}]
    cache = open(args.optuna_cache, "a") if args.optuna_cache else None
    with mp.Pool(args.jobs) as pool:
        for r in pool.imap_unordered(quality_job, jobs, chunksize=1):
            opt.append(r)
            if cache:
                cache.write("optuna\t%s\t%s\t%d\t%.9g\t%.9g\t%.9g\t%.4f\n" % r)
                cache.flush()
        for r in pool.imap_unordered(ask_job, want_ask, chunksize=1):
            asks.append(r)
            if cache:
                cache.write("optuna-ask\t%d\t%.3f\n" % r)
                cache.flush()
    asks.sort()
    optuna_secs = time.time() - t_start

    hp, prof = {}, {}
    for r in read_tsv(args.hp):
        if r[0] == "quality":
            hp.setdefault((r[1], r[2]), []).append(tuple(float(v) for v in r[4:8]))
        elif r[0] == "profile":
            prof.setdefault((r[1], r[2]), []).append(tuple(float(v) for v in r[4:10]))
    op = {}
    for func, sampler, seed, b25, b50, b100, cpu in opt:
        op.setdefault((func, "optuna-" + sampler), []).append((b25, b50, b100, cpu))
    q = dict(hp)
    q.update(op)

    print()
    print("GP benchmark: best value after 25 / 50 / 100 trials over %d seeds, median [q1, q3];"
          % args.seeds)
    print("minimise. Optuna %s: GPSampler and TPESampler() (its defaults: multivariate,"
          % optuna.__version__)
    print("constant liar). hpsearch: gp, auto, tpe (univariate), tpe-mv (multivariate: hpsearch's")
    print("default TPE, whose constant liar does nothing in these sequential runs).")
    cols = ["gp", "optuna-gp", "auto", "tpe", "tpe-mv", "optuna-tpe"]
    print("%-12s %-6s" % ("function", "trials") + "".join("%-26s" % c for c in cols))
    for func in FUNC_ORDER:
        for k, n in enumerate((25, 50, 100)):
            row = "%-12s %-6d" % (func, n)
            for c in cols:
                v = [x[k] for x in q.get((func, c), [])]
                row += "%-26s" % (fmt(quartiles(v)) if len(v) >= 2 else ("%.4g" % v[0] if v else "-"))
            print(row)
    print()
    print("Rank tests at 100 trials (one-sided Mann-Whitney U, significance 0.05):")
    print("%-12s %-24s %-24s %-24s %-24s %-24s" % ("function", "gp vs optuna-gp", "gp vs optuna-tpe",
                                                  "gp vs tpe-mv (default)", "gp vs tpe",
                                                  "auto vs best of gp,tpe,tpe-mv"))

    def test(a, b):
        va = [x[2] for x in q.get(a, [])]
        vb = [x[2] for x in q.get(b, [])]
        if len(va) < 2 or len(vb) < 2:
            return "-"
        pl, pm = mann_whitney_less(va, vb), mann_whitney_less(vb, va)
        word = "better" if pl < 0.05 else ("WORSE" if pm < 0.05 else "same")
        return "%s (p<%.3f p>%.3f)" % (word, pl, pm)

    for func in FUNC_ORDER:
        med = {c: sorted(x[2] for x in q[(func, c)])[len(q[(func, c)]) // 2]
               for c in ("gp", "tpe", "tpe-mv") if q.get((func, c))}
        better = min(med, key=med.get) if med else "gp"
        print("%-12s %-24s %-24s %-24s %-24s %-24s" % (
            func, test((func, "gp"), (func, "optuna-gp")), test((func, "gp"), (func, "optuna-tpe")),
            test((func, "gp"), (func, "tpe-mv")), test((func, "gp"), (func, "tpe")),
            test((func, "auto"), (func, better)) + " [" + better + "]"))
    print()
    print("Speed: CPU seconds of a whole 100-trial study (mean over seeds; the sampler and the")
    print("objective, in one process; Optuna in the same run). hpsearch's GP profile: fit,")
    print("candidate scoring, local search (CPU s per study; likelihood / acquisition evaluations).")
    print("%-12s %10s %10s %10s %8s   %s" % ("function", "hp gp", "optuna gp", "optuna tpe",
                                          "ratio", "hp profile"))
    ratios = []
    for func in FUNC_ORDER:
        h = [x[3] for x in q.get((func, "gp"), [])]
        o = [x[3] for x in q.get((func, "optuna-gp"), [])]
        ot = [x[3] for x in q.get((func, "optuna-tpe"), [])]
        pr = prof.get((func, "gp"), [])
        if not h or not o:
            continue
        hm, om = sum(h) / len(h), sum(o) / len(o)
        ratios.append(om / hm)
        ps = ""
        if pr:
            m = [sum(x[i] for x in pr) / len(pr) for i in range(6)]
            ps = "fit %.3f  cand %.3f  local %.3f  (%.0f / %.0f evals)" % (m[0], m[1], m[2], m[4], m[5])
        print("%-12s %10.3f %10.3f %10.3f %7.0fx   %s" % (
            func, hm, om, sum(ot) / len(ot) if ot else float("nan"), om / hm, ps))
    if ratios:
        print("ratio (Optuna GP / hpsearch GP): min %.0fx, geometric mean %.0fx"
              % (min(ratios), math.exp(sum(map(math.log, ratios)) / len(ratios))))
    if asks:
        hp_ask = {}
        if args.hp_ask:
            for r in read_tsv(args.hp_ask):
                if r[0] == "asktime":
                    hp_ask[int(r[2])] = [float(v) for v in r[3:8]]
        print()
        print("GP ask time after n trials (Hartmann-6, n random trials; CPU ms). hpsearch: a")
        print("running study (mean of 3 asks, each after one more trial), and cold (the first ask")
        print("of a new sampler on n trials, e.g. after a daemon restart); Optuna: mean of 3 asks")
        print("on the same n trials (its fit warm-starts from the previous ask in-process).")
        print("%6s %10s %10s %10s %8s   %s" % ("n", "hp gp", "hp cold", "optuna gp", "ratio",
                                            "hp fit / cand / local ms"))
        for n, oms in asks:
            h = hp_ask.get(n)
            if h is None:
                print("%6d %10s %10.1f" % (n, "-", oms))
            else:
                print("%6d %10.2f %10.1f %10.1f %7.0fx   %.2f / %.2f / %.2f" % (
                    n, h[0], h[4], oms, oms / h[0], h[1], h[2], h[3]))
    print("(Optuna part took %.0f s with %d processes)" % (optuna_secs, args.jobs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
