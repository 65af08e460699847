#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A company on several daemons, measured (not a test): bench/company.sh runs this.

Loopback only.  Starts its own 3-member etcd (tests/integration/etcdlib.py,
data on /dev/shm) and earshotd daemons of one company (each with
--cluster-etcd, the same floors, the first daemon's server.key copied to the
others), drives them with es-load --company (tests/load/company.c), and
prints numbers, a baseline beside each, `uptime` before and after, and one
JSON object last:

  failover  3 daemons, 6 floors; people on every floor, most of them on the
            2 floors of the daemon to be killed; two per floor on its stage
            talking, some others talking.  Admin mutes and desks are given
            through that daemon's admin socket.  es-load SIGKILLs it and
            measures until each of its people hears audio again; then etcd
            (etcdctl) and a survivor's `earshotctl enrolled`/`desks`/`people`
            say whether any enrolment, desk or admin mute was lost, and the
            seats in etcd are compared with where everyone was at the kill.
  storm     the 9 a.m.: P people over 3 daemons arriving within S seconds,
            each first at daemon i mod 3; baseline: the same people, places
            and arrivals against one daemon alone (no etcd, the same stacked
            plan through --floor-tile-y).
  etcd      what etcd costs: Raft proposals and puts per second per daemon
            at rest and during the storm (every member's /metrics; the
            largest count over the members, since each applies every write).

Every wait is bounded; every process started here is stopped here.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import etcdlib  # noqa: E402

OUT = {}


def log(*a):
    print(*a, flush=True)


def uptime():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def free_port(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Launcher:
    """One session (one scheduling autogroup) for every daemon of a run: the daemons together get one
    session's share of the machine, in the company runs as in the one-daemon baseline, and es-load (a
    session of its own) the same share beside them.  A small Python child in a new session starts each
    command it is sent and answers its pid; it stops them and exits when its stdin closes."""
    CODE = r"""
import os, subprocess, sys, json
procs = []
for line in sys.stdin:
    argv, logpath = json.loads(line)
    f = open(logpath, "ab")
    procs.append(subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT))
    f.close()
    print(procs[-1].pid, flush=True)
for p in procs:
    if p.poll() is None:
        p.terminate()
for p in procs:
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
"""

    def __init__(self):
        self.p = subprocess.Popen([sys.executable, "-c", self.CODE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, start_new_session=True)

    def start(self, argv, logpath):
        self.p.stdin.write(json.dumps([argv, logpath]) + "\n")
        self.p.stdin.flush()
        return int(self.p.stdout.readline())

    def close(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


LAUNCHER = None
LIMIT_HANDSHAKES = "2000/s burst 4000"


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class Daemon:
    def __init__(self, build, tmp, did, company, floors, etcd, max_people):
        self.build, self.id = build, did
        self.state = os.path.join(tmp, did)
        os.makedirs(self.state, mode=0o700, exist_ok=True)
        self.port = free_port(socket.SOCK_DGRAM)
        self.mport = free_port(socket.SOCK_STREAM)
        self.addr = "127.0.0.1:%d" % self.port
        self.argv = [os.path.join(build, "daemon", "earshotd"), "--listen", self.addr, "--state-dir", self.state,
                     "--metrics-listen", "127.0.0.1:%d" % self.mport, "--log-level", "info",
                     "--max-people", str(max_people), "--open-enrolment", "on",
]
        # es-load's people share 127.0.0.x source addresses, 40 each: the per-address handshake limit
        # (default 20/s burst 60) is for one person's (or one office NAT's) address
        if LIMIT_HANDSHAKES:
            self.argv += ["--limit-handshakes", LIMIT_HANDSHAKES]
        if etcd:
            self.argv += ["--cluster-etcd", etcd, "--cluster-company", company, "--cluster-daemon-id", did,
                          "--cluster-floors", ",".join(floors)]
        else:
            self.argv += ["--floor-tile-y", str(len(floors))]
        self.pid = None
        self.logpath = os.path.join(tmp, did + ".log")

    def start(self):
        self.pid = LAUNCHER.start(self.argv, self.logpath)
        end = time.monotonic() + 15
        while time.monotonic() < end:
            if not pid_alive(self.pid):
                raise RuntimeError("earshotd %s exited: %s" % (self.id, self.tail()))
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.mport, timeout=1).read()
                return
            except Exception:
                time.sleep(0.1)
        raise RuntimeError("earshotd %s did not come up: %s" % (self.id, self.tail()))

    def ctl(self, *args, timeout=10):
        r = subprocess.run([os.path.join(self.build, "daemon", "earshotctl"), "--state-dir", self.state] + list(args),
                           capture_output=True, text=True, timeout=timeout)
        return r.stdout + r.stderr

    def metrics(self):
        try:
            return urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.mport, timeout=2).read().decode()
        except Exception:
            return ""

    def alive(self):
        return self.pid is not None and pid_alive(self.pid)

    def stop(self):
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            end = time.monotonic() + 10
            while self.alive() and time.monotonic() < end:
                time.sleep(0.05)
            if self.alive():
                os.kill(self.pid, signal.SIGKILL)

    def tail(self, n=15):
        try:
            with open(self.logpath, "rb") as f:
                return b"".join(f.readlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""

    def grep_log(self, pattern):
        try:
            with open(self.logpath, "rb") as f:
                return [ln for ln in f.read().decode(errors="replace").splitlines() if re.search(pattern, ln)]
        except OSError:
            return []


def start_company(build, tmp, ec, company, ndaemons, floors, max_people):
    """ndaemons daemons of one company, the first one's server key copied to the others; returns them once
    every floor has an owner and none hosts more than its share (bounded: 30 s)."""
    ds = [Daemon(build, tmp, "%s-d%d" % (company, i), company, floors, ec.endpoints(), max_people)
          for i in range(ndaemons)]
    ds[0].start()
    key = os.path.join(ds[0].state, "server.key")
    for d in ds[1:]:
        shutil.copy2(key, os.path.join(d.state, "server.key"))
        os.chmod(os.path.join(d.state, "server.key"), 0o600)
        d.start()
    share = (len(floors) + ndaemons - 1) // ndaemons
    end = time.monotonic() + 30
    while time.monotonic() < end:
        h = hosting(ds)
        if sum(len(v) for v in h.values()) == len(floors) and all(len(v) <= share for v in h.values()):
            return ds, time.monotonic()
        time.sleep(0.25)
    raise RuntimeError("floors not spread within 30 s: %s" % hosting(ds))


def hosting(ds):
    """{daemon id: [floor index, ...]} from each daemon's `earshotctl cluster` (the floors it says are here)."""
    out = {}
    for d in ds:
        if not d.alive():
            continue
        text = d.ctl("cluster")
        fl = []
        for ln in text.splitlines():
            m = re.match(r"\s+f(\d+)\s+here", ln)
            if m:
                fl.append(int(m.group(1)))
        out[d.id] = fl
    return out


def cpu_s(pid):
    """CPU seconds (user + system) a process has used, or 0 if it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            w = f.read().split(")")[-1].split()
        return (int(w[11]) + int(w[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_of(ds, ec):
    """{what: CPU seconds so far}: each daemon, and etcd's members together."""
    r = {d.id: cpu_s(d.pid) for d in ds}
    if ec is not None:
        r["etcd"] = sum(cpu_s(m.proc.pid) for m in ec.members if m.running())
    return r


def cpu_used(before, after):
    return {k: round(after[k] - before[k], 2) for k in before if k in after}


def etcd_max(ec, name):
    """The largest value of counter `name` over the running members (each applies every committed write)."""
    vals = [ec.metric(i, name) for i in range(len(ec.members)) if ec.members[i].running()]
    vals = [v for v in vals if v is not None]
    return max(vals) if vals else None


def etcd_counts(ec):
    return {k: etcd_max(ec, k) for k in ("etcd_server_proposals_committed_total", "etcd_mvcc_put_total",
                                         "etcd_mvcc_txn_total")}


def etcd_rate(before, after, seconds, ndaemons):
    r = {}
    for k in before:
        if before[k] is not None and after[k] is not None:
            r[k] = (after[k] - before[k]) / seconds / ndaemons
    return r


def etcdctl_get(ec, prefix):
    """{key: value} under prefix, from etcdctl (Debian's etcd-client)."""
    env = dict(os.environ, ETCDCTL_API="3")
    r = subprocess.run(["etcdctl", "--endpoints", ec.endpoints(only_running=True), "get", "--prefix", prefix],
                       capture_output=True, text=True, timeout=30, env=env)
    lines = r.stdout.split("\n")
    kv = {}
    for i in range(0, len(lines) - 1, 2):
        kv[lines[i]] = lines[i + 1]
    return kv


def es_load(build, args, timeout):
    """Run es-load; its stdout lines (the last one is JSON) and that JSON as a dict."""
    # ES_LOAD_PREFIX="perf record -g -o FILE --" (for example) runs es-load under another program
    argv = os.environ.get("ES_LOAD_PREFIX", "").split() + [os.path.join(build, "tests", "load", "es-load")] + args
    log("  $ es-load " + " ".join(args))
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, start_new_session=True)
    for ln in p.stdout.splitlines()[:-1]:
        log("    " + ln)
    err = [ln for ln in p.stderr.splitlines() if ln.strip()]
    for ln in err[-4:]:
        log("    (stderr) " + ln)
    try:
        return json.loads(p.stdout.splitlines()[-1])
    except Exception:
        raise RuntimeError("es-load exit %d: %s %s" % (p.returncode, p.stdout[-2000:], p.stderr[-2000:]))


def stop_all(ds):
    for d in ds:
        d.stop()


# ---- failover ----------------------------------------------------------------

def failover(a, build, tmp, ec):
    log("== failover %s uptime: %s" % (time.strftime("%H:%M:%S", time.gmtime()), uptime()))
    floors = ["f%d" % k for k in range(a.floors)]
    ds, _ = start_company(build, tmp, ec, "fo", 3, floors, a.max_people)
    try:
        h = hosting(ds)
        log("  floors: %s" % h)
        victim = ds[a.victim]
        vf = h[victim.id]
        # --victim-people on the victim's floors, --other-people over the others
        per = []
        others = [k for k in range(a.floors) if k not in vf]
        for k in range(a.floors):
            if k in vf:
                per.append(a.victim_people // len(vf) + (1 if vf.index(k) < a.victim_people % len(vf) else 0))
            else:
                per.append(a.other_people // len(others) + (1 if others.index(k) < a.other_people % len(others) else 0))
        people = sum(per)
        places = os.path.join(tmp, "places.txt")
        # es-load kills the victim itself: the event and the measurement share one clock.  The admin's
        # mutes and desks are given through the victim's admin socket meanwhile (a thread would do; a
        # second es-load phase would not: simpler to wait on es-load's "in" line) -- so es-load runs in
        # the background and this waits for everyone to be in before the admin acts.
        args = ["--company", ",".join(d.addr for d in ds), "--floors", str(a.floors), "--people", str(people),
                "--per-floor", ",".join(map(str, per)), "--talking", str(a.talking), "--walkers", str(a.walkers), "--storm", str(a.join_s),
                "--hold", "10", "--kill-pid", str(victim.pid), "--kill-addr", victim.addr,
                "--kill-after", str(a.kill_after), "--recover", str(a.recover), "--places-out", places,
                "--max-seconds", str(a.join_s + 40 + a.kill_after + a.recover + 10)]
        log("  $ es-load " + " ".join(args))
        p = subprocess.Popen([os.path.join(build, "tests", "load", "es-load")] + args, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
        errlines = []
        settled = threading.Event()

        def read_err():
            for ln in p.stderr:
                errlines.append(ln.rstrip())
                if " in, " in ln:
                    settled.set()
        th = threading.Thread(target=read_err, daemon=True)
        th.start()
        # everyone in (es-load's stderr line): act as the admin on the victim
        settled.wait(timeout=a.join_s + 45)
        log("  " + "\n  ".join(ln for ln in errlines if "es-load:" in ln))
        muted, desked = admin_acts(victim, a.admin_acts, vf, people, per, places)
        # the kill (es-load's stdout line): read the seats in etcd at once, before anyone sits anywhere else
        lines, seats_at_kill, kill_unix = [], None, None
        end = time.monotonic() + a.kill_after + a.recover + 60
        for ln in p.stdout:
            lines.append(ln.rstrip())
            m = re.search(r"^killed .* at unix ([0-9.]+)", ln)
            if m:
                kill_unix = float(m.group(1))
                seats_at_kill = etcdctl_get(ec, "/earshot/fo/seats/")
                t = time.time()
                log("  seats read from etcd, done %.0f ms after the kill" % ((t - kill_unix) * 1000))
                OUT["seats_read_ms_after_kill"] = (t - kill_unix) * 1000
                # who is where on the survivors, while es-load's people are still in (it leaves at its end)
                poller = threading.Thread(target=poll_people, args=([d for d in ds if d is not victim], muted, p),
                                          daemon=True)
                poller.start()
            if time.monotonic() > end:
                break
        p.wait(timeout=30)
        th.join(timeout=5)
        for ln in lines[:-1]:
            log("    " + ln)
        res = json.loads(lines[-1])
        OUT["failover"] = res
        OUT["failover"]["per_floor"] = per
        OUT["failover"]["victim_floors"] = vf
        check_state(a, ec, ds, victim, places, kill_unix, muted, desked, people, seats_at_kill)
        log("  floors after: %s" % hosting(ds))
        for d in ds:
            if d is not victim:
                log("  %s log: %d 'hosting floor' lines, %d redirect lines, %d busy lines" % (
                    d.id, len(d.grep_log("hosting floor")), len(d.grep_log("sent to")),
                    len(d.grep_log("being placed"))))
    finally:
        stop_all(ds)


def admin_acts(victim, n, vf, people, per, places):
    """Mute n people and give n others their desk, through the victim's admin socket (before the kill)."""
    # the names es-load gives: p0.. in floor order (per)
    first = 0
    names_on = []
    for k, cnt in enumerate(per):
        if k in vf:
            names_on += ["p%d" % i for i in range(first + 2, first + cnt)]  # not the stage talkers
        first += cnt
    muted = names_on[:n]
    for nm in muted:
        r = victim.ctl("mute", nm)
        if not r.startswith("ok"):
            log("  mute %s: %s" % (nm, r.strip()))
    # desks: the desk each sits at (es-load's places file, written when everyone was in)
    label = {}
    with open(places) as f:
        for ln in f:
            w = ln.split()
            label[w[0]] = w[6]
    desked = [nm for nm in names_on[n:] if label.get(nm, "-") != "-"][:n]
    for nm in desked:
        r = victim.ctl("desk", nm, label[nm])
        if not r.startswith("ok"):
            log("  desk %s %s: %s" % (nm, label[nm], r.strip()))
    return muted, {nm: label[nm] for nm in desked}


PEOPLE = {}


def poll_people(survivors, muted, proc):
    """Every second until es-load ends: the survivors' `earshotctl people`; keeps the snapshot in which the
    most of the admin-muted people were present."""
    best = -1
    while proc.poll() is None:
        present = {}
        for d in survivors:
            try:
                text = d.ctl("people")
            except subprocess.TimeoutExpired:
                continue
            for ln in text.splitlines():
                w = ln.split()
                if len(w) >= 3 and w[0].startswith("#") and w[2] == "at":
                    present[w[1]] = ln
        n = sum(1 for nm in muted if nm in present)
        if n > best:
            best = n
            PEOPLE.clear()
            PEOPLE.update(present)
        time.sleep(1)


def check_state(a, ec, ds, victim, places_path, kill_unix, muted, desked, people, seats):
    """After the kill: enrolments, desks and admin mutes in etcd and on the survivors; the seats in etcd at
    the kill against where everyone was."""
    pre = "/earshot/fo/"
    kv = etcdctl_get(ec, pre)
    enrolled = [k for k in kv if k.startswith(pre + "office/people/")]
    mutes = [k for k in kv if k.startswith(pre + "office/mutes/")]
    desks = {k[len(pre + "office/desks/"):]: v for k, v in kv.items() if k.startswith(pre + "office/desks/")}
    where = {}
    with open(places_path) as f:
        for ln in f:
            w = ln.split()
            where[w[1]] = (w[0], int(w[2]), float(w[3]), float(w[4]), w[5], w[6], float(w[8]))
    key_of = {v[0]: k for k, v in where.items()}
    ages, right, wrong, missing, stale = [], 0, 0, 0, []
    vict_keys = [k for k, v in where.items() if v[4] == victim.addr]
    for key in vict_keys:
        name, fl, x, y = where[key][:4]
        sk = "%sseats/f%d/%s" % (pre, fl, key)
        if sk not in (seats or {}):
            missing += 1
            continue
        xs, ys, _fa, stamp = seats[sk].split()
        if where[key][6] > 0:
            ages.append(kill_unix - float(stamp))  # a walker's: when etcd's place was taken (whole seconds)
        if abs(float(xs) - x) < 0.05 and abs(float(ys) - y) < 0.05:
            right += 1
        else:
            wrong += 1
            # how long etcd has been wrong: since the move it does not have, if it has the one before (a
            # walker moves every 2 s; the stamp is whole seconds), else at most since its stamp
            moved = where[key][6]
            stale.append(kill_unix - moved if float(stamp) >= moved - 3.2 else kill_unix - float(stamp))
    survivors = [d for d in ds if d is not victim]
    en = [re.search(r"(\d+) enrolled", d.ctl("enrolled")) for d in survivors]
    present = PEOPLE
    muted_seen = sum(1 for nm in muted if "admin-muted" in present.get(nm, ""))
    muted_present = sum(1 for nm in muted if nm in present)
    desk_text = [d.ctl("desks") for d in survivors]
    desks_etcd = sum(1 for nm, lb in desked.items() if desks.get(lb) == key_of.get(nm))
    desks_survivor = [sum(1 for nm, lb in desked.items() if re.search(r"^%s %s " % (re.escape(lb), re.escape(nm)), t, re.M))
                      for t in desk_text]
    ages.sort()
    st = {
        "etcd_enrolled": len(enrolled), "people": people,
        "survivors_enrolled": [int(m.group(1)) if m else None for m in en],
        "etcd_mutes": len(mutes), "muted_by_admin": len(muted), "muted_present_after": muted_present,
        "muted_after_rejoin": muted_seen,
        "desks_by_admin": len(desked), "desks_in_etcd": desks_etcd, "desks_on_survivors": desks_survivor,
        "etcd_desks_total": len(desks),
        "victim_people_at_kill": len(vict_keys), "seats_right": right, "seats_wrong": wrong, "seats_missing": missing,
        "seat_age_s_p50": ages[len(ages) // 2] if ages else None, "seat_age_s_max": ages[-1] if ages else None,
        "walkers_at_kill": sum(1 for k in vict_keys if where[k][6] > 0),
        "unwritten_move_age_s_max": max(stale) if stale else None,
    }
    OUT.setdefault("failover", {})["state"] = st
    log("  etcd after the kill: %d enrolments (of %d people), %d admin mutes (%d given on the killed daemon), "
        "%d of the %d desks given there" % (len(enrolled), people, len(mutes), len(muted), desks_etcd, len(desked)))
    log("  survivors: `enrolled` says %s; of the %d admin-muted, %d are back and %d of them admin-muted; "
        "`desks` shows %s of the %d desks" % (st["survivors_enrolled"], len(muted), muted_present, muted_seen,
                                              desks_survivor, len(desked)))
    log("  seats in etcd at the kill of its %d people (%d walking 1 m and back every 2 s): %d at their place, "
        "%d a move behind (etcd wrong for at most %.2f s at the kill), %d missing; the walkers' stamps "
        "(whole seconds) p50 %.1f s, max %.1f s old" % (
            len(vict_keys), st["walkers_at_kill"], right, wrong, max(stale) if stale else 0, missing,
            st["seat_age_s_p50"] if ages else -1, st["seat_age_s_max"] if ages else -1))


# ---- storm and etcd's cost -----------------------------------------------------

def storm(a, build, tmp, ec):
    floors = ["f%d" % k for k in range(a.floors)]
    common = ["--floors", str(a.floors), "--people", str(a.storm_people), "--talking", str(a.talking),
              "--storm", str(a.storm_s), "--hold", str(a.hold), "--max-seconds", str(a.storm_s + 40 + a.hold + 20)]
    # baseline: one daemon alone, the same people and places (the stacked plan through --floor-tile-y)
    if not a.no_baseline:
        log("== storm baseline: one daemon alone %s uptime: %s" % (time.strftime("%H:%M:%S", time.gmtime()), uptime()))
        one = Daemon(build, tmp, "alone", "alone", floors, None, max(a.max_people, a.storm_people))
        one.start()
        try:
            c0 = cpu_of([one], None)
            OUT["storm_one"] = es_load(build, ["--company", one.addr] + common, a.storm_s + a.hold + 90)
            OUT["storm_one"]["cpu_s"] = cpu_used(c0, cpu_of([one], None))
            log("  CPU seconds over the run: %s" % OUT["storm_one"]["cpu_s"])
        finally:
            one.stop()
    log("== storm: 3 daemons %s uptime: %s" % (time.strftime("%H:%M:%S", time.gmtime()), uptime()))
    ds, _ = start_company(build, tmp, ec, "st", 3, floors, a.max_people)
    try:
        log("  floors: %s" % hosting(ds))
        time.sleep(2)
        b = etcd_counts(ec)
        time.sleep(a.rest_s)
        r = etcd_counts(ec)
        OUT["etcd_rest"] = etcd_rate(b, r, a.rest_s, 3)
        t0 = time.monotonic()
        c0 = cpu_of(ds, ec)
        res = es_load(build, ["--company", ",".join(d.addr for d in ds)] + common, a.storm_s + a.hold + 90)
        dt = time.monotonic() - t0
        e = etcd_counts(ec)
        OUT["storm_company"] = res
        res["cpu_s"] = cpu_used(c0, cpu_of(ds, ec))
        log("  CPU seconds over the run: %s" % res["cpu_s"])
        OUT["etcd_storm"] = etcd_rate(r, e, dt, 3)
        OUT["etcd_storm"]["window_s"] = dt
        for d in ds:
            log("  %s log: %d joins, %d sent elsewhere, %d told to retry (no owner yet)" % (
                d.id, len(d.grep_log(" joined as #")), len(d.grep_log(r": sent to [^(]")), len(d.grep_log("being placed"))))
    finally:
        stop_all(ds)
    # the same people again, each going first to their floor's daemon (a client that remembers its last
    # redirect): the storm without the redirects' extra handshakes, on a fresh company (no one enrolled)
    log("== storm: 3 daemons, everyone first at their floor's daemon %s uptime: %s" % (
        time.strftime("%H:%M:%S", time.gmtime()), uptime()))
    ds, _ = start_company(build, tmp, ec, "sh", 3, floors, a.max_people)
    try:
        h = hosting(ds)
        log("  floors: %s" % h)
        addr_of = {d.id: d.addr for d in ds}
        home = ["" for _ in floors]
        for did, fl in h.items():
            for k in fl:
                home[k] = addr_of[did]
        time.sleep(2)
        b2 = etcd_counts(ec)
        t0 = time.monotonic()
        c0 = cpu_of(ds, ec)
        OUT["storm_home"] = es_load(build, ["--company", ",".join(d.addr for d in ds), "--home", ",".join(home)] + common,
                                    a.storm_s + a.hold + 90)
        dt = time.monotonic() - t0
        OUT["storm_home"]["cpu_s"] = cpu_used(c0, cpu_of(ds, ec))
        log("  CPU seconds over the run: %s" % OUT["storm_home"]["cpu_s"])
        OUT["etcd_storm_home"] = etcd_rate(b2, etcd_counts(ec), dt, 3)
        OUT["etcd_storm_home"]["window_s"] = dt
        for d in ds:
            log("  %s log: %d joins, %d sent elsewhere, %d told to retry (no owner yet)" % (
                d.id, len(d.grep_log(" joined as #")), len(d.grep_log(r": sent to [^(]")), len(d.grep_log("being placed"))))
    finally:
        stop_all(ds)
    log("  etcd per daemon at rest (%.0f s): %s" % (a.rest_s, fmt_rate(OUT["etcd_rest"])))
    log("  etcd per daemon over the storm's run (%.0f s, joins + %.0f s held): %s" % (
        OUT["etcd_storm"]["window_s"], a.hold, fmt_rate(OUT["etcd_storm"])))


def fmt_rate(r):
    return ", ".join("%s %.2f/s" % (k.replace("etcd_", "").replace("_total", ""), v) for k, v in r.items()
                     if k != "window_s")


def main():
    global LAUNCHER, LIMIT_HANDSHAKES
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build")
    ap.add_argument("--only", choices=["failover", "storm"], help="one scenario (default: both)")
    ap.add_argument("--floors", type=int, default=6)
    ap.add_argument("--max-people", type=int, default=4000)
    ap.add_argument("--talking", type=float, default=0.02, help="fraction of the others talking besides the stages")
    ap.add_argument("--walkers", type=float, default=0.2,
                    help="failover: fraction of the people (not the stages') who step 1 m and back every 2 s")
    ap.add_argument("--victim", type=int, default=1, help="which daemon is killed (0..2)")
    ap.add_argument("--victim-people", type=int, default=1000)
    ap.add_argument("--other-people", type=int, default=400)
    ap.add_argument("--join-s", type=float, default=10, help="failover: the people arrive over this")
    ap.add_argument("--kill-after", type=float, default=5)
    ap.add_argument("--recover", type=float, default=30)
    ap.add_argument("--admin-acts", type=int, default=20, help="admin mutes and desks given on the victim")
    ap.add_argument("--storm-people", type=int, default=2000, help="4,000 did not fit this 2-core machine (docs/BENCHMARKS.md)")
    ap.add_argument("--storm-s", type=float, default=2)
    ap.add_argument("--hold", type=float, default=5)
    ap.add_argument("--rest-s", type=float, default=10)
    ap.add_argument("--no-baseline", action="store_true", help="storm: skip the one-daemon baseline")
    ap.add_argument("--limit-handshakes", default=LIMIT_HANDSHAKES,
                    help="each daemon's --limit-handshakes (per source address; '' for the daemon's default)")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    LIMIT_HANDSHAKES = a.limit_handshakes
    log("company bench: %s, load average %s" % (time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), uptime()))
    tmp = tempfile.mkdtemp(prefix="earshot-company-", dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    OUT["uptime_before"] = uptime()
    LAUNCHER = Launcher()
    log("daemons' --limit-handshakes: %s" % (LIMIT_HANDSHAKES or "the default"))
    try:
        with etcdlib.EtcdCluster(3) as ec:
            if a.only in (None, "failover"):
                failover(a, build, tmp, ec)
            if a.only in (None, "storm"):
                storm(a, build, tmp, ec)
    finally:
        LAUNCHER.close()
        if os.environ.get("EARSHOT_KEEP"):
            log("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    OUT["uptime_after"] = uptime()
    log("load average after: %s" % uptime())
    print(json.dumps(OUT, sort_keys=True))


if __name__ == "__main__":
    main()
