#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The admin socket itself: replaces a stale socket at start, is mode 0600,
answers several commands on one connection (more than one tick's budget),
refuses an over-long line and goes on, turns away connections beyond its
limit, refuses a file at its path that is not its socket (the daemon runs
on without it), and a second daemon on the same state directory is refused
while the first one answers."""
import os
import socket
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import Proc, build_dir, free_udp_port, log, wait_for_log  # noqa: E402


def talk(path, data, timeout=5.0):
    """Send data, read until the daemon has answered every line of it."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        out += chunk
    s.close()
    return out.decode(errors="replace").splitlines()


def finals(lines):
    return [l for l in lines if l == "ok" or l.startswith("ok: ") or l.startswith("error: ")]


def main():
    b = build_dir()
    d = tempfile.mkdtemp(prefix="es-adminsock-")
    state = f"{d}/state"
    os.makedirs(state, mode=0o700)
    path = f"{state}/admin.sock"
    ctl = f"{b}/daemon/earshotctl"

    def daemon(tag, sd=state):
        return Proc([f"{b}/daemon/earshotd", "--listen", f"127.0.0.1:{free_udp_port()}", "--state-dir", sd,
                     "--metrics-listen", ""], f"{d}/earshotd-{tag}.log")

    ok = True

    def check(cond, what):
        nonlocal ok
        log(("ok:   " if cond else "FAIL: ") + what)
        ok &= bool(cond)

    # a socket left behind by a daemon that died
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()
    procs = []
    try:
        d1 = daemon("1")
        procs.append(d1)
        if not wait_for_log(d1, "listening on 127"):
            log(d1.log_text())
            return 1
        check("removed a stale socket" in d1.log_text(), "a stale socket is replaced")
        st = os.stat(path)
        check(stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600,
              f"the socket is mode {stat.S_IMODE(st.st_mode):o}")

        n = 12
        lines = talk(path, b"fingerprint\npeople\nenrolled\n" * (n // 3))
        check(len(finals(lines)) == n and all(l.startswith("ok") for l in finals(lines)),
              f"{n} commands on one connection get {len(finals(lines))} answers")

        lines = talk(path, b"x" * 700 + b"\nfingerprint\n")
        f = finals(lines)
        check(len(f) == 2 and f[0].startswith("error: line too long") and f[1] == "ok",
              f"an over-long line is refused and the next one answered: {f}")

        lines = talk(path, b"frobnicate\n")
        check(lines == ["error: unknown command 'frobnicate' (try 'help')"], f"unknown command: {lines}")

        held = []
        for _ in range(4):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            held.append(s)
        time.sleep(0.2)  # accepted on the next tick or two
        lines = talk(path, b"people\n")
        check(lines and lines[-1].startswith("error: too many admin connections"),
              f"a fifth connection is turned away: {lines}")
        for s in held:
            s.close()
        time.sleep(0.2)
        lines = talk(path, b"people\n")
        check(lines and lines[-1].startswith("ok"), "once they close, commands work again")

        d2 = daemon("2")
        procs.append(d2)
        try:
            rc2 = d2.wait(timeout=5)
        except subprocess.TimeoutExpired:
            rc2 = None
        check(rc2 == 1 and "another earshotd answers" in d2.log_text(),
              f"a second daemon on the same state directory is refused (exit {rc2})")
        check(os.path.exists(path) and talk(path, b"fingerprint\n")[-1] == "ok", "and the first one still answers")
        d1.stop()

        # a file at the path that is not our socket: leave it, run without admin
        sd3 = f"{d}/state3"
        os.makedirs(sd3, mode=0o700)
        with open(f"{sd3}/admin.sock", "w") as fh:
            fh.write("not a socket\n")
        d3 = daemon("3", sd3)
        procs.append(d3)
        check(wait_for_log(d3, "listening on 127"), "a daemon whose socket path is taken still runs")
        check("is not a socket of this user" in d3.log_text(), "and says why there is no admin socket")
        with open(f"{sd3}/admin.sock") as fh:
            check(fh.read() == "not a socket\n", "the file is left alone")
        r = subprocess.run([ctl, "--state-dir", sd3, "people"], capture_output=True, text=True, timeout=10)
        check(r.returncode == 1 and "not running" in r.stderr, f"earshotctl: {r.stderr.strip()}")
        r = subprocess.run([ctl, "--state-dir", sd3], capture_output=True, text=True, timeout=10)
        check(r.returncode == 2 and "Usage" in r.stderr, "earshotctl without a command is a usage error (exit 2)")
    finally:
        for p in procs:
            p.stop()
    if not ok:
        for p in procs:
            with open(p.logpath, errors="replace") as fh:
                log(f"--- {p.logpath}\n{fh.read()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
