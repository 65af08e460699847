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
from eslib import BadNetwork, Proc, SKIP, build_dir, free_udp_port, log, speak16, wait_for_log  # noqa: E402

LOSS = 0.15


def fec_lines(text):
    return [(float(a), int(b)) for a, b in re.findall(r"uplink loss ([\d.]+) % over \d+ frames: FEC for (\d+) %", text)]


def poll_until(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


def main():
    b = build_dir()
    d = tempfile.mkdtemp(prefix="es-fec-")
    text = ("please send the quarterly report to finance before noon. the meeting starts at three in room orion. "
            "hello bob this is alice. can you hear me now. ") * 5
    speech = speak16(text, f"{d}/talk.wav")
    if not speech:
        log("SKIP: flite is not installed")
        return SKIP
    cl = f"{b}/client/earshot"
    port = free_udp_port()
    net = BadNetwork(port)
    via = f"127.0.0.1:{net.port}"
    procs = []
    ok = True
    try:
        daemon = Proc([f"{b}/daemon/earshotd", "--listen", f"127.0.0.1:{port}"], f"{d}/earshotd.log")
        procs.append(daemon)
        assert wait_for_log(daemon, "listening on")
        bob = Proc([cl, "--server", via, "--name", "bob", "--at", "1,0", "--record", f"{d}/bob.wav",
                    "--seconds", "45", "-v"], f"{d}/bob.log")
        procs.append(bob)
        if not wait_for_log(daemon, "bob joined", 15):
            log("FAIL: bob did not join:\n" + bob.log_text())
            return 1
        alice = Proc([cl, "--server", via, "--name", "alice", "--at", "0,0", "--play", speech, "--seconds", "45",
                      "-v"], f"{d}/alice.log")
        procs.append(alice)
        # clean: FEC starts at 10 % and must come down to 0 on the server's word
        if not poll_until(lambda: any(f == 0 for _, f in fec_lines(alice.log_text())), 25):
            log("FAIL: on a clean link alice's FEC did not go to 0 %:\n" + alice.log_text())
            return 1
        clean = fec_lines(alice.log_text())
        log(f"clean link: reports {clean}")
        net.loss = LOSS
        t0 = time.monotonic()
        if not poll_until(lambda: any(f >= 10 for _, f in fec_lines(alice.log_text())[len(clean):]), 12):
            log(f"FAIL: with {LOSS:.0%} loss alice's FEC did not rise to 10 % or more:\n" + alice.log_text())
            return 1
        lossy = fec_lines(alice.log_text())[len(clean):]
        log(f"{LOSS:.0%} loss: FEC raised {time.monotonic() - t0:.1f} s after the loss began, reports {lossy}")
        m = max(l for l, _ in lossy)
        if not 8.0 <= m <= 25.0:
            log(f"FAIL: the server measured {m} % uplink loss with {LOSS:.0%} dropped")
            ok = False
    finally:
        for p in procs:
            p.stop()
        net.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
