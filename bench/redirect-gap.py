#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The silence a redirect costs a listener: two daemons holding one key on
loopback, carol (a tone that changes pitch every 0.5 s) and dave (recording)
on the first; an admin's `redirect` sends both to the second, as a drain
does.  Prints dave's longest silence around the redirect, and the longest
in as long a window where nothing happens (the baseline of this run), and
dave's playout counters.  Runs N rounds (default 5).

    python3 bench/redirect-gap.py [ROUNDS]       (EARSHOT_BUILD: the build dir, default ./build)"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "integration"))
os.environ.setdefault("EARSHOT_BUILD", os.path.join(here, "..", "build"))
from eslib import Daemon, Proc, build_dir, envelope, read_wav_mono, wait_for_log  # noqa: E402


def longest_silence(env, i0, i1, med):
    run = best = 0
    for v in env[max(0, i0):i1]:
        run = run + 1 if v < med * 0.1 else 0
        best = max(best, run)
    return best * 10


def one_round(d):
    def env(n):
        e = dict(os.environ, XDG_RUNTIME_DIR=f"{d}/run-{n}", XDG_CONFIG_HOME=f"{d}/config-{n}")
        os.makedirs(e["XDG_RUNTIME_DIR"], mode=0o700, exist_ok=True)
        return e
    os.makedirs(f"{d}/sa", mode=0o700)
    os.makedirs(f"{d}/sb", mode=0o700)
    a = Daemon(d, "--state-dir", f"{d}/sa", name="A").start()
    shutil.copy(f"{d}/sa/server.key", f"{d}/sb/server.key")
    os.chmod(f"{d}/sb/server.key", 0o600)
    b = Daemon(d, "--state-dir", f"{d}/sb", name="B").start()
    cl = f"{build_dir()}/client/earshot"
    srv = f"{a.addr},{b.addr}"
    dave = Proc([cl, "--server", srv, "--name", "dave", "--headless", "--record", f"{d}/dave.wav", "--seconds", "12",
                 "--at", "1,0", "-v"], f"{d}/dave.log", env=env("dave"))
    t0 = time.time()
    wait_for_log(dave, "joined", 10)
    carol = Proc([cl, "--server", srv, "--name", "carol", "--headless", "--play", f"{d}/warble.wav", "--seconds", "12",
                  "--at", "0,0", "-v"], f"{d}/carol.log", env=env("carol"))
    wait_for_log(carol, "joined", 10)
    time.sleep(5)
    tr = time.time()
    for who in ("carol", "dave"):
        subprocess.run([f"{build_dir()}/daemon/earshotctl", "--state-dir", f"{d}/sa", "redirect", who, b.addr],
                       capture_output=True, timeout=10)
    dave.wait(30)
    carol.wait(30)
    a.stop()
    b.stop()
    rate, x = read_wav_mono(f"{d}/dave.wav")
    e = envelope(x, rate, 10)
    med = sorted(e)[len(e) // 2]
    i = int((tr - t0) * 100)
    gap = longest_silence(e, i - 50, i + 150, med)
    calm = longest_silence(e, i - 250, i - 50, med)
    stats = [ln for ln in open(f"{d}/dave.log").read().splitlines() if "bundles" in ln]
    return gap, calm, stats[-1].split("), ")[-1] if stats else ""


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    base = tempfile.mkdtemp(prefix="es-redirect-gap-")
    parts = []
    for hz in (440, 620, 500, 700):
        parts.append(f"{base}/t{hz}.wav")
        subprocess.run(["sox", "-n", "-r", "48000", "-c", "1", "-b", "16", parts[-1], "synth", "0.5", "sine", str(hz),
                        "vol", "0.3"], check=True)
    subprocess.run(["sox"] + parts + [f"{base}/cycle.wav"], check=True)
    subprocess.run(["sox", f"{base}/cycle.wav", f"{base}/warble.wav", "repeat", "15"], check=True)
    gaps, calms = [], []
    for r in range(rounds):
        d = f"{base}/r{r}"
        os.makedirs(d)
        shutil.copy(f"{base}/warble.wav", d)
        gap, calm, stats = one_round(d)
        gaps.append(gap)
        calms.append(calm)
        print(f"round {r + 1}: longest silence around the redirect {gap} ms, in 2 s before it {calm} ms; dave {stats}",
              flush=True)
    print(f"redirect: longest silence median {sorted(gaps)[len(gaps) // 2]} ms, max {max(gaps)} ms; "
          f"baseline (nothing happens) median {sorted(calms)[len(calms) // 2]} ms, max {max(calms)} ms")
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
