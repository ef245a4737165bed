#!/usr/bin/env python3
"""Writes tests/fuzz/dict/json.dict, the libFuzzer dictionary of the JSON
harnesses: JSON tokens plus every key, type name and method name hpsearch
compares against (string literals of the `static const char *const X[]`
tables and of strcmp calls in engine/, search/, daemon/, common/). Run from
anywhere; rerun when keys are added."""
import glob, os, re

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
keys = set()
for f in sum((glob.glob(os.path.join(ROOT, d, "*.c")) for d in ("engine", "search", "daemon", "common")), []):
    s = open(f, encoding="utf-8", errors="replace").read()
    for m in re.finditer(r"static const char \*const \w+\[\] = \{(.*?)\};", s, re.S):
        keys.update(re.findall(r'"([^"\\]{1,40})"', m.group(1)))
    keys.update(re.findall(r'strc?a?s?e?cmp\([^,]+,\s*"([^"\\]{1,40})"\)', s))
keys.update("""jsonrpc 2.0 id method params result error study.create study.list study.get
study.stop study.resume study.delete trial.list trial.get trial.enqueue trial.ask trial.report
trial.tell daemon.status daemon.shutdown events.subscribe COMPLETE PRUNED FAIL RUNNING WAITING
FloatDistribution IntDistribution CategoricalDistribution UniformDistribution
LogUniformDistribution DiscreteUniformDistribution IntUniformDistribution
IntLogUniformDistribution attributes name choices low high log step q grid nan inf -inf""".split())
keys = sorted(k for k in keys if re.fullmatch(r"[A-Za-z0-9_.+\-]+", k))
tokens = ["{", "}", "[", "]", ":", ",", '"', "true", "false", "null", "-0", "1e308", "1e-308",
          "-1", "0.5", "NaN", "Infinity", "-Infinity", "\\u0000", "\\ud83d\\ude00", "$", "${", "$$",
          "[0]", "=", "\r\n",
          # fuzz_db_load writes rows with SQL
          "INSERT INTO ", " VALUES(", "UPDATE ", " SET ", " WHERE ", "DELETE FROM ", "NULL", "'",
          "studies", "study_directions", "study_system_attributes", "study_user_attributes",
          "trials", "trial_params", "trial_values", "trial_intermediate_values",
          "trial_system_attributes", "trial_user_attributes", "hpsearch:spec", "hpsearch:state",
          "hpsearch:created", "hpsearch:worker", "hpsearch:reason", "fail_reason",
          "completed_rung_0", "FINITE", "INF_POS", "INF_NEG", "MINIMIZE", "MAXIMIZE"]
os.makedirs(os.path.join(ROOT, "tests", "fuzz", "dict"), exist_ok=True)
with open(os.path.join(ROOT, "tests", "fuzz", "dict", "json.dict"), "w") as out:
    out.write("# libFuzzer dictionary of the JSON harnesses; written by tests/fuzz/tools/make-dict.py\n")
    def q(t):
        return '"' + t.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "\\x0d").replace("\n", "\\x0a") + '"'
    for t in tokens:
        out.write(q(t) + "\n")
    for k in keys:
        out.write(q('"' + k + '"') + "\n")
print(len(tokens) + len(keys), "entries")
