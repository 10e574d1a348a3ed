#!/usr/bin/env bash
# The tool killed with SIGKILL while apt installs the first converge's
# packages: on k1 the killed run's apply script keeps running; on k2 the
# host's apt-get and dpkg die too (as the OOM killer would do it), leaving
# dpkg interrupted and one of its maintainer scripts running on its own
# (held stopped here, as a slow one would be).  The next 'up' waits for k1's
# leftover run, says so, waits for k2's orphaned script before it repairs
# k2's dpkg, and succeeds; the run after that changes nothing.
. "$(dirname "$0")/lib.sh"

t_project <<'YML'
project: kill
layouts:
  pair:
    servers:
      k1: { roles: [base, ufw] }
      k2: { roles: [base, ufw] }
YML
t_uses pair

# PIDs of the processes named NAME (with -f: whose command line matches the
# ERE) running inside host HOST of this test (a host's processes are told
# apart by its machine id).
host_pids() {
	local how=-x p id
	[ "$1" = -f ] && { how=-f; shift; }
	local name=$1 host=$2
	id=$(cat "$WORK"/.provision/local/*/*/hosts/"$host"/root/etc/machine-id 2>/dev/null) || return 0
	for p in $(pgrep "$how" "$name"); do
		[ "$(cat "/proc/$p/root/etc/machine-id" 2>/dev/null)" = "$id" ] && echo "$p"
	done
	return 0
}

# A frozen cgroup holds the orphaned script: a stopped process (SIGSTOP) in
# a process group that loses its parent is sent SIGHUP by the kernel.
if [ -d /sys/fs/cgroup/freezer ]; then
	frz=/sys/fs/cgroup/freezer/t0800-$$
	frz_on() { mkdir -p "$frz" && echo "$1" >"$frz/tasks" && echo FROZEN >"$frz/freezer.state"; }
	frz_off() { echo THAWED >"$frz/freezer.state"; }
elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	frz=/sys/fs/cgroup/t0800-$$
	frz_on() { mkdir -p "$frz" && echo "$1" >"$frz/cgroup.procs" && echo 1 >"$frz/cgroup.freeze"; }
	frz_off() { echo 0 >"$frz/cgroup.freeze"; }
else
	bail "this machine has no cgroup freezer to hold a process"
fi
frz_rm() {
	[ -d "$frz" ] || return 0
	for _ in $(seq 100); do rmdir "$frz" 2>/dev/null && return 0; sleep 0.2; done
	fail "cleanup: cgroup $frz is still in use"
}
trap 'frz_off 2>/dev/null; t_cleanup; frz_rm' EXIT

"$PROVISION" -i "$WORK/inventory.yml" --plain up pair >"$WORK/up1.out" 2>&1 &
tool=$!
# Watched from this machine: kill the tool once apt-get runs on k1 and dpkg runs
# a maintainer script on k2; that script is frozen at once, and k2's apt-get
# and dpkg are killed.
mscript='/var/lib/dpkg/info/[^ ]*[.]post(inst|rm) '
caught=
for _ in $(seq 30000); do
	if [ -n "$(host_pids apt-get k1)" ] && s=$(host_pids -f "$mscript" k2 | head -1) && [ -n "$s" ]; then
		frz_on "$s" 2>/dev/null
		# a script that ended before it was frozen does not count
		grep -qx "$s" "$frz/tasks" "$frz/cgroup.procs" 2>/dev/null || continue
		kill -KILL "$tool" $(host_pids apt-get k2) $(host_pids dpkg k2)
		caught=1
		break
	fi
	kill -0 "$tool" 2>/dev/null || break
	sleep 0.01
done
wait "$tool" 2>/dev/null
[ -n "$caught" ] || bail "no maintainer script ran on k2 while dpkg ran on k1 in the first up: $(tail -5 "$WORK/up1.out")"
check "after the kill, k1's apt-get still runs" test -n "$(host_pids apt-get k1)"
check "and k2's dpkg is left interrupted" test -n "$(on_host k2 'dpkg --audit; ls /var/lib/dpkg/updates')"
check "and k2's maintainer script is left running without its dpkg" test -n "$(host_pids -f "$mscript" k2)"

pv up pair >"$WORK/up2.out" 2>&1 &
tool=$!
# dpkg must not start on k2 beside the orphaned script: watched for 20 s
# (from the moment k2's packages would be repaired, which the dpkg lock
# shows), then the script may go on.
early=
for _ in $(seq 200); do
	for p in $(host_pids dpkg k2); do
		[ -n "$early" ] || early=" $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"
	done
	kill -0 "$tool" 2>/dev/null || break
	sleep 0.1
done
frz_off
check "no dpkg ran on k2 while the killed dpkg's script still ran${early:+ (pid$early)}" test -z "$early"
wait "$tool"
rc=$?
check "the next up succeeds (exit 0), got $rc: $(grep -i -A2 'lock\|interrupted\|error' "$WORK/up2.out" | head -8)" test "$rc" = 0
check "it said it waited for the killed run on k1" \
	grep -q 'k1.*previous run is still applying' "$WORK/up2.out"
check "dpkg is left consistent on k1" test -z "$(on_host k1 'dpkg --audit')"
check "dpkg is left consistent on k2" test -z "$(on_host k2 'dpkg --audit')"
check "fail2ban is installed on k2" on_host k2 "dpkg-query -W -f='\${Status}' fail2ban | grep -qx 'install ok installed'"
for h in k1 k2; do
	check "no stage directory of a run is left on $h" test -z "$(on_host $h 'ls -d /tmp/tmp.* 2>/dev/null')"
done

pvj up pair >"$WORK/up3.json" 2>&1
check "the run after that exits 0" test $? = 0
check "and changes nothing (changed $(json_total "$WORK/up3.json" changed))" \
	test "$(json_total "$WORK/up3.json" changed)" = 0
