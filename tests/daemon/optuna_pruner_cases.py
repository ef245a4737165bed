"""Helper of tests/search/test_pruner.c: runs Optuna 3.1's own pruners
(python3-optuna) on random interleaved learning curves -- NaN, +-inf, skipped
steps, FAIL and PRUNED trials included -- and prints every event with
Optuna's decision as JSON, so the C test can replay them through hpsearch's
pruners and require the same decision each time.

usage: optuna_pruner_cases.py [N_SEEDS]      (exit 3 when Optuna is missing)
"""
import json
import math
import random
import sys
import warnings

try:
    import optuna
    from optuna.trial import TrialState
except ImportError as exc:  # the C test turns this into an install hint
    print("optuna import failed: %s" % exc, file=sys.stderr)
    sys.exit(3)

optuna.logging.set_verbosity(optuna.logging.ERROR)
warnings.filterwarnings("ignore")  # ExperimentalWarning of some pruner options


def make(cfg):
    """The Optuna pruner of an hpsearch pruner config."""
    kw = {k: v for k, v in cfg.items() if k != "type"}
    return {"median": optuna.pruners.MedianPruner,
            "percentile": optuna.pruners.PercentilePruner,
            "asha": optuna.pruners.SuccessiveHalvingPruner,
            "hyperband": optuna.pruners.HyperbandPruner}[cfg["type"]](**kw)


def encode(v):
    """A float for JSON: non-finite values as strings."""
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def run(cfg, direction, seed, n_trials=60, max_steps=30):
    """One study of study_name "xc": up to 3 trials run at once and report
    in random order. Events: ["r", number, step, value, decision] for a
    report followed by should_prune, ["f", number, state] for an end."""
    rng = random.Random(seed)
    study = optuna.create_study(study_name="xc", direction=direction, pruner=make(cfg))
    events = []
    running = []  # [trial, next step, quality, length]
    started = 0
    while started < n_trials or running:
        if started < n_trials and (not running or (len(running) < 3 and rng.random() < 0.6)):
            running.append([study.ask(), 0, rng.random() * 10, rng.randint(3, max_steps)])
            started += 1
            continue
        r = rng.choice(running)
        trial, step, quality, length = r
        if rng.random() < 0.03:
            study.tell(trial, state=TrialState.FAIL)
            events.append(["f", trial.number, "FAIL"])
            running.remove(r)
            continue
        u = rng.random()
        v = quality / (1 + step) + rng.random()
        if u < 0.03:
            v = float("nan")
        elif u < 0.04:
            v = float("inf")
        elif u < 0.05:
            v = float("-inf")
        if rng.random() < 0.1:
            step += rng.randint(1, 4)  # a skipped step
        trial.report(v, step)
        decision = trial.should_prune()
        events.append(["r", trial.number, step, encode(v), int(decision)])
        r[1] = step + 1
        if decision:
            study.tell(trial, state=TrialState.PRUNED)
            events.append(["f", trial.number, "PRUNED"])
            running.remove(r)
        elif r[1] >= length:
            study.tell(trial, v if not math.isnan(v) else 0.0)
            events.append(["f", trial.number, "COMPLETE"])
            running.remove(r)
    return events


def main():
    n_seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    cases = []
    cfgs = [
        {"type": "median"},
        {"type": "median", "n_startup_trials": 3, "n_warmup_steps": 2, "interval_steps": 3,
         "n_min_trials": 2},
        {"type": "percentile", "percentile": 25.0, "n_startup_trials": 2},
        {"type": "percentile", "percentile": 70.0, "n_startup_trials": 0, "interval_steps": 2},
        {"type": "asha"},
        {"type": "asha", "min_resource": 1, "reduction_factor": 2, "bootstrap_count": 1},
        {"type": "asha", "min_resource": 2, "reduction_factor": 3, "min_early_stopping_rate": 1},
        {"type": "hyperband", "min_resource": 1, "reduction_factor": 3},
        {"type": "hyperband", "min_resource": 1, "max_resource": 20, "reduction_factor": 2},
    ]
    for i, cfg in enumerate(cfgs):
        for direction in ("minimize", "maximize"):
            for seed in range(n_seeds):
                cases.append({"cfg": cfg, "maximize": direction == "maximize",
                              "events": run(cfg, direction, seed * 100 + i)})
    json.dump(cases, sys.stdout)


if __name__ == "__main__":
    main()
