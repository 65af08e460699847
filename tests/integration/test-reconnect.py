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
from eslib import Client, Daemon, SKIP, log, read_wav_mono, rms, speak, time_scale  # noqa: E402

LIMIT_S = 3.0


def main():
    d = tempfile.mkdtemp(prefix="es-reconn-")
    wav = speak("After the restart, can you still hear me?", f"{d}/bob.wav")
    if not wav:
        log("SKIP: no speech synthesiser")
        return SKIP
    ok = True
    with Daemon(d) as daemon:
        # the kill must find alice joined, not joining: her own "joined" line
        with Client(d, daemon.addr, "alice", "--facing", "90", "--record", f"{d}/alice.wav", "--seconds", "14",
                    "-v", at="3,4") as alice:
            t_kill = time.monotonic()
            daemon.restart(signal.SIGKILL)
            t_up = time.monotonic()
            back = daemon.wait_log("alice joined", 10 * time_scale())  # the check below is stricter
            t_back = time.monotonic()
            if not back:
                log("FAIL: alice did not come back:\n" + alice.log_text())
                return 1
            m = re.search(r"alice joined as #\d+ at ([-\d.]+),([-\d.]+)", daemon.log_text())
            log(f"daemon restarted {1000 * (t_up - t_kill):.0f} ms after kill -9; alice back "
                f"{1000 * (t_back - t_up):.0f} ms after the restart, at {m.group(1)},{m.group(2)}")
            # the promise on a plain build; a sanitizer slows the handshake 2-3x
            if t_back - t_up > LIMIT_S * time_scale():
                log(f"FAIL: took longer than {LIMIT_S * time_scale():.0f} s")
                ok = False
            if (float(m.group(1)), float(m.group(2))) != (3.0, 4.0):
                log("FAIL: alice came back at another place")
                ok = False
            # and the audio path works again: bob speaks to her
            with Client(d, daemon.addr, "bob", "--play", wav, "-v", at="4,4", join=False) as bob:
                bob.wait(timeout=20)  # bounds bob's end: the sentence (3 s), joining, exiting
            alice.wait(timeout=20)  # bounds alice's end: --seconds 14 from her start
            log("alice's client said: " + " | ".join(ln for ln in alice.log_text().splitlines()
                                                     if "trying again" in ln or "joined" in ln))
            # told by the restarted daemon's reset (its token checked), not left to find out by a timeout
            if "the server restarted" not in alice.log_text():
                log("FAIL: alice's client did not take the restarted daemon's reset")
                ok = False
    _, heard = read_wav_mono(f"{d}/alice.wav")
    tail = heard[int((t_back - t_kill + 1.0) * 48000):]
    log(f"alice hears after the restart: rms {rms(tail):.4f}")
    if rms(tail) < 0.005:
        log("FAIL: no audio after the restart")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
