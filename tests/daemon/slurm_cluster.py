#!/usr/bin/python3
"""Helper of tests/daemon/test_slurm.c: one scenario of the Slurm executor
against a real one-node cluster that scripts/slurm-test-cluster started
(SLURM_CONF set by the caller). Each scenario runs its own daemon in its
own folder, checks the database (sqlite3) and Slurm's own view (squeue,
scontrol), prints one JSON line with what it found and exits 0 when every
check held, 1 otherwise (the reasons on stderr).

usage: slurm_cluster.py HPSEARCH DIR SCENARIO
  twenty   20 short trials with parallelism 2: 20 jobs, each COMPLETED in
           scontrol under its trial's name, never more than 2 of the study's
           jobs queued or running at once, every value and step stored
  prune    a median pruner prunes trial 1 while its job runs: the trial is
           PRUNED and its job CANCELLED within seconds
  scancel  a job cancelled from outside (scancel): the trial is FAIL with
           reason CANCELLED; a trial over the study's trial_timeout: its job
           is cancelled, FAIL "timeout after 2 s"
  timeout  a job over its time limit (1 minute): FAIL with reason TIMEOUT
  refuse   connections to the daemon's job listener with a wrong token, or
           a right token for another trial, are refused; a job sbatch refuses
           (no such partition) fails its trial with sbatch's message
  engine   an engine objective (hpsearch worker training a small MLP) as
           Slurm jobs: values per epoch, final value, test accuracy stored
  restart  the daemon is killed (SIGKILL) while 2 jobs run and started
           again, later stopped cleanly while 2 others run and started
           again: each time it adopts the jobs, and the study completes with
           every trial COMPLETE and every intermediate value stored
  restart_pg  the same on a PostgreSQL database (a server of
           scripts/pg-test-server in DIR) shared with a peer daemon: the
           daemon with the fixed --worker-addr is killed (SIGKILL) while its
           2 jobs run; the peer (another address) adopts none of them and
           fails none; the daemon started again with the same address adopts
           exactly its 2, and the study completes with every trial COMPLETE
  dead_pg  the same, but the killed daemon does not come back: the peer
           fails its 2 trials after the grace period (4 s) and cancels their
           jobs (CANCELLED in scontrol); the study completes
"""
import ctypes
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import hpdaemon

HP, DIR, SCENARIO = sys.argv[1], sys.argv[2], sys.argv[3]
SCALE = float(os.environ.get("SLURM_CLUSTER_SCALE", "1"))
failures = []
found = {"scenario": SCENARIO}
os.makedirs(DIR, exist_ok=True)
DB = os.path.join(DIR, "hp.db")
SOCK = os.path.join(DIR, "hp.sock")


def dies_with_us():
    """A daemon's preexec: SIGTERM when this process ends (PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)


def watch_test(pid):
    """Exits (and so stops the daemons) when the test binary is gone, also
    when it was killed: this scenario runs under its system()."""
    def alive():
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().split(") ", 1)[1][0] != "Z"
        except OSError:
            return False
    while alive():
        time.sleep(0.5)
    os._exit(1)


if os.environ.get("HP_TEST_PID"):
    threading.Thread(target=watch_test, args=(int(os.environ["HP_TEST_PID"]),),
                     daemon=True).start()


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


PG = None  # (socket folder, port) once restart_pg started its server


def sql(query, args=()):
    if PG:
        import psycopg2
        conn = psycopg2.connect(host=PG[0], port=PG[1], user="postgres", dbname="hp")
        try:
            with conn.cursor() as cur:
                cur.execute(query.replace("?", "%s"), args)
                return cur.fetchall()
        finally:
            conn.close()
    conn = sqlite3.connect(DB, timeout=30)
    try:
        return conn.execute(query, args).fetchall()
    finally:
        conn.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Daemon(hpdaemon.Daemon):
    def __init__(self, tag="d", extra=(), db=DB, sock=SOCK, addr="127.0.0.1:0"):
        super().__init__(HP, db, sock, os.path.join(DIR, "%s.log" % tag),
                         ["--worker-addr", addr] + list(extra), check, name=tag,
                         preexec_fn=dies_with_us)


def script(name, body):
    """An objective command: sh, reporting {"step", "value"} lines."""
    path = os.path.join(DIR, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path, 0o755)
    return path


def submit(d, spec):
    hpdaemon.submit(HP, d, spec, DIR)


def rows(study):
    """number, state, value, fail_reason or pruned reason, slurm record"""
    out = []
    for number, tid, state in sql(
            "SELECT t.number, t.trial_id, t.state FROM trials t JOIN studies s USING (study_id) "
            "WHERE s.study_name = ? ORDER BY t.number", (study,)):
        attrs = dict(sql("SELECT key, value_json FROM trial_system_attributes WHERE trial_id = ?",
                         (tid,)))
        value = sql("SELECT value FROM trial_values WHERE trial_id = ?", (tid,))
        steps = sql("SELECT step, intermediate_value FROM trial_intermediate_values "
                    "WHERE trial_id = ? ORDER BY step", (tid,))
        reason = json.loads(attrs.get("fail_reason", attrs.get("hpsearch:reason", "null")))
        job = json.loads(attrs.get("hpsearch:slurm_job", "null"))
        params = dict(sql("SELECT param_name, param_value FROM trial_params WHERE trial_id = ?",
                          (tid,)))
        out.append({"number": number, "trial_id": tid, "state": state,
                    "value": value[0][0] if value else None, "reason": reason, "job": job,
                    "steps": steps, "params": params})
    return out


def wait_done(study, n, timeout):
    t_end = time.time() + timeout
    while time.time() < t_end:
        r = rows(study)
        if len(r) >= n and all(t["state"] not in ("RUNNING", "WAITING") for t in r):
            return r
        time.sleep(0.2)
    return rows(study)


def scontrol(job_id):
    r = subprocess.run(["scontrol", "show", "job", "-o", str(job_id)], capture_output=True,
                       text=True)
    return dict(re.findall(r"(\w+)=(\S*)", r.stdout))


def job_state(job_id):
    return scontrol(job_id).get("JobState")


def wait_job_running(study, number, timeout=30):
    t_end = time.time() + timeout
    while time.time() < t_end:
        r = [t for t in rows(study) if t["number"] == number]
        if r and r[0]["job"] and r[0]["job"].get("job") and job_state(r[0]["job"]["job"]) == "RUNNING":
            return r[0]
        time.sleep(0.2)
    return None


def latencies(log):
    """Seconds from sbatch to the job's worker calling back, from the log."""
    return [float(x) for x in re.findall(r"its worker called ([0-9.]+) s after sbatch",
                                         open(log).read())]


STEPS = script("steps.sh", """x=$1; n=$2; pause=$3
i=0
while [ $i -lt $n ]; do
  awk -v x="$x" -v s=$i 'BEGIN{printf "{\\"step\\": %d, \\"value\\": %.6f}\\n", s, x*x+s}'
  sleep $pause; i=$((i+1))
done
echo "trial $HPSEARCH_TRIAL_NUMBER done" >&2
awk -v x="$x" 'BEGIN{printf "{\\"value\\": %.6f, \\"job\\": \\"%s\\"}\\n", x*x, ENVIRON["SLURM_JOB_ID"]}'
""")


def spec(name, n, par, steps, pause, extra=None, executor=None):
    s = {"name": name, "n_trials": n, "parallelism": par,
         "sampler": {"type": "random", "seed": 7},
         "space": {"x": {"type": "float", "low": -1, "high": 1}},
         "objective": {"command": [STEPS, "$x", str(steps), str(pause)]},
         "executor": executor or {"type": "slurm", "cpus_per_task": 1}}
    s.update(extra or {})
    return s


def twenty():
    n = max(4, int(20 * SCALE))
    d = Daemon()
    t0 = time.time()
    submit(d, spec("tw", n, 2, 3, 0.2))
    most = 0
    t_end = time.time() + 300
    while time.time() < t_end:
        q = subprocess.run(["squeue", "-h", "-n", ",".join("tw.t%d" % i for i in range(n)),
                            "-t", "PENDING,RUNNING", "-o", "%i"], capture_output=True, text=True)
        most = max(most, len(q.stdout.split()))
        r = rows("tw")
        if len(r) >= n and all(t["state"] not in ("RUNNING", "WAITING") for t in r):
            break
        time.sleep(0.1)
    wall = time.time() - t0
    r = rows("tw")
    d.stop()
    found.update(trials=len(r), most_at_once=most, wall_s=round(wall, 1),
                 trials_per_min=round(60 * len(r) / wall, 1))
    lat = sorted(latencies(d.log))
    if lat:
        found.update(sbatch_to_worker_s={"median": lat[len(lat) // 2], "max": lat[-1]})
    check(len(r) == n, "%d trials, not %d" % (len(r), n))
    check(most <= 2, "%d jobs of the study queued or running at once (parallelism 2)" % most)
    jobs = set()
    for t in r:
        check(t["state"] == "COMPLETE", "trial %d is %s (%s)" % (t["number"], t["state"], t["reason"]))
        x = t["params"].get("x")
        if t["value"] is not None and x is not None:
            check(abs(t["value"] - x * x) < 1e-5, "trial %d value %s for x %s" % (t["number"], t["value"], x))
        check([s for s, _ in t["steps"]] == [0, 1, 2], "trial %d steps %s" % (t["number"], t["steps"]))
        jid = (t["job"] or {}).get("job")
        if not check(jid is not None, "trial %d has no Slurm job recorded" % t["number"]):
            continue
        jobs.add(jid)
        info = scontrol(jid)
        check(info.get("JobState") == "COMPLETED", "job %s is %s" % (jid, info.get("JobState")))
        check(info.get("JobName") == "tw.t%d" % t["number"],
              "job %s is named %s" % (jid, info.get("JobName")))
    check(len(jobs) == n, "%d distinct jobs for %d trials" % (len(jobs), n))
    # the job's own id reached the trial through its worker's final line
    attrs = sql("SELECT COUNT(*) FROM trial_user_attributes WHERE key = 'job'")
    check(attrs[0][0] == n, "%s trials have the job user attribute" % attrs[0][0])


def prune():
    # trial 0 completes low; trial 1 reports worse and is pruned at step 0
    # while its job would run for a minute
    body = """if [ "$HPSEARCH_TRIAL_NUMBER" = 0 ]; then
  echo '{"step": 0, "value": 1}'; echo '{"step": 1, "value": 1}'; echo '{"value": 1}'
else
  sleep 2; echo '{"step": 0, "value": 50}'; sleep 60; echo '{"value": 50}'
fi
"""
    cmd = script("prune.sh", body)
    d = Daemon()
    s = spec("pr", 2, 1, 0, 0, extra={"pruner": {"type": "median", "n_startup_trials": 1}})
    s["objective"] = {"command": [cmd]}
    submit(d, s)
    running = wait_job_running("pr", 1, 60)
    t_run = time.time()
    r = wait_done("pr", 2, 60)
    secs = time.time() - t_run
    d.stop()
    found.update(pruned_after_running_s=round(secs, 1))
    check(len(r) == 2 and r[0]["state"] == "COMPLETE", "trial 0: %s" % (r[:1],))
    if check(len(r) == 2, "2 trials"):
        t = r[1]
        check(t["state"] == "PRUNED", "trial 1 is %s (%s)" % (t["state"], t["reason"]))
        check(running is not None, "trial 1's job was never seen RUNNING")
        jid = (t["job"] or {}).get("job")
        check(jid is not None and job_state(jid) == "CANCELLED",
              "trial 1's job %s is %s, not CANCELLED" % (jid, jid and job_state(jid)))
        check(secs < 15, "the pruned trial's job ended %.1f s after it was seen running" % secs)


def scancel():
    d = Daemon()
    submit(d, spec("sc", 1, 1, 1, 60))
    t = wait_job_running("sc", 0, 60)
    if not check(t is not None, "the job never ran"):
        d.stop()
        return
    jid = t["job"]["job"]
    t0 = time.time()
    subprocess.run(["scancel", jid], check=True)
    r = wait_done("sc", 1, 30)
    found.update(cancelled_to_fail_s=round(time.time() - t0, 1))
    d.stop()
    check(r[0]["state"] == "FAIL", "trial is %s" % r[0]["state"])
    check(str(r[0]["reason"]).startswith("CANCELLED (Slurm job %s" % jid),
          "reason %r" % r[0]["reason"])
    check(job_state(jid) == "CANCELLED", "job state %s" % job_state(jid))
    # the study's own trial_timeout (counted from the job's start): scancel;
    # the study has no executor: the daemon's --executor default applies
    d = Daemon("d2", ["--executor", '{"type": "slurm", "time": "5"}'])
    s = spec("tt", 1, 1, 1, 60, extra={"trial_timeout": 2})
    del s["executor"]
    submit(d, s)
    r = wait_done("tt", 1, 60)
    d.stop()
    check(r[0]["state"] == "FAIL" and r[0]["reason"] == "timeout after 2 s",
          "trial_timeout: %s %r" % (r[0]["state"], r[0]["reason"]))
    jid = (r[0]["job"] or {}).get("job")
    check(jid is not None and job_state(jid) == "CANCELLED",
          "trial_timeout: job %s is %s" % (jid, jid and job_state(jid)))
    check(jid is not None and scontrol(jid).get("TimeLimit") == "00:05:00",
          "the --executor default's time limit: %s" % (jid and scontrol(jid).get("TimeLimit")))
    stored = sql("SELECT value_json FROM study_system_attributes a JOIN studies s USING (study_id) "
                 "WHERE s.study_name = 'tt' AND a.key = 'hpsearch:spec'")
    check(stored and json.loads(stored[0][0]).get("executor", {}).get("type") == "slurm",
          "the default executor is not in the stored spec: %s" % stored)


def timeout():
    d = Daemon()
    submit(d, spec("to", 1, 1, 1, 600, executor={"type": "slurm", "time": "1"}))
    t = wait_job_running("to", 0, 60)
    t0 = time.time()
    r = wait_done("to", 1, 200)
    found.update(timeout_after_s=round(time.time() - t0, 1))
    d.stop()
    check(r[0]["state"] == "FAIL", "trial is %s" % r[0]["state"])
    check(str(r[0]["reason"]).startswith("TIMEOUT (Slurm job"), "reason %r" % r[0]["reason"])
    jid = (r[0]["job"] or {}).get("job")
    check(t is not None and job_state(jid) == "TIMEOUT", "job state %s" % (jid and job_state(jid)))


def refuse():
    d = Daemon()
    submit(d, spec("rf", 2, 2, 1, 30))
    t0 = wait_job_running("rf", 0, 60)
    t1 = wait_job_running("rf", 1, 60)
    if not check(t0 and t1, "the jobs never ran"):
        d.stop()
        return
    host, port = t0["job"]["addr"].rsplit(":", 1)

    def hello(line):
        s = socket.create_connection((host, int(port)), timeout=10)
        try:
            s.sendall(line.encode() + b"\n")
            return hpdaemon.read_json_line(s)
        finally:
            s.close()

    wrong = hello(json.dumps({"trial_id": t0["trial_id"], "token": "0" * 32}))
    check("error" in wrong, "a wrong token was answered %r" % wrong)
    other = hello(json.dumps({"trial_id": t1["trial_id"], "token": t0["job"]["token"]}))
    check("error" in other, "trial 0's token for trial 1 was answered %r" % other)
    garbage = hello("not json at all")
    check("error" in garbage, "a garbage hello was answered %r" % garbage)
    subprocess.run(["scancel"] + [t["job"]["job"] for t in (t0, t1)])
    r = wait_done("rf", 2, 30)
    d.stop()
    check(all(t["state"] == "FAIL" for t in r), "states %s" % [t["state"] for t in r])
    log = open(d.log).read()
    check(log.count("refused a relay connection") >= 2, "refusals not logged")
    # sbatch refusing the job (no such partition): FAIL with sbatch's words,
    # and the study stops itself after max_consecutive_failures (3)
    d = Daemon("d2")
    submit(d, spec("np", 10, 2, 1, 0, extra={"max_consecutive_failures": 3},
                   executor={"type": "slurm", "partition": "nosuch"}))
    t_end = time.time() + 30
    while time.time() < t_end and "stopped" not in json.dumps(d.rpc("study.get", {"study": "np"})):
        time.sleep(0.2)
    st = d.rpc("study.get", {"study": "np"}).get("result", {})
    d.stop()
    r = rows("np")
    check(st.get("state") == "stopped" and "Invalid partition" in str(st.get("stop_reason")),
          "no-partition study: %s %r" % (st.get("state"), st.get("stop_reason")))
    # with parallelism 2 a fourth trial's sbatch may be in flight when the
    # study stops itself and the daemon is shut down: it ends FAIL, or stays
    # RUNNING without a job record (failed at the next start; docs/daemon.md)
    refused = [t for t in r if "cannot submit the Slurm job: sbatch exit status 1" in str(t["reason"])]
    check(len(refused) >= 3 and all(t["state"] == "FAIL" or t["state"] == "RUNNING" and
                                    not t["job"] for t in r),
          "no-partition trials %s" % [(t["number"], t["state"], t["reason"]) for t in r])


def all_complete(r, n, steps):
    """n trials, each COMPLETE with its intermediate values 0..steps-1"""
    check(len(r) == n, "%d trials" % len(r))
    for t in r:
        check(t["state"] == "COMPLETE", "trial %d is %s (%s)" % (t["number"], t["state"], t["reason"]))
        check([st for st, _ in t["steps"]] == list(range(steps)),
              "trial %d steps %s" % (t["number"], [st for st, _ in t["steps"]]))


def restart():
    n = max(6, int(6 * SCALE))
    d = Daemon("d1")
    submit(d, spec("rs", n, 2, 8, 0.5))
    a = wait_job_running("rs", 0, 60)
    b = wait_job_running("rs", 1, 60)
    time.sleep(1.0)
    d.kill9()
    time.sleep(1.5)
    d2 = Daemon("d2")
    # then a clean stop while the next two jobs run: they are left running
    c = wait_job_running("rs", 2, 60)
    e = wait_job_running("rs", 3, 60)
    time.sleep(1.0)
    d2.stop()
    still = [t["state"] for t in rows("rs") if t["number"] in (2, 3)]
    d3 = Daemon("d3")
    r = wait_done("rs", n, 120)
    d3.stop()
    log2, log3 = open(d2.log).read(), open(d3.log).read()
    found.update(adopted_after_kill=log2.count(" adopted"), adopted_after_stop=log3.count(" adopted"))
    check(a and b and c and e, "the jobs never ran")
    check(log2.count(" adopted") == 2, "%d jobs adopted after SIGKILL, not 2" % log2.count(" adopted"))
    check(still == ["RUNNING", "RUNNING"], "after a clean stop trials 2, 3 are %s" % still)
    check(log3.count(" adopted") == 2, "%d jobs adopted after a clean stop, not 2" % log3.count(" adopted"))
    all_complete(r, n, 8)


def pg_server():
    """A PostgreSQL server of scripts/pg-test-server in DIR: its URL (rows()
    reads it from now on) and the tool to stop it with."""
    global PG
    port = free_port()
    tool = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                        "pg-test-server")
    # with the test's pid: the server goes when the test is killed
    watch = [os.environ["HP_TEST_PID"]] if os.environ.get("HP_TEST_PID") else []
    r = subprocess.run([tool, "up", DIR, str(port)] + watch, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("pg-test-server up failed: %s" % r.stderr)
    PG = (os.path.join(DIR, "pg", "sock"), port)
    return "postgresql://postgres@/hp?host=%s&port=%d" % PG, tool


def pg_kill_owner(name, n, extra=None, pause=0.5):
    """A daemon with a fixed --worker-addr and a peer (another socket, any
    port) run one study on PostgreSQL; the first is killed (SIGKILL) once
    it has its 2 jobs in the queue and every RUNNING trial has its job
    recorded (a trial claimed but not submitted yet could not be adopted).
    Returns (url, its address, the peer, its trials at the kill)."""
    url, _ = pg_server()
    own = "127.0.0.1:%d" % free_port()
    d = Daemon("d1", db=url, addr=own)
    peer = Daemon("peer", db=url, sock=os.path.join(DIR, "peer.sock"))
    submit(d, spec(name, n, 2, 8, pause, extra=extra))
    mine = []
    t_end = time.time() + 90
    while time.time() < t_end:
        running = [t for t in rows(name) if t["state"] == "RUNNING"]
        mine = [t for t in running if t["job"] and t["job"].get("addr") == own]
        if len(mine) == 2 and all(t["job"] and t["job"].get("job") for t in running):
            break
        time.sleep(0.1)
    check(len(mine) == 2, "d1 never had 2 jobs (%d)" % len(mine))
    d.kill9()
    return url, own, peer, mine


def pg_stop():
    if PG:
        subprocess.run([os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                     "scripts", "pg-test-server"), "stop", DIR],
                       capture_output=True)


def restart_pg():
    try:
        n = max(8, int(8 * SCALE))
        url, own, peer, mine = pg_kill_owner("rp", n)
        time.sleep(2.0)
        d2 = Daemon("d2", db=url, addr=own)
        r = wait_done("rp", n, 180)
        d2.stop()
        peer.stop()
        log_d2, log_peer = open(d2.log).read(), open(peer.log).read()
        found.update(killed_with=len(mine), adopted=log_d2.count(" adopted"),
                     peer_adopted=log_peer.count(" adopted"),
                     by_peer=sum(1 for t in r if t["job"] and t["job"].get("addr") != own))
        check(log_d2.count(" adopted") == len(mine),
              "%d jobs adopted after SIGKILL, not %d" % (log_d2.count(" adopted"), len(mine)))
        check(log_peer.count(" adopted") == 0, "the peer adopted %d jobs" % log_peer.count(" adopted"))
        all_complete(r, n, 8)
    finally:
        pg_stop()


def dead_pg():
    """The killed daemon does not come back: the peer fails its trials after
    the grace period (4 s) and cancels their Slurm jobs, which would
    otherwise run on for nobody; the study completes."""
    try:
        n = 6  # jobs of 8 x 4 s: they outlast the grace period on a loaded machine
        _, own, peer, mine = pg_kill_owner("dp", n, extra={"heartbeat_interval": 1,
                                                         "grace_period": 4}, pause=4)
        r = wait_done("dp", n, 180)
        peer.stop()
        ids = {t["number"]: t["job"]["job"] for t in mine}
        states = {k: job_state(v) for k, v in ids.items()}
        log_peer = open(peer.log).read()
        found.update(killed_with=len(mine), job_states=states,
                     cancelled_by_peer=log_peer.count("cancelling its job"))
        failed = {t["number"]: t for t in r if t["state"] == "FAIL"}
        check(sorted(failed) == sorted(ids), "FAIL trials %s, the killed daemon's %s" % (
            sorted(failed), sorted(ids)))
        for k, t in failed.items():
            check("heartbeat lost" in str(t["reason"]), "trial %d: %s" % (k, t["reason"]))
        check(log_peer.count("cancelling its job") == len(ids),
              "the peer cancelled %d jobs, not %d" % (log_peer.count("cancelling its job"), len(ids)))
        check(all(st == "CANCELLED" for st in states.values()), "job states %s" % states)
        check(len(r) == n and all(t["state"] in ("COMPLETE", "FAIL") for t in r),
              "trials %s" % [(t["number"], t["state"]) for t in r])
    finally:
        pg_stop()


def engine():
    """An engine objective: the same `hpsearch worker` as a local trial."""
    d = Daemon()
    cfg = {"layers": [{"type": "dense", "units": 16, "activation": "relu"},
                      {"type": "dense", "units": 10}],
           "optimizer": {"type": "adam", "lr": "$lr"}, "batch_size": 256, "epochs": 2,
           "seed": 1, "data": {"format": "idx", "dir": "/usr/share/datasets/fashion-mnist",
                               "validation": {"mode": "last", "size": 10000}}}
    s = spec("en", 2, 2, 0, 0, extra={"direction": "maximize", "metric": "val_accuracy"})
    s["space"] = {"lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}}
    s["objective"] = {"engine": cfg}
    submit(d, s)
    r = wait_done("en", 2, 240)
    d.stop()
    for t in r:
        check(t["state"] == "COMPLETE", "trial %d is %s (%s)" % (t["number"], t["state"], t["reason"]))
        check([s for s, _ in t["steps"]] == [1, 2], "trial %d steps %s" % (t["number"], t["steps"]))
        check(t["value"] is not None and 0.5 < t["value"] < 1, "trial %d value %s" % (t["number"], t["value"]))
    acc = sql("SELECT COUNT(*) FROM trial_user_attributes WHERE key = 'test_accuracy'")
    check(acc[0][0] == 2, "%s trials have test_accuracy" % acc[0][0])


SCENARIOS = {"engine": engine, "twenty": twenty, "prune": prune, "scancel": scancel, "timeout": timeout,
             "refuse": refuse, "restart": restart, "restart_pg": restart_pg, "dead_pg": dead_pg}
try:
    SCENARIOS[SCENARIO]()
except SystemExit as e:
    failures.append(str(e))
found["failures"] = failures
print(json.dumps(found))
for f in failures:
    print("slurm_cluster %s: %s" % (SCENARIO, f), file=sys.stderr)
sys.exit(1 if failures else 0)
