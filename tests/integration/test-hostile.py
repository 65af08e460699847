#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Issue 15, "a hostile internet": each attack against one real daemon on
loopback (es-probe is the attacker), and what must hold afterwards.

  1 fragments: ENet fragment commands announcing huge packets, or a fresh
    packet each, before and after the handshake: the daemon grows by less
    than 16 MiB and counts what it refused (reason="fragment").
  2 spoofed resets: forged with alice's own address and port, CONNECTs
    with a bad cookie and pings to other slots, and reset-shaped datagrams
    forged from the daemon's address: alice's session goes on.  A reset is
    never larger than what caused it (a 4-byte datagram draws nothing).
  3 address lock-out: thousands of cookie requests a second from alice's
    address (127.0.0.1): carol, on that address, still joins at once.
  4 colliding addresses: handshakes alternating between 127.0.0.143 and
    127.0.13.1 (one slot of the old unkeyed table) are still rate-limited.
  6 costly requests: a member asks for the floor plan 20,000 times and
    changes a door 2,000 times (and moves, mutes, knocks, whispers and
    turns volumes 2,000 times each): one plan comes back, every kind of
    refusal is counted, the log does not fill, the daemon does not grow.
  7 names: C1 controls, invalid UTF-8 and bidi overrides are refused;
    nothing raw reaches earshotctl or the log.
  9 who talks behind a closed door: alice talks inside Orion; once an
    admin closes it, a watcher outside sees her only "in a meeting",
    never talking; one inside still sees her talk.
Items 10-12 (the client's trust, key files) are in test-hostile-client.py.
Every check runs even when one before it failed, and says which item."""
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import (  # noqa: E402
    Proc, build_dir, free_tcp_port, free_udp_port, is_asan, log, metrics, proc_rss_kib, speak, wait_for_log)

# 26 x 8 cells of 0.5 m: eight desks, the meeting room Orion (door at
# 9.25,2.25, west wall), open space to the south.  Row r is y = (7.5 - r) / 2.
PLAN = """earshot-floor 1
name "Hostile test office"
scale 0.5
door-loss 10
grid
+-----------------+------+
|.................|.M....|
|..o..o..o..o.....|......|
|..==========...../......|
|..o..o..o..o.....|......|
|.................+------+
|........................|
+------------------------+
end
room M "Orion" meeting
desks A 2 2 13 4
"""
# doors far more generous than the default, so that the log's own limit shows (item 6)
DOORS = "50/s burst 100"
IN_ORION = "10.75,2.75"
IN_ORION_TOO = "11.75,3.25"
OUTSIDE = "2.75,0.75"
# An attack that makes the daemon keep what it is sent grows it by hundreds
# of MiB; a sanitized daemon's RSS also carries ASan's quarantine of freed
# blocks and their shadow (item 6 measured 16.4 MiB under ASan, a loaded
# machine): twice the budget there.
RSS_BUDGET_KIB = 16 * 1024 * (2 if is_asan(os.path.join(build_dir(), "daemon", "earshotd")) else 1)
TEXT = ("Let us go through the quarterly numbers one region at a time, starting with the north, "
        "where sales grew by almost a third since the spring.") * 2

ok = True


def check(cond, what):
    global ok
    log(("ok:   " if cond else "FAIL: ") + what)
    ok &= bool(cond)
    return cond


def probe(b, *args, timeout=60):
    r = subprocess.run([f"{b}/tests/es-probe", *args], capture_output=True, text=True, timeout=timeout)
    out = r.stdout.strip()
    if out and not args[0] == "watch":
        log(out)
    if r.returncode not in (0, 77):
        log(f"es-probe {args[0]} exit {r.returncode}: {r.stderr.strip()}")
    return r.returncode, r.stdout


def udp_port_of(pid):
    """The local port of the (one) UDP socket a process holds, or None."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            t = os.readlink(f"/proc/{pid}/fd/{fd}")
            if t.startswith("socket:["):
                inodes.add(t[8:-1])
        with open(f"/proc/{pid}/net/udp") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[9] in inodes:
                    return int(fields[1].split(":")[1], 16)
    except OSError:
        pass
    return None


def delta(before, after, key):
    return after.get(key, 0) - before.get(key, 0)


def fragments(b, addr, maddr, daemon):
    before = metrics(maddr)
    rss0 = proc_rss_kib(daemon.p.pid)
    grown, dgrams = 0, 0
    for args in (["huge", "8", "8192"], ["fresh", "8", "20000"], ["fresh", "8", "20000", "authed"],
                 ["huge", "2", "8192", "authed"], ["ahead", "8", "20000"], ["ahead", "8", "20000", "authed"],
                 ["unreliable", "4", "20000", "authed"]):
        rc, out = probe(b, "fragments", addr, *args)
        m = re.search(r"in (\d+) datagrams", out)
        dgrams += int(m.group(1)) if m else 0
        time.sleep(0.5)
        grown = max(grown, proc_rss_kib(daemon.p.pid) - rss0)
    after = metrics(maddr)
    refused = delta(before, after, 'earshot_packets_dropped_total{reason="fragment"}') + \
        delta(before, after, 'earshot_packets_dropped_total{reason="enet_command"}')
    check(grown < RSS_BUDGET_KIB, f"1: the daemon grew by {grown / 1024:.1f} MiB under the fragment attacks "
          f"(under {RSS_BUDGET_KIB // 1024} MiB)")
    # each datagram leads with a command that is refused before ENet sees it
    check(refused >= dgrams * 0.5, f"1: {refused:.0f} of {dgrams} attacking datagrams counted as refused "
          "(fragment, enet_command)")


def resets(b, addr, daemon, alice):
    port = udp_port_of(alice.p.pid)
    if not check(port is not None, f"2: alice's UDP port found ({port})"):
        return
    joins = daemon.log_text().count("alice joined")
    rc, out = probe(b, "spoof", addr, f"127.0.0.1:{port}", "3")
    if rc == 77:
        log("SKIP 2: raw sockets need root")
        return
    time.sleep(0.5)
    text = daemon.log_text()
    check(text.count("alice joined") == joins and "alice left" not in text,
          "2: alice's session survived 60 forged connects, pings and resets (she neither left nor rejoined)")
    check("restarted" not in alice.log_text(), "2: alice's client never took a forged reset for a restart")
    rc, out = probe(b, "smallreset", addr)
    m = re.search(r"4-byte datagram drew (-?\d+) bytes, an 8-byte one (-?\d+)", out)
    check(m and int(m.group(1)) == 0, "2: a 4-byte datagram for nobody's slot draws no reset")
    check(m and 0 < int(m.group(2)) <= 8, "2: an 8-byte one draws a reset of at most 8 bytes")
    m = re.search(r"bad cookie drew (-?\d+) bytes", out)
    check(m and int(m.group(1)) == 0, "2: a CONNECT with a bad cookie draws nothing (no reset to aim at anyone)")
    m = re.search(r"other session drew (\d+) resets", out)
    check(m and int(m.group(1)) == 1, "2: a datagram for a member's slot but another session of it draws a reset")


def lockout(b, addr, daemon, d):
    flood = Proc([f"{b}/tests/es-probe", "cookies", addr, "5", "5000"], f"{d}/cookies.log")
    try:
        time.sleep(1.0)
        t0 = time.monotonic()
        carol = Proc([f"{b}/client/earshot", "--server", addr, "--name", "carol", "--at", "3,1", "--headless",
                      "--seconds", "3", "-v"], f"{d}/carol.log")
        joined = wait_for_log(daemon, "carol joined", 4)
        t = time.monotonic() - t0
        carol.wait(timeout=10)
        flood.wait(timeout=15)
        log(flood.log_text().strip())
    finally:
        flood.stop()
    check(joined and t < 3.0, f"3: carol joined from the flooded address in {t:.2f} s (under 3 s)")


def collisions(b, addr):
    rc, out = probe(b, "handshakes", addr, "127.0.0.143", "127.0.13.1", "240", "30", timeout=120)
    m = re.findall(r"(\d+) refused for rate", out)
    rate = sum(int(x) for x in m) if len(m) == 2 else 0
    # each address may start 60 at once and 20 a second: 480 attempts within a few seconds (0.6 s
    # on a quiet machine) cannot all pass; with the old table's refill on collision they did
    check(rate >= 20, f"4: {rate} of 480 handshakes alternating between two colliding addresses refused for rate")


def requests(b, addr, maddr, daemon):
    before = metrics(maddr)
    rss0 = proc_rss_kib(daemon.p.pid)
    lines0 = daemon.log_text().count(" a door of ")
    rc, out = probe(b, "requests", addr, timeout=120)
    time.sleep(0.5)
    after = metrics(maddr)
    grown = proc_rss_kib(daemon.p.pid) - rss0
    m = re.search(r"(\d+) bytes of floor plan \(the plan is (\d+) bytes\)", out)
    check(m and int(m.group(1)) <= int(m.group(2)),
          f"6: the floor plan came back at most once for 20,000 requests ({m.group(1) if m else '?'} bytes)")
    for kind in ("floor_get", "move", "state", "door", "knock", "whisper", "volume"):
        n = delta(before, after, f'earshot_requests_refused_total{{kind="{kind}"}}')
        check(n > 0, f"6: {kind} requests over the budget refused and counted ({n:.0f})")
    lines = daemon.log_text().count(" a door of ") - lines0
    # this daemon's door budget (DOORS) lets hundreds of changes through: the log still takes a few
    check(lines <= 20, f"6: {lines} log lines for 2,000 door changes")
    check(grown < RSS_BUDGET_KIB, f"6: the daemon grew by {grown / 1024:.1f} MiB")


C1_OR_ESC = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xa8-\xae]|\xe2\x81[\xa6-\xa9]|\xff|\xc0")


def names(b, addr, state, daemon):
    rc, out = probe(b, "names", addr)
    m = re.search(r"(\d+) bad names joined", out)
    check(m and int(m.group(1)) == 0, f"7: no name with C1 controls, invalid UTF-8 or bidi overrides joined "
          f"({m.group(1) if m else '?'} did)")
    check("a good non-ASCII name: joined" in out, "7: a good non-ASCII name still joins")
    for cmd in ("people", "enrolled"):
        r = subprocess.run([f"{b}/daemon/earshotctl", "--state-dir", state, cmd], capture_output=True, timeout=10)
        raw = C1_OR_ESC.search(r.stdout + r.stderr)
        check(r.returncode == 0 and not raw, f"7: earshotctl {cmd} prints no raw control bytes"
              + (f" (found {raw.group(0)!r})" if raw else ""))
    with open(daemon.logpath, "rb") as f:
        raw = C1_OR_ESC.search(f.read())
    check(not raw, "7: the daemon's log holds no raw control bytes" + (f" (found {raw.group(0)!r})" if raw else ""))


def meeting(b, addr, state, daemon, d):
    wav = speak(TEXT, f"{d}/talk.wav")
    if not wav:
        log("SKIP 9: no speech synthesiser")
        return
    ctl = [f"{b}/daemon/earshotctl", "--state-dir", state]
    subprocess.run(ctl + ["open-room", "Orion"], capture_output=True, timeout=10)
    outside = Proc([f"{b}/tests/es-probe", "watch", addr, "7", OUTSIDE, "outsider"], f"{d}/watch-out.log")
    inside = Proc([f"{b}/tests/es-probe", "watch", addr, "7", IN_ORION_TOO, "insider"], f"{d}/watch-in.log")
    try:
        if not (wait_for_log(outside, "watching as", 5) and wait_for_log(inside, "watching as", 5)):
            check(False, "9: the watchers joined")
            return
        # the watchers' clocks (their t=) started a little before this
        t_start = time.monotonic()
        talker = Proc([f"{b}/client/earshot", "--server", addr, "--name", "dana", "--at", IN_ORION, "--play", wav,
                       "-v"], f"{d}/dana.log")
        wait_for_log(daemon, "dana joined", 5)
        time.sleep(2.5)  # dana talks with the door open
        t_close = time.monotonic() - t_start
        r = subprocess.run(ctl + ["close-room", "Orion"], capture_output=True, text=True, timeout=10)
        log(f"$ earshotctl close-room Orion: {(r.stdout + r.stderr).strip()}")
        outside.wait(timeout=20)
        inside.wait(timeout=20)
        talker.stop()
        texts = (outside.log_text(), inside.log_text())
    finally:
        outside.stop()
        inside.stop()

    def seen(text):
        """dana's flags as a watcher saw them: [(ms since the watcher started, flags)]."""
        m = re.search(r"id=(\d+) kind=1 flags=\d+ name=dana", text)
        if not m:
            return []
        return [(int(t), int(f)) for t, f in re.findall(rf"presence t=(\d+) id={m.group(1)} kind=[12] flags=(\d+)", text)]

    TALKING, MEETING = 4, 32
    out_seen, in_seen = seen(texts[0]), seen(texts[1])
    # in the watchers' time the close came at close_ms or later (they started before t_start)
    close_ms = t_close * 1000
    before = [f for t, f in out_seen if t < close_ms]
    after = [f for t, f in out_seen if t >= close_ms + 300]  # 300 ms: the presence batch that tells the close
    check(any(f & TALKING for f in before), "9: with the door open, the watcher outside sees dana talk (the check can fail)")
    check(out_seen and out_seen[-1][1] == MEETING and all(not f & TALKING for f in after),
          f"9: with the door closed, outside she is only 'in a meeting' (last seen flags "
          f"{out_seen[-1][1] if out_seen else '?'}, {sum(1 for f in after if f & TALKING)} updates after the close "
          f"say talking)")
    check(any(f & TALKING for t, f in in_seen if t >= close_ms), "9: inside Orion she is still seen talking")


def main():
    b = build_dir()
    d = tempfile.mkdtemp(prefix="es-hostile-")
    with open(f"{d}/plan.txt", "w") as f:
        f.write(PLAN)
    addr = f"127.0.0.1:{free_udp_port()}"
    maddr = f"127.0.0.1:{free_tcp_port()}"
    state = f"{d}/state"
    procs = []
    try:
        argv = [f"{b}/daemon/earshotd", "--listen", addr, "--metrics-listen", maddr, "--state-dir", state,
                "--floor-plan", f"{d}/plan.txt"]
        daemon = Proc(argv + ["--limit-doors", DOORS], f"{d}/earshotd.log")
        procs.append(daemon)
        if not wait_for_log(daemon, "listening on") and "--limit-doors" in daemon.log_text():
            # a daemon from before [limits] (to show that the attacks worked there)
            daemon.stop()
            daemon = Proc(argv, f"{d}/earshotd.log")
            procs.append(daemon)
        if not wait_for_log(daemon, "listening on"):
            log(daemon.log_text())
            return 1
        alice = Proc([f"{b}/client/earshot", "--server", addr, "--name", "alice", "--at", "1.25,3.25", "--headless",
                      "--seconds", "60", "-v"], f"{d}/alice.log")
        procs.append(alice)
        if not wait_for_log(daemon, "alice joined", 5):
            log(alice.log_text())
            return 1
        steps = [("1", lambda: fragments(b, addr, maddr, daemon)),
                 ("2", lambda: resets(b, addr, daemon, alice)),
                 ("3", lambda: lockout(b, addr, daemon, d)),
                 ("4", lambda: collisions(b, addr)),
                 ("6", lambda: requests(b, addr, maddr, daemon)),
                 ("7", lambda: names(b, addr, state, daemon)),
                 ("9", lambda: meeting(b, addr, state, daemon, d))]
        only = os.environ.get("EARSHOT_HOSTILE_ONLY")  # e.g. "1,9" while working on those
        for item, fn in steps:
            if only and item not in only.split(","):
                continue
            t0 = time.monotonic()
            try:
                fn()
            except Exception as e:  # a broken daemon must fail this item, not hide the next ones
                check(False, f"{item}: {type(e).__name__}: {e}")
            log(f"    (item {item}: {time.monotonic() - t0:.1f} s)")
            check(daemon.p.poll() is None, f"{item}: the daemon is still up")
            if daemon.p.poll() is not None:
                break
    finally:
        for p in procs:
            p.stop()
    if not ok:
        log(f"logs in {d}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
