#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The test helpers themselves can fail: a check that passes on anything
proves nothing.  rms() refuses an empty window; speech recognition hears
a clear sentence, and the check fails on noise, on silence and on the
sentence played backwards; the relay's impairment check fails on a relay
that did not impair; the Daemon fixture raises (and shows the log) when
earshotd cannot start.  A few seconds, no daemon traffic."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import (  # noqa: E402
    BadNetwork, Daemon, SKIP, check_recognised, free_udp_port, log, rms, speak16, words_heard)

SENTENCES = ["please send the quarterly report to finance before noon",
             "the meeting starts at three in room orion",
             "hello bob this is alice",
             "can you hear me now"]


def main():
    ok = True

    def check(cond, what):
        nonlocal ok
        log(("ok: " if cond else "FAIL: ") + what)
        ok = ok and cond

    try:
        rms([])
        check(False, "rms([]) raises")
    except ValueError as e:
        check(True, f"rms([]) raises: {e}")
    check(abs(rms([0.5, -0.5]) - 0.5) < 1e-9, "rms of a square wave of 0.5 is 0.5")
    check(words_heard("", SENTENCES[0]) == 0.0 and words_heard(None, SENTENCES[0]) == 0.0,
          "nothing heard is 0 % of the words")
    check(words_heard(SENTENCES[2], SENTENCES[0]) == 0.0, "another sentence is 0 % of the words")
    check(words_heard(SENTENCES[0], SENTENCES[0]) == 1.0, "the sentence is 100 % of its words")

    d = tempfile.mkdtemp(prefix="es-eslib-")
    # the relay: one that was asked for loss but saw too little traffic, and one asked for nothing
    net = BadNetwork(free_udp_port(), loss=0.1, delay_ms=40, jitter_ms=40, dup=0.02)
    good, msg = net.check_impaired()
    net.close()
    check(not good, f"a relay that carried nothing fails its impairment check: {msg}")

    wav = speak16(SENTENCES[0], f"{d}/s0.wav")
    if wav is None:
        log("SKIP: flite is not installed")
        return SKIP
    heard_ok, msg = check_recognised(wav, SENTENCES[0], SENTENCES, d)
    if heard_ok is None:
        log("SKIP: " + msg)
        return SKIP
    check(heard_ok is True, f"clear speech passes: {msg}")
    # the same check on garbage: 3 s of leading silence then noise, and silence alone
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", f"{d}/noise.wav", "synth", "4", "pinknoise",
                    "vol", "0.3", "pad", "3", "0"], check=True)
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", f"{d}/silence.wav", "trim", "0", "4"],
                   check=True)
    for name in ("noise", "silence"):
        heard_ok, msg = check_recognised(f"{d}/{name}.wav", SENTENCES[0], SENTENCES, d)
        check(heard_ok is False, f"{name} fails: {msg}")
    # the same sentence after 3 s of exact digital silence (a recording before the talker joined)
    subprocess.run(["sox", wav, f"{d}/late.wav", "pad", "3", "0"], check=True)
    heard_ok, msg = check_recognised(f"{d}/late.wav", SENTENCES[0], SENTENCES, d)
    check(heard_ok is True, f"speech after 3 s of digital silence passes: {msg}")

    try:
        with Daemon(d, "--no-such-option", name="broken"):
            check(False, "a daemon that cannot start raises")
    except AssertionError as e:
        check("did not start" in str(e), "a daemon that cannot start raises, with its log: "
              + str(e).splitlines()[0])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
