#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The bad network of test-badnet, made by the kernel instead of a
userspace relay: the test enters a network namespace of its own (unshare),
brings its loopback up and puts netem on it: 10 % loss, 40 ms +- 40 ms of
delay (which reorders) and 2 % duplication, on every datagram both ways.
alice's speech must still reach bob (loudness contour correlation 0.75 or
better, as in test-badnet) and is recognised (badnet.py has the checks).  Then netem drops everything for 5 s: both
clients come back by themselves and alice's voice reaches bob again.

Skips (77) where it may not: no unshare, ip or tc, no permission for a
network namespace, or a kernel without sch_netem (this CI machine's: there
test-badnet's relay carries the check).  EARSHOT_NETEM_DRYRUN=1 runs the
same steps with a plain pfifo qdisc and the cut made by taking the loopback
down, to check the test itself on such a kernel."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import badnet  # noqa: E402
from eslib import SKIP, log  # noqa: E402

DRY = os.environ.get("EARSHOT_NETEM_DRYRUN") == "1"


def sh(*argv):
    return subprocess.run(list(argv), capture_output=True, text=True)


def qdisc(spec):
    """Replace the loopback's root qdisc; True if the kernel took it."""
    r = sh("tc", "qdisc", "replace", "dev", "lo", "root", *spec.split())
    if r.returncode != 0:
        log(f"tc qdisc replace dev lo root {spec}: {r.stderr.strip()}")
    return r.returncode == 0


def cut(on):
    if DRY:
        return sh("ip", "link", "set", "lo", "down" if on else "up").returncode == 0
    return qdisc("netem loss 100%" if on else "netem")


def outside():
    """Enter a new network namespace (re-running this script there)."""
    for tool in ("unshare", "ip", "tc"):
        if not shutil.which(tool):
            log(f"SKIP: no {tool}")
            return SKIP
    ns = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-r", "-n"]
    if sh(*ns, "true").returncode != 0:
        log("SKIP: may not create a network namespace here")
        return SKIP
    env = dict(os.environ, ES_IN_NETNS="1")
    return subprocess.run(ns + [sys.executable, os.path.abspath(__file__)], env=env).returncode


class Kernel(badnet.Network):
    """netem on the namespace's loopback: both ways, every datagram."""
    name = "pfifo (dry run)" if DRY else badnet.IMPAIR

    def impair(self, on):
        return qdisc("pfifo" if DRY else (badnet.IMPAIR if on else "netem"))

    def cut(self, on):
        return cut(on)

    def check(self):
        r = sh("tc", "-s", "qdisc", "show", "dev", "lo")
        return True, "kernel: " + " ".join(r.stdout.split())


def inside():
    if sh("ip", "link", "set", "lo", "up").returncode != 0:
        log("SKIP: cannot bring up the namespace's loopback")
        return SKIP
    if not qdisc("pfifo" if DRY else badnet.IMPAIR):
        log("SKIP: this kernel has no netem (sch_netem); test-badnet asserts the same checks "
            "(and that loss, delay, reordering and duplicates happened) through a userspace relay")
        return SKIP
    return badnet.run(tempfile.mkdtemp(prefix="es-netem-"), Kernel())


if __name__ == "__main__":
    sys.exit(inside() if os.environ.get("ES_IN_NETNS") == "1" else outside())
