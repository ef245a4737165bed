#!/usr/bin/python3
"""Helper of tests/daemon/test_pg.c: several hpsearch daemons on one
PostgreSQL database (a real server that scripts/pg-test-server started), one
scenario per run. Checks the database with psycopg2 afterwards; prints one
JSON line with what it found and exits 0 when every check held, 1 otherwise
(the reason on stderr), 3 when psycopg2 is missing.

usage: pg_cluster.py HPSEARCH BASE PORT DB SCENARIO
  claims-grid   four daemons x 250 trials on one grid study (1000 points)
  claims-tpe    four daemons on one TPE study, n_trials 1000
  unlimited     two daemons x 200 trials on a random study without n_trials
  batch         three daemons start up to 4 trials each in one loop iteration
                (parallelism 4) on a grid study and on a random study with
                n_trials: each claim commits with its trial, the next trial
                of the same batch claims again; no grid point twice, no
                overshoot
  kill9         three daemons, one killed with SIGKILL mid-run: its RUNNING
                trials are failed by the others after the grace period (never
                before), the study completes with n_trials exact
  optuna        two daemons and an Optuna process (Debian's 3.1) on one study
                at once: numbers unique and contiguous, each sees the other's
  optuna5 DIR   one daemon writes a study (v3.2.0.a), the Optuna 5 package in
                DIR reads it and continues it; the daemon sees its trials
  tellask       trial.tell with "ask" (the end of one trial and the next one
                in one message): four daemons on one TPE study with n_trials,
                each reply after its commit (the told trial COMPLETE and the
                next one RUNNING in the database when it arrives), numbers
                once, n_trials exact, each client's last tell answered with
                "next": null and -32006; with one daemon the same parameters
                as separate asks and tells; a tell the database refuses (its
                trial ended by another program) starts no next trial
  restart       two daemons, an ask/tell client per daemon; the PostgreSQL
                server is stopped and started again mid-run: every tell that
                was answered is in the database, and the study completes
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import hpdaemon

try:
    import psycopg2
except ImportError as exc:
    print("psycopg2 import failed: %s (run scripts/install-deps)" % exc, file=sys.stderr)
    sys.exit(3)

HP, BASE, PORT, DB, SCENARIO = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
# PG_CLUSTER_SCALE=0.2: the same scenarios with a fifth of the trials (the
# sanitizer build, where every daemon runs several times slower).
SCALE = float(os.environ.get("PG_CLUSTER_SCALE", "1"))
SOCKDIR = os.path.join(BASE, "pg", "sock")
URL = "postgresql://postgres@/%s?host=%s&port=%s" % (DB, SOCKDIR, PORT)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
failures = []
found = {"scenario": SCENARIO}
# What this run starts is registered for scripts/pg-test-server's watchdog,
# which kills it if the test is killed: this process's group (its Optuna
# and client children) and each daemon (a session of its own).
PIDS = os.path.join(BASE, "pg", "pids")
try:
    os.setpgid(0, 0)
except OSError:
    pass  # already a group (session) leader


def register(name):
    if os.path.isdir(PIDS):
        open(os.path.join(PIDS, name), "w").close()


def unregister(name):
    try:
        os.remove(os.path.join(PIDS, name))
    except OSError:
        pass


register("group-%d" % os.getpid())


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


def sql(query, args=()):
    conn = psycopg2.connect(host=SOCKDIR, port=PORT, user="postgres", dbname=DB)
    try:
        with conn.cursor() as cur:
            cur.execute(query, args)
            rows = cur.fetchall() if cur.description else None
        conn.commit()
        return rows
    finally:
        conn.close()


class Daemon(hpdaemon.Daemon):
    """A daemon of this scenario on the test database (its log BASE/SCENARIO-NAME.log),
    registered for the watchdog while it runs."""
    def __init__(self, name, jobs=2, extra=()):
        super().__init__(HP, URL, os.path.join(BASE, name + ".sock"),
                         os.path.join(BASE, "%s-%s.log" % (SCENARIO, name)),
                         ["--jobs", str(jobs)] + list(extra), check, name=name)

    def started(self):
        register(str(self.proc.pid))

    def ended(self):
        unregister(str(self.proc.pid))


def submit(d, spec):
    hpdaemon.submit(HP, d, spec, BASE)


def study_rows(name):
    return sql("SELECT t.number, t.state::text, t.trial_id FROM trials t JOIN studies s "
               "ON s.study_id = t.study_id WHERE s.study_name = %s ORDER BY t.number", (name,))


def wait_finished(name, n, timeout):
    """Until n trials of the study are finished and none runs or waits."""
    t_end = time.time() + timeout
    while time.time() < t_end:
        rows = study_rows(name)
        done = sum(1 for r in rows if r[1] in ("COMPLETE", "PRUNED", "FAIL"))
        if done >= n and all(r[1] not in ("RUNNING", "WAITING") for r in rows):
            return rows
        time.sleep(0.2)
    return study_rows(name)


def check_numbers(rows, n):
    numbers = [r[0] for r in rows]
    found["trials"] = len(rows)
    check(len(numbers) == len(set(numbers)), "a trial number was given twice")
    check(sorted(numbers) == list(range(len(numbers))), "trial numbers are not 0..n-1")
    check(len(rows) == n, "n_trials %d, but the study has %d trials" % (n, len(rows)))


def per_daemon(daemons):
    """Trials each daemon ran, from its log."""
    counts = {}
    for d in daemons:
        counts[d.name] = sum(1 for line in open(d.log) if ": COMPLETE, value" in line)
    found["per_daemon"] = counts
    return counts


def echo_objective(extra=""):
    return {"command": ["sh", "-c", extra + 'echo "{\\"value\\": $1}"', "sh", "${x}"]}


def wait_known(daemons, study):
    """Until every daemon serves the study (a peer sees a new one within a second)."""
    for d in daemons:
        for _ in range(100):
            if "result" in d.rpc("study.get", {"study": study}):
                break
            time.sleep(0.05)


def asktell_loop(d, study, acked, errors, count=None):
    """Asks and tells until the study has nothing left (-32006), or count times."""
    while count is None or sum(1 for a in acked if a[0] == d.name) < count:
        a = d.rpc("trial.ask", {"study": study})
        if "error" in a:
            if a["error"].get("code") == -32006:
                return
            errors.append(a["error"])
            time.sleep(0.05)
            continue
        if "result" not in a:
            errors.append("no reply to trial.ask")
            time.sleep(0.05)
            continue
        num, value = a["result"]["trial"], a["result"]["params"]["x"]
        t = d.rpc("trial.tell", {"study": study, "trial": num, "value": value})
        if "result" in t:
            acked.append((d.name, num, value))
        else:
            errors.append(t.get("error", "no reply to trial.tell"))


def run_clients(daemons, study, n, loop, args):
    """A client thread per daemon (loop(d, study, acked, errors, *args(i))) until
    each is done; then the study must have n trials numbered once, all
    COMPLETE, and no client an error. Returns the acked tells."""
    import threading
    acked, errors = [], []
    threads = [threading.Thread(target=loop, args=(d, study, acked, errors) + args(i))
               for i, d in enumerate(daemons)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    rows = wait_finished(study, n, 30)
    check_numbers(rows, n)
    check(all(r[1] == "COMPLETE" for r in rows), "a trial did not complete")
    check(not errors, "errors: %s" % errors[:5])
    return acked


def tellask_loop(d, study, acked, errors, ends, check_db=False):
    """Asks once, then tells each trial with "ask": true until the reply
    has no next trial. check_db: after each reply, the told trial must be
    COMPLETE and the next RUNNING in the database (the reply came after
    the commit)."""
    a = d.rpc("trial.ask", {"study": study})
    if "result" not in a:
        ends.append((d.name, a.get("error")))  # the study may be used up already
        return
    cur = a["result"]
    conn = psycopg2.connect(host=SOCKDIR, port=PORT, user="postgres", dbname=DB) \
        if check_db else None
    if conn:
        conn.autocommit = True
    while True:
        num, value = cur["trial"], cur["params"]["x"]
        t = d.rpc("trial.tell", {"study": study, "trial": num, "value": value, "ask": True})
        if "result" not in t:
            errors.append(t.get("error", "no reply to trial.tell"))
            return
        r = t["result"]
        if r.get("trial") != num or r.get("state") != "COMPLETE" or "next" not in r:
            errors.append("unexpected reply %s" % r)
            return
        acked.append((d.name, num, value))
        nxt = r["next"]
        if conn:
            with conn.cursor() as c:
                c.execute("SELECT t.number, t.state::text FROM trials t JOIN studies s ON "
                          "s.study_id = t.study_id WHERE s.study_name = %s AND t.number IN "
                          "(%s, %s)", (study, num, nxt["trial"] if nxt else -1))
                st = dict(c.fetchall())
            if st.get(num) != "COMPLETE" or (nxt and st.get(nxt["trial"]) != "RUNNING"):
                errors.append("reply before commit: trial %d %s, next %s" % (
                    num, st.get(num), nxt and (nxt["trial"], st.get(nxt["trial"]))))
        if nxt is None:
            ends.append((d.name, r.get("next_error")))
            break
        if nxt.get("state") != "RUNNING" or "x" not in nxt.get("params", {}):
            errors.append("unexpected next trial %s" % nxt)
            return
        cur = nxt
    if conn:
        conn.close()


def tellask():
    """trial.tell with "ask" (docs/protocol.md): on several daemons, with
    the end and the next claim committed in one round trip."""
    daemons = [Daemon("d%d" % i) for i in range(4)]
    n = int(400 * SCALE)
    spec = {"name": "ta", "direction": "minimize", "n_trials": n,
            "sampler": {"type": "tpe", "seed": 5, "n_startup_trials": 5},
            "space": {"x": {"type": "float", "low": 0, "high": 1}}}
    submit(daemons[0], spec)
    wait_known(daemons, "ta")
    ends = []
    acked = run_clients(daemons, "ta", n, tellask_loop, lambda i: (ends, i == 0))
    counts = {d.name: sum(1 for a in acked if a[0] == d.name) for d in daemons}
    found["per_daemon"] = counts
    check(all(c > 0 for c in counts.values()), "a daemon ran no trial: %s" % counts)
    check(len(acked) == n, "%d tells answered, n_trials %d" % (len(acked), n))
    found["ends"] = [e[1]["code"] if e[1] else None for e in ends]
    check(len(ends) == 4 and all(e[1] and e[1].get("code") == -32006 for e in ends),
          "the clients' last replies: %s" % ends)
    values = {r[0]: r[1] for r in sql("SELECT t.number, v.value FROM trials t JOIN trial_values "
                                      "v ON v.trial_id = t.trial_id JOIN studies s ON "
                                      "s.study_id = t.study_id WHERE s.study_name = 'ta'")}
    check(all(abs(values.get(a[1], -1) - a[2]) < 1e-12 for a in acked), "a told value differs")
    for d in daemons[1:]:
        d.stop()
    # One daemon: tell with "ask" gives the parameters separate asks and
    # tells give (TPE's next sample sees the told value).
    d = daemons[0]
    seqs = {}
    for name, joined in (("sep", False), ("joint", True)):
        submit(d, {"name": name, "direction": "minimize", "n_trials": 30,
                   "sampler": {"type": "tpe", "seed": 9, "n_startup_trials": 4},
                   "space": {"x": {"type": "float", "low": -3, "high": 3}}})
        xs, cur = [], d.rpc("trial.ask", {"study": name})["result"]
        for i in range(30):
            x = cur["params"]["x"]
            xs.append(x)
            r = d.rpc("trial.tell", {"study": name, "trial": cur["trial"], "value": x * x,
                                     "ask": joined})["result"]
            if joined:
                cur = r["next"]
                if i == 29:
                    check(cur is None and r["next_error"]["code"] == -32006,
                          "no -32006 after n_trials: %s" % r)
            elif i < 29:
                cur = d.rpc("trial.ask", {"study": name})["result"]
        seqs[name] = xs
    check(seqs["sep"] == seqs["joint"], "TPE's parameters differ with \"ask\": %s vs %s" % (
        seqs["sep"][:8], seqs["joint"][:8]))
    # One transaction per trial with "ask": a trial's value and the next
    # trial's parameters were written by the same one (xmin), without it
    # by two.
    for name in ("sep", "joint"):
        rows = sql("SELECT t.number, v.xmin::text, p.xmin::text FROM trials t JOIN studies s ON "
                   "s.study_id = t.study_id JOIN trial_values v ON v.trial_id = t.trial_id JOIN "
                   "trial_params p ON p.trial_id = t.trial_id WHERE s.study_name = %s "
                   "ORDER BY t.number", (name,))
        same = sum(1 for a, b in zip(rows, rows[1:]) if a[1] == b[2])
        found["value_with_next_claim_" + name] = same
        check(same == (29 if name == "joint" else 0),
              "%s: %d of 29 trials' ends committed with the next claim" % (name, same))
    # A tell the database refuses (another program ended the trial): an
    # error, not a success, and the next trial's claim went with it.
    submit(d, {"name": "tr", "direction": "minimize",
               "sampler": {"type": "random", "seed": 1},
               "space": {"x": {"type": "float", "low": 0, "high": 1}}})
    a = d.rpc("trial.ask", {"study": "tr"})["result"]
    sql("UPDATE trials SET state = 'FAIL', datetime_complete = now() WHERE number = %s AND "
        "study_id = (SELECT study_id FROM studies WHERE study_name = 'tr')", (a["trial"],))
    t = d.rpc("trial.tell", {"study": "tr", "trial": a["trial"], "value": 0.5, "ask": True})
    found["refused_tell"] = t.get("error", t.get("result"))
    check("error" in t, "a tell of a trial ended elsewhere was answered %s" % t)
    rows = study_rows("tr")
    check(len(rows) == 1 and rows[0][1] == "FAIL",
          "after the refused tell the study has %s" % rows)
    check("result" in d.rpc("daemon.status", {}), "the daemon stopped answering")
    # A tell with "ask" committed early with its next claim, then a later
    # request of the same loop iteration fails the batch (a tell of a
    # trial another program ended): the first reply stays a success (its
    # trial and the next one are stored), only the second is an error.
    outcome = None
    for _ in range(5):  # the daemon's look once a second may see the change first
        time.sleep(1.2)  # new trials wait a second after a batch failed
        a1 = d.rpc("trial.ask", {"study": "tr"})["result"]
        a2 = d.rpc("trial.ask", {"study": "tr"})["result"]
        sql("UPDATE trials SET state = 'FAIL', datetime_complete = now() WHERE number = %s "
            "AND study_id = (SELECT study_id FROM studies WHERE study_name = 'tr')",
            (a2["trial"],))
        s_ = socket.socket(socket.AF_UNIX)
        s_.settimeout(30)
        s_.connect(d.sock)
        s_.sendall(("".join(json.dumps({"jsonrpc": "2.0", "id": i, "method": "trial.tell",
                                        "params": p}) + "\n" for i, p in (
            (1, {"study": "tr", "trial": a1["trial"], "value": 0.25, "ask": True}),
            (2, {"study": "tr", "trial": a2["trial"], "value": 0.5})))).encode())
        f = s_.makefile("rb")
        r1, r2 = json.loads(f.readline()), json.loads(f.readline())
        s_.close()
        if r2.get("error", {}).get("code") == -32603:
            outcome = (a1, r1, r2)
            break
        d.rpc("trial.tell", {"study": "tr", "trial": a1["trial"], "value": 0.25})
    found["settled_reply"] = outcome and outcome[1]
    if check(outcome is not None, "no batch failed after a tell with \"ask\" in 5 tries"):
        a1, r1, r2 = outcome
        states = {r[0]: r[1] for r in study_rows("tr")}
        nxt = r1.get("result", {}).get("next")
        check("result" in r1 and nxt is not None,
              "a tell committed with its next claim was answered %s" % r1)
        check(states.get(a1["trial"]) == "COMPLETE" and nxt and
              states.get(nxt["trial"]) == "RUNNING",
              "after the settled reply the study holds %s" % states)
    check("result" in d.rpc("daemon.status", {}), "the daemon stopped answering")
    d.stop()


def claims(sampler):
    """Four daemons, each with an ask/tell client, 250 trials each on average."""
    daemons = [Daemon("d%d" % i) for i in range(4)]
    n = int(1000 * SCALE)
    spec = {"name": "claims", "direction": "minimize",
            "sampler": {"type": sampler, "seed": 3},
            "space": {"x": {"type": "int", "low": 0, "high": n - 1}}}
    if sampler != "grid":
        spec["n_trials"] = n
    submit(daemons[0], spec)
    wait_known(daemons, "claims")
    acked = run_clients(daemons, "claims", n, asktell_loop, lambda i: ())
    xs = [r[0] for r in sql("SELECT p.param_value FROM trial_params p JOIN trials t ON "
                            "t.trial_id = p.trial_id WHERE p.param_name = 'x'")]
    if sampler == "grid":
        check(sorted(int(x) for x in xs) == list(range(n)),
              "grid points: %d distinct of %d trials" % (len(set(xs)), len(xs)))
    counts = {d.name: sum(1 for a in acked if a[0] == d.name) for d in daemons}
    found["per_daemon"] = counts
    check(all(c > 0 for c in counts.values()), "a daemon ran no trial: %s" % counts)
    check(len(acked) == n, "%d tells answered, n_trials %d" % (len(acked), n))
    for d in daemons:
        d.stop()


def unlimited():
    """Two daemons, random sampler, no n_trials: the claim does not read the
    peers' trials (nothing depends on them), the store still numbers each
    trial under the study's lock."""
    daemons = [Daemon("d%d" % i) for i in range(2)]
    per = int(200 * SCALE)
    spec = {"name": "free", "direction": "minimize", "sampler": {"type": "random", "seed": 4},
            "space": {"x": {"type": "float", "low": 0, "high": 1}}}
    submit(daemons[0], spec)
    wait_known(daemons, "free")
    acked = run_clients(daemons, "free", 2 * per, asktell_loop, lambda i: (per,))
    values = {r[0]: r[1] for r in sql("SELECT t.number, v.value FROM trials t JOIN trial_values "
                                      "v ON v.trial_id = t.trial_id")}
    check(all(abs(values.get(a[1], -1) - a[2]) < 1e-12 for a in acked), "a told value differs")
    for d in daemons:
        d.stop()


def batch_claims():
    """Several trials started in one batch: a claim commits with its trial
    (the study's lock is released), so the next trial of the same batch must
    take the lock and read the peers again (grid points, n_trials)."""
    daemons = [Daemon("d%d" % i, jobs=4) for i in range(3)]
    n = max(40, int(120 * SCALE))
    fast = echo_objective()
    grid = {"name": "bgrid", "direction": "minimize", "parallelism": 4,
            "sampler": {"type": "grid"},
            "space": {"x": {"type": "int", "low": 0, "high": n - 1}}, "objective": fast}
    rand = {"name": "brand", "direction": "minimize", "parallelism": 4, "n_trials": n,
            "sampler": {"type": "random", "seed": 6},
            "space": {"x": {"type": "float", "low": 0, "high": 1}}, "objective": fast}
    submit(daemons[0], grid)
    submit(daemons[1], rand)
    for name in ("bgrid", "brand"):
        rows = wait_finished(name, n, 240)
        check_numbers(rows, n)
        check(all(r[1] == "COMPLETE" for r in rows), "%s: a trial did not complete" % name)
    xs = [r[0] for r in sql("SELECT p.param_value FROM trial_params p JOIN trials t ON "
                            "t.trial_id = p.trial_id JOIN studies s ON s.study_id = t.study_id "
                            "WHERE s.study_name = 'bgrid'")]
    check(sorted(int(x) for x in xs) == list(range(n)),
          "grid points: %d distinct of %d trials" % (len(set(xs)), len(xs)))
    counts = per_daemon(daemons)
    check(sum(1 for c in counts.values() if c > 0) >= 2, "one daemon ran everything: %s" % counts)
    for d in daemons:
        d.stop()


def kill9():
    daemons = [Daemon("d%d" % i) for i in range(3)]
    n = 60
    spec = {"name": "k9", "direction": "minimize", "parallelism": 2, "n_trials": n,
            "heartbeat_interval": 1, "grace_period": 3,
            "sampler": {"type": "random", "seed": 5},
            "space": {"x": {"type": "float", "low": 0, "high": 1}},
            "objective": echo_objective("sleep 0.4; ")}
    submit(daemons[0], spec)
    # mid-run: some trials done, the victim runs some
    t_end = time.time() + 60
    while time.time() < t_end and sum(1 for r in study_rows("k9") if r[1] == "COMPLETE") < 12:
        time.sleep(0.05)
    victim = daemons[1]
    victim.kill9()
    t_kill = time.time()
    running = sql("SELECT t.number FROM trials t WHERE t.state = 'RUNNING'")
    found["running_at_kill"] = len(running)
    rows = wait_finished("k9", n, 120)
    check_numbers(rows, n)
    fails = sql("SELECT t.number, a.value_json, EXTRACT(EPOCH FROM (t.datetime_complete - "
                "h.heartbeat)) FROM trials t JOIN trial_system_attributes a ON a.trial_id = "
                "t.trial_id AND a.key = 'fail_reason' JOIN trial_heartbeats h ON h.trial_id = "
                "t.trial_id WHERE t.state = 'FAIL'")
    found["failed"] = len(fails)
    check(len(fails) >= 1, "no trial of the killed daemon was failed")
    check(all("heartbeat lost" in f[1] for f in fails), "a FAIL for another reason: %s" % fails)
    # failed after the grace period, never before (datetime_complete is UTC
    # in a v3.2.0.a database, heartbeat the server's local time: the test
    # server runs in UTC)
    check(all(f[2] is None or f[2] >= 2.9 for f in fails),
          "a trial was failed before its grace period: %s" % fails)
    found["takeover_s"] = round(time.time() - t_kill, 1)
    live = [d for d in daemons if d is not victim]
    counts = per_daemon(live)
    check(sum(counts.values()) + len(fails) + sum(
        1 for line in open(victim.log) if ": COMPLETE, value" in line) >= n,
        "trials unaccounted for")
    for d in live:
        d.stop()


def live_owner():
    """Two daemons run two studies at once (each submitted to a different
    daemon), every trial lasting longer than the grace period: a peer must
    never fail a trial whose owner is alive and beating, and batches that
    touch both studies must not deadlock. The grace period (4 s, beats
    every 1 s) leaves room for a sanitizer build on a loaded machine."""
    daemons = [Daemon("d%d" % i) for i in range(2)]
    n = 6
    for i, name in enumerate(("lv1", "lv2")):
        spec = {"name": name, "direction": "minimize", "parallelism": 2, "n_trials": n,
                "heartbeat_interval": 1, "grace_period": 4,
                "sampler": {"type": "random", "seed": 7 + i},
                "space": {"x": {"type": "float", "low": 0, "high": 1}},
                "objective": echo_objective("sleep 5; ")}
        submit(daemons[i], spec)
    for name in ("lv1", "lv2"):
        rows = wait_finished(name, n, 120)
        check_numbers(rows, n)
        bad = [r for r in rows if r[1] != "COMPLETE"]
        check(not bad, "%s: trials not COMPLETE although their owner lived: %s %s" % (
            name, bad, sql("SELECT t.number, a.value_json FROM trials t JOIN "
                           "trial_system_attributes a ON a.trial_id = t.trial_id AND "
                           "a.key = 'fail_reason'")))
    counts = per_daemon(daemons)
    check(all(c > 0 for c in counts.values()), "a daemon ran no trial: %s" % counts)
    for d in daemons:
        d.stop()


def taken_over():
    """A peer ends a trial this daemon still runs (as after a stall longer
    than the grace period) while another program's trial runs too (so the
    counts of RUNNING trials do not show it): the daemon keeps serving,
    stops that trial's worker within seconds (trial 0's would run 60 s), its
    own end of that trial is refused, the study still completes, and the
    daemon says so."""
    d = Daemon("d0")
    spec = {"name": "tk", "direction": "minimize", "parallelism": 1, "n_trials": 3,
            "heartbeat_interval": 1, "grace_period": 30,
            "sampler": {"type": "random", "seed": 3},
            "space": {"x": {"type": "float", "low": 0, "high": 1}},
            "objective": echo_objective(
                '[ "$HPSEARCH_TRIAL_NUMBER" = 0 ] && sleep 60; sleep 1; ')}
    submit(d, spec)
    t_end = time.time() + 30
    while time.time() < t_end and not any(r[0] == 0 and r[1] == "RUNNING" for r in study_rows("tk")):
        time.sleep(0.05)
    # another program's running trial (number 1; parallelism 1 keeps the
    # daemon from numbering one while trial 0 runs)
    sql("INSERT INTO trials (number, study_id, state, datetime_start) SELECT 1, study_id, "
        "'RUNNING', now() FROM studies WHERE study_name = 'tk'")
    time.sleep(1.5)  # the daemon counts it
    sql("UPDATE trials SET state = 'FAIL', datetime_complete = now() WHERE number = 0 AND "
        "study_id = (SELECT study_id FROM studies WHERE study_name = 'tk')")
    t_taken = time.time()
    # parallelism 1: trial 2 starts once trial 0's worker is gone here
    while time.time() < t_taken + 60 and not any(r[0] == 2 for r in study_rows("tk")):
        time.sleep(0.05)
    found["next_trial_after_s"] = round(time.time() - t_taken, 2)
    check(time.time() - t_taken < 15, "trial 0's worker ran on %.1f s after a peer ended it" % (
        time.time() - t_taken))
    sql("UPDATE trials SET state = 'FAIL', datetime_complete = now() WHERE number = 1 AND "
        "study_id = (SELECT study_id FROM studies WHERE study_name = 'tk')")
    rows = wait_finished("tk", 3, 60)
    check_numbers(rows, 3)
    states = {r[0]: r[1] for r in rows}
    found["states"] = states
    check(states.get(0) == "FAIL", "trial 0 is %s, not the peer's FAIL" % states.get(0))
    check(states.get(2) == "COMPLETE", "trial 2 did not complete: %s" % states)
    check("result" in d.rpc("daemon.status", {}), "the daemon stopped answering")
    check(any("trial 0: ended by another program while it ran here; stopping its worker" in line
              for line in open(d.log)), "the daemon did not stop trial 0's worker")
    d.stop()


def optuna_joins():
    daemons = [Daemon("d%d" % i, extra=["--optuna-schema", "3.1"]) for i in range(2)]
    n = 150
    spec = {"name": "mix", "direction": "minimize", "parallelism": 2, "n_trials": n,
            "sampler": {"type": "tpe", "seed": 7},
            "space": {"x": {"type": "float", "low": -5, "high": 5}},
            "objective": echo_objective("sleep 0.02; ")}
    submit(daemons[0], spec)
    code = r"""
import sys, optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
st = optuna.load_study(study_name="mix", storage=sys.argv[1])
st.optimize(lambda t: (t.suggest_float("x", -5, 5) - 1) ** 2, n_trials=40)
print(len(st.trials), sum(1 for t in st.trials if t.user_attrs == {} and t.state.name == "COMPLETE"))
"""
    surl = "postgresql+psycopg2://postgres@/%s?host=%s&port=%s" % (DB, SOCKDIR, PORT)
    r = subprocess.run(["/usr/bin/python3", "-c", code, surl], capture_output=True, text=True,
                       timeout=180)
    check(r.returncode == 0, "Optuna failed: %s" % r.stderr[-2000:])
    found["optuna_saw"] = r.stdout.strip()
    rows = wait_finished("mix", n, 120)
    numbers = [x[0] for x in rows]
    check(len(numbers) == len(set(numbers)), "a trial number was given twice")
    check(sorted(numbers) == list(range(len(numbers))), "trial numbers are not 0..n-1")
    found["trials"] = len(rows)
    check(len(rows) >= n, "fewer trials than n_trials")
    counts = per_daemon(daemons)
    optuna_trials = len(rows) - sum(counts.values())
    found["optuna_trials"] = optuna_trials
    check(optuna_trials == 40, "Optuna's 40 trials not all in the study (%d)" % optuna_trials)
    seen = r.stdout.split()
    check(len(seen) == 2 and int(seen[0]) > 40, "Optuna did not see hpsearch's trials: %s" % seen)
    status = subprocess.run([HP, "status", "mix", "--db", URL, "--json"], capture_output=True,
                            text=True)
    check(status.returncode == 0 and '"mix"' in status.stdout, "status --db URL failed")
    for d in daemons:
        d.stop()


def restart():
    """Two daemons with an ask/tell client each; the server is stopped and
    started again while they ask and tell."""
    daemons = [Daemon("d%d" % i) for i in range(2)]
    n = int(600 * SCALE)
    spec = {"name": "rs", "direction": "minimize", "n_trials": n,
            "sampler": {"type": "random", "seed": 9},
            "space": {"x": {"type": "float", "low": 0, "high": 1}}}
    submit(daemons[0], spec)
    wait_known(daemons, "rs")
    import threading
    acked, errors = [], []
    threads = [threading.Thread(target=asktell_loop, args=(d, "rs", acked, errors))
               for d in daemons]
    for t in threads:
        t.start()
    t_end = time.time() + 60
    while len(acked) < n // 4 and time.time() < t_end:
        time.sleep(0.01)
    tool = os.path.join(ROOT, "scripts", "pg-test-server")
    subprocess.run([tool, "stop", BASE], check=True)
    found["acked_before_stop"] = len(acked)
    time.sleep(1.5)
    subprocess.run([tool, "start", BASE, PORT], check=True, stdout=subprocess.DEVNULL)
    for t in threads:
        t.join(180)
    found["acked"] = len(acked)
    found["errors_during_outage"] = len(errors)
    check(errors, "no request failed while the server was down (was it?)")
    rows = {r[0]: r for r in sql(
        "SELECT t.number, t.state::text, v.value FROM trials t JOIN studies s ON "
        "s.study_id = t.study_id LEFT JOIN trial_values v ON v.trial_id = t.trial_id "
        "WHERE s.study_name = 'rs'")}
    lost = [a for a in acked if a[1] not in rows or rows[a[1]][1] != "COMPLETE" or
            abs(rows[a[1]][2] - a[2]) > 1e-12]
    check(not lost, "acknowledged tells lost: %s" % lost[:10])
    numbers = sorted(rows)
    check(numbers == list(range(len(numbers))), "trial numbers are not 0..n-1")
    check(len(rows) == n, "%d trials, n_trials %d" % (len(rows), n))
    found["trials"] = len(rows)
    found["states"] = {st: sum(1 for r in rows.values() if r[1] == st)
                       for st in ("COMPLETE", "FAIL", "RUNNING")}
    for d in daemons:
        d.stop()


def optuna5():
    d = Daemon("d0")
    spec = {"name": "o5", "direction": "maximize", "n_trials": 20,
            "sampler": {"type": "tpe", "seed": 2},
            "space": {"x": {"type": "float", "low": -5, "high": 5},
                      "c": {"type": "categorical", "choices": ["a", "b"]}}}
    submit(d, spec)
    for i in range(20):
        a = d.rpc("trial.ask", {"study": "o5"})["result"]
        d.rpc("trial.report", {"study": "o5", "trial": a["trial"], "step": 0, "value": 1.5})
        d.rpc("trial.tell", {"study": "o5", "trial": a["trial"], "value": -a["params"]["x"] ** 2})
    code = r"""
import sys, json, optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
st = optuna.load_study(study_name="o5", storage=sys.argv[1])
before = [(t.number, t.state.name, t.value, t.params, t.intermediate_values) for t in st.trials]
best = (st.best_trial.number, st.best_value)
st.optimize(lambda t: -t.suggest_float("x", -5, 5) ** 2 + (t.suggest_categorical("c", ["a", "b"]) == "a"), n_trials=5)
print(json.dumps({"version": optuna.__version__, "n": len(before), "best": best,
                  "complete": sum(1 for b in before if b[1] == "COMPLETE"),
                  "inter": sum(1 for b in before if b[4] == {0: 1.5}), "after": len(st.trials)}))
"""
    surl = "postgresql+psycopg2://postgres@/%s?host=%s&port=%s" % (DB, SOCKDIR, PORT)
    env = dict(os.environ, PYTHONPATH=sys.argv[6])
    r = subprocess.run(["/usr/bin/python3", "-c", code, surl], capture_output=True, text=True,
                       timeout=180, env=env)
    check(r.returncode == 0, "Optuna 5 failed: %s" % r.stderr[-2000:])
    if r.returncode == 0:
        o = json.loads(r.stdout)
        found["optuna"] = o
        check(o["version"].startswith("5"), "not Optuna 5: %s" % o["version"])
        check(o["n"] == 20 and o["complete"] == 20 and o["inter"] == 20, "Optuna read: %s" % o)
        check(o["after"] == 25, "Optuna continued to %d trials" % o["after"])
        best = subprocess.run([HP, "best", "o5", "--db", URL, "--json"], capture_output=True,
                              text=True)
        check(best.returncode == 0, "hpsearch best --db URL failed: %s" % best.stderr)
    # the daemon sees Optuna's trials (within its 1 s look)
    n_seen = 0
    for _ in range(60):
        g = d.rpc("study.get", {"study": "o5"}).get("result", {})
        n_seen = g.get("counts", {}).get("COMPLETE", 0)
        if n_seen == 25:
            break
        time.sleep(0.1)
    found["daemon_saw"] = n_seen
    check(n_seen == 25, "the daemon sees %d complete trials, not 25" % n_seen)
    d.stop()


SCENARIOS = {"claims-grid": lambda: claims("grid"), "claims-tpe": lambda: claims("tpe"),
             "unlimited": unlimited, "batch": batch_claims,
             "tellask": tellask, "kill9": kill9, "live": live_owner, "taken": taken_over, "optuna": optuna_joins, "optuna5": optuna5, "restart": restart}
t0 = time.time()
SCENARIOS[SCENARIO]()
found["seconds"] = round(time.time() - t0, 1)
found["failures"] = failures
print(json.dumps(found))
for f in failures:
    print("FAIL: " + f, file=sys.stderr)
unregister("group-%d" % os.getpid())
sys.exit(1 if failures else 0)
