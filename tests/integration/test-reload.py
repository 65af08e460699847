#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""SIGHUP reloads the floor plan and the enrolments; admin mutes survive a
restart.  alice (tone) talks to bob, on a small plan with three desks
A1..A3, a meeting room "Orion" and a kitchen "Lyra":

  1. carol sits at desk A3, dave inside Orion, frank inside Lyra.  The plan
     is rewritten: only desk A2 is left, A3 is a table, Orion a big table,
     Lyra's walls are gone.  SIGHUP: carol is moved to the free desk A2
     (nearest first), dave to the nearest free cell off the table, frank
     stays (his spot is fine, no desk is free), the clients are told,
     alice and bob stay where they are, and bob loses <= 1 % of alice's
     frames over the conversation.
  2. A broken plan (an 'x' in the grid) and SIGHUP: the log names
     plan.txt:LINE:COLUMN of the 'x', the new plan stays in use, earshot_reloads_total
     {result="failed"} counts it, and the daemon keeps serving.
  3. The state file is edited (with a correct checksum, as a tool or a
     restored backup would write it) and SIGHUP: carol's line removed ->
     she is disconnected as removed by an admin and no longer enrolled;
     dave's desk A3 (gone) -> dropped; frank's desk A2 and an admin mute ->
     taken, and frank is muted at once.
  4. earshotctl mute alice, then the daemon is stopped and started again
     (invite-only now): alice comes back admin-muted and bob hears silence
     until unmute.
  5. erin (her key learnt from a second daemon) is refused; her person line
     is added to the state file and SIGHUP: she joins."""
import array
import hashlib
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import wave

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import (  # noqa: E402
    Proc, build_dir, free_tcp_port, free_udp_port, log, metrics, read_wav_mono, rms, time_scale, wait_for_log,
    wait_until)

RATE = 48000
SETTLE_S = 0.6
TALK1_S = 12
LOUD = 0.005
SILENT = 0.0005

PLAN_HEAD = 'earshot-floor 1\nname "Reload test"\nscale 0.5\ngrid\n'
# 26 x 10 cells of 0.5 m: desks A1..A3 in row 2, the meeting room Orion
# (door on the west) and the kitchen Lyra (door on the west, east wall the
# outer wall)
PLAN_V1 = PLAN_HEAD + """\
+------------------------+
|........................|
|..o..o..o...............|
|........................|
|..........+-----+..+----|
|..........|.M...|..|.L..|
|........../.....|../....|
|..........|.....|..|....|
|..........+-----+..+----|
+------------------------+
end
room M "Orion" meeting
room L "Lyra" kitchen
desks A 3 2 9 2
"""
# A1 is floor and A3 a table now; where Orion was is one big table; Lyra's
# walls are gone (open floor)
PLAN_V2 = PLAN_HEAD + """\
+------------------------+
|........................|
|.....o..=...............|
|........................|
|..........=======.......|
|..........=======.......|
|..........=======.......|
|..........=======.......|
|..........=======.......|
+------------------------+
end
desk A2 6 2
"""
# a character no plan may have, in the grid (BAD_AT is its "line:column")
PLAN_BAD = PLAN_V2.replace("|........................|\n|..........=", "|........................|\n|...x......=", 1)
assert PLAN_BAD != PLAN_V2
BAD_AT = next(f"{n + 1}:{ln.index('x') + 1}" for n, ln in enumerate(PLAN_BAD.splitlines()) if "x" in ln)
ROWS = 10
SCALE = 0.5


def cell_of(x, y):
    return int(x / SCALE), ROWS - 1 - int(y / SCALE)


def walkable_v2(x, y):
    grid = PLAN_V2.split("grid\n")[1].split("end\n")[0].splitlines()
    c, r = cell_of(x, y)
    return 0 <= r < len(grid) and 0 <= c < len(grid[r]) and grid[r][c] in ".o/"


def tone(path, seconds):
    a = array.array("h", (int(12000 * math.sin(2 * math.pi * (440 + 40 * math.sin(2 * math.pi * 3 * i / RATE)) * i / RATE))
                          for i in range(int(seconds * RATE))))
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(a.tobytes())


def write_atomic(path, text):
    with open(path + ".edit", "w") as f:
        f.write(text)
    os.replace(path + ".edit", path)


def stats(text):
    m = re.search(r"sent (\d+) frames .* bundles (\d+) played (\d+) lost (\d+) concealed (\d+)", text)
    return {k: int(v) for k, v in zip(("sent", "bundles", "played", "lost", "concealed"), m.groups())} if m else None


def window(samples, t0_rec, t_from, t_to):
    a = max(0, int((t_from - t0_rec) * RATE))
    b = max(a, int((t_to - t0_rec) * RATE))
    return samples[a:b]


def main():
    b = build_dir()
    d = tempfile.mkdtemp(prefix="es-reload-")
    cl, ctl = f"{b}/client/earshot", f"{b}/daemon/earshotctl"
    addr = f"127.0.0.1:{free_udp_port()}"
    maddr = f"127.0.0.1:{free_tcp_port()}"
    state = f"{d}/state"
    plan = f"{d}/plan.txt"
    conf = f"{d}/earshotd.conf"
    write_atomic(plan, PLAN_V1)
    with open(conf, "w") as f:
        f.write(f"[server]\nfloor_plan = {plan}\n[log]\nlevel = info\n")
    talk_s = 30
    tone(f"{d}/tone.wav", talk_s)
    # in the measured conversation alice is silent for her last second, so
    # that no frame is still in flight when she leaves (as in test-sighup)
    tone(f"{d}/tone-1.wav", TALK1_S - 1)
    daemon_argv = [f"{b}/daemon/earshotd", "--config", conf, "--listen", addr, "--state-dir", state,
                   "--metrics-listen", maddr]

    ok = True

    def check(cond, what):
        nonlocal ok
        log(("ok:   " if cond else "FAIL: ") + what)
        ok &= bool(cond)

    def ctl_run(*args):
        r = subprocess.run([ctl, "--state-dir", state, *args], capture_output=True, text=True, timeout=10)
        log(f"$ earshotctl {' '.join(args)} -> exit {r.returncode}: {(r.stdout + r.stderr).strip()}")
        return r.returncode, r.stdout, r.stderr

    def place(name):
        rc, out, _ = ctl_run("people")
        m = re.search(r"^#\d+ %s at (-?[\d.]+),(-?[\d.]+)" % name, out, re.M)
        return (float(m.group(1)), float(m.group(2))) if m else None

    def poll(fn, timeout=5.0):
        end = time.monotonic() + timeout
        while True:
            v = fn()
            if v or time.monotonic() > end:
                return v
            time.sleep(0.1)

    procs = []
    daemon = daemon2 = None
    try:
        daemon = Proc(daemon_argv, f"{d}/earshotd.log")
        procs.append(daemon)
        if not wait_for_log(daemon, "listening on"):
            log(daemon.log_text())
            return 1
        check("3 desks, 2 rooms, 2 doors" in daemon.log_text(), "the first plan is loaded")
        # carol, dave and frank are muted: every bundle bob gets carries alice
        carol = Proc([cl, "--server", addr, "--name", "carol", "--at", "4.75,3.75", "--headless", "--muted",
                      "--seconds", str(talk_s), "-v"], f"{d}/carol.log")
        dave = Proc([cl, "--server", addr, "--name", "dave", "--at", "7.25,1.75", "--headless", "--muted",
                     "--seconds", str(talk_s), "-v"], f"{d}/dave.log")
        frank = Proc([cl, "--server", addr, "--name", "frank", "--at", "11.25,1.75", "--headless", "--muted",
                      "--seconds", str(talk_s), "-v"], f"{d}/frank.log")
        bob = Proc([cl, "--server", addr, "--name", "bob", "--at", "9.75,4.25", "--record", f"{d}/bob-1.wav",
                    "--seconds", str(TALK1_S + 3), "-v"], f"{d}/bob-1.log")
        procs += [carol, dave, frank, bob]
        for who in ("carol", "dave", "frank", "bob"):
            if not wait_for_log(daemon, f"{who} joined", 5):
                log(f"{who} did not join:\n{daemon.log_text()}")
                return 1
        alice = Proc([cl, "--server", addr, "--name", "alice", "--at", "8.25,4.25", "--play", f"{d}/tone-1.wav",
                      "--seconds", str(TALK1_S), "-v"], f"{d}/alice-1.log")
        procs.append(alice)
        if not wait_for_log(daemon, "alice joined", 5):
            log(daemon.log_text())
            return 1
        check(place("carol") == (4.75, 3.75) and place("dave") == (7.25, 1.75) and place("frank") == (11.25, 1.75),
              "carol at A3, dave in Orion, frank in Lyra")

        # 1. a plan without A1, A3, Orion and Lyra
        time.sleep(1.0)  # some conversation before the reload
        write_atomic(plan, PLAN_V2)
        daemon.p.send_signal(signal.SIGHUP)
        check(wait_for_log(daemon, "reload: now on floor 'Reload test'", 5), "the new plan is loaded")
        def moved_from(name, old):
            p = place(name)
            return p if p != old else None
        c = poll(lambda: moved_from("carol", (4.75, 3.75)))
        check(c == (3.25, 3.75), f"carol moved from the vanished desk A3 to the nearest free desk A2 ({c})")
        dv = poll(lambda: moved_from("dave", (7.25, 1.75)))
        check(dv == (7.25, 3.25) and walkable_v2(*dv),
              f"dave moved off the table where Orion was to the nearest free cell, 1.5 m north ({dv})")
        check(place("frank") == (11.25, 1.75), "frank stays where Lyra was: still a free place, and no desk is free")
        check(place("alice") == (8.25, 4.25) and place("bob") == (9.75, 4.25), "alice and bob stay where they are")
        check(wait_for_log(carol, "an admin moved you to 3.25,3.75", 3), "carol's client follows")
        check(wait_for_log(dave, "an admin moved you to 7.25,3.25", 3), "dave's client follows")
        text = daemon.log_text()
        check("reload: carol is now a wall, a table or outside the floor; moved from 4.75,3.75 to 3.25,3.75 at desk A2"
              in text, "the log says why and where carol moved")
        check("reload: dave is now a wall, a table or outside the floor; moved from 7.25,1.75 to 7.25,3.25" in text,
              "the log says why and where dave moved")
        check("reload: frank was in a room that is gone or changed; stays at 11.25,1.75" in text,
              "the log says frank's room is gone and he stays")
        m = metrics(maddr)
        check(m.get('earshot_people_relocated_total') == 2 and m.get('earshot_reloads_total{result="ok"}') == 1,
              "metrics: 2 relocated, 1 reload")

        # 2. a broken plan: kept out, named, counted
        time.sleep(1.0)
        write_atomic(plan, PLAN_BAD)
        daemon.p.send_signal(signal.SIGHUP)
        check(wait_for_log(daemon, f"{plan}:{BAD_AT}: unknown character", 5) and wait_for_log(daemon, "keeping the floor plan in use", 1),
              "a broken plan is refused with file:line:col")
        check(poll(lambda: metrics(maddr).get('earshot_reloads_total{result="failed"}') == 1),
              "metrics: the failed reload is counted")
        rc, _, err = ctl_run("close-room", "Orion")
        check(rc == 1 and "no room called 'Orion'" in err, "the second plan is still in use")
        check(place("carol") == (3.25, 3.75), "carol is still at A2")

        # 3. the state file edited (the plan fixed again): carol's line
        # removed; dave assigned desk A3, which is gone; frank assigned A2
        # and muted by an admin
        write_atomic(plan, PLAN_V2)
        time.sleep(1.0)
        with open(f"{state}/state") as f:
            lines = f.read().splitlines(keepends=True)
        edited, seen = [], set()
        for ln in lines[:-1]:
            fields = ln.split(" ")
            if fields[0] == "person":
                seen.add(fields[8])
                if fields[8] == "carol":
                    continue
                if fields[8] == "dave":
                    fields[7] = "A3"
                if fields[8] == "frank":
                    fields[7], fields[9] = "A2", "admin-muted\n"
                ln = " ".join(fields)
            edited.append(ln)
        body = "".join(edited)
        check({"carol", "dave", "frank"} <= seen, "carol, dave and frank are in the state file")
        write_atomic(f"{state}/state", body + "checksum " + hashlib.blake2b(body.encode(), digest_size=32).hexdigest() + "\n")
        daemon.p.send_signal(signal.SIGHUP)
        check(wait_for_log(daemon, "reload: carol is no longer enrolled", 5), "the daemon reads the removal")
        try:
            crc = carol.wait(timeout=5)
        except subprocess.TimeoutExpired:
            crc = None
        check(crc is not None and "removed from" in carol.log_text() and "by an admin" in carol.log_text(),
              "carol is disconnected as removed by an admin")
        check(wait_for_log(daemon, "reload: dave's desk A3 is gone; they have no assigned desk now", 2),
              "dave's assignment to the vanished desk A3 is dropped")
        check(wait_for_log(daemon, "reload: frank is muted by an admin", 2) and
              wait_for_log(frank, "an admin muted you", 3), "frank is muted at once, his client is told")
        rc, out, _ = ctl_run("enrolled")
        check(rc == 0 and " carol " not in out and re.search(r"^\S+ dave last seen [^\n]*at 7\.25,3\.25$", out, re.M) and
              re.search(r"^\S+ frank last seen .* desk A2 admin-muted$", out, re.M),
              "enrolled: carol gone, dave without a desk, frank at desk A2 and admin-muted")
        # the daemon writes its state again (the admin's edit included)
        check(poll(lambda: "carol" not in open(f"{state}/state").read() and
                   re.search(r" A2 frank admin-muted\n", open(f"{state}/state").read())),
              "the state file is saved again: without carol, with frank's desk and mute")

        # the conversation across the three reloads: alice's frames that reached bob
        for p in (alice, bob):
            if p.wait(timeout=TALK1_S + 15) != 0:
                log(f"client failed:\n{p.log_text()}")
                return 1
        a1, b1 = stats(alice.log_text()), stats(bob.log_text())
        check(a1 and b1 and a1["sent"] > 0, "alice and bob report their frames")
        if a1 and b1 and a1["sent"]:
            ratio = b1["bundles"] / a1["sent"]
            log(f"across 3 reloads: alice sent {a1['sent']}, bob got {b1['bundles']} bundles ({100 * ratio:.1f} %), "
                f"lost {b1['lost']}, concealed {b1['concealed']}")
            check(ratio >= 0.99, "bob got at least 99 % of alice's frames during the reloads")
        check("bob left" not in daemon.log_text().split("alice left")[0], "bob was never dropped")

        # 4. mute alice, restart the daemon: she stays muted until unmuted
        bob = Proc([cl, "--server", addr, "--name", "bob", "--at", "9.75,4.25", "--record", f"{d}/bob.wav",
                    "--seconds", "30", "-v"], f"{d}/bob.log")
        alice = Proc([cl, "--server", addr, "--name", "alice", "--at", "8.25,4.25", "--play", f"{d}/tone.wav",
                      "--seconds", "28", "-v"], f"{d}/alice.log")
        procs += [alice, bob]
        if not poll(lambda: daemon.log_text().count("alice joined") == 2 and daemon.log_text().count("bob joined") == 2):
            log(daemon.log_text())
            return 1
        time.sleep(2.0)
        t_mute = time.monotonic()
        rc, _, _ = ctl_run("mute", "alice")
        check(rc == 0, "mute alice")
        time.sleep(1.5)
        daemon.stop()
        t_restart = time.monotonic()
        # invite-only from now on: only enrolled keys may join (phase 5)
        daemon2 = Proc(daemon_argv + ["--open-enrolment", "off"], f"{d}/earshotd-2.log")
        procs.append(daemon2)
        check(wait_for_log(daemon2, "listening on", 5), "the daemon starts again")
        check(wait_for_log(daemon2, "alice joined", 10) and wait_for_log(daemon2, "bob joined", 10),
              "alice and bob reconnect")
        t_back = time.monotonic()
        rc, out, _ = ctl_run("people")
        check(re.search(r"^#\d+ alice .*admin-muted", out, re.M), "alice is admin-muted after the restart")
        time.sleep(2.5)
        t_unmute = time.monotonic()
        rc, _, _ = ctl_run("unmute", "alice")
        check(rc == 0, "unmute alice")
        time.sleep(2.5)
        t_end = time.monotonic()
        out = ""

        def alice_talks():
            nonlocal out
            out = ctl_run("people")[1]
            return (re.search(r"^#\d+ alice .*talking", out, re.M) is not None
                    and re.search(r"^#\d+ alice .*admin-muted", out, re.M) is None)
        # "talking" is the daemon's view of this moment: alice's speech has
        # pauses, and a loaded machine delays her frames; bounded at 10 s
        check(wait_until(alice_talks, 10 * time_scale(), 0.2), "alice talks again")
        check(re.search(r"^#\d+ frank .*admin-muted", out, re.M), "frank's mute from the edited file survived the restart")

        # 5. an enrolment added to the state file lets a new key in.  erin's
        # public key comes from a throwaway daemon she enrolled on.
        side_addr, side_state = f"127.0.0.1:{free_udp_port()}", f"{d}/side-state"
        side = Proc([f"{b}/daemon/earshotd", "--listen", side_addr, "--state-dir", side_state,
                     "--metrics-listen", "", "--floor-plan", "none"], f"{d}/side.log")
        procs.append(side)
        check(wait_for_log(side, "listening on", 5), "a second daemon to learn erin's key")
        erin = Proc([cl, "--server", side_addr, "--name", "erin", "--headless", "--seconds", "1", "-v"],
                    f"{d}/erin-side.log")
        procs.append(erin)
        erin.wait(timeout=10)
        side.stop()
        with open(f"{side_state}/state") as f:
            erin_line = next((ln for ln in f if re.match(r"person \S+ \S+ \S+ \S+ \S+ \S+ \S+ erin ", ln)), None)
        check(erin_line is not None, "erin is enrolled on the second daemon")
        erin = Proc([cl, "--server", addr, "--name", "erin", "--headless", "--seconds", "20", "-v"],
                    f"{d}/erin-1.log")
        procs.append(erin)
        try:
            erc = erin.wait(timeout=10)
        except subprocess.TimeoutExpired:
            erc = None
        check(erc is not None and "invite-only" in erin.log_text(), "erin is refused before her enrolment")
        with open(f"{state}/state") as f:
            lines = f.read().splitlines(keepends=True)
        body = "".join(lines[:-1]) + (erin_line or "")
        write_atomic(f"{state}/state", body + "checksum " + hashlib.blake2b(body.encode(), digest_size=32).hexdigest() + "\n")
        daemon2.p.send_signal(signal.SIGHUP)
        check(wait_for_log(daemon2, "reload: erin is enrolled", 5), "the daemon reads the new enrolment")
        erin = Proc([cl, "--server", addr, "--name", "erin", "--headless", "--seconds", "20", "-v"],
                    f"{d}/erin-2.log")
        procs.append(erin)
        check(wait_for_log(daemon2, "erin joined", 5), "erin joins after the reload")
        rc, out, _ = ctl_run("enrolled")
        check(rc == 0 and " erin " in out and " alice " in out and " bob " in out, "earshotctl enrolled lists erin")
    finally:
        for p in procs:
            p.stop()

    def readlog(p):
        with open(p.logpath, errors="replace") as f:
            return f.read()
    text = readlog(daemon)
    bob_log = readlog(bob)
    t0_b = int(re.search(r"recording starts at monotonic (\d+)", bob_log).group(1)) / 1e9
    _, bob_hears = read_wav_mono(f"{d}/bob.wav")
    before = rms(window(bob_hears, t0_b, t_mute - 1.5, t_mute))
    muted1 = rms(window(bob_hears, t0_b, t_mute + SETTLE_S, t_restart))
    muted2 = rms(window(bob_hears, t0_b, t_back + SETTLE_S, t_unmute))
    after = rms(window(bob_hears, t0_b, t_unmute + SETTLE_S, t_end))
    log(f"bob hears alice: before the mute rms {before:.4f}, muted {muted1:.6f}, muted after the restart "
        f"{muted2:.6f}, unmuted {after:.4f}")
    check(before > LOUD, "bob hears alice before the mute")
    check(muted1 < SILENT, "bob hears nothing of alice once she is muted")
    check(muted2 < SILENT, "bob hears nothing of alice after the restart, until unmuted")
    check(after > LOUD, "bob hears alice again after unmute")
    if not ok:
        log(f"--- earshotd\n{text}")
        if daemon2:
            with open(daemon2.logpath, errors="replace") as f:
                log(f"--- earshotd after the restart\n{f.read()}")
        for who in ("carol", "dave"):
            with open(f"{d}/{who}.log", errors="replace") as f:
                log(f"--- {who}\n{f.read()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
