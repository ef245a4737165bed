#!/usr/bin/python3
"""Quick quality check for TPE work: runs hpsearch's quality benchmark for
one sampler on a seed range and compares it with Optuna's per-seed results
cached in a file (made once by `search_optuna.py --cache-quality`), so
Optuna is not re-run on every iteration. Prints medians, quartiles and the
one-sided Mann-Whitney U p-values at 100 trials.

usage: search_quick.py [--bin build/bench_search] [--sampler tpe]
       [--seed-from 0] [--seeds 20] [--cache FILE] [--against SAMPLER]
--against defaults to --sampler without "-o31" (Optuna's same mode).
Without --cache, Optuna's results are looked up in every
bench/out/optuna_*.tsv (gitignored); if some seeds are missing,
bench/out/optuna_<against>_<from>_<to>.tsv is made first (one process; a few
minutes). --sampler and --against may be comma lists of equal length
(e.g. tpe,tpe-mv against tpe,tpe-mv: each mode against Optuna's same mode).
"""
import argparse
import glob
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


def load_cache(paths, sampler, seeds):
    out = {}
    for path in paths:
        with open(path) as f:
            for func, d in load(f, sampler, seeds).items():
                out.setdefault(func, {}).update(d)
    return out


def report(name, hv, ov, markdown):
    """Prints one function's row; returns (better, worse) at 0.05."""
    hq, oq = quartiles(hv), quartiles(ov)
    pl, pm = mann_whitney_less(hv, ov), mann_whitney_less(ov, hv)
    verdict = "better" if pl < 0.05 else ("worse" if pm < 0.05 else "")
    if markdown:
        print("| %s | %s | %s, p(<) %.3f, p(>) %.3f%s |"
              % (name, "%.4g [%.4g, %.4g]" % (oq[1], oq[0], oq[2]),
                 "%.4g [%.4g, %.4g]" % (hq[1], hq[0], hq[2]), pl, pm,
                 " **%s**" % verdict if verdict else ""))
    else:
        print("  %-12s %-30s ref %-30s p(<) %.3f p(>) %.3f %s"
              % (name, "%.4g [%.4g, %.4g]" % (hq[1], hq[0], hq[2]),
                 "%.4g [%.4g, %.4g]" % (oq[1], oq[0], oq[2]), pl, pm, verdict.upper()))
    return pl < 0.05, pm < 0.05


def compare_extra(args, samplers, seeds):
    names = samplers + [s + "-o31" for s in samplers]
    res = subprocess.run([args.bin, "extra", str(args.seeds), str(args.seed_from), ",".join(names)],
                         check=True, capture_output=True, text=True)
    funcs = []
    for line in res.stdout.splitlines():
        f = line.split("\t")[1]
        if f not in funcs:
            funcs.append(f)
    for sampler in samplers:
        hp = load(res.stdout.splitlines(), sampler, seeds)
        ref = load(res.stdout.splitlines(), sampler + "-o31", seeds)
        print("seeds %d..%d, best at the end, hpsearch %s vs %s-o31 (Optuna 3.1's algorithm)"
              % (min(seeds), max(seeds), sampler, sampler))
        better = worse = 0
        for f in funcs:
            b, w = report(f, [hp[f][s] for s in sorted(seeds)], [ref[f][s] for s in sorted(seeds)],
                          args.markdown)
            better += b
            worse += w
        print("  better on %d, worse on %d" % (better, worse))
    return 0


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/bench_search")
    ap.add_argument("--sampler", default="tpe")
    ap.add_argument("--against")
    ap.add_argument("--seed-from", type=int, default=0)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--cache")
    ap.add_argument("--extra", action="store_true",
                    help="the seven functions of `bench_search extra`, each mode against its "
                    "optuna31_density run (Optuna 3.1's algorithm) instead of Optuna")
    ap.add_argument("--markdown", action="store_true",
                    help="print table rows: | function | optuna | hpsearch, p(<), p(>) |")
    args = ap.parse_args()
    samplers = args.sampler.split(",")
    against = (args.against or args.sampler.replace("-o31", "")).split(",")
    if len(against) != len(samplers):
        ap.error("--sampler and --against need the same number of names")
    seeds = set(range(args.seed_from, args.seed_from + args.seeds))
    if args.extra:
        return compare_extra(args, samplers, seeds)
    res = subprocess.run([args.bin, "quality", str(args.seeds), str(args.seed_from),
                          ",".join(samplers)], check=True, capture_output=True, text=True)
    for sampler, ag in zip(samplers, against):
        if args.cache:
            paths = [args.cache]
        else:
            paths = sorted(glob.glob(os.path.join(here, "out", "optuna_*.tsv")))
        cached = load_cache([p for p in paths if os.path.exists(p)], ag, seeds)
        if any(len(cached.get(f, {})) < len(seeds) for f in FUNC_ORDER):
            path = args.cache or os.path.join(here, "out", "optuna_%s_%d_%d.tsv"
                                              % (ag, args.seed_from, args.seed_from + args.seeds))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            subprocess.run([sys.executable, os.path.join(here, "search_optuna.py"),
                            "--cache-quality", path, "--seed-from", str(args.seed_from),
                            "--seeds", str(args.seeds), "--samplers", ag, "--jobs", "1"],
                           check=True)
            cached = load_cache([path], ag, seeds)
        hp = load(res.stdout.splitlines(), sampler, seeds)
        print("seeds %d..%d, best after 100 trials, hpsearch %s vs Optuna %s"
              % (args.seed_from, args.seed_from + args.seeds - 1, sampler, ag))
        better = worse = 0
        for f in FUNC_ORDER:
            hv = [hp[f][s] for s in sorted(seeds)]
            ov = [cached[f][s] for s in sorted(seeds)]
            hq, oq = quartiles(hv), quartiles(ov)
            pl, pm = mann_whitney_less(hv, ov), mann_whitney_less(ov, hv)
            better += pl < 0.05
            worse += pm < 0.05
            verdict = "better" if pl < 0.05 else ("worse" if pm < 0.05 else "")
            if args.markdown:
                print("| %s | %s | %s, p(<) %.3f, p(>) %.3f%s |"
                      % (f, "%.4g [%.4g, %.4g]" % (oq[1], oq[0], oq[2]),
                         "%.4g [%.4g, %.4g]" % (hq[1], hq[0], hq[2]), pl, pm,
                         " **%s**" % verdict if verdict else ""))
                continue
            print("  %-12s %-30s optuna %-30s p(<) %.3f p(>) %.3f %s"
                  % (f, "%.4g [%.4g, %.4g]" % (hq[1], hq[0], hq[2]),
                     "%.4g [%.4g, %.4g]" % (oq[1], oq[0], oq[2]), pl, pm, verdict.upper()))
        print("  better on %d, worse on %d" % (better, worse))
    return 0


if __name__ == "__main__":
    sys.exit(main())
