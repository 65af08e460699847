#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""An admin's first day with earshotd, on one invite-only daemon (and one
restart):

- a state directory made the way the quick start used to (mkdir -p under
  umask 022: 0755) is made 0700 at start with a warning, and after a
  restart a group-readable directory and a world-readable state file are
  made 0700 and 0600, each said;
- the metrics carry the build (version, protocol) and the enrolled people
  and pending invites, which move when an invite is made and used;
- a bot's --play takes a FLAC file, and a file that is not sound is refused
  at once with the reason and exit 2."""
import os
import re
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import Proc, build_dir, free_tcp_port, free_udp_port, log, metrics, wait_for_log  # noqa: E402


def run(argv, env=None, timeout=30):
    r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def main():
    b = build_dir()
    d = tempfile.mkdtemp(prefix="es-admin-day-")
    addr = f"127.0.0.1:{free_udp_port()}"
    maddr = f"127.0.0.1:{free_tcp_port()}"
    state = f"{d}/state"
    cl, ctl = f"{b}/client/earshot", f"{b}/daemon/earshotctl"
    daemon_argv = [f"{b}/daemon/earshotd", "--listen", addr, "--state-dir", state, "--open-enrolment", "off",
                   "--metrics-listen", maddr]

    def device(who):
        os.makedirs(f"{d}/run-{who}", mode=0o700, exist_ok=True)  # its own control socket
        return dict(os.environ, XDG_CONFIG_HOME=f"{d}/config-{who}", XDG_RUNTIME_DIR=f"{d}/run-{who}")

    ok = True

    def check(cond, what):
        nonlocal ok
        log(("ok:   " if cond else "FAIL: ") + what)
        ok &= bool(cond)

    def gauge(name, want, timeout=10.0):
        """Wait for a gauge to read want (it is published every tick); the last value read."""
        end = time.monotonic() + timeout
        v = None
        while time.monotonic() < end:
            v = metrics(maddr).get(name)
            if v == want:
                break
            time.sleep(0.05)
        return v

    procs = []
    try:
        old = os.umask(0o022)
        os.makedirs(state)  # 0755, as `mkdir -p` made it
        os.umask(old)
        d1 = Proc(daemon_argv, f"{d}/d1.log")
        procs.append(d1)
        if not wait_for_log(d1, "listening on", 20):
            log(d1.log_text())
            return 1
        text = d1.log_text()
        check(mode(state) == 0o700, f"the state directory is made 0700 at start (it is {mode(state):o})")
        warn = re.search(r".*was mode 0755, open to everyone on this machine; made it 0700.*", text)
        check(warn, "and the daemon says so: " + (warn.group(0).strip() if warn else "(nothing)"))

        m = metrics(maddr)
        info = [k for k in m if k.startswith("earshot_build_info{")]
        check(len(info) == 1 and m[info[0]] == 1 and 'protocol="' in info[0] and 'version="' in info[0],
              f"build info: {info}")
        check(gauge("earshot_people_enrolled", 0) == 0 and gauge("earshot_invites_pending", 0) == 0,
              "nobody enrolled, no invite pending")

        rc, token, err = run([ctl, "--state-dir", state, "invite", "carol"])
        token = token.strip()
        check(rc == 0 and token.startswith("es1-"), "earshotctl invite carol")
        v = gauge("earshot_invites_pending", 1)
        check(v == 1, f"one invite pending after it (gauge {v})")

        rc, out, err = run([cl, "join", token], device("carol"))
        check(rc == 0, f"carol redeems it (exit {rc})")
        v, w = gauge("earshot_people_enrolled", 1), gauge("earshot_invites_pending", 0)
        check(v == 1 and w == 0, f"then one person enrolled, no invite pending (gauges {v}, {w})")

        # a bot plays what people have: FLAC here
        flac = f"{d}/hello.flac"
        subprocess.run(["sox", "-n", "-r", "44100", "-c", "2", "-b", "24", flac, "synth", "1", "sine", "440"],
                       check=True)
        bot = Proc([cl, "--play", flac, "--seconds", "3"], f"{d}/bot.log", env=device("carol"))
        procs.append(bot)
        v = gauge("earshot_people_talking", 1)  # published every tick while the tone is heard
        rc = bot.wait(20)
        check(rc == 0 and v == 1, f"--play a 24-bit stereo FLAC: the daemon hears carol talking (gauge {v}), exit {rc}")
        # what cannot be played is refused at once, before any connection
        bad = f"{d}/notes.wav"
        with open(bad, "w") as f:
            f.write("these are meeting notes, not sound\n")
        t0 = time.monotonic()
        rc, out, err = run([cl, "--play", bad, "--seconds", "5"], device("carol"))
        took = time.monotonic() - t0
        check(rc == 2 and "notes.wav" in err and "cannot read this sound file" in err and took < 4,
              f"--play of a text file is refused (exit {rc}, {took:.1f} s): {err.strip()}")

        # a directory and state file opened up by hand are tightened at the next start
        d1.stop()
        check(os.path.exists(f"{state}/state"), "the state was saved at stop")
        os.chmod(state, 0o750)
        os.chmod(f"{state}/state", 0o644)
        d2 = Proc(daemon_argv, f"{d}/d2.log")
        procs.append(d2)
        if not wait_for_log(d2, "listening on", 20):
            log(d2.log_text())
            return 1
        text = d2.log_text()
        check(mode(state) == 0o700 and mode(f"{state}/state") == 0o600,
              f"after a restart the directory is 0700 and the state 0600 again ({mode(state):o}, "
              f"{mode(f'{state}/state'):o})")
        check("was mode 0750, open to its group; made it 0700" in text, "the group-readable directory is said")
        check(re.search(r"state was mode 0644, open to everyone on this machine; made it 0600", text),
              "and the world-readable state file")
        v = gauge("earshot_people_enrolled", 1)
        check(v == 1, f"carol is still counted after the restart (gauge {v})")
    finally:
        for p in procs:
            p.stop()
    if not ok:
        for p in procs:
            log(p.log_text())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
