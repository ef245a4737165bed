"""Helper of tests/daemon/test_cli.c (test_conditional_interop): the
conditional space of that test written define-by-run, as an Optuna user
would, so that Optuna and hpsearch read each other's studies of it.
Which Optuna is whatever `import optuna` finds (Debian's 3.1, or the
vendored Optuna 5 through PYTHONPATH).

usage: optuna_conditional.py write DB STUDY N   Optuna creates STUDY, runs N trials
       optuna_conditional.py check DB STUDY N   loads STUDY, checks every trial has
                                                exactly its active parameters, then
                                                runs N more trials
The sampler is TPE with multivariate=True, group=True (seed 1). Prints one
JSON document: version, the trials' params (before and after), the names of
trials whose parameters are not the active ones ("bad"). Exit 3 when Optuna
is missing.
"""
import json
import math
import sys
import warnings

try:
    import optuna
except ImportError as exc:
    print("optuna import failed: %s" % exc, file=sys.stderr)
    sys.exit(3)

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.simplefilter("ignore")

# The space of the C test's spec, in Optuna's define-by-run form:
#   opt categorical; lr float log; momentum, nesterov when opt = momentum;
#   dampening when nesterov = false; beta1 when opt = adam.
def suggest(trial):
    opt = trial.suggest_categorical("opt", ["sgd", "momentum", "adam"])
    lr = trial.suggest_float("lr", 1e-4, 0.1, log=True)
    loss = (math.log10(lr) + 2.5) ** 2
    if opt == "momentum":
        m = trial.suggest_float("momentum", 0.5, 0.99)
        nest = trial.suggest_categorical("nesterov", [False, True])
        loss += abs(m - 0.9)
        if not nest:
            loss += trial.suggest_float("dampening", 0.0, 0.5)
    elif opt == "adam":
        loss += abs(trial.suggest_float("beta1", 0.8, 0.99) - 0.9) - 0.2
    else:
        loss += 0.5
    return loss


def active(params):
    """The parameter names a trial with these values must have."""
    names = {"opt", "lr"}
    if params.get("opt") == "momentum":
        names |= {"momentum", "nesterov"}
        if params.get("nesterov") is False:
            names.add("dampening")
    if params.get("opt") == "adam":
        names.add("beta1")
    return names


def dump(study):
    trials = study.get_trials(deepcopy=False)
    bad = [t.number for t in trials if set(t.params) != active(t.params)]
    return [{"number": t.number, "state": t.state.name, "params": t.params} for t in trials], bad


def main():
    mode, db, name, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    storage = "sqlite:///" + db
    sampler = optuna.samplers.TPESampler(seed=1, multivariate=True, group=True,
                                         n_startup_trials=5)
    out = {"version": optuna.__version__}
    if mode == "write":
        study = optuna.create_study(study_name=name, storage=storage, sampler=sampler)
    else:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler)
        out["before"], out["bad_before"] = dump(study)
    study.optimize(suggest, n_trials=n)
    out["after"], out["bad"] = dump(study)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
