#!/bin/sh
# SPDX-License-Identifier: MIT
# Measurement (not a test): one earshotd against es-load, started and stopped
# here, loopback only.  The daemon runs in a session of its own (setsid), as a
# service would: in the generator's session the two would share one scheduler
# share (kernel autogroups).  Prints `uptime` before and after, the daemon's
# and es-load's command lines, es-load's output (its last line is JSON), and
# the daemon's whole-run counters (ticks at each load level, the ladder's steps).
#
# Usage: bench/daemon-load.sh BUILD_DIR LABEL "DAEMON ARGS" ES-LOAD ARGS...
#   bench/daemon-load.sh build room150 "--max-people 300 --floor-plan none" \
#       --room --people 150 --talking 0.1 --storm 1 --hold 30
# BUILD_DIR's earshotd is driven by BUILD_DIR's es-load unless ES_LOAD names
# another es-load binary.  AUTOGROUP_NICE=N (root): the daemon and es-load each
# run in a session of their own whose scheduling group gets nice N
# (/proc/PID/autogroup), as a service with Nice=N would: on a machine shared
# with other sessions' work, a plain session gets an equal share of the CPU
# with every other busy session, whatever it needs.  A fresh state directory every run (no remembered
# desks or places).
set -eu
build=$(cd "$1" && pwd)
label=$2
dargs=$3
shift 3
esload=${ES_LOAD:-$build/tests/load/es-load}
state=$(mktemp -d)
# nice N for the scheduling group of PID once it leads a session of its own (setsid has run)
group_nice() {
	j=0
	until [ "$(ps -o sid= -p "$1" | tr -d ' ')" = "$1" ]; do
		j=$((j + 1))
		[ $j -le 100 ] || { echo "pid $1 has no session of its own"; return 1; }
		sleep 0.01
	done
	echo "$2" >"/proc/$1/autogroup"
}
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
[ -z "${AUTOGROUP_NICE:-}" ] || group_nice "$pid" "$AUTOGROUP_NICE"
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$state"' EXIT
# wait for the metrics endpoint (the daemon is up), at most 10 s
i=0
until curl -s -o /dev/null "http://127.0.0.1:$mport/metrics"; do
	i=$((i + 1))
	[ $i -le 100 ] || { echo "earshotd did not come up"; cat "$state/daemon.log"; exit 1; }
	sleep 0.1
done
echo "es-load --server 127.0.0.1:$port --pid PID --metrics 127.0.0.1:$mport $*"
if [ -n "${AUTOGROUP_NICE:-}" ]; then
	echo "autogroups: $(cat "/proc/$pid/autogroup") (earshotd)"
	setsid "$esload" --server "127.0.0.1:$port" --pid "$pid" --metrics "127.0.0.1:$mport" "$@" &
	lpid=$!
	group_nice "$lpid" "$AUTOGROUP_NICE"
	echo "autogroups: $(cat "/proc/$lpid/autogroup") (es-load)"
	wait "$lpid" || echo "es-load exit $?"
else
	"$esload" --server "127.0.0.1:$port" --pid "$pid" --metrics "127.0.0.1:$mport" "$@" || echo "es-load exit $?"
fi
# the whole run as the daemon counted it: ticks at each load level, why it stepped
curl -s "http://127.0.0.1:$mport/metrics" | grep -E '^earshot_(degradation_level_ticks_total|load_steps_total|ticks_total|ticks_late_total|downlink_budget_lowered_total|engine_work_total)' || true
echo "== $label end $(date -u +%H:%M:%S) uptime:$(uptime | sed 's/.*load average//')"
kill "$pid"
wait "$pid" || true
tail -5 "$state/daemon.log"
