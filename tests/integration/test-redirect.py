#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A company on two daemons (A and B) holding one key: an admin sends alice
from A to B (`earshotctl redirect`), her client follows at once and sits at
the same place there, where bob hears her; then B is killed and her client
finds A again through its list of addresses, without a backoff between
them; and a redirect that names a place puts her there.  Then a daemon
that hosts nobody (es-probe redirector, holding the company key) answers
carol's handshake with a REDIRECT in place of the WELCOME: she joins A at
the place it named; and one that redirects to itself is followed five
times, then with a backoff.

What is measured, and the bounds:
- the client's own count of the time from a REDIRECT's arrival to its
  connection attempt to the new daemon: 0 ms when followed at once (the
  same call), 125-250 ms or more had it waited the backoff; bound 60 ms;
- from the SIGKILL of B to alice admitted on A: ENet notices the silent
  daemon in 2-4 s (client's peer timeout), then A is tried at once; bound
  8 s (x3 under a sanitizer): A never answering, or a full backoff round
  on a loaded machine, is what it catches."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import (Checks, Client, Daemon, Proc, SKIP, build_dir, free_udp_port, log, read_wav_mono,  # noqa: E402
                   rms, speak, time_scale, wait_for_log, wait_until)

REDIRECT_WAIT_MAX_MS = 60
FAILOVER_S = 8.0

SPEECH = ("Good morning everyone. I am moving to the other daemon of our company now. "
          "Can you still hear me over there? The office goes on talking when one machine moves. "
          "One, two, three, four, five, six, seven, eight, nine, ten.")


def state_dir(base, addr):
    """The state directory eslib's Proc gives a daemon on addr."""
    return os.path.join(base, "state-" + addr.replace(":", "_"))


def joins(daemon, who):
    """(x, y) of each 'WHO joined as #N at X,Y' in the daemon's log, in order."""
    return [(float(x), float(y)) for x, y in
            re.findall(rf"{who} joined as #\d+ at ([-\d.]+),([-\d.]+)", daemon.log_text())]


def main():
    d = tempfile.mkdtemp(prefix="es-redirect-")
    wav = speak(SPEECH, f"{d}/alice.wav")
    if not wav:
        log("SKIP: no speech synthesiser")
        return SKIP
    check = Checks()
    scale = time_scale()
    ctl = os.path.join(build_dir(), "daemon", "earshotctl")
    cl = os.path.join(build_dir(), "client", "earshot")
    addr_a, addr_b = f"127.0.0.1:{free_udp_port()}", f"127.0.0.1:{free_udp_port()}"
    while addr_b == addr_a:
        addr_b = f"127.0.0.1:{free_udp_port()}"
    run_alice = f"{d}/run-alice"
    os.makedirs(run_alice, mode=0o700)  # her own control socket, for `earshot status`
    alice_env = dict(os.environ, XDG_RUNTIME_DIR=run_alice)

    def admin(daemon_addr, *args):
        r = subprocess.run([ctl, "--state-dir", state_dir(d, daemon_addr), *args], capture_output=True, text=True,
                           timeout=10)
        return r.returncode, r.stdout + r.stderr

    def status():
        r = subprocess.run([cl, "status", "--json"], capture_output=True, text=True, timeout=10, env=alice_env)
        try:
            return json.loads(r.stdout)
        except ValueError:
            return {"error": r.stdout + r.stderr}

    with Daemon(d, name="daemon-a", metrics=True, addr=addr_a) as a:
        # one company, one key: B gets A's key before it first starts
        sd_b = state_dir(d, addr_b)
        os.makedirs(sd_b, mode=0o700)
        shutil.copy(os.path.join(state_dir(d, addr_a), "server.key"), os.path.join(sd_b, "server.key"))
        os.chmod(os.path.join(sd_b, "server.key"), 0o600)
        b = Daemon(d, name="daemon-b", metrics=True, addr=addr_b).start()
        try:
            with Client(d, addr_b, "bob", "--record", f"{d}/bob.wav", "--seconds", "60", at="4,4") as bob, \
                 Client(d, addr_a, "alice", "--play", wav, "--seconds", "60", "-v", at="3,4",
                        env=alice_env) as alice:
                # 1. the admin sends alice to B: she sits there where she was on A
                t0 = time.monotonic()
                rc, out = admin(addr_a, "redirect", "alice", f"{addr_b},{addr_a}")
                check(rc == 0 and "alice sent to" in out, f"earshotctl redirect alice {addr_b}: {out.strip()}")
                check(b.wait_log("alice joined as", 10 * scale), "alice joined B")
                log(f"alice admitted on B {1000 * (time.monotonic() - t0):.0f} ms after the admin's command")
                check(joins(b, "alice") == [(3.0, 4.0)], f"B has her at her place on A, 3,4: {joins(b, 'alice')}")
                check("alice (#" in a.log_text() and "redirected to " + addr_b in a.log_text(), "A logs the redirect")
                check(wait_until(lambda: a.metrics().get("earshot_redirects_total") == 1, 5),
                      f"A counts it: earshot_redirects_total {a.metrics().get('earshot_redirects_total')}")
                check(wait_until(lambda: status().get("server") == addr_b, 5), "her client is on B")
                st = status()
                log(f"earshot status --json: {st}")
                check(st.get("servers") == [addr_a, addr_b], f"and knows both daemons, A first: {st.get('servers')}")
                check(st.get("redirects") == 1, f"her client counts one redirect: {st.get('redirects')}")
                wait_ms = st.get("redirect_wait_ms")
                check(wait_ms is not None and wait_ms <= REDIRECT_WAIT_MAX_MS,
                      f"followed at once, no backoff: {wait_ms} ms from the REDIRECT to connecting to B "
                      f"(bound {REDIRECT_WAIT_MAX_MS} ms; a backoff is 125 ms or more)")
                # 2. bob, on B, hears her: she talks on (her file plays while she is joined)
                check(wait_until(lambda: b.metrics().get("earshot_people_talking", 0) >= 1, 10 * scale),
                      "B hears alice talk")
                time.sleep(3.0)  # the listening window measured below, not a wait for an event
                bob.stop()
                _, heard = read_wav_mono(f"{d}/bob.wav")
                windows = [rms(heard[i:i + 48000]) for i in range(0, max(1, len(heard) - 48000), 24000)]
                loudest = max(windows) if windows else 0.0
                check(loudest >= 0.01, f"bob hears her on B: the loudest second has rms {loudest:.4f} (>= 0.01)")

                # 3. B dies: her client tries A next, at once, and A takes her at her place
                t_kill = time.monotonic()
                b.stop(signal.SIGKILL)
                back = wait_until(lambda: len(joins(a, "alice")) >= 2, FAILOVER_S * scale)
                dt = time.monotonic() - t_kill
                check(back, f"after B's SIGKILL alice is admitted on A again {dt:.1f} s later "
                            f"(bound {FAILOVER_S * scale:.0f} s; ENet notices a dead daemon in 2-4 s)")
                check(joins(a, "alice")[-1:] == [(3.0, 4.0)], f"at her place: {joins(a, 'alice')[-1:]}")
                check(f"connecting to {addr_a} now" in alice.log_text(),
                      "her client went from the lost daemon straight to the next address")
                check(wait_until(lambda: status().get("server") == addr_a, 5), "her client says it is on A")

                # 4. a redirect that names a place: she sits there (here A sends her to A itself)
                rc, out = admin(addr_a, "redirect", "alice", addr_a, "1.5,2")
                check(rc == 0, f"earshotctl redirect alice {addr_a} 1.5,2: {out.strip()}")
                check(wait_until(lambda: len(joins(a, "alice")) >= 3, 10 * scale), "alice rejoined A")
                check(joins(a, "alice")[-1:] == [(1.5, 2.0)], f"at the place the redirect named: {joins(a, 'alice')[-1:]}")
                check(wait_until(lambda: a.metrics().get("earshot_redirects_total") == 2, 5), "A counted 2 redirects")
                st = status()
                check(st.get("redirects") == 2 and st.get("x") == 1.5 and st.get("y") == 2.0,
                      f"her client: 2 redirects, at 1.5,2: {st}")
                if not check.ok:
                    log("alice's log:\n" + alice.log_text()[-3000:])
        finally:
            b.stop(signal.SIGKILL)  # killed in step 3 unless a check raised before it

        # 5. a REDIRECT as handshake 2's payload, from a daemon holding the company key
        key_a = os.path.join(state_dir(d, addr_a), "server.key")
        probe = os.path.join(build_dir(), "tests", "es-probe")
        port_r = free_udp_port()
        addr_r = f"127.0.0.1:{port_r}"
        red = Proc([probe, "redirector", str(port_r), key_a, "30", "2.5,4", addr_a], f"{d}/redirector.log")
        port_l = free_udp_port()
        loop = Proc([probe, "redirector", str(port_l), key_a, "30", "1,1", f"127.0.0.1:{port_l}"], f"{d}/loop.log")
        try:
            check(wait_for_log(red, "listening", 10) and wait_for_log(loop, "listening", 10), "the redirectors run")
            with Client(d, addr_r, "carol", "--headless", "-v", join=False) as carol:
                check(a.wait_log("carol joined as", 15 * scale), "carol, sent on by handshake 2, joined A")
                check(carol.wait_log(f"joined {addr_a} as carol", 10 * scale), "her client says it is on A")
                check(joins(a, "carol")[-1:] == [(2.5, 4.0)], f"at the place the REDIRECT named: {joins(a, 'carol')}")
                check("handshake 1 at" in red.log_text(), "the redirector answered her handshake")
            # 6. a daemon that sends dave to itself: followed 5 times at once, then backed off
            with Client(d, f"127.0.0.1:{port_l}", "dave", "--headless", "-v", join=False) as dave:
                check(dave.wait_log("times in a row without being admitted", 10 * scale),
                      "dave's client stops following a loop of redirects at once")
                time.sleep(3.0)  # the window in which the loop's handshakes are counted
                n = len(re.findall(r"handshake \d+ at", loop.log_text()))
                # at once: 5 handshakes; then 0.25, 0.5, 1, 2 s of backoff: about 9 in 3 s; a spin: hundreds
                check(5 <= n <= 20, f"the looping daemon saw {n} handshakes in about 3 s (5 at once, then backoff)")
        finally:
            red.stop()
            loop.stop()

        # 7. an invite naming both daemons: `earshot join` keeps both, the key pinned under the first
        r = subprocess.run([ctl, "--state-dir", state_dir(d, addr_a), "invite", "erin", "--address",
                            f"{addr_a},{addr_b}"], capture_output=True, text=True, timeout=10)
        token = r.stdout.strip()
        check(r.returncode == 0 and token.startswith("es2-"), f"earshotctl invite --address A,B: an es2- code ({token[:12]}...)")
        erin_env = dict(os.environ, XDG_CONFIG_HOME=f"{d}/config-erin", XDG_RUNTIME_DIR=f"{d}/run-erin")
        os.makedirs(f"{d}/run-erin", mode=0o700)
        r = subprocess.run([cl, "join", token], capture_output=True, text=True, timeout=30 * scale, env=erin_env)
        check(r.returncode == 0, f"earshot join: {r.stdout.strip()} {r.stderr.strip()[-300:]}")
        conf = open(f"{d}/config-erin/earshot/earshot.conf").read()
        check(f"server = {addr_a},{addr_b}" in conf, "earshot.conf keeps both daemons: " +
              " ".join(ln for ln in conf.splitlines() if ln.startswith("server")))
        known = open(f"{d}/config-erin/earshot/known_servers").read().split()
        check(known[:1] == [addr_a] and len(known) == 2, f"the key pinned once, under the first: {known[:1]}")
    return 0 if check.ok else 1


if __name__ == "__main__":
    sys.exit(main())
