#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Invites end to end on an invite-only daemon: an unknown key is refused
and told about invites; `earshotctl invite carol` gives a code; `earshot
join CODE` enrols, and then plain `earshot` (no --server: earshot.conf)
joins as carol; the same code from another device is refused; after a
daemon restart carol is still enrolled, and so is an invite made before
it."""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import Proc, build_dir, free_udp_port, log, wait_for_log  # noqa: E402


def run(argv, env=None, timeout=20):
    r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def main():
    b = build_dir()
    d = tempfile.mkdtemp(prefix="es-invite-")
    addr = f"127.0.0.1:{free_udp_port()}"
    state = f"{d}/state"
    cl, ctl = f"{b}/client/earshot", f"{b}/daemon/earshotctl"
    daemon_argv = [f"{b}/daemon/earshotd", "--listen", addr, "--state-dir", state, "--open-enrolment", "off",
                   "--metrics-listen", ""]

    def device(who):
        return dict(os.environ, XDG_CONFIG_HOME=f"{d}/config-{who}")

    ok = True

    def check(cond, what):
        nonlocal ok
        log(("ok:   " if cond else "FAIL: ") + what)
        ok &= bool(cond)

    procs = []
    try:
        d1 = Proc(daemon_argv, f"{d}/d1.log")
        procs.append(d1)
        if not wait_for_log(d1, "listening on"):
            log(d1.log_text())
            return 1
        check("by invite only" in d1.log_text(), "the daemon says it is invite-only")

        # someone the daemon has never heard of
        rc, out, err = run([cl, "--server", addr, "--name", "mallory", "--headless", "--seconds", "3"], device("mallory"))
        check(rc == 3, f"an unknown key is refused (exit {rc})")
        check("invite" in err and "earshot join" in err, "and is told to ask for an invite: " + err.strip().splitlines()[-1])

        rc, fp, err = run([ctl, "--state-dir", state, "fingerprint"])
        check(rc == 0 and re.fullmatch(r"[a-z2-7]{4}(-[a-z2-7]{4}){3}\n", fp), f"earshotctl fingerprint: {fp.strip()}")

        rc, token, err = run([ctl, "--state-dir", state, "invite", "carol"])
        token = token.strip()
        check(rc == 0 and token.startswith("es1-") and "\n" not in token, f"earshotctl invite carol -> {token[:24]}...")

        rc, out, err = run([cl, "join", token], device("carol"))
        check(rc == 0, f"earshot join CODE enrols carol (exit {rc}): {out.strip()} {err.strip()}")
        check(wait_for_log(d1, "carol enrolled with an invite", 2), "the daemon logs the enrolment")

        rc, out, err = run([cl, "--headless", "--seconds", "2", "-v"], device("carol"))
        check(rc == 0, f"plain earshot (earshot.conf from join) connects (exit {rc})")
        check(re.search(r"joined 127\.0\.0\.1:\d+ as carol", err), "and joins as carol")
        check(d1.log_text().count("carol joined as") == 2, "the daemon saw carol join twice (join, then plain run)")

        rc, out, err = run([cl, "join", token], device("eve"))
        check(rc == 3, f"the same code from another device is refused (exit {rc})")
        check(re.search(r"unknown, already used or expired", err), "saying it is used: " + err.strip().splitlines()[-1])

        rc, out, err = run([ctl, "--state-dir", state, "invite", "dave"])
        dave_token = out.strip()
        check(rc == 0, "an invite for dave, redeemed after the restart")
        rc, out, err = run([ctl, "--state-dir", state, "invite", "carol"])
        check(rc == 1 and "already enrolled" in err, "no second invite for an enrolled name: " + err.strip())

        rc, out, err = run([ctl, "--state-dir", state, "enrolled"])
        check(rc == 0 and re.search(r"^\S+ carol last seen", out, re.M) and "invite dave expires" in out,
              "earshotctl enrolled lists carol and dave's pending invite")

        d1.stop()
        check(not os.path.exists(f"{state}/admin.sock"), "the socket is removed at a clean stop")
        rc, out, err = run([ctl, "--state-dir", state, "people"])
        check(rc == 1 and "earshotd is not running" in err, "earshotctl without a daemon: " + err.strip())

        d2 = Proc(daemon_argv, f"{d}/d2.log")
        procs.append(d2)
        if not wait_for_log(d2, "listening on"):
            log(d2.log_text())
            return 1
        check("1 people enrolled, 1 invites pending" in d2.log_text(), "the restarted daemon loaded carol and dave's invite")
        rc, out, err = run([cl, "--headless", "--seconds", "2", "-v"], device("carol"))
        check(rc == 0 and re.search(r"as carol", err), f"carol joins after the restart (exit {rc})")
        rc, out, err = run([cl, "join", dave_token], device("dave"))
        check(rc == 0, f"dave's invite, made before the restart, works after it (exit {rc})")
        rc, out, err = run([ctl, "--state-dir", state, "enrolled"])
        check(rc == 0 and "2 enrolled, 0 invites pending" in err, "now two enrolled: " + err.strip())

        rc, out, err = run([ctl, "--state-dir", state, "remove", "carol", "--forget"])
        check(rc == 0 and "un-enrolled" in err, "remove carol --forget: " + err.strip())
        rc, out, err = run([cl, "--headless", "--seconds", "2"], device("carol"))
        check(rc == 3 and "invite" in err, f"carol's key is refused from then on (exit {rc})")
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
