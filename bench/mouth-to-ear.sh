#!/bin/sh
# SPDX-License-Identifier: MIT
# Measurement (not a test): mouth-to-ear latency of the real clients on
# jackd-clocked virtual sound cards (tests/integration/test-portaudio.py:
# a click at the start of a talk spurt, timed on one clock), over several
# rounds of three set-ups run in turn, so a busy machine weighs on all alike:
#   forwarded   bob hears alice's own Opus frames (the default)
#   mix         bob asks for one server-rendered stream (--thin)
#   jitter2     forwarded, bob's playout held at 2 frames at least (the
#               default before 2026-11-27): the baseline for the ratio
# Usage: bench/mouth-to-ear.sh [ROUNDS] [BUILD_DIR]   (default 5, ./build)
set -eu
rounds=${1:-5}
build=$(cd "${2:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for r in $(seq 1 "$rounds"); do
	for setup in forwarded mix jitter2; do
		case $setup in
		forwarded) args= ;;
		mix) args=--thin ;;
		jitter2) args="--jitter 2" ;;
		esac
		ms=$(EARSHOT_BUILD=$build EARSHOT_PA_BOB_ARGS=$args python3 "$here/../tests/integration/test-portaudio.py" 2>&1 |
			sed -n 's/.*mouth-to-ear latency.*: \([0-9.]*\) ms$/\1/p')
		echo "round $r $setup ${ms:-failed} ms"
		[ -n "$ms" ] && echo "$ms" >>"$out/$setup"
	done
done
summary() {
	sort -n "$out/$1" | awk -v name="$1" '{v[NR] = $1} END {
		if (NR == 0) { print name ": no result"; exit }
		med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%-10s n %d  median %.1f ms  min %.1f  max %.1f\n", name, NR, med, v[1], v[NR]
		print med > "/dev/stderr" }' 2>"$out/$1.med"
}
for s in forwarded mix jitter2; do summary $s; done
awk 'FNR == 1 { m[FILENAME] = $1 } END {
	f = m[ARGV[1]]; b = m[ARGV[2]]
	if (f > 0 && b > 0) printf "ratio forwarded / jitter2 (medians): %.2f\n", f / b }' "$out/forwarded.med" "$out/jitter2.med"
