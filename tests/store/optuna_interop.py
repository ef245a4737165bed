"""Helper of tests/store/test_store.c and tests/daemon/test_optuna.c: drives
Optuna on a database that hpsearch wrote, or writes one with Optuna for
hpsearch to read. Which Optuna is whatever `import optuna` finds: Debian's 3.1
(python3-optuna), or the vendored Optuna 5 when PYTHONPATH points at it.

usage: optuna_interop.py write DB            Optuna writes studies "opt" and "multi"
       optuna_interop.py seed DB STUDY       Optuna creates STUDY (minimize; x float,
           n int, opt categorical) with 4 COMPLETE trials (reports, a user attr)
       optuna_interop.py check DB STUDY [--cli] [--continue N] [--schema NEWDB]
                                        [--storage-upgrade OTHERDB]
           loads STUDY with optuna.load_study, dumps what Optuna sees and its
           get_all_study_summaries; with --cli also runs the `optuna trials` /
           `optuna best-trial` commands (in this process); with --continue N
           runs N more trials with Optuna's TPE sampler; with --schema NEWDB
           also creates a new file NEWDB with Optuna and dumps its DDL texts
           and version rows; with --storage-upgrade OTHERDB runs `optuna storage
           upgrade` on OTHERDB and dumps the same.

Prints one JSON document on stdout (non-finite floats as the strings "inf",
"-inf", "nan" so that any JSON parser reads it), with "version": Optuna's
version. Exit 3 when Optuna is missing.
"""
import contextlib
import io
import json
import math
import sqlite3
import sys

try:
    import optuna
    from optuna.distributions import (CategoricalDistribution, FloatDistribution,
                                      IntDistribution, distribution_to_json)
except ImportError as exc:  # the C test turns this into an install hint
    print("optuna import failed: %s" % exc, file=sys.stderr)
    sys.exit(3)

optuna.logging.set_verbosity(optuna.logging.WARNING)


def clean(x):
    """JSON-safe copy: non-finite floats become strings."""
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {str(k): clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean(v) for v in x]
    return x


def stamp(dt):
    return None if dt is None else dt.strftime("%Y-%m-%d %H:%M:%S.%f")


def summaries(storage):
    """optuna.get_all_study_summaries, as the `optuna studies` command uses it."""
    out = []
    for s in optuna.get_all_study_summaries(storage=storage):
        best = s.best_trial
        out.append({"name": s.study_name,
                    "directions": [d.name for d in s.directions],
                    "n_trials": s.n_trials,
                    "user_attrs": s.user_attrs,
                    "best": None if best is None else {"number": best.number,
                                                       "value": best.value}})
    return out


def dump_study(study):
    trials = []
    for t in study.get_trials(deepcopy=False):
        trials.append({
            "number": t.number,
            "state": t.state.name,
            "params": t.params,
            "internal": {k: t.distributions[k].to_internal_repr(v) for k, v in t.params.items()},
            "distributions": {k: json.loads(distribution_to_json(d))
                              for k, d in t.distributions.items()},
            "values": t.values,
            "intermediate": {str(k): v for k, v in sorted(t.intermediate_values.items())},
            "user_attrs": t.user_attrs,
            "system_attrs": t.system_attrs,
            "has_start": t.datetime_start is not None,
            "has_complete": t.datetime_complete is not None,
            # As Optuna shows them: local time (Optuna 5 stores UTC).
            "start": stamp(t.datetime_start),
            "complete": stamp(t.datetime_complete),
        })
    out = {"name": study.study_name,
           "directions": [d.name for d in study.directions],
           "user_attrs": study.user_attrs,
           "trials": trials}
    if len(study.directions) == 1:
        try:
            bt = study.best_trial
            out["optuna_best"] = {"number": bt.number, "value": bt.value}
        except ValueError:
            out["optuna_best"] = None
        done = [t for t in study.trials if t.state.name == "COMPLETE" and t.values]
        if done:
            sign = -1.0 if study.direction.name == "MAXIMIZE" else 1.0
            b = min(done, key=lambda t: (sign * t.values[0], t.number))
            out["true_best"] = {"number": b.number, "value": b.values[0]}
    return out


def run_cli(storage, name):
    """`optuna trials` and `optuna best-trial`: Optuna's command-line entry
    point, run in this process (a new interpreter per command costs ~1 s)."""
    res = {}
    for sub in ("trials", "best-trial"):
        code, out, err = run_cli_main([sub, "--study-name", name, "--storage", storage,
                                       "-f", "json"])
        res[sub] = {"error": err[-2000:]} if code != 0 else json.loads(out)
    return res


def objective_value(params):
    """A deterministic function of any mix of parameters."""
    v = 0.0
    for k, x in sorted(params.items()):
        if isinstance(x, bool) or x is None:
            v += 0.5 if x else 0.25
        elif isinstance(x, (int, float)):
            v += (float(x) - 0.3) ** 2 / (1.0 + abs(float(x)))
        else:
            v += len(str(x)) * 0.1
    return v


def continue_study(study, n):
    """n more trials with TPE over the distributions of the first trial that
    has every parameter (TPE reads the stored history to suggest)."""
    base = None
    for t in study.get_trials(deepcopy=False):
        if t.state.name in ("COMPLETE", "PRUNED") and t.distributions:
            if base is None or len(t.distributions) > len(base):
                base = dict(t.distributions)
    study.sampler = optuna.samplers.TPESampler(seed=1, n_startup_trials=2)
    numbers = []
    for _ in range(n):
        trial = study.ask(base)
        study.tell(trial, objective_value(trial.params))
        numbers.append(trial.number)
    return numbers


def write(db):
    storage = "sqlite:///" + db
    st = optuna.create_study(study_name="opt", storage=storage, direction="minimize")
    st.set_user_attr("owner", "optuna")
    st.set_user_attr("nested", {"a": [1, 2.5, "x"]})
    dists = {
        "x": FloatDistribution(-5.0, 5.0),
        "lr": FloatDistribution(1e-5, 0.1, log=True),
        "f_step": FloatDistribution(0.0, 1.0, step=0.25),
        "n": IntDistribution(1, 10),
        "n_log": IntDistribution(1, 1024, log=True),
        "n_step": IntDistribution(0, 100, step=5),
        "opt": CategoricalDistribution(["adam", "sgd", "rmsprop"]),
        "mixed": CategoricalDistribution([None, True, 3, 2.5, "s"]),
    }
    st.sampler = optuna.samplers.RandomSampler(seed=7)
    for i in range(4):  # COMPLETE
        t = st.ask(dists)
        t.set_user_attr("i", i)
        for s in range(3):
            t.report(float(i + s), s)
        st.tell(t, objective_value(t.params))
    t = st.ask(dists)  # PRUNED with values 5, nan, -inf
    t.report(5.0, 0)
    t.report(float("nan"), 1)
    t.report(float("-inf"), 2)
    st.tell(t, state=optuna.trial.TrialState.PRUNED)
    t = st.ask(dists)  # FAIL
    st.tell(t, state=optuna.trial.TrialState.FAIL)
    t = st.ask(dists)  # COMPLETE with +inf (Optuna 3.1.0 calls it best)
    st.tell(t, float("inf"))
    t = st.ask({"x": dists["x"], "opt": dists["opt"]})  # RUNNING, 2 params so far
    t.report(1.25, 0)
    st.enqueue_trial({"x": 1.5, "opt": "sgd", "n": 3})  # WAITING
    mt = optuna.create_study(study_name="multi", storage=storage,
                             directions=["minimize", "maximize"])
    t = mt.ask({"x": dists["x"]})
    mt.tell(t, [1.0, 2.0])
    return {"studies": [dump_study(st), dump_study(mt)]}


def seed(db, name):
    st = optuna.create_study(study_name=name, storage="sqlite:///" + db, direction="minimize",
                             sampler=optuna.samplers.RandomSampler(seed=3))
    dists = {"x": FloatDistribution(-5.0, 5.0), "n": IntDistribution(1, 10),
             "opt": CategoricalDistribution(["adam", "sgd"])}
    for i in range(4):
        t = st.ask(dists)
        t.report(float(i), 0)
        t.set_user_attr("by", "optuna")
        st.tell(t, objective_value(t.params))
    return {"study": dump_study(st)}


def run_cli_main(args):
    """Optuna's command line in this process; returns (exit code, stdout)."""
    from optuna.cli import main as cli_main
    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv
    sys.argv = ["optuna"] + args
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli_main()
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv = saved
    return (0 if code is None else code), out.getvalue(), err.getvalue()


def schema(db):
    optuna.create_study(study_name="s", storage="sqlite:///" + db)
    return dump_schema(db)


def storage_upgrade(db):
    """`optuna storage upgrade` on db, then its schema."""
    code, _, err = run_cli_main(["storage", "upgrade", "--storage", "sqlite:///" + db])
    if code != 0:
        return {"error": err[-2000:]}
    return dump_schema(db)


def dump_schema(db):
    con = sqlite3.connect(db)
    ddl = [r[0] for r in con.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL "
                                     "ORDER BY rowid")]
    rev = con.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    ver = con.execute("SELECT schema_version FROM version_info").fetchone()[0]
    con.close()
    return {"ddl": ddl, "alembic": rev, "schema_version": ver}


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    action, db = argv[1], argv[2]
    if action == "write":
        out = write(db)
    elif action == "seed":
        out = seed(db, argv[3])
    elif action == "check":
        name = argv[3]
        storage = "sqlite:///" + db
        study = optuna.load_study(study_name=name, storage=storage)
        out = {"study": dump_study(study), "summaries": summaries(storage)}
        if "--schema" in argv:
            out["schema"] = schema(argv[argv.index("--schema") + 1])
        if "--storage-upgrade" in argv:
            out["upgraded"] = storage_upgrade(argv[argv.index("--storage-upgrade") + 1])
        if "--cli" in argv:
            out["cli"] = run_cli(storage, name)
        if "--continue" in argv:
            n = int(argv[argv.index("--continue") + 1])
            out["continued"] = continue_study(study, n)
            out["after"] = dump_study(optuna.load_study(study_name=name, storage=storage))
    else:
        print("unknown action %s" % action, file=sys.stderr)
        return 2
    out["version"] = optuna.__version__
    json.dump(clean(out), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
