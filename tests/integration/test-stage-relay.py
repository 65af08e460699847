#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The company-wide stage (issue 18, docs/CLUSTER.md): a 3-member etcd on
loopback, two daemons of one company (the same company key), floors f1
and f2 of the built-in office, one on each daemon after balancing.

  - the daemons link their stage relays (earshotctl cluster: 1 link each);
  - a speaker on f1's stage (daemon A) is heard by a listener far across
    f2 on daemon B: the speech is recognised in B's listener's recording,
    and the relay's counters moved (frames out on A, in on B);
  - a listener on f1 at the same spot of its floor, on A, hears the same
    speech: its recording against B's gives the relay's added latency
    (both clients log when their recording starts on CLOCK_MONOTONIC);
  - after the speaker leaves, B's remote voice ends (ES_RELAY_OFF).

77 without etcd-server, flite, pocketsphinx or sox.  ~30 s."""
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eslib import (SKIP, Checks, Proc, build_dir, check_recognised, envelope, free_tcp_port, free_udp_port, log,  # noqa: E402
                   metrics, read_wav_mono, speak16, wait_for_log, wait_until)
import etcdlib  # noqa: E402

H = 22.0            # the built-in office's height in metres: floor k is the k-th tile from the north,
NFLOORS = 2         # y band NFLOORS-1-k: f1 (k 0) is f2 (k 1) shifted by H north
STAGE = (7.75, 3.75)  # inside room S (the stage), south-west
FAR = (39.25, 21.25)  # 35 m from the stage, open floor
SENTENCES = ["please send the quarterly report to finance before noon",
             "the meeting starts at three in room orion",
             "hello bob this is alice",
             "can you hear me now"]
SAY = SENTENCES[0]
SECONDS = 14


def main():
    if not etcdlib.etcd_binary():
        log("SKIP: etcd-server is not installed")
        return SKIP
    for tool in ("pocketsphinx_continuous", "sox"):
        if not shutil.which(tool):
            log(f"SKIP: {tool} is not installed")
            return SKIP
    b = build_dir()
    d = tempfile.mkdtemp(prefix="es-stage-relay-")
    speech = speak16(SAY, f"{d}/speech.wav")
    if not speech:
        log("SKIP: flite is not installed")
        return SKIP
    check = Checks()
    procs = []
    ctl, cl = f"{b}/daemon/earshotctl", f"{b}/client/earshot"
    t0 = time.monotonic()

    def env_of(who):
        run = f"{d}/run-{who}"
        os.makedirs(run, mode=0o700, exist_ok=True)
        return dict(os.environ, XDG_CONFIG_HOME=f"{d}/config-{who}", XDG_RUNTIME_DIR=run)

    def cluster(state):
        r = subprocess.run([ctl, "--state-dir", state, "cluster"], capture_output=True, text=True, timeout=20)
        return r.stdout + r.stderr

    def hosted(state):
        return re.findall(r"^\s+(f\d)\s+here,", cluster(state), re.M)

    def relay(state):
        m = re.search(r"stage relay: (\d+) links, (\d+) remote voices; frames out (\d+) in (\d+); "
                      r"offs out (\d+) in (\d+); dropped: auth (\d+) seal (\d+)", cluster(state))
        keys = ("links", "voices", "out", "in", "offs_out", "offs_in", "drop_auth", "drop_seal")
        return dict(zip(keys, map(int, m.groups()))) if m else None

    with etcdlib.EtcdCluster(3) as ec:
        try:
            states = {n: f"{d}/state-{n}" for n in "AB"}
            addrs = {n: f"127.0.0.1:{free_udp_port()}" for n in "AB"}
            maddrs = {n: f"127.0.0.1:{free_tcp_port()}" for n in "AB"}
            daemons = {}

            def start(n):
                p = Proc([f"{b}/daemon/earshotd", "--listen", addrs[n], "--state-dir", states[n],
                          "--floor-plan", "builtin", "--cluster-etcd", ec.endpoints(),
                          "--cluster-company", "stage", "--cluster-daemon-id", f"d{n}",
                          "--cluster-floors", "f1,f2", "--cluster-relay", "127.0.0.1:0",
                          "--metrics-listen", maddrs[n]], f"{d}/earshotd-{n}.log")
                procs.append(p)
                daemons[n] = p
                if not wait_for_log(p, "listening on", 20):
                    raise AssertionError(f"daemon {n} did not start:\n{p.log_text()}")

            start("A")
            check(wait_until(lambda: len(hosted(states["A"])) == 2, 20), "daemon A alone hosts f1 and f2")
            # the company key: every daemon of the company holds the same server.key
            os.makedirs(states["B"], mode=0o700, exist_ok=True)
            shutil.copy2(f"{states['A']}/server.key", f"{states['B']}/server.key")
            start("B")
            ok = check(wait_until(lambda: len(hosted(states["A"])) == 1 and len(hosted(states["B"])) == 1, 30),
                       f"balanced: A hosts {hosted(states['A'])}, B hosts {hosted(states['B'])}")
            ok &= check(wait_until(lambda: (relay(states["A"]) or {}).get("links") == 1 and
                                   (relay(states["B"]) or {}).get("links") == 1, 20),
                        f"the relays are linked: A {relay(states['A'])}, B {relay(states['B'])}")
            if not ok:
                return 1
            # which daemon hosts f1 (the stage's floor) and which f2
            on1 = "A" if hosted(states["A"]) == ["f1"] else "B"
            on2 = "B" if on1 == "A" else "A"
            log(f"f1 on daemon {on1} ({addrs[on1]}), f2 on daemon {on2} ({addrs[on2]})")

            def at(p, k):
                return "%.2f,%.2f" % (p[0], p[1] + (NFLOORS - 1 - k) * H)

            recs = {}
            for who, n, k in (("near", on1, 0), ("far", on2, 1)):
                recs[who] = Proc([cl, "--server", addrs[n], "--name", who, "--at", at(FAR, k),
                                  "--record", f"{d}/{who}.wav", "--seconds", str(SECONDS), "-v"],
                                 f"{d}/{who}.log", env=env_of(who))
                procs.append(recs[who])
            for who, n in (("near", on1), ("far", on2)):
                check(wait_for_log(daemons[n], f"{who} joined", 20), f"{who} joined daemon {n}")
            speaker = Proc([cl, "--server", addrs[on1], "--name", "host", "--at", at(STAGE, 0), "--play", speech,
                            "--seconds", str(SECONDS - 3), "-v"], f"{d}/host.log", env=env_of("host"))
            procs.append(speaker)
            check(wait_for_log(daemons[on1], "host joined", 20), f"the speaker joined daemon {on1} on f1's stage")
            check(wait_for_log(daemons[on2], "is heard here", 20),
                  f"daemon {on2} hears a voice from f1's stage")
            # placed on the same stage of the floor daemon B hosts (f2: the plan's second tile from the north)
            m = re.search(r"is heard here, from \(([\d.]+), ([\d.]+)\)", daemons[on2].log_text())
            want = tuple(float(v) for v in at(STAGE, 1).split(","))
            check(m and abs(float(m.group(1)) - want[0]) < 0.01 and abs(float(m.group(2)) - want[1]) < 0.01,
                  f"daemon {on2} places the voice at {m.groups() if m else None}: the stage of f2, {want}")
            for who, p in recs.items():
                p.wait(SECONDS + 30)
            speaker.wait(30)

            r1, r2 = relay(states[on1]), relay(states[on2])
            log(f"relay counters: {on1} {r1}; {on2} {r2}")
            check(r1["out"] >= 100, f"daemon {on1} relayed {r1['out']} frames out (>= 100: 2 s of speech)")
            check(r2["in"] >= 100 and r2["in"] <= r1["out"], f"daemon {on2} took {r2['in']} relayed frames in")
            check(r1["drop_auth"] == 0 and r2["drop_auth"] == 0 and r1["drop_seal"] == 0 and r2["drop_seal"] == 0,
                  "no relay packet refused between the company's daemons")
            # the same counters on the metrics endpoint (published every tick)
            key_out, key_in = 'earshot_stage_relay_frames_total{direction="out"}', 'earshot_stage_relay_frames_total{direction="in"}'
            m1, m2 = metrics(maddrs[on1]), metrics(maddrs[on2])
            check(m1.get(key_out) == r1["out"] and m2.get(key_in) == r2["in"] and m2.get("earshot_stage_relay_links") == 1,
                  f"metrics: {on1} {key_out} {m1.get(key_out)}, {on2} {key_in} {m2.get(key_in)}, "
                  f"links {m2.get('earshot_stage_relay_links')}")
            # the speaker left: an OFF ended B's voice (or, at worst, the 2 s idle timeout)
            check(wait_until(lambda: relay(states[on2])["voices"] == 0, 10),
                  f"daemon {on2}'s remote voice ended after the speaker left: {relay(states[on2])}")

            for who in ("near", "far"):
                ok, msg = check_recognised(f"{d}/{who}.wav", SAY, SENTENCES, d)
                check(ok, f"{who} ({'same daemon' if who == 'near' else 'through the relay'}): {msg}")

            # the relay's added latency: far's recording against near's, both placed on CLOCK_MONOTONIC
            start_ns = {}
            for who, p in recs.items():
                m = re.search(r"recording starts at monotonic (\d+) ns", p.log_text())
                start_ns[who] = int(m.group(1)) if m else None
            if all(start_ns.values()):
                hop = 4
                env = {}
                for who in recs:
                    rate, mono = read_wav_mono(f"{d}/{who}.wav")
                    env[who] = envelope(mono, rate, hop_ms=hop)
                shift = round((start_ns["far"] - start_ns["near"]) / 1e6 / hop)  # far's hop 0 is near's hop `shift`
                lag, corr = best_lag(env["near"], env["far"], shift, 50)
                added_ms = lag * hop
                log(f"relay latency: far (daemon {on2}, through the relay) hears the stage {added_ms} ms after "
                    f"near (daemon {on1}) (envelope correlation {corr:.3f} at {hop} ms hops)")
                check(corr > 0.5, f"the two recordings carry the same speech (correlation {corr:.3f})")
                # a measurement, not a bound: on a loaded machine the daemons' and clients' ticks slip
                # (-28 ms was seen at a load average of 6); docs/BENCHMARKS.md has the quiet figures
            else:
                check(False, f"both clients say when their recording starts: {start_ns}")
            log(f"took {time.monotonic() - t0:.1f} s")
        finally:
            for p in procs:
                p.stop()
    return 0 if check.ok else 1


def best_lag(ref, sig, shift, span):
    """The lag (hops, -span..span) at which sig best matches ref, with sig's
    hop 0 at ref's hop `shift`: (lag, normalised correlation)."""
    best = (0, -1.0)
    for lag in range(-span, span + 1):
        pairs = [(ref[i], sig[i - shift + lag]) for i in range(len(ref)) if 0 <= i - shift + lag < len(sig)]
        if len(pairs) < 200:
            continue
        a = [p[0] for p in pairs]
        c = [p[1] for p in pairs]
        ma, mc = sum(a) / len(a), sum(c) / len(c)
        da = [x - ma for x in a]
        dc = [x - mc for x in c]
        den = math.sqrt(sum(x * x for x in da) * sum(x * x for x in dc))
        if den > 0:
            r = sum(x * y for x, y in zip(da, dc)) / den
            if r > best[1]:
                best = (lag, r)
    return best


if __name__ == "__main__":
    sys.exit(main())
