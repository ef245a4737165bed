#!/usr/bin/env python3
"""Writes the seed inputs of every harness into tests/fuzz/corpus/<harness>/
(valid and invalid inputs taken from examples/ and docs/). Run from the
repository root; existing files of the same name are overwritten, others
(regression cases, minimised finds) are left alone."""
import gzip, json, os, struct

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
C = os.path.join(ROOT, "tests", "fuzz", "corpus")


def put(h, name, data):
    d = os.path.join(C, h)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def ex(name):
    with open(os.path.join(ROOT, "examples", name)) as f:
        return f.read()


def rpc(i, method, params=None, **kw):
    m = {"jsonrpc": "2.0", "id": i, "method": method}
    if params is not None:
        m["params"] = params
    m.update(kw)
    return json.dumps(m, separators=(",", ":"))


SPACE = {"lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
         "drop": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1},
         "width": {"type": "int", "low": 32, "high": 1024, "log": True},
         "depth": {"type": "int", "low": 1, "high": 8},
         "opt": {"type": "categorical", "choices": ["sgd", "adam", None, True, 0.5]}}
GRID_SPACE = {"a": {"type": "int", "low": 0, "high": 3},
              "b": {"type": "categorical", "choices": ["x", "y"]},
              "f": {"type": "float", "log": True, "grid": [0.1, 0.01, 0.001]}}
SPEC = {"name": "quad", "direction": "minimize", "n_trials": 20, "parallelism": 2,
        "sampler": {"type": "random", "seed": 1},
        "space": {"x": {"type": "float", "low": -5, "high": 5}},
        "objective": {"command": ["python3", "quad.py", "$x", "--tag=${x}", "$$lit"]}}
MANUAL = {"name": "manual", "sampler": "tpe", "pruner": {"type": "median"},
          "space": {"x": {"type": "float", "low": -5, "high": 5},
                    "k": {"type": "categorical", "choices": ["a", "b"]}}}

# ---- rpc: lines as a client writes them (study "fz" and its trial 0 exist) ----
put("rpc", "status", "\n".join([rpc(1, "daemon.status"), rpc(2, "study.list")]) + "\n")
put("rpc", "create-ask-tell", "\n".join([
    rpc(1, "study.create", {"spec": MANUAL}),
    rpc(2, "trial.ask", {"study": "manual"}),
    rpc(3, "trial.report", {"study": "manual", "trial": 0, "step": 1, "value": 0.42}),
    rpc(4, "trial.report", {"study": "manual", "trial": 0, "step": 2, "value": "nan"}),
    rpc(5, "trial.tell", {"study": "manual", "trial": 0, "value": 0.31}),
    rpc(6, "trial.list", {"study": "manual", "states": ["COMPLETE"], "limit": 2, "intermediate": True}),
    rpc(7, "trial.get", {"study": "manual", "trial": 0}),
    rpc(8, "study.get", {"study": "manual"})]) + "\n")
put("rpc", "fz-trial", "\n".join([
    rpc(1, "trial.report", {"study": "fz", "trial": 0, "step": 0, "value": 1.5}),
    rpc(2, "trial.report", {"study": "fz", "trial": 0, "step": 3, "value": "-inf"}),
    rpc(3, "trial.tell", {"study": "fz", "trial": 0, "state": "PRUNED"}),
    rpc(4, "trial.tell", {"study": "fz", "trial": 0, "value": 1}),
    rpc(5, "trial.ask", {"study": 1}),
    rpc(6, "trial.tell", {"study": "fz", "trial": 1, "state": "FAIL", "reason": "x"})]) + "\n")
put("rpc", "enqueue", "\n".join([
    rpc(1, "trial.enqueue", {"study": "fz", "params": {"x": 0.5, "n": 4, "c": None}}),
    rpc(2, "trial.enqueue", {"study": "fz", "params": {"x": 99}}),
    rpc(3, "trial.ask", {"study": "fz"}),
    rpc(4, "trial.list", {"study": "fz", "offset": 1, "limit": 10})]) + "\n")
put("rpc", "lifecycle", "\n".join([
    rpc(1, "study.create", {"spec": SPEC}),
    rpc(2, "study.create", {"spec": SPEC, "load_if_exists": True}),
    rpc(3, "study.stop", {"study": "quad", "kill": True}),
    rpc(4, "trial.ask", {"study": "quad"}),
    rpc(5, "study.resume", {"study": "quad"}),
    rpc(6, "events.subscribe", {}),
    rpc(7, "study.delete", {"study": "quad"}),
    rpc(8, "study.get", {"study": "quad"})]) + "\n")
put("rpc", "subscribe-shutdown", "\n".join([
    rpc(1, "events.subscribe", {"study": "fz"}),
    rpc(2, "trial.tell", {"study": "fz", "trial": 0, "value": 2.0}),
    rpc(3, "daemon.shutdown"),
    rpc(4, "trial.ask", {"study": "fz"})]) + "\n")
put("rpc", "bad-envelopes", "\n".join([
    "{not json", "[1,2,3]", "42", "\"str\"", "null",
    '{"jsonrpc":"1.0","id":1,"method":"daemon.status"}',
    '{"jsonrpc":"2.0","id":{},"method":"daemon.status"}',
    '{"jsonrpc":"2.0","id":1,"method":7}',
    '{"jsonrpc":"2.0","id":1,"method":"nope.nope"}',
    '{"jsonrpc":"2.0","id":1,"method":"study.get","params":[1]}',
    '{"jsonrpc":"2.0","id":1,"method":"study.get","params":{"study":"missing"}}',
    '{"jsonrpc":"2.0","id":1,"method":"study.get","params":{"study":1e300}}',
    '{"jsonrpc":"2.0","id":1,"method":"study.get","params":{"study":"fz","extra":1}}',
    '{"jsonrpc":"2.0","id":1,"method":"daemon.status","extra":true}',
    '{"jsonrpc":"2.0","method":"trial.tell","params":{"study":"fz","trial":0,"value":"x"}}',
    '{"jsonrpc":"2.0","id":"s","method":"trial.report","params":{"study":"fz","trial":-1,"step":1,"value":1}}',
    '{"jsonrpc":"2.0","id":null,"method":"trial.report","params":{"study":"fz","trial":0,"step":1e20,"value":1}}',
    '{"jsonrpc":"2.0","id":1,"method":"study.create","params":{"spec":{"name":""}}}',
    '{"jsonrpc":"2.0","id":1,"method":"trial.list","params":{"study":"fz","states":["BOGUS"],"limit":-1}}',
    '{"jsonrpc":"2.0","id":1,"method":"trial.get","params":{"study":"fz","trial":9223372036854775807}}',
]) + "\r\n\n")

# ---- study specs --------------------------------------------------------------------
put("study_spec", "command-study.json", ex("command-study.json"))
put("study_spec", "fashion-mnist.json", ex("fashion-mnist.json"))
put("study_spec", "quad.json", json.dumps(SPEC))
put("study_spec", "manual.json", json.dumps(MANUAL))
bad = dict(SPEC, objective={"command": ["run", "$nope"]})
put("study_spec", "bad-ref.json", json.dumps(bad))
put("study_spec", "bad-both.json", json.dumps(dict(SPEC, objective={"command": ["a"], "engine": {}})))
put("study_spec", "env-cwd.json", json.dumps(dict(SPEC, objective={
    "command": ["sh", "-c", "echo ${x}"], "env": {"X": "$x", "Y": "${x}/$$"}, "cwd": "/tmp"})))
put("study_spec", "grid-time.json", json.dumps({"name": "g", "sampler": {"type": "grid", "shuffle": False},
    "time_budget": 3.5, "trial_timeout": 1, "space": GRID_SPACE, "direction": "maximize",
    "pruner": {"type": "hyperband", "max_resource": 9}}))
put("study_spec", "not-object", "[1]")

# ---- spaces and distribution_json ---------------------------------------------------
put("space", "docs.json", json.dumps(SPACE))
put("space", "grid.json", json.dumps(GRID_SPACE))
put("space", "fashion.json", json.dumps(json.loads(ex("fashion-mnist.json"))["space"]))
put("space", "step-adjust.json", '{"w":{"type":"int","low":32,"high":1000,"step":32},"s":{"type":"float","low":0,"high":1,"step":0.3}}')
put("space", "bad-log.json", '{"lr":{"type":"float","low":0,"high":1,"log":true}}')
put("space", "bad-dup.json", '{"a":{"type":"int","low":0,"high":1},"a":{"type":"int","low":0,"high":2}}')
put("space", "unicode.json", '{"\\u00e9t\\u00e9":{"type":"categorical","choices":["\\ud83d\\ude00","x\\u0000y",1e300,-0.0]}}')
put("space", "empty.json", "{}")
for i, t in enumerate([
        '{"name": "FloatDistribution", "attributes": {"step": null, "low": 1e-05, "high": 0.1, "log": true}}',
        '{"name": "IntDistribution", "attributes": {"log": false, "step": 3, "low": 0, "high": 9}}',
        '{"name": "CategoricalDistribution", "attributes": {"choices": ["sgd", "adam", null, true, 1, 2.5]}}',
        '{"name": "UniformDistribution", "attributes": {"low": -1.0, "high": 1.0}}',
        '{"name": "LogUniformDistribution", "attributes": {"low": 1e-05, "high": 1.0}}',
        '{"name": "DiscreteUniformDistribution", "attributes": {"low": 0.0, "high": 1.0, "q": 0.25}}',
        '{"name": "IntUniformDistribution", "attributes": {"low": 0, "high": 10, "step": 2}}',
        '{"name": "IntLogUniformDistribution", "attributes": {"low": 1, "high": 128, "step": 1}}',
        '{"type": "float", "low": 0.5, "high": 4.5, "step": 0.5}',
        '{"name": "FloatDistribution", "attributes": {"step": null, "low": 1, "high": 0, "log": false}}',
        '{"name": "NoSuchDistribution", "attributes": {}}',
        '{"name": "CategoricalDistribution", "attributes": {"choices": []}}',
        '{"name": "FloatDistribution", "attributes": {"step": null, "low": NaN, "high": Infinity, "log": false}}']):
    put("dist_json", "d%02d" % i, t)

# ---- sampler and pruner configs -----------------------------------------------------
for i, v in enumerate([
        {"sampler": "random"}, {"sampler": "tpe"}, {"sampler": "grid"},
        {"sampler": {"type": "tpe", "seed": 7, "n_startup_trials": 3, "multivariate": True,
                     "constant_liar": True, "consider_endpoints": True}, "maximize": True},
        {"sampler": {"type": "tpe", "n_startup_trials": 2, "optuna31_density": True, "gamma_ratio": 0.25,
                     "n_ei_candidates": 8, "prior_weight": 2.0, "consider_magic_clip": False}},
        {"sampler": {"type": "grid", "shuffle": False, "retry_failed": True}, "space": GRID_SPACE},
        {"sampler": {"type": "grid", "seed": 3}, "space": GRID_SPACE},
        {"sampler": {"type": "tpe", "n_startup_trials": 1}, "space": SPACE},
        {"sampler": {"type": "random", "bogus": 1}},
        {"sampler": {"type": "tpe", "n_ei_candidates": -1}}]):
    put("sampler", "s%02d.json" % i, json.dumps(v))
for i, v in enumerate([
        {"type": "none"}, {"type": "median"},
        {"type": "median", "n_startup_trials": 2, "n_warmup_steps": 1, "interval_steps": 2, "n_min_trials": 1},
        {"type": "percentile", "percentile": 25.0, "n_startup_trials": 1},
        {"type": "successive_halving", "min_resource": "auto", "reduction_factor": 4},
        {"type": "asha", "min_resource": 1, "reduction_factor": 2, "min_early_stopping_rate": 1, "bootstrap_count": 1},
        {"type": "hyperband", "min_resource": 1, "max_resource": "auto", "reduction_factor": 3},
        {"type": "hyperband", "min_resource": 1, "max_resource": 8, "reduction_factor": 2, "bootstrap_count": 0},
        {"type": "percentile", "percentile": 101},
        {"type": "median", "extra": True}, None]):
    put("pruner", "p%02d.json" % i, json.dumps(v))

# ---- engine training configs (assignment lines, then JSON) --------------------------
put("train_config", "train-mlp.json", ex("train-mlp.json"))
put("train_config", "train-cnn.json", ex("train-cnn.json"))
put("train_config", "sets-mlp", "optimizer.lr=0.01\nepochs=1\nlayers[0].units=128\ndata.limit=100\nseed=\"7\"\n" + ex("train-mlp.json"))
put("train_config", "sets-bad", "layers[99].units=1\nnope\n=3\na.b.c[0]=[1,{\"x\":2}]\nlayers[0]=null\n" + ex("train-cnn.json"))
put("train_config", "minimal", '{"layers":[{"type":"dense","units":10}],"epochs":1}')
put("train_config", "bad-types", '{"layers":[{"type":"conv2d","filters":-1,"kernel":0}],"batch_size":"x","optimizer":{"type":"adam","lr":-1}}')

# ---- IDX pairs: 4-byte big-endian images length, images file, labels file -----------
def idx_images(n, h, w, seed=1):
    body = bytes((i * 37 + seed) & 255 for i in range(n * h * w))
    return struct.pack(">IIII", 0x00000803, n, h, w) + body


def idx_labels(labels):
    return struct.pack(">II", 0x00000801, len(labels)) + bytes(labels)


def pair(img, lab):
    return struct.pack(">I", len(img)) + img + lab


put("idx", "plain", pair(idx_images(3, 4, 4), idx_labels([0, 2, 1])))
put("idx", "gzip", pair(gzip.compress(idx_images(2, 3, 3), mtime=0), gzip.compress(idx_labels([1, 0]), mtime=0)))
put("idx", "features", pair(struct.pack(">III", 0x00000802, 2, 5) + bytes(range(10)), idx_labels([3, 3])))
put("idx", "count-mismatch", pair(idx_images(3, 2, 2), idx_labels([0, 1])))
put("idx", "truncated", pair(idx_images(3, 4, 4)[:30], idx_labels([0, 1, 2])[:9]))
put("idx", "bad-magic", pair(struct.pack(">IIII", 0x00000804, 1, 1, 1) + b"\0", idx_labels([0])))
put("idx", "huge-dims", pair(struct.pack(">IIII", 0x00000803, 0xFFFFFFFF, 0xFFFF, 0xFFFF), idx_labels([0])))
put("idx", "gzip-truncated", pair(gzip.compress(idx_images(2, 3, 3), mtime=0)[:20], idx_labels([1, 0])))

# ---- CSV: option byte, then the file -------------------------------------------------
def csvin(opt, text):
    return bytes([opt]) + text.encode()


put("csv", "header", csvin(1, "label,a,b\n0,1.5,2\n1,3,-4e3\n2,0,0\n"))
put("csv", "noheader-col2", csvin(0 | (2 << 2), "1,2,0\n3,4,1\n"))
put("csv", "auto-semicolon", csvin(2 | (1 << 5), "x;y;label\n1;2;0\r\n3;4;1\r\n"))
put("csv", "by-name-tab", csvin(3 | (2 << 5), "a\tlabel\tb\n1\t0\t2\n4\t1\t5\n"))
put("csv", "bad-values", csvin(1, "label,a\n0,abc\n-1,2\n1.5,3\n0,nan\n0,1e999\n"))
put("csv", "ragged", csvin(0, "0,1,2\n1,2\n\n2,3,4,5\n"))
put("csv", "quoted-space", csvin(3 | (3 << 5), "\"label\" a\n0 1\n1  2\n"))

# ---- worker stdout -----------------------------------------------------------------
put("worker_line", "good", '{"step": 0, "value": 0.9}\n{"step": 1, "value": 0.5}\nfree text\n{"value": 0.4, "test_accuracy": 0.87, "seconds": 3.5, "note": "ok", "skip": [1]}\n')
put("worker_line", "pruned", '{"step": 0, "value": 9}\n{"step": 1, "value": 9}\n{"step": 2, "value": 9}\n')
put("worker_line", "error", '{"step": 0, "value": 1}\n{"error": "CUDA out of memory"}\n')
put("worker_line", "diverged", '{"step": 0, "value": NaN}\n')
put("worker_line", "diverged-str", '{"step": 2, "value": "inf"}\n{"value": "nan"}')
put("worker_line", "final-nan", '{"value": "NaN"}\n')
put("worker_line", "no-final", "hello\n  \n\r\n")
put("worker_line", "garbage", '{"step": 0, "value": 1\n')
put("worker_line", "last-line-no-newline", '{"value": -Infinity}')
put("worker_line", "no-value", '{"step": 1}\n')
put("worker_line", "bad-step", '{"step": -1, "value": 1}\n')
put("worker_line", "user-attrs", '{"value": 0.5, "": 1, "value2": "x", "t": true, "n": null}\n')
