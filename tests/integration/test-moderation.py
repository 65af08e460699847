#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Moderation through earshotctl while alice (0,0) and bob (1.5,0) talk to
each other, both speaking and recording:
  mute bob       -> alice's recording is silent from then on; bob's client
                    is told; presence and `people` show him admin-muted
  move alice 30,0 -> `people` and the daemon log show her there; bob's
                    recording is silent from then on
  remove bob     -> bob's client says it was removed and stops
Windows are placed on the recordings with CLOCK_MONOTONIC, which the
clients log (-v) and Python's time.monotonic() reads."""
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import (  # noqa: E402
    Proc, SKIP, build_dir, free_udp_port, log, read_wav_mono, rms, speak, wait_for_log)

RATE = 48000
SECONDS = 16
PHASE_S = 3.0
SETTLE_S = 0.6      # after a command, before a window that must be silent
LOUD = 0.005        # speech heard at 1.5 m is far above this
SILENT = 0.0005

ALICE_TEXT = ("Good morning Bob. I have read the whole quarterly report and I think the numbers for the "
              "northern region look much better than last year. Shall we go through the slides together "
              "after lunch, in the small meeting room next to the kitchen? I will bring coffee.")
BOB_TEXT = ("Morning Alice. Yes, the northern region did well, mostly thanks to the new distribution "
            "partner. After lunch works for me. Let us also invite the finance team, they had questions "
            "about the marketing budget and the travel costs for the spring conference.")


def window(samples, t0_rec, t_from, t_to):
    a = max(0, int((t_from - t0_rec) * RATE))
    b = max(a, int((t_to - t0_rec) * RATE))
    return samples[a:b]


def main():
    b = build_dir()
    d = tempfile.mkdtemp(prefix="es-moder-")
    a_wav = speak(ALICE_TEXT, f"{d}/alice-says.wav")
    b_wav = speak(BOB_TEXT, f"{d}/bob-says.wav")
    if not a_wav or not b_wav:
        log("SKIP: neither flite nor espeak-ng is installed")
        return SKIP
    addr = f"127.0.0.1:{free_udp_port()}"
    state = f"{d}/state"
    cl, ctl = f"{b}/client/earshot", f"{b}/daemon/earshotctl"

    def ctl_run(*args):
        r = subprocess.run([ctl, "--state-dir", state, *args], capture_output=True, text=True, timeout=10)
        log(f"$ earshotctl {' '.join(args)} -> exit {r.returncode}: {(r.stdout + r.stderr).strip()}")
        return r.returncode, r.stdout, r.stderr

    ok = True

    def check(cond, what):
        nonlocal ok
        log(("ok:   " if cond else "FAIL: ") + what)
        ok &= bool(cond)

    procs = []
    try:
        daemon = Proc([f"{b}/daemon/earshotd", "--listen", addr, "--state-dir", state, "--metrics-listen", ""],
                      f"{d}/earshotd.log")
        procs.append(daemon)
        if not wait_for_log(daemon, "listening on"):
            log(daemon.log_text())
            return 1
        alice = Proc([cl, "--server", addr, "--name", "alice", "--at", "0,0", "--play", a_wav,
                      "--record", f"{d}/alice-hears.wav", "--seconds", str(SECONDS), "-v"], f"{d}/alice.log")
        bob = Proc([cl, "--server", addr, "--name", "bob", "--at", "1.5,0", "--play", b_wav,
                    "--record", f"{d}/bob-hears.wav", "--seconds", str(SECONDS), "-v"], f"{d}/bob.log")
        procs += [alice, bob]
        if not (wait_for_log(daemon, "alice joined", 5) and wait_for_log(daemon, "bob joined", 5)):
            log("the clients did not join")
            return 1
        t_joined = time.monotonic()
        time.sleep(PHASE_S)

        rc, out, err = ctl_run("people")
        check(rc == 0 and re.search(r"^#\d+ alice at 0\.00,0\.00", out, re.M) and
              re.search(r"^#\d+ bob at 1\.50,0\.00", out, re.M), "people lists alice and bob at their places")

        t_mute = time.monotonic()
        rc, out, err = ctl_run("mute", "bob")
        check(rc == 0, "mute bob")
        time.sleep(0.3)
        rc, out, err = ctl_run("people")
        check(re.search(r"^#\d+ bob .*admin-muted", out, re.M), "people shows bob admin-muted")
        time.sleep(PHASE_S - 0.3)

        t_move = time.monotonic()
        rc, out, err = ctl_run("move", "alice", "30,0")
        check(rc == 0, "move alice 30,0")
        time.sleep(0.3)
        rc, out, err = ctl_run("people")
        check(re.search(r"^#\d+ alice at 30\.00,0\.00", out, re.M), "people shows alice at 30,0")
        check(re.search(r"admin: move alice 30,0 -> ok: alice moved to 30\.00,0\.00", daemon.log_text()),
              "the daemon log shows the move")
        time.sleep(PHASE_S - 0.3)

        rc, out, err = ctl_run("mute", "nobody-here")
        check(rc == 1 and "nobody called 'nobody-here' is connected" in err, "a clear error for an unknown name")

        t_remove = time.monotonic()
        rc, out, err = ctl_run("remove", "bob")
        check(rc == 0, "remove bob")
        try:
            brc = bob.wait(timeout=5)
        except subprocess.TimeoutExpired:
            brc = None
        check(brc == 3, f"bob's client stops at once (exit {brc}, {time.monotonic() - t_remove:.1f} s after)")
        check(wait_for_log(daemon, "bob left", 2), "the daemon logs that bob left")
        rc, out, err = ctl_run("people")
        check(rc == 0 and "bob" not in out and "1 connected" in err, "people no longer lists bob")
        bob_log = bob.log_text()

        # the admin's mute holds on bob's key: he comes back muted
        bob2 = Proc([cl, "--server", addr, "--name", "bob", "--at", "1.5,0", "--headless", "--seconds", "30", "-v"],
                    f"{d}/bob2.log")
        procs.append(bob2)
        check(wait_for_log(bob2, "an admin muted you", 5) and daemon.log_text().count("bob joined") == 2,
              "bob rejoins and is told at once that he is still muted")
        rc, out, err = ctl_run("people")
        check(re.search(r"^#\d+ bob .*admin-muted", out, re.M), "people shows him admin-muted again")
        rc, out, err = ctl_run("unmute", "bob")
        check(rc == 0 and wait_for_log(bob2, "an admin unmuted you", 2), "unmute bob reaches his client")
        rc, out, err = ctl_run("remove", "bob", "--forget")
        check(rc == 0 and "un-enrolled" in err, "remove bob --forget")
        rc, out, err = ctl_run("enrolled")
        check(rc == 0 and not re.search(r"^\S+ bob ", out, re.M), "bob is no longer enrolled")
        alice.wait(timeout=SECONDS + 10)
        alice_log = alice.log_text()
    finally:
        for p in procs:
            p.stop()

    check("removed from" in bob_log and "by an admin" in bob_log, "bob's client logs that an admin removed him")
    check("an admin muted you" in bob_log, "bob's client was told he is muted")
    check("an admin moved you to 30.00,0.00" in alice_log, "alice's client was told her new place")

    t0_a = int(re.search(r"recording starts at monotonic (\d+)", alice_log).group(1)) / 1e9
    t0_b = int(re.search(r"recording starts at monotonic (\d+)", bob_log).group(1)) / 1e9
    _, alice_hears = read_wav_mono(f"{d}/alice-hears.wav")
    _, bob_hears = read_wav_mono(f"{d}/bob-hears.wav")

    a_before = rms(window(alice_hears, t0_a, t_joined + 0.5, t_mute))
    a_after = rms(window(alice_hears, t0_a, t_mute + SETTLE_S, t_move))
    b_before = rms(window(bob_hears, t0_b, t_mute, t_move))
    b_after = rms(window(bob_hears, t0_b, t_move + SETTLE_S, t_remove))
    log(f"alice hears bob: before the mute rms {a_before:.4f}, after it {a_after:.6f}")
    log(f"bob hears alice: before the move rms {b_before:.4f}, after it {b_after:.6f}")
    check(a_before > LOUD, "alice heard bob before the mute")
    check(a_after < SILENT, "alice hears nothing of bob after the mute")
    check(b_before > LOUD, "bob heard alice before the move (he was muted, not deaf)")
    check(b_after < SILENT, "bob hears nothing of alice once she is 30 m away")
    if not ok:
        with open(daemon.logpath, errors="replace") as f:
            log(f"--- earshotd\n{f.read()}\n--- alice\n{alice_log}\n--- bob\n{bob_log}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
