#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The sound device vanishes mid-session (an unplugged headset; here the
JACK server behind the virtual card is stopped): alice's client must keep
its session (the daemon never sees her leave), say so on stderr, retry
with backoff and, when the device is back, play and capture again: her
voice reaches bob after it.  With no audio device at all at start the
client exits at once with status 2 and a clear message."""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import (  # noqa: E402
    JackRig, Proc, SKIP, build_dir, free_udp_port, log, read_wav_mono, resample_linear, rms,
    speak16, wait_for_log)

RATE = 48000
RUN_S = 40


def poll(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def main():
    b = build_dir()
    d = tempfile.mkdtemp(prefix="es-devloss-")
    rig = JackRig(d)
    if not rig.available():
        log("SKIP: jackd or the ALSA jack plugin is not installed")
        return SKIP
    cl = f"{b}/client/earshot"

    # no device at all: a HOME without the virtual card, no JACK server
    empty = os.path.join(d, "nodevice")
    os.makedirs(empty)
    env = dict(os.environ, HOME=empty, JACK_DEFAULT_SERVER="es-no-such-server", JACK_NO_START_SERVER="1")
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")
    p = Proc([cl, "--server", "127.0.0.1:9", "--name", "nodev", "--no-ui"], f"{d}/nodev.log", env=env)
    rc = p.wait(timeout=30)
    text = p.log_text()
    if rc != 2 or "no input or output audio device found" not in text:
        log(f"FAIL: with no device: exit {rc}, expected 2 and a clear message:\n{text}")
        return 1
    log("no device at start: exit 2, 'no input or output audio device found'")

    speech = speak16("please send the quarterly report to finance before noon. can you hear me now. " * 8,
                     f"{d}/talk.wav")
    if not speech:
        log("SKIP: flite is not installed")
        return SKIP
    rate_in, talk = read_wav_mono(speech)
    talk = resample_linear(talk, rate_in, RATE)
    if not rig.start():
        log("SKIP: jackd did not start")
        return SKIP
    procs = []
    ok = True
    try:
        port = free_udp_port()
        addr = f"127.0.0.1:{port}"
        daemon = Proc([f"{b}/daemon/earshotd", "--listen", addr], f"{d}/earshotd.log")
        procs.append(daemon)
        assert wait_for_log(daemon, "listening on")
        bob = Proc([cl, "--server", addr, "--name", "bob", "--at", "1,0", "--record", f"{d}/bob.wav",
                    "--seconds", str(RUN_S), "-v"], f"{d}/bob.log")
        procs.append(bob)
        if not wait_for_log(daemon, "bob joined", 15):
            log("FAIL: bob did not join:\n" + bob.log_text())
            return 1
        t_bob = time.monotonic()
        # alice's microphone: speech from the start (the file is read again when the device reopens)
        home = rig.home("alice", (talk * 4)[:RUN_S * RATE])
        alice = Proc([cl, "--server", addr, "--name", "alice", "--at", "0,0", "--no-ui", "--seconds", str(RUN_S - 4),
                      "-v"], f"{d}/alice.log", env=rig.env(home))
        procs.append(alice)
        if not wait_for_log(daemon, "alice joined", 15):
            log("FAIL: alice did not join:\n" + alice.log_text())
            return 1
        time.sleep(3)  # talking
        rig.stop()      # the device goes away
        t_gone = time.monotonic()
        if not poll(lambda: "audio input failed" in alice.log_text() or "audio output failed" in alice.log_text(), 5):
            log("FAIL: alice did not notice her device was gone:\n" + alice.log_text())
            return 1
        noticed = time.monotonic() - t_gone
        time.sleep(4)
        if alice.p.poll() is not None:
            log(f"FAIL: alice exited ({alice.p.returncode}) when the device went away:\n" + alice.log_text())
            return 1
        retries = alice.log_text().count("audio device lost")
        rig.start()     # and comes back
        t_back0 = time.monotonic()
        if not poll(lambda: "audio back on" in alice.log_text(), 15):
            log("FAIL: alice's audio did not come back:\n" + alice.log_text())
            return 1
        t_back = time.monotonic()
        log(f"device gone: noticed after {noticed:.1f} s, {retries} retries while gone; back {t_back - t_back0:.1f} s "
            "after the device returned")
        rc_alice = alice.wait(timeout=RUN_S + 10)
        bob.wait(timeout=RUN_S + 10)
        if rc_alice != 0:
            log(f"FAIL: alice exited {rc_alice} at the end:\n" + alice.log_text()[-3000:])
            ok = False
        dlog = daemon.log_text()
    finally:
        for p in procs:
            p.stop()
        rig.stop()
    joins = dlog.count("alice joined")
    if joins != 1:  # a session that had dropped would have joined again
        log(f"FAIL: alice's session did not survive (joined {joins} times)")
        ok = False
    _, heard = read_wav_mono(f"{d}/bob.wav")
    a = int((t_back - t_bob + 1.0) * RATE)
    z = int((t_back - t_bob + 6.0) * RATE)
    after = rms(heard[a:z])
    log(f"bob hears alice after her device came back: rms {after:.4f}")
    if after < 0.01:
        log("FAIL: alice's voice did not reach bob after her device came back")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
