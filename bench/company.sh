#!/bin/sh
# SPDX-License-Identifier: MIT
# Measurement (not a test): a company of earshotd daemons on loopback with
# their own 3-member etcd, driven by es-load --company: failover after a
# SIGKILL, a 9 a.m. storm over 3 daemons against one daemon alone, and what
# etcd costs.  See bench/company.py for what each scenario does; its last
# line is one JSON object.
#
# Usage: bench/company.sh BUILD_DIR [--only failover|storm] [sizes...]
#   bench/company.sh build                                    # the full size (about 4 minutes)
#   bench/company.sh build --victim-people 200 --other-people 60 --storm-people 600   # reduced
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec python3 "$here/company.py" "$@"
