#!/usr/bin/python3
"""Runs one engine sweep through a running daemon for `make bench-daemon`
and measures it: wall time from submit to the last trial, trials per hour,
and the resident memory of every worker process (RSS and PSS from
/proc/PID/smaps_rollup, sampled every 50 ms; PSS splits shared pages such as
the mmap'd data set between the processes that map them).

usage: daemon_sweep.py HPSEARCH_BIN SOCKET DAEMON_PID SPEC.json
prints one JSON object."""
import json
import os
import subprocess
import sys
import time


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(d))
        except OSError:
            pass
    return out


def mem_kb(pid):
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def main():
    binp, sock, dpid, spec = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    env = dict(os.environ, HPSEARCH_SOCKET=sock)
    name = json.load(open(spec))["name"]
    t0 = time.perf_counter()
    subprocess.run([binp, "submit", spec], env=env, check=True, stdout=subprocess.DEVNULL)
    peak = {}  # pid -> (rss, pss) maxima
    together = (0, 0, 0)  # (workers, sum rss, sum pss) at the busiest sample
    last_poll = 0.0
    while True:
        live = []
        for c in children(dpid):
            rss, pss = mem_kb(c)
            if rss == 0:
                continue
            live.append((rss, pss))
            r0, p0 = peak.get(c, (0, 0))
            peak[c] = (max(r0, rss), max(p0, pss))
        sample = (len(live), sum(r for r, _ in live), sum(p for _, p in live))
        if sample > together:
            together = sample
        now = time.perf_counter()
        if now - last_poll > 0.25:
            last_poll = now
            st = json.loads(subprocess.run([binp, "status", name, "--json"], env=env, check=True,
                                           capture_output=True).stdout)
            if st.get("state") == "finished":
                break
        time.sleep(0.05)
    secs = time.perf_counter() - t0
    counts = st["counts"]
    done = counts.get("COMPLETE", 0) + counts.get("PRUNED", 0) + counts.get("FAIL", 0)
    workers = [v for v in peak.values() if v[0] > 0]
    print(json.dumps({
        "study": name, "trials": done, "complete": counts.get("COMPLETE", 0),
        "failed": counts.get("FAIL", 0), "seconds": secs, "trials_per_hour": done * 3600 / secs,
        "workers_seen": len(workers),
        "worker_rss_mb": max((v[0] for v in workers), default=0) / 1024,
        "worker_pss_mb": max((v[1] for v in workers), default=0) / 1024,
        # With several workers alive at once: their RSS added up counts the
        # shared (mmap'd) data once per process, their PSS added up once.
        "together_workers": together[0], "together_rss_mb": together[1] / 1024,
        "together_pss_mb": together[2] / 1024,
        "best": (st.get("best") or {}).get("value")}))


if __name__ == "__main__":
    main()
