#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The README's promises through the real daemon on the built-in office
(issue 19), one daemon and one 17-second timeline for all of them (~35 s
in all, also under ASan).

Speakers are es-rogue members, each a sine of its own pitch, so that every
recording says who was heard and how loud (a Goertzel per pitch); the
rogues also ignore mute, their own and an admin's.  Listeners are real
headless clients that record (the client's playout, the level measured) and
rogues that report what the server sent them (frames, gains, directions).

  walls       Orion's speaker is 1 m from a listener in Lyra through a wall
  open door   a listener outside Orion hears its speaker, attenuated, and
              from the door (azimuth), not through the wall
  closed room a member inside closes Orion's door: silent both ways; a
              member 4 m from the door cannot open it (the 3 m reach); the
              one inside opens it again and both ways are heard again
  knock       five knocks at once: three arrive (burst 3), two are refused
              and counted; one more a second later arrives
  whisper     only the target (24 m away) hears it, not the bystander at
              1 m; a whisper to someone behind a closed door does not arrive
  focus       a member in focus hears the stage and nobody near
  volume      a member turns one voice down for itself alone
  stage       heard 35 m away across the floor
  thin        a thin client hears its neighbour through the server's mix, and
              a thin member is sent only that mix, never a forwarded voice
  mute        a member that ignores its own mute and an admin's mute is
              heard by nobody while muted; the real client, self-muted and
              admin-muted, puts no audio on the wire (a counting relay)"""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import SKIP, Checks, Proc, build_dir, free_tcp_port, free_udp_port, log, metrics, speak16, wait_for_log  # noqa: E402
from promiselib import CountingRelay, Recording, RogueReport  # noqa: E402

# pitches (Hz): none a harmonic of another
ANN, ORI, OUT, WHI, STG, ROG = 440, 620, 830, 1070, 1330, 1570
# places on the built-in office (x = 0.5 * column + 0.25, y = 0.5 * (43 - row) + 0.25)
PLACES = {
    # open floor, west: ann talks, rog talks and ignores mute; near2 (real) and near (rogue) listen
    "ann": (8.25, 15.25), "rog": (8.25, 16.25), "near2": (9.25, 15.75), "near": (7.25, 15.75),
    "thin": (10.25, 15.75), "thinr": (10.25, 16.75),
    # Orion (meeting room, door at 40.25,18.25): ori talks by its south wall, oridoor (1 m from the
    # door) closes and opens it, orirec (real) listens inside
    "ori": (42.25, 15.25), "oridoor": (41.25, 18.25), "orirec": (41.25, 17.25),
    # Lyra, 1 m from ori through the wall between the rooms
    "lyra": (42.25, 14.25),
    # outside Orion: out talks and knocks, doorrec (real) and doorr (rogue) listen 1.5 m from the
    # door, faropen is 4 m from it
    "out": (38.75, 19.25), "doorrec": (38.75, 18.25), "doorr": (39.25, 17.25), "faropen": (36.25, 18.25),
    # whisper: whi, a bystander 1 m away (real), the target 24 m away (real)
    "whi": (25.25, 12.75), "by": (26.25, 12.75), "tgt": (2.25, 21.25),
    # the stage (south-west room) and a listener 35 m away (real)
    "stg": (7.75, 3.75), "far": (39.25, 21.25),
}
END = 17.0  # seconds of the rogues' timeline


def main():
    b = build_dir()
    d = tempfile.mkdtemp(prefix="es-promises-")
    speech = speak16(("the budget review starts at nine. please bring the quarterly report. "
                      "we meet in room orion after lunch. ") * 4, f"{d}/speech.wav")
    if not speech:
        log("SKIP: flite is not installed")
        return SKIP
    t_start = time.monotonic()
    cl, ctl, rogue = f"{b}/client/earshot", f"{b}/daemon/earshotctl", f"{b}/tests/es-rogue"
    port = free_udp_port()
    addr, maddr, state = f"127.0.0.1:{port}", f"127.0.0.1:{free_tcp_port()}", f"{d}/state"
    check = Checks()  # "ok:"/"FAIL:" lines; check.ok is False once one failed
    procs = []

    def at(who):
        return "%.2f,%.2f" % PLACES[who]

    def env_of(who):
        run = f"{d}/run-{who}"
        os.makedirs(run, mode=0o700, exist_ok=True)
        return dict(os.environ, XDG_CONFIG_HOME=f"{d}/config-{who}", XDG_RUNTIME_DIR=run)

    def ctl_run(*args):
        r = subprocess.run([ctl, "--state-dir", state, *args], capture_output=True, text=True, timeout=20)
        return r.returncode, (r.stdout + r.stderr).strip()

    relay = CountingRelay(port)
    try:
        daemon = Proc([f"{b}/daemon/earshotd", "--listen", addr, "--state-dir", state, "--floor-plan", "builtin",
                       "--metrics-listen", maddr], f"{d}/earshotd.log")
        procs.append(daemon)
        if not wait_for_log(daemon, "listening on"):
            log(daemon.log_text())
            return 1
        # the real clients: recorders, a thin one, and one that speaks through the counting relay
        recs = {}
        for who in ("near2", "orirec", "lyra", "doorrec", "by", "tgt", "far", "thin"):
            argv = [cl, "--server", addr, "--name", who, "--at", at(who), "--record", f"{d}/{who}.wav",
                    "--seconds", str(END + 10), "-v"] + (["--thin"] if who == "thin" else [])
            recs[who] = Proc(argv, f"{d}/{who}.log", env=env_of(who))
            procs.append(recs[who])
        talker = Proc([cl, "--server", f"127.0.0.1:{relay.port}", "--name", "talker", "--at", "20.25,9.25",
                       "--play", speech, "--seconds", str(END + 10), "-v"], f"{d}/talker.log", env=env_of("talker"))
        procs.append(talker)
        for who in list(recs) + ["talker"]:
            if not check(wait_for_log(daemon, f"{who} joined", 20), f"{who} joined"):
                log(daemon.log_text())
                return 1
        # the rogues, all at once; T:ACTION is T seconds into their shared timeline (t0 below)
        acts = {
            "ann": ["--tone", str(ANN)],
            "rog": ["--tone", str(ROG), "5:mute", "8:unmute"],
            "near": ["10:focus", "12.5:unfocus", "13:volume=ann*0.25"],
            "ori": ["--tone", str(ORI)],
            "oridoor": ["8:door=close", "10.2:mark=whisper", "12:door=open"],
            # out is quiet while doorrec listens for ori: at 1 m it would be 20 dB louder than ori through the
            # door, and the server drops voices that far below the loudest (they cannot count)
            "out": ["--tone", str(OUT), "0:quiet", "5:talk", "9:knock=Orion*5", "10.6:knock=Orion*1", "12:quiet"],
            "doorr": ["3:mark=open", "5:mark=later"],
            "faropen": ["9:door=open"],
            "whi": ["--tone", str(WHI), "5:whisper=tgt", "8:whisper=-", "10:whisper=oridoor", "12:whisper=-"],
            "stg": ["--tone", str(STG)],
            "thinr": ["--thin"],
        }
        # one timeline for them all, starting once they have joined (4 s: margin for a loaded machine)
        t0 = time.monotonic() + 4.0
        rogues = {}
        for who, a in acts.items():
            rogues[who] = Proc([rogue, addr, who, at(who), str(END), "--start-at", str(int(t0 * 1000))] + a,
                               f"{d}/rogue-{who}.log")
            procs.append(rogues[who])
        for who in rogues:
            check(wait_for_log(rogues[who], "starts at", 15), f"rogue {who} joined")
            rr = RogueReport(rogues[who].log_text())
            check(rr.t_join is not None and rr.t_join < t0, f"... before the timeline starts "
                  f"({1000 * ((rr.t_join or 0) - t0):.0f} ms)")
        for who in list(recs) + list(rogues):
            line = next((ln for ln in daemon.log_text().splitlines() if f" {who} joined" in ln), "")
            check("where they asked" in line, f"{who} sits where it asked: {line.split('] ')[-1]}")

        def until(t):
            time.sleep(max(0.0, t0 + t - time.monotonic()))

        # mute on the wire: the real talker mutes itself at 4.5 and unmutes at 6.5; an admin mutes
        # it and the rogue at 8.5 and unmutes both at 12
        until(4.5)
        r = subprocess.run([cl, "mute"], env=env_of("talker"), capture_output=True, text=True, timeout=10)
        t_mute = time.monotonic()
        check(r.returncode == 0, f"earshot mute reaches the talker: {r.stdout.strip()} {r.stderr.strip()}")
        until(6.5)
        t_unmute = time.monotonic()  # before: the client unmutes before the command returns
        r = subprocess.run([cl, "unmute"], env=env_of("talker"), capture_output=True, text=True, timeout=10)
        until(8.5)
        rc1, o1 = ctl_run("mute", "rog")
        rc2, o2 = ctl_run("mute", "talker")
        t_amute = time.monotonic()
        check(rc1 == 0 and rc2 == 0, f"earshotctl mute rog, talker: {o1} / {o2}")
        until(12.0)
        t_aunmute = time.monotonic()
        ctl_run("unmute", "rog")
        ctl_run("unmute", "talker")
        m = metrics(maddr)
        for p in rogues.values():
            p.wait(timeout=END + 30)
        for p in list(recs.values()) + [talker]:
            p.wait(timeout=40)
    finally:
        for p in procs:
            p.stop()
        relay.close()
    def text(p):
        with open(p.logpath, errors="replace") as f:
            return f.read()
    rep = {who: RogueReport(text(p)) for who, p in rogues.items()}
    daemon_log = text(daemon)
    rec = {}
    for who, p in recs.items():
        try:
            rec[who] = Recording(f"{d}/{who}.wav", text(p))
        except (AssertionError, OSError) as e:
            check(False, f"{who}'s recording: {e}")
    if len(rec) < len(recs):
        return 1

    def lv(who, w, hz):
        return rec[who].level(t0 + w[0], t0 + w[1], hz)

    OPEN, WHISPER, CLOSED, AFTER = (2.0, 4.8), (5.8, 7.8), (9.8, 11.8), (13.8, 16.0)
    QUIET = 0.002  # a tone at -10 dBFS heard as less than this is 44 dB down: nothing

    # --- the open floor: heard at 1 m; personal volume; focus ---
    a_near = lv("near2", OPEN, ANN)
    check(a_near > 0.1, f"near2 hears ann 1.1 m away: tone {a_near:.4f}")
    g_before, g_after = rep["near"].gain("unfocus", "ann"), rep["near"].gain("volume=ann*0.25", "ann")
    check(0.8 <= g_before <= 1.05 and 0.2 <= g_after <= 0.35,
          f"near turns ann down to 0.25 for itself: server gain {g_before:.3f} -> {g_after:.3f}")
    a_after = lv("near2", AFTER, ANN)
    check(0.7 < a_after / a_near < 1.4, f"... and for nobody else: near2 hears ann at {a_near:.4f} then {a_after:.4f}")
    f_ann, f_stg = rep["near"].frames("focus", "ann"), rep["near"].frames("focus", "stg")
    f_ann0 = rep["near"].frames("start", "ann")
    # a few bundles may be on their way when the server takes the focus
    check(f_ann0 > 200 and f_ann <= 5 and f_stg > 80,
          f"in focus near hears nobody near (ann's frames {f_ann0} -> {f_ann}) and still the stage ({f_stg})")
    # --- mute is the server's promise: the rogue ignores both mutes ---
    rog_open, rog_self = lv("near2", OPEN, ROG), lv("near2", WHISPER, ROG)
    rog_admin, rog_back = lv("near2", CLOSED, ROG), lv("near2", AFTER, ROG)
    check(rog_open > 0.1 and rog_back > 0.03, f"near2 hears rog while unmuted: {rog_open:.4f}, {rog_back:.4f}")
    check(rog_self < QUIET, f"rog self-muted but still sending is heard by nobody: near2 {rog_self:.5f}")
    check(rog_admin < QUIET, f"rog admin-muted but still sending is heard by nobody: near2 {rog_admin:.5f}")
    check(rep["rog"].sent is not None and rep["rog"].sent >= 0.9 * END * 50,
          f"rog sent audio all along ({rep['rog'].sent} frames in {END:.0f} s)")
    # --- mute on the wire: the real client ---
    sent_open = relay.count(t0 + 1.0, t_mute)
    sent_muted = relay.count(t_mute + 0.3, t_unmute)
    sent_between = relay.count(t_unmute + 0.3, t_amute)
    sent_amuted = relay.count(t_amute + 0.5, t_aunmute)
    check(sent_open > 60 and sent_between > 30, f"the talker sends audio while unmuted: {sent_open}, {sent_between} "
          f"messages on the wire ({relay.unparsed} datagrams not walked)")
    check(sent_muted == 0, f"self-muted, the talker puts no audio on the wire: {sent_muted} messages")
    check(sent_amuted == 0, f"admin-muted, the talker puts no audio on the wire: {sent_amuted} messages")
    # --- walls and an open door ---
    ori_door, ori_wall = lv("doorrec", OPEN, ORI), lv("lyra", OPEN, ORI)
    check(0.004 < ori_door < 0.1, f"outside Orion's open door doorrec hears ori attenuated: {ori_door:.4f} "
          f"(-10 dBFS at the mouth)")
    check(ori_wall < ori_door / 3, f"lyra, 1 m from ori through a wall, hears less than doorrec 4.6 m away "
          f"through the door: {ori_wall:.5f}")
    az, g = rep["doorr"].azimuth("mark=open", "ori"), rep["doorr"].gain("mark=open", "ori")
    check(rep["doorr"].frames("mark=open", "ori") > 60 and 25 <= az <= 70 and g < 0.2,
          f"doorr hears ori from the door (azimuth {az:.0f}, the door is at 45, ori at 124), at gain {g:.3f}")
    # --- a closed room, both ways; the 3 m reach; and open again ---
    closed = "oridoor closed a door of Orion" in daemon_log
    check(closed, "oridoor, 1 m from the door, closed it")
    check("faropen opened" not in daemon_log and any(s == "closed" for _, s in rep["faropen"].doors),
          f"faropen, 4 m from the door, could not open it (told: {rep['faropen'].doors})")
    out_in_open, out_in_closed = lv("orirec", WHISPER, OUT), lv("orirec", CLOSED, OUT)
    ori_out_closed = lv("doorrec", CLOSED, ORI)
    check(out_in_open > 0.005, f"inside Orion, orirec hears out through the open door: {out_in_open:.4f}")
    check(out_in_closed < QUIET, f"the door closed: orirec hears nothing of out: {out_in_closed:.5f}")
    check(ori_out_closed < QUIET, f"the door closed: doorrec hears nothing of ori: {ori_out_closed:.5f}")
    ori_reopen = lv("doorrec", AFTER, ORI)
    check(ori_reopen > ori_door / 2, f"opened again by oridoor: doorrec hears ori again: {ori_reopen:.4f}")
    # --- knock ---
    kn = [k for k in rep["oridoor"].knocks if k[0] == "out"]
    refused = m.get('earshot_requests_refused_total{kind="knock"}', -1)
    check(len(kn) == 4 and all(r == "Orion" for _, r in kn) and refused == 2,
          f"five knocks at once then one: {len(kn)} arrive inside ({kn}), {refused:.0f} refused and counted")
    # --- whisper ---
    w_by_open, w_by = lv("by", OPEN, WHI), lv("by", WHISPER, WHI)
    w_tgt_open, w_tgt = lv("tgt", OPEN, WHI), lv("tgt", WHISPER, WHI)
    check(w_by_open > 0.1 and w_by < QUIET, f"the bystander 1 m away hears whi talk ({w_by_open:.4f}) but not "
          f"whisper ({w_by:.5f})")
    check(w_tgt_open < QUIET and w_tgt > 0.1, f"the target 24 m away hears nothing of whi ({w_tgt_open:.5f}) until "
          f"the whisper ({w_tgt:.4f})")
    w_closed = rep["oridoor"].frames("mark=whisper", "whi")
    w_closed_rec = lv("orirec", CLOSED, WHI)
    check(w_closed == 0 and w_closed_rec < QUIET,
          f"a whisper to oridoor behind Orion's closed door does not arrive: {w_closed} frames, orirec {w_closed_rec:.5f}")
    # --- the stage, across the floor ---
    s_far = lv("far", OPEN, STG)
    check(s_far > 0.05, f"far, 35 m from the stage, hears it: {s_far:.4f}")
    # --- thin mode ---
    t_ann = lv("thin", OPEN, ANN)
    check(t_ann > 0.05, f"the thin client hears ann through the server's mix: {t_ann:.4f}")
    fwd = sum(f for (p, _), (f, _, _) in rep["thinr"].heard.items())
    # it hears the stage all the time: a mix every tick a loaded machine runs
    check(rep["thinr"].mix.get("start", 0) > 0.3 * END * 50 and fwd == 0,
          f"a thin member is sent one mixed stream ({rep['thinr'].mix.get('start', 0)} frames) and no voice of its "
          f"own ({fwd} forwarded)")
    log(f"promises: {time.monotonic() - t_start:.1f} s")
    return 0 if check.ok else 1


if __name__ == "__main__":
    sys.exit(main())
