#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `meson install` into a temporary DESTDIR, check that the unit, man pages and
# example config are there, and run `systemd-analyze verify` on the unit.
# Usage: test-systemd-verify.sh BUILD_DIR.  Exit 77 (skip) without systemd-analyze.
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR}

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "SKIP: systemd-analyze is not installed"
	exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest="$tmp/root"

meson install -C "$build" --destdir "$dest" --no-rebuild --quiet >"$tmp/install.log" 2>&1 || {
	cat "$tmp/install.log"
	echo "FAIL: meson install"
	exit 1
}

prefix=$(meson introspect "$build" --buildoptions | python3 -c \
	'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')
bindir="$prefix/$(meson introspect "$build" --buildoptions | python3 -c \
	'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="bindir"))')"

fail=0
need() {
	if [ ! -e "$dest$1" ]; then
		echo "FAIL: not installed: $1"
		fail=1
	fi
}
unit="$prefix/lib/systemd/system/earshotd.service"
need "$unit"
need "$bindir/earshotd"
need "$prefix/share/man/man8/earshotd.8"
need "$prefix/share/man/man5/earshotd.conf.5"
need "$prefix/share/doc/earshot/earshotd.conf.example"
need "$prefix/share/doc/earshot/ADMIN.md"
need "$prefix/share/doc/earshot/FLOORPLAN.md"
# the config the unit names, installed from the example (never over an admin's own)
sysconf=$(meson introspect "$build" --buildoptions | python3 -c \
	'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="sysconfdir"))')
case "$sysconf" in /*) ;; *) sysconf="$prefix/$sysconf" ;; esac
need "$sysconf/earshot/earshotd.conf"
[ "$fail" = 0 ] || exit 1

# the installed unit runs the installed binary
if ! grep -qx "ExecStart=$bindir/earshotd --config $sysconf/earshot/earshotd.conf" "$dest$unit"; then
	echo "FAIL: ExecStart does not point at $bindir/earshotd:"
	grep ExecStart "$dest$unit"
	exit 1
fi

# The example config is one the daemon accepts.
if ! "$dest$bindir/earshotd" --check-config --config "$dest$prefix/share/doc/earshot/earshotd.conf.example" \
	--state-dir "$tmp/state" >"$tmp/check.log" 2>&1; then
	cat "$tmp/check.log"
	echo "FAIL: earshotd --check-config rejects the example config"
	exit 1
fi

# systemd-analyze verify checks that ExecStart's binary exists in the real
# root, and it is only installed under DESTDIR here: verify a copy of the
# unit whose ExecStart points at the DESTDIR copy.  Documentation= man pages
# are looked up with man(1); point MANPATH at the DESTDIR copies, or skip
# that check where man is not installed.
mkdir -p "$tmp/units"
sed "s|^ExecStart=$bindir/earshotd|ExecStart=$dest$bindir/earshotd|" "$dest$unit" >"$tmp/units/earshotd.service"
man_opt=()
if command -v man >/dev/null 2>&1; then
	export MANPATH="$dest$prefix/share/man"
else
	man_opt=(--man=no)
fi
set +e
out=$(systemd-analyze verify "${man_opt[@]}" "$tmp/units/earshotd.service" 2>&1)
rc=$?
set -e
echo "$out"
if [ $rc -ne 0 ] || echo "$out" | grep -q "earshotd.service"; then
	echo "FAIL: systemd-analyze verify (exit $rc)"
	exit 1
fi
echo "PASS: installed files present, example config accepted, systemd-analyze verify clean"
