#!/usr/bin/python3
"""`make bench-search-mo-step`: hpsearch's multi-objective TPE against Optuna
5's, one step at a time on the same history (docs/search.md, "TPE at 1,000
trials").

Runs Optuna 5's default TPESampler on a problem of bench/search_mo.c (or
reads a history), then after N trials for each N of --at feeds the first N
trials to Optuna 5's TPESampler internals (its split into below and above
and each parameter's Parzen mixtures l and g: centres, bandwidths, weights)
and to hpsearch (`bench_search_mo mixtures`), and prints the largest
differences per N. From 251 trials on (a below set of more than gamma_max =
25 members) hpsearch uses Optuna 5's mixtures and the two must agree; up to
250 hpsearch's own rules (docs/search.md, "Several objectives") make l and
g's weights and bandwidths differ on purpose.

usage: search_mo_step.py --bin BUILD/bench_search_mo [--problem wfg4]
       [--seed 0] [--trials 1000] [--at 20,120,250,300,600,999] [--hist FILE]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import optuna
from optuna.distributions import FloatDistribution
from optuna.samplers._tpe.sampler import _split_trials, default_gamma_multiobjective
from optuna.trial import TrialState

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import search_mo_optuna as bench  # noqa: E402  (the problems, identical to bench/search_mo.c)

optuna.logging.set_verbosity(optuna.logging.ERROR)


def run_history(name, seed, trials):
    f, n, m, ref, high = bench.PROBLEMS[name]

    def objective(trial):
        return f([trial.suggest_float("x%d" % i, 0, high(i)) for i in range(n)])

    study = optuna.create_study(directions=["minimize"] * m,
                                sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials)
    return [[t.number] + [t.params["x%d" % i] for i in range(n)] + list(t.values)
            for t in study.trials]


def optuna_mixtures(name, rows):
    """Per parameter {'l': array (K, 3), 'g': ...} of (mu, sigma, w) by mu."""
    f, n, m, ref, high = bench.PROBLEMS[name]
    dists = {"x%d" % i: FloatDistribution(0, high(i)) for i in range(n)}
    study = optuna.create_study(directions=["minimize"] * m,
                                sampler=optuna.samplers.TPESampler(seed=0))
    study.add_trials([optuna.trial.create_trial(
        params={"x%d" % i: float(r[1 + i]) for i in range(n)}, distributions=dists,
        values=[float(v) for v in r[1 + n:1 + n + m]]) for r in rows])
    s = study.sampler
    trials = study._get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    below, above = _split_trials(study, trials, default_gamma_multiobjective(len(trials)))
    out = []
    for i in range(n):
        p = "x%d" % i
        rec = {}
        for lab, tr, hb in (("l", below, True), ("g", above, False)):
            md = s._build_parzen_estimator(study, {p: dists[p]}, tr, handle_below=hb)._mixture_distribution
            d = md.distributions[0]
            order = np.argsort(d.mu, kind="stable")
            rec[lab] = np.array([[d.mu[k], d.sigma[k], md.weights[k]] for k in order])
        out.append(rec)
    return out


def hp_mixtures(binary, name, hist_path, n_told):
    with open(hist_path) as h:
        r = subprocess.run([binary, "mixtures", name, str(n_told)], stdin=h, capture_output=True,
                           text=True, check=True)
    out = {}
    for line in r.stdout.splitlines():
        a = line.split()
        out.setdefault(int(a[1]), {})[a[2]] = np.array([float(v) for v in a[4:]]).reshape(-1, 3)
    return [out[i] for i in sorted(out)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--problem", default="wfg4")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--at", default="20,120,250,300,600,999")
    ap.add_argument("--hist", help="history to use instead of an Optuna run (number x.. f.. per line)")
    a = ap.parse_args()
    at = [int(v) for v in a.at.split(",")]
    if a.hist:
        rows = [[float(v) for v in line.split()] for line in open(a.hist)]
        rows = [[int(r[0])] + r[1:] for r in rows]
    else:
        print("== Optuna %s default TPE on %s, seed %d, %d trials" % (optuna.__version__, a.problem,
                                                                    a.seed, a.trials), flush=True)
        rows = run_history(a.problem, a.seed, max(a.trials, max(at)))
    fd, path = tempfile.mkstemp(suffix=".hist")
    with os.fdopen(fd, "w") as f:
        for r in rows:
            f.write(" ".join([str(r[0])] + [repr(float(v)) for v in r[1:]]) + "\n")
    bad = 0
    try:
        print("%6s %6s  %-10s %-10s %-10s  %-10s %-10s %-10s  %s" % (
            "trials", "below", "l: mu", "sigma", "weight", "g: mu", "sigma", "weight", "expected"))
        for n_told in at:
            o = optuna_mixtures(a.problem, rows[:n_told])
            h = hp_mixtures(a.bin, a.problem, path, n_told)
            d = {}
            for lab in ("l", "g"):
                for k in range(3):
                    d[lab, k] = max(float(np.abs(oi[lab][:, k] - hi[lab][:, k]).max())
                                    if oi[lab].shape == hi[lab].shape else float("inf")
                                    for oi, hi in zip(o, h))
            nb = len(o[0]["l"]) - 1
            same = max(d.values()) < 1e-9
            expect = "same" if nb > 25 else "differ (hpsearch's rules)"
            if nb > 25 and not same:
                bad += 1
            print("%6d %6d  %-10.3g %-10.3g %-10.3g  %-10.3g %-10.3g %-10.3g  %s: %s" % (
                n_told, nb, d["l", 0], d["l", 1], d["l", 2], d["g", 0], d["g", 1], d["g", 2], expect,
                "same" if same else "differ"), flush=True)
    finally:
        os.unlink(path)
    print("   (largest absolute differences over the %d parameters; centres equal = the same below set)"
          % len(o))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
