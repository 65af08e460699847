#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A team's first day (issue 14), on the built-in office, as a team lives it.

The daemon is started as the quick start starts it (listen address and state
directory), invite-only.  Four people are enrolled with `earshot join CODE`,
one after another, each without --at: each gets a desk of their own
(`earshotctl desks`), and a HELLO at a place off the floor or inside a
closed room is seated at its own desk instead, with log lines that agree.
After a restart of the daemon all four come in together and each sits at
their own desk again.  Two neighbours talk and each hears the other
(pocketsphinx).  `earshot mute` from another shell silences a headless
client.  Dan, in the terminal UI (tmux, 80x24, the jackd-clocked virtual
sound card), walks into the meeting room Orion where Cat talks and closes
its door: Ana, outside by the door, heard Cat while it was open and hears
nothing once it is closed; Dan leaves and knocks, and the knock arrives
inside.  An admin's open-room and close-room reach Dan's map, and Dan's
own door key cannot open a room an admin closed.  The screen shows the
legend, room names and the live position."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import (  # noqa: E402
    Checks, JackRig, Proc, SKIP, build_dir, free_udp_port, log, read_wav_mono, recognise, rms, speak16,
    wait_for_log)

RATE = 48000
S1 = "the meeting starts at three in room orion"
S2 = "please bring the quarterly report"
S3 = "we will review the budget for next year"
# the built-in office: the first cluster's seats and Orion's west door
DESKS = {"A1-1": (1.75, 20.75), "A1-2": (3.25, 20.75), "A1-3": (4.75, 20.75), "A1-4": (6.25, 20.75)}
IN_ORION = (42.25, 16.75)
BY_ORION_DOOR = (38.75, 17.75)   # outside, 1.6 m from the door
DAN_AT_DOOR = (39.25, 18.25)     # outside, within reach of the door


def main():
    b = build_dir()
    d = tempfile.mkdtemp(prefix="es-firstday-")
    rig = JackRig(d)
    if not shutil.which("tmux") or not rig.available():
        log("SKIP: tmux or jackd is not installed")
        return SKIP
    wavs = {}
    for k, text in (("s1", S1), ("s2", S2), ("s3", S3)):
        wavs[k] = speak16(text, f"{d}/{k}.wav")
        if not wavs[k]:
            log("SKIP: no speech synthesiser")
            return SKIP
    if recognise(wavs["s1"], [S1, S2, S3], d) is None:
        log("SKIP: pocketsphinx or sox missing")
        return SKIP
    # ben says his sentence over and over; cat (in the meeting) starts after 3 s and talks on.
    # The 3 s go in once, after the repeats: "pad 3 0.2 repeat 14" repeated them too, and cat
    # fell silent for 3.6 s in every 5.5, so a 2.5 s window by the open door could hold no
    # speech at all (seen as "rms 0.0000" when the machine's load moved the phase)
    subprocess.run(["sox", wavs["s2"], f"{d}/ben.wav", "pad", "0", "0.3", "repeat", "7"], check=True)
    subprocess.run(["sox", wavs["s3"], f"{d}/cat.wav", "pad", "0", "0.2", "repeat", "14", "pad", "3", "0"], check=True)
    _, cat_pcm = read_wav_mono(f"{d}/cat.wav")
    hop = RATE // 50
    talk = [rms(cat_pcm[i:i + hop]) > 0.003 for i in range(3 * RATE, len(cat_pcm) - hop, hop)]
    least = min(sum(talk[i:i + 125]) for i in range(len(talk) - 125)) * 0.02
    if least < 1.0:
        log(f"FAIL: the test's premise: cat's speech has a 2.5 s stretch with only {least:.2f} s of talk")
        return 1

    addr = f"127.0.0.1:{free_udp_port()}"
    state = f"{d}/state"
    cl, ctl = f"{b}/client/earshot", f"{b}/daemon/earshotctl"
    sock = f"es-fd-{os.getpid()}"
    # as ./quickstart run starts it (its listen address and state directory), invite-only
    daemon_argv = [f"{b}/daemon/earshotd", "--listen", addr, "--state-dir", state, "--floor-plan", "builtin",
                   "--open-enrolment", "off", "--metrics-listen", ""]
    check = Checks()  # "ok:"/"FAIL:" lines; check.ok is False once one failed
    procs = []

    def env_of(who):
        run = f"{d}/run-{who}"
        os.makedirs(run, mode=0o700, exist_ok=True)
        return dict(os.environ, XDG_CONFIG_HOME=f"{d}/config-{who}", XDG_RUNTIME_DIR=run)

    def ctl_run(*args):
        r = subprocess.run([ctl, "--state-dir", state, *args], capture_output=True, text=True, timeout=20)
        return r.returncode, r.stdout + r.stderr

    def people():
        _, out = ctl_run("people")
        got = {}
        for m in re.finditer(r"^#\d+ (\S+) at (-?\d+\.\d+),(-?\d+\.\d+) .*flags (\S+)", out, re.M):
            got[m.group(1)] = (float(m.group(2)), float(m.group(3)), m.group(4))
        return got

    def wait_people(n, timeout=15):
        end = time.monotonic() + timeout
        got = {}
        while time.monotonic() < end:
            got = people()
            if len(got) >= n:
                return got
            time.sleep(0.1)
        return got

    def pane():
        return subprocess.run(["tmux", "-L", sock, "capture-pane", "-p", "-t", "ui"], capture_output=True,
                              text=True).stdout

    def keys(*k):
        subprocess.run(["tmux", "-L", sock, "send-keys", "-t", "ui", *k], check=True)

    def screen_wait(pred, timeout=8):
        end = time.monotonic() + timeout
        s = pane()
        while time.monotonic() < end and not pred(s):
            time.sleep(0.1)
            s = pane()
        return s

    def orion_door_on_screen(s):
        """Orion's west door as dan's map draws it: '/' open, '#' closed (None: not in view)."""
        for line in s.splitlines():
            m = re.search(r"\.([/#])\.{2,}={5}", line)
            if m:
                return m.group(1)
        return None

    t_start = time.monotonic()
    if not rig.start():
        log("SKIP: jackd did not start")
        return SKIP
    try:
        # ---- the admin sets up: daemon, four invites, four people enrol ----
        d1 = Proc(daemon_argv, f"{d}/d1.log")
        procs.append(d1)
        if not wait_for_log(d1, "listening on"):
            log(d1.log_text())
            return 1
        check("by invite only" in d1.log_text(), "the daemon says it is invite-only")
        team = ["ana", "ben", "cat", "dan"]
        for who in team:
            rc, out = ctl_run("invite", who)
            code = out.splitlines()[0] if out else ""
            r = subprocess.run([cl, "join", code], env=env_of(who), capture_output=True, text=True, timeout=30)
            check(r.returncode == 0 and f"as {who}" in r.stdout, f"{who} enrolled with an invite: {r.stdout.strip()}")
        rc, out = ctl_run("desks")
        log(out.rstrip())
        owned = dict(re.findall(r"^(\S+) (\S+) \(", out, re.M))
        check(len(owned) == 4 and sorted(owned.values()) == sorted(team) and set(owned) == set(DESKS),
              f"each of the four has a desk of their own, never the same: {owned}")
        desk_of = {who: lab for lab, who in owned.items()}
        # a place off the floor, then one inside a room an admin closed: refused, own desk instead
        r = subprocess.run([cl, "--headless", "--at", "1000,1000", "--seconds", "1.5"], env=env_of("ana"),
                           capture_output=True, text=True, timeout=20)
        line = next((ln for ln in d1.log_text().splitlines() if "ana joined" in ln and "1000.00" in ln), "")
        check(r.returncode == 0 and "asked for 1000.00,1000.00: outside the floor" in line and
              f"at {DESKS.get(desk_of.get('ana'), (0, 0))[0]:.2f}" in line and "is back" not in d1.log_text(),
              f"--at 1000,1000 is refused and the log says so once: {line.split('] ')[-1]}")
        check("server seated you at" in r.stderr, "and the client says where it was seated instead")
        rc, out = ctl_run("close-room", "Orion")
        check(rc == 0 and "only an admin opens it again" in out, f"earshotctl close-room Orion: {out.strip()}")
        r = subprocess.run([cl, "--headless", "--at", f"{IN_ORION[0]},{IN_ORION[1]}", "--seconds", "1.5"],
                           env=env_of("ben"), capture_output=True, text=True, timeout=20)
        line = next((ln for ln in d1.log_text().splitlines() if "ben joined" in ln and "42.25" in ln), "")
        check("inside a room an admin closed" in line and "joined as #0 at 42.25" not in line,
              f"a HELLO inside the closed Orion is seated outside it: {line.split('] ')[-1]}")
        ctl_run("open-room", "Orion")

        # ---- the next morning: a restart, and everyone comes in together ----
        d1.stop()
        d2 = Proc(daemon_argv, f"{d}/d2.log")
        procs.append(d2)
        if not check(wait_for_log(d2, "listening on"), "the daemon starts again"):
            return 1
        ana = Proc([cl, "--headless", "--play", wavs["s1"], "--record", f"{d}/ana.wav", "--seconds", "34", "-v"],
                   f"{d}/ana.log", env=env_of("ana"))
        ben = Proc([cl, "--headless", "--play", f"{d}/ben.wav", "--record", f"{d}/ben.wav.rec.wav", "--seconds", "34"],
                   f"{d}/ben.log", env=env_of("ben"))
        cat = Proc([cl, "--headless", "--play", f"{d}/cat.wav", "--seconds", "36", "-v"], f"{d}/cat.log",
                   env=env_of("cat"))
        procs += [ana, ben, cat]
        hd = rig.home("dan", [0.0] * (60 * RATE))
        env = rig.env(hd)
        de = env_of("dan")
        env.update(XDG_CONFIG_HOME=de["XDG_CONFIG_HOME"], XDG_RUNTIME_DIR=de["XDG_RUNTIME_DIR"], TERM="xterm-256color")
        envs = " ".join(f"{k}='{v}'" for k, v in env.items() if k in (
            "HOME", "JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR", "ASAN_OPTIONS",
            "LSAN_OPTIONS", "UBSAN_OPTIONS", "TERM"))
        subprocess.run(["tmux", "-L", sock, "new-session", "-d", "-s", "ui", "-x", "80", "-y", "24",
                        f"env {envs} {cl} --seconds 45 2>{d}/dan.err"], check=True)
        got = wait_people(4)
        places = {w: (round(p[0], 2), round(p[1], 2)) for w, p in got.items()}
        check(all(places.get(w) == DESKS.get(desk_of.get(w)) for w in team),
              f"after the restart each sits at their own desk again: {places}")
        # cat goes to the meeting room before her speech starts; dan to Orion's door
        ctl_run("move", "cat", f"{IN_ORION[0]},{IN_ORION[1]}")
        rc, out = ctl_run("move", "dan", f"{DAN_AT_DOOR[0]},{DAN_AT_DOOR[1]}", "90")
        check(rc == 0, f"earshotctl move dan to Orion's door: {out.strip()}")
        rc, out = ctl_run("move", "ben", "3.5,20.25")
        check(rc != 0 and "a wall or a table" in out, f"an admin cannot move someone onto a table: {out.strip()}")

        # dan's screen: 80x24, the legend, room names, where he is now (not where he joined)
        s = screen_wait(lambda s: re.search(r"\.Orion\.", s) and "dan at 39.2,18.2" in s and "o desk = table / door" in s)
        log("dan's screen:\n" + s)
        # the whole legend on one line at 80x24: the rooms that fit by name, the rest by letter (never cut)
        check("o desk = table / door # closed | O Orion  L V S K F G" in s, "the legend under the map names the rooms")
        check(re.search(r"\|\.Orion\.", s) is not None, "Orion's name is written on the map")
        check("dan at 39.2,18.2" in s, "the status line shows dan's live position after the admin's move")

        # the neighbours talk: ana says S1 once, ben says S2 again and again
        wait_for_log(ana, "playing starts", 10)
        time.sleep(7.0)
        # `earshot mute` from another shell reaches the headless ben
        r = subprocess.run([cl, "mute"], env=env_of("ben"), capture_output=True, text=True, timeout=10)
        t_mute = time.monotonic()
        check(r.returncode == 0 and r.stdout.strip() == "muted", f"earshot mute -> ben's headless client: "
              f"exit {r.returncode} {r.stdout.strip()} {r.stderr.strip()}")
        r = subprocess.run([cl, "status", "--json"], env=env_of("ben"), capture_output=True, text=True, timeout=10)
        check(r.returncode == 0 and '"muted": true' in r.stdout and '"name": "ben"' in r.stdout and
              '"state": "joined"' in r.stdout, f"earshot status --json: {r.stdout.strip()}")
        time.sleep(3.5)

        # ana goes to Orion's door: cat's meeting leaks through the open door
        ctl_run("move", "ana", f"{BY_ORION_DOOR[0]},{BY_ORION_DOOR[1]}")
        time.sleep(1.0)
        t_open = time.monotonic()
        time.sleep(2.5)
        # dan walks in (e) and closes the door (d)
        keys("e")
        s = screen_wait(lambda s: "entered Orion" in s)
        check("entered Orion" in s, "dan's 'e': the screen says 'entered Orion' once the server has him inside")
        keys("d")
        s = screen_wait(lambda s: orion_door_on_screen(s) == "#")
        check(orion_door_on_screen(s) == "#", "dan's 'd' closed Orion's door (his map shows it closed)")
        t_closed = time.monotonic()
        time.sleep(3.0)
        # dan leaves and knocks: it arrives inside
        keys("e")
        s = screen_wait(lambda s: "left Orion" in s)
        check("left Orion" in s, "dan's 'e' again: the screen says 'left Orion'")
        keys("k")
        if not check(wait_for_log(cat, "dan knocks on Orion", 5),
                     "dan knocks from outside: cat, inside and headless, is told who and on which room"):
            log(pane())
        # an admin's open and close reach dan's map; his own key cannot open a room an admin closed
        ctl_run("open-room", "Orion")
        s = screen_wait(lambda s: orion_door_on_screen(s) == "/")
        check(orion_door_on_screen(s) == "/", "earshotctl open-room Orion reaches dan's map")
        ctl_run("close-room", "Orion")
        s = screen_wait(lambda s: orion_door_on_screen(s) == "#")
        check(orion_door_on_screen(s) == "#", "earshotctl close-room Orion reaches dan's map")
        keys("d")
        s = screen_wait(lambda s: "stays closed" in s)
        check("stays closed" in s and orion_door_on_screen(s) == "#",
              "dan's door key cannot open a room an admin closed, and the screen says so")
        keys("q")
        ana.wait(timeout=40)
        ben.wait(timeout=40)
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
        for p in procs:
            p.stop()
        rig.stop()
    if not os.path.exists(f"{d}/ana.wav") or not os.path.exists(f"{d}/ben.wav.rec.wav"):
        log("FAIL: no recordings")
        return 1
    heard_s1 = recognise(f"{d}/ben.wav.rec.wav", [S1, S2, S3], d)
    check(S1 in (heard_s1 or ""), f"ben heard ana: '{heard_s1}'")
    with open(ana.logpath, errors="replace") as f:
        t_rec = int(re.search(r"recording starts at monotonic (\d+)", f.read()).group(1)) / 1e9
    _, heard = read_wav_mono(f"{d}/ana.wav")

    def window(t0, t1):
        return heard[max(0, int((t0 - t_rec) * RATE)):int((t1 - t_rec) * RATE)]
    before_mute = window(t_mute - 5.0, t_mute)
    import array
    import wave
    with wave.open(f"{d}/ana-ben.wav", "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(array.array("h", [max(-32768, min(32767, int(x * 32767))) for x in before_mute]).tobytes())
    heard_s2 = recognise(f"{d}/ana-ben.wav", [S1, S2, S3], d)
    check(S2 in (heard_s2 or ""), f"ana heard ben, her neighbour: '{heard_s2}'")
    loud, muted = rms(before_mute), rms(window(t_mute + 0.8, t_mute + 3.3))
    check(loud > 0.005 and muted < 0.0005, f"after 'earshot mute' ana hears nothing of ben: rms {loud:.4f} -> {muted:.5f}")
    # cat talks on with short pauses: 2.5 s windows always hold speech; a closed door passes exactly nothing
    door_open, door_closed = rms(window(t_open, t_open + 2.5)), rms(window(t_closed + 0.8, t_closed + 2.8))
    check(door_open > 0.001, f"by Orion's open door ana hears the meeting: rms {door_open:.4f}")
    check(door_closed < 0.0005, f"with the door closed ana hears nothing of it: rms {door_closed:.5f}")
    log(f"first day: {time.monotonic() - t_start:.1f} s")
    return 0 if check.ok else 1


if __name__ == "__main__":
    sys.exit(main())
