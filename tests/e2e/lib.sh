# Shared helpers for the end-to-end tests.  Source it first thing:
#   . "$(dirname "$0")/lib.sh"
# Every test gets its own project directory (its own state, bridge, subnet
# and hosts) and tears everything down on exit, success or failure.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PROVISION="$ROOT/bin/provision"
PV_RESULTS=${PV_RESULTS:-/dev/null}
PV_STEP=${PV_STEP:-/dev/null}
PV_TIMES=${PV_TIMES:-/dev/null} # seconds into the script at each result
WORK=
PV_LAYOUTS=()
PV_ENV_LAYOUTS=() # "ENV LAYOUT" pairs

pass() {
	echo "ok - $*"
	echo "pass $*" >>"$PV_RESULTS"
	printf '%s\t%s\n' "$SECONDS" "$*" >>"$PV_TIMES"
}

fail() {
	echo "not ok - $*"
	echo "fail $*" >>"$PV_RESULTS"
	printf '%s\t%s\n' "$SECONDS" "$*" >>"$PV_TIMES"
}

# Record what the test is doing now (tests/run.sh names it when the
# script runs out of time).  Once the script is told to stop, the step it
# was in stays recorded.
PV_CHECK= PV_STOPPED=
t_step() {
	[ -z "$PV_STOPPED" ] || return 0
	printf '%.300s\n' "${PV_CHECK:+check '$PV_CHECK': }$*" >"$PV_STEP"
}

# check DESCRIPTION COMMAND...: passes when the command exits 0 (its
# standard output is not shown; its errors are).
check() {
	local desc=$1
	shift
	PV_CHECK=$desc
	t_step "$*"
	if "$@" >/dev/null; then pass "$desc"; else fail "$desc"; fi
	PV_CHECK=
}

# Stop here: the rest of the test depends on what just failed.
bail() {
	fail "$*"
	exit 1
}

# A fresh project directory holding inventory.yml (from stdin, or copied from a file).
t_project() {
	WORK=$(mktemp -d /tmp/provision-test.XXXXXX)
	if [ $# -gt 0 ]; then cp "$1" "$WORK/inventory.yml"; else cat >"$WORK/inventory.yml"; fi
	trap t_cleanup EXIT
	trap 'PV_STOPPED=1; exit 130' INT TERM
}

# A failed cleanup is a failed check: it is how leaks start.  Its output
# is shown (the destroy's own report says what is left).
t_cleanup() {
	local l out m root machines
	[ -n "$WORK" ] || return 0
	machines=$(jq -r '.. | objects | .machine? // empty' "$WORK/.provision/state.json" 2>/dev/null)
	[ -f "$WORK/inventory.yml" ] ||
		echo "# cleanup: $WORK/inventory.yml is gone; $WORK holds: $(ls -A "$WORK" 2>&1 | tr '\n' ' '); mounts under it: $(grep -c " $WORK/" /proc/mounts)"
	for l in "${PV_LAYOUTS[@]}"; do
		t_step "cleanup: destroy $l"
		out=$("$PROVISION" -i "$WORK/inventory.yml" --plain destroy "$l" --yes 2>&1) ||
			{ printf '%s\n' "$out" | tail -n 20 >&2; fail "cleanup: destroy $l"; }
	done
	for l in "${PV_ENV_LAYOUTS[@]}"; do
		# shellcheck disable=SC2086 # "ENV LAYOUT"
		set -- $l
		t_step "cleanup: destroy $2 in environment $1"
		out=$("$PROVISION" -i "$WORK/inventory.yml" -e "$1" --plain destroy "$2" --yes 2>&1) ||
			{ printf '%s\n' "$out" | tail -n 20 >&2; fail "cleanup: destroy $2 in environment $1"; }
	done
	# a destroyed host leaves no cgroup behind (they pile up on the machine)
	for m in $machines; do
		for root in /sys/fs/cgroup/unified /sys/fs/cgroup /sys/fs/cgroup/systemd; do
			[ ! -d "$root/provision-hosts/$m" ] || fail "cleanup: host $m's cgroup $root/provision-hosts/$m is left"
		done
	done
	# never delete through a host's disk that is still mounted
	if grep -q " $WORK/" /proc/mounts; then
		fail "cleanup: mounts are left under $WORK; not removing it"
	else
		rm -rf "$WORK"
	fi
}

# Remember a layout so that cleanup destroys it.
t_uses() {
	PV_LAYOUTS+=("$@")
}

# Remember a layout of an environment so that cleanup destroys it: t_uses_env ENV LAYOUT.
t_uses_env() {
	PV_ENV_LAYOUTS+=("$1 $2")
}

pv() {
	t_step "line ${BASH_LINENO[0]}: provision $*"
	"$PROVISION" -i "$WORK/inventory.yml" --plain "$@"
}

pvj() {
	t_step "line ${BASH_LINENO[0]}: provision --json $*"
	"$PROVISION" -i "$WORK/inventory.yml" --json "$@"
}

# What a --json run reported as errors (its "error" events and the
# resources that failed, with why), then the last lines of its standard
# error: json_errors OUT.json ERR
json_errors() {
	jq -r 'select(.event == "error") | .message // tostring' "$1" 2>/dev/null | tail -5
	jq -r 'select(.event == "resource" and .status == "failed")
		| "\(.host): \(.resource) failed: \([.reason, (.output // "" | .[-300:])] | map(select(. != null and . != "")) | join(": ") | gsub("\n"; " | "))"' "$1" 2>/dev/null | tail -3
	tail -5 "$2" 2>/dev/null
}

# up_json LAYOUT N: 'up LAYOUT' with --json into $WORK/upN.json (errors
# into upN.err); the test stops here when it fails.
up_json() {
	pvj up "$1" >"$WORK/up$2.json" 2>"$WORK/up$2.err" ||
		bail "up $1 (run $2) failed: $(json_errors "$WORK/up$2.json" "$WORK/up$2.err")"
}

# Run a shell command as root on a host, through the tool's own ssh.
on_host() {
	local host=$1
	shift
	t_step "line ${BASH_LINENO[0]}: on $host: $*"
	# ssh joins its arguments into one line for the remote shell: quote it once
	"$PROVISION" -i "$WORK/inventory.yml" ssh "$host" -- "sudo -n sh -c $(printf '%q' "$*")"
}

# on_host for a host of environment ENV: on_env_host ENV HOST CMD...
on_env_host() {
	local env=$1 host=$2
	shift 2
	"$PROVISION" -i "$WORK/inventory.yml" -e "$env" ssh "$host" -- "sudo -n sh -c $(printf '%q' "$*")"
}

# write_refused HOST SQL: psql on HOST (as postgres, database shop) ran the
# statement and PostgreSQL refused it as a write in a read-only transaction
# (a failed login or a missing psql is not a refusal).  From /, which postgres
# may enter (the admin's home it may not).
write_refused() {
	local out
	out=$(on_host "$1" "cd / && runuser -u postgres -- psql -X -d shop -c '$2'" 2>&1) && return 1
	printf '%s\n' "$out" | grep -q 'cannot execute .* in a read-only transaction'
}

# From a --json run's output: total changed / failed of the summary event.
json_total() {
	jq -r "select(.event == \"summary\") | .$2" "$1"
}

# check_held_start HOST UNIT FILE: on a host's first converge, UNIT never
# ran with its package's defaults: systemd's first "Starting UNIT" (or
# "Started UNIT": a simple service logs only that) in the journal comes
# after FILE (its configuration) was written, and it started once (one
# "Started": no start-then-restart).
check_held_start() {
	local got first mtime n
	got=$(on_host "$1" "journalctl -q --no-pager -o short-unix _PID=1 |
		awk -v u='$2' '\$3 == \"systemd[1]:\" && (\$5 == u || \$5 == u \".service\") {
			if (f == \"\" && (\$4 == \"Starting\" || \$4 == \"Started\")) f = \$1
			if (\$4 == \"Started\") n++
		}
		END { print (f == \"\" ? \"none\" : f), n + 0 }'") || got="none 0"
	mtime=$(on_host "$1" "date -r $3 +%s.%N")
	read -r first n <<<"$got"
	check "$2 first started after $3 was written (started $first, written $mtime)" \
		awk -v f="$first" -v m="$mtime" 'BEGIN { exit !(f != "none" && f + 0 > m + 0) }'
	check "$2 started once on the first converge, got $n" test "$n" = 1
}

# Names of the resources a --json run reported with a status, one per line.
json_resources() {
	jq -r "select(.event == \"resource\" and .status == \"$2\") | .resource" "$1" | sort
}

# State of the machine that belongs to the tool: nspawn hosts, caches, bridges, mounts.
# Bridges this test's project made: the local provider labels each bridge
# with its state directory, so hosts of other projects on this machine (a
# demo, another checkout's tests) are never mistaken for this test's.
t_bridges() {
	ip -o link show type bridge | grep -F " state=$WORK/.provision" |
		sed -n 's/^[0-9]*: \(pv[0-9a-f]*\):.*/ \1/p'
}

# What the tool left on this machine for this test's project.
tool_footprint() {
	pgrep -a -f "systemd-nspawn.* -D $WORK/" || true
	pgrep -a -f "apt-cacher-ng.*$WORK" || true
	grep " $WORK" /proc/mounts || true
	t_bridges
}

# The pid of the init of a running host of the local provider: host_init LAYOUT HOST.
host_init() {
	local pid
	# the environment the state holds the host in (default_environment may
	# name another than 'default')
	pid=$(jq -r --arg l "$1" --arg h "$2" \
		'first(.environments[] | .layouts[$l].hosts[$h].pid // empty) // empty' \
		"$WORK/.provision/state.json")
	[ -n "$pid" ] || return 1
	pgrep -P "$pid" | head -n 1
}

# Run CMD in the network namespace of a host of the local provider, without
# SSH (for checks polled every second; fails when the host is not running):
# in_netns LAYOUT HOST CMD...
in_netns() {
	local init
	init=$(host_init "$1" "$2")
	[ -n "$init" ] || return 1
	shift 2
	nsenter -t "$init" -n -- "$@"
}

# Run a shell command as root inside a host of the local provider, without
# SSH (each host's ufw lets 6 SSH connections in 30 s in; keep them for the
# tool under test): in_host LAYOUT HOST CMD
in_host() {
	local init
	init=$(host_init "$1" "$2")
	[ -n "$init" ] || return 1
	nsenter -t "$init" -a -- env PATH=/usr/sbin:/usr/bin:/sbin:/bin sh -c "$3"
}

# Stop a host of the local provider hard (its init killed: no shutdown):
# stop_hard LAYOUT HOST.
stop_hard() {
	local init
	init=$(host_init "$1" "$2")
	[ -n "$init" ] && kill -KILL "$init"
}

# In a log on HOST of lines "START END ok|fail ...", the END of the first
# success after the outage that began at T (after the first failure begun
# after T; without one, the first success begun after T), waiting up to
# 60 s for it: first_ok_after HOST LOG T
first_ok_after() {
	local i out
	for i in $(seq 1 60); do
		out=$(on_host "$1" "awk -v t=$3 '
			\$1 > t && \$3 == \"fail\" { f = 1 }
			\$1 > t && \$3 == \"ok\" { if (f) { print \$2; exit } if (!first) first = \$2 }
			END { if (!f && first) print first }' $2")
		[ -n "$out" ] && { echo "$out"; return 0; }
		sleep 1
	done
	return 1
}

# A project role 'hello' for load balancer tests: nginx answering with the
# server's name (and curl, to ask others).
t_hello_role() {
	mkdir -p "$WORK/roles/hello"
	cat >"$WORK/roles/hello/role.yml" <<'YML'
description: a web server that names itself
resources:
  - package: { name: [nginx, curl] }
  - file: { path: /var/www/html/index.html, content: "{{ server_name }}\n", mode: "0644" }
  - service: { name: nginx, enabled: true, running: true }
YML
}

# Start the shell script on standard input in the background on HOST, as
# root, saved as /root/NAME.sh: start_loop HOST NAME.  The script stops
# itself when /root/NAME.stop appears (stop_loop HOST NAME).
start_loop() {
	t_step "line ${BASH_LINENO[0]}: on $1: start $2"
	"$PROVISION" -i "$WORK/inventory.yml" ssh "$1" -- \
		"sudo -n sh -c 'cat >/root/$2.sh && { setsid sh /root/$2.sh </dev/null >/dev/null 2>&1 & }'"
}
stop_loop() { on_host "$1" "touch /root/$2.stop" >/dev/null; }

# At least N lines of /root/NAME.log on HOST hold ' ok' (within 30 s):
# loop_oks HOST NAME N
loop_oks() {
	local i
	for i in $(seq 1 30); do
		[ "$(on_host "$1" "grep -c ' ok' /root/$2.log" 2>/dev/null)" -ge "$3" ] 2>/dev/null && return 0
		sleep 1
	done
	return 1
}

# ssh-audit (Debian's) from this machine against HOST's sshd at ADDR: no
# failure, and no warning but the accepted ones (sntrup761 is experimental
# and kex-strict unknown to ssh-audit 2.5; hmac-sha2-256/512 only while the
# tool's libssh2 lacks ETM, which the drop-in must say).  The figures and
# the findings are printed: ssh_audit_checks HOST ADDR
ssh_audit_checks() {
	local host=$1 addr=$2 out="$WORK/ssh-audit-$1" nfail nwarn other
	ssh-audit -n -p 22 "$addr" >"$out" 2>&1
	nfail=$(grep -c -- '-- \[fail\]' "$out" || true)
	nwarn=$(grep -c -- '-- \[warn\]' "$out" || true)
	echo "# ssh-audit $host: $nfail fail, $nwarn warn"
	grep -E -- '-- \[(fail|warn)\]' "$out" | sed 's/^/#   /'
	check "ssh-audit $host: it reached sshd (a banner)" grep -q '(gen) banner: SSH-2.0-' "$out"
	check "ssh-audit $host: 0 fail, got $nfail" test "$nfail" = 0
	other=$(grep -E -- '-- \[warn\]' "$out" |
		grep -Ev '^\(kex\) (sntrup761x25519-sha512@openssh.com|kex-strict-s-v00@openssh.com) ' |
		grep -Ev '^\(mac\) hmac-sha2-(256|512) +-- \[warn\] using encrypt-and-MAC mode' || true)
	check "ssh-audit $host: no other warning${other:+: $other}" test -z "$other"
	# built with libssh2 1.11 or later, the two accepted warnings are all
	if "$PROVISION" --version | grep -q '^libssh2 .*encrypt-then-MAC and AES-GCM: yes'; then
		check "ssh-audit $host: provision's libssh2 speaks ETM, so sshd offers no other MAC" \
			on_host "$host" 'grep "^MACs " /etc/ssh/sshd_config.d/10-provision.conf | grep -vq "hmac-sha2-[0-9]*\(,\|$\)"'
		check "ssh-audit $host: exactly the two accepted warnings, got $nwarn" test "$nwarn" = 2
	fi
	if on_host "$host" 'grep -q "^MACs .*hmac-sha2-256$" /etc/ssh/sshd_config.d/10-provision.conf'; then
		check "ssh-audit $host: the non-ETM MACs are there because the tool's libssh2 needs them" \
			on_host "$host" 'grep -q "libssh2 before 1.11" /etc/ssh/sshd_config.d/10-provision.conf'
	fi
}

# Reboot a vm host from inside (qemu keeps running) and wait until it
# answers on SSH with a new boot id, 20 minutes at most; the test stops
# when it does not come back.  The time to SSH is printed: vm_reboot HOST
vm_reboot() {
	local host=$1 boot1 boot2= start=$SECONDS
	boot1=$(on_host "$host" 'cat /proc/sys/kernel/random/boot_id')
	timeout 30 "$PROVISION" -i "$WORK/inventory.yml" ssh "$host" -- 'sudo -n systemctl reboot' >/dev/null 2>&1
	while [ $((SECONDS - start)) -lt 1200 ]; do
		sleep 5
		boot2=$(timeout 30 "$PROVISION" -i "$WORK/inventory.yml" ssh "$host" -- 'cat /proc/sys/kernel/random/boot_id' 2>/dev/null) || continue
		[ -n "$boot2" ] && [ "$boot2" != "$boot1" ] && break
	done
	[ -n "$boot2" ] && [ "$boot2" != "$boot1" ] || bail "$host did not come back from the reboot"
	echo "# reboot to SSH: $((SECONDS - start)) s"
}
