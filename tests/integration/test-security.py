#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Sealed sessions under attack: a real client (es-probe) joins, then sends
a replayed packet, a tampered packet and a packet from an earlier session.
Each is dropped and counted by reason, and the session goes on.  A client
that never authenticates is dropped after about 2 s."""
import os
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import Daemon, build_dir, log, metrics, time_scale, wait_until  # noqa: E402


def main():
    b = build_dir()
    d = tempfile.mkdtemp(prefix="es-sec-")
    ok = True
    with Daemon(d, metrics=True) as daemon:
        addr, maddr = daemon.addr, daemon.maddr
        before = metrics(maddr)
        r = subprocess.run([f"{b}/tests/es-probe", "inject", addr], capture_output=True, text=True, timeout=60)
        log(r.stdout.strip())
        if r.returncode != 0:
            log("FAIL: probe: " + r.stderr)
            ok = False
        after = {}

        def delta(reason):
            k = f'earshot_packets_dropped_total{{reason="{reason}"}}'
            return after.get(k, 0) - before.get(k, 0)

        def counted():
            after.update(metrics(maddr))
            return delta("replayed") >= 1 and delta("tampered") >= 2
        # the daemon reads the probe's last datagrams: wait until the checks
        # below can hold, at most 10 s (they say what is missing if not)
        wait_until(counted, 10 * time_scale(), 0.05)

        log(f"dropped: replayed {delta('replayed'):.0f}, tampered or wrong session {delta('tampered'):.0f}")
        if delta("replayed") < 1:
            log("FAIL: the replayed packet was not counted")
            ok = False
        if delta("tampered") < 2:
            log("FAIL: the tampered and the old-session packets were not both counted")
            ok = False
        # an ENet peer that never starts the handshake is reset after ~2 s
        ok = half_open(b, addr, maddr) and ok
    return 0 if ok else 1


def half_open(b, addr, maddr):
    """Connect with a valid cookie but never send handshake message 1."""
    r = subprocess.run([f"{b}/tests/es-probe", "halfopen", addr], capture_output=True, text=True, timeout=30)
    log(r.stdout.strip())
    if r.returncode != 0:
        log("FAIL: a half-open peer was not dropped in time: " + r.stderr)
        return False
    m = metrics(maddr)
    t = m.get('earshot_handshake_failures_total{reason="timeout"}', 0)
    log(f"handshake timeouts counted: {t:.0f}")
    return t >= 1


if __name__ == "__main__":
    sys.exit(main())
