#!/usr/bin/env bash
# make bench: for 1, 4 and 16 local hosts (BENCH_SIZES overrides), the wall
# time of a first converge and of a no-op converge, and the SSH round trips
# per host; the no-op twice, right after the first converge and settled (60 s
# after it), each with the CPU the hosts used for it (their containers'
# cgroups, less the same hosts' idle use just before), in ms per host.
# Host creation is timed apart from the converge.  Then, for each
# size, where a host's time went (the mean over hosts, by the hosts' own
# clocks): package installs, files, services, commands, the other
# resources, and the rest of the host's time (the SSH connection and
# handshake, the transfers and round trips, the handlers, the login check
# after an sshd change; 'up --timings' lists the handlers' own times).
# The apt floor: as many fresh hosts again, each given by one ssh what the
# first converge installed, as one 'apt-get update && apt-get install'
# (no tool), all hosts at once: what the packages alone cost.
# BENCH_DPKG=N runs only the comparison of dpkg settings: N fresh hosts for
# each of none, force-unsafe-io and the documentation excludes, one after
# another, each timing one install of those packages (downloaded before).
# BENCH_MONITORING=N runs only the no-op comparison of 4 hosts with role
# node-exporter's resources and base's fail2ban metrics (monitoring_enabled
# true) and without them (false): N timed no-ops of each, taken in turns on
# the same hosts, and their medians.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PROVISION="$ROOT/bin/provision"
sizes=${BENCH_SIZES:-1 4 16}
if [ "$(id -u)" != 0 ]; then
	echo "bench: local hosts need root" >&2
	exit 2
fi

dir=
cleanup() {
	[ -n "$dir" ] || return 0
	local l
	for l in $(sed -n 's/^  \([a-z]*\):$/\1/p' "$dir/inventory.yml" 2>/dev/null); do
		"$PROVISION" -i "$dir/inventory.yml" --plain destroy "$l" --yes >/dev/null 2>&1 ||
			echo "bench: destroy of $l failed in $dir" >&2
	done
	# never delete through a host's disk that is still mounted
	if grep -q " $dir/" /proc/mounts; then
		echo "bench: mounts are left under $dir; not removing it" >&2
	else
		rm -rf "$dir"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
# breakdown FILE.json: the mean seconds per host by kind of resource, and
# the rest of each host's time (host_ms less its resources)
breakdown() {
	jq -rs '
		def kind: (.resource | split(" ")[0]) as $t
			| if $t == "package" then "packages"
			elif $t == "file" or $t == "directory" or $t == "line" then "files"
			elif $t == "service" then "services"
			elif $t == "command" then "commands"
			else "other" end;
		([.[] | select(.event == "host_done")] | length) as $n
		| ([.[] | select(.event == "resource" and .duration_ms != null)]) as $r
		| ([.[] | select(.event == "host_done") | .host_ms] | add) as $host
		| ["packages", "files", "services", "commands", "other"] as $kinds
		| [$kinds[] as $k | [$r[] | select(kind == $k) | .duration_ms] | add // 0 | [$k, .]]
		| . + [["the rest (connection, transfers, handlers, login checks)", ($host - (map(.[1]) | add))]]
		| map("\(.[0]) \((.[1] / $n / 1000) * 100 | round / 100)") | join(", ")' "$1"
}
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# host_cpu HOST...: the CPU microseconds the hosts' containers have used so
# far, summed (their cgroups' usage_usec: everything on the host, sshd,
# sudo and the probe's processes included)
cgroot=/sys/fs/cgroup
[ -d "$cgroot/unified" ] && cgroot=$cgroot/unified
host_cpu() {
	local h p cg sum=0 u
	for h in "$@"; do
		p=$(pgrep -f "systemd-nspawn .*-D $dir/.*/hosts/$h/root" | head -1)
		cg=$(sed -n 's/^0:://p' "/proc/$p/cgroup" 2>/dev/null)
		u=$(awk '$1 == "usage_usec" { print $2 }' "$cgroot${cg%/supervisor}/cpu.stat" 2>/dev/null)
		[ -n "$u" ] || { echo "bench: no CPU figure for host $h" >&2; echo 0; return; }
		sum=$((sum + u))
	done
	echo "$sum"
}
# noop_cpu N OUT.json: a timed no-op of the bench layout's N hosts; prints
# "WALL CPU_MS": the wall time and the hosts' CPU per host in ms, less what
# the same hosts used idle for as long just before
noop_cpu() {
	local n=$1 out=$2 hosts c0 c1 c2 t0 t1 t2 idle
	hosts=$(seq -f 'b%g' 1 "$n")
	c0=$(host_cpu $hosts)
	t0=$(now)
	sleep 2
	c1=$(host_cpu $hosts)
	t1=$(now)
	pv apply bench >"$out"
	t2=$(now)
	c2=$(host_cpu $hosts)
	idle=$(awk -v a="$t0" -v b="$t1" -v c="$t2" -v u="$((c1 - c0))" 'BEGIN { print u * (c - b) / (b - a) }')
	echo "$(secs "$t1" "$t2") $(awk -v u="$((c2 - c1))" -v i="$idle" -v n="$n" 'BEGIN { printf "%.0f", (u - i) / n / 1000 }')"
}

# packages FILE.json STATUS: the packages of the package resources with
# that status ("changed": a converge installed them; "would change": a
# plan would), one line
packages() {
	jq -r --arg st "$2" 'select(.event == "resource" and .status == $st and (.resource | startswith("package "))) | .resource[8:]' "$1" |
		sed 's/, /\n/g' | sort -u | tr '\n' ' '
}
APT_INSTALL="DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install --no-install-recommends"
# on_bench HOST CMD: CMD as root on a bench host
on_bench() { "$PROVISION" -i "$dir/inventory.yml" ssh "$1" -- "sudo -n sh -c $(printf '%q' "$2")"; }

# floor N PKGS: N fresh hosts (layout floor), one ssh each installing PKGS
# at once; prints the wall time
floor() {
	local n=$1 pkgs=$2 i t0 t1 bad=0
	{
		echo "  floor:"
		echo "    servers:"
		for i in $(seq 1 "$n"); do echo "      f$i: { roles: [base, ufw] }"; done
	} >>"$dir/inventory.yml"
	"$PROVISION" -i "$dir/inventory.yml" --json up floor --only cloud >"$dir/floor-create.json"
	t0=$(now)
	for i in $(seq 1 "$n"); do
		on_bench "f$i" "apt-get update -q >/dev/null && $APT_INSTALL $pkgs >/dev/null" &
	done
	for i in $(seq 1 "$n"); do wait -n || bad=1; done
	t1=$(now)
	[ "$bad" = 0 ] || echo "bench: an apt floor install failed" >&2
	secs "$t0" "$t1"
}

# compare_dpkg N: one install of [base, ufw]'s packages on fresh hosts with
# each dpkg setting, N hosts each, one at a time
compare_dpkg() {
	local runs=$1 v i pkgs cfg line res=
	dir=$(mktemp -d /tmp/provision-bench.XXXXXX)
	{
		echo "project: bench"
		echo "layouts:"
		echo "  bench:"
		echo "    servers:"
		echo "      b0: { roles: [base, ufw] }"
		for v in none unsafe excludes; do
			for i in $(seq 1 "$runs"); do echo "      $v$i: { roles: [base, ufw] }"; done
		done
	} >"$dir/inventory.yml"
	pv() { "$PROVISION" -i "$dir/inventory.yml" --json "$@"; }
	pv up bench --only cloud >"$dir/create.json"
	pv plan bench --hosts b0 >"$dir/plan.json" || true
	pkgs=$(packages "$dir/plan.json" "would change")
	[ -n "$pkgs" ] || { echo "bench: no package to install in the plan" >&2; return 1; }
	echo "one install of $(echo $pkgs | wc -w) packages (downloaded before), s wall / s CPU:"
	for i in $(seq 1 "$runs"); do
		for v in none unsafe excludes; do
			case $v in
			none) cfg=: ;;
			unsafe) cfg="echo force-unsafe-io >/etc/dpkg/dpkg.cfg.d/bench" ;;
			excludes) cfg="printf '%s\n' 'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright' 'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/info/*' 'path-exclude=/usr/share/locale/*' >/etc/dpkg/dpkg.cfg.d/bench" ;;
			esac
			line=$(on_bench "$v$i" "$cfg; apt-get update -q >/dev/null && $APT_INSTALL --download-only $pkgs >/dev/null && t0=\$(date +%s.%N) && $APT_INSTALL $pkgs >/dev/null && t1=\$(date +%s.%N) && awk -v a=\$t0 -v b=\$t1 -v c=\"\$(cut -d' ' -f16,17 /proc/\$\$/stat)\" 'BEGIN { split(c, t, \" \"); printf \"%.2f %.2f\\n\", b - a, (t[1] + t[2]) / 100 }'")
			echo "  $v: $line"
			res="$res$v $line
"
		done
	done
	for v in none unsafe excludes; do
		printf '  median, %s: %s s wall, %s s CPU\n' "$v" \
			"$(printf '%s' "$res" | awk -v v="$v" '$1 == v { print $2 }' | median)" \
			"$(printf '%s' "$res" | awk -v v="$v" '$1 == v { print $3 }' | median)"
	done
	cleanup
	dir=
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# compare_monitoring N: the no-op time of 4 hosts [base, ufw] with
# monitoring_enabled true and false, N times each, in turns
compare_monitoring() {
	local runs=$1 on= off= i mon t0 t1 changed
	dir=$(mktemp -d /tmp/provision-bench.XXXXXX)
	inventory() {
		{
			echo "project: bench"
			echo "layouts:"
			echo "  bench:"
			echo "    vars: { monitoring_enabled: $1 }"
			echo "    servers:"
			for i in 1 2 3 4; do echo "      b$i: { roles: [base, ufw] }"; done
		} >"$dir/inventory.yml"
	}
	pv() { "$PROVISION" -i "$dir/inventory.yml" --json "$@"; }
	inventory true
	pv up bench --only cloud >"$dir/create.json"
	pv apply bench >"$dir/first.json"
	for i in $(seq 1 "$runs"); do
		for mon in true false; do
			inventory "$mon"
			# settle first: switching the variable may change a rule or two
			pv apply bench >"$dir/settle.json"
			t0=$(now)
			pv apply bench >"$dir/noop-$mon.json"
			t1=$(now)
			changed=$(jq -r 'select(.event == "summary") | .changed' "$dir/noop-$mon.json")
			[ "$changed" = 0 ] || echo "bench: a no-op with monitoring_enabled $mon changed $changed" >&2
			if [ "$mon" = true ]; then on="$on $(secs "$t0" "$t1")"; else off="$off $(secs "$t0" "$t1")"; fi
		done
	done
	local m_on m_off
	m_on=$(echo "$on" | tr ' ' '\n' | grep . | median)
	m_off=$(echo "$off" | tr ' ' '\n' | grep . | median)
	echo "4 hosts [base, ufw], no-op converge (s), $runs runs each, in turns:"
	echo "  monitoring_enabled: true: $on (median $m_on)"
	echo "  monitoring_enabled: false:$off (median $m_off)"
	awk -v a="$m_on" -v b="$m_off" 'BEGIN { printf "  with monitoring: %+.1f %% of the time without\n", (a / b - 1) * 100 }'
	for mon in true false; do
		echo "  per host, last no-op, monitoring_enabled $mon, s: $(breakdown "$dir/noop-$mon.json")"
	done
	cleanup
	dir=
}
if [ -n "${BENCH_DPKG:-}" ]; then
	compare_dpkg "$BENCH_DPKG"
	exit 0
fi
if [ -n "${BENCH_MONITORING:-}" ]; then
	compare_monitoring "$BENCH_MONITORING"
	exit 0
fi

breakdowns=
printf '%-6s %-11s %-16s %-14s %-16s %-22s %-22s\n' hosts "create (s)" "first conv. (s)" "apt floor (s)" "no-op conv. (s)" "settled no-op (s)" "round trips/host"
for n in $sizes; do
	dir=$(mktemp -d /tmp/provision-bench.XXXXXX)
	{
		echo "project: bench"
		echo "layouts:"
		echo "  bench:"
		echo "    servers:"
		for i in $(seq 1 "$n"); do echo "      b$i: { roles: [base, ufw] }"; done
	} >"$dir/inventory.yml"
	pv() { "$PROVISION" -i "$dir/inventory.yml" --json "$@"; }

	t0=$(now)
	pv up bench --only cloud >"$dir/create.json"
	t1=$(now)
	pv apply bench >"$dir/first.json"
	t2=$(now)
	read -r noop_s noop_cpu < <(noop_cpu "$n" "$dir/noop.json")
	# settled: 60 s after the first converge ended, timers and caches quiet
	sleep "$(awk -v a="$t2" -v b="$(now)" 'BEGIN { d = 60 - (b - a); print (d > 0 ? d : 0) }')"
	read -r settled_s settled_cpu < <(noop_cpu "$n" "$dir/settled.json")

	changed=$(jq -rs '[.[] | select(.event == "summary") | .changed] | add' "$dir/noop.json" "$dir/settled.json")
	failed=$(jq -r 'select(.event == "summary") | .failed' "$dir/first.json")
	rt1=$(jq -s '[.[] | select(.event == "host_done") | .round_trips] | add / length' "$dir/first.json")
	rt2=$(jq -s '[.[] | select(.event == "host_done") | .round_trips] | add / length' "$dir/noop.json")
	fl=$(floor "$n" "$(packages "$dir/first.json" changed)")
	printf '%-6s %-11s %-16s %-14s %-16s %-22s %-22s\n' "$n" "$(secs "$t0" "$t1")" "$(secs "$t1" "$t2")" \
		"$fl" "$noop_s ($noop_cpu ms CPU)" "$settled_s ($settled_cpu ms CPU)" "$rt1 first, $rt2 no-op"
	breakdowns="$breakdowns$n hosts, first converge, s per host: $(breakdown "$dir/first.json")
$n hosts, no-op, s per host: $(breakdown "$dir/noop.json")
$n hosts, settled no-op, s per host: $(breakdown "$dir/settled.json")
"
	if [ "$changed" != 0 ] || [ "$failed" != 0 ]; then
		echo "bench: unexpected result: first converge failed=$failed, no-op changed=$changed" >&2
	fi
	cleanup
	dir=
done
echo
echo "where a host's time went (mean per host, by the hosts' clocks):"
printf '%s' "$breakdowns"
