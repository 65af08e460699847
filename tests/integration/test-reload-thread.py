#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A SIGHUP's files are read off the tick thread (issue 17).

The floor plan named in the config becomes a FIFO that nobody writes yet:
reading it blocks until someone does.  While the reload waits on it the
daemon must keep serving (the admin socket, answered on the tick thread,
replies every time); once the plan is written the reload completes and the
new floor is in use.  A second reload that is still blocked when the daemon
is told to stop must not keep it from stopping."""
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import Proc, build_dir, free_udp_port, log, wait_for_log  # noqa: E402

PLAN_A = """earshot-floor 1
name "Before"
scale 1
grid
+----+
|....|
|....|
+----+
end
"""
PLAN_B = PLAN_A.replace('"Before"', '"After"')


def main():
    b = build_dir()
    d = tempfile.mkdtemp(prefix="es-reload-thread-")
    sd = f"{d}/state"
    os.makedirs(sd, mode=0o700)
    plan = f"{d}/a.plan"
    fifo = f"{d}/b.plan"
    with open(plan, "w") as f:
        f.write(PLAN_A)
    os.mkfifo(fifo)
    conf = f"{d}/earshotd.conf"
    with open(conf, "w") as f:
        f.write(f"[server]\nfloor_plan = {plan}\n")
    ctl = f"{b}/daemon/earshotctl"
    daemon = Proc([f"{b}/daemon/earshotd", "--config", conf, "--listen", f"127.0.0.1:{free_udp_port()}",
                   "--state-dir", sd, "--metrics-listen="], f"{d}/earshotd.log")
    ok = True

    def check(cond, what):
        nonlocal ok
        log(("ok:   " if cond else "FAIL: ") + what)
        ok &= bool(cond)

    def ctl_answers():
        # the admin socket is polled by the tick thread: a blocked tick answers nothing
        try:
            r = subprocess.run([ctl, "--state-dir", sd, "people"], capture_output=True, text=True, timeout=4)
            return r.returncode == 0
        except subprocess.TimeoutExpired:
            return False

    try:
        if not wait_for_log(daemon, "listening on", timeout=10):
            log(daemon.log_text())
            return 1
        check("floor 'Before'" in daemon.log_text(), "starts on the first plan")
        with open(conf, "w") as f:
            f.write(f"[server]\nfloor_plan = {fifo}\n")
        daemon.p.send_signal(signal.SIGHUP)
        check(wait_for_log(daemon, "reload: reading", timeout=10), "the reload starts")
        # the reload now waits for a writer of the FIFO; the daemon must not
        answers = [ctl_answers() for _ in range(4)]
        check(all(answers), f"the daemon answers while the reload waits on its plan ({answers})")
        check("reloaded " not in daemon.log_text(), "the reload has not finished without its plan")
        with open(fifo, "w") as f:  # the reload thread holds the other end open by now
            f.write(PLAN_B)
        check(wait_for_log(daemon, "reloaded ", timeout=10), "the reload finishes once the plan is written")
        check("reload: now on floor 'After'" in daemon.log_text(), "and the new plan is in use")
        check(ctl_answers(), "the daemon answers after the reload")
        # again, and stop while it waits: the stop must not hang on the reading
        daemon.p.send_signal(signal.SIGHUP)
        end = time.monotonic() + 10
        while daemon.log_text().count("reload: reading") < 2 and time.monotonic() < end:
            time.sleep(0.02)  # polling the log for the second reload's start
        check(daemon.log_text().count("reload: reading") == 2, "a second reload starts")
        check(ctl_answers(), "the daemon answers while a second reload waits")
        t0 = time.monotonic()
        rc = daemon.stop(timeout=8)
        took = time.monotonic() - t0
        check(rc == 0, f"a stop during a blocked reload exits cleanly (rc {rc}, {took:.1f} s)")
        with open(f"{d}/earshotd.log", errors="replace") as f:  # stop() closed the Proc's handle
            check("not waiting for it" in f.read(), "and says it did not wait for the reading")
    finally:
        daemon.stop()
    if not ok:
        with open(f"{d}/earshotd.log", errors="replace") as f:
            log(f.read())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
