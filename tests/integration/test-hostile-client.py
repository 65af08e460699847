#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Issue 15, the client's trust and the key files:

 10 a server that never proves its key (es-probe fakeserver) says "busy,
    retry after 49.7 days": the client waits at most a minute; it says
    "refused: unknown key": the client takes it as a hint and tries again,
    it does not give up (a refusal inside message 2 still is final:
    test-invite-join).
 11 `earshot join CODE` with an invite for the same HOST:PORT carrying
    another key: refused, both fingerprints shown, forget-server named,
    the pin unchanged.
 12 a stale server.key.tmp / identity.key.tmp readable by others does not
    make the new key readable by others; a key file readable by group or
    others is refused, by the daemon and by the client.
Also: a daemon in open enrolment because it listens on loopback says that
a port forward would open the office."""
import os
import re
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import Proc, build_dir, free_udp_port, log, wait_for_log  # noqa: E402

ok = True


def check(cond, what):
    global ok
    log(("ok:   " if cond else "FAIL: ") + what)
    ok &= bool(cond)
    return cond


def run(argv, env=None, timeout=30):
    r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode) if os.path.exists(path) else None


def fake_server(b, d):
    cl = f"{b}/client/earshot"
    fakes, clients = {}, {}
    try:
        for mode in ("busy", "refused"):  # side by side: each takes the client's 4 s
            port = free_udp_port()
            fakes[mode] = Proc([f"{b}/tests/es-probe", "fakeserver", str(port), mode, "5"], f"{d}/fake-{mode}.log")
            if not wait_for_log(fakes[mode], "fake: listening", 5):
                check(False, f"10: the fake server ({mode}) started")
                return
            env = dict(os.environ, XDG_CONFIG_HOME=f"{d}/config-{mode}")
            clients[mode] = Proc([cl, "--server", f"127.0.0.1:{port}", "--name", "zed", "--headless", "--seconds", "4",
                                  "-v"], f"{d}/client-{mode}.log", env=env)
        rc = {m: c.wait(timeout=15) for m, c in clients.items()}
        for f in fakes.values():
            f.wait(timeout=10)
        err = {m: c.log_text() for m, c in clients.items()}
        connects = len(re.findall(r"fake: connect \d+", fakes["refused"].log_text()))
    finally:
        for p in list(fakes.values()) + list(clients.values()):
            p.stop()
    m = re.search(r"server busy; trying again in ([\d.]+) s", err["busy"])
    wait = float(m.group(1)) if m else -1
    check(0 <= wait <= 60, f"10: 'busy, retry after 49.7 days' before the key is proved: waits {wait:.1f} s "
          "(at most 60)")
    check(rc["refused"] != 3 and "ask its admin for an invite" not in err["refused"],
          f"10: an unproved 'unknown key' is not taken as final (exit {rc['refused']})")
    check(connects >= 2, f"10: the client tried again ({connects} connects in 4 s)")
    check("unverified" in err["refused"], "10: and says the refusal was unverified")


def pin(b, d):
    cl, ctl = f"{b}/client/earshot", f"{b}/daemon/earshotctl"
    addr_a = f"127.0.0.1:{free_udp_port()}"
    addr_b = f"127.0.0.1:{free_udp_port()}"
    procs = []
    try:
        for tag, addr in (("A", addr_a), ("B", addr_b)):
            p = Proc([f"{b}/daemon/earshotd", "--listen", addr, "--state-dir", f"{d}/state-{tag}", "--metrics-listen",
                      ""], f"{d}/earshotd-{tag}.log")
            procs.append(p)
            if not wait_for_log(p, "listening on"):
                check(False, f"11: daemon {tag} started")
                return
        check("port forward" in procs[0].log_text(), "also: a loopback daemon in open enrolment warns about port forwards")
        fp = {t: run([ctl, "--state-dir", f"{d}/state-{t}", "fingerprint"])[1].strip() for t in ("A", "B")}
        env = dict(os.environ, XDG_CONFIG_HOME=f"{d}/config-alice")
        rc, out, err = run([cl, "--server", addr_a, "--name", "alice", "--headless", "--seconds", "1"], env)
        known = f"{d}/config-alice/earshot/known_servers"
        with open(known) as f:
            pinned = f.read()
        check(rc == 0 and addr_a in pinned, f"11: alice pinned A ({fp['A']}) on first use")
        # an invite naming A's address, made by B: B's key
        rc, code, err = run([ctl, "--state-dir", f"{d}/state-B", "invite", "alice2", addr_a])
        code = code.strip()
        rc, out, err = run([cl, "join", code], env)
        with open(known) as f:
            after = f.read()
        check(rc != 0 and "REFUSING THE INVITE" in err, f"11: earshot join with another key for {addr_a} is refused (exit {rc})")
        check(fp["A"] in err and fp["B"] in err, "11: showing both fingerprints")
        check(f"earshot forget-server {addr_a}" in err, "11: and pointing at earshot forget-server")
        check(after == pinned, "11: the pin is unchanged")
        for p in procs:
            p.stop()
        procs = []
        # 12: a stale temporary, readable by others, before the first start
        sd = f"{d}/state-C"
        os.makedirs(sd, mode=0o700)
        with open(f"{sd}/server.key.tmp", "w") as f:
            f.write("left over\n")
        os.chmod(f"{sd}/server.key.tmp", 0o644)
        p = Proc([f"{b}/daemon/earshotd", "--listen", addr_a, "--state-dir", sd, "--metrics-listen", ""],
                 f"{d}/earshotd-C.log")
        procs.append(p)
        started = wait_for_log(p, "listening on")
        p.stop()
        procs = []
        check(started and mode_of(f"{sd}/server.key") == 0o600,
              f"12: a stale server.key.tmp (0644) did not make server.key readable by others "
              f"(mode {oct(mode_of(f'{sd}/server.key') or 0)})")
        os.chmod(f"{sd}/server.key", 0o644)
        p = Proc([f"{b}/daemon/earshotd", "--listen", addr_a, "--state-dir", sd, "--metrics-listen", ""],
                 f"{d}/earshotd-C2.log")
        procs.append(p)
        try:
            rc = p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc not in (None, 0) and "chmod 600" in p.log_text(),
              f"12: the daemon refuses a server.key readable by others (exit {rc})")
        p.stop()
        procs = []
    finally:
        for p in procs:
            p.stop()


def identity(b, d):
    cl = f"{b}/client/earshot"
    cfg = f"{d}/config-bob"
    os.makedirs(f"{cfg}/earshot", mode=0o700)
    with open(f"{cfg}/earshot/identity.key.tmp", "w") as f:
        f.write("left over\n")
    os.chmod(f"{cfg}/earshot/identity.key.tmp", 0o644)
    env = dict(os.environ, XDG_CONFIG_HOME=cfg)
    # nothing listens there: the client makes its key, then tries for a second
    port = free_udp_port()
    rc, out, err = run([cl, "--server", f"127.0.0.1:{port}", "--name", "bob", "--headless", "--seconds", "1"], env)
    m = mode_of(f"{cfg}/earshot/identity.key")
    check(m == 0o600, f"12: a stale identity.key.tmp (0644) did not make identity.key readable by others (mode {oct(m or 0)})")
    os.chmod(f"{cfg}/earshot/identity.key", 0o640)
    rc, out, err = run([cl, "--server", f"127.0.0.1:{port}", "--name", "bob", "--headless", "--seconds", "1"], env)
    check(rc != 0 and "chmod 600" in err, f"12: the client refuses an identity.key readable by its group (exit {rc})")


def main():
    b = build_dir()
    d = tempfile.mkdtemp(prefix="es-hostile-client-")
    for name, fn in (("10", fake_server), ("11-12", pin), ("12", identity)):
        t0 = time.monotonic()
        try:
            fn(b, d)
        except Exception as e:
            check(False, f"{name}: {type(e).__name__}: {e}")
        log(f"    (item {name}: {time.monotonic() - t0:.1f} s)")
    if not ok:
        log(f"logs in {d}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
