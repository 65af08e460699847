#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Walking skeleton, end to end: earshotd and three headless clients.
alice (0,0) speaks real speech; bob (1.5,0) must hear it (envelope
correlation after the best alignment); alice must not hear herself; carol
(40 m away) must hear exact silence.  Prints the measured delay."""
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import (  # noqa: E402
    Client, Daemon, SKIP, best_correlation, envelope, log, peak, read_wav_mono, rms, speak)

SECONDS = 9
# margins a listener would accept: Opus at 24 kbit/s keeps the loudness
# contour of speech; an unrelated or silent signal correlates near 0
MIN_CORR = 0.7
MAX_DELAY_MS = 400


def main():
    d = tempfile.mkdtemp(prefix="es-skel-")
    speech = speak("Hello Bob, this is Alice. The quarterly report is ready. "
                   "Please come over to my desk when you have a moment.", os.path.join(d, "alice.wav"))
    if not speech:
        log("SKIP: neither flite nor espeak-ng is installed")
        return SKIP
    with Daemon(d) as daemon, \
         Client(d, daemon.addr, "bob", "--record", f"{d}/bob.wav", "--seconds", str(SECONDS), "-v",
                at="1.5,0") as bob, \
         Client(d, daemon.addr, "carol", "--record", f"{d}/carol.wav", "--seconds", str(SECONDS),
                at="40,0") as carol:
        # alice joins last, once the listeners are in (their own "joined" lines), and speaks at once
        with Client(d, daemon.addr, "alice", "--play", speech, "--record", f"{d}/alice.wav.out",
                    "--seconds", str(SECONDS - 1), "-v", at="0,0", join=False) as alice:
            for c in (alice, bob, carol):
                rc = c.wait(timeout=SECONDS + 10)  # bounds the client's own end: --seconds, then exiting
                if rc != 0:
                    log(f"client {c.name} exited {rc}:\n{c.log_text()}")
                    return 1
            alice_log, bob_log = alice.log_text(), bob.log_text()

    rate_in, src = read_wav_mono(speech)
    rate, bob_s = read_wav_mono(f"{d}/bob.wav")
    _, carol_s = read_wav_mono(f"{d}/carol.wav")
    _, alice_s = read_wav_mono(f"{d}/alice.wav.out")
    env_src = envelope(src, rate_in)
    env_bob = envelope(bob_s, rate)
    # bob started recording before alice joined: search over the whole start
    corr, lag = best_correlation(env_src, env_bob, max_lag=len(env_bob) - len(env_src))
    log(f"bob: rms {rms(bob_s):.4f} peak {peak(bob_s):.3f}; envelope correlation {corr:.3f} at offset {lag * 10} ms")
    log(f"alice (self): rms {rms(alice_s):.6f} peak {peak(alice_s):.6f}")
    log(f"carol (40 m): rms {rms(carol_s):.6f} peak {peak(carol_s):.6f}")

    # mouth-to-ear delay: both clients log CLOCK_MONOTONIC (one clock for
    # the whole machine) when alice's file starts and bob's recording starts
    t_play = int(re.search(r"playing starts at monotonic (\d+)", alice_log).group(1))
    t_rec = int(re.search(r"recording starts at monotonic (\d+)", bob_log).group(1))
    delay_ms = (t_rec + lag * 10_000_000 - t_play) / 1e6
    log(f"measured delay alice -> bob: {delay_ms:.0f} ms (10 ms envelope resolution)")
    ok = True
    # The envelopes have 10 ms bins, so the alignment is good to about one
    # bin either way; the clock starts when alice's frame is complete, and
    # with one frame of buffering at the daemon and at bob the rest can be
    # a few ms (Opus's 6.5 ms look-ahead plus two clock phases).
    if not (-10 <= delay_ms <= MAX_DELAY_MS):
        log(f"FAIL: delay {delay_ms:.0f} ms outside -10..{MAX_DELAY_MS}")
        ok = False
    if corr < MIN_CORR:
        log(f"FAIL: bob's recording does not carry alice's speech (corr {corr:.3f} < {MIN_CORR})")
        ok = False
    if peak(alice_s) != 0.0:
        log("FAIL: alice hears herself")
        ok = False
    if peak(carol_s) != 0.0:
        log("FAIL: carol, 40 m away, hears something")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
