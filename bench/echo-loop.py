#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Measurement (not a test): echo cancellation through the real client and sound path: alice's
speakers are wired back into her own microphone inside JACK (a laptop's
speakers and mic, with no room noise), so bob's voice, played to alice,
comes back into her capture.  What returns to bob is his own voice as
echo.  With cancellation on it must be at least 20 dB below what returns
with it off, measured after the canceller has had time to adapt."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from eslib import *  # noqa: E402,F403

RATE = 48000
TALK_S = 40
ADAPT_S = 20   # speex needs 8-16 s of far-end speech; measure after this
GOAL_DB = 20.0

JACK_ASOUNDRC = """
pcm.!default {
    type plug
    slave.pcm {
        type jack
        playback_ports { 0 system:playback_1 }
        capture_ports { 0 system:capture_1 }
    }
}
"""


def one_run(b, d, rig, speech, aec):
    tag = "on" if aec else "off"
    addr = f"127.0.0.1:{free_udp_port()}"
    home = os.path.join(d, f"alice-{tag}")
    os.makedirs(home, exist_ok=True)
    with open(os.path.join(home, ".asoundrc"), "w") as f:
        f.write(JACK_ASOUNDRC)
    env = rig.env(home)
    procs = []
    try:
        daemon = Proc([f"{b}/daemon/earshotd", "--listen", addr], f"{d}/d-{tag}.log")
        procs.append(daemon)
        assert wait_for_log(daemon, "listening on")
        alice = Proc([f"{b}/client/earshot", "--server", addr, "--name", "alice", "--at", "0,0", "--no-ui",
                      "--seconds", str(TALK_S + 8), "-v"] + ([] if aec else ["--no-aec"]), f"{d}/alice-{tag}.log",
                     env=env)
        procs.append(alice)
        if not wait_for_log(daemon, "alice joined", 15):
            log(alice.log_text())
            return None
        # wire alice's speakers into her microphone
        time.sleep(1.0)
        ports = subprocess.run(["jack_lsp"], env=env, capture_output=True, text=True).stdout.split()
        outs = [p for p in ports if not p.startswith("system:") and ":out" in p]
        ins = [p for p in ports if not p.startswith("system:") and ":in" in p]
        if not outs or not ins:
            log("no JACK ports of alice's client: " + " ".join(ports))
            return None
        for o in outs:
            for i in ins:
                subprocess.run(["jack_connect", o, i], env=env, check=True)
        bob = Proc([f"{b}/client/earshot", "--server", addr, "--name", "bob", "--at", "1,0", "--play", speech,
                    "--record", f"{d}/bob-{tag}.wav", "--seconds", str(TALK_S), "-v"], f"{d}/bob-{tag}.log")
        procs.append(bob)
        bob.wait(timeout=TALK_S + 20)
        alice.wait(timeout=30)
        m = re.search(r"sent (\d+) frames", alice.log_text())
        sent = int(m.group(1)) if m else -1
    finally:
        for p in procs:
            p.stop()
    _, heard = read_wav_mono(f"{d}/bob-{tag}.wav")
    tail = heard[ADAPT_S * RATE:]
    return rms(tail), sent


def main():
    b = build_dir()
    d = tempfile.mkdtemp(prefix="es-echo-")
    rig = JackRig(d)
    if not rig.available() or not shutil.which("jack_connect"):
        log("SKIP: jackd (with jack_connect) or the ALSA jack plugin is not installed")
        return SKIP
    text = ("the weekly planning meeting starts in five minutes. please bring your notes about the release "
            "schedule and the customer feedback. ") * 6
    speech = speak16(text, f"{d}/bob.wav")
    if not speech:
        log("SKIP: no speech synthesiser")
        return SKIP
    if not rig.start():
        log("SKIP: jackd did not start")
        return SKIP
    try:
        off = one_run(b, d, rig, speech, aec=False)
        on = one_run(b, d, rig, speech, aec=True)
    finally:
        rig.stop()
    if not off or not on:
        log("FAIL: a run did not complete")
        return 1
    floor = 1e-6  # digital silence: nothing was sent back at all
    red = 20 * math.log10(max(off[0], floor) / max(on[0], floor))
    log(f"echo returned to bob after {ADAPT_S} s: cancellation off rms {off[0]:.5f} (alice sent {off[1]} frames), "
        f"on rms {on[0]:.6f} (alice sent {on[1]} frames): {red:.1f} dB less")
    if off[0] < 0.003:
        log("FAIL: without cancellation no echo came back: the loop is not wired")
        return 1
    if red < GOAL_DB:
        log(f"FAIL: less than {GOAL_DB} dB of echo reduction")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
