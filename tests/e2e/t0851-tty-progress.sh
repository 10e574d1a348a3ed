#!/usr/bin/env bash
# suite: extended (the live view under a pseudo-terminal on several hosts; make test-all)
# Progress as people see it, against the Hetzner Cloud API test server with
# actions that take a few seconds: plain output gives a polled action one
# line when it starts and one when it ends, not one per poll; on a terminal
# (a pseudo-terminal, checked for what is actually written) each action and
# each host has one live line, redrawn in place and cut to the terminal's
# width, and nothing of the live view is left on the screen at the end: not
# for a host that was not converged (--hosts), not after a destroy.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
hcloud_start --action-seconds 3
# two servers; the second one's block is the first one's under another name
hcloud_inventory | sed 's/poll_interval: 0.2/poll_interval: 0.1/' >"$WORK/inventory.yml"
sed -n '/^    servers:/,$p' "$WORK/inventory.yml" | sed -n '2,$p' | sed 's/app1:/app2:/' >>"$WORK/inventory.yml"
t_uses phase1
check "the inventory has two servers" sh -c "'$PROVISION' -i '$WORK/inventory.yml' --plain validate | grep -q '2 servers'"

# --- plain: one line per action when it starts, one when it ends
pv up phase1 --only cloud >"$WORK/plain" 2>&1 || bail "up --only cloud failed: $(tail -n 20 "$WORK/plain")"
polls=$(grep -c '^server app1: [0-9]*%$' "$WORK/plain")
check "plain: server app1's action shows its progress once, not once per poll ($polls lines)" test "$polls" = 1
check "plain: and its end" test "$(grep -c '^server app1: done$' "$WORK/plain")" = 1
calls=$(jq -r 'select(.method == "GET" and (.path | startswith("/actions/"))) | .path' "$CLOUD_DIR/api/requests.jsonl" | wc -l)
check "while the tool polled the actions several times ($calls polls)" test "$calls" -gt 8

TTY() { /usr/bin/python3 "$ROOT/tests/helpers/tty-screen.py" 56 "$WORK/$1.raw" "$WORK/$1.screen" -- \
	"$PROVISION" -i "$WORK/inventory.yml" "${@:2}"; }
# live lines: a host's ("  NAME   activity  (N ok, ...") or an action's ("  server app1  N%");
# a live line wider than the terminal would wrap, and its first row stay behind
live_left() {
	grep -E '^  [a-z0-9]+ +(connecting|probing|applying|waiting|verifying)|^  [a-z0-9]+ {2,}.*\([0-9]+ ok, [0-9]+ changed|^  server app[0-9] ' "$WORK/$1.screen"
}

# --- a terminal: destroy (each deletion polled), then up of one host of two
TTY destroy destroy phase1 --yes >/dev/null 2>&1
rc=$?
check "destroy on a terminal succeeds (exit $rc: $(tail -n 3 "$WORK/destroy.screen" | tr '\n' ' '))" test "$rc" = 0
check "the live view wrote cursor movements (a terminal was seen)" grep -q $'\e\\[[0-9]*A' "$WORK/destroy.raw"
left=$(live_left destroy)
check "after destroy no live line is left on the screen${left:+: $left}" test -z "$left"

TTY up up phase1 --hosts app1 >/dev/null 2>&1
rc=$?
check "up --hosts app1 on a terminal succeeds (exit $rc: $(tail -n 3 "$WORK/up.screen" | tr '\n' ' '))" test "$rc" = 0
left=$(live_left up)
check "after up no live line is left, not for app2 either${left:+: $left}" test -z "$left"
# (app2's action runs while app1's is waited for: it may be over before anyone looks)
check "the end of the action waited for is a line of its own" grep -qx 'server app1: done' "$WORK/up.screen"
check "its progress was only ever in the live line (no 'server app1: N%' line stays)" \
	sh -c "! grep -Eq '^server app1: [0-9]+%' '$WORK/up.screen'"
check "app1's block and the summary are there" sh -c "grep -q '^app1: done' '$WORK/up.screen' && grep -q '^summary:' '$WORK/up.screen'"
redraws=$(grep -o $'\e\\[[0-9]*A\e\\[J' "$WORK/up.raw" | wc -l)
check "the live view was redrawn in place ($redraws times)" test "$redraws" -gt 5
