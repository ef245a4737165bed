#!/usr/bin/python3
"""CPU seconds (user + system) of processes, for `make bench-daemon`'s
per-CPU figures: each pid with its live children and the children it has
reaped, so a PostgreSQL server's postmaster covers every server process,
also the backends of connections already closed.

usage: cpu_seconds.py PID...    (prints the seconds; 0 for a pid gone)
"""
import os
import sys


def cpu_seconds(pids):
    """CPU seconds (user + system) of pids, each with its live children and
    the children it has reaped (/proc; 0 for a pid gone)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    f_ = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # after "pid (comm)": state ppid ... utime(12) stime(13) cutime(14) cstime(15)
            stats[int(d)] = (int(f_[1]), sum(int(x) for x in f_[11:15]))
    total = 0
    for p in pids:
        total += stats.get(p, (0, 0))[1]
        total += sum(t for q, (pp, t) in stats.items() if pp == p)
    return total / tick


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print(f"{cpu_seconds([int(p) for p in sys.argv[1:]]):.3f}")
