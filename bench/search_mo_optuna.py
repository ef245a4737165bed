#!/usr/bin/python3
"""Optuna 5 side of `make bench-search` for several objectives and
constraints, and the side-by-side report (bench/search_mo.sh runs it).

Runs Optuna's default sampler for several objectives (TPESampler) and its
NSGAIISampler on ZDT1, ZDT2, ZDT3, DTLZ2 (3 objectives) and WFG4, its
constrained TPE (trial.set_constraint) on Branin restricted to a disk, its
constrained TPE and NSGA-II on C2-DTLZ2, and times ask+tell around trial 1,000; reads hpsearch's TSV lines from
bench_search_mo and prints medians, ratios and one-sided Mann-Whitney U
p-values. The problems and reference points are identical to
bench/search_mo.c. The hypervolume of both sides is computed here with
Optuna's own exact routine (optuna._hypervolume.compute_hypervolume) from
the values: hpsearch's are re-read from its own computation only as a
cross-check.

usage: search_mo_optuna.py --hp FILE [--seeds N] [--tpe-seeds N]
       [--tpe-trials N] [--nsga2-trials N] [--jobs N]
"""
import argparse
import math
import multiprocessing as mp
import statistics
import sys
import time
import warnings

import numpy as np
import optuna
from optuna._hypervolume import compute_hypervolume

optuna.logging.set_verbosity(optuna.logging.ERROR)
warnings.filterwarnings("ignore")

# ---- problems (identical to bench/search_mo.c) ---------------------------


def zdt_g(x):
    return 1 + 9 * sum(x[1:30]) / 29


def zdt1(x):
    g = zdt_g(x)
    return [x[0], g * (1 - math.sqrt(x[0] / g))]


def zdt2(x):
    g = zdt_g(x)
    return [x[0], g * (1 - (x[0] / g) ** 2)]


def zdt3(x):
    g = zdt_g(x)
    r = x[0] / g
    return [x[0], g * (1 - math.sqrt(r) - r * math.sin(10 * math.pi * x[0]))]


def dtlz2(x):
    g = sum((xi - 0.5) ** 2 for xi in x[2:12])
    a, b = x[0] * math.pi / 2, x[1] * math.pi / 2
    return [(1 + g) * math.cos(a) * math.cos(b), (1 + g) * math.cos(a) * math.sin(b),
            (1 + g) * math.sin(a)]


def s_multi(y, A=30.0, B=10.0, C=0.35):
    t = abs(y - C) / (2 * (math.floor(C - y) + C))
    return (1 + math.cos((4 * A + 2) * math.pi * (0.5 - t)) + 4 * B * t * t) / (B + 2)


def wfg4(z):
    k, n = 4, 8
    y = [s_multi(z[i] / (2.0 * (i + 1))) for i in range(n)]
    t1 = sum(y[:k]) / k
    t2 = sum(y[k:]) / (n - k)
    return [t2 + 2 * math.sin(t1 * math.pi / 2), t2 + 4 * math.cos(t1 * math.pi / 2)]


PROBLEMS = {  # name: (function, variables, objectives, reference point, upper bound of x_i)
    "zdt1": (zdt1, 30, 2, [1.1, 11], lambda i: 1.0),
    "zdt2": (zdt2, 30, 2, [1.1, 11], lambda i: 1.0),
    "zdt3": (zdt3, 30, 2, [1.1, 11], lambda i: 1.0),
    "dtlz2": (dtlz2, 12, 3, [2.5, 2.5, 2.5], lambda i: 1.0),
    "wfg4": (wfg4, 8, 2, [3, 5], lambda i: 2.0 * (i + 1)),
}


def c2dtlz2_c(f):
    """C2-DTLZ2's constraint (<= 0 feasible), as c2dtlz2_c in bench/search_mo.c."""
    r, cm = 0.4, 1 / math.sqrt(3)
    ends = min(sum((f[j] - 1) ** 2 if j == i else f[j] ** 2 for j in range(3)) for i in range(3))
    centre = sum((v - cm) ** 2 for v in f)
    return min(ends, centre) - r * r


def hypervolume(points, ref):
    """Exact hypervolume of the points strictly inside ref (Optuna's routine)."""
    pts = np.asarray([p for p in points if all(v < r for v, r in zip(p, ref))], dtype=float)
    if pts.size == 0:
        return 0.0
    return float(compute_hypervolume(pts, np.asarray(ref, dtype=float)))


def sampler_of(kind, seed):
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed)  # Optuna 5's default
    return optuna.samplers.NSGAIISampler(seed=seed)


def run_mo(args):
    kind, name, seed, trials = args
    f, n, m, ref, high = PROBLEMS[name]

    def objective(trial):
        return f([trial.suggest_float("x%d" % i, 0, high(i)) for i in range(n)])

    study = optuna.create_study(directions=["minimize"] * m, sampler=sampler_of(kind, seed))
    study.optimize(objective, n_trials=trials)
    vals = [t.values for t in study.trials]
    return ("mo", name, kind, seed, hypervolume(vals[:200], ref), hypervolume(vals, ref))


def run_cmo(args):
    """C2-DTLZ2: hypervolume of the feasible trials after 200 and all trials."""
    kind, seed, trials = args
    ref = PROBLEMS["dtlz2"][3]

    def objective(trial):
        f = dtlz2([trial.suggest_float("x%d" % i, 0, 1) for i in range(12)])
        trial.set_constraint("c", c2dtlz2_c(f))
        return f

    study = optuna.create_study(directions=["minimize"] * 3, sampler=sampler_of(kind, seed))
    study.optimize(objective, n_trials=trials)
    feas = [[t.values if all(c <= 0 for c in t.constraints.values()) else None][0]
            for t in study.trials]
    return ("cmo", "c2dtlz2", kind, seed, hypervolume([v for v in feas[:200] if v], ref),
            hypervolume([v for v in feas if v], ref))


def branin(a, b):
    t = b - 5.1 / (4 * math.pi ** 2) * a * a + 5 / math.pi * a - 6
    return t * t + 10 * (1 - 1 / (8 * math.pi)) * math.cos(a) + 10


def run_con(args):
    seed, trials = args

    def objective(trial):
        a = trial.suggest_float("x1", -5, 10)
        b = trial.suggest_float("x2", 0, 15)
        trial.set_constraint("disk", (a - 2.5) ** 2 + (b - 7.5) ** 2 - 50)
        return branin(a, b)

    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials)
    feas = [t.value for t in study.trials if all(c <= 0 for c in t.constraints.values())]
    return ("con", "branin", "tpe", seed, min(feas) if feas else float("inf"))


def speed(kind, n):
    """Mean wall ms of an ask+tell of ZDT1 around trial n."""
    f, nv, m, ref, high = PROBLEMS["zdt1"]
    study = optuna.create_study(directions=["minimize"] * 2, sampler=sampler_of(kind, 1))
    dists = {"x%d" % i: optuna.distributions.FloatDistribution(0, 1) for i in range(nv)}
    rng = np.random.RandomState(0)

    def one():
        t = study.ask()
        study.tell(t, f([t.suggest_float("x%d" % i, 0, 1) for i in range(nv)]))

    if kind == "tpe":
        # TPE only reads the history: n told trials are added directly (n TPE
        # trials would take hours).
        trials = []
        for _ in range(n):
            x = rng.rand(nv)
            trials.append(optuna.trial.create_trial(
                params={"x%d" % i: float(x[i]) for i in range(nv)}, distributions=dists,
                values=f(list(x))))
        study.add_trials(trials)
        reps = 5
    else:
        # NSGA-II keeps its generations in trial attributes: real trials.
        for _ in range(n):
            one()
        reps = 20
    t0, c0 = time.time(), time.process_time()
    for _ in range(reps):
        one()
    return (time.time() - t0) / reps * 1e3, (time.process_time() - c0) / reps * 1e3


def run_task(task):
    kind, arg = task
    if kind == "speed":
        return ("speed", arg) + speed(arg, 1000)
    if kind == "con":
        return run_con(arg)
    if kind == "cmo":
        return run_cmo(arg)
    return run_mo(arg)


def mann_whitney_p(a, b):
    """One-sided p-value that a tends to be larger than b (scipy if there)."""
    try:
        from scipy.stats import mannwhitneyu
        return mannwhitneyu(a, b, alternative="greater").pvalue
    except Exception:  # normal approximation without ties correction
        n1, n2 = len(a), len(b)
        u = sum(1.0 if x > y else 0.5 if x == y else 0.0 for x in a for y in b)
        mu, sd = n1 * n2 / 2, math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12)
        return 0.5 * math.erfc((u - mu) / sd / math.sqrt(2)) if sd > 0 else 1.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hp", required=True)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--tpe-seeds", type=int, default=5)
    ap.add_argument("--tpe-trials", type=int, default=200)
    ap.add_argument("--nsga2-trials", type=int, default=1000)
    ap.add_argument("--con-trials", type=int, default=100)
    ap.add_argument("--con-seeds", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()

    hp = {}
    hp_speed = {}
    for line in open(a.hp):
        f = line.split()
        if f[0] == "mo":
            hp.setdefault((f[1], f[2]), []).append((float(f[4]), float(f[5])))
        elif f[0] == "con":
            hp.setdefault(("con", f[2]), []).append(float(f[4]))
        elif f[0] == "cmo":
            hp.setdefault(("cmo", f[2]), []).append((float(f[4]), float(f[5])))
        elif f[0] == "speed":
            hp_speed[f[1]] = (float(f[3]), float(f[4]))  # wall, CPU ms

    # Cheapest first; every run's line is printed as it ends ("optuna ..."),
    # so a run cut short still shows what it measured.
    tasks = [("speed", k) for k in ("tpe", "nsga2")]
    tasks += [("con", (s, a.con_trials)) for s in range(a.con_seeds)]
    tasks += [("mo", ("nsga2", p, s, a.nsga2_trials)) for s in range(a.seeds) for p in PROBLEMS]
    tasks += [("cmo", ("nsga2", s, a.nsga2_trials)) for s in range(a.seeds)]
    tasks += [("mo", ("tpe", p, s, a.tpe_trials)) for s in range(a.tpe_seeds) for p in PROBLEMS]
    tasks += [("cmo", ("tpe", s, a.tpe_trials)) for s in range(a.tpe_seeds)]
    t0 = time.time()
    res, con, cmo, speeds = [], [], [], {}
    with mp.Pool(a.jobs) as pool:
        for r in pool.imap_unordered(run_task, tasks):
            print("optuna\t" + "\t".join(str(x) for x in r), flush=True)
            if r[0] == "mo":
                res.append(r)
            elif r[0] == "con":
                con.append(r)
            elif r[0] == "cmo":
                cmo.append(r)
            else:
                speeds[r[1]] = (r[2], r[3])
    print("   (Optuna runs took %.0f s)" % (time.time() - t0))
    opt = {}
    for r in res:
        opt.setdefault((r[1], r[2]), []).append((r[4], r[5]))

    print("\n== hypervolume, median over seeds (higher is better); p: one-sided Mann-Whitney U "
          "that hpsearch's is larger (small p) or smaller (p near 1)")
    print("%-6s %-5s %-22s %-22s %-22s %s" % ("prob", "after", "hpsearch tpe", "hpsearch nsga2",
                                               "optuna5 tpe (default)", "optuna5 nsga2 / p (hp tpe vs it)"))
    for p in PROBLEMS:
        for k, label in ((0, "200"), (1, "end")):
            def med(v):
                return statistics.median(x[k] for x in v) if v else float("nan")
            ht, hn = hp.get((p, "tpe"), []), hp.get((p, "nsga2"), [])
            ot, on = opt.get((p, "tpe"), []), opt.get((p, "nsga2"), [])
            if k == 1 and a.tpe_trials < 1000:
                ot = []  # Optuna's TPE ran only to --tpe-trials
            cells = []
            for v in (ht, hn, ot):
                cells.append("%.4f (n=%d)" % (med(v), len(v)) if v else "-")
            pv_on = mann_whitney_p([x[k] for x in ht], [x[k] for x in on]) if ht and on else float("nan")
            pv_ot = mann_whitney_p([x[k] for x in ht], [x[k] for x in ot]) if ht and ot else float("nan")
            print("%-6s %-5s %-22s %-22s %-22s %.4f (n=%d) p=%.3g; vs optuna tpe p=%.3g" % (
                p, label, cells[0], cells[1], cells[2], med(on), len(on), pv_on, pv_ot))
    print("   (end = %d trials for hpsearch and Optuna's NSGA-II; Optuna's TPE %s)" % (
        a.nsga2_trials, "ran to %d trials only" % a.tpe_trials if a.tpe_trials < 1000 else "too"))

    print("\n== constrained Branin (disk), best feasible value after %d trials, median "
          "(lower is better; optimum 0.397887)" % a.con_trials)
    hc = hp.get(("con", "tpe"), [])
    oc = [r[4] for r in con]
    print("hpsearch tpe %.6f (n=%d)  optuna5 tpe %.6f (n=%d)  p(hpsearch lower)=%.3g" % (
        statistics.median(hc) if hc else float("nan"), len(hc), statistics.median(oc), len(oc),
        mann_whitney_p([-x for x in hc], [-x for x in oc]) if hc else float("nan")))

    print("\n== C2-DTLZ2 (3 objectives, feasible only in 4 spheres of radius 0.4), hypervolume of "
          "the feasible trials, median (higher is better); p: hpsearch's larger (small) or "
          "smaller (near 1)")
    oc2 = {}
    for r in cmo:
        oc2.setdefault(r[2], []).append((r[4], r[5]))
    for k, label in ((0, "200"), (1, "end")):
        cells = []
        for key, v in (("hp tpe", hp.get(("cmo", "tpe"), [])), ("hp nsga2", hp.get(("cmo", "nsga2"), [])),
                       ("optuna5 tpe", oc2.get("tpe", []) if k == 0 or a.tpe_trials >= 1000 else []),
                       ("optuna5 nsga2", oc2.get("nsga2", []))):
            cells.append("%s %.4f (n=%d)" % (key, statistics.median(x[k] for x in v), len(v))
                         if v else "%s -" % key)
        ht, hn = hp.get(("cmo", "tpe"), []), hp.get(("cmo", "nsga2"), [])
        ot, on = oc2.get("tpe", []), oc2.get("nsga2", [])
        pt = mann_whitney_p([x[k] for x in ht], [x[k] for x in ot]) if ht and ot and cells[2][-1] != "-" else float("nan")
        pn = mann_whitney_p([x[k] for x in hn], [x[k] for x in on]) if hn and on else float("nan")
        print("after %-4s %s | tpe p=%.3g, nsga2 p=%.3g" % (label, "  ".join(cells), pt, pn))

    print("\n== ask+tell time per trial around trial 1,000 on ZDT1 (30 variables)")
    for kind in ("tpe", "nsga2"):
        wall, cpu = speeds[kind]
        mw, mc = hp_speed.get(kind, (float("nan"), float("nan")))
        print("%-6s hpsearch %.3f ms CPU (%.3f wall)  optuna5 %.1f ms CPU (%.1f wall)  "
              "CPU ratio 1/%.0f" % (kind, mc, mw, cpu, wall, cpu / mc if mc > 0 else float("nan")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
