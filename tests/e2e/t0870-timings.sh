#!/usr/bin/env bash
# Every resource event carries the time its host spent on it, by the host's
# own clock (duration_ms, and "(N.NN s)" on the plain view's lines), and
# 'up/apply --timings' lists the slowest resources after the summary: a
# role's command that sleeps a second takes at least that and comes first.
. "$(dirname "$0")/lib.sh"

t_project <<'YML'
project: tm0870
layouts:
  one:
    servers:
      t1: { roles: [slow] }
YML
t_uses one
mkdir -p "$WORK/roles/slow"
cat >"$WORK/roles/slow/role.yml" <<'YML'
description: one command that takes a second, and quick neighbours
resources:
  - file: { path: /etc/tm0870-before.conf, content: "before\n" }
  - command:
      run: "sleep 1 && touch /root/tm0870-slept"
      creates: /root/tm0870-slept
  - directory: { path: /var/lib/tm0870 }
  - file: { path: /etc/tm0870-after.conf, content: "after\n" }
YML
SLOW='command sleep 1 && touch /root/tm0870-slept'

pvj up one --timings >"$WORK/up.json" 2>"$WORK/up.err"
rc=$?
[ "$rc" = 0 ] || bail "up failed (exit $rc): $(json_errors "$WORK/up.json" "$WORK/up.err")"

events=$(jq -s '[.[] | select(.event == "resource")] | length' "$WORK/up.json")
timed=$(jq -s '[.[] | select(.event == "resource" and (.duration_ms | type) == "number" and .duration_ms >= 0)] | length' "$WORK/up.json")
check "every resource event of up carries a duration of 0 ms or more ($timed of $events)" \
	test "$events" -ge 4 -a "$timed" = "$events"
slow_ms=$(jq -r --arg t "$SLOW" 'select(.event == "resource" and .resource == $t) | .duration_ms' "$WORK/up.json")
check "the command that sleeps a second took at least 1000 ms on the host (${slow_ms:-none})" \
	test "${slow_ms:-0}" -ge 1000
first=$(jq -r 'select(.event == "timings") | .hosts[0].slowest[0].resource' "$WORK/up.json")
check "--timings lists it first for its host (first: ${first:-none})" test "$first" = "$SLOW"
first=$(jq -r 'select(.event == "timings") | .slowest[0] | "\(.host) \(.resource)"' "$WORK/up.json")
check "and first over all hosts (first: ${first:-none})" test "$first" = "t1 $SLOW"
total=$(jq -r 'select(.event == "timings") | .hosts[0].duration_ms' "$WORK/up.json")
check "the host's total holds the slow command (${total:-none} ms)" test "${total:-0}" -ge 1000
check "the timings event comes after the summary" \
	test "$(jq -r '.event' "$WORK/up.json" | grep -E '^(summary|timings)$' | tr '\n' ' ')" = "summary timings "
bad=$(/usr/bin/python3 "$ROOT/tests/helpers/check-events.py" "$ROOT/doc/events.schema.json" "$WORK/up.json" 2>&1)
check "the schema accepts every event of up --timings${bad:+: $bad}" test -z "$bad"

# the plain view: the changed line says how long, --timings comes after the summary
on_host t1 'rm -f /root/tm0870-slept' || bail "cannot remove the command's marker"
pv apply one --timings >"$WORK/apply.out" 2>&1 || bail "apply failed: $(tail -5 "$WORK/apply.out")"
check "the plain view's changed line carries its duration: $(grep -F "changed  $SLOW" "$WORK/apply.out")" \
	grep -Eq "^  changed  $SLOW \\((1|[2-9])\\.[0-9]{2} s\\)$" "$WORK/apply.out"
top=$(sed -n '/^timings /,$p' "$WORK/apply.out" | sed -n 3p)
check "plain --timings lists the sleeping command first: '$top'" \
	sh -c "printf '%s\n' '$top' | grep -Eq '^ +(1|[2-9])\\.[0-9]{2} s +slow +command sleep 1'"
check "without --timings there is no such list" \
	sh -c "! '$PROVISION' -i '$WORK/inventory.yml' --plain apply one | grep -q '^timings '"

# a no-op: nothing applied, every resource still timed (its probe)
pvj apply one >"$WORK/noop.json" 2>"$WORK/noop.err" || bail "no-op apply failed: $(json_errors "$WORK/noop.json" "$WORK/noop.err")"
check "the no-op changes nothing" test "$(json_total "$WORK/noop.json" changed)" = 0
timed=$(jq -s '[.[] | select(.event == "resource" and .status == "ok" and .duration_ms >= 0)] | length' "$WORK/noop.json")
check "and times each resource's probe ($timed of 4)" test "$timed" = 4

# --check applies nothing: its --timings list is that of the probes, and says so
pvj apply one --check --timings >"$WORK/check.json" 2>"$WORK/check.err" ||
	bail "apply --check failed: $(json_errors "$WORK/check.json" "$WORK/check.err")"
got=$(jq -c 'select(.event == "timings") | [.probe_only, .hosts[0].host, .hosts[0].resources]' "$WORK/check.json")
check "apply --check --timings: one timings event, probe_only, t1's 4 probes (got ${got:-none})" \
	test "$got" = '[true,"t1",4]'
bad=$(/usr/bin/python3 "$ROOT/tests/helpers/check-events.py" "$ROOT/doc/events.schema.json" "$WORK/check.json" 2>&1)
check "the schema accepts every event of apply --check --timings${bad:+: $bad}" test -z "$bad"
check "up --timings said probe_only false" \
	test "$(jq -c 'select(.event == "timings") | .probe_only' "$WORK/up.json")" = false
pv up one --check --timings >"$WORK/check.out" 2>&1 || bail "up --check failed: $(tail -5 "$WORK/check.out")"
check "plain up --check --timings: the list's heading says it is the probes'" \
	grep -qx "timings of the probes; --check applied nothing (measured on the hosts, slowest first):" "$WORK/check.out"
check "and lists t1's 4 resources" grep -Eq "^  t1: [0-9]+\\.[0-9]{2} s in 4 resources$" "$WORK/check.out"
