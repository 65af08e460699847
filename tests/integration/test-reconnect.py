#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kill -9 the daemon and start it again: a client that nobody touches is
back at its place within 3 s of the restart, and audio flows again."""
import os
import re
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import *  # noqa: E402,F403

LIMIT_S = 3.0


def main():
    b = build_dir()
    d = tempfile.mkdtemp(prefix="es-reconn-")
    wav = speak("After the restart, can you still hear me?", f"{d}/bob.wav")
    if not wav:
        log("SKIP: no speech synthesiser")
        return SKIP
    addr = f"127.0.0.1:{free_udp_port()}"
    cl = f"{b}/client/earshot"
    procs = []
    try:
        d1 = Proc([f"{b}/daemon/earshotd", "--listen", addr], f"{d}/d1.log")
        procs.append(d1)
        assert wait_for_log(d1, "listening on")
        alice = Proc([cl, "--server", addr, "--name", "alice", "--at", "3,4", "--facing", "90",
                      "--record", f"{d}/alice.wav", "--seconds", "14", "-v"], f"{d}/alice.log")
        procs.append(alice)
        if not wait_for_log(d1, "alice joined", 5):
            log("alice never joined:\n" + alice.log_text())
            return 1
        time.sleep(0.5)  # let alice settle in: the kill must find her joined, not joining
        d1.stop(signal.SIGKILL)
        t_kill = time.monotonic()
        d2 = Proc([f"{b}/daemon/earshotd", "--listen", addr], f"{d}/d2.log")
        procs.append(d2)
        assert wait_for_log(d2, "listening on")
        t_up = time.monotonic()
        back = wait_for_log(d2, "alice joined", 10)
        t_back = time.monotonic()
        if not back:
            log("FAIL: alice did not come back:\n" + alice.log_text())
            return 1
        m = re.search(r"alice joined as #\d+ at ([-\d.]+),([-\d.]+)", d2.log_text())
        log(f"daemon restarted {1000 * (t_up - t_kill):.0f} ms after kill -9; alice back "
            f"{1000 * (t_back - t_up):.0f} ms after the restart, at {m.group(1)},{m.group(2)}")
        ok = True
        if t_back - t_up > LIMIT_S:
            log(f"FAIL: took longer than {LIMIT_S} s")
            ok = False
        if (float(m.group(1)), float(m.group(2))) != (3.0, 4.0):
            log("FAIL: alice came back at another place")
            ok = False
        # and the audio path works again: bob speaks to her
        bob = Proc([cl, "--server", addr, "--name", "bob", "--at", "4,4", "--play", wav, "-v"], f"{d}/bob.log")
        procs.append(bob)
        bob.wait(timeout=20)
        alice.wait(timeout=20)
        log("alice's client said: " + " | ".join(l for l in alice.log_text().splitlines() if "trying again" in l or "joined" in l))
        # told by the restarted daemon's reset (its token checked), not left to find out by a timeout
        if "the server restarted" not in alice.log_text():
            log("FAIL: alice's client did not take the restarted daemon's reset")
            ok = False
    finally:
        for p in procs:
            p.stop()
    _, heard = read_wav_mono(f"{d}/alice.wav")
    tail = heard[int((t_back - t_kill + 1.0) * 48000):]
    log(f"alice hears after the restart: rms {rms(tail):.4f}")
    if rms(tail) < 0.005:
        log("FAIL: no audio after the restart")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
