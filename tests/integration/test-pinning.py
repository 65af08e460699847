#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Server key pinning: alice joins daemon A and pins its key; A goes and
daemon B, with a state directory (and so a key) of its own, takes the same
address.  alice must refuse B loudly (exit 3, "REFUSING", both
fingerprints, what to do) and must not have joined it; after `earshot
forget-server ADDR` she trusts B on first use and joins."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import Daemon, build_dir, free_udp_port, log, wait_for_log  # noqa: E402


def main():
    b = build_dir()
    d = tempfile.mkdtemp(prefix="es-pin-")
    addr = f"127.0.0.1:{free_udp_port()}"
    cl, ctl = f"{b}/client/earshot", f"{b}/daemon/earshotctl"
    env = dict(os.environ, XDG_CONFIG_HOME=f"{d}/config-alice")

    def alice(*extra):
        r = subprocess.run([cl, *extra], capture_output=True, text=True, env=env, timeout=20)
        return r.returncode, r.stdout, r.stderr

    def daemon(tag):
        # two daemons, one after the other, on one address with two keys
        p = Daemon(d, "--state-dir", f"{d}/state-{tag}", "--metrics-listen", "", addr=addr,
                   name=f"earshotd-{tag}").start()
        fp = subprocess.run([ctl, "--state-dir", f"{d}/state-{tag}", "fingerprint"], capture_output=True,
                            text=True, timeout=10).stdout.strip()
        return p.proc, fp

    ok = True

    def check(cond, what):
        nonlocal ok
        log(("ok:   " if cond else "FAIL: ") + what)
        ok &= bool(cond)

    procs = []
    try:
        da, fp_a = daemon("A")
        procs.append(da)
        rc, out, err = alice("--server", addr, "--name", "alice", "--headless", "--seconds", "2")
        check(rc == 0 and "first use" in err and fp_a in err, f"alice joins A and pins {fp_a} (exit {rc})")
        da.stop()

        db, fp_b = daemon("B")
        procs.append(db)
        check(fp_a != fp_b, f"B has another key: {fp_b}")
        rc, out, err = alice("--server", addr, "--name", "alice", "--headless", "--seconds", "3")
        check(rc == 3, f"alice refuses B (exit {rc})")
        check("REFUSING" in err, "loudly: " + next((l for l in err.splitlines() if "REFUSING" in l), "(no REFUSING)"))
        check(fp_a in err and fp_b in err, "naming both fingerprints")
        check(f"earshot forget-server {addr}" in err, "and saying how to trust the new key")
        check("alice joined" not in db.log_text() and "alice enrolled" not in db.log_text(),
              "B never admitted alice")

        rc, out, err = alice("forget-server", addr)
        check(rc == 0, f"earshot forget-server {addr} (exit {rc}): {out.strip()}")
        rc, out, err = alice("--server", addr, "--name", "alice", "--headless", "--seconds", "2")
        check(rc == 0 and fp_b in err, f"alice now trusts B on first use and joins (exit {rc}): {err.strip()}")
        # her client has exited joined: the daemon wrote the line before it answered her
        check(wait_for_log(db, "alice joined", 2), "B admitted her")
    finally:
        for p in procs:
            p.stop()
    if not ok:
        for p in procs:
            with open(p.logpath, errors="replace") as f:
                log(f"--- {p.logpath}\n{f.read()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
