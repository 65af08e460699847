#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Both ears, through the real daemon and client.  alice speaks (flite) at
0,0.  bob sits 1.5 m to her west and carol 1.5 m to her east, both facing
so that alice is on their right: bob is a normal client (alice's voice is
forwarded and his client renders it), carol asks for a thin link (the
daemon renders alice into carol's stereo mix and encodes it).  Each ear's
level over the speech is measured in both recordings: the far (left) ear
must hear alice, 6-12 dB below the near one, and the forwarded and the
mixed voice must sound the same (within 1.5 dB)."""
import math
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import Client, Daemon, SKIP, envelope, log, read_wav_stereo, speak  # noqa: E402

SECONDS = 9
# what "a voice at your side" may do to the far ear (the window)
ILD_MIN, ILD_MAX = 6.0, 12.0
# forwarded (Opus mono, rendered by the client) and mixed (rendered by the
# daemon, then Opus stereo at the thin link's 32 kbit/s) must agree this well
SAME_DB = 1.5


def ear_levels(path):
    """(left dB, right dB, seconds used): each ear's RMS over the 10 ms hops
    where the louder ear is within 30 dB of its loudest hop (the speech,
    not the silence around it)."""
    rate, left, right = read_wav_stereo(path)
    el, er = envelope(left, rate), envelope(right, rate)
    top = max(max(el, default=0.0), max(er, default=0.0))
    if top <= 0.0:
        return None
    keep = [i for i in range(len(el)) if max(el[i], er[i]) > top * 10 ** (-30 / 20)]
    pl = sum(el[i] ** 2 for i in keep) / len(keep)
    pr = sum(er[i] ** 2 for i in keep) / len(keep)
    return 10 * math.log10(pl + 1e-30), 10 * math.log10(pr + 1e-30), len(keep) / 100.0


def main():
    d = tempfile.mkdtemp(prefix="es-ears-")
    speech = speak("Hello Bob, this is Alice at your side. The quarterly report is ready. "
                   "Please come over to my desk when you have a moment.", os.path.join(d, "alice.wav"))
    if not speech:
        log("SKIP: neither flite nor espeak-ng is installed")
        return SKIP
    # bob faces north: alice (east of him) is on his right; carol faces south: alice (west) on hers
    with Daemon(d, metrics=True) as daemon, \
         Client(d, daemon.addr, "bob", "--facing", "0", "--record", f"{d}/bob.wav", "--seconds", str(SECONDS),
                "-v", at="-1.5,0") as bob, \
         Client(d, daemon.addr, "carol", "--facing", "180", "--thin", "--record", f"{d}/carol.wav",
                "--seconds", str(SECONDS), "-v", at="1.5,0") as carol:
        with Client(d, daemon.addr, "alice", "--play", speech, "--seconds", str(SECONDS - 2), "-v", at="0,0",
                    join=False) as alice:
            for c in (alice, bob, carol):
                rc = c.wait(timeout=SECONDS + 15)  # bounds the client's own end: --seconds, then exiting
                if rc != 0:
                    log(f"client {c.name} exited {rc}:\n{c.log_text()}")
                    return 1
        work = daemon.metrics()

    ok = True
    # carol's copy was the daemon's own rendering: a mix, one stream of her own
    mixes = work.get('earshot_engine_work_total{kind="listeners_mix"}', 0)
    personal = work.get('earshot_engine_work_total{kind="streams_personal"}', 0)
    log(f"daemon: {mixes:.0f} listener-ticks on a mix, {personal:.0f} personal stream-ticks")
    if mixes < 100 or personal < 100:
        log("FAIL: the daemon did not mix for the thin listener")
        ok = False
    ild, ears = {}, {}
    for who in ("bob", "carol"):
        lv = ear_levels(f"{d}/{who}.wav")
        if not lv:
            log(f"FAIL: {who} heard nothing")
            ok = False
            continue
        left, right, secs = lv
        ild[who] = right - left
        ears[who] = (left, right)
        how = "forwarded, rendered by the client" if who == "bob" else "mixed by the daemon (thin link)"
        log(f"{who} ({how}): left (far) {left:.2f} dB, right (near) {right:.2f} dB, "
            f"far ear {ild[who]:.2f} dB lower, over {secs:.1f} s of speech")
        if secs < 2.0:
            log(f"FAIL: {who} heard only {secs:.1f} s of alice")
            ok = False
        if not (ILD_MIN <= ild[who] <= ILD_MAX):
            log(f"FAIL: {who}: the far ear is {ild[who]:.2f} dB below the near one, not {ILD_MIN}-{ILD_MAX}")
            ok = False
    if len(ild) == 2:
        # each ear, and so the difference between them
        diff = max(abs(ears["bob"][0] - ears["carol"][0]), abs(ears["bob"][1] - ears["carol"][1]),
                   abs(ild["bob"] - ild["carol"]))
        log(f"forwarded vs mixed: at most {diff:.2f} dB apart (left, right, and far ear below near)")
        if diff > SAME_DB:
            log(f"FAIL: a forwarded voice and a mixed one do not sound the same ({diff:.2f} dB > {SAME_DB})")
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
