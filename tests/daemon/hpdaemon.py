"""One hpsearch daemon for the scenario helpers of the daemon tests
(pg_cluster.py, slurm_cluster.py): started in a session of its own with its
output in a log file, JSON-RPC over its socket, a clean stop that must exit
0 (a sanitizer build exits otherwise on a leak or an error it found), and
kill -9. A helper subclasses Daemon for its own defaults; started() and
ended() are called with the process running and gone (pg_cluster.py
registers the daemon for the test server's watchdog there)."""
import json
import os
import signal
import socket
import subprocess
import time


def read_json_line(s):
    """One newline-ended JSON reply from socket s; {} when it closes first."""
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return json.loads(buf) if buf else {}


class Daemon:
    def __init__(self, hp, db, sock, log, args, check, name="daemon", preexec_fn=None):
        """hp daemon --db DB --socket SOCK ARGS...; check(cond, what) records
        a failed check of the scenario."""
        self.name, self.sock, self.log, self.check = name, sock, log, check
        with open(log, "ab") as out:
            self.proc = subprocess.Popen([hp, "daemon", "--db", db, "--socket", sock] + list(args),
                                         stdout=out, stderr=out, start_new_session=True,
                                         preexec_fn=preexec_fn)
        self.started()
        for _ in range(400):
            if self.proc.poll() is not None:
                self.ended()
                raise SystemExit("daemon %s exited at start:\n%s" % (name, open(log).read()))
            if os.path.exists(sock) and self.rpc("daemon.status", {}).get("result"):
                return
            time.sleep(0.025)
        raise SystemExit("daemon %s did not start" % name)

    def started(self):
        pass

    def ended(self):
        pass

    def rpc(self, method, params, timeout=30):
        """One request on a connection of its own; {} when there is no answer."""
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(timeout)
        try:
            s.connect(self.sock)
            s.sendall((json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                                   "params": params}) + "\n").encode())
            return read_json_line(s)
        except OSError:
            return {}
        finally:
            s.close()

    def stop(self):
        """A clean shutdown; the daemon must exit 0."""
        if self.proc.poll() is None:
            self.rpc("daemon.shutdown", {})
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.ended()
        if self.proc.returncode != 0:
            tail = open(self.log, errors="replace").read()[-3000:]
            self.check(False, "daemon %s exited with %s:\n%s" % (self.name, self.proc.returncode,
                                                                  tail))

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.ended()


def submit(hp, d, spec, folder):
    """hpsearch submit of a spec (written to FOLDER/NAME.json) through d."""
    path = os.path.join(folder, spec["name"] + ".json")
    with open(path, "w") as f:
        json.dump(spec, f)
    r = subprocess.run([hp, "submit", path, "--socket", d.sock], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("submit failed: %s %s" % (r.stdout, r.stderr))
