"""Helper of tests/daemon/test_cli.c (test_several_objectives_optuna): a study
with two objectives (minimize, maximize) and a constraint, written and read by
Optuna. Which Optuna is whatever `import optuna` finds: Debian's 3.1, or the
vendored Optuna 5 when PYTHONPATH points at it.

usage: optuna_multi.py write DB STUDY     Optuna's NSGA-II (constraints_func)
           creates STUDY with 6 trials over x, y in [0, 1]
       optuna_multi.py check DB STUDY N   loads STUDY, dumps what Optuna sees,
           then runs N more trials with Optuna's NSGA-II and dumps again

Objective: values (x, y * (1 - x)); constraint x - 0.7 (<= 0 satisfied).
Prints one JSON document: {"version", "directions", "trials": [{"number",
"state", "values", "constraints", "params"}], "best_trials": [numbers],
"after": {...}}. Exit 3 when Optuna is missing.
"""
import json
import sys
import warnings

try:
    import optuna
except ImportError as exc:
    print("optuna import failed: %s" % exc, file=sys.stderr)
    sys.exit(3)

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.simplefilter("ignore")  # Optuna 5 deprecates constraints_func


def constraints(trial):
    return [trial.params["x"] - 0.7]


def objective(trial):
    x = trial.suggest_float("x", 0, 1)
    y = trial.suggest_float("y", 0, 1)
    return x, y * (1 - x)


def sampler():
    return optuna.samplers.NSGAIISampler(seed=1, population_size=4, constraints_func=constraints)


def dump(study):
    trials = []
    for t in study.trials:
        cons = t.system_attrs.get("constraints")
        trials.append({"number": t.number, "state": t.state.name, "values": t.values,
                       "constraints": list(cons) if cons is not None else None,
                       "params": t.params})
    return {"version": optuna.__version__,
            "directions": [d.name for d in study.directions],
            "trials": trials,
            "best_trials": [t.number for t in study.best_trials]}


def main(argv):
    mode, db, name = argv[1], argv[2], argv[3]
    storage = "sqlite:///" + db
    if mode == "write":
        study = optuna.create_study(storage=storage, study_name=name, sampler=sampler(),
                                    directions=["minimize", "maximize"])
        study.optimize(objective, n_trials=6)
        print(json.dumps(dump(study)))
        return 0
    if mode == "check":
        study = optuna.load_study(storage=storage, study_name=name, sampler=sampler())
        out = dump(study)
        study.optimize(objective, n_trials=int(argv[4]))
        out["after"] = dump(study)
        print(json.dumps(out))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
