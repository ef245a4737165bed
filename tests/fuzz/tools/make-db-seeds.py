#!/usr/bin/env python3
"""Writes the seeds of fuzz_db_load (tests/fuzz/corpus/db_load/): the rows of
databases as SQL INSERT statements (the schema and version rows come from
the harness's template). One study written by Optuna 3.1 itself (run with
/usr/bin/python3, which has python3-optuna), one with an hpsearch spec in its
system attributes, and a few damaged variants."""
import json, os, sqlite3, sys, tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus", "db_load")
os.makedirs(OUT, exist_ok=True)


def rows_sql(path):
    con = sqlite3.connect(path)
    lines = [l for l in con.iterdump() if l.startswith("INSERT INTO")
             and not l.startswith(('INSERT INTO "version_info"', 'INSERT INTO "alembic_version"'))]
    con.close()
    return "\n".join(lines) + "\n"


def put(name, text):
    with open(os.path.join(OUT, name), "w") as f:
        f.write(text)


import optuna  # noqa: E402
optuna.logging.set_verbosity(optuna.logging.WARNING)
with tempfile.TemporaryDirectory() as tmp:
    db = os.path.join(tmp, "o.db")
    st = optuna.create_study(study_name="opt", storage="sqlite:///" + db, direction="minimize",
                             sampler=optuna.samplers.RandomSampler(seed=1),
                             pruner=optuna.pruners.SuccessiveHalvingPruner())

    def obj(t):
        x = t.suggest_float("x", 1e-3, 1.0, log=True)
        n = t.suggest_int("n", 1, 9, step=2)
        c = t.suggest_categorical("c", ["a", None, 2, True])
        t.set_user_attr("u", [1, 2])
        for s in range(3):
            t.report(x * (3 - s), s)
            if t.should_prune():
                raise optuna.TrialPruned()
        if n == 9:
            raise ValueError("fail")
        return x + n
    st.optimize(obj, n_trials=6, catch=(ValueError,))
    st.enqueue_trial({"x": 0.5, "n": 3, "c": "a"})
    t = st.ask()  # stays RUNNING
    sql = rows_sql(db)
    put("optuna", sql)
    put("optuna-bad-dist", sql.replace("FloatDistribution", "FloatDistributio").replace('"log": true', '"log": 7'))
    put("optuna-inf-values", sql.replace("'FINITE'", "'INF_NEG'", 3) + "UPDATE trial_values SET value = NULL;\n"
        "UPDATE trial_intermediate_values SET intermediate_value = 'x', step = -5 WHERE trial_intermediate_value_id = 2;\n")
    put("optuna-states", sql + "UPDATE trials SET state = 'BOGUS' WHERE trial_id = 2;\n"
        "UPDATE trials SET number = NULL WHERE trial_id = 3;\nUPDATE trials SET datetime_start = 'yesterday';\n"
        "UPDATE trial_params SET param_value = 1e308 WHERE param_id = 1;\n")

spec = {"name": "hp", "direction": "maximize", "n_trials": 5, "sampler": {"type": "tpe", "seed": 1},
        "pruner": {"type": "hyperband", "max_resource": "auto"},
        "space": {"x": {"type": "float", "low": 0, "high": 1}, "k": {"type": "categorical", "choices": ["p", "q"]}},
        "objective": {"command": ["true", "$x"]}}
q = lambda s: "'" + s.replace("'", "''") + "'"
hp = "\n".join([
    "INSERT INTO studies VALUES(1,'hp');",
    "INSERT INTO study_directions VALUES(1,'MAXIMIZE',1,0);",
    "INSERT INTO study_system_attributes VALUES(1,1,'hpsearch:spec',%s);" % q(json.dumps(spec)),
    "INSERT INTO study_system_attributes VALUES(2,1,'hpsearch:state','\"stopped\"');",
    "INSERT INTO study_system_attributes VALUES(3,1,'hpsearch:created','1700000000.5');",
    "INSERT INTO trials VALUES(1,0,1,'COMPLETE','2026-01-01 00:00:00.000000','2026-01-01 00:00:01.000000');",
    "INSERT INTO trials VALUES(2,1,1,'RUNNING','2026-01-01 00:00:02.000000',NULL);",
    "INSERT INTO trials VALUES(3,2,1,'PRUNED','2026-01-01 00:00:02.000000','2026-01-01 00:00:03.000000');",
    "INSERT INTO trial_params VALUES(1,1,'x',0.25,%s);" % q('{"name": "FloatDistribution", "attributes": {"step": null, "low": 0.0, "high": 1.0, "log": false}}'),
    "INSERT INTO trial_params VALUES(2,1,'k',1.0,%s);" % q('{"name": "CategoricalDistribution", "attributes": {"choices": ["p", "q"]}}'),
    "INSERT INTO trial_params VALUES(3,2,'x',0.75,%s);" % q('{"name": "FloatDistribution", "attributes": {"step": null, "low": 0.0, "high": 1.0, "log": false}}'),
    "INSERT INTO trial_values VALUES(1,1,0,0.5,'FINITE');",
    "INSERT INTO trial_intermediate_values VALUES(1,1,0,0.4,'FINITE');",
    "INSERT INTO trial_intermediate_values VALUES(2,3,0,0.1,'FINITE');",
    "INSERT INTO trial_system_attributes VALUES(1,2,'hpsearch:worker','{\"pgid\": 4242, \"boot\": \"x\"}');",
    "INSERT INTO trial_system_attributes VALUES(2,3,'completed_rung_0','0.1');",
    "INSERT INTO trial_user_attributes VALUES(1,1,'test_accuracy','0.9');",
]) + "\n"
put("hpsearch-spec", hp)
put("hpsearch-bad-spec", hp.replace('"low": 0,', '"low": "zero",'))
put("hpsearch-spec-not-json", hp.replace("'hpsearch:spec','{", "'hpsearch:spec','{{"))
put("empty", "")
put("not-sql", "this is not SQL;\n")
