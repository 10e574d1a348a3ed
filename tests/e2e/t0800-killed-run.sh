#!/usr/bin/env bash
# The tool killed with SIGKILL while apt installs the first converge's
# packages: on k1 the killed run's apply script keeps running; on k2 the
# host's apt-get and dpkg die too (as in a power cut), leaving dpkg
# interrupted.  The next 'up' waits for k1's leftover run, says so, repairs
# k2's dpkg and succeeds; the run after that changes nothing.
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

# PIDs of the processes named NAME running inside host HOST of this test
# (a host's processes are told apart by its machine id).
host_pids() {
	local name=$1 host=$2 p id
	id=$(cat "$WORK"/.provision/local/*/*/hosts/"$host"/root/etc/machine-id 2>/dev/null) || return 0
	for p in $(pgrep -x "$name"); do
		[ "$(cat "/proc/$p/root/etc/machine-id" 2>/dev/null)" = "$id" ] && echo "$p"
	done
	return 0
}

"$PROVISION" -i "$WORK/inventory.yml" --plain up pair >"$WORK/up1.out" 2>&1 &
tool=$!
# Watched from this machine: kill the tool once dpkg unpacks on both hosts.
caught=
for _ in $(seq 3000); do
	if [ -n "$(host_pids dpkg k1)" ] && [ -n "$(host_pids dpkg k2)" ]; then
		kill -KILL "$tool"
		caught=1
		break
	fi
	kill -0 "$tool" 2>/dev/null || break
	sleep 0.1
done
wait "$tool" 2>/dev/null
[ -n "$caught" ] || bail "dpkg never ran on both hosts while the first up ran: $(tail -5 "$WORK/up1.out")"
# k2 loses its package run mid-way, as a power cut would do it
kill -KILL $(host_pids apt-get k2) $(host_pids dpkg k2) 2>/dev/null
check "after the kill, k1's apt-get still runs" test -n "$(host_pids apt-get k1)"
check "and k2's dpkg is left interrupted" test -n "$(on_host k2 'dpkg --audit; ls /var/lib/dpkg/updates')"

pv up pair >"$WORK/up2.out" 2>&1
rc=$?
check "the next up succeeds (exit 0), got $rc: $(grep -i 'lock\|interrupted\|error' "$WORK/up2.out" | head -3)" test "$rc" = 0
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
