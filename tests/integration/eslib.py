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
    return math.sqrt(sum(x * x for x in samples) / max(1, len(samples)))


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
