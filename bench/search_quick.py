#!/usr/bin/python3
"""Quick quality check for TPE work: runs hpsearch's quality benchmark for
one sampler on a seed range and compares it with Optuna's per-seed results
cached in a file (made once by `search_optuna.py --cache-quality`), so
Optuna is not re-run on every iteration. Prints medians, quartiles and the
one-sided Mann-Whitney U p-values at 100 trials.

usage: search_quick.py [--bin build/bench_search] [--sampler tpe]
       [--seed-from 0] [--seeds 20] [--cache FILE] [--against tpe]
The cache defaults to bench/out/optuna_<against>_<from>_<to>.tsv (gitignored).
The cache must hold Optuna's `--against` sampler for those seeds; if it does
not, it is made first (one process; a few minutes).
"""
import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from search_optuna import FUNC_ORDER, mann_whitney_less, quartiles  # noqa: E402


def load(lines, sampler, seeds):
    out = {}
    for line in lines:
        r = line.rstrip("\n").split("\t")
        if r[0] != "quality" or r[2] != sampler or int(r[3]) not in seeds:
            continue
        out.setdefault(r[1], {})[int(r[3])] = float(r[6])
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/bench_search")
    ap.add_argument("--sampler", default="tpe")
    ap.add_argument("--against", default="tpe")
    ap.add_argument("--seed-from", type=int, default=0)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--cache")
    args = ap.parse_args()
    if args.cache is None:
        args.cache = os.path.join(here, "out", "optuna_%s_%d_%d.tsv"
                                  % (args.against, args.seed_from, args.seed_from + args.seeds))
    seeds = set(range(args.seed_from, args.seed_from + args.seeds))
    cached = load(open(args.cache), args.against, seeds) if os.path.exists(args.cache) else {}
    if any(len(cached.get(f, {})) < len(seeds) for f in FUNC_ORDER):
        os.makedirs(os.path.dirname(args.cache), exist_ok=True)
        subprocess.run([sys.executable, os.path.join(here, "search_optuna.py"), "--cache-quality",
                        args.cache, "--seed-from", str(args.seed_from), "--seeds",
                        str(args.seeds), "--samplers", args.against, "--jobs", "1"], check=True)
        cached = load(open(args.cache), args.against, seeds)
    res = subprocess.run([args.bin, "quality", str(args.seeds), str(args.seed_from), args.sampler],
                         check=True, capture_output=True, text=True)
    hp = load(res.stdout.splitlines(), args.sampler, seeds)
    print("seeds %d..%d, best after 100 trials, hpsearch %s vs Optuna %s"
          % (args.seed_from, args.seed_from + args.seeds - 1, args.sampler, args.against))
    better = worse = 0
    for f in FUNC_ORDER:
        hv = [hp[f][s] for s in sorted(seeds)]
        ov = [cached[f][s] for s in sorted(seeds)]
        hq, oq = quartiles(hv), quartiles(ov)
        pl, pm = mann_whitney_less(hv, ov), mann_whitney_less(ov, hv)
        better += pl < 0.05
        worse += pm < 0.05
        print("  %-12s %-30s optuna %-30s p(<) %.3f p(>) %.3f %s"
              % (f, "%.4g [%.4g, %.4g]" % (hq[1], hq[0], hq[2]),
                 "%.4g [%.4g, %.4g]" % (oq[1], oq[0], oq[2]), pl, pm,
                 "BETTER" if pl < 0.05 else ("WORSE" if pm < 0.05 else "")))
    print("  better on %d, worse on %d" % (better, worse))
    return 0


if __name__ == "__main__":
    sys.exit(main())
