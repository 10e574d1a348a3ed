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

# Wait for a command to succeed: $1 tries a second apart.  Each try runs
# in a subshell that is killed after 30 s: a probe that hangs (an SSH
# session to a host whose neighbour was just stopped hard, say) costs one
# try, not the script's whole time limit.
wait_for() {
	local t=$1 i p w rc
	shift
	for i in $(seq 1 "$t"); do
		("$@") >/dev/null 2>&1 &
		p=$!
		(sleep 30 && kill -KILL "$p") >/dev/null 2>&1 &
		w=$!
		wait "$p"
		rc=$?
		kill "$w" 2>/dev/null
		wait "$w" 2>/dev/null
		[ "$rc" = 0 ] && return 0
		sleep 1
	done
	return 1
}
