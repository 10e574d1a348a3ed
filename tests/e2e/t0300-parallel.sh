#!/usr/bin/env bash
# A layout with 4 servers converges them in parallel; destroy removes every
# host, mount, process and the bridge.
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

pv destroy quad --yes >/dev/null 2>&1
check "destroy succeeds" test $? = 0
PV_LAYOUTS=()
left=$(tool_footprint)
check "after destroy nothing of the tool is left${left:+: $left}" test -z "$left"
