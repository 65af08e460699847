#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The real client in a terminal, as a person uses it: earshot runs in tmux
on the jackd-clocked virtual sound card (shared/ci-audio.md), in the
built-in office.  The floor map appears; an arrow key walks alice on the
server; the 'm' key mutes her (bob, next to her, hears silence); and
'earshot toggle-mute' from another shell unmutes and mutes her again."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import (  # noqa: E402
    JackRig, Proc, SKIP, build_dir, free_udp_port, log, read_wav_mono, resample_linear, rms,
    speak16, wait_for_log)

RATE = 48000


def main():
    b = build_dir()
    d = tempfile.mkdtemp(prefix="es-ui-")
    rig = JackRig(d)
    if not shutil.which("tmux") or not rig.available():
        log("SKIP: tmux or jackd is not installed")
        return SKIP
    sentence = speak16("the meeting starts at three in room orion. please bring the quarterly report.", f"{d}/s.wav")
    if not sentence:
        log("SKIP: no speech synthesiser")
        return SKIP
    rate_in, sp = read_wav_mono(sentence)
    sp = resample_linear(sp, rate_in, RATE)
    cap = []
    while len(cap) < 70 * RATE:
        cap += sp + [0.0] * int(0.2 * RATE)
    if not rig.start():
        log("SKIP: jackd did not start")
        return SKIP
    addr = f"127.0.0.1:{free_udp_port()}"
    state = f"{d}/state"
    sock = f"es-ui-{os.getpid()}"
    runtime = f"{d}/run"
    os.makedirs(runtime, mode=0o700)
    procs = []
    ok = True

    def pane():
        return subprocess.run(["tmux", "-L", sock, "capture-pane", "-p", "-t", "ui"], capture_output=True,
                              text=True).stdout

    def keys(*k):
        subprocess.run(["tmux", "-L", sock, "send-keys", "-t", "ui", *k], check=True)

    def people():
        r = subprocess.run([f"{b}/daemon/earshotctl", "--state-dir", state, "people"], capture_output=True, text=True)
        return r.stdout

    def alice_x():
        for line in people().splitlines():
            if "alice" in line:
                nums = re.findall(r"-?\d+\.\d+", line)
                if len(nums) >= 2:
                    return float(nums[0])
        return None

    try:
        daemon = Proc([f"{b}/daemon/earshotd", "--listen", addr, "--floor-plan", "builtin", "--state-dir", state],
                      f"{d}/earshotd.log")
        procs.append(daemon)
        assert wait_for_log(daemon, "listening on")
        bob = Proc([f"{b}/client/earshot", "--server", addr, "--name", "bob", "--at", "11.5,10", "--record",
                    f"{d}/bob.wav", "--seconds", "45", "-v"], f"{d}/bob.log")
        procs.append(bob)
        assert wait_for_log(daemon, "bob joined")
        ha = rig.home("alice", cap)
        env = rig.env(ha)
        env.update(XDG_CONFIG_HOME=f"{d}/config-alice", XDG_RUNTIME_DIR=runtime, TERM="xterm-256color")
        envs = " ".join(f"{k}='{v}'" for k, v in env.items() if k in (
            "HOME", "JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR", "ASAN_OPTIONS",
            "LSAN_OPTIONS", "UBSAN_OPTIONS", "TERM"))
        cmd = (f"env {envs} {b}/client/earshot --server {addr} --name alice --at 10,10 --seconds 50 "
               f"2>{d}/alice.err")
        subprocess.run(["tmux", "-L", sock, "new-session", "-d", "-s", "ui", "-x", "100", "-y", "30", cmd], check=True)
        # the map and alice appear
        end = time.monotonic() + 15
        def map_with_alice(screen):
            # walls drawn from the server's plan (not just "#1" in the status line)
            return "alice" in screen and re.search(r"[#|+]-{3,}|-{3,}\+|\|\.{3,}", screen)
        while time.monotonic() < end and not map_with_alice(pane()):
            time.sleep(0.2)
        screen = pane()
        log("the screen:\n" + "\n".join(screen.splitlines()[:30]))
        if not map_with_alice(screen):
            log("FAIL: the floor map with alice on it did not appear")
            return 1
        wait_for_log(daemon, "alice joined", 10)
        time.sleep(1.0)
        x0 = alice_x()
        keys("Right", "Right", "Right", "Right")
        time.sleep(1.0)
        x1 = alice_x()
        log(f"alice walked east with the arrow key: x {x0} -> {x1} on the server")
        if x0 is None or x1 is None or not (x1 - x0 >= 1.5):
            log("FAIL: the walk key did not move alice on the server:\n" + people())
            ok = False
        keys("Left", "Left", "Left", "Left")  # back next to bob
        time.sleep(3.0)
        t_talk = time.monotonic()
        time.sleep(3.0)
        keys("m")
        t_mute = time.monotonic()
        time.sleep(0.5)
        muted_screen = pane()
        time.sleep(3.0)
        r = subprocess.run([f"{b}/client/earshot", "toggle-mute"], env=dict(os.environ, XDG_RUNTIME_DIR=runtime),
                           capture_output=True, text=True, timeout=10)
        t_unmute = time.monotonic()
        log(f"earshot toggle-mute from another shell: exit {r.returncode}: {r.stdout.strip()}")
        if r.returncode != 0 or "unmuted" not in r.stdout:
            log("FAIL: toggle-mute did not unmute the running client")
            ok = False
        time.sleep(4.0)
        r2 = subprocess.run([f"{b}/client/earshot", "toggle-mute"], env=dict(os.environ, XDG_RUNTIME_DIR=runtime),
                            capture_output=True, text=True, timeout=10)
        t_mute2 = time.monotonic()
        time.sleep(3.5)
        keys("q")
        bob.wait(timeout=60)
        bob_log = bob.log_text()
        if "muted" not in muted_screen.lower():
            log("FAIL: the screen does not say muted after 'm'")
            ok = False
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
        for p in procs:
            p.stop()
        rig.stop()
    t_rec = int(re.search(r"recording starts at monotonic (\d+)", bob_log).group(1)) / 1e9
    _, heard = read_wav_mono(f"{d}/bob.wav")

    def window(t0, t1):
        return rms(heard[int((t0 - t_rec) * RATE):int((t1 - t_rec) * RATE)])
    talking = window(t_talk, t_talk + 2.5)
    muted = window(t_mute + 0.6, t_mute + 3.0)
    unmuted = window(t_unmute + 1.0, t_unmute + 3.5)
    muted2 = window(t_mute2 + 0.6, t_mute2 + 3.0)
    log(f"bob hears alice: talking rms {talking:.4f}; after 'm' {muted:.5f}; after toggle-mute {unmuted:.4f}; "
        f"after toggle-mute again {muted2:.5f}")
    if talking < 0.005 or unmuted < 0.005:
        log("FAIL: bob did not hear alice while she was unmuted")
        ok = False
    if muted > 0.0005 or muted2 > 0.0005:
        log("FAIL: bob still heard alice while she was muted")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
