#!/usr/bin/env bash
# DigitalOcean, a rate-limit storm: a budget of 5 requests refilled at 1 a second, and
# another client of the project spending it all in the middle of the run.
# up finishes, and never sends a request before the reset the headers
# named (after a 429, or after a response saying none remain).
# timeout: 600 (a run of about a minute; a stuck up must not hold CI for long)
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
do_start
do_inventory >"$WORK/inventory.yml"
t_uses phase1

cloud_ctl ratelimit '{"limit": 5, "per_second": 1}'
"$PROVISION" -i "$WORK/inventory.yml" --json up phase1 --only cloud >"$WORK/up.json" 2>"$WORK/up.err" &
pid=$!
# once the run is under way, someone else spends the whole budget
for _ in $(seq 1 300); do
	[ "$(cloud_stats | jq .requests)" -ge 3 ] && break
	sleep 0.05
done
cloud_ctl ratelimit '{"limit": 5, "per_second": 1, "drain_next": true}'
wait "$pid"
rc=$?
check "up finishes under the storm${rc/#0/}" test "$rc" = 0
[ "$rc" = 0 ] || cat "$WORK/up.err"
stats=$(cloud_stats)
check "the API answered 429 at least once ($(jq .rate_limited <<<"$stats"))" test "$(jq .rate_limited <<<"$stats")" -ge 1
check "the headers told the tool to wait several times ($(jq .told_to_wait <<<"$stats"))" test "$(jq .told_to_wait <<<"$stats")" -ge 2
check "no request was sent before the budget had one again ($(jq .early <<<"$stats") early)" test "$(jq .early <<<"$stats")" = 0
check "the waits were shown" grep -q 'digitalocean: .*wait' "$WORK/up.json"
check "the droplet exists once" test "$(cloud_state | jq '.droplets | length')" = 1
viol=$(cloud_violations)
check "every request followed the specification${viol:+: $viol}" test -z "$viol"
# cleanup destroys with a normal budget
cloud_ctl ratelimit '{"limit": 3600, "per_second": 1}'
