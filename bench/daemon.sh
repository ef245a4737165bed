#!/usr/bin/env bash
# `make bench-daemon`: hpsearch's daemon side by side with Optuna 3.1 (SQLite
# storage) in one run, then one table with both and the ratios:
#   1. durable trials/s through trial.ask + trial.tell over the socket, random
#      and TPE, from one and from two client processes (Optuna: study.ask +
#      study.tell on sqlite:///, one and two processes);
#   2. `hpsearch status` / `hpsearch trials` on a 1,000-trial study (median of
#      many runs) against `optuna trials` on the same database;
#   3. an engine sweep with --jobs 2 against --jobs 1 (trials per hour) and
#      the resident memory of each worker;
#   4. PostgreSQL: durable ask+tell trials/s of 1, 2 and 4 daemons sharing one
#      study (one client each) against Optuna with PostgreSQL in 1, 2 and 4
#      processes, on the same throw-away server (scripts/pg-test-server);
#      hpsearch's clients in two loops, each on a fresh database: "ask+tell"
#      (trial.ask then trial.tell: two messages per trial, as Optuna's
#      study.ask + study.tell) and "tell+ask" (each trial.tell carries "ask":
#      true and its reply the next trial: one message per trial,
#      docs/protocol.md).
# usage: bench/daemon.sh [BUILD_DIR]     (BENCH_QUICK=1 for a short smoke run)
set -euo pipefail

B=${1:-build}
cd "$(dirname "$0")/.."
py=/usr/bin/python3
make -j2 --no-print-directory "$B/hpsearch" "$B/bench_daemon_client" >/dev/null

quick=${BENCH_QUICK:-0}
# BENCH_PARTS selects sections (e.g. BENCH_PARTS=sweep to redo only the
# engine sweep when the machine was busy).
parts=" ${BENCH_PARTS:-cli asktell sweep pg} "
want() { [[ $parts == *" $1 "* ]]; }
if [ "$quick" = 1 ]; then
  n_rand=2000 n_tpe=200 n_opt_rand=100 n_opt_tpe=60 runs=10 opt_runs=2 sweep_trials=4
  n_pg=2000 n_pg_tpe=200 n_opt_pg=100 n_opt_pg_tpe=200 pg_reps=3
else
  n_rand=20000 n_tpe=1000 n_opt_rand=500 n_opt_tpe=300 runs=50 opt_runs=5 sweep_trials=10
  n_pg=5000 n_pg_tpe=200 n_opt_pg=300 n_opt_pg_tpe=200 pg_reps=5
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hpsearch-bench.XXXXXX")
# Private copies: a rebuild of the work tree during the run must not change
# (or briefly remove) the binaries being measured.
cp "$B/hpsearch" "$tmp/hpsearch"
cp "$B/bench_daemon_client" "$tmp/bench_daemon_client"
bin=$tmp/hpsearch
client=$tmp/bench_daemon_client
results=$tmp/results.jsonl
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  [ -d "$tmp/pg" ] && scripts/pg-test-server stop "$tmp"
  rm -rf "$tmp"
}
trap cleanup EXIT

# start_daemon NAME JOBS: a daemon on $tmp/NAME.{db,sock}; sets $dpid.
start_daemon() {
  local sock=$tmp/$1.sock
  "$bin" daemon --db "$tmp/$1.db" --socket "$sock" --jobs "$2" 2>"$tmp/$1.log" &
  dpid=$!
  pids+=("$dpid")
  for _ in $(seq 200); do
    "$bin" status --socket "$sock" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "daemon $1 did not start:" >&2; cat "$tmp/$1.log" >&2; exit 1
}

# study NAME SAMPLER [N_TRIALS]: an ask/tell study over the same 3-parameter
# space as bench/daemon_optuna.py.
study() {
  local nt=""
  [ -n "${3:-}" ] && nt="\"n_trials\": $3,"
  cat >"$tmp/$1.json" <<EOS
{"name": "$1", "direction": "minimize", $nt "sampler": {"type": "$2", "seed": 1},
 "space": {"x": {"type": "float", "low": -5, "high": 5},
           "y": {"type": "float", "low": 0.001, "high": 1, "log": true},
           "k": {"type": "int", "low": 1, "high": 8}}}
EOS
  "$bin" submit "$tmp/$1.json" --socket "$sock" >/dev/null
}

tag() { "$py" -c 'import json,sys; d=json.loads(sys.stdin.read()); d.update(json.loads(sys.argv[1])); print(json.dumps(d))' "$1"; }

start_daemon main 2
sock=$tmp/main.sock

if want cli; then
echo "== 1,000-trial study: status / trials latency" >&2
study thousand random 1000
"$client" "$sock" thousand 1000 >/dev/null
"$py" - "$bin" "$sock" "$tmp/main.db" "$runs" >>"$results" <<'PY'
import json, statistics, subprocess, sys, time
binp, sock, db, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
cases = {"status": ["status"], "status_study": ["status", "thousand"],
         "trials": ["trials", "thousand"], "trials_csv": ["trials", "thousand", "--csv"],
         "trials_json": ["trials", "thousand", "--json"],
         "trials_db": ["trials", "thousand", "--db", db], "status_db": ["status", "--db", db]}
for name, args in cases.items():
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([binp] + args + (["--socket", sock] if "--db" not in args else []),
                       check=True, stdout=subprocess.DEVNULL)
        ts.append(time.perf_counter() - t0)
    print(json.dumps({"what": "cli", "case": name, "median_ms": statistics.median(ts) * 1000}))
PY
"$py" bench/daemon_optuna.py cli "$tmp/main.db" thousand "$opt_runs" >>"$results"
fi

if want asktell; then
echo "== ask/tell throughput" >&2
study r1 random; "$client" "$sock" r1 "$n_rand" 1 | tag '{"what":"hp_asktell","sampler":"random"}' >>"$results"
study r2 random; "$client" "$sock" r2 "$n_rand" 2 | tag '{"what":"hp_asktell","sampler":"random"}' >>"$results"
study t1 tpe; "$client" "$sock" t1 "$n_tpe" 1 | tag '{"what":"hp_asktell","sampler":"tpe"}' >>"$results"
study t2 tpe; "$client" "$sock" t2 "$n_tpe" 2 | tag '{"what":"hp_asktell","sampler":"tpe"}' >>"$results"
for s in random tpe; do
  n=$n_opt_rand; [ $s = tpe ] && n=$n_opt_tpe
  for p in 1 2; do
    "$py" bench/daemon_optuna.py asktell "$tmp/optuna-$s-$p.db" $s "$n" $p >>"$results"
  done
done
fi
"$bin" shutdown --socket "$sock" >/dev/null

# How much of two cores this run really gets: the same busy loop in one and
# in two processes (2.0 = two free cores; other work on the machine lowers it).
"$py" - >>"$results" <<'PY'
import json, multiprocessing as mp, time
def spin(q):
    n, t = 0, time.perf_counter() + 1.0
    while time.perf_counter() < t:
        for _ in range(1000): n += 1
    q.put(n)
q = mp.Queue()
spin(q); one = q.get()
ps = [mp.Process(target=spin, args=(q,)) for _ in range(2)]
for p in ps: p.start()
two = q.get() + q.get()
for p in ps: p.join()
print(json.dumps({"what": "cores", "scaling": two / one}))
PY

if want pg; then
echo "== PostgreSQL: 1, 2, 4 daemons on one study vs Optuna in 1, 2, 4 processes" >&2
chmod 755 "$tmp"
pgport=$((20000 + RANDOM % 20000))
# with this shell's pid: killed, the run leaves no server or daemon behind
scripts/pg-test-server up "$tmp" "$pgport" $$ >/dev/null
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
pgsock=$tmp/pg/sock
# The server's postmaster: its CPU with its children's is the server's
# (bench/cpu_seconds.py), for the per-CPU figures.
export HP_BENCH_SERVER_PID
HP_BENCH_SERVER_PID=$(cat "$tmp/pg/pid")
# The Optunas to compare with: Debian's 3.1 and, where $HP_OPTUNA5 or
# ../shared/vendor has it, the Optuna 5 users install today
# (BENCH_OPTUNA="3.1" for one only).
vendor5=${HP_OPTUNA5:-$(cd .. && pwd)/shared/vendor/optuna-5.0.0.dev}
optunas=${BENCH_OPTUNA:-3.1 5}
[ -d "$vendor5/optuna" ] || optunas=${optunas//5/}
pg_hp() { # SAMPLER N REP MODE: one hpsearch measurement on a fresh database
  local s=$1 n=$2 rep=$3 mode=$4 db=hp_$1_$2_$3_$4 socks="" dp=() i
  "$pgbin/createdb" -h "$pgsock" -p "$pgport" -U postgres "$db"
  local url="postgresql://postgres@/$db?host=$pgsock&port=$pgport"
  for i in $(seq "$n"); do
    "$bin" daemon --db "$url" --socket "$tmp/pg$i.sock" --jobs 1 2>"$tmp/pg$i.log" &
    pids+=("$!"); dp+=("$!")
    : >"$tmp/pg/pids/$!" # the watchdog's to kill
    for _ in $(seq 200); do "$bin" status --socket "$tmp/pg$i.sock" >/dev/null 2>&1 && break; sleep 0.05; done
    socks="$socks${socks:+,}$tmp/pg$i.sock"
  done
  sock=$tmp/pg1.sock study "pg$s$n" "$s"
  # every daemon serves the study before the clock starts
  for i in $(seq "$n"); do
    for _ in $(seq 100); do "$bin" status "pg$s$n" --socket "$tmp/pg$i.sock" >/dev/null 2>&1 && break; sleep 0.05; done
  done
  # TPE on as many trials as Optuna's: both sides' time per trial grows with
  # the history, so a longer one would hand its cost to one side only
  local nt=$n_pg c0 c1
  [ "$s" = tpe ] && nt=$n_pg_tpe
  c0=$("$py" bench/cpu_seconds.py "$HP_BENCH_SERVER_PID" "${dp[@]}")
  "$client" "$socks" "pg$s$n" "$nt" "$n" "$mode" >"$tmp/pg.out"
  c1=$("$py" bench/cpu_seconds.py "$HP_BENCH_SERVER_PID" "${dp[@]}")
  # CPU of the client, the daemons and every server process in the timed part
  tag "{\"what\":\"pg_asktell\",\"sampler\":\"$s\",\"daemons\":$n,\"rep\":$rep,\"load\":\"$(cut -d' ' -f1 /proc/loadavg)\",\"server_daemons_cpu_s\":$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.3f", b - a }')}" \
    <"$tmp/pg.out" >>"$results"
  for i in $(seq "$n"); do "$bin" shutdown --socket "$tmp/pg$i.sock" >/dev/null 2>&1 || true; done
  wait "${dp[@]}" 2>/dev/null || true
}
pg_optuna() { # SAMPLER N REP VERSION: one Optuna measurement on a fresh database
  local s=$1 n=$2 rep=$3 v=$4 db=op_$1_$2_$3_${4//./} pp="" nt=$n_opt_pg
  [ "$v" = 5 ] && pp=$vendor5
  [ "$s" = tpe ] && nt=$n_opt_pg_tpe
  "$pgbin/createdb" -h "$pgsock" -p "$pgport" -U postgres "$db"
  PYTHONPATH=$pp "$py" bench/daemon_optuna.py asktell \
    "postgresql+psycopg2://postgres@/$db?host=$pgsock&port=$pgport" "$s" "$nt" "$n" |
    tag "{\"what\":\"pg_optuna\",\"procs\":$n,\"rep\":$rep,\"load\":\"$(cut -d' ' -f1 /proc/loadavg)\"}" >>"$results"
}
# Each configuration is measured pg_reps times, hpsearch and each Optuna
# in turn (the order alternating), so a change of the machine's load hits
# both sides alike; the table gives medians and the spread.
for s in random tpe; do
  for n in 1 2 4; do
    for rep in $(seq "$pg_reps"); do
      echo "   $s, $n daemon(s)/process(es), repeat $rep/$pg_reps (load $(cut -d' ' -f1 /proc/loadavg))" >&2
      if [ $((rep % 2)) = 1 ]; then
        pg_hp "$s" "$n" "$rep" asktell
        pg_hp "$s" "$n" "$rep" tellask
        for v in $optunas; do pg_optuna "$s" "$n" "$rep" "$v"; done
      else
        for v in $optunas; do pg_optuna "$s" "$n" "$rep" "$v"; done
        pg_hp "$s" "$n" "$rep" tellask
        pg_hp "$s" "$n" "$rep" asktell
      fi
    done
  done
done
scripts/pg-test-server stop "$tmp"
fi

if want sweep; then
echo "== engine sweep: --jobs 1 vs --jobs 2" >&2
for j in 1 2; do
  cat >"$tmp/sweep$j.json" <<EOS
{"name": "sweep$j", "direction": "maximize", "metric": "val_accuracy",
 "n_trials": $sweep_trials, "parallelism": $j,
 "sampler": {"type": "random", "seed": 5},
 "space": {"lr": {"type": "float", "low": 0.0005, "high": 0.005, "log": true}},
 "objective": {"engine": {"seed": 1, "epochs": 1, "batch_size": 128,
   "optimizer": {"type": "adam", "lr": "\$lr"},
   "layers": [{"type": "mlp", "width": 512, "depth": 2, "activation": "relu"},
              {"type": "dense", "units": 10}],
   "data": {"dir": "/usr/share/datasets/fashion-mnist", "limit": 30000,
            "validation": {"mode": "last", "size": 10000}}}}}
EOS
  start_daemon "jobs$j" "$j"
  "$py" bench/daemon_sweep.py "$bin" "$tmp/jobs$j.sock" "$dpid" "$tmp/sweep$j.json" |
    tag "{\"what\":\"sweep\",\"jobs\":$j}" >>"$results"
  "$bin" shutdown --socket "$tmp/jobs$j.sock" >/dev/null
done
fi

"$py" - "$results" "$n_rand" "$n_tpe" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def get(**kw):
    for r in rows:
        if all(r.get(k) == v for k, v in kw.items()):
            return r
    return None
print()
print(f"{'measurement':<44} {'hpsearch':>14} {'Optuna 3.1':>14} {'ratio':>9}")
print("-" * 84)
for s in ("random", "tpe"):
    for p in (1, 2):
        h = get(what="hp_asktell", sampler=s, procs=p)
        o = get(what="asktell", sampler=s, procs=p)
        if not h and not o:
            continue
        hv = h["trials_per_s"] if h else float("nan")
        ov = o["trials_per_s"] if o else float("nan")
        label = f"ask+tell trials/s, {s}, {p} client{'s' if p > 1 else ''}"
        print(f"{label:<44} {hv:>14.0f} {ov:>14.1f} {hv / ov:>8.0f}x")
        print(f"{'':<44} {'(%d trials)' % (h['trials'] if h else 0):>14} "
              f"{'(%d trials)' % (o['trials'] if o else 0):>14}")
opt = get(what="optuna_trials")
for case, label in (("status", "hpsearch status (all studies), ms"),
                    ("status_study", "hpsearch status STUDY, ms"),
                    ("trials", "hpsearch trials STUDY (table), ms"),
                    ("trials_csv", "hpsearch trials STUDY --csv, ms"),
                    ("trials_json", "hpsearch trials STUDY --json, ms"),
                    ("trials_db", "hpsearch trials STUDY --db FILE, ms"),
                    ("status_db", "hpsearch status --db FILE, ms")):
    h = get(what="cli", case=case)
    if not h:
        continue
    ov = opt["median_ms"] if opt else float("nan")
    print(f"{label:<44} {h['median_ms']:>14.2f} {ov:>14.0f} {ov / h['median_ms']:>8.0f}x")
if opt:
    print(f"{'  (1,000-trial study; Optuna: optuna trials)':<44}")
s1, s2 = get(what="sweep", jobs=1), get(what="sweep", jobs=2)
if s1 and s2:
    print(f"{'engine sweep trials/hour, --jobs 1':<44} {s1['trials_per_hour']:>14.0f}")
    print(f"{'engine sweep trials/hour, --jobs 2':<44} {s2['trials_per_hour']:>14.0f} "
          f"{'':>14} {s2['trials_per_hour'] / s1['trials_per_hour']:>8.2f}x (goal >= 1.85x)")
    print(f"{'worker memory, --jobs 2, max RSS per worker, MB':<44} {s2['worker_rss_mb']:>14.0f}")
    print(f"{'  %d workers at once: RSS sum / PSS sum, MB' % s2['together_workers']:<44} "
          f"{s2['together_rss_mb']:>7.0f} / {s2['together_pss_mb']:<5.0f}"
          "  (PSS counts shared data once)")
    print(f"{'  trials complete/failed (jobs 1; jobs 2)':<44} "
          f"{s1['complete']}/{s1['failed']}; {s2['complete']}/{s2['failed']}")
import statistics
med = statistics.median
def spread(xs):
    return f"{med(xs):.0f} [{min(xs):.0f}-{max(xs):.0f}]"
pg_hp = [r for r in rows if r.get("what") == "pg_asktell"]
pg_op = [r for r in rows if r.get("what") == "pg_optuna"]
vers = sorted({r["optuna"] for r in pg_op})
if pg_hp:
    print()
    print("PostgreSQL (same server, same run): trials/s, median [min-max] of the repeats;")
    print("per CPU = trials per CPU-second of everything a side ran in its timed part")
    print("(its own processes and every server process). Ratios: hpsearch / Optuna, medians,")
    print("for each hpsearch loop: ask+tell = trial.ask then trial.tell (2 messages a trial,")
    print("as Optuna's study.ask + study.tell); tell+ask = trial.tell with \"ask\": true, whose")
    print("reply is the next trial (1 message a trial; docs/protocol.md). Both durable.")
MODES = (("asktell", "hp ask+tell"), ("tellask", "hp tell+ask"))
for s in ("random", "tpe"):
    for n in (1, 2, 4):
        hs_all = [r for r in pg_hp if r["sampler"] == s and r["daemons"] == n]
        if not hs_all:
            continue
        loads = sorted(float(r["load"]) for r in hs_all)
        print(f"  {s}, {n} daemon{'s' if n > 1 else ''} / process{'es' if n > 1 else ''} "
              f"(load {loads[0]:.1f}-{loads[-1]:.1f})")
        hp_meds = []
        for mode, label in MODES:
            hs = [r for r in hs_all if r.get("mode", "asktell") == mode]
            if not hs:
                continue
            hv = [r["trials_per_s"] for r in hs]
            hc = [r["trials"] / (r["cpu_s"] + r["server_daemons_cpu_s"]) for r in hs]
            hp_meds.append((label, med(hv), med(hc)))
            print(f"    {label:<16} {spread(hv):>18} trials/s  {med(hc):>7.0f} per CPU-s"
                  f"  ({hs[0]['trials']} trials x {len(hs)})")
        for v in vers:
            os_ = [r for r in pg_op if r["sampler"] == s and r["procs"] == n and r["optuna"] == v]
            if not os_:
                continue
            ov = [r["trials_per_s"] for r in os_]
            oc = [r["trials"] / (r["cpu_s"] + r["server_cpu_s"]) for r in os_]
            print(f"    {'Optuna ' + v:<16} {spread(ov):>18} trials/s  {med(oc):>7.0f} per CPU-s"
                  f"  ({os_[0]['trials']} trials x {len(os_)})")
            for label, hv_, hc_ in hp_meds:
                print(f"      {label + ' / Optuna ' + v:<30} ratio {hv_ / med(ov):.0f}x,"
                      f" per CPU {hc_ / med(oc):.0f}x")
c = get(what="cores")
if c:
    print(f"{'CPU available: 2 busy loops vs 1 (2.0 = idle)':<44} {c['scaling']:>14.2f}")
print()
print("goals: >= 5,000 trials/s random (Optuna ~50), status/trials <= 10 ms, sweep >= 1.85x, "
      "PostgreSQL >= 50x Optuna on the same server")
import os
print("load average during the run (2 cores): %.1f %.1f %.1f" % os.getloadavg())
PY
