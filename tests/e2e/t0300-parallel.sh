#!/usr/bin/env bash
# suite: extended (many hosts converged at once; make test-all)
# A layout with 4 servers converges them in parallel (with -j 2, two at a
# time); destroy removes every host, mount, process and the bridge.
. "$(dirname "$0")/lib.sh"

t_project <<'YML'
project: par
layouts:
  quad:
    servers:
      n1: { roles: [base, ufw] }
      n2: { roles: [base, ufw] }
      n3: { roles: [base, ufw] }
      n4: { roles: [base, ufw] }
YML
t_uses quad

pvj up quad >"$WORK/up.json" 2>"$WORK/up.err" || bail "up quad failed: $(json_errors "$WORK/up.json" "$WORK/up.err")"
hosts=$(jq -r 'select(.event == "host_done") | .host' "$WORK/up.json" | sort | tr '\n' ' ')
check "all 4 hosts converged, got: $hosts" test "$hosts" = "n1 n2 n3 n4 "
check "no failures" test "$(json_total "$WORK/up.json" failed)" = 0
# Parallel: every host started its converge before the first host finished.
last_start=$(jq -s '[.[] | select(.event == "host_start" and .what == "connecting") | .ms] | max' "$WORK/up.json")
first_done=$(jq -s '[.[] | select(.event == "host_done") | .ms] | min' "$WORK/up.json")
check "hosts converge at the same time (last start ${last_start}ms < first done ${first_done}ms)" \
	test "$last_start" -lt "$first_done"
check "each host got its own address" \
	test "$(for h in n1 n2 n3 n4; do on_host $h "hostname -I"; done | sort -u | wc -l)" = 4

# -j 2: two hosts at a time, never more (the most converging at once,
# from each host's start and end)
at_once() {
	jq -s '[.[] | select((.event == "host_start" and .what == "connecting") or .event == "host_done")
		| {ms, d: (if .event == "host_done" then -1 else 1 end)}] | sort_by(.ms, .d)
		| reduce .[] as $e ({c: 0, m: 0}; .c += $e.d | .m = ([.m, .c] | max)) | .m' "$1"
}
pvj apply quad -j 2 >"$WORK/j2.json" 2>"$WORK/j2.err" || bail "apply quad -j 2 failed: $(json_errors "$WORK/j2.json" "$WORK/j2.err")"
check "apply -j 2 converged all 4 hosts" test "$(jq -r 'select(.event == "host_done") | .host' "$WORK/j2.json" | sort -u | wc -l)" = 4
check "with -j 2, 2 hosts converge at once, not more ($(at_once "$WORK/j2.json"); without -j: $(at_once "$WORK/up.json"))" \
	test "$(at_once "$WORK/j2.json")" = 2 -a "$(at_once "$WORK/up.json")" = 4

pv destroy quad --yes >/dev/null 2>&1
check "destroy succeeds" test $? = 0
PV_LAYOUTS=()
left=$(tool_footprint)
check "after destroy nothing of the tool is left${left:+: $left}" test -z "$left"
