#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A bad network between the clients and the daemon through a userspace
relay (eslib.BadNetwork), so it runs on every kernel: the checks of
badnet.py (10 % loss, 40 ms +- 40 ms of delay that reorders, 2 %
duplication: speech still correlates and is recognised; then a 5 s cut:
both clients come back by themselves).  test-netem runs the same checks
with the kernel's netem where the kernel has it."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import badnet  # noqa: E402
from eslib import BadNetwork  # noqa: E402


class Relay(badnet.Network):
    name = "relay: 10 % loss, 40 ms +- 40 ms delay, 2 % duplication"

    def via(self, addr):
        self.net = BadNetwork(int(addr.rsplit(":", 1)[1]), **badnet.RELAY_IMPAIR)
        return f"127.0.0.1:{self.net.port}"

    def impair(self, on):
        if on:
            self.net.loss, self.net.delay, self.net.jitter, self.net.dup = (
                badnet.RELAY_IMPAIR["loss"], badnet.RELAY_IMPAIR["delay_ms"] / 1000,
                badnet.RELAY_IMPAIR["jitter_ms"] / 1000, badnet.RELAY_IMPAIR["dup"])
        else:
            self.net.loss = self.net.delay = self.net.jitter = self.net.dup = 0.0
        return True

    def cut(self, on):
        self.net.cut = on
        return True

    def check(self):
        return self.net.check_impaired()

    def close(self):
        if hasattr(self, "net"):
            self.net.close()


def main():
    net = Relay()
    try:
        return badnet.run(tempfile.mkdtemp(prefix="es-badnet-"), net)
    finally:
        net.close()


if __name__ == "__main__":
    sys.exit(main())
