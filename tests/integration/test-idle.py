#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What a silent, connected client costs: two people far apart (they hear
nobody and say nothing) stay connected for 20 s.  Each one's traffic, each
way, counted with 28 bytes of IPv4+UDP header per datagram, must stay under
1 kbit/s.  (Traffic here is keep-alive pings and their acknowledgements:
it does not depend on the machine's speed.)"""
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import *  # noqa: E402,F403

SECONDS = 20
GOAL_BPS = 1000


def main():
    b = build_dir()
    d = tempfile.mkdtemp(prefix="es-idle-")
    addr = f"127.0.0.1:{free_udp_port()}"
    cl = f"{b}/client/earshot"
    procs = []
    ok = True
    try:
        daemon = Proc([f"{b}/daemon/earshotd", "--listen", addr], f"{d}/earshotd.log")
        procs.append(daemon)
        assert wait_for_log(daemon, "listening on")
        a = Proc([cl, "--server", addr, "--name", "ann", "--at", "0,0", "--headless", "--seconds", str(SECONDS), "-v"],
                 f"{d}/ann.log")
        z = Proc([cl, "--server", addr, "--name", "zed", "--at", "90,0", "--headless", "--seconds", str(SECONDS), "-v"],
                 f"{d}/zed.log")
        procs += [a, z]
        for p in (a, z):
            p.wait(timeout=SECONDS + 15)
        for who, p in (("ann", a), ("zed", z)):
            m = re.search(r"udp sent (\d+) B in (\d+) datagrams, received (\d+) B in (\d+) datagrams", p.log_text())
            sb, sd, rb, rd = map(int, m.groups())
            up = (sb + 28 * sd) * 8 / SECONDS
            down = (rb + 28 * rd) * 8 / SECONDS
            log(f"{who}: up {up:.0f} bit/s ({sd} datagrams), down {down:.0f} bit/s ({rd} datagrams), "
                f"over {SECONDS} s including joining")
            if up >= GOAL_BPS or down >= GOAL_BPS:
                log(f"FAIL: a silent client costs {GOAL_BPS} bit/s or more")
                ok = False
    finally:
        for p in procs:
            p.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
