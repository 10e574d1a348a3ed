#!/usr/bin/env bash
# The test suite: unit tests (with --with-unit BIN...), then the end-to-end
# scripts tests/e2e/t*.sh (or the ones named in $TESTS by id or full name,
# e.g. TESTS="t0100 t0200-up-phase1").
#
#   tests/run.sh [-j N] [--with-unit BIN...]
#
# -j N (or PV_JOBS=N) runs up to N scripts at once (default 3); each
# script's output is kept and printed whole when it ends (live with -j 1).
# A script whose header has a line "# serial: REASON" runs alone.  Each
# script has a time limit, PV_TIMEOUT seconds (default 1500), raised or
# lowered by a header line "# timeout: SECONDS [WHY]"; when it runs out, the
# script's process group is sent SIGTERM (its cleanup runs), then SIGKILL
# 10 minutes later, and the step it was in is named.
#
# A script whose header has a line "# suite: extended WHY" belongs to the
# extended suite: it runs only with PV_SUITE=all (make test-all) or when
# $TESTS names it; otherwise the runner lists it as not run.  The order is
# longest first, by this machine's recorded times, else by the expected
# times in tests/e2e/durations, else a script counts as longest.
#
# Scripts print "ok - ..." / "not ok - ..." lines.  Besides a "not ok", a
# script fails when it exits non-zero, reports no result at all, or runs
# out of time; lib.sh turns a failed cleanup into a "not ok".  The last
# line of this runner is "N passed, N failed" over all checks.  A script
# that runs PV_SLOW_STEPS seconds or more (300) is followed by the three
# longest stretches between its results, to show where its time goes.
set -u
cd "$(dirname "$0")/.."

jobs=${PV_JOBS:-3}
unit=()
while [ $# -gt 0 ]; do
	case $1 in
	-j) jobs=${2:-}; shift 2 || shift ;;
	-j*) jobs=${1#-j}; shift ;;
	--with-unit) shift; unit=("$@"); break ;;
	*) echo "usage: tests/run.sh [-j N] [--with-unit BIN...]" >&2; exit 2 ;;
	esac
done
case $jobs in
'' | *[!0-9]* | 0) echo "tests/run.sh: -j takes a number of scripts of 1 or more, not '$jobs'" >&2; exit 2 ;;
esac
limit_default=${PV_TIMEOUT:-1500}
slow_steps=${PV_SLOW_STEPS:-300}
case $slow_steps in '' | *[!0-9]*) slow_steps=300 ;; esac
suite=${PV_SUITE:-default}
case $suite in
default | all) ;;
*) echo "tests/run.sh: PV_SUITE is 'default' or 'all', not '$suite'" >&2; exit 2 ;;
esac
expected=tests/e2e/durations
durations=${PROVISION_CACHE_DIR:-/var/cache/provision}/test-durations

total_pass=0 total_fail=0
if [ "${#unit[@]}" -gt 0 ]; then
	out=$(tests/run-unit.sh "${unit[@]}")
	printf '%s\n' "$out" | grep -v '^unit:'
	line=$(printf '%s\n' "$out" | tail -n 1)
	if [[ $line =~ ^unit:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		total_pass=${BASH_REMATCH[1]} total_fail=${BASH_REMATCH[2]}
	else
		echo "not ok - the unit tests gave no summary"
		total_fail=1
	fi
	echo "== unit tests: $total_pass passed, $total_fail failed"
fi

# The value of a header line "# KEY: VALUE" of a script.
header() {
	sed -n "1,30s/^# $2: *//p" "$1" | head -n 1
}

# A header line the runner would not read (past line 30), or nothing.
late_header() {
	sed -n '31,$p' "$1" | grep -Eo '^# (timeout|serial|suite):' | head -n 1
}

# The scripts to run, the ones that take longest first (so that the long
# ones do not start last and leave the others' slots idle): this machine's
# last time, else the expected time, else (a new script) longest.  Lines
# "skipped NAME" name the extended suite's scripts left out.
select_scripts() {
	local t name w hit
	declare -A want=()
	for w in ${TESTS:-}; do want[$w]=0; done
	for t in tests/e2e/t[0-9]*.sh; do
		name=$(basename "$t" .sh)
		if [ -n "${TESTS:-}" ]; then
			hit=
			for w in "${name%%-*}" "$name"; do
				[ -n "${want[$w]+x}" ] && want[$w]=1 hit=1
			done
			[ -n "$hit" ] || continue
		elif [ "$suite" != all ] && [ "$(header "$t" suite | cut -d' ' -f1)" = extended ]; then
			echo "skipped $name" >&3
			continue
		fi
		echo "$t"
	done 3>"$tmp/skipped" >"$tmp/selected"
	local known=()
	for w in "$durations" "$expected"; do [ ! -r "$w" ] || known+=("$w"); done
	while read -r t; do
		name=$(basename "$t" .sh)
		printf '%s %s\n' "$( [ "${#known[@]}" = 0 ] || awk -v n="$name" '$1 == n { print $2; exit }' "${known[@]}")" "$t"
	done <"$tmp/selected" | sed 's/^ /99999 /' | sort -k1,1nr -k2,2 | cut -d' ' -f2
	cat "$tmp/skipped"
	for w in "${!want[@]}"; do
		[ "${want[$w]}" = 1 ] || echo "unmatched $w"
	done
}

tmp=$(mktemp -d /tmp/provision-run.XXXXXX)
declare -A running=() # pid of the script's timeout -> name
declare -A took=()
list=()
skipped=()

# report NAME: print a finished script's output and verdict, count it.
report() {
	local name=$1 d="$tmp/$1" rc secs p f step limit
	read -r rc secs limit <"$d/rc"
	[ "$jobs" = 1 ] || { echo "== $name"; cat "$d/out"; }
	p=$(grep -c '^pass' "$d/results")
	f=$(grep -c '^fail' "$d/results")
	if [ "$rc" = 124 ]; then
		step=$(cat "$d/step" 2>/dev/null)
		echo "not ok - $name timed out after ${limit}s; it was at: ${step:-(no step recorded)}"
		f=$((f + 1))
	elif [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		echo "not ok - $name exited with status $rc"
		f=1
	elif [ "$((p + f))" = 0 ]; then
		echo "not ok - $name reported no result (exit $rc)"
		f=1
	fi
	echo "== $name: $p passed, $f failed (${secs}s)"
	# where a long script spends its time: the longest stretches before a result
	[ "$secs" -lt "$slow_steps" ] || awk -F'\t' '{ print $1 - last "\t" $2; last = $1 }' "$d/times" |
		sort -k1,1nr | head -3 | awk -F'\t' '{ printf "   %5ss until: %.100s\n", $1, $2 }'
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	# a script stopped by a signal did not run its course: its last time stays
	[ "$rc" -gt 128 ] || took[$name]=$secs
}

# start SCRIPT: run it in its own process group under its time limit.
start() {
	local t=$1 name d limit
	name=$(basename "$t" .sh)
	d="$tmp/$name"
	mkdir -p "$d"
	: >"$d/results"
	: >"$d/times"
	limit=$(header "$t" timeout)
	limit=${limit%% *} # "# timeout: SECONDS [why]"
	case $limit in '' | *[!0-9]*) limit=$limit_default ;; esac
	# timeout(1) puts the script in a process group of its own and signals
	# the whole group; nspawn hosts and servers the script started with
	# setsid are left to its cleanup
	[ "$jobs" != 1 ] || echo "== $name"
	(
		s=$(date +%s)
		if [ "$jobs" = 1 ]; then
			PV_RESULTS="$d/results" PV_STEP="$d/step" PV_TIMES="$d/times" timeout -k 600 "$limit" bash "$t" </dev/null > >(tee "$d/out") 2>&1 &
		else
			PV_RESULTS="$d/results" PV_STEP="$d/step" PV_TIMES="$d/times" timeout -k 600 "$limit" bash "$t" </dev/null >"$d/out" 2>&1 &
		fi
		echo $! >"$d/pid"
		wait $!
		echo "$? $(($(date +%s) - s)) $limit" >"$d/rc"
	) &
	running[$!]=$name
}

# Wait for one running script and report it.
reap() {
	local pid
	wait -n -p pid "${!running[@]}"
	report "${running[$pid]}"
	unset "running[$pid]"
}

drain() {
	while [ "${#running[@]}" -gt 0 ]; do reap; done
}

stop_all() {
	local pid
	echo "interrupted: stopping the running scripts (their cleanup runs)" >&2
	# the subshell's child is timeout(1), which passes the signal to its group
	for pid in "${!running[@]}"; do kill -TERM "$(cat "$tmp/${running[$pid]}/pid")" 2>/dev/null; done
	wait
	rm -rf "$tmp"
	exit 130
}

if [ "$(id -u)" != 0 ]; then
	echo "end-to-end tests need root (network bridges, mounts, nspawn hosts)"
	echo "not ok - end-to-end tests were not run"
	total_fail=$((total_fail + 1))
else
	# every booted host's systemd holds several inotify instances, all of
	# them root's: the kernel's default of 128 per user runs out at about
	# twenty hosts on the machine, and a host then fails to boot
	if [ "$(cat /proc/sys/fs/inotify/max_user_instances 2>/dev/null || echo 1024)" -lt 1024 ]; then
		echo "== raising fs.inotify.max_user_instances to 1024 (each booted host needs several)"
		sysctl -q -w fs.inotify.max_user_instances=1024 ||
			echo "== could not raise it: hosts may fail to boot when many run at once"
	fi
	trap stop_all INT TERM
	wall=$(date +%s)
	while read -r t w; do
		if [ "$t" = unmatched ]; then
			echo "not ok - TESTS names '$w', which matches no script"
			total_fail=$((total_fail + 1))
			continue
		fi
		if [ "$t" = skipped ]; then
			skipped+=("$w")
			continue
		fi
		list+=("$t")
	done < <(select_scripts)
	if [ "${#skipped[@]}" -gt 0 ]; then
		echo "== not run: ${#skipped[@]} scripts of the extended suite (PV_SUITE=all or make test-all runs them):"
		printf '%s\n' "${skipped[@]}" | fmt -w 76 | sed 's/^/   /'
	fi
	if [ "${#list[@]}" = 0 ]; then
		echo "not ok - no end-to-end script selected (TESTS='${TESTS:-}')"
		total_fail=$((total_fail + 1))
	fi
	for t in "${list[@]}"; do
		late=$(late_header "$t")
		if [ -n "$late" ]; then
			# its time limit or serial run would silently not apply
			echo "not ok - $(basename "$t" .sh): its '${late%:}' header line is past line 30, where the runner does not read it"
			total_fail=$((total_fail + 1))
		fi
		if [ -n "$(header "$t" serial)" ]; then
			drain
			start "$t"
			drain
			continue
		fi
		while [ "${#running[@]}" -ge "$jobs" ]; do reap; done
		start "$t"
	done
	drain
	trap - INT TERM
	if [ "${#took[@]}" -gt 0 ]; then
		echo "== durations, slowest first (wall time $(($(date +%s) - wall))s, -j $jobs):"
		for name in "${!took[@]}"; do echo "${took[$name]} $name"; done | sort -k1,1nr |
			awk '{ printf "  %5ss  %s\n", $1, $2 }'
		# remembered for the order of the next run
		if mkdir -p "$(dirname "$durations")" 2>/dev/null; then
			{
				for name in "${!took[@]}"; do echo "$name ${took[$name]}"; done
				[ ! -f "$durations" ] || awk 'NR == FNR { seen[$1] = 1; next } !($1 in seen)' \
					<(for name in "${!took[@]}"; do echo "$name"; done) "$durations"
			} >"$durations.$$" && mv "$durations.$$" "$durations"
		fi
	fi
fi
rm -rf "$tmp"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ]
