#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The real PortAudio path, without a sound card (shared/ci-audio.md): two
clients on jackd-clocked virtual devices talk through earshotd.  alice's
microphone carries a click and then speech; bob's speakers must carry the
speech, and the click gives the mouth-to-ear latency on one clock.

EARSHOT_PA_BOB_ARGS adds client flags to bob (bench/mouth-to-ear.sh runs
it with --thin, the server-rendered mix, and with --jitter 2)."""
import array
import math
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import (  # noqa: E402
    JackRig, Proc, SKIP, best_correlation, build_dir, envelope, free_udp_port, log,
    read_wav_mono, resample_linear, speak, wait_for_log)

RATE = 48000
CLICK_AT = 1.5          # seconds into alice's capture
SPEECH_AT = 2.5
ALICE_SECONDS = 10
MIN_CORR = 0.7


def read_stereo(path):
    """Left and right of a raw s16 stereo file, as floats."""
    a = array.array("h")
    with open(path, "rb") as f:
        a.frombytes(f.read())
    if sys.byteorder == "big":
        a.byteswap()
    return [x / 32768.0 for x in a[0::2]], [x / 32768.0 for x in a[1::2]]


def main():
    b = build_dir()
    d = tempfile.mkdtemp(prefix="es-pa-")
    rig = JackRig(d)
    if not rig.available():
        log("SKIP: jackd or the ALSA jack plugin is not installed")
        return SKIP
    wav = speak("Good morning Bob. The build is green and the release can go out today.", f"{d}/speech.wav")
    if not wav:
        log("SKIP: no speech synthesiser")
        return SKIP
    rate_in, speech = read_wav_mono(wav)
    speech = resample_linear(speech, rate_in, RATE)
    cap = [0.0] * int(ALICE_SECONDS * RATE)
    k = int(CLICK_AT * RATE)
    for i in range(480):  # 10 ms, 2 kHz burst
        cap[k + i] = 0.7 * math.sin(2 * math.pi * 2000 * i / RATE)
    s0 = int(SPEECH_AT * RATE)
    cap[s0:s0 + len(speech)] = speech[:len(cap) - s0]

    if not rig.start():
        log("SKIP: jackd did not start:\n" + rig.jackd.log_text())
        return SKIP
    port = free_udp_port()
    addr = f"127.0.0.1:{port}"
    procs = []
    try:
        daemon = Proc([f"{b}/daemon/earshotd", "--listen", addr], f"{d}/earshotd.log")
        procs.append(daemon)
        if not wait_for_log(daemon, "listening on"):
            log(daemon.log_text())
            return 1
        hb = rig.home("bob", [0.0] * (ALICE_SECONDS + 3) * RATE)
        ha = rig.home("alice", cap)
        cl = f"{b}/client/earshot"
        bob = Proc([cl, "--server", addr, "--name", "bob", "--at", "1,0", "--seconds", str(ALICE_SECONDS + 2), "-v"]
                   + os.environ.get("EARSHOT_PA_BOB_ARGS", "").split(),
                   f"{d}/bob.log", env=rig.env(hb))
        procs.append(bob)
        if not wait_for_log(daemon, "bob joined", 10):
            log("bob did not join:\n" + bob.log_text())
            return 1
        alice = Proc([cl, "--server", addr, "--name", "alice", "--at", "0,0", "--seconds", str(ALICE_SECONDS), "-v"],
                     f"{d}/alice.log", env=rig.env(ha))
        procs.append(alice)
        for p in (alice, bob):
            rc = p.wait(timeout=ALICE_SECONDS + 20)
            if rc != 0:
                log(f"{p.argv[4]} exited {rc}:\n{p.log_text()}")
                return 1
        alog, blog = alice.log_text(), bob.log_text()
    finally:
        for p in procs:
            p.stop()
        rig.stop()

    left, right = read_stereo(f"{hb}/played.raw")
    log(f"bob played {len(left) / RATE:.2f} s")
    # each client notes on CLOCK_MONOTONIC when the first loud sound was
    # captured (alice: the click) and when it leaves the speakers (bob)
    m_cap = re.search(r"first loud capture at monotonic (\d+)", alog)
    m_play = re.search(r"first loud playback at monotonic (\d+)", blog)
    if not m_cap or not m_play:
        log("FAIL: the click was not captured by alice or not played by bob")
        return 1
    latency_ms = (int(m_play.group(1)) - int(m_cap.group(1))) / 1e6
    how = "one server-rendered stream (--thin)" if "--thin" in os.environ.get("EARSHOT_PA_BOB_ARGS", "") \
        else "forwarded voice"
    log(f"mouth-to-ear latency (click, {how}): {latency_ms:.1f} ms")
    j = next((i for i in range(len(left)) if max(abs(left[i]), abs(right[i])) > 0.05), 0)
    ok = True
    if not (0 < latency_ms < 400):
        log("FAIL: latency out of any sane range")
        ok = False
    # the speech: its loudness contour must be in bob's speakers after the click
    env_ref = envelope(speech, RATE)
    # both ears' loudness (power sum): the far ear is the near one delayed
    # ~0.7 ms and 6-12 dB down (the head model), and adding the two as
    # samples makes a comb filter no listener hears (it cost 0.03-0.05 of
    # correlation against the near ear alone)
    k = j + int(0.5 * RATE)
    env_bob = [math.sqrt((a * a + b * b) / 2) for a, b in zip(envelope(left[k:], RATE), envelope(right[k:], RATE))]
    corr, lag = best_correlation(env_ref, env_bob, max_lag=min(300, max(0, len(env_bob) - len(env_ref))))
    log(f"speech in bob's speakers: envelope correlation {corr:.3f}")
    if corr < MIN_CORR:
        log(f"FAIL: correlation {corr:.3f} < {MIN_CORR}")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
