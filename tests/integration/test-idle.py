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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import Client, Daemon, log  # noqa: E402

SECONDS = 20
GOAL_BPS = 1000


def main():
    d = tempfile.mkdtemp(prefix="es-idle-")
    ok = True
    with Daemon(d) as daemon, \
         Client(d, daemon.addr, "ann", "--headless", "--seconds", str(SECONDS), "-v", at="0,0", join=False) as a, \
         Client(d, daemon.addr, "zed", "--headless", "--seconds", str(SECONDS), "-v", at="90,0", join=False) as z:
        for c in (a, z):
            c.wait(timeout=SECONDS + 15)  # bounds the client's own end: --seconds, and a second to exit
        for who, c in (("ann", a), ("zed", z)):
            m = re.search(r"udp sent (\d+) B in (\d+) datagrams, received (\d+) B in (\d+) datagrams", c.log_text())
            sb, sd, rb, rd = map(int, m.groups())
            up = (sb + 28 * sd) * 8 / SECONDS
            down = (rb + 28 * rd) * 8 / SECONDS
            log(f"{who}: up {up:.0f} bit/s ({sd} datagrams), down {down:.0f} bit/s ({rd} datagrams), "
                f"over {SECONDS} s including joining")
            if up >= GOAL_BPS or down >= GOAL_BPS:
                log(f"FAIL: a silent client costs {GOAL_BPS} bit/s or more")
                ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
