#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""SIGHUP during a conversation: alice talks to bob for 6 s while the daemon
reloads its configuration five times.  bob must receive at least 99 % of
alice's frames as bundles, no fewer than in a run without reloads (in the
same test, as the baseline) less 1 %, and nobody is dropped."""
import array
import math
import os
import re
import signal
import sys
import tempfile
import time
import wave

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import Proc, build_dir, free_udp_port, log, wait_for_log, time_scale, wait_until  # noqa: E402

TALK_S = 6
RELOADS = 5


def tone(path, seconds):
    """A warbling 440 Hz tone, loud enough to never count as silence."""
    rate = 48000
    a = array.array("h", (int(12000 * math.sin(2 * math.pi * (440 + 40 * math.sin(2 * math.pi * 3 * i / rate)) * i / rate))
                          for i in range(int(seconds * rate))))
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(a.tobytes())


def stats(text):
    m = re.search(r"sent (\d+) frames .* bundles (\d+) played (\d+) lost (\d+) concealed (\d+)", text)
    return {k: int(v) for k, v in zip(("sent", "bundles", "played", "lost", "concealed"), m.groups())} if m else None


def conversation(b, d, tag, reload):
    conf = os.path.join(d, f"{tag}.conf")
    with open(conf, "w") as f:
        f.write("[log]\nlevel = info\n")
    addr = f"127.0.0.1:{free_udp_port()}"
    cl = f"{b}/client/earshot"
    daemon = Proc([f"{b}/daemon/earshotd", "--config", conf, "--listen", addr, "--state-dir", f"{d}/{tag}-state",
                   "--metrics-listen="], f"{d}/{tag}-earshotd.log")
    procs = [daemon]
    try:
        if not wait_for_log(daemon, "listening on"):
            log(daemon.log_text())
            return None
        bob = Proc([cl, "--server", addr, "--name", "bob", "--at", "11.5,10", "--record", f"{d}/{tag}-bob.wav",
                    "--seconds", str(TALK_S + 3), "-v"], f"{d}/{tag}-bob.log")
        procs.append(bob)
        if not wait_for_log(daemon, "bob joined"):
            log(bob.log_text())
            return None
        alice = Proc([cl, "--server", addr, "--name", "alice", "--at", "10,10", "--play", f"{d}/tone.wav",
                      "--record", f"{d}/{tag}-alice.wav", "--seconds", str(TALK_S + 1), "-v"], f"{d}/{tag}-alice.log")
        procs.append(alice)
        if not wait_for_log(daemon, "alice joined"):
            log(alice.log_text())
            return None
        if reload:
            time.sleep(1.0)
            for i in range(RELOADS):
                # a real change each time: the level flips between info and debug
                with open(conf, "w") as f:
                    f.write("[log]\nlevel = %s\n" % ("debug" if i % 2 == 0 else "info"))
                daemon.p.send_signal(signal.SIGHUP)
                # two SIGHUPs pending at once are one signal: wait for this
                # reload's line (at most 10 s) before the next, then space
                # the reloads over the talk
                wait_until(lambda: daemon.log_text().count("reloaded ") >= i + 1, 10 * time_scale())
                time.sleep(0.7)
        for p in (alice, bob):
            if p.wait(timeout=TALK_S + 15) != 0:
                log(f"client failed:\n{p.log_text()}")
                return None
        text = daemon.log_text()
        reloads = text.count("reloaded ")
        if reload and reloads != RELOADS:
            log(f"FAIL: {reloads} reloads logged, expected {RELOADS}:\n{text}")
            return None
        if "bob left" in text.split("alice left")[0]:
            log("FAIL: bob was dropped during the conversation")
            return None
        return stats(alice.log_text()), stats(bob.log_text())
    finally:
        for p in procs:
            p.stop()


def main():
    b = build_dir()
    d = tempfile.mkdtemp(prefix="es-sighup-")
    tone(os.path.join(d, "tone.wav"), TALK_S)
    base = conversation(b, d, "base", reload=False)
    hup = conversation(b, d, "hup", reload=True)
    if not base or not hup or None in base or None in hup:
        log("FAIL: a conversation did not complete")
        return 1
    (a0, b0), (a1, b1) = base, hup
    r0 = b0["bundles"] / a0["sent"]
    r1 = b1["bundles"] / a1["sent"]
    log(f"without reloads: alice sent {a0['sent']}, bob got {b0['bundles']} bundles ({100 * r0:.1f} %), "
        f"lost {b0['lost']}, concealed {b0['concealed']}")
    log(f"with {RELOADS} reloads: alice sent {a1['sent']}, bob got {b1['bundles']} bundles ({100 * r1:.1f} %), "
        f"lost {b1['lost']}, concealed {b1['concealed']}")
    ok = True
    if r1 < 0.99:
        log("FAIL: more than 1 % of alice's frames did not reach bob during the reloads")
        ok = False
    if r1 < r0 - 0.01:
        log("FAIL: the reloads cost more than 1 % of the frames")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
