#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""earshotd as a service, end to end: metrics over HTTP move while a client
is connected; SIGHUP reloads without dropping the client; SIGTERM exits
cleanly within a second and saves the state; after a restart a returning
person is put back at their place; --check-config names the line of each
kind of broken setting."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import (  # noqa: E402
    Proc, build_dir, free_tcp_port, free_udp_port, log, metrics_text, parse_metrics, time_scale, wait_for_log,
    wait_until)

METRICS = [
    "earshot_people_connected", "earshot_people_talking", "earshot_people_muted",
    "earshot_ticks_total", "earshot_ticks_late_total", "earshot_tick_duration_seconds",
    "earshot_packets_in_total", "earshot_packets_out_total", "earshot_bytes_in_total",
    "earshot_bytes_out_total", "earshot_packets_dropped_total", "earshot_handshakes_total",
    "earshot_handshake_failures_total", "earshot_admissions_refused_total", "earshot_plans",
    "earshot_encodes_per_tick", "earshot_degradation_level",
]


GOOD_PLAN = """earshot-floor 1
name "Small office"
scale 0.5
door-loss 10
grid
+-----------------+------+
|.................|.M....|
|..o..o..o..o.....|..==..|
|..==========...../..==..|
|..o..o..o..o.....|......|
|.................+--+---+
|..................../.F.|
+--------------------+---+
end
room M "Orion" meeting
room F "Booth" focus
desks A 2 2 13 4
door 21 6 closed
"""


def scrape(port):
    """The metrics text (its HELP and TYPE lines are checked too) and values."""
    text = metrics_text(f"127.0.0.1:{port}")
    return text, parse_metrics(text)


class NotifySocket:
    """A stand-in for systemd's $NOTIFY_SOCKET: a thread collects sd_notify
    messages as PID 1 would."""

    def __init__(self, path):
        self.path = path
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.s.bind(path)
        self.s.settimeout(0.1)
        self.msgs = []
        self.lock = threading.Lock()
        self.running = True
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while self.running:
            try:
                m = self.s.recv(4096).decode()
            except socket.timeout:
                continue
            with self.lock:
                self.msgs.append(m)

    def count(self, needle):
        with self.lock:
            return sum(needle in m for m in self.msgs)

    def close(self):
        self.running = False
        self.t.join()
        self.s.close()


def fail(msg, *procs):
    log("FAIL: " + msg)
    for p in procs:
        log(f"--- {p.argv[0]} log:\n{p.log_text()}")
    return 1


def check_config(b, d):
    """Each kind of broken config is rejected with its file, line and setting."""
    cases = [
        ("[audio]\nrange_m = abc\n", ":2: [audio] range_m: expected a number between 1 and 100, got 'abc'"),
        ("[server]\n\n\nmax_people = 0\n", ":4: [server] max_people:"),
        ("[server]\nlisten = nowhere\n", ":2: [server] listen:"),
        ("[metrics]\nlisten = 1.2.3.4:99999\n", ":2: [metrics] listen:"),
        ("[server]\nlisen = 127.0.0.1:7700\n", ":2: [server] lisen: unknown setting"),
        ("[nosuch]\nx = 1\n", ":2: [nosuch]: unknown section"),
        ("[security]\nopen_enrolment = sometimes\n", ":2: [security] open_enrolment:"),
        ("[log]\nlevel = chatty\n", ":2: [log] level:"),
        ("[audio]\nthis is not ini\n", ":2: syntax error"),
    ]
    for text, want in cases:
        path = os.path.join(d, "bad.conf")
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([f"{b}/daemon/earshotd", "--check-config", "--config", path,
                            "--state-dir", os.path.join(d, "state")], capture_output=True, text=True)
        if r.returncode != 1 or (path + want) not in r.stderr:
            log(f"config:\n{text}expected exit 1 and '{path}{want}', got {r.returncode}: {r.stderr}")
            return False
    # a missing floor plan
    r = subprocess.run([f"{b}/daemon/earshotd", "--check-config", "--config", "/dev/null",
                        "--floor-plan", os.path.join(d, "nope.plan"), "--state-dir", os.path.join(d, "state")],
                       capture_output=True, text=True)
    if r.returncode != 1 or "floor_plan" not in r.stderr:
        log(f"missing floor plan accepted: {r.returncode} {r.stderr}")
        return False
    # a floor plan that does not parse: its own file, line and column
    plan = os.path.join(d, "bad.plan")
    with open(plan, "w") as f:
        f.write("earshot-floor 1\nname \"x\"\nscale banana\n")
    r = subprocess.run([f"{b}/daemon/earshotd", "--check-config", "--config", "/dev/null",
                        "--floor-plan", plan, "--state-dir", os.path.join(d, "state")],
                       capture_output=True, text=True)
    if r.returncode != 1 or (plan + ":3:") not in r.stderr:
        log(f"bad floor plan accepted or not located: {r.returncode} {r.stderr}")
        return False
    # a good one, with a good plan
    with open(plan, "w") as f:
        f.write(GOOD_PLAN)
    r = subprocess.run([f"{b}/daemon/earshotd", "--check-config", "--config", "/dev/null",
                        "--floor-plan", plan, "--state-dir", os.path.join(d, "state")],
                       capture_output=True, text=True)
    if r.returncode != 0:
        log(f"good floor plan rejected: {r.returncode} {r.stderr}")
        return False
    good = os.path.join(d, "good.conf")
    with open(good, "w") as f:
        f.write("[server]\nlisten = 127.0.0.1:7700\n[audio]\nrange_m = 12\n")
    r = subprocess.run([f"{b}/daemon/earshotd", "--check-config", "--config", good,
                        "--state-dir", os.path.join(d, "state")], capture_output=True, text=True)
    if r.returncode != 0 or "configuration OK" not in r.stdout:
        log(f"good config rejected: {r.returncode} {r.stdout} {r.stderr}")
        return False
    # a missing explicit config file is an error
    r = subprocess.run([f"{b}/daemon/earshotd", "--check-config", "--config", os.path.join(d, "missing.conf")],
                       capture_output=True, text=True)
    if r.returncode != 1 or "cannot open config file" not in r.stderr:
        log(f"missing explicit config accepted: {r.returncode} {r.stderr}")
        return False
    return True


def main():
    b = build_dir()
    d = tempfile.mkdtemp(prefix="es-service-")
    if not check_config(b, d):
        return 1
    log("ok: --check-config rejects each kind of broken setting with file and line")

    state = os.path.join(d, "state")
    conf = os.path.join(d, "earshotd.conf")
    with open(conf, "w") as f:
        f.write("[log]\nlevel = info\n")
    port = free_udp_port()
    mport = free_tcp_port()
    addr = f"127.0.0.1:{port}"
    argv = [f"{b}/daemon/earshotd", "--config", conf, "--listen", addr, "--state-dir", state,
            "--metrics-listen", f"127.0.0.1:{mport}"]
    cl = f"{b}/client/earshot"
    # as under systemd: Type=notify, WatchdogSec=0.4 s (so pings every 0.2 s)
    notify = NotifySocket(os.path.join(d, "notify"))
    env = dict(os.environ, NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="400000")
    daemon = Proc(argv, os.path.join(d, "earshotd-1.log"), env=env)
    t_start = time.monotonic()
    procs = [daemon]
    try:
        if not wait_for_log(daemon, "listening on"):
            return fail("daemon did not start", daemon)
        text, v = scrape(mport)
        missing = [m for m in METRICS if f"# TYPE {m} " not in text or f"# HELP {m} " not in text]
        if missing:
            return fail(f"metrics missing: {missing}")
        if v["earshot_people_connected"] != 0:
            return fail("people_connected not 0 at start")
        time.sleep(0.1)
        if notify.count("READY=1") != 1:
            return fail(f"no READY=1 from the daemon: {notify.msgs}", daemon)

        bob = Proc([cl, "--server", addr, "--name", "bob", "--at", "5,3", "--record", f"{d}/bob1.wav",
                    "--seconds", "4", "-v"], f"{d}/bob1.log")
        procs.append(bob)
        if not wait_for_log(daemon, "bob joined"):
            return fail("bob did not join", daemon, bob)
        time.sleep(0.5)
        _, v1 = scrape(mport)
        if v1["earshot_people_connected"] != 1:
            return fail(f"people_connected {v1['earshot_people_connected']} with bob in")
        if v1["earshot_handshakes_total"] < 1 or v1["earshot_packets_in_total"] < 1:
            return fail("handshakes/packets did not move")
        # SIGHUP while bob is connected: reloaded, bob stays
        daemon.p.send_signal(signal.SIGHUP)
        if not wait_for_log(daemon, "reloaded"):
            return fail("no reload after SIGHUP", daemon)
        time.sleep(0.3)
        _, v2 = scrape(mport)
        if v2["earshot_ticks_total"] <= v1["earshot_ticks_total"]:
            return fail("ticks_total did not move")
        if v2["earshot_people_connected"] != 1 or "bob left" in daemon.log_text():
            return fail("bob was dropped by the reload", daemon)
        log(f"ok: metrics move (ticks {v1['earshot_ticks_total']:.0f} -> {v2['earshot_ticks_total']:.0f}), "
            "SIGHUP reloaded with bob still in")
        if notify.count("RELOADING=1") != 1 or notify.count("READY=1") != 2:
            return fail(f"SIGHUP did not notify RELOADING=1 then READY=1: {notify.msgs}", daemon)
        if bob.wait(timeout=15) != 0:
            return fail("bob's client failed", bob)
        if not wait_for_log(daemon, "bob left"):
            return fail("bob did not leave", daemon)

        # SIGTERM: clean exit within a second, state on disk
        t0 = time.monotonic()
        daemon.p.send_signal(signal.SIGTERM)
        rc = daemon.p.wait(timeout=5)
        took = time.monotonic() - t0
        # STOPPING=1 was sent before the exit: wait for the reader thread to have it (at most 5 s)
        wait_until(lambda: notify.count("STOPPING=1") >= 1, 5)
        if rc != 0 or took > 1.0 * time_scale():
            return fail(f"SIGTERM: exit {rc} after {took:.2f} s", daemon)
        pings = notify.count("WATCHDOG=1")
        if pings < 5 or notify.count("STOPPING=1") != 1:
            return fail(f"{pings} watchdog pings in {time.monotonic() - t_start:.1f} s, STOPPING "
                        f"{notify.count('STOPPING=1')}: {notify.msgs[-5:]}", daemon)
        log(f"ok: sd_notify READY, RELOADING, {pings} WATCHDOG pings, STOPPING")
        with open(os.path.join(state, "state")) as f:
            saved = f.read()
        # the name, then the flags field (state format 2)
        if " bob -\n" not in saved:
            return fail("bob is not in the saved state:\n" + saved)
        log(f"ok: SIGTERM exit 0 in {took:.2f} s, state saved")

        # next morning: bob comes back without saying where, and sits at 5,3
        daemon = Proc(argv, os.path.join(d, "earshotd-2.log"))
        procs.append(daemon)
        if not wait_for_log(daemon, "listening on"):
            return fail("daemon did not restart", daemon)
        bob = Proc([cl, "--server", addr, "--name", "bob", "--record", f"{d}/bob2.wav", "--seconds", "1", "-v"],
                   f"{d}/bob2.log")
        procs.append(bob)
        if bob.wait(timeout=15) != 0:
            return fail("bob's second client failed", bob)
        if "at 5.00,3.00" not in bob.log_text():
            return fail("bob was not put back at his place", bob, daemon)
        log("ok: a returning person is put back at their place")
    finally:
        for p in procs:
            p.stop()
        notify.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
