#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A bad network between the clients and the daemon, through a userspace
relay (this kernel may have no netem): 10 % loss, 40 ms of jitter (which
reorders) and 2 % duplication, both ways.  alice's speech must still reach
bob: its loudness contour correlates with the source at 0.75 or better
(measured 0.85-0.93 here; a clean link gives 0.98), and machine
recognition of it is reported.  Then the link is cut for 5 s: both clients
come back by themselves and alice's voice reaches bob again."""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import *  # noqa: E402,F403

SENTENCES = ["please send the quarterly report to finance before noon",
             "the meeting starts at three in room orion",
             "hello bob this is alice",
             "can you hear me now"]
MIN_CORR = 0.75


def main():
    b = build_dir()
    d = tempfile.mkdtemp(prefix="es-badnet-")
    if not speak16(SENTENCES[0], f"{d}/s0.wav"):
        log("SKIP: flite is not installed")
        return SKIP
    cl = f"{b}/client/earshot"
    procs = []
    ok = True
    port = free_udp_port()
    net = BadNetwork(port, loss=0.10, delay_ms=40, jitter_ms=40, dup=0.02)
    via = f"127.0.0.1:{net.port}"
    try:
        daemon = Proc([f"{b}/daemon/earshotd", "--listen", f"127.0.0.1:{port}"], f"{d}/earshotd.log")
        procs.append(daemon)
        assert wait_for_log(daemon, "listening on")
        heard = speak_and_hear(b, d, daemon, via, procs, f"{d}/s0.wav", SENTENCES)
        if heard is None:
            return 1
        corr, heard, st = heard
        log(f"10 % loss, 40 ms jitter, 2 % duplication: envelope correlation {corr:.3f}; recognised: '{heard}' "
            f"(relay dropped {net.dropped} of {net.dropped + net.sent} datagrams; bob concealed {st['concealed']} "
            f"of {st['played'] + st['lost']} frames)")
        if corr < MIN_CORR:
            log(f"FAIL: alice's speech did not come through (correlation {corr:.3f} < {MIN_CORR})")
            ok = False
        if daemon.p.poll() is not None:
            log("FAIL: the daemon died")
            return 1
    finally:
        for p in procs:
            p.stop()
        net.close()

    # a clean link that goes away for 5 s
    procs = []
    port = free_udp_port()
    net = BadNetwork(port)
    via = f"127.0.0.1:{net.port}"
    long_speech = speak16(". ".join(SENTENCES * 3), f"{d}/long.wav")
    try:
        daemon = Proc([f"{b}/daemon/earshotd", "--listen", f"127.0.0.1:{port}"], f"{d}/earshotd2.log")
        procs.append(daemon)
        assert wait_for_log(daemon, "listening on")
        bob = Proc([cl, "--server", via, "--name", "bob", "--at", "1,0", "--record", f"{d}/bob2.wav",
                    "--seconds", "20", "-v"], f"{d}/bob2.log")
        alice = Proc([cl, "--server", via, "--name", "alice", "--at", "0,0", "--play", long_speech,
                      "--seconds", "20", "-v"], f"{d}/alice2.log")
        procs += [bob, alice]
        t_start = time.monotonic()
        wait_for_log(bob, "joined ", 10)
        wait_for_log(alice, "joined ", 10)
        time.sleep(3)
        net.cut = True
        t_cut = time.monotonic()
        time.sleep(5)
        net.cut = False
        t_up = time.monotonic()
        back = {}
        end = t_up + 10
        while time.monotonic() < end and len(back) < 2:
            for who, p in (("bob", bob), ("alice", alice)):
                if who not in back and p.log_text().count("joined ") >= 2:
                    back[who] = time.monotonic() - t_up
            time.sleep(0.05)
        for who in ("bob", "alice"):
            if who in back:
                log(f"{who} rejoined by itself {back[who]:.1f} s after the link returned")
            else:
                log(f"FAIL: {who} did not come back after the 5 s cut")
                ok = False
        bob.wait(timeout=30)
        alice.wait(timeout=30)
    finally:
        for p in procs:
            p.stop()
        net.close()
    rate, rec = read_wav_mono(f"{d}/bob2.wav")
    # bob's recording runs on his clock from his start: look at the last 4 s
    tail = rec[-4 * rate:]
    during = rec[int((t_cut - t_start + 1.5) * rate):int((t_cut - t_start + 4.5) * rate)]
    log(f"bob hears alice: rms {rms(during):.4f} during the cut, {rms(tail):.4f} at the end")
    if rms(tail) < 0.01:
        log("FAIL: alice's voice did not reach bob again after the cut")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
