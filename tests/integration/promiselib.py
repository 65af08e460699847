# SPDX-License-Identifier: MIT
"""Helpers of the promise tests (test-promises, test-shedding): a tone's
level in a window of a recording, the es-rogue member's report, and a relay
that counts the audio a client puts on the wire.  Standard library only."""
import math
import re
import time

from eslib import BadNetwork, read_wav_mono


class EmptyWindow(AssertionError):
    """A level was asked of a window with no samples: never read as silence."""


def goertzel(samples, a, n, hz, rate):
    """Amplitude of the sine at hz in samples[a:a+n], Hann-windowed."""
    w = 2 * math.pi / (n - 1)
    k = 2 * math.cos(2 * math.pi * hz / rate)
    s1 = s2 = 0.0
    cos = math.cos
    for i in range(n):
        s0 = samples[a + i] * (0.5 - 0.5 * cos(w * i)) + k * s1 - s2
        s2, s1 = s1, s0
    power = s1 * s1 + s2 * s2 - k * s1 * s2
    return 2 * math.sqrt(max(power, 0.0)) / (n * 0.5)


def tone_level(samples, rate, t0, t1, hz, chunk=0.1):
    """Mean amplitude (full scale 1.0) of the sine at hz in samples[t0 s ..
    t1 s], measured in chunks of 0.1 s (a concealed frame shifts a tone's
    phase, which would cancel it in one long window).  Raises EmptyWindow
    if the window holds less than one chunk."""
    a, b = max(0, int(t0 * rate)), min(len(samples), int(t1 * rate))
    n = int(chunk * rate)
    if b - a < n:
        raise EmptyWindow(f"window {t0:.2f}..{t1:.2f} s holds {max(b - a, 0)} samples of {len(samples)}")
    levels = [goertzel(samples, i, n, hz, rate) for i in range(a, b - n + 1, n)]
    return sum(levels) / len(levels)


class Recording:
    """A headless client's --record file, on the test's clock: the client
    logs the monotonic time its recording starts."""

    def __init__(self, wav, client_log):
        m = re.search(r"recording starts at monotonic (\d+)", client_log)
        if not m:
            raise AssertionError("the client did not log when its recording started")
        self.t_start = int(m.group(1)) / 1e9
        self.rate, self.pcm = read_wav_mono(wav)

    def level(self, t0, t1, hz):
        """The tone's amplitude between monotonic times t0 and t1."""
        return tone_level(self.pcm, self.rate, t0 - self.t_start, t1 - self.t_start, hz)


class RogueReport:
    """What es-rogue printed: its join time, per phase what it heard of
    whom (frames, mean gain and azimuth) and its mixed frames, and the
    knocks, whispers, doors and admin notices that came."""

    def __init__(self, text):
        self.text = text
        m = re.search(r"joined as #(\d+) at monotonic (\d+) ms", text)
        self.joined = m is not None
        self.t_join = int(m.group(2)) / 1000 if m else None
        m = re.search(r"starts at monotonic (\d+) ms", text)
        self.t0 = int(m.group(1)) / 1000 if m else None  # where its actions are timed from
        self.heard = {}  # (phase, name) -> (frames, gain, azimuth)
        for p, who, f, g, az in re.findall(r"^phase (\S+) heard (\S+) frames (\d+) gain ([\d.]+) azimuth (-?[\d.]+)$",
                                           text, re.M):
            self.heard[(p, who)] = (int(f), float(g), float(az))
        self.mix = {p: int(n) for p, n in re.findall(r"^phase (\S+) mix frames (\d+)$", text, re.M)}
        self.knocks = re.findall(r"^knock from (\S+) on (.+)$", text, re.M)
        self.doors = re.findall(r"^door (\d+) (open|closed)$", text, re.M)
        m = re.search(r"sent (\d+) audio frames", text)
        self.sent = int(m.group(1)) if m else None

    def frames(self, phase, who):
        return self.heard.get((phase, who), (0, 0.0, 0.0))[0]

    def gain(self, phase, who):
        return self.heard.get((phase, who), (0, 0.0, 0.0))[1]

    def azimuth(self, phase, who):
        return self.heard.get((phase, who), (0, 0.0, 0.0))[2]


# ENet command numbers and their fixed sizes (enet/protocol.h), for walking a datagram
ENET_SEND_UNSEQUENCED = 9
ENET_CMD_SIZE = {1: 8, 2: 48, 3: 44, 4: 8, 5: 4, 6: 6, 7: 8, 8: 24, 9: 8, 10: 12, 11: 16, 12: 24}
ENET_DATA_LEN_AT = {6: 4, 7: 6, 8: 6, 9: 6, 12: 6}  # where a command with data keeps its length


def enet_audio_commands(data, audio_channel=1):
    """How many unsequenced sends on the audio channel one client-to-server
    ENet datagram carries (Earshot's AUDIO_UP goes nowhere else).  -1 if
    the datagram cannot be walked (compressed, or cut short)."""
    if len(data) < 2:
        return -1
    flags = data[0] << 8 | data[1]
    if flags & 0x4000:  # compressed: Earshot hosts have no compressor
        return -1
    o = 4 if flags & 0x8000 else 2
    n = 0
    while o < len(data):
        if o + 4 > len(data):
            return -1
        cmd, chan = data[o] & 0x0F, data[o + 1]
        size = ENET_CMD_SIZE.get(cmd)
        if size is None or o + size > len(data):
            return -1
        if cmd in ENET_DATA_LEN_AT:
            at = o + ENET_DATA_LEN_AT[cmd]
            size += data[at] << 8 | data[at + 1]
        if cmd == ENET_SEND_UNSEQUENCED and chan == audio_channel:
            n += 1
        o += size
    return n


class CountingRelay(BadNetwork):
    """eslib's userspace relay on a clean path that also notes, per client
    and with its time, every audio message the client sends upstream."""

    def __init__(self, upstream_port):
        self.audio = []  # (monotonic time, client address)
        self.unparsed = 0
        super().__init__(upstream_port)

    def schedule(self, sock, data, dest):
        if dest == self.up:
            src = next((c for c, u in self.clients.items() if u is sock), None)
            n = enet_audio_commands(data)
            if n < 0:
                self.unparsed += 1
            now = time.monotonic()
            self.audio.extend([(now, src)] * max(n, 0))
        super().schedule(sock, data, dest)

    def count(self, t0, t1, client=None):
        """Audio messages sent upstream between monotonic t0 and t1 (by one client address, or all)."""
        return sum(1 for t, c in list(self.audio) if t0 <= t < t1 and (client is None or c == client))


class LossyUplink(BadNetwork):
    """eslib's relay, losing only the audio messages clients send upstream,
    each with probability `loss` drawn from its own generator seeded with
    `seed`: two runs with the same seed lose the same frames (the k-th
    audio datagram of a run), whatever else crosses the relay."""

    def __init__(self, upstream_port, loss, seed, delay_ms=0.0, jitter_ms=0.0):
        import random
        self.up_rng = random.Random(seed)
        self.up_loss = loss
        self.audio_sent = self.audio_lost = 0
        super().__init__(upstream_port, delay_ms=delay_ms, jitter_ms=jitter_ms, seed=seed)

    def schedule(self, sock, data, dest):
        if dest == self.up and enet_audio_commands(data) > 0:
            if self.up_rng.random() < self.up_loss:
                self.audio_lost += 1
                return
            self.audio_sent += 1
        super().schedule(sock, data, dest)


def chunked_correlation(ref, sig, chunk=100, search=60):
    """How closely sig (an envelope) follows ref, allowing for a playout
    that drifts in time: ref is cut in chunks of `chunk` hops, each found
    at its best lag within `search` hops of where the previous one was,
    and the chunks' correlations are averaged, weighted by the chunk's
    variance (silence says little).  Returns (mean, per-chunk list)."""
    def corr(a, b):
        n = len(a)
        ma, mb = sum(a) / n, sum(b) / n
        da, db = [x - ma for x in a], [x - mb for x in b]
        ea, eb = math.sqrt(sum(x * x for x in da)), math.sqrt(sum(x * x for x in db))
        return (sum(x * y for x, y in zip(da, db)) / (ea * eb), ea * ea) if ea > 0 and eb > 0 else (0.0, ea * ea)
    out, wsum, csum, lag = [], 0.0, 0.0, None
    for i in range(0, len(ref) - chunk + 1, chunk):
        r = ref[i:i + chunk]
        lo = 0 if lag is None else max(-i, lag - search)
        hi = len(sig) - i - chunk if lag is None else min(len(sig) - i - chunk, lag + search)
        best = (-2.0, 0.0, 0)
        for L in range(lo, hi + 1):
            c, w = corr(r, sig[i + L:i + L + chunk])
            if c > best[0]:
                best = (c, w, L)
        if best[0] < -1.0:
            raise EmptyWindow(f"chunk {i // chunk} of the reference has no place in a signal of {len(sig)} hops")
        lag = best[2]
        out.append(round(best[0], 3))
        wsum += best[1]
        csum += best[0] * best[1]
    return (csum / wsum if wsum > 0 else 0.0), out
