#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A company on three daemons (issue 18), on loopback: a 3-member etcd
cluster, three earshotd with six floors of the built-in office, and people
on floors of each daemon, every client given all three addresses.

- At start the empty floors spread two to each daemon, and a join at any
  daemon for a place on another daemon's floor is sent there (a sealed
  redirect in place of the WELCOME).
- SIGKILL of the daemon hosting alice and bob: its floors are taken by the
  others, and alice and bob come back at their places through their lists
  of addresses; bob hears alice's speech again (recognised).
- One etcd member killed (the leader): nobody reconnects, carol's tone goes
  on at dave's ears.  All of etcd stopped: every conversation goes on
  (no reconnect, no gap in dave's tone); the daemons say etcd is
  unreachable, then reachable again once it is back.
- earshotctl drain of carol and dave's daemon: they are sent to the
  floors' new daemons; the silence dave hears is measured and printed.
- erin takes the lift (a move to a place on a floor another daemon hosts):
  she is sent there and is heard by frank on that floor.

Exit 77 without etcd-server, flite or pocketsphinx."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import etcdlib  # noqa: E402
from eslib import (  # noqa: E402
    Checks, Daemon, Proc, SKIP, build_dir, check_recognised, envelope, log, read_wav_mono, recognise, speak16,
    time_scale, wait_until)

FLOORS = ["f1", "f2", "f3", "f4", "f5", "f6"]
H = 22.0  # the built-in office's height (y grows north: see floor_y)
S1 = "the meeting starts at three in room orion"
S2 = "please bring the quarterly report"
SENTENCES = [S1, S2, "we will review the budget for next year", "lunch is ready in the kitchen"]
RATE = 48000


def floor_y(floor, y):
    """y on a floor (metres from its south wall) in the company's plan: floor k is the plan's
    k-th tile from the north, and y grows north."""
    return y + (len(FLOORS) - 1 - FLOORS.index(floor)) * H


def at(floor, x, y):
    return f"{x},{floor_y(floor, y)}"


class Company:
    def __init__(self, d, ec):
        self.d, self.ec, self.b = d, ec, build_dir()
        self.daemons = []

    def start(self, n):
        for i in range(n):
            sd = f"{self.d}/state{i}"
            os.makedirs(sd, mode=0o700)
            if i:
                # one key for the company: every daemon holds it
                shutil.copy(f"{self.d}/state0/server.key", f"{sd}/server.key")
                os.chmod(f"{sd}/server.key", 0o600)
            dm = Daemon(self.d, "--floor-plan", "builtin", "--state-dir", sd,
                        "--cluster-etcd", self.ec.endpoints(), "--cluster-daemon-id", f"d{i}",
                        "--cluster-floors", ",".join(FLOORS), "--open-enrolment", "off", name=f"d{i}", metrics=True)
            dm.start()
            self.daemons.append(dm)
        return self

    def ctl(self, i, *args):
        r = subprocess.run([f"{self.b}/daemon/earshotctl", "--state-dir", f"{self.d}/state{i}", *args],
                           capture_output=True, text=True, timeout=20)
        return r.returncode, r.stdout

    def hosted(self):
        """{floor: daemon index} from each live daemon's own 'here' lines."""
        m = {}
        for i, dm in enumerate(self.daemons):
            if not dm.alive():
                continue
            rc, out = self.ctl(i, "cluster")
            for f in re.findall(r"^  (\S+)\s+here, \d+ people$", out, re.M):
                m.setdefault(f, []).append(i)
        return m

    def late(self):
        """Late ticks so far, summed over the live daemons (a gap a listener hears may be the machine's)."""
        n = 0
        for dm in self.daemons:
            if dm.alive():
                try:
                    n += int(dm.metrics().get("earshot_ticks_late_total", 0))
                except OSError:
                    pass
        return n

    def addrs(self):
        return ",".join(dm.addr for dm in self.daemons)

    def stop(self):
        for dm in self.daemons:
            if dm.alive():
                dm.stop()


def env_of(d, name):
    env = dict(os.environ, HOME=f"{d}/home-{name}", XDG_RUNTIME_DIR=f"{d}/run-{name}",
               XDG_CONFIG_HOME=f"{d}/config-{name}")
    os.makedirs(env["XDG_RUNTIME_DIR"], mode=0o700, exist_ok=True)
    return env


def enrol(co, name, daemon):
    """An invite made at one daemon, redeemed with `earshot join CODE`: once, company-wide (etcd)."""
    rc, out = co.ctl(daemon, "invite", name)
    code = out.splitlines()[0] if rc == 0 and out else ""
    r = subprocess.run([f"{build_dir()}/client/earshot", "join", code, "-v"], env=env_of(co.d, name), capture_output=True,
                       text=True, timeout=60)
    return r.returncode == 0 and f"as {name}" in r.stdout, (r.stdout + r.stderr).strip()


def client(d, name, server, where, *args):
    env = env_of(d, name)
    argv = [f"{build_dir()}/client/earshot", "--server", server, "--name", name, "--headless", "--at", where, "-v",
            *args]
    return Proc(argv, f"{d}/{name}.log", env=env)


def joins(p):
    return p.log_text().count("earshot: joined ")


def silences(path, t0, t1, hop_ms=10):
    """The longest run of near silence (under a tenth of the median level)
    in the recording between t0 and t1 seconds, in ms."""
    rate, x = read_wav_mono(path)
    env = envelope(x[int(t0 * rate):int(t1 * rate)], rate, hop_ms)
    if not env:
        return None
    med = sorted(env)[len(env) // 2]
    run = best = 0
    for v in env:
        run = run + 1 if v < med * 0.1 else 0
        best = max(best, run)
    return best * hop_ms


def one_utterance(path, t0, t1, dst, hop_ms=10):
    """Cut the first whole utterance (sound between two pauses of at least
    0.4 s, 1.5 to 6 s long) between t0 and t1 seconds of the recording into
    dst, with 0.2 s around it: recognition then judges one sentence, and the
    same cut played backwards is a fair control.  None if there is none."""
    rate, x = read_wav_mono(path)
    env = envelope(x[int(t0 * rate):int(t1 * rate)], rate, hop_ms)
    if not env:
        return None
    loud = max(env)
    quiet = [v < loud * 0.03 for v in env]
    gap = int(400 / hop_ms)
    i, n = 0, len(quiet)
    while i < n:
        # a pause of at least gap hops, then sound, then another such pause
        j = i
        while j < n and quiet[j]:
            j += 1
        if j - i >= gap and j < n:
            k = j
            while k < n:
                if quiet[k]:
                    e = k
                    while e < n and quiet[e]:
                        e += 1
                    if e - k >= gap or e == n:
                        break
                    k = e
                else:
                    k += 1
            if k < n and 1500 <= (k - j) * hop_ms <= 6000:
                a = t0 + (j * hop_ms) / 1000.0 - 0.2
                return cut(path, dst, a, a + (k - j) * hop_ms / 1000.0 + 0.4)
            i = k
        else:
            i = j + 1 if j == i else j
    return None


def cut(src, dst, t0, t1):
    subprocess.run(["sox", src, dst, "trim", str(max(0.0, t0)), str(t1 - t0)], check=True)
    return dst


def main():
    if not etcdlib.etcd_binary():
        log("SKIP: etcd (Debian: etcd-server) is not installed")
        return SKIP
    d = tempfile.mkdtemp(prefix="es-company-")
    if not speak16(S1, f"{d}/s1.wav") or not shutil.which("sox"):
        log("SKIP: flite or sox missing")
        return SKIP
    if recognise(f"{d}/s1.wav", SENTENCES, d) is None:
        log("SKIP: pocketsphinx missing")
        return SKIP
    ts = time_scale()
    # alice's sentence over and over for the whole test; carol's steady tone
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", f"{d}/pause.wav", "trim", "0", "0.8"], check=True)
    subprocess.run(["sox"] + [f"{d}/s1.wav", f"{d}/pause.wav"] * 40 + [f"{d}/alice.wav"], check=True)
    # a tone that changes pitch every 0.5 s: the client's noise suppression would fade a steady one
    parts = []
    for hz in (440, 620, 500, 700):
        parts.append(f"{d}/t{hz}.wav")
        subprocess.run(["sox", "-n", "-r", "48000", "-c", "1", "-b", "16", parts[-1], "synth", "0.5", "sine", str(hz),
                        "vol", "0.3"], check=True)
    subprocess.run(["sox"] + parts + [f"{d}/cycle.wav"], check=True)
    subprocess.run(["sox", f"{d}/cycle.wav", f"{d}/tone.wav", "repeat", "90"], check=True)
    if not speak16(S2, f"{d}/s2.wav"):
        return SKIP
    subprocess.run(["sox"] + [f"{d}/s2.wav", f"{d}/pause.wav"] * 20 + [f"{d}/erin.wav"], check=True)
    ok = Checks()
    procs = []
    with etcdlib.EtcdCluster(3) as ec:
        co = Company(d, ec).start(3)
        try:
            # ---- the floors spread over the daemons: two each
            spread = wait_until(lambda: (lambda m: len(m) == 6 and all(len(v) == 1 for v in m.values()) and
                                         sorted(sum(m.values(), [])) == [0, 0, 1, 1, 2, 2])(co.hosted()), 30 * ts)
            m = {f: v[0] for f, v in co.hosted().items()}
            ok(spread, f"six empty floors spread two to each daemon: {m}")
            rc, out = co.ctl(0, "cluster")
            log(out)
            by_daemon = {i: sorted(f for f in m if m[f] == i) for i in range(3)}
            x_d, y_d = 0, 1  # alice and bob on a floor of d0, carol and dave on d1's; d2 hosts the rest
            fa, fb = by_daemon[x_d][0], by_daemon[y_d][0]
            fe, ff = by_daemon[2][0], by_daemon[2][1] if len(by_daemon[2]) > 1 else by_daemon[2][0]

            # ---- invite-only: each invite made at one daemon and used at it, known to all through etcd
            for k, who in enumerate(("alice", "bob", "carol", "dave", "erin", "frank")):
                good, what = enrol(co, who, k % 3)
                ok(good, f"{who} enrolled with an invite from d{k % 3}: " +
                   (what.splitlines()[-1] if good and what else what))
            good, what = enrol(co, "alice", 1)
            ok(not good, "an invite for a name already enrolled elsewhere in the company is refused")
            # an admin's desk and a locked room at one daemon reach the others
            rc, out = co.ctl(1, "desk", "erin", "A2-3")
            ok(rc == 0, f"earshotctl desk erin A2-3 at d1: {out.strip()}")
            ok(wait_until(lambda: re.search(r"^A2-3 erin ", co.ctl(2, "desks")[1], re.M), 10 * ts),
               "d2's desks show erin's desk given at d1")
            rc, out = co.ctl(0, "close-room", "Vega 3")
            ok(rc == 0 and all(co.daemons[k].wait_log("room 'Vega 3' closed and locked by an admin", 10 * ts)
                               for k in (1, 2)), f"Vega 3 closed at d0 is locked at d1 and d2: {out.strip()}")
            co.ctl(0, "open-room", "Vega 3")

            # everyone is given every address and starts at a daemon that is NOT their floor's
            def server_list(first):
                return ",".join([co.daemons[first].addr] + [dm.addr for k, dm in enumerate(co.daemons) if k != first])
            bob = client(d, "bob", server_list(2), at(fa, 6, 19.5), "--record", f"{d}/bob.wav", "--seconds", "170")
            procs.append(bob)
            alice = client(d, "alice", server_list(1), at(fa, 5, 19.5), "--play", f"{d}/alice.wav", "--seconds", "170")
            procs.append(alice)
            dave = client(d, "dave", server_list(2), at(fb, 6, 19.5), "--record", f"{d}/dave.wav", "--seconds", "170")
            procs.append(dave)
            t_dave = time.time()
            carol = client(d, "carol", server_list(0), at(fb, 5, 19.5), "--play", f"{d}/tone.wav", "--seconds", "170")
            procs.append(carol)
            t_bob = time.time()  # bob's recording starts about now (within the joins' second)
            for p, who in ((alice, "alice"), (bob, "bob"), (carol, "carol"), (dave, "dave")):
                ok(wait_until(lambda: joins(p) >= 1, 15 * ts), f"{who} joined")
            ok(co.daemons[x_d].wait_log("alice joined", 5 * ts) and co.daemons[x_d].wait_log("bob joined", 5 * ts),
               f"alice and bob, who knocked at d2 and d1, sit on {fa} at d{x_d}")
            ok("sent there" in co.daemons[1].log_text() and "sent there" in co.daemons[2].log_text(),
               "the daemons they knocked at sent them to their floor's daemon")
            time.sleep(4)

            # ---- SIGKILL of alice and bob's daemon
            t_kill = time.time()
            co.daemons[x_d].stop(signal.SIGKILL)
            log(f"killed d{x_d} (hosting {by_daemon[x_d]}) at {t_kill - t_bob:.1f} s into bob's recording")
            back = wait_until(lambda: joins(alice) >= 2 and joins(bob) >= 2, 30 * ts)
            t_back = time.time()
            ok(back, f"alice and bob are back {t_back - t_kill:.1f} s after the kill")
            m2 = co.hosted()
            ok(fa in m2 and m2[fa][0] != x_d, f"{fa} is hosted by d{m2.get(fa, ['?'])[0]} now")
            host = co.daemons[m2[fa][0]] if fa in m2 else None
            seated = host and all(re.search(rf"{who} joined as #\d+ at {re.escape(where)}", host.log_text())
                                  for who, where in (("alice", "5.00," + f"{floor_y(fa, 19.5):.2f}"),
                                                     ("bob", "6.00," + f"{floor_y(fa, 19.5):.2f}")))
            ok(seated, "both at their places again")
            time.sleep(9)
            t_heard = time.time()

            # ---- one etcd member (the leader) dies: nobody notices
            t_calm = time.time() - 4  # the 4 s before: nothing happens (the baseline for dave's silences)
            late = {"start": co.late()}
            before = {n: joins(p) for n, p in (("carol", carol), ("dave", dave), ("alice", alice), ("bob", bob))}
            t_e1 = time.time()
            killed = ec.leader()
            killed = 0 if killed is None else killed
            ec.kill(killed)
            time.sleep(4)
            t_e2 = time.time()
            late["member"] = co.late()
            after = {n: joins(p) for n, p in (("carol", carol), ("dave", dave), ("alice", alice), ("bob", bob))}
            ok(before == after, f"etcd member {killed} (the leader) killed: nobody reconnected {after}")
            ec.start(killed)

            # ---- all of etcd stops: every conversation goes on
            ec.stop_all()
            t_s0 = time.time()
            live = [dm for dm in co.daemons if dm.alive()]
            ok(all(dm.wait_log("etcd unreachable", 10 * ts) for dm in live), "the daemons say etcd is unreachable")
            # an enrolled person can still join a floor that runs
            m_now = {f: v[0] for f, v in co.hosted().items()}
            fe0 = next(f for f in FLOORS if f in m_now)
            erin0 = client(d, "erin", co.addrs(), at(fe0, 20, 19.5), "--seconds", "3")
            procs.append(erin0)
            ok(wait_until(lambda: joins(erin0) >= 1, 10 * ts), f"with etcd down, erin joins {fe0}, a floor that runs")
            erin0.wait(20)
            time.sleep(max(0.0, 4 - (time.time() - t_s0)))
            t_s1 = time.time()
            late["down"] = co.late()
            after2 = {n: joins(p) for n, p in (("carol", carol), ("dave", dave), ("alice", alice), ("bob", bob))}
            ok(after2 == after, f"all of etcd stopped: nobody reconnected {after2}")
            ec.start_all()
            ok(all(dm.wait_log("reachable again", 20 * ts) for dm in live), "etcd back: the daemons say so")
            time.sleep(3)

            # ---- drain carol and dave's daemon
            t_drain = time.time()
            rc, out = co.ctl(y_d, "drain")
            log(out)
            ok(rc == 0, "earshotctl drain answers ok")
            moved = wait_until(lambda: joins(carol) >= 2 and joins(dave) >= 2, 20 * ts)
            ok(moved, f"carol and dave moved to {fb}'s new daemon {time.time() - t_drain:.1f} s after the drain")
            m3 = co.hosted()
            ok(all(y_d not in v for v in m3.values()), f"the drained daemon hosts nothing: {m3}")
            time.sleep(4)
            t_drained = time.time()

            # ---- the killed daemon comes back and the drained one takes floors again: the empty floors spread
            try:
                co.daemons[x_d].start()
            except AssertionError:
                # its old port was taken meanwhile (a client's socket may get a freed port): the machine
                # comes back at another address, as a replacement would
                old = co.daemons[x_d]
                co.daemons[x_d] = Daemon(d, *old.args, name=f"d{x_d}b", metrics=True)
                co.daemons[x_d].start()
            rc, out = co.ctl(y_d, "drain", "off")
            ok(rc == 0, "earshotctl drain off answers ok")
            ok(wait_until(lambda: len({v[0] for v in co.hosted().values()}) == 3, 30 * ts),
               f"the restarted and the undrained daemons host floors again: {co.hosted()}")

            # ---- erin takes the lift to a floor of another daemon, and talks there
            frank = client(d, "frank", server_list(0), at(ff, 30, 19.5), "--record", f"{d}/frank.wav", "--seconds", "40")
            procs.append(frank)
            t_frank = time.time()
            erin = client(d, "erin", server_list(0), at(fe, 20, 19.5), "--play", f"{d}/erin.wav", "--seconds", "40")
            procs.append(erin)
            ok(wait_until(lambda: joins(frank) >= 1 and joins(erin) >= 1, 15 * ts), "erin and frank joined")
            # erin's floor and frank's are on different daemons after the drain? then the lift is a redirect
            m4 = co.hosted()
            log(f"erin on {fe} (d{m4[fe][0]}), frank on {ff} (d{m4[ff][0]})")
            target = ff
            if m4[fe][0] == m4[ff][0]:
                target = next(f for f in FLOORS if m4[f][0] != m4[fe][0])
                frank.stop()
                frank = client(d, "frank", server_list(0), at(target, 30, 19.5), "--record", f"{d}/frank.wav",
                               "--seconds", "40")
                procs.append(frank)
                t_frank = time.time()
                ok(wait_until(lambda: joins(frank) >= 1, 15 * ts), "frank joined on another daemon's floor")
            rc, out = co.ctl(m4[fe][0], "move", "erin", at(target, 29, 19.5))
            log(out.strip())
            ok(wait_until(lambda: joins(erin) >= 2, 15 * ts), f"erin took the lift to {target} on another daemon")
            ok(co.daemons[m4[target][0]].wait_log("erin joined", 5 * ts), "erin sits on that floor's daemon")
            t_lift = time.time()
            time.sleep(8)
            frank.stop()
            erin.stop()
        finally:
            for p in procs:
                p.stop()
            co.stop()
        # ---- what was heard
    u = one_utterance(f"{d}/bob.wav", t_back - t_bob + 0.5, t_heard - t_bob, f"{d}/bob-after.wav")
    good, msg = check_recognised(u, S1, SENTENCES, d) if u else (False, "no whole sentence in bob's recording")
    ok(good is not False, "after the failover bob hears alice: " + msg)
    gap_calm = silences(f"{d}/dave.wav", t_calm - t_dave, t_e1 - t_dave)
    gap_member = silences(f"{d}/dave.wav", t_e1 - t_dave, t_e2 - t_dave)
    gap_down = silences(f"{d}/dave.wav", t_s0 - t_dave, t_s1 - t_dave)
    gap_drain = silences(f"{d}/dave.wav", t_drain - t_dave - 1, t_drained - t_dave)
    log(f"late ticks (all daemons): {late['member'] - late['start']} while an etcd member was down, "
        f"{late['down'] - late['member']} while all of etcd was")
    log(f"dave's longest silence: 4 s where nothing happens {gap_calm} ms, "
        f"etcd member killed {gap_member} ms, all of etcd stopped {gap_down} ms, "
        f"drain {gap_drain} ms (goal <= 200 ms)")
    ok(gap_member is not None and gap_member <= 200, "an etcd member's death: no gap in the tone")
    ok(gap_down is not None and gap_down <= 200, "all of etcd stopped: no gap in the tone")
    ok(gap_drain is not None and gap_drain <= 200, "the drain: at most 200 ms of silence")
    rate, fr = read_wav_mono(f"{d}/frank.wav")
    u = one_utterance(f"{d}/frank.wav", t_lift - t_frank, len(fr) / rate, f"{d}/frank-after.wav")
    good, msg = check_recognised(u, S2, SENTENCES, d) if u else (False, "no whole sentence in frank's recording")
    ok(good is not False, "frank hears erin after her lift: " + msg)
    log(f"{'PASS' if ok.ok else 'FAIL'}: test-company")
    if ok.ok:
        shutil.rmtree(d, ignore_errors=True)
    return 0 if ok.ok else 1


if __name__ == "__main__":
    sys.exit(main())
