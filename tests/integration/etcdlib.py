# SPDX-License-Identifier: MIT
"""An etcd cluster for tests: N members of Debian's etcd-server on loopback,
free ports, data in a temporary directory (on /dev/shm when there is one, so
fsync costs nothing on a busy machine).  EARSHOT_ETCD_TMP=DIR puts the data elsewhere (a
disk, to measure what fsync costs).  Members can be killed (SIGKILL),
stopped all at once and started again with their data; everything is
stopped and removed at the end.

    with EtcdCluster(3) as ec:
        env["ES_ETCD_ENDPOINTS"] = ec.endpoints()
        ec.kill(0); ...; ec.start(0)
        ec.stop_all(); ...; ec.start_all()

run_driven(argv, ec) runs a test program that asks the fixture for faults by
printing lines "@kill I", "@kill-leader" (answers "ok I"), "@start I", "@stop-all", "@start-all",
"@wait-healthy", "@endpoints" on stdout; each gets one reply line on its
stdin ("ok ..." or "error ...").  Every other line is passed through.

Standard library only."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

SKIP = 77


def etcd_binary():
    return shutil.which("etcd") or (os.path.exists("/usr/bin/etcd") and "/usr/bin/etcd") or None


def free_tcp_ports(n):
    """n distinct TCP ports nobody listens on right now on 127.0.0.1."""
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            p = s.getsockname()[1]
            if p > 1024 and p not in ports:
                ports.append(p)
    finally:
        for s in socks:
            s.close()
    return ports


def log(*a):
    print(*a, flush=True)


class Member:
    def __init__(self, name, client_port, peer_port, data_dir, logpath):
        self.name = name
        self.client_url = "http://127.0.0.1:%d" % client_port
        self.peer_url = "http://127.0.0.1:%d" % peer_port
        self.data_dir = data_dir
        self.logpath = logpath
        self.proc = None

    def running(self):
        return self.proc is not None and self.proc.poll() is None


class EtcdCluster:
    def __init__(self, n=3, heartbeat_ms=50, election_ms=500, tmp=None):
        self.binary = etcd_binary()
        if not self.binary:
            raise FileNotFoundError("etcd (Debian: etcd-server) is not installed")
        base = tmp if tmp is not None else os.environ.get("EARSHOT_ETCD_TMP")
        if base is None and os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
            base = "/dev/shm"
        self.dir = tempfile.mkdtemp(prefix="earshot-etcd-", dir=base)
        ports = free_tcp_ports(2 * n)
        self.members = []
        for i in range(n):
            name = "m%d" % i
            self.members.append(Member(name, ports[2 * i], ports[2 * i + 1],
                                       os.path.join(self.dir, name), os.path.join(self.dir, name + ".log")))
        self.token = "earshot-test-%d-%d" % (os.getpid(), int(time.time() * 1000) % 100000)
        self.heartbeat_ms = heartbeat_ms
        self.election_ms = election_ms

    # ---- lifecycle ----------------------------------------------------------

    def __enter__(self):
        self.start_all()
        return self

    def __exit__(self, *exc):
        self.close()

    def argv(self, m):
        initial = ",".join("%s=%s" % (x.name, x.peer_url) for x in self.members)
        return [self.binary, "--name", m.name, "--data-dir", m.data_dir,
                "--listen-client-urls", m.client_url, "--advertise-client-urls", m.client_url,
                "--listen-peer-urls", m.peer_url, "--initial-advertise-peer-urls", m.peer_url,
                "--initial-cluster", initial, "--initial-cluster-state", "new",
                "--initial-cluster-token", self.token,
                "--heartbeat-interval", str(self.heartbeat_ms),
                "--election-timeout", str(self.election_ms),
                "--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn"]

    def start(self, i, wait=True):
        """Start member i (again, with its data if it ran before)."""
        m = self.members[i]
        if m.running():
            return
        logf = open(m.logpath, "ab")
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("ETCD_"):
                del env[k]  # no stray ETCD_* setting changes a test's cluster
        m.proc = subprocess.Popen(self.argv(m), stdout=logf, stderr=subprocess.STDOUT, env=env,
                                  start_new_session=True)
        logf.close()
        if wait:
            self.wait_healthy([i])

    def start_all(self, timeout=30.0):
        for i in range(len(self.members)):
            self.start(i, wait=False)
        self.wait_healthy(timeout=timeout)

    def kill(self, i, sig=signal.SIGKILL):
        """Kill member i (SIGKILL by default: no goodbye to its peers)."""
        m = self.members[i]
        if m.running():
            m.proc.send_signal(sig)
            try:
                m.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                m.proc.kill()
                m.proc.wait()
        m.proc = None

    def stop_all(self, sig=signal.SIGKILL):
        for i in range(len(self.members)):
            self.kill(i, sig)

    def close(self):
        self.stop_all()
        if os.environ.get("EARSHOT_KEEP_ETCD"):
            log("etcdlib: kept", self.dir)
            return
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---- queries -------------------------------------------------------------

    def endpoints(self, only_running=False):
        return ",".join(m.client_url for m in self.members if not only_running or m.running())

    def health(self, i, timeout=1.0):
        """True if member i answers /health with a leader."""
        try:
            with urllib.request.urlopen(self.members[i].client_url + "/health", timeout=timeout) as r:
                return json.loads(r.read().decode()).get("health") == "true"
        except Exception:
            return False

    def status(self, i, timeout=1.0):
        """Member i's /v3/maintenance/status answer (dict), or None."""
        try:
            req = urllib.request.Request(self.members[i].client_url + "/v3/maintenance/status", data=b"{}",
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read().decode())
        except Exception:
            return None

    def leader(self):
        """The index of the member that leads now, or None."""
        for i, m in enumerate(self.members):
            if not m.running():
                continue
            st = self.status(i)
            if st and st.get("leader") and st["leader"] == st.get("header", {}).get("member_id"):
                return i
        return None

    def wait_healthy(self, which=None, timeout=30.0):
        which = range(len(self.members)) if which is None else which
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for i in which:
                m = self.members[i]
                if m.proc is not None and m.proc.poll() is not None:
                    raise RuntimeError("etcd member %s exited: %s" % (m.name, self.tail(i)))
            if all(self.health(i) for i in which):
                return
            time.sleep(0.05)
        raise TimeoutError("etcd members %s not healthy within %.0f s" % (list(which), timeout))

    def metric(self, i, name):
        """The sum of a Prometheus counter on member i (e.g.
        etcd_server_proposals_committed_total), or None."""
        try:
            with urllib.request.urlopen(self.members[i].client_url + "/metrics", timeout=2) as r:
                text = r.read().decode()
        except Exception:
            return None
        total, seen = 0.0, False
        for line in text.splitlines():
            if line.startswith(name) and (line[len(name)] in " {"):
                total += float(line.rsplit(" ", 1)[1])
                seen = True
        return total if seen else None

    def tail(self, i, n=20):
        try:
            with open(self.members[i].logpath, "rb") as f:
                return b"".join(f.readlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""


def run_driven(argv, ec, env=None, timeout=120.0):
    """Run argv with ES_ETCD_ENDPOINTS set; serve its "@command" lines.
    Returns its exit status."""
    env = dict(os.environ if env is None else env)
    env["ES_ETCD_ENDPOINTS"] = ec.endpoints()
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True, bufsize=1)
    end = time.monotonic() + timeout
    try:
        for line in p.stdout:
            if time.monotonic() > end:
                log("etcdlib: %s ran over %.0f s" % (argv[0], timeout))
                p.kill()
                break
            line = line.rstrip("\n")
            if not line.startswith("@"):
                log(line)
                continue
            words = line[1:].split()
            t0 = time.monotonic()
            try:
                reply = serve(ec, words)
            except Exception as e:  # noqa: BLE001 - told to the program, which fails
                reply = "error %s" % e
            log("etcdlib: %s -> %s (%.0f ms)" % (line, reply, (time.monotonic() - t0) * 1000))
            p.stdin.write(reply + "\n")
            p.stdin.flush()
        return p.wait(timeout=max(1.0, end - time.monotonic()))
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return 1
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def serve(ec, words):
    cmd = words[0] if words else ""
    if cmd == "kill":
        ec.kill(int(words[1]))
        return "ok"
    if cmd == "kill-leader":
        i = ec.leader()
        if i is None:
            return "error no leader"
        ec.kill(i)
        return "ok %d" % i
    if cmd == "start":
        ec.start(int(words[1]), wait=False)
        ec.wait_healthy()
        return "ok"
    if cmd == "stop-all":
        ec.stop_all()
        return "ok"
    if cmd == "start-all":
        ec.start_all()
        return "ok"
    if cmd == "wait-healthy":
        ec.wait_healthy()
        return "ok"
    if cmd == "endpoints":
        return "ok " + ec.endpoints()
    return "error unknown command %r" % cmd


def main():
    """etcdlib.py [--members N] PROGRAM [ARGS...]: run one driven test program
    against a fresh cluster (77 if etcd is not installed)."""
    args = sys.argv[1:]
    n = 3
    if args[:1] == ["--members"]:
        n = int(args[1])
        args = args[2:]
    if not args:
        print("usage: etcdlib.py [--members N] PROGRAM [ARGS...]", file=sys.stderr)
        return 2
    if not etcd_binary():
        log("etcdlib: etcd is not installed (Debian: etcd-server); skipping")
        return SKIP
    t0 = time.monotonic()
    with EtcdCluster(n) as ec:
        log("etcdlib: %d members up in %.2f s: %s" % (n, time.monotonic() - t0, ec.endpoints()))
        rc = run_driven(args, ec)
        if rc != 0:
            for i in range(n):
                log("---- %s (last lines)\n%s" % (ec.members[i].name, ec.tail(i)))
    return rc


if __name__ == "__main__":
    sys.exit(main())
