#!/bin/sh
# SPDX-License-Identifier: MIT
# meson install: put the example config at SYSCONFDIR/earshot/earshotd.conf
# unless one is there already (an admin's file is never overwritten).
# usage: install-config.sh SYSCONFDIR/earshot EXAMPLE
set -eu
dir=$1
case "$dir" in /*) ;; *) dir="${MESON_INSTALL_PREFIX:-/usr/local}/$dir" ;; esac
dest="${DESTDIR:-}$dir/earshotd.conf"
if [ -e "$dest" ]; then
	echo "earshot: keeping the existing $dest"
	exit 0
fi
mkdir -p "$(dirname "$dest")"
install -m 0644 "$2" "$dest"
echo "earshot: installed the default configuration as $dest"
