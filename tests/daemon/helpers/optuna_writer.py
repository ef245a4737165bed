"""Helper of tests/daemon/test_daemon.c: Optuna 3.1 (python3-optuna) writing
to the database a running hpsearch daemon owns, as Optuna's own model of
several writer processes on one SQLite file does.

usage: optuna_writer.py DB STEP...   the steps run in order, in one process:
  create:STUDY:N   create STUDY (maximize) and run N trials (y in [0, 1])
  trials:STUDY:N   add N trials (x in [0, 1], value x) to an existing STUDY
  grid:STUDY       add the trials x = 0 and x = 1 (int in 0..3) to STUDY
  check:STUDY      print what Optuna reads of STUDY as one JSON line:
                   {"n": trials, "numbers_ok": 0..n-1 each once,
                    "complete": COMPLETE trials}

Exit 3 when Optuna is missing; any Optuna error (e.g. "database is locked")
is an exit 1 with the traceback on stderr.
"""
import json
import sys

try:
    import optuna
    import sqlalchemy
    import sqlalchemy.event
except ImportError as exc:  # the C test turns this into an install hint
    print("optuna import failed: %s" % exc, file=sys.stderr)
    sys.exit(3)

optuna.logging.set_verbosity(optuna.logging.WARNING)


@sqlalchemy.event.listens_for(sqlalchemy.engine.Engine, "connect")
def _no_fsync(dbapi_connection, _record):
    """Optuna's connections commit without fsync (synchronous=OFF): locking,
    transactions and numbering are unchanged, and 200 trials take seconds,
    not half a minute of fsyncs on a loaded test machine."""
    dbapi_connection.execute("PRAGMA synchronous = OFF")


def step(storage, mode, name, arg):
    if mode == "create":
        study = optuna.create_study(study_name=name, storage=storage, direction="maximize",
                                    sampler=optuna.samplers.RandomSampler(seed=1))
        study.optimize(lambda t: t.suggest_float("y", 0, 1), n_trials=int(arg))
    elif mode == "trials":
        study = optuna.load_study(study_name=name, storage=storage,
                                  sampler=optuna.samplers.RandomSampler(seed=2))
        for _ in range(int(arg)):
            trial = study.ask()
            study.tell(trial, trial.suggest_float("x", 0, 1))
    elif mode == "grid":
        study = optuna.load_study(study_name=name, storage=storage,
                                  sampler=optuna.samplers.GridSampler({"x": [0, 1]}))
        study.optimize(lambda t: t.suggest_int("x", 0, 3), n_trials=2)
    elif mode == "check":
        study = optuna.load_study(study_name=name, storage=storage)
        trials = study.get_trials(deepcopy=False)
        numbers = sorted(t.number for t in trials)
        print(json.dumps({
            "n": len(trials),
            "numbers_ok": numbers == list(range(len(trials))),
            "complete": sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials),
        }))
    else:
        sys.exit("unknown step " + mode)


def main():
    storage = "sqlite:///" + sys.argv[1]
    for arg in sys.argv[2:]:
        parts = arg.split(":") + [None]
        step(storage, parts[0], parts[1], parts[2])


main()
