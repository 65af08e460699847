#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Admission and shedding through the real daemon (issue 19).

Admission: a daemon with --max-people 2 holds two es-rogue members; carol,
a real headless client, is answered "busy", and her client says when it
will try again (the daemon's hint, 2-5 s); the refusal is counted
(earshot_admissions_refused_total).  When one member leaves, her retry
gets her in.

Shedding: es-load brings 160 people into one room, a third of them
talking, all thin (each costs the server a mix and an encode every tick)
on a daemon with one mix thread.  The load ladder steps up while they are
there (earshot_degradation_level, earshot_load_steps_total, `earshotctl
load`), and once they have gone it steps back down to full quality, each
step counted as "calm"."""
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import SKIP, Checks, Proc, build_dir, free_tcp_port, free_udp_port, log, metrics, wait_for_log  # noqa: E402,F401


def main():
    b = build_dir()
    d = tempfile.mkdtemp(prefix="es-shedding-")
    t_start = time.monotonic()
    check = Checks()  # "ok:"/"FAIL:" lines; check.ok is False once one failed
    procs = []

    try:
        # ---- admission: --max-people 2 ----
        addr, maddr = f"127.0.0.1:{free_udp_port()}", f"127.0.0.1:{free_tcp_port()}"
        d1 = Proc([f"{b}/daemon/earshotd", "--listen", addr, "--max-people", "2", "--metrics-listen", maddr],
                  f"{d}/d1.log")
        procs.append(d1)
        if not wait_for_log(d1, "listening on"):
            log(d1.log_text())
            return 1
        stay = Proc([f"{b}/tests/es-rogue", addr, "stay", "0,0", "30"], f"{d}/stay.log")
        procs.append(stay)
        check(wait_for_log(d1, "stay joined", 15), "the first member joined")
        # the second leaves 8 s after its join (time for carol's client to start and be refused on a
        # loaded machine): her retry must find its place
        leave = Proc([f"{b}/tests/es-rogue", addr, "leave", "1,0", "8"], f"{d}/leave.log")
        procs.append(leave)
        check(wait_for_log(d1, "leave joined", 15), "the second member joined: the daemon is full")
        carol = Proc([f"{b}/client/earshot", "--server", addr, "--name", "carol", "--at", "2,0", "--headless", "--seconds", "20",
                      "-v"], f"{d}/carol.log")
        procs.append(carol)
        if check(wait_for_log(carol, "busy", 15), "carol, the third, is told the server is busy"):
            m = re.search(r"busy[^\n]*?trying again in ([\d.]+) s", carol.log_text())
            check(m and 1.0 <= float(m.group(1)) <= 5.5,
                  f"... and her client says when it tries again: {m.group(0) if m else carol.log_text()[-300:]}")
        refused = metrics(maddr).get("earshot_admissions_refused_total", -1)
        check(refused >= 1, f"the refusal is counted: earshot_admissions_refused_total {refused:.0f}")
        check("carol joined" not in d1.log_text(), "carol is not let in while the daemon is full")
        t_full = time.monotonic()
        joined = wait_for_log(d1, "carol joined", 25)
        check(joined and "leave left" in d1.log_text(),
              f"once a member left, carol's retry got her in ({time.monotonic() - t_full:.1f} s after she was "
              f"refused)")
        for p in (carol, stay, leave):
            p.stop()
        d1.stop()

        # ---- shedding: real load up, and gone ----
        addr, maddr = f"127.0.0.1:{free_udp_port()}", f"127.0.0.1:{free_tcp_port()}"
        state = f"{d}/state2"
        d2 = Proc([f"{b}/daemon/earshotd", "--listen", addr, "--mix-threads", "1", "--metrics-listen", maddr,
                   "--state-dir", state], f"{d}/d2.log")
        procs.append(d2)
        if not wait_for_log(d2, "listening on"):
            log(d2.log_text())
            return 1
        m0 = metrics(maddr)
        steps = ('earshot_load_steps_total{cause="estimate"}', 'earshot_load_steps_total{cause="measured"}',
                 'earshot_load_steps_total{cause="calm"}')
        check(m0.get("earshot_degradation_level") == 0 and all(m0.get(k) == 0 for k in steps),
              "at rest the daemon runs at full quality, no steps taken")
        load = Proc([f"{b}/tests/load/es-load", "--server", addr, "--room", "--people", "160", "--talking", "0.3",
                     "--thin", "--storm", "2", "--hold", "8"], f"{d}/es-load.log")
        procs.append(load)
        top, top_encodes, ctl_out = 0, 0, ""
        while load.p.poll() is None:
            m = metrics(maddr)
            lvl = int(m.get("earshot_degradation_level", 0))
            top_encodes = max(top_encodes, int(m.get("earshot_encodes_per_tick", 0)))
            if lvl > top:
                top = lvl
                r = subprocess.run([f"{b}/daemon/earshotctl", "--state-dir", state, "load"], capture_output=True,
                                   text=True, timeout=20)
                ctl_out = r.stdout.strip()
            time.sleep(0.2)
        load.wait(timeout=5)
        m1 = metrics(maddr)
        up = m1.get(steps[0], 0) + m1.get(steps[1], 0)
        log(f"es-load: {load.log_text().strip().splitlines()[-1] if load.log_text().strip() else '(no output)'}")
        check(top >= 1 and up >= 1, f"under the load the ladder stepped up to level {top} ({up:.0f} steps: "
              f"{m1.get(steps[0], 0):.0f} on the estimate, {m1.get(steps[1], 0):.0f} measured; up to {top_encodes} "
              f"encodes a tick)")
        check(re.search(rf"^level {top}: ", ctl_out, re.M) is not None, f"earshotctl load says so: {ctl_out!r}")
        # down one level after every 2 s of calm ticks: at most 3 steps, with margin for a loaded machine
        t_gone = time.monotonic()
        end = t_gone + 40
        lvl = top
        while time.monotonic() < end:
            lvl = int(metrics(maddr).get("earshot_degradation_level", -1))
            if lvl == 0:
                break
            time.sleep(0.25)
        m2 = metrics(maddr)
        check(lvl == 0 and m2.get(steps[2], 0) >= top,
              f"once the load has gone the ladder steps back down to full quality in "
              f"{time.monotonic() - t_gone:.1f} s ({m2.get(steps[2], 0):.0f} calm steps)")
        r = subprocess.run([f"{b}/daemon/earshotctl", "--state-dir", state, "load"], capture_output=True, text=True,
                           timeout=20)
        check(r.stdout.startswith("level 0: full quality"), f"earshotctl load: {r.stdout.strip().splitlines()[:1]}")
    finally:
        for p in procs:
            p.stop()
    log(f"shedding: {time.monotonic() - t_start:.1f} s")
    return 0 if check.ok else 1


if __name__ == "__main__":
    sys.exit(main())
