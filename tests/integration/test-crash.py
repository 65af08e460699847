#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kill -9 the daemon at random moments, many times, while people talk:
each time it comes back with every enrolment and place intact (its state
file loads), and every client rejoins by itself within 3 s, at the place
it had."""
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import *  # noqa: E402,F403

PEOPLE = 8
KILLS = 10
LIMIT_S = 3.0


def main():
    b = build_dir()
    d = tempfile.mkdtemp(prefix="es-crash-")
    wav = speak("the weekly planning meeting starts in five minutes, please bring your notes. " * 4, f"{d}/talk.wav")
    if not wav:
        log("SKIP: no speech synthesiser")
        return SKIP
    addr = f"127.0.0.1:{free_udp_port()}"
    state = f"{d}/state"
    rng = random.Random(11)
    procs = []
    ok = True

    def start_daemon(i):
        p = Proc([f"{b}/daemon/earshotd", "--listen", addr, "--state-dir", state, "--floor-plan", "none",
                  "--metrics-listen="], f"{d}/earshotd-{i}.log")
        assert wait_for_log(p, "listening on", 10)
        return p

    def people():
        r = subprocess.run([f"{b}/daemon/earshotctl", "--state-dir", state, "people"], capture_output=True, text=True)
        out = {}
        for line in r.stdout.splitlines():
            m = re.search(r"\b(p\d+)\b.*?(-?\d+\.\d+),\s*(-?\d+\.\d+)", line)
            if m:
                out[m.group(1)] = (float(m.group(2)), float(m.group(3)))
        return out

    def enrolled():
        r = subprocess.run([f"{b}/daemon/earshotctl", "--state-dir", state, "enrolled"], capture_output=True,
                           text=True)
        return set(re.findall(r"\b(p\d+)\b", r.stdout))

    try:
        daemon = start_daemon(0)
        places = {f"p{i}": (float(i % 4) * 1.5, float(i // 4) * 1.5) for i in range(PEOPLE)}
        for name, (x, y) in places.items():
            talk = ["--play", wav] if name in ("p0", "p5") else ["--headless"]
            procs.append(Proc([f"{b}/client/earshot", "--server", addr, "--name", name, "--at", f"{x},{y}",
                               "--seconds", "120", "-v"] + talk, f"{d}/{name}.log"))
        end = time.monotonic() + 15
        while time.monotonic() < end and len(people()) < PEOPLE:
            time.sleep(0.2)
        if len(people()) < PEOPLE:
            log("FAIL: not everyone joined to begin with")
            return 1
        worst = 0.0
        for k in range(KILLS):
            time.sleep(rng.uniform(0.3, 2.5))  # a random moment
            daemon.stop(signal.SIGKILL)
            daemon = start_daemon(k + 1)
            t_up = time.monotonic()
            got = {}
            while time.monotonic() < t_up + 10 and len(got) < PEOPLE:
                got = people()
                time.sleep(0.05)
            took = time.monotonic() - t_up
            worst = max(worst, took)
            moved = [n for n, pos in got.items() if abs(pos[0] - places[n][0]) > 0.01 or abs(pos[1] - places[n][1]) > 0.01]
            en = enrolled()
            log(f"kill {k + 1}: {len(got)} of {PEOPLE} back in {took:.2f} s; {len(en)} enrolled; "
                f"{'all at their places' if not moved else 'moved: ' + ' '.join(moved)}")
            if len(got) < PEOPLE or took > LIMIT_S:
                log(f"FAIL: not everyone was back within {LIMIT_S} s")
                ok = False
            if moved:
                ok = False
            if len(en) < PEOPLE:
                log("FAIL: enrolments were lost")
                ok = False
        log(f"{KILLS} kills: the slowest return took {worst:.2f} s")
    finally:
        for p in procs:
            p.stop()
        daemon.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
