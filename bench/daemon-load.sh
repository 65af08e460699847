#!/bin/sh
# SPDX-License-Identifier: MIT
# Measurement (not a test): one earshotd against es-load, started and stopped
# here, loopback only.  The daemon runs in a session of its own (setsid), as a
# service would: in the generator's session the two would share one scheduler
# share (kernel autogroups).  Prints `uptime` before and after, the daemon's
# and es-load's command lines, and es-load's output (its last line is JSON).
#
# Usage: bench/daemon-load.sh BUILD_DIR LABEL "DAEMON ARGS" ES-LOAD ARGS...
#   bench/daemon-load.sh build room150 "--max-people 300 --floor-plan none" \
#       --room --people 150 --talking 0.1 --storm 1 --hold 30
# BUILD_DIR's earshotd is driven by BUILD_DIR's es-load unless ES_LOAD names
# another es-load binary.  A fresh state directory every run (no remembered
# desks or places).
set -eu
build=$(cd "$1" && pwd)
label=$2
dargs=$3
shift 3
esload=${ES_LOAD:-$build/tests/load/es-load}
state=$(mktemp -d)
free_port() {
	python3 -c 'import socket,sys
s = socket.socket(socket.AF_INET, getattr(socket, sys.argv[1])); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' "$1"
}
port=$(free_port SOCK_DGRAM)
mport=$(free_port SOCK_STREAM)
echo "== $label $(date -u +%H:%M:%S) uptime:$(uptime | sed 's/.*load average//')"
# shellcheck disable=SC2086 # DAEMON ARGS are words
echo "earshotd --listen 127.0.0.1:$port $dargs --state-dir STATE --metrics-listen 127.0.0.1:$mport --log-level warn"
# shellcheck disable=SC2086
setsid "$build/daemon/earshotd" --listen "127.0.0.1:$port" $dargs --state-dir "$state" \
	--metrics-listen "127.0.0.1:$mport" --log-level warn 2>"$state/daemon.log" &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$state"' EXIT
# wait for the metrics endpoint (the daemon is up), at most 10 s
i=0
until curl -s -o /dev/null "http://127.0.0.1:$mport/metrics"; do
	i=$((i + 1))
	[ $i -le 100 ] || { echo "earshotd did not come up"; cat "$state/daemon.log"; exit 1; }
	sleep 0.1
done
echo "es-load --server 127.0.0.1:$port --pid PID --metrics 127.0.0.1:$mport $*"
"$esload" --server "127.0.0.1:$port" --pid "$pid" --metrics "127.0.0.1:$mport" "$@" || echo "es-load exit $?"
echo "== $label end $(date -u +%H:%M:%S) uptime:$(uptime | sed 's/.*load average//')"
kill "$pid"
wait "$pid" || true
tail -5 "$state/daemon.log"
