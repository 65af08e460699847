# SPDX-License-Identifier: MIT
"""The bad-network checks that test-badnet (a userspace relay, on every
kernel) and test-netem (the kernel's netem in a network namespace of the
test's own, where the kernel has sch_netem) run alike, on one daemon:

1. 10 % loss, 40 ms +- 40 ms of delay (which reorders) and 2 % duplication
   on every datagram both ways.  alice's speech must still reach bob: its
   loudness contour correlates with the source at 0.75 or better (measured
   0.85-0.93 here; a clean link gives 0.98), and machine recognition hears
   the sentence (and does not hear it in the recording played backwards).
   The relay also shows it did impair the path (loss, duplicates,
   reordering, delay counted).
2. A clean link that goes away for 5 s: both clients come back by
   themselves and alice's voice reaches bob again."""
import re
import time

from eslib import (  # noqa: E402
    Client, Daemon, build_dir, check_recognised, log, read_wav_mono, rms, speak16, speak_and_hear, time_scale)

SENTENCES = ["please send the quarterly report to finance before noon",
             "the meeting starts at three in room orion",
             "hello bob this is alice",
             "can you hear me now"]
MIN_CORR = 0.75
# netem's words for the impairment; the relay is given the same numbers
IMPAIR = "netem delay 40ms 40ms loss 10% duplicate 2%"
RELAY_IMPAIR = dict(loss=0.10, delay_ms=40, jitter_ms=40, dup=0.02)
CUT_S = 5.0
# After the link returns, a client retries on its backoff (jittered, capped
# at 8 s, at 2-4 s after a 5 s cut) and then shakes hands: bounded with 2 s
# of margin for the handshake, times 3 under a sanitizer.
REJOIN_S = 10.0


class Network:
    """How a test impairs the path: `via(addr)` is the address clients dial
    to reach a daemon at addr, impair(True/False) switches the bad network
    on and off, cut(True/False) drops everything, check() says (ok,
    message) about what the network did.  Subclassed by each test."""
    name = "?"

    def via(self, addr):
        return addr

    def impair(self, on):
        return True

    def cut(self, on):
        return True

    def check(self):
        return True, ""

    def close(self):
        pass


def run(d, net):
    """Both checks through net; 0 if they hold, 1 if not."""
    if not speak16(SENTENCES[0], f"{d}/s0.wav"):
        log("SKIP: flite is not installed")
        return 77
    long_speech = speak16(". ".join(SENTENCES * 3), f"{d}/long.wav")
    ok = True
    rejoin_s = REJOIN_S * time_scale()
    with Daemon(d) as daemon:
        via = net.via(daemon.addr)
        procs = []
        try:
            if not net.impair(True):
                return 1
            heard = speak_and_hear(build_dir(), d, daemon.proc, via, procs, f"{d}/s0.wav", SENTENCES)
        finally:
            for p in procs:
                p.stop()
        if heard is None:
            return 1
        corr, _, st = heard
        log(f"{net.name}: envelope correlation {corr:.3f} (bob concealed {st['concealed']} of "
            f"{st['played'] + st['lost']} frames)")
        if corr < MIN_CORR:
            log(f"FAIL: alice's speech did not come through (correlation {corr:.3f} < {MIN_CORR})")
            ok = False
        rec_ok, msg = check_recognised(f"{d}/bob1.wav", SENTENCES[0], SENTENCES, d)
        log(msg)
        ok = ok and rec_ok is not False
        net_ok, msg = net.check()
        log(msg)
        ok = ok and net_ok
        if not daemon.alive():
            log("FAIL: the daemon died")
            return 1

        # a clean link that goes away for 5 s
        if not net.impair(False):
            return 1
        with Client(d, via, "bob", "--record", f"{d}/bob2.wav", "--seconds", "20", "-v", at="1,0",
                    log_name="bob2") as bob, \
             Client(d, via, "alice", "--play", long_speech, "--seconds", "20", "-v", at="0,0",
                    log_name="alice2") as alice:
            time.sleep(3)  # alice talks to bob over the clean link before it goes
            if not net.cut(True):
                log("FAIL: could not cut the link")
                return 1
            time.sleep(CUT_S)
            net.cut(False)
            t_up = time.monotonic()
            back = {}
            while time.monotonic() < t_up + rejoin_s and len(back) < 2:
                for who, c in (("bob", bob), ("alice", alice)):
                    if who not in back and c.log_text().count(f"joined {via} as ") >= 2:
                        back[who] = time.monotonic()
                time.sleep(0.05)
            for who in ("bob", "alice"):
                if who in back:
                    log(f"{who} rejoined by itself {back[who] - t_up:.1f} s after the link returned")
                else:
                    log(f"FAIL: {who} did not come back within {rejoin_s:.0f} s after the 5 s cut")
                    ok = False
            # bounds the clients' own ends: --seconds 20 from their start, a second to exit
            bob.wait(timeout=30)
            alice.wait(timeout=30)
            t_rec = int(re.search(r"recording starts at monotonic (\d+)", bob.log_text()).group(1)) / 1e9
        if not daemon.alive():
            log("FAIL: the daemon died")
            ok = False
    rate, rec = read_wav_mono(f"{d}/bob2.wav")
    # bob's recording runs on his clock from t_rec: listen from half a second
    # after both were back (or the last 4 s) to its end
    t0 = max(back.values()) + 0.5 - t_rec if len(back) == 2 else len(rec) / rate - 4
    after = rec[int(t0 * rate):]
    if len(after) < rate:
        log(f"FAIL: less than 1 s of bob's recording is left after the rejoin ({len(after) / rate:.1f} s)")
        return 1
    log(f"bob hears alice after the cut: rms {rms(after):.4f} over {len(after) / rate:.1f} s")
    if rms(after) < 0.01:
        log("FAIL: alice's voice did not reach bob again after the cut")
        ok = False
    return 0 if ok else 1
