#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""In-band FEC follows the uplink loss the server measures: alice talks
through a relay (eslib.BadNetwork).  On a clean link the server's reports
(ES_MSG_LINK) say 0 % and her encoder drops FEC to 0 %; when the relay
starts losing 15 % both ways, the reports say so within a few seconds and
her FEC goes to at least 10 %.  Her status on the control socket shows both."""
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import BadNetwork, Client, Daemon, SKIP, log, speak16, wait_until  # noqa: E402

LOSS = 0.15


def fec_lines(text):
    return [(float(a), int(b)) for a, b in re.findall(r"uplink loss ([\d.]+) % over \d+ frames: FEC for (\d+) %", text)]


def main():
    d = tempfile.mkdtemp(prefix="es-fec-")
    text = ("please send the quarterly report to finance before noon. the meeting starts at three in room orion. "
            "hello bob this is alice. can you hear me now. ") * 5
    speech = speak16(text, f"{d}/talk.wav")
    if not speech:
        log("SKIP: flite is not installed")
        return SKIP
    ok = True
    with Daemon(d) as daemon:
        net = BadNetwork(int(daemon.addr.rsplit(":", 1)[1]))
        via = f"127.0.0.1:{net.port}"
        try:
            with Client(d, via, "bob", "--record", f"{d}/bob.wav", "--seconds", "45", "-v", at="1,0"), \
                 Client(d, via, "alice", "--play", speech, "--seconds", "45", "-v", at="0,0", join=False) as alice:
                # clean: FEC starts at 10 % and must come down to 0 on the server's word.  A report
                # every 100 frames (2 s of real time, whatever the build), 10 -> 5 -> 3 -> 2 -> 1 -> 0:
                # about 12 s after joining; bounded at 25 s
                if not wait_until(lambda: any(f == 0 for _, f in fec_lines(alice.log_text())), 25, 0.1):
                    log("FAIL: on a clean link alice's FEC did not go to 0 %:\n" + alice.log_text())
                    return 1
                clean = fec_lines(alice.log_text())
                log(f"clean link: reports {clean}")
                net.loss = LOSS
                t0 = time.monotonic()
                # the next report or the one after (2-4 s) carries the loss; bounded at 12 s
                if not wait_until(lambda: any(f >= 10 for _, f in fec_lines(alice.log_text())[len(clean):]), 12, 0.1):
                    log(f"FAIL: with {LOSS:.0%} loss alice's FEC did not rise to 10 % or more:\n" + alice.log_text())
                    return 1
                lossy = fec_lines(alice.log_text())[len(clean):]
                log(f"{LOSS:.0%} loss: FEC raised {time.monotonic() - t0:.1f} s after the loss began, reports {lossy}")
                m = max(l for l, _ in lossy)
                if not 8.0 <= m <= 25.0:
                    log(f"FAIL: the server measured {m} % uplink loss with {LOSS:.0%} dropped")
                    ok = False
        finally:
            net.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
