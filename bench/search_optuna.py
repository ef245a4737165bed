#!/usr/bin/python3
"""Optuna 3.1 side of `make bench-search`, and the side-by-side report.

Runs Optuna's TPE (univariate and multivariate) and random sampler on the
same test functions and the same 6-parameter speed space as bench/search.c
(the formulas below must stay identical to the C ones), reads hpsearch's
TSV results, and prints speed with ratios and a quality table with medians,
quartiles and one-sided Mann-Whitney U p-values over the seeds.

usage: search_optuna.py --hp-speed FILE --hp-quality FILE [--seeds N]
       [--jobs N] [--optuna-trials N]
       search_optuna.py --cache-quality FILE [--seed-from A] [--seeds N]
       [--samplers tpe,...] [--jobs N]
   The second form only runs Optuna's quality part for seeds A .. A+N-1 and
   writes its TSV lines ("quality func sampler seed b25 b50 b100", the same
   format as bench_search) to FILE, for bench/search_quick.py.
"""
import argparse
import math
import multiprocessing as mp
import statistics
import sys
import time
import warnings

import optuna

optuna.logging.set_verbosity(optuna.logging.ERROR)
warnings.filterwarnings("ignore")

# ---- objectives (identical to bench/search.c) ---------------------------


def branin(p):
    x1, x2 = p["x1"], p["x2"]
    b = 5.1 / (4 * math.pi**2)
    c = 5 / math.pi
    t = 1 / (8 * math.pi)
    u = x2 - b * x1 * x1 + c * x1 - 6
    return u * u + 10 * (1 - t) * math.cos(x1) + 10


HART_ALPHA = [1.0, 1.2, 3.0, 3.2]
HART_A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
          [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
HART_P = [[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
          [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
          [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
          [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]]


def hartmann6(p):
    x = [p["x%d" % j] for j in range(6)]
    s = 0.0
    for i in range(4):
        e = sum(HART_A[i][j] * (x[j] - HART_P[i][j]) ** 2 for j in range(6))
        s += HART_ALPHA[i] * math.exp(-e)
    return -s


def rosenbrock5(p):
    x = [p["x%d" % j] for j in range(5)]
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(4))


MIXED_CAT = {"a": 0.3, "b": 0.0, "c": 0.6, "d": 1.0}


def mixed(p):
    ly = math.log10(p["y"]) + 1
    return (0.1 * (p["x"] - 1.5) ** 2 + 0.5 * ly * ly + 0.05 * abs(p["k"] - 7)
            + MIXED_CAT[p["c"]])


def suggest_branin(t):
    return {"x1": t.suggest_float("x1", -5, 10), "x2": t.suggest_float("x2", 0, 15)}


def suggest_hartmann6(t):
    return {"x%d" % j: t.suggest_float("x%d" % j, 0, 1) for j in range(6)}


def suggest_rosenbrock5(t):
    return {"x%d" % j: t.suggest_float("x%d" % j, -5, 10) for j in range(5)}


def suggest_mixed(t):
    return {"x": t.suggest_float("x", -5, 5),
            "y": t.suggest_float("y", 1e-3, 10, log=True),
            "k": t.suggest_int("k", 1, 10),
            "c": t.suggest_categorical("c", ["a", "b", "c", "d"])}


# The conditional benchmark (cond_error in bench/search.c), define-by-run.
COND_BASE = [0.20, 0.12, 0.11, 0.15, 0.10, 0.08]
COND_LR = [-1.0, -1.7, -1.8, -1.3, -2.8, -3.0]
COND_OPTS = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]


def suggest_cond(t):
    p = {"opt": t.suggest_categorical("opt", COND_OPTS),
         "lr": t.suggest_float("lr", 1e-5, 1, log=True)}
    if p["opt"] in ("momentum", "nesterov"):
        p["momentum"] = t.suggest_float("momentum", 0.5, 0.99)
    if p["opt"] == "rmsprop":
        p["rho"] = t.suggest_float("rho", 0.8, 0.999)
    if p["opt"] == "adam":
        p["beta1"] = t.suggest_float("beta1", 0.8, 0.95)
        p["beta2"] = t.suggest_float("beta2", 0.99, 0.9999, log=True)
    p["schedule"] = t.suggest_categorical("schedule", ["constant", "cosine", "step"])
    if p["schedule"] == "step":
        p["step_size"] = t.suggest_int("step_size", 100, 1000, log=True)
        p["gamma"] = t.suggest_float("gamma", 0.1, 0.9)
    p["width"] = t.suggest_int("width", 16, 512, log=True)
    return p


def cond_error(p):
    o = COND_OPTS.index(p["opt"])
    dl = math.log10(p["lr"]) - COND_LR[o]
    e = COND_BASE[o] + 0.03 * dl * dl
    if o in (1, 2):
        e += 0.5 * (p["momentum"] - 0.92) ** 2
    if o == 4:
        e += 2.0 * (p["rho"] - 0.95) ** 2
    if o == 5:
        d2 = math.log10(1 - p["beta2"]) + 3
        e += 2.0 * (p["beta1"] - 0.88) ** 2 + 0.02 * d2 * d2
    if p["schedule"] == "constant":
        e += 0.02
    if p["schedule"] == "step":
        e += 0.01 + 0.02 * abs(math.log10(p["step_size"]) - 2.5) + 0.05 * (p["gamma"] - 0.5) ** 2
    dw = math.log2(p["width"]) - 7
    return e + 0.002 * dw * dw


FUNCS = {
    "cond": (suggest_cond, cond_error),
    "branin": (suggest_branin, branin),
    "hartmann6": (suggest_hartmann6, hartmann6),
    "rosenbrock5": (suggest_rosenbrock5, rosenbrock5),
    "mixed": (suggest_mixed, mixed),
}
FUNC_ORDER = ["branin", "hartmann6", "rosenbrock5", "mixed"]
SAMPLERS = ["random", "tpe", "tpe-mv"]


def make_sampler(name, seed):
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "default":  # the installed Optuna's own defaults
        return optuna.samplers.TPESampler(seed=seed)
    if name == "tpe-group":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)
    return optuna.samplers.TPESampler(seed=seed, multivariate=(name == "tpe-mv"))


def quality_job(args):
    func, sampler, seed = args
    suggest, f = FUNCS[func]
    study = optuna.create_study(sampler=make_sampler(sampler, seed))
    best, marks = math.inf, {}
    for n in range(100):
        trial = study.ask()
        v = f(suggest(trial))
        study.tell(trial, v)
        best = min(best, v)
        if n + 1 in (25, 50, 100):
            marks[n + 1] = best
    return func, sampler, seed, marks[25], marks[50], marks[100]


# ---- speed (same space and objective as bench/search.c) -----------------

OPT_COST = {"sgd": 0.3, "adam": 0.0, "rmsprop": 0.1}
ACT_COST = {"relu": 0.0, "tanh": 0.2}


def speed_objective(p):
    a = math.log10(p["lr"]) + 3
    b = math.log10(p["wd"]) + 4
    c = p["dropout"] - 0.2
    d = (p["width"] - 300) / 500
    return a * a + 0.5 * b * b + c * c + d * d + OPT_COST[p["opt"]] + ACT_COST[p["act"]]


def speed_job(args):
    mode, max_trials = args
    sampler = optuna.samplers.TPESampler(seed=1, multivariate=(mode == "tpe-mv"))
    study = optuna.create_study(sampler=sampler)
    out = []
    acc = cpu = 0.0
    marks = [m for m in (100, 1000) if m + 10 <= max_trials]
    for n in range(marks[-1] + 10):
        c0 = time.thread_time()
        t0 = time.perf_counter()
        trial = study.ask()
        p = {"lr": trial.suggest_float("lr", 1e-5, 1e-1, log=True),
             "wd": trial.suggest_float("wd", 1e-6, 1e-2, log=True),
             "dropout": trial.suggest_float("dropout", 0.0, 0.5),
             "width": trial.suggest_int("width", 32, 1024),
             "opt": trial.suggest_categorical("opt", ["sgd", "adam", "rmsprop"]),
             "act": trial.suggest_categorical("act", ["relu", "tanh"])}
        v = speed_objective(p)
        study.tell(trial, v)
        dt = time.perf_counter() - t0
        dc = time.thread_time() - c0
        for m in marks:
            if m - 10 <= n < m + 10:
                acc += dt
                cpu += dc
            if n == m + 9:
                out.append((mode, m, 1e3 * acc / 20, 1e3 * cpu / 20))
                acc = cpu = 0.0
    return out


# ---- statistics -----------------------------------------------------------


def quartiles(xs):
    xs = sorted(xs)
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], statistics.median(xs), q[2]


def mann_whitney_less(a, b):
    """One-sided p-value that values in a tend to be smaller than in b
    (normal approximation with tie correction and continuity correction)."""
    n1, n2 = len(a), len(b)
    allv = sorted([(v, 0) for v in a] + [(v, 1) for v in b])
    ranks = [0.0] * len(allv)
    i = 0
    ties = 0.0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1][0] == allv[i][0]:
            j += 1
        r = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[k] = r
        t = j - i + 1
        ties += t ** 3 - t
        i = j + 1
    r1 = sum(r for r, (_, g) in zip(ranks, allv) if g == 0)
    u1 = r1 - n1 * (n1 + 1) / 2
    mu = n1 * n2 / 2
    n = n1 + n2
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    if sigma == 0:
        return 0.5
    z = (u1 - mu + 0.5) / sigma  # small U means a is smaller
    return 0.5 * math.erfc(-z / math.sqrt(2))


def read_tsv(path):
    rows = []
    with open(path) as f:
        for line in f:
            rows.append(line.rstrip("\n").split("\t"))
    return rows


def compare(title, hp_rows, op_rows, pairs, funcs, seeds):
    """Prints medians, quartiles and both one-sided p-values at 25/50/100
    trials for each (hp sampler, optuna sampler) pair; returns the verdicts
    at 100 trials."""
    fmt = lambda q: "%.4g [%.4g, %.4g]" % (q[1], q[0], q[2])
    hdr = "%-12s %-26s %-7s %-32s %-32s %7s %7s"
    print()
    print(title)
    print(hdr % ("function", "hpsearch vs optuna", "trials", "hpsearch", "optuna", "p(<)", "p(>)"))
    verdict = []
    for func in funcs:
        for hs, os_ in pairs:
            h, o = hp_rows.get((func, hs), []), op_rows.get((func, os_), [])
            if not h or not o:
                continue
            for k, n in enumerate((25, 50, 100)):
                hv, ov = [x[k] for x in h], [x[k] for x in o]
                pl, pm = mann_whitney_less(hv, ov), mann_whitney_less(ov, hv)
                print(hdr % (func, hs + " vs " + os_, n, fmt(quartiles(hv)), fmt(quartiles(ov)),
                             "%.3f" % pl, "%.3f" % pm))
                if n == 100:
                    verdict.append((hs, os_, func, statistics.median(hv), statistics.median(ov), pl, pm))
    return verdict


def anchor5(args):
    """`make bench-search`, part 2: the anchor is the Optuna this runs with
    (the vendored Optuna 5 through PYTHONPATH)."""
    t0 = time.time()
    jobs = [(f, "default", seed) for f in FUNC_ORDER for seed in range(args.seeds)]
    jobs += [("cond", s, seed) for s in ("tpe-group", "default") for seed in range(args.seeds)]
    with mp.Pool(args.jobs) as pool:
        rows = pool.map(quality_job, jobs, chunksize=2)
    secs = time.time() - t0
    op_q = {}
    for func, sampler, seed, b25, b50, b100 in rows:
        op_q.setdefault((func, sampler), []).append((b25, b50, b100))
    hp_q = {}
    for r in read_tsv(args.hp_quality):
        if r[0] == "quality" and int(r[3]) < args.seeds:
            hp_q.setdefault((r[1], r[2]), []).append((float(r[4]), float(r[5]), float(r[6])))
    v = compare("Optuna %s's default TPE (TPESampler(seed=s): multivariate, constant_liar) against "
                "hpsearch's TPE modes, %d seeds x 100 trials (sequential: constant_liar has no effect)"
                % (optuna.__version__, args.seeds),
                hp_q, op_q, [("default", "default"), ("tpe", "default"), ("tpe-mv", "default")],
                FUNC_ORDER, args.seeds)
    v += compare("Conditional benchmark (an optimizer choice with per-choice parameters, a schedule "
                 "with its own): Optuna %s TPE(multivariate=True, group=True) and its default"
                 % optuna.__version__, hp_q, op_q,
                 [("default", "tpe-group"), ("tpe", "tpe-group"), ("tpe-mv-flat", "tpe-group"),
                  ("default", "default")], ["cond"], args.seeds)
    print()
    print("Verdict at 100 trials, significance 0.05 (goal: hpsearch's default never worse than")
    print("Optuna's default, better on >= 2 of the four; on cond no worse than group=True):")
    for pair in [("default", "default"), ("tpe", "default"), ("tpe-mv", "default"),
                 ("default", "tpe-group"), ("tpe", "tpe-group"), ("tpe-mv-flat", "tpe-group")]:
        better = worse = 0
        for hs, os_, func, hm, om, pl, pm in v:
            if (hs, os_) != pair:
                continue
            state = "better" if pl < 0.05 else ("WORSE" if pm < 0.05 else "no significant difference")
            better += pl < 0.05
            worse += pm < 0.05
            print("  %-26s %-12s hpsearch median %-10.4g optuna median %-10.4g %s"
                  % (pair[0] + " vs " + pair[1], func, hm, om, state))
        print("  %-26s better on %d, worse on %d" % (pair[0] + " vs " + pair[1], better, worse))
    print("(Optuna %s part took %.0f s with %d processes)" % (optuna.__version__, secs, args.jobs))
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hp-speed")
    ap.add_argument("--hp-quality")
    ap.add_argument("--cache-quality")
    ap.add_argument("--seed-from", type=int, default=0)
    ap.add_argument("--samplers", default=",".join(SAMPLERS))
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--optuna-trials", type=int, default=1010)
    ap.add_argument("--o5", action="store_true",
                    help="compare hpsearch's quality TSV (--hp-quality) with this Optuna's "
                         "default TPE on the four functions and its TPE group=True on the "
                         "conditional benchmark")
    args = ap.parse_args()
    if args.o5:
        return anchor5(args)
    if args.cache_quality:
        jobs = [(f, s, seed) for f in FUNC_ORDER for s in args.samplers.split(",")
                for seed in range(args.seed_from, args.seed_from + args.seeds)]
        with mp.Pool(args.jobs) as pool:
            rows = pool.map(quality_job, jobs, chunksize=1)
        with open(args.cache_quality, "w") as f:
            for r in rows:
                f.write("quality\t%s\t%s\t%d\t%.9g\t%.9g\t%.9g\n" % r)
        return 0
    if not args.hp_speed or not args.hp_quality:
        ap.error("--hp-speed and --hp-quality are required")

    t_start = time.time()
    jobs = [(f, s, seed) for f in FUNC_ORDER for s in SAMPLERS for seed in range(args.seeds)]
    with mp.Pool(args.jobs) as pool:
        speed_async = pool.map_async(speed_job, [("tpe", args.optuna_trials),
                                                  ("tpe-mv", args.optuna_trials)])
        opt_quality = pool.map(quality_job, jobs, chunksize=4)
        opt_speed = [r for rs in speed_async.get() for r in rs]
    optuna_secs = time.time() - t_start

    # ---- speed table
    hp_speed = {(r[1], int(r[2])): (float(r[3]), float(r[4]))
                for r in read_tsv(args.hp_speed) if r[0] == "speed"}
    op_speed = {(m, n): (ms, cpu) for m, n, ms, cpu in opt_speed}
    print()
    print("TPE ask+tell time per trial, 6-parameter mixed space (2 log floats, 1 float, 1 int,")
    print("2 categoricals); mean over trials n-10 .. n+9; Optuna %s in memory." % optuna.__version__)
    print("cpu = the thread's CPU time (what the sampler costs; robust on a shared machine),")
    print("wall = elapsed time. Ratio = Optuna / hpsearch, by CPU time.")
    print("%-8s %7s %12s %12s %12s %12s %8s" % ("mode", "trial", "hp cpu ms", "hp wall ms",
                                               "optuna cpu", "optuna wall", "ratio"))
    for mode in ("tpe", "tpe-mv"):
        for n in (100, 1000, 10000):
            h = hp_speed.get((mode, n))
            o = op_speed.get((mode, n))
            if h is None:
                continue
            if o is None:
                print("%-8s %7d %12.4f %12.4f %12s %12s %8s" % (mode, n, h[1], h[0], "(not run)", "", "-"))
            else:
                print("%-8s %7d %12.4f %12.4f %12.2f %12.2f %7.0fx"
                      % (mode, n, h[1], h[0], o[1], o[0], o[1] / h[1]))
    print("(Optuna is not run to 10,000 trials: its per-trial cost grows linearly and that run")
    print(" alone would take hours.)")

    # ---- quality table
    hp_q = {}
    for r in read_tsv(args.hp_quality):
        if r[0] != "quality":
            continue
        hp_q.setdefault((r[1], r[2]), []).append((float(r[4]), float(r[5]), float(r[6])))
    op_q = {}
    for func, sampler, seed, b25, b50, b100 in opt_quality:
        op_q.setdefault((func, sampler), []).append((b25, b50, b100))

    print()
    print("Best value after 25 / 50 / 100 trials over %d seeds: median [q1, q3]; minimise." % args.seeds)
    print("p(<) = one-sided Mann-Whitney U p-value that hpsearch's bests are smaller than")
    print("Optuna's same sampler; p(>) the opposite direction.")
    hdr = "%-12s %-8s %-7s %-34s %-34s %8s %8s"
    print(hdr % ("function", "sampler", "trials", "hpsearch", "optuna 3.1", "p(<)", "p(>)"))
    verdict = []
    for func in FUNC_ORDER:
        for sampler in SAMPLERS + ["tpe-o31", "tpe-mv-o31"]:
            h = hp_q.get((func, sampler), [])
            # tpe-o31 / tpe-mv-o31 (hpsearch with Optuna 3.1's density) are
            # compared with Optuna's TPE of the same mode.
            o = op_q.get((func, sampler.replace("-o31", "")), [])
            if not h or not o:
                continue
            for k, n in enumerate((25, 50, 100)):
                hv = [x[k] for x in h]
                ov = [x[k] for x in o]
                hq = quartiles(hv)
                oq = quartiles(ov)
                p_less = mann_whitney_less(hv, ov)
                p_more = mann_whitney_less(ov, hv)
                fmt = lambda q: "%.4g [%.4g, %.4g]" % (q[1], q[0], q[2])
                print(hdr % (func, sampler, n, fmt(hq), fmt(oq), "%.3f" % p_less, "%.3f" % p_more))
                if sampler != "random" and n == 100:
                    verdict.append((sampler, func, hq[1], oq[1], p_less, p_more))
        print()
    print("Verdict at 100 trials against Optuna's TPE of the same mode, significance 0.05 (goal:")
    print("never worse, better on >= 2). tpe, tpe-mv = hpsearch default (corrected density);")
    print("tpe-o31, tpe-mv-o31 = hpsearch with optuna31_density (Optuna 3.1's density and")
    print("bandwidths; the same algorithm as Optuna, so differences are chance):")
    for mode in ("tpe", "tpe-mv", "tpe-o31", "tpe-mv-o31"):
        better = worse = 0
        for sampler, func, hm, om, pl, pm in verdict:
            if sampler != mode:
                continue
            state = "better" if pl < 0.05 else ("WORSE" if pm < 0.05 else "no significant difference")
            better += pl < 0.05
            worse += pm < 0.05
            print("  %-8s %-12s hpsearch median %-10.4g optuna median %-10.4g %s"
                  % (mode, func, hm, om, state))
        print("  %-8s better on %d, worse on %d of 4 functions" % (mode, better, worse))
    print("(Optuna part took %.0f s with %d processes)" % (optuna_secs, args.jobs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
