#!/usr/bin/env bash
# make bench-failover: Patroni failover times on local hosts, the layout of
# t0530 (three Patroni nodes with etcd, synchronous replication, HAProxy and
# PgBouncer on a load balancer).  A writer on the load balancer commits one
# row per connection through PgBouncer, all along.  Then BENCH_ROUNDS times
# (default 10) the leader's host is stopped hard (its init killed) and the
# round measures (a) the time until a survivor answers as the leader on its
# REST API (GET /primary, polled every 0.2 s) and (b) the time until the
# first insert begun after the stop commits through PgBouncer; it checks
# that every row the writer saw committed is on the new leader, brings the
# stopped host back with 'up --hosts', and waits until it streams again as
# a replica and a synchronous standby is named before the next round.
# Each round also shows when the new leader took the lock (its Patroni
# journal; the hosts share this machine's clock) and when HAProxy marked it
# up (its stats, to the second).  At the end: p50, p95 and max of (a) and (b).  The
# layout is destroyed at the end, also on Ctrl-C or a failed round.
set -u
. "$(dirname "$0")/../tests/e2e/lib.sh"
. "$(dirname "$0")/../tests/e2e/lib-patroni.sh"
rounds=${BENCH_ROUNDS:-10}
case $rounds in '' | *[!0-9]* | 0)
	echo "bench-failover: BENCH_ROUNDS takes a number of 1 or more, not '$rounds'" >&2
	exit 2
	;;
esac
if [ "$(id -u)" != 0 ]; then
	echo "bench-failover: local hosts need root" >&2
	exit 2
fi
# lib.sh's checks print "ok -" / "not ok -" lines; here only failures matter
pass() { :; }
die() {
	echo "bench-failover: $*" >&2
	exit 1
}

# t0530's inventory, as that script has it (the layout it fails over)
t_project < <(sed -n "/^t_project <<'YML'\$/,/^YML\$/{//!p}" "$ROOT/tests/e2e/t0530-patroni-failover.sh")
grep -q '^      pg3: ' "$WORK/inventory.yml" || die "cannot read t0530's inventory"
t_uses ha
# a bench run's passwords: random, in this process's environment only
rnd() { head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
PV_TEST_DB_PW=$(rnd) PV_TEST_REPL_PW=$(rnd) PV_TEST_SU_PW=$(rnd)
export PV_TEST_DB_PW PV_TEST_REPL_PW PV_TEST_SU_PW

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
# the REST API's answer of a node to its own address: api HOST PATH
api() {
	local a
	a=$(jq -r ".environments.default.layouts.ha.hosts.$1.address" "$WORK/.provision/state.json")
	in_netns ha "$1" curl -s -m 1 -o /dev/null -w '%{http_code}' "http://$a:8008/$2" 2>/dev/null
}
leader_api() {
	local h
	for h in "$@"; do [ "$(api "$h" primary)" = 200 ] && { echo "$h"; return 0; }; done
	return 1
}
streaming() { members_local "$@" | grep -Eq "^$1 (Replica|Sync Standby) running$"; }
has_sync() { members_local "$@" | grep -q ' Sync Standby running$'; }
# members as the first given node sees them, through nsenter (ufw limits
# SSH logins from one address to 6 in 30 s; polling takes many more)
members_local() {
	local h out
	for h in "$@"; do
		out=$(in_host ha "$h" "patronictl -c /etc/patroni/config.yml list -f json" 2>/dev/null |
			jq -r '.[] | "\(.Member) \(.Role) \(.State)"' 2>/dev/null) || continue
		[ -n "$out" ] && { printf '%s\n' "$out"; return 0; }
	done
	return 1
}
# the first unix time in the patroni journal on HOST since T matching RE:
# journal_at HOST T RE
journal_at() {
	in_host ha "$1" "journalctl -q --no-pager -o short-unix -u patroni --since @${2%.*}" 2>/dev/null |
		awk -v t="$2" -v re="$3" '$1 >= t && $0 ~ re { print $1; exit }'
}
# when HAProxy on lb1 last marked server SERVER of 'listen postgres' up
# (now less its lastchg, the 24th field of 'show stat': whole seconds)
haproxy_up_at() {
	in_host ha lb1 "perl -MIO::Socket::UNIX -e '
		my \$s = IO::Socket::UNIX->new(Peer => \"/run/haproxy/admin.sock\") or die;
		print \$s \"show stat\\n\"; print while <\$s>;'" 2>/dev/null |
		awk -F, -v s="$1" -v now="$(now)" '$1 == "postgres" && $2 == s && $18 == "UP" { printf "%.1f\n", now - $24 }'
}
# p50 / p95 / max of the numbers on standard input (nearest rank)
stats() {
	sort -n | awk '{ v[NR] = $1 } END {
		if (!NR) { print "none"; exit }
		p50 = int(NR * 0.50 + 0.999999); p95 = int(NR * 0.95 + 0.999999)
		printf "p50 %.1f s, p95 %.1f s, max %.1f s (%d rounds)\n", v[p50], v[p95], v[NR], NR }'
}

start=$SECONDS
pv up ha >"$WORK/up" 2>&1 || die "up ha failed: $(tail -n 30 "$WORK/up")"
echo "# layout up in $((SECONDS - start)) s"
all_streaming() { [ "$(members_local pg1 pg2 pg3 | grep -Ec ' (Replica|Sync Standby) running$')" = 2 ]; }
wait_for 120 all_streaming || die "no leader with two streaming replicas: $(members_local pg1 pg2 pg3 | tr '\n' ';')"
wait_for 60 has_sync pg1 pg2 pg3 || die "no synchronous standby"

printf '127.0.0.1:6432:*:shop:%s\n' "$PV_TEST_DB_PW" |
	"$PROVISION" -i "$WORK/inventory.yml" ssh lb1 -- "sudo -n sh -c 'umask 077 && cat >/root/.pgpass'" ||
	die "cannot give the writer its password"
ep="PGPASSFILE=/root/.pgpass psql -X -w -q -tA -h 127.0.0.1 -p 6432 -U shop -d shop"
on_host lb1 "$ep -c 'create table ticks (n int primary key)'" >/dev/null ||
	die "cannot write through the endpoint"
# one insert per connection, 0.1 s apart: "START END ok|fail N"
start_loop lb1 writer <<SH || die "cannot start the writer"
i=0
while [ ! -e /root/writer.stop ]; do
	i=\$((i + 1))
	s=\$(date +%s.%N)
	if [ "\$($ep -c "insert into ticks (n) values (\$i) returning n" 2>/dev/null)" = "\$i" ]; then r=ok; else r=fail; fi
	echo "\$s \$(date +%s.%N) \$r \$i" >>/root/writer.log
	sleep 0.1
done
SH
writer_oks() { [ "$(in_host ha lb1 "grep -c ' ok ' /root/writer.log" 2>/dev/null)" -ge "$1" ] 2>/dev/null; }
wait_for 30 writer_oks 20 || die "the writer does not commit"

: >"$WORK/leader-times" && : >"$WORK/write-times"
printf '%-5s %-4s %-4s %-11s %-11s %-9s %-12s %s\n' round old new "leader (s)" "writes (s)" "lock (s)" "haproxy (s)" lost
for r in $(seq 1 "$rounds"); do
	old=$(leader_api pg1 pg2 pg3) || die "round $r: no leader"
	survivors=$(printf '%s\n' pg1 pg2 pg3 | grep -vx "$old" | tr '\n' ' ')
	init=$(host_init ha "$old")
	[ -n "$init" ] || die "round $r: cannot find the init of $old's host"
	t0=$(now)
	kill -KILL "$init" || die "round $r: cannot stop $old"

	new="" t_leader=""
	for _ in $(seq 1 600); do
		# shellcheck disable=SC2086
		new=$(leader_api $survivors) && { t_leader=$(now); break; }
		sleep 0.2
	done
	# shellcheck disable=SC2086
	[ -n "$new" ] || die "round $r: no new leader within 2 minutes: $(members_local $survivors | tr '\n' ';')"

	# the end of the first insert begun after the stop that committed
	resumed=
	for _ in $(seq 1 120); do
		resumed=$(in_host ha lb1 "awk -v t=$t0 '\$1 > t && \$3 == \"ok\" { print \$2; exit }' /root/writer.log")
		[ -n "$resumed" ] && break
		sleep 0.5
	done
	[ -n "$resumed" ] || die "round $r: writes did not resume within a minute after $new took over"

	# every row the writer saw committed is on the new leader
	in_host ha lb1 "awk '\$3 == \"ok\" { print \$4 }' /root/writer.log" | LC_ALL=C sort >"$WORK/committed"
	in_host ha "$new" "cd / && runuser -u postgres -- psql -X -tA -d shop -c 'select n from ticks'" |
		LC_ALL=C sort >"$WORK/present"
	[ -s "$WORK/present" ] || die "round $r: cannot read the rows on $new"
	lost=$(LC_ALL=C comm -23 "$WORK/committed" "$WORK/present" | wc -l)

	# where the time went: the new leader's lock and promotion, HAProxy's check
	lock=$(journal_at "$new" "$t0" 'acquired session lock as a leader|promoted self to leader')
	up=$(haproxy_up_at "$new")
	rel() { if [ -n "$1" ]; then secs "$t0" "$1"; else echo -; fi; }
	printf '%-5s %-4s %-4s %-11s %-11s %-9s %-12s %s\n' "$r" "$old" "$new" "$(secs "$t0" "$t_leader")" \
		"$(secs "$t0" "$resumed")" "$(rel "$lock")" "$(rel "$up")" "$lost"
	echo "$(secs "$t0" "$t_leader")" >>"$WORK/leader-times"
	echo "$(secs "$t0" "$resumed")" >>"$WORK/write-times"
	[ "$lost" = 0 ] || die "round $r: $lost committed rows are missing on $new"

	# the stopped host back, as a streaming replica, and a synchronous standby again
	pv up ha --hosts "$old" >"$WORK/up$r" 2>&1 || die "round $r: up failed: $(tail -n 20 "$WORK/up$r")"
	grep -q "$old: starting the stopped host" "$WORK/up$r" || die "round $r: up did not start $old"
	# shellcheck disable=SC2086
	wait_for 180 streaming "$old" $survivors ||
		die "round $r: $old did not rejoin: $(members_local $survivors | tr '\n' ';')"
	# shellcheck disable=SC2086
	wait_for 60 has_sync $survivors || die "round $r: no synchronous standby after $old rejoined"
	n=$(in_host ha lb1 "grep -c ' ok ' /root/writer.log")
	wait_for 30 writer_oks $((n + 10)) || die "round $r: the writer does not commit after $old rejoined"
done
stop_loop lb1 writer

echo
echo "new leader seen:   $(stats <"$WORK/leader-times")"
echo "writes resumed:    $(stats <"$WORK/write-times")"
echo "# $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $((SECONDS - start)) s in all"
