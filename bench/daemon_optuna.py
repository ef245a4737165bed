#!/usr/bin/python3
"""The Optuna side of `make bench-daemon`: durable ask+tell throughput of
Optuna 3.1 with its SQLite or PostgreSQL storage, and the time of `optuna trials` on a
study database. Prints one JSON object per measurement on stdout so
bench/daemon.sh can put it beside hpsearch's numbers.

usage:
  daemon_optuna.py asktell DB SAMPLER N_TRIALS N_PROCS   # random|tpe; DB: a
      file (SQLite) or a URL postgresql+psycopg2://... (an empty database)
  daemon_optuna.py cli DB STUDY RUNS                     # time `optuna trials`
With HP_BENCH_SERVER_PID (the postmaster of the database), asktell also
reports the server's CPU seconds during the timed part (server_cpu_s) and
the CPU seconds of the Optuna processes in that part (cpu_s).
"""
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time

import optuna

from cpu_seconds import cpu_seconds


def space(trial):
    # The same 3-parameter space the hpsearch side uses (bench/daemon.sh).
    x = trial.suggest_float("x", -5.0, 5.0)
    y = trial.suggest_float("y", 1e-3, 1.0, log=True)
    k = trial.suggest_int("k", 1, 8)
    return (x - 1.0) ** 2 + y + 0.1 * k


def make_sampler(name, seed):
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def storage(db):
    """A file (SQLite) or a database URL (postgresql+psycopg2://...)."""
    return db if "://" in db else "sqlite:///" + db


def worker(db, sampler, n, seed, start_evt, cpu_q):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="bench", storage=storage(db),
                              sampler=make_sampler(sampler, seed))
    start_evt.wait()
    c0 = time.process_time()
    for _ in range(n):
        trial = study.ask()
        study.tell(trial, space(trial))
    cpu_q.put(time.process_time() - c0)


def asktell(db, sampler, n_trials, n_procs):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if "://" not in db and os.path.exists(db):
        os.remove(db)
    optuna.create_study(study_name="bench", storage=storage(db))
    ctx = mp.get_context("fork")
    start_evt = ctx.Event()
    cpu_q = ctx.Queue()
    per = n_trials // n_procs
    procs = [ctx.Process(target=worker, args=(db, sampler, per, 1 + i, start_evt, cpu_q))
             for i in range(n_procs)]
    for p in procs:
        p.start()
    time.sleep(1.0)  # let every process import and open the storage first
    server = [int(os.environ["HP_BENCH_SERVER_PID"])] if "HP_BENCH_SERVER_PID" in os.environ else []
    s0 = cpu_seconds(server)
    t0 = time.perf_counter()
    start_evt.set()
    cpu = sum(cpu_q.get() for _ in procs)
    for p in procs:
        p.join()
    secs = time.perf_counter() - t0
    s1 = cpu_seconds(server)
    done = per * n_procs
    row = {"what": "asktell", "sampler": sampler, "procs": n_procs,
           "storage": "postgresql" if "postgresql" in db else "sqlite",
           "optuna": optuna.__version__,
           "trials": done, "seconds": secs, "trials_per_s": done / secs, "cpu_s": cpu}
    if server:
        row["server_cpu_s"] = s1 - s0
    print(json.dumps(row))


def cli(db, study, runs):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(["/usr/bin/optuna", "trials", "--study-name", study,
                        "--storage", "sqlite:///" + db], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    print(json.dumps({"what": "optuna_trials", "runs": runs,
                      "median_ms": statistics.median(times) * 1000}))


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "asktell":
        asktell(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif len(sys.argv) == 5 and sys.argv[1] == "cli":
        cli(sys.argv[2], sys.argv[3], int(sys.argv[4]))

    else:
        sys.exit(__doc__)
