# Patroni clusters in the end-to-end tests (source after lib.sh).

# "name role state" of every member, as the first of the given nodes that
# answers sees it; fails when none answers with a member.
members() {
	local h out
	for h in "$@"; do
		out=$(on_host "$h" "patronictl -c /etc/patroni/config.yml list -f json" 2>/dev/null |
			jq -r '.[] | "\(.Member) \(.Role) \(.State)"' 2>/dev/null) || continue
		[ -n "$out" ] || continue
		printf '%s\n' "$out"
		return 0
	done
	return 1
}

# The running leader, as the given nodes see it.
leader_of() { members "$@" | awk '$2 == "Leader" && $3 == "running" { print $1 }'; }

# Wait up to $1 seconds for a command to succeed.
wait_for() {
	local t=$1 i
	shift
	for i in $(seq 1 "$t"); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 1
	done
	return 1
}
