#!/bin/bash
# SPDX-License-Identifier: MIT
# Drive the terminal UI (client/tui-demo) inside a private tmux server:
# the map and the people appear at 80x24, keys map to actions, the screen
# follows (walk, mute, selection, volume, prompts), resizing re-lays it out,
# and a floor larger than the terminal scrolls to keep "me" in view.
# usage: test-tui.sh PATH-TO-tui-demo        exit 77 = skipped (no tmux)
set -u

demo=${1:?usage: test-tui.sh PATH-TO-tui-demo}
command -v tmux >/dev/null 2>&1 || { echo "tmux not installed: skip"; exit 77; }

tmp=$(mktemp -d /tmp/es-tui-XXXXXX)
# names are UTF-8: run the demo in a UTF-8 locale when there is one
utf8=
if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then export LC_ALL=C.UTF-8; utf8=1; fi
sock="es-tui-$$"
T() { tmux -L "$sock" "$@"; }
cleanup() { T kill-server >/dev/null 2>&1; rm -rf "$tmp"; }
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	echo "--- screen ---" >&2; T capture-pane -p -t ui >&2 2>/dev/null
	echo "--- actions ---" >&2; cat "$tmp/actions" >&2 2>/dev/null
	exit 1
}

# wait_action LINE: the demo logged exactly this line (5 s)
wait_action() {
	for _ in $(seq 100); do
		grep -qxF -- "$1" "$tmp/actions" 2>/dev/null && return 0
		sleep 0.05
	done
	fail "no action '$1'"
}

# wait_action_prefix TEXT: a logged line starts with TEXT (5 s)
wait_action_prefix() {
	for _ in $(seq 100); do
		grep -qF -- "$1" "$tmp/actions" 2>/dev/null && return 0
		sleep 0.05
	done
	fail "no action starting '$1'"
}

# screen_has REGEX / screen_lacks REGEX (retried for 3 s: curses repaints async)
screen_has() {
	for _ in $(seq 60); do
		T capture-pane -p -t ui | grep -qE -- "$1" && return 0
		sleep 0.05
	done
	fail "screen lacks /$1/"
}
screen_lacks() {
	for _ in $(seq 60); do
		T capture-pane -p -t ui | grep -qE -- "$1" || return 0
		sleep 0.05
	done
	fail "screen still shows /$1/"
}

start() { # start COLS ROWS [big]
	rm -f "$tmp/actions"
	T new-session -d -s ui -x "$1" -y "$2" "$demo $tmp/actions ${3:-}" || fail "tmux new-session"
	wait_action ready
}

# ---- 80x24: map, people, status ----
start 80 24
screen_has '^ earshot connected to demo\.example:4545'
screen_has 'People \(8\)'
for n in 'A Alice \(you\)' 'B Bob talking' 'C Carol muted' 'D Dave focus' 'E Eve meeting' 'F Frank \+3dB'; do
	screen_has "$n"
done
if [ -n "$utf8" ]; then screen_has 'É Élodie 张'; else screen_has '\? \?+lodie'; fi
screen_has 'M Mallory\?\[2J\?+X\?'   # escape, RTL override, bad UTF-8 shown as '?'
screen_has '\|\.\.o\.\.o\.\.o\.\.o\.\.\.\.\.\.\|\.\.\.\.\.MErs\.\.\|'  # desks, Eve in room M (Mars)
screen_has 'o desk = table / door # closed \| M Mars  K Kit'  # the legend under the map
screen_has '\+-----/-----\+-----#-----\+'   # meeting door open, kitchen door closed
screen_has '\|\.{9}A\.{5}B\.'              # me and Bob on the map, 3 m apart
screen_has 'arrows walk g goto'
screen_has '\? q$'
screen_lacks 'MUTED'
width=$(T capture-pane -p -t ui | awk '{ if (length($0) > w) w = length($0) } END { print w }')
[ "$width" -le 80 ] || fail "line wider than 80 columns: $width"

# the facing arrows: ↑ → (and diagonals ↗ ↘ ↙ ↖, never the door's '/') in UTF-8, else ^ > v <
if [ -n "$utf8" ]; then up='↑'; east='→'; ne='↗'; else up='\^'; east='>'; ne='>'; fi
screen_has "\\|\\.{9}$up\\.{32}\\|"             # I face north: the arrow ahead of me

# ---- keys -> actions, and the screen follows ----
T send-keys -t ui '>';           wait_action turn-right
screen_has "\\|\\.{10}$ne\\.{31}\\|"          # one right turn: north-east, not '/'
T send-keys -t ui '>';           wait_action turn-right
screen_has "\\|\\.{9}A$east\\.{4}B\\."              # two right turns: facing east
T send-keys -t ui '<' '<'
screen_has "\\|\\.{9}$up\\.{32}\\|"
T send-keys -t ui '?'
screen_has "g +go to someone's desk"   # the key overlay
T send-keys -t ui q                # any key only closes it...
screen_lacks "go to someone's desk"
grep -qx quit "$tmp/actions" && fail "q while the overlay was open quit"
T send-keys -t ui Up;            wait_action walk-n
screen_has '\|\.{9}A\.{32}\|'             # moved a row north...
screen_has '\|\.{15}B\.'                  # ...Bob stayed
T send-keys -t ui Down;          wait_action walk-s
T send-keys -t ui Right;         wait_action walk-e
T send-keys -t ui Left;          wait_action walk-w
T send-keys -t ui m;             wait_action mute
screen_has 'MUTED'
T send-keys -t ui m
screen_lacks 'MUTED'
T send-keys -t ui Tab;           wait_action 'select 2 Bob'
screen_has '>B Bob talking'
screen_has '^Bob, 3\.0 m, talking'       # the selection line under the map
T send-keys -t ui +;             wait_action 'volume-up 2 Bob'
screen_has 'Bob talking \+3dB'
T send-keys -t ui -;             wait_action 'volume-down 2 Bob'
T send-keys -t ui BTab;          wait_action_prefix 'select 8 Mallory'
T send-keys -t ui BTab;          wait_action 'select 7 Élodie 张'
T send-keys -t ui Tab Tab        # on past Mallory, round to Bob
screen_has '>B Bob talking'

T send-keys -t ui g
screen_has '^Go to:'
T send-keys -t ui -l car
T send-keys -t ui Tab
screen_has '^Go to: Carol'
T send-keys -t ui Enter;         wait_action 'goto 3 Carol'
T send-keys -t ui g; T send-keys -t ui -l zz; T send-keys -t ui Enter
screen_has "Nobody called 'zz'"
T send-keys -t ui g; T send-keys -t ui -l nobody; T send-keys -t ui Escape
screen_lacks '^Go to:'
T send-keys -t ui w
screen_has '^Whisper to: Bob'      # the selected person is offered
T send-keys -t ui Enter;         wait_action 'whisper 2 Bob'

T send-keys -t ui e;             wait_action enter-leave
T send-keys -t ui d;             wait_action door
T send-keys -t ui k;             wait_action knock
screen_has 'Knock knock\.'
T send-keys -t ui f;             wait_action focus
screen_has 'A Alice focus \(you\)'
T send-keys -t ui '<';           wait_action turn-left
T send-keys -t ui '>';           wait_action turn-right
T send-keys -t ui Space;         wait_action ptt-down
screen_has 'LIVE'
wait_action ptt-up                 # no key release in a terminal: timeout
screen_lacks 'LIVE'

if grep -qE '^(goto|whisper) .*zz|nobody' "$tmp/actions"; then fail "cancelled prompt produced an action"; fi

# ---- more room: wider layout, stretched map, full help ----
T resize-window -t ui -x 132 -y 40
screen_has '\? all keys  q quit$'
screen_has '\| \. \. o \. \. o \. \. o'   # cells drawn two columns wide
screen_has '\. \. ===================' 
# ---- narrow: the panel goes under the map ----
T resize-window -t ui -x 60 -y 24
screen_has '^ *A Alice focus'
screen_has '^ *F Frank'
T resize-window -t ui -x 80 -y 24
screen_has '[│x|] *A Alice'

T send-keys -t ui q;             wait_action quit
wait_action bye
T kill-session -t ui >/dev/null 2>&1

# ---- a floor larger than the terminal scrolls to me ----
start 80 24 big
screen_has 'A\.\.B\.'
screen_has 'People \(8\)'
T send-keys -t ui q;             wait_action bye

echo "ok: terminal UI"
exit 0
