"""Prints Optuna's own parameter importances of studies in a SQLite file as
one JSON object, for tests/view/test_importance.c and bench/importance.sh,
which rank the same studies with hpsearch and compare.

    PYTHONPATH=OPTUNA5 python3 optuna_importance.py DB STUDY [STUDY...]

Output: {"version": V, "studies": {NAME: {"ped-anova": {param: importance},
"fanova": {param: importance}, "seconds": {"ped-anova": s, "fanova": s}}}}.
fANOVA runs with seed 0 (Optuna's forest is scikit-learn's). Exit code 3
when Optuna is missing, 4 when scikit-learn is (fANOVA needs it)."""
import json
import sys
import time
import warnings

try:
    import optuna
except ImportError:
    sys.exit(3)
try:
    import sklearn  # noqa: F401
except ImportError:
    sys.exit(4)

optuna.logging.set_verbosity(optuna.logging.ERROR)
warnings.filterwarnings("ignore")

db, names = sys.argv[1], sys.argv[2:]
out = {"version": optuna.__version__, "studies": {}}
evaluators = {
    "ped-anova": lambda: optuna.importance.PedAnovaImportanceEvaluator(),
    "fanova": lambda: optuna.importance.FanovaImportanceEvaluator(seed=0),
}
only = None
if names and names[0].startswith("--only="):
    only = names[0][len("--only="):]
    names = names[1:]
for name in names:
    study = optuna.load_study(study_name=name, storage="sqlite:///" + db)
    res = {"seconds": {}}
    for ev, make in evaluators.items():
        if only is not None and ev != only:
            continue
        t0 = time.perf_counter()
        res[ev] = optuna.importance.get_param_importances(study, evaluator=make())
        res["seconds"][ev] = time.perf_counter() - t0
    out["studies"][name] = res
print(json.dumps(out))
