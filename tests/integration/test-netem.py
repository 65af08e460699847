#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The bad network of test-badnet, made by the kernel instead of a
userspace relay: the test enters a network namespace of its own (unshare),
brings its loopback up and puts netem on it: 10 % loss, 40 ms +- 40 ms of
delay (which reorders) and 2 % duplication, on every datagram both ways.
alice's speech must still reach bob (loudness contour correlation 0.75 or
better, as in test-badnet).  Then netem drops everything for 5 s: both
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
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import *  # noqa: E402,F403

SENTENCES = ["please send the quarterly report to finance before noon",
             "the meeting starts at three in room orion",
             "hello bob this is alice",
             "can you hear me now"]
MIN_CORR = 0.75
IMPAIR = "netem delay 40ms 40ms loss 10% duplicate 2%"
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


def inside():
    if sh("ip", "link", "set", "lo", "up").returncode != 0:
        log("SKIP: cannot bring up the namespace's loopback")
        return SKIP
    if not qdisc("pfifo" if DRY else IMPAIR):
        log("SKIP: this kernel has no netem (sch_netem); test-badnet checks the same through a userspace relay")
        return SKIP
    b = build_dir()
    d = tempfile.mkdtemp(prefix="es-netem-")
    if not speak16(SENTENCES[0], f"{d}/s0.wav"):
        log("SKIP: flite is not installed")
        return SKIP
    cl = f"{b}/client/earshot"
    ok = True
    addr = f"127.0.0.1:{free_udp_port()}"
    procs = []
    try:
        daemon = Proc([f"{b}/daemon/earshotd", "--listen", addr, "--metrics-listen="], f"{d}/earshotd.log")
        procs.append(daemon)
        if not wait_for_log(daemon, "listening on", 10):
            log("FAIL: the daemon did not start")
            return 1
        heard = speak_and_hear(b, d, daemon, addr, procs, f"{d}/s0.wav", SENTENCES)
        if heard is None:
            return 1
        corr, heard, st = heard
        log(f"{'pfifo (dry run)' if DRY else IMPAIR}: envelope correlation {corr:.3f}; recognised: '{heard}' "
            f"(bob concealed {st['concealed']} of {st['played'] + st['lost']} frames)")
        if corr < MIN_CORR:
            log(f"FAIL: alice's speech did not come through (correlation {corr:.3f} < {MIN_CORR})")
            ok = False
        if daemon.p.poll() is not None:
            log("FAIL: the daemon died")
            return 1

        # a clean link that goes away for 5 s
        if not qdisc("pfifo" if DRY else "netem"):
            return 1
        long_speech = speak16(". ".join(SENTENCES * 3), f"{d}/long.wav")
        bob = Proc([cl, "--server", addr, "--name", "bob", "--at", "1,0", "--record", f"{d}/bob2.wav",
                    "--seconds", "20", "-v"], f"{d}/bob2.log")
        alice = Proc([cl, "--server", addr, "--name", "alice", "--at", "0,0", "--play", long_speech,
                      "--seconds", "20", "-v"], f"{d}/alice2.log")
        procs += [bob, alice]
        wait_for_log(bob, "joined ", 10)
        wait_for_log(alice, "joined ", 10)
        time.sleep(3)
        if not cut(True):
            log("FAIL: could not cut the link")
            return 1
        time.sleep(5)
        cut(False)
        t_up = time.monotonic()
        back = {}
        while time.monotonic() < t_up + 10 and len(back) < 2:
            for who, p in (("bob", bob), ("alice", alice)):
                if who not in back and p.log_text().count("joined ") >= 2:
                    back[who] = time.monotonic() - t_up
            time.sleep(0.05)
        for who in ("bob", "alice"):
            if who in back:
                log(f"{who} rejoined by itself {back[who]:.1f} s after the link returned")
            else:
                log(f"FAIL: {who} did not come back after the 5 s cut")
                ok = False
        bob.wait(timeout=30)
        alice.wait(timeout=30)
        rate, rec = read_wav_mono(f"{d}/bob2.wav")
        tail = rec[-4 * rate:]
        log(f"bob hears alice at the end: rms {rms(tail):.4f}")
        if rms(tail) < 0.01:
            log("FAIL: alice's voice did not reach bob again after the cut")
            ok = False
        if daemon.p.poll() is not None:
            log("FAIL: the daemon died")
            ok = False
    finally:
        for p in procs:
            p.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(inside() if os.environ.get("ES_IN_NETNS") == "1" else outside())
