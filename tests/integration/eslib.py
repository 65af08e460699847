# SPDX-License-Identifier: MIT
"""Shared helpers for Earshot integration tests: free ports, processes,
speech generation, WAV reading and envelope correlation.  Standard library
only, so the tests run on a fresh machine."""
import array
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import wave

SKIP = 77


def log(*a):
    print(*a, flush=True)


class Checks:
    """A test's checks: check(cond, what) logs "ok:   what" or "FAIL: what"
    and returns cond; check.ok is False once any check failed."""

    def __init__(self):
        self.ok = True

    def __call__(self, cond, what):
        log(("ok:   " if cond else "FAIL: ") + what)
        self.ok &= bool(cond)
        return bool(cond)


def free_udp_port():
    """A UDP port nobody is bound to right now on 127.0.0.1."""
    for _ in range(50):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port > 1024:
            return port
    raise RuntimeError("no free UDP port")


def speak(text, path):
    """Write speech to a WAV with flite (clear) or espeak-ng; None if neither."""
    if shutil.which("flite"):
        subprocess.run(["flite", "-t", text, "-o", path], check=True)
        return path
    if shutil.which("espeak-ng"):
        subprocess.run(["espeak-ng", "-w", path, text], check=True)
        return path
    return None


class Proc:
    """A child process whose stderr goes to a log file, killed on exit."""

    def __init__(self, argv, logpath, env=None):
        argv = list(argv)
        caller_env = env
        env = dict(caller_env if caller_env is not None else os.environ)
        base = os.path.dirname(os.path.abspath(logpath))
        prog = os.path.basename(argv[0])
        if prog == "earshot" and not (caller_env and "XDG_CONFIG_HOME" in caller_env):
            # one identity per person: the same --name is the same device
            name = argv[argv.index("--name") + 1] if "--name" in argv else "default"
            env["XDG_CONFIG_HOME"] = os.path.join(base, "config-" + name)
        if prog == "earshotd" and not any(a.startswith("--floor-plan") for a in argv) and "--config" not in argv:
            # acoustics by distance alone unless a test asks for an office
            argv += ["--floor-plan", "none"]
        if prog == "earshotd" and "--state-dir" not in argv and "--config" not in argv:
            # one state (and server key) per address: a restart keeps both
            addr = argv[argv.index("--listen") + 1] if "--listen" in argv else "default"
            sd = os.path.join(base, "state-" + addr.replace(":", "_"))
            os.makedirs(sd, exist_ok=True)
            argv += ["--state-dir", sd]
        self.argv = argv
        self.logpath = logpath
        self.logf = open(logpath, "wb")
        self.p = subprocess.Popen(argv, stdout=self.logf, stderr=subprocess.STDOUT, env=env)

    def wait(self, timeout):
        return self.p.wait(timeout=timeout)

    def stop(self, sig=signal.SIGTERM, timeout=5):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.logf.close()
        return self.p.returncode

    def log_text(self):
        self.logf.flush()
        with open(self.logpath, "rb") as f:
            return f.read().decode(errors="replace")


def build_dir():
    d = os.environ.get("EARSHOT_BUILD")
    if not d:
        d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
    return os.path.abspath(d)


def wait_until(pred, timeout, step=0.05):
    """Poll pred() until it is true (True) or timeout seconds pass (False):
    the way to wait for an event that has no log line, such as a counter
    reaching a value.  timeout bounds the event; say in a comment what."""
    end = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(step)


def wait_for_log(proc, needle, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if needle in proc.log_text():
            return True
        if proc.p.poll() is not None:
            return False
        time.sleep(0.02)
    return False


def read_wav_mono(path):
    """(rate, list of float samples in -1..1), channels averaged."""
    with wave.open(path, "rb") as w:
        ch, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
        assert width == 2, "16-bit only"
        a = array.array("h")
        a.frombytes(w.readframes(n))
    if sys.byteorder == "big":
        a.byteswap()
    if ch == 1:
        return rate, [x / 32768.0 for x in a]
    return rate, [(a[i] + a[i + 1]) / 65536.0 for i in range(0, len(a) - 1, 2)]


def read_wav_stereo(path):
    with wave.open(path, "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 2
        rate = w.getframerate()
        a = array.array("h")
        a.frombytes(w.readframes(w.getnframes()))
    if sys.byteorder == "big":
        a.byteswap()
    return rate, [x / 32768.0 for x in a[0::2]], [x / 32768.0 for x in a[1::2]]


def envelope(samples, rate, hop_ms=10):
    """RMS per hop: the loudness contour speech leaves in a signal."""
    hop = int(rate * hop_ms / 1000)
    out = []
    for i in range(0, len(samples) - hop + 1, hop):
        s = 0.0
        for x in samples[i:i + hop]:
            s += x * x
        out.append(math.sqrt(s / hop))
    return out


def rms(samples):
    """Root mean square of a window of samples.  An empty window raises
    ValueError: a slice past the end of a recording is a broken test, and a
    0 would pass every "silent here" check."""
    if len(samples) == 0:
        raise ValueError("rms of an empty window (a slice past the end of the recording?)")
    return math.sqrt(sum(x * x for x in samples) / len(samples))


def peak(samples):
    return max((abs(x) for x in samples), default=0.0)


def best_correlation(ref, sig, max_lag):
    """Normalised correlation of two envelopes at the best lag of sig behind
    ref (0..max_lag hops).  Returns (corr, lag)."""
    best = (-1.0, 0)
    n = len(ref)
    mr = sum(ref) / n
    dr = [x - mr for x in ref]
    er = math.sqrt(sum(x * x for x in dr))
    for lag in range(0, max_lag + 1):
        seg = sig[lag:lag + n]
        if len(seg) < n:
            seg = seg + [0.0] * (n - len(seg))
        ms = sum(seg) / n
        ds = [x - ms for x in seg]
        es_ = math.sqrt(sum(x * x for x in ds))
        if er == 0 or es_ == 0:
            continue
        c = sum(a * b for a, b in zip(dr, ds)) / (er * es_)
        if c > best[0]:
            best = (c, lag)
    return best


ASOUNDRC = """
pcm.jackclock {{
    type jack
    playback_ports {{ 0 system:playback_1 }}
    capture_ports  {{ 0 system:capture_1 }}
}}
pcm.fileout {{
    type file
    slave.pcm {{ type plug slave.pcm "jackclock" }}
    file "{home}/played.raw"
    format "raw"
}}
pcm.filein {{
    type file
    slave.pcm {{ type plug slave.pcm "jackclock" }}
    file "/dev/null"
    infile "{home}/in.raw"
    format "raw"
}}
pcm.!default {{
    type asym
    playback.pcm "fileout"
    capture.pcm "filein"
}}
"""


class JackRig:
    """A paced virtual sound card for the real PortAudio path (see
    shared/ci-audio.md): jackd's dummy driver is the clock, ALSA's file
    plugin feeds in.raw (s16le 48 kHz mono) to capture and records
    playback (s16le 48 kHz, the stream's channels) to played.raw, one
    HOME per client."""

    def __init__(self, workdir):
        self.dir = workdir
        self.name = f"estest{os.getpid()}"
        self.jackd = None

    def available(self):
        import glob
        return shutil.which("jackd") is not None and bool(glob.glob("/usr/lib/*/alsa-lib/libasound_module_pcm_jack.so"))

    def start(self):
        env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1")
        # JACK allows 8 servers on a machine at once: with tests (and other
        # worktrees' suites) side by side the ninth is refused ("Too many
        # servers already active") until one stops.  Wait for a slot, at
        # most 120 s (a JACK test holds its server for 30-120 s).
        end = time.monotonic() + 120
        while True:
            self.jackd = Proc(["jackd", "--no-realtime", "-n", self.name, "-d", "dummy", "-r", "48000", "-p",
                               "256", "-C", "1", "-P", "1"], os.path.join(self.dir, "jackd.log"), env=env)
            # jackd is ready when a client can attach; its log says so first
            if wait_for_log(self.jackd, "dummy", 5.0) or self.jackd.p.poll() is None:
                return True
            if "Too many servers" not in self.jackd.log_text() or time.monotonic() > end:
                return False
            self.jackd.stop()
            log("jackd: all 8 JACK server slots of this machine are taken; waiting for one")
            time.sleep(1.0)

    def home(self, who, capture_samples):
        h = os.path.join(self.dir, who)
        os.makedirs(h, exist_ok=True)
        with open(os.path.join(h, ".asoundrc"), "w") as f:
            f.write(ASOUNDRC.format(home=h))
        a = array.array("h", [max(-32768, min(32767, int(round(x * 32767)))) for x in capture_samples])
        if sys.byteorder == "big":
            a.byteswap()
        with open(os.path.join(h, "in.raw"), "wb") as f:
            f.write(a.tobytes())
        return h

    def env(self, home):
        e = dict(os.environ, HOME=home, JACK_DEFAULT_SERVER=self.name, JACK_NO_START_SERVER="1")
        # Under ASan: ALSA's JACK plugin is dlopen'ed and unloaded again before
        # exit, so what it leaks has no module name to suppress; leaks in our
        # own client code are checked by every headless test.
        asan = e.get("ASAN_OPTIONS", "")
        e["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "detect_leaks=0"
        return e

    def stop(self):
        if self.jackd:
            self.jackd.stop()


def read_raw(path, channels):
    a = array.array("h")
    with open(path, "rb") as f:
        a.frombytes(f.read())
    if sys.byteorder == "big":
        a.byteswap()
    if channels == 1:
        return [x / 32768.0 for x in a]
    return [(a[i] + a[i + 1]) / 65536.0 for i in range(0, len(a) - 1, 2)]


def resample_linear(samples, rate_in, rate_out):
    if rate_in == rate_out:
        return list(samples)
    n = int(len(samples) * rate_out / rate_in)
    out = []
    for i in range(n):
        pos = i * rate_in / rate_out
        j = int(pos)
        f = pos - j
        a = samples[j] if j < len(samples) else 0.0
        b = samples[j + 1] if j + 1 < len(samples) else 0.0
        out.append(a + (b - a) * f)
    return out


def free_tcp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def metrics_text(addr):
    """The Prometheus text earshotd's metrics endpoint serves at addr (HOST:PORT)."""
    import urllib.request
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=5) as r:
        return r.read().decode()


def parse_metrics(text):
    """Prometheus text as {name{labels}: value}."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def metrics(addr):
    """earshotd's metrics at addr (HOST:PORT) as {name{labels}: value}."""
    return parse_metrics(metrics_text(addr))


def talking_pair(d, wav, bob_seconds, alice_seconds, procs):
    """The set-up of the flood and junk tests: earshotd with its metrics
    endpoint, bob at 1,0 recording to d/bob.wav, then alice at 0,0 beside
    him playing wav.  Every process is appended to procs as it starts (the
    caller stops them).  Returns (addr, maddr, daemon, bob, alice); raises
    AssertionError if the daemon does not start or someone does not join."""
    dm = Daemon(d, metrics=True)
    dm.start()
    procs.append(dm.proc)
    bob = Client(d, dm.addr, "bob", "--record", f"{d}/bob.wav", "--seconds", str(bob_seconds), "-v", at="1,0")
    try:
        bob.start()
    finally:
        if bob.proc:
            procs.append(bob.proc)
    alice = Client(d, dm.addr, "alice", "--play", wav, "--seconds", str(alice_seconds), "-v", at="0,0")
    try:
        alice.start()
    finally:
        if alice.proc:
            procs.append(alice.proc)
    return dm.addr, dm.maddr, dm.proc, bob.proc, alice.proc


def client_stats(log_text):
    """The counters a client prints at exit with -v."""
    import re
    m = re.search(r"bundles (\d+) played (\d+) lost (\d+) concealed (\d+)", log_text)
    if not m:
        return None
    return dict(zip(("bundles", "played", "lost", "concealed"), map(int, m.groups())))


def speak_and_hear(b, d, daemon, server, procs, wav, sentences, seconds=14):
    """bob (at 1,0, recording to d/bob1.wav for `seconds`) and then alice
    (at 0,0, playing wav) join `server`: the daemon's address or a relay's.
    Once alice has played it all: (the envelope correlation of bob's
    recording with wav, what recognition heard in it, bob's counters).
    None when bob could not join (the reason is logged).  Every process is
    appended to procs as it starts."""
    cl = f"{b}/client/earshot"
    bob = Proc([cl, "--server", server, "--name", "bob", "--at", "1,0", "--record", f"{d}/bob1.wav",
                "--seconds", str(seconds), "-v"], f"{d}/bob1.log")
    procs.append(bob)
    if not wait_for_log(daemon, "bob joined", 15):
        log("FAIL: bob could not join:\n" + bob.log_text())
        return None
    alice = Proc([cl, "--server", server, "--name", "alice", "--at", "0,0", "--play", wav, "-v"], f"{d}/alice1.log")
    procs.append(alice)
    alice.wait(timeout=40)
    bob.wait(timeout=40)
    rate_s, src = read_wav_mono(wav)
    rate, rec = read_wav_mono(f"{d}/bob1.wav")
    es_, er = envelope(src, rate_s), envelope(rec, rate)
    corr, _ = best_correlation(es_, er, max_lag=len(er) - len(es_))
    return corr, recognise(f"{d}/bob1.wav", sentences, d), client_stats(bob.log_text())


def speak16(text, path):
    """Clear 16 kHz speech (flite's slt voice) that machine recognition
    gets exactly; None if flite is missing."""
    if not shutil.which("flite"):
        return None
    subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", path], check=True)
    return path


def recognise(wav_path, sentences, workdir, reverse=False):
    """Which of the sentences does this recording say?  pocketsphinx with a
    grammar of exactly those sentences (shared/ci-audio.md); '' for none.
    None if pocketsphinx or sox is missing.  The recording is cut to start
    0.3 s before its first sound: pocketsphinx mis-segments audio that opens
    with seconds of exact digital silence (a client's recording before the
    talker joins).  reverse=True recognises the recording played backwards:
    the control that shows a check on the result can fail."""
    if not shutil.which("pocketsphinx_continuous") or not shutil.which("sox"):
        return None
    gram = os.path.join(workdir, "sentences.gram")
    with open(gram, "w") as f:
        f.write("#JSGF V1.0;\ngrammar t;\npublic <s> = " + " | ".join(sentences) + ";\n")
    x16 = os.path.join(workdir, os.path.basename(wav_path) + (".rev" if reverse else "") + ".16k.wav")
    subprocess.run(["sox", wav_path, "-r", "16000", "-c", "1", "-b", "16", x16]
                   + (["reverse"] if reverse else []) + ["silence", "1", "0.02", "-45d", "pad", "0.3", "0.5"],
                   check=True)
    # bounds a hung recogniser: it takes about 0.5 s for 10 s of audio here
    r = subprocess.run(["pocketsphinx_continuous", "-infile", x16, "-jsgf", gram, "-logfn", "/dev/null"],
                       capture_output=True, text=True, timeout=120)
    return " ".join(r.stdout.split())


def words_heard(heard, sentence):
    """The fraction of the sentence's words that recognition heard (each
    word counted as often as the sentence has it).  0.0 for None or ''."""
    got = (heard or "").split()
    want = sentence.split()
    n = 0
    for w in want:
        if w in got:
            got.remove(w)
            n += 1
    return n / len(want)


# Recognition is asserted on this fraction of the sentence's words: flite's
# speech through a clean or a lossy link comes back exact (1.0) here; the
# margin is for a word lost to a burst of loss.  The reversed recording of the
# same speech scores 0 (pocketsphinx picks another sentence or none), so the
# check can fail.
MIN_WORDS = 0.6


def check_recognised(wav_path, sentence, sentences, workdir, min_words=MIN_WORDS):
    """Assert that the recording says `sentence` (at least min_words of its
    words), and that the same recording played backwards does NOT: a check
    that passes on garbage would prove nothing.  Returns (ok, message);
    ok is None when pocketsphinx or sox is missing."""
    heard = recognise(wav_path, sentences, workdir)
    if heard is None:
        return None, "pocketsphinx or sox is missing: recognition not checked"
    backwards = recognise(wav_path, sentences, workdir, reverse=True)
    f, fb = words_heard(heard, sentence), words_heard(backwards, sentence)
    msg = (f"recognised '{heard}': {f:.0%} of the words (at least {min_words:.0%} wanted); "
           f"played backwards: '{backwards}', {fb:.0%}")
    if f < min_words:
        return False, "FAIL: speech not recognised: " + msg
    if fb >= min_words:
        return False, "FAIL: the recognition check passes on the reversed recording too: " + msg
    return True, msg


class BadNetwork:
    """A UDP relay that stands between clients and the daemon on loopback
    and impairs the path both ways: loss, delay with jitter (which also
    reorders), duplication, and a switch that cuts the link entirely.
    Each client gets its own upstream socket, so the daemon sees one
    address per client, as it would across a real network.  It counts what
    it did (stats()), so a test can show the impairment really happened."""

    def __init__(self, upstream_port, loss=0.0, delay_ms=0.0, jitter_ms=0.0, dup=0.0, seed=1):
        import heapq
        import random
        import threading
        self.heapq = heapq
        self.rng = random.Random(seed)
        self.up = ("127.0.0.1", upstream_port)
        self.loss, self.delay, self.jitter, self.dup = loss, delay_ms / 1000, jitter_ms / 1000, dup
        self.cut = False
        self.sent = self.dropped = 0
        self.arrived = self.cut_dropped = self.duplicated = self.reordered = 0
        self.delay_sum = 0.0
        self.delay_max = 0.0
        self.last_arrival = {}  # (socket, destination) -> arrival number of the last datagram sent there
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.clients = {}  # client addr -> upstream socket
        self.queue = []    # (due, seq, arrival number, arrival time, sock, data, dest)
        self.seq = 0
        self.stop_flag = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def schedule(self, sock, data, dest):
        self.arrived += 1
        now = time.monotonic()
        if self.cut:
            self.cut_dropped += 1
            self.dropped += 1
            return
        if self.rng.random() < self.loss:
            self.dropped += 1
            return
        copies = 2 if self.rng.random() < self.dup else 1
        self.duplicated += copies - 1
        for _ in range(copies):
            d = self.delay + self.rng.uniform(-self.jitter, self.jitter)
            self.seq += 1
            self.heapq.heappush(self.queue, (now + max(0.0, d), self.seq, self.arrived, now, sock, data, dest))

    def run(self):
        import select
        while not self.stop_flag:
            now = time.monotonic()
            while self.queue and self.queue[0][0] <= now:
                _, _, arrival, t_in, s, data, dest = self.heapq.heappop(self.queue)
                try:
                    s.sendto(data, dest)
                    self.sent += 1
                except OSError:
                    continue
                key = (id(s), dest)
                if arrival < self.last_arrival.get(key, 0):
                    self.reordered += 1
                self.last_arrival[key] = max(arrival, self.last_arrival.get(key, 0))
                waited = time.monotonic() - t_in
                self.delay_sum += waited
                self.delay_max = max(self.delay_max, waited)
            timeout = 0.005 if not self.queue else max(0.0, min(0.005, self.queue[0][0] - now))
            socks = [self.sock] + list(self.clients.values())
            r, _, _ = select.select(socks, [], [], timeout)
            for s in r:
                try:
                    data, src = s.recvfrom(65536)
                except OSError:
                    continue
                if s is self.sock:
                    u = self.clients.get(src)
                    if u is None:
                        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                        u.bind(("127.0.0.1", 0))
                        self.clients[src] = u
                    self.schedule(u, data, self.up)
                else:
                    for caddr, u in self.clients.items():
                        if u is s:
                            self.schedule(self.sock, data, caddr)
                            break

    def stats(self):
        """What the relay did so far: datagrams in, lost (not counting a
        cut), duplicated, delivered out of order, and the mean and largest
        time one spent in the relay (ms)."""
        n = self.arrived - self.cut_dropped
        return {"arrived": self.arrived, "lost": self.dropped - self.cut_dropped,
                "loss": (self.dropped - self.cut_dropped) / n if n else 0.0,
                "duplicated": self.duplicated, "reordered": self.reordered,
                "mean_delay_ms": 1000 * self.delay_sum / self.sent if self.sent else 0.0,
                "max_delay_ms": 1000 * self.delay_max}

    def check_impaired(self):
        """(ok, message): did the relay impair the path as it was asked to?
        Loss within a third of the rate asked (over hundreds of datagrams),
        some duplicated and some reordered when asked, a mean delay of at
        least 0.8 of the one asked (more is the relay's own lateness on a
        busy machine, which only makes the network worse)."""
        st = self.stats()
        msg = (f"relay: {st['arrived']} datagrams, {st['loss']:.1%} lost, {st['duplicated']} duplicated, "
               f"{st['reordered']} reordered, delay mean {st['mean_delay_ms']:.0f} ms max {st['max_delay_ms']:.0f} ms")
        bad = []
        if st["arrived"] < 200:
            bad.append("too few datagrams to judge")
        if self.loss and abs(st["loss"] - self.loss) > self.loss / 3:
            bad.append(f"loss {st['loss']:.1%} is not {self.loss:.0%}")
        if self.dup and st["duplicated"] == 0:
            bad.append("nothing duplicated")
        if self.jitter and st["reordered"] == 0:
            bad.append("nothing reordered")
        if st["mean_delay_ms"] < 800 * self.delay:
            bad.append(f"mean delay under {800 * self.delay:.0f} ms")
        if bad:
            return False, "FAIL: the relay did not impair the path as asked (" + "; ".join(bad) + "): " + msg
        return True, msg

    def close(self):
        self.stop_flag = True
        self.thread.join(timeout=2)
        for u in self.clients.values():
            u.close()
        self.sock.close()


def proc_rss_kib(pid):
    """Resident memory of a process in KiB (VmRSS), or -1 if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def udp_drops(port):
    """Datagrams the kernel dropped at the UDP socket bound to port on this
    machine (the socket's receive buffer was full: its owner did not read
    fast enough), from /proc/net/udp's "drops" column; 0 if none is bound."""
    n = 0
    for path in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if int(fields[1].rsplit(":", 1)[1], 16) == port:
                        n += int(fields[-1])
        except OSError:
            pass
    return n


def proc_fd_count(pid):
    """Open file descriptors of a process, or -1 if it is gone."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def proc_cpu_seconds(pid):
    """User plus system CPU time of a process in seconds, or -1 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return -1


def is_asan(binary):
    """True if the binary was built with AddressSanitizer (CI's second pass)."""
    r = subprocess.run(["ldd", binary], capture_output=True, text=True)
    return "libasan" in r.stdout


def time_scale(binary=None):
    """How much slower than a plain build the programs under test run:
    3 under AddressSanitizer or ThreadSanitizer (measured 2-3x here), else 1;
    EARSHOT_TIME_SCALE overrides.  Multiply a bound on a product promise
    (a rejoin within 3 s) by it; never use it to hide a race."""
    if os.environ.get("EARSHOT_TIME_SCALE"):
        return float(os.environ["EARSHOT_TIME_SCALE"])
    binary = binary or os.path.join(build_dir(), "daemon", "earshotd")
    r = subprocess.run(["ldd", binary], capture_output=True, text=True)
    return 3.0 if ("libasan" in r.stdout or "libtsan" in r.stdout) else 1.0


# Bounds on a program coming up: the time to reach its readiness line
# ("listening on", "joined ").  Waits return at the event, so the margin
# costs nothing when all is well: about 0.1 s here, 0.5 s under ASan, more
# with other builds on both cores.
READY_S = 20.0
JOIN_S = 20.0


def log_tail(proc, lines=40):
    text = proc.log_text().splitlines()
    return "\n".join(f"    {ln}" for ln in text[-lines:])


class Daemon:
    """earshotd on a free port of 127.0.0.1 (and its metrics endpoint on a
    free TCP port with metrics=True), its log in workdir/NAME.log, started
    and ready when the `with` block begins (its "listening on" line), and
    stopped when it ends.  If the block raises, or the daemon died on its
    own, the end of its log is printed.  Extra arguments go to earshotd
    (Proc adds --floor-plan none and a state directory per address unless
    they are given).

        with Daemon(d) as daemon:
            with Client(d, daemon.addr, "bob", "--headless") as bob:
                ...
    """

    def __init__(self, workdir, *args, name="earshotd", metrics=False, addr=None, env=None):
        self.workdir, self.args, self.name, self.env = workdir, list(args), name, env
        self.addr = addr or f"127.0.0.1:{free_udp_port()}"
        self.maddr = f"127.0.0.1:{free_tcp_port()}" if metrics else None
        self.proc = None
        self.starts = 0

    def start(self):
        argv = [os.path.join(build_dir(), "daemon", "earshotd"), "--listen", self.addr]
        if self.maddr:
            argv.append(f"--metrics-listen={self.maddr}")
        suffix = f"-{self.starts}" if self.starts else ""
        self.proc = Proc(argv + self.args, os.path.join(self.workdir, f"{self.name}{suffix}.log"), env=self.env)
        self.starts += 1
        if not wait_for_log(self.proc, "listening on", READY_S):
            raise AssertionError(f"{self.name} did not start within {READY_S} s:\n{log_tail(self.proc)}")
        return self

    def restart(self, sig=signal.SIGTERM):
        """Stop it (SIGKILL for a crash) and start it again on the same
        address and state; ready when this returns."""
        self.proc.stop(sig)
        return self.start()

    def stop(self, sig=signal.SIGTERM):
        return self.proc.stop(sig) if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.p.poll() is None

    def wait_log(self, needle, timeout=JOIN_S):
        return wait_for_log(self.proc, needle, timeout)

    def log_text(self):
        return self.proc.log_text()

    def metrics(self):
        return metrics(self.maddr)

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        died = self.proc is not None and self.proc.p.poll() is not None
        self.stop()
        if self.proc is not None and (exc_type is not None or died):
            log(f"{self.name} {'exited by itself' if died else 'log'} (exit {self.proc.p.returncode}), "
                f"the end of {self.proc.logpath}:\n{log_tail(self.proc)}")
        return False


class Client:
    """The earshot client as NAME against server (HOST:PORT), its log in
    workdir/NAME.log; with join=True the `with` block begins once it says
    it joined, and raises (with the end of its log) if it does not.  Extra
    arguments go to earshot (--play, --record, --seconds, --headless...).
    Stopped when the block ends; its log's end is printed if the block
    raised."""

    def __init__(self, workdir, server, name, *args, at=None, join=True, env=None, log_name=None):
        argv = [os.path.join(build_dir(), "client", "earshot"), "--server", server, "--name", name]
        if at is not None:
            argv += ["--at", at]
        self.argv = argv + list(args)
        self.name, self.join, self.env, self.server = name, join, env, server
        self.logpath = os.path.join(workdir, f"{log_name or name}.log")
        self.proc = None

    def start(self):
        self.proc = Proc(self.argv, self.logpath, env=self.env)
        # "joined SERVER as": "never joined SERVER" at exit must not count
        if self.join and not wait_for_log(self.proc, f"joined {self.server} as ", JOIN_S):
            raise AssertionError(f"{self.name} did not join within {JOIN_S} s:\n{log_tail(self.proc)}")
        return self

    def wait(self, timeout):
        return self.proc.wait(timeout)

    def stop(self, sig=signal.SIGTERM):
        return self.proc.stop(sig) if self.proc else None

    def log_text(self):
        return self.proc.log_text()

    def wait_log(self, needle, timeout=JOIN_S):
        return wait_for_log(self.proc, needle, timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        if exc_type is not None and self.proc is not None:
            log(f"{self.name}: the end of {self.logpath}:\n{log_tail(self.proc)}")
        return False
