#!/usr/bin/env bash
# Two 'up's of different projects started at the same moment get different
# subnets.  Each local layout starts its search for a free /24 at a place
# derived from its id; the second project's directory is picked so that
# both start at the same place, where only the machine-wide claim (choice
# and bridge address under one lock) keeps them apart.
. "$(dirname "$0")/lib.sh"

inventory() {
	cat <<YML
project: $1
layouts:
  phase1:
    servers:
      app1: { roles: [base] }
YML
}
t_project < <(inventory race-a)
t_uses phase1
A=$WORK
B=

# where the tool starts its search for a project directory's layout phase1
# (as lhost_choose_prefix: 3 hex digits of the id, modulo 200)
id_of() { printf '%s/.provision\ndefault\nphase1' "$1" | sha256sum | cut -c1-64; }
start_of() { echo $((16#$(id_of "$1" | cut -c9-11) % 200)); }

want=$(start_of "$A")
for n in $(seq 1 5000); do
	[ "$(start_of "$A/b$n")" = "$want" ] && { B=$A/b$n; break; }
done
[ -n "$B" ] || bail "no directory whose layout starts at the same subnet"
mkdir -p "$B"
inventory race-b >"$B/inventory.yml"
# the second project is destroyed before the first one's directory goes
trap '"$PROVISION" -i "$B/inventory.yml" --plain destroy phase1 --yes >"$WORK/destroy-b" 2>&1 ||
	{ tail -n 20 "$WORK/destroy-b" >&2; fail "cleanup: destroy phase1 of race-b"; }; t_cleanup' EXIT

# both wait on one lock, released at once
exec 7>"$WORK/go"
flock 7
for p in A B; do
	dir=${!p}
	flock -s "$WORK/go" "$PROVISION" -i "$dir/inventory.yml" --plain up phase1 --only cloud \
		>"$WORK/up-$p.out" 2>&1 &
	eval "pid_$p=\$!"
done
t_step "both up phase1 --only cloud, started at once"
sleep 0.5
flock -u 7
wait "$pid_A"
rc_a=$?
wait "$pid_B"
rc_b=$?
check "project a's up succeeds (exit $rc_a): $(tail -n 1 "$WORK/up-A.out")" test "$rc_a" = 0
check "project b's up succeeds (exit $rc_b): $(tail -n 1 "$WORK/up-B.out")" test "$rc_b" = 0

sub() { jq -r '.environments.default.layouts.phase1.provider_data.subnet // empty' "$1/.provision/state.json"; }
bridge() { jq -r '.environments.default.layouts.phase1.provider_data.bridge // empty' "$1/.provision/state.json"; }
sa=$(sub "$A") sb=$(sub "$B")
check "each project has its bridge named after its id (so both searches began at one subnet)" \
	test "$(bridge "$A")" = "pv$(id_of "$A" | cut -c1-8)" -a "$(bridge "$B")" = "pv$(id_of "$B" | cut -c1-8)"
check "the two projects got different subnets ($sa and $sb)" test -n "$sa" -a -n "$sb" -a "$sa" != "$sb"
addrs=$(ip -o -4 addr show | awk '{ print $4 }' | grep -c "^${sa%.0/24}\.")
check "only one interface of this machine is in $sa ($addrs)" test "$addrs" = 1
